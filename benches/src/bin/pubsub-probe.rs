//! Round trips and streams of 64-byte (or SIZE) messages between two
//! threads pinned to two CPUs, SPSC next to publish/subscribe (lossless
//! and lossy, one subscriber), alternating in one run: a quick look at
//! the pub/sub fast path without the rest of the bench.
//!
//! ```text
//! pubsub-probe [SIZE [REPEATS [MESSAGES]]]     (default 64 5 2000000)
//! ```

use shmring::human::{Duration, Rate};
use shmring::prelude::*;
use shmring::{Delivery, Ring, RingBuilder, RingGeometry};
use shmring_benches::link::rings::pubsub_geometry;
use shmring_benches::pin::{cpu_pair, pin_current_thread};
use shmring_benches::probe::{numeric_args, read_word};
use shmring_benches::traffic::FILL;
use std::time::Instant;

fn main() {
    if let Err(err) = run() {
        eprintln!("pubsub-probe: {err}");
        std::process::exit(1);
    }
}

fn run() -> shmring_benches::Result<()> {
    let args = numeric_args()?;
    let size = args.first().copied().unwrap_or(64).max(8) as usize;
    let repeats = args.get(1).copied().unwrap_or(5);
    let messages = args.get(2).copied().unwrap_or(2_000_000);
    let cpus = cpu_pair().ok_or("needs two CPUs")?;
    let spsc = RingGeometry::spsc((4 * size as u64).next_power_of_two().max(1 << 20))
        .with_max_message(size as u64);
    let slots: Option<u64> = std::env::var("PROBE_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok());
    let shape = |delivery| match slots {
        Some(slots) => RingGeometry::pubsub(slots, size as u64).with_delivery(delivery),
        None => pubsub_geometry(delivery, size as u64),
    };
    let lossless = shape(Delivery::Lossless);
    let lossy = shape(Delivery::Lossy);
    let probe = Probe {
        size,
        messages,
        cpus,
    };
    for repeat in 0..repeats {
        let s_rt = probe.round_trip::<shmring::Spsc>(spsc)?;
        let l_rt = probe.round_trip::<shmring::PubSub>(lossless)?;
        let y_rt = probe.round_trip::<shmring::PubSub>(lossy)?;
        let s_st = probe.stream::<shmring::Spsc>(spsc)?;
        let l_st = probe.stream::<shmring::PubSub>(lossless)?;
        let rt = |ns: f64| Duration::from_nanos(ns.round() as u64);
        let st = |m: f64| Rate::per_second(m * 1e6).unit("");
        println!(
            "{repeat} size {size}: round trip SPSC {:>7} lossless {:>7} ({:.2}x) lossy {:>7} ({:.2}x) | stream SPSC {:>8} lossless {:>8} ({:.2}x)",
            rt(s_rt),
            rt(l_rt),
            l_rt / s_rt,
            rt(y_rt),
            y_rt / s_rt,
            st(s_st),
            st(l_st),
            l_st / s_st
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Probe {
    size: usize,
    messages: u64,
    cpus: (usize, usize),
}

fn make<R: Ring>(geometry: RingGeometry, tag: &str) -> shmring_benches::Result<R> {
    let name = format!("shmring-probe-{}-{tag}", std::process::id());
    let ring = RingBuilder::<R>::new().geometry(geometry).create(&name);
    let _ = shmring::unlink(&name);
    Ok(ring?)
}

impl Probe {
    /// Median round trip in ns (send + guard read in place, echoed).
    fn round_trip<R: Ring>(self, geometry: RingGeometry) -> shmring_benches::Result<f64>
    where
        R::Sender: Send + 'static,
        R::Receiver: Send + 'static,
    {
        let up = make::<R>(geometry, "up")?;
        let down = make::<R>(geometry, "down")?;
        let (mut tx, up_rx) = (up.sender()?, up.receiver()?);
        let (down_tx, mut rx) = (down.sender()?, down.receiver()?);
        let trips = self.messages / 10;
        let echo = std::thread::spawn(move || -> shmring_benches::Result<()> {
            let (mut rx, mut tx) = (up_rx, down_tx);
            pin_current_thread(self.cpus.1);
            let mut msg = vec![FILL; self.size];
            for _ in 0..trips {
                let guard = rx.recv()?;
                let w = read_word(&guard);
                drop(guard);
                msg[..8].copy_from_slice(&w.to_ne_bytes());
                tx.send(&msg).map_err(|e| e.without_message())?;
            }
            Ok(())
        });
        pin_current_thread(self.cpus.0);
        let mut msg = vec![FILL; self.size];
        let mut times = Vec::with_capacity(trips as usize);
        for i in 0..trips {
            msg[..8].copy_from_slice(&i.to_ne_bytes());
            let t = Instant::now();
            tx.send(&msg).map_err(|e| e.without_message())?;
            let guard = rx.recv()?;
            let w = read_word(&guard);
            drop(guard);
            times.push(t.elapsed().as_nanos() as u64);
            if w != i {
                return Err(format!("echo {w}, {i} expected").into());
            }
        }
        echo.join().map_err(|_| "echo panicked")??;
        times.sort_unstable();
        Ok(times[times.len() / 2] as f64)
    }

    /// Millions of messages per second (send + recv_into).
    fn stream<R: Ring>(self, geometry: RingGeometry) -> shmring_benches::Result<f64>
    where
        R::Sender: Send + 'static,
        R::Receiver: Send + 'static,
    {
        let ring = make::<R>(geometry, "stream")?;
        let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
        let messages = self.messages;
        let receiver = std::thread::spawn(move || -> shmring_benches::Result<()> {
            pin_current_thread(self.cpus.1);
            let mut buf = Vec::with_capacity(self.size);
            for i in 0..messages {
                rx.recv_into(&mut buf)?;
                let first = read_word(&buf);
                if first != i {
                    return Err(format!("message {first} arrived, {i} expected").into());
                }
            }
            Ok(())
        });
        pin_current_thread(self.cpus.0);
        let start = Instant::now();
        let mut msg = vec![FILL; self.size];
        for i in 0..messages {
            msg[..8].copy_from_slice(&i.to_ne_bytes());
            tx.send(&msg).map_err(|e| e.without_message())?;
        }
        receiver.join().map_err(|_| "receiver panicked")??;
        Ok(messages as f64 / start.elapsed().as_secs_f64() / 1e6)
    }
}
