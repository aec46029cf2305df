//! Round-trip latency between two processes, next to the physical limit.
//!
//! Spawns itself as an echo process pinned to the other core, then
//! measures (1) a raw cache-line ping-pong over shared memory — two
//! atomics, nothing else: the floor any shared-memory transport can reach
//! — and (2) the same round trip through two shmring SPSC rings, in the
//! same run, and prints percentiles and their ratio.
//!
//! ```text
//! cargo run --release --example pingpong -- [--round-trips N] [--size BYTES] [--runs N]
//!                                             [--wait spin|spin-then-park|park]
//! ```
// The raw baseline needs atomics over a mapping of its own; the sync-shim
// rule (clippy.toml) is for the library, which loom must be able to swap.
#![allow(unsafe_code, clippy::disallowed_types)]

use hdrhistogram::Histogram;
use shmring::prelude::*;
use shmring::{SpscBuilder, WaitStrategy};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Options {
    round_trips: u64,
    size: usize,
    wait: WaitStrategy,
    runs: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--echo") {
        return echo(&args[2], &args[3], parse_wait(&args[4])?);
    }
    if args.get(1).map(String::as_str) == Some("--raw-echo") {
        return raw_echo(&args[2], args[3].parse()?);
    }
    let mut options = Options {
        round_trips: 100_000,
        size: 64,
        wait: WaitStrategy::BusySpin,
        runs: 5,
    };
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--round-trips" => options.round_trips = value.parse()?,
            "--size" => options.size = value.parse()?,
            "--wait" => options.wait = parse_wait(value)?,
            "--runs" => options.runs = value.parse::<usize>()?.max(1),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    pin_to_cpu(0);
    println!(
        "pingpong: {} runs of {} round trips of {} B, {:?}, {} CPU(s){}",
        options.runs,
        options.round_trips,
        options.size,
        options.wait,
        cpus,
        if cpus > 1 {
            ", processes pinned to CPUs 0 and 1"
        } else {
            ""
        }
    );
    // Alternate the two transports so that a noisy neighbour slows both;
    // report the run with the median p50 of each.
    let mut raws = Vec::new();
    let mut rings = Vec::new();
    for run in 1..=options.runs {
        eprint!("\rrun {run}/{}", options.runs);
        raws.push(raw_round_trips(options.round_trips)?);
        rings.push(shmring_round_trips(&options)?);
    }
    eprintln!();
    let raw = median_by_p50(raws);
    let ring = median_by_p50(rings);
    println!();
    println!(
        "| transport                    |   p50 ns |   p99 ns | p99.9 ns |   max ns | p50 / raw |"
    );
    println!(
        "|------------------------------|---------:|---------:|---------:|---------:|----------:|"
    );
    for (label, h) in [
        ("raw cache-line ping-pong", &raw),
        ("shmring SPSC (2 rings)", &ring),
    ] {
        println!(
            "| {label:<28} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9.2} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max(),
            h.value_at_quantile(0.5) as f64 / raw.value_at_quantile(0.5).max(1) as f64,
        );
    }
    Ok(())
}

fn median_by_p50(mut runs: Vec<Histogram<u64>>) -> Histogram<u64> {
    runs.sort_by_key(|h| h.value_at_quantile(0.5));
    runs.swap_remove(runs.len() / 2)
}

fn parse_wait(s: &str) -> Result<WaitStrategy, String> {
    match s {
        "spin" => Ok(WaitStrategy::BusySpin),
        "spin-then-park" => Ok(WaitStrategy::default()),
        "park" => Ok(WaitStrategy::Park),
        other => Err(format!(
            "unknown wait strategy {other} (spin, spin-then-park, park)"
        )),
    }
}

fn wait_name(w: WaitStrategy) -> &'static str {
    match w {
        WaitStrategy::BusySpin => "spin",
        WaitStrategy::Park => "park",
        _ => "spin-then-park",
    }
}

fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // Best effort: on a one-core machine both sides share the CPU.
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

fn spawn_self(args: &[&str]) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?).args(args).spawn()
}

/// Reaps the echo process whatever happens to the measurement.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shmring_round_trips(options: &Options) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let base = format!("pingpong-{}", std::process::id());
    let (ping_name, pong_name) = (format!("{base}-ping"), format!("{base}-pong"));
    let capacity = (options.size as u64 * 4 + 64)
        .next_power_of_two()
        .max(1 << 16);
    let builder = SpscBuilder::new()
        .capacity(capacity)
        .wait_strategy(options.wait);
    let ping = builder.create(&ping_name)?;
    let pong = match builder.create(&pong_name) {
        Ok(pong) => pong,
        Err(e) => {
            let _ = shmring::unlink(&ping_name);
            return Err(e.into());
        }
    };
    let result = (|| {
        let mut tx = ping.producer()?;
        let mut rx = pong.consumer()?;
        let _echo = Reaper(spawn_self(&[
            "--echo",
            &ping_name,
            &pong_name,
            wait_name(options.wait),
        ])?);
        let payload = vec![0x5au8; options.size];
        let mut hist = Histogram::<u64>::new(3)?;
        let warmup = options.round_trips / 10;
        let mut last = Instant::now();
        for i in 0..warmup + options.round_trips {
            tx.send(&payload).map_err(|e| e.without_message())?;
            let reply = rx.recv()?;
            debug_assert_eq!(reply.len(), payload.len());
            drop(reply);
            if i == 0 {
                // The echo has both rings open: the names are no longer
                // needed, and an interrupted run leaves nothing behind.
                let _ = shmring::unlink(&ping_name);
                let _ = shmring::unlink(&pong_name);
            }
            let now = Instant::now();
            if i >= warmup {
                hist.record((now - last).as_nanos() as u64)?;
            }
            last = now;
        }
        Ok::<_, Box<dyn std::error::Error>>(hist)
    })();
    let _ = shmring::unlink(&ping_name);
    let _ = shmring::unlink(&pong_name);
    result
}

fn echo(ping: &str, pong: &str, wait: WaitStrategy) -> Result<(), Box<dyn std::error::Error>> {
    pin_to_cpu(1);
    let builder = SpscBuilder::new().wait_strategy(wait);
    let mut rx = builder.open(ping)?.consumer()?;
    let mut tx = builder.open(pong)?.producer()?;
    // Zero-copy both ways: the reply is written straight from the request.
    loop {
        let request = match rx.recv() {
            Ok(request) => request,
            Err(shmring::RecvError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let mut reply = tx.reserve(request.len()).map_err(|e| e.without_message())?;
        reply.copy_from_slice(&request);
        // Publish first: freeing the request is off the critical path.
        reply.commit();
        drop(request);
    }
}

/// Two counters on their own 128-byte lines in a shared mapping.
fn raw_mapping(name: &str, create: bool) -> std::io::Result<memmap2::MmapMut> {
    let path = format!("/dev/shm/{name}");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(create)
        .open(&path)?;
    file.set_len(256)?;
    // SAFETY: a private scratch file of ours; the only accesses are the
    // atomics below.
    unsafe { memmap2::MmapMut::map_mut(&file) }
}

fn raw_counters(map: &memmap2::MmapMut) -> (&AtomicU64, &AtomicU64) {
    let base = map.as_ptr();
    // SAFETY: the mapping is 256 bytes, page-aligned, and lives as long as
    // the borrow; any bit pattern is a valid AtomicU64.
    unsafe {
        (
            &*base.cast::<AtomicU64>(),
            &*base.add(128).cast::<AtomicU64>(),
        )
    }
}

fn raw_round_trips(round_trips: u64) -> Result<Histogram<u64>, Box<dyn std::error::Error>> {
    let name = format!("pingpong-{}-raw", std::process::id());
    let map = raw_mapping(&name, true)?;
    let total = round_trips + round_trips / 10;
    let result = (|| {
        let (ping, pong) = raw_counters(&map);
        let _echo = Reaper(spawn_self(&["--raw-echo", &name, &total.to_string()])?);
        let mut hist = Histogram::<u64>::new(3)?;
        let mut last = Instant::now();
        let give_up = Instant::now() + Duration::from_secs(60);
        for i in 1..=total {
            // Release/Acquire: each side's store is the message, the
            // other's load receives it.
            ping.store(i, Ordering::Release);
            let mut spins = 0u32;
            while pong.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins == 0 && Instant::now() > give_up {
                    return Err("raw echo process stopped answering".into());
                }
            }
            let now = Instant::now();
            if i > round_trips / 10 {
                hist.record((now - last).as_nanos() as u64)?;
            }
            last = now;
        }
        Ok(hist)
    })();
    let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
    result
}

fn raw_echo(name: &str, total: u64) -> Result<(), Box<dyn std::error::Error>> {
    pin_to_cpu(1);
    let map = raw_mapping(name, false)?;
    let (ping, pong) = raw_counters(&map);
    let give_up = Instant::now() + Duration::from_secs(60);
    for i in 1..=total {
        let mut spins = 0u32;
        while ping.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins == 0 && Instant::now() > give_up {
                return Err("raw ping-pong parent stopped".into());
            }
        }
        pong.store(i, Ordering::Release);
    }
    Ok(())
}
