//! The shmring broker daemon (`shmringd`) and command-line tool
//! (`shmring`). The library part holds what both binaries and the
//! integration tests share: configuration, the daemon itself, and the
//! command implementations.

pub mod cli;
pub mod config;
pub mod daemon;

/// Initialises `tracing` on stderr. `$RUST_LOG`, when set and not
/// empty, decides alone, in `tracing-subscriber`'s `EnvFilter` syntax
/// (`RUST_LOG=shmring_broker=debug,shmring=info`; targets are module
/// paths: `shmring_broker::…` for the daemon, `shmring::…` for the
/// library). Otherwise `verbosity` does: warnings and above by
/// default, info with `-v`, debug with `-vv`, everything with `-vvv`,
/// for every crate. A `$RUST_LOG` that does not parse is reported on
/// stderr and ignored.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::filter::LevelFilter;
    let level = match verbosity {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let builder = EnvFilter::builder().with_default_directive(level.into());
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) => builder.parse(directives.trim()).unwrap_or_else(|e| {
            eprintln!("warning: ignoring RUST_LOG={directives:?}: {e}");
            builder.parse("").expect("no directives")
        }),
        Err(std::env::VarError::NotPresent) => builder.parse("").expect("no directives"),
        Err(e) => {
            eprintln!("warning: ignoring RUST_LOG: {e}");
            builder.parse("").expect("no directives")
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
