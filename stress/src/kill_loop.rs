//! The kill loop: a producer and a consumer process exchange checked
//! messages; a random side is SIGKILLed at a random moment and restarted,
//! again and again. See `stress/README.md` for what is checked.

use crate::compat::{self, Recovered};
use crate::endpoint::{self, Kind, Style, Transport};
use crate::harness::{Checker, Harness, Pair, Side};
use crate::msg::{Rng, Sizes};
use crate::proc::{self, Daemon};
use shmring::broker::CreateOptions;
use shmring::{AnyRing, RingGeometry};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct KillLoopConfig {
    /// Ring kind.
    pub kind: Kind,
    /// Kill-and-restart cycles.
    pub cycles: u32,
    /// Segments from a real daemon (memfds) instead of `/dev/shm`.
    pub broker: bool,
    /// Seed of every random choice (printed; replays the same choices).
    pub seed: u64,
    /// The `shmring-stress-worker` executable.
    pub worker: PathBuf,
    /// A kill comes 0 to this long after traffic was seen flowing.
    pub max_delay: Duration,
    /// The survivor must notice a kill within this.
    pub detection_bound: Duration,
    /// Print progress on stderr.
    pub verbose: bool,
    /// Producers run in a PID namespace of their own (needs root).
    pub producer_pid_namespace: bool,
}

impl KillLoopConfig {
    /// The defaults: kills 0–20 ms into the traffic; a survivor must
    /// notice within 10 s (a hang detector: the library notices in
    /// 100–200 ms, see the medians and maxima it reports).
    pub fn new(kind: Kind, cycles: u32, broker: bool, seed: u64, worker: PathBuf) -> Self {
        KillLoopConfig {
            kind,
            cycles,
            broker,
            seed,
            worker,
            max_delay: Duration::from_millis(20),
            detection_bound: Duration::from_secs(10),
            verbose: false,
            producer_pid_namespace: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct KillLoopReport {
    /// Cycles completed.
    pub cycles: u32,
    /// Producers killed.
    pub producer_kills: u32,
    /// Consumers killed.
    pub consumer_kills: u32,
    /// Messages producers confirmed.
    pub confirmed: u64,
    /// Distinct messages received.
    pub received: u64,
    /// SPSC: repeats of a killed consumer's held message.
    pub repeats: u64,
    /// MPMC: confirmed messages never received.
    pub missing: u64,
    /// MPMC: the queue's recovery counters (if the library has them).
    pub recovered: Option<Recovered>,
    /// Kill-to-notice times.
    pub detections: Vec<Duration>,
    /// Wall time.
    pub elapsed: Duration,
    /// Daemon descriptors at the start and at the end.
    pub daemon_fds: Option<(usize, usize)>,
}

impl KillLoopReport {
    /// Median and maximum detection time.
    pub fn detection_median_max(&self) -> (Duration, Duration) {
        let mut d = self.detections.clone();
        d.sort();
        match d.len() {
            0 => (Duration::ZERO, Duration::ZERO),
            n => (d[n / 2], d[n - 1]),
        }
    }
}

impl fmt::Display for KillLoopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (median, max) = self.detection_median_max();
        write!(
            f,
            "{} cycles ({} producer kills, {} consumer kills) in {:.1?}; {} messages confirmed, {} received",
            self.cycles,
            self.producer_kills,
            self.consumer_kills,
            self.elapsed,
            self.confirmed,
            self.received
        )?;
        if self.repeats > 0 {
            write!(f, ", {} allowed repeats", self.repeats)?;
        }
        write!(f, ", {} missing", self.missing)?;
        if let Some(r) = self.recovered {
            write!(
                f,
                " (recovered: {} dead-sender slots, {} dead-receiver messages)",
                r.dead_sender_slots, r.dead_receiver_messages
            )?;
        }
        write!(f, "; detection median {median:.1?}, max {max:.1?}")?;
        if let Some((a, b)) = self.daemon_fds {
            write!(f, "; daemon fds {a} -> {b}")?;
        }
        Ok(())
    }
}

/// Removes a named segment however the loop ends.
struct Unlink(Option<String>);

impl Drop for Unlink {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = shmring::unlink(&name);
        }
    }
}

/// Ring geometry of the loop: small, so that the ring fills and wraps
/// often and a killed consumer is noticed quickly.
fn geometry(kind: Kind) -> RingGeometry {
    match kind {
        Kind::Spsc => RingGeometry::Spsc {
            capacity: 16 * 1024,
            max_message: 1024,
        },
        Kind::Mpmc => RingGeometry::mpmc(64, 512),
    }
}

/// Runs the loop; `Err` says what went wrong, with the seed.
pub fn run(cfg: &KillLoopConfig) -> Result<KillLoopReport, String> {
    run_inner(cfg).map_err(|e| {
        format!(
            "kill loop ({:?}, {}) failed: {e} [replay: --seed {}]",
            cfg.kind,
            if cfg.broker { "broker" } else { "direct" },
            cfg.seed
        )
    })
}

fn run_inner(cfg: &KillLoopConfig) -> Result<KillLoopReport, String> {
    let started = Instant::now();
    let mut rng = Rng::new(cfg.seed);
    let name = proc::unique_name(match cfg.kind {
        Kind::Spsc => "kill-spsc",
        Kind::Mpmc => "kill-mpmc",
    });
    // Only this run's names: other loops may run in parallel in this process.
    let shm_before = proc::shm_entries(&name);
    let mut daemon = match cfg.broker {
        true => Some(Daemon::start(&cfg.worker)?),
        false => None,
    };
    let fds_before = match &daemon {
        Some(d) => Some(d.quiet_fd_count()?),
        None => None,
    };
    let mut client = match &daemon {
        Some(d) => Some(d.client()?),
        None => None,
    };
    let mut unlink = Unlink(None);
    let geometry = geometry(cfg.kind);
    let sizes = Sizes {
        min: crate::msg::HEADER_LEN,
        max: geometry.max_message() as usize,
    };
    // Held so the ring persists across kills.
    let segment = endpoint::create(client.as_mut(), &name, &CreateOptions::new(geometry))?;
    if client.is_none() {
        unlink.0 = Some(name.clone());
    }
    let transport = match &daemon {
        Some(d) => Transport::Broker(d.socket.clone()),
        None => Transport::Direct,
    };
    let mut h = Harness::new(&cfg.worker);
    h.producers_in_own_pid_namespace = cfg.producer_pid_namespace;
    h.pairs.push(Pair::new(
        cfg.kind,
        transport,
        &name,
        Style::Timeout,
        sizes,
        0,
    ));
    let describe = |segment: &AnyRing| match segment {
        AnyRing::Spsc(r) => format!(
            "[ring: {} messages in flight, producer attached {}, consumer attached {}]",
            r.messages_in_flight(),
            r.is_producer_attached(),
            r.is_consumer_attached()
        ),
        AnyRing::Mpmc(q) => format!(
            "[queue: {} messages in flight, {} live senders, {} live receivers]",
            q.messages_in_flight(),
            q.live_senders(),
            q.live_receivers()
        ),
        AnyRing::PubSub(p) => format!(
            "[pubsub: {} messages in flight, {} subscribers]",
            p.messages_in_flight(),
            p.subscriber_count()
        ),
    };
    h.start_pair(0)
        .map_err(|e| format!("{e} {}", describe(&segment)))?;

    let mut report = KillLoopReport::default();
    for cycle in 0..cfg.cycles {
        let delay = rng.range(0, cfg.max_delay.as_micros() as u64);
        std::thread::sleep(Duration::from_micros(delay));
        let side = match rng.coin() {
            true => Side::Producer,
            false => Side::Consumer,
        };
        let at = h.kill(0, side).map_err(|e| format!("cycle {cycle}: {e}"))?;
        let seen = h.wait_gone(0, at, cfg.detection_bound).map_err(|e| {
            format!(
                "cycle {cycle} ({side:?} killed): {e} {} {}",
                describe(&segment),
                h.describe(0)
            )
        })?;
        report.detections.push(seen);
        match side {
            Side::Producer => report.producer_kills += 1,
            Side::Consumer => report.consumer_kills += 1,
        }
        h.start(0, side)
            .and_then(|()| h.wait_flowing(0))
            .map_err(|e| {
                format!(
                    "cycle {cycle} ({side:?} killed and restarted): {e} {} {}",
                    describe(&segment),
                    h.describe(0)
                )
            })?;
        report.cycles = cycle + 1;
        if cfg.verbose && (cycle + 1) % 100 == 0 {
            eprintln!(
                "  {:?} {}: {} cycles, {} messages received",
                cfg.kind,
                if cfg.broker { "broker" } else { "direct" },
                cycle + 1,
                h.pairs[0].checker.received()
            );
        }
    }
    h.stop_pair(0)?;
    h.drain()?;
    report.confirmed = h.pairs[0].checker.confirmed();
    report.received = h.pairs[0].checker.received();
    match (&h.pairs[0].checker, &segment) {
        (Checker::Spsc(c), _) => {
            c.finish()?;
            report.repeats = c.repeats;
        }
        (Checker::Mpmc(c), AnyRing::Mpmc(q)) => {
            report.recovered = compat::recovered(q);
            let allowed = report.recovered.map_or(0, |r| r.dead_receiver_messages);
            report.missing = c.finish(allowed)?;
        }
        (Checker::Mpmc(_), AnyRing::Spsc(_) | AnyRing::PubSub(_)) => {
            unreachable!("kind mismatch")
        }
    }
    drop(h);
    drop(segment);
    if let Some(c) = client.as_mut() {
        c.unlink(&name)
            .map_err(|e| format!("broker unlink {name}: {e}"))?;
    }
    drop(client);
    drop(unlink);
    if let (Some(d), Some(before)) = (&daemon, fds_before) {
        let after = d.settle_fds(before, Duration::from_secs(5))?;
        report.daemon_fds = Some((before, after));
        if after != before {
            return Err(format!(
                "daemon holds {after} descriptors at the end (not counting its pidfd on this process), {before} at the start: {:?}",
                proc::fd_targets(d.pid().unwrap_or(0))
            ));
        }
    }
    if let Some(d) = daemon.as_mut() {
        d.stop()?;
    }
    let shm_after = proc::shm_entries(&name);
    if shm_after != shm_before {
        return Err(format!(
            "/dev/shm not back to baseline: before {shm_before:?}, after {shm_after:?}"
        ));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
