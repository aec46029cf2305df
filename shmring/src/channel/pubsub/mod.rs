//! Publish/subscribe handles: [`PubSubBuilder`] makes or opens a ring,
//! [`PubSub`] hands out the one [`Publisher`] and up to `subscribers`
//! [`Subscriber`]s, each of which sees every message published after it
//! joined (or, in a lossy ring, learns how many it missed).
#![allow(unsafe_code)]

mod membership;
mod publisher;
#[cfg(not(shmring_loom))]
mod relay;
mod subscriber;

pub use crate::layout::pubsub::Delivery;
pub use publisher::{PublishGrant, Publisher};
pub use subscriber::{Subscriber, SubscriberGuard};

use crate::channel::Backing;
use crate::channel::open::{Ring, RingBuilder, sealed::RingInternals};
use crate::channel::spsc::role::{PeerWatch, RoleSlot};
use crate::error::{AttachError, OpenError};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::layout::holder::RoleState;
use crate::layout::pubsub::{
    self as layout, PUBLISHER_LOCK_BYTE, PubSubControl, PubSubGeometry, SubscriberEntry,
};
use crate::ring::broadcast::{PubSubMemory, PublisherRing};
use crate::ring::data::DataArea;
use crate::segment::{self, Mapping};
use crate::sync::Ordering;
use crate::sys::process::ProcessId;
use crate::wait::WaitStrategy;
use crossbeam_utils::CachePadded;
use std::sync::Arc;

/// Options for creating or opening a publish/subscribe ring
/// ([`RingBuilder`] for [`PubSub`]).
pub type PubSubBuilder = RingBuilder<PubSub>;

impl RingBuilder<PubSub> {
    /// Slots: messages the ring holds, a power of two (create only).
    pub fn slots(self, slots: u64) -> PubSubBuilder {
        let shape = self.shape();
        self.with_shape(RingGeometry::PubSub {
            slots,
            slot_size: shape.max_message(),
            subscribers: shape.subscribers(),
            delivery: shape.delivery().unwrap_or(Delivery::Lossless),
        })
    }

    /// Subscribers the ring can hold at once, 1 to 1024 (create only).
    pub fn subscribers(self, subscribers: u32) -> PubSubBuilder {
        let shape = self.shape();
        self.with_shape(shape.with_subscribers(subscribers))
    }

    /// Lossless (the default) or lossy (create only).
    pub fn delivery(self, delivery: Delivery) -> PubSubBuilder {
        let shape = self.shape();
        self.with_shape(shape.with_delivery(delivery))
    }
}

/// Where a new subscriber starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinAt {
    /// At the next message published (the default).
    Next,
    /// At the oldest message the ring still holds.
    Oldest,
}

/// An open publish/subscribe segment.
///
/// ```
/// use shmring::{MessageReceiver, MessageSender, PubSub};
/// let name = format!("doc-pubsub-{}", std::process::id());
/// let ring = PubSub::create(&name)?;
/// let mut publisher = ring.publisher()?;
/// let (mut a, mut b) = (ring.subscriber()?, ring.subscriber()?);
/// publisher.send(b"tick")?;
/// assert_eq!(&*a.recv()?, b"tick");
/// assert_eq!(&*b.recv()?, b"tick");
/// shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PubSub {
    backing: Backing,
    mem: PubSubMemory,
}

// SAFETY: `mem` points into the memory `backing` keeps alive; all shared
// state is atomics, so `&PubSub` may be used from several threads.
unsafe impl Sync for PubSub {}

impl RingInternals for PubSub {
    const LAYOUT_HASH: u64 = layout::LAYOUT_HASH;

    // Zero is the initial value of every word: no publisher, no
    // subscriber, head 0, every stamp "never written".
    fn initialise(_: &Mapping) {}

    fn from_mapping(mapping: Mapping, wait: WaitStrategy) -> Result<PubSub, OpenError> {
        let geometry = PubSubGeometry::from_header(mapping.header())
            .map_err(|p| segment::header_error(p, RingKind::PubSub))?;
        let control = mapping.at::<PubSubControl>(layout::CONTROL_OFFSET);
        let entries = mapping.at::<CachePadded<SubscriberEntry>>(layout::SUBSCRIBERS_OFFSET);
        let words = mapping.at::<crate::sync::AtomicU64>(geometry.slots_offset());
        // SAFETY: the header check tied the offsets and sizes to the real
        // file size, so the table and every slot are mapped, 8-aligned,
        // for as long as `mapping`, which every handle keeps alive.
        let slots = unsafe { DataArea::new(words, geometry.stride() * geometry.slots) };
        // SAFETY: as above.
        let mem = unsafe { PubSubMemory::new(control, entries, slots, geometry) };
        Ok(PubSub::from_parts(Backing::of(mapping, wait), mem))
    }
}

impl Ring for PubSub {
    const KIND: RingKind = RingKind::PubSub;
    type Sender = Publisher;
    type Receiver = Subscriber;

    fn sender(&self) -> Result<Publisher, AttachError> {
        self.publisher()
    }

    fn receiver(&self) -> Result<Subscriber, AttachError> {
        self.subscriber()
    }

    fn geometry(&self) -> RingGeometry {
        self.mem.geometry().into()
    }

    fn messages_in_flight(&self) -> u64 {
        self.messages_in_flight()
    }

    fn traffic(&self) -> crate::TrafficCounts {
        let control = self.mem.control();
        self.backing
            .traffic
            .counts(&control.readable, &control.writable, 0)
    }

    fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }

    fn doorbells(&self) -> &crate::wait::doorbell::Doorbells {
        &self.backing.bells
    }
}

/// One subscriber as `stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberState {
    /// Its entry in the table.
    pub index: usize,
    /// The pid its role word names (of its own PID namespace).
    pub pid: u32,
    /// Whether its process is alive (it holds its lock).
    pub alive: bool,
    /// Sequence number of the next message it reads.
    pub cursor: u64,
    /// Messages published that it has not read yet.
    pub lag: u64,
    /// Messages it lost to the publisher (lossy rings).
    pub missed: u64,
    /// Messages it received.
    pub received: u64,
}

impl PubSub {
    /// Creates a named ring with the default options ([`PubSubBuilder::new`]).
    pub fn create(name: &str) -> Result<PubSub, OpenError> {
        PubSubBuilder::new().create(name)
    }

    /// Opens a named ring with the default options.
    pub fn open(name: &str) -> Result<PubSub, OpenError> {
        PubSubBuilder::new().open(name)
    }

    /// A ring over `mem`, which `backing` keeps alive.
    pub(crate) fn from_parts(backing: Backing, mem: PubSubMemory) -> PubSub {
        PubSub { backing, mem }
    }

    pub(crate) fn memory(&self) -> &PubSubMemory {
        &self.mem
    }

    pub(crate) fn locks(&self) -> &crate::liveness::Locks {
        &self.backing.locks
    }

    /// Takes the publisher role. `Busy` if a live process holds it; a
    /// role left by a dead process is taken over, after its last
    /// published message.
    pub fn publisher(&self) -> Result<Publisher, AttachError> {
        let parts = self.endpoint_parts()?;
        let role = publisher_role(self.mem.control());
        let lease = role.claim(&self.backing.locks, parts.me)?;
        match PublisherRing::attach(self.mem) {
            Ok(ring) => Ok(Publisher::new(
                ring,
                parts,
                self.backing.locks.clone(),
                lease,
            )),
            Err(c) => {
                role.release(parts.me);
                Err(AttachError::Corrupt(c))
            }
        }
    }

    /// Joins as a subscriber that starts at the next message published.
    /// `TooManyEndpoints` when every entry is held by a live process.
    pub fn subscriber(&self) -> Result<Subscriber, AttachError> {
        self.subscriber_at(JoinAt::Next)
    }

    /// Joins as a subscriber that starts where `at` says.
    pub fn subscriber_at(&self, at: JoinAt) -> Result<Subscriber, AttachError> {
        let parts = self.endpoint_parts()?;
        let joined = membership::join(&self.mem, &self.backing.locks, parts.me, at)?;
        crate::wait::notify_all_sleepers(&self.mem.control().writable);
        Ok(Subscriber::new(
            self.mem,
            joined,
            parts,
            PeerWatch::new(self.backing.locks.clone()),
        ))
    }

    /// What an endpoint holds besides its own state, opened before its
    /// role or entry is taken, so that running out of descriptors leaves
    /// them free.
    fn endpoint_parts(&self) -> Result<EndpointParts, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        Ok(EndpointParts {
            memory: Arc::clone(&self.backing.memory),
            wait: self.backing.wait,
            me,
            traffic: self.backing.traffic,
            #[cfg(not(shmring_loom))]
            relay: relay::Relay::new(
                self.mem,
                Arc::clone(&self.backing.memory),
                self.backing.locks.clone(),
            )
            .map_err(AttachError::Doorbell)?,
        })
    }

    /// Lossless or lossy.
    pub fn delivery(&self) -> Delivery {
        self.mem.geometry().delivery
    }

    /// Slots (messages the ring holds).
    pub fn slots(&self) -> u64 {
        self.mem.geometry().slots
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.mem.geometry().slot_size
    }

    /// Messages published so far.
    pub fn published(&self) -> u64 {
        self.mem.head()
    }

    /// Messages the slowest live subscriber has not read yet (0 without
    /// subscribers), at most a ring.
    pub fn messages_in_flight(&self) -> u64 {
        let head = self.mem.head();
        match self.mem.slowest_cursor(head) {
            u64::MAX => 0,
            slowest => (head - slowest).min(self.mem.geometry().slots),
        }
    }

    /// Subscribers attached now (alive or not yet found dead).
    pub fn subscriber_count(&self) -> u64 {
        // Relaxed: a gauge.
        self.mem.membership().live.load(Ordering::Relaxed)
    }

    /// Subscribers found dead and removed so far.
    pub fn reaped(&self) -> u64 {
        // Relaxed: a counter.
        self.mem.control().publisher.reaped.load(Ordering::Relaxed)
    }

    /// Every held subscriber entry: position, lag and counters (one lock
    /// probe each: not for hot loops).
    pub fn subscriber_states(&self) -> Vec<SubscriberState> {
        let head = self.mem.head();
        self.mem
            .entries()
            .enumerate()
            .filter_map(|(index, entry)| {
                // Relaxed (all): a snapshot for people; values move on.
                let RoleState::Held(id) = RoleState::decode(entry.role.load(Ordering::Relaxed))
                else {
                    return None;
                };
                let cursor = entry.position.load(Ordering::Relaxed);
                Some(SubscriberState {
                    index,
                    pid: id.pid,
                    alive: self.backing.locks.held(membership::lock_byte(index)),
                    cursor,
                    lag: head.saturating_sub(cursor),
                    missed: entry.missed.load(Ordering::Relaxed),
                    received: entry.received.load(Ordering::Relaxed),
                })
            })
            .collect()
    }

    /// Removes every subscriber whose process died without leaving, so
    /// that a lossless publisher stops waiting for it; returns how many.
    /// A waiting publisher does this by itself once per liveness
    /// interval; the broker does it when it sees the process die.
    pub fn reap_dead_subscribers(&self) -> u64 {
        let n = membership::reap_dead(&self.mem, &self.backing.locks);
        if n > 0 {
            crate::wait::notify_all_sleepers(&self.mem.control().writable);
        }
        n
    }

    /// Whether a live process holds the publisher role (one lock probe).
    pub fn is_publisher_attached(&self) -> bool {
        publisher_role(self.mem.control()).is_held_by_live_process(&self.backing.locks)
    }

    /// The name the segment was created or opened by.
    pub fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }
}

/// What every endpoint is made with besides its own ring state.
#[derive(Debug)]
pub(super) struct EndpointParts {
    /// Keeps the ring mapped.
    pub(super) memory: crate::channel::Keepalive,
    pub(super) wait: WaitStrategy,
    pub(super) me: ProcessId,
    /// The ring's traffic counters, for the endpoint's tally.
    pub(super) traffic: crate::channel::traffic::TrafficArea,
    #[cfg(not(shmring_loom))]
    pub(super) relay: relay::Relay,
}

/// The publisher role of a ring: its word and lock byte.
pub(crate) fn publisher_role(control: &PubSubControl) -> RoleSlot<'_> {
    RoleSlot {
        word: &control.publisher.role,
        lock_byte: PUBLISHER_LOCK_BYTE,
    }
}
