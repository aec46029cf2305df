//! The broker: a daemon (`shmringd`, in the `shmring-broker` package) that
//! creates named segments as sealed memfds and hands their descriptors to
//! authorised clients over a UNIX `SOCK_SEQPACKET` socket.
//!
//! With the broker no segment appears in `/dev/shm`: nobody can squat a
//! name, a crash leaves no stale file, access is checked per segment like
//! System V IPC permissions, and a client that dies is noticed at once.
//!
//! - [`protocol`]: the wire format, shared by daemon and client
//!   (`docs/protocol.md`);
//! - [`fdpass`]: frames with `SCM_RIGHTS` descriptors;
//! - [`BrokerClient`]: connect, create, open, stat, list, unlink;
//! - [`ConnectOptions`]: where the broker is and which daemon to trust
//!   (`trust.rs`: the socket directory and `SO_PEERCRED` checks);
//! - [`peer_credentials`] and [`peer_pidfd`]: who is at the other end of
//!   a socket, in whatever PID namespace (the daemon's view of a client);
//! - [`crate::admin::SegmentView`] (outside this module): what the daemon
//!   needs to lay out a ring in a memfd, report on it and declare dead
//!   processes' endpoints gone.

mod client;
mod error;
pub mod fdpass;
pub mod protocol;
mod trust;

pub use client::{
    BrokerClient, ConnectOptions, CreateOptions, DEFAULT_REQUEST_TIMEOUT, REQUIRED_SEALS,
    check_sealed, default_socket_path,
};
pub use error::BrokerError;
pub use protocol::{EndpointInfo, Lifetime, Role, SegmentInfo, Status, SubscriberList};
pub use trust::DAEMON_UID_ENV;

pub use crate::sys::peercred::{PeerCredentials, peer_credentials, peer_pidfd};
