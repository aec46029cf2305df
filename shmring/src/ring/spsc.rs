//! The SPSC byte ring: variable-length records, one producer, one consumer.
//!
//! Positions are byte counts since creation (`u64`, never wrap in
//! practice); a position's offset in the data area is `pos & (capacity-1)`.
//!
//! | word                   | written by | read by                        |
//! |------------------------|------------|--------------------------------|
//! | record header at `pos` | producer   | consumer (publication marker)  |
//! | `consumer.read_pos`    | consumer   | producer, when it seems full   |
//! | `producer.write_pos`   | producer   | queries and a restarting producer only |
//!
//! Publishing a record: (1) zero the header slot right after it, (2) copy
//! the payload, (3) store its header with Release. The consumer polls the
//! header at its position with Acquire: 0 means empty. Step (1) is why a
//! stale header from an older lap can never be read as a new one: the slot
//! the consumer looks at next was zeroed before the record that leads to
//! it was published. A record that would cross the end of the data area is
//! preceded by a padding record that fills the ring up to its end; the
//! padding header is then the publication marker for both.
//!
//! Free space: the producer may write up to `read_pos + capacity`, minus
//! the 8 bytes of the zeroed next header.
#![allow(unsafe_code)]

use super::Corruption;
use super::data::{DataArea, ReadView, WriteView};
use crate::layout::record::{self, RECORD_ALIGN, Record, record_size};
use crate::layout::spsc::{MAX_POSITION, SpscControl, SpscGeometry};
use crate::sync::Ordering;
use std::ptr::NonNull;

/// Ordering of a single record's publication store. The deliberately
/// broken build (`--cfg shmring_loom_broken`, loom models only) weakens it
/// to show that the models catch a missing Release (docs/verification.md).
#[cfg(not(shmring_loom_broken))]
const PUBLISH: Ordering = Ordering::Release;
#[cfg(shmring_loom_broken)]
const PUBLISH: Ordering = Ordering::Relaxed;

/// The shared memory of one SPSC ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpscMemory {
    control: NonNull<SpscControl>,
    data: DataArea,
    geometry: SpscGeometry,
}

// SAFETY: all shared state behind the pointers is atomics (see DataArea).
unsafe impl Send for SpscMemory {}

impl SpscMemory {
    /// # Safety
    /// `control` points to an initialised control block and `data` to
    /// `geometry.capacity` bytes of data area, both valid for as long as
    /// this value or a copy of it (or a ring built on it) is used.
    pub(crate) unsafe fn new(
        control: NonNull<SpscControl>,
        data: DataArea,
        geometry: SpscGeometry,
    ) -> SpscMemory {
        assert_eq!(
            data.len(),
            geometry.capacity,
            "data area and geometry disagree"
        );
        SpscMemory {
            control,
            data,
            geometry,
        }
    }

    #[inline(always)]
    pub(crate) fn control(&self) -> &SpscControl {
        // SAFETY: valid per `new`'s contract.
        unsafe { self.control.as_ref() }
    }

    pub(crate) fn geometry(&self) -> SpscGeometry {
        self.geometry
    }

    /// The data area's length. Read from the area itself, not from the
    /// geometry (they are equal: `new`), so that the compiler sees the
    /// bounds the ring checks and the bounds the area checks as one value
    /// and drops the second check.
    #[inline(always)]
    fn capacity(&self) -> u64 {
        self.data.len()
    }

    /// Bytes between the published positions (queries only; both sides
    /// move on while this runs).
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        let c = self.control();
        let write = c.producer.write_pos.load(Ordering::Relaxed);
        let read = c.consumer.read_pos.load(Ordering::Relaxed);
        write.saturating_sub(read).min(self.geometry.capacity)
    }

    /// Messages published and not yet released (queries only).
    pub(crate) fn messages_in_flight(&self) -> u64 {
        let c = self.control();
        let sent = c.producer.sent.load(Ordering::Relaxed);
        let received = c.consumer.received.load(Ordering::Relaxed);
        // At most one message per 8 bytes can be in flight; anything else
        // is a torn read of two moving counters or a corrupt segment.
        sent.wrapping_sub(received).min(self.geometry.capacity / 8)
    }

    /// Whether a record (or padding) is published at `pos`: the condition
    /// a parked consumer waits for.
    #[inline]
    pub(crate) fn published_at(&self, pos: u64) -> bool {
        // Acquire: pairs with the producer's Release publication store.
        self.data.word_at(pos).load(Ordering::Acquire) != 0
    }

    /// Whether the producer at `write_pos` has room for a record of
    /// `need` bytes: the condition a parked producer waits for.
    pub(crate) fn has_room(&self, write_pos: u64, need: u64) -> bool {
        // Acquire: pairs with the consumer's Release of `read_pos`.
        let read = self.control().consumer.read_pos.load(Ordering::Acquire);
        // An impossible position also ends the wait: the claim that
        // follows reports it as corruption instead of sleeping on it.
        read > write_pos || write_pos + need - read <= self.geometry.capacity
    }
}

/// Why a record could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// Longer than the ring's maximum message size.
    TooLarge,
    /// Not enough free space now; `need` is the space to wait for.
    Full { need: u64 },
    /// The consumer's position is impossible.
    Corrupt(Corruption),
}

/// A claimed, unpublished record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    /// Position of the record header.
    start: u64,
    /// Bytes of padding before it (0, or up to the end of the area).
    padding: u64,
    /// Payload bytes claimed.
    pub(crate) len: u64,
}

impl Claim {
    /// Data-area offset of the payload.
    pub(crate) fn payload_offset(&self, mask: u64) -> u64 {
        (self.start & mask) + record::RECORD_HEADER
    }
}

/// The producer's side: process-local positions over shared memory.
#[derive(Debug)]
pub(crate) struct SpscProducerRing {
    mem: SpscMemory,
    write_pos: u64,
    /// Last `read_pos` seen; refreshed only when the ring looks full.
    cached_read: u64,
    sent: u64,
    /// Publication store held back until the batch ends (offset, word).
    deferred: Option<(u64, u64)>,
}

impl SpscProducerRing {
    /// Attaches at the end of whatever an earlier producer published.
    ///
    /// A producer that died between publishing a record and storing
    /// `write_pos` left published records past `write_pos`; walking the
    /// headers from there up to the first zero finds the true end, because
    /// every publication zeroed the header slot after it first.
    pub(crate) fn attach(mem: SpscMemory) -> Result<SpscProducerRing, Corruption> {
        let c = mem.control();
        let capacity = mem.geometry.capacity;
        let stored_write = c.producer.write_pos.load(Ordering::Relaxed);
        // Acquire: pairs with the consumer's Release of `read_pos`.
        let read = c.consumer.read_pos.load(Ordering::Acquire);
        if stored_write.wrapping_sub(read) > capacity && read.wrapping_sub(stored_write) > capacity
        {
            return Err(Corruption(
                "producer and consumer positions are a lap apart",
            ));
        }
        if stored_write >= MAX_POSITION || read >= MAX_POSITION {
            return Err(Corruption("a ring position is out of range"));
        }
        if stored_write % RECORD_ALIGN != 0 || read % RECORD_ALIGN != 0 {
            return Err(Corruption("a ring position is not record-aligned"));
        }
        let mut pos = stored_write.max(read);
        let mut sent = c.producer.sent.load(Ordering::Relaxed);
        let mask = capacity - 1;
        for _ in 0..capacity / 8 {
            // Acquire: pairs with the dead producer's publication stores.
            let word = mem.data.word_at(pos).load(Ordering::Acquire);
            if word == 0 {
                break;
            }
            let step = match record::decode(word) {
                Some(Record::Message { len }) if len <= mem.geometry.max_message => {
                    sent = sent.wrapping_add(1);
                    record_size(len)
                }
                Some(Record::Padding { total }) if total == capacity - (pos & mask) => total,
                _ => return Err(Corruption("unreadable record header while recovering")),
            };
            if (pos & mask) + step > capacity || pos + step - read > capacity {
                return Err(Corruption(
                    "record runs past the free space while recovering",
                ));
            }
            pos += step;
        }
        c.producer.write_pos.store(pos, Ordering::Relaxed);
        c.producer.sent.store(sent, Ordering::Relaxed);
        Ok(SpscProducerRing {
            mem,
            write_pos: pos,
            cached_read: read,
            sent,
            deferred: None,
        })
    }

    pub(crate) fn memory(&self) -> &SpscMemory {
        &self.mem
    }

    pub(crate) fn write_pos(&self) -> u64 {
        self.write_pos
    }

    /// Space to claim for a `len`-byte message at the current position,
    /// wrap-around padding and the zeroed next header included.
    #[inline(always)]
    fn span(&self, len: u64) -> (u64, u64) {
        let capacity = self.mem.capacity();
        let rec = record_size(len);
        let contiguous = capacity - (self.write_pos & (capacity - 1));
        let padding = if rec <= contiguous { 0 } else { contiguous };
        (padding, padding + rec + record::RECORD_HEADER)
    }

    /// Claims room for a `len`-byte payload without publishing anything.
    #[inline]
    pub(crate) fn try_claim(&mut self, len: usize) -> Result<Claim, ClaimError> {
        let len = len as u64;
        if len > self.mem.geometry.max_message {
            return Err(ClaimError::TooLarge);
        }
        let capacity = self.mem.capacity();
        let (padding, need) = self.span(len);
        if self.write_pos + need - self.cached_read > capacity {
            // Acquire: pairs with the consumer's Release of `read_pos`, so
            // its reads of the freed records finish before we overwrite.
            let read = self.mem.control().consumer.read_pos.load(Ordering::Acquire);
            if read > self.write_pos
                || self.write_pos - read > capacity
                || read < self.cached_read
                || read % RECORD_ALIGN != 0
            {
                return Err(ClaimError::Corrupt(Corruption(
                    "consumer position is out of range",
                )));
            }
            self.cached_read = read;
            if self.write_pos + need - read > capacity {
                return Err(ClaimError::Full { need });
            }
        }
        Ok(Claim {
            start: self.write_pos + padding,
            padding,
            len,
        })
    }

    /// Copies `bytes` into the payload of `claim`.
    #[inline(always)]
    pub(crate) fn write_payload(&self, claim: &Claim, bytes: &[u8]) {
        debug_assert!(bytes.len() as u64 <= claim.len);
        self.mem
            .data
            .write(claim.payload_offset(self.mask()), bytes);
    }

    /// A view of the payload of `claim`, to write in place.
    ///
    /// # Safety
    /// The view must be finished or dropped before the claim is published,
    /// and the ring's memory must outlive it.
    #[inline(always)]
    pub(crate) unsafe fn write_view(&self, claim: &Claim) -> WriteView {
        // SAFETY: the claim lies in free space that only the producer
        // writes and the consumer cannot reach before publication; the
        // caller keeps the memory alive.
        unsafe { WriteView::new(&self.mem.data, claim.payload_offset(self.mask()), claim.len) }
    }

    #[inline(always)]
    fn mask(&self) -> u64 {
        self.mem.capacity() - 1
    }

    /// Publishes `claim` holding `len <= claim.len` bytes. Inside a batch
    /// ([`begin_batch`](Self::begin_batch)) the first record's publication
    /// is held back until [`end_batch`](Self::end_batch).
    #[inline(always)]
    pub(crate) fn publish(&mut self, claim: Claim, len: u64, batch: bool) {
        debug_assert!(len <= claim.len);
        let mask = self.mask();
        let end = claim.start + record_size(len);
        let data = &self.mem.data;
        // Relaxed: ordered before the consumer's read of it by the Release
        // publication store below (or at the end of the batch).
        data.word_at(end).store(0, Ordering::Relaxed);
        let header = record::encode_message(len);
        let publication = if claim.padding == 0 {
            (claim.start & mask, header)
        } else {
            // Relaxed: the padding header's Release publishes this too.
            data.word_at(claim.start).store(header, Ordering::Relaxed);
            (
                (claim.start - claim.padding) & mask,
                record::encode_padding(claim.padding),
            )
        };
        if batch && self.deferred.is_none() {
            self.deferred = Some(publication);
        } else if batch {
            // Relaxed: the consumer cannot get here before it has seen the
            // batch's first header, which is stored last with Release.
            data.word_at(publication.0)
                .store(publication.1, Ordering::Relaxed);
        } else {
            // Release: pairs with the consumer's Acquire load of this
            // header; the payload and the zeroed next header become
            // visible with it.
            data.word_at(publication.0).store(publication.1, PUBLISH);
        }
        self.write_pos = end;
        self.sent = self.sent.wrapping_add(1);
        if !batch {
            self.store_position();
        }
    }

    /// Starts holding back publications (see [`publish`](Self::publish)).
    pub(crate) fn begin_batch(&mut self) {
        debug_assert!(self.deferred.is_none());
    }

    /// Publishes every record published since [`begin_batch`] at once.
    pub(crate) fn end_batch(&mut self) {
        if let Some((off, word)) = self.deferred.take() {
            // Release: pairs with the consumer's Acquire load; every record
            // of the batch was fully written before this store.
            self.mem.data.word_at(off).store(word, Ordering::Release);
            self.store_position();
        }
    }

    #[inline(always)]
    fn store_position(&self) {
        let line = &self.mem.control().producer;
        // Relaxed: statistics and producer recovery only; consumers learn
        // about records from their headers.
        line.write_pos.store(self.write_pos, Ordering::Relaxed);
        line.sent.store(self.sent, Ordering::Relaxed);
    }
}

/// A published record found by the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Data-area offset of the payload.
    pub(crate) offset: u64,
    /// Payload length.
    pub(crate) len: u64,
    /// Position after the record.
    pub(crate) end: u64,
}

/// The consumer's side.
#[derive(Debug)]
pub(crate) struct SpscConsumerRing {
    mem: SpscMemory,
    read_pos: u64,
    received: u64,
}

impl SpscConsumerRing {
    /// Attaches where the last consumer released. A consumer that died
    /// while holding a message had not released it: it is delivered again.
    pub(crate) fn attach(mem: SpscMemory) -> Result<SpscConsumerRing, Corruption> {
        let line = &mem.control().consumer;
        let read_pos = line.read_pos.load(Ordering::Relaxed);
        if read_pos % RECORD_ALIGN != 0 || read_pos >= MAX_POSITION {
            return Err(Corruption("the consumer position is invalid"));
        }
        let received = line.received.load(Ordering::Relaxed);
        Ok(SpscConsumerRing {
            mem,
            read_pos,
            received,
        })
    }

    pub(crate) fn memory(&self) -> &SpscMemory {
        &self.mem
    }

    pub(crate) fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// Finds the next message, stepping over a padding record. `Ok(None)`
    /// when nothing is published. Every header is validated: a garbage
    /// header gives `Corruption`, never an out-of-bounds access.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<Option<Found>, Corruption> {
        let capacity = self.mem.capacity();
        let mask = capacity - 1;
        let mut pos = self.read_pos;
        // At most one padding record precedes a message.
        for _ in 0..2 {
            let off = pos & mask;
            // Acquire: pairs with the producer's Release publication store,
            // making the payload (and the zeroed next header) visible.
            let word = self.mem.data.word_at(off).load(Ordering::Acquire);
            if word == 0 {
                return Ok(None);
            }
            match record::decode(word) {
                Some(Record::Message { len }) => {
                    if len > self.mem.geometry.max_message || off + record_size(len) > capacity {
                        return Err(Corruption("record length out of range"));
                    }
                    let offset = off + record::RECORD_HEADER;
                    return Ok(Some(Found {
                        offset,
                        len,
                        end: pos + record_size(len),
                    }));
                }
                Some(Record::Padding { total }) if off != 0 && total == capacity - off => {
                    // Skipping is local until the message after it is
                    // released; a restarted consumer re-reads the padding.
                    pos += total;
                    self.read_pos = pos;
                }
                _ => return Err(Corruption("invalid record header")),
            }
        }
        Err(Corruption("padding follows padding"))
    }

    /// Copies the payload of `found` into `dst` (which has `found.len` bytes).
    #[inline(always)]
    pub(crate) fn read_payload(&self, found: &Found, dst: &mut [u8]) {
        self.mem.data.read(found.offset, dst);
    }

    /// Calls `f` with the payload of `found`: in place, or (loom) a copy.
    #[inline(always)]
    pub(crate) fn with_payload<R>(&self, found: &Found, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: the view ends before this returns, and so before the
        // caller can release `found`; `self` keeps the memory alive.
        let view = unsafe { self.read_view(found) };
        f(view.bytes())
    }

    /// A view of the payload of `found`, read in place.
    ///
    /// # Safety
    /// The view must be dropped before `found` is released, and the
    /// ring's memory must outlive it.
    #[inline(always)]
    pub(crate) unsafe fn read_view(&self, found: &Found) -> ReadView {
        // SAFETY: the record is published and not yet released, so the
        // producer will not write it; the caller ends the view first.
        unsafe { ReadView::new(&self.mem.data, found.offset, found.len) }
    }

    /// Hands the space of `found` back to the producer (`publish = false`
    /// defers the shared store: see [`publish_release`](Self::publish_release)).
    #[inline(always)]
    pub(crate) fn release(&mut self, found: &Found, publish: bool) {
        self.read_pos = found.end;
        self.received = self.received.wrapping_add(1);
        if publish {
            self.publish_release();
        }
    }

    /// Makes every local release visible to the producer.
    #[inline(always)]
    pub(crate) fn publish_release(&self) {
        let line = &self.mem.control().consumer;
        // Relaxed: statistics only.
        line.received.store(self.received, Ordering::Relaxed);
        // Release: pairs with the producer's Acquire load of `read_pos`;
        // our reads of the released records happen before it reuses them.
        line.read_pos.store(self.read_pos, Ordering::Release);
    }
}
