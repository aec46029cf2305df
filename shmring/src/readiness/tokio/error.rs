//! Why an async receive or send returned without a message.

use crate::error::{Corruption, RecvError, SendError};
use std::fmt;
use std::io;

/// Why an async receive returned no message.
#[derive(Debug)]
pub enum AsyncRecvError {
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read; the next receive goes on after them.
    Lagged(u64),
    /// The reactor failed: the runtime is shutting down, or the descriptor
    /// could not be registered again (see [`AsyncReceiver`](super::AsyncReceiver)).
    Io(io::Error),
}

impl fmt::Display for AsyncRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncRecvError::Disconnected => f.write_str("the sending side is gone"),
            AsyncRecvError::Corrupt(c) => c.fmt(f),
            AsyncRecvError::Lagged(n) => write!(f, "lost {n} messages to the publisher"),
            AsyncRecvError::Io(e) => write!(f, "waiting for the endpoint's descriptor: {e}"),
        }
    }
}

impl std::error::Error for AsyncRecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AsyncRecvError::Disconnected | AsyncRecvError::Lagged(_) => None,
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
            RecvError::Lagged(n) => AsyncRecvError::Lagged(n),
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
    /// could not be registered again (see [`AsyncSender`](super::AsyncSender)).
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
