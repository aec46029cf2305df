//! Where a route's local endpoint comes from: a named segment, or the
//! broker (which then knows the bridge holds the role and reports it).

use crate::config::RingSource;
use shmring::broker::BrokerClient;
use shmring::{AnyReceiver, AnyRing, AnySender};
use std::sync::Mutex;

/// The bridge's way to its rings, shared by its routes.
#[derive(Debug)]
pub(crate) enum Rings {
    Named,
    /// One connection for the bridge's life: the broker reaps the roles it
    /// handed out when it closes.
    Broker(Mutex<BrokerClient>),
}

impl Rings {
    pub fn connect(source: &RingSource) -> Result<Rings, String> {
        match source {
            RingSource::Named => Ok(Rings::Named),
            RingSource::Broker(socket) => shmring_broker::cli::connect(socket.as_deref())
                .map(|c| Rings::Broker(Mutex::new(c)))
                .map_err(|e| format!("cannot reach the broker: {e}")),
        }
    }

    /// The receiving endpoint of `name`.
    pub fn receiver(&self, name: &str) -> Result<AnyReceiver, String> {
        match self {
            Rings::Named => AnyRing::open(name)
                .map_err(|e| format!("cannot open ring {name:?}: {e}"))?
                .receiver()
                .map_err(|e| format!("cannot receive from ring {name:?}: {e}")),
            Rings::Broker(client) => client
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .attach_any_receiver(name)
                .map_err(|e| format!("cannot receive from ring {name:?}: {e}")),
        }
    }

    /// The sending endpoint of `name`.
    pub fn sender(&self, name: &str) -> Result<AnySender, String> {
        match self {
            Rings::Named => AnyRing::open(name)
                .map_err(|e| format!("cannot open ring {name:?}: {e}"))?
                .sender()
                .map_err(|e| format!("cannot send into ring {name:?}: {e}")),
            Rings::Broker(client) => client
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .attach_any_sender(name)
                .map_err(|e| format!("cannot send into ring {name:?}: {e}")),
        }
    }
}
