//! Waiting for a queue to change: a short spin, then a futex sleep that
//! a signal handler interrupts as POSIX says, and deadlines on the
//! realtime clock kept by one alarm thread per process.
//!
//! The protocol on a waiting line is `ring/queue_wait.rs` (modelled in
//! loom); this module adds the spin, the kernel's futex, deadlines and
//! the caller's `O_NONBLOCK`.
//!
//! The sleep has no kernel timeout: with one, the kernel reports every
//! signal handler as `EINTR` even under `SA_RESTART`; without, it
//! restarts the sleep for `SA_RESTART` handlers (signal(7)), which is
//! what `mq_receive` does. A deadline is kept instead by [`alarm`]
//! waking the word when it passes.
//!
//! A signal that arrives while the caller spins runs its handler and the
//! call goes on: the same as a signal arriving just before the call.

use super::store::Mapped;
use crate::layout::mq::WaitLine;
use crate::ring::queue_wait::{self, Futex, Slept};
use crate::sync::AtomicU32;
use crate::sync::Ordering::Acquire;
use crate::sys::futex;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// How [`park`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    /// The epoch moved: look again.
    Woken,
    /// A signal handler without `SA_RESTART` ran.
    Interrupted,
    /// The deadline passed.
    TimedOut,
    /// The caller's description turned out non-blocking (checked once,
    /// before sleeping).
    NonBlocking,
}

/// Which line of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    NotEmpty,
    NotFull,
}

impl Line {
    pub(crate) fn of(self, mapped: &Mapped) -> WaitLine<'_> {
        match self {
            Line::NotEmpty => mapped.words.not_empty(),
            Line::NotFull => mapped.words.not_full(),
        }
    }
}

/// How long a blocked call spins before it sleeps:
/// `$SHMRING_MQ_SPIN_US` microseconds, 20 by default (a reply that
/// comes within it costs no sleep and no wake-up), none on a machine
/// with one CPU online (the peer could not run while we spin). A process
/// pinned to one CPU still spins: its peer is usually pinned to another.
fn spin_budget() -> Duration {
    static BUDGET: OnceLock<Duration> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let us = std::env::var("SHMRING_MQ_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20u64);
        let one_cpu = crate::sys::thread::cpus_online() <= 1;
        if one_cpu {
            Duration::ZERO
        } else {
            Duration::from_micros(us)
        }
    })
}

fn passed(deadline: Option<SystemTime>) -> bool {
    deadline.is_some_and(|d| SystemTime::now() >= d)
}

/// Waits until `line`'s epoch is no longer `seen`, a handler interrupts,
/// or `deadline` passes. The caller counted itself in `waiters`. Before
/// it sleeps, `nonblocking()` may still call the wait off.
pub(crate) fn park(
    mapped: &Arc<Mapped>,
    line: Line,
    seen: u32,
    deadline: Option<SystemTime>,
    nonblocking: &dyn Fn() -> bool,
) -> Parked {
    let words = line.of(mapped);
    let spin_until = Instant::now() + spin_budget();
    let mut spins = 0u32;
    loop {
        // Acquire: pairs with the waker's SeqCst bump, made under the
        // mutex after its change; the caller locks again anyway.
        if words.epoch.load(Acquire) != seen {
            return Parked::Woken;
        }
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 {
            if passed(deadline) {
                return Parked::TimedOut;
            }
            if Instant::now() >= spin_until {
                break;
            }
        }
        std::hint::spin_loop();
    }
    if nonblocking() {
        return Parked::NonBlocking;
    }
    let _alarm = deadline.map(|d| alarm::set(mapped, line, d));
    loop {
        match queue_wait::sleep_once(words.epoch, words.sleepers, seen, &Kernel) {
            Slept::Changed => return Parked::Woken,
            Slept::Interrupted => return Parked::Interrupted,
            Slept::Unchanged if passed(deadline) => return Parked::TimedOut,
            Slept::Unchanged => {}
        }
    }
}

/// The kernel's futex, interruptible as POSIX wants (`sys/futex.rs`).
struct Kernel;

impl Futex for Kernel {
    fn wait(&self, word: &AtomicU32, expected: u32) -> Result<(), queue_wait::Interrupted> {
        futex::wait_interruptible(word.as_std(), expected).map_err(|_| queue_wait::Interrupted)
    }

    fn wake_one(&self, word: &AtomicU32) {
        futex::wake(word.as_std(), 1);
    }
}

/// Under the lock, after a change waiters of `line` wait for: moves its
/// epoch if anyone waits; returns whether [`wake_after_unlock`] has work.
pub(crate) fn bump(line: WaitLine<'_>) -> bool {
    queue_wait::bump(line.epoch, line.waiters)
}

/// Wakes one sleeper of `line`, if any sleeps (after unlocking).
pub(crate) fn wake_after_unlock(line: WaitLine<'_>) {
    queue_wait::wake_after_unlock(line.epoch, line.sleepers, &Kernel);
}

/// The process's alarm thread: wakes the waiting lines of callers whose
/// deadlines passed, again every millisecond until they have gone (a
/// caller may not have reached its sleep at the first wake).
mod alarm {
    use super::*;

    struct Entry {
        id: u64,
        deadline: SystemTime,
        mapped: Arc<Mapped>,
        line: Line,
    }

    #[derive(Default)]
    struct State {
        next_id: u64,
        /// The pid the thread runs in: a forked child has none.
        thread_pid: Option<u32>,
        entries: Vec<Entry>,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        next_id: 0,
        thread_pid: None,
        entries: Vec::new(),
    });
    static CHANGED: Condvar = Condvar::new();

    /// Removes its entry when the caller stops waiting.
    pub(crate) struct Set(u64);

    impl Drop for Set {
        fn drop(&mut self) {
            let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
            state.entries.retain(|e| e.id != self.0);
        }
    }

    pub(crate) fn set(mapped: &Arc<Mapped>, line: Line, deadline: SystemTime) -> Set {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        state.next_id += 1;
        let id = state.next_id;
        state.entries.push(Entry {
            id,
            deadline,
            mapped: Arc::clone(mapped),
            line,
        });
        let pid = std::process::id();
        if state.thread_pid != Some(pid)
            && crate::sys::thread::spawn_quiet("shmring-mq-alarm", run).is_ok()
        {
            state.thread_pid = Some(pid);
        }
        CHANGED.notify_one();
        Set(id)
    }

    fn run() {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = SystemTime::now();
            let mut sleep = Duration::from_secs(1);
            for entry in &state.entries {
                match entry.deadline.duration_since(now) {
                    Ok(left) if !left.is_zero() => sleep = sleep.min(left),
                    _ => {
                        // Wake every sleeper of the line: the one whose
                        // deadline passed among them. The others look
                        // at the epoch, see no change, and sleep again.
                        futex::wake(entry.line.of(&entry.mapped).epoch.as_std(), u32::MAX);
                        sleep = sleep.min(Duration::from_millis(1));
                    }
                }
            }
            state = CHANGED
                .wait_timeout(state, sleep)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
