//! The MPMC endpoint registry: which processes hold senders and receivers.
//!
//! Each attached endpoint holds one role word (`layout::role` encoding:
//! pid + start time) in its side's table, and is counted in that side's
//! `live` counter. The fast path reads only the counter; the table is read
//! on the slow path, to find holders that died without detaching and to
//! reap them (free the word, decrement the counter), once each, by CAS.
//!
//! The index of an entry is also the owner recorded in the slots its
//! endpoints claim (`ring/mpmc.rs`). So a dead holder's entry is never
//! simply freed: whoever reaps it (or takes it over) first makes it its
//! own with a CAS, then recovers the slots the dead process left marked,
//! and only then lets the index go. While it does, no live endpoint can
//! hold that index, so no live claim is ever mistaken for a dead one; a
//! reaper that dies half-way leaves the entry held by a dead process,
//! and the next reaper starts over.
//!
//! | entry word        | meaning                               |
//! |-------------------|---------------------------------------|
//! | `0`               | free                                  |
//! | pid + start time  | held by that process (alive or not)   |
//! | anything else     | treated as held by a dead process     |

use crate::channel::error::AttachError;
use crate::layout::mpmc::Registry;
use crate::layout::role::{RoleState, held_word};
use crate::ring::mpmc::MpmcMemory;
use crate::sync::{AtomicU64, Ordering};
use crate::sys::process::{Liveness, ProcessId};

/// One side's table and counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Side<'a> {
    pub(crate) table: &'a Registry,
    pub(crate) live: &'a AtomicU64,
    pub(crate) ever: &'a AtomicU64,
    /// The queue whose slots this side's entries mark.
    pub(crate) queue: &'a MpmcMemory,
    /// Whether this is the receivers' side (their marks are reader marks).
    pub(crate) receivers: bool,
}

impl Side<'_> {
    /// Takes a free (or dead) entry for `me`; returns its index.
    pub(crate) fn register(&self, me: ProcessId) -> Result<usize, AttachError> {
        let mine = held_word(me);
        for (index, entry) in self.table.entries.iter().enumerate() {
            // Acquire: pairs with the Release of a previous holder's
            // `unregister`.
            let current = entry.load(Ordering::Acquire);
            let dead_holder = match RoleState::decode(current) {
                RoleState::Vacant => false,
                RoleState::Held(id) if id.liveness_truncated() == Liveness::Dead => true,
                RoleState::Left => true,
                RoleState::Held(_) => continue,
            };
            // AcqRel: as above, and our claim is visible before we count.
            if entry
                .compare_exchange(current, mine, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // Release: the count is what the other side reads first.
                self.ever.fetch_add(1, Ordering::Release);
                if dead_holder {
                    // The entry is ours and has no claim of ours yet: any
                    // mark with its index is the dead holder's.
                    self.queue.recover(index as u32, self.receivers);
                } else {
                    self.live.fetch_add(1, Ordering::Release);
                }
                return Ok(index);
            }
        }
        Err(AttachError::TooManyEndpoints)
    }

    /// Frees entry `index` if `me` still holds it.
    pub(crate) fn unregister(&self, index: usize, me: ProcessId) {
        // Release: pairs with the Acquire of a later `register`, and
        // (through the counter below) with the other side's check, so that
        // everything this endpoint sent is visible to whoever sees it gone.
        if self.table.entries[index]
            .compare_exchange(held_word(me), 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            // Release: pairs with the Acquire in `gone`.
            self.live.fetch_sub(1, Ordering::Release);
        }
    }

    /// True once an endpoint of this side was attached and none is left.
    #[inline]
    pub(crate) fn gone(&self) -> bool {
        // Acquire: pairs with `unregister`/`reap` decrements, so the last
        // messages of a departed side are visible after this returns true.
        self.live.load(Ordering::Acquire) == 0 && self.ever.load(Ordering::Relaxed) > 0
    }

    /// Frees the entries of processes that died without detaching, after
    /// recovering the slots they left claimed (slow path: reads `/proc`);
    /// returns whether this side is now gone.
    pub(crate) fn reap(&self) -> bool {
        let mut me = None;
        for (index, entry) in self.table.entries.iter().enumerate() {
            // Acquire: pairs with the holder's claim (AcqRel in `register`).
            let current = entry.load(Ordering::Acquire);
            let dead = match RoleState::decode(current) {
                RoleState::Vacant => false,
                RoleState::Left => true,
                RoleState::Held(id) => id.liveness_truncated() == Liveness::Dead,
            };
            if !dead {
                continue;
            }
            let me = match me {
                Some(id) => id,
                None => match ProcessId::current() {
                    Ok(id) => *me.insert(id),
                    Err(_) => return self.gone(),
                },
            };
            let mine = held_word(me);
            // AcqRel: the winner owns the entry, as a registering process
            // would (pairs with `register`'s Acquire); losers leave it.
            if entry
                .compare_exchange(current, mine, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            self.queue.recover(index as u32, self.receivers);
            // Release: as a detaching holder's `unregister`; the recovered
            // slots are handed over before the index can be taken again.
            if entry
                .compare_exchange(mine, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                // Saturating: a corrupt counter must not wrap to "many".
                decrement_saturating(self.live);
            }
        }
        self.gone()
    }

    /// Number of live entries right now (queries; reads `/proc`).
    pub(crate) fn count_alive(&self) -> usize {
        self.table
            .entries
            .iter()
            // Acquire: pairs with `register`; a count for humans only.
            .filter(|e| match RoleState::decode(e.load(Ordering::Acquire)) {
                RoleState::Held(id) => id.liveness_truncated() == Liveness::Alive,
                _ => false,
            })
            .count()
    }
}

/// Decrements `counter` unless it is zero. Bounded: a counter that keeps
/// changing under us (a hostile peer) is left alone after a few tries.
fn decrement_saturating(counter: &AtomicU64) {
    let mut current = counter.load(Ordering::Relaxed);
    for _ in 0..64 {
        if current == 0 {
            return;
        }
        // Release: as for `unregister`.
        match counter.compare_exchange_weak(
            current,
            current - 1,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => current = now,
        }
    }
}
