//! A peer that scribbles over the shared memory can make the ring report
//! `Corrupt`, but never make us panic, read out of bounds or hang.
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(clippy::disallowed_types)]

mod common;

use common::Name;
use shmring::prelude::*;
use shmring::{RecvTimeoutError, SpscBuilder, TryRecvError, TrySendError};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

struct Scribbler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Scribbler {
    /// Writes random bytes at random offsets past the header, through its
    /// own file descriptor, as another process would.
    fn start(name: &Name, seed: u64) -> Scribbler {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.path())
            .unwrap();
        let len = file.metadata().unwrap().len();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let started = Arc::new(AtomicBool::new(false));
        let first_write = Arc::clone(&started);
        let thread = std::thread::spawn(move || {
            let mut state = seed | 1;
            let mut writes = 0u64;
            while !flag.load(Ordering::Relaxed) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let offset = 128 + state % (len - 128 - 8);
                // Mostly small values in length-like places, sometimes wild.
                let value = if state >> 62 == 0 {
                    state
                } else {
                    (1u64 << 63) | (state >> 40)
                };
                file.write_all_at(&value.to_le_bytes(), offset & !7)
                    .unwrap();
                writes += 1;
                first_write.store(true, Ordering::Relaxed);
                std::thread::yield_now();
            }
            writes
        });
        // On a loaded machine the thread may start late: wait for its first
        // write, so that the scribbling overlaps the traffic it is meant to
        // disturb (bounded: the thread writes as soon as it runs).
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while !started.load(Ordering::Relaxed) && std::time::Instant::now() < give_up {
            std::thread::yield_now();
        }
        Scribbler {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

#[test]
fn a_scribbled_ring_gives_corrupt_errors_or_valid_messages_only() {
    for round in 0..8u64 {
        let name = Name::new("scribble");
        let ring = SpscBuilder::new()
            .capacity(1024)
            .max_message(200)
            .create(&name)
            .unwrap();
        let mut producer = ring.producer().unwrap();
        let mut consumer = ring.consumer().unwrap();
        let scribbler = Scribbler::start(&name, 0x9e37_79b9 ^ round);
        let (mut received, mut corrupt) = (0u64, 0u64);
        for i in 0..20_000u32 {
            match producer.try_send(&i.to_le_bytes()) {
                Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Corrupt(..)) => corrupt += 1,
                Err(e) => panic!("unexpected send error {e:?}"),
            }
            let outcome = if i % 2 == 0 {
                consumer.try_recv().map(|m| m.len()).map_err(|e| match e {
                    TryRecvError::Empty | TryRecvError::Disconnected => None,
                    TryRecvError::Corrupt(c) => Some(c),
                    TryRecvError::Lagged(_) => panic!("an SPSC ring never lags"),
                })
            } else {
                consumer
                    .recv_timeout(Duration::from_micros(50))
                    .map(|m| m.len())
                    .map_err(|e| match e {
                        RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected => None,
                        RecvTimeoutError::Corrupt(c) => Some(c),
                        RecvTimeoutError::Lagged(_) => panic!("an SPSC ring never lags"),
                    })
            };
            match outcome {
                Ok(len) => {
                    assert!(len as u64 <= ring.max_message());
                    received += 1;
                }
                Err(Some(_)) => corrupt += 1,
                Err(None) => {}
            }
        }
        let writes = scribbler.stop();
        assert!(writes > 0);
        eprintln!("round {round}: {received} received, {corrupt} corrupt, {writes} scribbles");
        // Both outcomes are allowed; the point is that we got here.
        assert!(received + corrupt > 0);
    }
}

#[test]
fn a_garbage_consumer_position_is_reported_to_the_producer() {
    let name = Name::new("bad-read-pos");
    let ring = SpscBuilder::new().capacity(256).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let _consumer = ring.consumer().unwrap();
    while producer.try_send(&[0; 16]).is_ok() {}
    // read_pos lives at offset 384: claim the consumer is far ahead.
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    file.write_all_at(&u64::MAX.to_le_bytes(), 384).unwrap();
    assert!(matches!(
        producer.try_send(&[0; 16]),
        Err(TrySendError::Corrupt(..))
    ));
    let err = producer
        .send_timeout(&[0; 16], Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(err, shmring::SendTimeoutError::Corrupt(..)),
        "{err:?}"
    );
}

#[test]
fn a_garbage_record_header_is_corrupt_not_a_huge_read() {
    let name = Name::new("bad-header");
    let ring = SpscBuilder::new()
        .capacity(256)
        .max_message(64)
        .create(&name)
        .unwrap();
    let mut consumer = ring.consumer().unwrap();
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    // A "published" header at data offset 0 claiming 1 MiB.
    file.write_all_at(&((1u64 << 63) | (1 << 20)).to_le_bytes(), 768)
        .unwrap();
    assert!(matches!(consumer.try_recv(), Err(TryRecvError::Corrupt(_))));
    // A padding record that does not end at the end of the ring.
    file.write_all_at(&((3u64 << 62) | 8).to_le_bytes(), 768)
        .unwrap();
    assert!(matches!(consumer.try_recv(), Err(TryRecvError::Corrupt(_))));
    // Stray bits.
    file.write_all_at(&0x1234u64.to_le_bytes(), 768).unwrap();
    assert!(matches!(
        consumer.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Corrupt(_))
    ));
}

#[test]
fn misaligned_or_huge_positions_refuse_attachment() {
    let name = Name::new("bad-positions");
    let ring = SpscBuilder::new().capacity(256).create(&name).unwrap();
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    // read_pos (offset 384) not a multiple of 8.
    file.write_all_at(&3u64.to_le_bytes(), 384).unwrap();
    assert!(matches!(
        ring.consumer(),
        Err(shmring::AttachError::Corrupt(_))
    ));
    assert!(matches!(
        ring.producer(),
        Err(shmring::AttachError::Corrupt(_))
    ));
    // write_pos (offset 256) close to overflow.
    file.write_all_at(&0u64.to_le_bytes(), 384).unwrap();
    file.write_all_at(&(u64::MAX - 7).to_le_bytes(), 256)
        .unwrap();
    assert!(matches!(
        ring.producer(),
        Err(shmring::AttachError::Corrupt(_))
    ));
    // Both fine again: the failed attachments released the roles.
    file.write_all_at(&0u64.to_le_bytes(), 256).unwrap();
    assert!(ring.producer().is_ok());
    assert!(ring.consumer().is_ok());
}
