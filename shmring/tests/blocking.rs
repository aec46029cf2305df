//! Parked sides wake for the event they wait for; timeouts end on time.
mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{RecvTimeoutError, SendTimeoutError, SpscBuilder, TrySendError, WaitStrategy};
use std::time::{Duration, Instant};

/// Long enough for a peer that printed "ready" to be asleep in the futex.
const SETTLE: Duration = Duration::from_millis(300);

#[test]
fn a_consumer_parked_on_an_empty_ring_wakes_for_one_message() {
    let name = Name::new("wake-consumer");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let mut peer = Peer::spawn(&["recv-one", &name, "30000"]);
    peer.expect("ready");
    std::thread::sleep(SETTLE);
    let mut producer = ring.producer().unwrap();
    producer.send(b"wake up").unwrap();
    peer.expect("message wake up");
    peer.finish();
}

#[test]
fn a_producer_parked_on_a_full_ring_wakes_when_space_frees() {
    let name = Name::new("wake-producer");
    let ring = SpscBuilder::new().capacity(256).create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    // Fill it from a producer here, then hand the role to the peer.
    {
        let mut producer = ring.producer().unwrap();
        while producer.try_send(&[1; 32]).is_ok() {}
        assert!(matches!(
            producer.try_send(&[1; 32]),
            Err(TrySendError::Full(_))
        ));
    }
    // Dropping our producer looks like end of file, but the ring still
    // holds messages and a new producer re-attaches.
    let mut peer = Peer::spawn(&["wait-send", &name, "32", "30000"]);
    peer.expect("ready");
    std::thread::sleep(SETTLE);
    // Two records: the peer's message needs a wrap-around padding too.
    drop(consumer.recv_timeout(PATIENCE).unwrap());
    drop(consumer.recv_timeout(PATIENCE).unwrap());
    peer.expect("sent");
    peer.finish();
}

#[test]
fn parked_threads_wake_in_every_wait_strategy() {
    for strategy in [
        WaitStrategy::Park,
        WaitStrategy::default(),
        WaitStrategy::BusySpin,
    ] {
        let name = Name::new("threads");
        let ring = SpscBuilder::new()
            .capacity(128)
            .wait_strategy(strategy)
            .create(&name)
            .unwrap();
        let (mut producer, mut consumer) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let reader = std::thread::spawn(move || {
            let mut sum = 0u64;
            for _ in 0..20_000 {
                sum += u64::from(consumer.recv_timeout(PATIENCE).unwrap()[0]);
            }
            sum
        });
        let mut expected = 0u64;
        for i in 0..20_000u64 {
            producer.send_timeout(&[i as u8; 24], PATIENCE).unwrap();
            expected += i % 256;
        }
        assert_eq!(reader.join().unwrap(), expected, "{strategy:?}");
    }
}

#[test]
fn recv_timeout_returns_timeout_no_earlier_than_asked() {
    let name = Name::new("recv-timeout");
    let ring = SpscBuilder::new()
        .wait_strategy(WaitStrategy::Park)
        .create(&name)
        .unwrap();
    let _producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    for wait in [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(150),
    ] {
        let start = Instant::now();
        assert_eq!(
            consumer.recv_timeout(wait).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        assert!(start.elapsed() >= wait);
    }
}

#[test]
fn send_timeout_returns_the_message_when_the_ring_stays_full() {
    let name = Name::new("send-timeout");
    let ring = SpscBuilder::new().capacity(64).create(&name).unwrap();
    let _consumer = ring.consumer().unwrap();
    let mut producer = ring.producer().unwrap();
    while producer.try_send(&[0; 8]).is_ok() {}
    let start = Instant::now();
    let err = producer
        .send_timeout(b"late", Duration::from_millis(150))
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::Timeout(m) if m == b"late"));
    assert!(start.elapsed() >= Duration::from_millis(150));
    let err = producer
        .reserve_timeout(8, Duration::from_millis(1))
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::Timeout(8)));
}

#[test]
fn too_large_messages_are_refused_without_waiting() {
    let name = Name::new("too-large");
    let ring = SpscBuilder::new()
        .capacity(1024)
        .max_message(100)
        .create(&name)
        .unwrap();
    let mut producer = ring.producer().unwrap();
    let big = [0u8; 101];
    assert!(matches!(
        producer.try_send(&big),
        Err(TrySendError::TooLarge(_))
    ));
    assert!(matches!(
        producer.send(&big),
        Err(shmring::SendError::TooLarge(_))
    ));
    assert!(producer.try_send(&big[..100]).is_ok());
}
