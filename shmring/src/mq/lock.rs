//! The queue's lock: the protocol of `ring/queue_lock.rs` on the segment's
//! lock word, with a holder named by its presence entry (`presence.rs`),
//! so that a waiter can tell a holder that died from one that is slow and
//! take the lock over (the caller then repairs what the dead holder may
//! have left half-done).
//!
//! Not a glibc robust mutex: its robust list is linked through pointers
//! stored inside the mutex, which glibc follows and writes through at
//! unlock, so a peer that can write the segment could make a holder write
//! anywhere in its own memory.
//!
//! A waiter sleeps at most [`PROBE_EVERY`] at a time; after each such
//! sleep it asks whether the holder still lives (one `fcntl`), so a
//! holder's death costs its waiters that long at most, and a healthy
//! contended lock no system call beyond the futex.

use super::presence;
use super::store::Mapped;
use crate::layout::mq::PRESENCE_ENTRIES;
use crate::ring::queue_lock::{self, Sleeper};
use crate::sync::AtomicU32;
use crate::sys::futex::{self, FutexWait};
use std::time::{Duration, SystemTime};

pub(crate) use crate::ring::queue_lock::Acquired;

/// Longest sleep between two looks at the holder's life.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// The futex, napping at most until the next look at the holder (or the
/// caller's deadline).
struct Futex {
    deadline: Option<SystemTime>,
}

impl Sleeper for Futex {
    fn sleep(&self, word: &AtomicU32, expected: u32) -> bool {
        let mut nap = PROBE_EVERY;
        if let Some(left) = self
            .deadline
            .and_then(|d| d.duration_since(SystemTime::now()).ok())
        {
            nap = nap.min(left.max(Duration::from_micros(1)));
        }
        // EINTR and wake-ups just look again.
        futex::wait(word.as_std(), expected, Some(nap)) == FutexWait::TimedOut
    }

    fn wake_one(&self, word: &AtomicU32) {
        futex::wake(word.as_std(), 1);
    }
}

/// The lock, held; released on drop.
#[derive(Debug)]
pub(crate) struct Held<'a>(&'a Mapped);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        queue_lock::unlock(self.0.words.lock_word(), &Futex { deadline: None });
    }
}

/// Whether the lock word names `tag` as its holder now.
pub(crate) fn names(mapped: &Mapped, tag: u32) -> bool {
    queue_lock::names(mapped.words.lock_word(), tag)
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
    let acquired = queue_lock::lock(
        mapped.words.lock_word(),
        tag,
        &Futex { deadline },
        |holder| presence::holder_dead(mapped, holder),
        |holder| holder == 0 || (holder > PRESENCE_ENTRIES && holder != presence::ANONYMOUS),
        || deadline.is_some_and(|d| SystemTime::now() >= d),
    )
    .map_err(|_| ())?;
    Ok((Held(mapped), acquired))
}
