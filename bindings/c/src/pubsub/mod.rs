//! Publish/subscribe endpoints: `shmring_publisher` and
//! `shmring_subscriber`.
//!
//! The publisher keeps a reservation as the SPSC producer does: a claim
//! publishes nothing until it is committed, and claiming again before
//! anything was published gives the same slot (the next sequence number
//! is unchanged; a lossless claim only finds more room as subscribers
//! move on, and a subscriber joining meanwhile starts past that slot; a
//! lossy claim stamps the slot busy again with the same stamp). So
//! `reserve` takes a grant, notes the address and lets it go; `commit`
//! claims the same slot again and commits that; `cancel` only forgets
//! it. In a lossy ring the first claim has already stamped the slot busy:
//! the message it held before is no longer delivered (a subscriber still
//! a ring behind is told it lost it), and the next message takes the slot.
//!
//! A subscriber keeps a message (peeked, or too long for the caller's
//! buffer) in one of two ways, by delivery:
//!
//! | delivery | where a kept message is | `release` |
//! |----------|-------------------------|-----------|
//! | lossless | in its slot: the guard is forgotten, the cursor stays, and no slot is written again before every live subscriber has passed it | receives it again and drops the guard (the SPSC consumer's way) |
//! | lossy    | in this handle's buffer: the publisher may overwrite any slot at any moment, so every message is taken (the core copies it out and validates the copy), copied into the handle and the cursor moved on | lets the buffer go |
//!
//! The lossy copy into the handle is made for every message, not only
//! for a kept one: a peek hands out the address of the bytes before it
//! knows whether they are kept, and that address must stay valid, which
//! only the handle's own buffer does.

mod publisher;
mod subscriber;

pub use publisher::*;
pub use subscriber::*;

use shmring_core::pubsub::{Publisher, Subscriber};

/// The publishing end of a publish/subscribe ring (one per ring at a
/// time). Each message is written once, whatever the number of
/// subscribers.
///
/// Thread safety: may move between threads, but is used by one thread at
/// a time, close included (no lock; a concurrent call is usually refused
/// with `SHMRING_E_BUSY`, not reliably).
/// Closing it is the end of file for the subscribers.
#[derive(Debug)]
pub struct shmring_publisher {
    _opaque: [u8; 0],
}

/// One subscriber of a publish/subscribe ring (up to the ring's
/// `subscribers` at a time); it receives every message published after it
/// joined. Same thread rules as `shmring_publisher`; open one subscriber
/// per receiving thread.
#[derive(Debug)]
pub struct shmring_subscriber {
    _opaque: [u8; 0],
}

/// `shmring_subscriber_open`: start at the next message published.
pub const SHMRING_JOIN_NEXT: u32 = 0;
/// `shmring_subscriber_open`: start at the oldest message the ring still
/// holds (up to `slots - 1` messages published before joining).
pub const SHMRING_JOIN_OLDEST: u32 = 1;

/// A publisher in its handle slot.
#[derive(Debug)]
pub(crate) struct PublisherEntry {
    publisher: Publisher,
    /// An open reservation: its length and the address of its bytes.
    reserved: Option<(usize, usize)>,
}

/// A subscriber in its handle slot.
#[derive(Debug)]
pub(crate) struct SubscriberEntry {
    subscriber: Subscriber,
    lossy: bool,
    /// A message handed out by `peek` and not yet released.
    peeked: bool,
    /// Lossy: the last message taken, a validated copy.
    copy: Vec<u8>,
    /// Lossy: `copy` is kept (peeked, or too long for the last buffer).
    kept: bool,
}
