//! Whether the holder of a role is alive, told by the kernel.
//!
//! Every role a process can hold in a segment (the SPSC producer and
//! consumer, each MPMC registry entry) has a word in shared memory and a
//! *lock byte* in the segment file: the byte at the offset of that word
//! (`docs/layout.md`). A holder takes an open-file-description lock on
//! its byte before it writes its word, and keeps it until it has written
//! the word back; the kernel drops the lock when the holder's description
//! is closed, at the latest when the process dies.
//!
//! | word says | lock byte | the holder is                                |
//! |-----------|-----------|----------------------------------------------|
//! | held      | locked    | alive (or a process it handed its descriptor) |
//! | held      | free      | dead: it died without letting go             |
//! | left/free | any       | not there; a claimer may hold the lock already |
//!
//! Nothing here reads another process's `/proc` entry, so a holder in
//! another PID namespace, behind `hidepid`, of another uid, or whose main
//! thread has exited while others run, is alive exactly as long as it
//! holds its descriptor. A lock the kernel cannot report ("cannot tell")
//! counts as held: a live peer is never declared dead.
//!
//! On heap memory (the loom models) there is no file and no lock: every
//! holder a word names counts as alive.

use crate::sys::ofd_lock;
use rustix::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// The locks of one segment, probed through the segment's own open file
/// description, which never holds a lock itself (holders take theirs
/// through a [`Lease`] of their own).
#[derive(Debug, Clone)]
pub(crate) struct Locks {
    file: Option<Arc<OwnedFd>>,
    /// The segment's name, for log events (none for a descriptor or on
    /// heap memory).
    name: Option<Arc<str>>,
}

impl Locks {
    /// The locks of the segment file behind `file`, named `name` (if it
    /// has one) in log events.
    pub(crate) fn of_file(file: Arc<OwnedFd>, name: Option<&str>) -> Locks {
        Locks {
            file: Some(file),
            name: name.map(Arc::from),
        }
    }

    /// The segment's name, for log events.
    pub(crate) fn ring_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// No file (heap memory): every named holder is alive.
    #[cfg_attr(not(shmring_loom), allow(dead_code))]
    pub(crate) fn none() -> Locks {
        Locks {
            file: None,
            name: None,
        }
    }

    /// A new open file description of the segment, holding no lock yet:
    /// what an endpoint holds its role through (one system call to open).
    pub(crate) fn lease(&self) -> std::io::Result<Lease> {
        let fd = match &self.file {
            Some(file) => Some(ofd_lock::reopen(file.as_fd())?),
            None => None,
        };
        Ok(Lease { fd })
    }

    /// Whether a live holder has `byte` locked (`F_OFD_GETLK`: one system
    /// call, no `/proc`). If the kernel cannot tell, it is held.
    pub(crate) fn held(&self, byte: u64) -> bool {
        match &self.file {
            Some(file) => ofd_lock::is_locked(file.as_fd(), byte).unwrap_or(true),
            None => true,
        }
    }
}

/// An open file description of a segment through which one holder takes
/// its lock bytes. Dropping it releases them all, as the holder's death
/// would: explicitly, then by closing the descriptor.
#[derive(Debug)]
pub(crate) struct Lease {
    fd: Option<OwnedFd>,
}

impl Lease {
    /// Locks `byte` unless another description holds it: `Ok(true)` means
    /// no live process holds the role behind it (see [`Lease::proves_dead`]).
    pub(crate) fn try_take(&mut self, byte: u64) -> std::io::Result<bool> {
        match &self.fd {
            Some(fd) => Ok(ofd_lock::try_lock(fd, byte)?),
            None => Ok(true),
        }
    }

    /// Lets go of `byte` (taken with [`Lease::try_take`]).
    pub(crate) fn give_back(&mut self, byte: u64) {
        if let Some(fd) = &self.fd {
            // A failed unlock leaves the byte locked until the lease is
            // dropped: the role looks held a little longer, never dead.
            let _ = ofd_lock::unlock(fd, byte);
        }
    }

    /// Whether holding a byte proves that whoever its word names is gone.
    /// True with a segment file; false on heap memory, where the word
    /// alone says who holds a role.
    pub(crate) fn proves_dead(&self) -> bool {
        self.fd.is_some()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(fd) = &self.fd {
            // Closing alone would leave the locks held as long as another
            // descriptor of this description lives: a child that another
            // thread forked keeps one until its `exec`, and the role would
            // look taken until then. A failed unlock leaves that delay.
            let _ = ofd_lock::unlock_all(fd);
        }
    }
}
