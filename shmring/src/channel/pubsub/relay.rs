//! The descriptor of a publish/subscribe endpoint: a pipe of its own,
//! made ready by a relay thread that waits on the ring's futex.
//!
//! The other kinds' doorbells are two FIFOs per ring, reset by the one
//! endpoint that waits on them. A ring with many subscribers cannot share
//! one that way: a subscriber draining the FIFO before it waits would take
//! the readiness another subscriber is about to poll for. So each endpoint
//! whose descriptor is taken gets a private pipe and, on its first wait, a
//! thread that turns the futex protocol of `wait/mod.rs` (which cannot
//! lose a wake-up) into the pipe's readiness:
//!
//! ```text
//! endpoint (try_* found nothing)        relay thread
//! reset the pipe                        take the job
//! post the job (what to wait for)       wait_until(condition) on the futex
//! return Empty / Full                   make the pipe ready
//! ```
//!
//! The thread looks at the condition after it took the job, so whatever
//! happened since the endpoint's last look makes the pipe ready at once;
//! otherwise the publisher's (or a subscriber's) futex wake-up, which it
//! makes only while somebody sleeps, reaches the thread. A subscriber's
//! pipe becomes readable (a byte in it) when a message, a lag or the
//! publisher's end is there; a lossless publisher's pipe is filled when it
//! is full and drained (writable) when room appears. A stale job only
//! makes the pipe ready once too often; the endpoint's next `try_*` says
//! so and arms again.
//!
//! Nothing of this runs for an endpoint whose descriptor is never taken.

use super::{membership, publisher_role};
use crate::channel::Keepalive;
use crate::channel::spsc::role::PeerWatch;
use crate::liveness::Locks;
use crate::ring::broadcast::PubSubMemory;
use crate::sync::{AtomicU32, Ordering};
use crate::sys::bell as pipe;
use crate::wait::{self, WaitStrategy};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What a relay waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    /// A subscriber at `cursor`: a message or a lag there, or the
    /// publisher gone. Makes the pipe readable.
    News { cursor: u64 },
    /// A lossless publisher whose next message is `next`: room for it.
    /// Makes the pipe writable.
    Room { next: u64 },
}

/// One endpoint's private pipe and, once it first waited, its thread.
#[derive(Debug)]
pub(crate) struct Relay {
    shared: Arc<Shared>,
    memory: Keepalive,
    locks: Locks,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// 1 once the descriptor was handed out: `try_*` calls then arm.
    watched: AtomicU32,
}

#[derive(Debug)]
struct Shared {
    mem: PubSubMemory,
    read: OwnedFd,
    write: OwnedFd,
    job: Mutex<Option<Watch>>,
    posted: Condvar,
    /// 1 when the endpoint is dropped: the thread ends.
    stop: AtomicU32,
}

impl Relay {
    /// A relay for an endpoint of the ring `mem` (kept mapped by
    /// `memory`): only the pipe; the thread comes with the first arm.
    pub(crate) fn new(
        mem: PubSubMemory,
        memory: Keepalive,
        locks: Locks,
    ) -> std::io::Result<Relay> {
        let (read, write) = pipe::private_pipe()?;
        Ok(Relay {
            shared: Arc::new(Shared {
                mem,
                read,
                write,
                job: Mutex::new(None),
                posted: Condvar::new(),
                stop: AtomicU32::new(0),
            }),
            memory,
            locks,
            thread: Mutex::new(None),
            watched: AtomicU32::new(0),
        })
    }

    /// Whether the descriptor was handed out (so `try_*` calls arm).
    #[inline(always)]
    pub(crate) fn is_watched(&self) -> bool {
        // Relaxed: only this endpoint's own threads set it, before they
        // wait on the descriptor.
        self.watched.load(Ordering::Relaxed) != 0
    }

    /// The subscriber's descriptor (readable when there is news), armed
    /// for `cursor` so that what is already there shows at once.
    pub(crate) fn readable_fd(&self, cursor: u64) -> BorrowedFd<'_> {
        if self.watched.swap(1, Ordering::Relaxed) == 0 {
            self.arm(Watch::News { cursor });
        }
        self.shared.read.as_fd()
    }

    /// The publisher's descriptor (writable unless it found the ring full
    /// and no room appeared since).
    pub(crate) fn writable_fd(&self) -> BorrowedFd<'_> {
        self.watched.store(1, Ordering::Relaxed);
        self.shared.write.as_fd()
    }

    /// Resets the pipe and posts `watch` to the thread (starting it the
    /// first time). If no thread can be started, the pipe is made ready
    /// at once: the caller polls instead of sleeping, and the next arm
    /// tries again.
    #[cold]
    pub(crate) fn arm(&self, watch: Watch) {
        match watch {
            Watch::News { .. } => {
                pipe::drain(self.shared.read.as_fd());
            }
            Watch::Room { .. } => {
                pipe::fill(self.shared.write.as_fd());
            }
        }
        *lock(&self.shared.job) = Some(watch);
        self.shared.posted.notify_one();
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            let memory = Arc::clone(&self.memory);
            let locks = self.locks.clone();
            match std::thread::Builder::new()
                .name("shmring-relay".into())
                .spawn(move || run(&shared, &memory, &locks))
            {
                Ok(handle) => *thread = Some(handle),
                Err(_) => self.shared.make_ready(watch),
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Release: pairs with the thread's Acquire loads of `stop`.
        self.shared.stop.store(1, Ordering::Release);
        {
            let _job = lock(&self.shared.job);
            self.shared.posted.notify_all();
        }
        let control = self.shared.mem.control();
        // A thread asleep on the futex wakes and sees `stop`.
        wait::notify_all_sleepers(&control.readable);
        wait::notify_all_sleepers(&control.writable);
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn stopped(&self) -> bool {
        // Acquire: pairs with the Release in `Relay::drop`.
        self.stop.load(Ordering::Acquire) != 0
    }

    fn make_ready(&self, watch: Watch) {
        match watch {
            Watch::News { .. } => pipe::ring(self.write.as_fd()),
            Watch::Room { .. } => {
                pipe::drain(self.read.as_fd());
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves plain data: go on.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The relay thread: one job at a time, until the endpoint is dropped.
fn run(shared: &Shared, _memory: &Keepalive, locks: &Locks) {
    let mem = shared.mem;
    let control = mem.control();
    let mut publisher = PeerWatch::new(locks.clone());
    loop {
        let watch = {
            let mut job = lock(&shared.job);
            loop {
                if shared.stopped() {
                    return;
                }
                if let Some(watch) = job.take() {
                    break watch;
                }
                job = shared
                    .posted
                    .wait(job)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        match watch {
            Watch::News { cursor } => {
                let peer = publisher_role(control);
                wait::wait_until(
                    &control.readable,
                    WaitStrategy::Park,
                    None,
                    || mem.has_news(cursor) || peer.left() || shared.stopped(),
                    || publisher.gone(peer, true),
                    || {},
                );
            }
            Watch::Room { next } => {
                let slots = mem.geometry().slots;
                wait::wait_until(
                    &control.writable,
                    WaitStrategy::Park,
                    None,
                    || next < mem.slowest_cursor(next).saturating_add(slots) || shared.stopped(),
                    || membership::reap_dead(&mem, locks) > 0,
                    || {},
                );
            }
        }
        if shared.stopped() {
            return;
        }
        shared.make_ready(watch);
    }
}
