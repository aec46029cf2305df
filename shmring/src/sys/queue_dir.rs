//! The files of POSIX message queues: a shared directory like `/tmp`,
//! queue segments opened by name inside it, and FIFOs beside them
//! (open(2), mkdirat(2), mknodat(2), pread(2), unlinkat(2)).
//!
//! Every open refuses symbolic links (`O_NOFOLLOW`): the directories are
//! world-writable (sticky), so another user could plant one.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Makes `path` a directory anyone may create entries in and only an
/// entry's owner may remove them from (mode 01777, as `/tmp`), unless it
/// already exists. Its parent must exist.
pub(crate) fn make_shared_dir(path: &str) -> Result<(), Errno> {
    match fs::mkdirat(fs::CWD, path, Mode::from_raw_mode(0o1777)) {
        // mkdir applied the umask: set the mode we asked for.
        Ok(()) => fs::chmodat(fs::CWD, path, Mode::from_raw_mode(0o1777), AtFlags::empty()),
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What `lstat(2)` says of a directory the queues live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirInfo {
    /// A directory itself, not a symbolic link to one (or anything else).
    pub(crate) is_dir: bool,
    pub(crate) owner: u32,
    pub(crate) mode: u32,
}

/// `lstat(path)`, or `None` if there is nothing there.
pub(crate) fn dir_info(path: &str) -> Result<Option<DirInfo>, Errno> {
    match fs::statat(fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(DirInfo {
            is_dir: FileType::from_raw_mode(st.st_mode) == FileType::Directory,
            owner: st.st_uid,
            mode: st.st_mode & 0o7777,
        })),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates the regular file `path` read-write with exactly `mode` (the
/// umask does not apply); `EEXIST` if the name is taken.
pub(crate) fn create_exclusive(path: &str, mode: u32) -> Result<OwnedFd, Errno> {
    let fd = fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode & 0o777),
    )?;
    fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))?;
    Ok(fd)
}

/// Opens the existing regular file `path`, read-write or read-only.
/// `EACCES` for anything but a regular file.
pub(crate) fn open_regular(path: &str, write: bool) -> Result<OwnedFd, Errno> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let fd = fs::open(
        path,
        access | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| if e == Errno::LOOP { Errno::ACCESS } else { e })?;
    let st = fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(Errno::ACCESS);
    }
    Ok(fd)
}

/// The file's size (`fstat(2)`).
pub(crate) fn size(fd: impl AsFd) -> Result<u64, Errno> {
    Ok(fs::fstat(fd)?.st_size as u64)
}

/// The file's identity: (device, inode).
pub(crate) fn identity(fd: impl AsFd) -> Result<(u64, u64), Errno> {
    let st = fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Reads up to `buf.len()` bytes at `offset` (`pread(2)`).
pub(crate) fn read_at(fd: impl AsFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    loop {
        match rustix::io::pread(&fd, &mut *buf, offset) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// Creates the FIFO `path` with exactly `mode`, replacing a FIFO of
/// ours left there by a creator that died, and opens it read-write and
/// non-blocking (a read-write open of a FIFO never waits for a peer).
pub(crate) fn create_fifo(path: &str, mode: u32) -> Result<OwnedFd, Errno> {
    let mode = Mode::from_raw_mode(mode & 0o777);
    match fs::mknodat(fs::CWD, path, FileType::Fifo, mode, 0) {
        Err(Errno::EXIST) => {
            fs::unlinkat(fs::CWD, path, AtFlags::empty())?;
            fs::mknodat(fs::CWD, path, FileType::Fifo, mode, 0)?;
        }
        other => other?,
    }
    fs::chmodat(fs::CWD, path, mode, AtFlags::empty())?;
    open_fifo(path)
}

/// Opens the existing FIFO `path` read-write and non-blocking.
pub(crate) fn open_fifo(path: &str) -> Result<OwnedFd, Errno> {
    let fd = fs::open(
        path,
        OFlags::RDWR | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| if e == Errno::LOOP { Errno::ACCESS } else { e })?;
    super::bell::check_fifo(&fd)?;
    Ok(fd)
}

/// Removes the name `path` (`unlinkat(2)`).
pub(crate) fn unlink(path: &str) -> Result<(), Errno> {
    fs::unlinkat(fs::CWD, path, AtFlags::empty())
}

/// The process's file mode creation mask, read from `/proc/self/status`
/// (proc(5), "Umask", since Linux 4.7) rather than set and reset with
/// umask(2), which would race with other threads creating files.
pub(crate) fn current_umask() -> u32 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Reads a number from a file such as `/proc/sys/fs/mqueue/msg_default`.
pub(crate) fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A new open file description of the FIFO behind `fifo`, read-write
/// and close-on-exec, through `/proc/thread-self/fd` (proc(5)).
pub(crate) fn reopen_fifo(
    fifo: rustix::fd::BorrowedFd<'_>,
    nonblocking: bool,
) -> Result<OwnedFd, Errno> {
    use rustix::fd::AsRawFd;
    let path = format!("/proc/thread-self/fd/{}", fifo.as_raw_fd());
    let flags = if nonblocking {
        OFlags::NONBLOCK
    } else {
        OFlags::empty()
    };
    fs::open(path, OFlags::RDWR | OFlags::CLOEXEC | flags, Mode::empty())
}

/// Puts the one byte that says "a message waits" into the readiness
/// FIFO (non-blocking; the pipe never holds more than a byte or two).
pub(crate) fn put_byte(fifo: rustix::fd::BorrowedFd<'_>) {
    super::bell::ring(fifo);
}

/// Takes that byte out again (non-blocking; one read, where a drain
/// would need a second to see the pipe empty).
pub(crate) fn take_byte(fifo: rustix::fd::BorrowedFd<'_>) {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(fifo, &mut byte) {
            Err(Errno::INTR) => continue,
            _ => return,
        }
    }
}
