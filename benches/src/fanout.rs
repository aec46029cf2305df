//! Fan-out rows: one publisher (the bench process, on the first CPU)
//! streaming into a publish/subscribe ring, read by 1, 2 or 4 subscriber
//! processes (`shmring-bench-peer subscribe`, all on the second CPU,
//! sharing it), both sides waiting the default way (spin then park) or
//! busy-spinning ([`WAITS`]).
//!
//! The publisher measures what it publishes per second, in runs timed as
//! the stream rows are. Each subscriber reads every byte of every message
//! and checks it: its sequence (the first word, and the ring's sequence
//! number), and a checksum over all its words (the first and last word
//! carry the sequence, the rest [`FILL`]), so a torn message is caught.
//! A lossy subscriber adds up the `Lagged(n)` it is told; at the end
//! every subscriber's delivered + missed must equal what was published,
//! and a lossless one must have missed nothing.
//!
//! The ring has the same geometry whatever the number of subscribers (the
//! default table of 64 entries, slots as the SPSC rows' ring): each row
//! reports the segment size and its slot area, one slot per message in
//! flight, which is how the rows show that a message is in memory once.

use crate::link::{PeerHandover, rings::pubsub_geometry, unique_tag};
use crate::mechanism::Mechanism;
use crate::peer::{Peer, READY, Role};
use crate::plan::{Plan, size_label};
use crate::report::{Machine, msgs};
use crate::runner::median;
use crate::traffic::{FILL, ThroughputRun};
use crate::watchdog::Watchdog;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use shmring::prelude::*;
use shmring::{Delivery, PubSubBuilder, RecvTimeoutError, WaitStrategy};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Subscriber processes per row.
pub const SUBSCRIBERS: [usize; 3] = [1, 2, 4];

/// Both policies, lossless first.
pub const DELIVERIES: [Delivery; 2] = [Delivery::Lossless, Delivery::Lossy];

/// How both sides wait: the default, and busy-spinning. With more
/// subscribers than free CPUs some of them are always parked under the
/// default, and a publisher pays a `FUTEX_WAKE` for each message while
/// one is; busy-spinning subscribers never park, so the two show what
/// the fan-out costs without and with that.
pub const WAITS: [Wait; 2] = [Wait::SpinThenPark, Wait::BusySpin];

/// What one fan-out row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Lossless or lossy.
    pub delivery: Delivery,
    /// How both sides wait.
    pub wait: Wait,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Message size in bytes.
    pub size: usize,
}

impl Cell {
    /// Every row of a run of `plan`, in measuring order.
    pub fn all(plan: &Plan) -> Vec<Cell> {
        let mut cells = Vec::new();
        for &size in sizes(plan) {
            for delivery in DELIVERIES {
                for wait in WAITS {
                    for subscribers in SUBSCRIBERS {
                        cells.push(Cell {
                            delivery,
                            wait,
                            subscribers,
                            size,
                        });
                    }
                }
            }
        }
        cells
    }

    /// What a reader of the progress line sees.
    pub fn label(&self) -> String {
        format!(
            "pub/sub {}, {}, {} subscriber(s), {}",
            delivery_key(self.delivery),
            self.wait.key(),
            self.subscribers,
            size_label(self.size)
        )
    }
}

/// How the publisher and the subscribers of a row wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// `WaitStrategy::default()`.
    SpinThenPark,
    /// `WaitStrategy::BusySpin`.
    BusySpin,
}

impl Wait {
    /// Name in the report and in the subscriber's spec.
    pub fn key(self) -> &'static str {
        match self {
            Wait::SpinThenPark => "spin-then-park",
            Wait::BusySpin => "busy-spin",
        }
    }

    fn from_key(key: &str) -> Option<Wait> {
        WAITS.into_iter().find(|w| w.key() == key)
    }

    fn strategy(self) -> WaitStrategy {
        match self {
            Wait::SpinThenPark => WaitStrategy::default(),
            Wait::BusySpin => WaitStrategy::BusySpin,
        }
    }
}

/// How long a subscriber waits for a message before it gives up (its
/// publisher starts once every subscriber has attached).
const IDLE: Duration = Duration::from_secs(30);

const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Message sizes of the fan-out rows.
pub fn sizes(plan: &Plan) -> &'static [usize] {
    if plan.quick { &[64] } else { &[64, 1024] }
}

/// `lossless` or `lossy`.
pub fn delivery_key(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Lossless => "lossless",
        Delivery::Lossy => "lossy",
    }
}

/// The row mechanism of a policy (what the peer is told).
fn mechanism(delivery: Delivery) -> Mechanism {
    match delivery {
        Delivery::Lossless => Mechanism::PubSub,
        Delivery::Lossy => Mechanism::PubSubLossy,
    }
}

/// What one subscriber process saw, written to its report file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Messages received and checked.
    pub delivered: u64,
    /// Messages lost to the publisher, as `Lagged(n)` told (lossy).
    pub missed: u64,
    /// `Lagged` results received.
    pub lags: u64,
    /// Bytes received.
    pub bytes: u64,
}

/// One fan-out row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRow {
    /// `lossless` or `lossy`.
    pub delivery: String,
    /// How both sides wait: `spin-then-park` or `busy-spin`.
    pub wait: String,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Messages published per second (median over runs).
    pub published_per_s: Option<f64>,
    /// Bytes published per second.
    pub bytes_per_s: Option<f64>,
    /// Messages published per second over the one-subscriber row's, same
    /// policy and size, same run.
    pub ratio_to_one: Option<f64>,
    /// Measured runs.
    pub runs: usize,
    /// Messages published in all (warm-up and runs).
    pub published: u64,
    /// Per subscriber: what it saw.
    pub seen: Vec<Seen>,
    /// Bytes of the segment (header, control, subscriber table, slots).
    pub segment_bytes: u64,
    /// Bytes of its slots: `slots` × stride, each message once.
    pub slot_area_bytes: u64,
    /// Slots of the ring.
    pub slots: u64,
    /// Why the row has no numbers, if it has none.
    pub note: Option<String>,
}

impl FanoutRow {
    fn new(cell: Cell) -> FanoutRow {
        FanoutRow {
            delivery: delivery_key(cell.delivery).to_string(),
            wait: cell.wait.key().to_string(),
            subscribers: cell.subscribers,
            size: cell.size,
            published_per_s: None,
            bytes_per_s: None,
            ratio_to_one: None,
            runs: 0,
            published: 0,
            seen: Vec::new(),
            segment_bytes: 0,
            slot_area_bytes: 0,
            slots: 0,
            note: None,
        }
    }

    /// A row that could not be measured, and why.
    pub fn failed(cell: Cell, why: String) -> FanoutRow {
        FanoutRow {
            note: Some(why),
            ..FanoutRow::new(cell)
        }
    }

    /// Delivered over published, the lowest of the subscribers'.
    pub fn delivered_fraction(&self) -> Option<f64> {
        self.seen
            .iter()
            .map(|s| s.delivered as f64 / self.published.max(1) as f64)
            .min_by(f64::total_cmp)
    }
}

/// The fan-out rows of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutReport {
    /// The machine.
    pub machine: Machine,
    /// The rows, in measuring order.
    pub rows: Vec<FanoutRow>,
}

/// Unlinks the ring's name when dropped, unless it is already gone.
struct Unlink(Option<String>);

impl Unlink {
    fn now(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = shmring::unlink(&name);
        }
    }
}

impl Drop for Unlink {
    fn drop(&mut self) {
        self.now();
    }
}

/// Measures one row; the caller arms `watchdog` around it.
pub(crate) fn measure(
    peer_exe: &str,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
    watchdog: &Watchdog,
    cell: Cell,
) -> Result<FanoutRow> {
    let Cell {
        delivery,
        wait,
        subscribers,
        size,
    } = cell;
    let mut row = FanoutRow::new(cell);
    if size < 8 || size % 8 != 0 {
        return Err(format!("fan-out messages are whole words, not {size} bytes").into());
    }
    let tag = unique_tag();
    // `{tag}-up`: the name the watchdog removes if the row hangs.
    let name = format!("{tag}-up");
    let geometry = pubsub_geometry(delivery, size as u64);
    let ring = PubSubBuilder::new()
        .geometry(geometry)
        .wait_strategy(wait.strategy())
        .create(&name)?;
    let mut unlink = Unlink(Some(name.clone()));
    // Taken before any subscriber exists, so that none of them sees a
    // ring without its publisher (end of file).
    let mut publisher = ring.publisher()?;
    // Declared after the ring: on an early return the peers are killed
    // before the name goes.
    let mut peers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut handover = PeerHandover {
            spec: format!("{name}:{}", wait.key()),
            ..PeerHandover::default()
        };
        let peer = Peer::spawn(
            peer_exe,
            Role::Subscribe,
            mechanism(delivery),
            size,
            &mut handover,
            cpus.map(|(_, theirs)| theirs),
        )?;
        watchdog.track(peer.pid(), &[], vec![tag.clone()]);
        peers.push(peer);
    }
    for peer in &mut peers {
        peer.wait_ready(ATTACH_TIMEOUT)?;
    }
    unlink.now();
    let attached = ring.subscriber_count();
    if attached != subscribers as u64 {
        return Err(format!("{attached} subscribers attached, {subscribers} started").into());
    }
    let (runs, published) = publish(&mut publisher, size, plan)?;
    // End of file for the subscribers, once they have read the rest.
    drop(publisher);
    let seen = peers
        .into_iter()
        .map(|peer| peer.finish::<Seen>(ATTACH_TIMEOUT))
        .collect::<Result<Vec<Seen>>>()?;
    for (i, s) in seen.iter().enumerate() {
        if s.delivered + s.missed != published {
            return Err(format!(
                "subscriber {i}: {} delivered + {} missed, {published} published",
                s.delivered, s.missed
            )
            .into());
        }
        if delivery == Delivery::Lossless && s.missed != 0 {
            return Err(format!("lossless subscriber {i} missed {} messages", s.missed).into());
        }
    }
    row.runs = runs.len();
    row.published_per_s = Some(median(
        runs.iter()
            .map(|r| r.messages as f64 * 1e9 / r.nanos as f64),
    ));
    row.bytes_per_s = Some(median(
        runs.iter().map(|r| r.bytes as f64 * 1e9 / r.nanos as f64),
    ));
    row.published = published;
    row.seen = seen;
    row.slots = ring.slots();
    row.segment_bytes = geometry.segment_size()?;
    row.slot_area_bytes = ring.slots() * slot_stride(ring.slot_size());
    Ok(row)
}

/// Bytes a slot takes: a 16-byte header (stamp, length) and the payload
/// rounded up to whole words (`layout/pubsub.rs`).
fn slot_stride(slot_size: u64) -> u64 {
    16 + slot_size.next_multiple_of(8)
}

/// Publishes for the warm-up and `plan.runs` runs; returns the runs as
/// the publisher timed them and the number of messages published.
fn publish(
    publisher: &mut impl MessageSender,
    size: usize,
    plan: &Plan,
) -> Result<(Vec<ThroughputRun>, u64)> {
    let mut msg = vec![FILL; size];
    let mut seq = 0u64;
    // Clock reads as in the stream rows: one per batch of small messages.
    let batch = if size >= 4096 { 1 } else { 64 };
    let mut send_for = |how_long: Duration, at_least: u64| -> Result<ThroughputRun> {
        let started = Instant::now();
        let until = started + how_long;
        let mut sent = 0u64;
        loop {
            for _ in 0..batch {
                stamp(&mut msg, seq);
                seq += 1;
                publisher.send(&msg).map_err(|e| e.without_message())?;
            }
            sent += batch;
            if sent >= at_least && Instant::now() >= until {
                return Ok(ThroughputRun {
                    messages: sent,
                    bytes: sent * size as u64,
                    nanos: started.elapsed().as_nanos() as u64,
                });
            }
        }
    };
    send_for(plan.warm_up, 1)?;
    let runs = (0..plan.runs)
        .map(|_| send_for(plan.run, crate::traffic::MIN_SAMPLES))
        .collect::<Result<Vec<_>>>()?;
    Ok((runs, seq))
}

/// Writes `seq` into the first and the last word of `msg`.
#[inline]
fn stamp(msg: &mut [u8], seq: u64) {
    let word = seq.to_ne_bytes();
    msg[..8].copy_from_slice(&word);
    let last = msg.len() - 8;
    msg[last..].copy_from_slice(&word);
}

/// The sum of a message's words that [`stamp`] and [`FILL`] make for
/// `seq` (`words` words).
fn expected_sum(seq: u64, words: usize) -> u64 {
    let fill = u64::from_ne_bytes([FILL; 8]);
    match words {
        0 => 0,
        1 => seq,
        n => seq
            .wrapping_mul(2)
            .wrapping_add(fill.wrapping_mul(n as u64 - 2)),
    }
}

/// Checks message `expected`: its first word, and the sum of all its
/// words (which reads every byte of it).
#[inline]
fn check(msg: &[u8], expected: u64, size: usize) -> Result<()> {
    if msg.len() != size {
        return Err(format!("message {expected}: {} bytes, {size} sent", msg.len()).into());
    }
    let first = crate::traffic::first_word(msg)?;
    if first != expected {
        return Err(format!("message {first} arrived, {expected} expected").into());
    }
    let sum = msg.chunks_exact(8).fold(0u64, |acc, word| {
        acc.wrapping_add(u64::from_ne_bytes(word.try_into().unwrap_or_default()))
    });
    if sum != expected_sum(expected, size / 8) {
        return Err(format!("message {expected} is torn: its checksum does not match").into());
    }
    Ok(())
}

/// The subscriber process of a row: joins the ring of `spec`
/// (`NAME:WAIT`), says [`READY`], and reads until the publisher has gone
/// and everything it published was read or reported missed.
pub fn subscribe(spec: &str, size: usize) -> Result<Seen> {
    let (name, wait) = spec
        .rsplit_once(':')
        .and_then(|(name, wait)| Some((name, Wait::from_key(wait)?)))
        .ok_or_else(|| format!("a subscriber's spec is NAME:WAIT, not {spec}"))?;
    let ring = PubSubBuilder::new()
        .wait_strategy(wait.strategy())
        .open(name)?;
    let mut subscriber = ring.subscriber()?;
    eprintln!("{READY}");
    drain(&mut subscriber, size)
}

/// Reads and checks every message until end of file.
pub(crate) fn drain(subscriber: &mut shmring::pubsub::Subscriber, size: usize) -> Result<Seen> {
    let mut seen = Seen::default();
    // Joined before the first message: sequence numbers start at 0.
    let mut expected = 0u64;
    loop {
        match subscriber.recv_timeout(IDLE) {
            Ok(guard) => {
                if guard.sequence() != expected {
                    return Err(format!(
                        "the ring delivered message {}, {expected} expected",
                        guard.sequence()
                    )
                    .into());
                }
                check(&guard, expected, size)?;
                seen.delivered += 1;
                seen.bytes += guard.len() as u64;
                expected += 1;
            }
            Err(RecvTimeoutError::Lagged(n)) => {
                seen.missed += n;
                seen.lags += 1;
                expected += n;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(err) => return Err(Error::from(err)),
        }
    }
    if subscriber.missed() != seen.missed {
        return Err(format!(
            "Lagged results add up to {}, the subscriber counts {}",
            seen.missed,
            subscriber.missed()
        )
        .into());
    }
    Ok(seen)
}

/// Each row's publishing rate over the one-subscriber row's (same
/// policy, waiting and size).
pub fn compare_with_one(rows: &mut [FanoutRow]) {
    let ones: Vec<(String, String, usize, f64)> = rows
        .iter()
        .filter(|r| r.subscribers == 1)
        .filter_map(|r| {
            Some((
                r.delivery.clone(),
                r.wait.clone(),
                r.size,
                r.published_per_s?,
            ))
        })
        .collect();
    for row in rows.iter_mut() {
        let one = ones
            .iter()
            .find(|(d, w, size, _)| *d == row.delivery && *w == row.wait && *size == row.size);
        row.ratio_to_one = one
            .zip(row.published_per_s)
            .map(|((_, _, _, one), ours)| ours / one);
    }
}

/// The markdown table of the fan-out rows.
pub fn table(rows: &[FanoutRow]) -> String {
    let mut out = String::from(
        "\n## Fan-out: one publisher, N subscriber processes (publisher on one CPU, every \
         subscriber on the other; published/s is the median of runs at the publisher; \
         × 1 = over the one-subscriber row; delivered = the lowest subscriber's share of \
         what was published)\n\n\
         | policy | waiting | size | subscribers | published/s | bytes/s | × 1 | delivered \
         | lags | segment | slot area | note |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let lags: u64 = r.seen.iter().map(|s| s.lags).sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.delivery,
            r.wait,
            size_label(r.size),
            r.subscribers,
            r.published_per_s.map_or("—".into(), msgs),
            r.bytes_per_s.map_or("—".into(), crate::report::bytes),
            r.ratio_to_one.map_or("—".into(), |x| format!("{x:.2}×")),
            r.delivered_fraction()
                .map_or("—".into(), |f| format!("{:.1} %", f * 100.0)),
            lags,
            size(r.segment_bytes),
            size(r.slot_area_bytes),
            r.note.as_deref().unwrap_or("")
        );
    }
    out
}

/// A size in the table: `68.3 KiB`, `—` for none.
fn size(n: u64) -> String {
    match n {
        0 => "—".into(),
        n => shmring::human::Bytes(n).to_string(),
    }
}

/// Writes `fanout.json` and `fanout.md` into `dir` and rebuilds the
/// combined report; returns the table.
pub fn write(dir: &Path, report: &FanoutReport) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("fanout.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    let table = table(&report.rows);
    std::fs::write(dir.join("fanout.md"), &table)?;
    crate::report::rebuild(dir, &report.machine)?;
    Ok(table)
}

/// The progress line at the end of a row.
pub fn outcome(row: &FanoutRow) -> String {
    match (row.published_per_s, row.delivered_fraction()) {
        (Some(m), Some(f)) => format!(
            "{} published, {:.1} % delivered to the slowest",
            msgs(m),
            f * 100.0
        ),
        _ => row.note.clone().unwrap_or_else(|| "no result".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(delivery: Delivery, slots: u64, size: usize) -> shmring::PubSub {
        let name = unique_tag();
        let ring = PubSubBuilder::new()
            .slots(slots)
            .max_message(size as u64)
            .delivery(delivery)
            .create(&name)
            .unwrap();
        shmring::unlink(&name).unwrap();
        ring
    }

    fn plan() -> Plan {
        Plan {
            quick: true,
            sizes: vec![64],
            warm_up: Duration::from_millis(5),
            run: Duration::from_millis(5),
            latency_run: Duration::from_millis(5),
            runs: 2,
            row_limit: Duration::from_secs(20),
            only: None,
        }
    }

    /// One publisher thread, `n` subscriber threads: every subscriber's
    /// delivered + missed is what was published, and lossless loses
    /// nothing.
    fn fan_out(delivery: Delivery, slots: u64, n: usize) -> (u64, Vec<Seen>) {
        let size = 64;
        let ring = ring(delivery, slots, size);
        let mut publisher = ring.publisher().unwrap();
        let subscribers: Vec<_> = (0..n).map(|_| ring.subscriber().unwrap()).collect();
        let threads: Vec<_> = subscribers
            .into_iter()
            .map(|mut s| std::thread::spawn(move || drain(&mut s, size)))
            .collect();
        let (runs, published) = publish(&mut publisher, size, &plan()).unwrap();
        assert_eq!(runs.len(), 2);
        drop(publisher);
        let seen = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        (published, seen)
    }

    #[test]
    fn lossless_subscribers_see_every_message() {
        let (published, seen) = fan_out(Delivery::Lossless, 64, 3);
        for s in seen {
            assert_eq!((s.delivered, s.missed, s.lags), (published, 0, 0));
            assert_eq!(s.bytes, published * 64);
        }
    }

    #[test]
    fn lossy_subscribers_account_for_every_message() {
        // Four slots: the subscribers fall behind and are told by how much.
        let (published, seen) = fan_out(Delivery::Lossy, 4, 2);
        for s in seen {
            assert_eq!(s.delivered + s.missed, published);
        }
    }

    #[test]
    fn a_torn_or_misplaced_message_is_caught() {
        let mut msg = vec![FILL; 64];
        stamp(&mut msg, 9);
        check(&msg, 9, 64).unwrap();
        assert!(check(&msg, 8, 64).is_err());
        // The first word of one message with the last of another.
        let mut torn = msg.clone();
        stamp(&mut torn, 10);
        torn[..8].copy_from_slice(&9u64.to_ne_bytes());
        assert!(
            check(&torn, 9, 64)
                .unwrap_err()
                .to_string()
                .contains("torn")
        );
        let mut one = vec![0u8; 8];
        stamp(&mut one, 5);
        check(&one, 5, 8).unwrap();
    }
}
