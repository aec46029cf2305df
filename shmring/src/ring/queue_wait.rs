//! The message queue's waiting protocol (`mq/park.rs`) without system
//! calls: the futex comes in from the caller, so loom runs the same code
//! on heap memory (`loom-tests/src/queue_lock.rs`).
//!
//! A waiting line is three words: `epoch` (the futex word), `sleepers`
//! (threads in or entering the futex wait) and `waiters` (callers blocked
//! in the call, spinning or asleep; guarded by the queue's lock).
//!
//! - A waiter, under the lock, counts itself in `waiters` and reads
//!   `epoch` as `seen`. After unlocking it spins while `epoch == seen`,
//!   then [`sleep_once`] adds it to `sleepers` and sleeps while `epoch`
//!   still equals `seen`.
//! - A waker, under the lock, after the change the waiters wait for,
//!   moves `epoch` if `waiters` is not zero ([`bump`]). After unlocking
//!   it calls the futex wake if `sleepers` is not zero
//!   ([`wake_after_unlock`]).
//!
//! `epoch` and `sleepers` form a Dekker pair, a SeqCst fence between the
//! store and the load on each side: either the waker sees the sleeper and
//! wakes it, or the sleeper's futex wait (which compares `epoch` with
//! `seen` atomically with its queueing) sees the new epoch and returns at
//! once. Fences rather than SeqCst accesses alone: loom checks the pair
//! only through fences (it models SeqCst accesses as AcqRel), and the
//! fences cost nothing on the message path (only waiters and wakers of
//! waiters run them).

use crate::sync::AtomicU32;
use crate::sync::Ordering::{Acquire, Relaxed};
use crate::sync::dekker_fence;

/// A signal handler without `SA_RESTART` interrupted the sleep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

/// The caller's futex.
pub trait Futex {
    /// Sleeps while `word` holds `expected` (the check and the queueing
    /// atomic with respect to a wake, as the kernel's are).
    fn wait(&self, word: &AtomicU32, expected: u32) -> Result<(), Interrupted>;
    /// Wakes one sleeper of `word`.
    fn wake_one(&self, word: &AtomicU32);
}

/// How one sleep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slept {
    /// The epoch moved: look under the lock again.
    Changed,
    /// A handler interrupted it.
    Interrupted,
    /// A spurious (or deadline) wake-up: the epoch did not move.
    Unchanged,
}

/// One sleep of a waiter whose epoch was `seen`.
pub fn sleep_once(epoch: &AtomicU32, sleepers: &AtomicU32, seen: u32, futex: &impl Futex) -> Slept {
    sleepers.fetch_add(1, Relaxed);
    // SeqCst: the Dekker pair with the fence between the waker's bump of
    // `epoch` and its load of `sleepers` (module docs).
    dekker_fence();
    let slept = if epoch.load(Relaxed) != seen {
        Ok(())
    } else {
        futex.wait(epoch, seen)
    };
    sleepers.fetch_sub(1, Relaxed);
    if slept.is_err() {
        return Slept::Interrupted;
    }
    // Acquire: pairs with the bump (its change is read under the lock
    // anyway).
    if epoch.load(Acquire) != seen {
        Slept::Changed
    } else {
        Slept::Unchanged
    }
}

/// Under the lock, after a change waiters wait for: moves the epoch if
/// anyone waits; returns whether [`wake_after_unlock`] has work to do.
pub fn bump(epoch: &AtomicU32, waiters: &AtomicU32) -> bool {
    if waiters.load(Relaxed) == 0 {
        return false;
    }
    // The broken loom build forgets to move the epoch: a waiter not yet
    // asleep then sleeps through the wake.
    if !cfg!(shmring_loom_broken) {
        // Relaxed: ordered before the waker's load of `sleepers` by the
        // fence in `wake_after_unlock`, and before the waiter's next look
        // under the lock by the unlock.
        epoch.fetch_add(1, Relaxed);
    }
    true
}

/// After unlocking: wakes one sleeper, if any sleeps.
pub fn wake_after_unlock(epoch: &AtomicU32, sleepers: &AtomicU32, futex: &impl Futex) {
    // SeqCst: the Dekker pair with the sleeper's fence between its
    // `sleepers` increment and its look at `epoch`.
    dekker_fence();
    if sleepers.load(Relaxed) > 0 {
        futex.wake_one(epoch);
    }
}

/// A queue reduced to its count, lock and `not_empty` line, for the loom
/// models: the library's [`bump`], [`wake_after_unlock`] and
/// [`sleep_once`] with loom's futex.
#[cfg(shmring_loom)]
pub mod model {
    use super::{AtomicU32, Futex, Interrupted, Slept};
    use crate::ring::queue_lock::model::{ModelLock, Nap};
    use crate::sync::Ordering::Relaxed;
    use crate::sync::futex_mock;

    struct Mock;

    impl Futex for Mock {
        fn wait(&self, word: &AtomicU32, expected: u32) -> Result<(), Interrupted> {
            futex_mock::wait(word, expected, u32::MAX);
            Ok(())
        }

        fn wake_one(&self, word: &AtomicU32) {
            futex_mock::wake(word, 1, u32::MAX);
        }
    }

    fn alive(_tag: u32) -> Option<bool> {
        Some(false)
    }

    /// Messages (a count) behind the queue's lock, and the line that
    /// receivers wait on.
    #[derive(Debug, Default)]
    pub struct ModelQueue {
        lock: ModelLock,
        count: AtomicU32,
        epoch: AtomicU32,
        sleepers: AtomicU32,
        waiters: AtomicU32,
    }

    impl ModelQueue {
        /// An empty queue.
        pub fn new() -> ModelQueue {
            ModelQueue::default()
        }

        /// Adds a message and wakes a waiting receiver, as `send` does.
        pub fn send(&self, tag: u32) {
            self.lock.lock(tag, Nap::Futex, alive);
            self.count.store(self.count.load(Relaxed) + 1, Relaxed);
            let wake = super::bump(&self.epoch, &self.waiters);
            self.lock.unlock();
            if wake {
                super::wake_after_unlock(&self.epoch, &self.sleepers, &Mock);
            }
        }

        /// Takes a message, sleeping (no spin) while there is none, as a
        /// blocking `receive` does.
        pub fn receive(&self, tag: u32) {
            let mut waiting = false;
            loop {
                self.lock.lock(tag, Nap::Futex, alive);
                if waiting {
                    self.waiters.store(self.waiters.load(Relaxed) - 1, Relaxed);
                }
                let count = self.count.load(Relaxed);
                if count > 0 {
                    self.count.store(count - 1, Relaxed);
                    self.lock.unlock();
                    return;
                }
                self.waiters.store(self.waiters.load(Relaxed) + 1, Relaxed);
                waiting = true;
                let seen = self.epoch.load(Relaxed);
                self.lock.unlock();
                while super::sleep_once(&self.epoch, &self.sleepers, seen, &Mock)
                    == Slept::Unchanged
                {}
            }
        }
    }
}
