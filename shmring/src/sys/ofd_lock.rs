//! Open-file-description locks on single bytes of a segment file
//! (`fcntl(2)`, `F_OFD_SETLK` / `F_OFD_GETLK`), and a way to get a new
//! open file description of a file one already has open.
//!
//! The kernel ties such a lock to the open file description that took
//! it, not to a pid: it is dropped when the last descriptor of that
//! description is closed, which a process's death does. So a lock says
//! "a live holder" across PID namespaces, behind `hidepid`, and for
//! holders of other uids, where a pid read from shared memory says
//! nothing. Locks held through one description never conflict with
//! each other, which is why every holder takes its locks through a
//! description of its own ([`reopen`]) and probes go through one that
//! holds none.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// A new open file description of the file behind `fd`, read-write and
/// close-on-exec: `open("/proc/thread-self/fd/N", O_RDWR | O_CLOEXEC)`
/// (proc(5)). Works for a memfd and for a POSIX shm file alike, and even
/// once the file's name is gone. Only the caller's own entry is read,
/// which `hidepid` never hides. `thread-self`, not `self`: once the main
/// thread has exited (`pthread_exit` in a C main), `/proc/self` is that
/// zombie leader's, whose descriptor table is gone.
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
}

fn flock(kind: libc::c_short, byte: u64) -> Result<libc::flock, Errno> {
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value
    // (and `l_pid` must be 0 for the OFD commands).
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = libc::off_t::try_from(byte).map_err(|_| Errno::INVAL)?;
    lock.l_len = 1;
    Ok(lock)
}

fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, lock: &mut libc::flock) -> Result<(), Errno> {
    loop {
        // SAFETY: `fd` is open for the duration of the call (borrowed);
        // `lock` is a valid, exclusively borrowed `struct flock`, which is
        // what the three OFD commands read (and `F_OFD_GETLK` writes).
        let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, lock as *mut libc::flock) };
        if rc != -1 {
            return Ok(());
        }
        match Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        {
            Errno::INTR => continue,
            e => return Err(e),
        }
    }
}

/// Takes a write lock on `byte` through `fd`'s description
/// (`F_OFD_SETLK`, not waiting). `Ok(false)` if another description holds
/// a lock on it.
pub(crate) fn try_lock(fd: impl AsFd, byte: u64) -> Result<bool, Errno> {
    let mut lock = flock(libc::F_WRLCK as libc::c_short, byte)?;
    match fcntl_lock(fd.as_fd(), libc::F_OFD_SETLK, &mut lock) {
        Ok(()) => Ok(true),
        Err(Errno::AGAIN | Errno::ACCESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the lock on `byte` held through `fd`'s description
/// (`F_OFD_SETLK` with `F_UNLCK`). Closing the description's last
/// descriptor releases all its locks anyway.
pub(crate) fn unlock(fd: impl AsFd, byte: u64) -> Result<(), Errno> {
    let mut lock = flock(libc::F_UNLCK as libc::c_short, byte)?;
    fcntl_lock(fd.as_fd(), libc::F_OFD_SETLK, &mut lock)
}

/// Releases every lock held through `fd`'s description (`F_UNLCK` over
/// the whole file). Closing our descriptor is not enough when the
/// description has another: a child forked by another thread keeps it
/// until its `exec`, and the locks with it.
pub(crate) fn unlock_all(fd: impl AsFd) -> Result<(), Errno> {
    let mut lock = flock(libc::F_UNLCK as libc::c_short, 0)?;
    lock.l_len = 0; // to the end of the file, however it grows
    fcntl_lock(fd.as_fd(), libc::F_OFD_SETLK, &mut lock)
}

/// Whether a description other than `fd`'s holds a lock on `byte`
/// (`F_OFD_GETLK`). Takes nothing.
pub(crate) fn is_locked(fd: impl AsFd, byte: u64) -> Result<bool, Errno> {
    let mut lock = flock(libc::F_WRLCK as libc::c_short, byte)?;
    fcntl_lock(fd.as_fd(), libc::F_OFD_GETLK, &mut lock)?;
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::MemfdFlags;

    fn memfd() -> OwnedFd {
        rustix::fs::memfd_create("ofd-lock-test", MemfdFlags::CLOEXEC).unwrap()
    }

    #[test]
    fn descriptions_exclude_each_other_and_closing_releases() {
        let file = memfd();
        let a = reopen(file.as_fd()).unwrap();
        let b = reopen(file.as_fd()).unwrap();
        assert!(!is_locked(&file, 7).unwrap());
        assert!(try_lock(&a, 7).unwrap());
        // The same description may take it again; another may not.
        assert!(try_lock(&a, 7).unwrap());
        assert!(!try_lock(&b, 7).unwrap());
        assert!(is_locked(&file, 7).unwrap());
        assert!(is_locked(&b, 7).unwrap());
        // A neighbouring byte is independent.
        assert!(try_lock(&b, 8).unwrap());
        unlock(&a, 7).unwrap();
        assert!(!is_locked(&file, 7).unwrap());
        assert!(try_lock(&a, 7).unwrap());
        drop(a);
        assert!(!is_locked(&file, 7).unwrap());
        assert!(is_locked(&file, 8).unwrap());
        drop(b);
        assert!(!is_locked(&file, 8).unwrap());
    }

    #[test]
    fn a_dup_shares_the_description_and_its_locks() {
        let file = memfd();
        let a = reopen(file.as_fd()).unwrap();
        let dup = a.try_clone().unwrap();
        assert!(try_lock(&a, 0).unwrap());
        drop(a);
        // Still held: the description lives on in `dup` (as it does in a
        // forked child that kept the descriptor).
        assert!(is_locked(&file, 0).unwrap());
        drop(dup);
        assert!(!is_locked(&file, 0).unwrap());
    }

    #[test]
    fn unlock_all_releases_even_while_a_dup_lives() {
        let file = memfd();
        let a = reopen(file.as_fd()).unwrap();
        let dup = a.try_clone().unwrap();
        assert!(try_lock(&a, 3).unwrap());
        assert!(try_lock(&a, 4096).unwrap());
        unlock_all(&a).unwrap();
        assert!(!is_locked(&file, 3).unwrap());
        assert!(!is_locked(&file, 4096).unwrap());
        drop(dup);
    }
}
