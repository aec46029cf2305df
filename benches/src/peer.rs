//! The second process of a row: spawning it pinned, knowing when it has
//! attached, collecting its measurements, and never waiting forever.

use crate::Result;
use crate::link::{Pattern, PeerHandover};
use crate::mechanism::Mechanism;
use serde::{Serialize, de::DeserializeOwned};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The line the peer prints on stderr once its side is attached.
pub const READY: &str = "ready";

static NEXT_REPORT: AtomicU64 = AtomicU64::new(0);

/// What the peer does with its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends every message back, measuring one-way latency (latency rows).
    Echo,
    /// Counts what arrives (throughput rows).
    Sink,
    /// Subscribes to a publish/subscribe ring and checks every message
    /// (fan-out rows; `crate::fanout`).
    Subscribe,
}

impl Role {
    /// Name on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Role::Echo => "echo",
            Role::Sink => "sink",
            Role::Subscribe => "subscribe",
        }
    }

    /// The role named `key`.
    pub fn from_key(key: &str) -> Option<Role> {
        [Role::Echo, Role::Sink, Role::Subscribe]
            .into_iter()
            .find(|r| r.key() == key)
    }

    /// The directions the role needs.
    pub fn pattern(self) -> Pattern {
        match self {
            Role::Echo => Pattern::RoundTrip,
            Role::Sink | Role::Subscribe => Pattern::Stream,
        }
    }
}

/// A running peer process; killed and reaped if dropped early.
#[derive(Debug)]
pub struct Peer {
    child: Option<Child>,
    report: PathBuf,
    ready: mpsc::Receiver<()>,
}

impl Peer {
    /// Starts `shmring-bench-peer` (path `exe`) for one row, pinned to
    /// `cpu`, with the handover's descriptors as its stdin and stdout.
    pub fn spawn(
        exe: &str,
        role: Role,
        mechanism: Mechanism,
        size: usize,
        handover: &mut PeerHandover,
        cpu: Option<usize>,
    ) -> Result<Peer> {
        let report = std::env::temp_dir().join(format!(
            "shmring-bench-report-{}-{}.json",
            std::process::id(),
            NEXT_REPORT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&report);
        let mut command = Command::new(exe);
        command
            .arg(role.key())
            .arg(mechanism.key())
            .arg(size.to_string())
            .arg(if handover.spec.is_empty() {
                "-"
            } else {
                &handover.spec
            })
            .arg(&report)
            .arg(cpu.map_or("-".to_string(), |c| c.to_string()))
            .stdin(handover.stdin.take().map_or(Stdio::null(), Stdio::from))
            .stdout(handover.stdout.take().map_or(Stdio::null(), Stdio::from))
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {exe}: {e}"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (ready_tx, ready) = mpsc::channel();
        // Forwards the peer's diagnostics; the first READY line is ours.
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if line == READY {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                } else {
                    eprintln!("peer: {line}");
                }
            }
        });
        Ok(Peer {
            child: Some(child),
            report,
            ready,
        })
    }

    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until the peer has attached its side.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        match self.ready.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(_) => {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                Err(match status {
                    Some(status) => format!("peer exited before attaching ({status})").into(),
                    None => format!("peer did not attach within {timeout:?}").into(),
                })
            }
        }
    }

    /// Waits (bounded) for the peer to exit and reads what it measured.
    pub fn finish<T: DeserializeOwned>(mut self, timeout: Duration) -> Result<T> {
        let mut child = self.child.take().expect("finished once");
        let status = wait_bounded(&mut child, timeout)?;
        if !status.success() {
            return Err(format!("peer failed ({status})").into());
        }
        let text = std::fs::read_to_string(&self.report)
            .map_err(|e| format!("peer report {}: {e}", self.report.display()))?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let until = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("peer did not exit within {timeout:?}; killed").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.report);
    }
}

/// The peer's side of [`Peer::finish`]: writes what it measured.
pub fn write_report<T: Serialize>(path: &str, value: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_string(value)?)?;
    Ok(())
}
