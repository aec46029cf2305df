//! An out route: a local receiving endpoint's messages, published on a
//! key expression by a thread of its own.

use crate::config::Route;
use crate::counters::RouteCounters;
use crate::header::{Header, new_source};
use shmring::{AnyReceiver, MessageReceiver, RecvTimeoutError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::sample::Locality;

/// How long one wait for a message lasts before the stop flag is looked
/// at again.
const POLL: Duration = Duration::from_millis(100);
/// How often a lossless route looks again for a matching subscriber.
const MATCH_POLL: Duration = Duration::from_millis(2);

/// Declares the route's publisher (failing here, at start, if zenoh
/// refuses it) and starts the thread that feeds it.
pub(crate) fn start(
    session: &zenoh::Session,
    route: &Route,
    receiver: AnyReceiver,
    counters: Arc<RouteCounters>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let publisher = session
        .declare_publisher(route.key.clone())
        .congestion_control(if route.lossy {
            CongestionControl::Drop
        } else {
            CongestionControl::Block
        })
        .express(route.express)
        // The bridge's own in routes never see what it publishes: a
        // bridge with both directions on one key must not loop.
        .allowed_destination(Locality::Remote)
        .wait()
        .map_err(|e| format!("zenoh refused a publisher on {:?}: {e}", route.key))?;
    let matching = Arc::new(AtomicBool::new(false));
    let flag = matching.clone();
    let listener = publisher
        .matching_listener()
        .callback(move |status| flag.store(status.matching(), Relaxed))
        .wait()
        .map_err(|e| format!("zenoh matching listener on {:?}: {e}", route.key))?;
    let now = publisher
        .matching_status()
        .wait()
        .map_err(|e| format!("zenoh matching status on {:?}: {e}", route.key))?;
    matching.fetch_or(now.matching(), Relaxed);
    counters.set_state("starting");
    let lossy = route.lossy;
    let name = format!("out {}", route.ring);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let feed = Feed {
                _listener: listener,
                publisher,
                receiver,
                counters,
                matching,
                lossy,
            };
            feed.run(&stop);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))
}

struct Feed {
    /// Undeclared before the publisher it listens on (fields drop in
    /// order), or zenoh reports it missing.
    _listener: zenoh::matching::MatchingListener<()>,
    publisher: zenoh::pubsub::Publisher<'static>,
    receiver: AnyReceiver,
    counters: Arc<RouteCounters>,
    matching: Arc<AtomicBool>,
    lossy: bool,
}

/// What the route is doing, to report changes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Running,
    NoSubscriber,
    Dropping,
    NoSender,
}

impl Feed {
    fn run(mut self, stop: &AtomicBool) {
        let source = new_source();
        let mut sequence = 0u64;
        let mut state = State::Starting;
        let c = self.counters.clone();
        let report = |now: State, state: &mut State| {
            if *state != now {
                *state = now;
                c.set_state(match now {
                    State::Starting => "starting",
                    State::Running => "running",
                    State::NoSubscriber => "waiting for a subscriber",
                    State::Dropping => "dropping: no subscriber",
                    State::NoSender => "waiting: the ring has no sender",
                });
            }
        };
        while !stop.load(Relaxed) {
            let matched = self.matching.load(Relaxed);
            if !matched && !self.lossy {
                // Lossless: nothing leaves the ring while nobody would
                // receive it; the ring fills and holds its producer back.
                report(State::NoSubscriber, &mut state);
                std::thread::sleep(MATCH_POLL);
                continue;
            }
            let message = match self.receiver.recv_timeout(POLL) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    // Everything sent was carried; a new sender may come.
                    report(State::NoSender, &mut state);
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(RecvTimeoutError::Lagged(n)) => {
                    RouteCounters::add(&self.counters.lagged, n);
                    continue;
                }
                Err(RecvTimeoutError::Corrupt(e)) => {
                    RouteCounters::add(&self.counters.errors, 1);
                    tracing::error!(error = %e, "corrupt ring: route stopped");
                    self.counters
                        .set_state(format!("stopped: the ring is corrupt ({e})"));
                    return;
                }
            };
            if !matched {
                report(State::Dropping, &mut state);
                RouteCounters::add(&self.counters.dropped_no_subscriber, 1);
                continue;
            }
            report(State::Running, &mut state);
            let len = message.len() as u64;
            let payload = ZBytes::from(&message[..]);
            drop(message);
            let header = Header { source, sequence }.encode();
            // Numbered even if zenoh fails it: the far side then counts
            // it as lost instead of never knowing.
            sequence += 1;
            match self.publisher.put(payload).attachment(&header[..]).wait() {
                Ok(()) => {
                    RouteCounters::add(&self.counters.messages, 1);
                    RouteCounters::add(&self.counters.bytes, len);
                }
                Err(e) => {
                    RouteCounters::add(&self.counters.errors, 1);
                    tracing::warn!(error = %e, "zenoh put failed");
                }
            }
        }
    }
}
