//! The public handles: what applications hold and call.

#[cfg(not(shmring_loom))]
pub(crate) mod broker_hooks;
pub(crate) mod error;
pub(crate) mod mpmc;
pub(crate) mod registry;
pub(crate) mod role;
pub(crate) mod spsc;

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Owner of the memory a ring lives in (a mapping, or heap memory in loom
/// models); every handle holds a clone so the memory outlives them all.
pub(crate) type Keepalive = Arc<dyn std::any::Any + Send + Sync>;

/// When a blocking call gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Do not wait at all.
    None,
    /// Wait until the deadline, or forever.
    Until(Option<Instant>),
}

impl Patience {
    pub(crate) fn after(timeout: Duration) -> Patience {
        Patience::Until(Instant::now().checked_add(timeout))
    }
}
