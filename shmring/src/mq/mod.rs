//! POSIX message queues on shared memory: the semantics of `mq_open`,
//! `mq_send`, `mq_receive`, `mq_notify` and the rest as Linux implements
//! them, without a system call per message. `libshmring-mq`
//! (`bindings/mq`) puts the C API on top; `docs/mq.md` says how the two
//! compare with the kernel's queues.
//!
//! A queue is a segment file and a FIFO (`store.rs`): a lock whose
//! holder's death any waiter can see (`lock.rs`, `presence.rs`) guards a
//! list of slots sorted by priority (`ring/priority.rs`), so a holder
//! killed mid-update leaves nothing a rebuild cannot repair; callers that must wait spin briefly, then sleep
//! on a futex (`park.rs`); the FIFO holds one byte while the queue holds a
//! message, so its descriptor polls readable exactly then.
//!
//! ```
//! use shmring::mq::{MessageQueue, OpenRequest};
//! # let dir = std::env::temp_dir().join(format!("mq-doc-{}", std::process::id()));
//! let name = format!("/doc-{}", std::process::id());
//! let queue = MessageQueue::open(&OpenRequest {
//!     create: true,
//!     attr: Some((8, 64)),
//! #   dir: Some(&dir),
//!     ..OpenRequest::read_write(name.as_bytes())
//! })?;
//! queue.send(b"low", 1, None, |_| false)?;
//! queue.send(b"high", 9, None, |_| false)?;
//! let mut buf = [0u8; 64];
//! let (len, prio) = queue.receive(&mut buf, None, |_| false)?;
//! assert_eq!((&buf[..len], prio), (&b"high"[..], 9));
//! # shmring::mq::unlink_in(&dir, name.as_bytes())?;
//! # /*
//! shmring::mq::unlink(name.as_bytes())?;
//! # */
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), shmring::mq::MqError>(())
//! ```

mod lock;
mod notify;
mod park;
mod presence;
mod queue;
mod store;

pub use queue::{MQ_PRIO_MAX, MessageQueue};
pub use store::DEFAULT_DIR;

use rustix::io::Errno;

/// What `mq_open` is asked for.
#[derive(Debug, Clone, Copy)]
pub struct OpenRequest<'a> {
    /// The name, `/` and one component (bytes, as C passes them).
    pub name: &'a [u8],
    /// Open for receiving.
    pub read: bool,
    /// Open for sending.
    pub write: bool,
    /// `O_CREAT`.
    pub create: bool,
    /// `O_EXCL`.
    pub exclusive: bool,
    /// Mode bits of a queue this call makes (the umask applies).
    pub mode: u32,
    /// `mq_maxmsg` and `mq_msgsize` of a queue this call makes (`None`:
    /// the system's defaults).
    pub attr: Option<(i64, i64)>,
    /// Where the queue lives (`None`: `$SHMRING_MQ_DIR`, or
    /// [`DEFAULT_DIR`]).
    pub dir: Option<&'a std::path::Path>,
}

impl<'a> OpenRequest<'a> {
    /// Open `name` for sending and receiving, mode 0600, nothing else.
    pub fn read_write(name: &'a [u8]) -> OpenRequest<'a> {
        OpenRequest {
            name,
            read: true,
            write: true,
            create: false,
            exclusive: false,
            mode: 0o600,
            attr: None,
            dir: None,
        }
    }
}

/// `struct mq_attr` but `mq_flags`, which belongs to a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    /// `mq_maxmsg`.
    pub max_messages: i64,
    /// `mq_msgsize`.
    pub message_size: i64,
    /// `mq_curmsgs`.
    pub current_messages: i64,
}

/// Who sent the message that fired a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// The sender's pid (in its own PID namespace).
    pub sender_pid: u32,
    /// The sender's real uid.
    pub sender_uid: u32,
}

/// What a registrant's process does when its notification fires; runs
/// on a library thread with every signal blocked.
pub type NotifyAction = Box<dyn FnOnce(Fired) + Send>;

/// An error with the `errno` POSIX allows for it and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqError {
    errno: Errno,
    why: &'static str,
}

impl MqError {
    pub(crate) fn new(errno: Errno, why: &'static str) -> MqError {
        MqError { errno, why }
    }

    /// The `errno` value.
    pub fn errno(&self) -> i32 {
        self.errno.raw_os_error()
    }

    /// Why, in words (what a C caller's last-error function returns).
    pub fn why(&self) -> &'static str {
        self.why
    }
}

impl std::fmt::Display for MqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({})",
            self.why,
            std::io::Error::from_raw_os_error(self.errno())
        )
    }
}

impl std::error::Error for MqError {}

/// Removes the queue's name, as `mq_unlink` does: it lives on while any
/// process has it open; a later `mq_open` with `O_CREAT` makes a new one.
pub fn unlink(name: &[u8]) -> Result<(), MqError> {
    store::unlink(None, name)
}

/// [`unlink`] for a queue in `dir` (as [`OpenRequest::dir`]).
pub fn unlink_in(dir: &std::path::Path, name: &[u8]) -> Result<(), MqError> {
    store::unlink(Some(dir), name)
}

/// Raises signal `signo` in this process as a queue notification does
/// (`rt_sigqueueinfo(2)`): `si_code` `SI_MESGQ`, `si_pid` and `si_uid`
/// from `fired`, `si_value` = `value`.
pub fn raise_notification(signo: i32, value: usize, fired: Fired) -> Result<(), MqError> {
    crate::sys::thread::raise_mesgq(signo, value, fired.sender_pid, fired.sender_uid)
        .map_err(|e| MqError::new(e, "cannot queue the notification signal"))
}

/// Starts `f` on a thread with every signal blocked (for work a
/// notification does in its registrant's process).
pub fn spawn_quiet(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    crate::sys::thread::spawn_quiet(name, f).map(drop)
}

#[cfg(test)]
mod tests;
