//! The one place that names atomics, fences and `UnsafeCell`.
//!
//! Normal builds re-export `std`; `--cfg shmring_loom` swaps in loom's
//! types so that the ring and wait protocols can be model-checked with the
//! very code that runs in production (house style rule 6; clippy's
//! `disallowed-types` keeps every other module from naming `std` directly).
//!
//! Besides the atomics this module owns the two memory barriers of the
//! waiter protocol (see `wait/mod.rs`):
//!
//! | function        | normal build                                   | loom            |
//! |-----------------|------------------------------------------------|-----------------|
//! | [`light_fence`] | compiler fence only, when the heavy fence works; otherwise `fence(SeqCst)` | `fence(SeqCst)` |
//! | [`heavy_fence`] | `membarrier(GLOBAL_EXPEDITED)`, else `fence(SeqCst)` | `fence(SeqCst)` |
//!
//! A light fence on the fast path paired with a heavy fence on the slow
//! path gives the same store→load ordering as two `SeqCst` fences (the
//! asymmetric-fence technique of liburcu and folly), so a sender pays no
//! `mfence` per message to find out whether anybody sleeps.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[cfg(not(shmring_loom))]
use std::sync::atomic as imp;

#[cfg(shmring_loom)]
use loom::sync::atomic as imp;

pub(crate) use imp::{Ordering, fence};

macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $int:ty) => {
        $(#[$doc])*
        ///
        /// A transparent wrapper, so that the type in shared memory has the
        /// layout of the plain integer, and so that clippy's
        /// `disallowed-types` can keep `std`'s type out of every other module.
        #[derive(Debug, Default)]
        #[repr(transparent)]
        pub(crate) struct $name(imp::$name);

        #[allow(dead_code)]
        impl $name {
            pub(crate) fn new(value: $int) -> Self {
                Self(imp::$name::new(value))
            }
            #[inline(always)]
            pub(crate) fn load(&self, order: Ordering) -> $int {
                self.0.load(order)
            }
            #[inline(always)]
            pub(crate) fn store(&self, value: $int, order: Ordering) {
                self.0.store(value, order)
            }
            #[inline(always)]
            pub(crate) fn swap(&self, value: $int, order: Ordering) -> $int {
                self.0.swap(value, order)
            }
            #[inline(always)]
            pub(crate) fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_add(value, order)
            }
            #[inline(always)]
            pub(crate) fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_sub(value, order)
            }
            #[inline(always)]
            pub(crate) fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_or(value, order)
            }
            #[inline(always)]
            pub(crate) fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                self.0.fetch_and(value, order)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                self.0.compare_exchange(current, new, success, failure)
            }
            #[inline(always)]
            pub(crate) fn compare_exchange_weak(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                self.0.compare_exchange_weak(current, new, success, failure)
            }
            /// The `std` atomic, for system calls that take one (futex).
            #[cfg(not(shmring_loom))]
            #[inline(always)]
            pub(crate) fn as_std(&self) -> &imp::$name {
                &self.0
            }
        }
    };
}

atomic!(
    /// A 32-bit atomic: futex words and other 32-bit shared state.
    AtomicU32,
    u32
);
atomic!(
    /// A 64-bit atomic: positions, headers, role words.
    AtomicU64,
    u64
);

/// A plain `fence(order)` (loom's under loom): the seqlock fences of the
/// lossy publish/subscribe ring (`ring/broadcast.rs`), which pair a
/// Release fence before payload writes with an Acquire fence after
/// payload reads.
#[inline(always)]
pub(crate) fn seqlock_fence(order: Ordering) {
    fence(order);
}

/// Store→load barrier of a Dekker pair whose both sides are slow paths
/// (the message queue's waiters and the wakers of waiters): a plain
/// SeqCst fence, in loom too.
#[inline]
pub(crate) fn dekker_fence() {
    fence(Ordering::SeqCst);
}

/// Store→load barrier on the fast path; pairs with [`heavy_fence`].
#[inline(always)]
pub(crate) fn light_fence() {
    #[cfg(not(shmring_loom))]
    {
        if crate::sys::membarrier::asymmetric_fences_enabled() {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }
    #[cfg(shmring_loom)]
    fence(Ordering::SeqCst);
}

/// Store→load barrier on the slow path (a side about to sleep); pairs with
/// [`light_fence`] in every process that may wake it.
/// Returns false when the heavy barrier could not be issued: the caller
/// must then poll instead of sleeping without bound.
#[inline]
pub(crate) fn heavy_fence() -> bool {
    #[cfg(not(shmring_loom))]
    return crate::sys::membarrier::heavy_barrier();
    #[cfg(shmring_loom)]
    {
        fence(Ordering::SeqCst);
        true
    }
}

/// The futex, as loom sees it: wait and wake on an address, with the
/// kernel's guarantee that the value check and the queueing are atomic
/// with respect to a wake, and its wake semantics: at most `count`
/// sleepers, first queued first, only those whose bits meet the waker's
/// (`FUTEX_WAIT_BITSET`/`FUTEX_WAKE_BITSET`; plain calls use every bit). A
/// waiter nobody wakes blocks forever, so a lost wake-up, or a wake-up
/// that went to a sleeper that could not use it, shows up as a loom
/// deadlock.
#[cfg(shmring_loom)]
pub(crate) mod futex_mock {
    use super::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    #[derive(Default)]
    struct Queue {
        next_id: u64,
        /// (address, bits, id) of every sleeper, in the order they slept.
        sleeping: Vec<(usize, u32, u64)>,
        /// Sleepers woken and not yet returned.
        woken: Vec<u64>,
    }

    struct Table {
        queue: Mutex<Queue>,
        cv: Condvar,
    }

    loom::lazy_static! {
        static ref TABLE: Table = Table { queue: Mutex::new(Queue::default()), cv: Condvar::new() };
    }

    /// `FUTEX_WAIT_BITSET`: sleeps while `*word == expected`, until a wake
    /// whose bits meet `bits`.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, bits: u32) {
        let addr = word as *const AtomicU32 as usize;
        let mut queue = TABLE.queue.lock().unwrap();
        // SeqCst: the kernel reads the word under the bucket lock; the
        // mutex gives the same atomicity against `wake`.
        if word.load(super::Ordering::SeqCst) != expected {
            return;
        }
        let id = queue.next_id;
        queue.next_id += 1;
        queue.sleeping.push((addr, bits, id));
        while !queue.woken.contains(&id) {
            queue = TABLE.cv.wait(queue).unwrap();
        }
        queue.woken.retain(|w| *w != id);
    }

    /// `FUTEX_WAKE_BITSET`: wakes up to `count` sleepers on `word` whose
    /// bits meet `bits`, the longest sleeping first.
    pub(crate) fn wake(word: &AtomicU32, count: u32, bits: u32) {
        let addr = word as *const AtomicU32 as usize;
        let mut queue = TABLE.queue.lock().unwrap();
        let Queue {
            sleeping, woken, ..
        } = &mut *queue;
        let mut left = count;
        sleeping.retain(|&(a, b, id)| {
            if left > 0 && a == addr && b & bits != 0 {
                left -= 1;
                woken.push(id);
                false
            } else {
                true
            }
        });
        TABLE.cv.notify_all();
    }
}
