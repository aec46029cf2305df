//! The segment header at offset 0 of every segment.
//!
//! | offset | size | field                 | written                       |
//! |-------:|-----:|-----------------------|-------------------------------|
//! |      0 |    8 | magic `b"SHMRING\0"`  | by the creator, before init   |
//! |      8 |    4 | layout version        | 〃                            |
//! |     12 |    4 | ring kind             | 〃                            |
//! |     16 |    8 | layout hash           | 〃                            |
//! |     24 |    8 | segment size (bytes)  | 〃                            |
//! |     32 |    8 | capacity              | 〃                            |
//! |     40 |    8 | max message size      | 〃                            |
//! |     48 |    8 | control block offset  | 〃                            |
//! |     56 |    8 | data area offset      | 〃                            |
//! |     64 |    4 | creator pid           | 〃                            |
//! |     68 |    4 | kind parameter        | 〃 (0 for SPSC)               |
//! |     72 |    8 | creator start time    | 〃                            |
//! |     80 |   40 | reserved, zero        |                               |
//! |    120 |    4 | init state            | last, with Release            |
//! |    124 |    4 | reserved, zero        |                               |

use crate::sync::{AtomicU32, AtomicU64, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `b"SHMRING\0"`: first eight bytes of every segment.
pub(crate) const MAGIC: [u8; 8] = *b"SHMRING\0";
/// Bumped whenever any shared layout changes incompatibly.
pub(crate) const LAYOUT_VERSION: u32 = 3;
/// Size of [`SegmentHeader`] and offset of the first control line.
pub(crate) const HEADER_SIZE: usize = 128;
/// Byte offset of the init-state word.
pub(crate) const INIT_STATE_OFFSET: usize = 120;

/// Values of the init-state word.
///
/// | value | meaning                                          |
/// |------:|--------------------------------------------------|
/// |     0 | the creator is still writing the segment         |
/// |     1 | [`INIT_READY`]: every other field is final       |
/// | other | corrupt                                          |
pub(crate) const INIT_READY: u32 = 1;

/// What kind of ring a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RingKind {
    /// Single producer, single consumer, variable-size records.
    Spsc = 1,
    /// Multiple producers, multiple consumers, fixed-size slots.
    Mpmc = 2,
    /// One publisher, many subscribers that each see every message.
    PubSub = 3,
}

impl RingKind {
    pub(crate) fn from_raw(raw: u32) -> Option<RingKind> {
        match raw {
            1 => Some(RingKind::Spsc),
            2 => Some(RingKind::Mpmc),
            3 => Some(RingKind::PubSub),
            _ => None,
        }
    }
}

impl std::fmt::Display for RingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RingKind::Spsc => "spsc",
            RingKind::Mpmc => "mpmc",
            RingKind::PubSub => "pubsub",
        })
    }
}

/// The segment header as plain data: written by the creator, read back as
/// one snapshot by openers. The init-state word (offset 120) is not part
/// of the snapshot; it is read and written atomically on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub(crate) struct SegmentHeader {
    pub(crate) magic: [u8; 8],
    pub(crate) layout_version: u32,
    pub(crate) kind: u32,
    pub(crate) layout_hash: u64,
    pub(crate) segment_size: u64,
    pub(crate) capacity: u64,
    pub(crate) max_message: u64,
    pub(crate) control_offset: u64,
    pub(crate) data_offset: u64,
    pub(crate) creator_pid: u32,
    pub(crate) kind_param: u32,
    pub(crate) creator_start_ticks: u64,
    pub(crate) bell_id: u64,
    pub(crate) reserved: [u64; 4],
}

const _: () = assert!(std::mem::size_of::<SegmentHeader>() == INIT_STATE_OFFSET);
const WORDS: usize = INIT_STATE_OFFSET / 8;

impl SegmentHeader {
    /// Reads the header fields once, word by word with atomic loads (a
    /// hostile peer may be writing them right now: that must give garbage
    /// to validate, not a data race).
    pub(crate) fn snapshot(words: &[AtomicU64; WORDS]) -> SegmentHeader {
        let mut raw = [0u64; WORDS];
        for (dst, src) in raw.iter_mut().zip(words) {
            // Relaxed: the Acquire load of the init state, done before
            // this snapshot, is what orders these reads after the
            // creator's writes.
            *dst = src.load(Ordering::Relaxed);
        }
        SegmentHeader::read_from_bytes(raw.as_bytes()).expect("sizes checked at compile time")
    }

    /// Writes the fields (not the init state) with relaxed atomic stores;
    /// the creator publishes them afterwards with [`publish_ready`].
    pub(crate) fn write(&self, words: &[AtomicU64; WORDS]) {
        let mut raw = [0u64; WORDS];
        raw.as_mut_bytes().copy_from_slice(self.as_bytes());
        for (dst, src) in words.iter().zip(raw) {
            // Relaxed: published by the Release store in `publish_ready`.
            dst.store(src, Ordering::Relaxed);
        }
    }
}

/// Marks the segment initialised. Release: pairs with the Acquire in
/// [`load_init_state`], so an opener that sees READY also sees every
/// header field and control word written before.
pub(crate) fn publish_ready(init_state: &AtomicU32) {
    init_state.store(INIT_READY, Ordering::Release);
}

/// Reads the init state. Acquire: pairs with [`publish_ready`].
pub(crate) fn load_init_state(init_state: &AtomicU32) -> u32 {
    init_state.load(Ordering::Acquire)
}

/// The header words and the init-state word, as found at offset 0.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct HeaderWords {
    pub(crate) fields: [AtomicU64; WORDS],
    pub(crate) init_state: AtomicU32,
    pub(crate) reserved: AtomicU32,
}

#[cfg(not(shmring_loom))]
const _: () = assert!(std::mem::size_of::<HeaderWords>() == HEADER_SIZE);

/// What is wrong with a header, found by [`SegmentHeader::check_common`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Not a shmring segment (or overwritten).
    BadMagic,
    /// Another layout version or layout hash.
    Version { found: u32 },
    /// A known kind, but not the one asked for.
    WrongKind { found: RingKind },
    /// A field holds a value no writer produces.
    Corrupt(&'static str),
}

impl SegmentHeader {
    /// Checks the fields every kind shares; `file_size` is what fstat
    /// says, not what the header claims, and `huge_block` the file's huge
    /// page size if it is on hugetlbfs (`None` otherwise).
    pub(crate) fn check_common(
        &self,
        expected: RingKind,
        layout_hash: u64,
        file_size: u64,
        huge_block: Option<u64>,
    ) -> Result<(), HeaderProblem> {
        if self.magic != MAGIC {
            return Err(HeaderProblem::BadMagic);
        }
        if self.layout_version != LAYOUT_VERSION {
            return Err(HeaderProblem::Version {
                found: self.layout_version,
            });
        }
        match RingKind::from_raw(self.kind) {
            None => return Err(HeaderProblem::Corrupt("unknown ring kind")),
            Some(kind) if kind != expected => return Err(HeaderProblem::WrongKind { found: kind }),
            Some(_) => {}
        }
        if self.layout_hash != layout_hash {
            // Same version number, different layout: a build from another
            // commit. Refuse rather than guess.
            return Err(HeaderProblem::Version {
                found: self.layout_version,
            });
        }
        // A file on huge pages (`huge_block`: its huge page size) can only
        // be sized in whole pages: the segment is then followed by unused
        // bytes up to the next huge page, and nothing else.
        let rounded = huge_block.and_then(|b| {
            debug_assert!(b.is_power_of_two());
            self.segment_size.checked_add(b - 1).map(|s| s & !(b - 1))
        });
        if self.segment_size != file_size && rounded != Some(file_size) {
            return Err(HeaderProblem::Corrupt(
                "segment size differs from the file size",
            ));
        }
        if self.reserved != [0; 4] {
            return Err(HeaderProblem::Corrupt("reserved header bytes are not zero"));
        }
        Ok(())
    }
}
