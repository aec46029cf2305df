//! Measuring one row: set the mechanism up, start the peer (or thread),
//! run the loops, and turn the runs into a [`Row`] of medians.

use crate::Result;
use crate::link::{self, Driver, Ends, Pattern, ThreadEnds, Unsupported};
use crate::mechanism::Mechanism;
use crate::peer::{Peer, Role};
use crate::pin::{cpu_pair, pin_current_thread};
use crate::plan::{Plan, size_label};
use crate::progress::Progress;
use crate::report::{Row, msgs, nanos};
use crate::traffic::{self, LatencyRun, Rx, ThroughputRun, Tx};
use crate::watchdog::Watchdog;
use std::time::{Duration, Instant};

/// Everything a bench target needs to measure rows.
#[derive(Debug)]
pub struct Runner {
    /// What to measure.
    pub plan: Plan,
    /// The two CPUs, if there are two.
    pub cpus: Option<(usize, usize)>,
    /// CPUs the bench could run on before it pinned itself.
    pub cpu_count: usize,
    /// Path of `shmring-bench-peer`.
    pub peer_exe: &'static str,
    /// Row progress on stderr.
    pub progress: Progress,
    watchdog: Watchdog,
}

const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

impl Runner {
    /// A runner for `total` rows; pins the calling thread to the first CPU.
    pub fn new(what: &'static str, total: usize, peer_exe: &'static str) -> Runner {
        let plan = Plan::from_env();
        let cpus = cpu_pair();
        let cpu_count = std::thread::available_parallelism().map_or(1, |n| n.get());
        if let Some((ours, _)) = cpus {
            pin_current_thread(ours);
        }
        Runner {
            plan,
            cpus,
            cpu_count,
            peer_exe,
            progress: Progress::new(what, total),
            watchdog: Watchdog::start(),
        }
    }

    /// The machine, for the report.
    pub fn machine(&self) -> crate::report::Machine {
        crate::report::Machine::here(self.cpu_count, self.cpus, self.plan.quick)
    }

    /// The latency rows (round trip, one-way) of `mechanism` at `size`.
    pub fn latency(&mut self, mechanism: Mechanism, size: usize) -> [Row; 2] {
        let mut round_trip = Row::new(mechanism, "round-trip", size);
        let mut one_way = Row::new(mechanism, "one-way", size);
        self.progress
            .start(&format!("{mechanism}, {}", size_label(size)));
        match self.measure_latency(mechanism, size) {
            Ok((rtt, oneway)) => {
                fill_latency(&mut round_trip, &rtt);
                fill_latency(&mut one_way, &oneway);
                if let Some(note) = mechanism.note() {
                    for row in [&mut round_trip, &mut one_way] {
                        row.note.get_or_insert_with(|| note.to_string());
                    }
                }
                self.progress.finish(&format!(
                    "round trip p50 {}, one-way p50 {}",
                    nanos(round_trip.p50_ns.unwrap_or(0)),
                    nanos(one_way.p50_ns.unwrap_or(0))
                ));
            }
            Err(err) => {
                let note = explain(&*err);
                self.progress.finish(&note);
                round_trip.note = Some(note.clone());
                one_way.note = Some(note);
            }
        }
        [round_trip, one_way]
    }

    /// The fan-out row of `cell`: subscriber processes reading one
    /// publisher's messages (`crate::fanout`).
    pub fn fanout(&mut self, cell: crate::fanout::Cell) -> crate::fanout::FanoutRow {
        let label = cell.label();
        self.progress.start(&label);
        self.watchdog.arm(&label, self.plan.row_limit);
        let outcome =
            crate::fanout::measure(self.peer_exe, &self.plan, self.cpus, &self.watchdog, cell);
        self.watchdog.disarm();
        let row =
            outcome.unwrap_or_else(|err| crate::fanout::FanoutRow::failed(cell, explain(&*err)));
        self.progress.finish(&crate::fanout::outcome(&row));
        row
    }

    /// The throughput row of `mechanism` at `size`.
    pub fn throughput(&mut self, mechanism: Mechanism, size: usize) -> Row {
        let mut row = Row::new(mechanism, "stream", size);
        self.progress
            .start(&format!("{mechanism}, {}", size_label(size)));
        match self.measure_throughput(mechanism, size) {
            Ok(runs) => {
                row.runs = runs.len();
                let per_s = median(
                    runs.iter()
                        .map(|r| r.messages as f64 * 1e9 / r.nanos as f64),
                );
                let bytes = median(runs.iter().map(|r| r.bytes as f64 * 1e9 / r.nanos as f64));
                row.msgs_per_s = Some(per_s);
                row.bytes_per_s = Some(bytes);
                row.note = mechanism.note().map(str::to_string);
                self.progress.finish(&msgs(per_s));
            }
            Err(err) => {
                let note = explain(&*err);
                self.progress.finish(&note);
                row.note = Some(note);
            }
        }
        row
    }

    fn measure_latency(
        &mut self,
        mechanism: Mechanism,
        size: usize,
    ) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)> {
        let plan = self.plan.clone();
        let sender = RoundTrips { size, plan };
        let row = format!("{mechanism}, {} (latency)", size_label(size));
        if mechanism.is_tokio() {
            self.watchdog.arm(&row, self.plan.row_limit);
            let outcome = tokio_row(mechanism, size, &self.plan, self.cpus);
            self.watchdog.disarm();
            return outcome;
        }
        if mechanism.in_process() {
            let (ours, theirs) = link::in_process_pair(mechanism, size, Pattern::RoundTrip)?;
            return self.in_process(&row, ours, theirs, sender, EchoThread);
        }
        self.with_peer(&row, Role::Echo, mechanism, size, sender)
    }

    fn measure_throughput(
        &mut self,
        mechanism: Mechanism,
        size: usize,
    ) -> Result<Vec<ThroughputRun>> {
        let plan = self.plan.clone();
        let row = format!("{mechanism}, {} (throughput)", size_label(size));
        if mechanism == Mechanism::Memcpy {
            return Ok(memcpy_runs(size, &plan));
        }
        let sender = Streamer { size, plan };
        if mechanism.in_process() {
            let (ours, theirs) = link::in_process_pair(mechanism, size, Pattern::Stream)?;
            let ((), runs) = self.in_process(&row, ours, theirs, sender, SinkThread)?;
            return Ok(runs);
        }
        let ((), runs) = self.with_peer(&row, Role::Sink, mechanism, size, sender)?;
        Ok(runs)
    }

    fn with_peer<D: Driver, P: serde::de::DeserializeOwned>(
        &mut self,
        row: &str,
        role: Role,
        mechanism: Mechanism,
        size: usize,
        driver: D,
    ) -> Result<(D::Out, P)> {
        self.watchdog.arm(row, self.plan.row_limit);
        let outcome = (|| {
            let mut prepared = link::prepare(mechanism, size, role.pattern())?;
            // Declared before the peer so that, on an early return, the
            // peer is killed first and only then are its files removed.
            let mut cleanup;
            let mut peer = Peer::spawn(
                self.peer_exe,
                role,
                mechanism,
                size,
                &mut prepared.handover,
                self.cpus.map(|(_, theirs)| theirs),
            )?;
            self.watchdog.track(
                peer.pid(),
                prepared.cleanup.sysv_ids(),
                prepared.cleanup.tags(),
            );
            let ends;
            (ends, cleanup) = prepared.connect()?;
            peer.wait_ready(ATTACH_TIMEOUT)?;
            cleanup.peer_attached();
            let ours = ends.drive(driver)?;
            let theirs = peer.finish(ATTACH_TIMEOUT)?;
            drop(cleanup);
            Ok((ours, theirs))
        })();
        self.watchdog.disarm();
        outcome
    }

    fn in_process<D: Driver + Send, E: Driver + Send + 'static>(
        &mut self,
        row: &str,
        ours: ThreadEnds,
        theirs: ThreadEnds,
        driver: D,
        other: E,
    ) -> Result<(D::Out, E::Out)>
    where
        E::Out: Send + 'static,
    {
        self.watchdog.arm(row, self.plan.row_limit);
        let cpu = self.cpus.map(|(_, theirs)| theirs);
        let thread = std::thread::spawn(move || {
            if let Some(cpu) = cpu {
                pin_current_thread(cpu);
            }
            theirs.drive(other).map_err(|e| e.to_string())
        });
        let ours = ours.drive(driver);
        let theirs = thread.join().map_err(|_| "the other thread panicked")?;
        self.watchdog.disarm();
        Ok((ours?, theirs?))
    }
}

#[cfg(feature = "tokio")]
fn tokio_row(
    mechanism: Mechanism,
    size: usize,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)> {
    crate::tokio_rows::measure(mechanism, size, plan, cpus)
}

#[cfg(not(feature = "tokio"))]
fn tokio_row(
    mechanism: Mechanism,
    _: usize,
    _: &Plan,
    _: Option<(usize, usize)>,
) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)> {
    Err(format!("{mechanism}: shmring-benches was built without its `tokio` feature").into())
}

fn explain(err: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    match err.downcast_ref::<Unsupported>() {
        Some(u) => format!("cannot carry this size here: {u}"),
        None => format!("failed: {err}"),
    }
}

/// The median of some values (the lower middle one for an even count).
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    median(values.map(|v| v as f64)) as u64
}

fn fill_latency(row: &mut Row, runs: &[LatencyRun]) {
    if runs.is_empty() {
        row.note = Some("no measured run".into());
        return;
    }
    row.runs = runs.len();
    row.p50_ns = Some(median_u64(runs.iter().map(|r| r.p50)));
    row.p99_ns = Some(median_u64(runs.iter().map(|r| r.p99)));
    row.p999_ns = Some(median_u64(runs.iter().map(|r| r.p999)));
    row.max_ns = Some(median_u64(runs.iter().map(|r| r.max)));
}

struct RoundTrips {
    size: usize,
    plan: Plan,
}

impl Driver for RoundTrips {
    type Out = Vec<LatencyRun>;
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
        let (Some(mut tx), Some(mut rx)) = (ends.tx, ends.rx) else {
            return Err("a round trip needs both directions".into());
        };
        let p = &self.plan;
        let timing = traffic::Timing {
            warm_up: p.warm_up,
            run: p.latency_run,
            runs: p.runs,
        };
        traffic::round_trips(&mut tx, &mut rx, self.size, timing)
    }
}

struct Streamer {
    size: usize,
    plan: Plan,
}

impl Driver for Streamer {
    type Out = ();
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<()> {
        let Some(mut tx) = ends.tx else {
            return Err("a stream needs the sending direction".into());
        };
        let p = &self.plan;
        traffic::stream(&mut tx, self.size, p.warm_up, p.run, p.runs)
    }
}

struct EchoThread;

impl Driver for EchoThread {
    type Out = Vec<LatencyRun>;
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
        let (Some(mut tx), Some(mut rx)) = (ends.tx, ends.rx) else {
            return Err("echo needs both directions".into());
        };
        traffic::echo(&mut tx, &mut rx)
    }
}

struct SinkThread;

impl Driver for SinkThread {
    type Out = Vec<ThroughputRun>;
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
        let Some(mut rx) = ends.rx else {
            return Err("sink needs the receiving direction".into());
        };
        traffic::sink(&mut rx)
    }
}

/// The ceiling for moving bytes once: one thread copying each message
/// into the next place of a ring-sized buffer (4 MiB or four messages,
/// like the SPSC ring the stream rows use), runs timed like the others.
fn memcpy_runs(size: usize, plan: &Plan) -> Vec<ThroughputRun> {
    let source = traffic::message(size);
    let slots = ((4 << 20) / size).max(4);
    let mut ring = vec![0u8; slots * size];
    let mut next = 0;
    let mut copy_for = |how_long: Duration| -> (u64, u64) {
        let started = Instant::now();
        let until = started + how_long;
        let mut messages = 0u64;
        loop {
            for _ in 0..64 {
                ring[next * size..(next + 1) * size].copy_from_slice(&source);
                next = (next + 1) % slots;
            }
            messages += 64;
            std::hint::black_box(&mut ring);
            if Instant::now() >= until {
                return (messages, started.elapsed().as_nanos() as u64);
            }
        }
    };
    copy_for(plan.warm_up);
    (0..plan.runs)
        .map(|_| {
            let (messages, nanos) = copy_for(plan.run);
            ThroughputRun {
                messages,
                bytes: messages * size as u64,
                nanos,
            }
        })
        .collect()
}
