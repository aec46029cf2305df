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

pub mod demo;

use serde_json::json;
use shmring::broker::{BrokerClient, BrokerError, CreateOptions, Lifetime, SegmentInfo};
use shmring::{RecvTimeoutError, RingKind};
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

/// What `create` was asked for.
#[derive(Debug, Clone)]
pub struct CreateArgs {
    /// Segment name.
    pub name: String,
    /// Ring kind.
    pub kind: RingKind,
    /// SPSC: data bytes; MPMC: bytes of slots in all.
    pub size: u64,
    /// Largest message (SPSC) or slot size (MPMC, default 256).
    pub max_msg: Option<u64>,
    /// Permission bits.
    pub mode: u32,
    /// MPMC priority levels.
    pub priorities: u32,
    /// Ephemeral lifetime.
    pub ephemeral: bool,
}

impl CreateArgs {
    /// The broker request for these arguments.
    pub fn options(&self) -> CreateOptions {
        let options = match self.kind {
            RingKind::Spsc => {
                let o = CreateOptions::spsc(self.size);
                match self.max_msg {
                    Some(m) => o.max_message(m),
                    None => o,
                }
            }
            _ => {
                let slot = self.max_msg.unwrap_or(256);
                let stride = 16 + slot.div_ceil(8) * 8;
                let per_level = self.size / u64::from(self.priorities.max(1)) / stride;
                // The largest power of two that fits, at least 2.
                let slots = match per_level {
                    0..=2 => 2,
                    n => 1 << (63 - n.leading_zeros()),
                };
                CreateOptions::mpmc(slots, slot).priorities(self.priorities)
            }
        };
        let lifetime = match self.ephemeral {
            true => Lifetime::Ephemeral,
            false => Lifetime::Persistent,
        };
        options.mode(self.mode).lifetime(lifetime)
    }
}

/// `shmring create`.
pub fn create(client: &mut BrokerClient, args: &CreateArgs) -> Result<(), BrokerError> {
    let info = client.create(&args.name, &args.options())?;
    println!(
        "created {} ({} ring, {} bytes, mode {:04o})",
        info.name, info.kind, info.size, info.mode
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

fn to_json(info: &SegmentInfo) -> serde_json::Value {
    json!({
        "name": info.name,
        "kind": info.kind.to_string(),
        "lifetime": info.lifetime.to_string(),
        "size": info.size,
        "capacity": info.capacity,
        "max_message": info.max_message,
        "priorities": info.levels,
        "uid": info.uid,
        "gid": info.gid,
        "mode": format!("{:04o}", info.mode),
        "holders": info.holders,
        "messages_in_flight": info.messages_in_flight,
        "bytes_in_flight": info.bytes_in_flight,
        "dead_sender_slots": info.dead_sender_slots,
        "dead_receiver_messages": info.dead_receiver_messages,
        "endpoints": info.endpoints.iter()
            .map(|e| json!({"role": e.role.to_string(), "pid": e.pid}))
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
        "{:<24} {:<5} {:>12} {:>6} {:>6} {:<5} {:<10} {:>8} {:>10}  ENDPOINTS",
        "NAME", "KIND", "SIZE", "UID", "GID", "MODE", "LIFETIME", "MSGS", "BYTES"
    );
    for i in &all {
        println!(
            "{:<24} {:<5} {:>12} {:>6} {:>6} {:04o}  {:<10} {:>8} {:>10}  {}",
            i.name,
            i.kind.to_string(),
            i.size,
            i.uid,
            i.gid,
            i.mode,
            i.lifetime.to_string(),
            i.messages_in_flight,
            i.bytes_in_flight,
            endpoints(i)
        );
    }
    Ok(())
}

/// `shmring stat`.
pub fn stat(client: &mut BrokerClient, name: &str, as_json: bool) -> Result<(), BrokerError> {
    let i = client.stat(name)?;
    if as_json {
        println!("{}", to_json(&i));
        return Ok(());
    }
    println!("name:        {}", i.name);
    println!("kind:        {}", i.kind);
    println!("lifetime:    {}", i.lifetime);
    println!("size:        {}", i.size);
    match i.kind {
        RingKind::Spsc => {
            println!("capacity:    {}", i.capacity);
            println!("max message: {}", i.max_message);
        }
        _ => {
            println!("slots:       {}", i.capacity);
            println!("slot size:   {}", i.max_message);
            println!("priorities:  {}", i.levels);
        }
    }
    println!("owner:       uid {} gid {}", i.uid, i.gid);
    println!("mode:        {:04o}", i.mode);
    println!("holders:     {}", i.holders);
    println!("messages:    {}", i.messages_in_flight);
    println!("bytes:       {}", i.bytes_in_flight);
    if i.kind == RingKind::Mpmc {
        // Crash recovery (docs/guarantees.md): slots of senders that died
        // mid-write, messages dropped with receivers that died holding them.
        println!(
            "recovered:   {} dead-sender slots, {} dead-receiver messages",
            i.dead_sender_slots, i.dead_receiver_messages
        );
    }
    println!("endpoints:   {}", endpoints(&i));
    Ok(())
}

/// `shmring rm`.
pub fn rm(client: &mut BrokerClient, name: &str) -> Result<(), BrokerError> {
    client.unlink(name)
}

fn other(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Io(std::io::Error::other(e.to_string()))
}

/// `shmring send`: each line of stdin (without its newline) becomes one
/// message; the producer is dropped at end of input, which the receiver
/// sees as end of stream.
pub fn send(client: &mut BrokerClient, name: &str) -> Result<(), BrokerError> {
    let kind = client.stat(name)?.kind;
    let stdin = std::io::stdin().lock();
    match kind {
        RingKind::Spsc => {
            let mut producer = client.producer(name)?;
            for line in stdin.split(b'\n') {
                let line = line.map_err(BrokerError::Io)?;
                producer
                    .send(&line)
                    .map_err(|e| other(e.without_message()))?;
            }
        }
        _ => {
            let sender = client.sender(name)?;
            for line in stdin.split(b'\n') {
                let line = line.map_err(BrokerError::Io)?;
                sender.send(&line).map_err(|e| other(e.without_message()))?;
            }
        }
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

/// `shmring recv`: one message per stdout line, until `count` messages,
/// end of stream, or `timeout` (measured from the start).
pub fn recv(
    client: &mut BrokerClient,
    name: &str,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<RecvEnd, BrokerError> {
    let kind = client.stat(name)?.kind;
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = || match deadline {
        Some(d) => d.saturating_duration_since(Instant::now()),
        None => Duration::from_secs(3600),
    };
    let mut out = std::io::stdout().lock();
    let mut got = 0u64;
    let mut buf = Vec::new();
    let mut consumer = None;
    let mut receiver = None;
    match kind {
        RingKind::Spsc => consumer = Some(client.consumer(name)?),
        _ => receiver = Some(client.receiver(name)?),
    }
    while count.is_none_or(|c| got < c) {
        let result = match (&mut consumer, &receiver) {
            (Some(c), _) => c.recv_timeout(left()).map(|m| {
                buf.clear();
                buf.extend_from_slice(&m);
            }),
            (_, Some(r)) => r.recv_timeout(left()).map(|m| {
                buf.clear();
                buf.extend_from_slice(&m);
            }),
            _ => unreachable!("one of them was opened"),
        };
        match result {
            Ok(()) => {
                buf.push(b'\n');
                out.write_all(&buf).map_err(BrokerError::Io)?;
                got += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
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
