//! Real bridge processes, two "hosts" (network namespaces joined by a veth
//! pair when the tests run as root, loopback otherwise), named rings and
//! checksummed message streams. Every wait has a deadline, every child is
//! reaped, every ring and namespace removed.
#![allow(dead_code)]

use shmring_bridge::{BridgeStatus, Direction, RouteStatus};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BRIDGE: &str = env!("CARGO_BIN_EXE_shmring-bridge");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test: pid + counter.
pub fn unique(what: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmring-test-bridge-{what}-{}-{n}", std::process::id())
}

/// A key expression unique to this test.
pub fn unique_key(what: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmring-test/{}/{n}/{what}", std::process::id())
}

/// A named ring removed on drop.
pub struct NamedRing(pub String);

impl Drop for NamedRing {
    fn drop(&mut self) {
        let _ = shmring::unlink(&self.0);
    }
}

/// Makes a named ring of `shape`.
pub fn ring(what: &str, shape: shmring::RingGeometry) -> NamedRing {
    let name = unique(what);
    shmring::AnyRing::open_named(&name, shmring::OpenMode::Create, shape).unwrap();
    NamedRing(name)
}

/// Where a bridge runs: a network namespace or this one.
#[derive(Debug, Clone)]
pub struct Host {
    pub netns: Option<String>,
    /// The address a bridge on this host listens on.
    pub address: String,
}

/// Two hosts: namespaces joined by a veth pair, removed on drop; or,
/// where namespaces cannot be made (not root, no `ip`), two processes on
/// loopback.
pub struct TwoHosts {
    pub a: Host,
    pub b: Host,
    made: Vec<String>,
}

impl TwoHosts {
    pub fn new() -> TwoHosts {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (na, nb) = (format!("shmrb-a-{pid}-{n}"), format!("shmrb-b-{pid}-{n}"));
        // A /24 of its own per pair, so parallel tests never collide.
        let subnet = format!("10.{}.{}", 200 + (pid % 50), n % 250);
        let (va, vb) = (
            format!("vsa{}x{n}", pid % 100_000),
            format!("vsb{}x{n}", pid % 100_000),
        );
        let mut hosts = TwoHosts {
            a: Host {
                netns: Some(na.clone()),
                address: format!("{subnet}.1"),
            },
            b: Host {
                netns: Some(nb.clone()),
                address: format!("{subnet}.2"),
            },
            made: Vec::new(),
        };
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), na.clone()],
            vec!["netns".into(), "add".into(), nb.clone()],
            vec![
                "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns", &nb,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ];
        for (i, step) in steps.iter().enumerate() {
            if !ip(None, step) {
                eprintln!("note: no network namespaces here (not root?): two hosts on loopback");
                drop(hosts);
                return TwoHosts::loopback();
            }
            if i < 2 {
                hosts.made.push(step[2].clone());
            }
        }
        for (ns, dev, addr) in [(&na, &va, &hosts.a.address), (&nb, &vb, &hosts.b.address)] {
            let cidr = format!("{addr}/24");
            for step in [
                vec!["addr", "add", cidr.as_str(), "dev", dev.as_str()],
                vec!["link", "set", dev.as_str(), "up"],
                vec!["link", "set", "lo", "up"],
            ] {
                let step: Vec<String> = step.into_iter().map(String::from).collect();
                assert!(ip(Some(ns), &step), "ip {step:?} in {ns}");
            }
        }
        hosts
    }

    pub fn loopback() -> TwoHosts {
        let host = Host {
            netns: None,
            address: "127.0.0.1".into(),
        };
        TwoHosts {
            a: host.clone(),
            b: host,
            made: Vec::new(),
        }
    }

    /// Whether the hosts are namespaces.
    pub fn separate(&self) -> bool {
        self.a.netns.is_some()
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for ns in &self.made {
            // Deleting a namespace deletes its end of the veth pair, and
            // with it the other end.
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn ip(netns: Option<&str>, args: &[String]) -> bool {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free TCP port on `address` (bound once, then let go).
pub fn free_port(host: &Host) -> u16 {
    match &host.netns {
        // A fresh namespace has every port free.
        Some(_) => 7447,
        None => std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    }
}

/// A `shmring-bridge run` process; killed and reaped on drop.
pub struct BridgeProcess {
    pub child: Option<Child>,
    pub status_file: PathBuf,
    args: Vec<String>,
    host: Host,
}

impl BridgeProcess {
    /// Starts `shmring-bridge run ARGS --status FILE` on `host`.
    pub fn start(host: &Host, args: &[String]) -> BridgeProcess {
        let status_file = std::env::temp_dir().join(format!("{}.json", unique("status")));
        let mut b = BridgeProcess {
            child: None,
            status_file,
            args: args.to_vec(),
            host: host.clone(),
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.status_file);
        let mut cmd = match &self.host.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BRIDGE]);
                c
            }
            None => Command::new(BRIDGE),
        };
        cmd.arg("run")
            .args(&self.args)
            .arg("--status")
            .arg(&self.status_file)
            .args(["--status-interval-ms", "50"])
            .stdin(Stdio::null());
        self.child = Some(cmd.spawn().expect("start shmring-bridge"));
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Asks it to stop (SIGTERM) and waits, at most `within`, for its exit
    /// code.
    pub fn stop(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        sigterm(child.id());
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the bridge did not stop within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last status it wrote, if any.
    pub fn status(&self) -> Option<BridgeStatus> {
        shmring_bridge::status::read(&self.status_file).ok()
    }

    /// Waits (at most `within`) until its status satisfies `ready`.
    pub fn wait_for(
        &self,
        within: Duration,
        what: &str,
        ready: impl Fn(&BridgeStatus) -> bool,
    ) -> BridgeStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.status() {
                if ready(&s) {
                    return s;
                }
                if Instant::now() > deadline {
                    panic!("bridge: not {what} within {within:?}; last status:\n{s}");
                }
            } else if Instant::now() > deadline {
                panic!("bridge: no status file within {within:?} (waiting for {what})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until it is linked to another node.
    pub fn wait_linked(&self) -> BridgeStatus {
        self.wait_for(Duration::from_secs(30), "linked", |s| !s.linked.is_empty())
    }
}

/// SIGTERM through `kill(1)`: the tests keep no unsafe code.
fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.status_file);
    }
}

/// The route of `status` in `direction` between `ring` and `key`.
pub fn route<'a>(
    status: &'a BridgeStatus,
    direction: Direction,
    ring: &str,
    key: &str,
) -> &'a RouteStatus {
    status
        .route(direction, ring, key)
        .unwrap_or_else(|| panic!("no route {ring} {key} in\n{status}"))
}

/// Message `seq` of stream `stream`: sequence, stream, a payload of
/// 8 to 120 bytes that depends on both, and a checksum over all of it.
pub fn message(stream: u32, seq: u64) -> Vec<u8> {
    let len = 8 + (seq.wrapping_mul(2654435761) % 113) as usize;
    let mut m = Vec::with_capacity(20 + len + 8);
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&stream.to_le_bytes());
    let mut x = seq ^ (u64::from(stream) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        m.push(x as u8);
    }
    let sum = checksum(&m);
    m.extend_from_slice(&sum.to_le_bytes());
    m
}

/// FNV-1a over `bytes`.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Checks a received message's checksum; its (stream, sequence).
pub fn check(message: &[u8]) -> (u32, u64) {
    assert!(
        message.len() >= 20,
        "short message: {} bytes",
        message.len()
    );
    let (body, sum) = message.split_at(message.len() - 8);
    assert_eq!(
        checksum(body),
        u64::from_le_bytes(sum.try_into().unwrap()),
        "checksum of a {}-byte message",
        message.len()
    );
    let seq = u64::from_le_bytes(body[..8].try_into().unwrap());
    let stream = u32::from_le_bytes(body[8..12].try_into().unwrap());
    assert_eq!(
        message,
        &self::message(stream, seq)[..],
        "message {stream}/{seq}"
    );
    (stream, seq)
}

/// Longest any one message may take end to end before a test gives up.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Sends messages `range` of `stream` into `ring`, waiting out a full ring
/// and a missing receiver (a bridge being restarted).
pub fn produce(
    ring: &str,
    stream: u32,
    range: std::ops::Range<u64>,
) -> std::thread::JoinHandle<()> {
    use shmring::{MessageSender, SendTimeoutError};
    let ring = ring.to_owned();
    std::thread::spawn(move || {
        let mut tx = shmring::AnyRing::open(&ring).unwrap().sender().unwrap();
        for seq in range {
            let m = message(stream, seq);
            let deadline = Instant::now() + PATIENCE;
            loop {
                match tx.send_timeout(&m, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => {
                        assert!(
                            Instant::now() < deadline,
                            "message {seq} not taken within {PATIENCE:?}"
                        );
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("send {seq}: {e}"),
                }
            }
        }
    })
}

/// `--out RING=KEY[?opts]` or `--in KEY=RING[?opts]` as arguments.
pub fn out_route(ring: &str, key: &str, opts: &str) -> [String; 2] {
    ["--out".into(), format!("{ring}={key}{opts}")]
}

pub fn in_route(key: &str, ring: &str, opts: &str) -> [String; 2] {
    ["--in".into(), format!("{key}={ring}{opts}")]
}

/// Flags of a bridge listening on its host.
pub fn listening(host: &Host, port: u16) -> Vec<String> {
    vec![
        "--no-scouting".into(),
        "--listen".into(),
        format!("tcp/{}:{port}", host.address),
    ]
}

/// Flags of a bridge connecting to a bridge on `to`.
pub fn connecting(to: &Host, port: u16) -> Vec<String> {
    vec![
        "--no-scouting".into(),
        "--connect".into(),
        format!("tcp/{}:{port}", to.address),
    ]
}

/// Bridge A, listening on host a with `routes_a`, and bridge B on host b,
/// connecting to A with `routes_b`; both with `extra` flags. A has opened
/// its session (written its status) before B starts.
pub fn bridge_pair(
    hosts: &TwoHosts,
    routes_a: &[[String; 2]],
    routes_b: &[[String; 2]],
    extra: &[String],
) -> (BridgeProcess, BridgeProcess) {
    let port = free_port(&hosts.a);
    let mut args_a = listening(&hosts.a, port);
    let mut args_b = connecting(&hosts.a, port);
    for (args, routes) in [(&mut args_a, routes_a), (&mut args_b, routes_b)] {
        args.extend(extra.iter().cloned());
        args.extend(routes.iter().flatten().cloned());
    }
    let a = BridgeProcess::start(&hosts.a, &args_a);
    a.wait_for(PATIENCE, "started", |_| true);
    (a, BridgeProcess::start(&hosts.b, &args_b))
}

/// The path of a file in the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}
