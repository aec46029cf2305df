//! The broadcast ring: one publisher writes each message once into a
//! slot, every subscriber reads it from there with a cursor of its own.
//!
//! Message `s` (its sequence number: messages published before it) lives
//! in slot `s mod slots`, whose stamp says which message it holds
//! (`layout/pubsub.rs`). A subscriber at cursor `c` reads the stamp of
//! `c`'s slot with Acquire:
//!
//! | stamp                           | for the subscriber at `c`              |
//! |---------------------------------|----------------------------------------|
//! | `c + 1`                         | published: read it                     |
//! | at most `c`, or `BUSY \| (c + 1)` | not yet                              |
//! | more than `c + 1` (busy or not) | overwritten: lost (lossy only)         |
//!
//! **Lossless.** The publisher writes message `s` only when `s - slots`
//! has been read by every live subscriber: `s < min(cursor) + slots`. It
//! keeps that bound (`limit`) locally and reads the cursors again only
//! when it reaches it, or when the membership `epoch` moved (a join, a
//! leave, a reaping). A joiner and the publisher meet as in Dekker's
//! algorithm: the publisher stores `head` (the next message), then a
//! light fence, then reads `epoch`; the joiner bumps `epoch`, then a heavy
//! fence, then reads `head`. Either the publisher sees the join before it
//! writes message `s` and counts the joiner's cursor (first a lower bound,
//! then the real one), or the joiner read a `head` of at least `s`, so
//! that `s` only overwrites `s - slots`, older than anything it starts at.
//!
//! **Lossy.** The publisher never waits. Writing message `s`, it first
//! stamps the slot `BUSY | (s + 1)` and fences (Release), then writes the
//! payload, then stamps `s + 1` (Release): a seqlock. A subscriber copies
//! the payload out word by word (relaxed atomics), fences (Acquire) and
//! reads the stamp again: if it moved, the copy may be torn and is thrown
//! away. A subscriber that finds its message overwritten moves to the
//! oldest message that cannot be being overwritten, `head + 1 - slots`,
//! and reports exactly how many it skipped.
//!
//! Every value read from shared memory is checked: a stamp, length or
//! cursor a hostile peer wrote gives `Corruption`, a lag, or a stall,
//! never an access outside the ring.
#![allow(unsafe_code)]

use super::Corruption;
use super::data::DataArea;
use crate::layout::pubsub::{
    Delivery, Membership, PubSubControl, PubSubGeometry, SLOT_HEADER, STAMP_BUSY, SubscriberEntry,
};
use crate::sync::{Ordering, light_fence, seqlock_fence};
use crossbeam_utils::CachePadded;
use std::ptr::NonNull;

/// A lossless subscriber shows its cursor to the publisher every
/// `slots / 8` messages (at least every message, at most every 256), and
/// whenever it finds nothing to read; a lossy one after every message.
const CURSOR_BATCHES: u64 = 8;
const MAX_CURSOR_BATCH: u64 = 256;

/// Sequence numbers at or past this are corrupt: a ring publishing a
/// billion messages a second gets there in 146 years.
const MAX_SEQUENCE: u64 = 1 << 62;

/// The shared memory of one broadcast ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PubSubMemory {
    control: NonNull<PubSubControl>,
    entries: NonNull<CachePadded<SubscriberEntry>>,
    slots: DataArea,
    geometry: PubSubGeometry,
    /// `geometry.slots - 1` and `geometry.stride()`, computed once: the
    /// fast path finds a slot with a mask and a multiply.
    mask: u64,
    stride: u64,
}

// SAFETY: all shared state behind the pointers is atomics (see DataArea).
unsafe impl Send for PubSubMemory {}
// SAFETY: as above; every method takes `&self` and works through atomics.
unsafe impl Sync for PubSubMemory {}

impl PubSubMemory {
    /// # Safety
    /// `control` points to an initialised control block, `entries` to
    /// `geometry.subscribers` entries, and `slots` covers every slot; all
    /// stay valid while this value or a copy is used.
    pub(crate) unsafe fn new(
        control: NonNull<PubSubControl>,
        entries: NonNull<CachePadded<SubscriberEntry>>,
        slots: DataArea,
        geometry: PubSubGeometry,
    ) -> PubSubMemory {
        let stride = geometry.stride();
        assert!(
            geometry.slots.is_power_of_two()
                && stride % 8 == 0
                && stride >= SLOT_HEADER
                && slots.len() == stride * geometry.slots,
            "slot area and geometry disagree"
        );
        PubSubMemory {
            control,
            entries,
            slots,
            geometry,
            mask: geometry.slots - 1,
            stride,
        }
    }

    #[inline(always)]
    pub(crate) fn control(&self) -> &PubSubControl {
        // SAFETY: valid per `new`'s contract.
        unsafe { self.control.as_ref() }
    }

    #[inline(always)]
    pub(crate) fn membership(&self) -> &Membership {
        &self.control().membership
    }

    pub(crate) fn geometry(&self) -> PubSubGeometry {
        self.geometry
    }

    /// Subscriber entry `index` (panics outside the table).
    #[inline(always)]
    pub(crate) fn entry(&self, index: usize) -> &SubscriberEntry {
        assert!(
            index < self.geometry.subscribers as usize,
            "subscriber index out of range"
        );
        // SAFETY: in range (asserted), valid per `new`'s contract.
        unsafe { self.entries.add(index).as_ref() }
    }

    /// Every subscriber entry.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &SubscriberEntry> + '_ {
        (0..self.geometry.subscribers as usize).map(|i| self.entry(i))
    }

    /// Where message `seq` lives.
    #[inline(always)]
    fn slot(&self, seq: u64) -> Slot {
        Slot((seq & self.mask) * self.stride)
    }

    /// The stamp of `slot`.
    #[inline(always)]
    fn stamp(&self, slot: Slot) -> &crate::sync::AtomicU64 {
        // SAFETY: a `Slot` is `(seq & mask) * stride`, at most
        // `(slots - 1) * stride`: in the area, 8-aligned (`new` checked
        // the stride and the area's length).
        unsafe { self.slots.word_unchecked(slot.0) }
    }

    /// The length word of `slot`.
    #[inline(always)]
    fn length(&self, slot: Slot) -> &crate::sync::AtomicU64 {
        // SAFETY: as for `stamp`; the slot's header (16 bytes, `new`
        // checked the stride holds it) has the length word at 8.
        unsafe { self.slots.word_unchecked(slot.0 + 8) }
    }

    pub(crate) fn slots(&self) -> &DataArea {
        &self.slots
    }

    /// Messages published so far (the sequence number of the next).
    pub(crate) fn head(&self) -> u64 {
        // Acquire: pairs with the publisher's Release store of `head`.
        self.control().publisher.head.load(Ordering::Acquire)
    }

    /// [`head`](Self::head), refused when no ring could ever get there
    /// (2⁶² messages): whatever starts from it then stays far from
    /// overflow, however a peer wrote it.
    pub(crate) fn checked_head(&self) -> Result<u64, Corruption> {
        match self.head() {
            head if head < MAX_SEQUENCE => Ok(head),
            _ => Err(Corruption("the publisher's position is out of range")),
        }
    }

    /// What the subscriber at `cursor` finds there.
    #[inline(always)]
    pub(crate) fn look(&self, cursor: u64) -> Look {
        self.look_at(self.slot(cursor), cursor)
    }

    #[inline(always)]
    fn look_at(&self, slot: Slot, cursor: u64) -> Look {
        // Acquire: pairs with the publisher's Release stamp, making the
        // length and payload of the message visible.
        let stamp = self.stamp(slot).load(Ordering::Acquire);
        classify(stamp, cursor)
    }

    /// Whether the subscriber at `cursor` has something to do (a message
    /// or a lag to report): what a sleeping subscriber waits for.
    pub(crate) fn has_news(&self, cursor: u64) -> bool {
        self.look(cursor) != Look::NotYet
    }

    /// The smallest cursor of the live subscribers (`u64::MAX` if none),
    /// each clamped to `head` (a cursor past it claims to have read what
    /// was never published; it holds nobody back).
    pub(crate) fn slowest_cursor(&self, head: u64) -> u64 {
        self.entries()
            .filter(|e| e.role.load(Ordering::Acquire) != 0)
            // Acquire: pairs with the subscriber's Release of its cursor;
            // its reads of the slots it passed finish before we reuse them.
            .map(|e| e.cursor.load(Ordering::Acquire).min(head))
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// The data-area offset of a slot, only made by [`PubSubMemory::slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot(u64);

/// The state of one slot for the subscriber at `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// The message is published.
    Ready,
    /// Nothing for this cursor yet.
    NotYet,
    /// A later message is in (or going into) the slot, stamped `stamp`.
    Overwritten { stamp: u64 },
}

#[inline(always)]
fn classify(stamp: u64, cursor: u64) -> Look {
    let want = cursor.wrapping_add(1);
    let holds = stamp & !STAMP_BUSY;
    if stamp == want {
        Look::Ready
    } else if holds <= want {
        Look::NotYet
    } else {
        Look::Overwritten { stamp: holds }
    }
}

/// Why a message could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// Longer than a slot.
    TooLarge,
    /// Lossless: the slowest subscriber is a whole ring behind.
    Full,
}

/// A claimed, unpublished slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotClaim {
    seq: u64,
    slot: Slot,
    /// Payload bytes claimed.
    pub(crate) len: u64,
}

impl SlotClaim {
    /// Data-area offset of the payload.
    pub(crate) fn payload_offset(&self) -> u64 {
        self.slot.0 + SLOT_HEADER
    }
}

/// The publisher's side: process-local state over the shared memory.
#[derive(Debug)]
pub(crate) struct PublisherRing {
    mem: PubSubMemory,
    /// Sequence number of the next message.
    next: u64,
    /// Lossless: messages below this may be written without looking at
    /// the cursors again.
    limit: u64,
    /// Lossless: the membership epoch `limit` was computed at.
    seen_epoch: u64,
}

impl PublisherRing {
    /// Attaches after whatever an earlier publisher published. One that
    /// died between stamping a message and storing `head` left it
    /// published past `head`: the stamps say so, and it is kept.
    pub(crate) fn attach(mem: PubSubMemory) -> Result<PublisherRing, Corruption> {
        // At most `slots` steps from a checked head: no overflow.
        let mut next = mem.checked_head()?;
        for _ in 0..mem.geometry.slots {
            if mem.look(next) != Look::Ready {
                break;
            }
            next += 1;
        }
        mem.control().publisher.head.store(next, Ordering::Release);
        Ok(PublisherRing {
            mem,
            next,
            limit: 0,
            // Never an epoch: the first claim reads the cursors.
            seen_epoch: u64::MAX,
        })
    }

    pub(crate) fn memory(&self) -> &PubSubMemory {
        &self.mem
    }

    /// Sequence number of the next message.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Claims the slot of the next message without publishing anything.
    #[inline]
    pub(crate) fn try_claim(&mut self, len: usize) -> Result<SlotClaim, ClaimError> {
        let g = self.mem.geometry;
        if len as u64 > g.slot_size {
            return Err(ClaimError::TooLarge);
        }
        let seq = self.next;
        let slot = self.mem.slot(seq);
        match g.delivery {
            Delivery::Lossless => {
                // Pairs with the joiner's heavy fence: our `head` store
                // (at the last publication) comes before this load.
                light_fence();
                // Acquire: pairs with the joiner's AcqRel bump, so the
                // entry it wrote first is seen by the rescan.
                let epoch = self.mem.membership().epoch.load(Ordering::Acquire);
                if epoch != self.seen_epoch || seq >= self.limit {
                    self.seen_epoch = epoch;
                    self.limit = self.mem.slowest_cursor(seq).saturating_add(g.slots);
                    if seq >= self.limit {
                        return Err(ClaimError::Full);
                    }
                }
            }
            Delivery::Lossy => {
                // Relaxed store, then a Release fence: a subscriber whose
                // copy sees any byte written after this fence sees this
                // stamp (or a later one) when it checks again.
                self.mem
                    .stamp(slot)
                    .store(STAMP_BUSY | seq.wrapping_add(1), Ordering::Relaxed);
                seqlock_fence(Ordering::Release);
            }
        }
        Ok(SlotClaim {
            seq,
            slot,
            len: len as u64,
        })
    }

    /// Whether a lossless publisher at its next message may write it now:
    /// what it waits for.
    pub(crate) fn has_room(&self) -> bool {
        self.next
            < self
                .mem
                .slowest_cursor(self.next)
                .saturating_add(self.mem.geometry.slots)
    }

    /// Publishes `claim` holding `len <= claim.len` bytes.
    #[inline]
    pub(crate) fn publish(&mut self, claim: SlotClaim, len: u64) {
        debug_assert!(len <= claim.len);
        // Relaxed: published by the Release stamp below.
        self.mem.length(claim.slot).store(len, Ordering::Relaxed);
        // Release: pairs with the subscribers' Acquire load of the stamp;
        // the length and payload become visible with it.
        self.mem
            .stamp(claim.slot)
            .store(claim.seq.wrapping_add(1), Ordering::Release);
        self.next = claim.seq + 1;
        // Release: pairs with `head()` (joiners, lagging subscribers).
        self.mem
            .control()
            .publisher
            .head
            .store(self.next, Ordering::Release);
    }
}

/// A published message found by a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its sequence number.
    pub(crate) seq: u64,
    /// Data-area offset of the payload.
    pub(crate) offset: u64,
    /// Payload length.
    pub(crate) len: u64,
}

/// What a subscriber's look at its cursor gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// A message.
    Message(Found),
    /// Nothing yet.
    Empty,
    /// This many messages were lost; the cursor moved past them.
    Lagged(u64),
}

/// A subscriber's side.
#[derive(Debug)]
pub(crate) struct SubscriberRing {
    mem: PubSubMemory,
    /// Its entry (the index checked once, in `new`).
    entry: NonNull<SubscriberEntry>,
    cursor: u64,
    /// The cursor as last stored in the entry, for the publisher.
    shown: u64,
    /// How far `cursor` may run ahead of `shown` (see [`Self::release`]).
    batch: u64,
    received: u64,
    missed: u64,
}

// SAFETY: `entry` points to an entry of the shared memory `mem` covers,
// all atomics, as `PubSubMemory`'s pointers do (Send and Sync for the same
// reason); it is only read and written through those atomics.
unsafe impl Send for SubscriberRing {}
// SAFETY: as above; `&SubscriberRing` only reads.
unsafe impl Sync for SubscriberRing {}

impl SubscriberRing {
    /// A subscriber on entry `index` (which the caller holds), reading
    /// from `cursor` on.
    pub(crate) fn new(mem: PubSubMemory, index: usize, cursor: u64) -> SubscriberRing {
        let entry = mem.entry(index);
        // Relaxed: statistics of an entry we hold.
        let received = entry.received.load(Ordering::Relaxed);
        let missed = entry.missed.load(Ordering::Relaxed);
        SubscriberRing {
            entry: NonNull::from(entry),
            // A lossy publisher never reads cursors: storing one costs a
            // store to the subscriber's own line, and keeps `stat` exact.
            batch: match mem.geometry.delivery {
                Delivery::Lossless => {
                    (mem.geometry.slots / CURSOR_BATCHES).clamp(1, MAX_CURSOR_BATCH)
                }
                Delivery::Lossy => 1,
            },
            mem,
            cursor,
            shown: cursor,
            received,
            missed,
        }
    }

    pub(crate) fn memory(&self) -> &PubSubMemory {
        &self.mem
    }

    #[inline(always)]
    fn entry(&self) -> &SubscriberEntry {
        // SAFETY: made from `mem.entry(index)`, which checked the index;
        // the entry lives as long as `mem` (its contract).
        unsafe { self.entry.as_ref() }
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Messages this subscriber lost to the publisher so far.
    pub(crate) fn missed(&self) -> u64 {
        self.missed
    }

    /// Looks at the cursor. A message too long for its slot is corrupt in
    /// a lossless ring; in a lossy one it may be a length torn by the
    /// publisher rewriting the slot, which the stamp then tells.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<Next, Corruption> {
        let seq = self.cursor;
        let slot = self.mem.slot(seq);
        match self.mem.look_at(slot, seq) {
            Look::NotYet => Ok(Next::Empty),
            Look::Overwritten { stamp } => self.lagged(stamp),
            Look::Ready => {
                // Relaxed: published with the stamp we acquired.
                let len = self.mem.length(slot).load(Ordering::Relaxed);
                if len > self.mem.geometry.slot_size {
                    if let Look::Overwritten { stamp } = self.recheck(seq) {
                        return self.lagged(stamp);
                    }
                    return Err(Corruption("message length out of range"));
                }
                Ok(Next::Message(Found {
                    seq,
                    offset: slot.0 + SLOT_HEADER,
                    len,
                }))
            }
        }
    }

    /// The stamp of `seq`'s slot again, after the reads of its content.
    fn recheck(&self, seq: u64) -> Look {
        // Acquire fence: pairs with the publisher's Release fence after it
        // stamped the slot busy; if any byte we read was written after
        // that fence, this load sees the busy stamp (or a later one).
        seqlock_fence(Ordering::Acquire);
        // Relaxed: ordered by the fence above.
        classify(
            self.mem.stamp(self.mem.slot(seq)).load(Ordering::Relaxed),
            seq,
        )
    }

    /// The message at the cursor was overwritten by message `stamp - 1`:
    /// moves to the oldest message no claim can be overwriting now.
    #[cold]
    fn lagged(&mut self, stamp: u64) -> Result<Next, Corruption> {
        let g = self.mem.geometry;
        // The publisher has claimed `stamp - 1` at least; `head` may say
        // more. Claiming `h` destroys `h - slots`, so `h + 1 - slots` is
        // safe from every claim up to `h`.
        let claimed = (stamp - 1).max(self.mem.head());
        if claimed >= MAX_SEQUENCE {
            return Err(Corruption("a stamp or the head is out of range"));
        }
        let oldest = (claimed + 1).saturating_sub(g.slots).max(self.cursor + 1);
        let lost = oldest - self.cursor;
        self.cursor = oldest;
        self.missed += lost;
        // Relaxed: statistics.
        self.entry().missed.store(self.missed, Ordering::Relaxed);
        self.show_cursor();
        Ok(Next::Lagged(lost))
    }

    /// Copies the message `found` into `dst` (resized to its length) and
    /// checks that it was not overwritten meanwhile (lossy rings; in a
    /// lossless one it cannot be and the check always passes). `Ok(false)`:
    /// it was, and the cursor moved past what was lost.
    pub(crate) fn copy_validated(
        &mut self,
        found: &Found,
        dst: &mut Vec<u8>,
    ) -> Result<Option<u64>, Corruption> {
        dst.clear();
        self.mem
            .slots
            .read_racing(found.offset, found.len as usize, dst);
        match self.recheck(found.seq) {
            Look::Ready => Ok(None),
            Look::Overwritten { stamp } => match self.lagged(stamp)? {
                Next::Lagged(n) => Ok(Some(n)),
                _ => Ok(Some(0)),
            },
            Look::NotYet => Err(Corruption("a published stamp went back")),
        }
    }

    /// Passes `found`. The cursor is shown to the publisher (which may
    /// then reuse the slots behind it) once it is `batch` messages ahead
    /// of what was last shown, and by [`show_cursor`](Self::show_cursor)
    /// when the subscriber finds nothing to read: a lossless publisher
    /// kept waiting by a subscriber that reads on gets room back a batch
    /// at a time, not one slot per message, which would pass the entry's
    /// line between the two for every message of a full ring. Returns
    /// whether the cursor was shown (a waiting publisher is then woken).
    #[inline]
    pub(crate) fn release(&mut self, found: &Found) -> bool {
        self.cursor = found.seq + 1;
        self.received += 1;
        let entry = self.entry();
        // Relaxed: for `stat`; on the entry's second line, which the
        // publisher never polls.
        entry.position.store(self.cursor, Ordering::Relaxed);
        entry.received.store(self.received, Ordering::Relaxed);
        if self.cursor.wrapping_sub(self.shown) < self.batch {
            return false;
        }
        self.show_cursor();
        true
    }

    /// Stores the cursor (and the count received) in the entry, if it
    /// moved since it was last stored; returns whether it did.
    pub(crate) fn show_cursor(&mut self) -> bool {
        if self.shown == self.cursor {
            return false;
        }
        self.shown = self.cursor;
        let entry = self.entry();
        // Relaxed: for `stat` (a lag moves the cursor without a message).
        entry.position.store(self.cursor, Ordering::Relaxed);
        // Release: pairs with the publisher's Acquire load of cursors; our
        // reads of the slots before it finish before they are written
        // again.
        entry.cursor.store(self.cursor, Ordering::Release);
        true
    }
}
