//! `shmringd` started the way systemd starts it: a listening socket on
//! descriptor 3 with `LISTEN_FDS`/`LISTEN_PID` (socket activation), a
//! datagram socket in `NOTIFY_SOCKET` for `READY=1`, `RELOADING=1`,
//! `STOPPING=1` and `WATCHDOG=1`; passed descriptors it cannot serve on,
//! `LISTEN_FDS` meant for another process; and `RUST_LOG`.
//!
//! `LISTEN_PID` must be the daemon's own pid, which exists only after the
//! fork. systemd sets it in the child between fork and exec; a `pre_exec`
//! hook cannot (`setenv` allocates and is not async-signal-safe, and the
//! environment `Command` passes is built before the fork). So the child
//! runs `sh -c 'LISTEN_PID=$$ exec "$0" "$@"' shmringd ARGS…`: `$$` is the
//! shell's pid, and `exec` keeps that pid for the daemon. The `pre_exec`
//! hook only moves the socket to descriptor 3 (`dup2` and `fcntl`, both
//! async-signal-safe), and the shell leaves descriptor 3 open across its
//! `exec`.

mod common;

use common::{SHMRINGD, unique_dir, wait_timeout};
use rustix::fd::{AsRawFd, OwnedFd};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use rustix::process::Signal;
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::prelude::*;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A hang detector, not an expectation: a fresh process was seen to take
/// seconds to start on a busy CI machine (see `common::Daemon::spawn`).
const START: Duration = Duration::from_secs(30);

/// A directory of this test (mode 0700, as the daemon wants a socket
/// directory), removed with its contents on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = unique_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Dir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A UNIX socket of type `ty` bound to `path`, listening if `listen`
/// (close-on-exec: only the child's descriptor 3 is inherited).
fn unix_socket(path: &Path, ty: SocketType, listen: bool) -> OwnedFd {
    let sock = rustix::net::socket_with(AddressFamily::UNIX, ty, SocketFlags::CLOEXEC, None)
        .expect("socket");
    rustix::net::bind(&sock, &SocketAddrUnix::new(path).unwrap()).expect("bind");
    if listen {
        rustix::net::listen(&sock, 16).expect("listen");
    }
    sock
}

/// The test's end of `NOTIFY_SOCKET`.
struct Notify {
    path: PathBuf,
    sock: UnixDatagram,
    /// Every datagram received, for failure messages.
    got: Vec<String>,
}

impl Notify {
    fn bind(path: PathBuf) -> Notify {
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Notify {
            path,
            sock,
            got: Vec::new(),
        }
    }
}

/// How the child gets `LISTEN_PID`.
#[derive(Clone, Copy, Debug)]
enum ListenPid {
    /// Its own pid, as systemd does it (through `sh`, see the module doc).
    Own,
    /// This number.
    Other(u32),
    /// Not set at all.
    Unset,
}

/// A `shmringd` child with its stderr piped; killed and reaped on drop.
struct Running {
    child: Child,
}

impl Running {
    /// Starts `shmringd ARGS…` with `fd3` as descriptor 3 and
    /// `LISTEN_FDS=1` (unless `fd3` is None), `listen_pid` and `env`. No
    /// systemd or logging variable of the test's own environment leaks in.
    fn spawn(
        fd3: Option<&OwnedFd>,
        listen_pid: ListenPid,
        args: &[&Path],
        env: &[(&str, &str)],
    ) -> Running {
        let mut cmd = match listen_pid {
            ListenPid::Own => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c")
                    .arg(r#"LISTEN_PID=$$ WATCHDOG_PID=$$ exec "$0" "$@""#)
                    .arg(SHMRINGD);
                cmd
            }
            ListenPid::Other(_) | ListenPid::Unset => Command::new(SHMRINGD),
        };
        cmd.args(args);
        for var in [
            "LISTEN_PID",
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
            "LISTEN_FDS_FIRST_FD",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        if let ListenPid::Other(pid) = listen_pid {
            cmd.env("LISTEN_PID", pid.to_string());
        }
        if let Some(fd) = fd3 {
            cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "broker");
            on_fd3(&mut cmd, fd);
        }
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Running {
            child: cmd.spawn().expect("spawn shmringd"),
        }
    }

    fn signal(&self, sig: Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), sig).unwrap();
    }

    /// Its stderr so far: only once it has exited (else this would block).
    fn stderr_after_exit(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut err);
        }
        err
    }

    /// Waits (≤ 10 s) for the exit; its status and everything it wrote
    /// on stderr.
    fn exit(mut self) -> (ExitStatus, String) {
        let status =
            wait_timeout(&mut self.child, Duration::from_secs(10)).expect("shmringd did not exit");
        let err = self.stderr_after_exit();
        (status, err)
    }

    /// Waits (≤ `limit`) for a datagram on `notify` with the line `line`
    /// and returns that datagram's lines; fails at once if the daemon
    /// exits meanwhile.
    fn expect_notify(&mut self, notify: &mut Notify, line: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            match notify.sock.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    notify.got.push(msg.clone());
                    let lines: Vec<String> = msg.lines().map(str::to_owned).collect();
                    if lines.iter().any(|l| l == line) {
                        return lines;
                    }
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv on {}: {e}", notify.path.display()),
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let err = self.stderr_after_exit();
                panic!("shmringd exited ({status}) before {line}; stderr:\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "no {line} within {limit:?}; got {:?}",
                notify.got
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = wait_timeout(&mut self.child, Duration::from_secs(5));
        }
    }
}

/// Makes the child's descriptor 3 a copy of `fd`, without close-on-exec.
#[allow(unsafe_code)]
fn on_fd3(cmd: &mut Command, fd: &OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: the hook runs in the forked child before exec, where only
    // async-signal-safe functions may be called: it calls dup2 and fcntl
    // (both listed in signal-safety(7)), reads errno, and allocates
    // nothing. `raw` stays open in the parent until `spawn` returns, so it
    // is open in the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2(3, 3) does nothing and would leave close-on-exec set.
            if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Creates an SPSC ring through `client`, sends a message through it and
/// receives it.
fn round_trip(client: &mut BrokerClient, name: &str) {
    client.create(name, &CreateOptions::spsc(4096)).unwrap();
    let mut tx = client.producer(name).unwrap();
    let mut rx = client.consumer(name).unwrap();
    tx.send(b"through systemd's socket").unwrap();
    assert_eq!(
        &*rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"through systemd's socket"
    );
}

/// The whole life of a socket-activated daemon: `READY=1` with a status
/// naming the socket, real work through that socket, watchdog pings,
/// `RELOADING=1`/`READY=1` on SIGHUP, `STOPPING=1` on SIGTERM, exit 0
/// and systemd's socket file left in place. `--socket` names another
/// path: the passed socket wins, with a warning naming both, and nothing
/// is bound there. Then "systemd" starts the next daemon on the same
/// socket: a client that connected while none ran is served by it.
#[test]
fn an_activated_daemon_serves_on_the_passed_socket_and_leaves_it_to_systemd() {
    let dir = Dir::new();
    let socket = dir.join("broker.sock");
    let not_this = dir.join("from-the-command-line.sock");
    let listener = unix_socket(&socket, SocketType::SEQPACKET, true);
    let mut notify = Notify::bind(dir.join("notify"));
    let notify_path = notify.path.clone();
    let env = [
        ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ];
    let args = [Path::new("--socket"), &not_this];
    let mut d = Running::spawn(Some(&listener), ListenPid::Own, &args, &env);

    let ready = d.expect_notify(&mut notify, "READY=1", START);
    let status = format!(
        "STATUS=serving on {} (socket from systemd)",
        socket.display()
    );
    assert!(ready.contains(&status), "{ready:?}");

    let mut client = BrokerClient::connect_to(&socket).expect("connect to the passed socket");
    round_trip(&mut client, "activated");
    drop(client);
    assert!(!not_this.exists(), "the daemon bound --socket too");

    d.expect_notify(&mut notify, "WATCHDOG=1", Duration::from_secs(5));

    d.signal(Signal::HUP);
    d.expect_notify(&mut notify, "RELOADING=1", Duration::from_secs(5));
    let again = d.expect_notify(&mut notify, "READY=1", Duration::from_secs(5));
    assert!(
        again.iter().any(|l| l.starts_with(&status)),
        "status after the reload: {again:?}"
    );

    d.signal(Signal::TERM);
    d.expect_notify(&mut notify, "STOPPING=1", Duration::from_secs(5));
    let (exit, stderr) = d.exit();
    assert!(exit.success(), "{exit}; stderr:\n{stderr}");
    assert!(is_socket(&socket), "systemd's socket file was removed");
    assert!(
        !dir.join("broker.sock.lock").exists(),
        "the lock file stayed"
    );
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN"))
        .unwrap_or_else(|| panic!("no warning about --socket; stderr:\n{stderr}"));
    assert!(
        warning.contains(&*socket.to_string_lossy())
            && warning.contains(&*not_this.to_string_lossy()),
        "{warning}"
    );

    // A client connects while no daemon runs: it waits in the backlog of
    // systemd's socket, and the next daemon serves it.
    let early = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let mut client = BrokerClient::connect_to(&socket)?;
            round_trip(&mut client, "served-by-the-next-daemon");
            Ok::<(), shmring::broker::BrokerError>(())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut d = Running::spawn(Some(&listener), ListenPid::Own, &[], &env);
    d.expect_notify(&mut notify, "READY=1", START);
    early
        .join()
        .unwrap()
        .expect("a client from before the restart");
    d.signal(Signal::TERM);
    let (exit, stderr) = d.exit();
    assert!(exit.success(), "{exit}; stderr:\n{stderr}");
    assert!(is_socket(&socket));
}

/// Descriptor 3 is not something the daemon can serve on: it exits with
/// status 1 and one line saying what it got and what it needs, and binds
/// nothing of its own instead.
#[test]
fn a_passed_descriptor_that_is_not_a_listening_seqpacket_socket_is_refused() {
    let dir = Dir::new();
    let fallback = dir.join("fallback.sock");
    let file = OwnedFd::from(std::fs::File::create(dir.join("a-file")).unwrap());
    let dgram = unix_socket(&dir.join("dgram"), SocketType::DGRAM, false);
    let stream = unix_socket(&dir.join("stream"), SocketType::STREAM, true);
    let idle = unix_socket(&dir.join("idle"), SocketType::SEQPACKET, false);
    let cases = [
        (&file, "is not a socket but a regular file"),
        (
            &dgram,
            "is a UNIX SOCK_DGRAM socket, not a UNIX SOCK_SEQPACKET one",
        ),
        (&stream, "use ListenSequentialPacket=, not ListenStream="),
        (&idle, "is a UNIX SOCK_SEQPACKET socket but not listening"),
    ];
    for (fd, why) in cases {
        let args = [Path::new("--socket"), &fallback];
        let d = Running::spawn(Some(fd), ListenPid::Own, &args, &[]);
        let (exit, stderr) = d.exit();
        assert_eq!(exit.code(), Some(1), "{why}: {exit}; stderr:\n{stderr}");
        let line = "shmringd: the socket passed by systemd (fd 3, LISTEN_FDS) ";
        assert!(
            stderr.contains(line) && stderr.contains(why),
            "expected {why:?}; stderr:\n{stderr}"
        );
        assert!(!fallback.exists(), "{why}: bound --socket instead");
    }
}

/// `LISTEN_FDS` whose `LISTEN_PID` is another process, or missing, is not
/// for the daemon: it leaves descriptor 3 alone (a regular file here, which
/// it would refuse if it took it), binds `--socket` itself, and removes
/// that at exit as usual.
#[test]
fn listen_fds_for_another_process_is_ignored() {
    let dir = Dir::new();
    let file = OwnedFd::from(std::fs::File::create(dir.join("not-a-socket")).unwrap());
    let mut notify = Notify::bind(dir.join("notify"));
    for listen_pid in [ListenPid::Other(std::process::id()), ListenPid::Unset] {
        let own = dir.join("own.sock");
        let args = [Path::new("--socket"), &own];
        let notify_path = notify.path.clone();
        let env = [("NOTIFY_SOCKET", notify_path.to_str().unwrap())];
        let mut d = Running::spawn(Some(&file), listen_pid, &args, &env);
        let ready = d.expect_notify(&mut notify, "READY=1", START);
        let status = format!("STATUS=serving on {}", own.display());
        assert!(ready.contains(&status), "{listen_pid:?}: {ready:?}");
        round_trip(&mut BrokerClient::connect_to(&own).unwrap(), "own");
        d.signal(Signal::TERM);
        d.expect_notify(&mut notify, "STOPPING=1", Duration::from_secs(5));
        let (exit, stderr) = d.exit();
        assert!(exit.success(), "{listen_pid:?}: {exit}; stderr:\n{stderr}");
        assert!(!own.exists(), "{listen_pid:?}: its own socket stayed");
    }
}

/// `RUST_LOG` decides the level when set, also against `-vv`; unset, the
/// default is warnings only.
#[test]
fn rust_log_sets_the_log_level() {
    let cases: [(Option<&str>, &[&str], bool); 4] = [
        (Some("debug"), &[], true),
        (Some("shmring_broker=debug,shmring=info"), &[], true),
        (None, &[], false),
        (Some("warn"), &["-vv"], false),
    ];
    for (rust_log, verbose, debug) in cases {
        let dir = Dir::new();
        let socket = dir.join("broker.sock");
        let mut args = vec![Path::new("--socket"), &socket];
        args.extend(verbose.iter().map(Path::new));
        let env: Vec<(&str, &str)> = rust_log.map(|v| ("RUST_LOG", v)).into_iter().collect();
        let mut d = Running::spawn(None, ListenPid::Unset, &args, &env);
        // A client connecting makes the daemon log "client connected" at
        // debug level.
        let deadline = Instant::now() + START;
        while BrokerClient::connect_to(&socket).is_err() {
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!(
                    "shmringd exited: {status}; stderr:\n{}",
                    d.stderr_after_exit()
                );
            }
            assert!(Instant::now() < deadline, "shmringd did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        d.signal(Signal::TERM);
        let (exit, stderr) = d.exit();
        assert!(exit.success(), "{exit}; stderr:\n{stderr}");
        let has_debug = stderr.lines().any(|l| l.contains(" DEBUG "));
        assert_eq!(
            has_debug, debug,
            "RUST_LOG={rust_log:?} {verbose:?}; stderr:\n{stderr}"
        );
        if rust_log.is_none() {
            assert!(
                !stderr.contains(" INFO "),
                "info without -v or RUST_LOG:\n{stderr}"
            );
        }
    }
}
