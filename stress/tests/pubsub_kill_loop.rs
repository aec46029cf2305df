//! The publish/subscribe kill loop with CI counts: 100 cycles (a third
//! of them kill the publisher, the rest a subscriber) for each delivery.

use shmring::Delivery;
use shmring_stress::msg::Rng;
use shmring_stress::pubsub_loop::{PubSubLoopConfig, run};
use std::path::PathBuf;

const WORKER: &str = env!("CARGO_BIN_EXE_shmring-stress-worker");

/// Cycles per test; `SHMRING_STRESS_CYCLES` overrides (the `stress`
/// binary runs the full 1,000).
fn cycles() -> u32 {
    std::env::var("SHMRING_STRESS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// `SHMRING_STRESS_SEED` replays a failed run.
fn seed() -> u64 {
    std::env::var("SHMRING_STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Rng::fresh_seed)
}

fn kill_loop(delivery: Delivery) {
    let seed = seed();
    eprintln!("pubsub kill loop {delivery:?}: seed {seed}");
    let cfg = PubSubLoopConfig::new(delivery, cycles(), seed, PathBuf::from(WORKER));
    match run(&cfg) {
        Ok(report) => eprintln!("pubsub kill loop {delivery:?}: {report}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn lossless() {
    kill_loop(Delivery::Lossless);
}

#[test]
fn lossy() {
    kill_loop(Delivery::Lossy);
}
