//! Where a route's local endpoint comes from: a named segment, or the
//! broker (which then knows the bridge holds the role and reports it).

use crate::config::RingSource;
use shmring::broker::{BrokerClient, BrokerError};
use shmring::{AnyReceiver, AnyRing, AnySender, OpenMode, RingBuilder, Spsc, WaitStrategy};
use std::sync::Mutex;

/// How the bridge's endpoints wait for a message or for room: asleep on
/// the futex at once. A bridge's latency is the network's (tens of
/// microseconds); spinning would only take the CPU that its zenoh threads
/// need, which on a small machine costs more than the wake-up.
const WAIT: WaitStrategy = WaitStrategy::Park;

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
                .map(|c| Rings::Broker(Mutex::new(c.with_wait_strategy(WAIT))))
                .map_err(|e| format!("cannot reach the broker: {e}")),
        }
    }

    /// The receiving endpoint of `name`.
    pub fn receiver(&self, name: &str) -> Result<AnyReceiver, String> {
        self.attach(name, "receive from", AnyRing::receiver, |client, name| {
            client.attach_any_receiver(name)
        })
    }

    /// The sending endpoint of `name`.
    pub fn sender(&self, name: &str) -> Result<AnySender, String> {
        self.attach(name, "send into", AnyRing::sender, |client, name| {
            client.attach_any_sender(name)
        })
    }

    fn attach<T, E: std::fmt::Display>(
        &self,
        name: &str,
        doing: &str,
        named: impl FnOnce(&AnyRing) -> Result<T, E>,
        brokered: impl FnOnce(&mut BrokerClient, &str) -> Result<T, BrokerError>,
    ) -> Result<T, String> {
        let cannot = |e: &dyn std::fmt::Display| format!("cannot {doing} ring {name:?}: {e}");
        match self {
            Rings::Named => {
                let ring = AnyRing::open_with(
                    &RingBuilder::<Spsc>::new().wait_strategy(WAIT),
                    name,
                    OpenMode::Open,
                )
                .map_err(|e| format!("cannot open ring {name:?}: {e}"))?;
                named(&ring).map_err(|e| cannot(&e))
            }
            Rings::Broker(client) => {
                let mut client = client.lock().unwrap_or_else(|p| p.into_inner());
                brokered(&mut client, name).map_err(|e| cannot(&e))
            }
        }
    }
}
