//! The queue's lock: one 32-bit word in shared memory, a futex when
//! contended, and a holder named by its presence entry (`presence.rs`),
//! so that a waiter can tell a holder that died from one that is slow and
//! take the lock over (the caller then repairs what the dead holder may
//! have left half-done).
//!
//! | word                | meaning                                         |
//! |---------------------|-------------------------------------------------|
//! | 0                   | free                                            |
//! | `tag`               | held by the process with that presence tag      |
//! | `tag \| CONTENDED`  | held, and somebody sleeps (or will) on the word |
//!
//! Not a glibc robust mutex: its robust list is linked through pointers
//! stored inside the mutex, which glibc follows and writes through at
//! unlock, so a peer that can write the segment could make a holder write
//! anywhere in its own memory. Here nothing read from the word is ever
//! dereferenced; a garbage word reads as a dead holder.
//!
//! A waiter sleeps at most [`PROBE_EVERY`] at a time; after each such
//! sleep it asks whether the holder still lives (one `fcntl`), so a
//! holder's death costs its waiters that long at most, and a healthy
//! contended lock no system call beyond the futex.

use super::presence;
use super::store::Mapped;
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sys::futex::{self, FutexWait};
use std::time::{Duration, SystemTime};

/// Set while somebody may sleep on the word: the unlock must wake one.
const CONTENDED: u32 = 1 << 31;
/// Failed looks before a locker sleeps: a few microseconds, longer than
/// any hold of the lock.
const SPIN_TRIES: u32 = 200;
/// Longest sleep between two looks at the holder's life.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// How the lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// From a holder that let go: the queue is as it left it.
    Clean,
    /// From a holder that died (or a word a peer overwrote): what it
    /// guards may be half-updated, and must be repaired.
    OwnerDied,
}

/// The lock, held; released on drop.
#[derive(Debug)]
pub(crate) struct Held<'a>(&'a Mapped);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next locker's CAS, which
        // then sees everything done under the lock.
        let before = self.0.words.lock_word().swap(0, Release);
        if before & CONTENDED != 0 {
            futex::wake(self.0.words.lock_word().as_std(), 1);
        }
    }
}

/// Whether the lock word names `tag` as its holder now.
pub(crate) fn names(mapped: &Mapped, tag: u32) -> bool {
    mapped.words.lock_word().load(Relaxed) & !CONTENDED == tag
}

/// Takes the lock as `tag` (the caller's presence tag), waiting while a
/// live holder has it, until the realtime clock reaches `deadline`
/// (`None`: for ever). `Err(())` when the deadline passed: a stopped
/// holder, or a peer that wrote a live tag into the word, cannot make a
/// timed call overrun its deadline.
pub(crate) fn lock_until(
    mapped: &Mapped,
    tag: u32,
    deadline: Option<SystemTime>,
) -> Result<(Held<'_>, Acquired), ()> {
    let word = mapped.words.lock_word();
    // Acquire on every successful CAS: pairs with the Release of the
    // unlock (or of nothing, for a dead holder: then the repair reads
    // only what the slots' states say).
    for _ in 0..SPIN_TRIES {
        if word.load(Relaxed) == 0 && word.compare_exchange(0, tag, Acquire, Relaxed).is_ok() {
            return Ok((Held(mapped), Acquired::Clean));
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
    }
    // From here on, take it marked contended: others may sleep behind us.
    let mut probe = true;
    loop {
        let current = word.load(Relaxed);
        if current == 0 {
            if word
                .compare_exchange(0, tag | CONTENDED, Acquire, Relaxed)
                .is_ok()
            {
                return Ok((Held(mapped), Acquired::Clean));
            }
            continue;
        }
        let holder = current & !CONTENDED;
        let garbage = holder == 0
            || (holder > crate::layout::mq::PRESENCE_ENTRIES && holder != presence::ANONYMOUS);
        if (probe || garbage) && presence::holder_dead(mapped, holder) == Some(true) {
            if word
                .compare_exchange(current, tag | CONTENDED, Acquire, Relaxed)
                .is_ok()
            {
                return Ok((Held(mapped), Acquired::OwnerDied));
            }
            continue;
        }
        probe = false;
        if current & CONTENDED == 0
            && word
                .compare_exchange(current, current | CONTENDED, Relaxed, Relaxed)
                .is_err()
        {
            continue;
        }
        let mut nap = PROBE_EVERY;
        if let Some(deadline) = deadline {
            match deadline.duration_since(SystemTime::now()) {
                Ok(left) if !left.is_zero() => nap = nap.min(left),
                _ => return Err(()),
            }
        }
        // A timeout means a long hold: look at the holder's life again.
        // EINTR and wake-ups just look again.
        probe = futex::wait(word.as_std(), current | CONTENDED, Some(nap)) == FutexWait::TimedOut;
    }
}
