//! `shmring`: the command-line tool for the shmring broker (create, list,
//! inspect and remove segments; send and receive lines; a demo).

use clap::{Parser, Subcommand};
use shmring::{
    DEFAULT_CAPACITY, DEFAULT_MODE, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, JoinAt, RingGeometry,
    RingKind,
};
use shmring_broker::cli::{self, CreateArgs, RecvEnd, demo};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Shared-memory rings through the shmring broker.
///
/// Exit codes: 0 success, 1 error, 2 bad command line, 3 no broker,
/// 4 no such segment, 5 permission denied, 6 recv timed out.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Broker socket [default: $SHMRING_SOCKET, else
    /// $XDG_RUNTIME_DIR/shmring/broker.sock, else /tmp/shmring-$UID/broker.sock].
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Spsc,
    Mpmc,
    Pubsub,
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

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a named segment.
    Create {
        /// Segment name.
        name: String,
        /// Ring kind.
        #[arg(long, value_enum)]
        kind: Kind,
        // The defaults in the help texts are the library's.
        #[arg(long, value_name = "BYTES", help = size_help(), conflicts_with = "slots")]
        size: Option<u64>,
        #[arg(long, value_name = "BYTES", help = max_msg_help(), visible_alias = "slot-size")]
        max_msg: Option<u64>,
        #[arg(long, value_name = "N", help = slots_help())]
        slots: Option<u64>,
        #[arg(long, value_name = "N", help = subscribers_help())]
        subscribers: Option<u32>,
        /// Pubsub: the publisher never waits; a subscriber a ring behind
        /// loses the oldest messages and is told how many [default:
        /// lossless, the publisher waits for the slowest subscriber].
        #[arg(long)]
        lossy: bool,
        #[arg(long, value_parser = octal, help = mode_help())]
        mode: Option<u32>,
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
        #[arg(long, value_enum)]
        role: demo::PeerRole,
        #[arg(long, value_enum)]
        transport: demo::Transport,
        #[arg(long)]
        name: String,
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        paced: bool,
    },
}

/// What `shmring create` was asked for (`None` for other commands).
fn create_args(command: &Cmd) -> Option<CreateArgs> {
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

fn main() -> ExitCode {
    let args = Args::parse();
    let socket = args.socket.as_deref();
    let fail = |e: &dyn std::fmt::Display, code: u8| {
        eprintln!("shmring: {e}");
        ExitCode::from(code)
    };
    match args.command {
        Cmd::Demo { seconds } => {
            return match demo::run(seconds) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            };
        }
        Cmd::DemoPeer {
            role,
            transport,
            name,
            seconds,
            paced,
        } => {
            let socket = socket.map(PathBuf::from).unwrap_or_default();
            return match demo::peer(role, transport, paced, seconds, &socket, &name) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            };
        }
        _ => {}
    }
    // Options that do not fit the kind are a bad command line, said
    // before any broker is asked.
    let create = create_args(&args.command);
    if let Some(Err(why)) = create.as_ref().map(CreateArgs::check) {
        return fail(&why, 2);
    }
    let mut client = match cli::connect(socket) {
        Ok(c) => c,
        Err(e) => return fail(&e, cli::exit_code(&e)),
    };
    let result = match args.command {
        Cmd::Create { .. } => {
            let args = create.expect("made from the create command above");
            cli::create(&mut client, &args)
        }
        Cmd::Ls { json } => cli::ls(&mut client, json),
        Cmd::Stat { name, json } => cli::stat(&mut client, &name, json),
        Cmd::Rm { name } => cli::rm(&mut client, &name),
        Cmd::Send { name } => cli::send(&mut client, &name),
        Cmd::Recv {
            names,
            count,
            timeout,
            from_oldest,
        } => {
            let timeout = timeout.map(Duration::from_secs_f64);
            let join = match from_oldest {
                true => JoinAt::Oldest,
                false => JoinAt::Next,
            };
            let ended = match names.as_slice() {
                [name] => cli::recv(&mut client, name, join, count, timeout),
                _ => cli::recv_many(&mut client, &names, join, count, timeout),
            };
            match ended {
                Ok(RecvEnd::TimedOut) => return fail(&"timed out", 6),
                other => other.map(|_| ()),
            }
        }
        Cmd::Demo { .. } | Cmd::DemoPeer { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, cli::exit_code(&e)),
    }
}
