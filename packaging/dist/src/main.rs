//! `shmring-dist`: renders what a distribution package ships besides the
//! binaries, from the command lines the binaries themselves parse
//! (`shmring_broker::cli::args::Args`, `shmring_broker::daemon::args::DaemonArgs`),
//! so that the man pages and completions cannot drift from `--help`.
//!
//! ```text
//! shmring-dist man DIR          # DIR/shmring.1, DIR/shmringd.1, DIR/shmring-<command>.1
//! shmring-dist completions DIR  # DIR/{bash,zsh,fish}/… for both commands
//! ```
//!
//! Silent on success (`-v` names each file written); on an I/O error it
//! names the file and exits with status 1.

#![deny(unsafe_code)]

mod completions;
mod man;

use clap::{Parser, Subcommand};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Renders the man pages and shell completions of `shmring` and `shmringd`.
#[derive(Debug, Parser)]
#[command(name = "shmring-dist", version, about)]
struct Cli {
    /// Print the path of each file written.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// What to render.
    #[command(subcommand)]
    what: What,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum What {
    /// Write the man pages (section 1) of shmring, each of its commands,
    /// and shmringd into DIR.
    Man {
        /// Output directory, created if missing.
        dir: PathBuf,
    },
    /// Write bash, zsh and fish completions of shmring and shmringd into
    /// DIR/bash, DIR/zsh and DIR/fish.
    Completions {
        /// Output directory, created if missing.
        dir: PathBuf,
    },
}

/// One output file: its path relative to the output directory, and its
/// contents.
#[derive(Debug)]
pub struct Output {
    /// Where under the output directory (may contain a subdirectory).
    pub path: PathBuf,
    /// The whole file.
    pub contents: Vec<u8>,
}

/// An I/O error on one path, said with the path: "permission denied"
/// alone does not tell a packager which directory to fix.
#[derive(Debug)]
struct WriteError {
    /// What was being done ("create directory", "write").
    action: &'static str,
    /// The directory or file.
    path: PathBuf,
    /// What the kernel said.
    source: io::Error,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            action,
            path,
            source,
        } = self;
        write!(f, "cannot {action} {}: {source}", path.display())
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes every output under `dir`, creating `dir` and subdirectories as
/// needed. Everything was rendered before this is called, so a failure
/// here is only ever about the file system.
fn write_all(dir: &Path, outputs: &[Output], verbose: bool) -> Result<(), WriteError> {
    for output in outputs {
        let path = dir.join(&output.path);
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|source| WriteError {
            action: "create directory",
            path: parent.to_owned(),
            source,
        })?;
        std::fs::write(&path, &output.contents).map_err(|source| WriteError {
            action: "write",
            path: path.clone(),
            source,
        })?;
        if verbose {
            println!("{}", path.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (dir, outputs) = match cli.what {
        What::Man { dir } => (dir, man::pages()),
        What::Completions { dir } => (dir, Ok(completions::scripts())),
    };
    let written = outputs
        .map_err(|e| e.to_string())
        .and_then(|outputs| write_all(&dir, &outputs, cli.verbose).map_err(|e| e.to_string()));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmring-dist: {e}");
            ExitCode::FAILURE
        }
    }
}
