//! `shmringd`: the shmring broker daemon. Runs in the foreground; see
//! `docs/broker.md`.

use clap::Parser;
use shmring_broker::config::Config;
use shmring_broker::daemon::args::DaemonArgs;
use shmring_broker::daemon::systemd::Activation;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    shmring_broker::init_logging(args.verbose);
    // SAFETY: no thread has been started yet (argument parsing and the
    // log subscriber start none), and nothing in this process has taken
    // the descriptors from 3 on that LISTEN_FDS may name.
    #[allow(unsafe_code)]
    let activation = match unsafe { Activation::from_env() } {
        Ok(a) => a,
        Err(e) => {
            eprintln!("shmringd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(activated), Some(socket)) = (&activation.socket, &args.socket) {
        if activated.path != *socket {
            tracing::warn!(
                "serving on {}, the socket systemd passed (LISTEN_FDS), not on --socket {}",
                activated.path.display(),
                socket.display()
            );
        }
    }
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
    match shmring_broker::daemon::serve(&socket, Some(activation), config, args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmringd: {e}");
            ExitCode::FAILURE
        }
    }
}
