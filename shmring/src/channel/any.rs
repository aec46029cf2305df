//! A ring whose kind is chosen at run time (the command-line tool, the C
//! binding, harnesses driven by flags): one enum over the kinds, as
//! crossbeam-channel's flavors, so that such callers hold one path. Adding
//! a kind adds one variant and one arm per match here.

use crate::channel::endpoint::{
    Grant, MessageReceiver, MessageSender, Patience, RecvStop, SendStop, sealed::Sealed,
};
use crate::channel::mpmc::{Mpmc, Receiver, Sender, SlotGrant, SlotGuard};
use crate::channel::open::{OpenMode, Ring, RingBuilder};
use crate::channel::pubsub::{PubSub, PublishGrant, Publisher, Subscriber, SubscriberGuard};
use crate::channel::spsc::{Consumer, Producer, RecvGuard, Spsc, WriteGrant};
use crate::error::{AttachError, OpenError, RecvError, RecvValueError, TryRecvError};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::wait::doorbell::Doorbells;
use rustix::fd::OwnedFd;
#[cfg(not(shmring_loom))]
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ops::{Deref, DerefMut};

/// An open ring of any kind.
///
/// ```
/// use shmring::{AnyRing, MessageReceiver, MessageSender, OpenMode, RingGeometry};
/// let name = format!("doc-any-{}", std::process::id());
/// let made = AnyRing::open_named(&name, OpenMode::Create, RingGeometry::mpmc(64, 32))?;
/// // Someone who only knows the name finds out the kind from the header.
/// let ring = AnyRing::open(&name)?;
/// assert_eq!(ring.geometry(), made.geometry());
/// let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
/// tx.send(b"any").map_err(|e| e.without_message())?;
/// assert_eq!(&*rx.recv()?, b"any");
/// shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum AnyRing {
    /// An SPSC ring.
    Spsc(Spsc),
    /// An MPMC queue.
    Mpmc(Mpmc),
    /// A publish/subscribe ring.
    PubSub(PubSub),
}

/// Applies one expression to whichever kind `$any` holds.
macro_rules! each_kind {
    ($any:expr, $ty:ident, $bind:ident => $body:expr) => {
        match $any {
            $ty::Spsc($bind) => $body,
            $ty::Mpmc($bind) => $body,
            $ty::PubSub($bind) => $body,
        }
    };
}

impl AnyRing {
    /// Opens the named ring, of whatever kind its header says, with
    /// default options.
    pub fn open(name: &str) -> Result<AnyRing, OpenError> {
        let shape = RingGeometry::default_for(RingKind::Spsc);
        AnyRing::open_named(name, OpenMode::Open, shape)
    }

    /// A named ring with default options: made with `shape` (whose kind
    /// it is) or opened with whatever kind its header says.
    pub fn open_named(
        name: &str,
        mode: OpenMode,
        shape: RingGeometry,
    ) -> Result<AnyRing, OpenError> {
        AnyRing::open_with(&RingBuilder::<Spsc>::new().geometry(shape), name, mode)
    }

    /// A named ring with the options of `builder` (whose shape is used
    /// when the ring is made, and whose kind parameter does not matter).
    pub fn open_with<R: Ring>(
        builder: &RingBuilder<R>,
        name: &str,
        mode: OpenMode,
    ) -> Result<AnyRing, OpenError> {
        let kind = match mode {
            OpenMode::Open => RingKind::Spsc,
            OpenMode::Create | OpenMode::CreateOrOpen => builder.shape().kind(),
        };
        let first = AnyRing::open_kind(
            builder,
            kind,
            |b| b.open_named(name, mode),
            |b| b.open_named(name, mode),
            |b| b.open_named(name, mode),
        );
        match first {
            // Opened something of another kind: open it as that.
            Err(OpenError::WrongKind { found, .. }) if found != kind => AnyRing::open_kind(
                builder,
                found,
                |b| b.open(name),
                |b| b.open(name),
                |b| b.open(name),
            ),
            other => other,
        }
    }

    /// Adopts a descriptor (see [`RingBuilder::from_fd`]) of whatever
    /// kind its header says.
    pub fn from_fd<R: Ring>(
        builder: &RingBuilder<R>,
        fd: OwnedFd,
        bells: Doorbells,
    ) -> Result<AnyRing, OpenError> {
        let spare = fd.try_clone().map_err(OpenError::Io)?;
        match builder.retype::<Spsc>().from_fd(fd, bells.clone()) {
            Err(OpenError::WrongKind {
                found: RingKind::Mpmc,
                ..
            }) => builder
                .retype::<Mpmc>()
                .from_fd(spare, bells)
                .map(AnyRing::Mpmc),
            Err(OpenError::WrongKind {
                found: RingKind::PubSub,
                ..
            }) => builder
                .retype::<PubSub>()
                .from_fd(spare, bells)
                .map(AnyRing::PubSub),
            other => other.map(AnyRing::Spsc),
        }
    }

    fn open_kind<R: Ring>(
        builder: &RingBuilder<R>,
        kind: RingKind,
        spsc: impl FnOnce(RingBuilder<Spsc>) -> Result<Spsc, OpenError>,
        mpmc: impl FnOnce(RingBuilder<Mpmc>) -> Result<Mpmc, OpenError>,
        pubsub: impl FnOnce(RingBuilder<PubSub>) -> Result<PubSub, OpenError>,
    ) -> Result<AnyRing, OpenError> {
        match kind {
            RingKind::Spsc => spsc(builder.retype()).map(AnyRing::Spsc),
            RingKind::Mpmc => mpmc(builder.retype()).map(AnyRing::Mpmc),
            RingKind::PubSub => pubsub(builder.retype()).map(AnyRing::PubSub),
        }
    }

    /// The ring kind.
    pub fn kind(&self) -> RingKind {
        match self {
            AnyRing::Spsc(_) => RingKind::Spsc,
            AnyRing::Mpmc(_) => RingKind::Mpmc,
            AnyRing::PubSub(_) => RingKind::PubSub,
        }
    }

    /// Attaches a sending endpoint (the SPSC producer role, an MPMC
    /// sender, or the publisher role).
    pub fn sender(&self) -> Result<AnySender, AttachError> {
        Ok(match self {
            AnyRing::Spsc(r) => AnySender::Spsc(r.producer()?),
            AnyRing::Mpmc(r) => AnySender::Mpmc(r.sender()?),
            AnyRing::PubSub(r) => AnySender::PubSub(r.publisher()?),
        })
    }

    /// Attaches a receiving endpoint (a subscriber starts at the next
    /// message).
    pub fn receiver(&self) -> Result<AnyReceiver, AttachError> {
        Ok(match self {
            AnyRing::Spsc(r) => AnyReceiver::Spsc(r.consumer()?),
            AnyRing::Mpmc(r) => AnyReceiver::Mpmc(r.receiver()?),
            AnyRing::PubSub(r) => AnyReceiver::PubSub(r.subscriber()?),
        })
    }

    /// The ring's shape.
    pub fn geometry(&self) -> RingGeometry {
        each_kind!(self, AnyRing, r => Ring::geometry(r))
    }

    /// Messages sent and not yet received.
    pub fn messages_in_flight(&self) -> u64 {
        each_kind!(self, AnyRing, r => Ring::messages_in_flight(r))
    }

    /// The ring's traffic since it was created ([`Ring::traffic`]).
    pub fn traffic(&self) -> crate::TrafficCounts {
        each_kind!(self, AnyRing, r => Ring::traffic(r))
    }

    /// The name the segment was created or opened by.
    pub fn name(&self) -> Option<&str> {
        each_kind!(self, AnyRing, r => Ring::name(r))
    }

    /// The ring's doorbells.
    pub fn doorbells(&self) -> &Doorbells {
        each_kind!(self, AnyRing, r => Ring::doorbells(r))
    }
}

impl From<Spsc> for AnyRing {
    fn from(ring: Spsc) -> AnyRing {
        AnyRing::Spsc(ring)
    }
}

impl From<Mpmc> for AnyRing {
    fn from(ring: Mpmc) -> AnyRing {
        AnyRing::Mpmc(ring)
    }
}

impl From<PubSub> for AnyRing {
    fn from(ring: PubSub) -> AnyRing {
        AnyRing::PubSub(ring)
    }
}

/// The sending endpoint of a ring of any kind.
#[derive(Debug)]
pub enum AnySender {
    /// An SPSC producer.
    Spsc(Producer),
    /// An MPMC sender.
    Mpmc(Sender),
    /// A publisher.
    PubSub(Publisher),
}

/// The receiving endpoint of a ring of any kind.
#[derive(Debug)]
pub enum AnyReceiver {
    /// An SPSC consumer.
    Spsc(Consumer),
    /// An MPMC receiver.
    Mpmc(Receiver),
    /// A subscriber.
    PubSub(Subscriber),
}

/// Room reserved in a ring of any kind.
#[derive(Debug)]
pub enum AnyGrant<'a> {
    /// In an SPSC ring.
    Spsc(WriteGrant<'a>),
    /// In an MPMC queue.
    Mpmc(SlotGrant<'a>),
    /// In a publish/subscribe ring.
    PubSub(PublishGrant<'a>),
}

/// A message received from a ring of any kind.
#[derive(Debug)]
pub enum AnyGuard<'a> {
    /// From an SPSC ring.
    Spsc(RecvGuard<'a>),
    /// From an MPMC queue.
    Mpmc(SlotGuard<'a>),
    /// From a publish/subscribe ring.
    PubSub(SubscriberGuard<'a>),
}

impl Sealed for AnySender {}
impl Sealed for AnyReceiver {}

impl MessageSender for AnySender {
    type Grant<'a> = AnyGrant<'a>;

    #[inline]
    fn send_within(&mut self, msg: &[u8], patience: Patience) -> Result<(), SendStop> {
        each_kind!(self, AnySender, s => MessageSender::send_within(s, msg, patience))
    }

    fn reserve_within(&mut self, len: usize, patience: Patience) -> Result<AnyGrant<'_>, SendStop> {
        Ok(match self {
            AnySender::Spsc(s) => AnyGrant::Spsc(s.reserve_within(len, patience)?),
            AnySender::Mpmc(s) => AnyGrant::Mpmc(Sender::reserve_within(s, len, patience)?),
            AnySender::PubSub(s) => AnyGrant::PubSub(s.reserve_within(len, patience)?),
        })
    }

    fn max_message(&self) -> u64 {
        each_kind!(self, AnySender, s => MessageSender::max_message(s))
    }
}

impl MessageReceiver for AnyReceiver {
    type Guard<'a> = AnyGuard<'a>;

    #[inline]
    fn recv_within(&mut self, patience: Patience) -> Result<AnyGuard<'_>, RecvStop> {
        Ok(match self {
            AnyReceiver::Spsc(r) => AnyGuard::Spsc(r.recv_within(patience)?),
            AnyReceiver::Mpmc(r) => AnyGuard::Mpmc(Receiver::recv_within(r, patience)?),
            AnyReceiver::PubSub(r) => AnyGuard::PubSub(r.recv_within(patience)?),
        })
    }

    fn max_message(&self) -> u64 {
        each_kind!(self, AnyReceiver, r => MessageReceiver::max_message(r))
    }

    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        each_kind!(self, AnyReceiver, r => MessageReceiver::recv_into(r, buf))
    }

    fn recv_value<T: bytemuck::Pod>(&mut self) -> Result<T, RecvValueError> {
        each_kind!(self, AnyReceiver, r => MessageReceiver::recv_value(r))
    }

    fn try_drain(&mut self, max: usize, f: impl FnMut(&[u8])) -> Result<usize, TryRecvError> {
        each_kind!(self, AnyReceiver, r => MessageReceiver::try_drain(r, max, f))
    }
}

impl Grant for AnyGrant<'_> {
    fn commit(self) {
        each_kind!(self, AnyGrant, g => g.commit())
    }

    fn commit_len(self, len: usize) {
        each_kind!(self, AnyGrant, g => g.commit_len(len))
    }
}

impl Deref for AnyGrant<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        each_kind!(self, AnyGrant, g => g)
    }
}

impl DerefMut for AnyGrant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        each_kind!(self, AnyGrant, g => g)
    }
}

impl Deref for AnyGuard<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        each_kind!(self, AnyGuard, g => g)
    }
}

/// The endpoint's descriptor (see [`Consumer`]'s and [`Receiver`]'s).
#[cfg(not(shmring_loom))]
impl AsFd for AnyReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        each_kind!(self, AnyReceiver, r => r.as_fd())
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for AnyReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The endpoint's descriptor (see [`Producer`]'s and [`Sender`]'s).
#[cfg(not(shmring_loom))]
impl AsFd for AnySender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        each_kind!(self, AnySender, s => s.as_fd())
    }
}

#[cfg(not(shmring_loom))]
impl AsRawFd for AnySender {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
