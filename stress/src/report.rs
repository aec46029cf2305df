//! What workers tell the harness: fixed 16-byte records on their stdout
//! pipe, one `write` each, so a worker killed at any instant leaves whole
//! records only (a pipe write of at most `PIPE_BUF` bytes is atomic).

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Instant;

/// Bytes of one record: tag (u32), a (u32), b (u64), little endian.
pub const RECORD_LEN: usize = 16;

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The endpoint is attached and about to move messages.
    Attached,
    /// `send` returned for message `seq` of `stream`.
    Sent {
        /// Producer incarnation.
        stream: u32,
        /// Sequence number.
        seq: u64,
    },
    /// Message `seq` of `stream` was received intact (reported before
    /// its slot is released).
    Received {
        /// Producer incarnation.
        stream: u32,
        /// Sequence number.
        seq: u64,
    },
    /// A message failed its checksum or was not the one expected.
    Torn {
        /// Stream its header claims.
        stream: u32,
        /// Sequence its header claims.
        seq: u64,
    },
    /// The other side is gone (`Disconnected`); said once per loss.
    PeerGone,
    /// The worker finished normally after moving `count` messages.
    Done {
        /// Messages sent or received.
        count: u64,
    },
    /// A fatal error; the text went to stderr.
    Failed {
        /// Which error (see the worker).
        code: u32,
    },
}

impl Record {
    fn encode(self) -> [u8; RECORD_LEN] {
        let (tag, a, b) = match self {
            Record::Attached => (1, 0, 0),
            Record::Sent { stream, seq } => (2, stream, seq),
            Record::Received { stream, seq } => (3, stream, seq),
            Record::Torn { stream, seq } => (4, stream, seq),
            Record::PeerGone => (5, 0, 0),
            Record::Done { count } => (6, 0, count),
            Record::Failed { code } => (7, code, 0),
        };
        let mut out = [0u8; RECORD_LEN];
        out[0..4].copy_from_slice(&(tag as u32).to_le_bytes());
        out[4..8].copy_from_slice(&a.to_le_bytes());
        out[8..16].copy_from_slice(&b.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8; RECORD_LEN]) -> Option<Record> {
        let tag = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
        let a = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
        let b = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
        Some(match tag {
            1 => Record::Attached,
            2 => Record::Sent { stream: a, seq: b },
            3 => Record::Received { stream: a, seq: b },
            4 => Record::Torn { stream: a, seq: b },
            5 => Record::PeerGone,
            6 => Record::Done { count: b },
            7 => Record::Failed { code: a },
            _ => return None,
        })
    }
}

/// The worker's side: writes records to stdout, unbuffered.
#[derive(Debug)]
pub struct Reporter {
    out: std::fs::File,
}

impl Reporter {
    /// Reports through this process's stdout.
    pub fn stdout() -> std::io::Result<Reporter> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Reporter { out: fd.into() })
    }

    /// Sends one record; a harness that went away ends this process
    /// (nobody is left to tell, and the worker must not run on).
    pub fn say(&mut self, record: Record) {
        if self.out.write_all(&record.encode()).is_err() {
            std::process::exit(3);
        }
    }
}

/// One thing that happened to a worker, as the harness sees it.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// When the harness read it.
    pub at: Instant,
    /// Which worker (the harness's id).
    pub worker: usize,
    /// The record, or `None` at the end of the worker's output.
    pub record: Option<Record>,
}

/// Reads a worker's records on a thread of its own and forwards them, in
/// order, followed by one end event.
pub fn forward(mut from: impl Read + Send + 'static, worker: usize, to: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; RECORD_LEN];
        loop {
            let record = match from.read_exact(&mut buf) {
                Ok(()) => match Record::decode(&buf) {
                    Some(r) => Some(r),
                    None => Some(Record::Failed { code: u32::MAX }),
                },
                Err(_) => None,
            };
            let end = record.is_none();
            let event = Event {
                at: Instant::now(),
                worker,
                record,
            };
            if to.send(event).is_err() || end {
                return;
            }
        }
    });
}
