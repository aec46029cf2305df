//! The MPMC queue: Dmitry Vyukov's bounded queue over shared memory, one
//! per priority level.
//!
//! Each slot has a sequence number. For the slot at position `pos` (index
//! `pos & (slots - 1)`):
//!
//! | sequence       | meaning                                            |
//! |----------------|----------------------------------------------------|
//! | `pos`          | free for the sender that claims position `pos`     |
//! | `pos + 1`      | holds the message of position `pos`                |
//! | `pos + slots`  | freed by its receiver: free for position `pos + slots` |
//!
//! A sender claims a position by moving `enqueue` from `pos` to `pos + 1`
//! with a CAS once it saw the slot free, writes length and payload, and
//! publishes with a Release store of `pos + 1`. A receiver claims by moving
//! `dequeue` once it saw `pos + 1`, reads, and frees the slot with a
//! Release store of `pos + slots`. The CAS on the position decides which
//! of several senders (receivers) owns a slot; the sequence number hands
//! it between the two sides. Nothing here calls the kernel.
#![allow(unsafe_code)]

use super::Corruption;
use super::data::DataArea;
use crate::layout::mpmc::{LevelPositions, MpmcControl, MpmcGeometry, SKIPPED, SLOT_HEADER};
use crate::sync::Ordering;
use std::ptr::NonNull;

/// Attempts before a claim gives up under contention (or against a peer
/// that keeps rewriting positions): the caller sees Full/Empty and, if it
/// blocks, waits and tries again, so a hostile peer cannot pin it here.
const CLAIM_ATTEMPTS: u32 = 1024;

/// The shared memory of one MPMC queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MpmcMemory {
    control: NonNull<MpmcControl>,
    levels: NonNull<LevelPositions>,
    slots: DataArea,
    geometry: MpmcGeometry,
}

// SAFETY: all shared state behind the pointers is atomics (see DataArea).
unsafe impl Send for MpmcMemory {}
// SAFETY: as above; every method takes `&self` and works through atomics.
unsafe impl Sync for MpmcMemory {}

/// A slot position owned by this side until published or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotClaim {
    pos: u64,
    /// Byte offset of the slot in the slot area.
    offset: u64,
    /// Payload length (receiving side only).
    pub(crate) len: u64,
}

impl MpmcMemory {
    /// # Safety
    /// `control` points to an initialised control block, `levels` to
    /// `geometry.levels` position pairs, and `slots` covers every slot of
    /// every level; all stay valid while this value or a copy is used.
    pub(crate) unsafe fn new(
        control: NonNull<MpmcControl>,
        levels: NonNull<LevelPositions>,
        slots: DataArea,
        geometry: MpmcGeometry,
    ) -> MpmcMemory {
        MpmcMemory {
            control,
            levels,
            slots,
            geometry,
        }
    }

    #[inline(always)]
    pub(crate) fn control(&self) -> &MpmcControl {
        // SAFETY: valid per `new`'s contract.
        unsafe { self.control.as_ref() }
    }

    pub(crate) fn geometry(&self) -> MpmcGeometry {
        self.geometry
    }

    #[inline(always)]
    fn level(&self, level: u32) -> &LevelPositions {
        assert!(level < self.geometry.levels, "priority level out of range");
        // SAFETY: `level` is in range (asserted) and the array is valid
        // per `new`'s contract.
        unsafe { self.levels.add(level as usize).as_ref() }
    }

    #[inline(always)]
    fn slot_offset(&self, level: u32, pos: u64) -> u64 {
        let index = u64::from(level) * self.geometry.slots + (pos & (self.geometry.slots - 1));
        index * self.geometry.stride()
    }

    /// Claims the next free slot of `level` for sending. `Ok(None)`: full
    /// (or contended past the attempt bound).
    #[inline]
    pub(crate) fn try_claim_send(&self, level: u32) -> Option<SlotClaim> {
        let enqueue = &self.level(level).enqueue;
        let mut pos = enqueue.load(Ordering::Relaxed);
        for _ in 0..CLAIM_ATTEMPTS {
            let offset = self.slot_offset(level, pos);
            // Acquire: pairs with the receiver's Release that freed the
            // slot, so its reads finish before we overwrite.
            let seq = self.slots.word(offset).load(Ordering::Acquire);
            let lag = seq.wrapping_sub(pos) as i64;
            if lag == 0 {
                // Relaxed: the CAS only arbitrates between senders; the
                // slot's sequence number carries the synchronisation.
                match enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        return Some(SlotClaim {
                            pos,
                            offset,
                            len: 0,
                        });
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                // The slot still holds the message of `pos - slots`.
                return None;
            } else {
                pos = enqueue.load(Ordering::Relaxed);
            }
        }
        None
    }

    /// Data-area offset of a claimed slot's payload.
    #[inline(always)]
    pub(crate) fn payload_offset(&self, claim: &SlotClaim) -> u64 {
        claim.offset + SLOT_HEADER
    }

    pub(crate) fn slots(&self) -> &DataArea {
        &self.slots
    }

    /// Publishes a claimed slot holding `len` bytes (or [`SKIPPED`]).
    #[inline]
    pub(crate) fn publish(&self, claim: SlotClaim, len: u32) {
        // Relaxed: published by the Release store of the sequence below.
        self.slots
            .word(claim.offset + 8)
            .store(u64::from(len), Ordering::Relaxed);
        // Release: pairs with the receiver's Acquire load of the sequence;
        // length and payload become visible with it.
        self.slots
            .word(claim.offset)
            .store(claim.pos.wrapping_add(1), Ordering::Release);
    }

    /// Claims the oldest message of the highest non-empty level.
    /// `Ok(None)`: empty (or contended past the attempt bound).
    #[inline]
    pub(crate) fn try_claim_recv(&self) -> Result<Option<SlotClaim>, Corruption> {
        for level in (0..self.geometry.levels).rev() {
            if let Some(claim) = self.try_claim_recv_level(level)? {
                return Ok(Some(claim));
            }
        }
        Ok(None)
    }

    fn try_claim_recv_level(&self, level: u32) -> Result<Option<SlotClaim>, Corruption> {
        let dequeue = &self.level(level).dequeue;
        let mut pos = dequeue.load(Ordering::Relaxed);
        for _ in 0..CLAIM_ATTEMPTS {
            let offset = self.slot_offset(level, pos);
            // Acquire: pairs with the sender's Release publication.
            let seq = self.slots.word(offset).load(Ordering::Acquire);
            let lag = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if lag == 0 {
                // Relaxed: arbitration between receivers only.
                match dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let word = self.slots.word(offset + 8).load(Ordering::Relaxed);
                        let claim = SlotClaim {
                            pos,
                            offset,
                            len: word,
                        };
                        if word == u64::from(SKIPPED) {
                            // Given up by its sender: free it and go on.
                            self.release(claim);
                            pos = dequeue.load(Ordering::Relaxed);
                            continue;
                        }
                        if word > self.geometry.slot_size {
                            // Free the slot anyway so the queue moves on.
                            self.release(claim);
                            return Err(Corruption("slot length out of range"));
                        }
                        return Ok(Some(claim));
                    }
                    Err(current) => pos = current,
                }
            } else if lag < 0 {
                return Ok(None);
            } else {
                pos = dequeue.load(Ordering::Relaxed);
            }
        }
        Ok(None)
    }

    /// Frees a received slot for the sender one lap later.
    #[inline]
    pub(crate) fn release(&self, claim: SlotClaim) {
        // Release: pairs with the sender's Acquire load of the sequence;
        // our reads of the slot happen before it is reused.
        self.slots.word(claim.offset).store(
            claim.pos.wrapping_add(self.geometry.slots),
            Ordering::Release,
        );
    }

    /// Whether some level holds a message: what a parked receiver waits for.
    pub(crate) fn has_message(&self) -> bool {
        (0..self.geometry.levels).any(|level| {
            let pos = self.level(level).dequeue.load(Ordering::Relaxed);
            // Acquire: pairs with the sender's publication.
            let seq = self
                .slots
                .word(self.slot_offset(level, pos))
                .load(Ordering::Acquire);
            seq == pos.wrapping_add(1)
        })
    }

    /// Whether `level` has a free slot: what a parked sender waits for.
    pub(crate) fn has_room(&self, level: u32) -> bool {
        let pos = self.level(level).enqueue.load(Ordering::Relaxed);
        // Acquire: pairs with the receiver's release of the slot.
        let seq = self
            .slots
            .word(self.slot_offset(level, pos))
            .load(Ordering::Acquire);
        seq == pos || (seq.wrapping_sub(pos) as i64) > 0
    }

    /// Messages published or being written and not yet received, over all
    /// levels (queries only: positions move while this runs).
    pub(crate) fn messages_in_flight(&self) -> u64 {
        (0..self.geometry.levels)
            .map(|level| {
                let l = self.level(level);
                let enqueued = l.enqueue.load(Ordering::Relaxed);
                let dequeued = l.dequeue.load(Ordering::Relaxed);
                enqueued.wrapping_sub(dequeued).min(self.geometry.slots)
            })
            .sum()
    }

    /// Writes the initial sequence numbers: slot `i` of every level is
    /// free for position `i`. Called by the creator before publishing.
    pub(crate) fn initialise(&self) {
        for level in 0..self.geometry.levels {
            for pos in 0..self.geometry.slots {
                // Relaxed: published by the header's init-state Release.
                self.slots
                    .word(self.slot_offset(level, pos))
                    .store(pos, Ordering::Relaxed);
            }
        }
    }
}
