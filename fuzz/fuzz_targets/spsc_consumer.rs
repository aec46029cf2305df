//! A valid ring whose shared memory the fuzzer rewrites between the
//! producer's and the consumer's steps, as a hostile process could: every
//! call must return a message within bounds or an error, never panic,
//! read out of bounds or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring::SpscBuilder;
use shmring::prelude::*;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fuzz_target!(|data: &[u8]| {
    let name = format!(
        "shmring-fuzz-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let ring = SpscBuilder::new()
        .capacity(256)
        .max_message(64)
        .create(&name)
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    let _ = shmring::unlink(&name);
    // Control, 256 bytes of data, the 256-byte traffic block.
    let size = 768 + 256 + 256;
    let (Ok(mut producer), Ok(mut consumer)) = (ring.producer(), ring.consumer()) else {
        return;
    };
    // Each 4-byte chunk: one operation. Offsets stay past the header,
    // which openers validate once and never read again.
    for op in data.chunks(4) {
        match op {
            [0, len, ..] => {
                let _ = producer.try_send(&vec![*len; usize::from(*len % 80)]);
            }
            [1, ..] => {
                if let Ok(msg) = consumer.try_recv() {
                    assert!(msg.len() <= 64);
                }
            }
            [2, max, ..] => {
                let _ = consumer.try_drain(usize::from(*max), |m| assert!(m.len() <= 64));
            }
            [_, a, b, c] => {
                let offset = 128 + (usize::from(*a) << 8 | usize::from(*b)) % (size - 128);
                file.write_all_at(&[*c], offset as u64).unwrap();
            }
            _ => {}
        }
    }
});
