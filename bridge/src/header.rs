//! What a bridge attaches to each sample it publishes: which route run
//! sent it and its place in that run's sequence. The receiving bridge uses
//! it to keep order, to refuse a duplicate, and to count what was lost in
//! between (docs/bridge.md, "Delivery").
//!
//! The attachment is 20 bytes, little-endian:
//!
//! | offset | size | field                                             |
//! |--------|------|---------------------------------------------------|
//! | 0      | 4    | magic `SRB1`                                      |
//! | 4      | 8    | source: random per out route and bridge run       |
//! | 12     | 8    | sequence: 0 for the run's first sample, then +1   |
//!
//! A sample without an attachment comes from a plain zenoh publisher and
//! is delivered as it is; one with an attachment of any other shape is
//! refused and counted as malformed.

use std::collections::HashMap;

/// The attachment's length.
pub const HEADER_LEN: usize = 20;
const MAGIC: [u8; 4] = *b"SRB1";

/// One sample's place: its route run and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sending route run.
    pub source: u64,
    /// Its sequence number in that run.
    pub sequence: u64,
}

impl Header {
    /// The attachment bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..12].copy_from_slice(&self.source.to_le_bytes());
        bytes[12..].copy_from_slice(&self.sequence.to_le_bytes());
        bytes
    }

    /// Reads an attachment; `None` when it is not one of ours.
    pub fn decode(bytes: &[u8]) -> Option<Header> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().ok()?;
        if bytes[..4] != MAGIC {
            return None;
        }
        Some(Header {
            source: u64::from_le_bytes(bytes[4..12].try_into().ok()?),
            sequence: u64::from_le_bytes(bytes[12..].try_into().ok()?),
        })
    }
}

/// A fresh source id: random, so that a restarted bridge is a new source.
pub fn new_source() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// What to do with a sample, by its place in its source's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first seen from its source: deliver.
    First,
    /// The next one: deliver.
    InOrder,
    /// Later than the next one: deliver; this many before it were lost.
    AfterGap(u64),
    /// At or before one already delivered: refuse.
    Duplicate,
}

/// The sources a receiving route keeps track of, at most; a hostile or
/// broken publisher that invents sources makes the oldest be forgotten,
/// never the memory grow.
pub const MAX_SOURCES: usize = 1024;

/// The last delivered sequence number of each source seen.
#[derive(Debug, Default)]
pub struct SequenceCheck {
    /// Source to (last delivered sequence, when last seen).
    last: HashMap<u64, (u64, u64)>,
    clock: u64,
}

impl SequenceCheck {
    /// Judges `header` and records it when it is delivered.
    pub fn judge(&mut self, header: Header) -> Verdict {
        self.clock += 1;
        let clock = self.clock;
        match self.last.get_mut(&header.source) {
            Some((last, seen)) => {
                *seen = clock;
                if header.sequence <= *last {
                    return Verdict::Duplicate;
                }
                let gap = header.sequence - *last - 1;
                *last = header.sequence;
                if gap == 0 {
                    Verdict::InOrder
                } else {
                    Verdict::AfterGap(gap)
                }
            }
            None => {
                if self.last.len() >= MAX_SOURCES {
                    let oldest = self.last.iter().min_by_key(|(_, (_, seen))| *seen);
                    if let Some((&source, _)) = oldest {
                        self.last.remove(&source);
                    }
                }
                // Joining a run midway is not a loss: what came before was
                // not addressed to this route.
                self.last.insert(header.source, (header.sequence, clock));
                Verdict::First
            }
        }
    }

    /// Sources seen and still remembered.
    pub fn sources(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_anything_else_is_refused() {
        let h = Header {
            source: 0x0102_0304_0506_0708,
            sequence: u64::MAX,
        };
        assert_eq!(Header::decode(&h.encode()), Some(h));
        let mut bad = h.encode();
        bad[0] = b'X';
        assert_eq!(Header::decode(&bad), None);
        assert_eq!(Header::decode(&h.encode()[..19]), None);
        assert_eq!(Header::decode(&[]), None);
    }

    #[test]
    fn order_gaps_and_duplicates_are_told_apart() {
        let mut check = SequenceCheck::default();
        let at = |source, sequence| Header { source, sequence };
        assert_eq!(check.judge(at(1, 10)), Verdict::First);
        assert_eq!(check.judge(at(1, 11)), Verdict::InOrder);
        assert_eq!(check.judge(at(1, 11)), Verdict::Duplicate);
        assert_eq!(check.judge(at(1, 5)), Verdict::Duplicate);
        assert_eq!(check.judge(at(1, 15)), Verdict::AfterGap(3));
        assert_eq!(check.judge(at(2, 0)), Verdict::First);
        assert_eq!(check.judge(at(1, 16)), Verdict::InOrder);
        assert_eq!(
            check.judge(at(1, u64::MAX)),
            Verdict::AfterGap(u64::MAX - 17)
        );
        assert_eq!(check.judge(at(1, u64::MAX)), Verdict::Duplicate);
    }

    #[test]
    fn invented_sources_cannot_grow_the_table() {
        let mut check = SequenceCheck::default();
        for source in 0..(MAX_SOURCES as u64 * 3) {
            check.judge(Header {
                source,
                sequence: 0,
            });
        }
        assert_eq!(check.sources(), MAX_SOURCES);
    }
}
