//! `stress`: the fault-injection loops and the soak with full counts.
//!
//! ```text
//! stress kill-loop --kind spsc|mpmc [--cycles 1000] [--broker] [--producer-pid-namespace] [--seed N]
//! stress broker-kill-loop [--restarts 100] [--seed N]
//! stress pubsub-kill-loop [--delivery lossless|lossy] [--cycles 1000] [--subscribers 3] [--seed N]
//! stress soak [--duration 60s] [--lanes 4] [--seed N]
//! stress all                     # every kill loop with full counts, then a 60 s soak
//! ```
//!
//! Exit status 0 when every check passed, 1 otherwise (the message names
//! the seed that replays the run), 2 on a bad command line.

use clap::{Parser, Subcommand};
use shmring_stress::broker_kill::{self, BrokerKillConfig};
use shmring_stress::endpoint::Kind;
use shmring_stress::kill_loop::{self, KillLoopConfig};
use shmring_stress::msg::Rng;
use shmring_stress::proc;
use shmring_stress::soak::{self, SoakConfig};
use shmring_stress::worker_cli;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "shmring fault injection: kill loops, broker kill loop, soak")]
struct Args {
    /// Seed of every random choice (default: from the clock; printed).
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// The worker executable (default: this one, which also runs the
    /// worker subcommands).
    #[arg(long, global = true)]
    worker: Option<PathBuf>,
    /// Less output.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Producer and consumer processes; SIGKILL a random side at a random
    /// moment, restart it; check every message.
    KillLoop {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long, default_value_t = 1000)]
        cycles: u32,
        /// Segments from a real daemon instead of /dev/shm.
        #[arg(long)]
        broker: bool,
        /// Longest random delay before a kill, in milliseconds.
        #[arg(long, default_value_t = 20)]
        max_delay_ms: u64,
        /// Producers run in a PID namespace of their own (needs root).
        #[arg(long)]
        producer_pid_namespace: bool,
    },
    /// A publisher and subscriber processes; SIGKILL the publisher or a
    /// subscriber at random, restart it; check every message.
    PubsubKillLoop(shmring_stress::pubsub_loop::LoopArgs),
    /// SIGKILL the daemon repeatedly under client load.
    BrokerKillLoop {
        #[arg(long, default_value_t = 100)]
        restarts: u32,
    },
    /// Mixed traffic for a duration; RSS and descriptors must stay flat.
    Soak {
        /// How long, e.g. 60s, 5m, 1500ms.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 4)]
        lanes: usize,
        /// Allowed growth of anonymous memory (and of the daemon's RSS)
        /// after the warm-up, MiB.
        #[arg(long, default_value_t = 16)]
        rss_slack_mib: u64,
        /// Only warn when the daemon still maps removed segments at the
        /// end (a known daemon leak, see stress/README.md).
        #[arg(long)]
        tolerate_daemon_mappings: bool,
    },
    /// Every kill loop (both kinds, direct and broker) with full counts,
    /// the broker kill loop, then the soak.
    All {
        #[arg(long, default_value_t = 1000)]
        cycles: u32,
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |i| text.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad unit in {text:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    // `stress` is its own worker: the loops start it again with a worker
    // subcommand, so `cargo run --bin stress` needs no other binary.
    if std::env::args()
        .nth(1)
        .is_some_and(|a| worker_cli::SUBCOMMANDS.contains(&a.as_str()))
    {
        worker_cli::run(std::env::args_os());
    }
    let args = Args::parse();
    let worker = match args.worker.clone().map(Ok).unwrap_or_else(own_path) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("stress: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed.unwrap_or_else(Rng::fresh_seed);
    println!("stress: seed {seed}");
    let verbose = !args.quiet;
    let me = std::process::id();
    let fds_before = proc::fd_count(me).unwrap_or(0);
    let shm_before = proc::our_shm_entries();
    let mut ok = match args.command {
        Cmd::KillLoop {
            kind,
            cycles,
            broker,
            max_delay_ms,
            producer_pid_namespace,
        } => {
            let mut cfg = KillLoopConfig::new(kind, cycles, broker, seed, worker);
            cfg.max_delay = Duration::from_millis(max_delay_ms);
            cfg.producer_pid_namespace = producer_pid_namespace;
            cfg.verbose = verbose;
            kill(&cfg)
        }
        Cmd::BrokerKillLoop { restarts } => broker(restarts, seed, worker, verbose),
        Cmd::PubsubKillLoop(a) => shmring_stress::pubsub_loop::run_cli(&a, seed, &worker, verbose),
        Cmd::Soak {
            duration,
            lanes,
            rss_slack_mib,
            tolerate_daemon_mappings,
        } => soak(SoakConfig {
            duration,
            seed,
            worker,
            lanes,
            rss_slack_kib: rss_slack_mib * 1024,
            tolerate_daemon_mappings,
            verbose,
        }),
        Cmd::All { cycles, duration } => {
            let mut ok = true;
            for kind in [Kind::Spsc, Kind::Mpmc] {
                for via_broker in [false, true] {
                    let mut cfg =
                        KillLoopConfig::new(kind, cycles, via_broker, seed, worker.clone());
                    cfg.verbose = verbose;
                    ok &= kill(&cfg);
                }
            }
            ok &= shmring_stress::pubsub_loop::run_all(cycles, seed, &worker, verbose);
            ok &= broker(100, seed, worker.clone(), verbose);
            ok &= soak(SoakConfig {
                duration,
                seed,
                worker,
                lanes: 4,
                rss_slack_kib: 16 * 1024,
                tolerate_daemon_mappings: false,
                verbose,
            });
            ok
        }
    };
    // This process, after everything: no descriptor or segment left over.
    let fds_after = proc::fd_count(me).unwrap_or(0);
    let shm_after = proc::our_shm_entries();
    if fds_after != fds_before {
        println!(
            "stress: FAILED: {fds_before} descriptors at start, {fds_after} at end: {:?}",
            proc::fd_targets(me)
        );
        ok = false;
    }
    if shm_after != shm_before {
        println!("stress: FAILED: /dev/shm {shm_before:?} before, {shm_after:?} after");
        ok = false;
    }
    match ok {
        true => {
            println!("stress: all checks passed (seed {seed})");
            ExitCode::SUCCESS
        }
        false => {
            println!("stress: FAILED (replay with --seed {seed})");
            ExitCode::FAILURE
        }
    }
}

/// This executable, which doubles as the worker.
fn own_path() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("current_exe: {e}"))
}

fn kill(cfg: &KillLoopConfig) -> bool {
    let mode = if cfg.broker { "broker" } else { "direct" };
    println!(
        "kill loop {:?} {mode}: {} cycles, seed {}",
        cfg.kind, cfg.cycles, cfg.seed
    );
    match kill_loop::run(cfg) {
        Ok(r) => {
            println!("kill loop {:?} {mode}: ok: {r}", cfg.kind);
            true
        }
        Err(e) => {
            println!("kill loop {:?} {mode}: FAILED: {e}", cfg.kind);
            false
        }
    }
}

fn broker(restarts: u32, seed: u64, worker: PathBuf, verbose: bool) -> bool {
    println!("broker kill loop: {restarts} restarts, seed {seed}");
    let cfg = BrokerKillConfig {
        restarts,
        seed,
        worker,
        max_delay: Duration::from_millis(20),
        verbose,
    };
    match broker_kill::run(&cfg) {
        Ok(r) => {
            println!("broker kill loop: ok: {r}");
            true
        }
        Err(e) => {
            println!("broker kill loop: FAILED: {e}");
            false
        }
    }
}

fn soak(cfg: SoakConfig) -> bool {
    println!(
        "soak: {:?}, {} lanes, seed {}",
        cfg.duration, cfg.lanes, cfg.seed
    );
    match soak::run(&cfg) {
        Ok(r) => {
            println!("{r}");
            r.passed()
        }
        Err(e) => {
            println!("soak: FAILED to start: {e}");
            false
        }
    }
}
