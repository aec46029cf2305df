//! A live publish/subscribe ring (lossless or lossy, by the first input
//! byte) whose shared memory the fuzzer rewrites between operations of a
//! publisher and two subscribers, as a hostile process could: role words,
//! `head`, the membership counters and epoch, wait words, cursors, stamps
//! and lengths, with values shaped like the protocol's (small, busy,
//! near the current value, huge). Every call must return a message within
//! the slot size or an error, never panic, read out of bounds or hang:
//! only `try_*` calls, so a stall shows as `Full` or `Empty`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring::prelude::*;
use shmring::pubsub::{Publisher, Subscriber};
use shmring::{Delivery, JoinAt, PubSub, PubSubBuilder};
use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;

thread_local! {
    /// Inputs run so far in this process: unique segment names.
    static COUNTER: Cell<u32> = const { Cell::new(0) };
}

const SLOTS: u64 = 4;
const SLOT_SIZE: u64 = 16;
const SUBSCRIBERS: u32 = 2;
/// `layout/pubsub.rs`: control block and table, then 32-byte slots.
const SLOTS_OFFSET: u64 = 640 + 128 * SUBSCRIBERS as u64;
const STRIDE: u64 = 16 + SLOT_SIZE;
/// The file: the slots, then the 256-byte traffic block at the next
/// 128-byte boundary (`layout/traffic.rs`).
const TRAFFIC: u64 = (SLOTS_OFFSET + STRIDE * SLOTS).div_ceil(128) * 128;
const SIZE: u64 = TRAFFIC + 256;

/// The words the protocol reads from shared memory.
const WORDS: [u64; 28] = [
    128, // publisher role
    136, // reaped
    192, // head (a line of its own)
    256, // epoch
    264, // live
    272, // ever
    384, // readable wait words
    512, // writable wait words
    640, // subscriber 0: role, cursor, missed; received, position
    648,
    656,
    704,
    712,
    768, // subscriber 1
    776,
    784,
    832,
    840,
    SLOTS_OFFSET, // slot 0: stamp, length
    SLOTS_OFFSET + 8,
    SLOTS_OFFSET + STRIDE,
    SLOTS_OFFSET + STRIDE + 8,
    SLOTS_OFFSET + 2 * STRIDE,
    SLOTS_OFFSET + 2 * STRIDE + 8,
    SLOTS_OFFSET + 3 * STRIDE,
    SLOTS_OFFSET + 3 * STRIDE + 8,
    TRAFFIC, // traffic counters: send side, receive side
    TRAFFIC + 128,
];

fn read_word(file: &File, offset: u64) -> u64 {
    let mut bytes = [0; 8];
    file.read_exact_at(&mut bytes, offset).unwrap();
    u64::from_ne_bytes(bytes)
}

fn write_word(file: &File, offset: u64, value: u64) {
    file.write_all_at(&value.to_ne_bytes(), offset).unwrap();
}

/// One receive: a message within the slot size, or an error.
fn receive(subscriber: &mut Option<Subscriber>) {
    if let Some(s) = subscriber
        && let Ok(msg) = s.try_recv()
    {
        assert!(msg.len() as u64 <= SLOT_SIZE);
        let _ = msg.sequence();
    }
}

fn join(ring: &PubSub, at: u8) -> Option<Subscriber> {
    let at = if at.is_multiple_of(2) {
        JoinAt::Next
    } else {
        JoinAt::Oldest
    };
    ring.subscriber_at(at).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let delivery = if first.is_multiple_of(2) {
        Delivery::Lossless
    } else {
        Delivery::Lossy
    };
    let name = format!(
        "shmring-fuzz-pubsub-{}-{}",
        std::process::id(),
        COUNTER.replace(COUNTER.get() + 1)
    );
    let ring = PubSubBuilder::new()
        .slots(SLOTS)
        .max_message(SLOT_SIZE)
        .subscribers(SUBSCRIBERS)
        .delivery(delivery)
        .create(&name)
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    let _ = shmring::unlink(&name);
    assert_eq!(file.metadata().unwrap().len(), SIZE);
    let mut publisher: Option<Publisher> = ring.publisher().ok();
    let mut subscribers = [join(&ring, 0), join(&ring, 1)];
    // Each 4-byte chunk: one operation. Offsets stay past the header,
    // which openers validate once and never read again.
    for op in ops.chunks(4) {
        match op {
            [0, len, ..] => {
                if let Some(p) = &mut publisher {
                    let _ = p.try_send(&vec![*len; usize::from(*len % 20)]);
                }
            }
            [1, len, commit, _] => {
                if let Some(p) = &mut publisher
                    && let Ok(mut grant) = p.try_reserve(usize::from(*len % 20))
                {
                    grant.fill(*len);
                    if commit % 2 == 0 {
                        grant.commit();
                    }
                }
            }
            [2, who, ..] => receive(&mut subscribers[usize::from(*who % 2)]),
            [3, who, at, _] => {
                // The old one leaves before the new one joins.
                let slot = &mut subscribers[usize::from(*who % 2)];
                drop(slot.take());
                *slot = join(&ring, *at);
            }
            [4, ..] => {
                drop(publisher.take());
                publisher = ring.publisher().ok();
            }
            [5, which, shape, v] => {
                let offset = WORDS[usize::from(*which) % WORDS.len()];
                let v = u64::from(*v);
                let value = match shape % 6 {
                    0 => v,
                    1 => (1 << 63) | v,
                    2 => (1 << 62) + v,
                    3 => u64::MAX - v,
                    4 => v << 32,
                    // Near what is there: an off-by-a-few stamp, cursor
                    // or head is the hostile value most like a real one.
                    _ => read_word(&file, offset).wrapping_add(v).wrapping_sub(128),
                };
                write_word(&file, offset, value);
            }
            [6, ..] => {
                let _ = ring.subscriber_states();
                let _ = ring.messages_in_flight();
                let _ = ring.reap_dead_subscribers();
                let _ = (ring.published(), ring.subscriber_count(), ring.reaped());
                for s in subscribers.iter().flatten() {
                    let _ = (s.lag(), s.missed(), s.position());
                }
            }
            [_, a, b, c] => {
                let offset = 128 + (u64::from(*a) << 8 | u64::from(*b)) % (SIZE - 128);
                file.write_all_at(&[*c], offset).unwrap();
            }
            _ => {}
        }
    }
    for s in &mut subscribers {
        receive(s);
    }
});
