//! `shmring`: the command-line tool for the shmring broker (create, list,
//! inspect and remove segments; send and receive lines; a demo).

use clap::Parser;
use shmring::JoinAt;
use shmring_broker::cli::args::{Args, Cmd, create_args};
use shmring_broker::cli::{self, CreateArgs, RecvEnd, demo};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
        Cmd::Top { interval, count } => {
            cli::top::run(&mut client, cli::top::TopOptions { interval, count })
        }
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
