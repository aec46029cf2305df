//! The MPMC queue: Dmitry Vyukov's bounded queue over shared memory, one
//! per priority level, with slots claimed in the slot itself so that a
//! process that dies holding one can be found and unblocked.
//!
//! Each slot has a sequence word (encodings in `layout/mpmc.rs`). For the
//! slot of position `pos` (index `pos & (slots - 1)`), its life is:
//!
//! | step                          | sequence                          | done by                 |
//! |-------------------------------|-----------------------------------|-------------------------|
//! | free for `pos`                | `pos`                             | creator / last receiver |
//! | claimed for writing           | writer mark (owner, `pos`)        | sender, CAS             |
//! | published                     | `pos + 1` (or `SKIP \| pos + 1`)   | its sender, Release     |
//! | claimed for reading           | reader mark (owner, `pos`)        | receiver, CAS           |
//! | freed for the next lap        | `pos + slots`                     | its receiver, Release   |
//!
//! The CAS on the sequence word decides which sender (receiver) owns a
//! position, and records who it is. The `enqueue`/`dequeue` counters are
//! hints: whoever sees a claimed slot at the counter's position moves the
//! counter on (a CAS that may fail), so a claimer that dies before moving
//! it stops nobody. A slot marked by a registry entry whose process died
//! is recovered by whoever reaps that entry ([`MpmcMemory::recover`]): a
//! writer mark becomes "published as skipped", a reader mark "freed" (the
//! message it held is dropped), and both are counted. Live owners are never
//! recovered, so publication and release stay plain stores. Nothing here
//! calls the kernel.
#![allow(unsafe_code)]

use super::Corruption;
use super::data::DataArea;
use crate::layout::mpmc::{
    LevelPositions, MpmcControl, MpmcGeometry, SEQ_MARK, SEQ_OWNER_SHIFT, SEQ_POS_MASK,
    SEQ_SKIP_OR_READER, SLOT_HEADER,
};
use crate::sync::Ordering;
use std::ptr::NonNull;

/// Steps (slot looks) before a claim gives up undecided, under contention
/// or against a peer that writes sequence words or counters which keep
/// saying "move on": the claim returns [`Claim::Busy`] and the caller
/// checks its deadline before it looks again, so no peer can pin it here.
const CLAIM_ATTEMPTS: u32 = 1024;

/// What one bounded claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The slot is ours.
    Got(SlotClaim),
    /// Full (sender) or empty (receiver): worth sleeping until woken.
    NotYet,
    /// Undecided after [`CLAIM_ATTEMPTS`] steps. Do not sleep on
    /// `has_room`/`has_message`, which may well keep saying "go" (that is
    /// how a peer writing garbage keeps a claim busy): check the deadline,
    /// back off, look again.
    Busy,
}

/// The writer mark of registry entry `owner` on position `pos`.
#[inline(always)]
fn writer_mark(owner: u32, pos: u64) -> u64 {
    SEQ_MARK | (u64::from(owner) << SEQ_OWNER_SHIFT) | (pos & SEQ_POS_MASK)
}

/// The reader mark of registry entry `owner` on position `pos`.
#[inline(always)]
fn reader_mark(owner: u32, pos: u64) -> u64 {
    writer_mark(owner, pos) | SEQ_SKIP_OR_READER
}

/// How far the position a mark is about lies from `pos` (negative:
/// earlier), from the 40 position bits the mark keeps.
#[inline(always)]
fn mark_distance(seq: u64, pos: u64) -> i64 {
    const UNUSED: u32 = 64 - SEQ_OWNER_SHIFT;
    (((seq & SEQ_POS_MASK).wrapping_sub(pos & SEQ_POS_MASK) << UNUSED) as i64) >> UNUSED
}

/// Where a sequence word stands for a side expecting position `pos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Sender: free for `pos`. Receiver: the message of `pos` is published.
    Ready,
    /// Receiver only: `pos` was published without a message.
    Skipped,
    /// `pos` is taken by another endpoint of this side, or long done: move
    /// the counter on.
    Passed,
    /// Sender: the slot still holds an earlier lap (full). Receiver:
    /// nothing published for `pos` yet (empty), or it is being written.
    NotYet,
}

/// A sender's view of `seq` at position `pos`.
#[inline(always)]
fn sender_sees(seq: u64, pos: u64) -> Seen {
    let distance = if seq & SEQ_MARK != 0 {
        // Any mark on `pos` (writer or, after publication, reader) means
        // taken; a mark on an earlier lap means that lap is not done.
        match mark_distance(seq, pos) {
            0 => return Seen::Passed,
            d => d,
        }
    } else if seq & SEQ_SKIP_OR_READER != 0 {
        match (seq & !SEQ_SKIP_OR_READER).wrapping_sub(pos.wrapping_add(1)) as i64 {
            0 => return Seen::Passed,
            d => d,
        }
    } else {
        match seq.wrapping_sub(pos) as i64 {
            0 => return Seen::Ready,
            1 => return Seen::Passed,
            d => d,
        }
    };
    if distance < 0 {
        Seen::NotYet
    } else {
        Seen::Passed
    }
}

/// A receiver's view of `seq` at position `pos`.
#[inline(always)]
fn receiver_sees(seq: u64, pos: u64) -> Seen {
    let distance = if seq & SEQ_MARK != 0 {
        match mark_distance(seq, pos) {
            // Our position being written: not yet; being read: taken.
            0 if seq & SEQ_SKIP_OR_READER == 0 => return Seen::NotYet,
            0 => return Seen::Passed,
            d => d,
        }
    } else if seq & SEQ_SKIP_OR_READER != 0 {
        match (seq & !SEQ_SKIP_OR_READER).wrapping_sub(pos.wrapping_add(1)) as i64 {
            0 => return Seen::Skipped,
            d => d,
        }
    } else {
        match seq.wrapping_sub(pos.wrapping_add(1)) as i64 {
            0 => return Seen::Ready,
            d => d,
        }
    };
    // Later positions mean `pos` was received already; earlier ones are
    // not possible for the slot at the dequeue position but a hostile
    // peer can write them: treat them as nothing to take.
    if distance > 0 {
        Seen::Passed
    } else {
        Seen::NotYet
    }
}

/// The bit of priority level `level` in a set of levels (levels are at
/// most `layout::mpmc::MAX_LEVELS`, 8).
#[inline(always)]
pub(crate) fn level_bit(level: u32) -> u32 {
    1 << (level % 32)
}

/// Moves a position counter past `pos` if nobody did yet. Relaxed: the
/// counters are hints; the sequence words carry the synchronisation.
#[inline(always)]
fn move_past(counter: &crate::sync::AtomicU64, pos: u64) {
    let _ = counter.compare_exchange(
        pos,
        pos.wrapping_add(1),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}
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
    /// Priority level of the slot (whose senders a release wakes).
    pub(crate) level: u32,
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

    /// Claims the next free slot of `level` for sending, marked as written
    /// by registry entry `owner`, in at most [`CLAIM_ATTEMPTS`] steps.
    #[inline]
    pub(crate) fn try_claim_send(&self, level: u32, owner: u32) -> Claim {
        let enqueue = &self.level(level).enqueue;
        let mut pos = enqueue.load(Ordering::Relaxed);
        for _ in 0..CLAIM_ATTEMPTS {
            let offset = self.slot_offset(level, pos);
            let word = self.slots.word(offset);
            // No load first: the free slot's line was last written by the
            // receiver that released it, so a load would fetch it shared
            // and the exchange then fetch it again to own it. Expecting
            // "free for `pos`" asks for it once; a failure returns what
            // is there instead. Acquire (both): pairs with the receiver's
            // Release that freed the slot, so its reads finish before we
            // overwrite; of several senders expecting `pos`, exactly one
            // moves the word off it.
            let seq = match word.compare_exchange(
                pos,
                writer_mark(owner, pos),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    move_past(enqueue, pos);
                    return Claim::Got(SlotClaim {
                        pos,
                        level,
                        offset,
                        len: 0,
                    });
                }
                Err(seq) => seq,
            };
            match sender_sees(seq, pos) {
                // Another sender took it between: look again.
                Seen::Ready => {}
                Seen::NotYet => return Claim::NotYet,
                Seen::Passed | Seen::Skipped => {
                    move_past(enqueue, pos);
                    pos = enqueue.load(Ordering::Relaxed);
                }
            }
        }
        Claim::Busy
    }

    /// Data-area offset of a claimed slot's payload.
    #[inline(always)]
    pub(crate) fn payload_offset(&self, claim: &SlotClaim) -> u64 {
        claim.offset + SLOT_HEADER
    }

    pub(crate) fn slots(&self) -> &DataArea {
        &self.slots
    }

    /// Publishes a claimed slot holding `len` bytes.
    #[inline]
    pub(crate) fn publish(&self, claim: SlotClaim, len: u32) {
        // Relaxed: published by the Release store of the sequence below.
        self.slots
            .word(claim.offset + 8)
            .store(u64::from(len), Ordering::Relaxed);
        // Release: pairs with the receiver's Acquire load (and claim CAS)
        // of the sequence; length and payload become visible with it. A
        // store, not a CAS: only a dead owner's mark is ever recovered.
        self.slots
            .word(claim.offset)
            .store(claim.pos.wrapping_add(1), Ordering::Release);
    }

    /// Publishes a claimed slot as holding no message: receivers pass it.
    pub(crate) fn publish_skipped(&self, claim: SlotClaim) {
        // Release: as in `publish` (nothing to read, but the slot is handed
        // over with it).
        self.slots.word(claim.offset).store(
            claim.pos.wrapping_add(1) | SEQ_SKIP_OR_READER,
            Ordering::Release,
        );
    }

    /// Claims the oldest message of the highest non-empty level, marked as
    /// read by registry entry `owner`, in at most [`CLAIM_ATTEMPTS`] steps
    /// per level. `NotYet` only if every level said empty.
    ///
    /// Slots it frees on the way (published as skipped, or refused as
    /// corrupt) set their level's bit in `freed_levels`: that is room a
    /// sender of the level may be asleep waiting for, and the caller must
    /// wake one, as a release does (nothing here calls the kernel).
    #[inline]
    pub(crate) fn try_claim_recv(
        &self,
        owner: u32,
        freed_levels: &mut u32,
    ) -> Result<Claim, Corruption> {
        let mut outcome = Claim::NotYet;
        for level in (0..self.geometry.levels).rev() {
            match self.try_claim_recv_level(level, owner, freed_levels)? {
                Claim::Got(claim) => return Ok(Claim::Got(claim)),
                Claim::Busy => outcome = Claim::Busy,
                Claim::NotYet => {}
            }
        }
        Ok(outcome)
    }

    #[inline(always)]
    fn try_claim_recv_level(
        &self,
        level: u32,
        owner: u32,
        freed_levels: &mut u32,
    ) -> Result<Claim, Corruption> {
        let dequeue = &self.level(level).dequeue;
        let mut pos = dequeue.load(Ordering::Relaxed);
        for _ in 0..CLAIM_ATTEMPTS {
            let offset = self.slot_offset(level, pos);
            let word = self.slots.word(offset);
            // Acquire: pairs with the sender's Release publication.
            let seq = word.load(Ordering::Acquire);
            match receiver_sees(seq, pos) {
                Seen::Ready => {
                    // Acquire: as above; exactly one receiver moves the
                    // word off the published value.
                    if word
                        .compare_exchange(
                            seq,
                            reader_mark(owner, pos),
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        move_past(dequeue, pos);
                        // Relaxed: published with the sequence we acquired.
                        let len = self.slots.word(offset + 8).load(Ordering::Relaxed);
                        let claim = SlotClaim {
                            pos,
                            level,
                            offset,
                            len,
                        };
                        if len > self.geometry.slot_size {
                            // Free the slot anyway so the queue moves on.
                            self.release(claim);
                            *freed_levels |= level_bit(level);
                            return Err(Corruption("slot length out of range"));
                        }
                        return Ok(Claim::Got(claim));
                    }
                }
                Seen::Skipped => {
                    // Release: hands the slot to the next lap's sender
                    // (pairs with its Acquire), as a receiver's release.
                    if word
                        .compare_exchange(
                            seq,
                            pos.wrapping_add(self.geometry.slots),
                            Ordering::Release,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        *freed_levels |= level_bit(level);
                        move_past(dequeue, pos);
                        pos = dequeue.load(Ordering::Relaxed);
                    }
                }
                Seen::Passed => {
                    move_past(dequeue, pos);
                    pos = dequeue.load(Ordering::Relaxed);
                }
                Seen::NotYet => return Ok(Claim::NotYet),
            }
        }
        Ok(Claim::Busy)
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

    /// The sequence word at a level's counter position, and the position.
    fn head(&self, level: u32, counter: &crate::sync::AtomicU64) -> (u64, u64) {
        let pos = counter.load(Ordering::Relaxed);
        // Acquire: pairs with the publication or release of the slot.
        let seq = self
            .slots
            .word(self.slot_offset(level, pos))
            .load(Ordering::Acquire);
        (seq, pos)
    }

    /// Whether a receiver has something to do on some level (a message, a
    /// skipped slot to pass, a counter to move on): what a parked receiver
    /// waits for.
    pub(crate) fn has_message(&self) -> bool {
        (0..self.geometry.levels).any(|level| {
            let (seq, pos) = self.head(level, &self.level(level).dequeue);
            receiver_sees(seq, pos) != Seen::NotYet
        })
    }

    /// Whether the slot receivers look at next, on some level, carries a
    /// writer's mark: a sender is writing it (or died doing so), and what
    /// is published behind it waits.
    pub(crate) fn message_held(&self) -> bool {
        (0..self.geometry.levels).any(|level| {
            let (seq, _) = self.head(level, &self.level(level).dequeue);
            seq & SEQ_MARK != 0
        })
    }

    /// Whether the slot senders of `level` look at next carries a mark: a
    /// receiver holds it (or died holding it), or a writer of an earlier
    /// lap has not finished.
    pub(crate) fn room_held(&self, level: u32) -> bool {
        let (seq, _) = self.head(level, &self.level(level).enqueue);
        seq & SEQ_MARK != 0
    }

    /// Whether `level` has a free slot (or a counter to move on): what a
    /// parked sender waits for.
    pub(crate) fn has_room(&self, level: u32) -> bool {
        let (seq, pos) = self.head(level, &self.level(level).enqueue);
        sender_sees(seq, pos) != Seen::NotYet
    }

    /// Unblocks every slot marked by registry entry `owner` of one side
    /// (`reader`: the receivers'), whose process is dead: a writer mark
    /// becomes "published as skipped", a reader mark "freed" (dropping the
    /// message the dead receiver held). Returns how many slots it
    /// recovered; also adds them to the shared counters.
    ///
    /// The caller must hold the registry entry (so that no live endpoint
    /// can be using `owner` while this runs): see `registry.rs`.
    pub(crate) fn recover(&self, owner: u32, reader: bool) -> u64 {
        let g = self.geometry;
        let kind_bits = if reader {
            SEQ_MARK | SEQ_SKIP_OR_READER
        } else {
            SEQ_MARK
        };
        let mut recovered = 0;
        for level in 0..g.levels {
            let positions = self.level(level);
            let reference = if reader {
                positions.dequeue.load(Ordering::Relaxed)
            } else {
                positions.enqueue.load(Ordering::Relaxed)
            };
            for index in 0..g.slots {
                let word = self.slots.word(self.slot_offset(level, index));
                // Relaxed: only the CAS below acts on it.
                let seq = word.load(Ordering::Relaxed);
                if seq & (SEQ_MARK | SEQ_SKIP_OR_READER) != kind_bits
                    || (seq & !(SEQ_MARK | SEQ_SKIP_OR_READER)) >> SEQ_OWNER_SHIFT
                        != u64::from(owner)
                {
                    continue;
                }
                // The position with these low bits nearest the counter; a
                // mark that does not belong to this slot is a peer's
                // garbage and left alone.
                let pos = reference.wrapping_add(mark_distance(seq, reference) as u64);
                if pos & (g.slots - 1) != index {
                    continue;
                }
                let unblocked = if reader {
                    pos.wrapping_add(g.slots)
                } else {
                    pos.wrapping_add(1) | SEQ_SKIP_OR_READER
                };
                // Release: hands the slot on as its owner's publication or
                // release would have (pairs with the next taker's Acquire).
                if word
                    .compare_exchange(seq, unblocked, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
                {
                    recovered += 1;
                }
            }
        }
        if recovered > 0 {
            let counters = &self.control().counters;
            let counter = if reader {
                &counters.dead_receiver_messages
            } else {
                &counters.dead_sender_slots
            };
            // Relaxed: statistics.
            counter.fetch_add(recovered, Ordering::Relaxed);
        }
        recovered
    }

    /// (slots given up by dead senders, messages dropped with dead
    /// receivers) since the queue was created.
    pub(crate) fn recovered(&self) -> (u64, u64) {
        let c = &self.control().counters;
        // Relaxed: statistics.
        (
            c.dead_sender_slots.load(Ordering::Relaxed),
            c.dead_receiver_messages.load(Ordering::Relaxed),
        )
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

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;

    const SLOTS: u64 = 4;

    #[test]
    fn a_sender_reads_each_state_of_its_slot() {
        let pos = 9;
        assert_eq!(sender_sees(pos, pos), Seen::Ready);
        assert_eq!(sender_sees(writer_mark(3, pos), pos), Seen::Passed);
        assert_eq!(sender_sees(pos + 1, pos), Seen::Passed);
        assert_eq!(
            sender_sees((pos + 1) | SEQ_SKIP_OR_READER, pos),
            Seen::Passed
        );
        assert_eq!(sender_sees(reader_mark(3, pos), pos), Seen::Passed);
        assert_eq!(sender_sees(pos + SLOTS, pos), Seen::Passed);
        // The slot still holds the previous lap: full.
        assert_eq!(sender_sees(pos - SLOTS + 1, pos), Seen::NotYet);
        assert_eq!(sender_sees(writer_mark(0, pos - SLOTS), pos), Seen::NotYet);
        assert_eq!(sender_sees(reader_mark(0, pos - SLOTS), pos), Seen::NotYet);
    }

    #[test]
    fn a_receiver_reads_each_state_of_its_slot() {
        let pos = 9;
        assert_eq!(receiver_sees(pos, pos), Seen::NotYet);
        assert_eq!(receiver_sees(writer_mark(3, pos), pos), Seen::NotYet);
        assert_eq!(receiver_sees(pos + 1, pos), Seen::Ready);
        assert_eq!(
            receiver_sees((pos + 1) | SEQ_SKIP_OR_READER, pos),
            Seen::Skipped
        );
        assert_eq!(receiver_sees(reader_mark(3, pos), pos), Seen::Passed);
        assert_eq!(receiver_sees(pos + SLOTS, pos), Seen::Passed);
        assert_eq!(
            receiver_sees(writer_mark(0, pos + SLOTS), pos),
            Seen::Passed
        );
    }

    #[test]
    fn marks_keep_enough_of_the_position_across_the_40_bit_wrap() {
        let pos = (1u64 << 40) - 2;
        let later = pos + 5;
        assert_eq!(mark_distance(writer_mark(1, later), pos), 5);
        assert_eq!(mark_distance(writer_mark(1, pos), later), -5);
        assert_eq!(sender_sees(writer_mark(1, pos), pos), Seen::Passed);
        assert_eq!(receiver_sees(reader_mark(31, later), later), Seen::Passed);
    }

    #[test]
    fn marks_never_look_like_positions_or_each_other() {
        for owner in [0, 1, 31] {
            let w = writer_mark(owner, 12);
            let r = reader_mark(owner, 12);
            assert_ne!(w, r);
            assert_eq!(w & SEQ_MARK, SEQ_MARK);
            assert_eq!((w & !SEQ_MARK) >> SEQ_OWNER_SHIFT, u64::from(owner));
            assert_eq!(
                (r & !(SEQ_MARK | SEQ_SKIP_OR_READER)) >> SEQ_OWNER_SHIFT,
                u64::from(owner)
            );
        }
    }
}
