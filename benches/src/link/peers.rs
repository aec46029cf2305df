//! The peer libraries' rows (feature `peers`): what users would pick
//! instead of shmring, driven through the same [`Tx`]/[`Rx`] loops.
//!
//! - ringfire 0.5: its shared-memory SPSC ring (`RingProducer` /
//!   `RingConsumer`) of fixed-size records, busy-polling. A record is a
//!   type: one `[u8; N]` per size of [`RECORD_SIZES`](super::RECORD_SIZES).
//! - iceoryx2 0.10: publish-subscribe of `[u8]` slices, the receiver
//!   spinning on `receive`, or sleeping in an event `Listener` woken by
//!   the sender's `Notifier`. Every file it makes carries the row's tag
//!   as its prefix (`/dev/shm/shmring-bench-…`) and lives under a root
//!   directory of the row's own; both are removed when the row ends.
//! - rtrb 0.4: a byte ring between two threads of the bench process.

use super::{AnyEnds, Cleanup, Ends, Pattern, ThreadEnds};
use crate::traffic::{Rx, Tx};
use crate::{Error, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- ringfire

use ringfire::{FlowControl, RecvStatus, RingConsumer, RingProducer, RingProducerBuilder};

/// Slots of a ringfire ring for `size`-byte records: about 4 MiB, as the
/// other rows' rings, between 4 and 1024 slots.
fn ringfire_capacity(size: usize) -> u64 {
    ((4usize << 20) / size).next_power_of_two().clamp(4, 1024) as u64
}

/// Sends through `RingProducer::try_push`, spinning while the lossless
/// ring is full.
pub struct RingfireTx<const N: usize>(RingProducer<[u8; N]>);

/// Receives through `RingConsumer::recv_status` (`try_recv` plus the lap
/// report), spinning while empty; a lap fails the row.
pub struct RingfireRx<const N: usize>(RingConsumer<[u8; N]>);

impl<const N: usize> std::fmt::Debug for RingfireTx<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingfireTx<{N}>")
    }
}

impl<const N: usize> std::fmt::Debug for RingfireRx<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RingfireRx<{N}>")
    }
}

impl<const N: usize> Tx for RingfireTx<N> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let record: &[u8; N] = msg
            .try_into()
            .map_err(|_| format!("a {}-byte message in a {N}-byte record", msg.len()))?;
        loop {
            match self.0.try_push(record) {
                Ok(()) => return Ok(()),
                Err(ringfire::RingfireError::BackpressureBufferFull) => std::hint::spin_loop(),
                Err(err) => return Err(Box::new(err)),
            }
        }
    }
}

impl<const N: usize> Rx for RingfireRx<N> {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            match self.0.recv_status() {
                RecvStatus::Ok(record) => return Ok(f(&record)),
                RecvStatus::Lapped { skipped, .. } => {
                    return Err(format!(
                        "ringfire overwrote {skipped} messages before the reader got them"
                    )
                    .into());
                }
                RecvStatus::Empty => std::hint::spin_loop(),
            }
        }
    }
}

/// One side of a ringfire row, for each record size.
#[derive(Debug)]
#[allow(missing_docs)]
pub enum RingfireEnds {
    B8(Ends<RingfireTx<8>, RingfireRx<8>>),
    B64(Ends<RingfireTx<64>, RingfireRx<64>>),
    K1(Ends<RingfireTx<1024>, RingfireRx<1024>>),
}

impl RingfireEnds {
    /// Runs `driver` over the concrete halves.
    pub fn drive<D: super::Driver>(self, driver: D) -> Result<D::Out> {
        match self {
            RingfireEnds::B8(e) => driver.drive(e),
            RingfireEnds::B64(e) => driver.drive(e),
            RingfireEnds::K1(e) => driver.drive(e),
        }
    }
}

/// Where a ringfire ring of the row lives: ringfire maps files by path.
fn ringfire_path(tag: &str, direction: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm/{tag}-{direction}"))
}

fn ringfire_producer<const N: usize>(path: &PathBuf, pattern: Pattern) -> Result<RingfireTx<N>> {
    let builder = RingProducerBuilder::new(ringfire_capacity(N));
    // A stream needs a writer that waits for its reader; round trips
    // keep ringfire's default (LatestWins, nothing to overwrite with one
    // message in flight).
    let builder = match pattern {
        Pattern::Stream => builder.flow_control(FlowControl::LosslessBackpressure),
        Pattern::RoundTrip => builder,
    };
    Ok(RingfireTx(builder.build(path)?))
}

fn ringfire_consumer<const N: usize>(path: &PathBuf) -> Result<RingfireRx<N>> {
    Ok(RingfireRx(RingConsumer::attach(path)?))
}

/// Attaches to a ring the other process is making, retrying until it is
/// there and published (ringfire has no rendezvous of its own).
fn ringfire_consumer_when_ready<const N: usize>(
    path: &PathBuf,
    timeout: Duration,
) -> Result<RingfireRx<N>> {
    let until = Instant::now() + timeout;
    loop {
        match ringfire_consumer(path) {
            Ok(rx) => return Ok(rx),
            Err(err) if Instant::now() >= until => {
                return Err(format!("ringfire ring {}: {err}", path.display()).into());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// What the bench side of a ringfire row still has to do once the peer
/// runs: attach to the ring the peer makes (round trips).
pub type Later = Box<dyn FnOnce() -> Result<AnyEnds>>;

fn ringfire_bench<const N: usize>(
    tag: &str,
    pattern: Pattern,
    wrap: fn(Ends<RingfireTx<N>, RingfireRx<N>>) -> RingfireEnds,
) -> Result<Later> {
    let tx = ringfire_producer::<N>(&ringfire_path(tag, "up"), pattern)?;
    let down = ringfire_path(tag, "down");
    Ok(Box::new(move || {
        let rx = match pattern {
            Pattern::RoundTrip => Some(ringfire_consumer_when_ready::<N>(
                &down,
                Duration::from_secs(10),
            )?),
            Pattern::Stream => None,
        };
        Ok(AnyEnds::Ringfire(Box::new(wrap(Ends { tx: Some(tx), rx }))))
    }))
}

fn ringfire_peer<const N: usize>(
    tag: &str,
    pattern: Pattern,
    wrap: fn(Ends<RingfireTx<N>, RingfireRx<N>>) -> RingfireEnds,
) -> Result<AnyEnds> {
    let rx = ringfire_consumer::<N>(&ringfire_path(tag, "up"))?;
    let tx = match pattern {
        Pattern::RoundTrip => Some(ringfire_producer::<N>(
            &ringfire_path(tag, "down"),
            pattern,
        )?),
        Pattern::Stream => None,
    };
    Ok(AnyEnds::Ringfire(Box::new(wrap(Ends { tx, rx: Some(rx) }))))
}

/// The bench's side of a ringfire row: the `up` ring now, the `down` ring
/// (made by the peer) once the peer runs.
pub fn ringfire_prepare(
    size: usize,
    pattern: Pattern,
    tag: &str,
    cleanup: &mut Cleanup,
) -> Result<Later> {
    for direction in ["up", "down"] {
        cleanup.paths.push(ringfire_path(tag, direction));
    }
    match size {
        8 => ringfire_bench::<8>(tag, pattern, RingfireEnds::B8),
        64 => ringfire_bench::<64>(tag, pattern, RingfireEnds::B64),
        1024 => ringfire_bench::<1024>(tag, pattern, RingfireEnds::K1),
        _ => Err(super::unsupported(format!("no {size}-byte record type"))),
    }
}

/// The peer's side of a ringfire row.
pub fn ringfire_attach(size: usize, pattern: Pattern, tag: &str) -> Result<AnyEnds> {
    match size {
        8 => ringfire_peer::<8>(tag, pattern, RingfireEnds::B8),
        64 => ringfire_peer::<64>(tag, pattern, RingfireEnds::B64),
        1024 => ringfire_peer::<1024>(tag, pattern, RingfireEnds::K1),
        _ => Err(super::unsupported(format!("no {size}-byte record type"))),
    }
}

// ----------------------------------------------------------------- iceoryx2

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

type Ipc = ipc::Service;
type PubSubService = iceoryx2::service::port_factory::publish_subscribe::PortFactory<Ipc, [u8], ()>;
type EventService = iceoryx2::service::port_factory::event::PortFactory<Ipc>;

/// The root directory of a row's iceoryx2 files (static configs, node
/// records, event sockets).
pub fn iceoryx2_root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{tag}-iox2"))
}

/// The prefix of every file iceoryx2 makes for the row, in /dev/shm and
/// under [`iceoryx2_root`].
pub fn iceoryx2_prefix(tag: &str) -> String {
    format!("{tag}-")
}

fn iceoryx2_node(tag: &str) -> Result<Node<Ipc>> {
    // Its warnings (a peer's node gone first, …) are not the bench's.
    set_log_level(LogLevel::Error);
    let mut config = Config::default();
    config.global.prefix = FileName::new(iceoryx2_prefix(tag).as_bytes())?;
    let root = format!("{}/", iceoryx2_root(tag).display());
    config.global.set_root_path(&Path::new(root.as_bytes())?);
    Ok(NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()?)
}

/// Samples a subscriber buffers: two for round trips, about 4 MiB (2 to
/// 256 samples) for a stream.
fn iceoryx2_depth(size: usize, pattern: Pattern) -> usize {
    match pattern {
        Pattern::RoundTrip => 2,
        Pattern::Stream => ((4usize << 20) / size).clamp(2, 256),
    }
}

/// `loan_slice_uninit` + `write_from_slice` + `send`, then (event row)
/// `notify`.
pub struct Iceoryx2Tx {
    publisher: Publisher<Ipc, [u8], ()>,
    notifier: Option<Notifier<Ipc>>,
    _node: std::rc::Rc<Node<Ipc>>,
}

/// `receive`, the sample read in place; while empty, spins or (event
/// row) sleeps in `Listener::blocking_wait`.
pub struct Iceoryx2Rx {
    subscriber: Subscriber<Ipc, [u8], ()>,
    listener: Option<Listener<Ipc>>,
    _node: std::rc::Rc<Node<Ipc>>,
}

impl std::fmt::Debug for Iceoryx2Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Iceoryx2Tx(events: {})", self.notifier.is_some())
    }
}

impl std::fmt::Debug for Iceoryx2Rx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Iceoryx2Rx(events: {})", self.listener.is_some())
    }
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(err: E) -> Error {
    Box::new(err)
}

impl Tx for Iceoryx2Tx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let sample = self.publisher.loan_slice_uninit(msg.len()).map_err(boxed)?;
        let delivered = sample.write_from_slice(msg).send().map_err(boxed)?;
        if delivered == 0 {
            return Err("iceoryx2: the sample reached no subscriber".into());
        }
        if let Some(notifier) = &self.notifier {
            notifier.notify().map_err(boxed)?;
        }
        Ok(())
    }
}

impl Rx for Iceoryx2Rx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            if let Some(sample) = self.subscriber.receive().map_err(boxed)? {
                return Ok(f(sample.payload()));
            }
            match &self.listener {
                // A notify follows every send: one sent after the empty
                // receive above is pending, and wakes the wait at once.
                Some(listener) => {
                    listener.blocking_wait(|_| {}).map_err(boxed)?;
                }
                None => std::hint::spin_loop(),
            }
        }
    }
}

fn iceoryx2_direction(
    node: &Node<Ipc>,
    tag: &str,
    direction: &str,
    size: usize,
    pattern: Pattern,
    events: bool,
) -> Result<(PubSubService, Option<EventService>)> {
    let depth = iceoryx2_depth(size, pattern);
    let name: ServiceName = format!("{tag}/{direction}").as_str().try_into()?;
    let service = node
        .service_builder(&name)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .history_size(0)
        .subscriber_max_buffer_size(depth)
        .subscriber_max_borrowed_samples(1)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(boxed)?;
    let event = if events {
        let name: ServiceName = format!("{tag}/{direction}-event").as_str().try_into()?;
        Some(
            node.service_builder(&name)
                .event()
                .max_notifiers(1)
                .max_listeners(1)
                .open_or_create()
                .map_err(boxed)?,
        )
    } else {
        None
    };
    Ok((service, event))
}

fn iceoryx2_side(
    tag: &str,
    size: usize,
    pattern: Pattern,
    events: bool,
    sends_on: Option<&str>,
    receives_on: Option<&str>,
) -> Result<AnyEnds> {
    let node = std::rc::Rc::new(iceoryx2_node(tag)?);
    let depth = iceoryx2_depth(size, pattern);
    let tx = match sends_on {
        Some(direction) => {
            let (service, event) =
                iceoryx2_direction(&node, tag, direction, size, pattern, events)?;
            let publisher = service
                .publisher_builder()
                .initial_max_slice_len(size)
                .max_loaned_samples(1)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(boxed)?;
            let notifier = event
                .map(|e| e.notifier_builder().create().map_err(boxed))
                .transpose()?;
            Some(Iceoryx2Tx {
                publisher,
                notifier,
                _node: node.clone(),
            })
        }
        None => None,
    };
    let rx = match receives_on {
        Some(direction) => {
            let (service, event) =
                iceoryx2_direction(&node, tag, direction, size, pattern, events)?;
            let subscriber = service
                .subscriber_builder()
                .buffer_size(depth)
                .create()
                .map_err(boxed)?;
            let listener = event
                .map(|e| e.listener_builder().create().map_err(boxed))
                .transpose()?;
            Some(Iceoryx2Rx {
                subscriber,
                listener,
                _node: node.clone(),
            })
        }
        None => None,
    };
    Ok(AnyEnds::Iceoryx2(Box::new(Ends { tx, rx })))
}

/// The bench's side of an iceoryx2 row: publisher on `up`, subscriber on
/// `down` (round trips). Everything iceoryx2 makes is removed with the
/// row's cleanup, after both processes have let go.
pub fn iceoryx2_prepare(
    size: usize,
    pattern: Pattern,
    tag: &str,
    events: bool,
    cleanup: &mut Cleanup,
) -> Result<AnyEnds> {
    cleanup.iceoryx2.push(tag.to_string());
    let down = (pattern == Pattern::RoundTrip).then_some("down");
    iceoryx2_side(tag, size, pattern, events, Some("up"), down)
}

/// The peer's side of an iceoryx2 row.
pub fn iceoryx2_attach(size: usize, pattern: Pattern, tag: &str, events: bool) -> Result<AnyEnds> {
    let down = (pattern == Pattern::RoundTrip).then_some("down");
    iceoryx2_side(tag, size, pattern, events, down, Some("up"))
}

/// Removes what iceoryx2 made for the row `tag`: its root directory and
/// every /dev/shm entry with the row's prefix.
pub fn iceoryx2_remove(tag: &str) {
    let _ = std::fs::remove_dir_all(iceoryx2_root(tag));
    let prefix = iceoryx2_prefix(tag);
    if let Ok(entries) = std::fs::read_dir("/dev/shm") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

// --------------------------------------------------------------------- rtrb

/// `push_entire_slice`: the message copied in whole, spinning while the
/// ring lacks room.
#[derive(Debug)]
pub struct RtrbTx(rtrb::Producer<u8>);

/// `read_chunk`: the message read in place. The ring holds a whole
/// number of messages and every transfer is one message, so a message
/// never wraps.
#[derive(Debug)]
pub struct RtrbRx(rtrb::Consumer<u8>, usize);

impl Tx for RtrbTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        while self.0.push_entire_slice(msg).is_err() {
            if self.0.is_abandoned() {
                return Err("rtrb: the consumer is gone".into());
            }
            std::hint::spin_loop();
        }
        Ok(())
    }
}

impl Rx for RtrbRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            if let Ok(chunk) = self.0.read_chunk(self.1) {
                let (first, second) = chunk.as_slices();
                if !second.is_empty() {
                    return Err("rtrb: a message wrapped around the ring".into());
                }
                let out = f(first);
                chunk.commit_all();
                return Ok(out);
            }
            if self.0.is_abandoned() && self.0.is_empty() {
                return Err("rtrb: the producer is gone".into());
            }
            std::hint::spin_loop();
        }
    }
}

/// Both sides of an rtrb row: (bench side, other thread's side).
pub fn rtrb_pair(size: usize, pattern: Pattern) -> (ThreadEnds, ThreadEnds) {
    let messages = match pattern {
        Pattern::RoundTrip => 2,
        Pattern::Stream => ((4usize << 20) / size).clamp(4, 1024),
    };
    let (up_tx, up_rx) = rtrb::RingBuffer::new(messages * size);
    let (down_tx, down_rx) = if pattern == Pattern::RoundTrip {
        let (tx, rx) = rtrb::RingBuffer::new(messages * size);
        (Some(RtrbTx(tx)), Some(RtrbRx(rx, size)))
    } else {
        (None, None)
    };
    (
        ThreadEnds::Rtrb(Ends {
            tx: Some(RtrbTx(up_tx)),
            rx: down_rx,
        }),
        ThreadEnds::Rtrb(Ends {
            tx: down_tx,
            rx: Some(RtrbRx(up_rx, size)),
        }),
    )
}
