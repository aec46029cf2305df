//! The daemon's files: its directory, the lock file that keeps a second
//! daemon out (and so makes replacing a stale socket safe), and the
//! listening socket.

use crate::config::Modes;
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::path::{Path, PathBuf};

/// Backlog of the listening socket: bursts of connects wait here.
const BACKLOG: i32 = 1024;

/// The files of a running daemon; [`Runtime::cleanup`] removes them.
#[derive(Debug)]
pub struct Runtime {
    /// Where clients connect.
    pub socket_path: PathBuf,
    /// `<socket>.lock`, held with `flock(LOCK_EX)` while the daemon runs.
    pub lock_path: PathBuf,
    /// The lock; `None` only for a socket from systemd whose directory
    /// this user may not create the lock file in.
    lock: Option<OwnedFd>,
    /// The listening socket (non-blocking, close-on-exec).
    pub listener: OwnedFd,
    /// Whether the daemon bound the socket itself (and so removes it at
    /// exit); false for a socket passed by systemd, which owns its path.
    pub owns_socket: bool,
}

/// The lock file that belongs to `socket`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl Runtime {
    /// Creates the directory (mode `modes.directory`, missing parents
    /// too) if needed or checks that nobody else controls it (see
    /// `prepare_dir`), takes the lock, replaces a stale socket and
    /// listens.
    pub fn start(socket_path: &Path, modes: &Modes) -> Result<Runtime, String> {
        let dir = socket_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        prepare_dir(dir, modes.directory)?;
        let lock_path = lock_path(socket_path);
        let lock = open_lock(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
        hold_lock(&lock, &lock_path, socket_path)?;
        // With the lock held no live daemon uses the socket path: whatever
        // is there is stale.
        match rustix::fs::unlink(socket_path) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(format!("removing stale {}: {e}", socket_path.display())),
        }
        let listener = listen(socket_path, modes.socket)?;
        Ok(Runtime {
            socket_path: socket_path.to_owned(),
            lock_path,
            lock: Some(lock),
            listener,
            owns_socket: true,
        })
    }

    /// Serves on a listening socket passed by systemd (already checked
    /// by [`Activation::from_env`](super::systemd::Activation::from_env)).
    /// Neither the directory nor the socket is touched: systemd made
    /// both, and its `SocketMode=`/`DirectoryMode=` replace
    /// `modes.socket`/`modes.directory`. The lock file is taken as usual
    /// if this user may create it, so that a `shmringd` started by hand
    /// on the same path is refused instead of replacing systemd's socket;
    /// where it may not (a service user without write access to the
    /// directory), the daemon goes on without it.
    pub fn activated(socket: super::systemd::Activated) -> Result<Runtime, String> {
        let lock_path = lock_path(&socket.path);
        let lock = match open_lock(&lock_path) {
            Ok(lock) => {
                hold_lock(&lock, &lock_path, &socket.path)?;
                Some(lock)
            }
            Err(e @ (Errno::ACCESS | Errno::PERM | Errno::ROFS)) => {
                tracing::info!(
                    "no lock file {} ({e}); serving on the socket from systemd without it",
                    lock_path.display()
                );
                None
            }
            Err(e) => return Err(format!("{}: {e}", lock_path.display())),
        };
        Ok(Runtime {
            socket_path: socket.path,
            lock_path,
            lock,
            listener: socket.listener,
            owns_socket: false,
        })
    }

    /// Removes the socket (unless systemd passed it) and then the lock
    /// file (still holding the lock, so a daemon starting meanwhile waits
    /// for us).
    pub fn cleanup(self) {
        if self.owns_socket {
            let _ = rustix::fs::unlink(&self.socket_path);
        }
        if let Some(lock) = self.lock {
            let _ = rustix::fs::unlink(&self.lock_path);
            drop(lock);
        }
    }
}

/// Opens (creating) the lock file, without following a symbolic link.
fn open_lock(lock_path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        lock_path,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
}

/// Takes the lock of `socket_path` with `flock(LOCK_EX | LOCK_NB)`, if
/// the lock file is this user's, and writes our pid into it.
fn hold_lock(lock: &OwnedFd, lock_path: &Path, socket_path: &Path) -> Result<(), String> {
    // In a shared (sticky) directory another user may have created the
    // lock file first, to hold it and keep us out: only ours counts.
    let owner = rustix::fs::fstat(lock)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?
        .st_uid;
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        return Err(format!(
            "{} belongs to uid {owner}, not to this user ({me}); remove it if no \
             shmringd of that user runs",
            lock_path.display()
        ));
    }
    match rustix::fs::flock(lock, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            return Err(format!(
                "another shmringd holds {} (socket {})",
                lock_path.display(),
                socket_path.display()
            ));
        }
        Err(e) => return Err(format!("flock {}: {e}", lock_path.display())),
    }
    // Informational: who holds the lock.
    let _ = rustix::fs::ftruncate(lock, 0);
    let _ = rustix::io::pwrite(lock, format!("{}\n", std::process::id()).as_bytes(), 0);
    Ok(())
}

/// Group and other write bits: whoever has them may plant or replace a
/// socket or lock file in the directory.
const SHARED_WRITE: u32 = 0o022;
/// The sticky bit: in a shared directory, only a file's owner (or the
/// directory's, or root) may remove or rename it.
const STICKY: u32 = 0o1000;

/// Makes sure the socket's directory is one nobody else controls:
///
/// | the directory                        | what the daemon does            |
/// |--------------------------------------|---------------------------------|
/// | missing (and missing parents)        | creates each with `mode`, set by `fchmod` (the umask does not count) |
/// | owned by another uid (not us, root)  | refuses: it may be a squatter's |
/// | group/other-writable, no sticky bit  | refuses: anyone may replace the socket |
/// | group/other-writable with sticky bit | accepts (a shared directory like `/tmp`); the lock file must then be ours |
/// | a symbolic link or not a directory   | refuses                         |
///
/// `mode` itself must not give group or others write permission.
fn prepare_dir(dir: &Path, mode: u32) -> Result<(), String> {
    if mode & SHARED_WRITE != 0 {
        return Err(format!(
            "the configured socket directory mode {mode:#o} would let other users replace \
             the socket; use 0o700 (or 0o750/0o755 to let others connect)"
        ));
    }
    create_dirs(dir, mode)?;
    let fd = open_dir(dir, OFlags::PATH)?;
    let st = rustix::fs::fstat(&fd).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me && st.st_uid != 0 {
        return Err(format!(
            "{} belongs to uid {}, not to this user ({me}) or root: another user may have \
             created it to capture the socket; remove it or choose another --socket",
            dir.display(),
            st.st_uid
        ));
    }
    let found = st.st_mode & 0o7777;
    if found & SHARED_WRITE != 0 && found & STICKY == 0 {
        return Err(format!(
            "{} is writable by group or others (mode {found:#o}): they could replace the \
             socket; chmod go-w it, or set the sticky bit (chmod +t) if it is a shared \
             directory",
            dir.display()
        ));
    }
    Ok(())
}

/// Creates `dir` and its missing parents, each with exactly `mode`.
/// An existing `dir` is left as it is (the caller checks it).
fn create_dirs(dir: &Path, mode: u32) -> Result<(), String> {
    match rustix::fs::mkdir(dir, Mode::from_raw_mode(mode)) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Ok(()),
        Err(Errno::NOENT) => {
            let up = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .ok_or_else(|| format!("mkdir {}: {}", dir.display(), Errno::NOENT))?;
            create_dirs(up, mode)?;
            return create_dirs(dir, mode);
        }
        Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
    }
    // mkdir applied the umask; the configured mode is what counts. Set it
    // through a descriptor opened without following links, so nothing
    // swapped in under the name meanwhile gets it instead.
    let fd = open_dir(dir, OFlags::RDONLY)?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))
}

/// Opens a directory without following a symbolic link at its last
/// component: `access` is `O_PATH` to `fstat` it (no read permission
/// needed, as for `lstat`) or `O_RDONLY` to `fchmod` it (which refuses
/// `O_PATH` descriptors).
fn open_dir(dir: &Path, access: OFlags) -> Result<OwnedFd, String> {
    rustix::fs::open(
        dir,
        access | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP | Errno::NOTDIR => format!(
            "{} is not a directory (a symbolic link is not accepted)",
            dir.display()
        ),
        e => format!("{}: {e}", dir.display()),
    })
}

fn listen(path: &Path, mode: u32) -> Result<OwnedFd, String> {
    let fail = |what: &str, e: Errno| format!("{what} {}: {e}", path.display());
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| fail("socket", e))?;
    let addr = SocketAddrUnix::new(path).map_err(|e| fail("socket path", e))?;
    // The socket file is created by bind with the umask applied: make
    // that as strict as possible, then set the configured mode.
    let old = rustix::process::umask(Mode::from_raw_mode(0o177));
    let bound = rustix::net::bind(&sock, &addr);
    rustix::process::umask(old);
    bound.map_err(|e| fail("bind", e))?;
    rustix::fs::chmod(path, Mode::from_raw_mode(mode)).map_err(|e| fail("chmod", e))?;
    rustix::net::listen(&sock, BACKLOG).map_err(|e| fail("listen", e))?;
    Ok(sock)
}
