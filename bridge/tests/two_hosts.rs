//! Rings on two "hosts" (network namespaces joined by a veth pair), joined
//! by two bridges over zenoh: everything arrives, in order, once.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, RecvTimeoutError, RingGeometry};
use shmring_bridge::Direction;
use std::time::Duration;

const MESSAGES: u64 = 1_000_000;

#[test]
fn a_million_checksummed_messages_cross_two_hosts_in_order() {
    let hosts = TwoHosts::new();
    let a = ring("a", RingGeometry::spsc(1 << 20));
    let b = ring("b", RingGeometry::spsc(1 << 20));
    let key = unique_key("million");
    let (bridge_a, bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&a.0, &key, "")],
        &[in_route(&key, &b.0, "")],
        &[],
    );
    let mut rx = AnyRing::open(&b.0).unwrap().receiver().unwrap();
    let producer = produce(&a.0, 1, 0..MESSAGES);
    for expected in 0..MESSAGES {
        let m = match rx.recv_timeout(PATIENCE) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!(
                "message {expected} did not arrive within {PATIENCE:?}\nA: {:?}\nB: {:?}",
                bridge_a.status(),
                bridge_b.status()
            ),
            Err(e) => panic!("receive {expected}: {e}"),
        };
        assert_eq!(check(&m), (1, expected));
    }
    producer.join().unwrap();
    let sa = bridge_a.wait_for(Duration::from_secs(10), "done", |s| {
        route(s, Direction::Out, &a.0, &key).messages == MESSAGES
    });
    let sb = bridge_b.wait_for(Duration::from_secs(10), "done", |s| {
        route(s, Direction::In, &b.0, &key).messages == MESSAGES
    });
    let (out, into) = (
        route(&sa, Direction::Out, &a.0, &key),
        route(&sb, Direction::In, &b.0, &key),
    );
    assert_eq!(out.bytes, into.bytes);
    assert_eq!(
        (into.lost, into.duplicates, into.malformed, into.sources),
        (0, 0, 0, 1),
        "{sb}"
    );
    assert_eq!(out.errors + into.errors, 0);
    assert!(matches!(rx.try_recv(), Err(shmring::TryRecvError::Empty)));
    println!(
        "two hosts: {} (namespaces: {})",
        hosts.a.address,
        hosts.separate()
    );
}

/// Receives `per_stream` messages of each of `streams` from `ring`'s
/// receiver `rx`: each stream in order, every checksum right.
fn consume_streams(rx: &mut shmring::AnyReceiver, streams: &[u32], per_stream: u64) {
    let mut next = std::collections::HashMap::new();
    for _ in 0..per_stream * streams.len() as u64 {
        let m = rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("after {next:?}: {e}"));
        let (stream, seq) = check(&m);
        let expected = next.entry(stream).or_insert(0u64);
        assert!(streams.contains(&stream), "stream {stream}");
        assert_eq!(seq, *expected, "stream {stream}: out of order");
        *expected += 1;
    }
    assert!(streams.iter().all(|s| next[s] == per_stream), "{next:?}");
}

#[test]
fn both_directions_at_once_between_mpmc_queues_and_pubsub_rings() {
    const PER_STREAM: u64 = 50_000;
    let hosts = TwoHosts::new();
    // A: two producers into an MPMC queue that goes out; a pub/sub ring
    // that comes in. B: the mirror image.
    let qa = ring("qa", RingGeometry::mpmc(512, 256));
    let pa = ring("pa", RingGeometry::pubsub(512, 256));
    let qb = ring("qb", RingGeometry::mpmc(512, 256));
    let pb = ring("pb", RingGeometry::pubsub(512, 256));
    let (a_to_b, b_to_a) = (unique_key("a-to-b"), unique_key("b-to-a"));
    // Subscribers first: a pub/sub subscriber starts at the next message.
    let mut at_a = AnyRing::open(&pa.0).unwrap().receiver().unwrap();
    let mut at_b = AnyRing::open(&pb.0).unwrap().receiver().unwrap();
    let (bridge_a, bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&qa.0, &a_to_b, ""), in_route(&b_to_a, &pa.0, "")],
        &[in_route(&a_to_b, &pb.0, ""), out_route(&qb.0, &b_to_a, "")],
        &[],
    );
    let producers = [
        produce(&qa.0, 1, 0..PER_STREAM),
        produce(&qa.0, 2, 0..PER_STREAM),
        produce(&qb.0, 3, 0..PER_STREAM),
        produce(&qb.0, 4, 0..PER_STREAM),
    ];
    let to_b = std::thread::spawn(move || {
        consume_streams(&mut at_b, &[1, 2], PER_STREAM);
        at_b
    });
    consume_streams(&mut at_a, &[3, 4], PER_STREAM);
    let _at_b = to_b.join().unwrap();
    for p in producers {
        p.join().unwrap();
    }
    for (bridge, out_ring, out_key, in_ring, in_key) in [
        (&bridge_a, &qa.0, &a_to_b, &pa.0, &b_to_a),
        (&bridge_b, &qb.0, &b_to_a, &pb.0, &a_to_b),
    ] {
        let s = bridge.wait_for(Duration::from_secs(10), "done", |s| {
            route(s, Direction::Out, out_ring, out_key).messages == 2 * PER_STREAM
                && route(s, Direction::In, in_ring, in_key).messages == 2 * PER_STREAM
        });
        let into = route(&s, Direction::In, in_ring, in_key);
        assert_eq!((into.lost, into.duplicates, into.errors), (0, 0, 0), "{s}");
    }
}

#[test]
fn a_bridge_never_receives_its_own_publications() {
    // Both bridges publish and subscribe on the same key: each ring gets
    // exactly the other host's stream, nothing loops back.
    let hosts = TwoHosts::new();
    let shape = RingGeometry::spsc(1 << 16);
    let (out_a, in_a, out_b, in_b) = (
        ring("oa", shape),
        ring("ia", shape),
        ring("ob", shape),
        ring("ib", shape),
    );
    let key = unique_key("both-ways");
    let (_bridge_a, _bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&out_a.0, &key, ""), in_route(&key, &in_a.0, "")],
        &[out_route(&out_b.0, &key, ""), in_route(&key, &in_b.0, "")],
        &[],
    );
    let mut at_a = AnyRing::open(&in_a.0).unwrap().receiver().unwrap();
    let mut at_b = AnyRing::open(&in_b.0).unwrap().receiver().unwrap();
    let producers = [produce(&out_a.0, 1, 0..1000), produce(&out_b.0, 2, 0..1000)];
    for (rx, stream) in [(&mut at_b, 1), (&mut at_a, 2)] {
        for seq in 0..1000 {
            assert_eq!(check(&rx.recv_timeout(PATIENCE).unwrap()), (stream, seq));
        }
    }
    for p in producers {
        p.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(at_a.try_recv(), Err(shmring::TryRecvError::Empty)));
    assert!(matches!(at_b.try_recv(), Err(shmring::TryRecvError::Empty)));
}

#[test]
fn a_pubsub_ring_fans_out_to_a_local_subscriber_and_to_mpmc_receivers_on_the_other_host() {
    const MESSAGES: u64 = 20_000;
    let hosts = TwoHosts::new();
    let published = ring("ps", RingGeometry::pubsub(512, 256));
    let queue = ring("q", RingGeometry::mpmc(512, 256));
    let key = unique_key("fan-out");
    // The bridge is one subscriber of the pub/sub ring, next to a local
    // one; on B, two MPMC receivers share what arrives.
    let mut local = AnyRing::open(&published.0).unwrap().receiver().unwrap();
    let (_bridge_a, _bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&published.0, &key, "")],
        &[in_route(&key, &queue.0, "")],
        &[],
    );
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = AnyRing::open(&queue.0).unwrap().receiver().unwrap();
            let received = received.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut last = std::time::Instant::now();
                while received.load(std::sync::atomic::Ordering::Relaxed) < MESSAGES {
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Ok(m) => {
                            seen.push(check(&m).1);
                            received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            last = std::time::Instant::now();
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            assert!(last.elapsed() < PATIENCE, "nothing for {PATIENCE:?}");
                        }
                        Err(e) => panic!("receive: {e}"),
                    }
                }
                seen
            })
        })
        .collect();
    let producer = produce(&published.0, 6, 0..MESSAGES);
    for seq in 0..MESSAGES {
        assert_eq!(check(&local.recv_timeout(PATIENCE).unwrap()), (6, seq));
    }
    producer.join().unwrap();
    let mut all = Vec::new();
    for r in receivers {
        let seen = r.join().unwrap();
        // Each receiver sees its share in the producer's order.
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");
        all.extend(seen);
    }
    all.sort_unstable();
    assert_eq!(all, (0..MESSAGES).collect::<Vec<_>>(), "not exactly once");
}
