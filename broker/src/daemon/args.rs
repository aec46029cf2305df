//! The command line of `shmringd`, as a value: the binary parses it, the
//! packaging tool renders its man page and shell completions from it.

use clap::Parser;
use std::path::PathBuf;

/// The shmring broker: creates named shared-memory rings as sealed memfds
/// and hands them to authorised clients over a UNIX socket.
#[derive(Debug, Parser)]
#[command(name = "shmringd", version)]
pub struct DaemonArgs {
    /// Socket path [default: $SHMRING_SOCKET, else
    /// $XDG_RUNTIME_DIR/shmring/broker.sock, else /tmp/shmring-$UID/broker.sock].
    /// A listening socket passed by systemd (LISTEN_FDS) takes its place.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// TOML file with limits and modes (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG,
    /// when set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}
