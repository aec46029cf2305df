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
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(shmring_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

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
