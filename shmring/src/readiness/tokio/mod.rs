//! Async endpoints on tokio (feature `tokio`): [`AsyncReceiver`] over any
//! receiving endpoint, [`AsyncSender`] over any sending one, written once
//! over [`MessageReceiver`](crate::MessageReceiver) /
//! [`MessageSender`](crate::MessageSender) and [`Waitable`].
//!
//! Each wraps the endpoint and registers (a duplicate of) its descriptor
//! with tokio's reactor through [`AsyncFd`], then follows the rule of
//! [`readiness`](crate::readiness):
//!
//! ```text
//! loop {
//!     try_recv (try_send)          -> a message (room): done
//!                                  -> empty (full): the endpoint armed its doorbell
//!     wait until the descriptor is readable (writable), or hung up
//!     clear tokio's readiness, and try again
//! }
//! ```
//!
//! The first look is a `try_*` call, made before anything is awaited, so
//! a message sent before the descriptor was taken is not waited for. An
//! empty (full) `try_*` call has armed the doorbell before it said so,
//! and tokio's readiness is cleared only after such a call: a message
//! (room) that comes after it rings a doorbell that is already watched,
//! and one that came before it is found by the next `try_*` call. So no
//! wake-up is lost.
//!
//! # Cancellation safety
//!
//! Every future here is cancellation safe. A message is taken (or room is
//! claimed) only inside a synchronous `try_*` call, and handed over (or
//! written and published) in the same poll that took it: a future that is
//! dropped before it completes, for instance the losing branch of
//! `tokio::select!`, has received nothing (the message stays in the ring
//! for the next call) or sent nothing (and holds no room).
//!
//! # Costs
//!
//! Taking the descriptor puts the endpoint in *descriptor mode* for good
//! (see [`readiness`](crate::readiness)): a `try_*` call that finds it
//! empty (full) arms the doorbell, which costs a system call or two, and
//! its peers ring it (one system call) only when it is armed. While
//! messages flow, nothing changes: no system call per message.
//!
//! ```
//! use shmring::prelude::*;
//! use shmring::readiness::tokio::AsyncReceiver;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let name = format!("doc-tokio-{}", std::process::id());
//! let ring = shmring::Spsc::create(&name)?;
//! let mut producer = ring.producer()?;
//! let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
//! let thread = std::thread::spawn(move || {
//!     for i in 0u32..100 {
//!         producer.send(&i.to_le_bytes()).unwrap();
//!     }
//! });
//! for i in 0u32..100 {
//!     assert_eq!(consumer.recv().await?, i.to_le_bytes());
//! }
//! thread.join().unwrap();
//! // The producer is gone: end of file.
//! assert!(matches!(
//!     consumer.recv().await,
//!     Err(shmring::readiness::tokio::AsyncRecvError::Disconnected)
//! ));
//! # shmring::unlink(&name)?;
//! # Ok(()) }
//! ```

use crate::readiness::Waitable;
use rustix::fd::{BorrowedFd, OwnedFd};
use std::fmt;
use std::io;
use std::task::{Context, Poll, ready};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

mod error;
mod receiver;
mod sender;

pub use error::{AsyncRecvError, AsyncSendError};
pub use receiver::AsyncReceiver;
pub use sender::AsyncSender;

/// An endpoint's descriptor, registered with the reactor of the runtime
/// it was made in.
///
/// It registers a duplicate of the endpoint's descriptor (the same open
/// file, so the same readiness): `epoll` takes a descriptor number once
/// per instance, and the clones of an MPMC endpoint share one descriptor,
/// so each async endpoint over a clone needs a number of its own.
struct Registration {
    fd: AsyncFd<OwnedFd>,
    interest: Interest,
    /// The reactor reported a hang-up (receivers: every sender gone) or an
    /// error (senders: every receiver gone) on this registration. tokio
    /// keeps such "closed" readiness for good, so should the endpoint
    /// then say empty (full) again (a peer came back, as MPMC senders and
    /// receivers may), the descriptor is registered afresh before the
    /// next wait rather than reported ready forever.
    closed: bool,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", self.fd.get_ref())
            .field("interest", &self.interest)
            .field("closed", &self.closed)
            .finish()
    }
}

/// Registers `fd` with the current runtime's reactor.
///
/// Recent tokio releases (1.51.6, 1.53.3, 1.54) deprecate this safe
/// constructor because an arbitrary `T: AsRawFd` might close or change its
/// descriptor while it is registered (I/O safety, tokio#8587), and offer
/// an `unsafe` one instead (`AsyncFd::register_with_interest`). The
/// contract that one asks for holds here by construction: the registered
/// value is an `OwnedFd` that only this module holds and never replaces,
/// so its descriptor stays open and the same until the `AsyncFd` is
/// dropped. Calling the safe constructor keeps the crate's rule of no
/// `unsafe` outside `sys/`.
#[allow(deprecated)]
fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    AsyncFd::with_interest(fd, interest)
}

impl Registration {
    fn new<E: Waitable>(endpoint: &E) -> io::Result<Registration> {
        let interest = if E::INTEREST.readable {
            Interest::READABLE
        } else {
            Interest::WRITABLE
        };
        // Taking the descriptor (`as_fd`) switches the endpoint to
        // descriptor mode: its empty (full) `try_*` calls arm from now on.
        let fd = register(endpoint.as_fd().try_clone_to_owned()?, interest)?;
        Ok(Registration {
            fd,
            interest,
            closed: false,
        })
    }

    /// Waits until the descriptor is ready, then clears tokio's readiness:
    /// called only after a `try_*` call said empty (full), and so armed.
    /// `endpoint` is the endpoint's own descriptor, duplicated again should
    /// the registration need renewing.
    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        endpoint: BorrowedFd<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closed {
            // Registered first, so that the old one is dropped (and
            // deregistered) only once the new one exists; a failure keeps
            // the old one and says why.
            self.fd = register(endpoint.try_clone_to_owned()?, self.interest)?;
            self.closed = false;
        }
        let mut guard = if self.interest.is_readable() {
            ready!(self.fd.poll_read_ready(cx))?
        } else {
            ready!(self.fd.poll_write_ready(cx))?
        };
        let ready = guard.ready();
        self.closed = ready.is_read_closed() || ready.is_write_closed();
        guard.clear_ready();
        Poll::Ready(Ok(()))
    }
}
