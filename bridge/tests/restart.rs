//! A bridge killed (SIGKILL) and restarted mid-stream, on either side:
//! what is lost is one contiguous run per kill, no larger than the docs'
//! bound (docs/bridge.md, "Delivery"); nothing is duplicated or reordered.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, RingGeometry};
use std::time::Duration;

const MESSAGES: u64 = 300_000;

/// The docs' bound on what one killed bridge can lose, in bytes of
/// payload: the sending bridge's zenoh transmission queue (2 batches of
/// 64 KiB for data), the kernel's buffers of both TCP sockets at their
/// largest, the receiving bridge's batch in hand, and the sample being
/// sent into the ring.
fn loss_bound_bytes() -> u64 {
    let largest = |file: &str| -> u64 {
        let text = std::fs::read_to_string(file).unwrap();
        text.split_whitespace().last().unwrap().parse().unwrap()
    };
    let wmem = largest("/proc/sys/net/ipv4/tcp_wmem");
    let rmem = largest("/proc/sys/net/ipv4/tcp_rmem");
    2 * 65_535 + wmem + rmem + 65_535 + 65_535
}

#[test]
fn a_killed_bridge_loses_one_contiguous_run_and_duplicates_nothing() {
    let hosts = TwoHosts::new();
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let b = ring("b", RingGeometry::spsc(1 << 16));
    let key = unique_key("restart");
    let (mut bridge_a, mut bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&a.0, &key, "")],
        &[in_route(&key, &b.0, "")],
        &[],
    );
    let mut rx = AnyRing::open(&b.0).unwrap().receiver().unwrap();
    let producer = produce(&a.0, 7, 0..MESSAGES);
    let mut received = Vec::with_capacity(MESSAGES as usize);
    let mut kills = [(50_000u64, "out side (A)"), (150_000, "in side (B)")]
        .into_iter()
        .peekable();
    while received.last() != Some(&(MESSAGES - 1)) {
        let m = rx.recv_timeout(PATIENCE).unwrap_or_else(|e| {
            panic!(
                "after {:?}: {e}\nA: {:?}\nB: {:?}",
                received.last(),
                bridge_a.status(),
                bridge_b.status()
            )
        });
        let (stream, seq) = check(&m);
        assert_eq!(stream, 7);
        if let Some(&last) = received.last() {
            assert!(seq > last, "{seq} after {last}: duplicated or reordered");
        }
        received.push(seq);
        if let Some(&(at, side)) = kills.peek() {
            if received.len() as u64 == at {
                println!("killing the {side} bridge after {at} messages");
                if side.starts_with("out") {
                    bridge_a.restart();
                } else {
                    bridge_b.restart();
                }
                kills.next();
            }
        }
    }
    producer.join().unwrap();
    assert!(kills.next().is_none(), "the stream ended before both kills");
    // Runs of missing sequence numbers: at most one per kill.
    let mut gaps = Vec::new();
    let mut expected = 0;
    for &seq in &received {
        if seq != expected {
            gaps.push(expected..seq);
        }
        expected = seq + 1;
    }
    println!("gaps: {gaps:?}");
    assert!(gaps.len() <= 2, "more runs lost than kills: {gaps:?}");
    let bound = loss_bound_bytes();
    for gap in &gaps {
        let bytes: u64 = gap.clone().map(|seq| message(7, seq).len() as u64).sum();
        assert!(
            bytes <= bound,
            "lost {gap:?} ({bytes} bytes) > bound {bound}"
        );
    }
    let lost: u64 = gaps.iter().map(|g| g.end - g.start).sum();
    assert_eq!(received.len() as u64 + lost, MESSAGES);
    // The (restarted) out side saw the in side go and come back.
    let s = bridge_a.wait_for(Duration::from_secs(10), "reconnected", |s| {
        s.reconnects >= 1
    });
    assert_eq!((s.disconnects, s.linked.len()), (1, 1), "{s}");
    // The restarted in-side bridge counted nothing as duplicated.
    let s = bridge_b.wait_for(Duration::from_secs(10), "status", |_| true);
    let into = route(&s, shmring_bridge::Direction::In, &b.0, &key);
    assert_eq!(into.duplicates, 0, "{s}");
}
