//! The broker kill loop with CI counts: 100 daemon kills under load.

use shmring_stress::broker_kill::{BrokerKillConfig, run};
use shmring_stress::msg::Rng;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn daemon_killed_100_times_under_load() {
    let seed = std::env::var("SHMRING_STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Rng::fresh_seed);
    let restarts = std::env::var("SHMRING_STRESS_RESTARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    eprintln!("broker kill loop: seed {seed}");
    let cfg = BrokerKillConfig {
        restarts,
        seed,
        worker: PathBuf::from(env!("CARGO_BIN_EXE_shmring-stress-worker")),
        max_delay: Duration::from_millis(20),
        verbose: false,
    };
    match run(&cfg) {
        Ok(report) => eprintln!("broker kill loop: {report}"),
        Err(e) => panic!("{e}"),
    }
}
