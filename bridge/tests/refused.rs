//! What a bridge refuses: samples from zenoh that are malformed,
//! oversized, duplicated, or out of order (each counted, none reaching
//! the ring, the bridge still running), and configurations it cannot run.

mod common;

use common::*;
use shmring::{AnyRing, MessageReceiver, RingGeometry};
use shmring_bridge::Direction;
use shmring_bridge::header::Header;
use std::time::{Duration, Instant};
use zenoh::Wait;

#[test]
fn malformed_oversized_and_duplicated_samples_are_counted_and_never_reach_the_ring() {
    let host = TwoHosts::loopback().a.clone();
    let b = ring("b", RingGeometry::spsc(4096));
    let key = unique_key("refused");
    let port = free_port(&host);
    let mut args = listening(&host, port);
    args.extend(in_route(&key, &b.0, ""));
    let mut bridge = BridgeProcess::start(&host, &args);
    bridge.wait_for(Duration::from_secs(30), "started", |_| true);
    let mut rx = AnyRing::open(&b.0).unwrap().receiver().unwrap();

    // A plain zenoh program, not a bridge: it can send anything.
    let mut config = zenoh::Config::default();
    config
        .insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    config
        .insert_json5("connect/endpoints", &format!("[\"tcp/127.0.0.1:{port}\"]"))
        .unwrap();
    let session = zenoh::open(config).wait().unwrap();
    let publisher = session
        .declare_publisher(key.clone())
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !publisher.matching_status().wait().unwrap().matching() {
        assert!(
            Instant::now() < deadline,
            "the bridge's subscriber never matched"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let header = |sequence| {
        Header {
            source: 42,
            sequence,
        }
        .encode()
        .to_vec()
    };
    let mut wrong_magic = header(1);
    wrong_magic[0] ^= 0xff;
    let samples: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (b"plain".to_vec(), None),
        (b"garbage attachment".to_vec(), Some(b"garbage".to_vec())),
        (vec![0xAB; 10 * 1024], None),
        (b"h5".to_vec(), Some(header(5))),
        (b"dup of 5".to_vec(), Some(header(5))),
        (b"older than 5".to_vec(), Some(header(3))),
        (b"h9".to_vec(), Some(header(9))),
        (b"wrong magic".to_vec(), Some(wrong_magic)),
        (vec![0xCD; 2 * 1024 * 1024], Some(header(10))),
        (b"end".to_vec(), Some(header(11))),
    ];
    for (payload, attachment) in samples {
        let put = publisher.put(payload);
        match attachment {
            Some(a) => put.attachment(a).wait().unwrap(),
            None => put.wait().unwrap(),
        }
    }
    for expected in [&b"plain"[..], b"h5", b"h9", b"end"] {
        let m = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(&*m, expected);
    }
    let s = bridge.wait_for(Duration::from_secs(10), "counted", |s| {
        route(s, Direction::In, &b.0, &key).messages == 4
    });
    let into = route(&s, Direction::In, &b.0, &key);
    assert_eq!(
        (
            into.malformed,
            into.oversized,
            into.duplicates,
            into.lost,
            into.sources
        ),
        (2, 2, 2, 3, 1),
        "{s}"
    );
    assert!(matches!(rx.try_recv(), Err(shmring::TryRecvError::Empty)));
    assert!(
        bridge.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the bridge exited"
    );
    assert_eq!(bridge.stop(Duration::from_secs(10)), Some(0));
    let last = shmring_bridge::status::read(&bridge.status_file).unwrap();
    assert!(last.stopped);
    drop(publisher);
    session.close().wait().unwrap();
}

fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BRIDGE)
        .arg("run")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_missing_ring_or_a_bad_route_stops_the_bridge_before_it_starts() {
    let missing = unique("missing");
    let out = run(&[
        "--no-scouting",
        "--out",
        &format!("{missing}=shmring-test/missing"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&missing) && stderr.contains("cannot open ring"),
        "{stderr}"
    );

    for (args, why) in [
        (vec!["--out", "r=a/*"], "without wildcards"),
        (vec!["--in", "a/b"], "expected KEY=RING"),
        (vec!["--no-scouting"], "no routes"),
        (
            vec!["--mode", "client", "--no-scouting", "--in", "a=r"],
            "needs a router",
        ),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }
}
