//! An out route: a local receiving endpoint's messages, published on a
//! key expression by a thread of its own.

use crate::config::Route;
use crate::counters::RouteCounters;
use crate::header::{Header, new_source};
use shmring::{AnyReceiver, MessageReceiver, RecvTimeoutError, TryRecvError};
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
                carrier: Carrier {
                    publisher,
                    counters,
                    source: new_source(),
                    sequence: 0,
                    state: State::Starting,
                },
                receiver,
                matching,
                lossy,
            };
            feed.run(&stop);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// Messages copied out of the ring at once, at most.
const BATCH: usize = 256;
/// How many times an out route whose ring is empty gives its CPU away
/// before it sleeps on the futex. On a busy CPU the producer then refills
/// the ring in a batch, instead of waking the route for each message (a
/// context switch each); on an idle one these return at once and cost a
/// few microseconds in all.
const YIELDS: u32 = 64;

struct Feed {
    /// Undeclared before the publisher it listens on (fields drop in
    /// order), or zenoh reports it missing.
    _listener: zenoh::matching::MatchingListener<()>,
    carrier: Carrier,
    receiver: AnyReceiver,
    matching: Arc<AtomicBool>,
    lossy: bool,
}

/// The publishing half: numbers, publishes and counts each message.
struct Carrier {
    publisher: zenoh::pubsub::Publisher<'static>,
    counters: Arc<RouteCounters>,
    source: u64,
    sequence: u64,
    state: State,
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
        let Feed {
            carrier,
            receiver,
            matching,
            lossy,
            ..
        } = &mut self;
        let mut idle = 0;
        let mut batch = Vec::with_capacity(BATCH);
        while !stop.load(Relaxed) {
            let matched = matching.load(Relaxed);
            if !matched && !*lossy {
                // Lossless: nothing leaves the ring while nobody would
                // receive it; the ring fills and holds its producer back.
                carrier.report(State::NoSubscriber);
                std::thread::sleep(MATCH_POLL);
                continue;
            }
            // Messages are copied out and released before they are
            // published: a bridge killed in between loses them, and one
            // restarted never publishes them a second time. An SPSC ring
            // frees a whole batch with one store and at most one wake-up
            // of its producer.
            let drained = receiver.try_drain(BATCH, |m| batch.push(ZBytes::from(m)));
            for message in batch.drain(..) {
                carrier.carry(message, matched);
            }
            let stopped = match drained {
                Ok(_) => {
                    idle = 0;
                    continue;
                }
                Err(TryRecvError::Empty) if idle < YIELDS => {
                    idle += 1;
                    std::thread::yield_now();
                    continue;
                }
                Err(TryRecvError::Empty) => {
                    idle = 0;
                    match receiver.recv_timeout(POLL).map(|m| ZBytes::from(&m[..])) {
                        Ok(message) => {
                            carrier.carry(message, matched);
                            continue;
                        }
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => RecvStop::Disconnected,
                        Err(RecvTimeoutError::Lagged(n)) => RecvStop::Lagged(n),
                        Err(RecvTimeoutError::Corrupt(e)) => RecvStop::Corrupt(e),
                    }
                }
                Err(TryRecvError::Disconnected) => RecvStop::Disconnected,
                Err(TryRecvError::Lagged(n)) => RecvStop::Lagged(n),
                Err(TryRecvError::Corrupt(e)) => RecvStop::Corrupt(e),
            };
            match stopped {
                RecvStop::Disconnected => {
                    // Everything sent was carried; a new sender may come.
                    carrier.report(State::NoSender);
                    std::thread::sleep(POLL);
                }
                RecvStop::Lagged(n) => RouteCounters::add(&carrier.counters.lagged, n),
                RecvStop::Corrupt(e) => {
                    RouteCounters::add(&carrier.counters.errors, 1);
                    tracing::error!(error = %e, "corrupt ring: route stopped");
                    carrier
                        .counters
                        .set_state(format!("stopped: the ring is corrupt ({e})"));
                    return;
                }
            }
        }
    }
}

/// Why a receive returned no message.
enum RecvStop {
    Disconnected,
    Lagged(u64),
    Corrupt(shmring::Corruption),
}

impl Carrier {
    fn report(&mut self, now: State) {
        if self.state != now {
            self.state = now;
            self.counters.set_state(match now {
                State::Starting => "starting",
                State::Running => "running",
                State::NoSubscriber => "waiting for a subscriber",
                State::Dropping => "dropping: no subscriber",
                State::NoSender => "waiting: the ring has no sender",
            });
        }
    }

    /// Publishes one message taken from the ring (a lossy route whose key
    /// nobody subscribes to drops and counts it instead).
    fn carry(&mut self, message: ZBytes, matched: bool) {
        if !matched {
            self.report(State::Dropping);
            RouteCounters::add(&self.counters.dropped_no_subscriber, 1);
            return;
        }
        self.report(State::Running);
        let header = Header {
            source: self.source,
            sequence: self.sequence,
        }
        .encode();
        // Numbered even if zenoh fails it: the far side then counts it as
        // lost instead of never knowing.
        self.sequence += 1;
        let len = message.len() as u64;
        let put = self.publisher.put(message).attachment(&header[..]).wait();
        match put {
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
