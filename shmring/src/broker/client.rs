//! The broker client: one connection to `shmringd`, requests answered in
//! order, segments received as sealed memfds and mapped as the same
//! handles the direct path gives.

use super::error::BrokerError;
use super::fdpass::{self, RecvFrameError};
use super::protocol::{
    self, CreateRequest, FrameError, Lifetime, MAX_FRAME_LEN, PROTOCOL_VERSION, Reply, Request,
    Role, SegmentInfo, SubscriberList,
};
use super::trust::{self, Trusted};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::mpmc::{Receiver, Sender};
use crate::pubsub::{Publisher, Subscriber};
use crate::wait::doorbell::Doorbells;
use crate::{
    AnyReceiver, AnyRing, AnySender, Consumer, Mpmc, OpenMode, Producer, Ring, RingBuilder, Spsc,
};
use crate::{DEFAULT_MODE, WaitStrategy};
use crate::{JoinAt, PubSub};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::SealFlags;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a request may take before the client gives up.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Seals every segment from the broker must carry: its size can never
/// change under a mapping, and nobody can lift the seals.
pub const REQUIRED_SEALS: SealFlags = crate::sys::shm::SEGMENT_SEALS;

/// The broker's socket path: `$SHMRING_SOCKET`, else
/// `$XDG_RUNTIME_DIR/shmring/broker.sock`, else
/// `/tmp/shmring-$UID/broker.sock`.
pub fn default_socket_path() -> PathBuf {
    default_socket_location().0
}

/// [`default_socket_path`], and whether it is the derived default (true)
/// rather than the one the user named in `$SHMRING_SOCKET` (false): only
/// the derived default's directory is checked (see `trust.rs`).
fn default_socket_location() -> (PathBuf, bool) {
    if let Some(path) = std::env::var_os("SHMRING_SOCKET").filter(|p| !p.is_empty()) {
        return (PathBuf::from(path), false);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        return (Path::new(&dir).join("shmring").join("broker.sock"), true);
    }
    let uid = rustix::process::getuid().as_raw();
    (
        PathBuf::from(format!("/tmp/shmring-{uid}/broker.sock")),
        true,
    )
}

/// What a new segment looks like: its shape ([`RingGeometry`]), mode,
/// lifetime and whether it lives on huge pages.
///
/// ```
/// use shmring::broker::CreateOptions;
/// let spsc = CreateOptions::spsc(1 << 16).max_message(4096).mode(0o660);
/// let mpmc = CreateOptions::mpmc(1024, 256).priorities(2).ephemeral();
/// let huge = CreateOptions::spsc(1 << 20).huge_pages(true);
/// # let _ = (spsc, mpmc, huge);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    geometry: RingGeometry,
    mode: u32,
    lifetime: Lifetime,
    huge_pages: bool,
}

impl CreateOptions {
    /// A ring of this shape, mode 0600, persistent.
    pub fn new(geometry: RingGeometry) -> CreateOptions {
        CreateOptions {
            geometry,
            mode: DEFAULT_MODE,
            lifetime: Lifetime::Persistent,
            huge_pages: false,
        }
    }

    /// An SPSC ring of `capacity` data bytes ([`RingGeometry::spsc`]).
    pub fn spsc(capacity: u64) -> CreateOptions {
        CreateOptions::new(RingGeometry::spsc(capacity))
    }

    /// An MPMC queue of `slots` slots of `slot_size` bytes
    /// ([`RingGeometry::mpmc`]).
    pub fn mpmc(slots: u64, slot_size: u64) -> CreateOptions {
        CreateOptions::new(RingGeometry::mpmc(slots, slot_size))
    }

    /// Largest message (SPSC) or slot size (MPMC).
    pub fn max_message(mut self, bytes: u64) -> CreateOptions {
        self.geometry = self.geometry.with_max_message(bytes);
        self
    }

    /// Priority levels (MPMC only, 1 to 8).
    pub fn priorities(mut self, levels: u32) -> CreateOptions {
        self.geometry = self.geometry.with_priorities(levels);
        self
    }

    /// Permission bits, checked like System V IPC permissions.
    pub fn mode(mut self, mode: u32) -> CreateOptions {
        self.mode = mode;
        self
    }

    /// Persistent (the default) or ephemeral.
    pub fn lifetime(mut self, lifetime: Lifetime) -> CreateOptions {
        self.lifetime = lifetime;
        self
    }

    /// Ephemeral: forgotten by the broker once unlinked or once no
    /// connection that created or opened it is left.
    pub fn ephemeral(self) -> CreateOptions {
        self.lifetime(Lifetime::Ephemeral)
    }

    /// Lays the segment out on huge pages (default off): the broker makes
    /// it a memfd with `MFD_HUGETLB` of the system's default huge page
    /// size, and rounds its size up to whole huge pages. The pages come
    /// from the pool the administrator reserved
    /// (`/proc/sys/vm/nr_hugepages`); with too few free the create is
    /// refused (`NoSpace`). A daemon older than this option refuses the
    /// request as malformed. Named segments in `/dev/shm` (tmpfs) cannot
    /// use huge pages.
    pub fn huge_pages(mut self, huge: bool) -> CreateOptions {
        self.huge_pages = huge;
        self
    }

    /// The ring's shape.
    pub fn geometry(&self) -> RingGeometry {
        self.geometry
    }

    /// The ring kind.
    pub fn kind(&self) -> RingKind {
        self.geometry.kind()
    }

    /// Whether the segment is to live on huge pages.
    pub fn uses_huge_pages(&self) -> bool {
        self.huge_pages
    }
}

/// A connection to the broker.
///
/// ```no_run
/// use shmring::broker::{BrokerClient, CreateOptions};
/// use shmring::prelude::*;
/// let mut broker = BrokerClient::connect()?;
/// let ring = broker.create_spsc("prices", &CreateOptions::spsc(1 << 20))?;
/// let mut producer = ring.producer()?;
/// producer.send(b"tick")?;
/// // In another process: BrokerClient::connect()?.consumer("prices")?
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BrokerClient {
    socket: OwnedFd,
    next_id: u32,
    out: Vec<u8>,
    input: Vec<u8>,
    wait: WaitStrategy,
    prefault: bool,
    lock: bool,
}

/// Where the broker is and which daemon to trust.
///
/// By default: [`default_socket_path`], and a daemon running as this
/// user or root (or as `$SHMRING_DAEMON_UID`). When the path is the
/// derived default (not `$SHMRING_SOCKET`, not [`socket`](Self::socket)),
/// its directory must also be owned by a trusted uid and not writable by
/// others. `docs/security.md` explains why.
///
/// ```no_run
/// use shmring::broker::ConnectOptions;
/// // A system-wide broker running as its own user (uid 970).
/// let broker = ConnectOptions::new()
///     .socket("/run/shmring/broker.sock")
///     .trust_daemon_uid(970)
///     .connect()?;
/// # drop(broker);
/// # Ok::<(), shmring::broker::BrokerError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    socket: Option<PathBuf>,
    daemon_uid: Option<u32>,
}

impl ConnectOptions {
    /// The default path and trust.
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// Connects to the broker listening at `path` (its directory is the
    /// caller's choice and is not checked; the daemon still is).
    pub fn socket(mut self, path: impl Into<PathBuf>) -> ConnectOptions {
        self.socket = Some(path.into());
        self
    }

    /// Also trusts a daemon running as `uid` (a system-wide broker under
    /// its own user); overrides `$SHMRING_DAEMON_UID`.
    pub fn trust_daemon_uid(mut self, uid: u32) -> ConnectOptions {
        self.daemon_uid = Some(uid);
        self
    }

    /// Checks, connects and agrees on a protocol version.
    pub fn connect(&self) -> Result<BrokerClient, BrokerError> {
        let trusted = Trusted::new(self.daemon_uid)?;
        let (path, check_dir) = match &self.socket {
            Some(path) => (path.clone(), false),
            None => default_socket_location(),
        };
        if check_dir {
            trust::check_socket_dir(&path, &trusted)?;
        }
        BrokerClient::connect_trusting(&path, &trusted)
    }
}

impl BrokerClient {
    /// Connects to the broker at [`default_socket_path`], trusting it as
    /// [`ConnectOptions::new`] does.
    pub fn connect() -> Result<BrokerClient, BrokerError> {
        ConnectOptions::new().connect()
    }

    /// Connects to the broker listening at `path` and agrees on a
    /// protocol version. The daemon must run as this user or root (or as
    /// `$SHMRING_DAEMON_UID`; see [`ConnectOptions`]).
    pub fn connect_to(path: impl AsRef<Path>) -> Result<BrokerClient, BrokerError> {
        ConnectOptions::new().socket(path.as_ref()).connect()
    }

    fn connect_trusting(path: &Path, trusted: &Trusted) -> Result<BrokerClient, BrokerError> {
        let unavailable = |e: rustix::io::Errno| BrokerError::BrokerUnavailable(e.into());
        let socket = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(unavailable)?;
        let addr = SocketAddrUnix::new(path).map_err(unavailable)?;
        rustix::net::connect(&socket, &addr).map_err(unavailable)?;
        // Before the first byte: an untrusted daemon learns no request.
        trust::check_daemon(&socket, path, trusted)?;
        let mut client = BrokerClient {
            socket,
            next_id: 1,
            out: Vec::with_capacity(512),
            input: vec![0; MAX_FRAME_LEN],
            wait: WaitStrategy::default(),
            prefault: false,
            lock: false,
        };
        client.set_timeout(DEFAULT_REQUEST_TIMEOUT)?;
        let (reply, _) = client.request(&Request::Hello {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
        })?;
        match reply {
            Reply::Hello { version, .. } if version == PROTOCOL_VERSION => Ok(client),
            Reply::Hello { version, .. } => Err(BrokerError::ProtocolVersion(format!(
                "the broker chose version {version}, this library speaks {PROTOCOL_VERSION}"
            ))),
            other => Err(unexpected(&other)),
        }
    }

    /// How long each request may take (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), BrokerError> {
        use rustix::net::sockopt::{Timeout, set_socket_timeout};
        for which in [Timeout::Recv, Timeout::Send] {
            set_socket_timeout(&self.socket, which, Some(timeout))
                .map_err(|e| BrokerError::Io(e.into()))?;
        }
        Ok(())
    }

    /// How the handles this client returns wait (default spin-then-park).
    pub fn with_wait_strategy(mut self, wait: WaitStrategy) -> BrokerClient {
        self.wait = wait;
        self
    }

    /// Whether the rings this client maps are populated when mapped, so
    /// that their first messages take no page fault (default off; see
    /// [`RingBuilder::prefault`]).
    ///
    /// ```no_run
    /// use shmring::broker::BrokerClient;
    /// let mut broker = BrokerClient::connect()?.with_prefault(true).with_lock_memory(true);
    /// let producer = broker.producer("prices")?;
    /// # drop(producer);
    /// # Ok::<(), shmring::broker::BrokerError>(())
    /// ```
    pub fn with_prefault(mut self, populate: bool) -> BrokerClient {
        self.prefault = populate;
        self
    }

    /// Whether the rings this client maps are locked in memory (`mlock`;
    /// default off; see [`RingBuilder::lock_memory`]). A refused lock is
    /// `BrokerError::Open(OpenError::MemoryLock(_))`.
    pub fn with_lock_memory(mut self, lock: bool) -> BrokerClient {
        self.lock = lock;
        self
    }

    /// Creates a segment and returns its description (the descriptor the
    /// broker sends with it is closed: use [`open_ring`](Self::open_ring)
    /// with [`OpenMode::Create`] to map it).
    pub fn create(
        &mut self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<SegmentInfo, BrokerError> {
        self.create_fd(name, options).map(|(info, _)| info)
    }

    /// The broker source of the one open path: makes or opens the segment
    /// `name` as a ring of kind `R`, as `mode` says (`options` shape a
    /// new one), and maps it.
    pub fn open_ring<R: Ring>(
        &mut self,
        name: &str,
        mode: OpenMode,
        options: &CreateOptions,
    ) -> Result<R, BrokerError> {
        let (fd, bells) = match mode {
            OpenMode::Create => self.create_as::<R>(name, options)?,
            OpenMode::Open => self.open_fd(name, Role::None, R::KIND)?,
            OpenMode::CreateOrOpen => self.create_or_open_fd::<R>(name, options)?,
        };
        Ok(self.builder::<R>().from_fd(fd, bells)?)
    }

    /// Opens the segment `name` and attaches its sending endpoint,
    /// announcing the role to the broker (which then reports it and reaps
    /// it if this process dies).
    pub fn attach_sender<R: Ring>(&mut self, name: &str) -> Result<R::Sender, BrokerError> {
        let (fd, bells) = self.open_fd(name, Role::sender_of(R::KIND), R::KIND)?;
        Ok(self.builder::<R>().from_fd(fd, bells)?.sender()?)
    }

    /// Opens the segment `name` and attaches its receiving endpoint,
    /// announcing the role to the broker.
    pub fn attach_receiver<R: Ring>(&mut self, name: &str) -> Result<R::Receiver, BrokerError> {
        let (fd, bells) = self.open_fd(name, Role::receiver_of(R::KIND), R::KIND)?;
        Ok(self.builder::<R>().from_fd(fd, bells)?.receiver()?)
    }

    /// [`open_ring`](Self::open_ring) for a kind chosen at run time: the
    /// kind of `options` when the segment may be made, the kind the broker
    /// reports (one `stat` first) when it is only opened.
    pub fn open_any(
        &mut self,
        name: &str,
        mode: OpenMode,
        options: &CreateOptions,
    ) -> Result<AnyRing, BrokerError> {
        let kind = match mode {
            OpenMode::Open => self.stat(name)?.geometry.kind(),
            OpenMode::Create | OpenMode::CreateOrOpen => options.kind(),
        };
        Ok(match kind {
            RingKind::Spsc => AnyRing::Spsc(self.open_ring(name, mode, options)?),
            RingKind::Mpmc => AnyRing::Mpmc(self.open_ring(name, mode, options)?),
            RingKind::PubSub => AnyRing::PubSub(self.open_ring(name, mode, options)?),
        })
    }

    /// [`attach_sender`](Self::attach_sender) for a kind chosen at run time.
    pub fn attach_sender_of(
        &mut self,
        kind: RingKind,
        name: &str,
    ) -> Result<AnySender, BrokerError> {
        Ok(match kind {
            RingKind::Spsc => AnySender::Spsc(self.attach_sender::<Spsc>(name)?),
            RingKind::Mpmc => AnySender::Mpmc(self.attach_sender::<Mpmc>(name)?),
            RingKind::PubSub => AnySender::PubSub(self.attach_sender::<PubSub>(name)?),
        })
    }

    /// [`attach_receiver`](Self::attach_receiver) for a kind chosen at run
    /// time.
    pub fn attach_receiver_of(
        &mut self,
        kind: RingKind,
        name: &str,
    ) -> Result<AnyReceiver, BrokerError> {
        Ok(match kind {
            RingKind::Spsc => AnyReceiver::Spsc(self.attach_receiver::<Spsc>(name)?),
            RingKind::Mpmc => AnyReceiver::Mpmc(self.attach_receiver::<Mpmc>(name)?),
            RingKind::PubSub => AnyReceiver::PubSub(self.attach_receiver::<PubSub>(name)?),
        })
    }

    /// The sending endpoint of `name`, whatever its kind (one `stat`
    /// first), announced to the broker as the kind's sending role.
    pub fn attach_any_sender(&mut self, name: &str) -> Result<AnySender, BrokerError> {
        let kind = self.stat(name)?.geometry.kind();
        self.attach_sender_of(kind, name)
    }

    /// The receiving endpoint of `name`, whatever its kind (one `stat`
    /// first), announced to the broker as the kind's receiving role.
    pub fn attach_any_receiver(&mut self, name: &str) -> Result<AnyReceiver, BrokerError> {
        let kind = self.stat(name)?.geometry.kind();
        self.attach_receiver_of(kind, name)
    }

    /// Creates `name`, or opens it if it exists; a name unlinked between
    /// the two requests is tried again, a bounded number of times.
    fn create_or_open_fd<R: Ring>(
        &mut self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<Handed, BrokerError> {
        let mut last = None;
        for _ in 0..crate::channel::open::CREATE_OR_OPEN_ROUNDS {
            match self.create_as::<R>(name, options) {
                Err(BrokerError::AlreadyExists(_)) => {}
                made => return made,
            }
            match self.open_fd(name, Role::None, R::KIND) {
                Err(e @ BrokerError::NotFound(_)) => last = Some(e),
                opened => return opened,
            }
        }
        Err(last.unwrap_or_else(|| BrokerError::NotFound(name.to_owned())))
    }

    fn builder<R: Ring>(&self) -> RingBuilder<R> {
        RingBuilder::<R>::new()
            .wait_strategy(self.wait)
            .prefault(self.prefault)
            .lock_memory(self.lock)
    }

    fn create_as<R: Ring>(
        &mut self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<Handed, BrokerError> {
        expect_kind(options.kind(), R::KIND)?;
        self.create_fd(name, options).map(|(_, fd)| fd)
    }

    /// Creates an SPSC ring and maps it.
    pub fn create_spsc(
        &mut self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<Spsc, BrokerError> {
        self.open_ring(name, OpenMode::Create, options)
    }

    /// Creates an MPMC queue and maps it.
    pub fn create_mpmc(
        &mut self,
        name: &str,
        options: &CreateOptions,
    ) -> Result<Mpmc, BrokerError> {
        self.open_ring(name, OpenMode::Create, options)
    }

    /// Opens an SPSC ring without announcing a role.
    pub fn open_spsc(&mut self, name: &str) -> Result<Spsc, BrokerError> {
        self.open_ring(
            name,
            OpenMode::Open,
            &CreateOptions::new(RingGeometry::default_for(RingKind::Spsc)),
        )
    }

    /// Opens an MPMC queue without announcing a role.
    pub fn open_mpmc(&mut self, name: &str) -> Result<Mpmc, BrokerError> {
        self.open_ring(
            name,
            OpenMode::Open,
            &CreateOptions::new(RingGeometry::default_for(RingKind::Mpmc)),
        )
    }

    /// Opens an SPSC ring and takes its producer role.
    pub fn producer(&mut self, name: &str) -> Result<Producer, BrokerError> {
        self.attach_sender::<Spsc>(name)
    }

    /// Opens an SPSC ring and takes its consumer role.
    pub fn consumer(&mut self, name: &str) -> Result<Consumer, BrokerError> {
        self.attach_receiver::<Spsc>(name)
    }

    /// Opens an MPMC queue and attaches a sender.
    pub fn sender(&mut self, name: &str) -> Result<Sender, BrokerError> {
        self.attach_sender::<Mpmc>(name)
    }

    /// Opens an MPMC queue and attaches a receiver.
    pub fn receiver(&mut self, name: &str) -> Result<Receiver, BrokerError> {
        self.attach_receiver::<Mpmc>(name)
    }

    /// Opens a publish/subscribe ring and takes its publisher role.
    pub fn publisher(&mut self, name: &str) -> Result<Publisher, BrokerError> {
        self.attach_sender::<PubSub>(name)
    }

    /// Opens a publish/subscribe ring and joins it as a subscriber that
    /// starts at the next message published.
    pub fn subscriber(&mut self, name: &str) -> Result<Subscriber, BrokerError> {
        self.attach_receiver::<PubSub>(name)
    }

    /// Opens a publish/subscribe ring and joins it as a subscriber that
    /// starts where `at` says ([`JoinAt::Oldest`]: at the oldest message
    /// the ring still holds), announcing the role to the broker.
    ///
    /// ```no_run
    /// use shmring::JoinAt;
    /// use shmring::broker::BrokerClient;
    /// use shmring::prelude::*;
    /// let mut broker = BrokerClient::connect()?;
    /// let mut late = broker.subscriber_at("ticks", JoinAt::Oldest)?;
    /// let first = late.try_recv();
    /// # drop(first);
    /// # Ok::<(), shmring::broker::BrokerError>(())
    /// ```
    pub fn subscriber_at(&mut self, name: &str, at: JoinAt) -> Result<Subscriber, BrokerError> {
        let (fd, bells) = self.open_fd(name, Role::Subscriber, RingKind::PubSub)?;
        Ok(self
            .builder::<PubSub>()
            .from_fd(fd, bells)?
            .subscriber_at(at)?)
    }

    /// Every subscriber of the publish/subscribe ring `name`, with its
    /// position, lag and counters, and the number of messages published
    /// (needs read permission, as [`stat`](Self::stat) does). A daemon
    /// older than this request refuses it as malformed.
    ///
    /// ```no_run
    /// use shmring::broker::BrokerClient;
    /// let mut broker = BrokerClient::connect()?;
    /// let list = broker.subscribers("ticks")?;
    /// for s in &list.subscribers {
    ///     println!("{} (pid {}): {} behind", s.index, s.pid, s.lag);
    /// }
    /// # Ok::<(), shmring::broker::BrokerError>(())
    /// ```
    pub fn subscribers(&mut self, name: &str) -> Result<SubscriberList, BrokerError> {
        let name = name.to_owned();
        match self.request(&Request::Subscribers { name })?.0 {
            Reply::Subscribers(list) => Ok(list),
            other => Err(unexpected(&other)),
        }
    }

    /// Describes one segment.
    pub fn stat(&mut self, name: &str) -> Result<SegmentInfo, BrokerError> {
        let name = name.to_owned();
        match self.request(&Request::Stat { name })?.0 {
            Reply::Segment(info) => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    /// Describes every segment this user may read, in name order.
    pub fn list(&mut self) -> Result<Vec<SegmentInfo>, BrokerError> {
        let mut all = Vec::new();
        loop {
            let offset = u32::try_from(all.len()).unwrap_or(u32::MAX);
            match self.request(&Request::List { offset })?.0 {
                Reply::List { total, segments } => {
                    let done = segments.is_empty() || all.len() + segments.len() >= total as usize;
                    all.extend(segments);
                    if done {
                        return Ok(all);
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Removes a name. Processes that mapped the segment keep using it.
    pub fn unlink(&mut self, name: &str) -> Result<(), BrokerError> {
        let name = name.to_owned();
        match self.request(&Request::Unlink { name })?.0 {
            Reply::Unlinked => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn create_fd(
        &mut self,
        name: &str,
        o: &CreateOptions,
    ) -> Result<(SegmentInfo, Handed), BrokerError> {
        let request = Request::Create(CreateRequest {
            name: name.to_owned(),
            geometry: o.geometry,
            mode: o.mode,
            lifetime: o.lifetime,
            huge_pages: o.huge_pages,
        });
        let (reply, fd) = self.request(&request)?;
        let info = segment_reply(reply)?;
        let fd = checked_segment_fd(fd, &info)?;
        Ok((info, fd))
    }

    fn open_fd(&mut self, name: &str, role: Role, kind: RingKind) -> Result<Handed, BrokerError> {
        let name = name.to_owned();
        let (reply, fd) = self.request(&Request::Open { name, role })?;
        let info = segment_reply(reply)?;
        if info.geometry.kind() != kind {
            return Err(BrokerError::WrongKind(format!(
                "{} holds an {} ring, not an {kind} ring",
                info.name,
                info.geometry.kind()
            )));
        }
        checked_segment_fd(fd, &info)
    }

    /// Sends one request and waits for its reply (and the descriptor, if
    /// one came).
    fn request(&mut self, request: &Request) -> Result<(Reply, Vec<OwnedFd>), BrokerError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        protocol::encode_request(&mut self.out, id, request);
        fdpass::send_frame(&self.socket, &self.out, &[], false)
            .map_err(|e| BrokerError::Io(e.into()))?;
        let received = fdpass::recv_frame(&self.socket, &mut self.input, false).map_err(|e| {
            BrokerError::Io(match e {
                RecvFrameError::Io(io) => io,
                RecvFrameError::WouldBlock => std::io::ErrorKind::TimedOut.into(),
                RecvFrameError::Closed => std::io::ErrorKind::ConnectionReset.into(),
                other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
            })
        })?;
        let frame = &self.input[..received.len];
        let (header, payload) = protocol::split_frame(frame, received.fds.len(), MAX_FRAME_LEN)
            .map_err(protocol_error)?;
        if header.request_id.get() != id {
            return Err(malformed("reply to another request".into()));
        }
        let expected = request.msg_type() as u16 | protocol::REPLY_BIT;
        if header.msg_type.get() != expected {
            return Err(malformed("reply of another type".into()));
        }
        let reply =
            protocol::decode_reply(header.msg_type.get(), payload).map_err(protocol_error)?;
        if let Reply::Error { status, message } = reply {
            return Err(BrokerError::from_status(status, message));
        }
        let fds = received.fds;
        if fds.len() > usize::from(protocol::SEGMENT_FDS) {
            return Err(malformed("too many descriptors".into()));
        }
        Ok((reply, fds))
    }
}

fn protocol_error(e: FrameError) -> BrokerError {
    malformed(e.to_string())
}

fn unexpected(reply: &Reply) -> BrokerError {
    malformed(format!("unexpected reply {reply:?}"))
}

/// A reply from the daemon that breaks the protocol, reported (a warning:
/// a daemon of another version, or not the daemon at all) and returned.
#[cold]
fn malformed(why: String) -> BrokerError {
    tracing::warn!(reason = %why, "malformed broker frame");
    BrokerError::Protocol(why)
}

fn expect_kind(found: RingKind, wanted: RingKind) -> Result<(), BrokerError> {
    match found == wanted {
        true => Ok(()),
        false => Err(BrokerError::InvalidArgument(format!(
            "options describe an {found} ring, not an {wanted} ring"
        ))),
    }
}

fn segment_reply(reply: Reply) -> Result<SegmentInfo, BrokerError> {
    match reply {
        Reply::Segment(info) => Ok(info),
        other => Err(unexpected(&other)),
    }
}

/// The descriptor must be a sealed file of exactly the announced size:
/// then no process can shrink it under our mapping (no `SIGBUS`) or grow
/// it, and the header check that follows compares against a size that
/// cannot change.
/// A segment as the broker hands it over: the sealed memfd and its
/// doorbells.
type Handed = (OwnedFd, Doorbells);

fn checked_segment_fd(
    fds: Vec<OwnedFd>,
    info: &SegmentInfo,
) -> Result<(OwnedFd, Doorbells), BrokerError> {
    let [fd, data, room]: [OwnedFd; 3] = fds.try_into().map_err(|fds: Vec<OwnedFd>| {
        malformed(format!(
            "{} descriptors with the reply, not a segment and its two doorbells",
            fds.len()
        ))
    })?;
    check_sealed(&fd, info.size)?;
    let bells = Doorbells::from_fds(data, room)
        .map_err(|e| malformed(format!("the doorbells handed over: {e}")))?;
    Ok((fd, bells))
}

/// Checks that `fd` carries [`REQUIRED_SEALS`] and is `size` bytes long.
pub fn check_sealed(fd: impl AsFd, size: u64) -> Result<(), BrokerError> {
    let sealed = crate::sys::shm::has_segment_seals(&fd)
        .map_err(|_| BrokerError::BadSegment("the descriptor does not support seals"))?;
    if !sealed {
        return Err(BrokerError::BadSegment(
            "the segment is not sealed against shrinking, growing and resealing",
        ));
    }
    let st = rustix::fs::fstat(&fd).map_err(|e| BrokerError::Io(e.into()))?;
    if st.st_size < 0 || st.st_size as u64 != size || size == 0 {
        return Err(BrokerError::BadSegment(
            "the segment's size differs from the size announced",
        ));
    }
    Ok(())
}
