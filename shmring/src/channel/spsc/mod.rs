//! SPSC handles: [`SpscBuilder`] makes or opens a ring, [`Spsc`] hands out
//! the one [`Producer`] and the one [`Consumer`].
#![allow(unsafe_code)]

mod consumer;
mod producer;
pub(crate) mod role;

pub use consumer::{Consumer, RecvGuard};
pub use producer::{Batch, Producer, WriteGrant};

use crate::channel::Backing;
use crate::channel::open::{Ring, RingBuilder, sealed::RingInternals};
use crate::error::{AttachError, OpenError};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::layout::spsc::{self as spsc_layout, SpscControl, SpscGeometry};
use crate::liveness::Locks;
use crate::ring::data::DataArea;
use crate::ring::spsc::{SpscConsumerRing, SpscMemory, SpscProducerRing};
use crate::segment::{self, Mapping};
use crate::sys::process::ProcessId;
use crate::wait::WaitStrategy;
use crate::wait::doorbell::BellSide;
use role::{PeerWatch, RoleSlot};
use std::sync::Arc;

/// Options for creating or opening an SPSC ring ([`RingBuilder`] for
/// [`Spsc`]).
pub type SpscBuilder = RingBuilder<Spsc>;

impl RingBuilder<Spsc> {
    /// Data-area size in bytes: a power of two, 64 B to 1 TiB (create
    /// only). Unless [`max_message`](RingBuilder::max_message) was set, the
    /// largest message follows at a quarter of it.
    pub fn capacity(self, bytes: u64) -> SpscBuilder {
        let max_message = match self.shape() {
            RingGeometry::Spsc { max_message, .. } if self.max_message_is_set() => max_message,
            _ => bytes / 4,
        };
        self.with_shape(RingGeometry::Spsc {
            capacity: bytes,
            max_message,
        })
    }
}

/// An open SPSC segment. Cheap to keep; hands out one [`Producer`] and one
/// [`Consumer`] (in this or any other process) at a time.
///
/// ```
/// use shmring::{MessageSender, MessageReceiver};
/// let name = format!("doc-spsc-{}", std::process::id());
/// let ring = shmring::Spsc::create(&name)?;
/// let mut producer = ring.producer()?;
/// let mut consumer = ring.consumer()?;
/// producer.send(b"hello")?;
/// assert_eq!(&*consumer.recv()?, b"hello");
/// shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Spsc {
    /// Keeps the memory behind `mem` alive; every handle holds a clone.
    backing: Backing,
    mem: SpscMemory,
}

// SAFETY: `mem` points into `mapping`, which `Spsc` keeps alive; all
// shared state is atomics, so `&Spsc` may be used from several threads.
unsafe impl Sync for Spsc {}

impl RingInternals for Spsc {
    const LAYOUT_HASH: u64 = spsc_layout::LAYOUT_HASH;

    // The file is zero-filled, and zero is the initial value of every
    // control word and the "empty" record header.
    fn initialise(_: &Mapping) {}

    fn from_mapping(mapping: Mapping, wait: WaitStrategy) -> Result<Spsc, OpenError> {
        let geometry = SpscGeometry::from_header(mapping.header())
            .map_err(|p| segment::header_error(p, RingKind::Spsc))?;
        let control = mapping.at::<SpscControl>(spsc_layout::CONTROL_OFFSET);
        let words = mapping.at::<crate::sync::AtomicU64>(spsc_layout::DATA_OFFSET);
        // `at` checked one word; the header check tied data offset plus
        // capacity to the real file size, so the whole area is mapped.
        // SAFETY: `words` starts a mapped, 8-aligned area of `capacity`
        // bytes that lives as long as `mapping`, which every user of
        // `mem` keeps alive through an `Arc`.
        let data = unsafe { DataArea::new(words, geometry.capacity) };
        // SAFETY: as above for the control block.
        let mem = unsafe { SpscMemory::new(control, data, geometry) };
        Ok(Spsc::from_parts(Backing::of(mapping, wait), mem))
    }
}

impl Ring for Spsc {
    const KIND: RingKind = RingKind::Spsc;
    type Sender = Producer;
    type Receiver = Consumer;

    fn sender(&self) -> Result<Producer, AttachError> {
        self.producer()
    }

    fn receiver(&self) -> Result<Consumer, AttachError> {
        self.consumer()
    }

    fn geometry(&self) -> RingGeometry {
        self.mem.geometry().into()
    }

    fn messages_in_flight(&self) -> u64 {
        self.mem.messages_in_flight()
    }

    fn traffic(&self) -> crate::TrafficCounts {
        let control = self.mem.control();
        self.backing
            .traffic
            .counts(&control.readable, &control.writable, 0)
    }

    fn doorbells(&self) -> &crate::wait::doorbell::Doorbells {
        &self.backing.bells
    }

    fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }
}

impl Spsc {
    /// Creates a named ring with the default options ([`SpscBuilder::new`]).
    pub fn create(name: &str) -> Result<Spsc, OpenError> {
        SpscBuilder::new().create(name)
    }

    /// Opens a named ring with the default options.
    pub fn open(name: &str) -> Result<Spsc, OpenError> {
        SpscBuilder::new().open(name)
    }

    /// A ring over `mem`, which `backing` keeps alive.
    pub(crate) fn from_parts(backing: Backing, mem: SpscMemory) -> Spsc {
        Spsc { backing, mem }
    }

    pub(crate) fn control(&self) -> &SpscControl {
        self.mem.control()
    }

    pub(crate) fn locks(&self) -> &Locks {
        &self.backing.locks
    }

    /// Takes the producer role. `Busy` if a live process holds it; a role
    /// left by a dead process is taken over, continuing after its last
    /// published message.
    pub fn producer(&self) -> Result<Producer, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        // Opened before the role is taken: running out of descriptors
        // leaves the role free.
        let bell = self
            .backing
            .bells
            .bell(BellSide::Sender)
            .map_err(AttachError::Doorbell)?;
        let role = producer_role(self.mem.control());
        let lease = role.claim(&self.backing.locks, me)?;
        match SpscProducerRing::attach(self.mem) {
            Ok(ring) => Ok(Producer::new(
                ring,
                Arc::clone(&self.backing.memory),
                self.backing.wait,
                me,
                PeerWatch::new(self.backing.locks.clone()),
                lease,
                bell,
                self.backing.traffic.sender_tally(),
            )),
            Err(c) => {
                role.release(me);
                Err(AttachError::Corrupt(c))
            }
        }
    }

    /// Takes the consumer role. `Busy` if a live process holds it; a role
    /// left by a dead process is taken over, and any message that process
    /// had received but not released is delivered again.
    pub fn consumer(&self) -> Result<Consumer, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        let bell = self
            .backing
            .bells
            .bell(BellSide::Receiver)
            .map_err(AttachError::Doorbell)?;
        let role = consumer_role(self.mem.control());
        let lease = role.claim(&self.backing.locks, me)?;
        let ring = SpscConsumerRing::attach(self.mem).map_err(|c| {
            role.release(me);
            AttachError::Corrupt(c)
        })?;
        // A producer waiting by descriptor for its first consumer looks
        // again (and stops counting on its placeholder reader).
        crate::wait::notify_all(&self.mem.control().writable, &bell);
        Ok(Consumer::new(
            ring,
            Arc::clone(&self.backing.memory),
            self.backing.wait,
            me,
            PeerWatch::new(self.backing.locks.clone()),
            lease,
            bell,
            self.backing.traffic.receiver_tally(),
        ))
    }

    /// Data-area size in bytes.
    pub fn capacity(&self) -> u64 {
        self.mem.geometry().capacity
    }

    /// Largest message in bytes.
    pub fn max_message(&self) -> u64 {
        self.mem.geometry().max_message
    }

    /// Bytes published and not yet released (records, headers included).
    pub fn bytes_in_flight(&self) -> u64 {
        self.mem.bytes_in_flight()
    }

    /// Messages published and not yet released.
    pub fn messages_in_flight(&self) -> u64 {
        self.mem.messages_in_flight()
    }

    /// Whether a live process holds the producer role (one lock probe).
    pub fn is_producer_attached(&self) -> bool {
        producer_role(self.mem.control()).is_held_by_live_process(&self.backing.locks)
    }

    /// Whether a live process holds the consumer role (one lock probe).
    pub fn is_consumer_attached(&self) -> bool {
        consumer_role(self.mem.control()).is_held_by_live_process(&self.backing.locks)
    }

    /// The name the segment was created or opened by.
    pub fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }
}

/// The producer role of a ring: its word and lock byte.
pub(crate) fn producer_role(control: &SpscControl) -> RoleSlot<'_> {
    RoleSlot {
        word: &control.roles.producer,
        lock_byte: spsc_layout::PRODUCER_LOCK_BYTE,
    }
}

/// The consumer role of a ring: its word and lock byte.
pub(crate) fn consumer_role(control: &SpscControl) -> RoleSlot<'_> {
    RoleSlot {
        word: &control.roles.consumer,
        lock_byte: spsc_layout::CONSUMER_LOCK_BYTE,
    }
}
