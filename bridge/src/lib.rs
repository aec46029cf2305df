//! Local shmring rings to and from zenoh key expressions: the way out of
//! one machine (docs/bridge.md).
//!
//! A bridge process holds one zenoh session and any number of routes:
//! - an **out** route takes every message from a local receiving endpoint
//!   (SPSC consumer, MPMC receiver or pub/sub subscriber) and publishes it
//!   on a key expression;
//! - an **in** route subscribes to a key expression and sends every
//!   sample into a local sending endpoint (SPSC producer, MPMC sender or
//!   pub/sub publisher).
//!
//! Each sample carries a 20-byte attachment (a route's source id and
//! sequence number, [`header`]) so that the receiving bridge keeps order,
//! refuses duplicates and counts what was lost in between. Zenoh does the
//! network: discovery, routing, congestion control, TLS, access control.
//!
//! ```no_run
//! use shmring_bridge::{Bridge, BridgeConfig};
//! let config = BridgeConfig::from_args(&[
//!     "--listen", "tcp/0.0.0.0:7447",
//!     "--out", "prices=desk/prices",
//!     "--in", "desk/orders=orders",
//! ])?;
//! let bridge = Bridge::start(config)?;
//! // ... until asked to stop:
//! let last = bridge.stop();
//! println!("{}", last.to_json());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]

pub mod args;
mod bridge;
pub mod config;
pub mod counters;
pub mod header;
mod in_route;
mod out_route;
mod rings;
mod session;
pub mod status;

pub use bridge::{Bridge, BridgeError};
pub use config::{BridgeConfig, ConfigError, Direction, RingSource, Route, ZenohMode};
pub use counters::{BridgeStatus, RouteStatus};

/// Starts logging to stderr, as the other shmring tools do
/// (`shmring_broker::init_logging`: `-v` info, `-vv` debug, `-vvv` trace; a
/// non-empty RUST_LOG decides instead). zenoh logs through the same
/// subscriber: `RUST_LOG=zenoh=debug`.
pub use shmring_broker::init_logging;
