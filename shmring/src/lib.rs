//! Lock-free shared-memory rings for messaging between Linux processes.
//!
//! A ring lives in a POSIX shared-memory segment (or a memfd handed over
//! by the broker). Senders and receivers in any process map it and move
//! messages without a system call; a side that must wait spins, then
//! sleeps on a futex that the other side wakes only when somebody sleeps.
//!
//! Every kind ([`Spsc`], [`Mpmc`]) is a [`Ring`]: opened through one
//! [`RingBuilder`], shaped by one [`RingGeometry`], with endpoints that
//! send through [`MessageSender`] and receive through [`MessageReceiver`]
//! (bring them into scope with `use shmring::prelude::*`).
//!
//! ```
//! use shmring::prelude::*;
//! use shmring::SpscBuilder;
//! let name = format!("crate-doc-{}", std::process::id());
//! let ring = SpscBuilder::new().capacity(1 << 16).create(&name)?;
//! let mut producer = ring.producer()?;
//! // Usually in another process: `SpscBuilder::new().open(&name)?`.
//! let mut consumer = ring.consumer()?;
//! producer.send(b"ping")?;
//! assert_eq!(&*consumer.recv()?, b"ping");
//! shmring::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]
// A loom build leaves out the broker and the administrative view, whose
// accessors are then unused.
#![cfg_attr(shmring_loom, allow(dead_code))]

#[cfg(not(shmring_loom))]
pub mod admin;
#[cfg(not(shmring_loom))]
pub mod broker;
mod channel;
mod error;
mod geometry;
pub mod human;
mod layout;
mod liveness;
#[cfg(not(shmring_loom))]
pub mod mq;
#[cfg(not(shmring_loom))]
pub mod readiness;
mod ring;
mod segment;
mod sync;
mod sys;
mod wait;

pub use channel::any::{AnyGrant, AnyGuard, AnyReceiver, AnyRing, AnySender};
pub use channel::endpoint::{Grant, MessageReceiver, MessageSender, Patience, RecvStop, SendStop};
pub use channel::mpmc::{Mpmc, MpmcBuilder};
pub use channel::open::{OpenMode, Ring, RingBuilder};
pub use channel::pubsub::{Delivery, JoinAt, PubSub, PubSubBuilder};
pub use channel::spsc::{Spsc, SpscBuilder};
pub use channel::traffic::TrafficCounts;
pub use error::{
    AttachError, Corruption, OpenError, RecvError, RecvTimeoutError, RecvValueError, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
pub use geometry::{
    DEFAULT_CAPACITY, DEFAULT_SLOT_SIZE, DEFAULT_SLOTS, DEFAULT_SUBSCRIBERS, InvalidGeometry,
    RingGeometry,
};
pub use layout::RingKind;
#[cfg(not(shmring_loom))]
pub use readiness::{Event, Events, Interest, Poller, Waitable};
/// The message queue's lock on heap memory, for the loom models only.
#[cfg(shmring_loom)]
#[doc(hidden)]
pub use ring::queue_lock::model as queue_lock_model;
/// The message queue's waiting protocol on heap memory, for the loom
/// models only.
#[cfg(shmring_loom)]
#[doc(hidden)]
pub use ring::queue_wait::model as queue_wait_model;
pub use segment::{DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, unlink};
pub use wait::WaitStrategy;
pub use wait::doorbell::Doorbells;

/// The SPSC kind's endpoints: one [`Producer`](spsc::Producer), one
/// [`Consumer`](spsc::Consumer), and what they hand out.
pub mod spsc {
    pub use crate::channel::spsc::{Batch, Consumer, Producer, RecvGuard, WriteGrant};
}

/// The MPMC kind's endpoints: any number of [`Sender`](mpmc::Sender)s and
/// [`Receiver`](mpmc::Receiver)s, and what they hand out.
pub mod mpmc {
    pub use crate::channel::mpmc::{
        OwnedSlotGrant, OwnedSlotGuard, Receiver, Recovered, Sender, SlotGrant, SlotGrantOf,
        SlotGuard, SlotGuardOf,
    };
}

/// The publish/subscribe kind's endpoints: one
/// [`Publisher`](pubsub::Publisher), up to `subscribers`
/// [`Subscriber`](pubsub::Subscriber)s, and what they hand out.
pub mod pubsub {
    pub use crate::channel::pubsub::{
        Delivery, JoinAt, PublishGrant, Publisher, Subscriber, SubscriberGuard, SubscriberState,
    };
}

/// The traits every endpoint is used through.
pub mod prelude {
    pub use crate::{Grant, MessageReceiver, MessageSender, Ring};
}

// The SPSC endpoints keep their short names at the root: they say their
// kind (an MPMC queue has no producer or consumer).
pub use spsc::{Consumer, Producer};
