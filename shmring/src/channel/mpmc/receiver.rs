//! The receiving end of an MPMC queue and its in-place guards.

use super::{End, Endpoint};
use crate::channel::endpoint::{MessageReceiver, Patience, RecvStop, sealed::Sealed};
use crate::channel::mpmc::registry::Side;
use crate::error::{RecvError, RecvTimeoutError, RecvValueError, TryRecvError};
use crate::ring::Corruption;
use crate::ring::data::ReadView;
use crate::ring::mpmc::{Claim, SlotClaim, level_bit};
use crate::wait::doorbell::Look;
use crate::wait::{self, WaitOutcome};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::borrow::Borrow;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

/// Receives from an MPMC queue: each message goes to exactly one receiver.
/// `Clone` (clones share one registry entry), `Send` and `Sync`.
///
/// Its receiving calls take `&self`, so one receiver can be shared by
/// several threads; they are the same calls as [`MessageReceiver`]'s,
/// which generic code uses.
#[derive(Debug, Clone)]
pub struct Receiver {
    endpoint: Arc<Endpoint>,
}

impl Receiver {
    pub(super) fn new(endpoint: Arc<Endpoint>) -> Receiver {
        Receiver { endpoint }
    }

    /// The registry entry this receiver's family holds, which is also the
    /// owner recorded in the slots it claims (for the loom models, which
    /// stage a process death by hand).
    #[doc(hidden)]
    pub fn registry_index(&self) -> usize {
        self.endpoint.index
    }

    fn senders(&self) -> Side<'_> {
        self.endpoint.side(End::Send)
    }

    /// Claims the next message, waiting as `patience` allows. The first
    /// look is inlined into every receiving call; the rest is out of line.
    #[inline(always)]
    fn next(&self, patience: Patience) -> Result<SlotClaim, RecvStop> {
        if let Ok(Claim::Got(claim)) = self.look() {
            return Ok(claim);
        }
        self.next_slow(patience)
    }

    /// One bounded look for a message. A slot it frees without taking a
    /// message from it (published as skipped by a dead sender's recovery,
    /// or refused as corrupt) is room: it wakes a sender of that level, as
    /// the release of a received slot does, or a sender waiting on a full
    /// queue would sleep out its whole liveness slice.
    #[inline(always)]
    fn look(&self) -> Result<Claim, Corruption> {
        let mut freed_levels = 0;
        let found = self
            .endpoint
            .mem
            .try_claim_recv(self.endpoint.index as u32, &mut freed_levels);
        if freed_levels != 0 {
            self.wake_senders_of(freed_levels);
        }
        found
    }

    #[cold]
    fn wake_senders_of(&self, levels: u32) {
        let mem = &self.endpoint.mem;
        for level in 0..mem.geometry().levels {
            if levels & level_bit(level) != 0 {
                wait::notify_one_of_class(
                    &mem.control().not_full,
                    wait::room_class(level),
                    &self.endpoint.bell,
                );
            }
        }
    }

    #[inline(never)]
    fn next_slow(&self, patience: Patience) -> Result<SlotClaim, RecvStop> {
        let mem = &self.endpoint.mem;
        let mut stalled = false;
        loop {
            let busy = match self.look() {
                Ok(Claim::Got(claim)) => return Ok(claim),
                Ok(Claim::NotYet) => false,
                Ok(Claim::Busy) => true,
                Err(c) => return Err(RecvStop::Corrupt(c)),
            };
            if !busy && !stalled {
                stalled = true;
                self.endpoint.tally.stall_shared(patience.is_now());
            }
            if self.senders().gone() {
                // Every sender's last message is visible now (see
                // `Side::gone`): one more look decides.
                return match self.look() {
                    Ok(Claim::Got(claim)) => Ok(claim),
                    Ok(Claim::NotYet | Claim::Busy) => Err(RecvStop::Disconnected),
                    Err(c) => Err(RecvStop::Corrupt(c)),
                };
            }
            let Patience::Until(deadline) = patience else {
                // After a liveness check, one more look: the senders may be
                // gone, or a slot a dead one held passed over.
                if self.endpoint.check_liveness() {
                    continue;
                }
                if self.endpoint.bell.is_watched() && self.arm() == Look::Again {
                    continue;
                }
                return Err(RecvStop::Empty);
            };
            // As for senders: every look after the first checks the
            // deadline, since `has_message` can keep saying "go" while
            // every claim fails.
            if deadline.is_some_and(|d| wait::now() >= d) {
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(RecvStop::Timeout);
            }
            if busy {
                self.endpoint.check_liveness();
                wait::back_off();
                continue;
            }
            let senders = self.senders();
            let outcome = wait::wait_until(
                &mem.control().not_empty,
                self.endpoint.wait,
                deadline,
                || mem.has_message() || senders.gone(),
                || self.endpoint.reap_both(End::Send),
                || self.endpoint.tally.publish(),
            );
            // As for senders: short timeouts in a loop still see dead
            // senders, once per liveness interval.
            if outcome == WaitOutcome::TimedOut && !self.endpoint.check_liveness() {
                return Err(RecvStop::Timeout);
            }
        }
    }

    /// Arms the doorbell before an empty `try_*` says so (the descriptor
    /// was handed out): afterwards the next publish rings. "Gone" is
    /// "again": the loop's first check then says disconnected.
    ///
    /// Nobody wakes a descriptor waiter to check liveness, so arming
    /// checks it, unthrottled, when something may be stuck: no sender
    /// holds the doorbell (all may be dead), or the next slot is claimed
    /// but not published (its sender may have died writing it, and later
    /// messages would wait behind it for ever). If that sender still
    /// lives, it rings when it publishes; in case it dies first, the
    /// watchdog rings this receiver's doorbell after the liveness interval.
    #[cold]
    fn arm(&self) -> Look {
        let mem = &self.endpoint.mem;
        let senders = self.senders();
        wait::arm(&mem.control().not_empty, &self.endpoint.bell, |hint| {
            if mem.has_message() {
                return self.endpoint.bell.found_work();
            }
            if senders.gone() {
                return Look::Again;
            }
            if hint.maybe_gone || mem.message_held() {
                let gone = if hint.maybe_gone {
                    self.endpoint.settle_gone(End::Send)
                } else {
                    self.endpoint.reap_both(End::Send)
                };
                if mem.has_message() {
                    return self.endpoint.bell.found_work();
                }
                if gone {
                    return Look::Again;
                }
                if mem.message_held() {
                    self.endpoint.recheck_later();
                }
            }
            Look::Armed
        })
    }

    /// Takes the next message, waiting as `patience` allows: the core of
    /// every receiving call. The guard borrows this receiver.
    #[inline(always)]
    pub fn recv_within(&self, patience: Patience) -> Result<SlotGuard<'_>, RecvStop> {
        let claim = self.next(patience)?;
        Ok(SlotGuardOf::new(self, claim))
    }

    /// As [`recv_within`](Self::recv_within), with a guard that holds a
    /// clone of this receiver, so it may outlive the borrow (the C binding
    /// keeps one between its `peek` and `release` calls).
    pub fn recv_owned_within(&self, patience: Patience) -> Result<OwnedSlotGuard, RecvStop> {
        let claim = self.next(patience)?;
        Ok(SlotGuardOf::new(self.clone(), claim))
    }

    /// Takes the next message if there is one, borrowed in place until the
    /// guard drops.
    #[inline]
    pub fn try_recv(&self) -> Result<SlotGuard<'_>, TryRecvError> {
        self.recv_within(Patience::NoWait)
            .map_err(RecvStop::into_try)
    }

    /// Waits for the next message as long as it takes; `Disconnected` once
    /// every sender is gone and the queue is drained.
    pub fn recv(&self) -> Result<SlotGuard<'_>, RecvError> {
        self.recv_within(Patience::FOREVER)
            .map_err(RecvStop::into_blocking)
    }

    /// Waits for the next message at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<SlotGuard<'_>, RecvTimeoutError> {
        self.recv_within(Patience::after(timeout))
            .map_err(RecvStop::into_timeout)
    }

    /// Waits for the next message and copies it into `buf`; returns its
    /// length.
    pub fn recv_into(&self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        MessageReceiver::recv_into(&mut &*self, buf)
    }

    /// Waits for a message and returns it as a `T` if it has exactly
    /// `size_of::<T>()` bytes. A message of another size is consumed (in
    /// a queue with several receivers it cannot be left for "someone
    /// else") and reported as `SizeMismatch`.
    pub fn recv_value<T: bytemuck::Pod>(&self) -> Result<T, RecvValueError> {
        MessageReceiver::recv_value(&mut &*self)
    }

    /// Hands up to `max` messages available now to `f`; returns how many,
    /// or `Empty`/`Disconnected` instead of 0.
    pub fn try_drain(&self, max: usize, f: impl FnMut(&[u8])) -> Result<usize, TryRecvError> {
        MessageReceiver::try_drain(&mut &*self, max, f)
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.endpoint.mem.geometry().slot_size
    }
}

impl Sealed for Receiver {}
impl Sealed for &Receiver {}

impl MessageReceiver for Receiver {
    type Guard<'a> = SlotGuard<'a>;

    #[inline]
    fn recv_within(&mut self, patience: Patience) -> Result<SlotGuard<'_>, RecvStop> {
        Receiver::recv_within(self, patience)
    }

    fn max_message(&self) -> u64 {
        self.slot_size()
    }
}

/// A shared receiver receives like an owned one: what lets the `&self`
/// calls above reuse the trait's provided ones.
impl<'r> MessageReceiver for &'r Receiver {
    type Guard<'a>
        = SlotGuard<'r>
    where
        Self: 'a;

    #[inline]
    fn recv_within(&mut self, patience: Patience) -> Result<SlotGuard<'r>, RecvStop> {
        Receiver::recv_within(self, patience)
    }

    fn max_message(&self) -> u64 {
        self.slot_size()
    }
}

/// A received message, borrowed in its slot and held through `R`: a
/// borrowed receiver ([`SlotGuard`]) or an owned clone
/// ([`OwnedSlotGuard`]). The slot is freed on drop.
#[derive(Debug)]
pub struct SlotGuardOf<R: Borrow<Receiver>> {
    receiver: R,
    claim: SlotClaim,
    view: ReadView,
}

/// A guard that borrows its receiver.
pub type SlotGuard<'r> = SlotGuardOf<&'r Receiver>;
/// A guard that keeps its receiver alive (a clone), for callers that
/// cannot hold a borrow, such as the C binding.
pub type OwnedSlotGuard = SlotGuardOf<Receiver>;

impl<R: Borrow<Receiver>> SlotGuardOf<R> {
    fn new(receiver: R, claim: SlotClaim) -> SlotGuardOf<R> {
        let mem = &receiver.borrow().endpoint.mem;
        // SAFETY: the slot is ours until `drop` releases it (after the
        // view); `len` was checked against the slot size when it was
        // claimed; `receiver` keeps the mapping alive.
        let view = unsafe { ReadView::new(mem.slots(), mem.payload_offset(&claim), claim.len) };
        SlotGuardOf {
            receiver,
            claim,
            view,
        }
    }

    /// The message as a `T`, if it is exactly `size_of::<T>()` bytes.
    pub fn value<T: bytemuck::Pod>(&self) -> Option<T> {
        bytemuck::try_pod_read_unaligned(self).ok()
    }
}

impl SlotGuardOf<&Receiver> {
    /// This message, held from now on through a clone of its receiver, so
    /// that it may outlive the borrow. Costs a reference count only when
    /// asked for: the C binding receives borrowed and keeps the rare
    /// message that did not fit the caller's buffer this way.
    pub fn into_owned(self) -> OwnedSlotGuard {
        let owned = SlotGuardOf::new(self.receiver.clone(), self.claim);
        // The slot is the owned guard's to release now, not this one's.
        std::mem::forget(self);
        owned
    }
}

impl<R: Borrow<Receiver>> Deref for SlotGuardOf<R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.view.bytes()
    }
}

impl<R: Borrow<Receiver>> Drop for SlotGuardOf<R> {
    fn drop(&mut self) {
        let endpoint = &self.receiver.borrow().endpoint;
        let len = self.view.bytes().len();
        endpoint.mem.release(self.claim);
        endpoint.tally.message_shared(len);
        // Only a sender of this slot's level can use it: wake one of those,
        // not whichever sender slept first.
        wait::notify_one_of_class(
            &endpoint.mem.control().not_full,
            wait::room_class(self.claim.level),
            &endpoint.bell,
        );
    }
}

/// The descriptor `poll`/`epoll` report readable when a message is
/// waiting, or with a hang-up once every sender is gone. Taking it makes
/// an empty `try_*` call arm it first: receive until empty, then wait.
/// Clones share it.
#[cfg(not(shmring_loom))]
impl AsFd for Receiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.endpoint.bell.fd()
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for Receiver {
    fn as_raw_fd(&self) -> RawFd {
        self.endpoint.bell.fd().as_raw_fd()
    }
}

/// The loom models' stand-in for taking the descriptor and `epoll_wait`.
#[cfg(shmring_loom)]
impl Receiver {
    /// Marks the endpoint as waited on by descriptor (as `as_fd` does).
    #[doc(hidden)]
    pub fn watch_doorbell(&self) {
        self.endpoint.bell.watch();
    }

    /// Blocks until the doorbell rings (as `epoll_wait` on the descriptor).
    #[doc(hidden)]
    pub fn wait_doorbell(&self) {
        self.endpoint.bell.wait();
    }
}
