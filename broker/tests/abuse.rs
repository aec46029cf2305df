//! The daemon under abuse and death: malformed frames, a thousand
//! clients, `kill -9` of a producer and of the daemon itself.

mod common;

use common::{Daemon, hello_frame, raw_connect, refused_then_closed, wait_timeout};
use rustix::fd::AsFd;
use rustix::process::Signal;
use shmring::broker::fdpass;
use shmring::broker::protocol::{self, HEADER_LEN, MsgType, Request};
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::prelude::*;
use shmring::{RecvTimeoutError, TryRecvError};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_fd_count(d: &Daemon, baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while d.fd_count() != baseline {
        assert!(
            Instant::now() < deadline,
            "daemon holds {} fds, baseline {baseline}",
            d.fd_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn malformed_frames_get_an_error_or_a_disconnect() {
    let d = Daemon::start(None);
    let baseline = d.settled_fd_count();
    let hello = hello_frame();
    let mut cases: Vec<(&str, Vec<u8>, usize)> = Vec::new();
    cases.push(("short", hello[..5].to_vec(), 0));
    let mut long = hello.clone();
    long.resize(protocol::MAX_FRAME_LEN + 100, 0);
    cases.push(("long", long, 0));
    let mut magic = hello.clone();
    magic[0] = b'X';
    cases.push(("bad magic", magic, 0));
    let mut version = hello.clone();
    version[4] = 99;
    cases.push(("bad version", version, 0));
    let mut lying = hello.clone();
    lying[16] = 1; // says one fd, sends none
    cases.push(("lying fd count", lying, 0));
    cases.push(("unexpected fd", hello.clone(), 1));
    let mut with_count = hello.clone();
    with_count[16] = 1; // says one fd and sends it: still not allowed
    cases.push(("fd in a request", with_count, 1));
    let mut length = hello.clone();
    length[12] = 200; // payload length beyond the frame
    cases.push(("payload length", length, 0));
    cases.push((
        "garbage payload",
        {
            let mut g = hello.clone();
            g[HEADER_LEN] = 0xff;
            g[HEADER_LEN + 4] = 1;
            g
        },
        0,
    ));

    for (what, frame, fds) in cases {
        let sock = raw_connect(&d.socket);
        let (spare, _keep) = rustix::pipe::pipe().unwrap();
        let attach: Vec<_> = (fds > 0).then(|| spare.as_fd()).into_iter().collect();
        fdpass::send_frame(&sock, &frame, &attach, false).unwrap_or_else(|e| panic!("{what}: {e}"));
        refused_then_closed(&sock);
        drop(sock);
        // The daemon keeps serving, and closed whatever it received.
        assert!(d.client().list().is_ok(), "{what}");
        wait_fd_count(&d, baseline);
    }

    // A request before hello, and a client that never says hello.
    let sock = raw_connect(&d.socket);
    let mut list = Vec::new();
    protocol::encode_request(&mut list, 1, &Request::List { offset: 0 });
    fdpass::send_frame(&sock, &list, &[], false).unwrap();
    refused_then_closed(&sock);
    let _ = MsgType::List;
    wait_fd_count(&d, baseline);
}

#[test]
fn a_silent_client_blocks_nobody() {
    let d = Daemon::start(Some("[limits]\nhandshake_timeout_ms = 300\n"));
    let baseline = d.settled_fd_count();
    let silent = raw_connect(&d.socket);
    // Others are served meanwhile.
    for _ in 0..20 {
        assert!(d.client().list().is_ok());
    }
    // And the silent one is dropped after the handshake timeout.
    refused_then_closed(&silent);
    drop(silent);
    wait_fd_count(&d, baseline);
}

#[test]
fn a_thousand_concurrent_clients() {
    // Our own descriptors: 1000 sockets plus their segments.
    let mut limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit.current = limit.maximum;
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let d = Daemon::start(Some(
        "[limits]\nsegments_per_uid = 5000\nconnections = 5000\n",
    ));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let socket = d.socket.clone();
            std::thread::spawn(move || {
                let mut clients: Vec<BrokerClient> = (0..250)
                    .map(|_| BrokerClient::connect_to(&socket).unwrap())
                    .collect();
                let mut rings = Vec::new();
                for (i, c) in clients.iter_mut().enumerate() {
                    let name = format!("c{t}-{i}");
                    let options = CreateOptions::spsc(4096).ephemeral();
                    rings.push(c.create_spsc(&name, &options).unwrap());
                    rings.push(c.open_spsc(&name).unwrap());
                }
                (clients, rings)
            })
        })
        .collect();
    let all: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(d.client().list().unwrap().len(), 1000);
    drop(all);
    // Every segment was ephemeral: gone with its connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.client().list().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "ephemeral segments linger");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_producer_is_seen_within_100_ms() {
    let d = Daemon::start(None);
    let mut client = d.client();
    client.create("k", &CreateOptions::spsc(4096)).unwrap();
    let mut consumer = client.consumer("k").unwrap();
    // The producer: `shmring send`, attached and waiting on its stdin.
    let mut producer = Command::new(common::SHMRING)
        .args(["--socket", d.socket.to_str().unwrap(), "send", "k"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.stat("k").unwrap().endpoints.len() < 2 {
        assert!(Instant::now() < deadline, "producer did not attach");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(consumer.try_recv(), Err(TryRecvError::Empty)));
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let result = consumer.recv_timeout(Duration::from_secs(5)).map(|_| ());
        (result, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    let killed = Instant::now();
    producer.kill().unwrap();
    let (result, _) = waiter.join().unwrap();
    let seen = killed.elapsed();
    assert!(
        matches!(result, Err(RecvTimeoutError::Disconnected)),
        "{result:?}"
    );
    assert!(seen < Duration::from_millis(100), "took {seen:?}");
    wait_timeout(&mut producer, Duration::from_secs(5)).unwrap();
}

#[test]
fn a_killed_daemon_leaves_pairs_working_and_restarts_cleanly() {
    let mut d = Daemon::start(None);
    let mut client = d.client();
    client.create("p", &CreateOptions::spsc(1 << 14)).unwrap();
    let mut producer = client.producer("p").unwrap();
    let mut consumer = d.client().consumer("p").unwrap();
    let status = d.signal_and_wait(Signal::KILL);
    assert!(!status.success());
    for i in 0..10_000u32 {
        producer.send(&i.to_le_bytes()).unwrap();
        let got = consumer.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(&*got, &i.to_le_bytes());
    }
    // The stale socket and lock file are there; a new daemon replaces them.
    assert!(d.socket.exists());
    d.spawn();
    assert!(d.client().list().unwrap().is_empty());
    assert!(d.signal_and_wait(Signal::TERM).success());
}
