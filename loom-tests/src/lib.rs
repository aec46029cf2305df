//! Loom models of shmring's lock-free protocols.
//!
//! Built only with `RUSTFLAGS="--cfg shmring_loom"`: the library then takes
//! its atomics, fences and futex from loom (`shmring/src/sync.rs`), and its
//! rings can be made on heap memory (`Spsc::on_heap`). Each model runs the
//! library's real handles and algorithms in two or three loom threads;
//! loom explores their interleavings and the weak-memory outcomes of every
//! atomic access. The test files in `tests/` run these models;
//! `tests/broken.rs` runs some of them against a deliberately broken build
//! (`--cfg shmring_loom_broken`) and checks that loom reports the bug.
//! `docs/verification.md` says what is covered and what is not.
#![cfg(shmring_loom)]

pub mod claim;
pub mod disconnect;
pub mod doorbell;
pub mod mpmc;
pub mod queue_lock;
pub mod spsc;
pub mod wait;

use shmring::prelude::*;
use shmring::{Consumer, Producer, Spsc, TryRecvError, TrySendError, WaitStrategy};

/// A tiny ring (64 bytes, messages up to 16) that wraps after a few
/// messages; `Park` so that blocking calls go straight to the futex.
pub fn tiny_ring() -> Spsc {
    Spsc::on_heap(64, 16, WaitStrategy::Park)
}

/// Message `i` of a model stream: distinct sizes and contents, so that a
/// stale, torn or reordered read changes what is seen.
pub fn message(i: u8) -> Vec<u8> {
    let len = [3usize, 16, 9, 16][usize::from(i) % 4];
    (0..len)
        .map(|k| i.wrapping_mul(31).wrapping_add(k as u8 + 1))
        .collect()
}

/// Sends with `try_send`, yielding to loom while the ring is full.
pub fn send_polling(producer: &mut Producer, msg: &[u8]) -> Result<(), TrySendError<()>> {
    loop {
        match producer.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(_)) => loom::thread::yield_now(),
            Err(e) => return Err(e.without_message()),
        }
    }
}

/// Receives with `try_recv`, yielding to loom while the ring is empty.
pub fn recv_polling(consumer: &mut Consumer) -> Result<Vec<u8>, TryRecvError> {
    loop {
        match consumer.try_recv() {
            Ok(msg) => return Ok(msg.to_vec()),
            Err(TryRecvError::Empty) => loom::thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
}
