//! Command implementations of the `shmring` tool. Each returns the
//! process exit code; errors are one line on stderr.
//!
//! | exit code | meaning                                         |
//! |----------:|-------------------------------------------------|
//! |         0 | success (for `recv`: also end of stream)        |
//! |         1 | any other error                                 |
//! |         2 | bad command line                                |
//! |         3 | no broker at the socket path                    |
//! |         4 | no such segment                                 |
//! |         5 | permission denied                               |
//! |         6 | `recv --timeout` expired before `--count` lines |

pub mod args;
pub mod demo;
pub mod top;
pub mod traffic;

use serde_json::json;
use shmring::broker::protocol::SubscriberList;
use shmring::broker::{BrokerClient, BrokerError, CreateOptions, Lifetime, SegmentInfo};
use shmring::human::Bytes;
use shmring::prelude::*;
use shmring::{AnyReceiver, Delivery, JoinAt, RecvTimeoutError, RingGeometry, RingKind};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Exit code for a broker error.
pub fn exit_code(e: &BrokerError) -> u8 {
    match e {
        BrokerError::BrokerUnavailable(_) => 3,
        BrokerError::NotFound(_) => 4,
        BrokerError::PermissionDenied(_) => 5,
        _ => 1,
    }
}

/// Connects to the broker at `socket` or the default path.
pub fn connect(socket: Option<&Path>) -> Result<BrokerClient, BrokerError> {
    match socket {
        Some(path) => BrokerClient::connect_to(path),
        None => BrokerClient::connect(),
    }
}

/// What `create` was asked for; what is left out is the library's default
/// ([`RingGeometry::default_for`], [`shmring::DEFAULT_MODE`]).
#[derive(Debug, Clone)]
pub struct CreateArgs {
    /// Segment name.
    pub name: String,
    /// Ring kind.
    pub kind: RingKind,
    /// SPSC: data bytes; MPMC and publish/subscribe: bytes of slots in all.
    pub size: Option<u64>,
    /// Largest message (SPSC) or slot size (MPMC, publish/subscribe).
    pub max_msg: Option<u64>,
    /// Slot count (MPMC, publish/subscribe; instead of `size`).
    pub slots: Option<u64>,
    /// Subscribers the ring can hold (publish/subscribe).
    pub subscribers: Option<u32>,
    /// A lossy publish/subscribe ring (the publisher never waits).
    pub lossy: bool,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Priority levels (MPMC; an SPSC ring has one).
    pub priorities: Option<u32>,
    /// Ephemeral lifetime.
    pub ephemeral: bool,
    /// On huge pages (a hugetlb memfd).
    pub huge_pages: bool,
}

impl CreateArgs {
    /// Options that do not fit the kind: what to say instead of ignoring
    /// them (the command line's exit code 2).
    pub fn check(&self) -> Result<(), String> {
        let kind = self.kind;
        if kind != RingKind::PubSub && (self.subscribers.is_some() || self.lossy) {
            return Err(format!(
                "--subscribers and --lossy are for --kind pubsub, not {kind}"
            ));
        }
        if kind == RingKind::Spsc && self.slots.is_some() {
            return Err("--slots is for --kind mpmc or pubsub; an spsc ring has --size".into());
        }
        Ok(())
    }

    /// The ring shape these arguments ask for. It is not checked here: the
    /// broker refuses a bad one with the library's reason.
    pub fn geometry(&self) -> RingGeometry {
        let default = RingGeometry::default_for(self.kind);
        let shape = match (self.size, default) {
            (Some(size), RingGeometry::Spsc { .. }) => RingGeometry::spsc(size),
            _ => default,
        };
        let shape = self.max_msg.map_or(shape, |b| shape.with_max_message(b));
        let shape = self.priorities.map_or(shape, |l| shape.with_priorities(l));
        let shape = self
            .subscribers
            .map_or(shape, |n| shape.with_subscribers(n));
        let shape = match self.lossy {
            true => shape.with_delivery(Delivery::Lossy),
            false => shape,
        };
        let shape = self.slots.map_or(shape, |n| with_slots(shape, n));
        match (self.size, shape) {
            // An MPMC size is bytes of slots: a count once the slot size
            // and the levels are known.
            (
                Some(size),
                RingGeometry::Mpmc {
                    slot_size,
                    priorities,
                    ..
                },
            ) => RingGeometry::mpmc_within(size, slot_size, priorities),
            (Some(size), RingGeometry::PubSub { .. }) => pubsub_within(size, shape),
            _ => shape,
        }
    }

    /// The broker request for these arguments.
    pub fn options(&self) -> CreateOptions {
        let options = CreateOptions::new(self.geometry());
        let options = match self.mode {
            Some(mode) => options.mode(mode),
            None => options,
        };
        let options = options.huge_pages(self.huge_pages);
        match self.ephemeral {
            true => options.lifetime(Lifetime::Ephemeral),
            false => options.lifetime(Lifetime::Persistent),
        }
    }
}

/// `shape` with `slots` slots (MPMC, publish/subscribe; an SPSC ring has
/// none and is returned unchanged).
fn with_slots(shape: RingGeometry, slots: u64) -> RingGeometry {
    match shape {
        RingGeometry::Mpmc {
            slot_size,
            priorities,
            ..
        } => RingGeometry::Mpmc {
            slots,
            slot_size,
            priorities,
        },
        RingGeometry::PubSub {
            slot_size,
            subscribers,
            delivery,
            ..
        } => RingGeometry::PubSub {
            slots,
            slot_size,
            subscribers,
            delivery,
        },
        spsc @ RingGeometry::Spsc { .. } => spsc,
    }
}

/// The publish/subscribe ring of `shape` whose slots take at most `bytes`
/// in all: as for MPMC, the largest power-of-two slot count, at least 2.
/// What a slot takes is the library's (what two more slots add to the
/// segment), not a copy of the layout here.
fn pubsub_within(bytes: u64, shape: RingGeometry) -> RingGeometry {
    // 128 slots more: a multiple of 128 bytes more, which the rounding of
    // the traffic block at the segment's end keeps exact.
    let stride = match (
        with_slots(shape, 256).segment_size(),
        with_slots(shape, 128).segment_size(),
    ) {
        (Ok(more), Ok(fewer)) => (more - fewer) / 128,
        // A bad shape: the broker refuses it with the library's reason.
        _ => return with_slots(shape, 2),
    };
    let slots = match bytes / stride.max(1) {
        0..=2 => 2,
        n => 1 << n.ilog2(),
    };
    with_slots(shape, slots)
}

/// `shmring create`.
pub fn create(client: &mut BrokerClient, args: &CreateArgs) -> Result<(), BrokerError> {
    let info = client.create(&args.name, &args.options())?;
    println!(
        "created {} ({} ring, {}, mode {:04o})",
        info.name,
        info.geometry.kind(),
        Bytes(info.size),
        info.mode
    );
    Ok(())
}

fn endpoints(info: &SegmentInfo) -> String {
    let list: Vec<String> = info
        .endpoints
        .iter()
        .map(|e| format!("{}:{}", e.role, e.pid))
        .collect();
    match list.is_empty() {
        true => "-".into(),
        false => list.join(","),
    }
}

/// A size in `stat`: `64 B`, or from 1 KiB on `8.75 KiB (8960 bytes)`,
/// the exact figure beside the readable one (`--json` has the number).
fn size(bytes: u64) -> String {
    match bytes {
        0..1024 => Bytes(bytes).to_string(),
        _ => format!("{} ({bytes} bytes)", Bytes(bytes)),
    }
}

/// The SPSC capacity or the MPMC slot count per level: the number `ls
/// --json` and `stat --json` have always called `capacity`.
fn capacity(geometry: RingGeometry) -> u64 {
    match geometry {
        RingGeometry::Spsc { capacity, .. } => capacity,
        RingGeometry::Mpmc { slots, .. } | RingGeometry::PubSub { slots, .. } => slots,
    }
}

fn to_json(info: &SegmentInfo) -> serde_json::Value {
    let g = info.geometry;
    let mut value = json!({
        "name": info.name,
        "kind": g.kind().to_string(),
        "geometry": g.to_string(),
        "lifetime": info.lifetime.to_string(),
        "size": info.size,
        "capacity": capacity(g),
        "max_message": g.max_message(),
        "priorities": g.priorities(),
        "uid": info.uid,
        "gid": info.gid,
        "mode": format!("{:04o}", info.mode),
        "holders": info.holders,
        "messages_in_flight": info.messages_in_flight,
        "bytes_in_flight": info.bytes_in_flight,
        "dead_sender_slots": info.dead_sender_slots,
        "dead_receiver_messages": info.dead_receiver_messages,
        "traffic": traffic::to_json(&info.traffic),
        "endpoints": info.endpoints.iter()
            .map(|e| json!({"role": e.role.to_string(), "pid": e.pid}))
            .collect::<Vec<_>>(),
    });
    if let RingGeometry::PubSub {
        slots,
        slot_size,
        subscribers,
        delivery,
    } = g
    {
        let fields = json!({
            "slots": slots,
            "slot_size": slot_size,
            "max_subscribers": subscribers,
            "delivery": delivery.to_string(),
        });
        merge(&mut value, fields);
    }
    value
}

/// Adds the fields of the object `more` to the object `value`.
fn merge(value: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(to), serde_json::Value::Object(from)) = (value.as_object_mut(), more) {
        to.extend(from);
    }
}

/// What `stat --json` adds for a publish/subscribe ring: the count
/// published and every subscriber.
fn subscribers_json(list: &SubscriberList) -> serde_json::Value {
    json!({
        "published": list.published,
        "subscribers": list.subscribers.iter()
            .map(|s| json!({
                "index": s.index,
                "pid": s.pid,
                "alive": s.alive,
                "position": s.cursor,
                "lag": s.lag,
                "missed": s.missed,
                "received": s.received,
            }))
            .collect::<Vec<_>>(),
    })
}

/// `shmring ls`: one line per segment, like `ipcs`.
pub fn ls(client: &mut BrokerClient, as_json: bool) -> Result<(), BrokerError> {
    let all = client.list()?;
    if as_json {
        let list: Vec<_> = all.iter().map(to_json).collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    println!(
        "{:<24} {:<6} {:>9} {:>6} {:>6} {:<5} {:<10} {:>8} {:>9}  ENDPOINTS",
        "NAME", "KIND", "SIZE", "UID", "GID", "MODE", "LIFETIME", "MSGS", "BYTES"
    );
    for i in &all {
        println!(
            "{:<24} {:<6} {:>9} {:>6} {:>6} {:04o}  {:<10} {:>8} {:>9}  {}",
            i.name,
            i.geometry.kind().to_string(),
            Bytes(i.size),
            i.uid,
            i.gid,
            i.mode,
            i.lifetime.to_string(),
            i.messages_in_flight,
            Bytes(i.bytes_in_flight),
            endpoints(i)
        );
    }
    Ok(())
}

/// `shmring stat`: for a publish/subscribe ring also the count published
/// and every subscriber (a second request, its own snapshot).
pub fn stat(client: &mut BrokerClient, name: &str, as_json: bool) -> Result<(), BrokerError> {
    let i = client.stat(name)?;
    let subscribers = match i.geometry.kind() {
        RingKind::PubSub => Some(client.subscribers(name)?),
        RingKind::Spsc | RingKind::Mpmc => None,
    };
    if as_json {
        let mut value = to_json(&i);
        if let Some(list) = &subscribers {
            merge(&mut value, subscribers_json(list));
        }
        println!("{value}");
        return Ok(());
    }
    println!("name:        {}", i.name);
    println!("kind:        {}", i.geometry.kind());
    println!("lifetime:    {}", i.lifetime);
    println!("size:        {}", size(i.size));
    match i.geometry {
        RingGeometry::Spsc {
            capacity,
            max_message,
        } => {
            println!("capacity:    {}", size(capacity));
            println!("max message: {}", size(max_message));
        }
        RingGeometry::Mpmc {
            slots,
            slot_size,
            priorities,
        } => {
            println!("slots:       {slots}");
            println!("slot size:   {}", size(slot_size));
            println!("priorities:  {priorities}");
        }
        RingGeometry::PubSub {
            slots,
            slot_size,
            subscribers,
            delivery,
        } => {
            println!("slots:       {slots}");
            println!("slot size:   {}", size(slot_size));
            println!("subscribers: {subscribers} at most");
            println!("delivery:    {delivery}");
        }
    }
    println!("owner:       uid {} gid {}", i.uid, i.gid);
    println!("mode:        {:04o}", i.mode);
    println!("holders:     {}", i.holders);
    if let Some(list) = &subscribers {
        println!("published:   {}", list.published);
    }
    println!("messages:    {}", i.messages_in_flight);
    println!("bytes:       {}", size(i.bytes_in_flight));
    if i.geometry.kind() == RingKind::Mpmc {
        // Crash recovery (docs/guarantees.md): slots of senders that died
        // mid-write, messages dropped with receivers that died holding them.
        println!(
            "recovered:   {} dead-sender slots, {} dead-receiver messages",
            i.dead_sender_slots, i.dead_receiver_messages
        );
    }
    traffic::print(&i.traffic);
    println!("endpoints:   {}", endpoints(&i));
    if let Some(list) = subscribers {
        print_subscribers(&list);
    }
    Ok(())
}

/// The subscriber table of `stat`, one line per held entry.
fn print_subscribers(list: &SubscriberList) {
    println!("subscribed:  {}", list.subscribers.len());
    if list.subscribers.is_empty() {
        return;
    }
    println!(
        "  {:>5} {:>10} {:<5} {:>12} {:>10} {:>10} {:>12}",
        "INDEX", "PID", "ALIVE", "POSITION", "LAG", "MISSED", "RECEIVED"
    );
    for s in &list.subscribers {
        println!(
            "  {:>5} {:>10} {:<5} {:>12} {:>10} {:>10} {:>12}",
            s.index,
            s.pid,
            if s.alive { "yes" } else { "no" },
            s.cursor,
            s.lag,
            s.missed,
            s.received
        );
    }
}

/// `shmring rm`.
pub fn rm(client: &mut BrokerClient, name: &str) -> Result<(), BrokerError> {
    client.unlink(name)
}

fn other(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Io(std::io::Error::other(e.to_string()))
}

/// Attaches the receiving endpoint of `name`, as the kind of ring the
/// broker says it holds (`send` and `recv` are written once, over
/// [`AnyReceiver`] and [`AnySender`](shmring::AnySender)): only a
/// subscriber can start at the oldest message.
fn attach_receiver(
    client: &mut BrokerClient,
    name: &str,
    join: JoinAt,
) -> Result<AnyReceiver, BrokerError> {
    if join == JoinAt::Next {
        return client.attach_any_receiver(name);
    }
    match client.stat(name)?.geometry.kind() {
        RingKind::PubSub => Ok(AnyReceiver::PubSub(client.subscriber_at(name, join)?)),
        kind @ (RingKind::Spsc | RingKind::Mpmc) => Err(BrokerError::WrongKind(format!(
            "{name} is an {kind} ring; --from-oldest is for pubsub rings"
        ))),
    }
}

/// The line a subscriber that fell a ring behind prints before going on.
fn report_lost(name: &str, lost: u64) {
    eprintln!("shmring: {name}: lost {lost} messages (fell a ring behind)");
}

/// `shmring send`: each line of stdin (without its newline) becomes one
/// message; the sender is dropped at end of input, which the receiver
/// sees as end of stream (for MPMC: once every sender is gone). For a
/// publish/subscribe ring it publishes: a lossless send waits for the
/// slowest subscriber, a lossy one never waits.
pub fn send(client: &mut BrokerClient, name: &str) -> Result<(), BrokerError> {
    let mut sender = client.attach_any_sender(name)?;
    for line in std::io::stdin().lock().split(b'\n') {
        let line = line.map_err(BrokerError::Io)?;
        sender.send(&line).map_err(|e| other(e.without_message()))?;
    }
    Ok(())
}

/// How `recv` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RecvEnd {
    /// `--count` messages, or end of stream.
    Done,
    /// The timeout expired first.
    TimedOut,
}

/// Messages taken from one ready ring before the others get a turn: a
/// ring that never runs dry cannot starve the rest (it stays ready).
const TURN: usize = 64;

/// `shmring recv a b c`: follows several rings at once with one
/// [`Poller`](shmring::Poller), each line prefixed with its ring's name
/// and `: `, until `count` messages in all, end of stream on every ring,
/// or `timeout` (measured from the start). One ring: [`recv`].
pub fn recv_many(
    client: &mut BrokerClient,
    names: &[String],
    join: JoinAt,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<RecvEnd, BrokerError> {
    let mut rings: Vec<Option<AnyReceiver>> = Vec::with_capacity(names.len());
    let mut poller = shmring::Poller::new().map_err(BrokerError::Io)?;
    for (key, name) in names.iter().enumerate() {
        let receiver = attach_receiver(client, name, join)?;
        poller.add(&receiver, key as u64).map_err(BrokerError::Io)?;
        rings.push(Some(receiver));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut events = shmring::Events::new();
    let mut out = std::io::stdout().lock();
    let mut got = 0u64;
    let mut line = Vec::new();
    while count.is_none_or(|c| got < c) && rings.iter().any(Option::is_some) {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            out.flush().map_err(BrokerError::Io)?;
            return Ok(RecvEnd::TimedOut);
        }
        // Written out before waiting: a reader of our stdout sees each
        // batch at once.
        out.flush().map_err(BrokerError::Io)?;
        poller.wait(&mut events, left).map_err(BrokerError::Io)?;
        for event in events.iter() {
            let key = event.key as usize;
            let Some(receiver) = rings[key].as_mut() else {
                continue;
            };
            // The rule: receive until empty (which arms the descriptor
            // again), or until this ring's turn is over (then it stays
            // ready and the next wait comes back to it).
            let mut ended = false;
            for _ in 0..TURN {
                if count.is_some_and(|c| got >= c) {
                    break;
                }
                let taken = match receiver.try_recv() {
                    Ok(m) => {
                        line.clear();
                        line.extend_from_slice(names[key].as_bytes());
                        line.extend_from_slice(b": ");
                        line.extend_from_slice(&m);
                        line.push(b'\n');
                        true
                    }
                    Err(shmring::TryRecvError::Empty) => false,
                    Err(shmring::TryRecvError::Disconnected) => {
                        ended = true;
                        false
                    }
                    Err(shmring::TryRecvError::Lagged(lost)) => {
                        report_lost(&names[key], lost);
                        continue;
                    }
                    Err(e) => return Err(other(e)),
                };
                if !taken {
                    break;
                }
                out.write_all(&line).map_err(BrokerError::Io)?;
                got += 1;
            }
            if ended {
                poller.remove(&*receiver).map_err(BrokerError::Io)?;
                rings[key] = None;
            }
        }
    }
    out.flush().map_err(BrokerError::Io)?;
    Ok(RecvEnd::Done)
}

/// `shmring recv`: one message per stdout line, until `count` messages,
/// end of stream, or `timeout` (measured from the start). A subscriber
/// starts where `join` says; one that falls a ring behind (lossy rings)
/// says on stderr how many messages it lost and goes on.
pub fn recv(
    client: &mut BrokerClient,
    name: &str,
    join: JoinAt,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<RecvEnd, BrokerError> {
    let mut receiver = attach_receiver(client, name, join)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = || match deadline {
        Some(d) => d.saturating_duration_since(Instant::now()),
        None => Duration::from_secs(3600),
    };
    let mut out = std::io::stdout().lock();
    let mut got = 0u64;
    let mut buf = Vec::new();
    while count.is_none_or(|c| got < c) {
        // Copied out so that the message is released before stdout is
        // written to (which may block).
        let result = receiver.recv_timeout(left()).map(|m| {
            buf.clear();
            buf.extend_from_slice(&m);
        });
        match result {
            Ok(()) => {
                buf.push(b'\n');
                out.write_all(&buf).map_err(BrokerError::Io)?;
                got += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Lagged(lost)) => {
                // Whatever was printed goes out before the line about
                // what is missing between it and what follows.
                out.flush().map_err(BrokerError::Io)?;
                report_lost(name, lost);
            }
            Err(RecvTimeoutError::Timeout) if deadline.is_some() => {
                out.flush().map_err(BrokerError::Io)?;
                return Ok(RecvEnd::TimedOut);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(other(e)),
        }
    }
    out.flush().map_err(BrokerError::Io)?;
    Ok(RecvEnd::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(kind: RingKind, size: Option<u64>) -> CreateArgs {
        CreateArgs {
            name: "t".into(),
            kind,
            size,
            max_msg: None,
            slots: None,
            subscribers: None,
            lossy: false,
            mode: None,
            priorities: None,
            ephemeral: false,
            huge_pages: false,
        }
    }

    #[test]
    fn pubsub_options_map_to_one_geometry() {
        let default = args(RingKind::PubSub, None);
        assert_eq!(
            default.geometry(),
            RingGeometry::default_for(RingKind::PubSub)
        );
        let lossy = CreateArgs {
            slots: Some(16),
            max_msg: Some(100),
            subscribers: Some(3),
            lossy: true,
            ..args(RingKind::PubSub, None)
        };
        assert_eq!(
            lossy.geometry(),
            RingGeometry::pubsub(16, 100)
                .with_subscribers(3)
                .with_delivery(Delivery::Lossy)
        );
        // A size is bytes of slots (16 bytes of header and the payload
        // rounded up to 8 each), rounded down to a power-of-two count.
        let sized = |size| CreateArgs {
            max_msg: Some(100),
            ..args(RingKind::PubSub, Some(size))
        };
        assert_eq!(sized(65536).geometry(), RingGeometry::pubsub(512, 100));
        assert_eq!(sized(1000).geometry(), RingGeometry::pubsub(8, 100));
        assert_eq!(sized(10).geometry(), RingGeometry::pubsub(2, 100));
        // MPMC takes --slots too.
        let mpmc = CreateArgs {
            slots: Some(32),
            ..args(RingKind::Mpmc, None)
        };
        assert_eq!(mpmc.geometry(), RingGeometry::mpmc(32, 256));
    }

    #[test]
    fn options_of_another_kind_are_refused() {
        assert!(args(RingKind::PubSub, None).check().is_ok());
        for kind in [RingKind::Spsc, RingKind::Mpmc] {
            let lossy = CreateArgs {
                lossy: true,
                ..args(kind, None)
            };
            assert!(lossy.check().is_err());
            let subscribers = CreateArgs {
                subscribers: Some(2),
                ..args(kind, None)
            };
            assert!(subscribers.check().is_err());
        }
        let spsc_slots = CreateArgs {
            slots: Some(8),
            ..args(RingKind::Spsc, None)
        };
        assert!(spsc_slots.check().is_err());
    }

    #[test]
    fn create_options_map_to_one_geometry() {
        // Nothing given: the library's default shape and mode.
        for kind in [RingKind::Spsc, RingKind::Mpmc, RingKind::PubSub] {
            let options = args(kind, None).options();
            assert_eq!(options, CreateOptions::new(RingGeometry::default_for(kind)));
        }
        let spsc = CreateArgs {
            max_msg: Some(100),
            ..args(RingKind::Spsc, Some(4096))
        };
        assert_eq!(
            spsc.geometry(),
            RingGeometry::spsc(4096).with_max_message(100)
        );
        // MPMC: the largest power-of-two slot count whose slots (a 16-byte
        // header and the payload rounded up to 8 bytes) fit the size.
        let mpmc = |size, max_msg, priorities| CreateArgs {
            max_msg,
            priorities,
            ..args(RingKind::Mpmc, Some(size))
        };
        assert_eq!(
            mpmc(65536, Some(256), None).geometry(),
            RingGeometry::mpmc(128, 256)
        );
        assert_eq!(
            mpmc(4096, Some(256), None).geometry(),
            RingGeometry::mpmc(8, 256)
        );
        assert_eq!(
            mpmc(100, Some(256), None).geometry(),
            RingGeometry::mpmc(2, 256)
        );
        assert_eq!(
            mpmc(1 << 20, Some(100), Some(3)).geometry(),
            RingGeometry::mpmc(2048, 100).with_priorities(3)
        );
        let options = CreateArgs {
            mode: Some(0o640),
            ephemeral: true,
            ..args(RingKind::Spsc, Some(4096))
        }
        .options();
        let expected = CreateOptions::spsc(4096).mode(0o640).ephemeral();
        assert_eq!(options, expected);
        let huge = CreateArgs {
            huge_pages: true,
            ..args(RingKind::Spsc, Some(4096))
        };
        assert_eq!(huge.options(), CreateOptions::spsc(4096).huge_pages(true));
    }
}
