//! The sending end of an MPMC queue and its in-place grants.

use super::{End, Endpoint};
use crate::channel::endpoint::{Grant, MessageSender, Patience, SendStop, sealed::Sealed};
use crate::channel::mpmc::registry::Side;
use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::ring::data::WriteView;
use crate::ring::mpmc::{Claim, SlotClaim};
use crate::wait::doorbell::Look;
use crate::wait::{self, WaitOutcome};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::borrow::Borrow;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

/// Sends into an MPMC queue. `Clone` (clones share one registry entry),
/// `Send` and `Sync`. When every sender is gone, receivers drain the queue
/// and then get `Disconnected`.
///
/// Its sending calls take `&self`, so one sender can be shared by several
/// threads; they are the same calls as [`MessageSender`]'s, which generic
/// code uses.
#[derive(Debug, Clone)]
pub struct Sender {
    endpoint: Arc<Endpoint>,
    priority: u32,
}

impl Sender {
    pub(super) fn new(endpoint: Arc<Endpoint>) -> Sender {
        Sender {
            endpoint,
            priority: 0,
        }
    }

    /// This sender at priority `level` (0 = lowest, the default; values
    /// past the queue's highest level are clamped to it).
    ///
    /// ```
    /// # let name = format!("doc-mpmc-prio-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().priorities(3).create(&name)?;
    /// let (sender, receiver) = (queue.sender()?, queue.receiver()?);
    /// sender.send(b"routine")?;
    /// sender.with_priority(2).send(b"urgent")?;
    /// assert_eq!(&*receiver.recv()?, b"urgent");
    /// assert_eq!(&*receiver.recv()?, b"routine");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_priority(&self, level: u32) -> Sender {
        let highest = self.endpoint.mem.geometry().levels - 1;
        Sender {
            endpoint: Arc::clone(&self.endpoint),
            priority: level.min(highest),
        }
    }

    /// The priority level this sender sends at.
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// The registry entry this sender's family holds, which is also the
    /// owner recorded in the slots it claims (for the loom models, which
    /// stage a process death by hand).
    #[doc(hidden)]
    pub fn registry_index(&self) -> usize {
        self.endpoint.index
    }

    fn receivers(&self) -> Side<'_> {
        self.endpoint.side(End::Receive)
    }

    /// Claims a slot, waiting as `patience` allows. The first look is
    /// inlined into every sending call; whatever it cannot decide goes to
    /// the out-of-line [`claim_slow`](Self::claim_slow).
    #[inline(always)]
    fn claim(&self, len: usize, patience: Patience) -> Result<SlotClaim, SendStop> {
        let mem = &self.endpoint.mem;
        if len as u64 <= mem.geometry().slot_size && !self.receivers().gone() {
            if let Claim::Got(claim) = mem.try_claim_send(self.priority, self.endpoint.index as u32)
            {
                return Ok(claim);
            }
        }
        self.claim_slow(len, patience)
    }

    #[inline(never)]
    fn claim_slow(&self, len: usize, patience: Patience) -> Result<SlotClaim, SendStop> {
        let mem = &self.endpoint.mem;
        if len as u64 > mem.geometry().slot_size {
            return Err(SendStop::TooLarge);
        }
        let mut stalled = false;
        loop {
            if self.receivers().gone() {
                return Err(SendStop::Disconnected);
            }
            let busy = match mem.try_claim_send(self.priority, self.endpoint.index as u32) {
                Claim::Got(claim) => return Ok(claim),
                Claim::NotYet => false,
                Claim::Busy => true,
            };
            if !busy && !stalled {
                stalled = true;
                self.endpoint.tally.stall_shared(patience.is_now());
            }
            let Patience::Until(deadline) = patience else {
                // After a liveness check, one more look: the receivers may
                // be gone, or a slot a dead one held free again.
                if self.endpoint.check_liveness() {
                    continue;
                }
                if self.endpoint.bell.is_watched() && self.arm() == Look::Again {
                    continue;
                }
                return Err(SendStop::Full);
            };
            // Every look after the first checks the deadline here: the
            // wait below returns at once, without reading the clock, while
            // `has_room` holds, and a peer writing garbage can keep it
            // holding while every claim fails.
            if deadline.is_some_and(|d| wait::now() >= d) {
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(SendStop::Timeout);
            }
            if busy {
                // The claim gave up undecided: `has_room` would say "go"
                // again. Let others run, then look again.
                self.endpoint.check_liveness();
                wait::back_off();
                continue;
            }
            let receivers = self.receivers();
            let outcome = wait::wait_until_class(
                &mem.control().not_full,
                wait::class_bit(self.priority),
                self.endpoint.wait,
                deadline,
                || mem.has_room(self.priority) || receivers.gone(),
                || self.endpoint.reap_both(End::Receive),
                || self.endpoint.tally.publish(),
            );
            match outcome {
                WaitOutcome::Ready => {}
                // A wait shorter than the liveness interval never reaches its
                // own check: callers looping on short timeouts still learn
                // of dead receivers, once per interval (then one more look;
                // the next wait ends at once, the deadline being past).
                WaitOutcome::TimedOut if self.endpoint.check_liveness() => {}
                WaitOutcome::TimedOut => return Err(SendStop::Timeout),
                WaitOutcome::PeerGone => return Err(SendStop::Disconnected),
            }
        }
    }

    /// Arms the doorbell before a full `try_*` says so (the descriptor was
    /// handed out): afterwards a receiver that frees a slot rings. "Gone"
    /// is "again": the loop's first check then says disconnected.
    ///
    /// Nobody wakes a descriptor waiter to check liveness, so arming
    /// checks it, unthrottled, when something may be stuck: no receiver
    /// holds the doorbell (all may be dead), or the slot this level waits
    /// for is held by a receiver (which may have died holding it; live
    /// receivers ring only when they free a slot). If that receiver still
    /// lives, it rings when it lets go; in case it dies first, the
    /// watchdog rings this sender's doorbell after the liveness interval.
    #[cold]
    fn arm(&self) -> Look {
        let mem = &self.endpoint.mem;
        let receivers = self.receivers();
        if receivers.ever_attached() {
            self.endpoint.bell.peer_seen();
        }
        wait::arm(&mem.control().not_full, &self.endpoint.bell, |hint| {
            if mem.has_room(self.priority) {
                return self.endpoint.bell.found_work();
            }
            if receivers.gone() {
                return Look::Again;
            }
            if hint.maybe_gone || mem.room_held(self.priority) {
                let gone = if hint.maybe_gone {
                    self.endpoint.settle_gone(End::Receive)
                } else {
                    self.endpoint.reap_both(End::Receive)
                };
                if mem.has_room(self.priority) {
                    return self.endpoint.bell.found_work();
                }
                if gone {
                    return Look::Again;
                }
                if mem.room_held(self.priority) {
                    self.endpoint.recheck_later();
                }
            }
            Look::Armed
        })
    }

    /// Sends `msg`, waiting for a free slot as `patience` allows: the core
    /// of every sending call.
    #[inline(always)]
    pub fn send_within(&self, msg: &[u8], patience: Patience) -> Result<(), SendStop> {
        let claim = self.claim(msg.len(), patience)?;
        let mem = &self.endpoint.mem;
        mem.slots().write(mem.payload_offset(&claim), msg);
        mem.publish(claim, msg.len() as u32);
        self.endpoint.tally.message_shared(msg.len());
        wait::notify_one(&mem.control().not_empty, &self.endpoint.bell);
        Ok(())
    }

    /// Claims a slot for `len` bytes, waiting as `patience` allows; the
    /// grant borrows this sender.
    #[inline(always)]
    pub fn reserve_within(
        &self,
        len: usize,
        patience: Patience,
    ) -> Result<SlotGrant<'_>, SendStop> {
        let claim = self.claim(len, patience)?;
        Ok(SlotGrantOf::new(self, claim, len))
    }

    /// Claims a slot for `len` bytes, waiting as `patience` allows; the
    /// grant holds a clone of this sender, so it may outlive the borrow
    /// (the C binding keeps one between its `reserve` and `commit` calls).
    pub fn reserve_owned_within(
        &self,
        len: usize,
        patience: Patience,
    ) -> Result<OwnedSlotGrant, SendStop> {
        let claim = self.claim(len, patience)?;
        Ok(SlotGrantOf::new(self.clone(), claim, len))
    }

    /// Sends `msg` if a slot is free now.
    #[inline]
    pub fn try_send<'m>(&self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        self.send_within(msg, Patience::NoWait)
            .map_err(|stop| stop.into_try(msg))
    }

    /// Sends `msg`, waiting for a free slot as long as it takes.
    pub fn send<'m>(&self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_within(msg, Patience::FOREVER)
            .map_err(|stop| stop.into_blocking(msg))
    }

    /// Sends `msg`, waiting for a free slot at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-mpmc-timeout-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().slots(2).create(&name)?;
    /// let sender = queue.sender()?;
    /// let _receiver = queue.receiver()?;
    /// sender.send(b"1")?;
    /// sender.send(b"2")?;
    /// let err = sender.send_timeout(b"3", Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(m) if m == b"3"));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout<'m>(
        &self,
        msg: &'m [u8],
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<&'m [u8]>> {
        self.send_within(msg, Patience::after(timeout))
            .map_err(|stop| stop.into_timeout(msg))
    }

    /// Sends a plain-old-data value as its bytes.
    pub fn send_value<T: bytemuck::Pod>(&self, value: &T) -> Result<(), SendError<T>> {
        self.send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Sends a plain-old-data value if a slot is free now.
    pub fn try_send_value<T: bytemuck::Pod>(&self, value: &T) -> Result<(), TrySendError<T>> {
        self.try_send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Claims a slot to write `len` bytes in place, if one is free now.
    /// Published by [`Grant::commit`]; a grant dropped uncommitted is
    /// published as a skipped slot that receivers pass over.
    ///
    /// ```
    /// # use shmring::Grant;
    /// # let name = format!("doc-mpmc-reserve-{}", std::process::id());
    /// # let queue = shmring::Mpmc::create(&name)?;
    /// let (sender, receiver) = (queue.sender()?, queue.receiver()?);
    /// let mut grant = sender.try_reserve(3)?;
    /// grant.copy_from_slice(b"abc");
    /// grant.commit();
    /// assert_eq!(&*receiver.try_recv()?, b"abc");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&self, len: usize) -> Result<SlotGrant<'_>, TrySendError<usize>> {
        self.reserve_within(len, Patience::NoWait)
            .map_err(|stop| stop.into_try(len))
    }

    /// Claims a slot to write in place, waiting as long as it takes.
    pub fn reserve(&self, len: usize) -> Result<SlotGrant<'_>, SendError<usize>> {
        self.reserve_within(len, Patience::FOREVER)
            .map_err(|stop| stop.into_blocking(len))
    }

    /// Claims a slot to write in place, waiting for one at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-mpmc-reserve-timeout-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().slots(2).create(&name)?;
    /// let (sender, _receiver) = (queue.sender()?, queue.receiver()?);
    /// sender.send(b"1")?;
    /// sender.send(b"2")?;
    /// let err = sender.reserve_timeout(8, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(8)));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<SlotGrant<'_>, SendTimeoutError<usize>> {
        self.reserve_within(len, Patience::after(timeout))
            .map_err(|stop| stop.into_timeout(len))
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.endpoint.mem.geometry().slot_size
    }
}

impl Sealed for Sender {}

impl MessageSender for Sender {
    type Grant<'a> = SlotGrant<'a>;

    #[inline]
    fn send_within(&mut self, msg: &[u8], patience: Patience) -> Result<(), SendStop> {
        Sender::send_within(self, msg, patience)
    }

    #[inline]
    fn reserve_within(
        &mut self,
        len: usize,
        patience: Patience,
    ) -> Result<SlotGrant<'_>, SendStop> {
        Sender::reserve_within(self, len, patience)
    }

    fn max_message(&self) -> u64 {
        self.slot_size()
    }
}

/// A claimed slot, written in place (see [`Sender::try_reserve`]), held
/// through `S`: a borrowed sender ([`SlotGrant`]) or an owned clone
/// ([`OwnedSlotGrant`]). Dropped uncommitted, the slot is published as a
/// skipped one that receivers pass over.
#[derive(Debug)]
pub struct SlotGrantOf<S: Borrow<Sender>> {
    sender: S,
    claim: Option<SlotClaim>,
    view: WriteView,
}

/// A grant that borrows its sender.
pub type SlotGrant<'s> = SlotGrantOf<&'s Sender>;
/// A grant that keeps its sender alive (a clone), for callers that cannot
/// hold a borrow, such as the C binding.
pub type OwnedSlotGrant = SlotGrantOf<Sender>;

impl<S: Borrow<Sender>> SlotGrantOf<S> {
    fn new(sender: S, claim: SlotClaim, len: usize) -> SlotGrantOf<S> {
        let mem = &sender.borrow().endpoint.mem;
        // SAFETY: the slot is ours from the claim until publication, which
        // takes the view; `sender` keeps the mapping alive meanwhile.
        let view = unsafe { WriteView::new(mem.slots(), mem.payload_offset(&claim), len as u64) };
        SlotGrantOf {
            sender,
            claim: Some(claim),
            view,
        }
    }
}

impl<S: Borrow<Sender>> Grant for SlotGrantOf<S> {
    #[inline]
    fn commit(self) {
        let len = self.view.bytes().len();
        self.commit_len(len);
    }

    #[inline]
    fn commit_len(mut self, len: usize) {
        let len = len.min(self.view.bytes().len());
        let claim = self.claim.take().expect("a grant is committed once");
        self.view.finish(len);
        let endpoint = &self.sender.borrow().endpoint;
        endpoint.mem.publish(claim, len as u32);
        endpoint.tally.message_shared(len);
        wait::notify_one(&endpoint.mem.control().not_empty, &endpoint.bell);
    }
}

impl<S: Borrow<Sender>> Deref for SlotGrantOf<S> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.view.bytes()
    }
}

impl<S: Borrow<Sender>> DerefMut for SlotGrantOf<S> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.view.bytes_mut()
    }
}

impl<S: Borrow<Sender>> Drop for SlotGrantOf<S> {
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            // The position is taken: it must be completed, or the queue
            // would stop at it. Receivers skip this one.
            let endpoint = &self.sender.borrow().endpoint;
            endpoint.mem.publish_skipped(claim);
            wait::notify_one(&endpoint.mem.control().not_empty, &endpoint.bell);
        }
    }
}

/// The descriptor `poll`/`epoll` report writable while there is room, and
/// with an error once every receiver is gone. Taking it makes a full
/// `try_*` call arm it first (it then stops polling writable until a
/// receiver frees a slot): send until full, then wait. Clones share it.
#[cfg(not(shmring_loom))]
impl AsFd for Sender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.endpoint.bell.fd()
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Sender {
    fn as_raw_fd(&self) -> RawFd {
        self.endpoint.bell.fd().as_raw_fd()
    }
}

/// The loom models' stand-in for taking the descriptor and `epoll_wait`.
#[cfg(shmring_loom)]
impl Sender {
    /// Marks the endpoint as waited on by descriptor (as `as_fd` does).
    #[doc(hidden)]
    pub fn watch_doorbell(&self) {
        self.endpoint.bell.watch();
    }

    /// Blocks until the doorbell says there is room (as `epoll_wait`).
    #[doc(hidden)]
    pub fn wait_doorbell(&self) {
        self.endpoint.bell.wait();
    }
}
