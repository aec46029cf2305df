//! MPMC handles: [`MpmcBuilder`] makes or opens a queue; [`Mpmc`] hands out
//! any number of [`Sender`]s and [`Receiver`]s, in any process.
#![allow(unsafe_code)]

mod receiver;
pub(crate) mod registry;
mod sender;
#[cfg(all(test, not(shmring_loom)))]
mod tests;

pub use receiver::{OwnedSlotGuard, Receiver, SlotGuard, SlotGuardOf};
pub use sender::{OwnedSlotGrant, Sender, SlotGrant, SlotGrantOf};

use crate::channel::open::{Ring, RingBuilder, sealed::RingInternals};
use crate::channel::traffic::Tally;
use crate::channel::{Backing, Keepalive};
use crate::error::{AttachError, OpenError};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::layout::mpmc::{self as mpmc_layout, LevelPositions, MpmcControl, MpmcGeometry};
use crate::liveness::{Lease, Locks};
use crate::ring::data::DataArea;
use crate::ring::mpmc::MpmcMemory;
use crate::segment::{self, Mapping};
use crate::sys::process::ProcessId;
use crate::wait::doorbell::{Bell, BellSide, PeerProbe};
use crate::wait::{self, LivenessThrottle, WaitStrategy};
use registry::Side;
use std::sync::Arc;

/// Options for creating or opening an MPMC queue ([`RingBuilder`] for
/// [`Mpmc`]).
///
/// ```
/// use shmring::MpmcBuilder;
/// let name = format!("doc-mpmc-builder-{}", std::process::id());
/// let queue = MpmcBuilder::new().slots(64).slot_size(128).priorities(4).create(&name)?;
/// assert_eq!((queue.slots(), queue.slot_size(), queue.priorities()), (64, 128, 4));
/// shmring::unlink(&name)?;
/// # Ok::<(), shmring::OpenError>(())
/// ```
pub type MpmcBuilder = RingBuilder<Mpmc>;

impl RingBuilder<Mpmc> {
    /// Slots per priority level: a power of two, 2 to 16 Mi (create only;
    /// default 1024).
    pub fn slots(self, slots: u64) -> MpmcBuilder {
        match self.shape() {
            RingGeometry::Mpmc {
                slot_size,
                priorities,
                ..
            } => self.with_shape(RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities,
            }),
            RingGeometry::Spsc { .. } | RingGeometry::PubSub { .. } => self,
        }
    }

    /// Largest message, up to 16 MiB (create only; default 256): the same
    /// as [`max_message`](RingBuilder::max_message).
    pub fn slot_size(self, bytes: u64) -> MpmcBuilder {
        self.max_message(bytes)
    }

    /// Number of priority levels, 1 to 8 (create only; default 1). Each
    /// level is its own queue of `slots` slots; a receiver scans from the
    /// highest.
    pub fn priorities(self, levels: u32) -> MpmcBuilder {
        let shape = self.shape().with_priorities(levels);
        self.with_shape(shape)
    }
}

/// The queue's memory inside a mapping whose header was validated (or
/// just written) with `geometry`.
pub(crate) fn memory_of(mapping: &Mapping, geometry: MpmcGeometry) -> MpmcMemory {
    let control = mapping.at::<MpmcControl>(mpmc_layout::CONTROL_OFFSET);
    let levels = mapping.at::<LevelPositions>(mpmc_layout::LEVELS_OFFSET);
    let slots = mapping.at::<crate::sync::AtomicU64>(geometry.slots_offset());
    let slot_bytes = geometry.stride() * geometry.slots * u64::from(geometry.levels);
    // The header check tied every offset and size to the real file size.
    // SAFETY: the slot area is mapped, 8-aligned and `slot_bytes` long, and
    // lives as long as `mapping`, which every user keeps alive (Keepalive).
    let data = unsafe { DataArea::new(slots, slot_bytes) };
    // SAFETY: as above, for the control block and the level lines.
    unsafe { MpmcMemory::new(control, levels, data, geometry) }
}

/// The geometry in a mapping's header, which the open path validated (or
/// just wrote) for the MPMC kind.
fn geometry_in(mapping: &Mapping) -> Result<MpmcGeometry, OpenError> {
    MpmcGeometry::from_header(mapping.header())
        .map_err(|p| segment::header_error(p, RingKind::Mpmc))
}

/// An open MPMC segment: hands out [`Sender`]s and [`Receiver`]s.
///
/// ```
/// let name = format!("doc-mpmc-{}", std::process::id());
/// let queue = shmring::Mpmc::create(&name)?;
/// let sender = queue.sender()?;
/// let receiver = queue.receiver()?;
/// sender.send(b"job 1")?;
/// assert_eq!(&*receiver.recv()?, b"job 1");
/// shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Mpmc {
    /// Keeps the memory behind `mem` alive; every handle holds a clone.
    backing: Backing,
    mem: MpmcMemory,
}

/// Which end an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Send,
    Receive,
}

impl End {
    /// The endpoint's kind, for log events.
    pub(crate) fn name(self) -> &'static str {
        match self {
            End::Send => "sender",
            End::Receive => "receiver",
        }
    }
}

impl RingInternals for Mpmc {
    const LAYOUT_HASH: u64 = mpmc_layout::LAYOUT_HASH;

    /// Slot i of each level starts with sequence number i.
    fn initialise(mapping: &Mapping) {
        if let Ok(geometry) = geometry_in(mapping) {
            memory_of(mapping, geometry).initialise();
        }
    }

    fn from_mapping(mapping: Mapping, wait: WaitStrategy) -> Result<Mpmc, OpenError> {
        let mem = memory_of(&mapping, geometry_in(&mapping)?);
        Ok(Mpmc::from_parts(Backing::of(mapping, wait), mem))
    }
}

impl Ring for Mpmc {
    const KIND: RingKind = RingKind::Mpmc;
    type Sender = Sender;
    type Receiver = Receiver;

    fn sender(&self) -> Result<Sender, AttachError> {
        Mpmc::sender(self)
    }

    fn receiver(&self) -> Result<Receiver, AttachError> {
        Mpmc::receiver(self)
    }

    fn geometry(&self) -> RingGeometry {
        self.mem.geometry().into()
    }

    fn messages_in_flight(&self) -> u64 {
        self.mem.messages_in_flight()
    }

    fn traffic(&self) -> crate::TrafficCounts {
        let control = self.mem.control();
        let recovered = self.recovered();
        self.backing.traffic.counts(
            &control.not_empty,
            &control.not_full,
            recovered.dead_sender_slots + recovered.dead_receiver_messages,
        )
    }

    fn doorbells(&self) -> &crate::wait::doorbell::Doorbells {
        &self.backing.bells
    }

    fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }
}

impl Mpmc {
    /// Creates a named queue with the default options ([`MpmcBuilder::new`]).
    pub fn create(name: &str) -> Result<Mpmc, OpenError> {
        MpmcBuilder::new().create(name)
    }

    /// Opens a named queue with the default options.
    pub fn open(name: &str) -> Result<Mpmc, OpenError> {
        MpmcBuilder::new().open(name)
    }

    /// A queue over `mem`, which `backing` keeps alive.
    pub(crate) fn from_parts(backing: Backing, mem: MpmcMemory) -> Mpmc {
        Mpmc { backing, mem }
    }

    pub(crate) fn memory(&self) -> &MpmcMemory {
        &self.mem
    }

    pub(crate) fn locks(&self) -> &Locks {
        &self.backing.locks
    }

    fn side(&self, end: End) -> Side<'_> {
        side_of(&self.mem, &self.backing.locks, end)
    }

    fn attach(&self, end: End) -> Result<Arc<Endpoint>, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        // Opened before the entry is taken: running out of descriptors
        // leaves the registry as it was.
        let bell = self
            .backing
            .bells
            .bell(match end {
                End::Send => BellSide::Sender,
                End::Receive => BellSide::Receiver,
            })
            .map_err(AttachError::Doorbell)?;
        let (index, lease) = self.side(end).register(me)?;
        tracing::debug!(
            ring = self.backing.locks.ring_name(),
            endpoint = end.name(),
            index,
            pid = me.pid,
            "endpoint attached"
        );
        if end == End::Receive {
            // Senders waiting by descriptor for a first receiver look
            // again (and stop counting on their placeholder reader).
            wait::notify_all(&self.mem.control().not_full, &bell);
        }
        Ok(Arc::new_cyclic(|this| Endpoint {
            tally: match end {
                End::Send => self.backing.traffic.sender_tally(),
                End::Receive => self.backing.traffic.receiver_tally(),
            },
            _memory: Arc::clone(&self.backing.memory),
            mem: self.mem,
            locks: self.backing.locks.clone(),
            _lease: lease,
            wait: self.backing.wait,
            me,
            index,
            end,
            liveness: LivenessThrottle::new(),
            bell,
            this: this.clone(),
            recheck_asked: crate::sync::AtomicU32::new(0),
        }))
    }

    /// Attaches a sender (its clones share its registry entry).
    pub fn sender(&self) -> Result<Sender, AttachError> {
        Ok(Sender::new(self.attach(End::Send)?))
    }

    /// Attaches a receiver (its clones share its registry entry).
    pub fn receiver(&self) -> Result<Receiver, AttachError> {
        Ok(Receiver::new(self.attach(End::Receive)?))
    }

    /// Slots per priority level.
    pub fn slots(&self) -> u64 {
        self.mem.geometry().slots
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.mem.geometry().slot_size
    }

    /// Number of priority levels.
    pub fn priorities(&self) -> u32 {
        self.mem.geometry().levels
    }

    /// Messages sent (or being written) and not yet received.
    pub fn messages_in_flight(&self) -> u64 {
        self.mem.messages_in_flight()
    }

    /// What crash recovery has done to this queue since it was created
    /// (kept in the segment, so every process sees the same counts).
    ///
    /// ```
    /// # let name = format!("doc-mpmc-recovered-{}", std::process::id());
    /// let queue = shmring::Mpmc::create(&name)?;
    /// assert_eq!(queue.recovered(), shmring::mpmc::Recovered::default());
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recovered(&self) -> Recovered {
        let (dead_sender_slots, dead_receiver_messages) = self.mem.recovered();
        Recovered {
            dead_sender_slots,
            dead_receiver_messages,
        }
    }

    /// Sender endpoint families held by live processes (one lock probe
    /// per registry entry in use).
    pub fn live_senders(&self) -> usize {
        self.side(End::Send).count_alive()
    }

    /// Receiver endpoint families held by live processes (one lock probe
    /// per registry entry in use).
    pub fn live_receivers(&self) -> usize {
        self.side(End::Receive).count_alive()
    }

    /// The name the segment was created or opened by.
    pub fn name(&self) -> Option<&str> {
        self.backing.name.as_deref()
    }
}

/// What crash recovery did to a queue ([`Mpmc::recovered`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Slots claimed by senders that died before publishing them; passed
    /// over as empty (the message was never sent: its `send` never
    /// returned).
    pub dead_sender_slots: u64,
    /// Messages held by receivers that died before releasing them;
    /// dropped, not delivered again.
    pub dead_receiver_messages: u64,
}

pub(crate) fn side_of<'a>(mem: &'a MpmcMemory, locks: &'a Locks, end: End) -> Side<'a> {
    let c = mem.control();
    match end {
        End::Send => Side {
            table: &c.senders,
            live: &c.counters.live_senders,
            ever: &c.counters.senders_ever,
            queue: mem,
            receivers: false,
            locks,
            lock_base: mpmc_layout::SENDERS_OFFSET,
        },
        End::Receive => Side {
            table: &c.receivers,
            live: &c.counters.live_receivers,
            ever: &c.counters.receivers_ever,
            queue: mem,
            receivers: true,
            locks,
            lock_base: mpmc_layout::RECEIVERS_OFFSET,
        },
    }
}

/// Reaps dead endpoints on both sides (recovering what they held);
/// returns whether `end`'s side is gone.
fn reap_both(mem: &MpmcMemory, locks: &Locks, end: End) -> bool {
    let (this, other) = match end {
        End::Send => (End::Send, End::Receive),
        End::Receive => (End::Receive, End::Send),
    };
    side_of(mem, locks, other).reap();
    side_of(mem, locks, this).reap()
}

/// A registry entry and what its handles share.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// First, so that it publishes its last counts (on drop) while the
    /// memory is still held.
    tally: Tally,
    _memory: Keepalive,
    mem: MpmcMemory,
    locks: Locks,
    /// Holds the registry entry's lock byte; dropped after `Drop::drop`
    /// has cleared the entry.
    _lease: Lease,
    wait: WaitStrategy,
    me: ProcessId,
    index: usize,
    end: End,
    liveness: LivenessThrottle,
    bell: Bell,
    /// A weak self, for the watchdog (`wait/watchdog.rs`).
    this: std::sync::Weak<Endpoint>,
    /// 1 while a watchdog re-check is pending.
    recheck_asked: crate::sync::AtomicU32,
}

impl Endpoint {
    fn side(&self, end: End) -> Side<'_> {
        side_of(&self.mem, &self.locks, end)
    }

    /// Reaps dead endpoints on both sides; whether `end`'s side is gone.
    fn reap_both(&self, end: End) -> bool {
        reap_both(&self.mem, &self.locks, end)
    }

    /// Whether `end`'s side is gone, after the doorbell said none of it
    /// holds the other end (waits out a dying one: `Bell::settle_gone`).
    #[cold]
    fn settle_gone(&self, end: End) -> bool {
        self.bell.settle_gone(|| {
            if self.reap_both(end) {
                PeerProbe::Gone
            } else if self.side(end).counted() {
                PeerProbe::Counted
            } else {
                PeerProbe::NoneYet
            }
        })
    }

    /// Called when a call found nothing to do (full, empty, timed out): at
    /// most once per liveness interval, reaps dead endpoints on both sides
    /// (recovering the slots they held). Returns whether it checked (the
    /// caller then looks once more).
    #[cold]
    fn check_liveness(&self) -> bool {
        if !self.liveness.due() {
            return false;
        }
        self.reap_both(self.end);
        true
    }
}

impl Endpoint {
    /// Asks the watchdog to ring this endpoint's own doorbell after the
    /// liveness interval (once at a time): its descriptor waiter then arms
    /// again, which reaps a holder that died meanwhile.
    #[cold]
    fn recheck_later(&self) {
        #[cfg(not(shmring_loom))]
        // Relaxed: a de-duplication hint; a second request is harmless.
        if self.recheck_asked.swap(1, crate::sync::Ordering::Relaxed) == 0 {
            let this: std::sync::Weak<dyn wait::watchdog::Poke> = self.this.clone();
            wait::watchdog::poke_later(this);
        }
    }
}

#[cfg(not(shmring_loom))]
impl wait::watchdog::Poke for Endpoint {
    fn poke(&self) {
        self.recheck_asked.store(0, crate::sync::Ordering::Relaxed);
        self.bell.poke_own();
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.side(self.end).unregister(self.index, self.me);
        // The other side may be parked waiting for us: let it re-check.
        let c = self.mem.control();
        match self.end {
            End::Send => wait::notify_all(&c.not_empty, &self.bell),
            End::Receive => wait::notify_all(&c.not_full, &self.bell),
        }
        tracing::debug!(
            ring = self.locks.ring_name(),
            endpoint = self.end.name(),
            index = self.index,
            "endpoint detached"
        );
    }
}
