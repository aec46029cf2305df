//! FIFOs used as doorbells (fifo(7), pipe(7)): made, found, reopened in
//! the mode an endpoint needs, rung and drained.
//!
//! A doorbell is held as an `O_PATH` descriptor, which counts as neither
//! reader nor writer; each endpoint reopens it through
//! `/proc/thread-self/fd/N` in its own mode, so the kernel's reader and writer
//! counts are exactly the endpoints' (the end-of-file rule depends on it,
//! see `readiness/doorbell.rs`). Every descriptor is close-on-exec and
//! non-blocking.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;

/// Where named rings keep their doorbells: beside the segments.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// One page: one pipe buffer slot, so that a single byte makes the pipe
/// full and its write end stop polling writable.
const PIPE_SIZE: usize = 4096;

/// Creates the FIFO `dir/name` (`mknodat(2)` with `S_IFIFO`), with exactly
/// `mode` (the umask does not apply), and returns an `O_PATH` descriptor.
/// `EEXIST` if the name is taken.
pub(crate) fn create(dir: &str, name: &str, mode: u32) -> Result<OwnedFd, Errno> {
    let path = format!("{dir}/{name}");
    fs::mknodat(
        fs::CWD,
        &path,
        fs::FileType::Fifo,
        Mode::from_raw_mode(mode & 0o777),
        0,
    )?;
    let made = (|| {
        let fd = open_path(&path)?;
        // mknod applied the umask; the caller asked for exactly `mode`.
        // fchmod does not work on O_PATH: change it by name. Nobody else
        // can have replaced the name meanwhile: in the sticky /dev/shm only
        // its owner (us) may rename or remove it.
        fs::chmodat(
            fs::CWD,
            &path,
            Mode::from_raw_mode(mode & 0o777),
            fs::AtFlags::empty(),
        )?;
        Ok(fd)
    })();
    if made.is_err() {
        let _ = fs::unlinkat(fs::CWD, &path, fs::AtFlags::empty());
    }
    made
}

/// Opens the FIFO `dir/name` as `O_PATH`, refusing a symbolic link or
/// anything but a FIFO (`ENOENT` if missing, `EINVAL` if not a FIFO).
pub(crate) fn open_existing(dir: &str, name: &str) -> Result<OwnedFd, Errno> {
    open_path(&format!("{dir}/{name}"))
}

fn open_path(path: &str) -> Result<OwnedFd, Errno> {
    let fd = fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    check_fifo(&fd)?;
    Ok(fd)
}

/// `EINVAL` unless `fd` is a FIFO (or a pipe).
pub(crate) fn check_fifo(fd: impl AsFd) -> Result<(), Errno> {
    let st = fs::fstat(fd)?;
    if fs::FileType::from_raw_mode(st.st_mode) == fs::FileType::Fifo {
        Ok(())
    } else {
        Err(Errno::INVAL)
    }
}

/// The owner uid of the FIFO behind `fd`.
pub(crate) fn owner(fd: impl AsFd) -> Result<u32, Errno> {
    Ok(fs::fstat(fd)?.st_uid)
}

/// Removes `dir/name` (`unlinkat(2)`).
pub(crate) fn unlink(dir: &str, name: &str) -> Result<(), Errno> {
    fs::unlinkat(fs::CWD, format!("{dir}/{name}"), fs::AtFlags::empty())
}

/// How an endpoint opens a doorbell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reader only: drained by its holder, hangs up when writers are gone.
    Read,
    /// Writer only: polls writable while the pipe has room, reports an
    /// error once every reader is gone.
    Write,
    /// Both: counts as a reader and a writer, never blocks on open.
    ReadWrite,
}

/// Opens the FIFO behind the `O_PATH` descriptor `fifo` again, with
/// `access`, through `/proc/thread-self/fd` (proc(5)). A write-only open cannot
/// fail with `ENXIO` for want of a reader: a read-write description is
/// held across it.
pub(crate) fn reopen(fifo: BorrowedFd<'_>, access: Access) -> Result<OwnedFd, Errno> {
    let path = format!("/proc/thread-self/fd/{}", fifo.as_raw_fd());
    let open = |mode: OFlags| {
        fs::open(
            &path,
            mode | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match access {
        Access::Read => open(OFlags::RDONLY)?,
        Access::ReadWrite => open(OFlags::RDWR)?,
        Access::Write => {
            let bridge = open(OFlags::RDWR)?;
            let fd = open(OFlags::WRONLY)?;
            drop(bridge);
            fd
        }
    };
    check_fifo(&fd)?;
    // Best effort: a larger pipe only makes a sender's descriptor need
    // more bytes to stop polling writable (see `fill`).
    let _ = rustix::pipe::fcntl_setpipe_size(&fd, PIPE_SIZE);
    Ok(fd)
}

/// A private doorbell: a pipe of this process (read end, write end),
/// non-blocking and close-on-exec, one page deep where the kernel allows.
pub(crate) fn private_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (read, write) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
    )?;
    // Best effort, as for the FIFOs.
    let _ = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE);
    Ok((read, write))
}

/// Creates an unnamed doorbell: a FIFO made in `dir` under a random name,
/// opened as `O_PATH` and unlinked at once, with mode 0666 so that any
/// process it is handed to can reopen it (only a holder of the descriptor
/// can reach it).
pub(crate) fn create_unnamed(dir: &str) -> Result<OwnedFd, Errno> {
    for _ in 0..8 {
        let name = format!(".shmring-bell-{:016x}", random_u64()?);
        match create(dir, &name, 0o666) {
            Ok(fd) => {
                unlink(dir, &name)?;
                return Ok(fd);
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EXIST)
}

/// Eight random bytes (`getrandom(2)`).
pub(crate) fn random_u64() -> Result<u64, Errno> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the buffer pointer and length describe `bytes[filled..]`,
        // which is valid for writes.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = Errno::from_raw_os_error(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            );
            if e == Errno::INTR {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(u64::from_ne_bytes(bytes))
}

/// What [`drain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// `read` returned 0: no writer holds the FIFO now.
    pub(crate) no_writer: bool,
}

/// Reads everything waiting in a FIFO, without blocking, until it says
/// empty (`EAGAIN`) or end of file. Reading on after a short read costs
/// one more call but tells end of file apart from "empty": a last sender
/// that rang and then died leaves a byte in front of the end of file.
/// Bounded: a FIFO holds one page here (at most 16 when the size could
/// not be set), so a peer that floods it costs at most 17 reads per call.
pub(crate) fn drain(fd: BorrowedFd<'_>) -> Drained {
    let mut buf = [0u8; PIPE_SIZE];
    for _ in 0..17 {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Drained { no_writer: true },
            Ok(_) => continue,
            // EAGAIN: empty. EINTR: the next look or wake-up retries.
            Err(_) => break,
        }
    }
    Drained { no_writer: false }
}

/// Whether the kernel reports the FIFO's other end closed on this
/// descriptor: hang-up for a reader (no writer left), error for a
/// write-only descriptor (no reader left). Does not consume anything.
pub(crate) fn other_end_closed(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::empty(),
    )];
    rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).is_ok_and(|n| n > 0)
        && fds[0]
            .revents()
            .intersects(rustix::event::PollFlags::HUP | rustix::event::PollFlags::ERR)
}

/// Writes one byte into a FIFO without blocking: a full FIFO (`EAGAIN`)
/// is already ringing. Only called on descriptors that are also readers,
/// so it can never raise `SIGPIPE`.
pub(crate) fn ring(fd: BorrowedFd<'_>) {
    loop {
        match rustix::io::write(fd, &[1]) {
            Err(Errno::INTR) => continue,
            _ => return,
        }
    }
}

/// Fills a FIFO through its write-only descriptor, so that it stops
/// polling writable until somebody drains it. Returns false when no reader
/// holds it (`EPIPE`), with the `SIGPIPE` that the kernel raised for that
/// consumed, never delivered: a library must not kill its host process.
pub(crate) fn fill(fd: BorrowedFd<'_>) -> bool {
    let blocked = SigpipeBlocked::new();
    let chunk = [0u8; PIPE_SIZE];
    for _ in 0..16 {
        match rustix::io::write(fd, &chunk) {
            Ok(_) => {
                if !rustix::event::poll(
                    &mut [rustix::event::PollFd::new(
                        &fd,
                        rustix::event::PollFlags::OUT,
                    )],
                    Some(&rustix::event::Timespec::default()),
                )
                .is_ok_and(|n| n > 0)
                {
                    return true;
                }
            }
            Err(Errno::AGAIN) => return true,
            Err(Errno::INTR) => continue,
            Err(Errno::PIPE) => {
                blocked.consume();
                return false;
            }
            Err(_) => return true,
        }
    }
    true
}

/// Blocks `SIGPIPE` on this thread while alive (pthread_sigmask(3)).
struct SigpipeBlocked {
    old: libc::sigset_t,
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: sigset_t is plain data; the sig* functions initialise and
        // read it; pthread_sigmask changes only this thread's mask and
        // writes the old mask into `old`.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            SigpipeBlocked { old, was_pending }
        }
    }

    /// Takes the `SIGPIPE` our write raised off the pending set, unless one
    /// was pending already (then it is somebody else's and stays).
    fn consume(&self) {
        if self.was_pending {
            return;
        }
        // SAFETY: as in `new`; a zero timeout makes sigtimedwait poll.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`, on the same thread.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}
