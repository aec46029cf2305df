//! The receiving end of an SPSC ring and its in-place guards.

use super::producer_role;
use super::role::PeerWatch;
use crate::channel::Keepalive;
use crate::channel::endpoint::{MessageReceiver, Patience, RecvStop, sealed::Sealed};
use crate::channel::traffic::Tally;
use crate::error::{RecvError, RecvValueError, TryRecvError};
use crate::layout::spsc::SpscControl;
use crate::liveness::Lease;
use crate::ring::data::ReadView;
use crate::ring::spsc::{Found, SpscConsumerRing};
use crate::sys::process::ProcessId;
use crate::wait::doorbell::{Bell, Look};
use crate::wait::{self, WaitOutcome, WaitStrategy};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ops::Deref;

/// The receiving end of an SPSC ring. `Send`, not `Sync`; dropping it
/// makes the producer's sends fail with `Disconnected`. Receives through
/// [`MessageReceiver`].
#[derive(Debug)]
pub struct Consumer {
    /// First, so that it publishes its last counts (on drop) while the
    /// memory is still held.
    tally: Tally,
    ring: SpscConsumerRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    producer: PeerWatch,
    /// Holds the consumer role's lock byte; dropped after `Drop::drop`
    /// has written the role word back.
    _lease: Lease,
    bell: Bell,
}

impl Consumer {
    #[allow(clippy::too_many_arguments)] // one per part the endpoint owns
    pub(super) fn new(
        ring: SpscConsumerRing,
        memory: Keepalive,
        wait: WaitStrategy,
        me: ProcessId,
        producer: PeerWatch,
        lease: Lease,
        bell: Bell,
        tally: Tally,
    ) -> Consumer {
        tracing::debug!(
            ring = producer.locks().ring_name(),
            endpoint = "consumer",
            pid = me.pid,
            "endpoint attached"
        );
        Consumer {
            tally,
            ring,
            _memory: memory,
            wait,
            me,
            producer,
            _lease: lease,
            bell,
        }
    }

    fn control(&self) -> &SpscControl {
        self.ring.memory().control()
    }

    /// Finds the next message, waiting as `patience` allows. The first
    /// look is inlined into every receiving call; the rest is out of line.
    #[inline(always)]
    fn next(&mut self, patience: Patience) -> Result<Found, RecvStop> {
        if let Ok(Some(found)) = self.ring.peek() {
            return Ok(found);
        }
        self.next_slow(patience)
    }

    #[inline(never)]
    fn next_slow(&mut self, patience: Patience) -> Result<Found, RecvStop> {
        let mut stalled = false;
        loop {
            match self.ring.peek() {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(c) => return Err(RecvStop::Corrupt(c)),
            }
            if !stalled {
                stalled = true;
                self.tally.stall_exclusive(patience.is_now());
            }
            let Patience::Until(deadline) = patience else {
                if self.producer_gone(false) {
                    return self.last_look();
                }
                if self.bell.is_watched() {
                    match self.arm() {
                        Look::Again => continue,
                        Look::Gone => return self.last_look(),
                        Look::Armed => {}
                    }
                }
                return Err(RecvStop::Empty);
            };
            let mem = *self.ring.memory();
            let read_pos = self.ring.read_pos();
            let watch = &mut self.producer;
            let tally = &self.tally;
            let peer = producer_role(mem.control());
            let outcome = wait::wait_until(
                &mem.control().readable,
                self.wait,
                deadline,
                || mem.published_at(read_pos) || peer.left(),
                || watch.gone(peer, true),
                || tally.publish(),
            );
            match outcome {
                WaitOutcome::Ready if !peer.left() => continue,
                WaitOutcome::Ready | WaitOutcome::PeerGone => return self.last_look(),
                // As for the producer: short timeouts in a loop still see
                // a dead producer, once per liveness interval.
                WaitOutcome::TimedOut if self.producer_gone(false) => return self.last_look(),
                WaitOutcome::TimedOut => return Err(RecvStop::Timeout),
            }
        }
    }

    /// Arms the doorbell before an empty `try_*` says so (the descriptor
    /// was handed out): afterwards the producer's next publish rings.
    #[cold]
    fn arm(&mut self) -> Look {
        let mem = *self.ring.memory();
        let read_pos = self.ring.read_pos();
        let peer = producer_role(mem.control());
        let watch = &mut self.producer;
        let bell = &self.bell;
        wait::arm(&mem.control().readable, bell, |hint| {
            if mem.published_at(read_pos) {
                bell.found_work()
            } else if peer.left() || (hint.maybe_gone && bell.settle_gone(|| watch.probe(peer))) {
                Look::Gone
            } else {
                Look::Armed
            }
        })
    }

    #[cold]
    fn producer_gone(&mut self, force: bool) -> bool {
        let peer = producer_role(self.ring.memory().control());
        self.producer.gone(peer, force)
    }

    /// The producer is gone: everything it published is visible (its
    /// release pairs with our Acquire in `PeerWatch`), so one more look
    /// decides between a last message and end of file.
    #[cold]
    fn last_look(&mut self) -> Result<Found, RecvStop> {
        match self.ring.peek() {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(RecvStop::Disconnected),
            Err(c) => Err(RecvStop::Corrupt(c)),
        }
    }

    fn publish_releases(&mut self, n: usize) {
        if n > 0 {
            self.ring.publish_release();
            wait::notify_one(&self.control().writable, &self.bell);
        }
    }

    #[inline(always)]
    fn finish(&mut self, found: &Found) {
        self.ring.release(found, true);
        self.tally.message_exclusive(found.len as usize);
        wait::notify_one(&self.control().writable, &self.bell);
    }

    /// Data-area size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.memory().geometry().capacity
    }

    /// Bytes published and not yet released.
    pub fn bytes_in_flight(&self) -> u64 {
        self.ring.memory().bytes_in_flight()
    }

    /// Messages published and not yet released.
    pub fn messages_in_flight(&self) -> u64 {
        self.ring.memory().messages_in_flight()
    }

    /// Whether a live producer is attached (a system call: not for hot
    /// loops).
    pub fn is_producer_attached(&self) -> bool {
        producer_role(self.control()).is_held_by_live_process(self.producer.locks())
    }
}

impl Sealed for Consumer {}

impl MessageReceiver for Consumer {
    type Guard<'a> = RecvGuard<'a>;

    #[inline(always)]
    fn recv_within(&mut self, patience: Patience) -> Result<RecvGuard<'_>, RecvStop> {
        let found = self.next(patience)?;
        // SAFETY: the record stays ours until the guard releases it on
        // drop, which ends the view; the guard borrows the consumer, whose
        // `_memory` keeps the ring mapped.
        let view = unsafe { self.ring.read_view(&found) };
        Ok(RecvGuard {
            consumer: self,
            found,
            view,
        })
    }

    fn max_message(&self) -> u64 {
        self.ring.memory().geometry().max_message
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        let found = self
            .next(Patience::FOREVER)
            .map_err(RecvStop::into_blocking)?;
        buf.clear();
        buf.resize(found.len as usize, 0);
        self.ring.read_payload(&found, buf);
        self.finish(&found);
        Ok(found.len as usize)
    }

    /// Waits for a message of exactly `size_of::<T>()` bytes and returns
    /// it as a `T`. A message of another size stays in the ring.
    fn recv_value<T: bytemuck::Pod>(&mut self) -> Result<T, RecvValueError> {
        let found = self.next(Patience::FOREVER).map_err(RecvStop::into_value)?;
        let expected = std::mem::size_of::<T>();
        if found.len as usize != expected {
            return Err(RecvValueError::SizeMismatch {
                expected,
                actual: found.len as usize,
            });
        }
        let mut value = T::zeroed();
        self.ring
            .read_payload(&found, bytemuck::bytes_of_mut(&mut value));
        self.finish(&found);
        Ok(value)
    }

    /// Hands every message available now (at most `max`) to `f`, then
    /// frees their space with a single store. Returns how many; `Empty`
    /// or `Disconnected` instead of 0.
    fn try_drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize, TryRecvError> {
        let mut n = 0;
        while n < max {
            match self.ring.peek() {
                Ok(Some(found)) => {
                    self.ring.with_payload(&found, &mut f);
                    self.ring.release(&found, false);
                    self.tally.message_exclusive(found.len as usize);
                    n += 1;
                }
                Ok(None) => break,
                Err(c) => {
                    self.publish_releases(n);
                    return Err(TryRecvError::Corrupt(c));
                }
            }
        }
        if n > 0 {
            self.publish_releases(n);
            return Ok(n);
        }
        match self.next(Patience::NoWait) {
            // A message arrived in between: take it next time round.
            Ok(_) => Err(TryRecvError::Empty),
            Err(stop) => Err(stop.into_try()),
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let control = self.ring.memory().control();
        super::consumer_role(control).release(self.me);
        wait::notify_all(&control.writable, &self.bell);
        tracing::debug!(
            ring = self.producer.locks().ring_name(),
            endpoint = "consumer",
            "endpoint detached"
        );
    }
}

/// A received message, borrowed in place; its space is freed when the
/// guard drops.
///
/// Receiving changes nothing in the ring until the guard drops: a guard
/// that is forgotten (`mem::forget`) leaves the message to be received
/// again (the C API's `peek`/`release` build on this; `tests/transfer.rs`
/// checks it).
#[derive(Debug)]
pub struct RecvGuard<'c> {
    consumer: &'c mut Consumer,
    found: Found,
    view: ReadView,
}

impl RecvGuard<'_> {
    /// The message as a `T`, if it is exactly `size_of::<T>()` bytes.
    pub fn value<T: bytemuck::Pod>(&self) -> Option<T> {
        bytemuck::try_pod_read_unaligned(self).ok()
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        self.view.bytes()
    }
}

impl Drop for RecvGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let found = self.found;
        self.consumer.finish(&found);
    }
}

/// The descriptor `poll`/`epoll` report readable when a message is
/// waiting, or with a hang-up when the producer is gone. Taking it makes
/// an empty `try_*` call arm it first: receive until empty, then wait.
#[cfg(not(shmring_loom))]
impl AsFd for Consumer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.bell.fd()
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Consumer {
    fn as_raw_fd(&self) -> RawFd {
        self.bell.fd().as_raw_fd()
    }
}

/// The loom models' stand-in for taking the descriptor and `epoll_wait`.
#[cfg(shmring_loom)]
impl Consumer {
    /// Marks the endpoint as waited on by descriptor (as `as_fd` does).
    #[doc(hidden)]
    pub fn watch_doorbell(&self) {
        self.bell.watch();
    }

    /// Blocks until the doorbell rings (as `epoll_wait` on the descriptor).
    #[doc(hidden)]
    pub fn wait_doorbell(&self) {
        self.bell.wait();
    }
}
