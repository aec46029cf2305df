//! libshmring-mq against the kernel's own queues: unmodified C programs
//! written against `<mqueue.h>` (`tests/c/`), run without the library and
//! with it (preloaded, and linked), must print the same thing.
//!
//! Each run gets a private queue directory (`SHMRING_MQ_DIR`), checked
//! empty afterwards, and a wall-clock limit; the C programs have their
//! own watchdogs and reap their children.

#![allow(unsafe_code)]

#[path = "../../c/tests/support/library.rs"]
mod library;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const PROGRAMS: [&str; 8] = [
    "conformance",
    "prio_stress",
    "echo_server",
    "echo_client",
    "kill_survive",
    "blocked_death",
    "name_probe",
    "full_shm",
];

/// `target/<profile>`, holding `libshmring_mq.so` and, beside it, the
/// name programs link and preload: `libshmring-mq.so`.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = library::build("shmring-mq", &["libshmring_mq.so"]);
        // Made beside it under a temporary name and renamed over: test
        // binaries running at once never see a half-made link.
        let tmp = dir.join(format!(".libshmring-mq.so.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink("libshmring_mq.so", &tmp).expect("symlink");
        std::fs::rename(&tmp, dir.join("libshmring-mq.so")).expect("rename");
        dir
    })
}

/// The C programs, built once (the echo pair also linked against the
/// library: `*_linked`).
fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c");
        // In the target directory, rebuilt by every run of the tests.
        let out = lib_dir().join("mq-test-programs");
        std::fs::create_dir_all(&out).expect("program directory");
        let cc = |args: &[&str]| {
            let status = Command::new("cc")
                .args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread"])
                .args(args)
                .stdin(Stdio::null())
                .status()
                .expect("run cc");
            assert!(status.success(), "cc {args:?} failed");
        };
        for program in PROGRAMS {
            let source = src.join(format!("{program}.c"));
            let exe = out.join(program);
            cc(&[
                source.to_str().unwrap(),
                "-o",
                exe.to_str().unwrap(),
                "-lrt",
            ]);
        }
        let lib = lib_dir();
        let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
        let last_error = out.join("last_error_linked");
        cc(&[
            "-I",
            include.to_str().unwrap(),
            src.join("last_error.c").to_str().unwrap(),
            "-o",
            last_error.to_str().unwrap(),
            "-L",
            lib.to_str().unwrap(),
            "-lshmring-mq",
            "-lrt",
        ]);
        for program in ["echo_server", "echo_client"] {
            let source = src.join(format!("{program}.c"));
            let exe = out.join(format!("{program}_linked"));
            cc(&[
                source.to_str().unwrap(),
                "-o",
                exe.to_str().unwrap(),
                "-L",
                lib.to_str().unwrap(),
                "-lshmring-mq",
                "-lrt",
            ]);
        }
        out
    })
}

/// How a program reaches message queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Kernel,
    Preloaded,
    Linked,
}

/// A private queue directory, removed (and checked empty) on drop.
struct QueueDir(PathBuf);

impl QueueDir {
    fn new() -> QueueDir {
        static NEXT: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut next = NEXT.lock().unwrap();
            *next += 1;
            *next
        };
        QueueDir(std::env::temp_dir().join(format!("shmring-mq-q-{}-{n}", std::process::id())))
    }

    fn leftovers(&self) -> Vec<String> {
        ["q", "r"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(self.0.join(sub)).into_iter().flatten())
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect()
    }
}

impl Drop for QueueDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(program: &str, args: &[&str], via: Via, queues: &QueueDir) -> Command {
    wrapped(&[], program, args, via, queues)
}

/// As [`command`], run through `wrapper` (a command that executes its
/// arguments: `unshare …`, `setpriv …`).
fn wrapped(wrapper: &[&str], program: &str, args: &[&str], via: Via, queues: &QueueDir) -> Command {
    let exe = match via {
        Via::Linked => programs().join(format!("{program}_linked")),
        _ => programs().join(program),
    };
    let mut cmd = match wrapper.split_first() {
        None => Command::new(&exe),
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(&exe);
            cmd
        }
    };
    cmd.args(args)
        .env("SHMRING_MQ_DIR", &queues.0)
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match via {
        Via::Kernel => {}
        Via::Preloaded => {
            cmd.env("LD_PRELOAD", lib_dir().join("libshmring-mq.so"));
        }
        Via::Linked => {
            cmd.env("LD_LIBRARY_PATH", lib_dir());
        }
    }
    cmd
}

/// Waits for `child` at most `limit` (killing it after), returns its
/// exit code and standard output and error.
fn finish(mut child: Child, limit: Duration, what: &str) -> (i32, String, String) {
    let start = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code().unwrap_or(-1),
        out.join().unwrap(),
        err.join().unwrap(),
    )
}

/// Runs `program` with `args` via `via`; its standard output, after
/// checking that it exited 0 and left no queue behind.
fn run(program: &str, args: &[&str], via: Via) -> String {
    let queues = QueueDir::new();
    let child = command(program, args, via, &queues).spawn().expect("spawn");
    let (code, out, err) = finish(child, Duration::from_secs(120), program);
    assert_eq!(code, 0, "{program} ({via:?}) exited {code}\n{out}\n{err}");
    assert!(
        queues.leftovers().is_empty(),
        "{program} ({via:?}) left {:?}",
        queues.leftovers()
    );
    out
}

fn assert_same(kernel: &str, library: &str, what: &str) {
    if kernel != library {
        let diff: Vec<String> = kernel
            .lines()
            .zip(library.lines())
            .filter(|(k, l)| k != l)
            .take(20)
            .map(|(k, l)| format!("kernel:  {k}\nlibrary: {l}"))
            .collect();
        panic!(
            "{what}: outputs differ ({} and {} lines)\n{}",
            kernel.lines().count(),
            library.lines().count(),
            diff.join("\n")
        );
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn every_function_and_error_matches_the_kernel() {
    if !is_root() {
        // Its permission checks drop a child to uid 65534 (CI runs as root).
        eprintln!("skipped: the conformance program needs root");
        return;
    }
    let kernel = run("conformance", &[], Via::Kernel);
    let library = run("conformance", &[], Via::Preloaded);
    assert!(kernel.ends_with("conformance: done\n"), "{kernel}");
    assert_same(&kernel, &library, "conformance");
}

#[test]
fn priorities_from_many_processes_leave_in_order_and_exactly_once() {
    let kernel = run("prio_stress", &["100000"], Via::Kernel);
    let library = run("prio_stress", &["100000"], Via::Preloaded);
    assert!(library.ends_with("prio_stress: ok\n"), "{library}");
    assert_same(&kernel, &library, "prio_stress");
}

fn echo_pair(via: Via) -> String {
    echo_pair_wrapped(via, "echo", &[], &[])
}

/// The echo server and client on a queue of their own, each run through
/// its wrapper (`&[]`: none); their outputs, server's first, after
/// checking that both exited 0 and left no queue behind.
fn echo_pair_wrapped(
    via: Via,
    tag: &str,
    server_wrapper: &[&str],
    client_wrapper: &[&str],
) -> String {
    let queues = QueueDir::new();
    let name = format!("/mqt-{tag}-{}-{via:?}", std::process::id());
    let server = wrapped(server_wrapper, "echo_server", &[&name], via, &queues)
        .spawn()
        .expect("server");
    let client = wrapped(client_wrapper, "echo_client", &[&name], via, &queues)
        .spawn()
        .expect("client");
    let (client_code, client_out, client_err) =
        finish(client, Duration::from_secs(60), "echo_client");
    let (server_code, server_out, server_err) =
        finish(server, Duration::from_secs(60), "echo_server");
    assert_eq!(
        (client_code, server_code),
        (0, 0),
        "{via:?}: client:\n{client_out}\n{client_err}\nserver:\n{server_out}\n{server_err}"
    );
    assert!(
        queues.leftovers().is_empty(),
        "{via:?} left {:?}",
        queues.leftovers()
    );
    format!("{server_out}{client_out}")
}

#[test]
fn an_unmodified_client_and_server_print_the_same_preloaded_and_linked() {
    let kernel = echo_pair(Via::Kernel);
    assert!(
        kernel.contains("echo_client: done requests=200"),
        "{kernel}"
    );
    assert_same(&kernel, &echo_pair(Via::Preloaded), "echo pair, preloaded");
    assert_same(&kernel, &echo_pair(Via::Linked), "echo pair, linked");
}

#[test]
fn senders_and_receivers_killed_mid_traffic_leave_the_queue_usable() {
    let library = run("kill_survive", &["200"], Via::Preloaded);
    assert_eq!(library, "kill_survive: ok rounds=200\n");
}

#[test]
fn a_receiver_killed_while_blocked_does_not_keep_notifications_away() {
    let kernel = run("blocked_death", &[], Via::Kernel);
    let library = run("blocked_death", &[], Via::Preloaded);
    assert!(kernel.contains("notified: yes"), "{kernel}");
    assert_same(&kernel, &library, "blocked_death");
}

/// A kernel queue made by a program without the library.
struct KernelQueue(std::ffi::CString, libc::mqd_t);

impl KernelQueue {
    fn create(name: &str) -> KernelQueue {
        let cname = std::ffi::CString::new(name).unwrap();
        // SAFETY: mq_attr is plain data.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = 4;
        attr.mq_msgsize = 64;
        // SAFETY: a C string and an attribute struct that outlive the call.
        let mqd = unsafe {
            libc::mq_open(
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600 as libc::mode_t,
                &mut attr as *mut libc::mq_attr,
            )
        };
        assert!(
            mqd >= 0,
            "kernel mq_open: {}",
            std::io::Error::last_os_error()
        );
        KernelQueue(cname, mqd)
    }

    fn send(&self, msg: &[u8], prio: u32) {
        // SAFETY: a valid descriptor and buffer.
        let rc = unsafe { libc::mq_send(self.1, msg.as_ptr().cast(), msg.len(), prio) };
        assert_eq!(rc, 0, "kernel mq_send: {}", std::io::Error::last_os_error());
    }

    fn receive(&self) -> (Vec<u8>, u32) {
        let mut buf = [0u8; 64];
        let mut prio = 0;
        let deadline = libc::timespec {
            tv_sec: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + 5,
            tv_nsec: 0,
        };
        // SAFETY: a valid descriptor, buffer, priority and timeout.
        let n = unsafe {
            libc::mq_timedreceive(
                self.1,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut prio,
                &deadline,
            )
        };
        assert!(
            n >= 0,
            "kernel mq_receive: {}",
            std::io::Error::last_os_error()
        );
        (buf[..n as usize].to_vec(), prio)
    }
}

impl Drop for KernelQueue {
    fn drop(&mut self) {
        // SAFETY: our descriptor and name.
        unsafe {
            libc::mq_close(self.1);
            libc::mq_unlink(self.0.as_ptr());
        }
    }
}

#[test]
fn a_name_that_is_a_kernel_queue_stays_the_kernels() {
    let name = format!("/mqt-kernel-name-{}", std::process::id());
    let kernel = KernelQueue::create(&name);
    kernel.send(b"from the kernel queue", 5);
    let out = run("name_probe", &[&name], Via::Preloaded);
    assert_eq!(
        out,
        "open_existing: ok\nreceive: from the kernel queue/5\nsend_pong: 0\n\
         open_creat_excl: -1 EEXIST\nattr: maxmsg=4 msgsize=64 curmsgs=1 flags=0\nclose: 0\n"
    );
    // The reply went into the kernel's queue, where this process finds it.
    assert_eq!(kernel.receive(), (b"pong".to_vec(), 3));
    // And mq_unlink removes the kernel's queue.
    assert_eq!(
        run("name_probe", &[&name, "unlink"], Via::Preloaded),
        "unlink: 0\n"
    );
    let cname = std::ffi::CString::new(name.as_str()).unwrap();
    // SAFETY: a C string; without O_CREAT the variadic arguments are unread.
    let gone = unsafe { libc::mq_open(cname.as_ptr(), libc::O_RDONLY) };
    assert_eq!(gone, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOENT)
    );
}

/// Whether `wrapper` can run here (root, util-linux present).
fn permitted(wrapper: &[&str]) -> Result<(), String> {
    if !is_root() {
        return Err(format!("{} needs root", wrapper[0]));
    }
    let status = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(format!("{wrapper:?} does not work here")),
    }
}

#[test]
fn a_full_file_system_refuses_a_new_queue_and_keeps_the_old_ones() {
    let queues = QueueDir::new();
    std::fs::create_dir_all(&queues.0).unwrap();
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o size=256k tmpfs \"$SHMRING_MQ_DIR\" && exec \"$0\" \"$@\"",
    ];
    if let Err(why) = permitted(&wrapper[..4]) {
        eprintln!("skipped: {why}");
        return;
    }
    let child = wrapped(&wrapper, "full_shm", &[], Via::Preloaded, &queues)
        .spawn()
        .expect("spawn");
    let (code, out, err) = finish(child, Duration::from_secs(60), "full_shm");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out,
        "made some queues, then: ENOSPC\nthe queues made before keep every message: yes\nfull_shm: done\n"
    );
}

/// The echo server in a PID namespace of its own, behind `/proc` mounted
/// `hidepid=2`, and the client outside it, both as `nobody` (each makes a
/// queue mode 0600 for the other): the same conversation as between two
/// ordinary processes.
fn echo_across_namespaces(via: Via) -> String {
    let server = [
        "unshare",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t proc -o hidepid=2 proc /proc && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$0\" \"$@\"",
    ];
    let client = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    echo_pair_wrapped(via, "echo-ns", &server, &client)
}

#[test]
fn a_server_in_another_pid_namespace_behind_hidepid_serves_as_the_kernels_does() {
    if let Err(why) = permitted(&["unshare", "--pid", "--fork", "--mount"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let kernel = echo_across_namespaces(Via::Kernel);
    assert!(
        kernel.contains("echo_client: done requests=200"),
        "{kernel}"
    );
    assert_same(
        &kernel,
        &echo_across_namespaces(Via::Preloaded),
        "echo across namespaces",
    );
}

#[test]
fn a_failed_call_says_why_in_the_threads_last_error() {
    let out = run("last_error", &[], Via::Linked);
    assert_eq!(
        out,
        "before any failure: \"\"\n\
         mq_open(\"no-slash\"): -1 Invalid argument: a queue name starts with '/'\n\
         mq_receive on O_WRONLY: -1 Bad file descriptor: the descriptor is not open for reading\n\
         mq_send of 9 bytes: -1 Message too long: message longer than mq_msgsize\n"
    );
}
