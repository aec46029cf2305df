//! Taking, releasing and watching a role word (`layout::role`).

use crate::channel::error::AttachError;
use crate::layout::role::{RoleState, held_word, left_word};
use crate::sync::{AtomicU64, Ordering};
use crate::sys::process::{Liveness, ProcessId};
use std::time::Instant;

/// Takes the role for `me`: free, left, or held by a dead process.
pub(crate) fn claim(word: &AtomicU64, me: ProcessId) -> Result<(), AttachError> {
    // Each failed CAS means another process just changed the word; a few
    // rounds settle any honest race, a peer flipping it forever is Busy.
    for _ in 0..64 {
        // Acquire: pairs with the previous holder's Release in `release`,
        // so we start from its final positions.
        let current = word.load(Ordering::Acquire);
        if let RoleState::Held(holder) = RoleState::decode(current) {
            if holder.liveness_truncated() == Liveness::Alive {
                return Err(AttachError::Busy { pid: holder.pid });
            }
        }
        // AcqRel: Acquire as above; Release so a peer that reads our word
        // also sees what we initialised before attaching.
        if word
            .compare_exchange(current, held_word(me), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
    match RoleState::decode(word.load(Ordering::Relaxed)) {
        RoleState::Held(holder) => Err(AttachError::Busy { pid: holder.pid }),
        _ => Err(AttachError::Busy { pid: 0 }),
    }
}

/// Lets go of the role, unless another process already took it over.
pub(crate) fn release(word: &AtomicU64, me: ProcessId) {
    // Release: pairs with the peer's Acquire in `PeerWatch::gone`; every
    // record we published (or released) is visible to a peer that sees
    // us gone.
    let _ = word.compare_exchange(
        held_word(me),
        left_word(),
        Ordering::Release,
        Ordering::Relaxed,
    );
}

/// Whether a live process holds the role now (queries; reads `/proc`).
pub(crate) fn is_held_by_live_process(word: &AtomicU64) -> bool {
    match RoleState::decode(word.load(Ordering::Acquire)) {
        RoleState::Held(id) => id.liveness_truncated() == Liveness::Alive,
        _ => false,
    }
}

/// Watches the peer's role word from one endpoint.
#[derive(Debug)]
pub(crate) struct PeerWatch {
    /// When `/proc` may be read again for a polling caller.
    next_proc_check: Instant,
}

impl PeerWatch {
    pub(crate) fn new() -> PeerWatch {
        PeerWatch {
            next_proc_check: crate::wait::now(),
        }
    }

    /// The peer released its role (dropped its handle): no `/proc` read.
    #[inline]
    pub(crate) fn left(word: &AtomicU64) -> bool {
        // Acquire: pairs with `release`.
        RoleState::decode(word.load(Ordering::Acquire)) == RoleState::Left
    }

    /// The peer left or its process died. Reads `/proc` at most once per
    /// `LIVENESS_INTERVAL` unless `force` (a waiter's own timer).
    pub(crate) fn gone(&mut self, word: &AtomicU64, force: bool) -> bool {
        // Acquire: pairs with `release`.
        match RoleState::decode(word.load(Ordering::Acquire)) {
            RoleState::Vacant => false,
            RoleState::Left => true,
            RoleState::Held(id) => {
                let now = crate::wait::now();
                if !force && now < self.next_proc_check {
                    return false;
                }
                self.next_proc_check = now + crate::wait::LIVENESS_INTERVAL;
                id.liveness_truncated() == Liveness::Dead
            }
        }
    }
}
