//! The credentials of the process at the other end of a UNIX socket.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use rustix::io::Errno;

/// `SO_PEERPIDFD` (Linux 6.5, `asm-generic/socket.h`); the libc crate
/// does not name it on every target.
const SO_PEERPIDFD: libc::c_int = 77;

/// Who connected a UNIX socket, as the kernel recorded it at `connect` or
/// `listen` (unix(7) `SO_PEERCRED`): nothing the peer can forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's pid in the reader's PID namespace; `None` when the peer
    /// lives in a PID namespace the reader cannot see (another container
    /// beside a daemon's, or the host of a daemon in a container), where
    /// the kernel reports 0.
    pub pid: Option<u32>,
    /// Its effective uid.
    pub uid: u32,
    /// Its effective gid.
    pub gid: u32,
}

/// The peer's credentials (`getsockopt(2)` `SO_PEERCRED`). Unlike
/// rustix's `socket_peercred`, a peer whose pid the caller cannot see is
/// not an error: its pid is `None`.
pub fn peer_credentials(socket: impl AsFd) -> Result<PeerCredentials, Errno> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the descriptor is borrowed for the call; `cred` and `len`
    // are valid and exclusively borrowed, `len` holds `cred`'s size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(last_errno());
    }
    Ok(PeerCredentials {
        pid: u32::try_from(cred.pid).ok().filter(|&pid| pid != 0),
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// A pidfd of the peer process (`SO_PEERPIDFD`), close-on-exec: it names
/// the process that connected whatever PID namespace either side is in,
/// and cannot be confused with a later process given the same pid.
/// `Ok(None)` when the peer has exited already, or when the kernel is
/// older than 6.5 and cannot say.
pub fn peer_pidfd(socket: impl AsFd) -> Result<Option<OwnedFd>, Errno> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as in `peer_credentials`; the option's value is one int.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&mut fd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return match last_errno() {
            // Not known to this kernel, or the peer is gone (ESRCH), or
            // the socket never had a peer process recorded (ENODATA).
            Errno::NOPROTOOPT | Errno::INVAL | Errno::SRCH | Errno::NODATA => Ok(None),
            e => Err(e),
        };
    }
    if fd < 0 {
        return Ok(None);
    }
    // SAFETY: the kernel just installed `fd` in our table for us alone
    // (with O_CLOEXEC, as every pidfd it hands out).
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

    /// Both ends of a socket pair made here name this very process.
    #[test]
    fn a_socket_pair_names_this_process() {
        let (a, _b) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let cred = peer_credentials(&a).unwrap();
        assert_eq!(cred.pid, Some(std::process::id()));
        assert_eq!(cred.uid, rustix::process::getuid().as_raw());
        assert_eq!(cred.gid, rustix::process::getgid().as_raw());
        if let Some(pidfd) = peer_pidfd(&a).unwrap() {
            let flags = rustix::io::fcntl_getfd(&pidfd).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
            // A pidfd of a live process polls not readable.
            let mut fds = [rustix::event::PollFd::new(
                &pidfd,
                rustix::event::PollFlags::IN,
            )];
            let zero = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            assert_eq!(rustix::event::poll(&mut fds, Some(&zero)).unwrap(), 0);
        }
    }
}
