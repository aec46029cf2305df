//! Per-uid limits against one greedy client: the segment quota counts
//! what the daemon still holds, and connections are limited per uid.

mod common;

use common::{Daemon, run_cli};
use shmring::broker::{BrokerClient, BrokerError, CreateOptions};
use std::time::{Duration, Instant};

/// The daemon's mappings of segment memfds (`/memfd:shmring:NAME`).
fn memfd_mappings(d: &Daemon) -> usize {
    std::fs::read_to_string(format!("/proc/{}/maps", d.pid()))
        .unwrap()
        .lines()
        .filter(|l| l.contains("/memfd:shmring:"))
        .count()
}

#[test]
fn unlinked_segments_still_held_count_against_the_quota() {
    let d = Daemon::start(Some(
        "[limits]\nsegments_per_uid = 2\nbytes_per_uid = 2097152\n",
    ));
    let mut c = d.client();
    // A bit over half a MiB each: two fit in the quota, three do not.
    let options = CreateOptions::spsc(1 << 19);
    let mut created = 0;
    let mut refusal = None;
    for i in 0..200 {
        let name = format!("q{i}");
        match c.create(&name, &options) {
            Ok(_) => created += 1,
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
        c.unlink(&name).unwrap();
    }
    // The connection holds both unlinked segments, and so does the
    // daemon: they still count.
    assert_eq!(created, 2, "create after unlink bypassed the quota");
    assert!(
        matches!(refusal, Some(BrokerError::LimitExceeded(_))),
        "{refusal:?}"
    );
    assert!(memfd_mappings(&d) <= 2, "{} mappings", memfd_mappings(&d));
    // Everyone else is served meanwhile.
    assert!(d.client().list().unwrap().is_empty());

    // Once the connection is gone the daemon lets go, and the quota
    // comes back.
    drop(c);
    let mut c = d.client();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.create("again", &options) {
            Ok(_) => break,
            Err(BrokerError::LimitExceeded(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("quota not returned: {e}"),
        }
    }
    c.unlink("again").unwrap();
}

#[test]
fn one_uid_cannot_take_every_connection() {
    // Switching to another uid needs root (CI and the dev machines run as
    // root); elsewhere there is nobody to test against.
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let d = Daemon::start(Some(
        "[limits]\nconnections = 4\nconnections_per_uid = 3\n\
         [modes]\nsocket = 0o666\ndirectory = 0o755\n",
    ));
    d.settled_fd_count();
    let mut mine: Vec<BrokerClient> = (0..3).map(|_| d.client()).collect();
    for c in &mut mine {
        assert!(c.list().is_ok());
    }
    // A fourth connection of the same uid is refused...
    assert!(
        BrokerClient::connect_to(&d.socket)
            .and_then(|mut c| c.list())
            .is_err(),
        "a fourth connection of uid 0 was served"
    );
    // ...while another uid still gets the last slot.
    let out = run_cli(&d.socket, &["ls"], b"", Some(65534));
    assert!(out.status.success(), "{out:?}");
    // A slot of ours freed is ours again.
    drop(mine.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while BrokerClient::connect_to(&d.socket)
        .and_then(|mut c| c.list())
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the freed slot did not come back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
