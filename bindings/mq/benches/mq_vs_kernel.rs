//! `mq_send`/`mq_receive` through libshmring-mq against the kernel's
//! queues, in one run: a 64-byte round trip (two processes, each pinned
//! to its own CPU) and a 64-byte stream, both through the C ABI (the
//! library is loaded with `dlopen`, as a program would link it; this
//! binary itself calls the C library's functions for the kernel rows).
//!
//! `SHMRING_BENCH_QUICK=1` runs a few thousand messages (CI's smoke run);
//! otherwise each figure is the median of 5 runs.
#![allow(unsafe_code)]

#[path = "../../c/tests/support/library.rs"]
mod library;

use shmring::human;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::time::Instant;

const SIZE: usize = 64;
/// Linux's default (and unprivileged maximum) `mq_maxmsg`.
const DEPTH: i64 = 10;

type Open = unsafe extern "C" fn(*const c_char, c_int, libc::mode_t, *mut libc::mq_attr) -> c_int;
type Send = unsafe extern "C" fn(c_int, *const c_char, usize, c_uint) -> c_int;
type Receive = unsafe extern "C" fn(c_int, *mut c_char, usize, *mut c_uint) -> isize;
type Close = unsafe extern "C" fn(c_int) -> c_int;
type Unlink = unsafe extern "C" fn(*const c_char) -> c_int;

/// One implementation of the API.
#[derive(Clone, Copy)]
struct Api {
    name: &'static str,
    open: Open,
    send: Send,
    receive: Receive,
    close: Close,
    unlink: Unlink,
}

fn kernel() -> Api {
    Api {
        name: "kernel",
        // SAFETY: the C library's variadic mq_open, called with all four
        // arguments as with O_CREAT (x86_64 and aarch64 pass them alike).
        open: unsafe { std::mem::transmute::<*const c_void, Open>(libc::mq_open as *const c_void) },
        send: libc::mq_send,
        receive: libc::mq_receive,
        close: libc::mq_close,
        unlink: libc::mq_unlink,
    }
}

fn library() -> Api {
    let path = library::build("shmring-mq", &["libshmring_mq.so"]).join("libshmring_mq.so");
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; RTLD_LOCAL keeps the library's
    // symbols (its `close` and `mq_*`) out of this process's global scope,
    // so the kernel rows keep calling the C library's.
    let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlopen {}", path.display());
    let sym = |name: &str| {
        let cname = CString::new(name).unwrap();
        // SAFETY: a valid handle and NUL-terminated name.
        let f = unsafe { libc::dlsym(handle, cname.as_ptr()) };
        assert!(!f.is_null(), "{name} missing");
        f
    };
    // SAFETY: each symbol is the library's function with that C prototype.
    unsafe {
        Api {
            name: "libshmring-mq",
            open: std::mem::transmute::<*mut c_void, Open>(sym("mq_open")),
            send: std::mem::transmute::<*mut c_void, Send>(sym("mq_send")),
            receive: std::mem::transmute::<*mut c_void, Receive>(sym("mq_receive")),
            close: std::mem::transmute::<*mut c_void, Close>(sym("mq_close")),
            unlink: std::mem::transmute::<*mut c_void, Unlink>(sym("mq_unlink")),
        }
    }
}

fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity
    // get a valid set. Failure (one CPU) just leaves the process unpinned.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % num_cpus(), &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPUs online (not `available_parallelism`, which shrinks to one once
/// this process has pinned itself).
fn num_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize
}

struct Queue {
    api: Api,
    name: CString,
    mqd: c_int,
}

impl Queue {
    fn create(api: Api, tag: &str) -> Queue {
        let name = CString::new(format!("/mq-bench-{}-{tag}", std::process::id())).unwrap();
        // SAFETY: plain data.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = DEPTH;
        attr.mq_msgsize = SIZE as i64;
        // SAFETY: a C string and attributes that outlive the call.
        let mqd = unsafe {
            (api.open)(
                name.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600,
                &mut attr,
            )
        };
        assert!(
            mqd >= 0,
            "{} mq_open: {}",
            api.name,
            std::io::Error::last_os_error()
        );
        Queue { api, name, mqd }
    }

    fn send(&self, msg: &[u8]) {
        // SAFETY: a valid descriptor and buffer.
        let rc = unsafe { (self.api.send)(self.mqd, msg.as_ptr().cast(), msg.len(), 0) };
        assert_eq!(
            rc,
            0,
            "{} mq_send: {}",
            self.api.name,
            std::io::Error::last_os_error()
        );
    }

    fn receive(&self, buf: &mut [u8; SIZE]) -> usize {
        // SAFETY: a valid descriptor and buffer of mq_msgsize bytes.
        let n = unsafe {
            (self.api.receive)(
                self.mqd,
                buf.as_mut_ptr().cast(),
                SIZE,
                std::ptr::null_mut(),
            )
        };
        assert!(
            n >= 0,
            "{} mq_receive: {}",
            self.api.name,
            std::io::Error::last_os_error()
        );
        n as usize
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: our descriptor and name.
        unsafe {
            (self.api.close)(self.mqd);
            (self.api.unlink)(self.name.as_ptr());
        }
    }
}

/// Runs `child` in a forked process pinned to CPU 1 while `parent` runs
/// here pinned to CPU 0; returns what `parent` returned.
fn two_processes<T>(child: impl FnOnce(), parent: impl FnOnce() -> T) -> T {
    // SAFETY: this process is single-threaded here (no library thread
    // runs before a timed wait or a notification, neither used here).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        pin(1);
        child();
        // SAFETY: leaves the child without running the parent's exit hooks.
        unsafe { libc::_exit(0) };
    }
    pin(0);
    let result = parent();
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    result
}

/// Median round trip, in nanoseconds.
fn round_trip(api: Api, count: usize) -> f64 {
    let ping = Queue::create(api, "ping");
    let pong = Queue::create(api, "pong");
    let msg = [7u8; SIZE];
    two_processes(
        || {
            let mut buf = [0u8; SIZE];
            for _ in 0..count + 100 {
                let n = ping.receive(&mut buf);
                pong.send(&buf[..n]);
            }
        },
        || {
            let mut buf = [0u8; SIZE];
            let mut samples = Vec::with_capacity(count);
            for i in 0..count + 100 {
                let start = Instant::now();
                ping.send(&msg);
                pong.receive(&mut buf);
                if i >= 100 {
                    samples.push(start.elapsed());
                }
            }
            samples.sort();
            samples[samples.len() / 2].as_nanos() as f64
        },
    )
}

/// Messages per second, one sender process to one receiver process.
fn stream(api: Api, count: usize) -> f64 {
    let queue = Queue::create(api, "stream");
    let msg = [9u8; SIZE];
    two_processes(
        || {
            for _ in 0..count {
                queue.send(&msg);
            }
        },
        || {
            let mut buf = [0u8; SIZE];
            let start = Instant::now();
            for _ in 0..count {
                queue.receive(&mut buf);
            }
            count as f64 / start.elapsed().as_secs_f64()
        },
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("SHMRING_BENCH_QUICK").is_some();
    let (runs, trips, messages) = if quick {
        (1, 2_000, 20_000)
    } else {
        (5, 20_000, 1_000_000)
    };
    // The library's blocked callers spin this long before they sleep.
    let spin = std::env::var("SHMRING_MQ_SPIN_US").unwrap_or_else(|_| "20 (default)".into());
    let queue_dir = std::env::temp_dir().join(format!("mq-bench-{}", std::process::id()));
    // SAFETY: single-threaded here; the library reads it at each open.
    unsafe { std::env::set_var("SHMRING_MQ_DIR", &queue_dir) };
    let apis = [kernel(), library()];
    let mut rt = [Vec::new(), Vec::new()];
    let mut tput = [Vec::new(), Vec::new()];
    let started = Instant::now();
    for _ in 0..runs {
        // Alternating, so that drift hits both alike.
        for (i, api) in apis.iter().enumerate() {
            rt[i].push(round_trip(*api, trips));
            tput[i].push(stream(*api, messages));
        }
    }
    let _ = std::fs::remove_dir_all(&queue_dir);
    let rt = rt.map(median);
    let tput = tput.map(median);
    println!(
        "mq_send/mq_receive, {SIZE} B, mq_maxmsg {DEPTH}; medians of {runs} run(s); spin {spin} µs"
    );
    println!("{:<16} {:>14} {:>18}", "", "round trip", "stream");
    for (i, api) in apis.iter().enumerate() {
        println!(
            "{:<16} {:>14} {:>18}",
            api.name,
            human::Duration::from_nanos(rt[i].round() as u64),
            human::Rate::per_second(tput[i]),
        );
    }
    println!(
        "{:<16} {:>13.3}x {:>16.1}x   (targets: round trip <= 0.05x, stream >= 20x)",
        "library/kernel",
        rt[1] / rt[0],
        tput[1] / tput[0]
    );
    eprintln!("({})", human::Duration::from(started.elapsed()));
}
