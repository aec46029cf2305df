//! Fault injection and soak for shmring (issue 8): kill loops with real
//! processes, a broker kill loop, and a soak of mixed traffic.
//!
//! The `stress` binary runs each with full counts; the tests in `tests/`
//! run the same functions with the counts CI can afford. Child processes
//! are `shmring-stress-worker` (or `stress` itself).
#![deny(unsafe_code)]

pub mod broker_kill;
pub mod check;
pub mod compat;
pub mod endpoint;
pub mod harness;
pub mod kill_loop;
pub mod msg;
pub mod proc;
pub mod pubsub_loop;
pub mod report;
pub mod soak;
pub mod worker;
pub mod worker_cli;
