//! The ring algorithms, over any region of memory: no system calls, no
//! files, no processes. The channel handles feed them a mapping; the loom
//! models feed them heap memory.

pub(crate) mod broadcast;
pub(crate) mod data;
pub(crate) mod mpmc;
#[cfg(not(shmring_loom))]
pub(crate) mod priority;
pub(crate) mod queue_lock;
pub(crate) mod queue_wait;
pub(crate) mod spsc;

/// A shared value that breaks the ring's invariants: the peer is buggy or
/// hostile, or something else wrote into the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corruption(pub(crate) &'static str);

impl Corruption {
    /// What was found wrong.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt segment: {}", self.0)
    }
}

impl std::error::Error for Corruption {}
