//! `shmringd`: the shmring broker daemon. Runs in the foreground; see
//! `docs/broker.md`.

use clap::Parser;
use shmring_broker::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// The shmring broker: creates named shared-memory rings as sealed memfds
/// and hands them to authorised clients over a UNIX socket.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Socket path [default: $SHMRING_SOCKET, else
    /// $XDG_RUNTIME_DIR/shmring/broker.sock, else /tmp/shmring-$UID/broker.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// TOML file with limits and modes (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let args = Args::parse();
    shmring_broker::init_logging(args.verbose);
    let config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("shmringd: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let socket = args
        .socket
        .unwrap_or_else(shmring::broker::default_socket_path);
    match shmring_broker::daemon::run(&socket, config, args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmringd: {e}");
            ExitCode::FAILURE
        }
    }
}
