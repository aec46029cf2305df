//! Shared (not `FUTEX_PRIVATE`) futex wait and wake on a 32-bit word in a
//! mapping that other processes see at other addresses.
#![allow(clippy::disallowed_types)]

use rustix::io::Errno;
use rustix::thread::futex;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Why [`wait`] returned. Callers re-check their condition either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken, the word no longer held `expected`, or a signal arrived.
    Woken,
    /// The relative timeout passed.
    TimedOut,
}

/// `futex(FUTEX_WAIT)` (futex(2)): sleeps while `*word == expected`, at
/// most `timeout`. Shared futex: keyed by the physical page, so it works
/// across processes.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|t| rustix::thread::futex::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Err(Errno::TIMEDOUT) => FutexWait::TimedOut,
        // EAGAIN (value changed), EINTR, spurious wake-ups: all "look again".
        Ok(()) | Err(_) => FutexWait::Woken,
    }
}

/// `futex(FUTEX_WAIT_BITSET)` (futex(2)): as [`wait`], but the sleeper is
/// queued with `bits`, so that [`wake_bitset`] with disjoint bits passes it
/// over (a plain `FUTEX_WAKE` still wakes it). The kernel takes an
/// absolute `CLOCK_MONOTONIC` time here, computed from `timeout`.
pub(crate) fn wait_bitset(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
    bits: NonZeroU32,
) -> FutexWait {
    let ts = timeout.map(|t| {
        let now = monotonic_now();
        let nanos = i64::from(t.subsec_nanos()) + now.tv_nsec;
        rustix::thread::futex::Timespec {
            tv_sec: now
                .tv_sec
                .saturating_add(t.as_secs().min(i64::MAX as u64) as i64)
                .saturating_add(nanos / 1_000_000_000),
            tv_nsec: nanos % 1_000_000_000,
        }
    });
    match futex::wait_bitset(word, futex::Flags::empty(), expected, ts.as_ref(), bits) {
        Err(Errno::TIMEDOUT) => FutexWait::TimedOut,
        Ok(()) | Err(_) => FutexWait::Woken,
    }
}

/// `clock_gettime(CLOCK_MONOTONIC)` (clock_gettime(2)), through the C
/// library: rustix's own vDSO lookup reads the ELF auxiliary vector, which
/// valgrind (the C API's memcheck test) does not lay out as the kernel
/// does, and crashed there.
#[allow(unsafe_code)]
fn monotonic_now() -> rustix::thread::futex::Timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, exclusively borrowed `struct timespec`;
    // CLOCK_MONOTONIC always exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    rustix::thread::futex::Timespec {
        tv_sec: now.tv_sec,
        tv_nsec: now.tv_nsec,
    }
}

/// `futex(FUTEX_WAKE_BITSET)` (futex(2)): wakes up to `count` sleepers on
/// `word` whose bits meet `bits` (plain [`wait`] sleepers have all bits).
pub(crate) fn wake_bitset(word: &AtomicU32, count: u32, bits: NonZeroU32) {
    // As in `wake`: no error to report.
    let _ = futex::wake_bitset(word, futex::Flags::empty(), count, bits);
}

/// `futex(FUTEX_WAKE)` (futex(2)): wakes up to `count` sleepers on `word`.
pub(crate) fn wake(word: &AtomicU32, count: u32) {
    // An error here can only mean a bad address, which a `&AtomicU32`
    // rules out; there is nobody to report it to on the sender's path.
    let _ = futex::wake(word, futex::Flags::empty(), count);
}
