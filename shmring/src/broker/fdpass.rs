//! One frame per `SOCK_SEQPACKET` record, with descriptors passed as
//! `SCM_RIGHTS` (unix(7), sendmsg(2), recvmsg(2)). Used by both the daemon
//! and the client, so that both apply the same rules:
//!
//! - received descriptors are close-on-exec from the start
//!   (`MSG_CMSG_CLOEXEC`): a fork+exec elsewhere in the process never
//!   inherits them;
//! - a record whose control data did not fit (`MSG_CTRUNC`) is refused
//!   and every descriptor that did arrive is closed;
//! - a record longer than the buffer (`MSG_TRUNC`) is refused.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

/// Descriptors the receive buffer has room for. More than the protocol
/// allows ([`MAX_FDS`](super::protocol::MAX_FDS)), so that a peer sending
/// a few too many is caught by the fd-count check rather than by
/// truncation; beyond this the record is truncated and refused.
const RECV_FD_ROOM: usize = 8;

/// A record as received.
#[derive(Debug)]
pub struct Received {
    /// Bytes of the record (all of them: a longer record is an error).
    pub len: usize,
    /// Descriptors that came with it, close-on-exec.
    pub fds: Vec<OwnedFd>,
}

/// Why a record could not be received.
#[derive(Debug)]
pub enum RecvFrameError {
    /// The peer closed the connection (or sent an empty record, which the
    /// protocol never does).
    Closed,
    /// Nothing to read now (non-blocking sockets only).
    WouldBlock,
    /// The record was longer than the buffer; it was discarded.
    TooLong,
    /// The control data was truncated (too many descriptors); every
    /// descriptor that arrived has been closed.
    ControlTruncated,
    /// Any other error from `recvmsg`.
    Io(std::io::Error),
}

impl fmt::Display for RecvFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvFrameError::Closed => f.write_str("connection closed"),
            RecvFrameError::WouldBlock => f.write_str("no frame available"),
            RecvFrameError::TooLong => f.write_str("frame longer than the limit"),
            RecvFrameError::ControlTruncated => {
                f.write_str("too many descriptors attached (MSG_CTRUNC)")
            }
            RecvFrameError::Io(e) => write!(f, "recvmsg: {e}"),
        }
    }
}

impl std::error::Error for RecvFrameError {}

/// Most descriptors one record carries: a segment and its two doorbells.
pub const SEND_FD_ROOM: usize = 3;

/// Sends `frame` as one record, with `fds` attached (at most
/// [`SEND_FD_ROOM`]; `sendmsg(2)` with `SCM_RIGHTS` and `MSG_NOSIGNAL`: a
/// peer that went away is `EPIPE`, not a `SIGPIPE`). `MSG_DONTWAIT` if
/// `nonblocking`.
pub fn send_frame(
    socket: impl AsFd,
    frame: &[u8],
    fds: &[BorrowedFd<'_>],
    nonblocking: bool,
) -> Result<(), Errno> {
    let mut flags = SendFlags::NOSIGNAL;
    if nonblocking {
        flags |= SendFlags::DONTWAIT;
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(SEND_FD_ROOM))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::NOBUFS);
    }
    let sent = rustix::net::sendmsg(socket, &[IoSlice::new(frame)], &mut control, flags)?;
    // A seqpacket record is sent whole or not at all.
    if sent != frame.len() {
        return Err(Errno::MSGSIZE);
    }
    Ok(())
}

/// Receives one record into `buf` (`recvmsg(2)` with `MSG_CMSG_CLOEXEC`
/// and `MSG_TRUNC`; `MSG_DONTWAIT` if `nonblocking`).
pub fn recv_frame(
    socket: impl AsFd,
    buf: &mut [u8],
    nonblocking: bool,
) -> Result<Received, RecvFrameError> {
    let mut flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC;
    if nonblocking {
        flags |= RecvFlags::DONTWAIT;
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(RECV_FD_ROOM))];
    // Dropping the buffer closes every descriptor not taken out of it, so
    // each early return below closes what arrived.
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let buf_len = buf.len();
    let msg = loop {
        match rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut *buf)],
            &mut control,
            flags,
        ) {
            Ok(msg) => break msg,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(RecvFrameError::WouldBlock),
            Err(e) => return Err(RecvFrameError::Io(e.into())),
        }
    };
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(RecvFrameError::ControlTruncated);
    }
    if msg.flags.contains(ReturnFlags::TRUNC) || msg.bytes > buf_len {
        return Err(RecvFrameError::TooLong);
    }
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Err(RecvFrameError::Closed);
    }
    Ok(Received {
        len: msg.bytes,
        fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType};

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    /// Descriptors of this process open on the pipe `fd` belongs to (by
    /// inode, so that other tests opening files meanwhile do not count).
    fn open_on_same_pipe(fd: &OwnedFd) -> usize {
        let target = format!("pipe:[{}]", rustix::fs::fstat(fd).unwrap().st_ino);
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|link| link.to_str() == Some(target.as_str()))
            .count()
    }

    #[test]
    fn passes_a_descriptor_close_on_exec() {
        let (a, b) = pair();
        let (r, _w) = rustix::pipe::pipe().unwrap();
        send_frame(&a, b"hello", &[r.as_fd()], false).unwrap();
        let mut buf = [0u8; 64];
        let got = recv_frame(&b, &mut buf, false).unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.fds.len(), 1);
        let flags = rustix::io::fcntl_getfd(&got.fds[0]).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn long_records_and_too_many_descriptors_are_refused() {
        let (a, b) = pair();
        let mut buf = [0u8; 4];
        send_frame(&a, b"too long", &[], false).unwrap();
        assert!(matches!(
            recv_frame(&b, &mut buf, false),
            Err(RecvFrameError::TooLong)
        ));
        assert!(matches!(
            recv_frame(&b, &mut buf, true),
            Err(RecvFrameError::WouldBlock)
        ));

        // More descriptors than the receive buffer holds: MSG_CTRUNC, and
        // the ones that fit are closed again.
        let pipes: Vec<_> = (0..RECV_FD_ROOM + 4)
            .map(|_| rustix::pipe::pipe().unwrap().0)
            .collect();
        let borrowed: Vec<_> = pipes.iter().map(|p| p.as_fd()).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(RECV_FD_ROOM + 4))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&borrowed)));
        rustix::net::sendmsg(&a, &[IoSlice::new(b"x")], &mut control, SendFlags::empty()).unwrap();
        let mut buf = [0u8; 64];
        assert!(matches!(
            recv_frame(&b, &mut buf, false),
            Err(RecvFrameError::ControlTruncated)
        ));
        for p in &pipes {
            assert_eq!(open_on_same_pipe(p), 1, "a received copy stayed open");
        }

        drop(a);
        assert!(matches!(
            recv_frame(&b, &mut buf, false),
            Err(RecvFrameError::Closed)
        ));
    }
}
