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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// One open description of a queue.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) queue: MessageQueue,
    /// (device, inode) of the caller's descriptor when it was made: tells
    /// a stale entry from a live one on the slow paths.
    pub(crate) fifo: (u64, u64),
    /// The description's `O_NONBLOCK` as this process last set or saw
    /// it: the flag itself lives on the descriptor (`F_GETFL`), shared
    /// with forked children, and is read when this says non-blocking or
    /// before a call sleeps.
    pub(crate) nonblocking_hint: AtomicBool,
}

static TABLE: RwLock<Vec<Option<Arc<Open>>>> = RwLock::new(Vec::new());
/// Entries in the table: `poll` and friends skip their look-ups at 0.
static ENTRIES: AtomicUsize = AtomicUsize::new(0);

/// Whether this process has any queue open through this library.
pub(crate) fn any() -> bool {
    // Relaxed: a descriptor opened by another thread without ordering
    // with this call could not be in the caller's poll set yet.
    ENTRIES.load(Ordering::Relaxed) != 0
}

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
    if table[index].replace(Arc::new(open)).is_none() {
        ENTRIES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Takes `fd`'s entry out of the table.
pub(crate) fn remove(fd: libc::c_int) -> Option<Arc<Open>> {
    let index = usize::try_from(fd).ok()?;
    // Only a descriptor that is ours takes the write lock: `close` runs
    // here for every descriptor the process closes.
    get(fd)?;
    let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
    let open = table.get_mut(index)?.take()?;
    ENTRIES.fetch_sub(1, Ordering::Relaxed);
    Some(open)
}

/// (device, inode) of what `fd` is now, if it is open.
pub(crate) fn identity(fd: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: `st` is a valid, writable `struct stat`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on any number is defined; it writes `st` on success.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}
