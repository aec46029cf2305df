//! What travels in a benchmark message, and the loops both processes run.
//!
//! Every message starts with one native-endian word: a counter or a
//! CLOCK_MONOTONIC send time (both at least [`FIRST_DATA`]), or one of
//! the control words [`STOP`], [`MARK`] and [`MARK_ONE_WAY`]. A mark ends
//! the warm-up or a measured run and says what the next run measures, so
//! the receiving process can measure per run without a second channel.
//!
//! A latency row first measures round trips (only the sender reads the
//! clock, once per round trip), then one-way times (the sender stamps each
//! message, the echo reads the clock when it arrives), so that neither
//! measurement pays for the other's clock reads.

use crate::Result;
use crate::clock::now_ns;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Last message of a row: the receiver reports and exits.
pub const STOP: u64 = 0;
/// End of the warm-up or of a run; the next run (if any) is round trips
/// or a stream.
pub const MARK: u64 = 1;
/// End of a run; the next run is timed one-way by the receiver.
pub const MARK_ONE_WAY: u64 = 2;
/// The smallest data word.
pub const FIRST_DATA: u64 = 3;
/// Every measured run has at least this many samples, however slow the
/// mechanism (a 1 MiB message through a pipe takes ~0.3 ms).
pub const MIN_SAMPLES: u64 = 50;
/// Byte the payload after the first word is filled with.
pub const FILL: u8 = 0xA5;

/// The sending half of a mechanism.
pub trait Tx {
    /// Sends `msg` whole, blocking (or spinning) while there is no room.
    fn send(&mut self, msg: &[u8]) -> Result<()>;
}

/// The receiving half of a mechanism.
pub trait Rx {
    /// Waits for the next message and hands it to `f` (in place where the
    /// mechanism allows it, else after copying it out).
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T>;
}

/// The first word of a message.
#[inline]
pub fn first_word(msg: &[u8]) -> Result<u64> {
    match msg.first_chunk::<8>() {
        Some(word) => Ok(u64::from_ne_bytes(*word)),
        None => Err(format!(
            "message of {} bytes is shorter than its first word",
            msg.len()
        )
        .into()),
    }
}

#[inline]
pub(crate) fn set_first_word(msg: &mut [u8], word: u64) {
    msg[..8].copy_from_slice(&word.to_ne_bytes());
}

/// A message of `size` bytes (at least 8): first word then [`FILL`].
pub fn message(size: usize) -> Vec<u8> {
    vec![FILL; size.max(8)]
}

/// Percentiles of one measured latency run, in nanoseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LatencyRun {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Number of samples.
    pub samples: u64,
}

impl LatencyRun {
    pub(crate) fn of(h: &Histogram<u64>) -> LatencyRun {
        LatencyRun {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            samples: h.len(),
        }
    }
}

/// One measured throughput run, as the receiver saw it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ThroughputRun {
    /// Messages received between the two marks.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Nanoseconds between receiving the two marks.
    pub nanos: u64,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 ns to 100 s at 3 significant digits; recording saturates there.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// How long each part of a latency row lasts.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Unrecorded traffic first.
    pub warm_up: Duration,
    /// One measured run (at least [`MIN_SAMPLES`] samples).
    pub run: Duration,
    /// Measured runs of each kind.
    pub runs: usize,
}

/// Sender side of a latency row: warm-up, `runs` runs of round trips,
/// then `runs` runs of stamped messages whose one-way time the echo
/// measures. Returns the round-trip percentiles per run.
pub fn round_trips(
    tx: &mut impl Tx,
    rx: &mut impl Rx,
    size: usize,
    timing: Timing,
) -> Result<Vec<LatencyRun>> {
    let mut msg = message(size);
    let mut counter = FIRST_DATA;
    let until = Instant::now() + timing.warm_up;
    while Instant::now() < until {
        exchange(tx, rx, &mut msg, counter)?;
        counter += 1;
    }
    let mut results = Vec::with_capacity(timing.runs);
    for _ in 0..timing.runs {
        exchange(tx, rx, &mut msg, MARK)?;
        let mut h = histogram();
        let until = Instant::now() + timing.run;
        // One clock read per round trip: each sample also holds the
        // loop and the histogram update, a few ns, the same for every row.
        let mut before = now_ns();
        while h.len() < MIN_SAMPLES || Instant::now() < until {
            exchange(tx, rx, &mut msg, counter)?;
            counter += 1;
            let after = now_ns();
            h.saturating_record(after - before);
            before = after;
        }
        results.push(LatencyRun::of(&h));
    }
    for _ in 0..timing.runs {
        exchange(tx, rx, &mut msg, MARK_ONE_WAY)?;
        let until = Instant::now() + timing.run;
        let mut sent = 0;
        while sent < MIN_SAMPLES || Instant::now() < until {
            exchange(tx, rx, &mut msg, now_ns().max(FIRST_DATA))?;
            sent += 1;
        }
    }
    exchange(tx, rx, &mut msg, MARK)?;
    exchange(tx, rx, &mut msg, STOP)?;
    Ok(results)
}

/// Sends `word` (with the row's payload) and waits for its echo.
#[inline]
fn exchange(tx: &mut impl Tx, rx: &mut impl Rx, msg: &mut [u8], word: u64) -> Result<()> {
    set_first_word(msg, word);
    tx.send(msg)?;
    // The whole reply is read, as the echo reads the whole request (it
    // copies it back) and as a pipe's read() copies it: a zero-copy
    // receiver that looked only at the first word would skip the cache
    // lines that carry the rest of the message.
    let echoed = rx.recv(|reply| {
        read_whole(reply);
        first_word(reply)
    })??;
    if echoed != word {
        return Err(format!("echo returned word {echoed}, sent {word}").into());
    }
    Ok(())
}

/// Echo side of a latency row: sends every message back as it came; in
/// one-way runs it also measures how long each took to arrive.
pub fn echo(tx: &mut impl Tx, rx: &mut impl Rx) -> Result<Vec<LatencyRun>> {
    let mut runs = Vec::new();
    // Some during a one-way run only.
    let mut current: Option<Histogram<u64>> = None;
    loop {
        let timed = current.is_some();
        let (word, arrived) = rx.recv(|msg| -> Result<(u64, u64)> {
            let arrived = if timed { now_ns() } else { 0 };
            tx.send(msg)?;
            Ok((first_word(msg)?, arrived))
        })??;
        match word {
            STOP => return Ok(runs),
            MARK | MARK_ONE_WAY => {
                if let Some(h) = current.take() {
                    runs.push(LatencyRun::of(&h));
                }
                if word == MARK_ONE_WAY {
                    current = Some(histogram());
                }
            }
            sent => {
                if let Some(h) = current.as_mut() {
                    h.saturating_record(arrived.saturating_sub(sent));
                }
            }
        }
    }
}

/// Sender side of a throughput row: as many messages as the mechanism
/// takes, for the warm-up and then `runs` runs of `run` each.
pub fn stream(
    tx: &mut impl Tx,
    size: usize,
    warm_up: Duration,
    run: Duration,
    runs: usize,
) -> Result<()> {
    let mut msg = message(size);
    let mut counter = FIRST_DATA;
    send_for(tx, &mut msg, &mut counter, warm_up, 1)?;
    for _ in 0..runs {
        set_first_word(&mut msg, MARK);
        tx.send(&msg)?;
        send_for(tx, &mut msg, &mut counter, run, MIN_SAMPLES)?;
    }
    set_first_word(&mut msg, MARK);
    tx.send(&msg)?;
    set_first_word(&mut msg, STOP);
    tx.send(&msg)?;
    Ok(())
}

fn send_for(
    tx: &mut impl Tx,
    msg: &mut [u8],
    counter: &mut u64,
    how_long: Duration,
    at_least: u64,
) -> Result<()> {
    // Reading the clock costs ~20 ns: look at it once per batch of small
    // messages, and after every large one.
    let batch = if msg.len() >= 4096 { 1 } else { 64 };
    let until = Instant::now() + how_long;
    let mut sent = 0;
    loop {
        for _ in 0..batch {
            set_first_word(msg, *counter);
            *counter += 1;
            tx.send(msg)?;
        }
        sent += batch;
        if sent >= at_least && Instant::now() >= until {
            return Ok(());
        }
    }
}

/// Reads every byte of a message, as any consumer of its content would:
/// without this a zero-copy receiver would be measured doing less work
/// than one that must copy the message out of the kernel first.
#[inline]
pub(crate) fn read_whole(msg: &[u8]) {
    let sum = msg.chunks_exact(8).fold(0u64, |acc, word| {
        acc.wrapping_add(u64::from_ne_bytes(word.try_into().unwrap_or_default()))
    });
    std::hint::black_box(sum);
}

/// Receiving side of a throughput row: reads each message whole, counts
/// messages and bytes between MARKs, and checks that none was lost,
/// repeated or reordered.
pub fn sink(rx: &mut impl Rx) -> Result<Vec<ThroughputRun>> {
    let mut runs = Vec::new();
    let mut expected = FIRST_DATA;
    let mut run_start: Option<u64> = None;
    let (mut messages, mut bytes) = (0u64, 0u64);
    loop {
        let (word, len) = rx.recv(|msg| {
            read_whole(msg);
            Ok::<_, crate::Error>((first_word(msg)?, msg.len()))
        })??;
        match word {
            STOP => return Ok(runs),
            MARK => {
                let now = now_ns();
                if let Some(start) = run_start {
                    runs.push(ThroughputRun {
                        messages,
                        bytes,
                        nanos: now - start,
                    });
                }
                run_start = Some(now);
                (messages, bytes) = (0, 0);
            }
            counter => {
                if counter != expected {
                    return Err(format!("message {counter} arrived, {expected} expected").into());
                }
                expected += 1;
                messages += 1;
                bytes += len as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{ChannelRx, ChannelTx};

    fn channel() -> (ChannelTx, ChannelRx) {
        let (tx, rx) = crossbeam_channel::bounded(16);
        (ChannelTx(tx), ChannelRx(rx))
    }

    #[test]
    fn round_trips_and_echo_agree_on_runs() {
        let (mut up_tx, mut up_rx) = channel();
        let (mut down_tx, mut down_rx) = channel();
        let echo = std::thread::spawn(move || echo(&mut down_tx, &mut up_rx));
        let ms = Duration::from_millis(5);
        let timing = Timing {
            warm_up: ms,
            run: ms,
            runs: 3,
        };
        let ours = round_trips(&mut up_tx, &mut down_rx, 64, timing).unwrap();
        let theirs = echo.join().unwrap().unwrap();
        assert_eq!((ours.len(), theirs.len()), (3, 3));
        for run in ours.iter().chain(&theirs) {
            assert!(run.samples >= MIN_SAMPLES);
            assert!(run.p50 <= run.p99 && run.p99 <= run.p999 && run.p999 <= run.max);
        }
    }

    #[test]
    fn sink_counts_every_message_of_every_run() {
        let (mut tx, mut rx) = channel();
        let sink = std::thread::spawn(move || sink(&mut rx));
        let ms = Duration::from_millis(5);
        stream(&mut tx, 100, ms, ms, 2).unwrap();
        let runs = sink.join().unwrap().unwrap();
        assert_eq!(runs.len(), 2);
        for run in runs {
            assert!(run.messages >= MIN_SAMPLES);
            assert_eq!(run.bytes, run.messages * 100);
        }
    }

    #[test]
    fn sink_notices_a_lost_message() {
        let (mut tx, mut rx) = channel();
        let mut msg = message(8);
        for word in [MARK, 3, 5] {
            set_first_word(&mut msg, word);
            tx.send(&msg).unwrap();
        }
        let err = sink(&mut rx).unwrap_err().to_string();
        assert!(err.contains("message 5 arrived, 4 expected"), "{err}");
    }

    #[test]
    fn a_message_shorter_than_its_word_is_an_error() {
        assert!(first_word(&[1, 2, 3]).is_err());
        assert_eq!(first_word(&7u64.to_ne_bytes()).unwrap(), 7);
    }
}
