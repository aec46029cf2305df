//! `shmringd`: the shmring broker daemon. Runs in the foreground; see
//! `docs/broker.md`.

use clap::Parser;
use shmring_broker::config::Config;
use shmring_broker::daemon::args::DaemonArgs;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
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
