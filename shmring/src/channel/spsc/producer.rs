//! The sending end of an SPSC ring, its in-place grants and its batches.

use super::consumer_role;
use super::role::PeerWatch;
use crate::channel::Keepalive;
use crate::channel::endpoint::{Grant, MessageSender, Patience, SendStop, sealed::Sealed};
use crate::channel::traffic::Tally;
use crate::error::{SendError, TrySendError};
use crate::layout::spsc::SpscControl;
use crate::liveness::Lease;
use crate::ring::data::WriteView;
use crate::ring::spsc::{Claim, ClaimError, SpscProducerRing};
use crate::sys::process::ProcessId;
use crate::wait::doorbell::{Bell, Look};
use crate::wait::{self, WaitOutcome, WaitStrategy};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ops::{Deref, DerefMut};

/// The sending end of an SPSC ring. `Send`, not `Sync`; dropping it is
/// the end-of-file for the consumer. Sends through [`MessageSender`].
#[derive(Debug)]
pub struct Producer {
    /// First, so that it publishes its last counts (on drop) while the
    /// memory is still held.
    tally: Tally,
    ring: SpscProducerRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    consumer: PeerWatch,
    /// Holds the producer role's lock byte; dropped after `Drop::drop`
    /// has written the role word back.
    _lease: Lease,
    bell: Bell,
}

impl Producer {
    #[allow(clippy::too_many_arguments)] // one per part the endpoint owns
    pub(super) fn new(
        ring: SpscProducerRing,
        memory: Keepalive,
        wait: WaitStrategy,
        me: ProcessId,
        consumer: PeerWatch,
        lease: Lease,
        bell: Bell,
        tally: Tally,
    ) -> Producer {
        tracing::debug!(
            ring = consumer.locks().ring_name(),
            endpoint = "producer",
            pid = me.pid,
            "endpoint attached"
        );
        Producer {
            tally,
            ring,
            _memory: memory,
            wait,
            me,
            consumer,
            _lease: lease,
            bell,
        }
    }

    fn control(&self) -> &SpscControl {
        self.ring.memory().control()
    }

    /// Claims room for `len` bytes, waiting as `patience` allows. The
    /// first look is inlined into every sending call; whatever it cannot
    /// decide goes to the out-of-line [`claim_slow`](Self::claim_slow).
    #[inline(always)]
    fn claim(&mut self, len: usize, patience: Patience) -> Result<Claim, SendStop> {
        if !consumer_role(self.control()).left() {
            if let Ok(claim) = self.ring.try_claim(len) {
                return Ok(claim);
            }
        }
        self.claim_slow(len, patience)
    }

    #[inline(never)]
    fn claim_slow(&mut self, len: usize, patience: Patience) -> Result<Claim, SendStop> {
        let mut stalled = false;
        loop {
            if consumer_role(self.control()).left() {
                return Err(SendStop::Disconnected);
            }
            let need = match self.ring.try_claim(len) {
                Ok(claim) => return Ok(claim),
                Err(ClaimError::TooLarge) => return Err(SendStop::TooLarge),
                Err(ClaimError::Corrupt(c)) => return Err(SendStop::Corrupt(c)),
                Err(ClaimError::Full { need }) => need,
            };
            if !stalled {
                stalled = true;
                self.tally.stall_exclusive(patience.is_now());
            }
            let Patience::Until(deadline) = patience else {
                let mem = *self.ring.memory();
                if self.consumer.gone(consumer_role(mem.control()), false) {
                    return Err(SendStop::Disconnected);
                }
                if self.bell.is_watched() {
                    match self.arm(need) {
                        Look::Again => continue,
                        Look::Gone => return Err(SendStop::Disconnected),
                        Look::Armed => {}
                    }
                }
                return Err(SendStop::Full);
            };
            let mem = *self.ring.memory();
            let write_pos = self.ring.write_pos();
            let consumer = &mut self.consumer;
            let tally = &self.tally;
            let peer = consumer_role(mem.control());
            let outcome = wait::wait_until(
                &mem.control().writable,
                self.wait,
                deadline,
                || mem.has_room(write_pos, need) || peer.left(),
                || consumer.gone(peer, true),
                || tally.publish(),
            );
            match outcome {
                WaitOutcome::Ready => continue,
                // A wait shorter than the liveness interval never reaches
                // its own check: callers looping on short timeouts still
                // learn of a dead consumer, once per interval.
                WaitOutcome::TimedOut if consumer.gone(peer, false) => {
                    return Err(SendStop::Disconnected);
                }
                WaitOutcome::TimedOut => return Err(SendStop::Timeout),
                WaitOutcome::PeerGone => return Err(SendStop::Disconnected),
            }
        }
    }

    /// Arms the doorbell before a full `try_*` says so (the descriptor was
    /// handed out): afterwards the consumer's next release that makes room
    /// rings.
    #[cold]
    fn arm(&mut self, need: u64) -> Look {
        let mem = *self.ring.memory();
        let write_pos = self.ring.write_pos();
        let peer = consumer_role(mem.control());
        if peer.ever_claimed() {
            self.bell.peer_seen();
        }
        let watch = &mut self.consumer;
        let bell = &self.bell;
        wait::arm(&mem.control().writable, bell, |hint| {
            if mem.has_room(write_pos, need) {
                bell.found_work()
            } else if peer.left() || (hint.maybe_gone && bell.settle_gone(|| watch.probe(peer))) {
                Look::Gone
            } else {
                Look::Armed
            }
        })
    }

    /// Publishes `len` bytes of `claim` and wakes a sleeping consumer.
    #[inline(always)]
    fn publish(&mut self, claim: Claim, len: u64) {
        self.ring.publish(claim, len, false);
        self.tally.message_exclusive(len as usize);
        wait::notify_one(&self.control().readable, &self.bell);
    }

    /// Starts a batch: messages pushed into it become visible together,
    /// with one release store, when it is committed or dropped.
    ///
    /// ```
    /// # use shmring::MessageReceiver;
    /// # let name = format!("doc-batch-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// let mut batch = producer.batch();
    /// for i in 0u8..10 {
    ///     batch.push(&[i; 3]).map_err(|e| e.without_message())?;
    /// }
    /// assert_eq!(batch.commit(), 10);
    /// let mut seen = 0;
    /// consumer.try_drain(usize::MAX, |m| { assert_eq!(m, &[seen; 3]); seen += 1; })?;
    /// assert_eq!(seen, 10);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&mut self) -> Batch<'_> {
        self.ring.begin_batch();
        Batch {
            producer: self,
            pending: 0,
        }
    }

    /// Data-area size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.memory().geometry().capacity
    }

    /// Bytes published and not yet released by the consumer.
    pub fn bytes_in_flight(&self) -> u64 {
        self.ring.memory().bytes_in_flight()
    }

    /// Messages published and not yet released by the consumer.
    pub fn messages_in_flight(&self) -> u64 {
        self.ring.memory().messages_in_flight()
    }

    /// Whether a live consumer is attached (a system call: not for hot
    /// loops).
    pub fn is_consumer_attached(&self) -> bool {
        consumer_role(self.control()).is_held_by_live_process(self.consumer.locks())
    }
}

impl Sealed for Producer {}

impl MessageSender for Producer {
    type Grant<'a> = WriteGrant<'a>;

    #[inline]
    fn send_within(&mut self, msg: &[u8], patience: Patience) -> Result<(), SendStop> {
        let claim = self.claim(msg.len(), patience)?;
        self.ring.write_payload(&claim, msg);
        self.publish(claim, msg.len() as u64);
        Ok(())
    }

    #[inline]
    fn reserve_within(
        &mut self,
        len: usize,
        patience: Patience,
    ) -> Result<WriteGrant<'_>, SendStop> {
        let claim = self.claim(len, patience)?;
        // SAFETY: the claim is ours until published, which takes the grant
        // (and the view with it) by value; the grant borrows the producer,
        // whose `_memory` keeps the ring mapped.
        let view = unsafe { self.ring.write_view(&claim) };
        Ok(WriteGrant {
            producer: self,
            claim,
            view,
        })
    }

    fn max_message(&self) -> u64 {
        self.ring.memory().geometry().max_message
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let control = self.ring.memory().control();
        super::producer_role(control).release(self.me);
        wait::notify_all(&control.readable, &self.bell);
        tracing::debug!(
            ring = self.consumer.locks().ring_name(),
            endpoint = "producer",
            "endpoint detached"
        );
    }
}

/// Room reserved in the ring, written in place. Publish it with
/// [`Grant::commit`]; dropping it discards it.
///
/// A reservation changes nothing in the ring until it is committed:
/// dropped or forgotten, it leaves no trace, and the next reservation of
/// the same length is the same room with the bytes written so far (the C
/// API builds its zero-copy calls on this; `tests/transfer.rs` checks it).
#[derive(Debug)]
pub struct WriteGrant<'p> {
    producer: &'p mut Producer,
    claim: Claim,
    view: WriteView,
}

impl Grant for WriteGrant<'_> {
    #[inline]
    fn commit(self) {
        let len = self.claim.len as usize;
        self.commit_len(len);
    }

    #[inline]
    fn commit_len(self, len: usize) {
        let len = (len as u64).min(self.claim.len);
        let WriteGrant {
            producer,
            claim,
            view,
        } = self;
        view.finish(len as usize);
        producer.publish(claim, len);
    }
}

impl Deref for WriteGrant<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.view.bytes()
    }
}

impl DerefMut for WriteGrant<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.view.bytes_mut()
    }
}

/// Messages written now and published together (see [`Producer::batch`]).
/// Dropping the batch commits it.
#[derive(Debug)]
pub struct Batch<'p> {
    producer: &'p mut Producer,
    pending: usize,
}

impl Batch<'_> {
    /// Adds `msg` if there is room now.
    pub fn try_push<'m>(&mut self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        let claim = self
            .producer
            .claim(msg.len(), Patience::NoWait)
            .map_err(|stop| stop.into_try(msg))?;
        self.write(claim, msg);
        Ok(())
    }

    /// Adds `msg`; when the ring is full, publishes what the batch holds so
    /// far (so the consumer can make room) and waits.
    pub fn push<'m>(&mut self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        let claim = match self.producer.claim(msg.len(), Patience::NoWait) {
            Ok(claim) => claim,
            Err(SendStop::Full) => {
                self.flush();
                self.producer
                    .claim(msg.len(), Patience::FOREVER)
                    .map_err(|stop| stop.into_blocking(msg))?
            }
            Err(stop) => return Err(stop.into_blocking(msg)),
        };
        self.write(claim, msg);
        Ok(())
    }

    fn write(&mut self, claim: Claim, msg: &[u8]) {
        self.producer.ring.write_payload(&claim, msg);
        self.producer.ring.publish(claim, msg.len() as u64, true);
        self.producer.tally.message_exclusive(msg.len());
        self.pending += 1;
    }

    fn flush(&mut self) -> usize {
        let n = std::mem::take(&mut self.pending);
        if n > 0 {
            self.producer.ring.end_batch();
            wait::notify_one(&self.producer.control().readable, &self.producer.bell);
            self.producer.ring.begin_batch();
        }
        n
    }

    /// Publishes the batch; returns how many messages it held since the
    /// last publication.
    pub fn commit(mut self) -> usize {
        self.flush()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The descriptor `poll`/`epoll` report writable while there is room, and
/// with an error once the consumer is gone. Taking it makes a full `try_*`
/// call arm it first (it then stops polling writable until room appears):
/// send until full, then wait.
#[cfg(not(shmring_loom))]
impl AsFd for Producer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.bell.fd()
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Producer {
    fn as_raw_fd(&self) -> RawFd {
        self.bell.fd().as_raw_fd()
    }
}

/// The loom models' stand-in for taking the descriptor and `epoll_wait`.
#[cfg(shmring_loom)]
impl Producer {
    /// Marks the endpoint as waited on by descriptor (as `as_fd` does).
    #[doc(hidden)]
    pub fn watch_doorbell(&self) {
        self.bell.watch();
    }

    /// Blocks until the doorbell says there is room (as `epoll_wait`).
    #[doc(hidden)]
    pub fn wait_doorbell(&self) {
        self.bell.wait();
    }
}
