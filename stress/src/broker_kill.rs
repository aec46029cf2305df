//! The broker kill loop: pairs of worker processes exchange checked
//! messages through segments they got from the daemon, while the daemon
//! is SIGKILLed and restarted on the same socket again and again.
//!
//! Checked: the running pairs keep moving messages across every kill
//! (their memfds outlive the daemon) and lose or repeat none; after every
//! restart a fresh client can create, open and exchange, and leaves the
//! daemon with the descriptors it started with; nothing in `/dev/shm`.

use crate::endpoint::{Kind, Style, Transport};
use crate::harness::{Checker, Harness, Pair, STEP_LIMIT};
use crate::msg::{self, Rng, Sizes};
use crate::proc::{self, Daemon};
use shmring::broker::CreateOptions;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct BrokerKillConfig {
    /// Daemon kills (each followed by a restart).
    pub restarts: u32,
    /// Seed of the random delays.
    pub seed: u64,
    /// The `shmring-stress-worker` executable.
    pub worker: PathBuf,
    /// A kill comes 0 to this long after the previous restart served.
    pub max_delay: Duration,
    /// Print progress on stderr.
    pub verbose: bool,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct BrokerKillReport {
    /// Daemon kills and restarts done.
    pub restarts: u32,
    /// Messages the running pairs moved (SPSC, MPMC).
    pub pair_messages: (u64, u64),
    /// Fresh create/open/exchange rounds after restarts.
    pub fresh_exchanges: u32,
    /// Longest time from a kill to a restarted daemon serving.
    pub max_restart: Duration,
    /// Wall time.
    pub elapsed: Duration,
}

impl fmt::Display for BrokerKillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} daemon kills in {:.1?} (slowest restart {:.1?}); running pairs moved {} SPSC + {} MPMC messages, none lost or repeated; {} fresh create/open/exchange rounds",
            self.restarts,
            self.elapsed,
            self.max_restart,
            self.pair_messages.0,
            self.pair_messages.1,
            self.fresh_exchanges
        )
    }
}

/// Runs the loop; `Err` says what went wrong, with the seed.
pub fn run(cfg: &BrokerKillConfig) -> Result<BrokerKillReport, String> {
    run_inner(cfg)
        .map_err(|e| format!("broker kill loop failed: {e} [replay: --seed {}]", cfg.seed))
}

fn run_inner(cfg: &BrokerKillConfig) -> Result<BrokerKillReport, String> {
    let started = Instant::now();
    let mut rng = Rng::new(cfg.seed);
    let tag = proc::unique_name("bk");
    let shm_before = proc::shm_entries(&tag);
    let mut daemon = Daemon::start(&cfg.worker)?;
    let transport = Transport::Broker(daemon.socket.clone());
    let spsc_name = format!("{tag}-spsc");
    let mpmc_name = format!("{tag}-mpmc");
    // The harness's own mappings: keep the rings alive whatever happens
    // to the daemon (the workers also hold theirs).
    let mut setup = daemon.client()?;
    let _spsc = setup
        .create_spsc(
            &spsc_name,
            &CreateOptions::spsc(16 * 1024).max_message(1024),
        )
        .map_err(|e| format!("create {spsc_name}: {e}"))?;
    let _mpmc = setup
        .create_mpmc(&mpmc_name, &CreateOptions::mpmc(64, 512))
        .map_err(|e| format!("create {mpmc_name}: {e}"))?;
    let mut h = Harness::new(&cfg.worker);
    let sizes = |max| Sizes {
        min: msg::HEADER_LEN,
        max,
    };
    h.pairs.push(Pair::new(
        Kind::Spsc,
        transport.clone(),
        &spsc_name,
        Style::Timeout,
        sizes(1024),
        0,
    ));
    h.pairs.push(Pair::new(
        Kind::Mpmc,
        transport,
        &mpmc_name,
        Style::Timeout,
        sizes(512),
        1000,
    ));
    h.start_pair(0)?;
    h.start_pair(1)?;

    let mut report = BrokerKillReport::default();
    for round in 0..cfg.restarts {
        let delay = rng.range(0, cfg.max_delay.as_micros() as u64);
        std::thread::sleep(Duration::from_micros(delay));
        h.drain()?;
        let before: Vec<u64> = h.pairs.iter().map(|p| p.received_total).collect();
        let killed = Instant::now();
        daemon.kill9().map_err(|e| format!("round {round}: {e}"))?;
        daemon
            .spawn()
            .map_err(|e| format!("round {round}: restart: {e}"))?;
        report.max_restart = report.max_restart.max(killed.elapsed());
        let base = daemon.quiet_fd_count()?;
        let base_list = proc::fd_targets(daemon.pid().unwrap_or(0));
        fresh_client(cfg, &daemon, &tag, round)
            .map_err(|e| format!("round {round}: fresh client after restart: {e}"))?;
        report.fresh_exchanges += 1;
        let now = daemon.settle_fds(base, Duration::from_secs(5))?;
        if now != base {
            return Err(format!(
                "round {round}: restarted daemon holds {now} descriptors after a fresh client left, {base} before: {:?} vs {base_list:?}",
                proc::fd_targets(daemon.pid().unwrap_or(0))
            ));
        }
        let deadline = Instant::now() + STEP_LIMIT;
        h.pump_until(deadline, |h| {
            h.pairs
                .iter()
                .zip(&before)
                .all(|(p, &b)| p.received_total > b)
        })
        .map_err(|e| format!("round {round}: a running pair stopped moving messages: {e}"))?;
        report.restarts = round + 1;
        if cfg.verbose && (round + 1) % 20 == 0 {
            eprintln!("  broker kill loop: {} restarts", round + 1);
        }
    }
    h.stop_pair(0)?;
    h.stop_pair(1)?;
    h.drain()?;
    for pair in &h.pairs {
        match &pair.checker {
            Checker::Spsc(c) => c.finish()?,
            // Nobody but the daemon was killed: nothing may be missing.
            Checker::Mpmc(c) => c.finish(0).map(|_| ())?,
        }
    }
    report.pair_messages = (h.pairs[0].checker.received(), h.pairs[1].checker.received());
    drop(h);
    drop(setup);
    daemon.stop()?;
    drop(daemon);
    let shm_after = proc::shm_entries(&tag);
    if shm_after != shm_before {
        return Err(format!(
            "/dev/shm not back to baseline: before {shm_before:?}, after {shm_after:?}"
        ));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Runs the worker's `fresh` command: a new client process that creates,
/// opens, exchanges and removes, and then exits (so the daemon's watch
/// on it ends too).
fn fresh_client(
    cfg: &BrokerKillConfig,
    daemon: &Daemon,
    tag: &str,
    round: u32,
) -> Result<(), String> {
    let mut child = std::process::Command::new(&cfg.worker)
        .arg("fresh")
        .arg("--socket")
        .arg(&daemon.socket)
        .arg("--name")
        .arg(format!("{tag}-fresh-{round}"))
        .arg("--kind")
        .arg(if round % 2 == 0 { "spsc" } else { "mpmc" })
        .arg("--stream")
        .arg((100_000 + round).to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    match proc::wait_timeout(&mut child, 2 * STEP_LIMIT) {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("fresh client exited with {status}")),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "fresh client did not finish within {:?}",
                2 * STEP_LIMIT
            ))
        }
    }
}
