//! The soak: mixed traffic for a set duration, while the harness's and
//! the daemon's memory and descriptors are sampled every second.
//!
//! Lanes (threads) run episodes back to back until the time is up. An
//! episode picks at random: SPSC or MPMC; a named segment or one from the
//! daemon; blocking, timed, spinning or parking calls; message lengths
//! from one of 1–23 B, 24–256 B, 257 B–4 KiB or 4–64 KiB; and whether the
//! endpoints are threads of this process (MPMC: 1–3 senders and 1–3
//! receivers) or a pair of worker processes. Every endpoint attaches at
//! the start of its episode and leaves at its end: clients join and leave
//! all the time. Every message is checked (content, order per sender,
//! nothing lost or repeated).

use crate::endpoint::{self, Got, Kind, Sent, Style, Transport};
use crate::harness::{Checker, Harness, Pair};
use crate::msg::{self, Rng, Sizes};
use crate::proc::{self, Daemon};
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::{AnyReceiver, AnyRing, AnySender, RingGeometry};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

mod report;
pub use report::{Sample, SoakReport, Totals};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long traffic runs.
    pub duration: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// The `shmring-stress-worker` executable.
    pub worker: PathBuf,
    /// Concurrent lanes of episodes.
    pub lanes: usize,
    /// Growth of anonymous memory allowed after the warm-up (KiB).
    pub rss_slack_kib: u64,
    /// Report segments the daemon still maps at the end as a warning,
    /// not a failure (for CI until the daemon lets go of them; see
    /// `stress/README.md`, findings).
    pub tolerate_daemon_mappings: bool,
    /// Print a line per sample.
    pub verbose: bool,
}

/// The size classes of the issue: 1 B to 64 KiB.
const CLASSES: [Sizes; 4] = [
    Sizes { min: 1, max: 23 },
    Sizes { min: 24, max: 256 },
    Sizes {
        min: 257,
        max: 4096,
    },
    Sizes {
        min: 4097,
        max: 65536,
    },
];

/// Runs the soak. `Err` only if it could not start; failures of traffic
/// or resources are in the report.
pub fn run(cfg: &SoakConfig) -> Result<SoakReport, String> {
    let started = Instant::now();
    let me = std::process::id();
    let harness_fds_start = proc::fd_count(me).map_err(|e| e.to_string())?;
    let shm_before = proc::our_shm_entries();
    let mut daemon = Daemon::start(&cfg.worker)?;
    let daemon_pid = daemon.pid().ok_or("daemon not running")?;
    let daemon_fds_start = daemon.quiet_fd_count()?;
    let deadline = started + cfg.duration;
    let totals = Mutex::new(Totals::default());
    let (stop_sampler, sampler_stop) = mpsc::channel::<()>();
    let mut report = SoakReport::default();

    let samples = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let sampler_stop = sampler_stop;
            let mut samples = Vec::new();
            loop {
                let sample = Sample {
                    at: started.elapsed(),
                    harness: proc::memory(me).unwrap_or_default(),
                    harness_fds: proc::fd_count(me).unwrap_or(0),
                    daemon: proc::memory(daemon_pid).unwrap_or_default(),
                    daemon_fds: proc::fd_count(daemon_pid).unwrap_or(0),
                    daemon_maps: proc::memfd_mappings(daemon_pid),
                };
                if cfg.verbose {
                    let t = totals.lock().map(|t| t.messages).unwrap_or(0);
                    eprintln!(
                        "  {:>5.1}s  messages {t:>10}  harness rss {:>6} KiB anon {:>6} KiB fds {:>3}  daemon rss {:>6} KiB anon {:>5} KiB shmem {:>5} KiB fds {:>3} segments mapped {:>4}",
                        sample.at.as_secs_f64(),
                        sample.harness.rss_kib,
                        sample.harness.anon_kib,
                        sample.harness_fds,
                        sample.daemon.rss_kib,
                        sample.daemon.anon_kib,
                        sample.daemon.shmem_kib,
                        sample.daemon_fds,
                        sample.daemon_maps
                    );
                }
                samples.push(sample);
                match sampler_stop.recv_timeout(Duration::from_secs(1)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return samples,
                }
            }
        });
        let lanes: Vec<_> = (0..cfg.lanes)
            .map(|lane| {
                let totals = &totals;
                let socket = daemon.socket.clone();
                scope.spawn(move || run_lane(cfg, lane, deadline, &socket, totals))
            })
            .collect();
        for lane in lanes {
            if lane.join().is_err() {
                if let Ok(mut t) = totals.lock() {
                    t.errors.push("a lane panicked".into());
                }
            }
        }
        let _ = stop_sampler.send(());
        sampler.join().unwrap_or_default()
    });
    report.samples = samples;
    report.totals = totals.into_inner().unwrap_or_default();

    // Descriptors (see `Daemon::fds_but_our_watch` for the one pidfd on
    // this process that the daemon keeps by design).
    let daemon_fds_end = daemon.settle_fds(daemon_fds_start, Duration::from_secs(5))?;
    report.daemon_fds = (daemon_fds_start, daemon_fds_end);
    if daemon_fds_end != daemon_fds_start {
        report.failures.push(format!(
            "daemon descriptors: {daemon_fds_start} at start, {daemon_fds_end} at end (not counting its pidfd on this process): {:?}",
            proc::fd_targets(daemon_pid)
        ));
    }
    // Every segment was removed and every client but this process left:
    // the daemon should map no segment any more.
    let maps_end = proc::memfd_mappings(daemon_pid);
    report.daemon_maps_end = maps_end;
    if maps_end != 0 {
        let what = format!(
            "daemon still maps {maps_end} segments at the end, all of them removed (its watch on this live process keeps every ring the process ever held)"
        );
        match cfg.tolerate_daemon_mappings {
            true => report.warnings.push(what),
            false => report.failures.push(what),
        }
    }
    daemon.stop()?;
    drop(daemon);
    let harness_fds_end = proc::fd_count(me).map_err(|e| e.to_string())?;
    report.harness_fds = (harness_fds_start, harness_fds_end);
    if harness_fds_end != harness_fds_start {
        report.failures.push(format!(
            "harness descriptors: {harness_fds_start} at start, {harness_fds_end} at end: {:?}",
            proc::fd_targets(me)
        ));
    }
    let shm_after = proc::our_shm_entries();
    if shm_after != shm_before {
        report.failures.push(format!(
            "/dev/shm: {shm_before:?} before, {shm_after:?} after"
        ));
    }
    // Memory: the warm-up is the first quarter (at most 10 s); after it,
    // anonymous memory may not grow past the slack.
    let warmup = (cfg.duration / 4).min(Duration::from_secs(10));
    let after: Vec<&Sample> = report.samples.iter().filter(|s| s.at >= warmup).collect();
    if let Some(first) = after.first() {
        let h_max = after.iter().map(|s| s.harness.anon_kib).max().unwrap_or(0);
        let d_max = after.iter().map(|s| s.daemon.anon_kib).max().unwrap_or(0);
        let d_rss = after.iter().map(|s| s.daemon.rss_kib).max().unwrap_or(0);
        report.daemon_rss_growth = (first.daemon.rss_kib, d_rss);
        // The daemon's whole RSS, not only anonymous memory: it maps the
        // segments it creates, and those must be let go as well. (The
        // harness's RSS follows the segments in flight; its anonymous
        // memory is what must stay flat.)
        if d_rss > first.daemon.rss_kib + cfg.rss_slack_kib {
            report.failures.push(format!(
                "daemon RSS grew from {} KiB to {d_rss} KiB after warm-up (slack {} KiB)",
                first.daemon.rss_kib, cfg.rss_slack_kib
            ));
        }
        report.anon_growth = (
            (first.harness.anon_kib, h_max),
            (first.daemon.anon_kib, d_max),
        );
        if h_max > first.harness.anon_kib + cfg.rss_slack_kib {
            report.failures.push(format!(
                "harness anonymous memory grew from {} KiB to {h_max} KiB after warm-up (slack {} KiB)",
                first.harness.anon_kib, cfg.rss_slack_kib
            ));
        }
        if d_max > first.daemon.anon_kib + cfg.rss_slack_kib {
            report.failures.push(format!(
                "daemon anonymous memory grew from {} KiB to {d_max} KiB after warm-up (slack {} KiB)",
                first.daemon.anon_kib, cfg.rss_slack_kib
            ));
        }
    } else {
        report
            .failures
            .push("no sample after the warm-up: run longer".into());
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What one episode does.
#[derive(Debug, Clone, Copy)]
struct Episode {
    kind: Kind,
    broker: bool,
    processes: bool,
    style: Style,
    sizes: Sizes,
    senders: u32,
    receivers: u32,
    budget: Duration,
}

fn run_lane(
    cfg: &SoakConfig,
    lane: usize,
    deadline: Instant,
    socket: &Path,
    totals: &Mutex<Totals>,
) {
    let mut rng = Rng::new(msg::mix(cfg.seed ^ (lane as u64 + 1)));
    let mut number = 0u32;
    while Instant::now() + Duration::from_millis(100) < deadline {
        number += 1;
        let kind = if rng.coin() { Kind::Spsc } else { Kind::Mpmc };
        let processes = rng.range(0, 3) == 0;
        let mut sizes = rng.pick(&CLASSES);
        if processes && !sizes.self_describing() {
            sizes = CLASSES[1];
        }
        let (senders, receivers) = match (kind, processes, sizes.self_describing()) {
            (Kind::Mpmc, false, true) => (rng.range(1, 3) as u32, rng.range(1, 3) as u32),
            _ => (1, 1),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let ep = Episode {
            kind,
            broker: rng.coin(),
            processes,
            style: rng.pick(&[Style::Timeout, Style::Blocking, Style::Spin, Style::Park]),
            sizes,
            senders,
            receivers,
            budget: Duration::from_millis(rng.range(100, 1200)).min(left),
        };
        let stream = (lane as u32) << 24 | number << 4;
        let name = proc::unique_name("soak");
        let result = match ep.processes {
            true => process_episode(cfg, &ep, &name, socket, stream),
            false => thread_episode(&ep, &name, socket, stream),
        };
        let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
        let label = format!(
            "{:?}/{}/{}",
            ep.kind,
            if ep.broker { "broker" } else { "direct" },
            if ep.processes { "processes" } else { "threads" }
        )
        .to_lowercase();
        *t.episodes.entry(label).or_insert(0) += 1;
        match result {
            Ok((messages, bytes)) => {
                t.messages += messages;
                t.bytes += bytes;
            }
            Err(e) => t.errors.push(format!(
                "lane {lane} episode {number} {ep:?}: {e} [seed {}]",
                cfg.seed
            )),
        }
    }
}

/// Ring geometry for a size class.
fn geometry(kind: Kind, sizes: Sizes) -> RingGeometry {
    match kind {
        Kind::Spsc => {
            let max = (sizes.max as u64).next_power_of_two().max(64);
            RingGeometry::Spsc {
                capacity: max * 4,
                max_message: max,
            }
        }
        Kind::Mpmc => {
            let slots = if sizes.max > 4096 { 16 } else { 64 };
            RingGeometry::mpmc(slots, sizes.max as u64).with_priorities(2)
        }
    }
}

/// Creates the episode's segment (the harness side keeps it open) and
/// removes it on drop.
struct Segment {
    name: String,
    client: Option<BrokerClient>,
    _ring: AnyRing,
}

impl Segment {
    fn create(ep: &Episode, name: &str, socket: &Path) -> Result<Segment, String> {
        let mut client = match ep.broker {
            true => Some(BrokerClient::connect_to(socket).map_err(|e| format!("connect: {e}"))?),
            false => None,
        };
        let options = CreateOptions::new(geometry(ep.kind, ep.sizes));
        let ring = endpoint::create(client.as_mut(), name, &options)?;
        Ok(Segment {
            name: name.to_owned(),
            client,
            _ring: ring,
        })
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        match self.client.as_mut() {
            Some(c) => {
                let _ = c.unlink(&self.name);
            }
            None => {
                let _ = shmring::unlink(&self.name);
            }
        }
    }
}

fn transport(ep: &Episode, socket: &Path) -> Transport {
    match ep.broker {
        true => Transport::Broker(socket.to_path_buf()),
        false => Transport::Direct,
    }
}

/// Both endpoints are worker processes (started, run, told to finish).
fn process_episode(
    cfg: &SoakConfig,
    ep: &Episode,
    name: &str,
    socket: &Path,
    stream: u32,
) -> Result<(u64, u64), String> {
    let _segment = Segment::create(ep, name, socket)?;
    let mut h = Harness::new(&cfg.worker);
    h.pairs.push(Pair::new(
        ep.kind,
        transport(ep, socket),
        name,
        ep.style,
        ep.sizes,
        stream,
    ));
    h.start_pair(0)?;
    h.pump_for(Instant::now() + ep.budget)?;
    h.stop_pair(0)?;
    h.drain()?;
    let pair = &h.pairs[0];
    match &pair.checker {
        Checker::Spsc(c) => c.finish()?,
        Checker::Mpmc(c) => c.finish(0).map(|_| ())?,
    }
    let n = pair.checker.received();
    Ok((n, n * (ep.sizes.min + ep.sizes.max) as u64 / 2))
}

/// Endpoints are threads of this process, attached for this episode.
fn thread_episode(
    ep: &Episode,
    name: &str,
    socket: &Path,
    stream: u32,
) -> Result<(u64, u64), String> {
    let segment = Segment::create(ep, name, socket)?;
    let transport = transport(ep, socket);
    let open_tx = || endpoint::open::<AnySender>(ep.kind, &transport, name, ep.style);
    let open_rx = || endpoint::open::<AnyReceiver>(ep.kind, &transport, name, ep.style);
    // Every endpoint attaches before any traffic, so that a receiver
    // never sees "all senders gone" before the last one even started.
    let txs = (0..ep.senders)
        .map(|_| open_tx())
        .collect::<Result<Vec<_>, _>>()?;
    let rxs = (0..ep.receivers)
        .map(|_| open_rx())
        .collect::<Result<Vec<_>, _>>()?;
    let stop_at = Instant::now() + ep.budget;
    let single = ep.senders == 1 && ep.receivers == 1;
    let result = std::thread::scope(|scope| {
        let senders: Vec<_> = txs
            .into_iter()
            .enumerate()
            .map(|(i, mut tx)| {
                let stream = stream + i as u32;
                scope.spawn(move || -> Result<(u64, u64), String> {
                    if let (AnySender::Mpmc(s), true) = (&tx.handle, i % 2 == 1) {
                        tx.handle = AnySender::Mpmc(s.with_priority(1));
                    }
                    let mut buf = Vec::new();
                    let (mut seq, mut bytes) = (0u64, 0u64);
                    while Instant::now() < stop_at {
                        let len = ep.sizes.len_of(stream, seq);
                        msg::fill(&mut buf, stream, seq, len);
                        match endpoint::send(&mut tx.handle, &buf, ep.style)? {
                            Sent::Yes => {
                                seq += 1;
                                bytes += len as u64;
                            }
                            Sent::Later => {}
                            Sent::Gone => return Err("receivers gone while sending".into()),
                        }
                    }
                    Ok((seq, bytes))
                })
            })
            .collect();
        let receivers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                scope.spawn(move || -> Result<HashMap<u32, Bits>, String> {
                    // One bit per message and stream: a few hundred KiB for
                    // a million messages, so the soak's own memory stays
                    // small next to what it watches.
                    let mut got: HashMap<u32, Bits> = HashMap::new();
                    let mut count = 0u64;
                    let mut last: HashMap<u32, u64> = HashMap::new();
                    let mut scratch = Vec::new();
                    let limit = stop_at + Duration::from_secs(30);
                    loop {
                        let mut checked = Ok((0, 0));
                        let r = endpoint::recv(&mut rx.handle, ep.style, |m| {
                            checked = match single {
                                // One sender, one receiver: the next message
                                // is known, so even 1-byte ones are checked.
                                true => {
                                    msg::check_expected(m, stream, count, ep.sizes, &mut scratch)
                                        .map(|()| (stream, count))
                                }
                                false => msg::parse(m),
                            };
                        })?;
                        match r {
                            Got::Yes => {
                                let (s, q) = checked.map_err(|e| format!("bad message: {e}"))?;
                                if let Some(&l) = last.get(&s) {
                                    if q <= l {
                                        return Err(format!("stream {s}: seq {q} after {l}"));
                                    }
                                }
                                last.insert(s, q);
                                got.entry(s).or_default().set(q);
                                count += 1;
                            }
                            Got::Later => {}
                            Got::Gone => return Ok(got),
                        }
                        if Instant::now() > limit {
                            return Err("receiver did not see the end within 30 s".into());
                        }
                    }
                })
            })
            .collect();
        let mut sent: HashMap<u32, u64> = HashMap::new();
        let mut bytes = 0;
        let mut errors = Vec::new();
        for (i, s) in senders.into_iter().enumerate() {
            match s.join() {
                Ok(Ok((n, b))) => {
                    sent.insert(stream + i as u32, n);
                    bytes += b;
                }
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("sender panicked".into()),
            }
        }
        let mut all: HashMap<u32, Bits> = HashMap::new();
        for r in receivers {
            match r.join() {
                Ok(Ok(got)) => {
                    for (stream, bits) in got {
                        let twice = all.entry(stream).or_default().merge(&bits);
                        if twice > 0 {
                            errors.push(format!(
                                "stream {stream}: {twice} messages received by two receivers"
                            ));
                        }
                    }
                }
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("receiver panicked".into()),
            }
        }
        let mut total = 0;
        for (s, n) in &sent {
            let bits = all.remove(s).unwrap_or_default();
            let got = bits.count();
            total += got;
            if got != *n || !bits.first(*n) {
                errors.push(format!(
                    "stream {s}: {n} sent, {got} received (all of 0..{n}: {})",
                    bits.first(*n)
                ));
            }
        }
        if !all.is_empty() {
            errors.push(format!(
                "messages of streams nobody sent: {:?}",
                all.keys().collect::<Vec<_>>()
            ));
        }
        match errors.is_empty() {
            true => Ok((total, bytes)),
            false => Err(errors.join("; ")),
        }
    });
    drop(segment);
    result
}

/// A set of sequence numbers, one bit each.
#[derive(Debug, Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, seq: u64) {
        let word = (seq / 64) as usize;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (seq % 64);
    }

    /// Adds `other`; returns how many of its bits were set already.
    fn merge(&mut self, other: &Bits) -> u64 {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        let mut twice = 0;
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            twice += u64::from((*a & b).count_ones());
            *a |= b;
        }
        twice
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether exactly `0..n` are set.
    fn first(&self, n: u64) -> bool {
        let full_words = (n / 64) as usize;
        let tail = n % 64;
        self.0
            .iter()
            .enumerate()
            .all(|(i, &w)| match i.cmp(&full_words) {
                std::cmp::Ordering::Less => w == u64::MAX,
                std::cmp::Ordering::Equal => w == (1u64 << tail) - 1,
                std::cmp::Ordering::Greater => w == 0,
            })
            && self.0.len() >= full_words + usize::from(tail > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    #[test]
    fn bits_know_exactly_the_first_n() {
        for n in [0u64, 1, 63, 64, 65, 200] {
            let mut b = Bits::default();
            (0..n).for_each(|q| b.set(q));
            assert!(b.first(n), "{n}");
            assert_eq!(b.count(), n);
            if n > 0 {
                assert!(!b.first(n - 1));
                assert!(!b.first(n + 1));
            }
        }
        let mut a = Bits::default();
        a.set(3);
        let mut b = Bits::default();
        b.set(3);
        b.set(70);
        assert_eq!(a.merge(&b), 1);
        assert_eq!(a.count(), 2);
    }
}
