//! Claiming a role: two would-be producers race, exactly one wins.

use crate::tiny_ring;
use loom::thread;
use shmring::AttachError;
use std::sync::Arc;

/// Both claimers are in this process, so the loser finds a live holder.
/// Each keeps what it got until both have tried.
pub fn two_producers_race() {
    let ring = Arc::new(tiny_ring());
    let other = Arc::clone(&ring);
    let rival = thread::spawn(move || other.producer());
    let mine = ring.producer();
    let theirs = rival.join().unwrap();
    for outcome in [&mine, &theirs] {
        if let Err(e) = outcome {
            assert!(matches!(e, AttachError::Busy { .. }), "{e:?}");
        }
    }
    assert!(mine.is_ok() ^ theirs.is_ok(), "exactly one claim must win");
}
