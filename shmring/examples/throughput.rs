//! One-way streaming throughput between two processes pinned to two cores,
//! next to references measured in the same run:
//!
//! - a bare floor: the simplest possible shared-memory stream (72-byte
//!   slots with a sequence word, no validation, no wake-ups);
//! - shmring SPSC with `send` (copy), a batch of 32, and zero-copy
//!   `reserve`/`commit` with a draining receiver;
//! - shmring MPMC, one sender process and one receiver process;
//! - crossbeam's `ArrayQueue` between two threads of one process (the
//!   in-process anchor for the MPMC queue).
//!
//! Each row runs `--runs` times, alternating with the others; the median
//! is printed.
//!
//! ```text
//! cargo run --release --example throughput -- [--messages N] [--runs N]
//! ```
// The floor needs atomics over a mapping of its own; the sync-shim rule
// (clippy.toml) is for the library, which loom must be able to swap.
#![allow(unsafe_code, clippy::disallowed_types)]

use shmring::prelude::*;
use shmring::{MpmcBuilder, SpscBuilder, WaitStrategy};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SIZE: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        pin_to_cpu(1);
        return child(&args[2], &args[3], args[4].parse()?);
    }
    let (mut messages, mut runs) = (5_000_000u64, 5usize);
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--messages" => messages = value.parse()?,
            "--runs" => runs = value.parse::<usize>()?.max(1),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    pin_to_cpu(0);
    println!(
        "throughput: {runs} runs of {messages} messages of {SIZE} B, processes pinned to CPUs 0 and 1"
    );
    let rows = [
        "floor",
        "spsc-send",
        "spsc-batch",
        "spsc-zero-copy",
        "mpmc",
        "crossbeam",
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for run in 1..=runs {
        for (i, row) in rows.iter().enumerate() {
            eprint!("\rrun {run}/{runs}: {row:<16}");
            results[i].push(measure(row, messages)?);
        }
    }
    eprintln!();
    let floor = median(&results[0]);
    println!();
    println!("| transport                                   | M msg/s | GB/s  | vs floor |");
    println!("|---------------------------------------------|--------:|------:|---------:|");
    let labels = [
        "floor: bare 72-byte slots, no protocol",
        "shmring SPSC, send (copy)",
        "shmring SPSC, batches of 32",
        "shmring SPSC, reserve/commit + drain",
        "shmring MPMC, 1 sender, 1 receiver process",
        "crossbeam ArrayQueue, 2 threads",
    ];
    for (label, samples) in labels.iter().zip(&results) {
        let m = median(samples);
        println!(
            "| {label:<43} | {:>7.1} | {:>5.2} | {:>8.2} |",
            m / 1e6,
            m * SIZE as f64 / 1e9,
            m / floor
        );
    }
    Ok(())
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

/// Reaps the child whatever happens.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Messages per second for one row.
fn measure(row: &str, messages: u64) -> Result<f64, Box<dyn std::error::Error>> {
    if row == "crossbeam" {
        return Ok(crossbeam(messages));
    }
    let name = format!("throughput-{}-{row}", std::process::id());
    let spin = WaitStrategy::BusySpin;
    // Create before the child starts; unlink whatever happens.
    let result = (|| {
        let start;
        match row {
            "floor" => {
                let map = floor_mapping(&name, true)?;
                let _child = spawn(row, &name, messages)?;
                start = Instant::now();
                floor_send(&map, messages)?;
            }
            "mpmc" => {
                let queue = MpmcBuilder::new()
                    .slots(1024)
                    .slot_size(SIZE as u64)
                    .wait_strategy(spin)
                    .create(&name)?;
                let sender = queue.sender()?;
                let _child = spawn(row, &name, messages)?;
                let msg = [1u8; SIZE];
                start = Instant::now();
                for _ in 0..messages {
                    sender.send(&msg).map_err(|e| e.without_message())?;
                }
            }
            _ => {
                let ring = SpscBuilder::new()
                    .capacity(1 << 18)
                    .wait_strategy(spin)
                    .create(&name)?;
                let mut producer = ring.producer()?;
                let _child = spawn(row, &name, messages)?;
                let msg = [1u8; SIZE];
                start = Instant::now();
                let mut left = messages;
                while left > 0 {
                    match row {
                        "spsc-batch" => {
                            let n = left.min(32);
                            let mut batch = producer.batch();
                            for _ in 0..n {
                                batch.push(&msg).map_err(|e| e.without_message())?;
                            }
                            batch.commit();
                            left -= n;
                        }
                        "spsc-zero-copy" => {
                            let mut grant =
                                producer.reserve(SIZE).map_err(|e| e.without_message())?;
                            grant[0] = 1;
                            grant.commit();
                            left -= 1;
                        }
                        _ => {
                            producer.send(&msg).map_err(|e| e.without_message())?;
                            left -= 1;
                        }
                    }
                }
            }
        }
        // `_child` is reaped at the end of its block, after the receiver
        // took the last message: the clock stops when it has exited.
        Ok::<_, Box<dyn std::error::Error>>(start)
    })();
    let elapsed = result.map(|start| start.elapsed());
    if row == "floor" {
        let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
    } else {
        let _ = shmring::unlink(&name);
    }
    Ok(messages as f64 / elapsed?.as_secs_f64())
}

fn spawn(row: &str, name: &str, messages: u64) -> std::io::Result<Reaper> {
    Command::new(std::env::current_exe()?)
        .args(["--child", row, name, &messages.to_string()])
        .spawn()
        .map(Reaper)
}

fn child(row: &str, name: &str, messages: u64) -> Result<(), Box<dyn std::error::Error>> {
    let spin = WaitStrategy::BusySpin;
    let mut sum = 0u64;
    match row {
        "floor" => {
            let map = floor_mapping(name, false)?;
            sum = floor_receive(&map, messages)?;
        }
        "mpmc" => {
            let receiver = MpmcBuilder::new()
                .wait_strategy(spin)
                .open(name)?
                .receiver()?;
            for _ in 0..messages {
                sum += u64::from(receiver.recv()?[0]);
            }
        }
        "spsc-zero-copy" => {
            let mut consumer = SpscBuilder::new()
                .wait_strategy(spin)
                .open(name)?
                .consumer()?;
            let mut got = 0;
            while got < messages {
                if let Ok(n) = consumer.try_drain(256, |m| sum += u64::from(m[0])) {
                    got += n as u64;
                }
            }
        }
        _ => {
            let mut consumer = SpscBuilder::new()
                .wait_strategy(spin)
                .open(name)?
                .consumer()?;
            for _ in 0..messages {
                sum += u64::from(consumer.recv()?[0]);
            }
        }
    }
    std::hint::black_box(sum);
    Ok(())
}

fn crossbeam(messages: u64) -> f64 {
    let queue = std::sync::Arc::new(crossbeam_queue::ArrayQueue::<[u8; SIZE]>::new(1024));
    let other = std::sync::Arc::clone(&queue);
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        pin_to_cpu(1);
        let mut sum = 0u64;
        for _ in 0..messages {
            loop {
                if let Some(m) = other.pop() {
                    sum += u64::from(m[0]);
                    break;
                }
                std::hint::spin_loop();
            }
        }
        sum
    });
    for _ in 0..messages {
        while queue.push([1u8; SIZE]).is_err() {
            std::hint::spin_loop();
        }
    }
    std::hint::black_box(receiver.join().expect("receiver thread"));
    messages as f64 / start.elapsed().as_secs_f64()
}

const FLOOR_SLOTS: usize = 4096;
const FLOOR_STRIDE: usize = 72;

fn floor_mapping(name: &str, create: bool) -> std::io::Result<memmap2::MmapMut> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(create)
        .open(format!("/dev/shm/{name}"))?;
    file.set_len((FLOOR_SLOTS * FLOOR_STRIDE) as u64)?;
    // SAFETY: a scratch file of ours, accessed only as below.
    unsafe { memmap2::MmapMut::map_mut(&file) }
}

/// The sequence word of floor slot `i`.
fn floor_seq(map: &memmap2::MmapMut, i: u64) -> (&AtomicU64, *mut u8) {
    let slot = (i as usize % FLOOR_SLOTS) * FLOOR_STRIDE;
    // SAFETY: `slot + 72` is within the mapping; 72 keeps 8-alignment.
    unsafe {
        let base = map.as_ptr().add(slot) as *mut u8;
        (&*base.cast::<AtomicU64>(), base.add(8))
    }
}

fn floor_send(map: &memmap2::MmapMut, messages: u64) -> Result<(), String> {
    let msg = [1u8; SIZE];
    let give_up = Instant::now() + Duration::from_secs(60);
    for i in 0..messages {
        let (seq, payload) = floor_seq(map, i);
        if i >= FLOOR_SLOTS as u64 {
            // Wait until the receiver freed this slot one lap ago.
            let mut spins = 0u32;
            while seq.load(Ordering::Acquire) != !(i - FLOOR_SLOTS as u64) {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins == 0 && Instant::now() > give_up {
                    return Err("floor receiver stopped".into());
                }
            }
        }
        // SAFETY: the slot is ours until the Release store below.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), payload, SIZE) };
        seq.store(i + 1, Ordering::Release);
    }
    Ok(())
}

fn floor_receive(map: &memmap2::MmapMut, messages: u64) -> Result<u64, String> {
    let mut sum = 0u64;
    let give_up = Instant::now() + Duration::from_secs(60);
    for i in 0..messages {
        let (seq, payload) = floor_seq(map, i);
        let mut spins = 0u32;
        while seq.load(Ordering::Acquire) != i + 1 {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins == 0 && Instant::now() > give_up {
                return Err("floor sender stopped".into());
            }
        }
        let mut buf = [0u8; SIZE];
        // SAFETY: published by the sender's Release store, read above.
        unsafe { std::ptr::copy_nonoverlapping(payload, buf.as_mut_ptr(), SIZE) };
        sum += u64::from(buf[0]);
        seq.store(!i, Ordering::Release);
    }
    Ok(sum)
}
