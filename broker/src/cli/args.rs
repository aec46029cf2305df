//! The command line of `shmring`, as a value: the binary parses it, the
//! packaging tool renders its man page and shell completions from it.

use super::{CreateArgs, demo};
use clap::{Parser, Subcommand};
use shmring::{
    DEFAULT_CAPACITY, DEFAULT_MODE, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, RingGeometry, RingKind,
};
use std::path::PathBuf;

/// Shared-memory rings through the shmring broker.
///
/// Exit codes: 0 success, 1 error, 2 bad command line, 3 no broker,
/// 4 no such segment, 5 permission denied, 6 recv timed out.
#[derive(Debug, Parser)]
#[command(name = "shmring", version, long_about)]
pub struct Args {
    /// Broker socket [default: $SHMRING_SOCKET, else
    /// $XDG_RUNTIME_DIR/shmring/broker.sock, else /tmp/shmring-$UID/broker.sock].
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The ring kinds `create` makes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// One producer, one consumer.
    Spsc,
    /// Many senders, many receivers, each message to one receiver.
    Mpmc,
    /// One publisher, many subscribers, each message to every one.
    Pubsub,
}

fn positive_seconds(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a positive number of seconds"))
}

fn octal(s: &str) -> Result<u32, String> {
    let digits = s.trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal mode like 0660"))
}

fn size_help() -> String {
    format!(
        "SPSC: ring capacity in bytes (a power of two); MPMC, pubsub: bytes of slots in all \
         (rounded down to a power-of-two slot count) [default: {DEFAULT_CAPACITY} for SPSC, \
         {DEFAULT_SLOTS} slots for MPMC and pubsub]"
    )
}

fn max_msg_help() -> String {
    format!(
        "Largest message (SPSC, default size/4) or slot size (MPMC, pubsub, default \
         {DEFAULT_SLOT_SIZE})"
    )
}

fn slots_help() -> String {
    format!(
        "MPMC, pubsub: slot count, a power of two (instead of --size) [default: {DEFAULT_SLOTS}]"
    )
}

fn subscribers_help() -> String {
    let pubsub = RingGeometry::default_for(RingKind::PubSub);
    format!(
        "Pubsub: subscribers the ring holds at once (1 to 1024) [default: {}]",
        pubsub.subscribers()
    )
}

fn mode_help() -> String {
    format!("Permission bits, octal [default: {DEFAULT_MODE:04o}]")
}

fn priorities_help() -> String {
    let mpmc = RingGeometry::default_for(RingKind::Mpmc);
    format!(
        "MPMC priority levels (1 to 8) [default: {}]",
        mpmc.priorities()
    )
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a named segment.
    Create {
        /// Segment name.
        name: String,
        /// Ring kind.
        #[arg(long, value_enum)]
        kind: Kind,
        // The defaults in the help texts are the library's.
        /// Ring size in bytes.
        #[arg(long, value_name = "BYTES", help = size_help(), conflicts_with = "slots")]
        size: Option<u64>,
        /// Largest message or slot size.
        #[arg(long, value_name = "BYTES", help = max_msg_help(), visible_alias = "slot-size")]
        max_msg: Option<u64>,
        /// Slot count.
        #[arg(long, value_name = "N", help = slots_help())]
        slots: Option<u64>,
        /// Subscriber entries.
        #[arg(long, value_name = "N", help = subscribers_help())]
        subscribers: Option<u32>,
        /// Pubsub: the publisher never waits; a subscriber a ring behind
        /// loses the oldest messages and is told how many [default:
        /// lossless, the publisher waits for the slowest subscriber].
        #[arg(long)]
        lossy: bool,
        /// Permission bits.
        #[arg(long, value_parser = octal, help = mode_help())]
        mode: Option<u32>,
        /// Priority levels.
        #[arg(long, help = priorities_help())]
        priorities: Option<u32>,
        /// Forget the segment once no connection that created or opened
        /// it is left (or when removed).
        #[arg(long)]
        ephemeral: bool,
        /// Put the segment on huge pages (a hugetlb memfd, its size
        /// rounded up to whole huge pages); needs huge pages reserved in
        /// /proc/sys/vm/nr_hugepages. Prefaulting and locking are chosen
        /// by each process that attaches (the library's `prefault` and
        /// `lock_memory`), not here.
        #[arg(long)]
        huge_pages: bool,
    },
    /// List segments (like ipcs).
    Ls {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Describe one segment.
    Stat {
        /// Segment name.
        name: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Live view of every ring's traffic (messages, bytes, full and empty
    /// findings, sleeps and wake-ups per second), refreshed like top.
    Top {
        /// Seconds between refreshes.
        #[arg(long, value_name = "SECS", default_value = "1", value_parser = positive_seconds)]
        interval: std::time::Duration,
        /// Stop after this many refreshes [default: run until interrupted].
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Remove a segment's name (processes using it keep it).
    Rm {
        /// Segment name.
        name: String,
    },
    /// Send each line of stdin as one message (pubsub: publish it).
    Send {
        /// Segment name.
        name: String,
    },
    /// Print each message received as one line (pubsub: subscribe).
    Recv {
        /// Segment names: with more than one, they are followed at once
        /// and each line is prefixed with its ring's name and `: `.
        #[arg(required = true, num_args = 1..)]
        names: Vec<String>,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Give up after this many seconds (exit code 6).
        #[arg(long, value_name = "SECS")]
        timeout: Option<f64>,
        /// Pubsub: start at the oldest message the ring still holds, not
        /// at the next one published.
        #[arg(long)]
        from_oldest: bool,
    },
    /// Start a private broker, stream through a ring and a pipe, compare.
    Demo {
        /// Total running time in seconds.
        #[arg(long, default_value_t = 4.0)]
        seconds: f64,
    },
    /// One process of the demo (internal).
    #[command(hide = true)]
    DemoPeer {
        /// Which end this process is.
        #[arg(long, value_enum)]
        role: demo::PeerRole,
        /// Ring or pipe.
        #[arg(long, value_enum)]
        transport: demo::Transport,
        /// The segment or FIFO name.
        #[arg(long)]
        name: String,
        /// Running time.
        #[arg(long)]
        seconds: f64,
        /// One message per round trip instead of a stream.
        #[arg(long)]
        paced: bool,
    },
}

/// What `shmring create` was asked for (`None` for other commands).
pub fn create_args(command: &Cmd) -> Option<CreateArgs> {
    let Cmd::Create {
        name,
        kind,
        size,
        max_msg,
        slots,
        subscribers,
        lossy,
        mode,
        priorities,
        ephemeral,
        huge_pages,
    } = command
    else {
        return None;
    };
    let kind = match kind {
        Kind::Spsc => RingKind::Spsc,
        Kind::Mpmc => RingKind::Mpmc,
        Kind::Pubsub => RingKind::PubSub,
    };
    Some(CreateArgs {
        name: name.clone(),
        kind,
        size: *size,
        max_msg: *max_msg,
        slots: *slots,
        subscribers: *subscribers,
        lossy: *lossy,
        mode: *mode,
        priorities: *priorities,
        ephemeral: *ephemeral,
        huge_pages: *huge_pages,
    })
}
