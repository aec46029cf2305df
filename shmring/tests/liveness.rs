//! A live peer is never taken for dead, wherever it runs: in another PID
//! namespace, behind `/proc` mounted `hidepid=2` under another uid, or
//! with its main thread exited (a zombie thread-group leader). And a
//! killed one is seen gone. Real processes; the namespace and mount tests
//! need root (CI runs as root) and say so when skipped.

mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{AttachError, MpmcBuilder, RecvTimeoutError, SpscBuilder};
use std::time::{Duration, Instant};

/// Longer than several liveness intervals (100 ms), so that a receiver
/// polling with short timeouts probes its peer more than once.
const OBSERVE: Duration = Duration::from_millis(500);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The ring of `kind` (mode 0666, so that other uids may open it).
enum Ring {
    Spsc(shmring::Spsc),
    Mpmc(shmring::Mpmc),
}

impl Ring {
    fn create(kind: &str, name: &str) -> Ring {
        match kind {
            "spsc" => Ring::Spsc(SpscBuilder::new().mode(0o666).create(name).unwrap()),
            _ => Ring::Mpmc(MpmcBuilder::new().mode(0o666).create(name).unwrap()),
        }
    }

    /// Whether a live sending endpoint is attached.
    fn sender_attached(&self) -> bool {
        match self {
            Ring::Spsc(r) => r.is_producer_attached(),
            Ring::Mpmc(q) => q.live_senders() > 0,
        }
    }

    /// SPSC: a second producer is refused with `Busy` while the first
    /// lives. MPMC: nothing of a live sender is recovered.
    fn assert_sender_role_kept(&self) {
        match self {
            Ring::Spsc(r) => assert!(matches!(r.producer(), Err(AttachError::Busy { .. }))),
            Ring::Mpmc(q) => assert_eq!(q.recovered(), shmring::mpmc::Recovered::default()),
        }
    }

    /// Receives until `until`, or until end of file if `until` is None
    /// (bounded by PATIENCE); returns (messages, end of file seen).
    fn receive(&self, until: Option<Instant>) -> (u64, bool) {
        let deadline = Instant::now() + PATIENCE;
        let mut next: Box<dyn FnMut() -> Result<bool, RecvTimeoutError>> = match self {
            Ring::Spsc(r) => {
                let mut c = r.consumer().unwrap();
                Box::new(move || match c.recv_timeout(Duration::from_millis(30)) {
                    Ok(m) => Ok(m.starts_with(b"tick ")),
                    Err(RecvTimeoutError::Timeout) => Ok(false),
                    Err(e) => Err(e),
                })
            }
            Ring::Mpmc(q) => {
                let r = q.receiver().unwrap();
                Box::new(move || match r.recv_timeout(Duration::from_millis(30)) {
                    Ok(m) => Ok(m.starts_with(b"tick ")),
                    Err(RecvTimeoutError::Timeout) => Ok(false),
                    Err(e) => Err(e),
                })
            }
        };
        let mut received = 0;
        loop {
            if until.is_some_and(|t| Instant::now() >= t) {
                return (received, false);
            }
            assert!(Instant::now() < deadline, "no end of file in {PATIENCE:?}");
            match next() {
                Ok(true) => received += 1,
                Ok(false) => {}
                Err(RecvTimeoutError::Disconnected) => return (received, true),
                Err(e) => panic!("receive failed: {e:?}"),
            }
        }
    }

    /// After the sender's death: the role is free again.
    fn assert_sender_role_free(&self) {
        assert!(!self.sender_attached());
        if let Ring::Spsc(r) = self {
            drop(r.producer().expect("a dead producer's role is taken over"));
        }
    }
}

/// The pid (in our namespace) of the only child of `pid`.
fn only_child(pid: u32) -> u32 {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let children = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(first) = children.split_whitespace().next() {
            return first.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "{pid} has no child");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
}

/// The sender lives in its own PID namespace: the pid it records means
/// another process (or none) here.
fn sender_in_another_pid_namespace(kind: &str) {
    if !is_root() {
        eprintln!("skipped: unshare(CLONE_NEWPID) needs root");
        return;
    }
    let name = Name::new(&format!("pidns-{kind}"));
    let ring = Ring::create(kind, &name);
    let mut peer = Peer::spawn_wrapped(
        &["unshare", "--pid", "--fork", "--kill-child"],
        &["trickle", kind, &name, "20"],
    );
    peer.expect("ready");
    let inner = only_child(peer.pid());
    assert!(ring.sender_attached());
    ring.assert_sender_role_kept();
    let (received, eof) = ring.receive(Some(Instant::now() + OBSERVE));
    assert!(!eof, "a live sender in another PID namespace looked gone");
    assert!(received > 0);
    ring.assert_sender_role_kept();
    sigkill(inner);
    let killed = Instant::now();
    let (_, eof) = ring.receive(None);
    assert!(eof);
    eprintln!("{kind}: end of file {:?} after SIGKILL", killed.elapsed());
    ring.assert_sender_role_free();
}

#[test]
fn an_spsc_producer_in_another_pid_namespace_keeps_its_role_until_killed() {
    sender_in_another_pid_namespace("spsc");
}

#[test]
fn an_mpmc_sender_in_another_pid_namespace_is_not_reaped_until_killed() {
    sender_in_another_pid_namespace("mpmc");
}

/// `/proc` mounted `hidepid=2` in a private mount namespace, then the
/// command run as `uid`: it cannot see other users' processes.
fn behind_hidepid(uid: u32) -> Vec<String> {
    let script = format!(
        "mount -t proc -o hidepid=2 proc /proc && \
         exec setpriv --reuid={uid} --regid={uid} --clear-groups \"$0\" \"$@\""
    );
    ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
        .iter()
        .map(|s| s.to_string())
        .chain([script])
        .collect()
}

/// Both peers non-root, of different uids, each behind `hidepid=2`: the
/// documented way to share a ring between users, where reading the
/// other's `/proc` entry fails.
fn peers_of_other_uids_behind_hidepid(kind: &str) {
    if !is_root() {
        eprintln!("skipped: mounting /proc needs root");
        return;
    }
    let name = Name::new(&format!("hidepid-{kind}"));
    let _ring = Ring::create(kind, &name);
    let wrap_sender = behind_hidepid(65534);
    let wrap_sender: Vec<&str> = wrap_sender.iter().map(String::as_str).collect();
    let mut sender = Peer::spawn_wrapped(&wrap_sender, &["trickle", kind, &name, "20"]);
    sender.expect("ready");
    let wrap_observer = behind_hidepid(65533);
    let wrap_observer: Vec<&str> = wrap_observer.iter().map(String::as_str).collect();

    // The premise: the observer's /proc does not show the sender.
    let probe = std::process::Command::new(wrap_observer[0])
        .args(&wrap_observer[1..])
        .args(["test", "-e", &format!("/proc/{}/stat", sender.pid())])
        .status()
        .unwrap();
    assert_eq!(probe.code(), Some(1), "hidepid=2 should hide the sender");

    let wait = OBSERVE.as_millis().to_string();
    let observe = ["observe", kind, &name, &wait];
    let mut observer = Peer::spawn_wrapped(&wrap_observer, &observe);
    observer.expect("attached=true");
    let got = observer.line(PATIENCE);
    assert!(
        got.ends_with("disconnected=false") && !got.starts_with("received 0 "),
        "a live sender of another uid looked gone: {got}"
    );
    let second = observer.line(PATIENCE);
    match kind {
        "spsc" => assert_eq!(second, "second=busy"),
        _ => assert_eq!(second, "second=1 recovered=0"),
    }
    observer.finish();

    sender.kill9();
    let mut observer = Peer::spawn_wrapped(&wrap_observer, &observe);
    observer.expect("attached=false");
    let got = observer.line(PATIENCE);
    assert!(got.ends_with("disconnected=true"), "{got}");
    let second = observer.line(PATIENCE);
    match kind {
        "spsc" => assert_eq!(second, "second=attached"),
        _ => assert!(second.starts_with("second=0 "), "{second}"),
    }
    observer.finish();
}

#[test]
fn an_spsc_producer_of_another_uid_behind_hidepid_keeps_its_role() {
    peers_of_other_uids_behind_hidepid("spsc");
}

#[test]
fn an_mpmc_sender_of_another_uid_behind_hidepid_is_not_reaped() {
    peers_of_other_uids_behind_hidepid("mpmc");
}

/// The sender's main thread called `pthread_exit()`; another thread sends.
fn zombie_leader(kind: &str) {
    let name = Name::new(&format!("zombie-{kind}"));
    let ring = Ring::create(kind, &name);
    let mut peer = Peer::spawn(&["trickle", kind, &name, "20", "zombie-leader"]);
    peer.expect("ready");
    let stat = format!("/proc/{}/stat", peer.pid());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        if text[text.rfind(')').unwrap() + 1..]
            .trim_start()
            .starts_with('Z')
        {
            break;
        }
        assert!(Instant::now() < deadline, "the leader never exited");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ring.sender_attached());
    ring.assert_sender_role_kept();
    let (received, eof) = ring.receive(Some(Instant::now() + OBSERVE));
    assert!(
        !eof && received > 0,
        "a live sender with a zombie leader looked gone"
    );
    ring.assert_sender_role_kept();
    peer.kill9();
    let (_, eof) = ring.receive(None);
    assert!(eof);
    ring.assert_sender_role_free();
}

#[test]
fn an_spsc_producer_whose_main_thread_exited_keeps_its_role() {
    zombie_leader("spsc");
}

#[test]
fn an_mpmc_sender_whose_main_thread_exited_is_not_reaped() {
    zombie_leader("mpmc");
}
