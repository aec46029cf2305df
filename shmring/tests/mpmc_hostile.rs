//! A peer that writes garbage into an MPMC queue's sequence words or
//! position counters must not stop a blocking call from returning at its
//! deadline, nor a `try_*` call from returning at once. Each operation runs
//! in a thread under a watchdog, so a hang fails the test instead of
//! hanging it.
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(clippy::disallowed_types)]

mod common;

use common::Name;
use shmring::{MpmcBuilder, RecvTimeoutError, SendTimeoutError, TryRecvError};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::time::Duration;

const SLOTS: u64 = 8;
const SLOT_SIZE: u64 = 8;
const STRIDE: u64 = 16 + SLOT_SIZE;
const LEVELS: u32 = 2;
/// `docs/layout.md`: level positions, then the slots.
const LEVELS_OFFSET: u64 = 1024;
const SLOTS_OFFSET: u64 = LEVELS_OFFSET + 256 * LEVELS as u64;
/// Far beyond anything the blocking calls get: a hang, not slowness.
const WATCHDOG: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(10);

const MARK: u64 = 1 << 63;
const SKIP_OR_READER: u64 = 1 << 62;

/// Runs `f` in its own thread; panics if it has not returned after
/// [`WATCHDOG`] (the thread is left behind: it is the bug being shown).
fn within_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(value) => value,
        Err(_) => panic!("{what} did not return within {WATCHDOG:?}"),
    }
}

/// Writes into the queue's file through its own descriptor, as another
/// process would (the same pages the queue maps; no unsafe needed here).
struct Scribbler {
    file: std::fs::File,
}

impl Scribbler {
    fn new(name: &Name) -> Scribbler {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.path())
            .unwrap();
        Scribbler { file }
    }

    fn store(&self, offset: u64, value: u64) {
        self.file
            .write_all_at(&value.to_le_bytes(), offset)
            .unwrap();
    }

    fn every_sequence(&self, seq: impl Fn(u64) -> u64) {
        for level in 0..u64::from(LEVELS) {
            for index in 0..SLOTS {
                let offset = SLOTS_OFFSET + (level * SLOTS + index) * STRIDE;
                self.store(offset, seq(index));
            }
        }
    }

    fn every_position(&self, enqueue: u64, dequeue: u64) {
        for level in 0..u64::from(LEVELS) {
            self.store(LEVELS_OFFSET + 256 * level, enqueue);
            self.store(LEVELS_OFFSET + 256 * level + 128, dequeue);
        }
    }
}

/// Every operation of both sides, each bounded by the watchdog. Any
/// outcome but a hang (or `Disconnected`: both sides are attached) is fine.
fn every_call_returns(name: &Name, pattern: &str) {
    let queue = MpmcBuilder::new().open(name).unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    for level in 0..LEVELS {
        let s = sender.with_priority(level);
        let r = within_watchdog(&format!("{pattern}: try_send level {level}"), move || {
            s.try_send(b"x").map_err(|e| format!("{e:?}"))
        });
        assert!(
            !matches!(r, Err(ref e) if e.starts_with("Disconnected")),
            "{r:?}"
        );
        let s = sender.with_priority(level);
        let r = within_watchdog(
            &format!("{pattern}: send_timeout level {level}"),
            move || s.send_timeout(b"x", SHORT),
        );
        assert!(
            !matches!(r, Err(SendTimeoutError::Disconnected(_))),
            "{r:?}"
        );
        let s = sender.with_priority(level);
        let r = within_watchdog(
            &format!("{pattern}: reserve_timeout level {level}"),
            move || s.reserve_timeout(1, SHORT).map(drop),
        );
        assert!(
            !matches!(r, Err(SendTimeoutError::Disconnected(_))),
            "{r:?}"
        );
    }
    let r = receiver.clone();
    let outcome = within_watchdog(&format!("{pattern}: try_recv"), move || {
        r.try_recv().map(|m| m.len())
    });
    assert!(
        !matches!(outcome, Err(TryRecvError::Disconnected)),
        "{outcome:?}"
    );
    let r = receiver.clone();
    let outcome = within_watchdog(&format!("{pattern}: recv_timeout"), move || {
        r.recv_timeout(SHORT).map(|m| m.len())
    });
    assert!(
        !matches!(outcome, Err(RecvTimeoutError::Disconnected)),
        "{outcome:?}"
    );
}

fn fresh_queue(tag: &str) -> (Name, shmring::Mpmc, Scribbler) {
    let name = Name::new(tag);
    let queue = MpmcBuilder::new()
        .slots(SLOTS)
        .slot_size(SLOT_SIZE)
        .priorities(LEVELS)
        .create(&name)
        .unwrap();
    let scribbler = Scribbler::new(&name);
    (name, queue, scribbler)
}

/// A sequence word for each slot index.
type SequenceOf = fn(u64) -> u64;

#[test]
fn far_future_sequence_words_do_not_defeat_deadlines() {
    let patterns: [(&str, SequenceOf); 6] = [
        ("plain far future", |i| (1 << 50) + i),
        ("skipped far future", |i| SKIP_OR_READER | ((1 << 50) + i)),
        ("writer mark far ahead", |i| MARK | (1 << 39) | i),
        ("reader mark far ahead", |i| {
            MARK | SKIP_OR_READER | (3 << 40) | (1 << 39) | i
        }),
        ("all ones", |_| u64::MAX),
        ("one lap ahead everywhere", |i| i + 2 * SLOTS),
    ];
    for (pattern, seq) in patterns {
        let (name, _queue, scribbler) = fresh_queue("far-seq");
        scribbler.every_sequence(seq);
        every_call_returns(&name, pattern);
    }
}

#[test]
fn hostile_position_counters_do_not_defeat_deadlines() {
    let positions = [
        ("huge", u64::MAX - 3, u64::MAX - 3),
        ("receiver far ahead of sender", 0, 1 << 61),
        ("sender far ahead of receiver", 1 << 61, 0),
        ("marked bits", MARK | 5, SKIP_OR_READER | 5),
    ];
    for (pattern, enqueue, dequeue) in positions {
        let (name, _queue, scribbler) = fresh_queue("bad-pos");
        scribbler.every_position(enqueue, dequeue);
        every_call_returns(&name, pattern);
        // And garbage in the slots as well.
        scribbler.every_sequence(|i| (1 << 45) + i);
        every_call_returns(&name, pattern);
    }
}

#[test]
fn a_blocking_send_or_recv_on_garbage_still_times_out_after_messages() {
    // Fill some slots with real traffic first, then turn the rest into
    // garbage: the calls still return.
    let (name, queue, scribbler) = fresh_queue("mixed");
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    for _ in 0..3 {
        sender.send(b"ok").unwrap();
    }
    drop(receiver.recv().unwrap());
    scribbler.every_sequence(|i| if i < 4 { i } else { (1 << 52) + i });
    every_call_returns(&name, "mixed");
}

/// The two calls of the issue on their own: every slot's sequence word far
/// in the future (anyone who can write the segment can do it).
#[test]
fn recv_timeout_returns_when_every_sequence_is_far_ahead() {
    let (_name, queue, scribbler) = fresh_queue("far-recv");
    let receiver = queue.receiver().unwrap();
    let _sender = queue.sender().unwrap();
    scribbler.every_sequence(|i| (1 << 50) + i);
    let outcome = within_watchdog("recv_timeout(10 ms)", move || {
        receiver.recv_timeout(SHORT).map(|m| m.len())
    });
    assert!(
        matches!(
            outcome,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Corrupt(_))
        ),
        "{outcome:?}"
    );
}

#[test]
fn send_timeout_returns_when_every_sequence_is_far_ahead() {
    let (_name, queue, scribbler) = fresh_queue("far-send");
    let sender = queue.sender().unwrap();
    let _receiver = queue.receiver().unwrap();
    scribbler.every_sequence(|i| (1 << 50) + i);
    let outcome = within_watchdog("send_timeout(10 ms)", move || {
        sender.send_timeout(b"x", SHORT)
    });
    assert!(
        matches!(
            outcome,
            Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Corrupt(..))
        ),
        "{outcome:?}"
    );
}
