//! Who uses a queue: an entry per process and open description in the
//! presence table (`layout/mq.rs`), whose holder keeps a byte of the
//! segment file locked (OFD). The kernel drops that lock when the holder
//! dies, in any PID namespace and for any uid, so the entry's index is
//! an identity whose death anyone can see without `/proc`:
//!
//! - the queue's lock word names its holder by entry (`lock.rs`), so a
//!   waiter can take over from a holder that died;
//! - a blocked receiver is counted in its entry, so one that died blocked
//!   does not keep `mq_notify` from firing.
//!
//! Entries are claimed without the queue's lock: taking the byte (a
//! write lock through a description of one's own) succeeds only when no
//! live process holds the entry. An entry that the queue's lock word
//! still names is left alone: a waiter takes the lock over from it first.

use super::store::Mapped;
use crate::layout::mq::{PRESENCE_ENTRIES, PRESENCE_LOCK_BASE};
use crate::sync::AtomicU64;
use crate::sync::Ordering::Relaxed;
use crate::sys::ofd_lock;
use rustix::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

/// The lock tag of a process without an entry (all were held): it can
/// lock the queue, but a death while holding it cannot be told apart
/// from a long hold.
pub(crate) const ANONYMOUS: u32 = 0x7FFF_FFFF;

/// The lock byte of entry `index`.
pub(crate) fn lock_byte(index: u32) -> u64 {
    PRESENCE_LOCK_BASE + u64::from(index)
}

/// The lock tag of entry `index`.
pub(crate) fn tag_of(index: u32) -> u32 {
    index + 1
}

/// Whether the entry a lock tag names has no live holder: `Some(true)`
/// dead, `Some(false)` alive, `None` for a tag that says nothing
/// ([`ANONYMOUS`]). A tag naming no entry at all (a peer's garbage) is
/// dead: nobody can hold it.
pub(crate) fn holder_dead(mapped: &Mapped, tag: u32) -> Option<bool> {
    if tag == ANONYMOUS {
        return None;
    }
    if tag == 0 || tag > PRESENCE_ENTRIES {
        return Some(true);
    }
    Some(!ofd_lock::is_locked(&mapped.segment, lock_byte(tag - 1)).unwrap_or(true))
}

#[derive(Debug)]
struct Entry {
    /// The process that claimed it: a forked child inherits the
    /// `MessageQueue` but needs an entry of its own, whose lock dies with
    /// it (the parent's description it inherited is shared).
    pid: u32,
    index: u32,
    /// The description holding the entry's byte.
    lock: OwnedFd,
}

/// An open description's entry, claimed per process.
#[derive(Debug, Default)]
pub(crate) struct Member {
    /// `pid << 32 | tag` of the entry claimed last: the message path reads
    /// only this.
    cached: AtomicU64,
    entry: Mutex<Option<Entry>>,
}

impl Member {
    /// The calling process's lock tag for the queue, claiming an entry
    /// on first use in this process.
    #[inline]
    pub(crate) fn tag(&self, mapped: &Mapped) -> u32 {
        let pid = crate::sys::thread::pid();
        // Relaxed: a per-process cache written by this process only.
        let cached = self.cached.load(Relaxed);
        if cached >> 32 == u64::from(pid) && cached != 0 {
            return cached as u32;
        }
        let mut entry = self.entry.lock().unwrap_or_else(|p| p.into_inner());
        if entry.as_ref().is_none_or(|e| e.pid != pid) {
            // None yet, or the parent's (only closed here, never
            // unlocked: the description is shared with the parent).
            *entry = claim(mapped, pid);
        }
        let tag = entry.as_ref().map_or(ANONYMOUS, |e| tag_of(e.index));
        self.cached
            .store(u64::from(pid) << 32 | u64::from(tag), Relaxed);
        tag
    }

    /// The calling process's entry index, if it has one.
    pub(crate) fn index(&self, mapped: &Mapped) -> Option<u32> {
        let tag = self.tag(mapped);
        (tag != ANONYMOUS).then(|| tag - 1)
    }

    /// Gives the entry back (when the description closes).
    pub(crate) fn release(&mut self, mapped: &Mapped) {
        let entry = self
            .entry
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(entry) = entry.filter(|e| e.pid == crate::sys::thread::pid()) {
            let [claimed, receivers] = mapped.words.presence(entry.index);
            receivers.store(0, Relaxed);
            claimed.store(0, Relaxed);
            let _ = ofd_lock::unlock_all(&entry.lock);
        }
    }
}

/// Claims a free entry, or one whose holder died, for process `pid`;
/// `None` when every entry has a live holder.
fn claim(mapped: &Mapped, pid: u32) -> Option<Entry> {
    let lock = ofd_lock::reopen(mapped.segment.as_fd()).ok()?;
    let words = &mapped.words;
    for index in 0..PRESENCE_ENTRIES {
        let [claimed, receivers] = words.presence(index);
        if claimed.load(Relaxed) != 0
            && ofd_lock::is_locked(&mapped.segment, lock_byte(index)).unwrap_or(true)
        {
            continue;
        }
        if !ofd_lock::try_lock(&lock, lock_byte(index)).unwrap_or(false) {
            continue;
        }
        // Nobody alive holds it now. If the queue's lock still names it,
        // its dead holder held the lock: a waiter takes that over (and
        // repairs); the entry must not get a new holder before.
        if crate::ring::queue_lock::names(mapped.words.lock_word(), tag_of(index)) {
            let _ = ofd_lock::unlock(&lock, lock_byte(index));
            continue;
        }
        // A dead holder's blocked receivers are blocked no more.
        receivers.store(0, Relaxed);
        claimed.store(1, Relaxed);
        return Some(Entry { pid, index, lock });
    }
    None
}

/// Receivers blocked in the queue, not counting those of processes that
/// died blocked (queue locked). Only asked when a notification may fire,
/// so its lock probes cost nothing on the message path. Also brings the
/// `waiters` hint back down to the truth.
pub(crate) fn receivers_blocked(mapped: &Mapped) -> u32 {
    let words = &mapped.words;
    let waiters = words.not_empty().waiters;
    if waiters.load(Relaxed) == 0 {
        return 0;
    }
    let mut total = words.anonymous_receivers().load(Relaxed);
    for index in 0..PRESENCE_ENTRIES {
        let [claimed, receivers] = words.presence(index);
        let blocked = receivers.load(Relaxed);
        if claimed.load(Relaxed) == 0 || blocked == 0 {
            continue;
        }
        if ofd_lock::is_locked(&mapped.segment, lock_byte(index)).unwrap_or(true) {
            total = total.saturating_add(blocked);
        } else {
            receivers.store(0, Relaxed);
        }
    }
    waiters.store(total, Relaxed);
    total
}
