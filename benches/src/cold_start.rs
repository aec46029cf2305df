//! `cargo bench --bench cold_start`: the latency of each of the first
//! 1,000 round trips after two processes attach a fresh pair of SPSC
//! rings, with and without `prefault(true)`, and for reference the next
//! 1,000 round trips of the prefaulted rings (every page mapped, the
//! rings' lines warm).
//!
//! Each trial makes two new named rings (ping: this process → child,
//! pong: child → this process) of 1 MiB, starts a child (this executable
//! again, `--cold-start-child`), pinned to the second CPU as this process
//! is to the first, which opens both rings with the same option, attaches
//! and says `ready` on its stdout (not through the rings, whose pages
//! must stay cold), then runs 2,000 round trips of 64-byte messages
//! (busy-polling, every byte read on both sides). The child also reports
//! how long its open of the two rings took: the price of prefaulting.
//!
//! Self-contained (its own table and `cold_start.json` in the bench
//! output directory), so it does not touch the latency and throughput
//! reports. `SHMRING_BENCH_QUICK=1` runs fewer trials.

use hdrhistogram::Histogram;
use serde::Serialize;
use shmring::human::{self, Bytes};
use shmring::prelude::*;
use shmring::{Consumer, Producer, SpscBuilder, WaitStrategy};
use shmring_benches::clock::now_ns;
use shmring_benches::pin;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Round trips measured after attach (the cold ones), then as many more.
const COLD: usize = 1_000;
/// Bytes per message.
const SIZE: usize = 64;
/// Ring capacity: a ring sized for bursts, of which the first 1,000
/// messages touch the first 72 KiB (18 pages of 4 KiB) per direction.
const CAPACITY: u64 = 1 << 20;
/// How long any one wait may take before the trial is abandoned.
const PATIENCE: Duration = Duration::from_secs(10);
/// The argument that makes this executable the child.
const CHILD_ARG: &str = "--cold-start-child";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == CHILD_ARG) {
        return child(&args[at + 1..]);
    }
    let quick = std::env::var("SHMRING_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let trials = if quick { 4 } else { 30 };
    let cpus = pin::cpu_pair();
    if let Some((mine, _)) = cpus {
        pin::pin_current_thread(mine);
    }
    let mut cold = [Series::default(), Series::default()];
    let mut warm = Series::default();
    for trial in 0..trials {
        // Alternate, so that drift over the run falls on both alike.
        for prefault in [trial % 2 == 1, trial % 2 == 0] {
            let t = run_trial(prefault, cpus.map(|(_, other)| other), trial)?;
            if std::env::var_os("SHMRING_COLD_VERBOSE").is_some() {
                let first = &t.round_trips[..COLD];
                let (at, worst) = first.iter().enumerate().max_by_key(|&(_, &v)| v).unwrap();
                eprintln!(
                    "trial {trial} prefault={prefault}: first {}, sum {}, max {} at {at}, attach {}",
                    human::Duration::from_nanos(first[0]),
                    human::Duration::from_nanos(first.iter().sum::<u64>()),
                    human::Duration::from_nanos(*worst),
                    human::Duration::from_nanos(t.attach_ns)
                );
            }
            cold[usize::from(prefault)].add(&t.round_trips[..COLD], t.attach_ns);
            // The reference: the same rings once every page is mapped
            // (the unprefaulted trials' next 1,000 still touch new pages).
            if prefault {
                warm.add(&t.round_trips[COLD..], t.attach_ns);
            }
        }
    }
    let rows = vec![
        cold[0].row("first 1,000 round trips, no prefault", trials),
        cold[1].row("first 1,000 round trips, prefault", trials),
        warm.row("next 1,000 round trips, prefault (warm reference)", trials),
    ];
    let table = markdown(&rows);
    println!("{table}");
    let dir = shmring_benches::report::output_dir();
    std::fs::create_dir_all(&dir)?;
    let report = ColdStart {
        message_bytes: SIZE,
        ring_capacity: CAPACITY,
        round_trips_per_trial: COLD,
        trials,
        pinned: cpus.is_some(),
        rows,
    };
    let path = dir.join("cold_start.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    std::fs::write(dir.join("cold_start.md"), table)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// What one trial measured.
struct Trial {
    /// Nanoseconds of each of the 2 × [`COLD`] round trips.
    round_trips: Vec<u64>,
    /// The child's open and attach of both rings.
    attach_ns: u64,
}

/// Removes the trial's ring names however it ends.
struct Names([String; 2]);

impl Drop for Names {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = shmring::unlink(name);
        }
    }
}

fn run_trial(prefault: bool, child_cpu: Option<usize>, trial: usize) -> Result<Trial> {
    let id = format!("{}-{trial}-{}", std::process::id(), u8::from(prefault));
    let names = Names([format!("cold-ping-{id}"), format!("cold-pong-{id}")]);
    let builder = SpscBuilder::new()
        .capacity(CAPACITY)
        .max_message(SIZE as u64)
        .wait_strategy(WaitStrategy::BusySpin)
        .prefault(prefault);
    let ping = builder.create(&names.0[0])?;
    let pong = builder.create(&names.0[1])?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg(CHILD_ARG)
        .arg(&names.0[0])
        .arg(&names.0[1])
        .arg(if prefault { "prefault" } else { "plain" })
        .arg(child_cpu.map_or("-".to_owned(), |c| c.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let result = (|| -> Result<Trial> {
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let attach_ns: u64 = line
            .strip_prefix("ready ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("child said {line:?}"))?;
        let (mut tx, mut rx) = (ping.producer()?, pong.consumer()?);
        let mut round_trips = Vec::with_capacity(2 * COLD);
        let mut message = [0u8; SIZE];
        let mut sum = 0u64;
        for i in 0..2 * COLD as u64 {
            message[..8].copy_from_slice(&i.to_le_bytes());
            let start = now_ns();
            send(&mut tx, &message)?;
            let back = recv(&mut rx, &mut message)?;
            round_trips.push(now_ns() - start);
            sum = sum.wrapping_add(back);
        }
        std::hint::black_box(sum);
        Ok(Trial {
            round_trips,
            attach_ns,
        })
    })();
    let status = child.wait()?;
    if result.is_ok() && !status.success() {
        return Err(format!("child: {status}").into());
    }
    result
}

/// The child: opens both rings, attaches, says `ready <ns of attach>`,
/// then echoes every message back.
fn child(args: &[String]) -> Result<()> {
    let [ping, pong, mode, cpu] = args else {
        return Err("usage: --cold-start-child PING PONG prefault|plain CPU".into());
    };
    if let Ok(cpu) = cpu.parse() {
        pin::pin_current_thread(cpu);
    }
    let builder = SpscBuilder::new()
        .wait_strategy(WaitStrategy::BusySpin)
        .prefault(mode == "prefault");
    let start = Instant::now();
    let (ping, pong) = (builder.open(ping)?, builder.open(pong)?);
    let (mut rx, mut tx) = (ping.consumer()?, pong.producer()?);
    println!("ready {}", start.elapsed().as_nanos());
    let mut message = [0u8; SIZE];
    for _ in 0..2 * COLD {
        recv(&mut rx, &mut message)?;
        send(&mut tx, &message)?;
    }
    Ok(())
}

/// Sends, spinning while full, for at most [`PATIENCE`].
fn send(tx: &mut Producer, message: &[u8]) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(shmring::TrySendError::Full(_)) if Instant::now() < deadline => {
                std::hint::spin_loop()
            }
            Err(e) => return Err(e.without_message().to_string().into()),
        }
    }
}

/// Receives into `out`, reading every byte, spinning while empty, for at
/// most [`PATIENCE`]; returns the sum of the bytes.
fn recv(rx: &mut Consumer, out: &mut [u8; SIZE]) -> Result<u64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match rx.try_recv() {
            Ok(guard) => {
                out.copy_from_slice(&guard[..SIZE]);
                return Ok(out.iter().map(|&b| u64::from(b)).sum());
            }
            Err(shmring::TryRecvError::Empty) if Instant::now() < deadline => {
                std::hint::spin_loop()
            }
            Err(e) => return Err(e.to_string().into()),
        }
    }
}

/// Round trips of one kind over every trial.
#[derive(Default)]
struct Series {
    all: Vec<u64>,
    sums: Vec<u64>,
    attach: Vec<u64>,
}

impl Series {
    fn add(&mut self, round_trips: &[u64], attach_ns: u64) {
        self.all.extend_from_slice(round_trips);
        self.sums.push(round_trips.iter().sum());
        self.attach.push(attach_ns);
    }

    fn row(&self, what: &str, trials: usize) -> ColdRow {
        let mut h = Histogram::<u64>::new(3).expect("3 significant digits");
        for &ns in &self.all {
            // Grows as needed (auto-resize), unlike `saturating_record`.
            h.record(ns).expect("an auto-resizing histogram");
        }
        ColdRow {
            what: what.to_owned(),
            trials,
            p50_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            max_ns: h.max(),
            sum_median_us: median(&self.sums) as f64 / 1000.0,
            sum_max_us: self.sums.iter().copied().max().unwrap_or(0) as f64 / 1000.0,
            attach_median_us: median(&self.attach) as f64 / 1000.0,
        }
    }
}

fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// One row of the cold-start table.
#[derive(Debug, Serialize)]
struct ColdRow {
    what: String,
    trials: usize,
    /// Over every round trip of every trial.
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    /// The 1,000 round trips of one trial added up: median and worst
    /// trial.
    sum_median_us: f64,
    sum_max_us: f64,
    /// The child's open and attach of the two rings (median).
    attach_median_us: f64,
}

/// The file `cold_start.json`.
#[derive(Debug, Serialize)]
struct ColdStart {
    message_bytes: usize,
    ring_capacity: u64,
    round_trips_per_trial: usize,
    trials: usize,
    pinned: bool,
    rows: Vec<ColdRow>,
}

fn markdown(rows: &[ColdRow]) -> String {
    // The JSON keeps microseconds; the table shows each figure in its unit.
    let us = |us: f64| human::Duration::from_nanos((us * 1000.0).round() as u64);
    let mut out = format!(
        "### Cold start: SPSC round trips of {} right after attach \
         ({} rings, busy-polling, pinned)\n\n\
         | rows | trials | p50 | p99 | max | sum of 1,000 (median / worst trial) | attach (median) |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        Bytes(SIZE as u64),
        Bytes(CAPACITY)
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} / {} | {} |\n",
            r.what,
            r.trials,
            human::Duration::from_nanos(r.p50_ns),
            human::Duration::from_nanos(r.p99_ns),
            human::Duration::from_nanos(r.max_ns),
            us(r.sum_median_us),
            us(r.sum_max_us),
            us(r.attach_median_us)
        );
    }
    out
}
