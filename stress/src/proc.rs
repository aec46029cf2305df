//! Child processes the harness owns (workers, daemons), unique names,
//! and what `/proc` and `/dev/shm` say about resources.
//!
//! Every child is killed and reaped when its owner drops, also while a
//! failing test unwinds; workers additionally ask the kernel to kill them
//! if the harness thread that spawned them dies (`PR_SET_PDEATHSIG`).

use crate::report::{Event, forward};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Prefix of every segment, socket directory and daemon name made here.
pub const PREFIX: &str = "shmring-stress-";

/// A name no other process or call uses: prefix, pid, counter, tag.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: Mutex<u64> = Mutex::new(0);
    let n = {
        let mut c = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
        *c += 1;
        *c
    };
    format!("{PREFIX}{}-{n}-{tag}", std::process::id())
}

/// Entries of `/dev/shm` made by this process (the prefix and our pid).
pub fn our_shm_entries() -> Vec<String> {
    shm_entries(&format!("{PREFIX}{}-", std::process::id()))
}

/// Entries of `/dev/shm` whose name starts with `mine`.
pub fn shm_entries(mine: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(mine))
        .collect();
    names.sort();
    names
}

/// Open descriptors of a process (`/proc/PID/fd`).
pub fn fd_count(pid: u32) -> std::io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// State and wait channel of a process, for failure messages: `R`
/// (running: spinning) or `S` plus the kernel function it sleeps in.
pub fn describe_pid(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?");
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let stack = std::fs::read_to_string(format!("/proc/{pid}/stack"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().last().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join(" < ");
    format!(
        "pid {pid} state {state} wchan {wchan} syscall {} stack {stack}",
        syscall.trim()
    )
}

/// What each descriptor of a process points to, for failure messages.
pub fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            format!("{}->{target}", e.file_name().to_string_lossy())
        })
        .collect();
    out.sort();
    out
}

/// Memory figures of a process, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set now.
    pub rss_kib: u64,
    /// Peak resident set.
    pub hwm_kib: u64,
    /// Anonymous resident memory (heap, stacks): where leaks show.
    pub anon_kib: u64,
    /// Resident shared memory (mapped segments).
    pub shmem_kib: u64,
}

/// Reads [`Memory`] of `pid` (`None` if it is gone).
pub fn memory(pid: u32) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
        shmem_kib: field("RssShmem:"),
    })
}

/// How many memfd segments a process has mapped (`/proc/PID/maps`).
pub fn memfd_mappings(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map(|m| m.lines().filter(|l| l.contains("/memfd:")).count())
        .unwrap_or(0)
}

/// Waits for a child at most `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Worker processes, their report pipes merged into one event channel.
pub struct Workers {
    exe: PathBuf,
    next_id: usize,
    running: HashMap<usize, Running>,
    tx: mpsc::Sender<Event>,
    /// Every worker's records, in order per worker.
    pub events: mpsc::Receiver<Event>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Workers {
    /// No workers yet; `exe` is `shmring-stress-worker`.
    pub fn new(exe: &Path) -> Workers {
        let (tx, events) = mpsc::channel();
        Workers {
            exe: exe.to_path_buf(),
            next_id: 0,
            running: HashMap::new(),
            tx,
            events,
        }
    }

    /// Starts `shmring-stress-worker ARGS…`; returns its id.
    pub fn spawn(&mut self, args: &[String]) -> Result<usize, String> {
        self.spawn_wrapped(&[], args)
    }

    /// Starts the worker through `wrapper` (a command that runs its
    /// arguments, such as `unshare --pid --fork --kill-child`); a kill of
    /// the worker's id then kills the wrapper, which must pass it on.
    pub fn spawn_wrapped(&mut self, wrapper: &[&str], args: &[String]) -> Result<usize, String> {
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.exe.display()))?;
        let id = self.next_id;
        self.next_id += 1;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        forward(stdout, id, self.tx.clone());
        let stdin = child.stdin.take();
        self.running.insert(id, Running { child, stdin });
        Ok(id)
    }

    /// The worker's pid.
    pub fn pid(&self, id: usize) -> Option<u32> {
        self.running.get(&id).map(|r| r.child.id())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self, id: usize) -> Result<(), String> {
        let mut r = self.running.remove(&id).ok_or("no such worker")?;
        r.child.kill().map_err(|e| format!("kill: {e}"))?;
        r.child.wait().map_err(|e| format!("wait: {e}"))?;
        Ok(())
    }

    /// Closes the worker's stdin: its cue to finish.
    pub fn finish(&mut self, id: usize) {
        if let Some(r) = self.running.get_mut(&id) {
            r.stdin = None;
        }
    }

    /// Waits (bounded) for a worker to exit; kills it if it does not.
    pub fn reap(&mut self, id: usize, limit: Duration) -> Result<ExitStatus, String> {
        let mut r = self.running.remove(&id).ok_or("no such worker")?;
        match wait_timeout(&mut r.child, limit) {
            Some(status) => Ok(status),
            None => {
                let _ = r.child.kill();
                let _ = r.child.wait();
                Err(format!("worker {id} did not exit within {limit:?}"))
            }
        }
    }

    /// Kills and reaps every worker still running.
    pub fn kill_all(&mut self) {
        for (_, mut r) in self.running.drain() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Where daemon sockets go: `$SHMRING_STRESS_RUNDIR`, else `/dev/shm`
/// (a tmpfs, as `/run` is on a real system), else the temp directory.
///
/// Not `/tmp` by default: on a disk-backed `/tmp` under I/O load a
/// restarted daemon was seen stuck for over 5 s in `ftruncate` of its
/// lock file (waiting for the writeback of the previous daemon's write).
pub fn run_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHMRING_STRESS_RUNDIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    match shm.is_dir() {
        true => shm.to_path_buf(),
        false => std::env::temp_dir(),
    }
}

/// A broker daemon on a private socket, restartable on the same path.
///
/// By default it is the worker's `shmringd` subcommand, which runs the
/// daemon's own `shmring_broker::daemon::run` (so it is always built from
/// the tree under test); `$SHMRING_STRESS_SHMRINGD` names a `shmringd`
/// binary to use instead.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    worker: PathBuf,
    dir: PathBuf,
    /// The socket path.
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts a daemon in a fresh directory; waits until it serves.
    pub fn start(worker: &Path) -> Result<Daemon, String> {
        let dir = run_dir().join(unique_name("broker"));
        let socket = dir.join("broker.sock");
        let mut d = Daemon {
            child: None,
            worker: worker.to_path_buf(),
            dir,
            socket,
        };
        d.spawn()?;
        Ok(d)
    }

    /// (Re)starts the daemon on the same socket; waits (at most
    /// [`STEP_LIMIT`](crate::harness::STEP_LIMIT)) until a client can
    /// connect.
    pub fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match std::env::var_os("SHMRING_STRESS_SHMRINGD") {
            Some(bin) => Command::new(bin),
            None => {
                let mut c = Command::new(&self.worker);
                c.arg("shmringd");
                c
            }
        };
        cmd.arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().map_err(|e| format!("spawn daemon: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + crate::harness::STEP_LIMIT;
        let mut last_error: String;
        loop {
            match shmring::broker::BrokerClient::connect_to(&self.socket) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("daemon exited at start: {status}"));
                }
            }
            if Instant::now() >= deadline {
                let pid = self.pid().unwrap_or(0);
                return Err(format!(
                    "daemon did not accept connections within {:?} (last: {last_error}; socket exists: {}; {}; fds {:?})",
                    crate::harness::STEP_LIMIT,
                    self.socket.exists(),
                    describe_pid(pid),
                    fd_targets(pid)
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The daemon's pid, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A new connection.
    pub fn client(&self) -> Result<shmring::broker::BrokerClient, String> {
        shmring::broker::BrokerClient::connect_to(&self.socket).map_err(|e| format!("connect: {e}"))
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> Result<(), String> {
        let mut child = self.child.take().ok_or("daemon not running")?;
        child.kill().map_err(|e| format!("kill daemon: {e}"))?;
        child.wait().map_err(|e| format!("reap daemon: {e}"))?;
        Ok(())
    }

    /// Open descriptors of the daemon.
    pub fn fd_count(&self) -> Result<usize, String> {
        let pid = self.pid().ok_or("daemon not running")?;
        fd_count(pid).map_err(|e| format!("/proc/{pid}/fd: {e}"))
    }

    /// The descriptor count once it stopped moving (the same over 30 ms;
    /// at most 2 s): right after a start the readiness probe's connection
    /// may not be closed yet.
    pub fn quiet_fd_count(&self) -> Result<usize, String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut last = self.fd_count()?;
        let mut same = 0;
        while same < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            let n = self.fd_count()?;
            same = if n == last { same + 1 } else { 0 };
            last = n;
        }
        Ok(last)
    }

    /// Descriptors of the daemon, not counting a pidfd on this process.
    ///
    /// The daemon watches every client process that held endpoints with a
    /// pidfd until that process exits (`broker.md`); the harness itself
    /// created segments through it and is alive, so one such pidfd is the
    /// design, not a leak. A pidfd on any other process is counted.
    pub fn fds_but_our_watch(&self) -> Result<usize, String> {
        let pid = self.pid().ok_or("daemon not running")?;
        let n = fd_count(pid).map_err(|e| format!("/proc/{pid}/fd: {e}"))?;
        let me = std::process::id().to_string();
        let ours = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
            .map_err(|e| format!("/proc/{pid}/fdinfo: {e}"))?
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|info| {
                    info.lines()
                        .any(|l| l.strip_prefix("Pid:").is_some_and(|p| p.trim() == me))
                })
            })
            .count();
        Ok(n - ours.min(1))
    }

    /// Polls (≤ `limit`) until the daemon's descriptor count (not counting
    /// a pidfd on this process, see [`Daemon::fds_but_our_watch`]) is
    /// `want`; returns the last count seen.
    pub fn settle_fds(&self, want: usize, limit: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + limit;
        loop {
            let n = self.fds_but_our_watch()?;
            if n == want || Instant::now() >= deadline {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGTERM, and wait (≤ 5 s) for a clean exit.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        match wait_timeout(&mut child, Duration::from_secs(5)) {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(format!("daemon exited with {s} after SIGTERM")),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("daemon did not stop within 5 s of SIGTERM".into())
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(self.socket.with_extension("sock.lock"));
        let _ = std::fs::remove_dir(&self.dir);
    }
}
