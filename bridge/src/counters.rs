//! What a bridge counts, per route and for its session, and the snapshot
//! it reports (`--status FILE`, [`Bridge::status`](crate::Bridge::status),
//! `shmring-bridge status`).

use crate::config::{Direction, Route};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A route's counters, bumped by its own thread (out) or by zenoh's
/// delivery task (in) and read by the status writer. Each is a tally on
/// its own: Relaxed, nothing is published through them.
#[derive(Debug, Default)]
pub(crate) struct RouteCounters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub dropped_no_subscriber: AtomicU64,
    pub dropped_full: AtomicU64,
    pub lagged: AtomicU64,
    pub oversized: AtomicU64,
    pub malformed: AtomicU64,
    pub duplicates: AtomicU64,
    pub lost: AtomicU64,
    pub errors: AtomicU64,
    pub abandoned: AtomicU64,
    pub sources: AtomicU64,
    pub state: std::sync::Mutex<String>,
}

impl RouteCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn set_state(&self, state: impl Into<String>) {
        let state = state.into();
        let mut held = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *held != state {
            tracing::info!(state = %state, "route state");
            *held = state;
        }
    }

    pub fn snapshot(&self, route: &Route) -> RouteStatus {
        let get = |c: &AtomicU64| c.load(Relaxed);
        RouteStatus {
            direction: route.direction.as_str().to_owned(),
            ring: route.ring.clone(),
            key: route.key.clone(),
            lossy: route.lossy,
            express: route.express,
            state: self.state.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            messages: get(&self.messages),
            bytes: get(&self.bytes),
            dropped_no_subscriber: get(&self.dropped_no_subscriber),
            dropped_full: get(&self.dropped_full),
            lagged: get(&self.lagged),
            oversized: get(&self.oversized),
            malformed: get(&self.malformed),
            duplicates: get(&self.duplicates),
            lost: get(&self.lost),
            errors: get(&self.errors),
            abandoned: get(&self.abandoned),
            sources: get(&self.sources),
        }
    }
}

/// One route's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// `out` (ring to zenoh) or `in` (zenoh to ring).
    pub direction: String,
    /// The local ring.
    pub ring: String,
    /// The key expression.
    pub key: String,
    /// Drops instead of waiting.
    pub lossy: bool,
    /// Unbatched samples.
    pub express: bool,
    /// What the route is doing: `running`, `waiting for a subscriber`, …
    pub state: String,
    /// Messages carried (out: published; in: sent into the ring).
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Out, lossy: taken from the ring while no subscriber matched.
    pub dropped_no_subscriber: u64,
    /// In, lossy: samples dropped because the ring was full or had no
    /// receiver.
    pub dropped_full: u64,
    /// Out, from a lossy pub/sub ring: messages overwritten before the
    /// bridge read them.
    pub lagged: u64,
    /// In: samples larger than the ring's largest message, refused.
    pub oversized: u64,
    /// In: samples whose attachment is not a bridge header, refused.
    pub malformed: u64,
    /// In: samples at or before one already delivered from the same
    /// source, refused.
    pub duplicates: u64,
    /// In: sequence numbers skipped between two delivered samples of one
    /// source (lost on the way).
    pub lost: u64,
    /// Failures of zenoh or of the ring (logged).
    pub errors: u64,
    /// In, lossless: samples still waiting for room in the ring when the
    /// bridge was stopped.
    pub abandoned: u64,
    /// In: distinct sending route runs seen (a restarted far bridge is a
    /// new one).
    pub sources: u64,
}

/// A bridge's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStatus {
    /// The bridge's process id.
    pub pid: u32,
    /// Its zenoh session id.
    pub zid: String,
    /// Milliseconds since the Unix epoch at this snapshot.
    pub at_ms: u64,
    /// Whether the bridge has stopped (the last snapshot).
    pub stopped: bool,
    /// zenoh nodes (peers and routers) linked right now.
    pub linked: Vec<String>,
    /// Links that came up.
    pub connects: u64,
    /// Links that went down.
    pub disconnects: u64,
    /// Links that came up after one had gone down.
    pub reconnects: u64,
    /// Per route.
    pub routes: Vec<RouteStatus>,
}

impl BridgeStatus {
    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serialises")
    }

    /// Reads what [`to_json`](Self::to_json) wrote.
    pub fn from_json(text: &str) -> Result<BridgeStatus, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The route joining `ring` and `key` in `direction`.
    pub fn route(&self, direction: Direction, ring: &str, key: &str) -> Option<&RouteStatus> {
        self.routes
            .iter()
            .find(|r| r.direction == direction.as_str() && r.ring == ring && r.key == key)
    }
}

impl std::fmt::Display for BridgeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use shmring::human::{Bytes, Count};
        writeln!(
            f,
            "bridge pid {} zenoh {}{}",
            self.pid,
            self.zid,
            if self.stopped { " (stopped)" } else { "" }
        )?;
        writeln!(
            f,
            "links:     {} now ({} up, {} down, {} reconnects)",
            self.linked.len(),
            self.connects,
            self.disconnects,
            self.reconnects
        )?;
        for r in &self.routes {
            let (from, to) = match r.direction.as_str() {
                "out" => (r.ring.as_str(), r.key.as_str()),
                _ => (r.key.as_str(), r.ring.as_str()),
            };
            writeln!(f, "{:<3} {from} -> {to}: {}", r.direction, r.state)?;
            writeln!(f, "    {} messages, {}", Count(r.messages), Bytes(r.bytes))?;
            let refused = [
                ("dropped (no subscriber)", r.dropped_no_subscriber),
                ("dropped (ring full)", r.dropped_full),
                ("lagged", r.lagged),
                ("oversized", r.oversized),
                ("malformed", r.malformed),
                ("duplicates", r.duplicates),
                ("lost on the way", r.lost),
                ("errors", r.errors),
                ("abandoned at stop", r.abandoned),
            ];
            let shown: Vec<String> = refused
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(what, n)| format!("{what} {n}"))
                .collect();
            if !shown.is_empty() {
                writeln!(f, "    {}", shown.join(", "))?;
            }
        }
        Ok(())
    }
}
