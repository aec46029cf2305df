//! `shmring-bridge`: local rings to and from zenoh; see docs/bridge.md.

use clap::Parser;
use shmring_bridge::args::{Cli, Command};
use shmring_bridge::{Bridge, BridgeConfig, status};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    shmring_bridge::init_logging(cli.verbose);
    match cli.command {
        Command::Status { file, json } => match status::read(&file) {
            Ok(s) if json => {
                println!("{}", s.to_json());
                ExitCode::SUCCESS
            }
            Ok(s) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("shmring-bridge: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            let config = match BridgeConfig::from_run_args(&args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("shmring-bridge: {e}");
                    return ExitCode::from(2);
                }
            };
            run(config)
        }
    }
}

fn run(config: BridgeConfig) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("shmring-bridge: cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let bridge = match Bridge::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("shmring-bridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    while !stop.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!("stopping");
    let last = bridge.stop();
    tracing::info!(status = %last.to_json(), "stopped");
    ExitCode::SUCCESS
}
