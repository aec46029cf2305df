//! The command line: a bridge run from a configuration file, and its
//! status read back by `shmring-bridge status`.

mod common;

use common::*;
use shmring::{MessageSender, RingGeometry};
use shmring_bridge::Direction;
use std::time::Duration;

#[test]
fn a_bridge_runs_from_a_file_and_status_prints_its_counters() {
    let a = ring("a", RingGeometry::spsc(1 << 16));
    let key = unique_key("file");
    let file = TempFile(std::env::temp_dir().join(format!("{}.toml", unique("config"))));
    std::fs::write(
        &file.0,
        format!(
            "scouting = false\nlisten = [\"tcp/127.0.0.1:{}\"]\n\n[[out]]\nring = \"{}\"\nkey = \"{key}\"\nlossy = true\n",
            free_port(&TwoHosts::loopback().a),
            a.0
        ),
    )
    .unwrap();
    let host = TwoHosts::loopback().a.clone();
    let mut bridge =
        BridgeProcess::start(&host, &["--config".into(), file.0.display().to_string()]);
    let mut tx = shmring::AnyRing::open(&a.0).unwrap().sender().unwrap();
    for seq in 0..10u64 {
        tx.send(&seq.to_le_bytes()).unwrap();
    }
    bridge.wait_for(PATIENCE, "dropped", |s| {
        route(s, Direction::Out, &a.0, &key).dropped_no_subscriber == 10
    });
    let status_file = bridge.status_file.clone();
    let status = |json: bool| {
        let mut cmd = std::process::Command::new(BRIDGE);
        cmd.arg("status").arg(&status_file);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = status(false);
    assert!(
        text.contains(&format!("out {} -> {key}: dropping: no subscriber", a.0)),
        "{text}"
    );
    assert!(text.contains("dropped (no subscriber) 10"), "{text}");
    let json = shmring_bridge::BridgeStatus::from_json(&status(true)).unwrap();
    assert_eq!(
        route(&json, Direction::Out, &a.0, &key).dropped_no_subscriber,
        10
    );
    assert_eq!(bridge.stop(Duration::from_secs(10)), Some(0));
    assert!(status(false).contains("(stopped)"));

    let out = std::process::Command::new(BRIDGE)
        .args(["status", "/nonexistent/status.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
