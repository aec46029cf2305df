//! The daemon and the tool as users see them: segments across processes,
//! `ls`/`stat`/`rm`, the `send | recv` pipeline, permissions, signals.

mod common;

use common::{Daemon, run_cli, stdout, wait_timeout};
use rustix::process::Signal;
use shmring::broker::{BrokerError, CreateOptions, Role};
use shmring::prelude::*;
use std::time::Duration;

#[test]
fn send_and_recv_lines_between_processes() {
    let d = Daemon::start(None);
    let out = d.cli(&["create", "q", "--kind", "spsc", "--size", "4096"], b"");
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["send", "q"], b"a\nb\n");
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["recv", "q", "--count", "2", "--timeout", "5"], b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "a\nb\n");

    // MPMC the same way.
    let out = d.cli(&["create", "m", "--kind", "mpmc", "--size", "65536"], b"");
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["send", "m"], b"x\ny\nz\n");
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["recv", "m", "--count", "3", "--timeout", "5"], b"");
    assert_eq!(stdout(&out), "x\ny\nz\n");
    // Every sender left and the queue is drained: end of stream, exit 0.
    let out = d.cli(&["recv", "m", "--count", "1", "--timeout", "5"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    // No sender ever came: the timeout is reported with exit code 6.
    let out = d.cli(&["create", "e", "--kind", "mpmc", "--size", "4096"], b"");
    assert!(out.status.success(), "{out:?}");
    let out = d.cli(&["recv", "e", "--count", "1", "--timeout", "0.2"], b"");
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn library_handles_across_processes() {
    let d = Daemon::start(None);
    let mut client = d.client();
    let ring = client
        .create_spsc("lib", &CreateOptions::spsc(1 << 16))
        .unwrap();
    assert_eq!(ring.capacity(), 1 << 16);
    let mut consumer = client.consumer("lib").unwrap();
    // The producer is another process.
    let out = d.cli(&["send", "lib"], b"one\ntwo\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        &*consumer.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"one"
    );
    assert_eq!(
        &*consumer.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"two"
    );
    // It exited: end of stream.
    assert!(consumer.recv_timeout(Duration::from_secs(5)).is_err());

    assert!(matches!(
        client.create("lib", &CreateOptions::spsc(4096)),
        Err(BrokerError::AlreadyExists(_))
    ));
    assert!(matches!(
        client.sender("lib"),
        Err(BrokerError::WrongKind(_))
    ));
    assert!(matches!(
        client.open_spsc("nope"),
        Err(BrokerError::NotFound(_))
    ));
    assert!(matches!(
        client.create("bad", &CreateOptions::spsc(1000)),
        Err(BrokerError::InvalidArgument(_))
    ));
}

#[test]
fn ls_stat_rm_output() {
    let d = Daemon::start(None);
    for (name, mode) in [("alpha", "0600"), ("beta", "0640")] {
        let out = d.cli(
            &[
                "create", name, "--kind", "spsc", "--size", "8192", "--mode", mode,
            ],
            b"",
        );
        assert!(out.status.success(), "{out:?}");
    }
    let out = d.cli(&["ls"], b"");
    let text = stdout(&out);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME"));
    assert!(lines[1].starts_with("alpha") && lines[1].contains("0600"));
    assert!(lines[2].starts_with("beta") && lines[2].contains("0640"));

    let out = d.cli(&["ls", "--json"], b"");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["name"], "beta");
    assert_eq!(v[1]["capacity"], 8192);

    let mut client = d.client();
    let _producer = client.producer("alpha").unwrap();
    let out = d.cli(&["stat", "alpha", "--json"], b"");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["endpoints"][0]["role"], Role::Producer.to_string());
    assert_eq!(v["endpoints"][0]["pid"], std::process::id());
    let out = d.cli(&["stat", "alpha"], b"");
    assert!(stdout(&out).contains(&format!("producer:{}", std::process::id())));

    assert!(d.cli(&["rm", "alpha"], b"").status.success());
    let out = d.cli(&["stat", "alpha"], b"");
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("shmring: "));
    assert_eq!(stdout(&d.cli(&["ls"], b"")).lines().count(), 2);
}

#[test]
fn permissions_are_checked_per_segment() {
    // Switching to another uid needs root (CI and the dev machines run as
    // root); elsewhere there is nobody to test against.
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    // The socket must be reachable by the other uid; the segments are not.
    let d = Daemon::start(Some("[modes]\nsocket = 0o666\ndirectory = 0o755\n"));
    for (name, mode) in [("private", "0600"), ("public", "0666")] {
        let out = d.cli(
            &[
                "create", name, "--kind", "spsc", "--size", "4096", "--mode", mode,
            ],
            b"",
        );
        assert!(out.status.success(), "{out:?}");
    }
    let nobody = Some(65534);
    let out = run_cli(&d.socket, &["send", "private"], b"x\n", nobody);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let out = run_cli(&d.socket, &["stat", "private"], b"", nobody);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let out = run_cli(&d.socket, &["send", "public"], b"hello\n", nobody);
    assert!(out.status.success(), "{out:?}");
    let out = run_cli(&d.socket, &["rm", "public"], b"", nobody);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    // ls shows nobody only what it may read.
    let out = run_cli(&d.socket, &["ls"], b"", nobody);
    let text = stdout(&out);
    assert!(
        text.contains("public") && !text.contains("private"),
        "{text}"
    );
    // Root may do anything.
    let out = d.cli(&["recv", "public", "--count", "1", "--timeout", "5"], b"");
    assert_eq!(stdout(&out), "hello\n");
    assert!(d.cli(&["rm", "public"], b"").status.success());
}

#[test]
fn sigterm_removes_socket_and_lock() {
    let mut d = Daemon::start(None);
    let lock = d.socket.with_extension("sock.lock");
    assert!(d.socket.exists() && lock.exists());
    let _client = d.client();
    let status = d.signal_and_wait(Signal::TERM);
    assert!(status.success(), "{status}");
    assert!(!d.socket.exists(), "socket left behind");
    assert!(!lock.exists(), "lock file left behind");
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let d = Daemon::start(None);
    let mut second = std::process::Command::new(common::SHMRINGD)
        .arg("--socket")
        .arg(&d.socket)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut second, Duration::from_secs(5)).expect("second daemon exits");
    assert!(!status.success());
    // The first one still serves.
    assert!(d.client().list().unwrap().is_empty());
}

#[test]
fn sighup_reloads_limits() {
    let mut d = Daemon::start(Some("[limits]\nsegments_per_uid = 1\n"));
    let mut client = d.client();
    client.create("one", &CreateOptions::spsc(4096)).unwrap();
    assert!(matches!(
        client.create("two", &CreateOptions::spsc(4096)),
        Err(BrokerError::LimitExceeded(_))
    ));
    std::fs::write(
        d.config.as_ref().unwrap(),
        "[limits]\nsegments_per_uid = 2\n",
    )
    .unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(d.child.as_ref().unwrap()),
        Signal::HUP,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match client.create("two", &CreateOptions::spsc(4096)) {
            Ok(_) => break,
            Err(BrokerError::LimitExceeded(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(d.signal_and_wait(Signal::TERM).success());
}

/// The broker source of the one open path: `CreateOrOpen` makes the
/// segment once and then maps the same one (a message sent through the
/// first mapping is received through the second); a kind mismatch is
/// refused.
#[test]
fn create_or_open_through_the_broker_maps_one_segment() {
    use shmring::{Mpmc, OpenMode, Spsc};
    let d = Daemon::start(None);
    let mut client = d.client();
    let options = CreateOptions::spsc(1 << 12);
    let first: Spsc = client
        .open_ring("coo", OpenMode::CreateOrOpen, &options)
        .unwrap();
    let second: Spsc = client
        .open_ring("coo", OpenMode::CreateOrOpen, &CreateOptions::spsc(1 << 16))
        .unwrap();
    assert_eq!(second.capacity(), 1 << 12);
    let mut tx = first.producer().unwrap();
    let mut rx = second.consumer().unwrap();
    tx.send(b"one segment").unwrap();
    assert_eq!(
        &*rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"one segment"
    );
    let other = client.open_ring::<Mpmc>("coo", OpenMode::CreateOrOpen, &CreateOptions::mpmc(4, 8));
    assert!(other.is_err(), "an SPSC segment opened as MPMC");
}

/// `shmring recv a b c` follows three rings of both kinds at once (one
/// poller), prefixes each line with its ring's name, keeps each ring's
/// order, and ends when every ring reached end of stream.
#[test]
fn recv_follows_several_rings_at_once() {
    let d = Daemon::start(None);
    for (name, kind) in [("a", "spsc"), ("b", "mpmc"), ("c", "spsc")] {
        let out = d.cli(&["create", name, "--kind", kind], b"");
        assert!(out.status.success(), "{out:?}");
    }
    // The follower starts first and waits on all three descriptors.
    let mut follower = std::process::Command::new(common::SHMRING)
        .arg("--socket")
        .arg(&d.socket)
        .args(["recv", "a", "b", "c", "--timeout", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut expected = Vec::new();
    for name in ["c", "a", "b"] {
        let lines: String = (0..50).map(|i| format!("{name}-{i}\n")).collect();
        expected.extend(lines.lines().map(|l| format!("{name}: {l}")));
        // Each `send` attaches, sends and leaves: end of stream for that
        // ring once the follower drained it.
        let out = d.cli(&["send", name], lines.as_bytes());
        assert!(out.status.success(), "{out:?}");
    }
    if wait_timeout(&mut follower, Duration::from_secs(30)).is_none() {
        let _ = follower.kill();
    }
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let got = stdout(&out);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    // Every line once; per ring, in the order sent.
    for name in ["a", "b", "c"] {
        let prefix = format!("{name}: ");
        let mine: Vec<&str> = got
            .iter()
            .copied()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        let want: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(&prefix))
            .collect();
        assert_eq!(mine, want);
    }
}
