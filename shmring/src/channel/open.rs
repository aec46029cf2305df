//! One open path for every kind: the [`Ring`] trait a kind implements, and
//! [`RingBuilder`], which makes or opens any kind from a name or a
//! descriptor (the broker client adds the third source on top of it).

use crate::channel::endpoint::{MessageReceiver, MessageSender};
use crate::error::{AttachError, OpenError};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::segment::{self, SegmentOptions};
use crate::wait::WaitStrategy;
use crate::wait::doorbell::Doorbells;
use rustix::fd::OwnedFd;
use std::marker::PhantomData;
use std::time::Duration;

pub(crate) mod sealed {
    use crate::error::OpenError;
    use crate::segment::Mapping;
    use crate::wait::WaitStrategy;

    /// What the open path needs from a kind, kept out of the public API.
    pub trait RingInternals: Sized {
        /// Lays out a freshly created, still-private mapping whose header
        /// was just written (a zero-filled file is not a valid ring for
        /// every kind).
        fn initialise(mapping: &Mapping);
        /// Builds the handle over a mapping whose common header fields
        /// were validated for this kind.
        fn from_mapping(mapping: Mapping, wait: WaitStrategy) -> Result<Self, OpenError>;
        /// The layout hash openers compare.
        const LAYOUT_HASH: u64;
    }
}

/// A ring kind: its open segment hands out its sending and receiving
/// endpoints. Implemented by [`Spsc`](crate::Spsc) and
/// [`Mpmc`](crate::Mpmc); the open path, the broker client and every
/// generic harness are written once over it.
pub trait Ring: Sized + Send + Sync + std::fmt::Debug + sealed::RingInternals {
    /// The kind recorded in the segment header.
    const KIND: RingKind;
    /// The sending endpoint (SPSC producer, MPMC sender).
    type Sender: MessageSender;
    /// The receiving endpoint (SPSC consumer, MPMC receiver).
    type Receiver: MessageReceiver;

    /// Attaches a sending endpoint.
    fn sender(&self) -> Result<Self::Sender, AttachError>;
    /// Attaches a receiving endpoint.
    fn receiver(&self) -> Result<Self::Receiver, AttachError>;
    /// The ring's shape, as validated from its header.
    fn geometry(&self) -> RingGeometry;
    /// Messages sent and not yet received.
    fn messages_in_flight(&self) -> u64;
    /// The ring's traffic since it was created (statistics: see
    /// [`TrafficCounts`](crate::TrafficCounts) for how current they are).
    fn traffic(&self) -> crate::TrafficCounts;
    /// The name the segment was created or opened by.
    fn name(&self) -> Option<&str>;
    /// The ring's doorbells (what a broker hands over beside the segment;
    /// see [`Doorbells`]).
    fn doorbells(&self) -> &Doorbells;
}

/// How often `CreateOrOpen` tries again when the name vanishes between
/// its create and its open.
pub(crate) const CREATE_OR_OPEN_ROUNDS: usize = 16;

/// What to do about the name: make it, find it, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Make a new segment; `AlreadyExists` if the name is taken.
    Create,
    /// Open an existing segment; `NotFound` if there is none.
    Open,
    /// Open the segment if it exists, else make it. An existing segment
    /// keeps its own shape, which may differ from the one asked for.
    CreateOrOpen,
}

/// Options for making or opening a ring of kind `R`.
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
pub struct RingBuilder<R> {
    geometry: RingGeometry,
    /// Whether the largest message was set, rather than derived from the
    /// capacity (SPSC: `capacity / 4` follows the capacity).
    max_message_set: bool,
    options: SegmentOptions,
    wait: WaitStrategy,
    kind: PhantomData<fn() -> R>,
}

impl<R> Clone for RingBuilder<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for RingBuilder<R> {}

impl<R> std::fmt::Debug for RingBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuilder")
            .field("geometry", &self.geometry)
            .field("options", &self.options)
            .field("wait", &self.wait)
            .finish()
    }
}

impl<R: Ring> Default for RingBuilder<R> {
    fn default() -> Self {
        RingBuilder::new()
    }
}

impl<R: Ring> RingBuilder<R> {
    /// The default shape of the kind ([`RingGeometry::default_for`]), mode
    /// 0600, spin-then-park waiting.
    pub fn new() -> RingBuilder<R> {
        RingBuilder {
            geometry: RingGeometry::default_for(R::KIND),
            max_message_set: false,
            options: SegmentOptions::default(),
            wait: WaitStrategy::default(),
            kind: PhantomData,
        }
    }

    /// The whole shape at once (create only). A shape of another kind
    /// makes `create` fail with `WrongKind`.
    pub fn geometry(mut self, geometry: RingGeometry) -> RingBuilder<R> {
        self.geometry = geometry;
        self.max_message_set = true;
        self
    }

    /// The shape a `create` would make.
    pub fn shape(&self) -> RingGeometry {
        self.geometry
    }

    /// Replaces the shape, keeping whether the largest message was set.
    pub(crate) fn with_shape(mut self, geometry: RingGeometry) -> RingBuilder<R> {
        self.geometry = geometry;
        self
    }

    /// The same options for another kind (the shape is kept, and refused
    /// by `create` if it is not of that kind).
    pub(crate) fn retype<S>(&self) -> RingBuilder<S> {
        RingBuilder {
            geometry: self.geometry,
            max_message_set: self.max_message_set,
            options: self.options,
            wait: self.wait,
            kind: PhantomData,
        }
    }

    /// Whether the largest message was set rather than derived.
    pub(crate) fn max_message_is_set(&self) -> bool {
        self.max_message_set
    }

    /// Largest message in bytes (create only): the SPSC `max_message`
    /// (default `capacity / 4`), the MPMC slot size (default 256).
    pub fn max_message(mut self, bytes: u64) -> RingBuilder<R> {
        self.geometry = self.geometry.with_max_message(bytes);
        self.max_message_set = true;
        self
    }

    /// Permission bits of a new segment (create only; default 0600).
    pub fn mode(mut self, mode: u32) -> RingBuilder<R> {
        self.options.mode = mode;
        self
    }

    /// How long `open` waits for a creator still initialising (default 2 s).
    pub fn open_timeout(mut self, timeout: Duration) -> RingBuilder<R> {
        self.options.open_timeout = timeout;
        self
    }

    /// Populates every page of this process's mapping when the ring is
    /// made or opened (`madvise(MADV_POPULATE_WRITE)`, or one touch per
    /// page before Linux 5.14), so that the first messages take no page
    /// fault (default off). Applies to `create`, `open` and `from_fd`
    /// alike: each process that maps the ring chooses for itself. Costs
    /// the time to map every page once, at attach; nothing afterwards.
    ///
    /// There is no huge-pages option here: a named segment is a tmpfs
    /// file in `/dev/shm`, which hugetlb cannot back. A broker segment
    /// can be (`broker::CreateOptions::huge_pages`).
    ///
    /// ```
    /// use shmring::SpscBuilder;
    /// let name = format!("doc-prefault-{}", std::process::id());
    /// let ring = SpscBuilder::new().capacity(1 << 16).prefault(true).create(&name)?;
    /// # drop(ring);
    /// shmring::unlink(&name)?;
    /// # Ok::<(), shmring::OpenError>(())
    /// ```
    pub fn prefault(mut self, populate: bool) -> RingBuilder<R> {
        self.options.prefault = populate;
        self
    }

    /// Locks this process's mapping of the ring in memory (`mlock(2)`,
    /// which also faults every page in), so that it is never paged out
    /// (default off). Refused with [`OpenError::MemoryLock`] when
    /// `RLIMIT_MEMLOCK` (`ulimit -l`) is smaller than the segment and the
    /// process lacks `CAP_IPC_LOCK`; the lock goes when the ring's last
    /// handle in this process does.
    ///
    /// ```
    /// use shmring::{OpenError, SpscBuilder};
    /// let name = format!("doc-lock-{}", std::process::id());
    /// match SpscBuilder::new().capacity(4096).lock_memory(true).create(&name) {
    ///     Ok(ring) => drop(ring),
    ///     // `ulimit -l` too small for the segment: a clear error, no ring.
    ///     Err(OpenError::MemoryLock(_)) => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # let _ = shmring::unlink(&name);
    /// # Ok::<(), shmring::OpenError>(())
    /// ```
    pub fn lock_memory(mut self, lock: bool) -> RingBuilder<R> {
        self.options.lock = lock;
        self
    }

    /// How the endpoints made from this ring wait (default spin-then-park).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> RingBuilder<R> {
        self.wait = wait;
        self
    }

    /// The wait strategy the endpoints will use.
    pub fn waits(&self) -> WaitStrategy {
        self.wait
    }

    /// Creates a new named segment (`shm_open(O_CREAT | O_EXCL)`);
    /// `AlreadyExists` if the name is taken.
    pub fn create(&self, name: &str) -> Result<R, OpenError> {
        self.open_named(name, OpenMode::Create)
    }

    /// Opens an existing named segment and validates it.
    pub fn open(&self, name: &str) -> Result<R, OpenError> {
        self.open_named(name, OpenMode::Open)
    }

    /// Opens the named segment, or creates it if there is none.
    pub fn create_or_open(&self, name: &str) -> Result<R, OpenError> {
        self.open_named(name, OpenMode::CreateOrOpen)
    }

    /// A named segment in `/dev/shm`, made or opened as `mode` says.
    pub fn open_named(&self, name: &str, mode: OpenMode) -> Result<R, OpenError> {
        match mode {
            OpenMode::Create => self.create_named(name),
            OpenMode::Open => self.open_existing(name),
            OpenMode::CreateOrOpen => {
                // A name unlinked between the two calls is tried again; a
                // peer that keeps making and unlinking it gets the last
                // answer after a bounded number of rounds.
                let mut last = Err(OpenError::NotFound);
                for _ in 0..CREATE_OR_OPEN_ROUNDS {
                    match self.create_named(name) {
                        Err(OpenError::AlreadyExists) => {}
                        made => return made,
                    }
                    last = self.open_existing(name);
                    if !matches!(last, Err(OpenError::NotFound)) {
                        break;
                    }
                }
                last
            }
        }
    }

    fn create_named(&self, name: &str) -> Result<R, OpenError> {
        if self.geometry.kind() != R::KIND {
            return Err(OpenError::WrongKind {
                found: self.geometry.kind(),
                expected: R::KIND,
            });
        }
        let laid = self
            .geometry
            .laid()
            .map_err(|e| OpenError::InvalidConfig(e.0))?;
        let (pid, start) = segment::creator_identity();
        let mapping = segment::create(name, self.options, laid.header(pid, start), R::initialise)?;
        let ring = R::from_mapping(mapping, self.wait);
        log_open(&ring, Some(name), R::KIND, Source::Created);
        ring
    }

    fn open_existing(&self, name: &str) -> Result<R, OpenError> {
        let ring = segment::open(name, self.options, R::KIND, R::LAYOUT_HASH)
            .and_then(|mapping| R::from_mapping(mapping, self.wait));
        log_open(&ring, Some(name), R::KIND, Source::Opened);
        ring
    }

    /// Validates and maps a segment file someone handed over, with the
    /// ring's doorbells handed over beside it (as the broker does): a
    /// memfd sealed against shrinking. Anything else (a socket, a file on
    /// disk, a POSIX shm file, an unsealed memfd) is refused before it is
    /// mapped (`Corrupt` or `Unsealed`), since a peer could truncate it
    /// under the mapping; so is a file shorter than its header claims
    /// (`Corrupt`). Every process using the ring must be handed the same
    /// doorbells, or descriptor waiters miss each other's wake-ups.
    pub fn from_fd(&self, fd: OwnedFd, bells: Doorbells) -> Result<R, OpenError> {
        let ring = segment::adopt(fd, bells, self.options, R::KIND, R::LAYOUT_HASH)
            .and_then(|mapping| R::from_mapping(mapping, self.wait));
        log_open(&ring, None, R::KIND, Source::Adopted);
        ring
    }
}

/// Where an opened segment came from, for [`log_open`].
#[derive(Debug, Clone, Copy)]
enum Source {
    Created,
    Opened,
    Adopted,
}

/// Reports one open of a segment to `tracing` (once per open, never on
/// the message path): a debug event for a segment made, opened or
/// adopted; a warning for one that failed validation (a header or
/// geometry that does not check out, an unsealed descriptor).
#[cold]
fn log_open<R>(ring: &Result<R, OpenError>, name: Option<&str>, kind: RingKind, source: Source) {
    match (ring, source) {
        (Ok(_), Source::Created) => tracing::debug!(ring = name, %kind, "segment created"),
        (Ok(_), Source::Opened) => tracing::debug!(ring = name, %kind, "segment opened"),
        (Ok(_), Source::Adopted) => tracing::debug!(ring = name, %kind, "segment adopted"),
        (
            Err(
                error @ (OpenError::Corrupt(_)
                | OpenError::VersionMismatch { .. }
                | OpenError::Unsealed),
            ),
            _,
        ) => tracing::warn!(ring = name, %kind, %error, "segment failed validation"),
        (Err(error @ OpenError::NotInitialized), _) => {
            tracing::debug!(ring = name, %kind, %error, "segment open deadline reached")
        }
        (Err(_), _) => {}
    }
}
