//! A producer/consumer pair of worker processes over one segment, and the
//! event pump that feeds their reports to the checkers.

use crate::check::{MpmcChecker, SpscChecker};
use crate::endpoint::{Kind, Style, Transport};
use crate::msg::Sizes;
use crate::proc::Workers;
use crate::report::{Event, Record};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// How long a worker (or the daemon) may take to start and attach, to
/// exit when told, or a pair to move its first message after a restart.
/// A hang detector, not a latency bound: a CI run saw a freshly started
/// process sit for over 5 s in uninterruptible sleep, mapping libc,
/// while the machine's disk was busy.
pub const STEP_LIMIT: Duration = Duration::from_secs(30);

/// Which end of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The sending worker.
    Producer,
    /// The receiving worker.
    Consumer,
}

/// The checker of a pair's kind.
#[derive(Debug)]
pub enum Checker {
    /// For SPSC rings.
    Spsc(SpscChecker),
    /// For MPMC queues.
    Mpmc(MpmcChecker),
}

impl Checker {
    fn new(kind: Kind) -> Checker {
        match kind {
            Kind::Spsc => Checker::Spsc(SpscChecker::default()),
            Kind::Mpmc => Checker::Mpmc(MpmcChecker::default()),
        }
    }

    /// Messages producers confirmed.
    pub fn confirmed(&self) -> u64 {
        match self {
            Checker::Spsc(c) => c.confirmed(),
            Checker::Mpmc(c) => c.confirmed(),
        }
    }

    /// Messages received (SPSC: repeats not counted).
    pub fn received(&self) -> u64 {
        match self {
            Checker::Spsc(c) => c.received,
            Checker::Mpmc(c) => c.received,
        }
    }
}

/// One producer/consumer pair and what the harness knows about it.
#[derive(Debug)]
pub struct Pair {
    /// Ring kind.
    pub kind: Kind,
    /// How the workers reach the segment.
    pub transport: Transport,
    /// Segment name.
    pub name: String,
    /// Calling style of both workers.
    pub style: Style,
    /// Message lengths.
    pub sizes: Sizes,
    /// The running producer worker.
    pub producer: Option<usize>,
    /// The running consumer worker.
    pub consumer: Option<usize>,
    /// The current producer's stream (incarnation).
    pub stream: u32,
    next_stream: u32,
    /// The delivery checker.
    pub checker: Checker,
    /// Messages of the current stream the current consumer reported
    /// since the last (re)start of either side.
    pub fresh_received: u64,
    /// Sends the current producer confirmed since the last (re)start of
    /// either side.
    pub fresh_sent: u64,
    /// All messages reported received (repeats included).
    pub received_total: u64,
    /// When a worker of this pair last said `PeerGone`.
    pub gone_at: Option<Instant>,
}

impl Pair {
    /// A pair not started yet; `first_stream` numbers its producers.
    pub fn new(
        kind: Kind,
        transport: Transport,
        name: &str,
        style: Style,
        sizes: Sizes,
        first_stream: u32,
    ) -> Pair {
        Pair {
            kind,
            transport,
            name: name.to_owned(),
            style,
            sizes,
            producer: None,
            consumer: None,
            stream: first_stream,
            next_stream: first_stream,
            checker: Checker::new(kind),
            fresh_received: 0,
            fresh_sent: 0,
            received_total: 0,
            gone_at: None,
        }
    }

    fn args(&self, side: Side, stream: u32) -> Vec<String> {
        let mut a: Vec<String> = vec![
            match side {
                Side::Producer => "producer",
                Side::Consumer => "consumer",
            }
            .into(),
            "--kind".into(),
            match self.kind {
                Kind::Spsc => "spsc",
                Kind::Mpmc => "mpmc",
            }
            .into(),
            "--name".into(),
            self.name.clone(),
            "--style".into(),
            match self.style {
                Style::Timeout => "timeout",
                Style::Blocking => "blocking",
                Style::Spin => "spin",
                Style::Park => "park",
            }
            .into(),
            "--stream".into(),
            stream.to_string(),
            "--min-len".into(),
            self.sizes.min.to_string(),
            "--max-len".into(),
            self.sizes.max.to_string(),
        ];
        if let Transport::Broker(socket) = &self.transport {
            a.push("--socket".into());
            a.push(socket.display().to_string());
        }
        a
    }
}

/// Workers, the pairs they belong to, and the pump.
#[derive(Debug)]
pub struct Harness {
    /// The worker processes.
    pub workers: Workers,
    /// The pairs.
    pub pairs: Vec<Pair>,
    owner: HashMap<usize, (usize, Side)>,
    attached: HashSet<usize>,
    ended: HashSet<usize>,
    expected_end: HashSet<usize>,
    /// Start producers in a PID namespace of their own (`unshare`): the
    /// consumer must never take a live one for dead, and must see a
    /// killed one gone.
    pub producers_in_own_pid_namespace: bool,
}

/// Runs a worker as the init of a new PID namespace; SIGKILL of the
/// wrapper reaches the worker (`--kill-child`), so a kill stays a kill.
const OWN_PID_NAMESPACE: &[&str] = &["unshare", "--pid", "--fork", "--kill-child"];

impl Harness {
    /// No pairs yet.
    pub fn new(worker_exe: &Path) -> Harness {
        Harness {
            workers: Workers::new(worker_exe),
            pairs: Vec::new(),
            owner: HashMap::new(),
            attached: HashSet::new(),
            ended: HashSet::new(),
            expected_end: HashSet::new(),
            producers_in_own_pid_namespace: false,
        }
    }

    /// Starts `side` of pair `p` (a producer gets the next stream) and
    /// waits until it attached.
    pub fn start(&mut self, p: usize, side: Side) -> Result<(), String> {
        let pair = &mut self.pairs[p];
        let stream = match side {
            Side::Producer => {
                let s = pair.next_stream;
                pair.next_stream += 1;
                s
            }
            Side::Consumer => pair.stream,
        };
        let wrapper = match side {
            Side::Producer if self.producers_in_own_pid_namespace => OWN_PID_NAMESPACE,
            _ => &[],
        };
        let id = self
            .workers
            .spawn_wrapped(wrapper, &pair.args(side, stream))?;
        match side {
            Side::Producer => {
                pair.producer = Some(id);
                pair.stream = stream;
            }
            Side::Consumer => pair.consumer = Some(id),
        }
        pair.fresh_received = 0;
        pair.fresh_sent = 0;
        self.owner.insert(id, (p, side));
        let deadline = Instant::now() + STEP_LIMIT;
        self.pump_until(deadline, |h| h.attached.contains(&id))
            .map_err(|e| format!("{side:?} of pair {p} did not attach: {e}"))
    }

    /// Starts the consumer, then the producer, and waits for traffic.
    pub fn start_pair(&mut self, p: usize) -> Result<(), String> {
        self.start(p, Side::Consumer)?;
        self.start(p, Side::Producer)?;
        self.wait_flowing(p)
    }

    /// Waits until the current consumer reported a message of the current
    /// stream and the current producer confirmed a send, both since the
    /// last restart: then both sides have seen the other one back (each
    /// says `PeerGone` once per loss, so the next kill is noticed anew).
    pub fn wait_flowing(&mut self, p: usize) -> Result<(), String> {
        let deadline = Instant::now() + STEP_LIMIT;
        self.pump_until(deadline, |h| {
            h.pairs[p].fresh_received > 0 && h.pairs[p].fresh_sent > 0
        })
            .map_err(|e| {
                format!(
                    "pair {p} ({:?}) moved no message of stream {} within {STEP_LIMIT:?} after (re)start (stalled?): {e}",
                    self.pairs[p].kind, self.pairs[p].stream
                )
            })
    }

    /// SIGKILLs `side` of pair `p` and waits until its report pipe ends.
    pub fn kill(&mut self, p: usize, side: Side) -> Result<Instant, String> {
        let pair = &mut self.pairs[p];
        let id = match side {
            Side::Producer => pair.producer.take(),
            Side::Consumer => pair.consumer.take(),
        }
        .ok_or("not running")?;
        pair.gone_at = None;
        self.expected_end.insert(id);
        let at = Instant::now();
        self.workers.kill(id)?;
        let deadline = Instant::now() + STEP_LIMIT;
        self.pump_until(deadline, |h| h.ended.contains(&id))?;
        if side == Side::Consumer {
            // Only now: the dead consumer's last report is in.
            if let Checker::Spsc(c) = &mut self.pairs[p].checker {
                c.consumer_killed();
            }
        }
        Ok(at)
    }

    /// Waits until the surviving side of pair `p` said `PeerGone` after
    /// `since`; returns how long after `since`.
    pub fn wait_gone(
        &mut self,
        p: usize,
        since: Instant,
        bound: Duration,
    ) -> Result<Duration, String> {
        let deadline = since + bound;
        self.pump_until(deadline, |h| h.pairs[p].gone_at.is_some_and(|t| t >= since))
            .map_err(|e| {
                format!("pair {p}: the survivor did not notice the kill within {bound:?}: {e}")
            })?;
        Ok(self.pairs[p].gone_at.map(|t| t - since).unwrap_or_default())
    }

    /// The running workers of pair `p`, for failure messages.
    pub fn describe(&self, p: usize) -> String {
        let pair = &self.pairs[p];
        let one = |id: Option<usize>| {
            id.and_then(|id| self.workers.pid(id))
                .map_or("-".to_string(), crate::proc::describe_pid)
        };
        format!(
            "[producer {}; consumer {}]",
            one(pair.producer),
            one(pair.consumer)
        )
    }

    /// Lets pair `p` finish: the producer stops, the consumer drains; both
    /// must exit cleanly.
    pub fn stop_pair(&mut self, p: usize) -> Result<(), String> {
        let pair = &mut self.pairs[p];
        let ids: Vec<usize> = [pair.consumer.take(), pair.producer.take()]
            .into_iter()
            .flatten()
            .collect();
        for &id in &ids {
            self.expected_end.insert(id);
            self.workers.finish(id);
        }
        let deadline = Instant::now() + 2 * STEP_LIMIT;
        self.pump_until(deadline, |h| ids.iter().all(|id| h.ended.contains(id)))
            .map_err(|e| format!("pair {p} did not finish: {e}"))?;
        for id in ids {
            let status = self.workers.reap(id, STEP_LIMIT)?;
            if !status.success() {
                return Err(format!("pair {p}: worker {id} exited with {status}"));
            }
        }
        Ok(())
    }

    /// Processes events until `done` holds (checked after each event and
    /// at the start) or the deadline passes.
    pub fn pump_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Harness) -> bool,
    ) -> Result<(), String> {
        loop {
            if done(self) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.workers.events.recv_timeout(left) {
                Ok(event) => self.process(event)?,
                Err(RecvTimeoutError::Timeout) => return Err("timed out".into()),
                Err(RecvTimeoutError::Disconnected) => return Err("event channel closed".into()),
            }
        }
    }

    /// Processes events until `deadline`.
    pub fn pump_for(&mut self, deadline: Instant) -> Result<(), String> {
        match self.pump_until(deadline, |_| false) {
            Err(e) if e == "timed out" => Ok(()),
            other => other,
        }
    }

    /// Processes whatever events are already queued.
    pub fn drain(&mut self) -> Result<(), String> {
        while let Ok(event) = self.workers.events.try_recv() {
            self.process(event)?;
        }
        Ok(())
    }

    fn process(&mut self, event: Event) -> Result<(), String> {
        let Some(&(p, side)) = self.owner.get(&event.worker) else {
            return Ok(());
        };
        let pair = &mut self.pairs[p];
        let id = event.worker;
        let Some(record) = event.record else {
            self.ended.insert(id);
            if !self.expected_end.contains(&id) {
                return Err(format!(
                    "pair {p}: {side:?} worker {id} exited unexpectedly"
                ));
            }
            return Ok(());
        };
        let kind = pair.kind;
        let context = |e: String| format!("pair {p} ({kind:?}): {e}");
        match record {
            Record::Attached => {
                self.attached.insert(id);
            }
            Record::Sent { stream, seq } => {
                match &mut pair.checker {
                    Checker::Spsc(c) => c.sent(stream, seq).map_err(context)?,
                    Checker::Mpmc(c) => c.sent(stream, seq).map_err(context)?,
                }
                if Some(id) == pair.producer {
                    pair.fresh_sent += 1;
                }
            }
            Record::Received { stream, seq } => {
                match &mut pair.checker {
                    Checker::Spsc(c) => c.received(stream, seq).map_err(context)?,
                    Checker::Mpmc(c) => c.received(stream, seq).map_err(context)?,
                }
                pair.received_total += 1;
                if Some(id) == pair.consumer && stream == pair.stream {
                    pair.fresh_received += 1;
                }
            }
            Record::Torn { stream, seq } => {
                return Err(context(format!(
                    "torn or corrupt message (header says stream {stream} seq {seq})"
                )));
            }
            Record::PeerGone => pair.gone_at = Some(event.at),
            Record::Done { .. } => {}
            Record::Failed { code } => {
                return Err(context(format!(
                    "{side:?} worker failed (exit code {code})"
                )));
            }
        }
        Ok(())
    }
}
