//! What attaching, detaching and one liveness probe cost: the slow path
//! that `liveness.rs` puts around every endpoint (never the message path).
//!
//! ```text
//! cargo run --release --example liveness_cost [ROUNDS]
//! ```
//!
//! Prints the median and 99th percentile, in nanoseconds, of: a producer
//! attach, its detach (drop), a consumer attach and detach with a producer
//! attached, an MPMC sender attach and detach, and a probe of the peer
//! (`is_producer_attached`: one lock test when the role is held).

use shmring::{MpmcBuilder, SpscBuilder};
use std::time::Instant;

fn report(what: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    println!(
        "{what:<36} median {:>7} ns   p99 {:>7} ns",
        at(0.5),
        at(0.99)
    );
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<u64> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as u64
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let name = format!("liveness-cost-{}", std::process::id());
    let ring = SpscBuilder::new().capacity(4096).create(&name)?;
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let (mut attach, mut detach) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let start = Instant::now();
            let producer = ring.producer()?;
            attach.push(start.elapsed().as_nanos() as u64);
            let start = Instant::now();
            drop(producer);
            detach.push(start.elapsed().as_nanos() as u64);
        }
        report("SPSC producer attach", attach);
        report("SPSC producer detach", detach);

        let producer = ring.producer()?;
        report(
            "SPSC consumer attach + detach",
            time(rounds, || drop(ring.consumer().expect("consumer"))),
        );
        report(
            "liveness probe of a held role",
            time(rounds, || assert!(ring.is_producer_attached())),
        );
        drop(producer);
        Ok(())
    })();
    shmring::unlink(&name)?;
    result?;

    let queue = MpmcBuilder::new().slots(64).slot_size(64).create(&name)?;
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let _receiver = queue.receiver()?;
        report(
            "MPMC sender attach + detach",
            time(rounds, || drop(queue.sender().expect("sender"))),
        );
        let _sender = queue.sender()?;
        report(
            "MPMC live-sender count (1 held entry)",
            time(rounds, || assert_eq!(queue.live_senders(), 1)),
        );
        Ok(())
    })();
    shmring::unlink(&name)?;
    result
}
