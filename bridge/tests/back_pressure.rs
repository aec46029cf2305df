//! Back-pressure: a lossless route holds the far producer back when the
//! near ring is full; a lossy one drops and counts; nothing leaves a
//! lossless ring while no subscriber would receive it.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, MessageSender, RingGeometry, SendTimeoutError};
use shmring_bridge::Direction;
use std::sync::mpsc;
use std::time::Duration;

/// 4 KiB messages: the buffers in between fill quickly.
fn big(seq: u64) -> Vec<u8> {
    let mut m = vec![(seq % 251) as u8; 4096];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

#[test]
fn a_full_lossless_ring_holds_back_the_producer_on_the_other_host() {
    // 80 MB: more than the rings, zenoh's queues and the sockets hold.
    const TOTAL: u64 = 20_000;
    let hosts = TwoHosts::new();
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let b = ring("b", RingGeometry::spsc(1 << 16));
    let key = unique_key("held");
    let (_bridge_a, bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&a.0, &key, "")],
        &[in_route(&key, &b.0, "")],
        &[],
    );
    let mut rx = AnyRing::open(&b.0).unwrap().receiver().unwrap();
    let (held_tx, held) = mpsc::channel();
    let ring_a = a.0.clone();
    let producer = std::thread::spawn(move || {
        let mut tx = AnyRing::open(&ring_a).unwrap().sender().unwrap();
        let mut held_at = None;
        for seq in 0..TOTAL {
            let m = big(seq);
            let mut waited = 0;
            loop {
                match tx.send_timeout(&m, Duration::from_secs(2)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(_)) => {
                        // Held back for 2 s with nobody reading on B.
                        if held_at.is_none() {
                            held_at = Some(seq);
                            held_tx.send(seq).unwrap();
                        }
                        waited += 1;
                        assert!(waited < 30, "message {seq} never taken");
                    }
                    Err(e) => panic!("send {seq}: {e}"),
                }
            }
        }
        held_at
    });
    let held_at = held
        .recv_timeout(PATIENCE)
        .expect("the producer was never held back");
    println!("the producer was held back at message {held_at} of {TOTAL}");
    assert!(held_at < TOTAL);
    let s = bridge_b.status().unwrap();
    assert_eq!(
        route(&s, Direction::In, &b.0, &key).state,
        "waiting: the ring is full",
        "{s}"
    );
    // Longer than zenoh's own patience for a blocked sender (5 s), which
    // the bridge raises: the link stays up, nothing is lost.
    std::thread::sleep(Duration::from_secs(5));
    for seq in 0..TOTAL {
        let m = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(&*m, &big(seq)[..], "message {seq}");
    }
    assert_eq!(producer.join().unwrap(), Some(held_at));
    let s = bridge_b.wait_for(Duration::from_secs(10), "done", |s| {
        route(s, Direction::In, &b.0, &key).messages == TOTAL
    });
    let into = route(&s, Direction::In, &b.0, &key);
    assert_eq!(
        (into.lost, into.dropped_full, into.state.as_str()),
        (0, 0, "running"),
        "{s}"
    );
    assert_eq!(
        (s.connects, s.disconnects),
        (1, 0),
        "the link went down: {s}"
    );
}

#[test]
fn a_lossy_in_route_drops_what_its_full_ring_cannot_take_and_counts_it() {
    const SENT: u64 = 1000;
    let hosts = TwoHosts::new();
    let d = ring("d", RingGeometry::spsc(1 << 16));
    let c = ring("c", RingGeometry::spsc(4096));
    let key = unique_key("lossy");
    let (bridge_a, bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&d.0, &key, "")],
        &[in_route(&key, &c.0, "?lossy")],
        &[],
    );
    // Nobody reads c until everything was carried.
    let mut rx = AnyRing::open(&c.0).unwrap().receiver().unwrap();
    produce(&d.0, 3, 0..SENT).join().unwrap();
    bridge_a.wait_for(PATIENCE, "carried", |s| {
        route(s, Direction::Out, &d.0, &key).messages == SENT
    });
    let s = bridge_b.wait_for(PATIENCE, "delivered or dropped", |s| {
        let r = route(s, Direction::In, &c.0, &key);
        r.messages + r.dropped_full == SENT
    });
    let into = route(&s, Direction::In, &c.0, &key);
    assert!(into.dropped_full > 0, "{s}");
    let mut last = None;
    for _ in 0..into.messages {
        let (stream, seq) = check(&rx.recv_timeout(PATIENCE).unwrap());
        assert_eq!(stream, 3);
        assert!(last < Some(seq));
        last = Some(seq);
    }
    assert!(matches!(rx.try_recv(), Err(shmring::TryRecvError::Empty)));
    assert_eq!(
        into.lost, 0,
        "drops at the ring are not losses on the way: {s}"
    );
}

#[test]
fn without_a_subscriber_a_lossless_ring_keeps_its_messages_and_a_lossy_one_counts_them() {
    let host = TwoHosts::loopback().a.clone();
    let kept = ring("kept", RingGeometry::spsc(1 << 16));
    let dropped = ring("dropped", RingGeometry::spsc(1 << 16));
    let (k1, k2) = (unique_key("nobody-1"), unique_key("nobody-2"));
    let mut args = listening(&host, free_port(&host));
    args.extend(out_route(&kept.0, &k1, ""));
    args.extend(out_route(&dropped.0, &k2, "?lossy"));
    let bridge = BridgeProcess::start(&host, &args);
    produce(&kept.0, 1, 0..100).join().unwrap();
    produce(&dropped.0, 2, 0..100).join().unwrap();
    let s = bridge.wait_for(PATIENCE, "dropped", |s| {
        route(s, Direction::Out, &dropped.0, &k2).dropped_no_subscriber == 100
    });
    let held = route(&s, Direction::Out, &kept.0, &k1);
    assert_eq!(
        (held.messages, held.state.as_str()),
        (0, "waiting for a subscriber"),
        "{s}"
    );
    assert_eq!(AnyRing::open(&kept.0).unwrap().messages_in_flight(), 100);
    assert_eq!(AnyRing::open(&dropped.0).unwrap().messages_in_flight(), 0);
    assert_eq!(route(&s, Direction::Out, &dropped.0, &k2).messages, 0);
}

#[test]
fn a_closed_sender_is_not_an_error() {
    // The producer of an out route's ring may come and go; the route
    // carries what each one sent.
    let host = TwoHosts::loopback().a.clone();
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let key = unique_key("comes-and-goes");
    let mut args = listening(&host, free_port(&host));
    args.extend(out_route(&a.0, &key, "?lossy"));
    let bridge = BridgeProcess::start(&host, &args);
    for round in 0..3u64 {
        let mut tx = AnyRing::open(&a.0).unwrap().sender().unwrap();
        tx.send(&round.to_le_bytes()).unwrap();
        drop(tx);
        bridge.wait_for(PATIENCE, "taken", |s| {
            route(s, Direction::Out, &a.0, &key).dropped_no_subscriber == round + 1
        });
    }
    let s = bridge.status().unwrap();
    assert_eq!(route(&s, Direction::Out, &a.0, &key).errors, 0, "{s}");
}

#[test]
fn a_bridge_held_back_by_a_far_side_that_never_reads_still_stops_on_sigterm() {
    // B's ring fills and nobody reads it: B waits in zenoh's callback, A's
    // lossless `put` waits for room in zenoh's queue. SIGTERM still stops
    // both, promptly and cleanly.
    let hosts = TwoHosts::new();
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let b = ring("b", RingGeometry::spsc(1 << 16));
    let key = unique_key("stuck");
    let (mut bridge_a, mut bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&a.0, &key, "")],
        &[in_route(&key, &b.0, "")],
        &[],
    );
    let _receiver_attached = AnyRing::open(&b.0).unwrap().receiver().unwrap();
    let mut tx = AnyRing::open(&a.0).unwrap().sender().unwrap();
    let mut sent = 0u64;
    loop {
        match tx.send_timeout(&big(sent), Duration::from_secs(2)) {
            Ok(()) => sent += 1,
            Err(SendTimeoutError::Timeout(_)) => break,
            Err(e) => panic!("send {sent}: {e}"),
        }
        assert!(sent < 100_000, "never held back");
    }
    bridge_b.wait_for(PATIENCE, "held", |s| {
        route(s, Direction::In, &b.0, &key).state == "waiting: the ring is full"
    });
    assert_eq!(bridge_a.stop(Duration::from_secs(10)), Some(0));
    assert_eq!(bridge_b.stop(Duration::from_secs(10)), Some(0));
    // A's route was inside zenoh's `put`, its queue full: that message is
    // given up, and said so.
    let last = shmring_bridge::status::read(&bridge_a.status_file).unwrap();
    assert_eq!(
        route(&last, Direction::Out, &a.0, &key).abandoned,
        1,
        "{last}"
    );
    let last = shmring_bridge::status::read(&bridge_b.status_file).unwrap();
    assert!(last.stopped, "{last}");
    assert_eq!(
        route(&last, Direction::In, &b.0, &key).abandoned,
        1,
        "{last}"
    );
}
