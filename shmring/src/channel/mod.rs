//! The public handles: what applications hold and call.
//!
//! | module        | idea                                                   |
//! |---------------|--------------------------------------------------------|
//! | `endpoint`    | what every sender and receiver does, written once      |
//! | `open`        | the [`Ring`](open::Ring) trait and the one open path   |
//! | `any`         | a ring whose kind is chosen at run time                |
//! | `spsc`, `mpmc`| each kind's handles over its ring algorithm            |
//! | `model`       | heap-memory rings for the loom models                  |

pub(crate) mod any;
pub(crate) mod endpoint;
pub(crate) mod error;
#[cfg(shmring_loom)]
mod model;
pub(crate) mod mpmc;
pub(crate) mod open;
pub(crate) mod spsc;

use std::sync::Arc;

/// Owner of the memory a ring lives in (a mapping, or heap memory in loom
/// models); every handle holds a clone so the memory outlives them all.
pub(crate) type Keepalive = Arc<dyn std::any::Any + Send + Sync>;
