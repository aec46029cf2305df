//! The command line of `shmring-bridge`, as a value: the binary parses it,
//! [`BridgeConfig::from_args`](crate::BridgeConfig::from_args) parses the
//! same flags for programs that run a bridge in-process.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Connects local shmring rings to zenoh key expressions, both ways, so a
/// pipeline can span hosts.
#[derive(Debug, Parser)]
#[command(name = "shmring-bridge", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG,
    /// when set, decides instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a bridge until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Prints the counters a running (or finished) bridge wrote with
    /// `--status FILE`.
    Status {
        /// The status file.
        file: PathBuf,
        /// Print the file's JSON as it is.
        #[arg(long)]
        json: bool,
    },
}

/// What `shmring-bridge run` takes. Flags add to a `--config` file: routes
/// and endpoints are appended, single settings replace the file's.
#[derive(Debug, Default, Parser)]
#[command(name = "shmring-bridge run", no_binary_name = true)]
pub struct RunArgs {
    /// TOML file with the routes and the zenoh settings (docs/bridge.md).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Out route: every message of the local ring RING is published on the
    /// key expression KEY. Options after `?`, comma-separated: `lossy`
    /// (drop and count instead of blocking), `express` (no batching).
    #[arg(long = "out", value_name = "RING=KEY[?OPTS]")]
    pub out_routes: Vec<String>,
    /// In route: every sample on the key expression KEY is sent into the
    /// local ring RING. Options as for --out.
    #[arg(long = "in", value_name = "KEY=RING[?OPTS]")]
    pub in_routes: Vec<String>,
    /// zenoh mode [default: peer].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// A zenoh endpoint to connect to (tcp/HOST:PORT, tls/HOST:PORT);
    /// repeatable.
    #[arg(long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// A zenoh endpoint to listen on (tcp/0.0.0.0:7447); repeatable.
    #[arg(long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// No multicast scouting: peers are found only through --connect and
    /// --listen.
    #[arg(long)]
    pub no_scouting: bool,
    /// zenoh's own configuration file (JSON5), for what the flags do not
    /// cover: TLS certificates, access control, queue sizes. Flags and the
    /// bridge's file override the settings they name.
    #[arg(long, value_name = "FILE")]
    pub zenoh_config: Option<PathBuf>,
    /// Open rings through the broker (its default socket) instead of by
    /// name.
    #[arg(long)]
    pub broker: bool,
    /// Open rings through the broker at this socket.
    #[arg(long, value_name = "PATH")]
    pub broker_socket: Option<PathBuf>,
    /// Write the counters as JSON to FILE, every --status-interval and on
    /// exit (read with `shmring-bridge status FILE`).
    #[arg(long, value_name = "FILE")]
    pub status: Option<PathBuf>,
    /// How often the status file is rewritten, in milliseconds [default:
    /// 1000].
    #[arg(long, value_name = "MS")]
    pub status_interval_ms: Option<u64>,
}

/// zenoh's session modes the bridge offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Talks to other peers directly (and to routers).
    Peer,
    /// Talks only through a router (`--connect` names it).
    Client,
}
