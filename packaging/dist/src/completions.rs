//! Shell completions of `shmring` and `shmringd`, named and placed the way
//! each shell's completion directory expects them (bash-completion loads
//! `completions/NAME`, zsh's `fpath` loads `_NAME`, fish loads
//! `completions/NAME.fish`), so a package installs each directory as is.

use crate::Output;
use clap::{Command, CommandFactory};
use clap_complete::Shell;
use shmring_broker::cli::args::Args;
use shmring_broker::daemon::args::DaemonArgs;
use std::path::PathBuf;

/// The shells we ship for. (elvish and powershell are not asked for by
/// any package we make.)
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Where the script for the command `name` goes, under the output
/// directory.
fn file(shell: Shell, name: &str) -> PathBuf {
    match shell {
        Shell::Bash => PathBuf::from("bash").join(name),
        Shell::Zsh => PathBuf::from("zsh").join(format!("_{name}")),
        Shell::Fish => PathBuf::from("fish").join(format!("{name}.fish")),
        _ => unreachable!("only the shells in SHELLS are rendered"),
    }
}

/// Every completion script, for every shell and both commands.
pub fn scripts() -> Vec<Output> {
    let mut outputs = Vec::new();
    for cmd in [Args::command(), DaemonArgs::command()] {
        for shell in SHELLS {
            outputs.push(script(shell, cmd.clone()));
        }
    }
    outputs
}

fn script(shell: Shell, mut cmd: Command) -> Output {
    // The installed binary's name is the command's name (set in the
    // broker's `#[command(name = …)]`), not this package's.
    let name = cmd.get_name().to_owned();
    let mut contents = Vec::new();
    clap_complete::generate(shell, &mut cmd, &name, &mut contents);
    Output {
        path: file(shell, &name),
        contents,
    }
}
