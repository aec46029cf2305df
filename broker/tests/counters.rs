//! Traffic counters through the broker (issue 19): messages sent by one
//! process and received by another show in `shmring stat`, `stat --json`
//! and `shmring top`.

mod common;

use common::{Daemon, stdout};

/// 100 lines sent by `shmring send`, received by `shmring recv` (two
/// processes besides this one): the counters say so, exactly, since both
/// endpoints were dropped.
#[test]
fn stat_and_top_show_the_traffic_of_other_processes() {
    let d = Daemon::start(None);
    for kind in ["spsc", "mpmc", "pubsub"] {
        let name = format!("counted-{kind}");
        let out = d.cli(&["create", &name, "--kind", kind], b"");
        assert!(out.status.success(), "{out:?}");
        // The pubsub subscriber must be there before the lines are sent.
        let mut recv = std::process::Command::new(common::SHMRING)
            .args(["--socket"])
            .arg(&d.socket)
            .args(["recv", &name, "--count", "100", "--timeout", "20"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("shmring recv");
        if kind == "pubsub" {
            wait_for_subscriber(&d, &name);
        }
        let lines: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
        let out = d.cli(&["send", &name], lines.as_bytes());
        assert!(out.status.success(), "{out:?}");
        let got =
            common::wait_timeout(&mut recv, std::time::Duration::from_secs(30)).expect("recv ends");
        assert!(got.success(), "{kind}: recv {got:?}");
        let out = d.cli(&["stat", &name, "--json"], b"");
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let t = &v["traffic"];
        assert_eq!(t["sent"], 100, "{kind}: {t}");
        assert_eq!(t["bytes_sent"], 800, "{kind}: {t}");
        assert_eq!(t["received"], 100, "{kind}: {t}");
        assert_eq!(t["bytes_received"], 800, "{kind}: {t}");
        assert_eq!(t["full"], 0, "{kind}: {t}");
        let text = stdout(&d.cli(&["stat", &name], b""));
        assert!(text.contains("sent:        100 messages, 800 B"), "{text}");
        assert!(text.contains("received:    100 messages, 800 B"), "{text}");
    }
    let out = d.cli(&["top", "--count", "2", "--interval", "0.05"], b"");
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    // Two refreshes (not a terminal: one after the other), each with a
    // header, the column names and a row per ring; the first shows totals.
    assert_eq!(text.matches("shmring top: 3 rings").count(), 2, "{text}");
    let first = text.split("\n\n").next().unwrap();
    let row = first
        .lines()
        .find(|l| l.starts_with("counted-mpmc"))
        .expect("a row per ring");
    assert!(row.ends_with(" *"), "totals on the first refresh: {row}");
    assert!(row.contains(" 100 "), "{row}");
    let out = d.cli(&["top", "--interval", "0"], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Waits (bounded) until the ring's subscriber table has an entry.
fn wait_for_subscriber(d: &Daemon, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&d.cli(&["stat", name, "--json"], b""))).unwrap();
        if v["subscribers"].as_array().is_some_and(|s| !s.is_empty()) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no subscriber came");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
