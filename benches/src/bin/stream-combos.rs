//! One-way streams between two threads pinned to two CPUs, for every
//! combination of sending (`send` or `reserve` + write in place +
//! `commit`) and receiving (`recv_into` a buffer, or the guard read in
//! place), on an SPSC and an MPMC ring shaped as in the throughput bench.
//! It tells which side of the zero-copy API costs what, without the rest
//! of the bench:
//!
//! ```text
//! stream-combos [SIZE [REPEATS [MESSAGES]]]     (default 64 3 5000000)
//! ```

use shmring::human::Rate;
use shmring::prelude::*;
use shmring::{Ring, RingBuilder, RingGeometry};
use shmring_benches::pin::{cpu_pair, pin_current_thread};
use shmring_benches::probe::{numeric_args, read_word};
use shmring_benches::traffic::FILL;
use std::time::Instant;

fn main() {
    if let Err(err) = run() {
        eprintln!("stream-combos: {err}");
        std::process::exit(1);
    }
}

fn run() -> shmring_benches::Result<()> {
    let args = numeric_args()?;
    let size = args.first().copied().unwrap_or(64).max(8) as usize;
    let repeats = args.get(1).copied().unwrap_or(3);
    let messages = args.get(2).copied().unwrap_or(5_000_000);
    let cpus = cpu_pair().ok_or("needs two CPUs")?;
    let spsc = RingGeometry::spsc((4 * size as u64).next_power_of_two().max(1 << 20))
        .with_max_message(size as u64);
    let slots = ((4u64 << 20) / size as u64)
        .next_power_of_two()
        .clamp(4, 1024);
    let mpmc = RingGeometry::mpmc(slots, size as u64);
    for repeat in 0..repeats {
        for (in_place_tx, in_place_rx) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let combo = Combo {
                size,
                messages,
                cpus,
                in_place_tx,
                in_place_rx,
            };
            let s = combo.run::<shmring::Spsc>(spsc)?;
            let m = combo.run::<shmring::Mpmc>(mpmc)?;
            println!(
                "repeat {repeat} size {size} {:<7} + {:<9}: SPSC {:>8}  MPMC {:>8}",
                if in_place_tx { "reserve" } else { "send" },
                if in_place_rx { "guard" } else { "recv_into" },
                Rate::per_second(s * 1e6).unit(""),
                Rate::per_second(m * 1e6).unit(""),
            );
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Combo {
    size: usize,
    messages: u64,
    cpus: (usize, usize),
    in_place_tx: bool,
    in_place_rx: bool,
}

impl Combo {
    /// Millions of messages per second of one stream.
    fn run<R: Ring>(self, geometry: RingGeometry) -> shmring_benches::Result<f64>
    where
        R::Sender: Send + 'static,
        R::Receiver: Send + 'static,
    {
        let name = format!("shmring-combos-{}", std::process::id());
        let ring = RingBuilder::<R>::new().geometry(geometry).create(&name);
        let _ = shmring::unlink(&name);
        let ring = ring?;
        let (mut tx, rx) = (ring.sender()?, ring.receiver()?);
        let receiver = std::thread::spawn(move || self.receive(rx));
        pin_current_thread(self.cpus.0);
        let start = Instant::now();
        let mut msg = vec![FILL; self.size];
        for i in 0..self.messages {
            if self.in_place_tx {
                let mut grant = tx.reserve(self.size).map_err(|e| e.without_message())?;
                grant[..8].copy_from_slice(&i.to_ne_bytes());
                grant[8..].fill(FILL);
                grant.commit();
            } else {
                msg[..8].copy_from_slice(&i.to_ne_bytes());
                tx.send(&msg).map_err(|e| e.without_message())?;
            }
        }
        receiver
            .join()
            .map_err(|_| "the receiving thread panicked")??;
        Ok(self.messages as f64 / start.elapsed().as_secs_f64() / 1e6)
    }

    fn receive<Rx: MessageReceiver>(self, mut rx: Rx) -> shmring_benches::Result<()> {
        pin_current_thread(self.cpus.1);
        let mut buf = Vec::with_capacity(self.size);
        for i in 0..self.messages {
            let first = if self.in_place_rx {
                let guard = rx.recv()?;
                read_word(&guard)
            } else {
                rx.recv_into(&mut buf)?;
                read_word(&buf)
            };
            if first != i {
                return Err(format!("message {first} arrived, {i} expected").into());
            }
        }
        Ok(())
    }
}
