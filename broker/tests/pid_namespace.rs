//! A daemon in a PID namespace of its own, as in a container with the
//! socket bind-mounted out: the clients it serves are processes it cannot
//! see (`SO_PEERCRED` reports pid 0 for them). It must serve them, and
//! reap what they held when they die.

mod common;

use common::{Daemon, wait_timeout};
use shmring::RecvTimeoutError;
use shmring::broker::CreateOptions;
use shmring::prelude::*;
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `unshare --pid` needs root (CI runs as root) and util-linux.
fn can_unshare() -> bool {
    rustix::process::geteuid().is_root()
        && Command::new("unshare")
            .args(["--pid", "--fork", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

#[test]
fn a_daemon_in_its_own_pid_namespace_serves_and_reaps_clients_it_cannot_see() {
    if !can_unshare() {
        eprintln!("skipped: needs root and `unshare --pid`");
        return;
    }
    let mut d = Daemon::new(None);
    // The daemon is PID 1 of a new namespace; this test and its children
    // stay outside it, invisible to it. `--kill-child`: the daemon dies
    // with the wrapper the fixture kills.
    d.wrapper = ["unshare", "--pid", "--fork", "--kill-child"]
        .map(OsString::from)
        .to_vec();
    // Before the fix every connection was refused here ("SO_PEERCRED:
    // No such process") and the daemon never came up for a client.
    d.spawn();
    let mut client = d.client();
    client.create("ns", &CreateOptions::spsc(4096)).unwrap();
    let mut consumer = client.consumer("ns").unwrap();

    // The producer, a second process the daemon cannot see either.
    let mut producer = Command::new(common::SHMRING)
        .args(["--socket", d.socket.to_str().unwrap(), "send", "ns"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = producer.stdin.take().unwrap();
    stdin.write_all(b"across namespaces\n").unwrap();
    stdin.flush().unwrap();
    let guard = consumer
        .recv_timeout(Duration::from_secs(10))
        .expect("the line sent through the daemon's ring");
    assert_eq!(&*guard, b"across namespaces");
    drop(guard);
    assert_eq!(client.stat("ns").unwrap().endpoints.len(), 2);

    // Killed while it holds the producer role: the daemon, watching the
    // pidfd its socket named, reaps the role (stat shows only the
    // consumer), and the consumer sees the end of the stream.
    producer.kill().unwrap();
    wait_timeout(&mut producer, Duration::from_secs(5)).expect("producer reaped");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let endpoints = client.stat("ns").unwrap().endpoints;
        if endpoints.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead producer is still listed: {endpoints:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(
        consumer.recv_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Disconnected)
    ));
    drop(consumer);
    client.unlink("ns").unwrap();
}
