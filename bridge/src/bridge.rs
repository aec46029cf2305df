//! A running bridge: its session, its routes, and the thread that watches
//! the links and writes the status file.

use crate::config::{BridgeConfig, ConfigError, Direction, Route};
use crate::counters::{BridgeStatus, RouteCounters};
use crate::rings::Rings;
use crate::session::{Links, zenoh_config};
use crate::{in_route, out_route, status};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zenoh::Wait;

/// Why a bridge did not start.
#[derive(Debug)]
pub enum BridgeError {
    /// The configuration is not valid.
    Config(ConfigError),
    /// A ring could not be opened or attached.
    Ring(String),
    /// zenoh refused the session or a declaration.
    Zenoh(String),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BridgeError::Config(e) => write!(f, "{e}"),
            BridgeError::Ring(m) | BridgeError::Zenoh(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for BridgeError {}

impl From<ConfigError> for BridgeError {
    fn from(e: ConfigError) -> BridgeError {
        BridgeError::Config(e)
    }
}

/// How long a stopping bridge waits for its out routes' last `put`s.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How often the links are looked at.
const LINK_POLL: Duration = Duration::from_millis(100);

/// A bridge running in this process's threads (and zenoh's). Stops on
/// [`stop`](Bridge::stop) or when dropped.
#[derive(Debug)]
pub struct Bridge {
    shared: Arc<Shared>,
    out_threads: Vec<JoinHandle<()>>,
    subscriptions: Vec<in_route::Subscription>,
    monitor: Option<JoinHandle<()>>,
    /// Kept for the bridge's life: the broker's connection holds the roles.
    _rings: Rings,
}

/// What the monitor thread shares with the bridge.
#[derive(Debug)]
struct Shared {
    session: zenoh::Session,
    routes: Vec<(Route, Arc<RouteCounters>)>,
    links: Links,
    stop: AtomicBool,
    routes_stop: Arc<AtomicBool>,
}

impl Shared {
    fn status(&self, stopped: bool) -> BridgeStatus {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        BridgeStatus {
            pid: std::process::id(),
            zid: self.session.zid().to_string(),
            at_ms,
            stopped,
            linked: self.links.linked(),
            connects: self.links.connects.load(Relaxed),
            disconnects: self.links.disconnects.load(Relaxed),
            reconnects: self.links.reconnects.load(Relaxed),
            routes: self
                .routes
                .iter()
                .map(|(route, counters)| counters.snapshot(route))
                .collect(),
        }
    }
}

impl Bridge {
    /// Opens the session and every route's ring; fails, having closed
    /// what it opened, if any of them cannot be.
    pub fn start(config: BridgeConfig) -> Result<Bridge, BridgeError> {
        config.check()?;
        let rings = Rings::connect(&config.rings).map_err(BridgeError::Ring)?;
        // Rings first: a bridge whose ring is missing fails before it
        // appears on the network.
        let mut opened = Vec::new();
        for route in &config.routes {
            let endpoint = match route.direction {
                Direction::Out => rings.receiver(&route.ring).map(Opened::Out),
                Direction::In => rings.sender(&route.ring).map(Opened::In),
            };
            opened.push(endpoint.map_err(|e| BridgeError::Ring(format!("{route}: {e}")))?);
        }
        let z = zenoh_config(&config).map_err(BridgeError::Zenoh)?;
        let session = zenoh::open(z)
            .wait()
            .map_err(|e| BridgeError::Zenoh(format!("cannot open the zenoh session: {e}")))?;
        tracing::info!(zid = %session.zid(), "zenoh session open");
        let routes: Vec<(Route, Arc<RouteCounters>)> = config
            .routes
            .iter()
            .map(|r| (r.clone(), Arc::new(RouteCounters::default())))
            .collect();
        let routes_stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            session,
            routes,
            links: Links::default(),
            stop: AtomicBool::new(false),
            routes_stop,
        });
        let mut bridge = Bridge {
            shared: shared.clone(),
            out_threads: Vec::new(),
            subscriptions: Vec::new(),
            monitor: None,
            _rings: rings,
        };
        for ((route, counters), endpoint) in shared.routes.iter().zip(opened) {
            let stop = shared.routes_stop.clone();
            let started = match endpoint {
                Opened::Out(receiver) => {
                    out_route::start(&shared.session, route, receiver, counters.clone(), stop)
                        .map(|t| bridge.out_threads.push(t))
                }
                Opened::In(sender) => {
                    in_route::start(&shared.session, route, sender, counters.clone(), stop)
                        .map(|s| bridge.subscriptions.push(s))
                }
            };
            // On error, dropping `bridge` stops what did start.
            started.map_err(|e| BridgeError::Zenoh(format!("{route}: {e}")))?;
            tracing::info!(route = %route, "route started");
        }
        let path = config.status_file.clone();
        let interval = config.status_interval;
        let watched = shared.clone();
        bridge.monitor = Some(
            std::thread::Builder::new()
                .name("bridge monitor".into())
                .spawn(move || monitor(&watched, path.as_deref(), interval))
                .map_err(|e| BridgeError::Zenoh(format!("cannot start a thread: {e}")))?,
        );
        Ok(bridge)
    }

    /// The out routes' counters, in the order of their threads.
    fn out_counters(&self) -> Vec<(Route, Arc<RouteCounters>)> {
        self.shared
            .routes
            .iter()
            .filter(|(r, _)| r.direction == Direction::Out)
            .cloned()
            .collect()
    }

    /// The counters now.
    pub fn status(&self) -> BridgeStatus {
        self.shared.status(false)
    }

    /// Stops every route, closes the session, and returns the last
    /// counters (also written to the status file).
    pub fn stop(mut self) -> BridgeStatus {
        self.shut_down()
    }

    fn shut_down(&mut self) -> BridgeStatus {
        // Out routes first: nothing more is taken from the rings. A route
        // whose `put` waits for a far side that does not read (lossless,
        // its ring full) would wait as long as that lasts: after a grace
        // period the session is closed under it, which fails the `put`.
        self.shared.routes_stop.store(true, Relaxed);
        let grace = Instant::now() + STOP_GRACE;
        while self.out_threads.iter().any(|t| !t.is_finished()) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        let out_counters = self.out_counters();
        let mut stuck = false;
        for (t, (_, counters)) in self.out_threads.drain(..).zip(out_counters) {
            if t.is_finished() {
                let _ = t.join();
            } else {
                // zenoh's `put` does not return while its queue is full,
                // nor does closing the session under it: the thread is left
                // behind (a process exits under it) and the message in its
                // hands is not sent.
                stuck = true;
                RouteCounters::add(&counters.abandoned, 1);
                tracing::warn!("an out route is still waiting for zenoh: its message is abandoned");
            }
        }
        for s in self.subscriptions.drain(..) {
            s.stop();
        }
        self.shared.stop.store(true, Relaxed);
        if let Some(m) = self.monitor.take() {
            let _ = m.join();
        }
        let last = self.shared.status(true);
        if stuck {
            // Closing (or dropping) the session would wait for the stuck
            // `put`: it stays open until the process ends.
            std::mem::forget(self.shared.clone());
        } else {
            let _ = self.shared.session.close().wait();
        }
        last
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if !self.shared.stop.load(Relaxed) {
            self.shut_down();
        }
    }
}

enum Opened {
    Out(shmring::AnyReceiver),
    In(shmring::AnySender),
}

/// Watches the links and rewrites the status file until the bridge stops;
/// writes it one last time, marked stopped.
fn monitor(shared: &Shared, path: Option<&std::path::Path>, interval: Duration) {
    let write = |stopped: bool| {
        if let Some(path) = path {
            if let Err(e) = status::write(path, &shared.status(stopped)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the status file");
            }
        }
    };
    let mut next_write = Instant::now();
    while !shared.stop.load(Relaxed) {
        shared.links.look(&shared.session);
        if Instant::now() >= next_write {
            write(false);
            next_write = Instant::now() + interval;
        }
        std::thread::sleep(LINK_POLL.min(interval));
    }
    shared.links.look(&shared.session);
    write(true);
}
