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
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PEER: &str = env!("CARGO_BIN_EXE_shmring-c-peer");
const MESSAGES: u64 = 100_000;
const DEADLINE: Duration = Duration::from_secs(120);

#[path = "support/library.rs"]
mod library;

fn lib_dir() -> PathBuf {
    library::lib_dir().to_path_buf()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A name unique to this test process and call.
fn unique(tag: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let n = {
        let mut n = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    };
    format!("shmring-ctest-{}-{tag}-{n}", std::process::id())
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

/// Compiles every C program: the three examples and the misuse test
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
        shared(tests.join("misuse.c"), "misuse", &cc, &["-g"]);
        shared(tests.join("threads.c"), "threads", &cc, &["-pthread"]);
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

/// A finished child: status and output.
struct Finished {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Spawns `cmd` with piped output.
fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Waits for `child` until `deadline`; kills and reaps it if late.
fn finish(mut child: Child, what: &str) -> Finished {
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn assert_ok(f: &Finished, what: &str) {
    assert!(
        f.success,
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        f.code, f.stdout, f.stderr
    );
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

#[test]
fn valgrind_memcheck_is_clean() {
    let c = programs();
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
        return;
    }
    let prefix = unique("valgrind");
    let f = finish(
        spawn(
            Command::new("valgrind")
                .args([
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--show-leak-kinds=definite,indirect,possible",
                    "--errors-for-leak-kinds=definite,indirect,possible",
                ])
                .arg(c.path("misuse"))
                .arg(&prefix),
        ),
        "valgrind misuse",
    );
    let _ = shmring_core::unlink(&format!("{prefix}-spsc"));
    let _ = shmring_core::unlink(&format!("{prefix}-mpmc"));
    assert_ok(&f, "valgrind misuse");
    for line in f.stderr.lines() {
        if line.contains("ERROR SUMMARY") || line.contains("definitely lost") {
            eprintln!("{line}");
        }
    }
    assert!(
        f.stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind reported errors:\n{}",
        f.stderr
    );
    assert!(
        f.stderr.contains("definitely lost: 0 bytes") || f.stderr.contains("no leaks are possible"),
        "valgrind reported leaks:\n{}",
        f.stderr
    );
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
