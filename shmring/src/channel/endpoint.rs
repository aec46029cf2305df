//! What every sending and every receiving endpoint does, whatever its
//! kind: one deadline-taking core per kind ([`MessageSender::send_within`],
//! [`MessageReceiver::recv_within`]), and the try / blocking / timeout
//! calls written once on top of it.
//!
//! Generic code (the conformance suite, the benches, the stress harness,
//! the command-line tool, the C binding) holds one path over every kind
//! through these traits, or through [`AnyRing`](crate::AnyRing) when the
//! kind is chosen at run time.

use crate::error::{
    Corruption, RecvError, RecvTimeoutError, RecvValueError, SendError, SendTimeoutError,
    TryRecvError, TrySendError,
};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// How long a call may wait for room or for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Not at all: the `try_*` calls.
    NoWait,
    /// Until the instant, or forever with `None`.
    Until(Option<Instant>),
}

impl Patience {
    /// Waits as long as it takes.
    pub const FOREVER: Patience = Patience::Until(None);

    /// Waits at most `timeout` from now (forever if that overflows).
    pub fn after(timeout: Duration) -> Patience {
        Patience::Until(Instant::now().checked_add(timeout))
    }

    /// Whether this is a `try_*` call's: it answers now, and a caller
    /// that gets "full" or "empty" goes to wait somewhere else.
    #[inline(always)]
    pub(crate) fn is_now(&self) -> bool {
        matches!(self, Patience::NoWait)
    }
}

/// Why a send (or a reservation) did not happen. Each kind's core reports
/// this; `try_send`, `send` and `send_timeout` turn it into their errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStop {
    /// No room, and the call was not to wait.
    Full,
    /// Still no room at the deadline.
    Timeout,
    /// The receiving side is gone.
    Disconnected,
    /// Longer than the ring's largest message.
    TooLarge,
    /// The ring's shared state is invalid.
    Corrupt(Corruption),
}

impl SendStop {
    #[inline(always)]
    pub(crate) fn into_try<T>(self, msg: T) -> TrySendError<T> {
        match self {
            SendStop::Full | SendStop::Timeout => TrySendError::Full(msg),
            SendStop::Disconnected => TrySendError::Disconnected(msg),
            SendStop::TooLarge => TrySendError::TooLarge(msg),
            SendStop::Corrupt(c) => TrySendError::Corrupt(msg, corrupt(c, "send")),
        }
    }

    pub(crate) fn into_blocking<T>(self, msg: T) -> SendError<T> {
        match self {
            // Without a deadline a claim only ends by succeeding or failing.
            SendStop::Full | SendStop::Timeout | SendStop::Disconnected => {
                SendError::Disconnected(msg)
            }
            SendStop::TooLarge => SendError::TooLarge(msg),
            SendStop::Corrupt(c) => SendError::Corrupt(msg, corrupt(c, "send")),
        }
    }

    pub(crate) fn into_timeout<T>(self, msg: T) -> SendTimeoutError<T> {
        match self {
            SendStop::Full | SendStop::Timeout => {
                deadline_reached("send");
                SendTimeoutError::Timeout(msg)
            }
            SendStop::Disconnected => SendTimeoutError::Disconnected(msg),
            SendStop::TooLarge => SendTimeoutError::TooLarge(msg),
            SendStop::Corrupt(c) => SendTimeoutError::Corrupt(msg, corrupt(c, "send")),
        }
    }
}

/// Why no message was returned. Each kind's core reports this;
/// `try_recv`, `recv` and `recv_timeout` turn it into their errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvStop {
    /// Nothing there, and the call was not to wait.
    Empty,
    /// Still nothing at the deadline.
    Timeout,
    /// The sending side is gone and everything it sent was received.
    Disconnected,
    /// The ring's shared state is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read.
    Lagged(u64),
}

impl RecvStop {
    #[inline(always)]
    pub(crate) fn into_try(self) -> TryRecvError {
        match self {
            RecvStop::Empty | RecvStop::Timeout => TryRecvError::Empty,
            RecvStop::Disconnected => TryRecvError::Disconnected,
            RecvStop::Corrupt(c) => TryRecvError::Corrupt(corrupt(c, "receive")),
            RecvStop::Lagged(n) => TryRecvError::Lagged(n),
        }
    }

    pub(crate) fn into_blocking(self) -> RecvError {
        match self {
            RecvStop::Corrupt(c) => RecvError::Corrupt(corrupt(c, "receive")),
            RecvStop::Lagged(n) => RecvError::Lagged(n),
            RecvStop::Empty | RecvStop::Timeout | RecvStop::Disconnected => RecvError::Disconnected,
        }
    }

    pub(crate) fn into_timeout(self) -> RecvTimeoutError {
        match self {
            RecvStop::Empty | RecvStop::Timeout => {
                deadline_reached("receive");
                RecvTimeoutError::Timeout
            }
            RecvStop::Disconnected => RecvTimeoutError::Disconnected,
            RecvStop::Corrupt(c) => RecvTimeoutError::Corrupt(corrupt(c, "receive")),
            RecvStop::Lagged(n) => RecvTimeoutError::Lagged(n),
        }
    }

    pub(crate) fn into_value(self) -> RecvValueError {
        match self {
            RecvStop::Corrupt(c) => RecvValueError::Corrupt(corrupt(c, "receive")),
            RecvStop::Lagged(n) => RecvValueError::Lagged(n),
            RecvStop::Empty | RecvStop::Timeout | RecvStop::Disconnected => {
                RecvValueError::Disconnected
            }
        }
    }
}

/// Reports shared state that failed its checks (a record, a position, a
/// slot word), once per call that returns `Corrupt`; hands it back.
#[cold]
#[inline(never)]
fn corrupt(c: Corruption, operation: &'static str) -> Corruption {
    tracing::warn!(operation, reason = %c, "corrupt ring state found");
    c
}

/// Reports a `*_timeout` call that reached its deadline: once per call,
/// where its `Timeout` error is made, never inside the wait.
#[cold]
#[inline(never)]
fn deadline_reached(operation: &'static str) {
    tracing::debug!(operation, "deadline reached");
}

pub(crate) mod sealed {
    /// Only this crate's endpoints implement the endpoint traits: their
    /// callers rely on the ring protocols behind them.
    pub trait Sealed {}
}

/// Room reserved in a ring and written in place; nothing is visible to
/// receivers until it is committed.
pub trait Grant: DerefMut<Target = [u8]> {
    /// Publishes the whole reserved length.
    fn commit(self);
    /// Publishes only the first `len` bytes (clamped to the reserved
    /// length).
    fn commit_len(self, len: usize);
}

/// The sending end of any ring kind.
///
/// ```
/// use shmring::{MessageSender, MessageReceiver, Ring, Spsc, Mpmc};
/// fn ping<R: Ring>(ring: &R) -> Result<(), Box<dyn std::error::Error>> {
///     let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
///     tx.send(b"ping").map_err(|e| e.without_message())?;
///     assert_eq!(&*rx.recv()?, b"ping");
///     Ok(())
/// }
/// let name = format!("doc-generic-{}", std::process::id());
/// ping(&Spsc::create(&name)?)?;
/// shmring::unlink(&name)?;
/// ping(&Mpmc::create(&name)?)?;
/// shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait MessageSender: Send + sealed::Sealed {
    /// What [`reserve_within`](Self::reserve_within) hands out.
    type Grant<'a>: Grant
    where
        Self: 'a;

    /// Sends `msg`, waiting for room as `patience` allows: the core every
    /// other sending call is a thin wrapper of.
    fn send_within(&mut self, msg: &[u8], patience: Patience) -> Result<(), SendStop>;

    /// Reserves `len` bytes to write in place, waiting as `patience`
    /// allows.
    fn reserve_within(
        &mut self,
        len: usize,
        patience: Patience,
    ) -> Result<Self::Grant<'_>, SendStop>;

    /// Largest message in bytes.
    fn max_message(&self) -> u64;

    /// Sends `msg` if there is room now.
    ///
    /// ```
    /// # use shmring::MessageSender;
    /// # let name = format!("doc-try-send-{}", std::process::id());
    /// # let ring = shmring::SpscBuilder::new().capacity(256).create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.try_send(b"0123456789")?;
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    fn try_send<'m>(&mut self, msg: &'m [u8]) -> Result<(), TrySendError<&'m [u8]>> {
        self.send_within(msg, Patience::NoWait)
            .map_err(|stop| stop.into_try(msg))
    }

    /// Sends `msg`, waiting for room as long as it takes.
    ///
    /// ```
    /// # use shmring::MessageSender;
    /// # let name = format!("doc-send-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.send(b"hello")?;
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    fn send<'m>(&mut self, msg: &'m [u8]) -> Result<(), SendError<&'m [u8]>> {
        self.send_within(msg, Patience::FOREVER)
            .map_err(|stop| stop.into_blocking(msg))
    }

    /// Sends `msg`, waiting for room at most `timeout`.
    ///
    /// ```
    /// # use shmring::MessageSender;
    /// # use std::time::Duration;
    /// # let name = format!("doc-send-timeout-{}", std::process::id());
    /// # let ring = shmring::SpscBuilder::new().capacity(64).create(&name)?;
    /// let mut producer = ring.producer()?;
    /// producer.send_timeout(&[1; 16], Duration::from_millis(10))?;
    /// producer.send_timeout(&[2; 16], Duration::from_millis(10))?;
    /// // Nobody reads: the third waits 10 ms and gives the message back.
    /// let err = producer.send_timeout(&[3; 16], Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, shmring::SendTimeoutError::Timeout(m) if m == &[3; 16]));
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn send_timeout<'m>(
        &mut self,
        msg: &'m [u8],
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<&'m [u8]>> {
        self.send_within(msg, Patience::after(timeout))
            .map_err(|stop| stop.into_timeout(msg))
    }

    /// Sends a plain-old-data value as its bytes.
    ///
    /// ```
    /// # use shmring::{MessageSender, MessageReceiver};
    /// # let name = format!("doc-send-value-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// producer.send_value(&[7u32, 8u32])?;
    /// assert_eq!(consumer.recv_value::<[u32; 2]>()?, [7, 8]);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError<T>> {
        self.send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Sends a plain-old-data value if there is room now.
    fn try_send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), TrySendError<T>> {
        self.try_send(bytemuck::bytes_of(value))
            .map_err(|e| e.map(|_| *value))
    }

    /// Reserves `len` bytes to write in place, if there is room now.
    ///
    /// ```
    /// # use shmring::{Grant, MessageSender, MessageReceiver};
    /// # let name = format!("doc-reserve-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = producer.try_reserve(4)?;
    /// grant.copy_from_slice(b"abcd");
    /// grant.commit();
    /// assert_eq!(&*consumer.try_recv()?, b"abcd");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn try_reserve(&mut self, len: usize) -> Result<Self::Grant<'_>, TrySendError<usize>> {
        self.reserve_within(len, Patience::NoWait)
            .map_err(|stop| stop.into_try(len))
    }

    /// Reserves `len` bytes, waiting for room as long as it takes.
    fn reserve(&mut self, len: usize) -> Result<Self::Grant<'_>, SendError<usize>> {
        self.reserve_within(len, Patience::FOREVER)
            .map_err(|stop| stop.into_blocking(len))
    }

    /// Reserves `len` bytes, waiting for room at most `timeout`.
    fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Self::Grant<'_>, SendTimeoutError<usize>> {
        self.reserve_within(len, Patience::after(timeout))
            .map_err(|stop| stop.into_timeout(len))
    }
}

/// The receiving end of any ring kind.
pub trait MessageReceiver: Send + sealed::Sealed {
    /// A received message, borrowed in place until it drops.
    type Guard<'a>: Deref<Target = [u8]>
    where
        Self: 'a;

    /// Takes the next message, waiting as `patience` allows: the core
    /// every other receiving call is a thin wrapper of.
    fn recv_within(&mut self, patience: Patience) -> Result<Self::Guard<'_>, RecvStop>;

    /// Largest message in bytes.
    fn max_message(&self) -> u64;

    /// Takes the next message if one is there, borrowed in place until the
    /// guard drops.
    ///
    /// ```
    /// # use shmring::{MessageSender, MessageReceiver};
    /// # let name = format!("doc-try-recv-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// assert_eq!(consumer.try_recv().unwrap_err(), shmring::TryRecvError::Empty);
    /// producer.send(b"x")?;
    /// assert_eq!(&*consumer.try_recv()?, b"x");
    /// drop(producer);
    /// assert_eq!(consumer.try_recv().unwrap_err(), shmring::TryRecvError::Disconnected);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    fn try_recv(&mut self) -> Result<Self::Guard<'_>, TryRecvError> {
        self.recv_within(Patience::NoWait)
            .map_err(RecvStop::into_try)
    }

    /// Waits for the next message as long as it takes; `Disconnected` once
    /// the sending side is gone and every message it sent was received.
    #[inline]
    fn recv(&mut self) -> Result<Self::Guard<'_>, RecvError> {
        self.recv_within(Patience::FOREVER)
            .map_err(RecvStop::into_blocking)
    }

    /// Waits for the next message at most `timeout`.
    ///
    /// ```
    /// # use shmring::MessageReceiver;
    /// # use std::time::Duration;
    /// # let name = format!("doc-recv-timeout-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let mut consumer = ring.consumer()?;
    /// let err = consumer.recv_timeout(Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, shmring::RecvTimeoutError::Timeout);
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn recv_timeout(&mut self, timeout: Duration) -> Result<Self::Guard<'_>, RecvTimeoutError> {
        self.recv_within(Patience::after(timeout))
            .map_err(RecvStop::into_timeout)
    }

    /// Waits for the next message and copies it into `buf` (replacing its
    /// contents); returns its length.
    ///
    /// ```
    /// # use shmring::{MessageSender, MessageReceiver};
    /// # let name = format!("doc-recv-into-{}", std::process::id());
    /// # let ring = shmring::Spsc::create(&name)?;
    /// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
    /// producer.send(b"copied")?;
    /// let mut buf = Vec::new();
    /// assert_eq!(consumer.recv_into(&mut buf)?, 6);
    /// assert_eq!(buf, b"copied");
    /// # shmring::unlink(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        let msg = self.recv()?;
        buf.clear();
        buf.extend_from_slice(&msg);
        Ok(buf.len())
    }

    /// Waits for a message of exactly `size_of::<T>()` bytes and returns
    /// it as a `T`. What happens to a message of another size depends on
    /// the kind: an SPSC ring leaves it in the ring, an MPMC queue (whose
    /// other receivers cannot be left "their" message) consumes it; both
    /// report `SizeMismatch`.
    fn recv_value<T: bytemuck::Pod>(&mut self) -> Result<T, RecvValueError> {
        let msg = self
            .recv_within(Patience::FOREVER)
            .map_err(RecvStop::into_value)?;
        bytemuck::try_pod_read_unaligned(&msg).map_err(|_| RecvValueError::SizeMismatch {
            expected: std::mem::size_of::<T>(),
            actual: msg.len(),
        })
    }

    /// Hands every message available now (at most `max`) to `f`. Returns
    /// how many; `Empty` or `Disconnected` instead of 0.
    fn try_drain(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize, TryRecvError> {
        let mut n = 0;
        while n < max {
            match self.try_recv() {
                Ok(msg) => {
                    f(&msg);
                    n += 1;
                }
                Err(e) if n == 0 => return Err(e),
                Err(TryRecvError::Corrupt(c)) => return Err(TryRecvError::Corrupt(c)),
                Err(_) => break,
            }
        }
        Ok(n)
    }
}
