//! Helpers shared by the integration tests: unique segment names that are
//! removed on drop, and peer processes that are always reaped.
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(dead_code, clippy::disallowed_types)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for; hitting it is a failure.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A segment name unique to this process and call, unlinked on drop.
pub struct Name(pub String);

impl Name {
    pub fn new(tag: &str) -> Name {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Name(format!("shmring-test-{}-{n}-{tag}", std::process::id()))
    }

    pub fn path(&self) -> String {
        format!("/dev/shm/{}", self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = shmring::unlink(&self.0);
    }
}

/// A running `shmring-testpeer`, killed and reaped on drop.
pub struct Peer {
    child: Child,
    lines: Receiver<String>,
}

impl Peer {
    pub fn spawn(args: &[&str]) -> Peer {
        Peer::spawn_with(args, |_| {})
    }

    pub fn spawn_with(args: &[&str], configure: impl FnOnce(&mut Command)) -> Peer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shmring-testpeer"));
        configure(&mut command);
        Peer::start(command.args(args))
    }

    /// Runs the test peer through `wrapper` (a command that ends by
    /// executing its arguments: `unshare …`, `setpriv …`).
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str]) -> Peer {
        let mut command = Command::new(wrapper[0]);
        command
            .args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_shmring-testpeer"))
            .args(args);
        Peer::start(&mut command)
    }

    fn start(command: &mut Command) -> Peer {
        command.stdout(Stdio::piped()).stdin(Stdio::null());
        let mut child = command.spawn().expect("spawn shmring-testpeer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the peer prints; panics after `timeout` or at EOF.
    pub fn line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("peer printed nothing for {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait();
                panic!("peer exited ({status:?}) without printing")
            }
        }
    }

    /// Waits for the peer to print `expected` as its next line.
    pub fn expect(&mut self, expected: &str) {
        let line = self.line(PATIENCE);
        assert_eq!(line, expected, "unexpected line from peer");
    }

    /// Waits (bounded) for the peer to exit successfully; returns its
    /// remaining output.
    pub fn finish(mut self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => {
                    let lines: Vec<String> = self.lines.iter().collect();
                    assert!(status.success(), "peer failed ({status}): {lines:?}");
                    return lines;
                }
                None if Instant::now() > deadline => panic!("peer did not exit in {PATIENCE:?}"),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// SIGKILL, without reaping: the peer stays a zombie, as a crashed
    /// process does until its parent notices. Returns once it is one:
    /// `kill` only queues the signal, and a peer still exiting may still
    /// hold its endpoints' locks (seen with peers in a mount namespace of
    /// their own, whose teardown is slow).
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.wait_exited();
    }

    /// Returns once the peer has exited (it stays a zombie, unreaped).
    pub fn wait_exited(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let options =
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), options).expect("waitid");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
