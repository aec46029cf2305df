//! [`AsyncReceiver`]: any receiving endpoint, awaited.

use super::{AsyncRecvError, Registration};
use crate::channel::endpoint::{MessageReceiver, Patience, RecvStop};
use crate::readiness::Waitable;
use futures_core::Stream;
use futures_core::stream::FusedStream;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Receives from any receiving endpoint (SPSC [`Consumer`], MPMC
/// [`Receiver`], [`AnyReceiver`]) in a tokio task, without blocking a
/// thread while it waits.
///
/// Also a [`Stream`] of owned messages that ends at end of file.
/// Every future it returns is cancellation safe (see the
/// [module](super)).
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
    /// (`enable_io`/`enable_all`), as [`AsyncFd`](tokio::io::unix::AsyncFd) does.
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
                Err(RecvStop::Lagged(n)) => return Poll::Ready(Err(AsyncRecvError::Lagged(n))),
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
