//! Waiting for a condition another process will make true: spin, then
//! sleep on a shared futex; and the matching wake-up.
//!
//! Each waiting direction has two shared 32-bit words ([`WaitWords`]):
//!
//! | word       | meaning                                               |
//! |------------|-------------------------------------------------------|
//! | `sleepers` | processes that announced they may sleep on `epoch`    |
//! | `epoch`    | the futex word; bumped by every waker that wakes      |
//!
//! The protocol (no lost wake-up):
//!
//! ```text
//! waiter                               waker
//! sleepers += 1                        make the condition true (Release)
//! e = epoch.fetch_or(EPOCH_READ)       light_fence()
//! heavy_fence()  ─────── pairs ──────  if sleepers != 0:
//! if condition: sleepers -= 1; done        (wake-all: if epoch & EPOCH_READ)
//! FUTEX_WAIT(epoch, e)                     bump epoch; FUTEX_WAKE(epoch)
//! sleepers -= 1
//! ```
//!
//! The fences make it impossible that the waker reads `sleepers == 0`
//! while the waiter reads the condition as false. If the waker sees the
//! sleeper, it bumps `epoch` after the waiter read `e` (then FUTEX_WAIT
//! returns at once) or wakes it from the futex queue, or it bumped before
//! and the waiter, whose read of `e` is an Acquire of that bump, sees the
//! condition. Reading `e` before
//! re-checking the condition is essential: read after, a bump could fall
//! between the two and be missed. A waker that sees no sleeper makes no
//! system call: the fast path is two loads and a compiler fence.
//!
//! **One wake-all per sleep.** Bit 0 of `epoch` (`EPOCH_READ`) says
//! that a waiter has read the epoch since the last wake-all: a waiter
//! reads it with `fetch_or(EPOCH_READ)` (before its heavy fence, as its
//! announcement) and sleeps on the value with the bit set. A wake-all
//! ([`notify_all`]: a publisher for its subscribers) that finds the bit
//! clear makes no system call: everybody queued on the futex was woken
//! by the wake-all that cleared it, and a waiter that has not read the
//! epoch yet will see the condition (the same Dekker meeting as above,
//! on the epoch word). A wake-all bumps with `fetch_add(1)`, which on a
//! value with the bit set clears it and carries into the count; a
//! wake-one adds 2, leaving the bit as it is, since one wake-up does not
//! reach everybody queued. So a publisher whose subscribers wait for a
//! CPU (more of them than cores) pays one `FUTEX_WAKE` per sleep, not
//! one per message until they run.
//!
//! Sleeps are cut into slices of at most [`LIVENESS_INTERVAL`] so that the
//! caller can notice a peer that died without waking anybody.
//!
//! Waiters on one word may wait for different conditions: MPMC senders
//! wait for room on their own priority level. Each such waiter sleeps in a
//! *class* (a bit of the futex bitset, `FUTEX_WAIT_BITSET`), and a waker
//! that made one class's condition true wakes one sleeper of that class
//! (`FUTEX_WAKE_BITSET`): a single wake-up cannot go to a sleeper that
//! still cannot proceed while the one that can sleeps on. Plain waiters and
//! [`notify_all`] use every bit. `sleepers` and `epoch` stay shared by all
//! classes, so the protocol above is unchanged; the cost of sharing is
//! that a waker may make a system call that wakes nobody, and that a
//! waiter of another class about to sleep sees the epoch move and looks
//! once more: both only when somebody sleeps, never on the fast path.

pub(crate) mod doorbell;
#[cfg(not(shmring_loom))]
pub(crate) mod watchdog;

use crate::layout::WaitWords;
use crate::sync::{Ordering, heavy_fence, light_fence};
use doorbell::{ARMED, Bell, PeerHint};

/// Bit 0 of `epoch`: a waiter read the epoch since the last wake-all.
const EPOCH_READ: u32 = 1;

/// The sleeper count in a `sleepers` word (without the doorbell bit).
#[inline(always)]
pub(crate) fn sleeper_count(sleepers: u32) -> u32 {
    sleepers & !ARMED
}
use std::time::{Duration, Instant};

/// How a blocking call waits when it cannot proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Poll without ever sleeping: lowest latency, burns a core.
    BusySpin,
    /// Poll for `spin`, then sleep on the futex (the default, with 50 µs).
    SpinThenPark {
        /// How long to poll before sleeping.
        spin: Duration,
    },
    /// Sleep on the futex at once: no CPU while idle, a wake-up per wait.
    Park,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::SpinThenPark {
            spin: Duration::from_micros(50),
        }
    }
}

/// How often a waiter checks whether its peer is still alive.
pub(crate) const LIVENESS_INTERVAL: Duration = Duration::from_millis(100);

/// Lets a family of endpoints probe its peers' liveness at most once per
/// [`LIVENESS_INTERVAL`], from whichever of its threads comes first. Calls
/// that find nothing to do (full, empty, timed out) ask it: waits check
/// liveness while they wait, but `try_*` calls and short timeouts in a loop
/// never wait that long. Never due under loom, whose processes never die
/// and whose clock stands still.
#[derive(Debug)]
pub(crate) struct LivenessThrottle {
    next: std::sync::Mutex<Instant>,
}

impl LivenessThrottle {
    pub(crate) fn new() -> LivenessThrottle {
        LivenessThrottle {
            next: std::sync::Mutex::new(now()),
        }
    }

    /// Whether this caller should probe now (and the others not until the
    /// next interval).
    #[cold]
    pub(crate) fn due(&self) -> bool {
        if cfg!(shmring_loom) {
            return false;
        }
        // Another thread of this family is checking: nothing to add.
        let Ok(mut next) = self.next.try_lock() else {
            return false;
        };
        let now = now();
        if now < *next {
            return false;
        }
        *next = now + LIVENESS_INTERVAL;
        true
    }
}

/// The longest sleep slice of a waiter on this thread: [`LIVENESS_INTERVAL`],
/// or in unit tests what the thread asked for ([`test_hooks`]), so that a
/// test can tell "woken" from "rescued by the end of its slice".
#[inline]
fn liveness_interval() -> Duration {
    #[cfg(test)]
    if let Some(interval) = test_hooks::LIVENESS.with(|c| c.get()) {
        return interval;
    }
    LIVENESS_INTERVAL
}

/// Unit-test hooks.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::cell::Cell;
    use std::time::Duration;

    thread_local! {
        /// Overrides the sleep slice of waits on this thread.
        pub(crate) static LIVENESS: Cell<Option<Duration>> = const { Cell::new(None) };
    }
}

/// Sleep slice when this process cannot issue the heavy fence: without
/// it a wake-up can be missed, so the waiter polls at this period.
const DEGRADED_SLICE: Duration = Duration::from_millis(1);

/// Why [`wait_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// The condition holds.
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// `peer_gone` said the other side is gone.
    PeerGone,
}

/// Every class: plain waiters, and wakers that concern everybody.
pub(crate) const ANY_CLASS: u32 = u32::MAX;

/// The class of waiters numbered `n` (0 to 31; MPMC: the priority level).
#[inline(always)]
pub(crate) fn class_bit(n: u32) -> u32 {
    1 << (n % 32)
}

/// The class to wake when room appears on priority level `level`: that
/// level's senders only (the broken loom build wakes any sender, to prove
/// the model notices the lost wake-up that follows).
#[inline]
pub(crate) fn room_class(level: u32) -> u32 {
    if cfg!(shmring_loom_broken) {
        ANY_CLASS
    } else {
        class_bit(level)
    }
}

/// Wakes one sleeper if any announced itself, or rings `bell` (the
/// waker's endpoint's doorbells) if a descriptor waiter armed it. Call
/// right after making the condition true; costs no system call when
/// nobody waits.
#[inline(always)]
pub(crate) fn notify_one(words: &WaitWords, bell: &Bell) {
    notify(words, 1, ANY_CLASS, bell);
}

/// Wakes one sleeper of `class` (a [`class_bit`]) if anybody announced
/// itself, and rings an armed doorbell (descriptor waiters do not wait by
/// class). Same cost as [`notify_one`].
#[inline(always)]
pub(crate) fn notify_one_of_class(words: &WaitWords, class: u32, bell: &Bell) {
    notify(words, 1, class, bell);
}

/// Wakes every sleeper of every class and rings an armed doorbell
/// (disconnect, or a condition many wait for).
#[inline]
pub(crate) fn notify_all(words: &WaitWords, bell: &Bell) {
    notify(words, u32::MAX, ANY_CLASS, bell);
}

/// Wakes every futex sleeper, for a caller without doorbells: the
/// broker after a reap (which rings them itself), and the pub/sub
/// endpoints, whose words nobody arms (their descriptors are relays that
/// sleep on the futex). Costs no system call when nobody sleeps.
#[inline(always)]
pub(crate) fn notify_all_sleepers(words: &WaitWords) {
    light_fence();
    let sleepers = words.sleepers.load(Ordering::Relaxed);
    if sleeper_count(sleepers) != 0 {
        wake(words, u32::MAX, ANY_CLASS);
    }
}

/// Wakes one futex sleeper, for a caller without doorbells (see
/// [`notify_all_sleepers`]).
#[inline(always)]
pub(crate) fn notify_one_sleeper(words: &WaitWords) {
    light_fence();
    let sleepers = words.sleepers.load(Ordering::Relaxed);
    if sleeper_count(sleepers) != 0 {
        wake(words, 1, ANY_CLASS);
    }
}

#[inline(always)]
fn notify(words: &WaitWords, count: u32, class: u32, bell: &Bell) {
    // Orders the caller's condition store before the `sleepers` load;
    // pairs with the waiter's heavy_fence (futex sleepers and doorbell
    // waiters alike, see `doorbell.rs`).
    light_fence();
    let sleepers = words.sleepers.load(Ordering::Relaxed);
    if sleepers != 0 {
        wake_or_ring(words, sleepers, count, class, bell);
    }
}

#[cold]
#[inline(never)]
fn wake_or_ring(words: &WaitWords, sleepers: u32, count: u32, class: u32, bell: &Bell) {
    if sleeper_count(sleepers) != 0 {
        wake(words, count, class);
    }
    // Only the waker that clears the bit rings: one system call per arm,
    // however many wakers saw it. Acquire: pairs with the waiter's Release
    // announcement, so that this ring comes after the reset that preceded
    // it (see `doorbell::announce`).
    if sleepers & ARMED != 0 && words.sleepers.fetch_and(!ARMED, Ordering::Acquire) & ARMED != 0 {
        bell.ring_peer();
    }
}

#[cold]
#[inline(never)]
fn wake(words: &WaitWords, count: u32, class: u32) {
    if count == u32::MAX {
        // Nobody read the epoch since the last wake-all: it woke every
        // sleeper queued, and later waiters see the condition.
        // Relaxed: the Dekker meeting is ordered by the fences.
        if words.epoch.load(Ordering::Relaxed) & EPOCH_READ == 0 {
            return;
        }
        // Release: a waiter whose FUTEX_WAIT fails because the epoch
        // moved (or that reads the new epoch) also sees the condition.
        // On a value with `EPOCH_READ` set, +1 clears it.
        words.epoch.fetch_add(1, Ordering::Release);
    } else {
        // Release: as above; +2 leaves `EPOCH_READ` as it is.
        words.epoch.fetch_add(2, Ordering::Release);
    }
    self::count(&words.wakes);
    futex_wake(words, count, class);
}

/// Adds one to a statistics counter on a wait line, beside a system call
/// (no ordering: nothing reads it but `stat`). Not in the loom models,
/// where it would only add steps.
#[inline(always)]
fn count(counter: &crate::sync::AtomicU64) {
    #[cfg(not(shmring_loom))]
    counter.fetch_add(1, Ordering::Relaxed);
    #[cfg(shmring_loom)]
    let _ = counter;
}

/// Arms `bell` for a descriptor waiter (reset the doorbell, announce,
/// fence) and then runs `check`, the waiter's look at its condition: if
/// it says "nothing to do", a waker that makes the condition true will
/// ring. See `doorbell.rs` for the rule.
#[cold]
pub(crate) fn arm<T>(words: &WaitWords, bell: &Bell, check: impl FnOnce(PeerHint) -> T) -> T {
    let hint = bell.reset();
    // The broken loom build never announces, to prove the doorbell
    // models notice the wake-up that is then lost.
    if cfg!(not(shmring_loom_broken)) {
        doorbell::announce(&words.sleepers);
    }
    check(hint)
}

/// Lets other threads run before a caller looks again after a bounded
/// attempt that could not decide (contention, or a peer writing garbage):
/// slow path only.
#[cold]
pub(crate) fn back_off() {
    #[cfg(not(shmring_loom))]
    std::thread::yield_now();
    #[cfg(shmring_loom)]
    loom::thread::yield_now();
}

/// Waits until `ready()` holds, the deadline passes, or `peer_gone()` says
/// the other side died. `ready` is re-evaluated after every wake-up, so
/// spurious wake-ups and `EINTR` only cost a loop. `before_sleep` runs
/// once, before the first futex sleep (never if the wait ends spinning):
/// what a caller going idle should do, such as publishing its counts.
pub(crate) fn wait_until(
    words: &WaitWords,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    ready: impl FnMut() -> bool,
    peer_gone: impl FnMut() -> bool,
    before_sleep: impl FnOnce(),
) -> WaitOutcome {
    wait_until_class(
        words,
        ANY_CLASS,
        strategy,
        deadline,
        ready,
        peer_gone,
        before_sleep,
    )
}

/// [`wait_until`], sleeping in `class` (a [`class_bit`]): woken by
/// [`notify_one_of_class`] for that class, [`notify_one`] and
/// [`notify_all`], not by another class's wake-up.
pub(crate) fn wait_until_class(
    words: &WaitWords,
    class: u32,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    mut ready: impl FnMut() -> bool,
    mut peer_gone: impl FnMut() -> bool,
    before_sleep: impl FnOnce(),
) -> WaitOutcome {
    if ready() {
        return WaitOutcome::Ready;
    }
    let mut before_sleep = Some(before_sleep);
    let start = now();
    let interval = liveness_interval();
    let mut next_liveness = start + interval;
    let spin_until = match strategy {
        WaitStrategy::BusySpin => None,
        WaitStrategy::SpinThenPark { spin } => Some(start + spin),
        WaitStrategy::Park => Some(start),
    };
    // Spin phase: look at the clock only every 64 polls.
    let mut polls: u32 = 0;
    loop {
        if ready() {
            return WaitOutcome::Ready;
        }
        polls = polls.wrapping_add(1);
        if polls % 64 == 0 {
            let now = now();
            if deadline.is_some_and(|d| now >= d) {
                return WaitOutcome::TimedOut;
            }
            if now >= next_liveness {
                if peer_gone() {
                    return WaitOutcome::PeerGone;
                }
                next_liveness = now + interval;
            }
            if spin_until.is_some_and(|s| now >= s) {
                break;
            }
        }
        if matches!(strategy, WaitStrategy::Park) {
            break;
        }
        std::hint::spin_loop();
    }
    // Park phase.
    loop {
        let now = now();
        if deadline.is_some_and(|d| now >= d) {
            return if ready() {
                WaitOutcome::Ready
            } else {
                WaitOutcome::TimedOut
            };
        }
        if now >= next_liveness {
            if peer_gone() {
                return if ready() {
                    WaitOutcome::Ready
                } else {
                    WaitOutcome::PeerGone
                };
            }
            next_liveness = now + interval;
        }
        let mut slice = next_liveness.saturating_duration_since(now);
        if let Some(d) = deadline {
            slice = slice.min(d.saturating_duration_since(now));
        }
        if let Some(going_idle) = before_sleep.take() {
            going_idle();
        }
        // Relaxed: ordered before the condition re-check by heavy_fence.
        words.sleepers.fetch_add(1, Ordering::Relaxed);
        // Acquire: pairs with the waker's Release bump of the epoch.
        // Marks it read (so the next wake-all wakes), before the fence:
        // a waker that reads it unmarked then meets our re-check.
        let epoch = words.epoch.fetch_or(EPOCH_READ, Ordering::Acquire) | EPOCH_READ;
        if !heavy_fence() {
            slice = slice.min(DEGRADED_SLICE);
        }
        // The re-check after announcing: without it a wake-up that came
        // between the first check and the announcement is lost. The
        // broken loom build drops it to prove the model notices.
        if cfg!(not(shmring_loom_broken)) && ready() {
            words.sleepers.fetch_sub(1, Ordering::Relaxed);
            return WaitOutcome::Ready;
        }
        count(&words.parks);
        futex_wait(words, epoch, slice, class);
        words.sleepers.fetch_sub(1, Ordering::Relaxed);
        if ready() {
            return WaitOutcome::Ready;
        }
    }
}

/// The clock. Under loom time stands still (a model must not branch on
/// wall-clock time), so deadlines and liveness checks never fire there and
/// every wait ends only by the protocol itself.
#[cfg(not(shmring_loom))]
#[inline]
pub(crate) fn now() -> Instant {
    Instant::now()
}

#[cfg(shmring_loom)]
pub(crate) fn now() -> Instant {
    loom::lazy_static! {
        static ref EPOCH: Instant = Instant::now();
    }
    *EPOCH
}

#[cfg(not(shmring_loom))]
fn futex_wait(words: &WaitWords, expected: u32, slice: Duration, class: u32) {
    use crate::sys::futex;
    match std::num::NonZeroU32::new(class) {
        Some(bits) if class != ANY_CLASS => {
            futex::wait_bitset(words.epoch.as_std(), expected, Some(slice), bits);
        }
        _ => {
            futex::wait(words.epoch.as_std(), expected, Some(slice));
        }
    }
}

#[cfg(not(shmring_loom))]
fn futex_wake(words: &WaitWords, count: u32, class: u32) {
    use crate::sys::futex;
    match std::num::NonZeroU32::new(class) {
        Some(bits) if class != ANY_CLASS => futex::wake_bitset(words.epoch.as_std(), count, bits),
        _ => futex::wake(words.epoch.as_std(), count),
    }
}

#[cfg(shmring_loom)]
fn futex_wait(words: &WaitWords, expected: u32, _slice: Duration, class: u32) {
    crate::sync::futex_mock::wait(&words.epoch, expected, class);
}

#[cfg(shmring_loom)]
fn futex_wake(words: &WaitWords, count: u32, class: u32) {
    crate::sync::futex_mock::wake(&words.epoch, count, class);
}
