//! The publishing end of a publish/subscribe ring and its in-place grants.

#[cfg(not(shmring_loom))]
use super::relay::{Relay, Watch};
use super::{EndpointParts, membership, publisher_role};
use crate::channel::Keepalive;
use crate::channel::endpoint::{Grant, MessageSender, Patience, SendStop, sealed::Sealed};
use crate::channel::traffic::Tally;
use crate::layout::pubsub::Delivery;
use crate::liveness::{Lease, Locks};
use crate::ring::broadcast::{ClaimError, PublisherRing, SlotClaim};
use crate::ring::data::WriteView;
use crate::sys::process::ProcessId;
use crate::wait::{self, LivenessThrottle, WaitOutcome, WaitStrategy};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ops::{Deref, DerefMut};

/// The publishing end of a publish/subscribe ring: one per ring. Sends
/// through [`MessageSender`]; each message is written once, whatever the
/// number of subscribers. Publishing with no subscriber succeeds: the
/// ring keeps the last `slots` messages for a subscriber that joins at
/// the oldest ([`JoinAt::Oldest`](super::JoinAt::Oldest)).
///
/// Lossless rings: a send waits (as its call allows) while the slowest
/// live subscriber is a whole ring behind. A subscriber that died stops
/// holding it back when the broker reaps it, or when the waiting
/// publisher finds it dead itself, at most one liveness interval
/// (100 ms) into the wait. Lossy rings: a send never waits.
#[derive(Debug)]
pub struct Publisher {
    /// First, so that it publishes its last counts (on drop) while the
    /// memory is still held.
    tally: Tally,
    ring: PublisherRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    locks: Locks,
    /// Holds the publisher role's lock byte; dropped after `Drop::drop`
    /// has written the role word back.
    _lease: Lease,
    liveness: LivenessThrottle,
    /// Its descriptor (`relay.rs`).
    #[cfg(not(shmring_loom))]
    relay: Relay,
}

impl Publisher {
    pub(super) fn new(
        ring: PublisherRing,
        parts: EndpointParts,
        locks: Locks,
        lease: Lease,
    ) -> Publisher {
        tracing::debug!(
            ring = locks.ring_name(),
            endpoint = "publisher",
            pid = parts.me.pid,
            "endpoint attached"
        );
        Publisher {
            tally: parts.traffic.sender_tally(),
            ring,
            _memory: parts.memory,
            wait: parts.wait,
            me: parts.me,
            locks,
            _lease: lease,
            liveness: LivenessThrottle::new(),
            #[cfg(not(shmring_loom))]
            relay: parts.relay,
        }
    }

    /// Claims the next slot, waiting as `patience` allows. The first look
    /// is inlined into every sending call; the rest is out of line.
    #[inline(always)]
    fn claim(&mut self, len: usize, patience: Patience) -> Result<SlotClaim, SendStop> {
        match self.ring.try_claim(len) {
            Ok(claim) => Ok(claim),
            Err(ClaimError::TooLarge) => Err(SendStop::TooLarge),
            Err(ClaimError::Full) => self.claim_slow(len, patience),
        }
    }

    #[inline(never)]
    fn claim_slow(&mut self, len: usize, patience: Patience) -> Result<SlotClaim, SendStop> {
        let mut stalled = false;
        loop {
            match self.ring.try_claim(len) {
                Ok(claim) => return Ok(claim),
                Err(ClaimError::TooLarge) => return Err(SendStop::TooLarge),
                Err(ClaimError::Full) => {}
            }
            if !stalled {
                stalled = true;
                self.tally.stall_exclusive(patience.is_now());
            }
            let Patience::Until(deadline) = patience else {
                if self.liveness.due() && self.reap_dead() > 0 {
                    continue;
                }
                #[cfg(not(shmring_loom))]
                if self.relay.is_watched() {
                    self.relay.arm(Watch::Room {
                        next: self.ring.next(),
                    });
                }
                return Err(SendStop::Full);
            };
            // A subscriber that died before this wait began would only be
            // found one liveness interval into it: look once now (at most
            // once per interval, across calls).
            if self.liveness.due() && self.reap_dead() > 0 {
                continue;
            }
            let mem = *self.ring.memory();
            let ring = &self.ring;
            let locks = &self.locks;
            let outcome = wait::wait_until(
                &mem.control().writable,
                self.wait,
                deadline,
                || ring.has_room(),
                || membership::reap_dead(&mem, locks) > 0,
                || self.tally.publish(),
            );
            match outcome {
                WaitOutcome::Ready | WaitOutcome::PeerGone => {}
                // Short timeouts in a loop still find a dead subscriber,
                // once per liveness interval.
                WaitOutcome::TimedOut if self.liveness.due() && self.reap_dead() > 0 => {}
                WaitOutcome::TimedOut => return Err(SendStop::Timeout),
            }
        }
    }

    #[cold]
    fn reap_dead(&self) -> u64 {
        membership::reap_dead(self.ring.memory(), &self.locks)
    }

    #[inline(always)]
    fn publish(&mut self, claim: SlotClaim, len: u64) {
        self.ring.publish(claim, len);
        self.tally.message_exclusive(len as usize);
        wait::notify_all_sleepers(&self.ring.memory().control().readable);
    }

    /// Messages published so far (the sequence number of the next).
    pub fn published(&self) -> u64 {
        self.ring.next()
    }

    /// Lossless or lossy.
    pub fn delivery(&self) -> Delivery {
        self.ring.memory().geometry().delivery
    }
}

impl Sealed for Publisher {}

impl MessageSender for Publisher {
    type Grant<'a> = PublishGrant<'a>;

    #[inline]
    fn send_within(&mut self, msg: &[u8], patience: Patience) -> Result<(), SendStop> {
        let claim = self.claim(msg.len(), patience)?;
        self.ring
            .memory()
            .slots()
            .write(claim.payload_offset(), msg);
        self.publish(claim, msg.len() as u64);
        Ok(())
    }

    #[inline]
    fn reserve_within(
        &mut self,
        len: usize,
        patience: Patience,
    ) -> Result<PublishGrant<'_>, SendStop> {
        let claim = self.claim(len, patience)?;
        // SAFETY: the claimed slot is the publisher's until it publishes
        // it (lossless: no subscriber reads it before; lossy: its busy
        // stamp makes any read of it fail validation); the grant borrows
        // the publisher, whose `_memory` keeps the ring mapped.
        let view = unsafe {
            WriteView::new(
                self.ring.memory().slots(),
                claim.payload_offset(),
                claim.len,
            )
        };
        Ok(PublishGrant {
            publisher: self,
            claim,
            view,
        })
    }

    fn max_message(&self) -> u64 {
        self.ring.memory().geometry().slot_size
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let control = self.ring.memory().control();
        publisher_role(control).release(self.me);
        // Subscribers asleep learn that nothing more will come.
        wait::notify_all_sleepers(&control.readable);
        tracing::debug!(
            ring = self.locks.ring_name(),
            endpoint = "publisher",
            "endpoint detached"
        );
    }
}

/// A slot reserved by [`Publisher::reserve`](MessageSender::reserve),
/// written in place. Dropped without a commit, nothing is published and
/// the next message takes the slot.
#[derive(Debug)]
pub struct PublishGrant<'p> {
    publisher: &'p mut Publisher,
    claim: SlotClaim,
    view: WriteView,
}

impl Grant for PublishGrant<'_> {
    #[inline]
    fn commit(self) {
        let len = self.view.bytes().len();
        self.commit_len(len);
    }

    #[inline]
    fn commit_len(self, len: usize) {
        let len = len.min(self.view.bytes().len());
        self.view.finish(len);
        self.publisher.publish(self.claim, len as u64);
    }
}

impl Deref for PublishGrant<'_> {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        self.view.bytes()
    }
}

impl DerefMut for PublishGrant<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.view.bytes_mut()
    }
}

/// The descriptor `poll`/`epoll` report writable while the publisher may
/// send: always for a lossy ring; for a lossless one, not after a `try_*`
/// call found the ring full, until the slowest subscriber made room
/// (`relay.rs`). The rule is every non-blocking descriptor's: send until
/// `Full`, then wait.
#[cfg(not(shmring_loom))]
impl AsFd for Publisher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.relay.writable_fd()
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Publisher {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
