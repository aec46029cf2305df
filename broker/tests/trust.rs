//! Trust both ways around the socket: a client refuses a socket directory
//! another user could have planted and a daemon running as another user;
//! a daemon refuses a directory others may write to and creates its own
//! 0700. The "other user" is uid 65534 (nobody), so these tests need root.

mod common;

use common::{SHMRING, SHMRINGD, run_cli, stdout, try_raw_connect, unique_dir, wait_timeout};
use shmring::broker::{BrokerClient, BrokerError, ConnectOptions};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: switching to another uid needs root");
    false
}

/// A scratch directory (pid + counter), mode 0755 so that uid 65534 can
/// reach what is inside; removed with everything in it on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = unique_dir();
        std::fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755);
        Scratch(dir)
    }

    /// A directory `name` inside, owned by `uid` with `mode`.
    fn subdir(&self, name: &str, uid: u32, mode: u32) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
        set_mode(&dir, mode);
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// A `shmringd` child, killed and reaped on drop.
struct Shmringd(Child);

impl Shmringd {
    /// Starts `shmringd [--socket S]` as `uid` (None: as this process),
    /// with `XDG_RUNTIME_DIR` set to `runtime_dir` if given and
    /// `$SHMRING_SOCKET` unset.
    fn spawn(socket: Option<&Path>, uid: Option<u32>, runtime_dir: Option<&Path>) -> Shmringd {
        let mut cmd = Command::new(SHMRINGD);
        if let Some(socket) = socket {
            cmd.arg("--socket").arg(socket);
        }
        cmd.env_remove("SHMRING_SOCKET");
        if let Some(dir) = runtime_dir {
            cmd.env("XDG_RUNTIME_DIR", dir);
        }
        if let Some(uid) = uid {
            cmd.gid(uid).uid(uid);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Shmringd(cmd.spawn().expect("spawn shmringd"))
    }

    /// Waits (≤ 30 s, a hang detector) until something listens at
    /// `socket` (Ok) or the daemon exits (Err with its status and stderr).
    /// Connects with a bare socket: no trust check, no request.
    fn listening(&mut self, socket: &Path) -> Result<(), (ExitStatus, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                let mut err = String::new();
                let _ = self.0.stderr.take().unwrap().read_to_string(&mut err);
                return Err((status, err));
            }
            if try_raw_connect(socket).is_some() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "shmringd neither came up nor exited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a daemon that must refuse to start; returns its stderr.
    fn refused(mut self, socket: &Path) -> String {
        match self.listening(socket) {
            Ok(()) => panic!("shmringd started on {}", socket.display()),
            Err((status, err)) => {
                assert!(!status.success(), "{status}: {err}");
                err
            }
        }
    }
}

impl Shmringd {
    /// Waits (≤ 30 s) for a daemon that must exit with an error (where
    /// something else listens on its socket); returns its stderr.
    fn fails(mut self) -> String {
        let status = wait_timeout(&mut self.0, Duration::from_secs(30)).expect("shmringd exits");
        let mut err = String::new();
        let _ = self.0.stderr.take().unwrap().read_to_string(&mut err);
        assert!(!status.success(), "{status}: {err}");
        err
    }
}

impl Drop for Shmringd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = wait_timeout(&mut self.0, Duration::from_secs(5));
    }
}

/// `shmring ARGS…` as this process's user with the default socket path
/// under `runtime_dir` and `extra` environment; killed after 10 s.
fn cli_with_env(args: &[&str], runtime_dir: &Path, extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(SHMRING);
    cmd.args(args)
        .env_remove("SHMRING_SOCKET")
        .env_remove("SHMRING_DAEMON_UID")
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn shmring");
    if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_squatted_default_directory_is_refused_by_client_and_daemon() {
    if !is_root() {
        return;
    }
    // The victim's default path is $XDG_RUNTIME_DIR/shmring/broker.sock.
    // uid 65534 got there first: it owns the directory and serves on the
    // socket.
    let runtime = Scratch::new();
    let squatted = runtime.subdir("shmring", NOBODY, 0o700);
    let socket = squatted.join("broker.sock");
    let mut squatter = Shmringd::spawn(Some(&socket), Some(NOBODY), None);
    squatter.listening(&socket).expect("the squatter serves");

    // The victim's client refuses before it sends anything...
    let out = cli_with_env(
        &["create", "secret", "--kind", "spsc", "--size", "4096"],
        &runtime.0,
        &[],
    );
    assert!(
        !out.status.success(),
        "the client used the squatter: {out:?}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("refusing") && err.contains(&squatted.display().to_string()),
        "{err}"
    );
    assert!(err.contains(&format!("uid {NOBODY}")), "{err}");
    // ...so the squatter has nothing of it.
    let out = run_cli(&socket, &["stat", "secret"], b"", Some(NOBODY));
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = run_cli(&socket, &["ls"], b"", Some(NOBODY));
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains("secret"), "{}", stdout(&out));

    // The victim's daemon says why it cannot start there (the squatter
    // still listens, so what counts is that the victim exits).
    let victim = Shmringd::spawn(None, None, Some(&runtime.0));
    let err = victim.fails();
    assert!(
        err.contains(&squatted.display().to_string()) && err.contains(&format!("uid {NOBODY}")),
        "{err}"
    );
    // It created nothing there: the lock file is still the squatter's.
    let lock = std::fs::symlink_metadata(squatted.join("broker.sock.lock")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&lock), NOBODY);
}

#[test]
fn a_directory_others_may_write_is_refused_by_the_client() {
    if !is_root() {
        return;
    }
    // Owned by root, but anyone may plant a socket in it (the sticky bit
    // only stops them removing others' files). The daemon there is
    // root's, so what the client refuses is the directory alone.
    let runtime = Scratch::new();
    let open = runtime.subdir("shmring", 0, 0o1777);
    let socket = open.join("broker.sock");
    let mut d = Shmringd::spawn(Some(&socket), None, None);
    d.listening(&socket).expect("root's daemon serves");
    let out = cli_with_env(&["ls"], &runtime.0, &[]);
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("refusing") && err.contains("writable"),
        "{err}"
    );
}

#[test]
fn a_daemon_of_another_uid_is_refused_unless_trusted() {
    if !is_root() {
        return;
    }
    // An explicit socket path in a directory nothing is wrong with, but
    // the daemon is uid 65534's.
    let scratch = Scratch::new();
    let dir = scratch.subdir("elsewhere", NOBODY, 0o700);
    let socket = dir.join("broker.sock");
    let mut other = Shmringd::spawn(Some(&socket), Some(NOBODY), None);
    other.listening(&socket).expect("uid 65534's daemon serves");

    // The library says who it refused, and sent nothing.
    match BrokerClient::connect_to(&socket) {
        Err(BrokerError::UntrustedDaemon { uid, pid, path }) => {
            assert_eq!((uid, pid, path), (NOBODY, other.0.id(), socket.clone()));
        }
        other => panic!("{other:?}"),
    }
    // Unless told to trust that uid.
    let mut client = ConnectOptions::new()
        .socket(&socket)
        .trust_daemon_uid(NOBODY)
        .connect()
        .expect("trusted on request");
    assert!(client.list().unwrap().is_empty());
    assert!(matches!(
        ConnectOptions::new()
            .socket(&socket)
            .trust_daemon_uid(4242)
            .connect(),
        Err(BrokerError::UntrustedDaemon { uid: NOBODY, .. })
    ));

    let socket_arg = socket.to_str().unwrap();
    let out = cli_with_env(&["--socket", socket_arg, "ls"], &scratch.0, &[]);
    assert!(!out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains("refusing") && err.contains(&format!("uid {NOBODY}")),
        "{err}"
    );
    assert!(err.contains("SHMRING_DAEMON_UID"), "{err}");
    // $SHMRING_SOCKET is an explicit path too.
    let out = cli_with_env(&["ls"], &scratch.0, &[("SHMRING_SOCKET", socket_arg)]);
    assert!(!out.status.success(), "{out:?}");

    // Opting in to uid 65534 (a system-wide daemon under its own user).
    let nobody = NOBODY.to_string();
    let out = cli_with_env(
        &["--socket", socket_arg, "ls"],
        &scratch.0,
        &[("SHMRING_DAEMON_UID", &nobody)],
    );
    assert!(out.status.success(), "{out:?}");
    // Another uid named: still refused.
    let out = cli_with_env(
        &["--socket", socket_arg, "ls"],
        &scratch.0,
        &[("SHMRING_DAEMON_UID", "4242")],
    );
    assert!(!out.status.success(), "{out:?}");
    // Nonsense is refused, not ignored.
    let out = cli_with_env(
        &["--socket", socket_arg, "ls"],
        &scratch.0,
        &[("SHMRING_DAEMON_UID", "nobody")],
    );
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("SHMRING_DAEMON_UID"), "{out:?}");
    // The daemon's own user trusts it without opting in.
    let out = run_cli(&socket, &["ls"], b"", Some(NOBODY));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_daemon_refuses_a_directory_others_may_write() {
    if !is_root() {
        return;
    }
    let scratch = Scratch::new();
    for (name, owner, mode) in [
        ("open", 0, 0o777),
        ("group", 0, 0o770),
        ("theirs", NOBODY, 0o700),
    ] {
        let dir = scratch.subdir(name, owner, mode);
        let socket = dir.join("broker.sock");
        let err = Shmringd::spawn(Some(&socket), None, None).refused(&socket);
        assert!(err.contains(&dir.display().to_string()), "{name}: {err}");
        assert!(!socket.exists(), "{name}: a socket was created");
        assert!(
            !socket.with_extension("sock.lock").exists(),
            "{name}: a lock file was created"
        );
    }
    // A shared directory with the sticky bit (like /tmp) is accepted.
    let sticky = scratch.subdir("sticky", 0, 0o1777);
    let socket = sticky.join("broker.sock");
    let mut d = Shmringd::spawn(Some(&socket), None, None);
    d.listening(&socket)
        .expect("a sticky shared directory is accepted");
    drop(d);
    // A configured directory mode others could write is refused.
    let config = scratch.0.join("modes.toml");
    std::fs::write(&config, "[modes]\ndirectory = 0o777\n").unwrap();
    let socket = scratch.0.join("new").join("broker.sock");
    let mut cmd = Command::new(SHMRINGD);
    cmd.arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(&config);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let err = Shmringd(cmd.spawn().unwrap()).refused(&socket);
    assert!(err.contains("0o777"), "{err}");
}

#[test]
fn the_daemon_creates_its_directories_0700_whatever_the_umask() {
    let scratch = Scratch::new();
    let top = scratch.0.join("a");
    let socket = top.join("b").join("broker.sock");
    // Under umask 000 a plain mkdir would leave the directories writable
    // by everyone.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" --socket \"$1\"")
        .arg(SHMRINGD)
        .arg(&socket);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut d = Shmringd(cmd.spawn().unwrap());
    d.listening(&socket).expect("shmringd comes up");
    assert_eq!(mode_of(&top), 0o700, "{}", top.display());
    assert_eq!(mode_of(&top.join("b")), 0o700);
    assert_eq!(mode_of(&socket) & 0o777, 0o600);
}
