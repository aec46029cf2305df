//! The SPSC control block and geometry.
//!
//! | offset | size | line               | written by                          |
//! |-------:|-----:|--------------------|-------------------------------------|
//! |      0 |  128 | segment header     | creator                             |
//! |    128 |  128 | roles              | attach/detach (rare)                |
//! |    256 |  128 | producer line      | producer: write position, sent      |
//! |    384 |  128 | consumer line      | consumer: read position, received   |
//! |    512 |  128 | `readable` waiters | a parked consumer / its waker       |
//! |    640 |  128 | `writable` waiters | a parked producer / its waker       |
//! |    768 |  cap | data: records      | producer (consumer only reads)      |

use super::WaitWords;
use super::header::{HEADER_SIZE, HeaderProblem, SegmentHeader};
use super::record::MAX_RECORD_PAYLOAD;
use super::traffic::{TRAFFIC_SIZE, traffic_offset};
use crate::sync::AtomicU64;
use crossbeam_utils::CachePadded;

/// Layout hash of the SPSC kind: changes whenever this description does.
pub(crate) const LAYOUT_HASH: u64 = super::fnv1a(
    b"spsc/v1 traffic@round128(end){send{messages,bytes,stalls:u64}@0,receive@128} header@0:128 roles@128{producer:u64,consumer:u64} \
      producer@256{write_pos:u64,sent:u64} consumer@384{read_pos:u64,received:u64} \
      readable@512{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} writable@640{epoch{read:1@0,wakes:31@1}:u32,sleepers:u32,parks:u64,wakes:u64} \
      data@768 record{header:u64[published:63,padding:62,len:0..32],align:8,zeroed-next}",
);

/// Offset of the control block.
pub(crate) const CONTROL_OFFSET: u64 = HEADER_SIZE as u64;
/// Offset of the data area.
pub(crate) const DATA_OFFSET: u64 = 768;
/// Lock byte of the producer role in the segment file: the offset of its
/// word (`liveness`).
pub(crate) const PRODUCER_LOCK_BYTE: u64 = CONTROL_OFFSET;
/// Lock byte of the consumer role: the offset of its word.
pub(crate) const CONSUMER_LOCK_BYTE: u64 = CONTROL_OFFSET + 8;
/// Smallest allowed capacity.
pub(crate) const MIN_CAPACITY: u64 = 64;
/// Positions at or beyond this are corrupt: at 100 GB/s a ring takes 1.5
/// years to get there, and staying below it keeps every `pos + len` sum
/// clear of overflow.
pub(crate) const MAX_POSITION: u64 = 1 << 62;
/// Largest allowed capacity (1 TiB keeps every position sum far from
/// overflow; `max_message` is bounded separately so that every record
/// length fits 32 bits).
pub(crate) const MAX_CAPACITY: u64 = 1 << 40;

/// Who holds the two roles (`role.rs` encodes the words).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Roles {
    pub(crate) producer: AtomicU64,
    pub(crate) consumer: AtomicU64,
}

/// Written only by the producer.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct ProducerLine {
    /// Position after the last published record (see `ring::spsc`).
    pub(crate) write_pos: AtomicU64,
    /// Messages published since creation.
    pub(crate) sent: AtomicU64,
}

/// Written only by the consumer.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct ConsumerLine {
    /// Position after the last released record.
    pub(crate) read_pos: AtomicU64,
    /// Messages released since creation.
    pub(crate) received: AtomicU64,
}

/// Everything between the header and the data area.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct SpscControl {
    pub(crate) roles: CachePadded<Roles>,
    pub(crate) producer: CachePadded<ProducerLine>,
    pub(crate) consumer: CachePadded<ConsumerLine>,
    /// The consumer sleeps here when the ring is empty.
    pub(crate) readable: CachePadded<WaitWords>,
    /// The producer sleeps here when the ring is full.
    pub(crate) writable: CachePadded<WaitWords>,
}

#[cfg(not(shmring_loom))]
const _: () = assert!(
    std::mem::size_of::<SpscControl>() as u64 == DATA_OFFSET - CONTROL_OFFSET
        && std::mem::align_of::<SpscControl>() <= 128
);

/// Ring geometry as validated numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpscGeometry {
    /// Data bytes, a power of two.
    pub(crate) capacity: u64,
    /// Largest payload.
    pub(crate) max_message: u64,
}

impl SpscGeometry {
    /// Checks a geometry a user asked for; the message says what to fix.
    pub(crate) fn check(self) -> Result<SpscGeometry, &'static str> {
        if !self.capacity.is_power_of_two() {
            return Err("capacity must be a power of two");
        }
        if self.capacity < MIN_CAPACITY || self.capacity > MAX_CAPACITY {
            return Err("capacity must be between 64 bytes and 1 TiB");
        }
        // A record plus a wrap-around padding plus the zeroed next header
        // must always fit, or a producer could wait for space forever; and
        // every record, the padding before a wrapped one included, must fit
        // its 32-bit length field (`record.rs`).
        if self.max_message > self.capacity / 4 || self.max_message > MAX_RECORD_PAYLOAD {
            return Err("max_message must be at most capacity / 4 (and 4 GiB - 8)");
        }
        Ok(self)
    }

    /// Total segment size for this geometry.
    pub(crate) fn segment_size(self) -> u64 {
        traffic_offset(DATA_OFFSET + self.capacity) + TRAFFIC_SIZE
    }

    /// The header a creator writes.
    pub(crate) fn header(self, creator_pid: u32, creator_start_ticks: u64) -> SegmentHeader {
        SegmentHeader {
            magic: super::header::MAGIC,
            layout_version: super::header::LAYOUT_VERSION,
            kind: super::RingKind::Spsc as u32,
            layout_hash: LAYOUT_HASH,
            segment_size: self.segment_size(),
            capacity: self.capacity,
            max_message: self.max_message,
            control_offset: CONTROL_OFFSET,
            data_offset: DATA_OFFSET,
            creator_pid,
            kind_param: 0,
            creator_start_ticks,
            bell_id: 0,
            reserved: [0; 4],
        }
    }

    /// Validates the SPSC-specific fields of a header that passed
    /// `check_common` (which compared the size with the real file size).
    pub(crate) fn from_header(header: &SegmentHeader) -> Result<SpscGeometry, HeaderProblem> {
        let geometry = SpscGeometry {
            capacity: header.capacity,
            max_message: header.max_message,
        }
        .check()
        .map_err(HeaderProblem::Corrupt)?;
        if header.control_offset != CONTROL_OFFSET || header.data_offset != DATA_OFFSET {
            return Err(HeaderProblem::Corrupt(
                "control or data offset is not the SPSC layout",
            ));
        }
        if header.segment_size != geometry.segment_size() {
            return Err(HeaderProblem::Corrupt(
                "capacity disagrees with the segment size",
            ));
        }
        if header.kind_param != 0 {
            return Err(HeaderProblem::Corrupt("SPSC kind parameter is not zero"));
        }
        Ok(geometry)
    }
}

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// Issue 13: a `max_message` whose wrap padding overflows the 32-bit
    /// length field is refused, at create (`check`) and in a header.
    #[test]
    fn max_message_keeps_every_record_within_its_length_field() {
        let capacity = 1 << 34;
        for max_message in [u64::from(u32::MAX), MAX_RECORD_PAYLOAD + 1] {
            let g = SpscGeometry {
                capacity,
                max_message,
            };
            assert!(g.check().is_err(), "{max_message}");
            assert!(matches!(
                SpscGeometry::from_header(&g.header(1, 1)),
                Err(HeaderProblem::Corrupt(_))
            ));
        }
        let g = SpscGeometry {
            capacity,
            max_message: MAX_RECORD_PAYLOAD,
        };
        assert_eq!(g.check(), Ok(g));
        assert!(matches!(SpscGeometry::from_header(&g.header(1, 1)), Ok(h) if h == g));
        // The largest record, and the largest padding before it, fit.
        let record = super::super::record::record_size(g.max_message);
        assert!(record - 8 <= u64::from(u32::MAX));
    }

    /// The offsets documented in `docs/layout.md`.
    #[test]
    fn control_block_offsets_match_the_documentation() {
        let at = |field_offset: usize| CONTROL_OFFSET as usize + field_offset;
        assert_eq!(
            at(offset_of!(SpscControl, roles) + offset_of!(Roles, producer)),
            128
        );
        assert_eq!(
            at(offset_of!(SpscControl, roles) + offset_of!(Roles, consumer)),
            136
        );
        assert_eq!((PRODUCER_LOCK_BYTE, CONSUMER_LOCK_BYTE), (128, 136));
        assert_eq!(
            at(offset_of!(SpscControl, producer) + offset_of!(ProducerLine, write_pos)),
            256
        );
        assert_eq!(
            at(offset_of!(SpscControl, producer) + offset_of!(ProducerLine, sent)),
            264
        );
        assert_eq!(
            at(offset_of!(SpscControl, consumer) + offset_of!(ConsumerLine, read_pos)),
            384
        );
        assert_eq!(
            at(offset_of!(SpscControl, consumer) + offset_of!(ConsumerLine, received)),
            392
        );
        assert_eq!(
            at(offset_of!(SpscControl, readable) + offset_of!(WaitWords, epoch)),
            512
        );
        assert_eq!(
            at(offset_of!(SpscControl, readable) + offset_of!(WaitWords, sleepers)),
            516
        );
        assert_eq!(
            at(offset_of!(SpscControl, writable) + offset_of!(WaitWords, epoch)),
            640
        );
        assert_eq!(
            at(offset_of!(SpscControl, writable) + offset_of!(WaitWords, sleepers)),
            644
        );
        assert_eq!(DATA_OFFSET, 768);
        let g = SpscGeometry {
            capacity: 64,
            max_message: 16,
        };
        assert_eq!(
            g.segment_size(),
            768 + 64 + 64 + 256,
            "traffic block 128-aligned"
        );
    }
}
