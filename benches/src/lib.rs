//! `cargo bench` for shmring: every row is a message-passing mechanism
//! measured on this machine in this run, next to the physical limit.
//!
//! The two bench targets (`latency`, `throughput`) drive one side of each
//! mechanism; the other side is a real process, `shmring-bench-peer`,
//! pinned to the other core. Both sides share this library: the same
//! mechanism code ([`link`]), the same messages and measuring loops
//! ([`traffic`]), and the report writer ([`report`], [`plot`]). The
//! `fanout` target drives one publisher against several subscriber
//! processes ([`fanout`]).

pub mod clock;
pub mod fanout;
pub mod link;
pub mod mechanism;
pub mod peer;
pub mod pin;
pub mod plan;
pub mod plot;
pub mod probe;
pub mod progress;
pub mod report;
pub mod runner;
#[cfg(feature = "tokio")]
pub mod tokio_rows;
pub mod traffic;
pub mod watchdog;

/// Every failure in a benchmark run: a message for a human, nothing to
/// match on (a failed row is reported and the run goes on or stops).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
