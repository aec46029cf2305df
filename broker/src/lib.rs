//! The shmring broker daemon (`shmringd`) and command-line tool
//! (`shmring`). The library part holds what both binaries and the
//! integration tests share: configuration, the daemon itself, and the
//! command implementations.

pub mod cli;
pub mod config;
pub mod daemon;

/// Initialises `tracing` on stderr: warnings and above by default, info
/// with `-v`, debug with `-vv`, everything with `-vvv`.
pub fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
