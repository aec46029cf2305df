//! Round trip through the C API against the Rust API, in the same run.
//!
//! Two processes ping-pong a 64-byte message over two SPSC rings with
//! busy-spinning waits, pinned to two CPUs: once as a C program
//! (`benches/c/pingpong.c`, built with `cc -O2` against `libshmring.so`)
//! and once as the Rust peer (`shmring-c-peer ping|pong`). Runs alternate
//! between the two; the table shows the median over runs of each run's
//! p50, p99 and mean, and the C/Rust ratio.
//!
//! `SHMRING_BENCH_QUICK=1`: 3 runs of 20 000 round trips (a few seconds)
//! instead of 7 of 200 000.

use shmring_core::human;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = env!("CARGO_BIN_EXE_shmring-c-peer");

#[path = "../tests/support/library.rs"]
mod library;

fn build_c(lib: &Path) -> PathBuf {
    let out = lib.join(format!("c-api-bench-pingpong-{}", std::process::id()));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/c/pingpong.c");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(include)
        .arg(src)
        .arg("-L")
        .arg(lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lshmring", "-o"])
        .arg(&out)
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling pingpong.c failed");
    out
}

/// The first two CPUs this process may use (`None` with one CPU).
fn cpu_pair() -> Option<(usize, usize)> {
    use rustix::thread::{CpuSet, sched_getaffinity};
    let set = sched_getaffinity(None).ok()?;
    let mut allowed = (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c));
    Some((allowed.next()?, allowed.next()?))
}

/// Waits for `child` at most 60 s; kills and reaps it if late.
fn wait(mut child: Child, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{what} failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (p50, p99, mean) in ns of one run.
fn run(program: &[&str], rounds: usize, cpus: (usize, usize), tag: &str) -> (u64, u64, u64) {
    let base = format!("shmring-cbench-{}-{tag}", std::process::id());
    let (ab, ba) = (format!("{base}-ab"), format!("{base}-ba"));
    for name in [&ab, &ba] {
        shmring_core::SpscBuilder::new()
            .capacity(1 << 16)
            .create(name)
            .expect("create ring");
    }
    let cmd = |args: Vec<String>| -> Child {
        let (exe, pre) = program.split_first().expect("program");
        Command::new(exe)
            .args(pre.iter())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let pong = cmd(vec![
        "pong".into(),
        ab.clone(),
        ba.clone(),
        cpus.1.to_string(),
    ]);
    let ping = cmd(vec![
        "ping".into(),
        ba.clone(),
        ab.clone(),
        rounds.to_string(),
        cpus.0.to_string(),
    ]);
    let line = wait(ping, "ping");
    wait(pong, "pong");
    for name in [&ab, &ba] {
        let _ = shmring_core::unlink(name);
    }
    let words: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(words.len(), 3, "unexpected ping output {line:?}");
    (words[0], words[1], words[2])
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let quick = std::env::var_os("SHMRING_BENCH_QUICK").is_some_and(|v| v == "1");
    let (runs, rounds) = if quick { (3, 20_000) } else { (7, 200_000) };
    let lib = library::lib_dir();
    let c_program = build_c(lib);
    let c_path = c_program.to_string_lossy().into_owned();
    let cpus = cpu_pair().unwrap_or_else(|| {
        eprintln!("warning: fewer than two CPUs: both sides share one");
        (0, 0)
    });
    println!(
        "C API vs Rust API: SPSC round trip, 64 B, busy-spin, CPUs {} and {}, {runs} runs x {rounds} round trips",
        cpus.0, cpus.1
    );
    let (mut c, mut rust) = (Vec::new(), Vec::new());
    for r in 0..runs {
        // Alternate which goes first, so drift hits both alike.
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_c in order {
            if is_c {
                c.push(run(&[&c_path], rounds, cpus, &format!("c{r}")));
            } else {
                rust.push(run(&[PEER], rounds, cpus, &format!("r{r}")));
            }
        }
    }
    let _ = std::fs::remove_file(&c_program);
    let summary = |v: &[(u64, u64, u64)]| {
        (
            median(v.iter().map(|s| s.0).collect()),
            median(v.iter().map(|s| s.1).collect()),
            median(v.iter().map(|s| s.2).collect()),
        )
    };
    let (cs, rs) = (summary(&c), summary(&rust));
    println!();
    let ns = human::Duration::from_nanos;
    println!("| API  |      p50 |      p99 |      mean |");
    println!("|------|---------:|---------:|----------:|");
    println!(
        "| C    | {:>8} | {:>8} | {:>9} |",
        ns(cs.0),
        ns(cs.1),
        ns(cs.2)
    );
    println!(
        "| Rust | {:>8} | {:>8} | {:>9} |",
        ns(rs.0),
        ns(rs.1),
        ns(rs.2)
    );
    println!();
    println!(
        "C / Rust: p50 {:.3}, p99 {:.3}, mean {:.3}",
        cs.0 as f64 / rs.0 as f64,
        cs.1 as f64 / rs.1 as f64,
        cs.2 as f64 / rs.2 as f64
    );
    let p50s = |v: &[(u64, u64, u64)]| {
        let all: Vec<String> = v.iter().map(|s| ns(s.0).to_string()).collect();
        all.join(", ")
    };
    println!("per-run p50: C [{}], Rust [{}]", p50s(&c), p50s(&rust));
}
