//! The credentials of the process at the other end of a UNIX socket.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd};
use rustix::io::Errno;

/// The uid of the peer of a connected UNIX socket (`getsockopt(2)`
/// `SO_PEERCRED`, unix(7)): its credentials when it called `connect` or
/// `listen`, which it cannot forge. Only the uid: the pid in the same
/// record is 0 when the peer lives in a PID namespace the caller cannot
/// see (a daemon outside a client's container), which rustix's
/// `socket_peercred` refuses as an error.
pub(crate) fn peer_uid(socket: impl AsFd) -> Result<u32, Errno> {
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
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    Ok(cred.uid)
}
