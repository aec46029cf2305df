//! Traffic counters (issue 19): every kind counts messages and bytes each
//! way, full and empty findings, parks and wakes, in its segment, where
//! another process (`shmring stat`) reads them.

mod common;

use common::Name;
use shmring::prelude::*;
use shmring::{AnyRing, MpmcBuilder, PubSubBuilder, SpscBuilder, TrafficCounts};
use std::time::Duration;

const MESSAGES: u64 = 1000;
const LEN: usize = 10;
const PATIENCE: Duration = Duration::from_secs(10);

/// Sends and receives `MESSAGES` through `ring`, finds it empty once,
/// then makes the receiver sleep until a late message wakes it; drops
/// every endpoint; returns what a fresh view of the segment says.
fn exercise(ring: AnyRing, name: &Name) -> TrafficCounts {
    let mut rx = ring.receiver().unwrap();
    let mut tx = ring.sender().unwrap();
    assert_eq!(
        rx.try_recv().unwrap_err(),
        shmring::TryRecvError::Empty,
        "a fresh ring is empty"
    );
    for i in 0..MESSAGES {
        tx.send_timeout(&[i as u8; LEN], PATIENCE).unwrap();
        let got = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(got.len(), LEN);
    }
    let parks = ring.traffic().receiver_parks;
    std::thread::scope(|s| {
        s.spawn(|| {
            // Once the receiver is asleep on the futex.
            wait_for(|| ring.traffic().receiver_parks > parks);
            tx.send_timeout(b"late", PATIENCE).unwrap();
        });
        assert_eq!(&*rx.recv_timeout(PATIENCE).unwrap(), b"late");
    });
    drop((tx, rx));
    let seen = AnyRing::open(name).unwrap().traffic();
    assert_eq!(seen, ring.traffic(), "every handle reads the same block");
    seen
}

/// Polls `condition` until it holds; fails after `PATIENCE`.
fn wait_for(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn check(t: TrafficCounts) {
    assert_eq!(t.sent, MESSAGES + 1, "{t:?}");
    assert_eq!(t.bytes_sent, MESSAGES * LEN as u64 + 4, "{t:?}");
    assert_eq!(t.received, MESSAGES + 1, "{t:?}");
    assert_eq!(t.bytes_received, MESSAGES * LEN as u64 + 4, "{t:?}");
    assert!(t.empty >= 2, "the try_recv and the late wait: {t:?}");
    assert!(t.receiver_parks >= 1, "{t:?}");
    assert!(t.sender_wakes >= 1, "{t:?}");
    assert_eq!(t.full, 0, "{t:?}");
    assert_eq!(t.recovered, 0, "{t:?}");
}

#[test]
fn spsc_counts_its_traffic() {
    let name = Name::new("traffic-spsc");
    let ring = SpscBuilder::new().capacity(4096).create(&name.0).unwrap();
    check(exercise(AnyRing::Spsc(ring), &name));
    shmring::unlink(&name.0).unwrap();
}

#[test]
fn mpmc_counts_its_traffic() {
    let name = Name::new("traffic-mpmc");
    let ring = MpmcBuilder::new()
        .slots(16)
        .slot_size(64)
        .create(&name.0)
        .unwrap();
    check(exercise(AnyRing::Mpmc(ring), &name));
    shmring::unlink(&name.0).unwrap();
}

#[test]
fn pubsub_counts_its_traffic() {
    let name = Name::new("traffic-pubsub");
    let ring = PubSubBuilder::new()
        .slots(16)
        .max_message(64)
        .create(&name.0)
        .unwrap();
    check(exercise(AnyRing::PubSub(ring), &name));
    shmring::unlink(&name.0).unwrap();
}

/// A full ring is counted once per call that found it full, and a sender
/// that slept for room was woken by the receiver.
#[test]
fn a_full_ring_counts_full_and_the_receiver_wakes_the_sender() {
    let name = Name::new("traffic-full");
    let ring = SpscBuilder::new()
        .capacity(256)
        .max_message(16)
        .create(&name.0)
        .unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut sent = 0u64;
    while tx.try_send(&[1; 16]).is_ok() {
        sent += 1;
    }
    assert!(tx.try_send(&[1; 16]).is_err());
    std::thread::scope(|s| {
        s.spawn(|| {
            // Once the sender is asleep on the futex, waiting for room.
            wait_for(|| ring.traffic().sender_parks > 0);
            for _ in 0..sent {
                drop(rx.recv_timeout(PATIENCE).unwrap());
            }
        });
        tx.send_timeout(&[2; 16], PATIENCE).unwrap();
    });
    drop(tx);
    let t = ring.traffic();
    assert_eq!(t.full, 3, "two try_send calls and one wait: {t:?}");
    assert_eq!(t.sent, sent + 1, "{t:?}");
    assert!(t.sender_parks >= 1, "{t:?}");
    assert!(t.receiver_wakes >= 1, "{t:?}");
    drop(rx);
    shmring::unlink(&name.0).unwrap();
}

/// Counts reach the segment in batches: a live sender that neither
/// fills the ring nor drops publishes every 64 messages.
#[test]
fn a_live_sender_publishes_every_64_messages() {
    let name = Name::new("traffic-batch");
    let ring = SpscBuilder::new()
        .capacity(1 << 16)
        .create(&name.0)
        .unwrap();
    let mut tx = ring.producer().unwrap();
    for _ in 0..63 {
        tx.try_send(b"x").unwrap();
    }
    assert_eq!(ring.traffic().sent, 0);
    tx.try_send(b"x").unwrap();
    assert_eq!(ring.traffic().sent, 64);
    assert_eq!(ring.traffic().bytes_sent, 64);
    drop(tx);
    shmring::unlink(&name.0).unwrap();
}

/// A receiver blocked on an empty ring has published what it received
/// before it went to sleep: an idle pipeline's counts are current.
#[test]
fn a_receiver_asleep_has_published_its_counts() {
    let name = Name::new("traffic-idle");
    let ring = SpscBuilder::new().capacity(4096).create(&name.0).unwrap();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    for _ in 0..3 {
        tx.send_timeout(b"abc", PATIENCE).unwrap();
    }
    std::thread::scope(|s| {
        let receiver = s.spawn(move || {
            for _ in 0..4 {
                drop(rx.recv_timeout(PATIENCE).unwrap());
            }
        });
        // The receiver takes three, then sleeps on the futex.
        wait_for(|| ring.traffic().receiver_parks > 0);
        // A park is counted after the counts are published.
        let t = ring.traffic();
        assert_eq!((t.received, t.bytes_received), (3, 9), "{t:?}");
        tx.send_timeout(b"last", PATIENCE).unwrap();
        receiver.join().unwrap();
    });
    drop(tx);
    assert_eq!(ring.traffic().received, 4);
    shmring::unlink(&name.0).unwrap();
}
