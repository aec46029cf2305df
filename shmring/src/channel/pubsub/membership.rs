//! Joining, leaving and reaping subscribers: the table of
//! `layout/pubsub.rs`, with the liveness of `liveness.rs`.
//!
//! | role word | lock byte | the entry is                              |
//! |-----------|-----------|-------------------------------------------|
//! | `0`       | any       | free (a joiner may be taking it)          |
//! | held      | locked    | a live subscriber's                       |
//! | held      | free      | a dead subscriber's: reap it              |
//!
//! Every change of the table bumps the membership `epoch` after it, so
//! that a lossless publisher reads the cursors again before its next
//! message (`ring/broadcast.rs` has the join's meeting with the
//! publisher).

use super::JoinAt;
use crate::error::AttachError;
use crate::layout::holder::held_word;
use crate::layout::pubsub::{ENTRY_SIZE, SUBSCRIBERS_OFFSET};
use crate::liveness::{Lease, Locks};
use crate::ring::broadcast::PubSubMemory;
use crate::sync::{Ordering, heavy_fence};
use crate::sys::process::ProcessId;

/// The lock byte of entry `index` (the offset of its role word).
pub(crate) fn lock_byte(index: usize) -> u64 {
    SUBSCRIBERS_OFFSET + ENTRY_SIZE * index as u64
}

/// A subscriber's place in the table.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) index: usize,
    pub(crate) cursor: u64,
    /// Holds the entry's lock byte; dropped after [`leave`].
    pub(crate) lease: Lease,
}

/// Where a joiner starts if the publisher's next message is `head`.
fn start(mem: &PubSubMemory, head: u64, at: JoinAt) -> u64 {
    match at {
        JoinAt::Next => head,
        JoinAt::Oldest => (head + 1).saturating_sub(mem.geometry().slots),
    }
}

/// Takes a free entry (or one a dead process held) for `me`.
pub(crate) fn join(
    mem: &PubSubMemory,
    locks: &Locks,
    me: ProcessId,
    at: JoinAt,
) -> Result<Joined, AttachError> {
    let mine = held_word(me);
    let mut lease = locks.lease().map_err(AttachError::Io)?;
    let membership = mem.membership();
    for index in 0..mem.geometry().subscribers as usize {
        let entry = mem.entry(index);
        // Acquire: pairs with the Release of the last leaver or reaper.
        let seen = entry.role.load(Ordering::Acquire);
        if seen != 0 && !lease.proves_dead() {
            continue; // heap memory: a named holder is alive
        }
        if !lease.try_take(lock_byte(index)).map_err(AttachError::Io)? {
            continue; // a live subscriber (or a reaper) has it
        }
        // A lower bound of where we start, before the entry counts: a
        // publisher that sees the entry from now on waits for it there.
        let lower = match mem.checked_head() {
            Ok(head) => start(mem, head, at),
            Err(c) => {
                lease.give_back(lock_byte(index));
                return Err(AttachError::Corrupt(c));
            }
        };
        // Relaxed: published by the Release of the role word below.
        entry.cursor.store(lower, Ordering::Relaxed);
        entry.position.store(lower, Ordering::Relaxed);
        entry.missed.store(0, Ordering::Relaxed);
        entry.received.store(0, Ordering::Relaxed);
        let taken = if lease.proves_dead() {
            // The lock is ours: whoever the word names is gone.
            // AcqRel: Release publishes the cursor above with our word.
            let previous = entry.role.swap(mine, Ordering::AcqRel);
            if previous != 0 {
                // A dead subscriber's entry, taken over: it no longer counts.
                membership.live.fetch_sub(1, Ordering::Relaxed);
                // Relaxed: a counter.
                mem.control()
                    .publisher
                    .reaped
                    .fetch_add(1, Ordering::Relaxed);
                report_reaped(locks, index, previous);
            }
            true
        } else {
            // AcqRel: as above.
            entry
                .role
                .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        if !taken {
            lease.give_back(lock_byte(index));
            continue;
        }
        // Relaxed: gauges.
        membership.live.fetch_add(1, Ordering::Relaxed);
        membership.ever.fetch_add(1, Ordering::Relaxed);
        // AcqRel: pairs with the publisher's Acquire load of the epoch.
        membership.epoch.fetch_add(1, Ordering::AcqRel);
        // Pairs with the publisher's light fence between its `head` store
        // and its epoch load (Dekker): if it missed our bump, the `head`
        // read below is at least the message it was writing.
        heavy_fence();
        // A head that turned corrupt since: start at the lower bound,
        // which was checked (the first receive then reports it).
        let cursor = mem
            .checked_head()
            .map_or(lower, |head| start(mem, head, at).max(lower));
        // Relaxed: for `stat`.
        entry.position.store(cursor, Ordering::Relaxed);
        // Release: pairs with the publisher's Acquire of cursors.
        entry.cursor.store(cursor, Ordering::Release);
        return Ok(Joined {
            index,
            cursor,
            lease,
        });
    }
    Err(AttachError::TooManyEndpoints)
}

/// Gives entry `index` back (before its lease is dropped), unless a reaper
/// took it already.
pub(crate) fn leave(mem: &PubSubMemory, index: usize, me: ProcessId) {
    let entry = mem.entry(index);
    // Release: pairs with the Acquire of the next joiner or the publisher.
    if entry
        .role
        .compare_exchange(held_word(me), 0, Ordering::Release, Ordering::Relaxed)
        .is_ok()
    {
        let membership = mem.membership();
        // Relaxed: a gauge.
        membership.live.fetch_sub(1, Ordering::Relaxed);
        // AcqRel: as in `join`.
        membership.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// Reports a dead subscriber's entry `index` (its word `word`) reaped.
#[cold]
fn report_reaped(locks: &Locks, index: usize, word: u64) {
    let dead_pid = match crate::layout::holder::RoleState::decode(word) {
        crate::layout::holder::RoleState::Held(id) => id.pid,
        _ => 0,
    };
    tracing::info!(
        ring = locks.ring_name(),
        endpoint = "subscriber",
        index,
        dead_pid,
        "dead endpoint reaped"
    );
}

/// Frees every entry held by a dead process; returns how many. Each is
/// taken by its lock first, so a live subscriber is never removed, and
/// two reapers never free one entry twice.
pub(crate) fn reap_dead(mem: &PubSubMemory, locks: &Locks) -> u64 {
    let Ok(mut lease) = locks.lease() else {
        return 0;
    };
    if !lease.proves_dead() {
        return 0; // heap memory: nobody dies
    }
    let membership = mem.membership();
    let mut reaped = 0;
    for index in 0..mem.geometry().subscribers as usize {
        let entry = mem.entry(index);
        // Acquire: pairs with the holder's Release of its word.
        let word = entry.role.load(Ordering::Acquire);
        if word == 0 || locks.held(lock_byte(index)) {
            continue;
        }
        if !matches!(lease.try_take(lock_byte(index)), Ok(true)) {
            continue;
        }
        // AcqRel: as in `leave`.
        if entry
            .role
            .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // Relaxed: gauges and counters.
            membership.live.fetch_sub(1, Ordering::Relaxed);
            mem.control()
                .publisher
                .reaped
                .fetch_add(1, Ordering::Relaxed);
            reaped += 1;
            report_reaped(locks, index, word);
        }
        lease.give_back(lock_byte(index));
    }
    if reaped > 0 {
        // AcqRel: as in `join`.
        membership.epoch.fetch_add(1, Ordering::AcqRel);
    }
    reaped
}
