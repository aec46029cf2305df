//! Which descriptors are this library's queues: a table from descriptor
//! number to the open queue behind it.
//!
//! The descriptor a caller holds is a duplicate of the queue's FIFO that
//! the table owns in name only: `mq_close` and `close` close it; the
//! queue's own descriptors close when the last user of the queue lets go.
//! So a program that closes it with `close(2)`, even by a raw system call
//! this library never sees, cannot make the library close a descriptor
//! number that has since been reused: a stale entry is replaced when the
//! number comes back from `mq_open`, and found out by `mq_close`.

use shmring::mq::MessageQueue;
use std::sync::{Arc, RwLock};

/// One open description of a queue.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) queue: MessageQueue,
    /// (device, inode) of the caller's descriptor when it was made: tells
    /// a stale entry from a live one on the slow paths.
    pub(crate) fifo: (u64, u64),
}

static TABLE: RwLock<Vec<Option<Arc<Open>>>> = RwLock::new(Vec::new());

/// The queue behind `fd`, if it is one of ours.
pub(crate) fn get(fd: libc::c_int) -> Option<Arc<Open>> {
    let index = usize::try_from(fd).ok()?;
    let table = TABLE.read().unwrap_or_else(|p| p.into_inner());
    table.get(index)?.clone()
}

/// Records `open` under `fd` (replacing a stale entry, whose descriptor
/// was closed behind our back: the kernel handed the number out again).
pub(crate) fn insert(fd: libc::c_int, open: Open) {
    let Ok(index) = usize::try_from(fd) else {
        return;
    };
    let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
    if table.len() <= index {
        table.resize(index + 1, None);
    }
    table[index] = Some(Arc::new(open));
}

/// Takes `fd`'s entry out of the table.
pub(crate) fn remove(fd: libc::c_int) -> Option<Arc<Open>> {
    let index = usize::try_from(fd).ok()?;
    // Only a descriptor that is ours takes the write lock: `close` runs
    // here for every descriptor the process closes.
    get(fd)?;
    let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
    table.get_mut(index)?.take()
}

/// (device, inode) of what `fd` is now, if it is open.
pub(crate) fn identity(fd: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: `st` is a valid, writable `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on any number is defined; it writes `st` on success.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}
