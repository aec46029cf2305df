//! A ring's traffic counters as `stat` and `top` show them: text for a
//! person, JSON for a program.

use shmring::TrafficCounts;
use shmring::human::{Bytes, Count};

/// The counters under their JSON names (`stat --json`'s `traffic`).
pub fn to_json(t: &TrafficCounts) -> serde_json::Value {
    serde_json::json!({
        "sent": t.sent,
        "bytes_sent": t.bytes_sent,
        "full": t.full,
        "sender_parks": t.sender_parks,
        "sender_wakes": t.sender_wakes,
        "received": t.received,
        "bytes_received": t.bytes_received,
        "empty": t.empty,
        "receiver_parks": t.receiver_parks,
        "receiver_wakes": t.receiver_wakes,
        "recovered": t.recovered,
    })
}

/// `stat`'s lines for the counters, aligned with its other fields.
pub fn print(t: &TrafficCounts) {
    println!(
        "sent:        {} messages, {}; full {} times; senders slept {} times, woke receivers {} times",
        Count(t.sent),
        Bytes(t.bytes_sent),
        Count(t.full),
        Count(t.sender_parks),
        Count(t.sender_wakes)
    );
    println!(
        "received:    {} messages, {}; empty {} times; receivers slept {} times, woke senders {} times",
        Count(t.received),
        Bytes(t.bytes_received),
        Count(t.empty),
        Count(t.receiver_parks),
        Count(t.receiver_wakes)
    );
}
