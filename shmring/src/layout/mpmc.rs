//! The MPMC control block, slots and geometry.
//!
//! | offset            | size        | content                                        |
//! |------------------:|------------:|------------------------------------------------|
//! |                 0 |         128 | segment header (`header.rs`)                   |
//! |               128 |         128 | endpoint counters                              |
//! |               256 |         256 | sender registry: 32 role words                 |
//! |               512 |         256 | receiver registry: 32 role words               |
//! |               768 |         128 | `not_empty` waiters (receivers sleep here)     |
//! |               896 |         128 | `not_full` waiters (senders; bit 1 << level)   |
//! |      1024 + 256·l |         128 | level `l`: enqueue position                    |
//! |      1152 + 256·l |         128 | level `l`: dequeue position                    |
//! | 1024 + 256·levels | slots·stride·levels | slots, level by level             |
//!
//! A slot is `stride = 16 + round_up(slot_size, 8)` bytes:
//!
//! | offset | size        | field                                           |
//! |-------:|------------:|-------------------------------------------------|
//! |      0 |           8 | sequence number (Vyukov)                        |
//! |      8 |           4 | message length                                  |
//! |     12 |           4 | zero                                            |
//! |     16 | `slot_size` | payload                                         |
//!
//! The sequence word says who may touch the slot and for which position
//! (`ring/mpmc.rs` has the protocol). `MARK` is bit 63, `SKIP` and
//! `READER` are bit 62 (one meaning with `MARK`, the other without):
//!
//! | sequence                                   | meaning                                            |
//! |--------------------------------------------|----------------------------------------------------|
//! | `pos`                                      | free for the sender of position `pos`              |
//! | `MARK \| owner << 40 \| pos mod 2⁴⁰`         | sender registry entry `owner` is writing `pos`     |
//! | `pos + 1`                                  | the message of `pos` is published                  |
//! | `SKIP \| (pos + 1)`                         | `pos` is published without a message (given up)   |
//! | `MARK \| READER \| owner << 40 \| pos mod 2⁴⁰` | receiver registry entry `owner` is reading `pos`   |
//! | `pos + slots`                              | freed: free for the sender of `pos + slots`        |

use super::header::{HEADER_SIZE, HeaderProblem, SegmentHeader};
use super::traffic::{TRAFFIC_SIZE, traffic_offset};
use super::{RingKind, WaitWords};
use crate::sync::AtomicU64;
use crossbeam_utils::CachePadded;

/// Layout hash of the MPMC kind: changes whenever this description does.
pub(crate) const LAYOUT_HASH: u64 = super::fnv1a(
    b"mpmc/v1 traffic@round128(end){send{messages,bytes,stalls:u64}@0,receive@128} header@0:128 counters@128{live_senders,live_receivers,senders_ever,receivers_ever:u64} \
      senders@256[32]u64 receivers@512[32]u64 not_empty@768{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} \
      not_full@896{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} levels@1024[{enqueue:u64@0,dequeue:u64@128}] \
      recovered@128+32{dead_sender_slots,dead_receiver_messages:u64} \
      slots{seq:u64,len:u32,zero:u32,payload[round8(slot_size)]} \
      seq{mark:1@63,skip|reader:1@62,owner:5@40,pos:40@0}",
);

/// Offset of the control block.
pub(crate) const CONTROL_OFFSET: u64 = HEADER_SIZE as u64;
/// Offset of level 0's position lines.
pub(crate) const LEVELS_OFFSET: u64 = 1024;
/// Bytes of position lines per priority level.
pub(crate) const LEVEL_SIZE: u64 = 256;
/// Slot bytes before the payload.
pub(crate) const SLOT_HEADER: u64 = 16;
/// Role words per registry: processes that may hold senders (receivers).
pub(crate) const REGISTRY_ENTRIES: usize = 32;
/// Offset of the sender registry; the lock byte of entry `i` in the
/// segment file is the offset of its word, `SENDERS_OFFSET + 8·i`
/// (`liveness`).
pub(crate) const SENDERS_OFFSET: u64 = 256;
/// Offset of the receiver registry (lock bytes as for senders).
pub(crate) const RECEIVERS_OFFSET: u64 = 512;
/// Most priority levels.
pub(crate) const MAX_LEVELS: u32 = 8;
/// Most slots per level.
pub(crate) const MAX_SLOTS: u64 = 1 << 24;
/// Largest slot payload.
pub(crate) const MAX_SLOT_SIZE: u64 = 1 << 24;
/// Sequence bit: the slot is owned by an endpoint in the middle of a send
/// or a receive; the owner and the position are in the other bits.
pub(crate) const SEQ_MARK: u64 = 1 << 63;
/// Sequence bit: with [`SEQ_MARK`], the owner is a receiver; without, the
/// published position holds no message (its sender gave it up, or died
/// while writing it and the slot was recovered).
pub(crate) const SEQ_SKIP_OR_READER: u64 = 1 << 62;
/// Where the owner's registry index sits in a marked sequence.
pub(crate) const SEQ_OWNER_SHIFT: u32 = 40;
/// The position bits kept in a marked sequence: enough to tell laps apart
/// (at most 2²⁴ slots), so a mark is never taken for another lap's.
pub(crate) const SEQ_POS_MASK: u64 = (1 << SEQ_OWNER_SHIFT) - 1;

/// How many endpoints are attached, maintained on attach and detach (and
/// when a dead process's entry is reaped), so that the fast path learns
/// "nobody is left on the other side" from one load.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Counters {
    pub(crate) live_senders: AtomicU64,
    pub(crate) live_receivers: AtomicU64,
    pub(crate) senders_ever: AtomicU64,
    pub(crate) receivers_ever: AtomicU64,
    /// Slots claimed by senders that died before publishing, given up.
    pub(crate) dead_sender_slots: AtomicU64,
    /// Messages held by receivers that died before releasing them, dropped.
    pub(crate) dead_receiver_messages: AtomicU64,
}

/// Role words (`role.rs` encoding) of the processes holding endpoints.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Registry {
    pub(crate) entries: [AtomicU64; REGISTRY_ENTRIES],
}

/// The fixed part of the control block (before the level lines).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct MpmcControl {
    pub(crate) counters: CachePadded<Counters>,
    pub(crate) senders: Registry,
    pub(crate) receivers: Registry,
    pub(crate) not_empty: CachePadded<WaitWords>,
    pub(crate) not_full: CachePadded<WaitWords>,
}

/// The two position lines of one priority level.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct LevelPositions {
    pub(crate) enqueue: CachePadded<AtomicU64>,
    pub(crate) dequeue: CachePadded<AtomicU64>,
}

#[cfg(not(shmring_loom))]
const _: () = assert!(
    std::mem::size_of::<MpmcControl>() as u64 == LEVELS_OFFSET - CONTROL_OFFSET
        && std::mem::size_of::<LevelPositions>() as u64 == LEVEL_SIZE
);

/// Queue geometry as validated numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MpmcGeometry {
    /// Slots per level, a power of two.
    pub(crate) slots: u64,
    /// Largest payload.
    pub(crate) slot_size: u64,
    /// Priority levels, 1 to 8.
    pub(crate) levels: u32,
}

impl MpmcGeometry {
    /// Checks a geometry a user asked for; the message says what to fix.
    pub(crate) fn check(self) -> Result<MpmcGeometry, &'static str> {
        if !self.slots.is_power_of_two() || self.slots < 2 || self.slots > MAX_SLOTS {
            return Err("slot count must be a power of two from 2 to 16 Mi");
        }
        if self.slot_size > MAX_SLOT_SIZE {
            return Err("slot size must be at most 16 MiB");
        }
        if self.levels == 0 || self.levels > MAX_LEVELS {
            return Err("priority levels must be 1 to 8");
        }
        Ok(self)
    }

    /// Bytes from one slot to the next.
    pub(crate) fn stride(self) -> u64 {
        SLOT_HEADER + self.slot_size.div_ceil(8) * 8
    }

    /// Offset of the first slot.
    pub(crate) fn slots_offset(self) -> u64 {
        LEVELS_OFFSET + LEVEL_SIZE * u64::from(self.levels)
    }

    /// Total segment size.
    pub(crate) fn segment_size(self) -> u64 {
        traffic_offset(self.slots_offset() + self.stride() * self.slots * u64::from(self.levels))
            + TRAFFIC_SIZE
    }

    /// The header a creator writes.
    pub(crate) fn header(self, creator_pid: u32, creator_start_ticks: u64) -> SegmentHeader {
        SegmentHeader {
            magic: super::header::MAGIC,
            layout_version: super::header::LAYOUT_VERSION,
            kind: RingKind::Mpmc as u32,
            layout_hash: LAYOUT_HASH,
            segment_size: self.segment_size(),
            capacity: self.slots,
            max_message: self.slot_size,
            control_offset: CONTROL_OFFSET,
            data_offset: self.slots_offset(),
            creator_pid,
            kind_param: self.levels,
            creator_start_ticks,
            bell_id: 0,
            reserved: [0; 4],
        }
    }

    /// Validates the MPMC fields of a header that passed `check_common`.
    pub(crate) fn from_header(header: &SegmentHeader) -> Result<MpmcGeometry, HeaderProblem> {
        let geometry = MpmcGeometry {
            slots: header.capacity,
            slot_size: header.max_message,
            levels: header.kind_param,
        }
        .check()
        .map_err(HeaderProblem::Corrupt)?;
        if header.control_offset != CONTROL_OFFSET || header.data_offset != geometry.slots_offset()
        {
            return Err(HeaderProblem::Corrupt(
                "control or data offset is not the MPMC layout",
            ));
        }
        if header.segment_size != geometry.segment_size() {
            return Err(HeaderProblem::Corrupt(
                "slot geometry disagrees with the segment size",
            ));
        }
        Ok(geometry)
    }
}

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// The offsets documented in `docs/layout.md`.
    #[test]
    fn control_block_offsets_match_the_documentation() {
        let at = |field_offset: usize| CONTROL_OFFSET as usize + field_offset;
        assert_eq!(at(offset_of!(MpmcControl, counters)), 128);
        assert_eq!(offset_of!(Counters, dead_sender_slots), 32);
        assert_eq!(offset_of!(Counters, dead_receiver_messages), 40);
        assert_eq!(at(offset_of!(MpmcControl, senders)), 256);
        assert_eq!(at(offset_of!(MpmcControl, receivers)), 512);
        assert_eq!((SENDERS_OFFSET, RECEIVERS_OFFSET), (256, 512));
        assert_eq!(at(offset_of!(MpmcControl, not_empty)), 768);
        assert_eq!(at(offset_of!(MpmcControl, not_full)), 896);
        assert_eq!(offset_of!(LevelPositions, dequeue), 128);
        let g = MpmcGeometry {
            slots: 8,
            slot_size: 60,
            levels: 3,
        };
        assert_eq!(
            (g.stride(), g.slots_offset(), g.segment_size()),
            (80, 1792, 1792 + 80 * 24 + 256)
        );
    }
}
