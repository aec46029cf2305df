//! The traffic counters: the last 256 bytes of every ring segment.
//!
//! | offset  | size | line         | written by                               |
//! |--------:|-----:|--------------|------------------------------------------|
//! | `T`     |  128 | send side    | senders: messages, bytes, full           |
//! | `T+128` |  128 | receive side | receivers: messages, bytes, empty        |
//!
//! `T` is the end of the kind's data rounded up to 128 bytes, so the
//! block is always the segment's last 256 bytes (`segment_size − 256`).
//! Each line holds three `u64`: messages, payload bytes, and *stalls*
//! (calls that found the ring full, for senders; empty, for receivers).
//! Endpoints count in their own memory and add their counts here in
//! batches (`channel/traffic.rs`), so a line is written once per 64
//! messages, never per message. Parks and wakes are counted on the wait
//! lines themselves ([`super::WaitWords`]).
//!
//! The counters are statistics, never trusted: a hostile process may
//! write anything here, and nothing but `stat` reads them.

use crate::sync::AtomicU64;
use crossbeam_utils::CachePadded;

/// Bytes of the block.
pub(crate) const TRAFFIC_SIZE: u64 = 256;

/// Where the block starts, for a kind whose data ends at `end`.
pub(crate) const fn traffic_offset(end: u64) -> u64 {
    end.div_ceil(128) * 128
}

/// One side's counts.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct TrafficLine {
    /// Messages sent (received).
    pub(crate) messages: AtomicU64,
    /// Their payload bytes.
    pub(crate) bytes: AtomicU64,
    /// Calls that found the ring full (empty).
    pub(crate) stalls: AtomicU64,
}

/// Both sides.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Traffic {
    pub(crate) send: CachePadded<TrafficLine>,
    pub(crate) receive: CachePadded<TrafficLine>,
}

#[cfg(not(shmring_loom))]
const _: () = assert!(std::mem::size_of::<Traffic>() as u64 == TRAFFIC_SIZE);

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// The offsets documented in `docs/layout.md`.
    #[test]
    fn offsets_match_the_documentation() {
        assert_eq!(offset_of!(Traffic, send), 0);
        assert_eq!(offset_of!(Traffic, receive), 128);
        assert_eq!(offset_of!(TrafficLine, messages), 0);
        assert_eq!(offset_of!(TrafficLine, bytes), 8);
        assert_eq!(offset_of!(TrafficLine, stalls), 16);
        assert_eq!(traffic_offset(768 + 64), 896);
        assert_eq!(traffic_offset(1024), 1024);
    }
}
