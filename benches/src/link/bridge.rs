//! The bridge rows (feature `bridge`): zenoh publish/subscribe used
//! directly between the two processes, and shmring rings bridged over
//! zenoh by `shmring-bridge`, driven through the same [`Tx`]/[`Rx`]
//! loops as every other row.
//!
//! Both rows run zenoh the same way: peer mode, multicast scouting off,
//! the bench's session listening on `tcp/127.0.0.1:PORT` (a port the
//! kernel picked for the row) and the peer's connecting to it; round
//! trips publish with `express` and `CongestionControl::Block`, streams
//! with `Block` and zenoh's default batching.
//!
//! - zenoh direct: the bench publishes on `{tag}/ping` and subscribes to
//!   `{tag}/pong`, the peer the other way round. A subscriber is zenoh's
//!   default handler (a FIFO channel of 256 samples), read with `recv`,
//!   the payload read in place.
//! - bridge: the bench sends into ring `{tag}-up`, bridge A (this
//!   process, `Bridge::start`) publishes it on `{tag}/ping`, bridge B (the
//!   peer) copies each sample into ring `{tag}-b-up`, the peer echoes into
//!   `{tag}-b-down`, bridge B publishes it on `{tag}/pong` and bridge A
//!   copies it into `{tag}-down`, which the bench reads. The bench makes
//!   all four rings (so its cleanup removes their names).
//!
//! What must outlive the measuring loop lives in a [`Keep`]: the bench's
//! session or bridge A goes in the row's [`Cleanup`] (closed after the
//! peer has exited, so nothing in flight is cut off); the peer's waits
//! for the end of a pipe the bench closes once it has the echo of the
//! last message, then stops bridge B or closes its session.

use super::rings::{GuardRx, SendTx, geometry};
use super::{AnyEnds, Cleanup, Ends, Pattern, PeerHandover};
use crate::Result;
use crate::mechanism::Mechanism;
use crate::traffic::{Rx, Tx};
use rustix::fd::{AsFd, OwnedFd};
use shmring::prelude::*;
use shmring::{RingBuilder, Spsc};
use std::time::{Duration, Instant};
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::qos::CongestionControl;
use zenoh::sample::Sample;
use zenoh::{Config, Session, Wait};

/// How long a side waits for the other's subscriber to be known, for a
/// ring to be drained, for the bench to have the last echo.
const PATIENCE: Duration = Duration::from_secs(10);

/// Sends through `Publisher::put(..).wait()`; the first send waits until
/// a subscriber matches (zenoh drops what is published before that).
pub struct ZenohTx {
    publisher: Publisher<'static>,
    matched: bool,
}

/// Receives through the subscriber's default handler (`recv`), the
/// payload read in place.
pub struct ZenohRx(Subscriber<FifoChannelHandler<Sample>>);

impl std::fmt::Debug for ZenohTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZenohTx({})", self.publisher.key_expr())
    }
}

impl std::fmt::Debug for ZenohRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZenohRx({})", self.0.key_expr())
    }
}

impl Tx for ZenohTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        if !self.matched {
            wait_for_subscriber(&self.publisher)?;
            self.matched = true;
        }
        self.publisher.put(msg).wait()
    }
}

impl Rx for ZenohRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let sample = self.0.recv()?;
        let payload = sample.payload().to_bytes();
        Ok(f(&payload))
    }
}

fn wait_for_subscriber(publisher: &Publisher<'_>) -> Result<()> {
    let until = Instant::now() + PATIENCE;
    while !publisher.matching_status().wait()?.matching() {
        if Instant::now() >= until {
            return Err(format!(
                "no subscriber of {} within {PATIENCE:?}",
                publisher.key_expr()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// What must outlive the measuring loop of one side, undone in this
/// order when dropped: wait until the ring `drain` is empty (the bridge
/// took every message), wait for the end of the pipe `eof`, stop the
/// bridge, close the session. `closes` is the bench's end of that pipe.
#[derive(Default)]
pub struct Keep {
    drain: Option<Spsc>,
    eof: Option<OwnedFd>,
    closes: Option<OwnedFd>,
    bridge: Option<shmring_bridge::Bridge>,
    session: Option<Session>,
    rings: Vec<Spsc>,
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keep")
            .field("drain", &self.drain.is_some())
            .field("eof", &self.eof)
            .field("closes", &self.closes)
            .field("bridge", &self.bridge.is_some())
            .field("session", &self.session.is_some())
            .field("rings", &self.rings.len())
            .finish()
    }
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(ring) = self.drain.take() {
            let until = Instant::now() + PATIENCE;
            while ring.messages_in_flight() > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        if let Some(fd) = self.eof.take() {
            // Blocking: a bench that dies kills the peer (parent death
            // signal), one that hangs is stopped by its watchdog.
            let mut byte = [0u8; 1];
            while let Ok(n) = rustix::io::read(&fd, &mut byte) {
                if n == 0 {
                    break;
                }
            }
        }
        self.closes.take();
        if let Some(bridge) = self.bridge.take() {
            let status = bridge.stop();
            if std::env::var_os("SHMRING_BENCH_BRIDGE_STATUS").is_some() {
                eprintln!("bridge stopped: {status:?}");
            }
        }
        if let Some(session) = self.session.take() {
            let _ = session.close().wait();
        }
    }
}

/// A half and what it keeps alive; `keep` is dropped first.
#[derive(Debug)]
pub struct Kept<T> {
    keep: Keep,
    inner: T,
}

impl<T> Kept<T> {
    fn new(inner: T) -> Kept<T> {
        Kept {
            keep: Keep::default(),
            inner,
        }
    }
}

impl<T: Tx> Tx for Kept<T> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.inner.send(msg)
    }
}

impl<T: Rx> Rx for Kept<T> {
    #[inline]
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        self.inner.recv(f)
    }
}

/// One side of a zenoh-direct row.
pub type ZenohEnds = Ends<Kept<ZenohTx>, Kept<ZenohRx>>;

/// One side of a bridge row: the application's ends of two SPSC rings.
pub type BridgeEnds =
    Ends<Kept<SendTx<<Spsc as Ring>::Sender>>, Kept<GuardRx<<Spsc as Ring>::Receiver>>>;

fn endpoint(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

/// A loopback port nobody listens on: the kernel picks it.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn zenoh_config(listen: Option<u16>, connect: Option<u16>) -> Result<Config> {
    let list = |port: Option<u16>| match port {
        Some(port) => format!("[\"{}\"]", endpoint(port)),
        None => "[]".to_string(),
    };
    let mut config = Config::default();
    config.insert_json5("mode", "\"peer\"")?;
    config.insert_json5("scouting/multicast/enabled", "false")?;
    config.insert_json5("listen/endpoints", &list(listen))?;
    config.insert_json5("connect/endpoints", &list(connect))?;
    Ok(config)
}

fn publisher(session: &Session, key: String, pattern: Pattern) -> Result<ZenohTx> {
    let publisher = session
        .declare_publisher(key)
        .congestion_control(CongestionControl::Block)
        .express(pattern == Pattern::RoundTrip)
        .wait()?;
    Ok(ZenohTx {
        publisher,
        matched: false,
    })
}

fn subscriber(session: &Session, key: String) -> Result<ZenohRx> {
    Ok(ZenohRx(session.declare_subscriber(key).wait()?))
}

/// The pipe whose end tells the peer that the bench has the echo of the
/// last message: (the peer's stdin, the bench's end).
fn last_echo_pipe() -> Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

fn parse_spec(spec: &str) -> Result<(&str, u16)> {
    let (tag, port) = spec.rsplit_once(':').ok_or("bridge spec is TAG:PORT")?;
    Ok((tag, port.parse()?))
}

/// The bench's side of a zenoh-direct row: a session listening on a
/// fresh loopback port, publisher on `ping`, subscriber on `pong`.
pub fn zenoh_prepare(
    pattern: Pattern,
    tag: &str,
    handover: &mut PeerHandover,
    cleanup: &mut Cleanup,
) -> Result<AnyEnds> {
    let port = free_port()?;
    let session = zenoh::open(zenoh_config(Some(port), None)?).wait()?;
    let tx = publisher(&session, format!("{tag}/ping"), pattern)?;
    let mut rx = None;
    if pattern == Pattern::RoundTrip {
        let (theirs, ours) = last_echo_pipe()?;
        handover.stdin = Some(theirs);
        let mut kept = Kept::new(subscriber(&session, format!("{tag}/pong"))?);
        kept.keep.closes = Some(ours);
        rx = Some(kept);
    }
    handover.spec = format!("{tag}:{port}");
    let mut keep = Keep::default();
    keep.session = Some(session);
    cleanup.held.push(keep);
    Ok(AnyEnds::Zenoh(Box::new(Ends {
        tx: Some(Kept::new(tx)),
        rx,
    })))
}

/// The peer's side of a zenoh-direct row: a session connected to the
/// bench's, subscriber on `ping`, publisher on `pong` (ready once the
/// bench's subscriber is known).
pub fn zenoh_attach(pattern: Pattern, spec: &str) -> Result<AnyEnds> {
    let (tag, port) = parse_spec(spec)?;
    let session = zenoh::open(zenoh_config(None, Some(port))?).wait()?;
    let rx = subscriber(&session, format!("{tag}/ping"))?;
    let mut keep = Keep::default();
    keep.session = Some(session.clone());
    Ok(AnyEnds::Zenoh(Box::new(match pattern {
        Pattern::RoundTrip => {
            let mut tx = publisher(&session, format!("{tag}/pong"), pattern)?;
            wait_for_subscriber(&tx.publisher)?;
            tx.matched = true;
            keep.eof = Some(std::io::stdin().as_fd().try_clone_to_owned()?);
            Ends {
                tx: Some(Kept { keep, inner: tx }),
                rx: Some(Kept::new(rx)),
            }
        }
        Pattern::Stream => Ends {
            tx: None,
            rx: Some(Kept { keep, inner: rx }),
        },
    })))
}

fn ring_builder(size: usize) -> Result<RingBuilder<Spsc>> {
    let geometry = geometry(Mechanism::SpscSpinPark, size).ok_or("no SPSC geometry")?;
    // The application's ends sleep on the futex at once, as zenoh direct's
    // application sleeps in its subscriber's channel: on two pinned CPUs a
    // spinning end would hold the CPU its own process's zenoh threads need.
    Ok(RingBuilder::<Spsc>::new()
        .geometry(geometry)
        .wait_strategy(shmring::WaitStrategy::Park))
}

fn start_bridge(args: &[String]) -> Result<shmring_bridge::Bridge> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = shmring_bridge::BridgeConfig::from_args(args.as_slice())?;
    Ok(shmring_bridge::Bridge::start(config)?)
}

/// zenoh options of a route: express for round trips, zenoh's default
/// batching for streams (lossless, `CongestionControl::Block`, either way).
fn route_options(pattern: Pattern) -> &'static str {
    match pattern {
        Pattern::RoundTrip => "?express",
        Pattern::Stream => "",
    }
}

/// The bench's side of a bridge row: the four rings, bridge A listening
/// on a fresh loopback port (`--out {tag}-up={tag}/ping`, and for round
/// trips `--in {tag}/pong={tag}-down`).
pub fn bridge_prepare(
    size: usize,
    pattern: Pattern,
    tag: &str,
    handover: &mut PeerHandover,
    cleanup: &mut Cleanup,
) -> Result<AnyEnds> {
    let round_trip = pattern == Pattern::RoundTrip;
    let builder = ring_builder(size)?;
    let mut make = |direction: &str| -> Result<Spsc> {
        let name = format!("{tag}-{direction}");
        let ring = builder.create(&name)?;
        cleanup.shm_names.push(name);
        Ok(ring)
    };
    let up = make("up")?;
    let down = round_trip.then(|| make("down")).transpose()?;
    let mut theirs = vec![make("b-up")?];
    if round_trip {
        theirs.push(make("b-down")?);
    }
    let tx = SendTx(up.sender()?);
    let rx = down
        .as_ref()
        .map(|d| d.receiver())
        .transpose()?
        .map(GuardRx);
    let port = free_port()?;
    let options = route_options(pattern);
    let mut args = vec![
        "--mode".to_string(),
        "peer".into(),
        "--no-scouting".into(),
        "--listen".into(),
        endpoint(port),
        "--out".into(),
        format!("{tag}-up={tag}/ping{options}"),
    ];
    if round_trip {
        args.extend(["--in".into(), format!("{tag}/pong={tag}-down{options}")]);
    }
    let bridge = start_bridge(&args)?;
    handover.spec = format!("{tag}:{port}");
    let mut keep = Keep::default();
    keep.bridge = Some(bridge);
    keep.rings = theirs;
    cleanup.held.push(keep);
    let rx = match rx {
        Some(rx) => {
            let (theirs, ours) = last_echo_pipe()?;
            handover.stdin = Some(theirs);
            let mut kept = Kept::new(rx);
            kept.keep.closes = Some(ours);
            kept.keep.rings.extend(down);
            Some(kept)
        }
        None => None,
    };
    // A stream's last messages (its final mark and STOP) must have left
    // the ring before the sender lets go.
    let mut tx = Kept::new(tx);
    tx.keep.drain = Some(up);
    Ok(AnyEnds::Bridge(Box::new(Ends { tx: Some(tx), rx })))
}

/// The peer's side of a bridge row: its ends of rings `{tag}-b-up` and
/// `{tag}-b-down`, and bridge B connected to bridge A (`--in
/// {tag}/ping={tag}-b-up`, and for round trips `--out
/// {tag}-b-down={tag}/pong`).
pub fn bridge_attach(size: usize, pattern: Pattern, spec: &str) -> Result<AnyEnds> {
    let (tag, port) = parse_spec(spec)?;
    let round_trip = pattern == Pattern::RoundTrip;
    let builder = ring_builder(size)?;
    let up = builder.open(&format!("{tag}-b-up"))?;
    let rx = GuardRx(up.receiver()?);
    let down = round_trip
        .then(|| builder.open(&format!("{tag}-b-down")))
        .transpose()?;
    let tx = down.as_ref().map(|d| d.sender()).transpose()?.map(SendTx);
    let options = route_options(pattern);
    let mut args = vec![
        "--mode".to_string(),
        "peer".into(),
        "--no-scouting".into(),
        "--connect".into(),
        endpoint(port),
        "--in".into(),
        format!("{tag}/ping={tag}-b-up{options}"),
    ];
    if round_trip {
        args.extend(["--out".into(), format!("{tag}-b-down={tag}/pong{options}")]);
    }
    let mut keep = Keep::default();
    keep.bridge = Some(start_bridge(&args)?);
    keep.rings = [up].into_iter().chain(down).collect();
    Ok(AnyEnds::Bridge(Box::new(match tx {
        Some(tx) => Ends {
            tx: Some(Kept {
                keep: {
                    keep.eof = Some(std::io::stdin().as_fd().try_clone_to_owned()?);
                    keep
                },
                inner: tx,
            }),
            rx: Some(Kept::new(rx)),
        },
        None => Ends {
            tx: None,
            rx: Some(Kept { keep, inner: rx }),
        },
    })))
}
