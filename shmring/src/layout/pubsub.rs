//! The publish/subscribe control block, subscriber table, slots and
//! geometry.
//!
//! | offset              | size        | content                                          |
//! |--------------------:|------------:|--------------------------------------------------|
//! |                   0 |         128 | segment header (`header.rs`)                     |
//! |                 128 |         128 | publisher lines: role word and counter; `head`   |
//! |                 256 |         128 | membership line: `epoch`, live and ever counts   |
//! |                 384 |         128 | `readable` waiters (subscribers sleep here)      |
//! |                 512 |         128 | `writable` waiters (a lossless publisher sleeps) |
//! |                 640 | 128·`subscribers` | subscriber entries                         |
//! | 640 + 128·`subscribers` | slots·stride | slots                                  |
//!
//! Publisher lines (offset 128): role word at 128 (its lock byte is 128,
//! `liveness`), `reaped` at 136 (subscribers found dead and removed);
//! `head` at 192, on a line of its own (messages published so far: the
//! sequence number of the next one). The publisher stores `head` after
//! every message; subscribers read the role word while they poll (has
//! the publisher left?): on one line, every message would take it from
//! them.
//!
//! Membership line (offset 256): `epoch` at 256 (bumped by every join,
//! leave and reaping), `live` at 264 (subscribers attached), `ever` at 272
//! (subscribers that ever attached).
//!
//! A subscriber entry (128 bytes, entry `i` at `640 + 128·i`):
//!
//! | offset | size | field                                                   |
//! |-------:|-----:|---------------------------------------------------------|
//! |      0 |    8 | role word (`holder.rs`; 0 free); lock byte = its offset |
//! |      8 |    8 | `cursor`: sequence number of the next message it reads  |
//! |     16 |    8 | `missed`: messages it lost to the publisher (lossy)     |
//! |     64 |    8 | `received`: messages it received                        |
//! |     72 |    8 | `position`: `cursor` as of its last message, for `stat`  |
//!
//! `received` and `position` are stored after every message, on the
//! entry's second line: a lossless publisher waiting for room polls the
//! first (`role`, `cursor`), and would otherwise take the line from the
//! subscriber at every message.
//!
//! A slot is `stride = 16 + round_up(slot_size, 8)` bytes:
//!
//! | offset | size        | field                                         |
//! |-------:|------------:|-----------------------------------------------|
//! |      0 |           8 | stamp                                         |
//! |      8 |           4 | message length                                |
//! |     12 |           4 | zero                                          |
//! |     16 | `slot_size` | payload                                       |
//!
//! | stamp            | meaning                                       |
//! |------------------|-----------------------------------------------|
//! | 0                | never written                                 |
//! | `s + 1`          | holds message `s`, published                  |
//! | `BUSY \| (s + 1)` | being written with message `s`               |
//!
//! Message `s` lives in slot `s mod slots`. `ring/broadcast.rs` has the
//! protocol.

use super::header::{HEADER_SIZE, HeaderProblem, SegmentHeader};
use super::traffic::{TRAFFIC_SIZE, traffic_offset};
use super::{RingKind, WaitWords};
use crate::sync::AtomicU64;
use crossbeam_utils::CachePadded;

/// Layout hash of the publish/subscribe kind.
pub(crate) const LAYOUT_HASH: u64 = super::fnv1a(
    b"pubsub/v1 traffic@round128(end){send{messages,bytes,stalls:u64}@0,receive@128} header@0:128 publisher@128{role,reaped:u64,head@192:u64} \
      membership@256{epoch,live,ever:u64} readable@384{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} \
      writable@512{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} subscribers@640[n]{role,cursor,missed:u64,received@64,position@72:u64}:128 \
      slots{stamp:u64,len:u32,zero:u32,payload[round8(slot_size)]} stamp{busy:1@63,seq+1:63} \
      kind_param{subscribers:16@0,lossy:1@31}",
);

/// Offset of the control block.
pub(crate) const CONTROL_OFFSET: u64 = HEADER_SIZE as u64;
/// Lock byte of the publisher role (the offset of its word).
pub(crate) const PUBLISHER_LOCK_BYTE: u64 = 128;
/// Offset of subscriber entry 0; entry `i` is 128·`i` further, and its
/// lock byte is the offset of its role word.
pub(crate) const SUBSCRIBERS_OFFSET: u64 = 640;
/// Bytes per subscriber entry.
pub(crate) const ENTRY_SIZE: u64 = 128;
/// Slot bytes before the payload.
pub(crate) const SLOT_HEADER: u64 = 16;
/// Most subscribers a ring can be made for.
pub(crate) const MAX_SUBSCRIBERS: u32 = 1024;
/// Most slots.
pub(crate) const MAX_SLOTS: u64 = 1 << 24;
/// Largest slot payload.
pub(crate) const MAX_SLOT_SIZE: u64 = 1 << 24;
/// Stamp bit: the slot is being (over)written.
pub(crate) const STAMP_BUSY: u64 = 1 << 63;
/// Kind-parameter bit: the ring is lossy.
const LOSSY_BIT: u32 = 1 << 31;

/// The publisher's two lines.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct PublisherLine {
    /// Role word (`holder.rs` encoding).
    pub(crate) role: AtomicU64,
    /// Subscribers found dead and removed from the table.
    pub(crate) reaped: AtomicU64,
    /// Never used (zero): `head` starts the next cache line.
    _gap: [AtomicU64; 6],
    /// Messages published: the sequence number of the next one.
    pub(crate) head: AtomicU64,
}

/// Who is subscribed, as counters the fast path can read in one load.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Membership {
    /// Bumped after every change of the table: a lossless publisher
    /// rescans the table when it sees it move.
    pub(crate) epoch: AtomicU64,
    /// Subscribers attached now.
    pub(crate) live: AtomicU64,
    /// Subscribers that ever attached.
    pub(crate) ever: AtomicU64,
}

/// The control block up to the subscriber table.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct PubSubControl {
    pub(crate) publisher: CachePadded<PublisherLine>,
    pub(crate) membership: CachePadded<Membership>,
    pub(crate) readable: CachePadded<WaitWords>,
    pub(crate) writable: CachePadded<WaitWords>,
}

/// One subscriber's entry, on two lines of its own.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct SubscriberEntry {
    /// Role word (`holder.rs` encoding); 0 when free.
    pub(crate) role: AtomicU64,
    /// Sequence number of the next message this subscriber reads.
    pub(crate) cursor: AtomicU64,
    /// Messages it lost to the publisher (lossy rings).
    pub(crate) missed: AtomicU64,
    /// Never used (zero): `received` starts the entry's second line.
    _gap: [AtomicU64; 5],
    /// Messages it received.
    pub(crate) received: AtomicU64,
    /// Sequence number of the next message it reads, stored after every
    /// message: for `stat` (the publisher reads `cursor`, stored in
    /// batches).
    pub(crate) position: AtomicU64,
}

#[cfg(not(shmring_loom))]
const _: () = assert!(
    std::mem::size_of::<PubSubControl>() as u64 == SUBSCRIBERS_OFFSET - CONTROL_OFFSET
        && std::mem::size_of::<CachePadded<SubscriberEntry>>() as u64 == ENTRY_SIZE
);

/// What a lossless publisher does for a slow subscriber, and a lossy one
/// does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The publisher waits for the slowest live subscriber: every
    /// subscriber sees every message published after it joined.
    Lossless,
    /// The publisher never waits: a subscriber more than a ring behind
    /// loses the oldest messages and is told how many.
    Lossy,
}

/// Ring geometry as validated numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PubSubGeometry {
    /// Slots, a power of two.
    pub(crate) slots: u64,
    /// Largest payload.
    pub(crate) slot_size: u64,
    /// Subscriber entries.
    pub(crate) subscribers: u32,
    /// Lossless or lossy.
    pub(crate) delivery: Delivery,
}

impl PubSubGeometry {
    /// Checks a geometry a user asked for; the message says what to fix.
    pub(crate) fn check(self) -> Result<PubSubGeometry, &'static str> {
        if !self.slots.is_power_of_two() || self.slots < 2 || self.slots > MAX_SLOTS {
            return Err("slot count must be a power of two from 2 to 16 Mi");
        }
        if self.slot_size > MAX_SLOT_SIZE {
            return Err("slot size must be at most 16 MiB");
        }
        if self.subscribers == 0 || self.subscribers > MAX_SUBSCRIBERS {
            return Err("subscribers must be 1 to 1024");
        }
        Ok(self)
    }

    /// Bytes from one slot to the next.
    pub(crate) fn stride(self) -> u64 {
        SLOT_HEADER + self.slot_size.div_ceil(8) * 8
    }

    /// Offset of the first slot.
    pub(crate) fn slots_offset(self) -> u64 {
        SUBSCRIBERS_OFFSET + ENTRY_SIZE * u64::from(self.subscribers)
    }

    /// Total segment size.
    pub(crate) fn segment_size(self) -> u64 {
        traffic_offset(self.slots_offset() + self.stride() * self.slots) + TRAFFIC_SIZE
    }

    /// The header's kind parameter: subscribers, and the lossy bit.
    pub(crate) fn kind_param(self) -> u32 {
        self.subscribers
            | match self.delivery {
                Delivery::Lossless => 0,
                Delivery::Lossy => LOSSY_BIT,
            }
    }

    /// The subscribers and the delivery a kind parameter says.
    pub(crate) fn split_kind_param(param: u32) -> (u32, Delivery) {
        let delivery = if param & LOSSY_BIT != 0 {
            Delivery::Lossy
        } else {
            Delivery::Lossless
        };
        (param & !LOSSY_BIT, delivery)
    }

    /// The header a creator writes.
    pub(crate) fn header(self, creator_pid: u32, creator_start_ticks: u64) -> SegmentHeader {
        SegmentHeader {
            magic: super::header::MAGIC,
            layout_version: super::header::LAYOUT_VERSION,
            kind: RingKind::PubSub as u32,
            layout_hash: LAYOUT_HASH,
            segment_size: self.segment_size(),
            capacity: self.slots,
            max_message: self.slot_size,
            control_offset: CONTROL_OFFSET,
            data_offset: self.slots_offset(),
            creator_pid,
            kind_param: self.kind_param(),
            creator_start_ticks,
            bell_id: 0,
            reserved: [0; 4],
        }
    }

    /// Validates the publish/subscribe fields of a header that passed
    /// `check_common`.
    pub(crate) fn from_header(header: &SegmentHeader) -> Result<PubSubGeometry, HeaderProblem> {
        let (subscribers, delivery) = PubSubGeometry::split_kind_param(header.kind_param);
        let geometry = PubSubGeometry {
            slots: header.capacity,
            slot_size: header.max_message,
            subscribers,
            delivery,
        }
        .check()
        .map_err(HeaderProblem::Corrupt)?;
        if header.control_offset != CONTROL_OFFSET || header.data_offset != geometry.slots_offset()
        {
            return Err(HeaderProblem::Corrupt(
                "control or data offset is not the publish/subscribe layout",
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

    /// The offsets documented above and in `docs/layout.md`.
    #[test]
    fn control_block_offsets_match_the_documentation() {
        let at = |field_offset: usize| CONTROL_OFFSET as usize + field_offset;
        assert_eq!(at(offset_of!(PubSubControl, publisher)), 128);
        assert_eq!(
            at(offset_of!(PubSubControl, publisher)) + offset_of!(PublisherLine, role),
            PUBLISHER_LOCK_BYTE as usize
        );
        assert_eq!(offset_of!(PublisherLine, reaped), 8);
        assert_eq!(offset_of!(PublisherLine, head), 64);
        assert!(size_of::<PublisherLine>() <= 128);
        assert_eq!(at(offset_of!(PubSubControl, membership)), 256);
        assert_eq!(offset_of!(Membership, live), 8);
        assert_eq!(offset_of!(Membership, ever), 16);
        assert_eq!(at(offset_of!(PubSubControl, readable)), 384);
        assert_eq!(at(offset_of!(PubSubControl, writable)), 512);
        assert_eq!(offset_of!(SubscriberEntry, cursor), 8);
        assert_eq!(offset_of!(SubscriberEntry, missed), 16);
        assert_eq!(offset_of!(SubscriberEntry, received), 64);
        assert_eq!(offset_of!(SubscriberEntry, position), 72);
        let g = PubSubGeometry {
            slots: 8,
            slot_size: 60,
            subscribers: 64,
            delivery: Delivery::Lossy,
        };
        assert_eq!(
            (g.stride(), g.slots_offset(), g.segment_size()),
            (80, 640 + 128 * 64, 640 + 128 * 64 + 80 * 8 + 256)
        );
    }

    #[test]
    fn the_kind_parameter_carries_subscribers_and_delivery() {
        for delivery in [Delivery::Lossless, Delivery::Lossy] {
            let g = PubSubGeometry {
                slots: 4,
                slot_size: 8,
                subscribers: 1024,
                delivery,
            };
            assert_eq!(
                PubSubGeometry::split_kind_param(g.kind_param()),
                (1024, delivery)
            );
        }
    }
}
