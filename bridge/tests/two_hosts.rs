//! Rings on two "hosts" (network namespaces joined by a veth pair), joined
//! by two bridges over zenoh: everything arrives, in order, once.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, MessageSender, RecvTimeoutError, RingGeometry, SendTimeoutError};
use shmring_bridge::Direction;
use std::time::Duration;

const MESSAGES: u64 = 1_000_000;
/// Longest any one message may take end to end before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// Sends messages `range` of `stream` into `ring`, waiting out a full ring
/// and a missing receiver (a bridge being restarted).
pub fn produce(ring: &str, stream: u32, range: std::ops::Range<u64>) -> std::thread::JoinHandle<()> {
    let ring = ring.to_owned();
    std::thread::spawn(move || {
        let mut tx = AnyRing::open(&ring).unwrap().sender().unwrap();
        for seq in range {
            let m = message(stream, seq);
            let deadline = std::time::Instant::now() + PATIENCE;
            loop {
                match tx.send_timeout(&m, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => {
                        assert!(std::time::Instant::now() < deadline, "message {seq} not taken within {PATIENCE:?}");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("send {seq}: {e}"),
                }
            }
        }
    })
}

#[test]
fn a_million_checksummed_messages_cross_two_hosts_in_order() {
    let hosts = TwoHosts::new();
    let a = ring("a", RingGeometry::spsc(1 << 20));
    let b = ring("b", RingGeometry::spsc(1 << 20));
    let key = unique_key("million");
    let port = free_port(&hosts.a);
    let mut args_a = listening(&hosts.a, port);
    args_a.extend(out_route(&a.0, &key, ""));
    let mut args_b = connecting(&hosts.a, port);
    args_b.extend(in_route(&key, &b.0, ""));
    let bridge_a = BridgeProcess::start(&hosts.a, &args_a);
    let bridge_b = BridgeProcess::start(&hosts.b, &args_b);
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
    let (out, into) = (route(&sa, Direction::Out, &a.0, &key), route(&sb, Direction::In, &b.0, &key));
    assert_eq!(out.bytes, into.bytes);
    assert_eq!((into.lost, into.duplicates, into.malformed, into.sources), (0, 0, 0, 1), "{sb}");
    assert_eq!(out.errors + into.errors, 0);
    assert!(matches!(rx.try_recv(), Err(shmring::TryRecvError::Empty)));
    println!("two hosts: {} (namespaces: {})", hosts.a.address, hosts.separate());
}
