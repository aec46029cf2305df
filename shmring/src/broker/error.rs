//! Why a broker request failed: one error for every client call, shared
//! by the connection (`client.rs`) and its trust checks (`trust.rs`).

use super::protocol::Status;
use super::trust;
use crate::error::{AttachError, OpenError};
use std::fmt;
use std::path::PathBuf;

/// Why a broker request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BrokerError {
    /// No broker listens at the socket path (or it cannot be reached).
    BrokerUnavailable(std::io::Error),
    /// The broker speaks no protocol version this library speaks.
    ProtocolVersion(String),
    /// The segment's owner and mode do not allow this.
    PermissionDenied(String),
    /// No segment has this name.
    NotFound(String),
    /// A segment with this name exists already.
    AlreadyExists(String),
    /// A broker limit would be exceeded (segments, bytes, size, …).
    LimitExceeded(String),
    /// A parameter was refused (geometry, name, mode).
    InvalidArgument(String),
    /// The broker's memory filesystem is full.
    NoSpace(String),
    /// The segment holds another kind of ring.
    WrongKind(String),
    /// The broker refused the request for another reason.
    Refused {
        /// The status it sent.
        status: Status,
        /// Its explanation.
        message: String,
    },
    /// The broker sent something that is not a valid reply.
    Protocol(String),
    /// The descriptor received is not a sealed segment of the announced
    /// size; it was closed without being mapped.
    BadSegment(&'static str),
    /// The segment could not be mapped or failed validation.
    Open(OpenError),
    /// The role could not be taken.
    Attach(AttachError),
    /// The connection failed (or timed out) during a request.
    Io(std::io::Error),
    /// The daemon listening on the socket runs as a uid this client does
    /// not trust (not its own, not root, not the one named with
    /// [`ConnectOptions::trust_daemon_uid`] or `$SHMRING_DAEMON_UID`).
    /// Nothing was sent to it.
    UntrustedDaemon {
        /// The socket path.
        path: PathBuf,
        /// The daemon's uid (`SO_PEERCRED`).
        uid: u32,
        /// The daemon's pid.
        pid: u32,
    },
    /// The default socket path's directory could have been planted by
    /// another user (owned by an untrusted uid, writable by others, or
    /// not a directory). The client did not connect.
    UntrustedSocketDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::BrokerUnavailable(e) => write!(f, "broker unavailable: {e}"),
            BrokerError::ProtocolVersion(m) => write!(f, "protocol version mismatch: {m}"),
            BrokerError::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            BrokerError::NotFound(m) => write!(f, "not found: {m}"),
            BrokerError::AlreadyExists(m) => write!(f, "already exists: {m}"),
            BrokerError::LimitExceeded(m) => write!(f, "limit exceeded: {m}"),
            BrokerError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            BrokerError::NoSpace(m) => write!(f, "no space: {m}"),
            BrokerError::WrongKind(m) => write!(f, "wrong ring kind: {m}"),
            BrokerError::Refused { status, message } => {
                write!(f, "broker refused ({status:?}): {message}")
            }
            BrokerError::Protocol(m) => write!(f, "protocol error: {m}"),
            BrokerError::BadSegment(why) => write!(f, "refused the segment: {why}"),
            BrokerError::Open(e) => write!(f, "{e}"),
            BrokerError::Attach(e) => write!(f, "{e}"),
            BrokerError::Io(e) => write!(f, "broker connection: {e}"),
            BrokerError::UntrustedDaemon { path, uid, pid } => write!(
                f,
                "refusing the broker at {}: its daemon (pid {pid}) runs as uid {uid}, \
                 not as this user or root; if that user's daemon is meant to serve you, \
                 set {}={uid}",
                path.display(),
                trust::DAEMON_UID_ENV
            ),
            BrokerError::UntrustedSocketDir { path, why } => {
                write!(
                    f,
                    "refusing the broker socket directory {}: it {why}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrokerError::BrokerUnavailable(e) | BrokerError::Io(e) => Some(e),
            BrokerError::Open(e) => Some(e),
            BrokerError::Attach(e) => Some(e),
            _ => None,
        }
    }
}

impl From<OpenError> for BrokerError {
    fn from(e: OpenError) -> Self {
        BrokerError::Open(e)
    }
}

impl From<AttachError> for BrokerError {
    fn from(e: AttachError) -> Self {
        BrokerError::Attach(e)
    }
}

impl BrokerError {
    pub(super) fn from_status(status: Status, message: String) -> BrokerError {
        match status {
            Status::ProtocolVersion => BrokerError::ProtocolVersion(message),
            Status::PermissionDenied => BrokerError::PermissionDenied(message),
            Status::NotFound => BrokerError::NotFound(message),
            Status::AlreadyExists => BrokerError::AlreadyExists(message),
            Status::LimitExceeded => BrokerError::LimitExceeded(message),
            Status::InvalidArgument => BrokerError::InvalidArgument(message),
            Status::NoSpace => BrokerError::NoSpace(message),
            Status::WrongKind => BrokerError::WrongKind(message),
            _ => BrokerError::Refused { status, message },
        }
    }
}
