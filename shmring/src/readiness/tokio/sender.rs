//! [`AsyncSender`]: any sending endpoint, awaited.

use super::{AsyncSendError, Registration};
use crate::channel::endpoint::{Grant, MessageSender, Patience, SendStop};
use crate::readiness::Waitable;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll, ready};

/// Sends through any sending endpoint (SPSC [`Producer`], MPMC [`Sender`],
/// [`AnySender`]) from a tokio task, waiting for room without blocking a
/// thread. Every future it returns is cancellation safe (see the
/// [module](super)).
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
    /// (`enable_io`/`enable_all`), as [`AsyncFd`](tokio::io::unix::AsyncFd) does.
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
