//! Rings opened through the broker: a real daemon (this program, run a
//! second time as `shmringd`) hands the bridges their rings; the broker
//! sees their roles, and `shmring stat`'s traffic counters show what the
//! bridges carried.

mod common;

use common::*;
use shmring::MessageReceiver;
use shmring::broker::{BrokerClient, CreateOptions, EndpointInfo};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the second run of this program: serve as the broker here.
const DAEMON_SOCKET: &str = "SHMRING_BRIDGE_TEST_DAEMON_SOCKET";

fn main() {
    if let Some(socket) = std::env::var_os(DAEMON_SOCKET) {
        let config = shmring_broker::config::Config::default();
        if let Err(e) = shmring_broker::daemon::serve(Path::new(&socket), None, config, None) {
            eprintln!("daemon: {e}");
            std::process::exit(1);
        }
        return;
    }
    rings_through_the_broker_are_bridged_and_counted();
    println!("test rings_through_the_broker_are_bridged_and_counted ... ok");
}

struct Daemon {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = std::env::temp_dir().join(unique("broker"));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("broker.sock");
        let child = Command::new(std::env::current_exe().unwrap())
            .env(DAEMON_SOCKET, &socket)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while BrokerClient::connect_to(&daemon.socket).is_err() {
            assert!(Instant::now() < deadline, "the broker never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn client(&self) -> BrokerClient {
        BrokerClient::connect_to(&self.socket).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn roles(client: &mut BrokerClient, ring: &str) -> Vec<EndpointInfo> {
    client.stat(ring).unwrap().endpoints
}

fn rings_through_the_broker_are_bridged_and_counted() {
    const MESSAGES: u64 = 20_000;
    let daemon = Daemon::start();
    let socket = daemon.socket.to_str().unwrap().to_owned();
    let mut client = daemon.client();
    let (a, b) = (unique("a"), unique("b"));
    for name in [&a, &b] {
        client.create(name, &CreateOptions::spsc(1 << 16)).unwrap();
    }
    let hosts = TwoHosts::new();
    let key = unique_key("brokered");
    let (bridge_a, bridge_b) = bridge_pair(
        &hosts,
        &[out_route(&a, &key, "")],
        &[in_route(&key, &b, "")],
        &["--broker-socket".into(), socket],
    );
    bridge_a.wait_linked();
    bridge_b.wait_linked();
    // The broker knows who holds each role: the bridges.
    let pid_a = bridge_a.status().unwrap().pid;
    let pid_b = bridge_b.status().unwrap().pid;
    assert!(
        roles(&mut client, &a).iter().any(|e| e.pid == pid_a),
        "{:?}",
        roles(&mut client, &a)
    );
    assert!(
        roles(&mut client, &b).iter().any(|e| e.pid == pid_b),
        "{:?}",
        roles(&mut client, &b)
    );

    let mut tx = client.producer(&a).unwrap();
    let mut rx = client.consumer(&b).unwrap();
    let sender = std::thread::spawn(move || {
        for seq in 0..MESSAGES {
            shmring::MessageSender::send(&mut tx, &message(5, seq)).unwrap();
        }
        tx
    });
    for seq in 0..MESSAGES {
        let m = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(check(&m), (5, seq));
    }
    let _tx = sender.join().unwrap();
    // `shmring stat`'s traffic counters: every message entered a through
    // the producer and left it through bridge A; entered b through bridge
    // B. They are published in batches; a bridge that stops publishes
    // the rest.
    let (mut bridge_a, mut bridge_b) = (bridge_a, bridge_b);
    assert_eq!(bridge_a.stop(Duration::from_secs(10)), Some(0));
    assert_eq!(bridge_b.stop(Duration::from_secs(10)), Some(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ta, tb) = (
            client.stat(&a).unwrap().traffic,
            client.stat(&b).unwrap().traffic,
        );
        if ta.received == MESSAGES && tb.sent == MESSAGES {
            break;
        }
        assert!(Instant::now() < deadline, "ring a: {ta:?}\nring b: {tb:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(rx);
    for name in [&a, &b] {
        client.unlink(name).unwrap();
    }
}
