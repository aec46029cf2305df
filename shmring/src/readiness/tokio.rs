//! Async endpoints on tokio (feature `tokio`): [`AsyncReceiver`] over any
//! receiving endpoint, [`AsyncSender`] over any sending one, written once
//! over [`MessageReceiver`] / [`MessageSender`] and [`Waitable`].
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

use crate::channel::endpoint::{
    Grant, MessageReceiver, MessageSender, Patience, RecvStop, SendStop,
};
use crate::error::{Corruption, RecvError, SendError};
use crate::readiness::Waitable;
use futures_core::Stream;
use futures_core::stream::FusedStream;
use rustix::fd::{BorrowedFd, OwnedFd};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

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

/// Why an async receive returned no message.
#[derive(Debug)]
pub enum AsyncRecvError {
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// The reactor failed: the runtime is shutting down, or the descriptor
    /// could not be registered again (see [`AsyncReceiver`]).
    Io(io::Error),
}

impl fmt::Display for AsyncRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncRecvError::Disconnected => f.write_str("the sending side is gone"),
            AsyncRecvError::Corrupt(c) => c.fmt(f),
            AsyncRecvError::Io(e) => write!(f, "waiting for the endpoint's descriptor: {e}"),
        }
    }
}

impl std::error::Error for AsyncRecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AsyncRecvError::Disconnected => None,
            AsyncRecvError::Corrupt(c) => Some(c),
            AsyncRecvError::Io(e) => Some(e),
        }
    }
}

impl From<RecvError> for AsyncRecvError {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Disconnected => AsyncRecvError::Disconnected,
            RecvError::Corrupt(c) => AsyncRecvError::Corrupt(c),
        }
    }
}

impl From<io::Error> for AsyncRecvError {
    fn from(e: io::Error) -> Self {
        AsyncRecvError::Io(e)
    }
}

/// An async send failed; the message is handed back.
pub enum AsyncSendError<T> {
    /// The receiving side is gone.
    Disconnected(T),
    /// Longer than the ring's maximum message size.
    TooLarge(T),
    /// The ring's shared state is invalid.
    Corrupt(T, Corruption),
    /// The reactor failed: the runtime is shutting down, or the descriptor
    /// could not be registered again (see [`AsyncSender`]).
    Io(T, io::Error),
}

impl<T> AsyncSendError<T> {
    /// The message that was not sent.
    ///
    /// ```
    /// # use shmring::readiness::tokio::{AsyncSendError, AsyncSender};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-send-error-{}", std::process::id());
    /// let ring = shmring::SpscBuilder::new().capacity(256).create(&name)?;
    /// let mut producer = AsyncSender::new(ring.producer()?)?;
    /// let big = [7u8; 100]; // the largest message is 64 bytes
    /// let err = producer.send(&big).await.unwrap_err();
    /// assert!(matches!(err, AsyncSendError::TooLarge(_)));
    /// assert_eq!(err.into_inner().len(), 100);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            AsyncSendError::Disconnected(t)
            | AsyncSendError::TooLarge(t)
            | AsyncSendError::Corrupt(t, _)
            | AsyncSendError::Io(t, _) => t,
        }
    }

    /// The same error with the message mapped by `f`.
    ///
    /// ```
    /// # use shmring::readiness::tokio::AsyncSendError;
    /// let err = AsyncSendError::Disconnected(&b"hello"[..]);
    /// let owned: AsyncSendError<Vec<u8>> = err.map(<[u8]>::to_vec);
    /// assert_eq!(owned.into_inner(), b"hello");
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> AsyncSendError<U> {
        match self {
            AsyncSendError::Disconnected(t) => AsyncSendError::Disconnected(f(t)),
            AsyncSendError::TooLarge(t) => AsyncSendError::TooLarge(f(t)),
            AsyncSendError::Corrupt(t, c) => AsyncSendError::Corrupt(f(t), c),
            AsyncSendError::Io(t, e) => AsyncSendError::Io(f(t), e),
        }
    }

    /// The same error without the message: for `?` into an error type
    /// that must not borrow (`Box<dyn Error>`).
    ///
    /// ```
    /// # use shmring::readiness::tokio::AsyncSendError;
    /// let err = AsyncSendError::Disconnected(&b"hello"[..]);
    /// let boxed: Box<dyn std::error::Error> = err.without_message().into();
    /// assert_eq!(boxed.to_string(), "the receiving side is gone");
    /// ```
    pub fn without_message(self) -> AsyncSendError<()> {
        self.map(|_| ())
    }
}

impl<T> From<SendError<T>> for AsyncSendError<T> {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Disconnected(t) => AsyncSendError::Disconnected(t),
            SendError::TooLarge(t) => AsyncSendError::TooLarge(t),
            SendError::Corrupt(t, c) => AsyncSendError::Corrupt(t, c),
        }
    }
}

impl<T> fmt::Debug for AsyncSendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncSendError::Disconnected(_) => f.write_str("AsyncSendError::Disconnected(..)"),
            AsyncSendError::TooLarge(_) => f.write_str("AsyncSendError::TooLarge(..)"),
            AsyncSendError::Corrupt(_, c) => write!(f, "AsyncSendError::Corrupt(.., {c:?})"),
            AsyncSendError::Io(_, e) => write!(f, "AsyncSendError::Io(.., {e:?})"),
        }
    }
}

impl<T> fmt::Display for AsyncSendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncSendError::Disconnected(_) => f.write_str("the receiving side is gone"),
            AsyncSendError::TooLarge(_) => {
                f.write_str("the message is larger than the ring's maximum message size")
            }
            AsyncSendError::Corrupt(..) => f.write_str("the ring's shared state is corrupt"),
            AsyncSendError::Io(_, e) => write!(f, "waiting for the endpoint's descriptor: {e}"),
        }
    }
}

impl<T> std::error::Error for AsyncSendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AsyncSendError::Corrupt(_, c) => Some(c),
            AsyncSendError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Receives from any receiving endpoint (SPSC [`Consumer`], MPMC
/// [`Receiver`], [`AnyReceiver`]) in a tokio task, without blocking a
/// thread while it waits.
///
/// Also a [`Stream`] of owned messages that ends at end of file.
/// Every future it returns is cancellation safe (see the
/// [module](self)).
///
/// The clones of an MPMC receiver can each be wrapped, in one runtime or
/// in several: each registers a descriptor of its own.
///
/// [`Consumer`]: crate::Consumer
/// [`Receiver`]: crate::mpmc::Receiver
/// [`AnyReceiver`]: crate::AnyReceiver
///
/// ```
/// use shmring::prelude::*;
/// use shmring::readiness::tokio::AsyncReceiver;
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-tokio-stream-{}", std::process::id());
/// let queue = shmring::Mpmc::create(&name)?;
/// let sender = queue.sender()?;
/// let mut messages = AsyncReceiver::new(queue.receiver()?)?;
/// std::thread::spawn(move || {
///     sender.send(b"one").unwrap();
///     sender.send(b"two").unwrap();
/// });
/// // As a stream (`StreamExt::next` of futures or tokio-stream does this).
/// let mut got = Vec::new();
/// while let Some(message) =
///     poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut messages), cx)).await
/// {
///     got.push(message?);
/// }
/// assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
/// # shmring::unlink(&name)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncReceiver<R> {
    // Declared first, so dropped (deregistered) before the endpoint.
    registration: Registration,
    /// The stream ended: it said end of file or yielded an error.
    terminated: bool,
    endpoint: R,
}

impl<R: MessageReceiver + Waitable> AsyncReceiver<R> {
    /// Wraps `endpoint`, registering its descriptor with the reactor of the
    /// current tokio runtime, which must have I/O enabled. Use the receiver
    /// from within that runtime (its tasks, or its `block_on`): after its
    /// senders hung up it may register its descriptor again, which needs
    /// the runtime's context.
    ///
    /// Fails if the descriptor cannot be duplicated or registered (no
    /// descriptor left, `epoll` limits); the endpoint is then dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one built without I/O
    /// (`enable_io`/`enable_all`), as [`AsyncFd`] does.
    ///
    /// ```
    /// use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-new-{}", std::process::id());
    /// let ring = shmring::Spsc::create(&name)?;
    /// let consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// # drop(consumer);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn new(endpoint: R) -> io::Result<AsyncReceiver<R>> {
        Ok(AsyncReceiver {
            registration: Registration::new(&endpoint)?,
            terminated: false,
            endpoint,
        })
    }

    /// The loop of every receiving call: `f` sees the message in place, in
    /// the poll that takes it.
    fn poll_take<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: &mut Option<impl FnOnce(&[u8]) -> T>,
    ) -> Poll<Result<T, AsyncRecvError>> {
        loop {
            match self.endpoint.recv_within(Patience::NoWait) {
                Ok(message) => {
                    let f = f
                        .take()
                        .expect("a receive is not polled after it completed");
                    return Poll::Ready(Ok(f(&message)));
                }
                // Empty: armed. (`Timeout` is not said without a deadline.)
                Err(RecvStop::Empty | RecvStop::Timeout) => {}
                Err(RecvStop::Disconnected) => {
                    return Poll::Ready(Err(AsyncRecvError::Disconnected));
                }
                Err(RecvStop::Corrupt(c)) => return Poll::Ready(Err(AsyncRecvError::Corrupt(c))),
            }
            ready!(self.registration.poll_wait(cx, self.endpoint.as_fd()))?;
        }
    }

    /// Polls for the next message and hands it to `f` in place (without a
    /// copy) before it is freed; `f` is called only if a message was
    /// taken, in this poll. For hand-written futures; [`recv_with`] is the
    /// `async` form.
    ///
    /// [`recv_with`]: Self::recv_with
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-poll-recv-with-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(b"abc")?;
    /// let len = std::future::poll_fn(|cx| consumer.poll_recv_with(cx, |m| m.len())).await?;
    /// assert_eq!(len, 3);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn poll_recv_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Poll<Result<T, AsyncRecvError>> {
        self.poll_take(cx, &mut Some(f))
    }

    /// Polls for the next message, copied out. For hand-written futures;
    /// [`recv`](Self::recv) is the `async` form.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-poll-recv-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(b"abc")?;
    /// assert_eq!(std::future::poll_fn(|cx| consumer.poll_recv(cx)).await?, b"abc");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, AsyncRecvError>> {
        self.poll_recv_with(cx, <[u8]>::to_vec)
    }

    /// Waits for the next message and hands it to `f` in place, without a
    /// copy; it is freed when `f` returns. `Disconnected` once the sending
    /// side is gone and every message it sent was received.
    ///
    /// Cancellation safe: `f` runs in the poll that takes the message, so a
    /// dropped future took nothing.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-recv-with-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(&[1, 2, 3])?;
    /// let sum: u32 = consumer.recv_with(|m| m.iter().map(|&b| u32::from(b)).sum()).await?;
    /// assert_eq!(sum, 6);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub async fn recv_with<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T, AsyncRecvError> {
        let mut f = Some(f);
        poll_fn(|cx| self.poll_take(cx, &mut f)).await
    }

    /// Waits for the next message and returns a copy of it.
    /// `Disconnected` once the sending side is gone and every message it
    /// sent was received. Cancellation safe.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-recv-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(b"hello")?;
    /// assert_eq!(consumer.recv().await?, b"hello");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub async fn recv(&mut self) -> Result<Vec<u8>, AsyncRecvError> {
        self.recv_with(<[u8]>::to_vec).await
    }

    /// Waits for the next message and copies it into `buf` (replacing its
    /// contents, reusing its allocation); returns its length.
    /// Cancellation safe: `buf` is written only in the poll that takes the
    /// message.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-recv-into-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(b"copied")?;
    /// let mut buf = Vec::with_capacity(64);
    /// assert_eq!(consumer.recv_into(&mut buf).await?, 6);
    /// assert_eq!(buf, b"copied");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub async fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, AsyncRecvError> {
        self.recv_with(|message| {
            buf.clear();
            buf.extend_from_slice(message);
            message.len()
        })
        .await
    }

    /// The endpoint.
    ///
    /// ```
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-get-ref-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// assert_eq!(consumer.get_ref().messages_in_flight(), 0);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.endpoint
    }

    /// The endpoint, for its synchronous calls (`try_recv`, `try_drain`:
    /// they arm the descriptor as the async calls do). Do not replace it
    /// (with `std::mem::swap`, say): the registered descriptor is the
    /// original endpoint's, so the receiver would wait on the wrong ring.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-get-mut-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let mut consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// producer.send(b"a")?;
    /// producer.send(b"b")?;
    /// // Everything there now, in one go; then wait for more.
    /// let n = consumer.get_mut().try_drain(16, |m| assert_eq!(m.len(), 1))?;
    /// assert_eq!(n, 2);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.endpoint
    }

    /// Deregisters the descriptor and gives the endpoint back. It stays in
    /// descriptor mode: its empty `try_*` calls still arm the doorbell.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncReceiver;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-into-inner-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// # let mut producer = ring.producer()?;
    /// let consumer = AsyncReceiver::new(ring.consumer()?)?;
    /// let mut consumer = consumer.into_inner();
    /// producer.send(b"sync again")?;
    /// assert_eq!(&*consumer.recv()?, b"sync again");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> R {
        let AsyncReceiver {
            registration,
            endpoint,
            ..
        } = self;
        drop(registration);
        endpoint
    }
}

/// The messages, copied out, until end of file (then `None`). A corrupt
/// ring or a failing reactor is yielded as one `Err` item, after which the
/// stream ends too. Each poll is cancellation safe, as [`recv`] is.
///
/// [`recv`]: AsyncReceiver::recv
impl<R: MessageReceiver + Waitable + Unpin> Stream for AsyncReceiver<R> {
    type Item = Result<Vec<u8>, AsyncRecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        match ready!(this.poll_recv(cx)) {
            Ok(message) => Poll::Ready(Some(Ok(message))),
            Err(AsyncRecvError::Disconnected) => {
                this.terminated = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.terminated = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl<R: MessageReceiver + Waitable + Unpin> FusedStream for AsyncReceiver<R> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

/// Sends through any sending endpoint (SPSC [`Producer`], MPMC [`Sender`],
/// [`AnySender`]) from a tokio task, waiting for room without blocking a
/// thread. Every future it returns is cancellation safe (see the
/// [module](self)).
///
/// The clones of an MPMC sender can each be wrapped: each registers a
/// descriptor of its own.
///
/// [`Producer`]: crate::Producer
/// [`Sender`]: crate::mpmc::Sender
/// [`AnySender`]: crate::AnySender
///
/// ```
/// use shmring::prelude::*;
/// use shmring::readiness::tokio::AsyncSender;
/// use std::time::Duration;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-tokio-sender-{}", std::process::id());
/// // Room for four messages: the task waits for the slow thread.
/// let queue = shmring::MpmcBuilder::new().slots(4).create(&name)?;
/// let receiver = queue.receiver()?;
/// let mut sender = AsyncSender::new(queue.sender()?)?;
/// let reader = std::thread::spawn(move || {
///     let mut n = 0u32;
///     while let Ok(message) = receiver.recv_timeout(Duration::from_secs(10)) {
///         assert_eq!(*message, n.to_le_bytes());
///         n += 1;
///         std::thread::sleep(Duration::from_micros(100));
///     }
///     n
/// });
/// for i in 0u32..64 {
///     sender.send(&i.to_le_bytes()).await.map_err(|e| e.without_message())?;
/// }
/// drop(sender);
/// assert_eq!(reader.join().unwrap(), 64);
/// # shmring::unlink(&name)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncSender<S> {
    // Declared first, so dropped (deregistered) before the endpoint.
    registration: Registration,
    endpoint: S,
}

impl<S: MessageSender + Waitable> AsyncSender<S> {
    /// Wraps `endpoint`, registering its descriptor with the reactor of the
    /// current tokio runtime, which must have I/O enabled. Use the sender
    /// from within that runtime (its tasks, or its `block_on`): after its
    /// receivers went it may register its descriptor again, which needs
    /// the runtime's context.
    ///
    /// Fails if the descriptor cannot be duplicated or registered (no
    /// descriptor left, `epoll` limits); the endpoint is then dropped.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one built without I/O
    /// (`enable_io`/`enable_all`), as [`AsyncFd`] does.
    ///
    /// ```
    /// use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-sender-new-{}", std::process::id());
    /// let ring = shmring::Spsc::create(&name)?;
    /// let producer = AsyncSender::new(ring.producer()?)?;
    /// # drop(producer);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn new(endpoint: S) -> io::Result<AsyncSender<S>> {
        Ok(AsyncSender {
            registration: Registration::new(&endpoint)?,
            endpoint,
        })
    }

    /// The loop of every sending call: `attempt` is one `try_*` call that
    /// either finishes the send or says why not.
    fn poll_attempt<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut S) -> Result<T, SendStop>,
    ) -> Poll<Result<T, (SendStop, Option<io::Error>)>> {
        loop {
            match attempt(&mut self.endpoint) {
                Ok(done) => return Poll::Ready(Ok(done)),
                // Full: armed. (`Timeout` is not said without a deadline.)
                Err(SendStop::Full | SendStop::Timeout) => {}
                Err(stop) => return Poll::Ready(Err((stop, None))),
            }
            if let Err(e) = ready!(self.registration.poll_wait(cx, self.endpoint.as_fd())) {
                return Poll::Ready(Err((SendStop::Full, Some(e))));
            }
        }
    }

    /// Polls to send `msg`: sent in this poll if there is room, else
    /// nothing is sent and the task is woken when there may be. For
    /// hand-written futures; [`send`](Self::send) is the `async` form.
    ///
    /// ```
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-poll-send-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = AsyncSender::new(ring.producer()?)?;
    /// std::future::poll_fn(|cx| producer.poll_send(cx, b"abc"))
    ///     .await
    ///     .map_err(|e| e.without_message())?;
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn poll_send<'m>(
        &mut self,
        cx: &mut Context<'_>,
        msg: &'m [u8],
    ) -> Poll<Result<(), AsyncSendError<&'m [u8]>>> {
        self.poll_attempt(cx, |s| s.send_within(msg, Patience::NoWait))
            .map_err(|e| send_error(e, msg))
    }

    /// Sends `msg`, waiting for room as long as it takes; hands it back if
    /// the receiving side is gone, if it is longer than the ring's largest
    /// message, or if the ring is corrupt.
    ///
    /// Cancellation safe: the message is written and published in the
    /// poll that finds room, so a dropped future sent nothing and holds no
    /// room.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-send-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = AsyncSender::new(ring.producer()?)?;
    /// let mut consumer = ring.consumer()?;
    /// producer.send(b"hello").await.map_err(|e| e.without_message())?;
    /// assert_eq!(&*consumer.try_recv()?, b"hello");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub async fn send<'m>(&mut self, msg: &'m [u8]) -> Result<(), AsyncSendError<&'m [u8]>> {
        poll_fn(|cx| self.poll_send(cx, msg)).await
    }

    /// Reserves `len` bytes, waiting for room as long as it takes, lets `f`
    /// write the message in place, and publishes it (all `len` bytes);
    /// returns what `f` returned. Hands `len` back on failure.
    ///
    /// Cancellation safe: the room is claimed, written and published in one
    /// poll, so a dropped future holds none. Should `f` panic, nothing is
    /// published (an MPMC queue skips the claimed slot).
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-send-with-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = AsyncSender::new(ring.producer()?)?;
    /// let mut consumer = ring.consumer()?;
    /// producer.send_with(4, |room| room.copy_from_slice(b"abcd")).await?;
    /// assert_eq!(&*consumer.try_recv()?, b"abcd");
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub async fn send_with<T>(
        &mut self,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> T,
    ) -> Result<T, AsyncSendError<usize>> {
        let mut f = Some(f);
        poll_fn(|cx| {
            self.poll_attempt(cx, |s| {
                let mut grant = s.reserve_within(len, Patience::NoWait)?;
                let f = f.take().expect("a send is not polled after it completed");
                let out = f(&mut grant);
                grant.commit();
                Ok(out)
            })
            .map_err(|e| send_error(e, len))
        })
        .await
    }

    /// The endpoint.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-sender-get-ref-{}", std::process::id());
    /// # let ring = shmring::SpscBuilder::new().capacity(1024).create(&name)?;
    /// let producer = AsyncSender::new(ring.producer()?)?;
    /// assert_eq!(MessageSender::max_message(producer.get_ref()), 256);
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.endpoint
    }

    /// The endpoint, for its synchronous calls (`try_send`, `try_reserve`:
    /// they arm the descriptor as the async calls do). Do not replace it
    /// (with `std::mem::swap`, say): the registered descriptor is the
    /// original endpoint's, so the sender would wait on the wrong ring.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-sender-get-mut-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = AsyncSender::new(ring.producer()?)?;
    /// producer.get_mut().try_send(b"now or never")?;
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.endpoint
    }

    /// Deregisters the descriptor and gives the endpoint back. It stays in
    /// descriptor mode: its full `try_*` calls still arm the doorbell.
    ///
    /// ```
    /// # use shmring::prelude::*;
    /// # use shmring::readiness::tokio::AsyncSender;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let name = format!("doc-tokio-sender-into-inner-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let producer = AsyncSender::new(ring.producer()?)?;
    /// let mut producer = producer.into_inner();
    /// producer.send(b"sync again")?;
    /// # shmring::unlink(&name)?;
    /// # Ok(()) }
    /// ```
    pub fn into_inner(self) -> S {
        let AsyncSender {
            registration,
            endpoint,
        } = self;
        drop(registration);
        endpoint
    }
}

/// The error of a failed send, with its message handed back.
fn send_error<T>((stop, io): (SendStop, Option<io::Error>), msg: T) -> AsyncSendError<T> {
    match io {
        Some(e) => AsyncSendError::Io(msg, e),
        // Without a deadline, `into_blocking` has a variant for each stop
        // that ends a send (`Full` and `Timeout` never get here).
        None => stop.into_blocking(msg).into(),
    }
}
