//! The command line of the child processes (`shmring-stress-worker`, and
//! `stress` itself when called with one of these subcommands).

use crate::endpoint::{Kind, Style, Transport};
use crate::msg::Sizes;
use crate::worker::{self, Role};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(about = "child process of the shmring stress loops")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Sends sequenced, checksummed messages until stdin closes.
    Producer(RoleArgs),
    /// Receives and checks messages until stdin is closed and the
    /// producer side is gone.
    Consumer(RoleArgs),
    /// A fresh client: creates a ring through the broker, opens it on a
    /// second connection, exchanges checked messages, removes it.
    Fresh {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long, default_value_t = 0)]
        stream: u32,
    },
    /// Runs the broker daemon at SOCKET.
    Shmringd {
        /// Socket path.
        #[arg(long)]
        socket: PathBuf,
    },
    /// A publisher or subscriber of the publish/subscribe kill loop.
    PubsubWorker(crate::pubsub_loop::WorkerArgs),
}

#[derive(Debug, clap::Args)]
struct RoleArgs {
    #[arg(long, value_enum)]
    kind: Kind,
    #[arg(long)]
    name: String,
    /// Through the broker at this socket (else a named segment).
    #[arg(long)]
    socket: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "timeout")]
    style: Style,
    /// Stream number (producer incarnation).
    #[arg(long, default_value_t = 0)]
    stream: u32,
    #[arg(long, default_value_t = 24)]
    min_len: usize,
    #[arg(long, default_value_t = 512)]
    max_len: usize,
    /// Producer: stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
}

impl RoleArgs {
    fn role(self) -> Role {
        Role {
            kind: self.kind,
            name: self.name,
            transport: match self.socket {
                Some(s) => Transport::Broker(s),
                None => Transport::Direct,
            },
            style: self.style,
            stream: self.stream,
            sizes: Sizes {
                min: self.min_len.max(crate::msg::HEADER_LEN),
                max: self.max_len.max(self.min_len),
            },
            count: self.count,
        }
    }
}

/// The subcommands a worker understands.
pub const SUBCOMMANDS: [&str; 5] = ["producer", "consumer", "fresh", "shmringd", "pubsub-worker"];

/// Parses `args` (program name first) and runs the worker; never returns.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ! {
    worker::die_with_parent();
    match Args::parse_from(args).command {
        Cmd::Producer(r) => worker::producer(&r.role()),
        Cmd::Consumer(r) => worker::consumer(&r.role()),
        Cmd::Shmringd { socket } => worker::daemon(&socket),
        Cmd::PubsubWorker(args) => crate::pubsub_loop::worker(args),
        Cmd::Fresh {
            socket,
            name,
            kind,
            stream,
        } => match worker::fresh_exchange(&socket, &name, kind, stream) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("shmring-stress-worker fresh: {e}");
                std::process::exit(1)
            }
        },
    }
}
