//! The public handles: what applications hold and call.
//!
//! | module        | idea                                                   |
//! |---------------|--------------------------------------------------------|
//! | `endpoint`    | what every sender and receiver does, written once      |
//! | `open`        | the [`Ring`](open::Ring) trait and the one open path   |
//! | `any`         | a ring whose kind is chosen at run time                |
//! | `spsc`, `mpmc`, `pubsub` | each kind's handles over its ring algorithm |
//! | `model`       | heap-memory rings for the loom models                  |
//! | `traffic`     | the counters endpoints keep and publish in batches     |

pub(crate) mod any;
pub(crate) mod endpoint;
#[cfg(shmring_loom)]
mod model;
pub(crate) mod mpmc;
pub(crate) mod open;
pub(crate) mod pubsub;
pub(crate) mod spsc;
pub(crate) mod traffic;

use crate::liveness::Locks;
use crate::segment::Mapping;
use crate::wait::WaitStrategy;
use crate::wait::doorbell::Doorbells;
use std::sync::Arc;
use traffic::TrafficArea;

/// Owner of the memory a ring lives in (a mapping, or heap memory in loom
/// models); every handle holds a clone so the memory outlives them all.
pub(crate) type Keepalive = Arc<dyn std::any::Any + Send + Sync>;

/// What every ring handle holds besides its kind's view of the memory:
/// the owner of that memory, its name, the segment's role locks and how
/// the endpoints made from it wait.
#[derive(Debug)]
pub(crate) struct Backing {
    pub(crate) memory: Keepalive,
    pub(crate) name: Option<String>,
    pub(crate) locks: Locks,
    pub(crate) wait: WaitStrategy,
    /// The ring's doorbells, from which each endpoint opens its own.
    pub(crate) bells: Doorbells,
    /// The ring's traffic counters (inside `memory`).
    pub(crate) traffic: TrafficArea,
}

impl Backing {
    /// A mapped segment; the kind's view of it must have been taken first.
    pub(crate) fn of(mapping: Mapping, wait: WaitStrategy) -> Backing {
        let traffic = TrafficArea::at_end_of(&mapping);
        Backing {
            traffic,
            name: mapping.name().map(str::to_owned),
            locks: mapping.locks(),
            bells: mapping.bells().clone(),
            memory: Arc::new(mapping),
            wait,
        }
    }

    /// Heap memory (the loom models): no name, no file to lock.
    #[cfg(shmring_loom)]
    pub(crate) fn on_heap(memory: Keepalive, wait: WaitStrategy) -> Backing {
        let traffic = TrafficArea::leaked();
        Backing {
            traffic,
            memory,
            name: None,
            locks: Locks::none(),
            wait,
            bells: Doorbells::on_heap(),
        }
    }
}
