//! The kill loop with CI counts: 100 kill-and-restart cycles per ring
//! kind, with named segments and through a real daemon.

use shmring_stress::endpoint::Kind;
use shmring_stress::kill_loop::{KillLoopConfig, run};
use shmring_stress::msg::Rng;
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

fn kill_loop(kind: Kind, broker: bool) {
    kill_loop_with(kind, broker, false);
}

fn kill_loop_with(kind: Kind, broker: bool, producer_pid_namespace: bool) {
    let seed = seed();
    eprintln!("kill loop {kind:?} broker={broker} pidns={producer_pid_namespace}: seed {seed}");
    let mut cfg = KillLoopConfig::new(kind, cycles(), broker, seed, PathBuf::from(WORKER));
    cfg.producer_pid_namespace = producer_pid_namespace;
    match run(&cfg) {
        Ok(report) => eprintln!("kill loop {kind:?} broker={broker}: {report}"),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn spsc_direct() {
    kill_loop(Kind::Spsc, false);
}

#[test]
fn spsc_broker() {
    kill_loop(Kind::Spsc, true);
}

#[test]
fn mpmc_direct() {
    kill_loop(Kind::Mpmc, false);
}

#[test]
fn mpmc_broker() {
    kill_loop(Kind::Mpmc, true);
}

/// Producers in a PID namespace of their own: the pid they record means
/// nothing here, and only the kernel's locks tell live from dead. Needs
/// root (CI runs as root).
fn pid_namespace_loop(kind: Kind, broker: bool) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: unshare(CLONE_NEWPID) needs root");
        return;
    }
    kill_loop_with(kind, broker, true);
}

#[test]
fn spsc_direct_producer_in_own_pid_namespace() {
    pid_namespace_loop(Kind::Spsc, false);
}

#[test]
fn mpmc_broker_producer_in_own_pid_namespace() {
    pid_namespace_loop(Kind::Mpmc, true);
}
