//! systemd integration: socket activation (the `sd_listen_fds(3)`
//! protocol, read with `listenfd`) and readiness notification
//! (`sd_notify(3)`, sent with `sd-notify`).
//!
//! | variable         | read by                   | meaning                                        |
//! |------------------|---------------------------|------------------------------------------------|
//! | `LISTEN_PID`     | [`Activation::from_env`]  | the pid the sockets are for; any other: ignored |
//! | `LISTEN_FDS`     | [`Activation::from_env`]  | how many sockets, from fd 3 on; shmringd takes exactly one |
//! | `LISTEN_FDNAMES` | [`Activation::from_env`]  | only cleared                                   |
//! | `NOTIFY_SOCKET`  | [`Notifier`]              | where `READY=1`, `STOPPING=1`, … go; unset: nothing is sent |
//! | `WATCHDOG_USEC`, `WATCHDOG_PID` | [`Activation::from_env`] | ping `WATCHDOG=1` every half of it from the event loop |
//!
//! The `LISTEN_*` and `WATCHDOG_*` variables are removed from the
//! environment whether or not they were for this process, so that no
//! child inherits them.

use rustix::fd::{FromRawFd, OwnedFd};
use rustix::net::{AddressFamily, SocketType};
use sd_notify::NotifyState;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What systemd handed this process at start.
#[derive(Debug, Default)]
pub struct Activation {
    /// The listening socket from `LISTEN_FDS`, checked to be a listening
    /// `AF_UNIX` `SOCK_SEQPACKET` socket bound to a path.
    pub socket: Option<Activated>,
    /// `WATCHDOG_USEC`, when the watchdog is on for this process.
    pub watchdog: Option<Duration>,
}

/// A listening socket passed by the service manager.
#[derive(Debug)]
pub struct Activated {
    /// The socket (close-on-exec and non-blocking once taken).
    pub listener: OwnedFd,
    /// The path it is bound to (`ListenSequentialPacket=`).
    pub path: PathBuf,
}

impl Activation {
    /// Reads and clears the `LISTEN_*` and `WATCHDOG_*` variables
    /// (module table). Sockets are taken only when `LISTEN_PID` is this
    /// process's pid (as `sd_listen_fds(3)`; a missing `LISTEN_PID` is
    /// not this process either). An error means a socket was passed that
    /// this daemon cannot serve on: more than one, or one that is not a
    /// listening UNIX `SOCK_SEQPACKET` socket bound to a path.
    ///
    /// # Safety
    ///
    /// - No other thread may run: this changes the environment
    ///   (`std::env::remove_var`, also inside `listenfd` and `sd-notify`).
    /// - Nothing else in the process may own the descriptors named by
    ///   `LISTEN_FDS` (3 and up) when it is for this process: the one
    ///   taken becomes an `OwnedFd`.
    #[allow(unsafe_code)]
    pub unsafe fn from_env() -> Result<Activation, String> {
        let me = std::process::id();
        let for_pid = std::env::var("LISTEN_PID").ok();
        let fds_set = std::env::var_os("LISTEN_FDS").is_some();
        // listenfd removes LISTEN_PID and LISTEN_FDS whatever they say.
        let mut listen = listenfd::ListenFd::from_env();
        // SAFETY: single-threaded, by this function's contract.
        unsafe {
            std::env::remove_var("LISTEN_FDNAMES");
            std::env::remove_var("LISTEN_FDS_FIRST_FD");
        }
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(true, &mut usec)
            .then(|| Duration::from_micros(usec))
            .filter(|d| !d.is_zero());
        let mut activation = Activation {
            socket: None,
            watchdog,
        };
        if !fds_set {
            return Ok(activation);
        }
        if for_pid
            .as_deref()
            .and_then(|p| p.trim().parse::<u32>().ok())
            != Some(me)
        {
            tracing::info!(
                "LISTEN_FDS is for pid {}, not this process ({me}): ignored",
                for_pid.as_deref().unwrap_or("(LISTEN_PID unset)")
            );
            return Ok(activation);
        }
        match listen.len() {
            0 => return Ok(activation),
            1 => {}
            n => {
                return Err(format!(
                    "systemd passed {n} sockets (LISTEN_FDS={n}); shmringd serves on one: give \
                     its .socket unit a single ListenSequentialPacket="
                ));
            }
        }
        let raw = match listen.take_raw_fd(0) {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(activation),
            Err(e) => return Err(format!("LISTEN_FDS: {e}")),
        };
        // SAFETY: LISTEN_PID names this process, so by the sd_listen_fds
        // protocol `raw` is a descriptor the service manager left open
        // for us, and by this function's contract nothing else owns it;
        // listenfd hands each index out once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        activation.socket = Some(check_listener(fd, raw)?);
        Ok(activation)
    }
}

/// Checks that `fd` (descriptor number `raw`) is a listening UNIX
/// `SOCK_SEQPACKET` socket bound to a path, and makes it close-on-exec
/// and non-blocking (the event loop accepts until `EAGAIN`).
fn check_listener(fd: OwnedFd, raw: i32) -> Result<Activated, String> {
    use rustix::fs::FileType;
    use rustix::net::sockopt;
    let what = format!("the socket passed by systemd (fd {raw}, LISTEN_FDS)");
    let st = rustix::fs::fstat(&fd).map_err(|e| format!("{what}: fstat: {e}"))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::Socket {
        return Err(format!(
            "{what} is not a socket but a {}; shmringd needs a listening UNIX \
             SOCK_SEQPACKET socket (ListenSequentialPacket=)",
            file_type_name(kind)
        ));
    }
    let domain = sockopt::socket_domain(&fd).map_err(|e| format!("{what}: SO_DOMAIN: {e}"))?;
    let kind = sockopt::socket_type(&fd).map_err(|e| format!("{what}: SO_TYPE: {e}"))?;
    if domain != AddressFamily::UNIX || kind != SocketType::SEQPACKET {
        let hint = if domain == AddressFamily::UNIX && kind == SocketType::STREAM {
            ": the broker protocol needs record boundaries; use ListenSequentialPacket=, not \
             ListenStream="
        } else {
            ""
        };
        return Err(format!(
            "{what} is a {} {} socket, not a UNIX SOCK_SEQPACKET one{hint}",
            family_name(domain),
            type_name(kind)
        ));
    }
    if !sockopt::socket_acceptconn(&fd).map_err(|e| format!("{what}: SO_ACCEPTCONN: {e}"))? {
        return Err(format!(
            "{what} is a UNIX SOCK_SEQPACKET socket but not listening"
        ));
    }
    let listener = std::os::unix::net::UnixListener::from(fd);
    let path = listener
        .local_addr()
        .map_err(|e| format!("{what}: getsockname: {e}"))?
        .as_pathname()
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| {
            format!(
                "{what} is not bound to a path (an abstract or unnamed socket); clients \
                 connect by path"
            )
        })?;
    let fd = OwnedFd::from(listener);
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| format!("{what}: FD_CLOEXEC: {e}"))?;
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| format!("{what}: F_GETFL: {e}"))?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| format!("{what}: O_NONBLOCK: {e}"))?;
    Ok(Activated { listener: fd, path })
}

fn file_type_name(kind: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Socket => "socket",
        _ => "file of unknown type",
    }
}

fn family_name(family: AddressFamily) -> String {
    match family {
        AddressFamily::UNIX => "UNIX".into(),
        AddressFamily::INET => "IPv4".into(),
        AddressFamily::INET6 => "IPv6".into(),
        AddressFamily::NETLINK => "netlink".into(),
        other => format!("address family {}", other.as_raw()),
    }
}

fn type_name(kind: SocketType) -> String {
    match kind {
        SocketType::STREAM => "SOCK_STREAM".into(),
        SocketType::DGRAM => "SOCK_DGRAM".into(),
        SocketType::SEQPACKET => "SOCK_SEQPACKET".into(),
        SocketType::RAW => "SOCK_RAW".into(),
        other => format!("socket type {}", other.as_raw()),
    }
}

/// Tells the service manager how the daemon is doing (`sd_notify(3)`):
/// `READY=1` once it serves, `RELOADING=1` … `READY=1` around a SIGHUP
/// reload, `STOPPING=1` when it begins to shut down, and `WATCHDOG=1`
/// every half watchdog interval. Without `NOTIFY_SOCKET` every call does
/// nothing. A failed send is logged and otherwise ignored.
#[derive(Debug)]
pub struct Notifier {
    /// Half the watchdog interval, and when the next ping is due.
    watchdog: Option<(Duration, Instant)>,
    /// The `STATUS=` of the last `READY=1`, sent again after a reload.
    status: String,
}

impl Notifier {
    /// A notifier that also pings the watchdog every `watchdog / 2`.
    pub fn new(watchdog: Option<Duration>) -> Notifier {
        Notifier {
            watchdog: watchdog.map(|d| (d / 2, Instant::now() + d / 2)),
            status: String::new(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::warn!("sd_notify: {e}");
        }
    }

    /// `READY=1` with a `STATUS=` line.
    pub fn ready(&mut self, status: &str) {
        self.status = status.to_owned();
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `RELOADING=1` with the monotonic time (as `Type=notify-reload`
    /// wants it); [`reloaded`](Self::reloaded) ends the reload.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `READY=1` again after a reload, with the status of the last
    /// [`ready`](Self::ready) and what the reload did.
    pub fn reloaded(&self, outcome: &str) {
        let status = format!("{}; {outcome}", self.status);
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: closing every client"),
        ]);
    }

    /// When the next watchdog ping is due, if the watchdog is on.
    pub fn watchdog_due(&self) -> Option<Instant> {
        self.watchdog.map(|(_, due)| due)
    }

    /// Sends `WATCHDOG=1` if it is due.
    pub fn watchdog_tick(&mut self) {
        if let Some((every, due)) = &mut self.watchdog {
            let now = Instant::now();
            if now >= *due {
                *due = now + *every;
                self.send(&[NotifyState::Watchdog]);
            }
        }
    }
}
