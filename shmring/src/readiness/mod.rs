//! Waiting on endpoints like on files: each endpoint's descriptor
//! ([`Waitable`]), a [`Poller`] over many endpoints and foreign
//! descriptors, and (feature `tokio`) async endpoints.
//!
//! Every endpoint has a descriptor (`AsFd`): a receiver's polls readable
//! when a message is waiting and hangs up (POLLHUP) once every sender is
//! gone; a sender's polls writable while there is room and reports an
//! error (POLLERR) once every receiver is gone, as a pipe's two ends do.
//!
//! **The rule**: call `try_recv` (or `try_send`) until it says empty (or
//! full), then wait on the descriptor. An endpoint whose descriptor was
//! taken arms it before its `try_*` call says empty or full, so the
//! descriptor cannot miss the message that comes next; until then it
//! stays ready. This is the contract of every non-blocking socket, and
//! the library's own helpers ([`Poller`], the tokio endpoints, `shmring
//! recv` over several rings) follow it. How arming works, and why it
//! cannot lose a wake-up, is in `wait/doorbell.rs` and
//! `docs/architecture.md`.
//!
//! Nothing changes for a program that never takes a descriptor: its
//! senders make no system call per message, as before.

mod poller;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use poller::{Event, Events, Poller};

use crate::channel::any::{AnyReceiver, AnySender};
use crate::channel::mpmc::{Receiver, Sender};
use crate::channel::pubsub::{Publisher, Subscriber};
use crate::channel::spsc::{Consumer, Producer};
use rustix::fd::AsFd;

/// What a descriptor is waited on for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// Readable (POLLIN).
    pub readable: bool,
    /// Writable (POLLOUT).
    pub writable: bool,
}

impl Interest {
    /// Readable: what a receiving endpoint waits for.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    /// Writable: what a sending endpoint waits for.
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    /// Either.
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };
}

/// An endpoint that can be waited on by descriptor: every receiver and
/// every sender of every kind.
pub trait Waitable: AsFd {
    /// What its descriptor reports when there is something to do:
    /// readable for receivers, writable for senders.
    const INTEREST: Interest;
}

impl Waitable for Consumer {
    const INTEREST: Interest = Interest::READABLE;
}

impl Waitable for Receiver {
    const INTEREST: Interest = Interest::READABLE;
}

impl Waitable for Subscriber {
    const INTEREST: Interest = Interest::READABLE;
}

impl Waitable for AnyReceiver {
    const INTEREST: Interest = Interest::READABLE;
}

impl Waitable for Producer {
    const INTEREST: Interest = Interest::WRITABLE;
}

impl Waitable for Sender {
    const INTEREST: Interest = Interest::WRITABLE;
}

impl Waitable for Publisher {
    const INTEREST: Interest = Interest::WRITABLE;
}

impl Waitable for AnySender {
    const INTEREST: Interest = Interest::WRITABLE;
}
