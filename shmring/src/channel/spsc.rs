//! SPSC handles: [`SpscBuilder`] makes or opens a ring, [`Spsc`] hands out
//! the one [`Producer`] and the one [`Consumer`].
#![allow(unsafe_code)]

use crate::channel::error::{
    AttachError, OpenError, RecvError, RecvTimeoutError, RecvValueError, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
use crate::channel::role::{PeerWatch, RoleSlot};
use crate::channel::{Keepalive, Patience};
use crate::layout::RingKind;
use crate::layout::spsc::{self as spsc_layout, SpscControl, SpscGeometry};
use crate::liveness::{Lease, Locks};
use crate::ring::Corruption;
use crate::ring::data::DataArea;
use crate::ring::spsc::{Claim, ClaimError, Found, SpscConsumerRing, SpscMemory, SpscProducerRing};
use crate::segment::{self, Mapping, SegmentOptions};
use crate::sys::process::ProcessId;
use crate::wait::{self, WaitOutcome, WaitStrategy};
use rustix::fd::OwnedFd;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

/// Default data-area size of a new ring.
pub const DEFAULT_CAPACITY: u64 = 64 * 1024;

/// Options for creating or opening an SPSC ring.
///
/// ```
/// use shmring::{SpscBuilder, WaitStrategy};
/// let name = format!("doc-builder-{}", std::process::id());
/// let ring = SpscBuilder::new()
///     .capacity(1 << 16)
///     .max_message(1024)
///     .mode(0o600)
///     .wait_strategy(WaitStrategy::Park)
///     .create(&name)?;
/// assert_eq!(ring.capacity(), 1 << 16);
/// shmring::unlink(&name)?;
/// # Ok::<(), shmring::OpenError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SpscBuilder {
    capacity: u64,
    max_message: Option<u64>,
    options: SegmentOptions,
    wait: WaitStrategy,
}

impl Default for SpscBuilder {
    fn default() -> Self {
        SpscBuilder::new()
    }
}

impl SpscBuilder {
    /// 64 KiB ring, messages up to a quarter of it, mode 0600,
    /// spin-then-park waiting.
    pub fn new() -> SpscBuilder {
        SpscBuilder {
            capacity: DEFAULT_CAPACITY,
            max_message: None,
            options: SegmentOptions::default(),
            wait: WaitStrategy::default(),
        }
    }

    /// Data-area size in bytes: a power of two, 64 B to 1 TiB (create only).
    pub fn capacity(mut self, bytes: u64) -> SpscBuilder {
        self.capacity = bytes;
        self
    }

    /// Largest message in bytes, at most `capacity / 4` and `2³² - 8`
    /// (create only; default `capacity / 4`).
    pub fn max_message(mut self, bytes: u64) -> SpscBuilder {
        self.max_message = Some(bytes);
        self
    }

    /// Permission bits of a new segment (create only; default 0600).
    pub fn mode(mut self, mode: u32) -> SpscBuilder {
        self.options.mode = mode;
        self
    }

    /// How long `open` waits for a creator still initialising (default 2 s).
    pub fn open_timeout(mut self, timeout: Duration) -> SpscBuilder {
        self.options.open_timeout = timeout;
        self
    }

    /// How the handles made from this ring wait (default spin-then-park).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> SpscBuilder {
        self.wait = wait;
        self
    }

    fn geometry(&self) -> Result<SpscGeometry, OpenError> {
        SpscGeometry {
            capacity: self.capacity,
            max_message: self.max_message.unwrap_or(self.capacity / 4),
        }
        .check()
        .map_err(OpenError::InvalidConfig)
    }

    /// Creates a new named segment (`shm_open(O_CREAT | O_EXCL)`); fails
    /// with `AlreadyExists` if the name is taken.
    pub fn create(&self, name: &str) -> Result<Spsc, OpenError> {
        let geometry = self.geometry()?;
        let (pid, start) = segment::creator_identity();
        let header = geometry.header(pid, start);
        // The file is zero-filled, and zero is the initial value of every
        // control word and the "empty" record header.
        let mapping = segment::create(name, self.options, header, |_| {})?;
        Spsc::from_mapping(mapping, self.wait)
    }

    /// Opens an existing named segment and validates it.
    pub fn open(&self, name: &str) -> Result<Spsc, OpenError> {
        let mapping = segment::open(name, self.options, RingKind::Spsc, spsc_layout::LAYOUT_HASH)?;
        Spsc::from_mapping(mapping, self.wait)
    }

    /// Validates and maps a segment file someone handed over: a memfd
    /// sealed against shrinking (as the broker hands out). Anything else
    /// (a socket, a file on disk, a POSIX shm file, an unsealed memfd) is
    /// refused before it is mapped (`Corrupt` or `Unsealed`), since a
    /// peer could truncate it under the mapping; so is a file shorter than
    /// its header claims (`Corrupt`).
    pub fn from_fd(&self, fd: OwnedFd) -> Result<Spsc, OpenError> {
        let mapping = segment::adopt(fd, self.options, RingKind::Spsc, spsc_layout::LAYOUT_HASH)?;
        Spsc::from_mapping(mapping, self.wait)
    }
}

/// An open SPSC segment. Cheap to keep; hands out one [`Producer`] and one
/// [`Consumer`] (in this or any other process) at a time.
///
/// ```
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
    /// Keeps the memory behind `mem` alive (a mapping, or heap memory in
    /// loom models); every handle holds a clone.
    memory: Keepalive,
    name: Option<String>,
    mem: SpscMemory,
    locks: Locks,
    wait: WaitStrategy,
}

// SAFETY: `mem` points into `mapping`, which `Spsc` keeps alive; all
// shared state is atomics, so `&Spsc` may be used from several threads.
unsafe impl Sync for Spsc {}

impl Spsc {
    /// Creates a named ring with the default options ([`SpscBuilder::new`]).
    pub fn create(name: &str) -> Result<Spsc, OpenError> {
        SpscBuilder::new().create(name)
    }

    /// Opens a named ring with the default options.
    pub fn open(name: &str) -> Result<Spsc, OpenError> {
        SpscBuilder::new().open(name)
    }

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
        let name = mapping.name().map(str::to_owned);
        Ok(Spsc {
            locks: mapping.locks(),
            memory: Arc::new(mapping),
            name,
            mem,
            wait,
        })
    }

    /// A ring on heap memory, for the loom models only (`--cfg shmring_loom`):
    /// the same handles and algorithms, without a segment.
    #[cfg(shmring_loom)]
    #[doc(hidden)]
    pub fn on_heap(capacity: u64, max_message: u64, wait: WaitStrategy) -> Spsc {
        use crate::sync::AtomicU64;
        use std::ptr::NonNull;
        let geometry = SpscGeometry {
            capacity,
            max_message,
        }
        .check()
        .expect("model geometry");
        let control: Box<SpscControl> = Box::default();
        let words: Box<[AtomicU64]> = (0..capacity / 8).map(|_| AtomicU64::new(0)).collect();
        let control_ptr = NonNull::from(&*control);
        let words_ptr = NonNull::from(&words[0]);
        // SAFETY: both boxes move into `memory` below and live as long as
        // the `Spsc` and every handle made from it.
        let data = unsafe { DataArea::new(words_ptr, capacity) };
        // SAFETY: as above.
        let mem = unsafe { SpscMemory::new(control_ptr, data, geometry) };
        let memory: Keepalive = Arc::new((control, words));
        Spsc {
            memory,
            name: None,
            mem,
            locks: Locks::none(),
            wait,
        }
    }

    /// Takes the producer role. `Busy` if a live process holds it; a role
    /// left by a dead process is taken over, continuing after its last
    /// published message.
    pub fn producer(&self) -> Result<Producer, AttachError> {
        let me = ProcessId::current().map_err(AttachError::Io)?;
        crate::sys::membarrier::register();
        let role = producer_role(self.mem.control());
        let lease = role.claim(&self.locks, me)?;
        match SpscProducerRing::attach(self.mem) {
            Ok(ring) => Ok(Producer {
                ring,
                _memory: Arc::clone(&self.memory),
                wait: self.wait,
                me,
                consumer: PeerWatch::new(self.locks.clone()),
                _lease: lease,
            }),
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
        let role = consumer_role(self.mem.control());
        let lease = role.claim(&self.locks, me)?;
        let ring = SpscConsumerRing::attach(self.mem).map_err(|c| {
            role.release(me);
            AttachError::Corrupt(c)
        })?;
        Ok(Consumer {
            ring,
            _memory: Arc::clone(&self.memory),
            wait: self.wait,
            me,
            producer: PeerWatch::new(self.locks.clone()),
            _lease: lease,
        })
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
        producer_role(self.mem.control()).is_held_by_live_process(&self.locks)
    }

    /// Whether a live process holds the consumer role (one lock probe).
    pub fn is_consumer_attached(&self) -> bool {
        consumer_role(self.mem.control()).is_held_by_live_process(&self.locks)
    }

    /// The name the segment was created or opened by.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
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

/// Why a claim did not succeed, before it is turned into the public error
/// of the calling operation (which hands the message back).
enum Stop {
    Full,
    Timeout,
    Disconnected,
    TooLarge,
    Corrupt(Corruption),
}

/// The sending end of an SPSC ring. `Send`, not `Sync`; dropping it is
/// the end-of-file for the consumer.
#[derive(Debug)]
pub struct Producer {
    ring: SpscProducerRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    consumer: PeerWatch,
    /// Holds the producer role's lock byte; dropped after `Drop::drop`
    /// has written the role word back.
    _lease: Lease,
}

impl Producer {
    fn control(&self) -> &SpscControl {
        self.ring.memory().control()
    }

    /// Claims room for `len` bytes, waiting as `patience` allows.
    #[inline]
    fn claim(&mut self, len: usize, patience: Patience) -> Result<Claim, Stop> {
        loop {
            if consumer_role(self.control()).left() {
                return Err(Stop::Disconnected);
            }
            let need = match self.ring.try_claim(len) {
                Ok(claim) => return Ok(claim),
                Err(ClaimError::TooLarge) => return Err(Stop::TooLarge),
                Err(ClaimError::Corrupt(c)) => return Err(Stop::Corrupt(c)),
                Err(ClaimError::Full { need }) => need,
            };
            let Patience::Until(deadline) = patience else {
                let mem = *self.ring.memory();
                if self.consumer.gone(consumer_role(mem.control()), false) {
                    return Err(Stop::Disconnected);
                }
                return Err(Stop::Full);
            };
            let mem = *self.ring.memory();
            let write_pos = self.ring.write_pos();
            let consumer = &mut self.consumer;
            let peer = consumer_role(mem.control());
            let outcome = wait::wait_until(
                &mem.control().writable,
                self.wait,
                deadline,
                || mem.has_room(write_pos, need) || peer.left(),
                || consumer.gone(peer, true),
            );
            match outcome {
                WaitOutcome::Ready => continue,
                // A wait shorter than the liveness interval never reaches
                // its own check: callers looping on short timeouts still
                // learn of a dead consumer, once per interval.
                WaitOutcome::TimedOut if consumer.gone(peer, false) => {
                    return Err(Stop::Disconnected);
                }
                WaitOutcome::TimedOut => return Err(Stop::Timeout),
                WaitOutcome::PeerGone => return Err(Stop::Disconnected),
            }
        }
    }

    #[inline]
    fn send_with(&mut self, msg: &[u8], patience: Patience) -> Result<(), Stop> {
        let claim = self.claim(msg.len(), patience)?;
        self.ring.write_payload(&claim, msg);
        self.ring.publish(claim, msg.len() as u64, false);
        wait::notify_one(&self.control().readable);
        Ok(())
    }

    /// Sends `msg` if there is room now.
    ///
    /// ```
    /// # let name = format!("doc-try-send-{}", std::process::id());
    /// # let ring = shmring::SpscBuilder::new().capacity(256).create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.try_send(b"0123456789")?;
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_send<'m>(&mut self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        self.send_with(msg, Patience::None)
            .map_err(|stop| match stop {
                Stop::Full | Stop::Timeout => TrySendError::Full(msg),
                Stop::Disconnected => TrySendError::Disconnected(msg),
                Stop::TooLarge => TrySendError::TooLarge(msg),
                Stop::Corrupt(c) => TrySendError::Corrupt(msg, c),
            })
    }

    /// Sends `msg`, waiting for room as long as it takes.
    ///
    /// ```
    /// # let name = format!("doc-send-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.send(b"hello")?;
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn send<'m>(&mut self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_with(msg, Patience::Until(None))
            .map_err(|stop| blocking_error(stop, msg))
    }

    /// Sends `msg`, waiting for room at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-send-timeout-{}", std::process::id());
    /// # let ring = shmring::SpscBuilder::new().capacity(64).create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.send_timeout(&[1; 16], Duration::from_millis(10))?;
    /// producer.send_timeout(&[2; 16], Duration::from_millis(10))?;
    /// // Nobody reads: the third waits 10 ms and gives the message back.
    /// let err = producer.send_timeout(&[3; 16], Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(m) if m == &[3; 16]));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout<'m>(
        &mut self,
        msg: &'m [u8],
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<&'m [u8]>> {
        self.send_with(msg, Patience::after(timeout))
            .map_err(|stop| timeout_error(stop, msg))
    }

    /// Sends a plain-old-data value as its bytes.
    ///
    /// ```
    /// # let name = format!("doc-send-value-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// producer.send_value(&[7u32, 8u32])?;
    /// assert_eq!(consumer.recv_value::<[u32; 2]>()?, [7, 8]);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError<T>> {
        self.send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Sends a plain-old-data value if there is room now.
    pub fn try_send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), TrySendError<T>> {
        self.try_send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Reserves `len` bytes in the ring to write in place, if there is room
    /// now. Nothing is visible to the consumer until
    /// [`WriteGrant::commit`]; dropping the grant discards it.
    ///
    /// ```
    /// # let name = format!("doc-reserve-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = producer.try_reserve(4)?;
    /// grant.copy_from_slice(b"abcd");
    /// grant.commit();
    /// assert_eq!(&*consumer.try_recv()?, b"abcd");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, TrySendError<usize>> {
        match self.claim(len, Patience::None) {
            Ok(claim) => Ok(WriteGrant::new(self, claim)),
            Err(Stop::Full | Stop::Timeout) => Err(TrySendError::Full(len)),
            Err(Stop::Disconnected) => Err(TrySendError::Disconnected(len)),
            Err(Stop::TooLarge) => Err(TrySendError::TooLarge(len)),
            Err(Stop::Corrupt(c)) => Err(TrySendError::Corrupt(len, c)),
        }
    }

    /// Reserves `len` bytes, waiting for room as long as it takes.
    pub fn reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, SendError<usize>> {
        match self.claim(len, Patience::Until(None)) {
            Ok(claim) => Ok(WriteGrant::new(self, claim)),
            Err(stop) => Err(blocking_error(stop, len)),
        }
    }

    /// Reserves `len` bytes, waiting for room at most `timeout`.
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<WriteGrant<'_>, SendTimeoutError<usize>> {
        match self.claim(len, Patience::after(timeout)) {
            Ok(claim) => Ok(WriteGrant::new(self, claim)),
            Err(stop) => Err(timeout_error(stop, len)),
        }
    }

    /// Starts a batch: messages pushed into it become visible together,
    /// with one release store, when it is committed or dropped.
    ///
    /// ```
    /// # let name = format!("doc-batch-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// let mut batch = producer.batch();
    /// for i in 0u8..10 {
    ///     batch.push(&[i; 3]).map_err(|e| e.without_message())?;
    /// }
    /// assert_eq!(batch.commit(), 10);
    /// let mut seen = 0;
    /// consumer.try_drain(usize::MAX, |m| { assert_eq!(m, &[seen; 3]); seen += 1; })?;
    /// assert_eq!(seen, 10);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&mut self) -> Batch<'_> {
        self.ring.begin_batch();
        Batch {
            producer: self,
            pending: 0,
        }
    }

    /// Data-area size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.memory().geometry().capacity
    }

    /// Largest message in bytes.
    pub fn max_message(&self) -> u64 {
        self.ring.memory().geometry().max_message
    }

    /// Bytes published and not yet released by the consumer.
    pub fn bytes_in_flight(&self) -> u64 {
        self.ring.memory().bytes_in_flight()
    }

    /// Messages published and not yet released by the consumer.
    pub fn messages_in_flight(&self) -> u64 {
        self.ring.memory().messages_in_flight()
    }

    /// Whether a live consumer is attached (a system call: not for hot
    /// loops).
    pub fn is_consumer_attached(&self) -> bool {
        consumer_role(self.control()).is_held_by_live_process(self.consumer.locks())
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let control = self.ring.memory().control();
        producer_role(control).release(self.me);
        wait::notify_all(&control.readable);
    }
}

fn blocking_error<T>(stop: Stop, msg: T) -> SendError<T> {
    match stop {
        // Without a deadline a claim only ends by succeeding or failing.
        Stop::Full | Stop::Timeout | Stop::Disconnected => SendError::Disconnected(msg),
        Stop::TooLarge => SendError::TooLarge(msg),
        Stop::Corrupt(c) => SendError::Corrupt(msg, c),
    }
}

fn timeout_error<T>(stop: Stop, msg: T) -> SendTimeoutError<T> {
    match stop {
        Stop::Full | Stop::Timeout => SendTimeoutError::Timeout(msg),
        Stop::Disconnected => SendTimeoutError::Disconnected(msg),
        Stop::TooLarge => SendTimeoutError::TooLarge(msg),
        Stop::Corrupt(c) => SendTimeoutError::Corrupt(msg, c),
    }
}

/// Room reserved in the ring, written in place. Publish it with
/// [`commit`](WriteGrant::commit); dropping it discards it.
///
/// A reservation changes nothing in the ring until it is committed:
/// dropped or forgotten, it leaves no trace, and the next reservation of
/// the same length is the same room with the bytes written so far (the C
/// API builds its zero-copy calls on this; `tests/transfer.rs` checks it).
#[derive(Debug)]
pub struct WriteGrant<'p> {
    producer: &'p mut Producer,
    claim: Claim,
    /// Loom's atomics are not plain memory: models write a staging copy.
    #[cfg(shmring_loom)]
    staging: Vec<u8>,
}

impl<'p> WriteGrant<'p> {
    fn new(producer: &'p mut Producer, claim: Claim) -> WriteGrant<'p> {
        WriteGrant {
            producer,
            claim,
            #[cfg(shmring_loom)]
            staging: vec![0; claim.len as usize],
        }
    }
}

impl WriteGrant<'_> {
    /// Publishes the whole reserved length.
    pub fn commit(self) {
        let len = self.claim.len;
        self.commit_len(len as usize);
    }

    /// Publishes only the first `len` bytes (at most the reserved length;
    /// longer values are clamped).
    pub fn commit_len(self, len: usize) {
        let len = (len as u64).min(self.claim.len);
        let claim = self.claim;
        #[cfg(shmring_loom)]
        self.producer
            .ring
            .write_payload(&claim, &self.staging[..len as usize]);
        let producer = unsafe_grant_into_producer(self);
        producer.ring.publish(claim, len, false);
        wait::notify_one(&producer.control().readable);
    }
}

/// Ends a grant without running its (discarding) `Drop`.
fn unsafe_grant_into_producer(grant: WriteGrant<'_>) -> &mut Producer {
    #[cfg_attr(not(shmring_loom), allow(unused_mut))]
    let mut grant = std::mem::ManuallyDrop::new(grant);
    #[cfg(shmring_loom)]
    drop(std::mem::take(&mut grant.staging));
    // SAFETY: `grant` is never used or dropped again, so moving the
    // `&mut Producer` out of it leaves no second live reference.
    unsafe { std::ptr::read(&grant.producer) }
}

impl Deref for WriteGrant<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        #[cfg(shmring_loom)]
        return &self.staging;
        // SAFETY: the claimed range is ours until published, which needs
        // `self` by value.
        #[cfg(not(shmring_loom))]
        unsafe {
            self.producer.ring.payload_mut(&self.claim)
        }
    }
}

impl DerefMut for WriteGrant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        #[cfg(shmring_loom)]
        return &mut self.staging;
        // SAFETY: as in `deref`; `&mut self` makes the borrow exclusive.
        #[cfg(not(shmring_loom))]
        unsafe {
            self.producer.ring.payload_mut(&self.claim)
        }
    }
}

/// Messages written now and published together (see [`Producer::batch`]).
/// Dropping the batch commits it.
#[derive(Debug)]
pub struct Batch<'p> {
    producer: &'p mut Producer,
    pending: usize,
}

impl Batch<'_> {
    /// Adds `msg` if there is room now.
    pub fn try_push<'m>(&mut self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        match self.producer.claim(msg.len(), Patience::None) {
            Ok(claim) => {
                self.write(claim, msg);
                Ok(())
            }
            Err(Stop::Full | Stop::Timeout) => Err(TrySendError::Full(msg)),
            Err(Stop::Disconnected) => Err(TrySendError::Disconnected(msg)),
            Err(Stop::TooLarge) => Err(TrySendError::TooLarge(msg)),
            Err(Stop::Corrupt(c)) => Err(TrySendError::Corrupt(msg, c)),
        }
    }

    /// Adds `msg`; when the ring is full, publishes what the batch holds so
    /// far (so the consumer can make room) and waits.
    pub fn push<'m>(&mut self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        let claim = match self.producer.claim(msg.len(), Patience::None) {
            Ok(claim) => claim,
            Err(Stop::Full) => {
                self.flush();
                self.producer
                    .claim(msg.len(), Patience::Until(None))
                    .map_err(|stop| blocking_error(stop, msg))?
            }
            Err(stop) => return Err(blocking_error(stop, msg)),
        };
        self.write(claim, msg);
        Ok(())
    }

    fn write(&mut self, claim: Claim, msg: &[u8]) {
        self.producer.ring.write_payload(&claim, msg);
        self.producer.ring.publish(claim, msg.len() as u64, true);
        self.pending += 1;
    }

    fn flush(&mut self) -> usize {
        let n = std::mem::take(&mut self.pending);
        if n > 0 {
            self.producer.ring.end_batch();
            wait::notify_one(&self.producer.control().readable);
            self.producer.ring.begin_batch();
        }
        n
    }

    /// Publishes the batch; returns how many messages it held since the
    /// last publication.
    pub fn commit(mut self) -> usize {
        self.flush()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The receiving end of an SPSC ring. `Send`, not `Sync`; dropping it
/// makes the producer's sends fail with `Disconnected`.
#[derive(Debug)]
pub struct Consumer {
    ring: SpscConsumerRing,
    _memory: Keepalive,
    wait: WaitStrategy,
    me: ProcessId,
    producer: PeerWatch,
    /// Holds the consumer role's lock byte; dropped after `Drop::drop`
    /// has written the role word back.
    _lease: Lease,
}

/// Why no message is available, before the public error is chosen.
enum Dry {
    Empty,
    Timeout,
    Disconnected,
    Corrupt(Corruption),
}

impl Consumer {
    fn control(&self) -> &SpscControl {
        self.ring.memory().control()
    }

    /// Finds the next message, waiting as `patience` allows.
    #[inline]
    fn next(&mut self, patience: Patience) -> Result<Found, Dry> {
        loop {
            match self.ring.peek() {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(c) => return Err(Dry::Corrupt(c)),
            }
            let Patience::Until(deadline) = patience else {
                return match self.producer_gone(false) {
                    true => self.last_look(),
                    false => Err(Dry::Empty),
                };
            };
            let mem = *self.ring.memory();
            let read_pos = self.ring.read_pos();
            let watch = &mut self.producer;
            let peer = producer_role(mem.control());
            let outcome = wait::wait_until(
                &mem.control().readable,
                self.wait,
                deadline,
                || mem.published_at(read_pos) || peer.left(),
                || watch.gone(peer, true),
            );
            match outcome {
                WaitOutcome::Ready if !peer.left() => continue,
                WaitOutcome::Ready | WaitOutcome::PeerGone => return self.last_look(),
                // As for the producer: short timeouts in a loop still see
                // a dead producer, once per liveness interval.
                WaitOutcome::TimedOut if self.producer_gone(false) => return self.last_look(),
                WaitOutcome::TimedOut => return Err(Dry::Timeout),
            }
        }
    }

    #[cold]
    fn producer_gone(&mut self, force: bool) -> bool {
        let peer = producer_role(self.ring.memory().control());
        self.producer.gone(peer, force)
    }

    /// The producer is gone: everything it published is visible (its
    /// release pairs with our Acquire in `PeerWatch`), so one more look
    /// decides between a last message and end of file.
    #[cold]
    fn last_look(&mut self) -> Result<Found, Dry> {
        match self.ring.peek() {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Dry::Disconnected),
            Err(c) => Err(Dry::Corrupt(c)),
        }
    }

    /// Takes the next message if one is there, borrowed in place until the
    /// guard drops.
    ///
    /// ```
    /// # let name = format!("doc-try-recv-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// assert_eq!(consumer.try_recv().unwrap_err(), shmring::TryRecvError::Empty);
    /// producer.send(b"x")?;
    /// assert_eq!(&*consumer.try_recv()?, b"x");
    /// drop(producer);
    /// assert_eq!(consumer.try_recv().unwrap_err(), shmring::TryRecvError::Disconnected);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<RecvGuard<'_>, TryRecvError> {
        match self.next(Patience::None) {
            Ok(found) => Ok(RecvGuard::new(self, found)),
            Err(Dry::Empty | Dry::Timeout) => Err(TryRecvError::Empty),
            Err(Dry::Disconnected) => Err(TryRecvError::Disconnected),
            Err(Dry::Corrupt(c)) => Err(TryRecvError::Corrupt(c)),
        }
    }

    /// Waits for the next message as long as it takes; `Disconnected` once
    /// the producer is gone and every message it sent was received.
    #[inline]
    pub fn recv(&mut self) -> Result<RecvGuard<'_>, RecvError> {
        match self.next(Patience::Until(None)) {
            Ok(found) => Ok(RecvGuard::new(self, found)),
            Err(Dry::Corrupt(c)) => Err(RecvError::Corrupt(c)),
            Err(_) => Err(RecvError::Disconnected),
        }
    }

    /// Waits for the next message at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let name = format!("doc-recv-timeout-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut consumer = ring.consumer()?;
    /// let err = consumer.recv_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, shmring::RecvTimeoutError::Timeout);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecvGuard<'_>, RecvTimeoutError> {
        match self.next(Patience::after(timeout)) {
            Ok(found) => Ok(RecvGuard::new(self, found)),
            Err(Dry::Empty | Dry::Timeout) => Err(RecvTimeoutError::Timeout),
            Err(Dry::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(Dry::Corrupt(c)) => Err(RecvTimeoutError::Corrupt(c)),
        }
    }

    /// Waits for the next message and copies it into `buf` (replacing its
    /// contents); returns its length.
    ///
    /// ```
    /// # let name = format!("doc-recv-into-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// producer.send(b"copied")?;
    /// let mut buf = Vec::new();
    /// assert_eq!(consumer.recv_into(&mut buf)?, 6);
    /// assert_eq!(buf, b"copied");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        let found = match self.next(Patience::Until(None)) {
            Ok(found) => found,
            Err(Dry::Corrupt(c)) => return Err(RecvError::Corrupt(c)),
            Err(_) => return Err(RecvError::Disconnected),
        };
        buf.clear();
        buf.resize(found.len as usize, 0);
        self.ring.read_payload(&found, buf);
        self.finish(&found);
        Ok(found.len as usize)
    }

    /// Waits for a message of exactly `size_of::<T>()` bytes and returns
    /// it as a `T`. A message of another size stays in the ring.
    pub fn recv_value<T: bytemuck::Pod>(&mut self) -> Result<T, RecvValueError> {
        let found = match self.next(Patience::Until(None)) {
            Ok(found) => found,
            Err(Dry::Corrupt(c)) => return Err(RecvValueError::Corrupt(c)),
            Err(_) => return Err(RecvValueError::Disconnected),
        };
        let expected = std::mem::size_of::<T>();
        if found.len as usize != expected {
            return Err(RecvValueError::SizeMismatch {
                expected,
                actual: found.len as usize,
            });
        }
        let mut value = T::zeroed();
        self.ring
            .read_payload(&found, bytemuck::bytes_of_mut(&mut value));
        self.finish(&found);
        Ok(value)
    }

    /// Hands every message available now (at most `max`) to `f`, then
    /// frees their space with a single store. Returns how many; `Empty`
    /// or `Disconnected` instead of 0.
    pub fn try_drain(
        &mut self,
        max: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<usize, TryRecvError> {
        let mut n = 0;
        while n < max {
            match self.ring.peek() {
                Ok(Some(found)) => {
                    self.ring.with_payload(&found, &mut f);
                    self.ring.release(&found, false);
                    n += 1;
                }
                Ok(None) => break,
                Err(c) => {
                    self.publish_releases(n);
                    return Err(TryRecvError::Corrupt(c));
                }
            }
        }
        if n > 0 {
            self.publish_releases(n);
            return Ok(n);
        }
        match self.next(Patience::None) {
            // A message arrived in between: take it next time round.
            Ok(_) => Err(TryRecvError::Empty),
            Err(Dry::Empty | Dry::Timeout) => Err(TryRecvError::Empty),
            Err(Dry::Disconnected) => Err(TryRecvError::Disconnected),
            Err(Dry::Corrupt(c)) => Err(TryRecvError::Corrupt(c)),
        }
    }

    fn publish_releases(&mut self, n: usize) {
        if n > 0 {
            self.ring.publish_release();
            wait::notify_one(&self.control().writable);
        }
    }

    #[inline(always)]
    fn finish(&mut self, found: &Found) {
        self.ring.release(found, true);
        wait::notify_one(&self.control().writable);
    }

    /// Data-area size in bytes.
    pub fn capacity(&self) -> u64 {
        self.ring.memory().geometry().capacity
    }

    /// Largest message in bytes.
    pub fn max_message(&self) -> u64 {
        self.ring.memory().geometry().max_message
    }

    /// Bytes published and not yet released.
    pub fn bytes_in_flight(&self) -> u64 {
        self.ring.memory().bytes_in_flight()
    }

    /// Messages published and not yet released.
    pub fn messages_in_flight(&self) -> u64 {
        self.ring.memory().messages_in_flight()
    }

    /// Whether a live producer is attached (a system call: not for hot
    /// loops).
    pub fn is_producer_attached(&self) -> bool {
        producer_role(self.control()).is_held_by_live_process(self.producer.locks())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let control = self.ring.memory().control();
        consumer_role(control).release(self.me);
        wait::notify_all(&control.writable);
    }
}

/// A received message, borrowed in place; its space is freed when the
/// guard drops.
///
/// Receiving changes nothing in the ring until the guard drops: a guard
/// that is forgotten (`mem::forget`) leaves the message to be received
/// again (the C API's `peek`/`release` build on this; `tests/transfer.rs`
/// checks it).
#[derive(Debug)]
pub struct RecvGuard<'c> {
    consumer: &'c mut Consumer,
    found: Found,
    /// Loom's atomics are not plain memory: models read a copy.
    #[cfg(shmring_loom)]
    copy: Vec<u8>,
}

impl<'c> RecvGuard<'c> {
    #[inline(always)]
    fn new(consumer: &'c mut Consumer, found: Found) -> RecvGuard<'c> {
        #[cfg(shmring_loom)]
        {
            let mut copy = vec![0; found.len as usize];
            consumer.ring.read_payload(&found, &mut copy);
            RecvGuard {
                consumer,
                found,
                copy,
            }
        }
        #[cfg(not(shmring_loom))]
        RecvGuard { consumer, found }
    }
}

impl RecvGuard<'_> {
    /// The message as a `T`, if it is exactly `size_of::<T>()` bytes.
    pub fn value<T: bytemuck::Pod>(&self) -> Option<T> {
        bytemuck::try_pod_read_unaligned(self).ok()
    }
}

impl Deref for RecvGuard<'_> {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        #[cfg(shmring_loom)]
        return &self.copy;
        // SAFETY: the record stays ours until `drop` releases it, and the
        // returned borrow cannot outlive `self`.
        #[cfg(not(shmring_loom))]
        unsafe {
            self.consumer.ring.payload(&self.found)
        }
    }
}

impl Drop for RecvGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let found = self.found;
        self.consumer.finish(&found);
    }
}
