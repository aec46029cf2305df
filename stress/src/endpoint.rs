//! One sending and one receiving handle over both ring kinds and both
//! ways of reaching a segment, with the calling styles the loops mix.

use shmring::broker::{BrokerClient, BrokerError};
use shmring::{
    AttachError, Consumer, MpmcBuilder, Producer, Receiver, RecvTimeoutError, SendTimeoutError,
    Sender, SpscBuilder, TryRecvError, TrySendError, WaitStrategy,
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
    /// `send_timeout`/`recv_timeout` with a [`POLL`] deadline, spin-then-park.
    Timeout,
    /// `send`/`recv`, blocking without deadline, spin-then-park.
    Blocking,
    /// `try_send`/`try_recv` in a loop (busy-spin strategy for waits).
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

/// A sending handle of either kind.
#[derive(Debug)]
pub enum Tx {
    /// SPSC producer.
    Spsc(Producer),
    /// MPMC sender.
    Mpmc(Sender),
}

/// A receiving handle of either kind.
#[derive(Debug)]
pub enum Rx {
    /// SPSC consumer.
    Spsc(Consumer),
    /// MPMC receiver.
    Mpmc(Receiver),
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

fn attach_retry<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, String>,
    busy: impl Fn(&str) -> bool,
) -> Result<T, String> {
    // A role still held by a process that is exiting reads as Busy for a
    // moment; anything else is an error at once.
    let deadline = Instant::now() + crate::harness::STEP_LIMIT;
    loop {
        match attempt() {
            Ok(t) => return Ok(t),
            Err(e) if busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

fn is_busy(e: &str) -> bool {
    e.contains("held by live process")
}

fn client(socket: &PathBuf, style: Style) -> Result<BrokerClient, String> {
    BrokerClient::connect_to(socket)
        .map(|c| c.with_wait_strategy(style.wait_strategy()))
        .map_err(|e| format!("connect to broker: {e}"))
}

fn attach_err(e: AttachError) -> String {
    e.to_string()
}

fn broker_err(e: BrokerError) -> String {
    e.to_string()
}

/// Opens the named SPSC segment directly.
fn open_spsc(name: &str, ws: WaitStrategy) -> Result<shmring::Spsc, String> {
    SpscBuilder::new()
        .wait_strategy(ws)
        .open(name)
        .map_err(|e| format!("open {name}: {e}"))
}

/// Opens the named MPMC segment directly.
fn open_mpmc(name: &str, ws: WaitStrategy) -> Result<shmring::Mpmc, String> {
    MpmcBuilder::new()
        .wait_strategy(ws)
        .open(name)
        .map_err(|e| format!("open {name}: {e}"))
}

/// Opens `name` and attaches a sender.
pub fn open_tx(
    kind: Kind,
    transport: &Transport,
    name: &str,
    style: Style,
) -> Result<Opened<Tx>, String> {
    let ws = style.wait_strategy();
    match transport {
        Transport::Direct => {
            let handle = match kind {
                Kind::Spsc => {
                    let ring = open_spsc(name, ws)?;
                    Tx::Spsc(attach_retry(
                        "producer",
                        || ring.producer().map_err(attach_err),
                        is_busy,
                    )?)
                }
                Kind::Mpmc => {
                    let q = open_mpmc(name, ws)?;
                    Tx::Mpmc(q.sender().map_err(|e| format!("sender: {e}"))?)
                }
            };
            Ok(Opened {
                handle,
                client: None,
            })
        }
        Transport::Broker(socket) => {
            let mut c = client(socket, style)?;
            let handle = match kind {
                Kind::Spsc => Tx::Spsc(attach_retry(
                    "producer",
                    || c.producer(name).map_err(broker_err),
                    is_busy,
                )?),
                Kind::Mpmc => Tx::Mpmc(c.sender(name).map_err(|e| format!("sender: {e}"))?),
            };
            Ok(Opened {
                handle,
                client: Some(c),
            })
        }
    }
}

/// Opens `name` and attaches a receiver.
pub fn open_rx(
    kind: Kind,
    transport: &Transport,
    name: &str,
    style: Style,
) -> Result<Opened<Rx>, String> {
    let ws = style.wait_strategy();
    match transport {
        Transport::Direct => {
            let handle = match kind {
                Kind::Spsc => {
                    let ring = open_spsc(name, ws)?;
                    Rx::Spsc(attach_retry(
                        "consumer",
                        || ring.consumer().map_err(attach_err),
                        is_busy,
                    )?)
                }
                Kind::Mpmc => {
                    let q = open_mpmc(name, ws)?;
                    Rx::Mpmc(q.receiver().map_err(|e| format!("receiver: {e}"))?)
                }
            };
            Ok(Opened {
                handle,
                client: None,
            })
        }
        Transport::Broker(socket) => {
            let mut c = client(socket, style)?;
            let handle = match kind {
                Kind::Spsc => Rx::Spsc(attach_retry(
                    "consumer",
                    || c.consumer(name).map_err(broker_err),
                    is_busy,
                )?),
                Kind::Mpmc => Rx::Mpmc(c.receiver(name).map_err(|e| format!("receiver: {e}"))?),
            };
            Ok(Opened {
                handle,
                client: Some(c),
            })
        }
    }
}

impl Tx {
    /// One attempt to send `msg`, in `style`.
    pub fn send(&mut self, msg: &[u8], style: Style) -> Result<Sent, String> {
        match style {
            Style::Timeout | Style::Park => {
                let r = match self {
                    Tx::Spsc(p) => p.send_timeout(msg, POLL),
                    Tx::Mpmc(s) => s.send_timeout(msg, POLL),
                };
                match r {
                    Ok(()) => Ok(Sent::Yes),
                    Err(SendTimeoutError::Timeout(_)) => Ok(Sent::Later),
                    Err(SendTimeoutError::Disconnected(_)) => Ok(Sent::Gone),
                    Err(e) => Err(format!("send_timeout: {e}")),
                }
            }
            Style::Blocking => {
                let r = match self {
                    Tx::Spsc(p) => p.send(msg),
                    Tx::Mpmc(s) => s.send(msg),
                };
                match r {
                    Ok(()) => Ok(Sent::Yes),
                    Err(shmring::SendError::Disconnected(_)) => Ok(Sent::Gone),
                    Err(e) => Err(format!("send: {e}")),
                }
            }
            Style::Spin => {
                let r = match self {
                    Tx::Spsc(p) => p.try_send(msg),
                    Tx::Mpmc(s) => s.try_send(msg),
                };
                match r {
                    Ok(()) => Ok(Sent::Yes),
                    Err(TrySendError::Full(_)) => {
                        std::hint::spin_loop();
                        Ok(Sent::Later)
                    }
                    Err(TrySendError::Disconnected(_)) => Ok(Sent::Gone),
                    Err(e) => Err(format!("try_send: {e}")),
                }
            }
        }
    }
}

impl Rx {
    /// One attempt to receive, in `style`; `f` sees the message while it
    /// is still held (its slot is released after `f` returns).
    pub fn recv(&mut self, style: Style, f: impl FnOnce(&[u8])) -> Result<Got, String> {
        match style {
            Style::Timeout | Style::Park => {
                let r = match self {
                    Rx::Spsc(c) => c.recv_timeout(POLL).map(|g| f(&g)),
                    Rx::Mpmc(r) => r.recv_timeout(POLL).map(|g| f(&g)),
                };
                match r {
                    Ok(()) => Ok(Got::Yes),
                    Err(RecvTimeoutError::Timeout) => Ok(Got::Later),
                    Err(RecvTimeoutError::Disconnected) => Ok(Got::Gone),
                    Err(e) => Err(format!("recv_timeout: {e}")),
                }
            }
            Style::Blocking => {
                let r = match self {
                    Rx::Spsc(c) => c.recv().map(|g| f(&g)),
                    Rx::Mpmc(r) => r.recv().map(|g| f(&g)),
                };
                match r {
                    Ok(()) => Ok(Got::Yes),
                    Err(shmring::RecvError::Disconnected) => Ok(Got::Gone),
                    Err(e) => Err(format!("recv: {e}")),
                }
            }
            Style::Spin => {
                let r = match self {
                    Rx::Spsc(c) => c.try_recv().map(|g| f(&g)),
                    Rx::Mpmc(r) => r.try_recv().map(|g| f(&g)),
                };
                match r {
                    Ok(()) => Ok(Got::Yes),
                    Err(TryRecvError::Empty) => {
                        std::hint::spin_loop();
                        Ok(Got::Later)
                    }
                    Err(TryRecvError::Disconnected) => Ok(Got::Gone),
                    Err(e) => Err(format!("try_recv: {e}")),
                }
            }
        }
    }
}
