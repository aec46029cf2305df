//! Traffic counters: what each endpoint counts and how it publishes the
//! counts into the segment's traffic block (`layout/traffic.rs`).
//!
//! An endpoint counts messages and bytes in its own memory and adds them
//! to the shared line once per [`BATCH`] messages, so the message path
//! writes no shared counter. It also publishes when a `try_*` call finds
//! the ring full or empty (the caller is about to wait elsewhere), when a
//! blocking call goes to sleep on the futex, at every 64th full or empty
//! finding, and when it is dropped. A live endpoint's counts may
//! therefore lag by at most `BATCH − 1` messages, and only while it is
//! busy (or busy-spinning); a killed process loses at most that many per
//! endpoint. Parks and wakes are
//! counted where they happen (`wait/`), on the wait lines.
#![allow(unsafe_code)]

use crate::layout::WaitWords;
use crate::layout::traffic::{TRAFFIC_SIZE, Traffic, TrafficLine};
use crate::segment::Mapping;
use crate::sync::{AtomicU64, Ordering};
use std::ptr::NonNull;

/// Messages an endpoint counts before it adds them to the shared line.
pub(crate) const BATCH: u64 = 64;

/// Pending counts are packed in one word: messages above this bit,
/// bytes below. A batch holds at most `BATCH` messages of at most 4 GiB
/// (SPSC's largest) each: 2³⁸ bytes, far from the message bits.
const MESSAGE_SHIFT: u32 = 40;
const ONE_MESSAGE: u64 = 1 << MESSAGE_SHIFT;
const BYTES_MASK: u64 = ONE_MESSAGE - 1;

/// A ring's traffic block, as its handles hold it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrafficArea(NonNull<Traffic>);

// SAFETY: the block is atomics only, valid from any thread.
unsafe impl Send for TrafficArea {}
// SAFETY: as above.
unsafe impl Sync for TrafficArea {}

impl TrafficArea {
    /// The block of a mapped segment whose header the kind validated
    /// (which tied its size to a geometry that ends with the 128-aligned
    /// block). The caller keeps `mapping` alive as long as the area.
    pub(crate) fn at_end_of(mapping: &Mapping) -> TrafficArea {
        let block = mapping.at::<Traffic>(mapping.header().segment_size - TRAFFIC_SIZE);
        // SAFETY: the block lies in `mapping`, which every handle keeps
        // alive through the ring's `Keepalive`.
        unsafe { TrafficArea::new(block) }
    }

    /// A block on the heap that nobody reads (loom models: statistics
    /// are no part of a model), leaked, as models are short.
    #[cfg(shmring_loom)]
    pub(crate) fn leaked() -> TrafficArea {
        let block = NonNull::from(Box::leak(Box::<Traffic>::default()));
        // SAFETY: leaked: lives for the rest of the process.
        unsafe { TrafficArea::new(block) }
    }

    /// # Safety
    /// `block` points to a `Traffic` that stays mapped (or allocated) for
    /// as long as this value or a copy of it is used: every holder also
    /// holds the ring's `Keepalive`.
    pub(crate) unsafe fn new(block: NonNull<Traffic>) -> TrafficArea {
        TrafficArea(block)
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> &Traffic {
        // SAFETY: valid per `new`'s contract.
        unsafe { self.0.as_ref() }
    }

    /// The send side's tally for a new endpoint.
    pub(crate) fn sender_tally(self) -> Tally {
        Tally::new(self, Side::Send)
    }

    /// The receive side's tally for a new endpoint.
    pub(crate) fn receiver_tally(self) -> Tally {
        Tally::new(self, Side::Receive)
    }

    /// What the block and the wait lines say now.
    pub(crate) fn counts(
        &self,
        data: &WaitWords,
        room: &WaitWords,
        recovered: u64,
    ) -> TrafficCounts {
        let t = self.get();
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TrafficCounts {
            sent: read(&t.send.messages),
            bytes_sent: read(&t.send.bytes),
            full: read(&t.send.stalls),
            sender_parks: read(&room.parks),
            sender_wakes: read(&data.wakes),
            received: read(&t.receive.messages),
            bytes_received: read(&t.receive.bytes),
            empty: read(&t.receive.stalls),
            receiver_parks: read(&data.parks),
            receiver_wakes: read(&room.wakes),
            recovered,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Send,
    Receive,
}

/// One endpoint's counts not yet published. Endpoints whose calls take
/// `&self` from several threads (MPMC) keep it behind atomics: the
/// pending word is added to with one uncontended `fetch_add` per message.
#[derive(Debug)]
pub(crate) struct Tally {
    area: TrafficArea,
    side: Side,
    /// Messages (above [`MESSAGE_SHIFT`]) and bytes, not yet published.
    pending: AtomicU64,
    /// Full (empty) findings not yet published.
    stalls: AtomicU64,
}

impl Tally {
    fn new(area: TrafficArea, side: Side) -> Tally {
        Tally {
            area,
            side,
            pending: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
        }
    }

    fn line(&self) -> &TrafficLine {
        let t = self.area.get();
        match self.side {
            Side::Send => &t.send,
            Side::Receive => &t.receive,
        }
    }

    /// One message of `len` bytes, by an endpoint called with `&mut`: a
    /// plain read-modify-write of its own word, no locked instruction.
    #[inline(always)]
    pub(crate) fn message_exclusive(&mut self, len: usize) {
        if cfg!(shmring_loom) {
            return; // statistics only: no extra steps in the models
        }
        let pending = self.pending.load(Ordering::Relaxed) + ONE_MESSAGE + len as u64;
        self.pending.store(pending, Ordering::Relaxed);
        if pending >= BATCH << MESSAGE_SHIFT {
            self.publish();
        }
    }

    /// One message of `len` bytes, by an endpoint shared between threads.
    #[inline(always)]
    pub(crate) fn message_shared(&self, len: usize) {
        if cfg!(shmring_loom) {
            return;
        }
        let add = ONE_MESSAGE + len as u64;
        if self.pending.fetch_add(add, Ordering::Relaxed) + add >= BATCH << MESSAGE_SHIFT {
            self.publish();
        }
    }

    /// A call found the ring full (a sender) or empty (a receiver).
    /// Counts are published at the 64th such finding, and at once when
    /// `answers_now`: a `try_*` caller that hears "full" or "empty" goes
    /// to wait elsewhere (`epoll`, a sleep), so what it counted should be
    /// visible now. A blocking call that finds the ring empty in a stream
    /// (the receiver caught up for a moment) does not pay for it.
    #[cold]
    pub(crate) fn stall_shared(&self, answers_now: bool) {
        if cfg!(shmring_loom) {
            return;
        }
        let stalls = self.stalls.fetch_add(1, Ordering::Relaxed) + 1;
        if stalls >= BATCH || (answers_now && self.pending.load(Ordering::Relaxed) != 0) {
            self.publish();
        }
    }

    /// [`Tally::stall_shared`] by an endpoint called with `&mut`: no
    /// locked instruction, for a caller polling an empty ring in a loop.
    #[inline]
    pub(crate) fn stall_exclusive(&mut self, answers_now: bool) {
        if cfg!(shmring_loom) {
            return;
        }
        let stalls = self.stalls.load(Ordering::Relaxed) + 1;
        self.stalls.store(stalls, Ordering::Relaxed);
        if stalls >= BATCH || (answers_now && self.pending.load(Ordering::Relaxed) != 0) {
            self.publish();
        }
    }

    /// Adds everything pending to the shared line.
    #[cold]
    pub(crate) fn publish(&self) {
        let line = self.line();
        let pending = self.pending.swap(0, Ordering::Relaxed);
        if pending != 0 {
            line.messages
                .fetch_add(pending >> MESSAGE_SHIFT, Ordering::Relaxed);
            line.bytes
                .fetch_add(pending & BYTES_MASK, Ordering::Relaxed);
        }
        let stalls = self.stalls.swap(0, Ordering::Relaxed);
        if stalls != 0 {
            line.stalls.fetch_add(stalls, Ordering::Relaxed);
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.publish();
    }
}

/// A ring's traffic since it was created: messages and bytes each way,
/// how often a call found it full or empty, how often a side slept on
/// the futex and how often the other side woke it, and slots recovered
/// from dead endpoints. Statistics only: each live endpoint publishes
/// its counts every 64 messages, when a `try_*` call finds the ring full
/// or empty, before a blocking call sleeps, and when dropped, so they may
/// lag by up to 63 messages per busy endpoint; a process that dies loses
/// what it had not published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    /// Messages sent (published).
    pub sent: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Send calls that found the ring full (counted once per call).
    pub full: u64,
    /// Times a sender slept on the futex waiting for room.
    pub sender_parks: u64,
    /// Wake-up system calls made by senders (for sleeping receivers).
    pub sender_wakes: u64,
    /// Messages received (consumed; publish/subscribe: deliveries, one
    /// per subscriber per message).
    pub received: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Receive calls that found the ring empty (counted once per call).
    pub empty: u64,
    /// Times a receiver slept on the futex waiting for a message.
    pub receiver_parks: u64,
    /// Wake-up system calls made by receivers (for sleeping senders).
    pub receiver_wakes: u64,
    /// MPMC: slots recovered from dead senders and receivers; 0 for the
    /// other kinds, where a dead endpoint holds no slot.
    pub recovered: u64,
}

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_are_published_in_batches_and_on_drop() {
        let block = Box::new(Traffic::default());
        // SAFETY: the box outlives every tally below.
        let area = unsafe { TrafficArea::new(NonNull::from(&*block)) };
        let mut tally = area.sender_tally();
        for _ in 0..BATCH - 1 {
            tally.message_exclusive(10);
        }
        assert_eq!(block.send.messages.load(Ordering::Relaxed), 0);
        tally.message_exclusive(10);
        assert_eq!(block.send.messages.load(Ordering::Relaxed), BATCH);
        assert_eq!(block.send.bytes.load(Ordering::Relaxed), BATCH * 10);
        tally.message_exclusive(usize::MAX >> 32);
        tally.stall_exclusive(true);
        assert_eq!(block.send.messages.load(Ordering::Relaxed), BATCH + 1);
        assert_eq!(block.send.stalls.load(Ordering::Relaxed), 1);
        let shared = area.receiver_tally();
        shared.message_shared(3);
        drop(shared);
        drop(tally);
        assert_eq!(block.receive.messages.load(Ordering::Relaxed), 1);
        assert_eq!(block.receive.bytes.load(Ordering::Relaxed), 3);
        assert_eq!(
            block.send.bytes.load(Ordering::Relaxed),
            BATCH * 10 + (u64::MAX >> 32)
        );
    }
}
