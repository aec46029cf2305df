//! The one place that names atomics, fences and `UnsafeCell`.
//!
//! Normal builds re-export `std`; `--cfg shmring_loom` swaps in loom's
//! types so that the ring and wait protocols can be model-checked with the
//! very code that runs in production (house style rule 6; clippy's
//! `disallowed-types` keeps every other module from naming `std` directly).
//!
//! Besides the atomics this module owns the two memory barriers of the
//! waiter protocol (see `wait.rs`):
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
/// with respect to a wake. A waiter nobody wakes blocks forever, so a lost
/// wake-up shows up as a loom deadlock.
#[cfg(shmring_loom)]
pub(crate) mod futex_mock {
    use super::AtomicU32;
    use loom::sync::{Condvar, Mutex};

    /// Wake-ups per futex address.
    struct Table {
        wakes: Mutex<Vec<(usize, u64)>>,
        cv: Condvar,
    }

    loom::lazy_static! {
        static ref TABLE: Table = Table { wakes: Mutex::new(Vec::new()), cv: Condvar::new() };
    }

    fn wakes_of(list: &mut Vec<(usize, u64)>, addr: usize) -> &mut u64 {
        let i = match list.iter().position(|(a, _)| *a == addr) {
            Some(i) => i,
            None => {
                list.push((addr, 0));
                list.len() - 1
            }
        };
        &mut list[i].1
    }

    /// `FUTEX_WAIT`: sleeps while `*word == expected`, until a wake.
    pub(crate) fn wait(word: &AtomicU32, expected: u32) {
        let addr = word as *const AtomicU32 as usize;
        let mut list = TABLE.wakes.lock().unwrap();
        // SeqCst: the kernel reads the word under the bucket lock; the
        // mutex gives the same atomicity against `wake`.
        if word.load(super::Ordering::SeqCst) != expected {
            return;
        }
        let seen = *wakes_of(&mut list, addr);
        while *wakes_of(&mut list, addr) == seen {
            list = TABLE.cv.wait(list).unwrap();
        }
    }

    /// `FUTEX_WAKE`: wakes the sleepers on `word` (all of them: a model
    /// with one waiter per word cannot tell the difference).
    pub(crate) fn wake(word: &AtomicU32, _count: u32) {
        let addr = word as *const AtomicU32 as usize;
        let mut list = TABLE.wakes.lock().unwrap();
        *wakes_of(&mut list, addr) += 1;
        TABLE.cv.notify_all();
    }
}
