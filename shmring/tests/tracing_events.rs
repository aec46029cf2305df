//! The library's `tracing` events: attach and detach (debug), a dead
//! peer's role taken over (info), corruption found (warn), a deadline
//! reached (debug), and nothing at all on the message path.
//!
//! One capturing subscriber is installed process-wide; each test looks
//! only at the events its own thread emitted after a mark, so tests may
//! run in parallel.
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(clippy::disallowed_types)]

mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{MpmcBuilder, OpenError, RecvTimeoutError, SpscBuilder, TryRecvError};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, Once};
use std::thread::ThreadId;
use std::time::Duration;
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    message: String,
    fields: Vec<(String, String)>,
    thread: ThreadId,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

static EVENTS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

/// Records every event, at every level, into `EVENTS`.
struct Capture;

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.push((field.name().to_owned(), text));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let captured = Captured {
            level: *event.metadata().level(),
            message: fields.message,
            fields: fields.fields,
            thread: std::thread::current().id(),
        };
        EVENTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
}

/// Installs the capturing subscriber (once) and returns a mark: the
/// number of events captured so far.
fn mark() -> usize {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .expect("no other global subscriber in this test binary");
    });
    EVENTS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// The events this thread emitted since `mark`.
fn mine_since(mark: usize) -> Vec<Captured> {
    let me = std::thread::current().id();
    EVENTS.lock().unwrap_or_else(|e| e.into_inner())[mark..]
        .iter()
        .filter(|e| e.thread == me)
        .cloned()
        .collect()
}

/// The one event of `events` with `message` and field `ring` = `ring`
/// (and, if given, `endpoint`); panics unless there is exactly one.
fn the_event<'a>(
    events: &'a [Captured],
    message: &str,
    ring: &str,
    endpoint: Option<&str>,
) -> &'a Captured {
    let found: Vec<&Captured> = events
        .iter()
        .filter(|e| {
            e.message == message
                && e.field("ring") == Some(ring)
                && endpoint.is_none_or(|want| e.field("endpoint") == Some(want))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {message:?} event for {ring} ({endpoint:?}) in {events:#?}"
    );
    found[0]
}

#[test]
fn attaching_and_detaching_give_debug_events_naming_the_ring() {
    let start = mark();
    let name = Name::new("trace-attach");
    let ring = SpscBuilder::new().capacity(4096).create(&name).unwrap();
    let producer = ring.producer().unwrap();
    let consumer = ring.consumer().unwrap();
    drop(producer);
    drop(consumer);
    let events = mine_since(start);
    let created = the_event(&events, "segment created", &name, None);
    assert_eq!(created.level, Level::DEBUG);
    assert_eq!(created.field("kind"), Some("spsc"));
    for endpoint in ["producer", "consumer"] {
        for what in ["endpoint attached", "endpoint detached"] {
            let e = the_event(&events, what, &name, Some(endpoint));
            assert_eq!(e.level, Level::DEBUG, "{e:?}");
        }
    }

    let start = mark();
    let queue_name = Name::new("trace-attach-mpmc");
    let queue = MpmcBuilder::new()
        .slots(8)
        .slot_size(64)
        .create(&queue_name)
        .unwrap();
    drop(queue);
    let queue = shmring::Mpmc::open(&queue_name).unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    drop((sender, receiver));
    let events = mine_since(start);
    assert_eq!(
        the_event(&events, "segment opened", &queue_name, None).level,
        Level::DEBUG
    );
    for endpoint in ["sender", "receiver"] {
        for what in ["endpoint attached", "endpoint detached"] {
            let e = the_event(&events, what, &queue_name, Some(endpoint));
            assert_eq!(e.level, Level::DEBUG, "{e:?}");
            assert_eq!(e.field("index"), Some("0"), "{e:?}");
        }
    }
    assert!(
        events.iter().all(|e| e.level == Level::DEBUG),
        "attach and detach are debug only: {events:#?}"
    );
}

#[test]
fn a_killed_consumer_is_taken_over_with_an_info_event() {
    let name = Name::new("trace-takeover");
    let ring = SpscBuilder::new().capacity(4096).create(&name).unwrap();
    let mut peer = Peer::spawn(&["hold-consumer", &name]);
    peer.expect("ready");
    let dead_pid = peer.pid().to_string();
    peer.kill9();
    let start = mark();
    let _consumer = ring.consumer().unwrap();
    let events = mine_since(start);
    let e = the_event(&events, "dead holder's role taken over", &name, None);
    assert_eq!(e.level, Level::INFO);
    assert_eq!(e.field("dead_pid"), Some(dead_pid.as_str()));
}

#[test]
fn a_killed_mpmc_receiver_is_taken_over_with_an_info_event() {
    let name = Name::new("trace-takeover-mpmc");
    let queue = MpmcBuilder::new()
        .slots(8)
        .slot_size(64)
        .create(&name)
        .unwrap();
    let mut peer = Peer::spawn(&["mpmc-hold-receiver", &name]);
    peer.expect("ready");
    let dead_pid = peer.pid().to_string();
    peer.kill9();
    let start = mark();
    let _receiver = queue.receiver().unwrap();
    let events = mine_since(start);
    let e = the_event(
        &events,
        "dead endpoint's entry taken over",
        &name,
        Some("receiver"),
    );
    assert_eq!(e.level, Level::INFO);
    assert_eq!(e.field("dead_pid"), Some(dead_pid.as_str()));
    assert_eq!(e.field("slots_recovered"), Some("0"));
}

#[test]
fn a_corrupted_header_gives_a_warning() {
    let name = Name::new("trace-bad-magic");
    drop(SpscBuilder::new().capacity(1024).create(&name).unwrap());
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    file.write_all_at(b"garbage!", 0).unwrap();
    let start = mark();
    assert!(matches!(
        shmring::Spsc::open(&name),
        Err(OpenError::Corrupt(_))
    ));
    let events = mine_since(start);
    let e = the_event(&events, "segment failed validation", &name, None);
    assert_eq!(e.level, Level::WARN);
    assert!(e.field("error").unwrap().contains("magic"), "{e:?}");
}

#[test]
fn a_corrupted_record_gives_a_warning() {
    let name = Name::new("trace-bad-record");
    let ring = SpscBuilder::new()
        .capacity(256)
        .max_message(64)
        .create(&name)
        .unwrap();
    let mut consumer = ring.consumer().unwrap();
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    // A "published" header at data offset 0 claiming 1 MiB (as in
    // hostile.rs).
    file.write_all_at(&((1u64 << 63) | (1 << 20)).to_le_bytes(), 768)
        .unwrap();
    let start = mark();
    assert!(matches!(consumer.try_recv(), Err(TryRecvError::Corrupt(_))));
    let events = mine_since(start);
    let warnings: Vec<_> = events
        .iter()
        .filter(|e| e.message == "corrupt ring state found")
        .collect();
    assert_eq!(warnings.len(), 1, "{events:#?}");
    assert_eq!(warnings[0].level, Level::WARN);
    assert_eq!(warnings[0].field("operation"), Some("receive"));
}

#[test]
fn an_expired_recv_timeout_gives_one_debug_event() {
    let name = Name::new("trace-deadline");
    let ring = SpscBuilder::new().capacity(1024).create(&name).unwrap();
    let _producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let start = mark();
    assert!(matches!(
        consumer.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    ));
    let events = mine_since(start);
    assert_eq!(events.len(), 1, "one event per call: {events:#?}");
    assert_eq!(events[0].message, "deadline reached");
    assert_eq!(events[0].level, Level::DEBUG);
    assert_eq!(events[0].field("operation"), Some("receive"));
}

const MESSAGES: u32 = 100_000;

#[test]
fn the_spsc_message_path_emits_nothing() {
    let name = Name::new("trace-quiet-spsc");
    let ring = SpscBuilder::new().capacity(1 << 16).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let start = mark();
    for i in 0..MESSAGES {
        let bytes = i.to_le_bytes();
        let sent = match i % 4 {
            0 => producer.try_send(&bytes).is_ok(),
            1 => producer.send(&bytes).is_ok(),
            2 => producer.send_timeout(&bytes, PATIENCE).is_ok(),
            _ => producer.send_value(&i).is_ok(),
        };
        assert!(sent);
        let got = match i % 3 {
            0 => consumer.try_recv().unwrap().to_vec(),
            1 => consumer.recv().unwrap().to_vec(),
            _ => consumer.recv_timeout(PATIENCE).unwrap().to_vec(),
        };
        assert_eq!(got, bytes);
    }
    // A full ring drained in batches: the fast paths of batch and drain.
    let mut batch = producer.batch();
    for i in 0..100u32 {
        batch.push(&i.to_le_bytes()).unwrap();
    }
    batch.commit();
    let mut seen = 0;
    consumer.try_drain(usize::MAX, |_| seen += 1).unwrap();
    assert_eq!(seen, 100);
    let events = mine_since(start);
    assert!(events.is_empty(), "the message path logged: {events:#?}");
}

#[test]
fn the_mpmc_message_path_emits_nothing() {
    let name = Name::new("trace-quiet-mpmc");
    let queue = MpmcBuilder::new()
        .slots(64)
        .slot_size(64)
        .priorities(2)
        .create(&name)
        .unwrap();
    let sender = queue.sender().unwrap();
    let high = sender.with_priority(1);
    let receiver = queue.receiver().unwrap();
    let start = mark();
    for i in 0..MESSAGES {
        let bytes = i.to_le_bytes();
        let sent = match i % 4 {
            0 => sender.try_send(&bytes).is_ok(),
            1 => sender.send(&bytes).is_ok(),
            2 => sender.send_timeout(&bytes, PATIENCE).is_ok(),
            _ => high.send(&bytes).is_ok(),
        };
        assert!(sent);
        let got = match i % 3 {
            0 => receiver.try_recv().unwrap().to_vec(),
            1 => receiver.recv().unwrap().to_vec(),
            _ => receiver.recv_timeout(PATIENCE).unwrap().to_vec(),
        };
        assert_eq!(got, bytes);
    }
    let events = mine_since(start);
    assert!(events.is_empty(), "the message path logged: {events:#?}");
}
