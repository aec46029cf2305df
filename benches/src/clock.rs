//! The one clock both processes read: CLOCK_MONOTONIC in nanoseconds.
//!
//! `Instant` is the same clock but cannot cross a process boundary; a
//! one-way latency needs the sender's reading inside the message.

use rustix::time::{ClockId, clock_gettime};

/// Nanoseconds on CLOCK_MONOTONIC (the same value in every process).
#[inline]
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    // CLOCK_MONOTONIC is never negative; a u64 of nanoseconds lasts 584 years.
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}
