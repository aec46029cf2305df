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
    lock: OwnedFd,
    /// The listening socket (non-blocking, close-on-exec).
    pub listener: OwnedFd,
}

/// The lock file that belongs to `socket`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl Runtime {
    /// Creates the directory (mode `modes.directory`) if needed, takes
    /// the lock, replaces a stale socket and listens.
    pub fn start(socket_path: &Path, modes: &Modes) -> Result<Runtime, String> {
        let dir = socket_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        prepare_dir(dir, modes.directory)?;
        let lock_path = lock_path(socket_path);
        let lock = rustix::fs::open(
            &lock_path,
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
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
        let _ = rustix::fs::ftruncate(&lock, 0);
        let _ = rustix::io::pwrite(&lock, format!("{}\n", std::process::id()).as_bytes(), 0);
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
            lock,
            listener,
        })
    }

    /// Removes the socket and then the lock file (still holding the lock,
    /// so a daemon starting meanwhile waits for us).
    pub fn cleanup(self) {
        let _ = rustix::fs::unlink(&self.socket_path);
        let _ = rustix::fs::unlink(&self.lock_path);
        drop(self.lock);
    }
}

fn prepare_dir(dir: &Path, mode: u32) -> Result<(), String> {
    match rustix::fs::mkdir(dir, Mode::from_raw_mode(mode)) {
        Ok(()) => {
            // mkdir applied the umask; the configured mode is what counts.
            rustix::fs::chmod(dir, Mode::from_raw_mode(mode))
                .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
            return Ok(());
        }
        Err(Errno::EXIST) => {}
        Err(Errno::NOENT) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            return prepare_dir(dir, mode);
        }
        Err(e) => return Err(format!("mkdir {}: {e}", dir.display())),
    }
    // An existing directory must be a real directory owned by us or by
    // root: another user's directory could hold a planted socket or lock.
    let st = rustix::fs::lstat(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me && st.st_uid != 0 {
        return Err(format!(
            "{} belongs to uid {}, not to this user ({me})",
            dir.display(),
            st.st_uid
        ));
    }
    Ok(())
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
