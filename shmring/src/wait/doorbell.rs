//! Doorbells: the descriptor each endpoint offers to poll/epoll.
//!
//! A ring has two doorbells, each a FIFO (a pipe found by name or handed
//! over as a descriptor):
//!
//! | doorbell | waited on by | polls             | rung by                 | rung how      |
//! |----------|--------------|-------------------|-------------------------|---------------|
//! | `data`   | receivers    | readable (POLLIN) | a sender that published | write a byte  |
//! | `room`   | senders      | writable (POLLOUT)| a receiver that freed   | drain it      |
//!
//! Each endpoint opens both in the mode that makes the kernel's own
//! end-of-file rule match the ring's:
//!
//! | endpoint | `data`     | `room`      |
//! |----------|------------|-------------|
//! | receiver | read-only (its descriptor) | read-write |
//! | sender   | read-write | write-only (its descriptor) |
//!
//! So the writers of `data` are exactly the senders: when the last one
//! closes or dies the kernel hangs up the receivers' descriptors (POLLHUP,
//! as a pipe's reader sees when its writer goes), and the readers of
//! `room` are exactly the receivers: when the last one goes the senders'
//! descriptors report POLLERR, as a pipe's writer sees. A sender holds an
//! extra reader of `room` until it has seen a receiver, so that "no reader
//! yet" is not mistaken for "every reader gone".
//!
//! ## The rule that cannot lose a wake-up: arm, check, wait
//!
//! ```text
//! waiter (descriptor)                  waker (fast path, unchanged)
//! reset the doorbell (drain / fill)    make the condition true (Release)
//! sleepers |= ARMED                    light_fence()
//! heavy_fence()  ─────── pairs ──────  if sleepers != 0:
//! if condition: do not wait                if sleepers & ARMED was set
//! poll/epoll_wait on the descriptor            (cleared by this waker):
//!                                              ring the doorbell
//! ```
//!
//! As in `wait/mod.rs`, the fences make it impossible that the waker misses
//! `ARMED` while the waiter misses the condition. The reset comes before
//! the announcement, so a ring after it stays in the FIFO until the waiter
//! polls. Endpoints arm on their own: once its descriptor has been taken
//! (`AsFd`), an endpoint's `try_*` call that finds nothing to do (empty,
//! full) arms before it says so. The user's rule is the one of every
//! non-blocking descriptor: call `try_*` until it says empty (or full),
//! then wait on the descriptor.
//!
//! A waker that sees no `ARMED` makes no system call: the fast path costs
//! what it cost before (the bit lives in the futex sleepers word it
//! already reads).

use crate::sync::{AtomicU32, Ordering};
use std::fmt;
use std::sync::Arc;

#[cfg(not(shmring_loom))]
use crate::sys::bell::{self as fifo, Access};
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

/// The bit of a direction's `sleepers` word that says "a descriptor
/// waiter is armed": set by waiters, cleared by the waker that rings.
pub(crate) const ARMED: u32 = 1 << 31;

/// Which end an endpoint's bell is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BellSide {
    /// Waits on `data` (readable), rings `room`.
    Receiver,
    /// Waits on `room` (writable), rings `data`.
    Sender,
}

/// The two doorbells of one ring, as descriptors that count as neither
/// reader nor writer (`O_PATH`): what the broker hands over with a
/// segment, and what [`RingBuilder::from_fd`](crate::RingBuilder::from_fd)
/// takes with one.
///
/// ```
/// let bells = shmring::Doorbells::create()?;
/// let again = shmring::Doorbells::from_fds(
///     bells.data_fd().try_clone_to_owned()?,
///     bells.room_fd().try_clone_to_owned()?,
/// )?;
/// # drop(again);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Doorbells {
    #[cfg(not(shmring_loom))]
    data: Arc<OwnedFd>,
    #[cfg(not(shmring_loom))]
    room: Arc<OwnedFd>,
    #[cfg(shmring_loom)]
    data: Arc<MockFifo>,
    #[cfg(shmring_loom)]
    room: Arc<MockFifo>,
}

impl fmt::Debug for Doorbells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doorbells").finish_non_exhaustive()
    }
}

/// The name of a named ring's doorbell in `/dev/shm`: hidden, and unique
/// to one segment: the id is random, written in the segment's header, so
/// that a ring removed and made again never meets its predecessor's. The
/// hash of the ring's name comes first, so that removing a ring finds its
/// doorbells even when its header is damaged.
#[cfg(not(shmring_loom))]
pub(crate) fn named_bell(ring: &str, id: u64, which: &str) -> String {
    format!("{}{id:016x}.{which}-bell", bell_prefix(ring))
}

#[cfg(not(shmring_loom))]
fn bell_prefix(ring: &str) -> String {
    format!(".shmring-{:016x}-", crate::layout::fnv1a(ring.as_bytes()))
}

#[cfg(not(shmring_loom))]
impl Doorbells {
    /// Two new doorbells with no name: only descriptors reach them.
    pub fn create() -> std::io::Result<Doorbells> {
        Ok(Doorbells {
            data: Arc::new(fifo::create_unnamed(fifo::SHM_DIR)?),
            room: Arc::new(fifo::create_unnamed(fifo::SHM_DIR)?),
        })
    }

    /// Doorbells handed over as descriptors (each must be a FIFO; `O_PATH`
    /// descriptors are best, since any other mode makes the holder count
    /// as a reader or writer and so blurs end-of-file).
    pub fn from_fds(data: OwnedFd, room: OwnedFd) -> std::io::Result<Doorbells> {
        fifo::check_fifo(&data)?;
        fifo::check_fifo(&room)?;
        Ok(Doorbells {
            data: Arc::new(data),
            room: Arc::new(room),
        })
    }

    /// The doorbell receivers wait on.
    pub fn data_fd(&self) -> BorrowedFd<'_> {
        self.data.as_fd()
    }

    /// The doorbell senders wait on.
    pub fn room_fd(&self) -> BorrowedFd<'_> {
        self.room.as_fd()
    }

    /// Makes a named ring's doorbells beside it, with its mode.
    pub(crate) fn create_named(
        ring: &str,
        id: u64,
        mode: u32,
    ) -> Result<Doorbells, rustix::io::Errno> {
        let data = fifo::create(fifo::SHM_DIR, &named_bell(ring, id, "data"), mode)?;
        let room = match fifo::create(fifo::SHM_DIR, &named_bell(ring, id, "room"), mode) {
            Ok(room) => room,
            Err(e) => {
                let _ = fifo::unlink(fifo::SHM_DIR, &named_bell(ring, id, "data"));
                return Err(e);
            }
        };
        Ok(Doorbells {
            data: Arc::new(data),
            room: Arc::new(room),
        })
    }

    /// Finds a named ring's doorbells; both must be FIFOs owned by `owner`
    /// (the segment's owner), so that nobody else can plant one.
    pub(crate) fn open_named(
        ring: &str,
        id: u64,
        owner: u32,
    ) -> Result<Doorbells, rustix::io::Errno> {
        let open = |which| {
            let fd = fifo::open_existing(fifo::SHM_DIR, &named_bell(ring, id, which))?;
            if fifo::owner(&fd)? != owner {
                return Err(rustix::io::Errno::PERM);
            }
            Ok(fd)
        };
        Ok(Doorbells {
            data: Arc::new(open("data")?),
            room: Arc::new(open("room")?),
        })
    }

    /// Removes a named ring's doorbells (best effort: they may be gone).
    pub(crate) fn unlink_named(ring: &str, id: u64) {
        let _ = fifo::unlink(fifo::SHM_DIR, &named_bell(ring, id, "data"));
        let _ = fifo::unlink(fifo::SHM_DIR, &named_bell(ring, id, "room"));
    }

    /// The doorbell files of every incarnation of the ring `ring` owned
    /// by `owner` (the live one, and any left by a creator that died or a
    /// segment removed behind the library's back): listed before the ring
    /// is removed, so that a new ring of the same name made afterwards is
    /// never touched.
    pub(crate) fn named_files(ring: &str, owner: u32) -> Vec<String> {
        let prefix = bell_prefix(ring);
        let Ok(dir) = std::fs::read_dir(fifo::SHM_DIR) else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&prefix) && n.ends_with("-bell"))
            .filter(|n| {
                fifo::open_existing(fifo::SHM_DIR, n)
                    .and_then(fifo::owner)
                    .is_ok_and(|uid| uid == owner)
            })
            .collect()
    }

    /// Removes doorbell files listed by [`named_files`](Self::named_files).
    pub(crate) fn unlink_files(files: &[String]) {
        for f in files {
            let _ = fifo::unlink(fifo::SHM_DIR, f);
        }
    }

    /// The bell of one endpoint on `side`.
    pub(crate) fn bell(&self, side: BellSide) -> std::io::Result<Bell> {
        self.open_bell(side).inspect_err(|error| {
            let fd_exhausted = matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
            tracing::warn!(?side, fd_exhausted, %error, "doorbell not opened");
        })
    }

    /// [`Doorbells::bell`], before its failure is reported.
    fn open_bell(&self, side: BellSide) -> std::io::Result<Bell> {
        let data = self.data.as_fd();
        let room = self.room.as_fd();
        let (own, peer, placeholder) = match side {
            BellSide::Receiver => (
                fifo::reopen(data, Access::Read)?,
                fifo::reopen(room, Access::ReadWrite)?,
                None,
            ),
            BellSide::Sender => (
                fifo::reopen(room, Access::Write)?,
                fifo::reopen(data, Access::ReadWrite)?,
                Some(fifo::reopen(room, Access::Read)?),
            ),
        };
        Ok(Bell {
            side,
            own,
            peer,
            placeholder: std::sync::Mutex::new(placeholder),
            bells: self.clone(),
            watched: AtomicU32::new(0),
        })
    }

    /// Rings the receivers' doorbell once, from outside the ring (the
    /// broker, after it reaped a dead sender), so that they look again.
    pub(crate) fn ring_data(&self) {
        if let Ok(w) = fifo::reopen(self.data.as_fd(), Access::ReadWrite) {
            fifo::ring(w.as_fd());
        }
    }

    /// Rings the senders' doorbell once, from outside the ring (the
    /// broker, after it reaped a dead receiver).
    pub(crate) fn ring_room(&self) {
        if let Ok(r) = fifo::reopen(self.room.as_fd(), Access::Read) {
            fifo::drain(r.as_fd());
        }
    }
}

/// What arming found: the answer of an endpoint's check after it armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// The condition holds already: look again instead of waiting.
    Again,
    /// The peer is gone.
    Gone,
    /// Armed: the doorbell rings when the condition comes true.
    Armed,
}

/// What resetting a doorbell before arming found out about the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerHint {
    /// The kernel says no peer holds the ring's other doorbell: every
    /// sender (for a receiver) or every receiver (for a sender) may be
    /// gone, or none came yet. Worth a liveness check now.
    pub(crate) maybe_gone: bool,
}

/// One look at the other side's liveness (for [`Bell::settle_gone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerProbe {
    /// Every endpoint of the other side is gone.
    Gone,
    /// An endpoint of the other side is still counted: alive, dying, or
    /// being reaped.
    Counted,
    /// No endpoint of the other side came yet.
    NoneYet,
}

/// How long [`Bell::settle_gone`] waits for a hung-up peer's liveness to
/// catch up. Exiting takes microseconds; this bounds a dying process
/// stalled in the kernel, after which the caller says empty or full and
/// the hang-up, still reported, makes its poll return again.
#[cfg(not(shmring_loom))]
const EXIT_SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// One endpoint's doorbells, opened for its side.
pub(crate) struct Bell {
    side: BellSide,
    #[cfg(not(shmring_loom))]
    own: OwnedFd,
    #[cfg(not(shmring_loom))]
    peer: OwnedFd,
    /// Senders, until they have seen a receiver: a reader of `room`.
    #[cfg(not(shmring_loom))]
    placeholder: std::sync::Mutex<Option<OwnedFd>>,
    /// The ring's doorbells, to open one for a moment (`poke_own`).
    bells: Doorbells,
    /// 1 once the descriptor was handed out: `try_*` calls then arm.
    watched: AtomicU32,
}

impl fmt::Debug for Bell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bell")
            .field("side", &self.side)
            .field("watched", &self.is_watched())
            .finish_non_exhaustive()
    }
}

impl Bell {
    /// Whether somebody took this endpoint's descriptor (so that its
    /// `try_*` calls must arm before saying empty or full).
    #[inline(always)]
    pub(crate) fn is_watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed) != 0
    }

    /// Marks the endpoint as waited on by descriptor.
    pub(crate) fn watch(&self) {
        self.watched.store(1, Ordering::Relaxed);
    }

    /// What an endpoint's arming answers when its check found work: the
    /// reset that came first may have taken the descriptor's readiness
    /// while a message (or room) was there, so it is given back (one
    /// system call, on this race only). Without it, a caller that takes
    /// one message per wake-up and waits again would sleep beside a second
    /// message published before the announcement, which rang nobody.
    #[cold]
    pub(crate) fn found_work(&self) -> Look {
        self.poke_own();
        Look::Again
    }

    /// The sender saw a receiver attached: from now on "no reader of
    /// `room`" means every receiver is gone.
    pub(crate) fn peer_seen(&self) {
        #[cfg(not(shmring_loom))]
        if let Ok(mut p) = self.placeholder.lock() {
            p.take();
        }
    }
}

#[cfg(not(shmring_loom))]
impl Bell {
    /// The descriptor to wait on (marks the endpoint as watched).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.watch();
        self.own.as_fd()
    }

    /// Rings the other side's doorbell: called by a waker that cleared
    /// `ARMED`. Bounded work: one write, or at most 16 reads.
    #[cold]
    pub(crate) fn ring_peer(&self) {
        match self.side {
            BellSide::Sender => fifo::ring(self.peer.as_fd()),
            BellSide::Receiver => {
                fifo::drain(self.peer.as_fd());
            }
        }
    }

    /// Makes this endpoint's own descriptor ready, as a peer's ring would
    /// (the watchdog's re-check): a receiver's doorbell gets a byte from a
    /// writer opened for the moment, a sender's is drained by a reader
    /// opened for the moment. Neither can raise `SIGPIPE`: a read-write
    /// description is a reader itself.
    #[cold]
    pub(crate) fn poke_own(&self) {
        match self.side {
            BellSide::Receiver => {
                if let Ok(w) = fifo::reopen(self.bells.data.as_fd(), Access::ReadWrite) {
                    fifo::ring(w.as_fd());
                }
            }
            BellSide::Sender => {
                if let Ok(r) = fifo::reopen(self.bells.room.as_fd(), Access::Read) {
                    fifo::drain(r.as_fd());
                }
            }
        }
    }

    /// Resets this endpoint's own doorbell (step one of arming): a
    /// receiver drains it, a sender fills it.
    #[cold]
    pub(crate) fn reset(&self) -> PeerHint {
        match self.side {
            BellSide::Receiver => PeerHint {
                maybe_gone: fifo::drain(self.own.as_fd()).no_writer,
            },
            BellSide::Sender => PeerHint {
                maybe_gone: !fifo::fill(self.own.as_fd()),
            },
        }
    }

    /// After a reset found no peer holding the other doorbell
    /// ([`PeerHint::maybe_gone`]): whether the other side is gone.
    ///
    /// A dying process lets its files go one at a time, in an order that
    /// differs between kernel versions, so its doorbell can hang up before
    /// its liveness lock is free; and another reaper may hold that lock
    /// for a moment. Saying "empty" then would be wrong and, under a
    /// level-triggered poll that keeps reporting the hang-up, a busy loop.
    /// So while the kernel still says the other end is closed and `probe`
    /// still counts an endpoint there, look again, for at most
    /// `EXIT_SETTLE`. A live peer never holds this up: every endpoint
    /// opens its doorbells before it registers and closes them after it
    /// unregisters, so a live one keeps the other end open.
    #[cold]
    pub(crate) fn settle_gone(&self, mut probe: impl FnMut() -> PeerProbe) -> bool {
        let start = crate::wait::now();
        let mut looks = 0u32;
        loop {
            match probe() {
                PeerProbe::Gone => return true,
                PeerProbe::NoneYet => return false,
                PeerProbe::Counted => {}
            }
            if !fifo::other_end_closed(self.own.as_fd())
                || crate::wait::now().saturating_duration_since(start) >= EXIT_SETTLE
            {
                return false;
            }
            looks += 1;
            if looks < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
    }
}

#[cfg(shmring_loom)]
impl Bell {
    #[cold]
    pub(crate) fn ring_peer(&self) {
        match self.side {
            BellSide::Sender => self.bells.data.raise(),
            BellSide::Receiver => self.bells.room.lower(),
        }
    }

    #[cold]
    pub(crate) fn reset(&self) -> PeerHint {
        match self.side {
            BellSide::Receiver => self.bells.data.lower(),
            BellSide::Sender => self.bells.room.raise(),
        }
        PeerHint { maybe_gone: false }
    }

    /// The models never hang up: one look decides.
    #[cold]
    pub(crate) fn settle_gone(&self, mut probe: impl FnMut() -> PeerProbe) -> bool {
        probe() == PeerProbe::Gone
    }

    /// The model's re-readying of the own doorbell.
    #[cold]
    pub(crate) fn poke_own(&self) {
        match self.side {
            BellSide::Receiver => self.bells.data.poke(self.side),
            BellSide::Sender => self.bells.room.poke(self.side),
        }
    }

    /// Blocks until this endpoint's doorbell says "go" (the model's
    /// `epoll_wait`): data raised for a receiver, room lowered for a sender.
    pub(crate) fn wait(&self) {
        match self.side {
            BellSide::Receiver => self.bells.data.wait_for(true),
            BellSide::Sender => self.bells.room.wait_for(false),
        }
    }
}

#[cfg(shmring_loom)]
impl Doorbells {
    /// Heap doorbells for a model.
    pub(crate) fn on_heap() -> Doorbells {
        Doorbells {
            data: Arc::new(MockFifo::default()),
            room: Arc::new(MockFifo::default()),
        }
    }

    pub(crate) fn bell(&self, side: BellSide) -> std::io::Result<Bell> {
        Ok(Bell {
            side,
            bells: self.clone(),
            watched: AtomicU32::new(0),
        })
    }

    /// Models never make named segments.
    pub(crate) fn create_named(_: &str, _: u64, _: u32) -> Result<Doorbells, rustix::io::Errno> {
        Err(rustix::io::Errno::NOSYS)
    }

    /// Models never open named segments.
    pub(crate) fn open_named(_: &str, _: u64, _: u32) -> Result<Doorbells, rustix::io::Errno> {
        Err(rustix::io::Errno::NOSYS)
    }

    /// Models never make named segments.
    pub(crate) fn unlink_named(_: &str, _: u64) {}

    /// Models never make named segments.
    pub(crate) fn named_files(_: &str, _: u32) -> Vec<String> {
        Vec::new()
    }

    /// Models never make named segments.
    pub(crate) fn unlink_files(_: &[String]) {}
}

/// A FIFO in a loom model: "has bytes" or not, and a futex to sleep on
/// until it changes (a lost ring shows as a loom deadlock).
#[cfg(shmring_loom)]
#[derive(Debug, Default)]
pub(crate) struct MockFifo {
    level: AtomicU32,
}

#[cfg(shmring_loom)]
impl MockFifo {
    fn raise(&self) {
        // SeqCst: a system call (write) on the real FIFO.
        self.level.store(1, Ordering::SeqCst);
        crate::sync::futex_mock::wake(&self.level, u32::MAX, u32::MAX);
    }

    fn lower(&self) {
        self.level.store(0, Ordering::SeqCst);
        crate::sync::futex_mock::wake(&self.level, u32::MAX, u32::MAX);
    }

    /// The model's `poke_own`.
    pub(crate) fn poke(&self, side: BellSide) {
        match side {
            BellSide::Receiver => self.raise(),
            BellSide::Sender => self.lower(),
        }
    }

    fn wait_for(&self, raised: bool) {
        loop {
            let level = self.level.load(Ordering::SeqCst);
            if (level != 0) == raised {
                return;
            }
            crate::sync::futex_mock::wait(&self.level, level, u32::MAX);
        }
    }
}

/// Step two and three of arming (the first is [`Bell::reset`]): announces
/// the waiter in `sleepers` and fences, so that the caller's check of its
/// condition that follows cannot miss a waker that missed the bit.
#[cold]
pub(crate) fn announce(sleepers: &AtomicU32) {
    // Release: the reset before it (drain / fill) happens before the ring
    // of the waker whose Acquire `fetch_and` clears this bit, so the ring
    // cannot be ordered before the reset and be lost in it (real pipes
    // order the two under the pipe lock; the model says why it matters).
    // The ordering against the caller's condition check is the heavy
    // fence's, paired with the waker's light_fence in `wait::notify`.
    sleepers.fetch_or(ARMED, Ordering::Release);
    crate::sync::heavy_fence();
}
