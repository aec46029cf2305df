//! A real `shmringd` on a private socket, bounded ways to run the
//! `shmring` tool against it, and raw protocol connections to it. Every
//! wait has a deadline, every child is reaped, every socket directory
//! removed.
#![allow(dead_code)]

use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use shmring::broker::fdpass::{self, RecvFrameError};
use shmring::broker::protocol::{self, Reply, Request, Status};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SHMRINGD: &str = env!("CARGO_BIN_EXE_shmringd");
pub const SHMRING: &str = env!("CARGO_BIN_EXE_shmring");

static COUNTER: Mutex<u32> = Mutex::new(0);

/// A directory unique to this test: pid + counter.
pub fn unique_dir() -> PathBuf {
    let mut n = COUNTER.lock().unwrap();
    *n += 1;
    std::env::temp_dir().join(format!("shmring-test-{}-{}", std::process::id(), *n))
}

#[derive(Debug)]
pub struct Daemon {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub config: Option<PathBuf>,
    /// A command the daemon runs under (`prlimit --nofile=…`), if any.
    pub wrapper: Vec<OsString>,
    /// Its stderr goes nowhere (for tests that make it warn on purpose).
    pub quiet: bool,
}

impl Daemon {
    /// Starts a daemon with an optional TOML config; waits until it
    /// accepts connections.
    pub fn start(config: Option<&str>) -> Daemon {
        let mut d = Daemon::new(config);
        d.spawn();
        d
    }

    /// A daemon with its socket and config file chosen, not started: set
    /// `wrapper` or `quiet`, then [`spawn`](Self::spawn) it.
    pub fn new(config: Option<&str>) -> Daemon {
        let dir = unique_dir();
        let socket = dir.join("broker.sock");
        let config = config.map(|text| {
            let path = std::env::temp_dir().join(format!(
                "{}.toml",
                dir.file_name().unwrap().to_str().unwrap()
            ));
            std::fs::write(&path, text).unwrap();
            path
        });
        Daemon {
            child: None,
            dir,
            socket,
            config,
            wrapper: Vec::new(),
            quiet: false,
        }
    }

    /// (Re)starts the daemon process on the same socket.
    pub fn spawn(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(SHMRINGD);
                cmd
            }
            None => Command::new(SHMRINGD),
        };
        cmd.arg("--socket").arg(&self.socket);
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if self.quiet {
            cmd.stderr(Stdio::null());
        }
        let child = cmd.spawn().expect("spawn shmringd");
        self.child = Some(child);
        // Generous: a hang detector. A freshly started process was seen to
        // sit for over 5 s mapping libc while a CI machine's disk was busy.
        let deadline = Instant::now() + Duration::from_secs(30);
        while shmring::broker::BrokerClient::connect_to(&self.socket).is_err() {
            assert!(Instant::now() < deadline, "shmringd did not come up");
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("shmringd exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn client(&self) -> shmring::broker::BrokerClient {
        shmring::broker::BrokerClient::connect_to(&self.socket).expect("connect")
    }

    /// Sends a signal and waits (≤ 5 s) for the exit.
    pub fn signal_and_wait(&mut self, sig: rustix::process::Signal) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, sig).unwrap();
        wait_timeout(&mut child, Duration::from_secs(5)).expect("shmringd did not exit")
    }

    /// Open descriptors of the daemon process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// The descriptor count once it stops changing for 100 ms (the probe
    /// connections of start-up may still be closing), or after 5 s.
    pub fn settled_fd_count(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.fd_count();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.fd_count();
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    /// `shmring --socket S ARGS…` with `input` on stdin, bounded.
    pub fn cli(&self, args: &[&str], input: &[u8]) -> Output {
        run_cli(&self.socket, args, input, None)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = wait_timeout(&mut child, Duration::from_secs(5));
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(self.socket.with_extension("sock.lock"));
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(c) = &self.config {
            let _ = std::fs::remove_file(c);
        }
    }
}

/// Waits for a child, at most `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the tool (optionally as `uid`), feeding `input`; kills it after
/// 10 s.
pub fn run_cli(socket: &Path, args: &[&str], input: &[u8], uid: Option<u32>) -> Output {
    let mut cmd = Command::new(SHMRING);
    cmd.arg("--socket").arg(socket).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        cmd.gid(uid).uid(uid);
    }
    let mut child = cmd.spawn().expect("spawn shmring");
    // A tool that is refused exits before it reads its input: a broken
    // pipe here is that, not a failure (its status tells).
    match child.stdin.take().unwrap().write_all(input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A bare connection to `socket`: no hello, no trust check (the daemon
/// may be another user's, or about to refuse). None if nothing listens.
pub fn try_raw_connect(socket: &Path) -> Option<OwnedFd> {
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let addr = SocketAddrUnix::new(socket).ok()?;
    rustix::net::connect(&sock, &addr).ok()?;
    Some(sock)
}

/// A connection that has not said hello, reads bounded by 3 s.
pub fn raw_connect(socket: &Path) -> OwnedFd {
    let sock = try_raw_connect(socket).expect("the daemon listens");
    rustix::net::sockopt::set_socket_timeout(
        &sock,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(3)),
    )
    .unwrap();
    sock
}

/// The frame of one request.
pub fn request_frame(id: u32, request: &Request) -> Vec<u8> {
    let mut buf = Vec::new();
    protocol::encode_request(&mut buf, id, request);
    buf
}

/// A valid hello, request id 1.
pub fn hello_frame() -> Vec<u8> {
    let hello = Request::Hello {
        min_version: protocol::PROTOCOL_VERSION,
        max_version: protocol::PROTOCOL_VERSION,
    };
    request_frame(1, &hello)
}

/// Reads until the daemon closes the connection (within 3 s): it must
/// never leave it open and silent, and every frame on the way must be an
/// error reply. Returns the last error's status, if one came.
pub fn refused_then_closed(sock: &OwnedFd) -> Option<Status> {
    let mut buf = vec![0u8; protocol::MAX_FRAME_LEN];
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut status = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "daemon neither refused nor closed"
        );
        match fdpass::recv_frame(sock, &mut buf, false) {
            Ok(got) => {
                let (h, payload) =
                    protocol::split_frame(&buf[..got.len], got.fds.len(), buf.len()).unwrap();
                match protocol::decode_reply(h.msg_type.get(), payload).unwrap() {
                    Reply::Error { status: s, .. } => status = Some(s),
                    other => panic!("not an error: {other:?}"),
                }
            }
            Err(RecvFrameError::Closed) => return status,
            Err(e) => panic!("neither an error nor a close within 3 s: {e}"),
        }
    }
}
