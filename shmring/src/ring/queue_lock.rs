//! The message queue's lock (`mq/lock.rs`) as a protocol over one word,
//! without system calls: the futex and the question "is this holder
//! alive?" come in from the caller, so loom runs the same code on heap
//! memory (`loom-tests/src/queue_lock.rs`).
//!
//! | word                | meaning                                         |
//! |---------------------|-------------------------------------------------|
//! | 0                   | free                                            |
//! | `tag`               | held by the locker with that tag                |
//! | `tag \| CONTENDED`  | held, and somebody sleeps (or will) on the word |
//!
//! Nothing read from the word is ever dereferenced: a word a peer filled
//! with garbage reads as a holder that `holder_dead` calls dead.

use crate::sync::AtomicU32;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// Set while somebody may sleep on the word: the unlock must wake one.
pub const CONTENDED: u32 = 1 << 31;

/// Failed looks before a locker sleeps: a few microseconds, longer than
/// any hold of the lock (under loom, one: loom explores the rest).
const SPIN_TRIES: u32 = if cfg!(shmring_loom) { 1 } else { 200 };

/// How the caller sleeps on the word and wakes a sleeper.
pub trait Sleeper {
    /// Sleeps while the word holds `expected`, until woken or for one
    /// nap (its length is the caller's business); `true` if the nap ran
    /// out (then the holder's life is looked at again).
    fn sleep(&self, word: &AtomicU32, expected: u32) -> bool;
    /// Wakes one sleeper of the word.
    fn wake_one(&self, word: &AtomicU32);
}

/// How the lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// From a holder that let go: what it guards is as it left it.
    Clean,
    /// From a holder that died (or a word a peer overwrote): what it
    /// guards may be half-updated, and must be repaired.
    OwnerDied,
}

/// The caller's deadline passed while a live holder kept the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// Takes the lock as `tag` (non-zero, without [`CONTENDED`]).
///
/// `holder_dead(tag)` says whether the holder a tag names is dead
/// (`Some(true)`), alive, or cannot be told (`None`); it is asked after
/// the spin and after every nap that ran out, and at once for a word
/// that `garbage(tag)` calls impossible. `expired()` is asked before
/// every sleep.
pub fn lock(
    word: &AtomicU32,
    tag: u32,
    sleeper: &impl Sleeper,
    holder_dead: impl Fn(u32) -> Option<bool>,
    garbage: impl Fn(u32) -> bool,
    expired: impl Fn() -> bool,
) -> Result<Acquired, TimedOut> {
    // Acquire on every successful CAS: pairs with the Release swap of
    // `unlock`, so the new holder sees everything done under the lock
    // (after a death there is no such swap: the repair then trusts only
    // what the guarded data says of itself).
    for _ in 0..SPIN_TRIES {
        if word.load(Relaxed) == 0 && word.compare_exchange(0, tag, Acquire, Relaxed).is_ok() {
            return Ok(Acquired::Clean);
        }
        for _ in 0..16 {
            std::hint::spin_loop();
        }
        #[cfg(shmring_loom)]
        loom::thread::yield_now();
    }
    // From here on the lock is taken marked contended: others may sleep
    // behind us, and our unlock must wake one.
    let mut look_at_holder = true;
    loop {
        let current = word.load(Relaxed);
        if current == 0 {
            if word
                .compare_exchange(0, tag | CONTENDED, Acquire, Relaxed)
                .is_ok()
            {
                return Ok(Acquired::Clean);
            }
            continue;
        }
        let holder = current & !CONTENDED;
        if (look_at_holder || garbage(holder)) && holder_dead(holder) == Some(true) {
            if word
                .compare_exchange(current, tag | CONTENDED, Acquire, Relaxed)
                .is_ok()
            {
                return Ok(Acquired::OwnerDied);
            }
            continue;
        }
        if current & CONTENDED == 0
            && word
                .compare_exchange(current, current | CONTENDED, Relaxed, Relaxed)
                .is_err()
        {
            continue;
        }
        if expired() {
            return Err(TimedOut);
        }
        look_at_holder = sleeper.sleep(word, current | CONTENDED);
    }
}

/// Releases the lock; wakes a sleeper if one may wait.
pub fn unlock(word: &AtomicU32, sleeper: &impl Sleeper) {
    // Release: pairs with the Acquire CAS of the next holder.
    if word.swap(0, Release) & CONTENDED != 0 {
        sleeper.wake_one(word);
    }
}

/// Whether the word names `tag` as its holder now.
pub fn names(word: &AtomicU32, tag: u32) -> bool {
    word.load(Relaxed) & !CONTENDED == tag
}

/// The lock on a word of its own, for the loom models
/// (`loom-tests/src/queue_lock.rs`): the library's [`lock`] and
/// [`unlock`] with loom's futex.
#[cfg(shmring_loom)]
pub mod model {
    use super::{AtomicU32, Sleeper};
    use crate::sync::futex_mock;

    pub use super::Acquired;

    /// Tags at or above this name no holder: a peer's garbage.
    pub const GARBAGE: u32 = 1 << 20;

    /// How a model locker sleeps.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Nap {
        /// On the futex, until an unlock wakes it: a lost wake-up is a
        /// loom deadlock.
        Futex,
        /// Every nap runs out at once, as the real 10 ms one may, so the
        /// holder's life is looked at again after each.
        RunsOut,
    }

    struct Mock(Nap);

    impl Sleeper for Mock {
        fn sleep(&self, word: &AtomicU32, expected: u32) -> bool {
            match self.0 {
                Nap::Futex => {
                    futex_mock::wait(word, expected, u32::MAX);
                    false
                }
                Nap::RunsOut => {
                    loom::thread::yield_now();
                    true
                }
            }
        }

        fn wake_one(&self, word: &AtomicU32) {
            // The broken build forgets the sleepers behind an unlock.
            if !cfg!(shmring_loom_broken) {
                futex_mock::wake(word, 1, u32::MAX);
            }
        }
    }

    /// A lock word, free.
    #[derive(Debug, Default)]
    pub struct ModelLock(AtomicU32);

    impl ModelLock {
        /// A free lock.
        pub fn new() -> ModelLock {
            ModelLock(AtomicU32::new(0))
        }

        /// A lock whose word holds `raw` (a holder's tag, or garbage).
        pub fn holding(raw: u32) -> ModelLock {
            ModelLock(AtomicU32::new(raw))
        }

        /// Takes it as `tag`, sleeping as `nap` says; `holder_dead` as in
        /// the library. Never times out.
        pub fn lock(
            &self,
            tag: u32,
            nap: Nap,
            holder_dead: impl Fn(u32) -> Option<bool>,
        ) -> Acquired {
            match super::lock(
                &self.0,
                tag,
                &Mock(nap),
                holder_dead,
                |holder| holder >= GARBAGE,
                || false,
            ) {
                Ok(acquired) => acquired,
                Err(_) => unreachable!("a model lock never expires"),
            }
        }

        /// Releases it, waking a futex sleeper if one may wait.
        pub fn unlock(&self) {
            super::unlock(&self.0, &Mock(Nap::Futex));
        }
    }
}
