//! MPMC handles: [`MpmcBuilder`] makes or opens a queue; [`Mpmc`] hands out
//! any number of [`Sender`]s and [`Receiver`]s, in any process.
#![allow(unsafe_code)]

use crate::channel::error::{
    AttachError, OpenError, RecvError, RecvTimeoutError, RecvValueError, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
use crate::channel::registry::Side;
use crate::channel::{Keepalive, Patience};
use crate::layout::RingKind;
use crate::layout::mpmc::{self as mpmc_layout, LevelPositions, MpmcControl, MpmcGeometry};
use crate::liveness::{Lease, Locks};
use crate::ring::Corruption;
use crate::ring::data::DataArea;
use crate::ring::mpmc::{Claim, MpmcMemory, SlotClaim};
use crate::segment::{self, Mapping, SegmentOptions};
use crate::sys::process::ProcessId;
use crate::wait::{self, WaitOutcome, WaitStrategy};
use rustix::fd::OwnedFd;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

/// Options for creating or opening an MPMC queue.
///
/// ```
/// use shmring::MpmcBuilder;
/// let name = format!("doc-mpmc-builder-{}", std::process::id());
/// let queue = MpmcBuilder::new().slots(64).slot_size(128).priorities(4).create(&name)?;
/// assert_eq!((queue.slots(), queue.slot_size(), queue.priorities()), (64, 128, 4));
/// shmring::unlink(&name)?;
/// # Ok::<(), shmring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MpmcBuilder {
    geometry: MpmcGeometry,
    options: SegmentOptions,
    wait: WaitStrategy,
}

impl Default for MpmcBuilder {
    fn default() -> Self {
        MpmcBuilder::new()
    }
}

impl MpmcBuilder {
    /// 1024 slots of 256 bytes, one priority level, mode 0600,
    /// spin-then-park waiting.
    pub fn new() -> MpmcBuilder {
        MpmcBuilder {
            geometry: MpmcGeometry {
                slots: 1024,
                slot_size: 256,
                levels: 1,
            },
            options: SegmentOptions::default(),
            wait: WaitStrategy::default(),
        }
    }

    /// Slots per priority level: a power of two, 2 to 16 Mi (create only).
    pub fn slots(mut self, slots: u64) -> MpmcBuilder {
        self.geometry.slots = slots;
        self
    }

    /// Largest message, up to 16 MiB (create only).
    pub fn slot_size(mut self, bytes: u64) -> MpmcBuilder {
        self.geometry.slot_size = bytes;
        self
    }

    /// Number of priority levels, 1 to 8 (create only). Each level is its
    /// own queue of `slots` slots; a receiver scans from the highest.
    pub fn priorities(mut self, levels: u32) -> MpmcBuilder {
        self.geometry.levels = levels;
        self
    }

    /// Permission bits of a new segment (create only; default 0600).
    pub fn mode(mut self, mode: u32) -> MpmcBuilder {
        self.options.mode = mode;
        self
    }

    /// How long `open` waits for a creator still initialising (default 2 s).
    pub fn open_timeout(mut self, timeout: Duration) -> MpmcBuilder {
        self.options.open_timeout = timeout;
        self
    }

    /// How the handles made from this queue wait (default spin-then-park).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> MpmcBuilder {
        self.wait = wait;
        self
    }

    /// Creates a new named segment; `AlreadyExists` if the name is taken.
    pub fn create(&self, name: &str) -> Result<Mpmc, OpenError> {
        let geometry = self.geometry.check().map_err(OpenError::InvalidConfig)?;
        let (pid, start) = segment::creator_identity();
        let header = geometry.header(pid, start);
        let mut built = None;
        let mapping = segment::create(name, self.options, header, |mapping| {
            let memory = memory_of(mapping, geometry);
            memory.initialise();
            built = Some(memory);
        })?;
        let mem = built.expect("create runs the initialiser");
        let name = mapping.name().map(str::to_owned);
        Ok(Mpmc {
            locks: mapping.locks(),
            memory: Arc::new(mapping),
            name,
            mem,
            wait: self.wait,
        })
    }

    /// Opens an existing named segment and validates it.
    pub fn open(&self, name: &str) -> Result<Mpmc, OpenError> {
        let mapping = segment::open(name, self.options, RingKind::Mpmc, mpmc_layout::LAYOUT_HASH)?;
        Mpmc::from_mapping(mapping, self.wait)
    }

    /// Validates and maps a segment file someone handed over: a memfd
    /// sealed against shrinking (as the broker hands out). Anything else
    /// (a socket, a file on disk, a POSIX shm file, an unsealed memfd) is
    /// refused before it is mapped (`Corrupt` or `Unsealed`), since a
    /// peer could truncate it under the mapping; so is a file shorter than
    /// its header claims (`Corrupt`).
    pub fn from_fd(&self, fd: OwnedFd) -> Result<Mpmc, OpenError> {
        let mapping = segment::adopt(fd, self.options, RingKind::Mpmc, mpmc_layout::LAYOUT_HASH)?;
        Mpmc::from_mapping(mapping, self.wait)
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
    memory: Keepalive,
    name: Option<String>,
    mem: MpmcMemory,
    locks: Locks,
    wait: WaitStrategy,
}

/// Which end an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Send,
    Receive,
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

    fn from_mapping(mapping: Mapping, wait: WaitStrategy) -> Result<Mpmc, OpenError> {
        let geometry = MpmcGeometry::from_header(mapping.header())
            .map_err(|p| segment::header_error(p, RingKind::Mpmc))?;
        let mem = memory_of(&mapping, geometry);
        let name = mapping.name().map(str::to_owned);
        Ok(Mpmc {
            locks: mapping.locks(),
            memory: Arc::new(mapping),
            name,
            mem,
            wait,
        })
    }

    /// A queue on heap memory, for the loom models only.
    #[cfg(shmring_loom)]
    #[doc(hidden)]
    pub fn on_heap(slots: u64, slot_size: u64, levels: u32, wait: WaitStrategy) -> Mpmc {
        use crate::sync::AtomicU64;
        use std::ptr::NonNull;
        let geometry = MpmcGeometry {
            slots,
            slot_size,
            levels,
        }
        .check()
        .expect("model geometry");
        let control: Box<MpmcControl> = Box::default();
        let positions: Box<[LevelPositions]> =
            (0..levels).map(|_| LevelPositions::default()).collect();
        let words = geometry.stride() * slots * u64::from(levels) / 8;
        let slot_words: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
        // SAFETY: the boxes move into `memory` below and outlive every use.
        let data = unsafe { DataArea::new(NonNull::from(&slot_words[0]), words * 8) };
        // SAFETY: as above.
        let mem = unsafe {
            MpmcMemory::new(
                NonNull::from(&*control),
                NonNull::from(&positions[0]),
                data,
                geometry,
            )
        };
        mem.initialise();
        let memory: Keepalive = Arc::new((control, positions, slot_words));
        Mpmc {
            memory,
            name: None,
            mem,
            locks: Locks::none(),
            wait,
        }
    }

    fn side(&self, end: End) -> Side<'_> {
        side_of(&self.mem, &self.locks, end)
    }

    fn attach(&self, end: End) -> Result<Arc<Endpoint>, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        let (index, lease) = self.side(end).register(me)?;
        Ok(Arc::new(Endpoint {
            _memory: Arc::clone(&self.memory),
            mem: self.mem,
            locks: self.locks.clone(),
            _lease: lease,
            wait: self.wait,
            me,
            index,
            end,
            next_liveness: std::sync::Mutex::new(wait::now()),
        }))
    }

    /// Attaches a sender (its clones share its registry entry).
    pub fn sender(&self) -> Result<Sender, AttachError> {
        Ok(Sender {
            endpoint: self.attach(End::Send)?,
            priority: 0,
        })
    }

    /// Attaches a receiver (its clones share its registry entry).
    pub fn receiver(&self) -> Result<Receiver, AttachError> {
        Ok(Receiver {
            endpoint: self.attach(End::Receive)?,
        })
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
    /// assert_eq!(queue.recovered(), shmring::Recovered::default());
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

    /// Recovers the slots `sender`'s registry entry holds as if its process
    /// had died (loom models only: a model cannot kill a process).
    #[cfg(shmring_loom)]
    #[doc(hidden)]
    pub fn recover_as_if_dead(&self, sender: Option<&Sender>, receiver: Option<&Receiver>) -> u64 {
        let mut n = 0;
        if let Some(s) = sender {
            n += self.mem.recover(s.endpoint.index as u32, false);
        }
        if let Some(r) = receiver {
            n += self.mem.recover(r.endpoint.index as u32, true);
        }
        n
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
        self.name.as_deref()
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
struct Endpoint {
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
    /// When a call that found nothing to do (full, empty, timed out) may
    /// probe its peers' locks again: waits check liveness every
    /// [`wait::LIVENESS_INTERVAL`] while they wait, but `try_*` calls and
    /// short timeouts in a loop never wait that long.
    next_liveness: std::sync::Mutex<std::time::Instant>,
}

impl Endpoint {
    fn side(&self, end: End) -> Side<'_> {
        side_of(&self.mem, &self.locks, end)
    }

    /// Reaps dead endpoints on both sides; whether `end`'s side is gone.
    fn reap_both(&self, end: End) -> bool {
        reap_both(&self.mem, &self.locks, end)
    }

    /// Called when a call found nothing to do (full, empty, timed out): at
    /// most once per liveness interval, reaps dead endpoints on both sides
    /// (recovering the slots they held). Not in loom models, whose
    /// processes never die and whose clock stands still.
    /// Returns whether it checked (the caller then looks once more).
    #[cold]
    fn check_liveness(&self) -> bool {
        #[cfg(not(shmring_loom))]
        {
            // Another thread of this family is checking: nothing to add.
            let Ok(mut next) = self.next_liveness.try_lock() else {
                return false;
            };
            let now = wait::now();
            if now < *next {
                return false;
            }
            *next = now + wait::LIVENESS_INTERVAL;
            drop(next);
            self.reap_both(self.end);
            true
        }
        #[cfg(shmring_loom)]
        false
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.side(self.end).unregister(self.index, self.me);
        // The other side may be parked waiting for us: let it re-check.
        let c = self.mem.control();
        match self.end {
            End::Send => wait::notify_all(&c.not_empty),
            End::Receive => wait::notify_all(&c.not_full),
        }
    }
}

enum Stop {
    Full,
    Timeout,
    Disconnected,
    TooLarge,
}

/// Sends into an MPMC queue. `Clone` (clones share one registry entry),
/// `Send` and `Sync`. When every sender is gone, receivers drain the queue
/// and then get `Disconnected`.
#[derive(Debug, Clone)]
pub struct Sender {
    endpoint: Arc<Endpoint>,
    priority: u32,
}

impl Sender {
    /// This sender at priority `level` (0 = lowest, the default; values
    /// past the queue's highest level are clamped to it).
    ///
    /// ```
    /// # let name = format!("doc-mpmc-prio-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().priorities(3).create(&name)?;
    /// let (sender, receiver) = (queue.sender()?, queue.receiver()?);
    /// sender.send(b"routine")?;
    /// sender.with_priority(2).send(b"urgent")?;
    /// assert_eq!(&*receiver.recv()?, b"urgent");
    /// assert_eq!(&*receiver.recv()?, b"routine");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_priority(&self, level: u32) -> Sender {
        let highest = self.endpoint.mem.geometry().levels - 1;
        Sender {
            endpoint: Arc::clone(&self.endpoint),
            priority: level.min(highest),
        }
    }

    /// The priority level this sender sends at.
    pub fn priority(&self) -> u32 {
        self.priority
    }

    fn receivers(&self) -> Side<'_> {
        self.endpoint.side(End::Receive)
    }

    #[inline]
    fn claim(&self, len: usize, patience: Patience) -> Result<SlotClaim, Stop> {
        let mem = &self.endpoint.mem;
        if len as u64 > mem.geometry().slot_size {
            return Err(Stop::TooLarge);
        }
        loop {
            if self.receivers().gone() {
                return Err(Stop::Disconnected);
            }
            let busy = match mem.try_claim_send(self.priority, self.endpoint.index as u32) {
                Claim::Got(claim) => return Ok(claim),
                Claim::NotYet => false,
                Claim::Busy => true,
            };
            let Patience::Until(deadline) = patience else {
                // After a liveness check, one more look: the receivers may
                // be gone, or a slot a dead one held free again.
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(Stop::Full);
            };
            // Every look after the first checks the deadline here: the
            // wait below returns at once, without reading the clock, while
            // `has_room` holds, and a peer writing garbage can keep it
            // holding while every claim fails.
            if deadline.is_some_and(|d| wait::now() >= d) {
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(Stop::Timeout);
            }
            if busy {
                // The claim gave up undecided: `has_room` would say "go"
                // again. Let others run, then look again.
                self.endpoint.check_liveness();
                wait::back_off();
                continue;
            }
            let receivers = self.receivers();
            let outcome = wait::wait_until_class(
                &mem.control().not_full,
                wait::class_bit(self.priority),
                self.endpoint.wait,
                deadline,
                || mem.has_room(self.priority) || receivers.gone(),
                || self.endpoint.reap_both(End::Receive),
            );
            match outcome {
                WaitOutcome::Ready => {}
                // A wait shorter than the liveness interval never reaches its
                // own check: callers looping on short timeouts still learn
                // of dead receivers, once per interval (then one more look;
                // the next wait ends at once, the deadline being past).
                WaitOutcome::TimedOut if self.endpoint.check_liveness() => {}
                WaitOutcome::TimedOut => return Err(Stop::Timeout),
                WaitOutcome::PeerGone => return Err(Stop::Disconnected),
            }
        }
    }

    #[inline]
    fn send_with(&self, msg: &[u8], patience: Patience) -> Result<(), Stop> {
        let claim = self.claim(msg.len(), patience)?;
        let mem = &self.endpoint.mem;
        mem.slots().write(mem.payload_offset(&claim), msg);
        mem.publish(claim, msg.len() as u32);
        wait::notify_one(&mem.control().not_empty);
        Ok(())
    }

    /// Sends `msg` if a slot is free now.
    pub fn try_send<'m>(&self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        self.send_with(msg, Patience::None)
            .map_err(|stop| match stop {
                Stop::Full | Stop::Timeout => TrySendError::Full(msg),
                Stop::Disconnected => TrySendError::Disconnected(msg),
                Stop::TooLarge => TrySendError::TooLarge(msg),
            })
    }

    /// Sends `msg`, waiting for a free slot as long as it takes.
    pub fn send<'m>(&self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_with(msg, Patience::Until(None))
            .map_err(|stop| blocking_error(stop, msg))
    }

    /// Sends `msg`, waiting for a free slot at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-mpmc-timeout-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().slots(2).create(&name)?;
    /// let sender = queue.sender()?;
    /// let _receiver = queue.receiver()?;
    /// sender.send(b"1")?;
    /// sender.send(b"2")?;
    /// let err = sender.send_timeout(b"3", Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(m) if m == b"3"));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout<'m>(
        &self,
        msg: &'m [u8],
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<&'m [u8]>> {
        self.send_with(msg, Patience::after(timeout))
            .map_err(|stop| timeout_error(stop, msg))
    }

    /// Sends a plain-old-data value as its bytes.
    pub fn send_value<T: bytemuck::Pod>(&self, value: &T) -> Result<(), SendError<T>> {
        self.send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Sends a plain-old-data value if a slot is free now.
    pub fn try_send_value<T: bytemuck::Pod>(&self, value: &T) -> Result<(), TrySendError<T>> {
        self.try_send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Claims a slot to write `len` bytes in place, if one is free now.
    /// Published by [`SlotGrant::commit`]; a grant dropped uncommitted is
    /// published as a skipped slot that receivers pass over.
    ///
    /// ```
    /// # let name = format!("doc-mpmc-reserve-{}", std::process::id());
    /// # let queue = shmring::Mpmc::create(&name)?;
    /// let (sender, receiver) = (queue.sender()?, queue.receiver()?);
    /// let mut grant = sender.try_reserve(3)?;
    /// grant.copy_from_slice(b"abc");
    /// grant.commit();
    /// assert_eq!(&*receiver.try_recv()?, b"abc");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&self, len: usize) -> Result<SlotGrant<'_>, TrySendError<usize>> {
        match self.claim(len, Patience::None) {
            Ok(claim) => Ok(SlotGrant::new(self, claim, len)),
            Err(Stop::Full | Stop::Timeout) => Err(TrySendError::Full(len)),
            Err(Stop::Disconnected) => Err(TrySendError::Disconnected(len)),
            Err(Stop::TooLarge) => Err(TrySendError::TooLarge(len)),
        }
    }

    /// Claims a slot to write in place, waiting as long as it takes.
    pub fn reserve(&self, len: usize) -> Result<SlotGrant<'_>, SendError<usize>> {
        match self.claim(len, Patience::Until(None)) {
            Ok(claim) => Ok(SlotGrant::new(self, claim, len)),
            Err(stop) => Err(blocking_error(stop, len)),
        }
    }

    /// Claims a slot to write in place, waiting for one at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-mpmc-reserve-timeout-{}", std::process::id());
    /// let queue = shmring::MpmcBuilder::new().slots(2).create(&name)?;
    /// let (sender, _receiver) = (queue.sender()?, queue.receiver()?);
    /// sender.send(b"1")?;
    /// sender.send(b"2")?;
    /// let err = sender.reserve_timeout(8, Duration::from_millis(5)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(8)));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<SlotGrant<'_>, SendTimeoutError<usize>> {
        match self.claim(len, Patience::after(timeout)) {
            Ok(claim) => Ok(SlotGrant::new(self, claim, len)),
            Err(stop) => Err(timeout_error(stop, len)),
        }
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.endpoint.mem.geometry().slot_size
    }
}

fn blocking_error<T>(stop: Stop, msg: T) -> SendError<T> {
    match stop {
        Stop::TooLarge => SendError::TooLarge(msg),
        Stop::Full | Stop::Timeout | Stop::Disconnected => SendError::Disconnected(msg),
    }
}

fn timeout_error<T>(stop: Stop, msg: T) -> SendTimeoutError<T> {
    match stop {
        Stop::Full | Stop::Timeout => SendTimeoutError::Timeout(msg),
        Stop::Disconnected => SendTimeoutError::Disconnected(msg),
        Stop::TooLarge => SendTimeoutError::TooLarge(msg),
    }
}

/// A claimed slot, written in place (see [`Sender::try_reserve`]).
#[derive(Debug)]
pub struct SlotGrant<'s> {
    sender: &'s Sender,
    claim: Option<SlotClaim>,
    len: usize,
    #[cfg(shmring_loom)]
    staging: Vec<u8>,
}

impl<'s> SlotGrant<'s> {
    fn new(sender: &'s Sender, claim: SlotClaim, len: usize) -> SlotGrant<'s> {
        SlotGrant {
            sender,
            claim: Some(claim),
            len,
            #[cfg(shmring_loom)]
            staging: vec![0; len],
        }
    }

    /// Publishes the whole reserved length.
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes the first `len` bytes (clamped to the reserved length).
    pub fn commit_len(mut self, len: usize) {
        let len = len.min(self.len);
        let claim = self.claim.take().expect("a grant is committed once");
        let mem = &self.sender.endpoint.mem;
        #[cfg(shmring_loom)]
        mem.slots()
            .write(mem.payload_offset(&claim), &self.staging[..len]);
        mem.publish(claim, len as u32);
        wait::notify_one(&mem.control().not_empty);
    }
}

impl Deref for SlotGrant<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        #[cfg(shmring_loom)]
        return &self.staging;
        #[cfg(not(shmring_loom))]
        {
            let claim = self.claim.as_ref().expect("uncommitted");
            let mem = &self.sender.endpoint.mem;
            // SAFETY: the slot is ours from the claim until publication,
            // which consumes `self`; no receiver reads it before.
            unsafe {
                mem.slots()
                    .slice(mem.payload_offset(claim), self.len as u64)
            }
        }
    }
}

impl DerefMut for SlotGrant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        #[cfg(shmring_loom)]
        return &mut self.staging;
        #[cfg(not(shmring_loom))]
        {
            let claim = self.claim.as_ref().expect("uncommitted");
            let mem = &self.sender.endpoint.mem;
            // SAFETY: as in `deref`; `&mut self` makes the borrow exclusive.
            unsafe {
                mem.slots()
                    .slice_mut(mem.payload_offset(claim), self.len as u64)
            }
        }
    }
}

impl Drop for SlotGrant<'_> {
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            // The position is taken: it must be completed, or the queue
            // would stop at it. Receivers skip this one.
            self.sender.endpoint.mem.publish_skipped(claim);
            wait::notify_one(&self.sender.endpoint.mem.control().not_empty);
        }
    }
}

/// Receives from an MPMC queue: each message goes to exactly one receiver.
/// `Clone` (clones share one registry entry), `Send` and `Sync`.
#[derive(Debug, Clone)]
pub struct Receiver {
    endpoint: Arc<Endpoint>,
}

enum Dry {
    Empty,
    Timeout,
    Disconnected,
    Corrupt(Corruption),
}

impl Receiver {
    fn senders(&self) -> Side<'_> {
        self.endpoint.side(End::Send)
    }

    #[inline]
    fn next(&self, patience: Patience) -> Result<SlotClaim, Dry> {
        let mem = &self.endpoint.mem;
        let owner = self.endpoint.index as u32;
        loop {
            let busy = match mem.try_claim_recv(owner) {
                Ok(Claim::Got(claim)) => return Ok(claim),
                Ok(Claim::NotYet) => false,
                Ok(Claim::Busy) => true,
                Err(c) => return Err(Dry::Corrupt(c)),
            };
            if self.senders().gone() {
                // Every sender's last message is visible now (see
                // `Side::gone`): one more look decides.
                return match mem.try_claim_recv(owner) {
                    Ok(Claim::Got(claim)) => Ok(claim),
                    Ok(Claim::NotYet | Claim::Busy) => Err(Dry::Disconnected),
                    Err(c) => Err(Dry::Corrupt(c)),
                };
            }
            let Patience::Until(deadline) = patience else {
                // After a liveness check, one more look: the senders may be
                // gone, or a slot a dead one held passed over.
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(Dry::Empty);
            };
            // As for senders: every look after the first checks the
            // deadline, since `has_message` can keep saying "go" while
            // every claim fails.
            if deadline.is_some_and(|d| wait::now() >= d) {
                if self.endpoint.check_liveness() {
                    continue;
                }
                return Err(Dry::Timeout);
            }
            if busy {
                self.endpoint.check_liveness();
                wait::back_off();
                continue;
            }
            let senders = self.senders();
            let outcome = wait::wait_until(
                &mem.control().not_empty,
                self.endpoint.wait,
                deadline,
                || mem.has_message() || senders.gone(),
                || self.endpoint.reap_both(End::Send),
            );
            // As for senders: short timeouts in a loop still see dead
            // senders, once per liveness interval.
            if outcome == WaitOutcome::TimedOut && !self.endpoint.check_liveness() {
                return Err(Dry::Timeout);
            }
        }
    }

    /// Takes the next message if there is one, borrowed in place until the
    /// guard drops.
    pub fn try_recv(&self) -> Result<SlotGuard<'_>, TryRecvError> {
        match self.next(Patience::None) {
            Ok(claim) => Ok(SlotGuard::new(self, claim)),
            Err(Dry::Empty | Dry::Timeout) => Err(TryRecvError::Empty),
            Err(Dry::Disconnected) => Err(TryRecvError::Disconnected),
            Err(Dry::Corrupt(c)) => Err(TryRecvError::Corrupt(c)),
        }
    }

    /// Waits for the next message as long as it takes; `Disconnected` once
    /// every sender is gone and the queue is drained.
    pub fn recv(&self) -> Result<SlotGuard<'_>, RecvError> {
        match self.next(Patience::Until(None)) {
            Ok(claim) => Ok(SlotGuard::new(self, claim)),
            Err(Dry::Corrupt(c)) => Err(RecvError::Corrupt(c)),
            Err(_) => Err(RecvError::Disconnected),
        }
    }

    /// Waits for the next message at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<SlotGuard<'_>, RecvTimeoutError> {
        match self.next(Patience::after(timeout)) {
            Ok(claim) => Ok(SlotGuard::new(self, claim)),
            Err(Dry::Empty | Dry::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(Dry::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(Dry::Corrupt(c)) => Err(RecvTimeoutError::Corrupt(c)),
        }
    }

    /// Waits for the next message and copies it into `buf`; returns its
    /// length.
    pub fn recv_into(&self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        let msg = self.recv()?;
        buf.clear();
        buf.extend_from_slice(&msg);
        Ok(buf.len())
    }

    /// Waits for a message and returns it as a `T` if it has exactly
    /// `size_of::<T>()` bytes. A message of another size is consumed (in
    /// a queue with several receivers it cannot be left for "someone
    /// else") and reported as `SizeMismatch`.
    pub fn recv_value<T: bytemuck::Pod>(&self) -> Result<T, RecvValueError> {
        let msg = self.recv().map_err(|e| match e {
            RecvError::Disconnected => RecvValueError::Disconnected,
            RecvError::Corrupt(c) => RecvValueError::Corrupt(c),
        })?;
        msg.value::<T>().ok_or(RecvValueError::SizeMismatch {
            expected: std::mem::size_of::<T>(),
            actual: msg.len(),
        })
    }

    /// Hands up to `max` messages available now to `f`; returns how many,
    /// or `Empty`/`Disconnected` instead of 0.
    pub fn try_drain(&self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize, TryRecvError> {
        let mut n = 0;
        while n < max {
            match self.try_recv() {
                Ok(msg) => {
                    f(&msg);
                    n += 1;
                }
                Err(e) if n == 0 => return Err(e),
                Err(TryRecvError::Corrupt(c)) => return Err(TryRecvError::Corrupt(c)),
                Err(_) => break,
            }
        }
        Ok(n)
    }

    /// Largest message in bytes.
    pub fn slot_size(&self) -> u64 {
        self.endpoint.mem.geometry().slot_size
    }
}

/// A received message, borrowed in its slot; the slot is freed on drop.
#[derive(Debug)]
pub struct SlotGuard<'r> {
    receiver: &'r Receiver,
    claim: SlotClaim,
    #[cfg(shmring_loom)]
    copy: Vec<u8>,
}

impl<'r> SlotGuard<'r> {
    fn new(receiver: &'r Receiver, claim: SlotClaim) -> SlotGuard<'r> {
        #[cfg(shmring_loom)]
        {
            let mem = &receiver.endpoint.mem;
            let mut copy = vec![0; claim.len as usize];
            mem.slots().read(mem.payload_offset(&claim), &mut copy);
            SlotGuard {
                receiver,
                claim,
                copy,
            }
        }
        #[cfg(not(shmring_loom))]
        SlotGuard { receiver, claim }
    }

    /// The message as a `T`, if it is exactly `size_of::<T>()` bytes.
    pub fn value<T: bytemuck::Pod>(&self) -> Option<T> {
        bytemuck::try_pod_read_unaligned(self).ok()
    }
}

impl Deref for SlotGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        #[cfg(shmring_loom)]
        return &self.copy;
        #[cfg(not(shmring_loom))]
        {
            let mem = &self.receiver.endpoint.mem;
            // SAFETY: the slot is ours until `drop` releases it; `len` was
            // checked against the slot size when it was claimed.
            unsafe {
                mem.slots()
                    .slice(mem.payload_offset(&self.claim), self.claim.len)
            }
        }
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mem = &self.receiver.endpoint.mem;
        mem.release(self.claim);
        // Only a sender of this slot's level can use it: wake one of those,
        // not whichever sender slept first (the broken loom build does the
        // latter, to prove the model notices).
        let class = if cfg!(shmring_loom_broken) {
            wait::ANY_CLASS
        } else {
            wait::class_bit(self.claim.level)
        };
        wait::notify_one_of_class(&mem.control().not_full, class);
    }
}

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::*;
    use crate::wait::test_hooks;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Far beyond any prompt wake-up, far below the senders' deadlines and
    /// sleep slices: only a wake-up meant for the sender completes it.
    const WATCHDOG: Duration = Duration::from_secs(10);
    const NEVER: Duration = Duration::from_secs(3600);

    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = crate::unlink(&self.0);
        }
    }

    /// Whether thread `tid` of this process sleeps in a futex wait.
    fn asleep_in_futex(tid: i32) -> bool {
        let task = format!("/proc/self/task/{tid}");
        let wchan = std::fs::read_to_string(format!("{task}/wchan")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
        let sleeping = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'));
        sleeping && wchan.contains("futex")
    }

    /// Starts a blocking send at `level` in a thread whose sleep slices last
    /// an hour; returns once it sleeps in the kernel, with the channel its
    /// outcome arrives on.
    fn parked_sender(
        sender: &Sender,
        level: u32,
        sleepers: &crate::sync::AtomicU32,
        before: u32,
    ) -> mpsc::Receiver<Result<(), String>> {
        let sender = sender.with_priority(level);
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            test_hooks::LIVENESS.with(|c| c.set(Some(NEVER)));
            tid_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            let outcome = sender
                .send_timeout(&[level as u8], NEVER)
                .map_err(|e| format!("{e:?}"));
            let _ = done_tx.send(outcome);
        });
        let tid = tid_rx.recv().unwrap();
        let give_up = Instant::now() + WATCHDOG;
        while !(sleepers.load(crate::sync::Ordering::SeqCst) > before && asleep_in_futex(tid)) {
            assert!(
                Instant::now() < give_up,
                "the level-{level} sender never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        done_rx
    }

    /// Issue 13: senders of two levels sleep on one futex word; room
    /// appears on level 1 only. The wake-up must reach the level-1 sender,
    /// although the level-0 sender went to sleep first (the kernel wakes in
    /// queue order): before the fix it woke the level-0 sender, which found
    /// no room and slept again, and the level-1 sender slept on to the end
    /// of its slice (here an hour; in production 100 ms).
    #[test]
    fn room_on_one_level_wakes_a_sender_of_that_level() {
        let name = format!("shmring-unit-{}-level-wake", std::process::id());
        let _unlink = Unlink(name.clone());
        let queue = MpmcBuilder::new()
            .slots(2)
            .slot_size(8)
            .priorities(2)
            .wait_strategy(WaitStrategy::Park)
            .create(&name)
            .unwrap();
        let sender = queue.sender().unwrap();
        let receiver = queue.receiver().unwrap();
        for level in 0..2 {
            for _ in 0..2 {
                sender.with_priority(level).try_send(b"fill").unwrap();
            }
        }
        let sleepers = &queue.mem.control().not_full.sleepers;
        let low = parked_sender(&sender, 0, sleepers, 0);
        let high = parked_sender(&sender, 1, sleepers, 1);
        // A receiver takes the highest level first: room on level 1 only.
        drop(receiver.try_recv().unwrap());
        assert_eq!(
            high.recv_timeout(WATCHDOG),
            Ok(Ok(())),
            "the level-1 sender was not woken for the room on its level"
        );
        assert!(
            matches!(low.try_recv(), Err(mpsc::TryRecvError::Empty)),
            "the level-0 sender has no room and must still wait"
        );
        // Ends the level-0 sender: every sleeper wakes for a disconnect.
        drop(receiver);
        let outcome = low.recv_timeout(WATCHDOG);
        assert!(
            matches!(&outcome, Ok(Err(e)) if e.contains("Disconnected")),
            "{outcome:?}"
        );
    }
}
