//! The publish/subscribe kill loop: one publisher and several subscriber
//! processes on one ring; the publisher or a subscriber is SIGKILLed at a
//! random moment and restarted, again and again.
//!
//! Messages are those of [`crate::msg`]: the stream is the publisher's
//! incarnation, the sequence number the ring's (the publisher sends
//! message `published()`, so a successor continues where the killed one
//! stopped). Each subscriber checks everything itself, as it receives:
//!
//! - every message is intact (checksum, length) and is message
//!   `guard.sequence()`, which is the subscriber's own count: from where
//!   it joined, every sequence number is a message received or, lossy
//!   only, one of the `n` of a `Lagged(n)`; a lossless ring never lags;
//! - streams never go back (a later publisher's messages come after an
//!   earlier one's).
//!
//! The harness checks what needs more than one process: a killed
//! publisher is noticed (`Disconnected`) by every live subscriber within
//! the detection bound; a lossless publisher gets past a killed
//! subscriber (a ring beyond where it was) within the same bound; a new
//! publisher starts at or after the last message its predecessor
//! reported; and at the end, once the last publisher stopped, every
//! subscriber reached its last message and received + missed equals
//! what was published since it joined, with `missed()` equal to the sum
//! of the `Lagged(n)` it saw (0 when lossless). No segment is left.
//!
//! Workers speak in text lines, each written with one `write` (shorter
//! than `PIPE_BUF`, so a killed worker leaves whole lines only):
//!
//! | line                                   | from       | meaning                         |
//! |----------------------------------------|------------|---------------------------------|
//! | `ready FIRST`                          | publisher  | attached; next message is FIRST |
//! | `at NEXT`                              | publisher  | published up to NEXT            |
//! | `joined CURSOR`                        | subscriber | attached; starts at CURSOR      |
//! | `at NEXT`                              | subscriber | read (or lost) up to NEXT       |
//! | `gone NEXT`                            | subscriber | `Disconnected`, once per loss   |
//! | `done NEXT R M L`                      | either     | stopped cleanly (R, M, L: subscribers' received, missed, lagged) |
//! | `bad TEXT`                             | either     | a check failed (exit status 12) |

mod worker;

pub use worker::{WorkerArgs, worker};

use crate::msg::Rng;
use crate::proc;
use shmring::{Delivery, PubSub, PubSubBuilder};
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Deadline of a worker's timed calls: above the 100 ms liveness interval
/// (see `endpoint::POLL`).
const POLL: Duration = crate::endpoint::POLL;

/// Slots of the loop's ring: small, so that a lossless publisher is often
/// blocked on a subscriber and a lossy subscriber often lags.
const SLOTS: u64 = 16;

/// Largest message.
const SLOT_SIZE: u64 = 256;

/// A worker reports its position after this many messages.
const REPORT_EVERY: u64 = 32;

/// What to run.
#[derive(Debug, Clone)]
pub struct PubSubLoopConfig {
    /// Lossless or lossy.
    pub delivery: Delivery,
    /// Kill-and-restart cycles.
    pub cycles: u32,
    /// Subscriber processes running at once.
    pub subscribers: usize,
    /// Seed of every random choice (printed; replays the same choices).
    pub seed: u64,
    /// The `shmring-stress-worker` executable (or `stress`).
    pub worker: PathBuf,
    /// A kill comes 0 to this long after traffic was seen flowing.
    pub max_delay: Duration,
    /// Subscribers must notice a killed publisher, and a lossless
    /// publisher must get past a killed subscriber, within this (a hang
    /// detector: the library's bound is one liveness interval, 100 ms,
    /// plus a worker's 250 ms poll).
    pub detection_bound: Duration,
    /// Print progress on stderr.
    pub verbose: bool,
}

impl PubSubLoopConfig {
    /// Three subscribers, kills 0–20 ms into the traffic, a 10 s bound.
    pub fn new(delivery: Delivery, cycles: u32, seed: u64, worker: PathBuf) -> Self {
        PubSubLoopConfig {
            delivery,
            cycles,
            subscribers: 3,
            seed,
            worker,
            max_delay: Duration::from_millis(20),
            detection_bound: Duration::from_secs(10),
            verbose: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct PubSubLoopReport {
    /// Cycles completed.
    pub cycles: u32,
    /// Publishers killed.
    pub publisher_kills: u32,
    /// Subscribers killed.
    pub subscriber_kills: u32,
    /// Messages published (the ring's last sequence number).
    pub published: u64,
    /// Messages received, by the subscribers that ran to the end.
    pub received: u64,
    /// Messages those subscribers lost to the publisher (lossy).
    pub missed: u64,
    /// Killed publisher to its subscribers' `Disconnected` (the slowest).
    pub detections: Vec<Duration>,
    /// Killed subscriber to its lossless publisher a ring past it.
    pub resumes: Vec<Duration>,
    /// Wall time.
    pub elapsed: Duration,
}

fn median_max(d: &[Duration]) -> (Duration, Duration) {
    let mut d = d.to_vec();
    d.sort();
    match d.len() {
        0 => (Duration::ZERO, Duration::ZERO),
        n => (d[n / 2], d[n - 1]),
    }
}

impl fmt::Display for PubSubLoopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dm, dx) = median_max(&self.detections);
        write!(
            f,
            "{} cycles ({} publisher kills, {} subscriber kills) in {:.1?}; {} published; \
             surviving subscribers received {} + missed {}; disconnect seen: median {dm:.1?}, max {dx:.1?}",
            self.cycles,
            self.publisher_kills,
            self.subscriber_kills,
            self.elapsed,
            self.published,
            self.received,
            self.missed
        )?;
        if !self.resumes.is_empty() {
            let (rm, rx) = median_max(&self.resumes);
            write!(
                f,
                "; publisher past a killed subscriber: median {rm:.1?}, max {rx:.1?}"
            )?;
        }
        Ok(())
    }
}

/// What the harness knows of one worker.
#[derive(Debug, Default)]
struct State {
    /// `ready`/`joined` position.
    start: Option<u64>,
    /// Last `at`.
    at: u64,
    /// When it last said `gone`.
    gone_at: Option<Instant>,
    /// Its `done` numbers.
    done: Option<[u64; 4]>,
    /// Its output ended.
    ended: bool,
}

/// One line (or the end of the output: `None`) of a worker.
struct Line {
    at: Instant,
    worker: usize,
    text: Option<String>,
}

struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The worker processes (killed and reaped on drop) and their lines.
struct Harness {
    exe: PathBuf,
    name: String,
    rng: Rng,
    running: HashMap<usize, Running>,
    state: HashMap<usize, State>,
    /// Killed or stopped on purpose: the end of their output is expected.
    expected_end: Vec<usize>,
    next_id: usize,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for (_, mut r) in self.running.drain() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

impl Harness {
    fn new(exe: &Path, name: &str, seed: u64) -> Harness {
        let (tx, rx) = mpsc::channel();
        Harness {
            exe: exe.to_path_buf(),
            name: name.to_owned(),
            rng: Rng::new(seed ^ 0x5eed),
            running: HashMap::new(),
            state: HashMap::new(),
            expected_end: Vec::new(),
            next_id: 0,
            tx,
            rx,
        }
    }

    fn spawn(&mut self, role: &str, stream: u32) -> Result<usize, String> {
        let mut command = Command::new(&self.exe);
        command
            .args(["pubsub-worker", role, "--name", &self.name])
            .args(["--stream", &stream.to_string()])
            .args(["--seed", &self.rng.next_u64().to_string()]);
        if role == "subscriber" && self.rng.range(0, 3) == 0 {
            command.arg("--oldest");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.exe.display()))?;
        let id = self.next_id;
        self.next_id += 1;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(stdout).lines() {
                let Ok(text) = text else { break };
                let line = Line {
                    at: Instant::now(),
                    worker: id,
                    text: Some(text),
                };
                if tx.send(line).is_err() {
                    return;
                }
            }
            let _ = tx.send(Line {
                at: Instant::now(),
                worker: id,
                text: None,
            });
        });
        let stdin = child.stdin.take();
        self.running.insert(id, Running { child, stdin });
        self.state.insert(id, State::default());
        Ok(id)
    }

    /// Starts a worker and waits until it attached; returns its id.
    fn start(&mut self, role: &str, stream: u32) -> Result<usize, String> {
        let id = self.spawn(role, stream)?;
        self.pump_until(crate::harness::STEP_LIMIT, |h| h.state[&id].start.is_some())
            .map_err(|e| format!("{role} (stream {stream}) did not attach: {e}"))?;
        Ok(id)
    }

    fn kill(&mut self, id: usize) -> Result<Instant, String> {
        let mut r = self.running.remove(&id).ok_or("no such worker")?;
        self.expected_end.push(id);
        let at = Instant::now();
        r.child.kill().map_err(|e| format!("kill: {e}"))?;
        r.child.wait().map_err(|e| format!("wait: {e}"))?;
        self.pump_until(crate::harness::STEP_LIMIT, |h| h.state[&id].ended)?;
        Ok(at)
    }

    /// Closes the stdin of `ids` (their cue to stop) and waits for them
    /// to say `done` and exit 0.
    fn stop(&mut self, ids: &[usize]) -> Result<(), String> {
        for id in ids {
            self.expected_end.push(*id);
            if let Some(r) = self.running.get_mut(id) {
                r.stdin = None;
            }
        }
        self.pump_until(2 * crate::harness::STEP_LIMIT, |h| {
            ids.iter().all(|id| h.state[id].ended)
        })?;
        for id in ids {
            let mut r = self.running.remove(id).ok_or("no such worker")?;
            let status = proc::wait_timeout(&mut r.child, crate::harness::STEP_LIMIT)
                .ok_or(format!("worker {id} did not exit"))?;
            if !status.success() || self.state[id].done.is_none() {
                return Err(format!("worker {id} exited with {status} without done"));
            }
        }
        Ok(())
    }

    fn pump_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Harness) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.process(line)?,
                Err(_) => return Err(format!("timed out after {limit:?}")),
            }
        }
    }

    fn process(&mut self, line: Line) -> Result<(), String> {
        let id = line.worker;
        let state = self.state.entry(id).or_default();
        let Some(text) = line.text else {
            state.ended = true;
            if !self.expected_end.contains(&id) {
                return Err(format!("worker {id} exited unexpectedly"));
            }
            return Ok(());
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let num = |i: usize| -> Result<u64, String> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("worker {id}: bad line {text:?}"))
        };
        match words.first().copied() {
            Some("ready" | "joined") => state.start = Some(num(1)?),
            Some("at") => state.at = state.at.max(num(1)?),
            Some("gone") => state.gone_at = Some(line.at),
            Some("done") => state.done = Some([num(1)?, num(2)?, num(3)?, num(4)?]),
            Some("bad") => return Err(format!("worker {id}: {text}")),
            _ => return Err(format!("worker {id}: unknown line {text:?}")),
        }
        Ok(())
    }

    /// Position a worker reported last (its start if nothing since).
    fn position(&self, id: usize) -> u64 {
        let s = &self.state[&id];
        s.at.max(s.start.unwrap_or(0))
    }

    /// Waits until every subscriber in `subs` reported a position past
    /// `past`.
    fn wait_subscribers_past(&mut self, subs: &[usize], past: u64) -> Result<(), String> {
        self.pump_until(crate::harness::STEP_LIMIT, |h| {
            subs.iter().all(|&s| h.position(s) > past)
        })
        .map_err(|e| format!("subscribers did not get past message {past} (stalled?): {e}"))
    }
}

/// Runs the loop; `Err` says what went wrong, with the seed.
pub fn run(cfg: &PubSubLoopConfig) -> Result<PubSubLoopReport, String> {
    run_inner(cfg).map_err(|e| {
        format!(
            "pubsub kill loop ({:?}) failed: {e} [replay: --seed {}]",
            cfg.delivery, cfg.seed
        )
    })
}

/// Removes the named segment however the loop ends.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shmring::unlink(&self.0);
    }
}

fn run_inner(cfg: &PubSubLoopConfig) -> Result<PubSubLoopReport, String> {
    let started = Instant::now();
    let mut rng = Rng::new(cfg.seed);
    let name = proc::unique_name(match cfg.delivery {
        Delivery::Lossless => "pubsub-lossless",
        Delivery::Lossy => "pubsub-lossy",
    });
    let shm_before = proc::shm_entries(&name);
    let ring = PubSubBuilder::new()
        .slots(SLOTS)
        .max_message(SLOT_SIZE)
        .subscribers(cfg.subscribers as u32 + 2)
        .delivery(cfg.delivery)
        .create(&name)
        .map_err(|e| format!("create {name}: {e}"))?;
    let unlink = Unlink(name.clone());
    let lossy = cfg.delivery == Delivery::Lossy;
    let mut h = Harness::new(&cfg.worker, &name, cfg.seed);
    let describe = |ring: &PubSub| {
        format!(
            "[ring: published {}, publisher attached {}, subscribers {:?}]",
            ring.published(),
            ring.is_publisher_attached(),
            ring.subscriber_states()
        )
    };

    let mut subs = Vec::new();
    for _ in 0..cfg.subscribers {
        subs.push(h.start("subscriber", 0)?);
    }
    let mut stream = 0u32;
    let mut publisher = h.start("publisher", stream)?;
    let first = h.position(publisher);
    h.wait_subscribers_past(&subs, first)
        .map_err(|e| format!("{e} {}", describe(&ring)))?;

    let mut report = PubSubLoopReport::default();
    for cycle in 0..cfg.cycles {
        std::thread::sleep(Duration::from_micros(
            rng.range(0, cfg.max_delay.as_micros() as u64),
        ));
        let context = |e: String, ring: &PubSub| format!("cycle {cycle}: {e} {}", describe(ring));
        if rng.range(0, 2) == 0 {
            // The publisher: every live subscriber must see it gone, and
            // its successor continue the sequence.
            let last = h.position(publisher);
            let at = h.kill(publisher).map_err(|e| context(e, &ring))?;
            h.pump_until(cfg.detection_bound, |h| {
                subs.iter()
                    .all(|s| h.state[s].gone_at.is_some_and(|t| t >= at))
            })
            .map_err(|e| {
                context(
                    format!("a subscriber missed the publisher's death: {e}"),
                    &ring,
                )
            })?;
            let seen = subs
                .iter()
                .filter_map(|s| h.state[s].gone_at)
                .max()
                .map_or(Duration::ZERO, |t| t - at);
            report.detections.push(seen);
            report.publisher_kills += 1;
            stream += 1;
            publisher = h
                .start("publisher", stream)
                .map_err(|e| context(e, &ring))?;
            let first = h.position(publisher);
            if first < last {
                return Err(context(
                    format!("publisher {stream} starts at {first}, its predecessor reached {last}"),
                    &ring,
                ));
            }
            h.wait_subscribers_past(&subs, first)
                .map_err(|e| context(e, &ring))?;
        } else {
            // A subscriber: a lossless publisher must get a ring past it.
            let victim = rng.range(0, subs.len() as u64 - 1) as usize;
            let at = h.kill(subs[victim]).map_err(|e| context(e, &ring))?;
            let past = ring.published() + SLOTS;
            if !lossy {
                let p = publisher;
                h.pump_until(cfg.detection_bound, |h| h.position(p) > past)
                    .map_err(|e| {
                        context(
                            format!("the publisher did not get past a killed subscriber: {e}"),
                            &ring,
                        )
                    })?;
                report.resumes.push(at.elapsed());
            }
            report.subscriber_kills += 1;
            subs[victim] = h.start("subscriber", 0).map_err(|e| context(e, &ring))?;
            let now = ring.published();
            h.wait_subscribers_past(&subs[victim..=victim], now)
                .map_err(|e| context(e, &ring))?;
        }
        report.cycles = cycle + 1;
        if cfg.verbose && (cycle + 1) % 100 == 0 {
            eprintln!(
                "  pubsub {:?}: {} cycles, {} published",
                cfg.delivery,
                cycle + 1,
                ring.published()
            );
        }
    }

    // The publisher stops first, then the subscribers drain to its end.
    h.stop(&[publisher])
        .map_err(|e| format!("stopping the publisher: {e}"))?;
    let end = h.state[&publisher].done.map_or(0, |d| d[0]);
    h.stop(&subs)
        .map_err(|e| format!("stopping the subscribers: {e} {}", describe(&ring)))?;
    report.published = end;
    for s in &subs {
        let [next, received, missed, lagged] = h.state[s].done.unwrap_or_default();
        let joined = h.state[s].start.unwrap_or(0);
        if next != end {
            return Err(format!(
                "a subscriber stopped at {next}, the publisher at {end}"
            ));
        }
        if received + missed != next - joined || lagged != missed || (!lossy && missed != 0) {
            return Err(format!(
                "a subscriber joined at {joined}, stopped at {next}: received {received} + missed {missed} (Lagged sum {lagged})"
            ));
        }
        report.received += received;
        report.missed += missed;
    }
    // Killed subscribers left their entries; once reaped, nothing is held.
    ring.reap_dead_subscribers();
    if ring.subscriber_count() != 0 || ring.is_publisher_attached() {
        return Err(format!("endpoints left at the end: {}", describe(&ring)));
    }
    drop(h);
    drop(ring);
    drop(unlink);
    let shm_after = proc::shm_entries(&name);
    if shm_after != shm_before {
        return Err(format!(
            "/dev/shm not back to baseline: before {shm_before:?}, after {shm_after:?}"
        ));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The `stress pubsub-kill-loop` command line.
#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Lossless or lossy (default: both, one after the other).
    #[arg(long, value_parser = ["lossless", "lossy"])]
    delivery: Option<String>,
    #[arg(long, default_value_t = 1000)]
    cycles: u32,
    /// Subscriber processes.
    #[arg(long, default_value_t = 3)]
    subscribers: usize,
    /// Longest random delay before a kill, in milliseconds.
    #[arg(long, default_value_t = 20)]
    max_delay_ms: u64,
}

/// Runs the loop as `args` say (both deliveries unless one is named);
/// prints the outcome; whether every check passed.
pub fn run_cli(args: &LoopArgs, seed: u64, worker: &Path, verbose: bool) -> bool {
    let deliveries = match args.delivery.as_deref() {
        Some("lossless") => vec![Delivery::Lossless],
        Some(_) => vec![Delivery::Lossy],
        None => vec![Delivery::Lossless, Delivery::Lossy],
    };
    let mut ok = true;
    for delivery in deliveries {
        let mut cfg = PubSubLoopConfig::new(delivery, args.cycles, seed, worker.to_path_buf());
        cfg.subscribers = args.subscribers.max(1);
        cfg.max_delay = Duration::from_millis(args.max_delay_ms);
        cfg.verbose = verbose;
        println!(
            "pubsub kill loop {delivery:?}: {} cycles, {} subscribers, seed {seed}",
            cfg.cycles, cfg.subscribers
        );
        match run(&cfg) {
            Ok(r) => println!("pubsub kill loop {delivery:?}: ok: {r}"),
            Err(e) => {
                println!("pubsub kill loop {delivery:?}: FAILED: {e}");
                ok = false;
            }
        }
    }
    ok
}

/// Both deliveries with `cycles` cycles and the default options (`stress
/// all`); whether every check passed.
pub fn run_all(cycles: u32, seed: u64, worker: &Path, verbose: bool) -> bool {
    let args = LoopArgs {
        delivery: None,
        cycles,
        subscribers: 3,
        max_delay_ms: 20,
    };
    run_cli(&args, seed, worker, verbose)
}
