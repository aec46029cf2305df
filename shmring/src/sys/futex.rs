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

/// A signal handler ran while [`wait_interruptible`] slept, and its
/// `sigaction` lacked `SA_RESTART` (with it, the kernel restarts the wait
/// without telling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interrupted;

/// `futex(FUTEX_WAIT)` without a timeout (futex(2)): sleeps while `*word
/// == expected`. Without a timeout the kernel answers a signal handler
/// with `ERESTARTSYS`, so `SA_RESTART` restarts the wait and only a
/// handler without it is reported, as `EINTR` is for a blocking `read`
/// (signal(7)); a wait with a timeout would report every handler. A
/// deadline is kept by waking the word from elsewhere (`mq/alarm.rs`).
pub(crate) fn wait_interruptible(word: &AtomicU32, expected: u32) -> Result<(), Interrupted> {
    match futex::wait(word, futex::Flags::empty(), expected, None) {
        Err(Errno::INTR) => Err(Interrupted),
        _ => Ok(()),
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
    let _ = futex::wake_bitset(word, futex::Flags::empty(), kernel_count(count), bits);
}

/// The kernel reads the count as an `int` and stops after the first
/// sleeper once it has woken "at least" that many: `u32::MAX` would be -1,
/// which wakes one. Every sleeper is `i32::MAX`.
fn kernel_count(count: u32) -> u32 {
    count.min(i32::MAX as u32)
}

/// `futex(FUTEX_WAKE)` (futex(2)): wakes up to `count` sleepers on `word`.
pub(crate) fn wake(word: &AtomicU32, count: u32) {
    // An error here can only mean a bad address, which a `&AtomicU32`
    // rules out; there is nobody to report it to on the sender's path.
    let _ = futex::wake(word, futex::Flags::empty(), kernel_count(count));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Whether thread `tid` of this process sleeps in a futex wait.
    pub(crate) fn asleep_in_futex(tid: i32) -> bool {
        let task = format!("/proc/self/task/{tid}");
        let wchan = std::fs::read_to_string(format!("{task}/wchan")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
        let sleeping = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
        sleeping && wchan.contains("futex")
    }

    /// Waking `u32::MAX` sleepers wakes every one (the kernel reads the
    /// count as an `int`: passed through, it would be -1 and wake one).
    /// The sleepers' timeout is far beyond the test's patience: one left
    /// asleep reports `TimedOut`.
    #[test]
    fn waking_all_wakes_every_sleeper() {
        let word = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel();
        let sleepers: Vec<_> = (0..3)
            .map(|_| {
                let (word, tx) = (Arc::clone(&word), tx.clone());
                std::thread::spawn(move || {
                    tx.send(Err(rustix::thread::gettid().as_raw_nonzero().get()))
                        .unwrap();
                    tx.send(Ok(wait(&word, 0, Some(Duration::from_secs(30)))))
                        .unwrap();
                })
            })
            .collect();
        let tids: Vec<i32> = (0..3).map(|_| rx.recv().unwrap().unwrap_err()).collect();
        let give_up = Instant::now() + Duration::from_secs(10);
        while !tids.iter().all(|&tid| asleep_in_futex(tid)) {
            assert!(Instant::now() < give_up, "the sleepers never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        wake(&word, u32::MAX);
        for _ in 0..3 {
            assert!(matches!(rx.recv().unwrap(), Ok(FutexWait::Woken)));
        }
        for sleeper in sleepers {
            sleeper.join().unwrap();
        }
    }
}
