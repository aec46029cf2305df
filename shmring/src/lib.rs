//! Lock-free shared-memory rings for messaging between Linux processes.
//!
//! A ring lives in a POSIX shared-memory segment (or a memfd handed over
//! by the broker). Senders and receivers in any process map it and move
//! messages without a system call; a side that must wait spins, then
//! sleeps on a futex that the other side wakes only when somebody sleeps.
//!
//! ```
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

#[cfg(not(shmring_loom))]
pub mod broker;
mod channel;
mod layout;
mod liveness;
mod ring;
mod segment;
mod sync;
mod sys;
mod wait;

pub use channel::error::{
    AttachError, Corruption, OpenError, RecvError, RecvTimeoutError, RecvValueError, SendError,
    SendTimeoutError, TryRecvError, TrySendError,
};
pub use channel::mpmc::{Mpmc, MpmcBuilder, Receiver, Recovered, Sender, SlotGrant, SlotGuard};
pub use channel::spsc::{
    Batch, Consumer, DEFAULT_CAPACITY, Producer, RecvGuard, Spsc, SpscBuilder, WriteGrant,
};
pub use layout::RingKind;
pub use segment::{DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, unlink};
pub use wait::WaitStrategy;
