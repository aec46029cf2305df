//! The queue's lock: the protocol of `ring/queue_lock.rs` on the segment's
//! lock word, with a holder named by its presence entry (`presence.rs`),
//! so that a waiter can tell a holder that died from one that is slow,
//! take the lock over, and repair what the dead holder may have left
//! half-done before anything else looks.
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

use super::MqError;
use super::presence;
use super::store::Mapped;
use crate::layout::mq::PRESENCE_ENTRIES;
use crate::ring::priority;
use crate::ring::queue_lock::{self, Acquired, Sleeper};
use crate::sync::AtomicU32;
use crate::sync::Ordering::Relaxed;
use crate::sys::futex::{self, FutexWait};
use crate::sys::{bell, queue_dir};
use rustix::fd::AsFd;
use rustix::io::Errno;
use std::time::{Duration, SystemTime};

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

/// Takes the lock as `tag` (the caller's presence tag), waiting while a
/// live holder has it; if its last holder died, repairs what it may have
/// left half-done first.
pub(crate) fn lock(mapped: &Mapped, tag: u32) -> Held<'_> {
    match lock_until(mapped, tag, None) {
        Ok(held) => held,
        Err(_) => unreachable!("a lock without a deadline never times out"),
    }
}

/// As [`lock`], giving up with `ETIMEDOUT` when the realtime clock
/// reaches `deadline`: a stopped holder, or a peer that wrote a live tag
/// into the word, cannot make a timed call overrun its deadline.
pub(crate) fn lock_until(
    mapped: &Mapped,
    tag: u32,
    deadline: Option<SystemTime>,
) -> Result<Held<'_>, MqError> {
    let acquired = queue_lock::lock(
        mapped.words.lock_word(),
        tag,
        &Futex { deadline },
        |holder| presence::holder_dead(mapped, holder),
        |holder| holder == 0 || (holder > PRESENCE_ENTRIES && holder != presence::ANONYMOUS),
        || deadline.is_some_and(|d| SystemTime::now() >= d),
    )
    .map_err(|_| {
        MqError::new(
            Errno::TIMEDOUT,
            "the deadline passed while the queue's lock was held (a stopped or misbehaving peer)",
        )
    })?;
    let held = Held(mapped);
    if acquired == Acquired::OwnerDied {
        repair(mapped);
    }
    Ok(held)
}

/// Rebuilds the lists from the slots, and the readiness FIFO from the
/// count (lock held).
pub(crate) fn repair(mapped: &Mapped) {
    priority::rebuild(&mapped.words, &mapped.shape);
    sync_readiness(mapped);
}

/// Makes the readiness FIFO say what the count says, if it is kept
/// (lock held).
pub(crate) fn sync_readiness(mapped: &Mapped) {
    if mapped.words.watched().load(Relaxed) == 0 {
        return;
    }
    let count = priority::count(&mapped.words, &mapped.shape).unwrap_or(0);
    bell::drain(mapped.ready.as_fd());
    if count > 0 {
        queue_dir::put_byte(mapped.ready.as_fd());
    }
}
