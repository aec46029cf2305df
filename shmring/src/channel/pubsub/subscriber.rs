//! The receiving end of a publish/subscribe ring and its guards.

use super::membership::{self, Joined};
#[cfg(not(shmring_loom))]
use super::relay::{Relay, Watch};
use super::{EndpointParts, publisher_role};
use crate::channel::Keepalive;
use crate::channel::endpoint::{MessageReceiver, Patience, RecvStop, sealed::Sealed};
use crate::channel::traffic::Tally;
use crate::layout::pubsub::Delivery;
use crate::liveness::Lease;
use crate::ring::broadcast::{Found, Next, PubSubMemory, SubscriberRing};
use crate::ring::data::ReadView;
use crate::sys::process::ProcessId;
use crate::wait::{self, WaitOutcome, WaitStrategy};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ops::Deref;

/// One subscriber of a publish/subscribe ring. Receives through
/// [`MessageReceiver`]: every message published after it joined, in
/// order; `Disconnected` once the publisher is gone and everything it
/// published was received.
///
/// In a lossy ring a receive may instead report
/// [`Lagged(n)`](crate::RecvError::Lagged): the publisher overwrote `n`
/// messages this subscriber had not read; the next receive goes on with
/// the oldest message still there. Lossy messages are copied out of the
/// slot and then checked against the slot's stamp (a message overwritten
/// while it was copied is never delivered), so the guard holds that copy;
/// lossless guards read the slot in place.
#[derive(Debug)]
pub struct Subscriber {
    /// First, so that it publishes its last counts (on drop) while the
    /// memory is still held.
    tally: Tally,
    ring: SubscriberRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    index: usize,
    publisher: crate::channel::spsc::role::PeerWatch,
    /// Holds the entry's lock byte; dropped after `Drop::drop` has given
    /// the entry back.
    _lease: Lease,
    /// Lossy rings: the last message, copied out and validated.
    copy: Vec<u8>,
    /// Its descriptor (`relay.rs`).
    #[cfg(not(shmring_loom))]
    relay: Relay,
}

impl Subscriber {
    pub(super) fn new(
        mem: PubSubMemory,
        joined: Joined,
        parts: EndpointParts,
        publisher: crate::channel::spsc::role::PeerWatch,
    ) -> Subscriber {
        tracing::debug!(
            ring = publisher.locks().ring_name(),
            endpoint = "subscriber",
            index = joined.index,
            pid = parts.me.pid,
            "endpoint attached"
        );
        Subscriber {
            tally: parts.traffic.receiver_tally(),
            ring: SubscriberRing::new(mem, joined.index, joined.cursor),
            _memory: parts.memory,
            wait: parts.wait,
            me: parts.me,
            index: joined.index,
            publisher,
            _lease: joined.lease,
            copy: Vec::new(),
            #[cfg(not(shmring_loom))]
            relay: parts.relay,
        }
    }

    /// Finds the next message (lossy: copied into `self.copy` and
    /// validated), waiting as `patience` allows.
    #[inline(always)]
    fn next(&mut self, patience: Patience) -> Result<Found, RecvStop> {
        // A lossy look may move the cursor past lost messages, which only
        // `take` reports: the inlined first look is for lossless rings.
        if self.delivery() == Delivery::Lossless {
            if let Ok(Next::Message(found)) = self.ring.peek() {
                return Ok(found);
            }
        }
        self.next_slow(patience)
    }

    #[inline(never)]
    fn next_slow(&mut self, patience: Patience) -> Result<Found, RecvStop> {
        let mut stalled = false;
        loop {
            if let Some(found) = self.take()? {
                return Ok(found);
            }
            if !stalled {
                stalled = true;
                self.tally.stall_exclusive(patience.is_now());
            }
            // Nothing to read: whatever was read is handed back now, so
            // that an idle subscriber holds no room back.
            self.show_cursor();
            let Patience::Until(deadline) = patience else {
                if self.publisher_gone(false) {
                    return self.last_look();
                }
                #[cfg(not(shmring_loom))]
                if self.relay.is_watched() {
                    self.relay.arm(Watch::News {
                        cursor: self.ring.cursor(),
                    });
                }
                return Err(RecvStop::Empty);
            };
            let mem = *self.ring.memory();
            let cursor = self.ring.cursor();
            let peer = publisher_role(mem.control());
            let watch = &mut self.publisher;
            let tally = &self.tally;
            let outcome = wait::wait_until(
                &mem.control().readable,
                self.wait,
                deadline,
                || mem.has_news(cursor) || peer.left(),
                || watch.gone(peer, true),
                || tally.publish(),
            );
            match outcome {
                WaitOutcome::Ready if !peer.left() => {}
                WaitOutcome::Ready | WaitOutcome::PeerGone => return self.last_look(),
                WaitOutcome::TimedOut if self.publisher_gone(false) => return self.last_look(),
                WaitOutcome::TimedOut => return Err(RecvStop::Timeout),
            }
        }
    }

    /// One look at the cursor: a message (validated, for lossy rings),
    /// nothing yet, or a lag to report.
    fn take(&mut self) -> Result<Option<Found>, RecvStop> {
        match self.ring.peek().map_err(RecvStop::Corrupt)? {
            Next::Empty => Ok(None),
            Next::Lagged(n) => Err(RecvStop::Lagged(n)),
            Next::Message(found) => match self.delivery() {
                Delivery::Lossless => Ok(Some(found)),
                Delivery::Lossy => match self
                    .ring
                    .copy_validated(&found, &mut self.copy)
                    .map_err(RecvStop::Corrupt)?
                {
                    None => Ok(Some(found)),
                    Some(lost) => Err(RecvStop::Lagged(lost)),
                },
            },
        }
    }

    #[cold]
    fn publisher_gone(&mut self, force: bool) -> bool {
        let peer = publisher_role(self.ring.memory().control());
        self.publisher.gone(peer, force)
    }

    /// The publisher is gone: everything it published is visible (its
    /// release pairs with the Acquire in `PeerWatch`), so one more look
    /// decides between a last message and end of file.
    #[cold]
    fn last_look(&mut self) -> Result<Found, RecvStop> {
        match self.take()? {
            Some(found) => Ok(found),
            None => Err(RecvStop::Disconnected),
        }
    }

    #[inline(always)]
    fn finish(&mut self, found: &Found) {
        self.tally.message_exclusive(found.len as usize);
        if self.ring.release(found) {
            self.room_made();
        }
    }

    /// Shows the cursor to the publisher if it moved since last shown.
    fn show_cursor(&mut self) {
        if self.ring.show_cursor() {
            self.room_made();
        }
    }

    /// Wakes a lossless publisher waiting for room.
    #[inline(always)]
    fn room_made(&self) {
        if self.delivery() == Delivery::Lossless {
            wait::notify_one_sleeper(&self.ring.memory().control().writable);
        }
    }

    #[inline(always)]
    fn delivery(&self) -> Delivery {
        self.ring.memory().geometry().delivery
    }

    /// Messages this subscriber lost to the publisher so far (lossy
    /// rings; always 0 in a lossless one).
    pub fn missed(&self) -> u64 {
        self.ring.missed()
    }

    /// Sequence number of the next message this subscriber reads.
    pub fn position(&self) -> u64 {
        self.ring.cursor()
    }

    /// Messages published that this subscriber has not read yet.
    pub fn lag(&self) -> u64 {
        self.ring.memory().head().saturating_sub(self.ring.cursor())
    }

    /// Its entry in the ring's subscriber table.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Sealed for Subscriber {}

impl MessageReceiver for Subscriber {
    type Guard<'a> = SubscriberGuard<'a>;

    #[inline]
    fn recv_within(&mut self, patience: Patience) -> Result<SubscriberGuard<'_>, RecvStop> {
        let found = self.next(patience)?;
        let view = match self.delivery() {
            Delivery::Lossless => {
                let slots = self.ring.memory().slots();
                // SAFETY: a lossless slot is not written again before this
                // subscriber's cursor passes it, which the guard's drop
                // does after the view ends; the guard borrows the
                // subscriber, whose `_memory` keeps the ring mapped.
                Some(unsafe { ReadView::new(slots, found.offset, found.len) })
            }
            Delivery::Lossy => None,
        };
        Ok(SubscriberGuard {
            subscriber: self,
            found,
            view,
        })
    }

    fn max_message(&self) -> u64 {
        self.ring.memory().geometry().slot_size
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mem = *self.ring.memory();
        membership::leave(&mem, self.index, self.me);
        // A lossless publisher waiting for this subscriber goes on.
        wait::notify_all_sleepers(&mem.control().writable);
        tracing::debug!(
            ring = self.publisher.locks().ring_name(),
            endpoint = "subscriber",
            index = self.index,
            "endpoint detached"
        );
    }
}

/// A received message: in place (lossless) or a validated copy (lossy).
/// Dropping it moves the subscriber past the message; a guard that is
/// forgotten leaves the message to be received again.
#[derive(Debug)]
pub struct SubscriberGuard<'s> {
    subscriber: &'s mut Subscriber,
    found: Found,
    view: Option<ReadView>,
}

impl SubscriberGuard<'_> {
    /// The message's sequence number: messages published before it.
    pub fn sequence(&self) -> u64 {
        self.found.seq
    }

    /// The message as a `T`, if it is exactly `size_of::<T>()` bytes.
    pub fn value<T: bytemuck::Pod>(&self) -> Option<T> {
        bytemuck::try_pod_read_unaligned(self).ok()
    }
}

impl Deref for SubscriberGuard<'_> {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        match &self.view {
            Some(view) => view.bytes(),
            None => &self.subscriber.copy,
        }
    }
}

impl Drop for SubscriberGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let found = self.found;
        self.subscriber.finish(&found);
    }
}

/// The descriptor `poll`/`epoll` report readable when a message (or a
/// lag, or the publisher's end) is waiting for this subscriber. Each
/// subscriber has its own: a private pipe made ready by a thread that the
/// first wait starts (`relay.rs`). The rule is every non-blocking
/// descriptor's: receive until `Empty`, then wait.
#[cfg(not(shmring_loom))]
impl AsFd for Subscriber {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.relay.readable_fd(self.ring.cursor())
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Subscriber {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
