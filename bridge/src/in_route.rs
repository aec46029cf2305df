//! An in route: the samples of a key expression, sent into a local ring
//! from zenoh's delivery task (the subscriber's callback).
//!
//! A lossless route waits in that callback while its ring is full: zenoh
//! then stops reading the link, the far side's transmission queue fills
//! and its lossless publisher blocks, which holds back the far ring's
//! producer. That is end-to-end back-pressure; its price is that every
//! route sharing the link waits too (docs/bridge.md).

use crate::config::Route;
use crate::counters::RouteCounters;
use crate::header::{Header, SequenceCheck, Verdict};
use shmring::{AnySender, MessageSender, SendTimeoutError, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zenoh::Wait;
use zenoh::sample::{Locality, Sample};

/// How long one wait for room lasts before the stop flag is looked at
/// again.
const POLL: Duration = Duration::from_millis(100);

/// A declared in route.
pub(crate) struct Subscription {
    subscriber: zenoh::pubsub::Subscriber<()>,
    /// Held by the callback while it delivers a sample.
    delivery: Arc<Mutex<Delivery>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("key", self.subscriber.key_expr())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Undeclares the subscriber and waits for a delivery in progress to
    /// end (one waiting for room gives up within [`POLL`] of the stop
    /// flag), so that the counters are final.
    pub fn stop(self) {
        let _ = self.subscriber.undeclare().wait();
        drop(self.delivery.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

struct Delivery {
    sender: AnySender,
    order: SequenceCheck,
    counters: Arc<RouteCounters>,
    lossy: bool,
    /// Whether the last sample found the ring without a receiver or full
    /// (reported once per episode, not once per sample).
    waiting: bool,
    /// When a refused sample was last logged: at most one line a second,
    /// so that a flood of bad samples cannot flood the log (the counters
    /// count every one).
    last_warning: Option<Instant>,
}

/// Subscribes to the route's key; from then on samples flow into the ring.
pub(crate) fn start(
    session: &zenoh::Session,
    route: &Route,
    sender: AnySender,
    counters: Arc<RouteCounters>,
    stop: Arc<AtomicBool>,
) -> Result<Subscription, String> {
    let delivery = Arc::new(Mutex::new(Delivery {
        sender,
        order: SequenceCheck::default(),
        counters: counters.clone(),
        lossy: route.lossy,
        waiting: false,
        last_warning: None,
    }));
    let delivering = delivery.clone();
    let subscriber = session
        .declare_subscriber(route.key.clone())
        .allowed_origin(Locality::Remote)
        .callback(move |sample| {
            let mut delivery = delivering.lock().unwrap_or_else(|p| p.into_inner());
            delivery.deliver(&sample, &stop);
        })
        .wait()
        .map_err(|e| format!("zenoh refused a subscriber on {:?}: {e}", route.key))?;
    counters.set_state("running");
    Ok(Subscription {
        subscriber,
        delivery,
    })
}

impl Delivery {
    fn deliver(&mut self, sample: &Sample, stop: &AtomicBool) {
        let counters = self.counters.clone();
        let c = &*counters;
        if let Some(attachment) = sample.attachment() {
            let Some(header) = Header::decode(&attachment.to_bytes()) else {
                RouteCounters::add(&c.malformed, 1);
                if self.may_warn() {
                    tracing::warn!(
                    key = %sample.key_expr(),
                    attachment_len = attachment.len(),
                    malformed = c.malformed.load(Relaxed),
                    "sample refused: its attachment is not a bridge header"
                    );
                }
                return;
            };
            match self.order.judge(header) {
                Verdict::First => RouteCounters::add(&c.sources, 1),
                Verdict::InOrder => {}
                Verdict::AfterGap(n) => {
                    RouteCounters::add(&c.lost, n);
                    if self.may_warn() {
                        tracing::warn!(lost = n, source = header.source, "samples lost on the way");
                    }
                }
                Verdict::Duplicate => {
                    RouteCounters::add(&c.duplicates, 1);
                    if self.may_warn() {
                        tracing::warn!(
                            source = header.source,
                            sequence = header.sequence,
                            duplicates = c.duplicates.load(Relaxed),
                            "sample refused: already delivered"
                        );
                    }
                    return;
                }
            }
        }
        let payload = sample.payload().to_bytes();
        let len = payload.len() as u64;
        let outcome = if self.lossy {
            match self.sender.try_send(&payload) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    RouteCounters::add(&c.dropped_full, 1);
                    self.note_waiting("the ring is full or has no receiver: dropping");
                    return;
                }
                Err(TrySendError::TooLarge(_)) => Err(Refused::TooLarge),
                Err(TrySendError::Corrupt(_, e)) => Err(Refused::Corrupt(e.to_string())),
            }
        } else {
            self.send_waiting(&payload, stop)
        };
        match outcome {
            Ok(()) => {
                RouteCounters::add(&c.messages, 1);
                RouteCounters::add(&c.bytes, len);
                if std::mem::take(&mut self.waiting) {
                    c.set_state("running");
                }
            }
            Err(Refused::TooLarge) => {
                RouteCounters::add(&c.oversized, 1);
                if self.may_warn() {
                    tracing::warn!(
                        key = %sample.key_expr(),
                        len,
                        oversized = c.oversized.load(Relaxed),
                        "sample refused: larger than the ring's largest message"
                    );
                }
            }
            Err(Refused::Corrupt(e)) => {
                RouteCounters::add(&c.errors, 1);
                tracing::error!(error = %e, "corrupt ring: sample dropped");
            }
            Err(Refused::Stopping) => RouteCounters::add(&c.abandoned, 1),
        }
    }

    /// A lossless send: waits for room or for a receiver, as long as it
    /// takes, until the bridge stops.
    fn send_waiting(&mut self, payload: &[u8], stop: &AtomicBool) -> Result<(), Refused> {
        loop {
            match self.sender.send_timeout(payload, POLL) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(_)) => {
                    self.note_waiting("waiting: the ring is full");
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.note_waiting("waiting: the ring has no receiver");
                    std::thread::sleep(POLL);
                }
                Err(SendTimeoutError::TooLarge(_)) => return Err(Refused::TooLarge),
                Err(SendTimeoutError::Corrupt(_, e)) => {
                    return Err(Refused::Corrupt(e.to_string()));
                }
            }
            if stop.load(Relaxed) {
                return Err(Refused::Stopping);
            }
        }
    }

    fn may_warn(&mut self) -> bool {
        let now = Instant::now();
        let quiet = self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if quiet {
            self.last_warning = Some(now);
        }
        quiet
    }

    fn note_waiting(&mut self, state: &str) {
        if !self.waiting {
            self.waiting = true;
            self.counters.set_state(state);
        }
    }
}

enum Refused {
    TooLarge,
    Corrupt(String),
    Stopping,
}
