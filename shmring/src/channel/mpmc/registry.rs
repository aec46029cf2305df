//! The MPMC endpoint registry: which processes hold senders and receivers.
//!
//! Each attached endpoint holds one entry of its side's table: the
//! entry's lock byte in the segment file (`liveness`), taken first, and
//! its word (`layout::holder` encoding: pid + start time, for people),
//! written next; it is counted in that side's `live` counter. The fast
//! path reads only the counters; the table is read on the slow path, to
//! find holders that died without detaching and to reap them (free the
//! word, decrement the counter), once each.
//!
//! The index of an entry is also the owner recorded in the slots its
//! endpoints claim (`ring/mpmc.rs`). So a dead holder's entry is never
//! simply freed: whoever reaps it (or takes it over) first takes its lock
//! byte, then recovers the slots the dead process left marked, and only
//! then clears the word and lets the lock go. While it does, no live
//! endpoint can hold that index, so no live claim is ever mistaken for a
//! dead one; a reaper that dies half-way leaves the word naming the dead
//! process and the lock free, and the next reaper starts over.
//!
//! | entry word | lock byte | meaning                                  |
//! |------------|-----------|------------------------------------------|
//! | `0`        | any       | free (a registrant may be taking it)     |
//! | non-zero   | locked    | held by a live endpoint (or a reaper)    |
//! | non-zero   | free      | held by a dead process: reap it          |

use crate::error::AttachError;
use crate::layout::holder::{RoleState, held_word};
use crate::layout::mpmc::Registry;
use crate::liveness::{Lease, Locks};
use crate::ring::mpmc::MpmcMemory;
use crate::sync::{AtomicU64, Ordering};
use crate::sys::process::ProcessId;

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
    /// The segment's role locks.
    pub(crate) locks: &'a Locks,
    /// Lock byte of entry 0; entry `i`'s is 8·`i` further.
    pub(crate) lock_base: u64,
}

impl Side<'_> {
    fn lock_byte(&self, index: usize) -> u64 {
        self.lock_base + 8 * index as u64
    }

    /// Takes a free (or dead) entry for `me`; returns its index and the
    /// lease that holds it (drop it after [`Side::unregister`]).
    pub(crate) fn register(&self, me: ProcessId) -> Result<(usize, Lease), AttachError> {
        let mine = held_word(me);
        let mut lease = self.locks.lease().map_err(AttachError::Io)?;
        for (index, entry) in self.table.entries.iter().enumerate() {
            // Acquire: pairs with the Release of a previous holder's
            // `unregister` (or a reaper's clearing).
            let seen = entry.load(Ordering::Acquire);
            if seen != 0 && !lease.proves_dead() {
                // Heap memory: a named holder is alive.
                continue;
            }
            if !lease
                .try_take(self.lock_byte(index))
                .map_err(AttachError::Io)?
            {
                continue; // a live holder (or a reaper) has it
            }
            let previous = if lease.proves_dead() {
                // The lock is ours: nobody alive names itself here.
                // AcqRel: Acquire as above; Release so that our word is
                // seen with everything before it.
                entry.swap(mine, Ordering::AcqRel)
            } else {
                // AcqRel: as above.
                match entry.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => 0,
                    Err(_) => continue,
                }
            };
            if previous != 0 {
                // Left by a dead holder: any mark with this index is its
                // (we have claimed nothing yet). Its count is still in
                // `live`, and stays there as ours.
                let recovered = self.queue.recover(index as u32, self.receivers);
                self.report_dead(index, previous, recovered, true);
            } else {
                // Release: pairs with the Acquire in `gone`; `live` goes
                // up before `ever`, so a peer that sees `ever > 0` also
                // sees this endpoint counted (never a spurious "gone").
                self.live.fetch_add(1, Ordering::Release);
            }
            // Release: as above.
            self.ever.fetch_add(1, Ordering::Release);
            return Ok((index, lease));
        }
        Err(AttachError::TooManyEndpoints)
    }

    /// Frees entry `index` if `me` still holds it (before the lease goes).
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
    /// Whether an endpoint of this side ever registered (no system call;
    /// Relaxed: a hint for the doorbell's placeholder reader).
    pub(crate) fn ever_attached(&self) -> bool {
        self.ever.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn gone(&self) -> bool {
        // Acquire (both): `ever` first, paired with `register`'s Release
        // increments, which come after `live`'s, so a registered endpoint
        // is never missed; `live` pairs with `unregister`/`reap`
        // decrements, so the last messages of a departed side are visible
        // after this returns true.
        self.ever.load(Ordering::Acquire) > 0 && self.live.load(Ordering::Acquire) == 0
    }

    /// Whether any endpoint of this side is counted: alive, or dead and
    /// not reaped yet.
    pub(crate) fn counted(&self) -> bool {
        // Relaxed: a hint for a bounded wait; `gone` decides.
        self.live.load(Ordering::Relaxed) > 0
    }

    /// Frees the entries of processes that died without detaching, after
    /// recovering the slots they left claimed (slow path: one lock probe
    /// per held entry); returns whether this side is now gone.
    pub(crate) fn reap(&self) -> bool {
        let mut lease: Option<Lease> = None;
        for (index, entry) in self.table.entries.iter().enumerate() {
            // Relaxed: only a hint; the word is read again under the lock.
            if entry.load(Ordering::Relaxed) == 0 || self.locks.held(self.lock_byte(index)) {
                continue;
            }
            let lease = match &mut lease {
                Some(lease) => lease,
                None => match self.locks.lease() {
                    Ok(new) => lease.insert(new),
                    // Cannot take locks (descriptor limit): reap later.
                    Err(_) => break,
                },
            };
            if !matches!(lease.try_take(self.lock_byte(index)), Ok(true)) {
                continue; // a registrant or another reaper got there first
            }
            // Acquire: pairs with the holder's claim (`register`), so the
            // recovery below sees the marks it left.
            let holder = entry.load(Ordering::Acquire);
            if holder != 0 {
                let recovered = self.queue.recover(index as u32, self.receivers);
                self.report_dead(index, holder, recovered, false);
                // Release: as a detaching holder's `unregister`; the
                // recovered slots are handed over before the index can be
                // taken again.
                if entry
                    .compare_exchange(holder, 0, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    // Saturating: a corrupt counter must not wrap to "many".
                    decrement_saturating(self.live);
                }
            }
            lease.give_back(self.lock_byte(index));
        }
        self.gone()
    }

    /// Reports entry `index`, held by a dead process (`word`), taken over
    /// by a new endpoint or reaped, with the slots recovered from it:
    /// info, or a warning when that dropped messages (a dead receiver's).
    #[cold]
    fn report_dead(&self, index: usize, word: u64, recovered: u64, taken_over: bool) {
        let dead_pid = match RoleState::decode(word) {
            RoleState::Held(id) => id.pid,
            _ => 0,
        };
        let ring = self.locks.ring_name();
        let endpoint = if self.receivers { "receiver" } else { "sender" };
        if self.receivers && recovered > 0 {
            tracing::warn!(
                ring,
                endpoint,
                index,
                dead_pid,
                messages_lost = recovered,
                taken_over,
                "dead receiver's messages dropped"
            );
        } else if taken_over {
            tracing::info!(
                ring,
                endpoint,
                index,
                dead_pid,
                slots_recovered = recovered,
                "dead endpoint's entry taken over"
            );
        } else {
            tracing::info!(
                ring,
                endpoint,
                index,
                dead_pid,
                slots_recovered = recovered,
                "dead endpoint reaped"
            );
        }
    }

    /// Number of entries held by live endpoints right now (queries; one
    /// lock probe per held entry).
    pub(crate) fn count_alive(&self) -> usize {
        self.held_entries().count()
    }

    /// The words of the entries held by live endpoints (queries).
    pub(crate) fn held_entries(&self) -> impl Iterator<Item = u64> + '_ {
        self.table
            .entries
            .iter()
            .enumerate()
            // Relaxed: a report for people; nothing is read through it.
            .map(|(index, e)| (index, e.load(Ordering::Relaxed)))
            .filter(|&(index, word)| word != 0 && self.locks.held(self.lock_byte(index)))
            .map(|(_, word)| word)
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
