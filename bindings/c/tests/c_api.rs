//! The C API from C: the examples and test programs are compiled with
//! `cc -Wall -Wextra -Werror` against `include/shmring.h` and the library
//! in `target/<profile>/` (`libshmring.{so,a}`, rebuilt first: see
//! `support/library.rs`),
//! then run against Rust peers (`shmring-c-peer`), an in-process broker,
//! and valgrind.
//!
//! Every child runs under a deadline and is reaped; every segment has a
//! unique name (`shmring-ctest-<pid>-<n>`) and is unlinked by a guard.

use shmring_core::MessageReceiver;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PEER: &str = env!("CARGO_BIN_EXE_shmring-c-peer");
const MESSAGES: u64 = 100_000;
const DEADLINE: Duration = Duration::from_secs(120);

#[path = "support/library.rs"]
mod library;
#[path = "support/process.rs"]
mod process;

use process::{Finished, assert_ok, spawn};

fn lib_dir() -> PathBuf {
    library::lib_dir().to_path_buf()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A name unique to this test process and call.
fn unique(tag: &str) -> String {
    process::unique("shmring-ctest", tag)
}

/// Unlinks a direct-mode segment when dropped.
struct Segment(String);

impl Segment {
    fn spsc(tag: &str) -> Segment {
        let name = unique(tag);
        shmring_core::SpscBuilder::new()
            .capacity(1 << 16)
            .create(&name)
            .expect("create ring");
        Segment(name)
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = shmring_core::unlink(&self.0);
    }
}

/// The compiled C programs (built once per test process).
struct Programs {
    dir: PathBuf,
}

impl Programs {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn compile(args: &[&std::ffi::OsStr], what: &str) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?} for {what}: {e}", args[0]));
    assert!(
        out.status.success(),
        "compiling {what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles every C program: the examples and the C test programs
/// against the shared library, the consumer also statically, and the
/// C++ check.
fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let lib = lib_dir();
        let root = lib.join("c-api-tests");
        // Directories of earlier test processes that are gone.
        if let Ok(entries) = std::fs::read_dir(&root) {
            for e in entries.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !Path::new("/proc").join(&pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = root.join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("create build dir");
        let include = crate_dir().join("include");
        let cc = cc();
        let shared = |src: PathBuf, out: &str, compiler: &str, extra: &[&str]| {
            let rpath = format!("-Wl,-rpath,{}", lib.display());
            let mut args: Vec<std::ffi::OsString> = vec![compiler.into()];
            for a in ["-Wall", "-Wextra", "-Werror"].iter().chain(extra) {
                args.push(a.into());
            }
            args.push("-I".into());
            args.push(include.clone().into());
            args.push(src.into());
            args.push("-L".into());
            args.push(lib.clone().into());
            args.push(rpath.into());
            args.push("-lshmring".into());
            args.push("-o".into());
            args.push(dir.join(out).into());
            let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            compile(&refs, out);
        };
        let examples = crate_dir().join("examples");
        let tests = crate_dir().join("tests/c");
        shared(examples.join("producer.c"), "producer", &cc, &[]);
        shared(examples.join("consumer.c"), "consumer", &cc, &[]);
        shared(examples.join("broker_echo.c"), "broker_echo", &cc, &[]);
        shared(examples.join("pubsub.c"), "pubsub_example", &cc, &[]);
        shared(
            examples.join("poll_loop.c"),
            "poll_loop",
            &cc,
            &["-std=c11", "-pedantic"],
        );
        shared(tests.join("misuse.c"), "misuse", &cc, &["-g"]);
        shared(
            tests.join("poll_fd.c"),
            "poll_fd",
            &cc,
            &["-std=c11", "-pedantic"],
        );
        shared(tests.join("threads.c"), "threads", &cc, &["-pthread"]);
        shared(tests.join("pubsub.c"), "pubsub", &cc, &["-g"]);
        shared(
            tests.join("zombie_leader.c"),
            "zombie_leader",
            &cc,
            &["-pthread"],
        );
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        shared(
            tests.join("cpp_compat.cpp"),
            "cpp_compat",
            &cxx,
            &["-pedantic"],
        );
        // Static: libshmring.a plus the system libraries Rust's std needs.
        let mut args: Vec<std::ffi::OsString> = vec![cc.clone().into()];
        for a in ["-Wall", "-Wextra", "-Werror", "-I"] {
            args.push(a.into());
        }
        args.push(include.into());
        args.push(examples.join("consumer.c").into());
        args.push(lib.join("libshmring.a").into());
        for a in [
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ] {
            args.push(a.into());
        }
        args.push("-o".into());
        args.push(dir.join("consumer-static").into());
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        compile(&refs, "consumer (static)");
        Programs { dir }
    })
}

/// Waits for `child` until `DEADLINE`; kills and reaps it if late.
fn finish(child: Child, what: &str) -> Finished {
    process::finish_within(child, what, DEADLINE)
}

/// `sent N checksum X` / `received N checksum X` → (N, X).
fn checksum(line: &str) -> (u64, String) {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        words.len() == 4 && words[2] == "checksum",
        "unexpected output {line:?}"
    );
    (words[1].parse().expect("count"), words[3].to_owned())
}

/// Runs a producer and a consumer on a fresh ring and compares checksums.
fn run_pair(tag: &str, producer: impl Fn(&str) -> Command, consumer: impl Fn(&str) -> Command) {
    let ring = Segment::spsc(tag);
    let c = spawn(&mut consumer(&ring.0));
    let p = spawn(&mut producer(&ring.0));
    let p = finish(p, "producer");
    let c = finish(c, "consumer");
    assert_ok(&p, "producer");
    assert_ok(&c, "consumer");
    let sent = checksum(p.stdout.trim());
    let received = checksum(c.stdout.trim());
    assert_eq!(sent.0, MESSAGES);
    assert_eq!(sent, received, "checksums differ");
}

#[test]
fn c_producer_to_rust_consumer() {
    let c = programs();
    run_pair(
        "c2rust",
        |name| {
            let mut cmd = Command::new(c.path("producer"));
            cmd.args([name, &MESSAGES.to_string()]);
            cmd
        },
        |name| {
            let mut cmd = Command::new(PEER);
            cmd.args(["consume", name, &MESSAGES.to_string()]);
            cmd
        },
    );
}

#[test]
fn rust_producer_to_c_consumer() {
    let c = programs();
    run_pair(
        "rust2c",
        |name| {
            let mut cmd = Command::new(PEER);
            cmd.args(["produce", name, &MESSAGES.to_string()]);
            cmd
        },
        |name| {
            let mut cmd = Command::new(c.path("consumer"));
            cmd.args([name, &MESSAGES.to_string()]);
            cmd
        },
    );
}

#[test]
fn statically_linked_c_consumer() {
    let c = programs();
    run_pair(
        "static",
        |name| {
            let mut cmd = Command::new(c.path("producer"));
            cmd.args([name, &MESSAGES.to_string()]);
            cmd
        },
        |name| {
            let mut cmd = Command::new(c.path("consumer-static"));
            cmd.args([name, &MESSAGES.to_string()]);
            cmd
        },
    );
}

#[test]
fn misuse_gets_documented_codes() {
    let c = programs();
    let prefix = unique("misuse");
    let f = finish(spawn(Command::new(c.path("misuse")).arg(&prefix)), "misuse");
    let _ = shmring_core::unlink(&format!("{prefix}-spsc"));
    let _ = shmring_core::unlink(&format!("{prefix}-mpmc"));
    assert_ok(&f, "misuse");
    assert!(f.stdout.contains("checks passed"), "{}", f.stdout);
}

#[test]
fn thread_rules_hold() {
    let c = programs();
    let prefix = unique("threads");
    let f = finish(
        spawn(Command::new(c.path("threads")).arg(&prefix)),
        "threads",
    );
    // The program unlinks its names at once; this is for a failure.
    let _ = shmring_core::unlink(&format!("{prefix}-q"));
    let _ = shmring_core::unlink(&format!("{prefix}-r"));
    assert_ok(&f, "threads");
}

/// A C producer whose main thread called `pthread_exit()` (the leader is
/// a zombie) while its sending thread lives keeps its role: the consumer
/// never sees end of file and a second producer is `Busy`; after SIGKILL
/// the consumer sees end of file and the role is free.
#[test]
fn a_zombie_thread_group_leader_keeps_its_role() {
    let ring_segment = Segment::spsc("zombie");
    let ring = shmring_core::Spsc::open(&ring_segment.0).expect("open ring");
    let mut child = Command::new(programs().path("zombie_leader"))
        .arg(&ring_segment.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn zombie_leader");
    let pid = child.id();
    let mut out = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let n = out.read(&mut buf).unwrap_or(0);
        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
    });
    let first = rx.recv_timeout(DEADLINE).unwrap_or_default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(first.trim(), "ready");
        // The premise: the leader has exited and shows as a zombie.
        let deadline = Instant::now() + DEADLINE;
        while leader_state(pid) != Some('Z') {
            assert!(Instant::now() < deadline, "leader never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(ring.is_producer_attached());
        assert!(matches!(
            ring.producer(),
            Err(shmring_core::AttachError::Busy { .. })
        ));
        let mut consumer = ring.consumer().expect("consumer");
        // Several liveness intervals of receiving: ticks, never EOF.
        let until = Instant::now() + Duration::from_millis(500);
        let mut ticks = 0;
        while Instant::now() < until {
            match consumer.recv_timeout(Duration::from_millis(30)) {
                Ok(m) => {
                    assert!(m.starts_with(b"tick "));
                    ticks += 1;
                }
                Err(shmring_core::RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("a live producer looked gone: {e:?}"),
            }
        }
        assert!(ticks > 0, "no tick arrived");
        sigkill(pid);
        let deadline = Instant::now() + DEADLINE;
        loop {
            match consumer.recv_timeout(Duration::from_millis(30)) {
                Ok(_) | Err(shmring_core::RecvTimeoutError::Timeout) => {}
                Err(shmring_core::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("{e:?}"),
            }
            assert!(Instant::now() < deadline, "no end of file after SIGKILL");
        }
        assert!(!ring.is_producer_attached());
        drop(ring.producer().expect("the role is free again"));
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The state letter of `pid`'s thread-group leader (`/proc/PID/stat`).
fn leader_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// SIGKILL by pid (the child handle reaps it afterwards).
fn sigkill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's pid is positive");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
}

/// Whether valgrind can be run (in CI it must).
fn valgrind_found() -> bool {
    let found = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is required in CI (apt-get install valgrind)"
        );
        eprintln!("valgrind not installed: memcheck test skipped");
    }
    found
}

/// Runs `program args` under valgrind memcheck and asserts that every
/// process it made (forked children too) exited cleanly with no errors and
/// no definite, indirect or possible leaks.
fn memcheck(program: &Path, args: &[&std::ffi::OsStr], what: &str) -> Finished {
    let f = finish(
        spawn(
            Command::new("valgrind")
                .args([
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--show-leak-kinds=definite,indirect,possible",
                    "--errors-for-leak-kinds=definite,indirect,possible",
                ])
                .arg(program)
                .args(args),
        ),
        what,
    );
    assert_ok(&f, what);
    for line in f.stderr.lines() {
        if line.contains("ERROR SUMMARY") || line.contains("definitely lost") {
            eprintln!("{line}");
        }
    }
    let summaries: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.contains("ERROR SUMMARY:"))
        .collect();
    assert!(
        !summaries.is_empty()
            && summaries
                .iter()
                .all(|l| l.contains("ERROR SUMMARY: 0 errors")),
        "valgrind reported errors in {what}:\n{}",
        f.stderr
    );
    assert!(
        f.stderr
            .lines()
            .filter(|l| l.contains("definitely lost:"))
            .all(|l| l.contains("definitely lost: 0 bytes")),
        "valgrind reported leaks in {what}:\n{}",
        f.stderr
    );
    f
}

#[test]
fn valgrind_memcheck_is_clean() {
    let c = programs();
    if !valgrind_found() {
        return;
    }
    let prefix = unique("valgrind");
    let f = memcheck(&c.path("misuse"), &[prefix.as_ref()], "valgrind misuse");
    let _ = shmring_core::unlink(&format!("{prefix}-spsc"));
    let _ = shmring_core::unlink(&format!("{prefix}-mpmc"));
    assert!(f.stdout.contains("checks passed"), "{}", f.stdout);
}

/// `tests/c/pubsub.c` under memcheck, its forked subscribers included
/// (fewer messages: valgrind runs them some 50 times slower).
#[test]
fn valgrind_memcheck_is_clean_for_pubsub() {
    let c = programs();
    if !valgrind_found() {
        return;
    }
    let prefix = unique("vgpubsub");
    let f = memcheck(
        &c.path("pubsub"),
        &[prefix.as_ref(), "2000".as_ref()],
        "valgrind pubsub",
    );
    unlink_pubsub_names(&prefix);
    assert!(f.stdout.contains("checks passed"), "{}", f.stdout);
}

#[test]
fn cpp_includes_the_header() {
    let c = programs();
    let f = finish(spawn(&mut Command::new(c.path("cpp_compat"))), "cpp_compat");
    assert_ok(&f, "cpp_compat");
}

#[test]
fn broker_echo_through_a_real_broker() {
    let c = programs();
    let dir = std::env::temp_dir().join(unique("broker"));
    let socket = dir.join("broker.sock");
    let daemon = shmring_broker::daemon::InProcess::start(&socket, Default::default())
        .expect("start the broker");
    let f = finish(
        spawn(
            Command::new(c.path("broker_echo"))
                .arg(&socket)
                .arg(unique("echo"))
                .arg("1000"),
        ),
        "broker_echo",
    );
    daemon.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert_ok(&f, "broker_echo");
    assert!(
        f.stdout.contains("echoed 1000 messages"),
        "unexpected output: {}",
        f.stdout
    );
}

/// The names `tests/c/pubsub.c` uses under `prefix` (it unlinks them
/// itself; this is for a failure half-way).
fn unlink_pubsub_names(prefix: &str) {
    for tag in ["errors", "spsc", "lossless", "lossy", "copies", "poll"] {
        let _ = shmring_core::unlink(&format!("{prefix}-{tag}"));
    }
}

/// `tests/c/pubsub.c`: a C publisher and two forked C subscriber
/// processes, lossless (100 000 messages each, in order, checksums equal,
/// one subscriber reading in place) and lossy (received plus missed is
/// exactly what was published, for a subscriber reading meanwhile and for
/// one that starts after the publisher ended), the documented error codes,
/// the lossy in-place copy, the readiness descriptors, and a lossy ring
/// made through a real broker.
#[test]
fn pubsub_from_c_with_subscriber_processes() {
    let c = programs();
    let dir = std::env::temp_dir().join(unique("psbroker"));
    let socket = dir.join("broker.sock");
    let daemon = shmring_broker::daemon::InProcess::start(&socket, Default::default())
        .expect("start the broker");
    let prefix = unique("pubsub");
    let f = finish(
        spawn(
            Command::new(c.path("pubsub"))
                .arg(&prefix)
                .arg(MESSAGES.to_string())
                .arg(&socket),
        ),
        "pubsub",
    );
    daemon.stop();
    let _ = std::fs::remove_dir_all(&dir);
    unlink_pubsub_names(&prefix);
    assert_ok(&f, "pubsub");
    assert!(f.stdout.contains("checks passed"), "{}", f.stdout);
}

/// `examples/pubsub.c`: one publisher process and two subscriber
/// processes on a lossless ring the test made; both subscribers receive
/// exactly what was published.
#[test]
fn pubsub_example_fans_out_to_two_processes() {
    let c = programs();
    let ring = Segment(unique("psexample"));
    shmring_core::PubSubBuilder::new()
        .slots(64)
        .max_message(128)
        .create(&ring.0)
        .expect("create ring");
    let subscribers: Vec<Child> = (0..2)
        .map(|_| spawn(Command::new(c.path("pubsub_example")).args([&ring.0, "subscribe"])))
        .collect();
    let publisher = spawn(Command::new(c.path("pubsub_example")).args([
        &ring.0,
        "publish",
        &MESSAGES.to_string(),
        "2",
    ]));
    let publisher = finish(publisher, "publisher");
    let subscribers: Vec<Finished> = subscribers
        .into_iter()
        .map(|s| finish(s, "subscriber"))
        .collect();
    assert_ok(&publisher, "publisher");
    let published = checksum(publisher.stdout.trim());
    assert_eq!(published.0, MESSAGES);
    for s in &subscribers {
        assert_ok(s, "subscriber");
        let line = s.stdout.trim();
        let (head, missed) = line
            .rsplit_once(" missed ")
            .unwrap_or_else(|| panic!("unexpected output {line:?}"));
        assert_eq!(missed, "0", "{line}");
        assert_eq!(checksum(head), published, "checksums differ");
    }
}

#[test]
fn pkg_config_file_is_generated() {
    let lib = lib_dir();
    let pc =
        std::fs::read_to_string(lib.join("shmring.pc")).expect("shmring.pc next to the libraries");
    assert!(pc.contains("-lshmring"), "{pc}");
    assert!(pc.contains(&format!("libdir={}", lib.display())), "{pc}");
    // With pkg-config installed, a program builds from its flags alone.
    let Ok(out) = Command::new("pkg-config")
        .args(["--cflags", "--libs", "shmring"])
        .env("PKG_CONFIG_PATH", &lib)
        .output()
    else {
        eprintln!("pkg-config not installed: flags not checked");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flags = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        flags.contains("-lshmring") && flags.contains("-I"),
        "{flags}"
    );
}

#[test]
fn readiness_descriptors_follow_the_rule() {
    let c = programs();
    let prefix = unique("pollfd");
    let f = finish(
        spawn(Command::new(c.path("poll_fd")).arg(&prefix)),
        "poll_fd",
    );
    // The program unlinks its names; this is for a failure.
    let _ = shmring_core::unlink(&format!("{prefix}-spsc"));
    let _ = shmring_core::unlink(&format!("{prefix}-mpmc"));
    assert_ok(&f, "poll_fd");
    assert!(f.stdout.contains("checks passed"), "{}", f.stdout);
}

/// A running `examples/poll_loop.c`: its standard input, its output lines
/// as they come. Dropping it kills and reaps the process (a test that
/// fails half-way leaves nothing behind).
struct PollLoop {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl PollLoop {
    /// Starts `poll_loop NAME ARGS...`, with a pipe as standard input if
    /// `stdin`, else `/dev/null`.
    fn spawn(name: &str, args: &[&str], stdin: bool) -> PollLoop {
        let mut child = Command::new(programs().path("poll_loop"))
            .arg(name)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn poll_loop");
        let out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        PollLoop {
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits (at most [`DEADLINE`]) until an output line satisfies `pred`.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        let mut checked = 0;
        loop {
            if self.seen[checked..].iter().any(|l| pred(l)) {
                return;
            }
            checked = self.seen.len();
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(e) => panic!(
                    "poll_loop: no {what} ({e:?}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits (at most [`DEADLINE`]) for the process to end: whether it
    /// succeeded, every output line, and its standard error.
    fn exit(mut self) -> (bool, Vec<String>, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
                    "poll_loop did not end; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for poll_loop") {
                break status;
            }
            assert!(Instant::now() < deadline, "poll_loop did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status.success(), std::mem::take(&mut self.seen), stderr)
    }
}

impl Drop for PollLoop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// xorshift64*: the pace of the test's sends, reproducible from its seed.
struct Pace(u64);

impl Pace {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `examples/poll_loop.c` waits in one `poll()` on a ring, its standard
/// input and a timerfd. A Rust producer sends 1000 messages in bursts and
/// gaps (long enough for the loop to go to sleep in `poll`, short enough to
/// catch it draining), blocking when the ring is full; lines arrive on
/// standard input meanwhile, which then closes. Every message is printed
/// once and in order, the lines and timer ticks are seen, and the
/// producer's exit ends the loop with end of file and status 0.
#[test]
fn poll_loop_waits_on_a_ring_stdin_and_a_timer() {
    use shmring_core::prelude::*;
    use std::io::Write;
    const COUNT: usize = 1000;
    let seed = std::env::var("SHMRING_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("pace seed {seed} (SHMRING_TEST_SEED={seed} repeats it)");
    let mut pace = Pace(seed);

    let ring = Segment::spsc("pollloop");
    let mut pl = PollLoop::spawn(&ring.0, &[], true);
    // "ready": the consumer is attached and its descriptor taken.
    pl.wait_for("ready", |l| l == "ready");

    let spsc = shmring_core::Spsc::open(&ring.0).expect("open ring");
    let mut producer = spsc.producer().expect("producer");
    let stdin_lines = ["line one", "line two", "line three"];
    let mut expected = Vec::with_capacity(COUNT);
    let mut sent = 0;
    while sent < COUNT {
        let burst = 1 + pace.below(64) as usize;
        for _ in 0..burst.min(COUNT - sent) {
            let pad = pace.below(200) as usize;
            let msg = format!("m {sent:06} {}", "x".repeat(pad));
            producer
                .send_timeout(msg.as_bytes(), DEADLINE)
                .unwrap_or_else(|e| panic!("send {sent}: {e}"));
            expected.push(msg);
            sent += 1;
        }
        match pace.below(4) {
            0 => {}
            1 => std::thread::yield_now(),
            2 => std::thread::sleep(Duration::from_micros(pace.below(2000))),
            _ => std::thread::sleep(Duration::from_millis(pace.below(20))),
        }
        if sent >= COUNT / 3 {
            if let Some(mut stdin) = pl.stdin.take() {
                for line in stdin_lines {
                    writeln!(stdin, "{line}").expect("write to poll_loop's stdin");
                }
                // Closed: the loop sees end of file there and stops watching it.
            }
        }
    }
    // Before the producer goes (which ends the loop): the lines and a
    // tick of the timer have come through the same poll().
    pl.wait_for("stdin lines", |l| l == "stdin line three");
    pl.wait_for("timer tick", |l| l.starts_with("tick "));
    drop(producer);
    drop(spsc);
    let (ok, lines, stderr) = pl.exit();
    assert!(ok, "poll_loop failed:\n{stderr}\n{}", lines.join("\n"));

    assert_eq!(lines.first().map(String::as_str), Some("ready"));
    let received: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("msg "))
        .collect();
    assert_eq!(received.len(), COUNT, "{stderr}");
    for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "message {i} (seed {seed})");
    }
    let read: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("stdin "))
        .collect();
    assert_eq!(read, stdin_lines);
    let ticks: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(!ticks.is_empty());
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    let last = lines.last().map(String::as_str).unwrap_or("");
    assert!(
        last.starts_with(&format!("done {COUNT} messages, 3 lines, "))
            && last.ends_with(" ticks (eof)"),
        "{last}"
    );
}

/// `poll_loop` also ends at a message "quit" (what follows stays in the
/// ring), and after its time limit with no producer at all. The messages
/// here are sent before it starts: they rang nobody, and it receives them
/// because it receives before its first wait.
#[test]
fn poll_loop_stops_at_quit_and_at_its_time_limit() {
    use shmring_core::prelude::*;
    let ring = Segment::spsc("pollquit");
    let spsc = shmring_core::Spsc::open(&ring.0).expect("open ring");
    let mut producer = spsc.producer().expect("producer");
    for msg in ["before", "quit", "after"] {
        producer
            .send_timeout(msg.as_bytes(), DEADLINE)
            .expect("send");
    }
    let pl = PollLoop::spawn(&ring.0, &[], false);
    let (ok, lines, stderr) = pl.exit();
    assert!(ok, "poll_loop failed:\n{stderr}\n{}", lines.join("\n"));
    let received: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("msg "))
        .collect();
    assert_eq!(received, ["before", "quit"]);
    let last = lines.last().map(String::as_str).unwrap_or("");
    assert!(
        last.starts_with("done 2 messages, ") && last.ends_with("(quit)"),
        "{last}"
    );
    // "after" is still there for the next consumer.
    let mut consumer = spsc.consumer().expect("the consumer role is free");
    assert_eq!(&*consumer.recv_timeout(DEADLINE).expect("after"), b"after");
    drop(producer);

    let ring = Segment::spsc("polltime");
    let pl = PollLoop::spawn(&ring.0, &["1"], false);
    let (ok, lines, stderr) = pl.exit();
    assert!(ok, "poll_loop failed:\n{stderr}\n{}", lines.join("\n"));
    let last = lines.last().map(String::as_str).unwrap_or("");
    assert!(
        last.starts_with("done 0 messages, 0 lines, ") && last.ends_with("(time)"),
        "{last}"
    );
    // It stops at the first tick that completes 1 s (10 ticks of 100 ms).
    let ticks: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(ticks.last().is_some_and(|&t| t >= 10), "{ticks:?}");
}
