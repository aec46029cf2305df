//! Making segments and attaching endpoints over both ring kinds and both
//! ways of reaching a segment, and the calling styles the loops mix.
//!
//! Endpoints are the library's run-time-kind ones ([`AnySender`],
//! [`AnyReceiver`]), so the loops are written once over
//! [`MessageSender`] and [`MessageReceiver`].

use shmring::broker::{BrokerClient, BrokerError, CreateOptions};
use shmring::prelude::*;
use shmring::{
    AnyReceiver, AnyRing, AnySender, AttachError, OpenMode, Patience, RecvStop, RingKind, SendStop,
    SpscBuilder, WaitStrategy,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Ring kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Single producer, single consumer byte ring.
    Spsc,
    /// Multi-producer, multi-consumer slot queue.
    Mpmc,
}

impl Kind {
    /// The library's name for the kind.
    pub fn ring_kind(self) -> RingKind {
        match self {
            Kind::Spsc => RingKind::Spsc,
            Kind::Mpmc => RingKind::Mpmc,
        }
    }
}

/// How a segment is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A named segment in `/dev/shm`.
    Direct,
    /// A memfd from the broker listening at this socket.
    Broker(PathBuf),
}

/// How the endpoint calls the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// Calls with a [`POLL`] deadline (`send_timeout`/`recv_timeout`),
    /// spin-then-park.
    Timeout,
    /// Calls without deadline (`send`/`recv`), spin-then-park.
    Blocking,
    /// Calls that do not wait (`try_send`/`try_recv`) in a loop
    /// (busy-spin strategy for waits).
    Spin,
    /// Like `Timeout`, but waits park at once.
    Park,
}

impl Style {
    fn wait_strategy(self) -> WaitStrategy {
        match self {
            Style::Spin => WaitStrategy::BusySpin,
            Style::Park => WaitStrategy::Park,
            Style::Timeout | Style::Blocking => WaitStrategy::default(),
        }
    }

    /// How long one call may wait.
    fn patience(self) -> Patience {
        match self {
            Style::Timeout | Style::Park => Patience::after(POLL),
            Style::Blocking => Patience::FOREVER,
            Style::Spin => Patience::NoWait,
        }
    }
}

/// Deadline of one timed call; also how often a loop looks at its stop cue.
///
/// Longer than the library's 100 ms liveness interval on purpose: a wait
/// checks the peer's liveness only once it has lasted that long, so a
/// loop of `send_timeout`/`recv_timeout` calls of 100 ms or less never
/// learns that its peer was killed (see `stress/README.md`).
pub const POLL: Duration = Duration::from_millis(250);

/// What one send attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// The message is in the ring.
    Yes,
    /// Not now (full, or timed out): try again.
    Later,
    /// Nobody receives (the other side is gone).
    Gone,
}

/// What one receive attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// A message was handed to the closure (and released after it).
    Yes,
    /// Nothing now.
    Later,
    /// The sending side is gone and everything was received.
    Gone,
}

/// An open endpoint and what keeps it reachable (the broker connection,
/// which is what lets the broker notice this process's death at once).
#[derive(Debug)]
pub struct Opened<T> {
    /// The handle.
    pub handle: T,
    /// The broker connection it came through, if any.
    pub client: Option<BrokerClient>,
}

/// Makes the segment `name` shaped as `options` say: a named segment in
/// `/dev/shm`, or one from the broker through `client`.
pub fn create(
    client: Option<&mut BrokerClient>,
    name: &str,
    options: &CreateOptions,
) -> Result<AnyRing, String> {
    match client {
        None => AnyRing::open_named(name, OpenMode::Create, options.geometry())
            .map_err(|e| format!("create {name}: {e}")),
        Some(c) => c
            .open_any(name, OpenMode::Create, options)
            .map_err(|e| format!("broker create {name}: {e}")),
    }
}

/// One end of a ring: [`AnySender`] or [`AnyReceiver`].
pub trait End: Sized {
    /// What the end is called in errors.
    const WHAT: &'static str;
    /// Attaches this end of a ring opened by name.
    fn attach(ring: &AnyRing) -> Result<Self, AttachError>;
    /// Opens `name`, a `kind` ring, through the broker and attaches this
    /// end, announcing the role (the broker reaps it if this process
    /// dies).
    fn attach_via(client: &mut BrokerClient, kind: Kind, name: &str) -> Result<Self, BrokerError>;
}

impl End for AnySender {
    const WHAT: &'static str = "sender";

    fn attach(ring: &AnyRing) -> Result<Self, AttachError> {
        ring.sender()
    }

    fn attach_via(client: &mut BrokerClient, kind: Kind, name: &str) -> Result<Self, BrokerError> {
        client.attach_sender_of(kind.ring_kind(), name)
    }
}

impl End for AnyReceiver {
    const WHAT: &'static str = "receiver";

    fn attach(ring: &AnyRing) -> Result<Self, AttachError> {
        ring.receiver()
    }

    fn attach_via(client: &mut BrokerClient, kind: Kind, name: &str) -> Result<Self, BrokerError> {
        client.attach_receiver_of(kind.ring_kind(), name)
    }
}

/// Opens `name`, a `kind` ring reached through `transport`, and attaches
/// end `E`, its waits as `style` says.
pub fn open<E: End>(
    kind: Kind,
    transport: &Transport,
    name: &str,
    style: Style,
) -> Result<Opened<E>, String> {
    match transport {
        Transport::Direct => {
            // Only the builder's options count: the kind is read from
            // the header, and checked below.
            let builder = SpscBuilder::new().wait_strategy(style.wait_strategy());
            let ring = AnyRing::open_with(&builder, name, OpenMode::Open)
                .map_err(|e| format!("open {name}: {e}"))?;
            if ring.kind() != kind.ring_kind() {
                return Err(format!(
                    "open {name}: an {} ring, not an {} ring",
                    ring.kind(),
                    kind.ring_kind()
                ));
            }
            let handle = attach_retry(E::WHAT, || E::attach(&ring).map_err(|e| e.to_string()))?;
            Ok(Opened {
                handle,
                client: None,
            })
        }
        Transport::Broker(socket) => {
            let mut c = BrokerClient::connect_to(socket)
                .map(|c| c.with_wait_strategy(style.wait_strategy()))
                .map_err(|e| format!("connect to broker: {e}"))?;
            let handle = attach_retry(E::WHAT, || {
                E::attach_via(&mut c, kind, name).map_err(|e| e.to_string())
            })?;
            Ok(Opened {
                handle,
                client: Some(c),
            })
        }
    }
}

fn attach_retry<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    // An SPSC role still held by a process that is exiting reads as Busy
    // for a moment; anything else is an error at once.
    let deadline = Instant::now() + crate::harness::STEP_LIMIT;
    loop {
        match attempt() {
            Ok(t) => return Ok(t),
            Err(e) if e.contains("held by live process") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// One attempt to send `msg`, waiting as `style` says.
pub fn send(tx: &mut impl MessageSender, msg: &[u8], style: Style) -> Result<Sent, String> {
    match tx.send_within(msg, style.patience()) {
        Ok(()) => Ok(Sent::Yes),
        Err(SendStop::Full) => {
            std::hint::spin_loop();
            Ok(Sent::Later)
        }
        Err(SendStop::Timeout) => Ok(Sent::Later),
        Err(SendStop::Disconnected) => Ok(Sent::Gone),
        Err(stop) => Err(format!("send ({style:?}): {stop:?}")),
    }
}

/// One attempt to receive, waiting as `style` says; `f` sees the message
/// while it is still held (its slot is released after `f` returns).
pub fn recv(
    rx: &mut impl MessageReceiver,
    style: Style,
    f: impl FnOnce(&[u8]),
) -> Result<Got, String> {
    match rx.recv_within(style.patience()) {
        Ok(msg) => {
            f(&msg);
            Ok(Got::Yes)
        }
        Err(RecvStop::Empty) => {
            std::hint::spin_loop();
            Ok(Got::Later)
        }
        Err(RecvStop::Timeout) => Ok(Got::Later),
        Err(RecvStop::Disconnected) => Ok(Got::Gone),
        Err(stop) => Err(format!("recv ({style:?}): {stop:?}")),
    }
}
