//! Where queues live and how one is found, made, opened and removed.
//!
//! A queue named `/name` is the file `DIR/q/name` (the segment) and the
//! FIFO `DIR/r/<id>` (its readiness descriptor, `id` in the segment's
//! header), where `DIR` is `$SHMRING_MQ_DIR` or `/dev/shm/shmring-mq`.
//! `q` and `r` are shared like `/tmp` (mode 01777): anyone may create a
//! queue, only its owner (or root) may remove it, as in `/dev/mqueue`.
//!
//! The segment file's mode gives read and write to every class the
//! queue's mode gives read or write (a receiver writes the segment too);
//! the exact mode, owner and group are in the header, and [`open`] checks
//! the caller against them as the kernel checks a queue's inode.

use super::{MqError, OpenRequest};
use crate::layout::mq::{QueueShape, QueueWords, ShapeProblem};
use crate::ring::priority;
use crate::sync::Ordering::Relaxed;
use crate::sys::queue_dir;
use crate::sys::thread::Credentials;
use crate::sys::{bell, ofd_lock, shm};
use memmap2::MmapRaw;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::time::{Duration, Instant};

/// Where queues live unless `$SHMRING_MQ_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm/shmring-mq";
/// Longest name after the slash (Linux's `NAME_MAX`).
const NAME_MAX: usize = 255;
/// The byte of the segment file a creator holds locked (OFD) while it
/// initialises: an opener that finds the queue not ready and the byte
/// free knows the creator died.
const INIT_LOCK_BYTE: u64 = 0;
/// How long an opener waits for a live creator to finish.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn base_dir(dir: Option<&std::path::Path>) -> String {
    if let Some(dir) = dir {
        return dir.to_string_lossy().into_owned();
    }
    std::env::var("SHMRING_MQ_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_DIR.to_owned())
}

fn segment_path(dir: &str, name: &str) -> String {
    format!("{dir}/q/{name}")
}

fn fifo_path(dir: &str, id: u64) -> String {
    format!("{dir}/r/{id:016x}")
}

/// The part of `/name` after the slash, checked as Linux checks it.
pub(crate) fn check_name(name: &[u8]) -> Result<&str, MqError> {
    let Some(rest) = name.strip_prefix(b"/") else {
        return Err(MqError::new(Errno::INVAL, "a queue name starts with '/'"));
    };
    if rest.len() > NAME_MAX {
        return Err(MqError::new(
            Errno::NAMETOOLONG,
            "a queue name has at most 255 bytes after the '/'",
        ));
    }
    if rest.is_empty() {
        return Err(MqError::new(
            Errno::NOENT,
            "a queue name has a character after the '/'",
        ));
    }
    if rest.contains(&b'/') || rest == b"." || rest == b".." {
        return Err(MqError::new(
            Errno::ACCESS,
            "a queue name is '/' and one path component",
        ));
    }
    std::str::from_utf8(rest)
        .map_err(|_| MqError::new(Errno::INVAL, "this library takes UTF-8 queue names only"))
}

/// A queue segment mapped in this process, with its readiness FIFO.
#[derive(Debug)]
pub(crate) struct Mapped {
    _map: MmapRaw,
    pub(crate) words: QueueWords,
    pub(crate) shape: QueueShape,
    /// The segment file (holds no locks: probes go through it).
    pub(crate) segment: OwnedFd,
    /// The FIFO, read-write and non-blocking: holds one byte while the
    /// queue holds a message.
    pub(crate) ready: OwnedFd,
    /// (device, inode) of the segment file: the queue's identity.
    pub(crate) identity: (u64, u64),
}

/// Refuses queue directories that another user could play tricks with:
/// each of `dir`, `dir/q` and `dir/r` that exists must be a directory
/// (not a symbolic link), owned by root or by the caller, and sticky if
/// others may write it. The owner of a directory may rename or remove
/// anything in it, so a queue directory of another user could swap a
/// queue under the caller's feet.
fn check_dirs(dir: &str, who: &Credentials) -> Result<(), MqError> {
    for sub in ["", "/q", "/r"] {
        let path = format!("{dir}{sub}");
        let info = queue_dir::dir_info(&path)
            .map_err(|e| MqError::new(e, "cannot look at the queue directory ($SHMRING_MQ_DIR)"))?;
        let Some(info) = info else { continue };
        let shared = info.mode & 0o022 != 0;
        if !info.is_dir
            || (info.owner != 0 && info.owner != who.euid)
            || (shared && info.mode & 0o1000 == 0)
        {
            return Err(MqError::new(
                Errno::ACCESS,
                "the queue directory ($SHMRING_MQ_DIR, default /dev/shm/shmring-mq) is not a \
                 directory owned by root or by you (sticky if others may write it); \
                 have root make it with mode 1777",
            ));
        }
    }
    Ok(())
}

/// Read and write for every class that `mode` gives either to.
fn file_mode(mode: u32) -> u32 {
    (0..3).fold(0, |acc, class| {
        let bits = (mode >> (3 * class)) & 0o6;
        acc | if bits != 0 { 0o6 << (3 * class) } else { 0 }
    })
}

/// Whether `who` may open a queue shaped `shape` for `read` / `write`,
/// as the kernel decides for an inode: owner bits, else group bits, else
/// other bits; root may do anything.
fn permitted(shape: &QueueShape, who: &Credentials, read: bool, write: bool) -> bool {
    if who.euid == 0 {
        return true;
    }
    let bits = if who.euid == shape.uid {
        shape.mode >> 6
    } else if who.egid == shape.gid || who.groups.contains(&shape.gid) {
        shape.mode >> 3
    } else {
        shape.mode
    } & 0o7;
    (!read || bits & 0o4 != 0) && (!write || bits & 0o2 != 0)
}

/// The attributes of a queue about to be made: the caller's, checked
/// against Linux's limits (`/proc/sys/fs/mqueue`; root may go to the hard
/// limits), or the system's defaults.
fn creation_shape(
    attr: Option<(i64, i64)>,
    mode: u32,
    who: &Credentials,
) -> Result<QueueShape, MqError> {
    let sysctl = |name: &str, fallback: u64| {
        queue_dir::read_number(&format!("/proc/sys/fs/mqueue/{name}")).unwrap_or(fallback)
    };
    let (max_messages, message_size) = match attr {
        None => (sysctl("msg_default", 10), sysctl("msgsize_default", 8192)),
        Some((maxmsg, msgsize)) => {
            if maxmsg <= 0 || msgsize <= 0 {
                return Err(MqError::new(
                    Errno::INVAL,
                    "mq_maxmsg and mq_msgsize must be positive",
                ));
            }
            let (limit_messages, limit_size) = if who.euid == 0 {
                (
                    crate::layout::mq::MAX_MESSAGES,
                    crate::layout::mq::MAX_MESSAGE_SIZE,
                )
            } else {
                (sysctl("msg_max", 10), sysctl("msgsize_max", 8192))
            };
            if maxmsg as u64 > limit_messages || msgsize as u64 > limit_size {
                return Err(MqError::new(
                    Errno::INVAL,
                    "mq_maxmsg or mq_msgsize above the limit (/proc/sys/fs/mqueue)",
                ));
            }
            (maxmsg as u64, msgsize as u64)
        }
    };
    let umask = queue_dir::current_umask();
    QueueShape::new(
        max_messages,
        message_size,
        mode & !umask & 0o777,
        who.euid,
        who.egid,
    )
    .ok_or_else(|| MqError::new(Errno::INVAL, "queue attributes out of range"))
}

/// Opens (and with `create`, makes) the queue `request` names. Returns
/// the mapping and whether this call made the queue.
pub(crate) fn open(request: &OpenRequest<'_>) -> Result<(Mapped, bool), MqError> {
    let name = check_name(request.name)?;
    let dir = base_dir(request.dir);
    let path = segment_path(&dir, name);
    let who = Credentials::current();
    check_dirs(&dir, &who)?;
    // A name can come and go between our steps (another process unlinks
    // or makes it); each turn of this loop starts over, and each ends in
    // a success or a final error except for such races.
    for _ in 0..64 {
        match queue_dir::open_regular(&path, true) {
            Ok(fd) => {
                if request.create && request.exclusive {
                    return Err(MqError::new(
                        Errno::EXIST,
                        "the queue exists (O_CREAT | O_EXCL)",
                    ));
                }
                match attach(&dir, fd, request, &who) {
                    Err(Retry) => continue,
                    Ok(result) => return result,
                }
            }
            Err(Errno::NOENT) if request.create => {
                let shape = creation_shape(request.attr, request.mode, &who)?;
                for sub in ["", "/q", "/r"] {
                    queue_dir::make_shared_dir(&format!("{dir}{sub}")).map_err(|e| {
                        MqError::new(e, "cannot make the queue directory ($SHMRING_MQ_DIR)")
                    })?;
                }
                // Made by someone else meanwhile? The same rules.
                check_dirs(&dir, &who)?;
                match queue_dir::create_exclusive(&path, file_mode(shape.mode)) {
                    Ok(fd) => {
                        let made = initialize(&dir, fd, &shape);
                        if made.is_err() {
                            let _ = queue_dir::unlink(&path);
                        }
                        return made.map(|m| (m, true));
                    }
                    Err(Errno::EXIST) => continue,
                    Err(e) => return Err(MqError::new(e, "cannot create the queue's file")),
                }
            }
            Err(Errno::NOENT) => return Err(MqError::new(Errno::NOENT, "no such queue")),
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                return Err(MqError::new(
                    Errno::ACCESS,
                    "permission denied by the queue's mode",
                ));
            }
            Err(e) => return Err(MqError::new(e, "cannot open the queue's file")),
        }
    }
    Err(MqError::new(
        Errno::AGAIN,
        "the queue's name kept changing under us",
    ))
}

/// The name changed under us: look again.
struct Retry;

/// Maps an existing queue file, waiting for its creator to finish (or
/// finishing for a creator that died), and checks the caller's rights.
fn attach(
    dir: &str,
    fd: OwnedFd,
    request: &OpenRequest<'_>,
    who: &Credentials,
) -> Result<Result<(Mapped, bool), MqError>, Retry> {
    let started = Instant::now();
    loop {
        let size = queue_dir::size(&fd).map_err(|_| Retry)?;
        if size >= crate::layout::mq::SLOTS_OFFSET {
            let map = match shm::map_shared(&fd, size) {
                Ok(map) => map,
                Err(_) => return Ok(Err(MqError::new(Errno::NOMEM, "cannot map the queue"))),
            };
            let words = words_of(&map, size);
            match words.read_shape() {
                Ok(shape) => {
                    if !permitted(&shape, who, request.read, request.write) {
                        return Ok(Err(MqError::new(
                            Errno::ACCESS,
                            "permission denied by the queue's mode",
                        )));
                    }
                    let id = words.ready_id().load(Relaxed);
                    let ready = match queue_dir::open_fifo(&fifo_path(dir, id)) {
                        Ok(ready) => ready,
                        // Unlinked since we opened the file.
                        Err(Errno::NOENT) => return Err(Retry),
                        Err(e) => {
                            return Ok(Err(MqError::new(
                                e,
                                "cannot open the queue's readiness FIFO",
                            )));
                        }
                    };
                    let identity = queue_dir::identity(&fd).map_err(|_| Retry)?;
                    return Ok(Ok((
                        Mapped {
                            _map: map,
                            words,
                            shape,
                            segment: fd,
                            ready,
                            identity,
                        },
                        false,
                    )));
                }
                Err(ShapeProblem::Invalid) => {
                    return Ok(Err(MqError::new(
                        Errno::INVAL,
                        "the file is not a queue of this layout (or was corrupted)",
                    )));
                }
                Err(ShapeProblem::NotReady) => {}
            }
        }
        // Not ready: is its creator still at work?
        let creator_alive = ofd_lock::is_locked(&fd, INIT_LOCK_BYTE).unwrap_or(true);
        if !creator_alive {
            if !request.create {
                return Ok(Err(MqError::new(
                    Errno::NOENT,
                    "the queue's creator died before it was made",
                )));
            }
            return Ok(take_over(dir, fd, request, who).map(|m| (m, true)));
        }
        if started.elapsed() > READY_TIMEOUT {
            return Ok(Err(MqError::new(
                Errno::AGAIN,
                "the queue's creator has not finished making it",
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[allow(unsafe_code)]
fn words_of(map: &MmapRaw, len: u64) -> QueueWords {
    // SAFETY: the mapping is page-aligned, `len` bytes long, and lives as
    // long as the `Mapped` that keeps both; queue memory is only accessed
    // through `QueueWords`.
    unsafe { QueueWords::new(map.as_mut_ptr(), len) }
}

/// Makes the queue in a file whose creator died before it was ready.
fn take_over(
    dir: &str,
    fd: OwnedFd,
    request: &OpenRequest<'_>,
    who: &Credentials,
) -> Result<Mapped, MqError> {
    let shape = creation_shape(request.attr, request.mode, who)?;
    rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(file_mode(shape.mode))).map_err(
        |_| {
            MqError::new(
                Errno::ACCESS,
                "a half-made queue of another user is in the way",
            )
        },
    )?;
    initialize(dir, fd, &shape)
}

/// Lays out a new queue in `fd` and publishes it, holding the init lock
/// byte throughout (a second opener that gets here first waits for us).
fn initialize(dir: &str, fd: OwnedFd, shape: &QueueShape) -> Result<Mapped, MqError> {
    let lock = ofd_lock::reopen(rustix::fd::AsFd::as_fd(&fd))
        .map_err(|e| MqError::new(e, "cannot reopen the queue's file"))?;
    if !ofd_lock::try_lock(&lock, INIT_LOCK_BYTE).unwrap_or(false) {
        return Err(MqError::new(
            Errno::AGAIN,
            "another process is making this queue",
        ));
    }
    shm::set_len_reserved(&fd, shape.segment_size).map_err(|e| {
        MqError::new(
            if e == Errno::NOSPC { Errno::NOSPC } else { e },
            "no room for the queue in its file system",
        )
    })?;
    let map = shm::map_shared(&fd, shape.segment_size)
        .map_err(|_| MqError::new(Errno::NOMEM, "cannot map the queue"))?;
    let words = words_of(&map, shape.segment_size);
    words.write_header(shape);
    words.lock_word().store(0, Relaxed);
    words.anonymous_receivers().store(0, Relaxed);
    priority::init(&words, shape);
    for line in [words.not_empty(), words.not_full()] {
        line.epoch.store(0, Relaxed);
        line.sleepers.store(0, Relaxed);
        line.waiters.store(0, Relaxed);
    }
    words.notify_token().store(0, Relaxed);
    words.notify_fired().store(0, Relaxed);
    words.watched().store(0, Relaxed);
    for index in 0..crate::layout::mq::PRESENCE_ENTRIES {
        for word in words.presence(index) {
            word.store(0, Relaxed);
        }
    }
    let id =
        bell::random_u64().map_err(|e| MqError::new(e, "no randomness for the FIFO's name"))?;
    let ready = queue_dir::create_fifo(&fifo_path(dir, id), file_mode(shape.mode))
        .map_err(|e| MqError::new(e, "cannot make the queue's readiness FIFO"))?;
    words.ready_id().store(id, Relaxed);
    words.publish_ready();
    let identity =
        queue_dir::identity(&fd).map_err(|e| MqError::new(e, "cannot stat the queue"))?;
    drop(lock);
    Ok(Mapped {
        _map: map,
        words,
        shape: *shape,
        segment: fd,
        ready,
        identity,
    })
}

/// Removes the queue's name (and its FIFO's); the queue lives on while
/// any process has it open, as `mq_unlink` says.
pub(crate) fn unlink(dir: Option<&std::path::Path>, name: &[u8]) -> Result<(), MqError> {
    let name = check_name(name)?;
    let dir = base_dir(dir);
    check_dirs(&dir, &Credentials::current())?;
    let path = segment_path(&dir, name);
    // The FIFO's id, if we may read it (an owner may remove a queue whose
    // mode forbids it reading; its FIFO is then left, empty and harmless).
    let fifo = queue_dir::open_regular(&path, false).ok().and_then(|fd| {
        let mut magic = [0u8; 8];
        let mut id = [0u8; 8];
        let ok = queue_dir::read_at(&fd, &mut magic, 0).ok() == Some(8)
            && magic == crate::layout::mq::MAGIC
            && queue_dir::read_at(&fd, &mut id, 72).ok() == Some(8);
        ok.then(|| u64::from_ne_bytes(id))
    });
    match queue_dir::unlink(&path) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Err(MqError::new(Errno::NOENT, "no such queue")),
        Err(Errno::PERM) | Err(Errno::ACCESS) => {
            return Err(MqError::new(
                Errno::ACCESS,
                "only the queue's owner may remove it",
            ));
        }
        Err(e) => return Err(MqError::new(e, "cannot remove the queue")),
    }
    if let Some(id) = fifo {
        let _ = queue_dir::unlink(&fifo_path(&dir, id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_mode_gives_read_and_write_to_every_class_with_either() {
        assert_eq!(file_mode(0o600), 0o600);
        assert_eq!(file_mode(0o640), 0o660);
        assert_eq!(file_mode(0o421), 0o660);
        assert_eq!(file_mode(0o000), 0o000);
    }

    #[test]
    fn a_queue_directory_that_is_a_link_or_another_users_is_refused() {
        let base = std::env::temp_dir().join(format!("mq-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let who = Credentials::current();
        let dir = base.join("queues");
        let dir_str = dir.to_str().unwrap();
        // Missing: fine (made at the first O_CREAT).
        assert!(check_dirs(dir_str, &who).is_ok());
        // A symbolic link to a directory: refused.
        std::os::unix::fs::symlink(&base, &dir).unwrap();
        assert_eq!(check_dirs(dir_str, &who).unwrap_err().errno(), libc::EACCES);
        std::fs::remove_file(&dir).unwrap();
        // World-writable without the sticky bit: refused; with it: fine.
        std::fs::create_dir(&dir).unwrap();
        let chmod = |mode| {
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap()
        };
        chmod(0o777);
        assert_eq!(check_dirs(dir_str, &who).unwrap_err().errno(), libc::EACCES);
        chmod(0o1777);
        assert!(check_dirs(dir_str, &who).is_ok());
        // Owned by another user (for a caller that is neither root nor
        // that user): refused.
        let stranger = Credentials {
            euid: who.euid.wrapping_add(4242),
            egid: who.egid,
            groups: Vec::new(),
        };
        if who.euid != 0 {
            assert_eq!(
                check_dirs(dir_str, &stranger).unwrap_err().errno(),
                libc::EACCES
            );
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn names_are_checked_as_linux_checks_them() {
        assert_eq!(check_name(b"/q").unwrap(), "q");
        assert_eq!(
            check_name(b"q").unwrap_err().errno(),
            Errno::INVAL.raw_os_error()
        );
        let long = format!("/{}", "x".repeat(256));
        assert_eq!(
            check_name(long.as_bytes()).unwrap_err().errno(),
            Errno::NAMETOOLONG.raw_os_error()
        );
        assert!(check_name(format!("/{}", "x".repeat(255)).as_bytes()).is_ok());
    }
}
