//! Errors, one enum per operation (house style rule 8). Send errors hand
//! the message back.

use crate::layout::RingKind;
pub use crate::ring::Corruption;
use std::fmt;

/// Why a segment could not be created or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// No segment has this name.
    NotFound,
    /// `create` found a segment with this name already.
    AlreadyExists,
    /// The segment's mode does not let this user open it.
    PermissionDenied,
    /// The name is not a valid shared-memory name.
    InvalidName,
    /// The requested geometry is not allowed; the text says what to fix.
    InvalidConfig(&'static str),
    /// Written by another, incompatible layout version.
    VersionMismatch {
        /// Version number found in the segment.
        found: u32,
        /// Version this library writes.
        expected: u32,
    },
    /// The creator did not finish initialising within the open timeout.
    NotInitialized,
    /// The segment holds another kind of ring.
    WrongKind {
        /// Kind found in the segment.
        found: RingKind,
        /// Kind asked for.
        expected: RingKind,
    },
    /// The header or the file is not a valid segment.
    Corrupt(Corruption),
    /// There is no room left for the segment (a full `/dev/shm`).
    NoSpace,
    /// A descriptor handed to `from_fd` is not sealed against shrinking
    /// (only a sealed memfd, as the broker hands out, can be mapped
    /// without a peer being able to truncate it under the mapping).
    Unsealed,
    /// The ring's doorbells (the FIFOs its endpoints' descriptors wait
    /// on) could not be made or found: missing, not FIFOs, owned by
    /// somebody else, or no descriptor left.
    Doorbell(std::io::Error),
    /// The ring's memory could not be locked (`mlock(2)`, asked for with
    /// `lock_memory(true)`): `RLIMIT_MEMLOCK` (`ulimit -l`) is smaller
    /// than the segment and the process lacks `CAP_IPC_LOCK`, or the
    /// system is out of memory.
    MemoryLock(std::io::Error),
    /// Any other operating-system error.
    Io(std::io::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotFound => f.write_str("no shared-memory segment with this name"),
            OpenError::AlreadyExists => f.write_str("a segment with this name already exists"),
            OpenError::PermissionDenied => f.write_str("permission denied"),
            OpenError::InvalidName => f.write_str(
                "invalid segment name (1 to 250 bytes, no '/' except one leading, no NUL)",
            ),
            OpenError::InvalidConfig(why) => write!(f, "invalid ring configuration: {why}"),
            OpenError::VersionMismatch { found, expected } => write!(
                f,
                "segment layout version {found} is not compatible with this library (version {expected})"
            ),
            OpenError::NotInitialized => {
                f.write_str("the segment's creator did not finish initialising it in time")
            }
            OpenError::WrongKind { found, expected } => {
                write!(
                    f,
                    "the segment holds an {found} ring, not an {expected} ring"
                )
            }
            OpenError::Corrupt(c) => c.fmt(f),
            OpenError::NoSpace => f.write_str("no space left for the segment (is /dev/shm full?)"),
            OpenError::Unsealed => f.write_str(
                "the descriptor is not a memfd sealed against shrinking; refused before mapping",
            ),
            OpenError::Doorbell(e) => write!(f, "the ring's doorbells: {e}"),
            OpenError::MemoryLock(e) => write!(
                f,
                "could not lock the ring's memory (mlock: {e}): RLIMIT_MEMLOCK (ulimit -l) is \
                 smaller than the segment and the process lacks CAP_IPC_LOCK"
            ),
            OpenError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io(e) | OpenError::Doorbell(e) | OpenError::MemoryLock(e) => Some(e),
            OpenError::Corrupt(c) => Some(c),
            _ => None,
        }
    }
}

impl From<rustix::io::Errno> for OpenError {
    fn from(errno: rustix::io::Errno) -> Self {
        use rustix::io::Errno;
        match errno {
            Errno::NOENT => OpenError::NotFound,
            Errno::EXIST => OpenError::AlreadyExists,
            Errno::ACCESS | Errno::PERM => OpenError::PermissionDenied,
            Errno::NOSPC | Errno::NOMEM => OpenError::NoSpace,
            Errno::NAMETOOLONG => OpenError::InvalidName,
            other => OpenError::Io(other.into()),
        }
    }
}

/// Why a role (producer or consumer) could not be taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// A live process holds the role.
    Busy {
        /// The holder's pid.
        pid: u32,
    },
    /// The ring's shared state is invalid.
    Corrupt(Corruption),
    /// Every entry is taken: of this side of an MPMC queue's registry (32
    /// endpoint families per side), or of a publish/subscribe ring's
    /// subscriber table (its `subscribers`).
    TooManyEndpoints,
    /// The endpoint's doorbell descriptors could not be opened (for
    /// example: no descriptor left, or `/proc` not mounted).
    Doorbell(std::io::Error),
    /// Reading this process's identity failed.
    Io(std::io::Error),
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::Busy { pid } => write!(f, "the role is held by live process {pid}"),
            AttachError::Corrupt(c) => c.fmt(f),
            AttachError::TooManyEndpoints => {
                f.write_str(
                    "every endpoint entry is taken (MPMC: 32 per side; publish/subscribe: the ring's subscribers)",
                )
            }
            AttachError::Doorbell(e) => write!(f, "opening the endpoint's doorbell: {e}"),
            AttachError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for AttachError {}

/// `try_send` failed; the message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// No room now.
    Full(T),
    /// The receiving side is gone: nobody will ever read it.
    Disconnected(T),
    /// Longer than the ring's maximum message size.
    TooLarge(T),
    /// The ring's shared state is invalid.
    Corrupt(T, Corruption),
}

/// Blocking `send` failed; the message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendError<T> {
    /// The receiving side is gone.
    Disconnected(T),
    /// Longer than the ring's maximum message size.
    TooLarge(T),
    /// The ring's shared state is invalid.
    Corrupt(T, Corruption),
}

/// `send_timeout` failed; the message is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// Still no room at the deadline.
    Timeout(T),
    /// The receiving side is gone.
    Disconnected(T),
    /// Longer than the ring's maximum message size.
    TooLarge(T),
    /// The ring's shared state is invalid.
    Corrupt(T, Corruption),
}

macro_rules! send_error_impls {
    ($name:ident { $($variant:ident => $text:literal),* }) => {
        impl<T> $name<T> {
            /// The message that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(t, ..) => t,)*
                }
            }
        }

        impl<T> $name<T> {
            /// The same error without the message: for `?` into an error
            /// type that must not borrow (`Box<dyn Error>`).
            pub fn without_message(self) -> $name<()> {
                self.map(|_| ())
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(..) => write!(f, concat!(stringify!($name), "::", stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(..) => f.write_str($text),)*
                }
            }
        }

        impl<T> std::error::Error for $name<T> {}
    };
}

impl<T> TrySendError<T> {
    /// The same error with the message mapped by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> TrySendError<U> {
        match self {
            TrySendError::Full(t) => TrySendError::Full(f(t)),
            TrySendError::Disconnected(t) => TrySendError::Disconnected(f(t)),
            TrySendError::TooLarge(t) => TrySendError::TooLarge(f(t)),
            TrySendError::Corrupt(t, c) => TrySendError::Corrupt(f(t), c),
        }
    }
}

impl<T> SendError<T> {
    /// The same error with the message mapped by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> SendError<U> {
        match self {
            SendError::Disconnected(t) => SendError::Disconnected(f(t)),
            SendError::TooLarge(t) => SendError::TooLarge(f(t)),
            SendError::Corrupt(t, c) => SendError::Corrupt(f(t), c),
        }
    }
}

impl<T> SendTimeoutError<T> {
    /// The same error with the message mapped by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> SendTimeoutError<U> {
        match self {
            SendTimeoutError::Timeout(t) => SendTimeoutError::Timeout(f(t)),
            SendTimeoutError::Disconnected(t) => SendTimeoutError::Disconnected(f(t)),
            SendTimeoutError::TooLarge(t) => SendTimeoutError::TooLarge(f(t)),
            SendTimeoutError::Corrupt(t, c) => SendTimeoutError::Corrupt(f(t), c),
        }
    }
}

send_error_impls!(TrySendError {
    Full => "the ring is full",
    Disconnected => "the receiving side is gone",
    TooLarge => "the message is larger than the ring's maximum message size",
    Corrupt => "the ring's shared state is corrupt"
});
send_error_impls!(SendError {
    Disconnected => "the receiving side is gone",
    TooLarge => "the message is larger than the ring's maximum message size",
    Corrupt => "the ring's shared state is corrupt"
});
send_error_impls!(SendTimeoutError {
    Timeout => "timed out waiting for room in the ring",
    Disconnected => "the receiving side is gone",
    TooLarge => "the message is larger than the ring's maximum message size",
    Corrupt => "the ring's shared state is corrupt"
});

/// `try_recv` found nothing to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing published now.
    Empty,
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read; the next receive goes on with the oldest
    /// message still there.
    Lagged(u64),
}

/// Blocking `recv` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read; the next receive goes on with the oldest
    /// message still there.
    Lagged(u64),
}

/// `recv_timeout` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the deadline.
    Timeout,
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read; the next receive goes on with the oldest
    /// message still there.
    Lagged(u64),
}

/// A typed receive failed; the message (if any) stays in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvValueError {
    /// Drained, and the sending side is gone (end of file).
    Disconnected,
    /// A record or position is invalid.
    Corrupt(Corruption),
    /// A lossy publish/subscribe ring overwrote this many messages the
    /// subscriber had not read; the next receive goes on with the oldest
    /// message still there.
    Lagged(u64),
    /// The next message is not `size_of::<T>()` bytes long.
    SizeMismatch {
        /// `size_of::<T>()`.
        expected: usize,
        /// The message's length.
        actual: usize,
    },
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the ring is empty"),
            TryRecvError::Disconnected => f.write_str("the sending side is gone"),
            TryRecvError::Corrupt(c) => c.fmt(f),
            TryRecvError::Lagged(n) => write!(
                f,
                "lost {n} messages to the publisher (the subscriber fell a ring behind)"
            ),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str("the sending side is gone"),
            RecvError::Corrupt(c) => c.fmt(f),
            RecvError::Lagged(n) => write!(
                f,
                "lost {n} messages to the publisher (the subscriber fell a ring behind)"
            ),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Disconnected => f.write_str("the sending side is gone"),
            RecvTimeoutError::Corrupt(c) => c.fmt(f),
            RecvTimeoutError::Lagged(n) => write!(
                f,
                "lost {n} messages to the publisher (the subscriber fell a ring behind)"
            ),
        }
    }
}

impl fmt::Display for RecvValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvValueError::Disconnected => f.write_str("the sending side is gone"),
            RecvValueError::Corrupt(c) => c.fmt(f),
            RecvValueError::Lagged(n) => write!(
                f,
                "lost {n} messages to the publisher (the subscriber fell a ring behind)"
            ),
            RecvValueError::SizeMismatch { expected, actual } => {
                write!(
                    f,
                    "expected a {expected}-byte message, the next one has {actual} bytes"
                )
            }
        }
    }
}

impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvError {}
impl std::error::Error for RecvTimeoutError {}
impl std::error::Error for RecvValueError {}
