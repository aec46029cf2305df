//! The Rust side of the C API's cross-language tests and benchmark, using
//! the Rust API only:
//!
//! ```text
//! shmring-c-peer produce NAME COUNT      # as examples/producer.c
//! shmring-c-peer consume NAME COUNT      # as examples/consumer.c
//! shmring-c-peer ping IN OUT ROUNDS CPU  # round trips; prints "p50 P50 p99 P99 mean MEAN" (ns)
//! shmring-c-peer pong IN OUT CPU         # echoes until the pinger leaves
//! shmring-c-peer calls NAME ROUNDS       # ns per try_send + try_recv pair, one process
//! ```
//!
//! Rings are opened, never created: the caller creates and unlinks them.
//! Every wait has a 10 s timeout.

use shmring_core::prelude::*;
use shmring_core::{RecvTimeoutError, SpscBuilder, WaitStrategy};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Message `i` of the test stream (see `examples/producer.c`).
fn make_message(i: u64, buf: &mut [u8; 64]) -> usize {
    let len = 8 + (i % 57) as usize;
    buf[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in buf.iter_mut().enumerate().take(len).skip(8) {
        *b = (i.wrapping_mul(7).wrapping_add(j as u64) & 0xff) as u8;
    }
    len
}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const FNV_START: u64 = 0xcbf29ce484222325;

fn produce(name: &str, count: u64) -> Result<(), String> {
    let ring = SpscBuilder::new().open(name).map_err(|e| e.to_string())?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    let mut msg = [0u8; 64];
    let mut sum = FNV_START;
    for i in 0..count {
        let len = make_message(i, &mut msg);
        producer
            .send_timeout(&msg[..len], TIMEOUT)
            .map_err(|e| format!("send {i}: {e}"))?;
        sum = fnv1a(sum, &msg[..len]);
    }
    drop(producer);
    println!("sent {count} checksum {sum:016x}");
    Ok(())
}

fn consume(name: &str, count: u64) -> Result<(), String> {
    let ring = SpscBuilder::new().open(name).map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer().map_err(|e| e.to_string())?;
    let mut expected = [0u8; 64];
    let mut sum = FNV_START;
    for i in 0..count {
        let msg = consumer
            .recv_timeout(TIMEOUT)
            .map_err(|e| format!("receive {i}: {e}"))?;
        let len = make_message(i, &mut expected);
        if *msg != expected[..len] {
            return Err(format!("message {i} is wrong ({} bytes)", msg.len()));
        }
        sum = fnv1a(sum, &msg);
    }
    match consumer.recv_timeout(TIMEOUT) {
        Err(RecvTimeoutError::Disconnected) => {}
        Ok(_) => return Err("a message more than expected".into()),
        Err(e) => return Err(format!("expected end of file: {e}")),
    }
    println!("received {count} checksum {sum:016x}");
    Ok(())
}

fn pin(cpu: usize) {
    use rustix::thread::{CpuSet, sched_setaffinity};
    let mut set = CpuSet::new();
    set.set(cpu);
    if let Err(e) = sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {e}");
    }
}

fn ping(input: &str, output: &str, rounds: usize, cpu: usize) -> Result<(), String> {
    pin(cpu);
    let open = |n: &str| {
        SpscBuilder::new()
            .wait_strategy(WaitStrategy::BusySpin)
            .open(n)
            .map_err(|e| e.to_string())
    };
    let (rin, rout) = (open(input)?, open(output)?);
    let mut producer = rout.producer().map_err(|e| e.to_string())?;
    let mut consumer = rin.consumer().map_err(|e| e.to_string())?;
    let msg = [0x5au8; 64];
    let mut buf = [0u8; 64];
    let warmup = rounds / 10;
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let start = Instant::now();
        producer
            .send_timeout(&msg, TIMEOUT)
            .map_err(|e| format!("ping: {e}"))?;
        let reply = consumer
            .recv_timeout(TIMEOUT)
            .map_err(|e| format!("pong: {e}"))?;
        buf[..reply.len()].copy_from_slice(&reply);
        drop(reply);
        // The C side's copy is real (it happens inside the library); keep
        // this one too, or the compiler drops it and never reads the
        // message's second cache line.
        std::hint::black_box(&mut buf);
        let ns = start.elapsed().as_nanos() as u64;
        if i >= warmup {
            samples.push(ns);
        }
    }
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() / samples.len().max(1) as u64;
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!("p50 {} p99 {} mean {}", pct(0.5), pct(0.99), mean);
    Ok(())
}

fn pong(input: &str, output: &str, cpu: usize) -> Result<(), String> {
    pin(cpu);
    let open = |n: &str| {
        SpscBuilder::new()
            .wait_strategy(WaitStrategy::BusySpin)
            .open(n)
            .map_err(|e| e.to_string())
    };
    let (rin, rout) = (open(input)?, open(output)?);
    let mut consumer = rin.consumer().map_err(|e| e.to_string())?;
    let mut producer = rout.producer().map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    loop {
        let len = match consumer.recv_timeout(TIMEOUT) {
            Ok(msg) => {
                let len = msg.len().min(buf.len());
                buf[..len].copy_from_slice(&msg[..len]);
                len
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Err(e) => return Err(format!("pong: {e}")),
        };
        producer
            .send_timeout(&buf[..len], TIMEOUT)
            .map_err(|e| format!("pong: {e}"))?;
    }
}

/// One process, one ring: `rounds` × (try_send + try_recv) of 64 bytes,
/// then as many (send_timeout + recv_timeout), 3 passes each; prints the
/// best pass's ns per pair: the cost of the calls themselves, with no
/// cache line crossing cores.
fn calls(name: &str, rounds: u64) -> Result<(), String> {
    let ring = SpscBuilder::new()
        .wait_strategy(WaitStrategy::BusySpin)
        .open(name)
        .map_err(|e| e.to_string())?;
    let mut producer = ring.producer().map_err(|e| e.to_string())?;
    let mut consumer = ring.consumer().map_err(|e| e.to_string())?;
    let msg = [1u8; 64];
    let mut buf = [0u8; 64];
    let (mut try_best, mut timeout_best) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..rounds {
            producer.try_send(&msg).map_err(|e| e.to_string())?;
            let m = consumer.try_recv().map_err(|e| e.to_string())?;
            buf[..m.len()].copy_from_slice(&m);
        }
        try_best = try_best.min(start.elapsed().as_nanos() as f64 / rounds as f64);
        let start = Instant::now();
        for _ in 0..rounds {
            producer
                .send_timeout(&msg, TIMEOUT)
                .map_err(|e| e.to_string())?;
            let m = consumer.recv_timeout(TIMEOUT).map_err(|e| e.to_string())?;
            buf[..m.len()].copy_from_slice(&m);
        }
        timeout_best = timeout_best.min(start.elapsed().as_nanos() as f64 / rounds as f64);
    }
    std::hint::black_box(&buf);
    println!("try {try_best:.1} timeout {timeout_best:.1}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 { args.get(i).and_then(|s| s.parse().ok()).unwrap_or(0) };
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let result = match arg(0) {
        "produce" => produce(arg(1), num(2)),
        "consume" => consume(arg(1), num(2)),
        "ping" => ping(arg(1), arg(2), num(3) as usize, num(4) as usize),
        "pong" => pong(arg(1), arg(2), num(3) as usize),
        "calls" => calls(arg(1), num(2)),
        _ => Err("usage: shmring-c-peer produce|consume NAME COUNT | ping IN OUT ROUNDS CPU | pong IN OUT CPU".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmring-c-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
