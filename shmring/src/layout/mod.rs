//! The bytes that processes share: `#[repr(C)]` structures at fixed
//! offsets, and the validation of everything read back from them.
//!
//! Shared memory is untrusted input. Every field is read once into a
//! local, validated, and only the local is used afterwards.
//! `docs/layout.md` gives the same layout with byte offsets.

pub(crate) mod header;
pub(crate) mod holder;
pub(crate) mod mpmc;
#[cfg(not(shmring_loom))]
pub(crate) mod mq;
pub(crate) mod pubsub;
pub(crate) mod record;
pub(crate) mod spsc;
pub(crate) mod traffic;

pub use header::RingKind;
pub(crate) use header::SegmentHeader;

use crate::sync::{AtomicU32, AtomicU64};

/// A futex word and the count of processes sleeping on it, and the
/// doorbell bit (`wait/`); and, as statistics only, how often a waiter
/// slept here and how often a waker made the wake-up system call.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct WaitWords {
    pub(crate) epoch: AtomicU32,
    pub(crate) sleepers: AtomicU32,
    /// Futex sleeps on this line (never trusted, never read by the protocol).
    pub(crate) parks: AtomicU64,
    /// Futex wake-ups issued on this line (as `parks`).
    pub(crate) wakes: AtomicU64,
}

/// FNV-1a, usable in `const` context: the layout hash of a ring kind is
/// the hash of a string that spells out its layout, so any change to the
/// string (and so to the layout) makes old and new builds refuse each
/// other's segments.
pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
