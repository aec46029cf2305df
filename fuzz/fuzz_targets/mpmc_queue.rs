//! A valid MPMC queue whose shared memory the fuzzer rewrites between
//! operations, as a hostile process could: counters, registry words,
//! sequence words (plain, skipped, marked), lengths. Every call must
//! return a message within bounds or an error, never panic, read out of
//! bounds or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring::MpmcBuilder;
use shmring::prelude::*;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Slots per level, slot size, levels: the segment is 1536 + 48 × 8 bytes.
const SLOTS: u64 = 4;
const SLOT_SIZE: u64 = 32;
const LEVELS: u32 = 2;
/// The file: control, levels and slots, then the 256-byte traffic block
/// at the next 128-byte boundary (`layout/traffic.rs`).
const SIZE: u64 =
    (1024 + 256 * LEVELS as u64 + (16 + SLOT_SIZE) * SLOTS * LEVELS as u64).div_ceil(128) * 128
        + 256;

fuzz_target!(|data: &[u8]| {
    let name = format!(
        "shmring-fuzz-mpmc-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let queue = MpmcBuilder::new()
        .slots(SLOTS)
        .slot_size(SLOT_SIZE)
        .priorities(LEVELS)
        .create(&name)
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    let _ = shmring::unlink(&name);
    let (Ok(sender), Ok(receiver)) = (queue.sender(), queue.receiver()) else {
        return;
    };
    let urgent = sender.with_priority(1);
    // Each 4-byte chunk: one operation. Offsets stay past the header,
    // which openers validate once and never read again.
    for op in data.chunks(4) {
        match op {
            [0, len, ..] => {
                let _ = sender.try_send(&vec![*len; usize::from(*len % 40)]);
            }
            [1, len, ..] => {
                let _ = urgent.try_send(&vec![*len; usize::from(*len % 40)]);
            }
            [2, ..] => {
                if let Ok(msg) = receiver.try_recv() {
                    assert!(msg.len() as u64 <= SLOT_SIZE);
                }
            }
            [3, len, commit, ..] => {
                if let Ok(mut grant) = sender.try_reserve(usize::from(*len % 40)) {
                    grant.fill(*len);
                    if commit % 2 == 0 {
                        grant.commit();
                    }
                }
            }
            [4, max, ..] => {
                let _ = receiver.try_drain(usize::from(*max % 8), |m| {
                    assert!(m.len() as u64 <= SLOT_SIZE)
                });
            }
            [5, a, b, c] => {
                // A whole word, shaped like the values the protocol uses:
                // a small position, a skipped one, or a mark.
                let offset = 128 + ((u64::from(*a) << 8 | u64::from(*b)) % (SIZE - 128)) / 8 * 8;
                let value = match c % 4 {
                    0 => u64::from(*c >> 2),
                    1 => (1 << 62) | u64::from(*c >> 2),
                    2 => (1 << 63) | (u64::from(*c & 0x1f) << 40) | u64::from(*c >> 5),
                    _ => (3 << 62) | (u64::from(*c & 0x1f) << 40) | u64::from(*c >> 5),
                };
                file.write_all_at(&value.to_ne_bytes(), offset).unwrap();
            }
            [_, a, b, c] => {
                let offset = 128 + (u64::from(*a) << 8 | u64::from(*b)) % (SIZE - 128);
                file.write_all_at(&[*c], offset).unwrap();
            }
            _ => {}
        }
    }
    let _ = queue.messages_in_flight();
    let _ = queue.recovered();
});
