//! `shmring demo`: a broker on a temporary socket, a producer and a
//! consumer process, a few seconds of messages through a shmring SPSC
//! ring and then through a pipe, and the numbers side by side.
//!
//! Two phases per transport: *flood* (the producer sends as fast as it
//! can: throughput) and *paced* (one message every 20 µs: latency from
//! the producer's timestamp to the consumer's receipt, without queueing).
//! Every message is 64 bytes: a `CLOCK_MONOTONIC` timestamp, a sequence
//! number, padding.

use crate::config::Config;
use crate::daemon::InProcess;
use shmring::RecvError;
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::human;
use shmring::prelude::*;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes per message.
pub const MESSAGE: usize = 64;
/// Interval between paced messages.
const PACE: Duration = Duration::from_micros(20);

/// Which half of the demo a peer process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerRole {
    /// Sends.
    Producer,
    /// Receives and measures.
    Consumer,
}

/// What a peer sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// A shmring SPSC ring opened through the broker.
    Ring,
    /// stdin/stdout, connected to each other by the parent.
    Pipe,
}

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Runs one peer process (the hidden `demo-peer` subcommand).
pub fn peer(
    role: PeerRole,
    transport: Transport,
    paced: bool,
    seconds: f64,
    socket: &Path,
    name: &str,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    pin(role);
    match (role, transport) {
        (PeerRole::Producer, Transport::Ring) => {
            let mut client = BrokerClient::connect_to(socket).map_err(|x| e(&x))?;
            let mut producer = client.producer(name).map_err(|x| e(&x))?;
            // Start the clock once the consumer is there, so that its
            // start-up does not count as latency.
            let give_up = Instant::now() + Duration::from_secs(10);
            while !producer.is_consumer_attached() && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(1));
            }
            produce(seconds, paced, |msg| {
                producer.send(msg).map_err(|x| e(&x.without_message()))
            })
        }
        (PeerRole::Producer, Transport::Pipe) => {
            let fd = std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|x| e(&x))?;
            let mut out = std::fs::File::from(fd);
            produce(seconds, paced, |msg| out.write_all(msg).map_err(|x| e(&x)))
        }
        (PeerRole::Consumer, Transport::Ring) => {
            // Busy-spin, as a latency-critical consumer would: with the
            // default spin-then-park, messages 20 µs apart showed a p50 of
            // 1-3 µs on a 2-core VM (under investigation), against 0.3 µs.
            let mut client = BrokerClient::connect_to(socket)
                .map_err(|x| e(&x))?
                .with_wait_strategy(shmring::WaitStrategy::BusySpin);
            let mut consumer = client.consumer(name).map_err(|x| e(&x))?;
            consume(|buf| match consumer.recv() {
                Ok(m) if m.len() == MESSAGE => {
                    buf.copy_from_slice(&m);
                    Ok(true)
                }
                Ok(_) => Err("unexpected message size".into()),
                Err(RecvError::Disconnected) => Ok(false),
                Err(x) => Err(e(&x)),
            })
        }
        (PeerRole::Consumer, Transport::Pipe) => {
            let mut input = std::io::stdin().lock();
            consume(|buf| match input.read_exact(buf) {
                Ok(()) => Ok(true),
                Err(x) if x.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
                Err(x) => Err(e(&x)),
            })
        }
    }
}

/// Puts the producer and the consumer on two different CPUs (the first
/// two this process may use). Left to the scheduler, both can land on one
/// core, and a spinning side then delays the other by a whole time slice:
/// milliseconds of "latency" that measure the scheduler, not the ring.
fn pin(role: PeerRole) {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    let Ok(allowed) = sched_getaffinity(None) else {
        return;
    };
    let mut cpus = (0..CpuSet::MAX_CPU).filter(|&c| allowed.is_set(c));
    let (Some(first), Some(second)) = (cpus.next(), cpus.next()) else {
        return;
    };
    let mut set = CpuSet::new();
    set.set(if role == PeerRole::Producer {
        first
    } else {
        second
    });
    let _ = sched_setaffinity(None, &set);
}

fn produce(
    seconds: f64,
    paced: bool,
    mut send: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut msg = [0u8; MESSAGE];
    let mut next = Instant::now();
    let mut seq = 0u64;
    while Instant::now() < end {
        if paced {
            next += PACE;
            while Instant::now() < next {
                std::hint::spin_loop();
            }
        }
        msg[8..16].copy_from_slice(&seq.to_le_bytes());
        msg[..8].copy_from_slice(&now_ns().to_le_bytes());
        send(&msg)?;
        seq += 1;
    }
    Ok(())
}

fn consume(mut recv: impl FnMut(&mut [u8; MESSAGE]) -> Result<bool, String>) -> Result<(), String> {
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut buf = [0u8; MESSAGE];
    let mut count = 0u64;
    let mut first = None;
    let mut last = Instant::now();
    while recv(&mut buf)? {
        let sent = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        let _ = hist.record(now_ns().saturating_sub(sent).max(1));
        count += 1;
        last = Instant::now();
        first.get_or_insert(last);
    }
    let secs = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!(
        "{}",
        serde_json::json!({
            "messages": count,
            "seconds": secs,
            "p50": hist.value_at_quantile(0.5),
            "p99": hist.value_at_quantile(0.99),
            "p999": hist.value_at_quantile(0.999),
        })
    );
    Ok(())
}

/// One phase's result, as the consumer reported it.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    messages: u64,
    seconds: f64,
    p50: u64,
    p99: u64,
    p999: u64,
}

fn wait_output(child: Child, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    let mut child = child;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("a demo process failed: {}", out.status));
            }
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("a demo process did not finish in time".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn parse(out: &str) -> Result<Outcome, String> {
    let v: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| e.to_string())?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Ok(Outcome {
        messages: n("messages"),
        seconds: v["seconds"].as_f64().unwrap_or(0.0),
        p50: n("p50"),
        p99: n("p99"),
        p999: n("p999"),
    })
}

struct Demo {
    exe: PathBuf,
    socket: PathBuf,
    seconds: f64,
}

impl Demo {
    fn peer_cmd(&self, role: &str, transport: &str, paced: bool, name: &str) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--socket").arg(&self.socket).args([
            "demo-peer",
            "--role",
            role,
            "--transport",
            transport,
            "--name",
            name,
        ]);
        cmd.arg("--seconds").arg(self.seconds.to_string());
        if paced {
            cmd.arg("--paced");
        }
        cmd
    }

    fn ring(&self, client: &mut BrokerClient, paced: bool) -> Result<Outcome, String> {
        let name = format!("demo-{}-{}", std::process::id(), paced as u8);
        let options = CreateOptions::spsc(1 << 20).max_message(MESSAGE as u64);
        client.create(&name, &options).map_err(|e| e.to_string())?;
        let consumer = self
            .peer_cmd("consumer", "ring", paced, &name)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let producer = self.peer_cmd("producer", "ring", paced, &name).spawn();
        let limit = Duration::from_secs_f64(self.seconds + 20.0);
        let produced = producer
            .map_err(|e| e.to_string())
            .and_then(|p| wait_output(p, limit));
        let consumed = wait_output(consumer, limit);
        let _ = client.unlink(&name);
        produced?;
        parse(&consumed?)
    }

    fn pipe(&self, paced: bool) -> Result<Outcome, String> {
        let mut producer = self
            .peer_cmd("producer", "pipe", paced, "-")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let pipe = producer.stdout.take().expect("piped");
        let consumer = self
            .peer_cmd("consumer", "pipe", paced, "-")
            .stdin(Stdio::from(pipe))
            .stdout(Stdio::piped())
            .spawn();
        let limit = Duration::from_secs_f64(self.seconds + 20.0);
        let produced = wait_output(producer, limit);
        let consumed = consumer
            .map_err(|e| e.to_string())
            .and_then(|c| wait_output(c, limit));
        produced?;
        parse(&consumed?)
    }
}

/// `shmring demo`: needs nothing running; cleans up after itself.
pub fn run(seconds: f64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("shmring-demo-{}", std::process::id()));
    let socket = dir.join("broker.sock");
    let daemon = InProcess::start(&socket, Config::default())?;
    let demo = Demo {
        exe,
        socket: socket.clone(),
        seconds: seconds / 4.0,
    };
    println!(
        "shmring demo: broker at {}, {} messages, {} per phase",
        socket.display(),
        human::Bytes(MESSAGE as u64),
        human::Duration::from(Duration::from_secs_f64(demo.seconds)),
    );
    let result = (|| {
        let mut client = BrokerClient::connect_to(&socket).map_err(|e| e.to_string())?;
        let ring = (
            demo.ring(&mut client, false)?,
            demo.ring(&mut client, true)?,
        );
        let pipe = (demo.pipe(false)?, demo.pipe(true)?);
        Ok::<_, String>((ring, pipe))
    })();
    daemon.stop();
    let _ = std::fs::remove_dir(&dir);
    let (ring, pipe) = result?;
    println!(
        "flood: messages and bytes per second, the producer sending as fast as it can; \
         paced: messages sent one every {} ({}), and their latency from the producer's \
         clock to the consumer's",
        human::Duration::from(PACE),
        human::Rate::per_second(1.0 / PACE.as_secs_f64()),
    );
    println!();
    println!(
        "{:<22} {:>13} {:>11} {:>8} {:>8} {:>8} {:>8}",
        "transport", "flood", "", "paced", "p50", "p99", "p99.9"
    );
    for (label, (flood, paced)) in [("shmring SPSC, spinning", ring), ("pipe", pipe)] {
        let rate = flood.messages as f64 / flood.seconds.max(1e-9);
        println!(
            "{label:<22} {:>13} {:>11} {:>8} {:>8} {:>8} {:>8}",
            human::Rate::per_second(rate),
            human::ByteRate::per_second(rate * MESSAGE as f64),
            human::Count(paced.messages),
            human::Duration::from_nanos(paced.p50),
            human::Duration::from_nanos(paced.p99),
            human::Duration::from_nanos(paced.p999),
        );
    }
    Ok(())
}
