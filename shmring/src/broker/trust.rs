//! Whom a client accepts as its broker. Whoever answers on the socket
//! receives every ring the client creates and chooses every descriptor it
//! maps, so the client checks, before it sends anything:
//!
//! | check                     | applies to                       | accepted                                   |
//! |---------------------------|----------------------------------|--------------------------------------------|
//! | the socket's directory    | the default path only            | a real directory, owned by a trusted uid, not writable by group or others |
//! | the daemon (`SO_PEERCRED`)| every path                       | its uid is trusted                         |
//!
//! The trusted uids are the client's effective uid, root, and one more
//! uid the user names ([`DAEMON_UID_ENV`] or
//! [`ConnectOptions::trust_daemon_uid`](super::ConnectOptions::trust_daemon_uid)),
//! for a system-wide daemon running as its own user.
//!
//! An explicit path (`$SHMRING_SOCKET`, `--socket`, `connect_to`) is where
//! the user said the broker is: its directory is theirs to choose (a shared
//! `/run/…` or `/tmp` directory is legitimate there), but the daemon behind
//! it must still be trusted. The default path is a well-known name in a
//! shared `/tmp`, which another user may create first: there the directory
//! is checked too, before connecting, so a squatter learns nothing.

use super::error::BrokerError;
use rustix::fd::AsFd;
use std::path::Path;

/// The environment variable naming one more uid (a number) whose daemon
/// clients trust, e.g. `SHMRING_DAEMON_UID=970` for a system-wide broker
/// running as user `shmring`. Unset or empty: only the client's own uid
/// and root.
pub const DAEMON_UID_ENV: &str = "SHMRING_DAEMON_UID";

/// Group and other write bits.
const SHARED_WRITE: u32 = 0o022;

/// The uids a client accepts as the owner of its socket directory and as
/// its daemon.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trusted {
    me: u32,
    extra: Option<u32>,
}

impl Trusted {
    /// This process's effective uid (the identity the daemon sees, and the
    /// one whose files are at stake), root, and `extra`, else the uid in
    /// [`DAEMON_UID_ENV`].
    pub(crate) fn new(extra: Option<u32>) -> Result<Trusted, BrokerError> {
        let extra = match extra {
            Some(uid) => Some(uid),
            None => uid_from_env()?,
        };
        Ok(Trusted {
            me: rustix::process::geteuid().as_raw(),
            extra,
        })
    }

    fn contains(&self, uid: u32) -> bool {
        uid == self.me || uid == 0 || Some(uid) == self.extra
    }
}

fn uid_from_env() -> Result<Option<u32>, BrokerError> {
    let Some(value) = std::env::var_os(DAEMON_UID_ENV).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    // Refused rather than ignored: a user who names a daemon and mistypes
    // it should hear so, not be connected to whoever else answers.
    value
        .to_str()
        .and_then(|v| v.parse::<u32>().ok())
        .map(Some)
        .ok_or_else(|| {
            BrokerError::InvalidArgument(format!(
                "${DAEMON_UID_ENV} is {value:?}, not a numeric uid"
            ))
        })
}

/// Checks the directory that holds `socket`: it must be a real directory
/// (not a symbolic link), owned by a trusted uid, and not writable by
/// group or others (who could otherwise replace the socket). A missing
/// directory passes: connecting then finds no broker.
pub(crate) fn check_socket_dir(socket: &Path, trusted: &Trusted) -> Result<(), BrokerError> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let refuse = |why: String| BrokerError::UntrustedSocketDir {
        path: dir.to_owned(),
        why,
    };
    let st = match rustix::fs::lstat(dir) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(BrokerError::BrokerUnavailable(e.into())),
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(refuse(
            "is not a directory (a symbolic link is not accepted)".into(),
        ));
    }
    if !trusted.contains(st.st_uid) {
        return Err(refuse(format!(
            "belongs to uid {}, not to this user ({}) or root: another user may have \
             created it to receive your rings",
            st.st_uid, trusted.me
        )));
    }
    let mode = st.st_mode & 0o7777;
    if mode & SHARED_WRITE != 0 {
        return Err(refuse(format!(
            "is writable by group or others (mode {mode:#o}): anyone could replace the socket"
        )));
    }
    Ok(())
}

/// Checks who listens on the connected `socket` (`SO_PEERCRED`, see
/// `unix(7)`: the daemon's credentials when it called `listen`, which no
/// client can forge).
pub(crate) fn check_daemon(
    socket: impl AsFd,
    path: &Path,
    trusted: &Trusted,
) -> Result<(), BrokerError> {
    let peer = crate::sys::peercred::peer_credentials(&socket)
        .map_err(|e| BrokerError::BrokerUnavailable(e.into()))?;
    if trusted.contains(peer.uid) {
        return Ok(());
    }
    Err(BrokerError::UntrustedDaemon {
        path: path.to_owned(),
        uid: peer.uid,
        // Only for the message: 0 when the daemon is outside our PID
        // namespace.
        pid: peer.pid.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// A directory unique to this call (pid + counter), removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(mode: u32) -> Dir {
            #[allow(clippy::disallowed_types)] // a test counter, not ring state
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("shmring-trust-{}-{n}", std::process::id()));
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            Dir(dir)
        }

        fn socket(&self) -> PathBuf {
            self.0.join("broker.sock")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }

    fn me() -> Trusted {
        Trusted {
            me: rustix::process::geteuid().as_raw(),
            extra: None,
        }
    }

    fn refused(dir: &Dir, trusted: &Trusted) -> String {
        match check_socket_dir(&dir.socket(), trusted) {
            Err(e @ BrokerError::UntrustedSocketDir { .. }) => e.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_private_directory_passes_and_a_missing_one_is_left_to_connect() {
        let dir = Dir::new(0o700);
        check_socket_dir(&dir.socket(), &me()).unwrap();
        let dir = Dir::new(0o755);
        check_socket_dir(&dir.socket(), &me()).unwrap();
        check_socket_dir(&dir.0.join("missing").join("broker.sock"), &me()).unwrap();
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        for mode in [0o777, 0o770, 0o1777, 0o702] {
            let dir = Dir::new(mode);
            let message = refused(&dir, &me());
            assert!(message.contains("writable by group or others"), "{message}");
            assert!(message.contains(&dir.0.display().to_string()), "{message}");
        }
    }

    #[test]
    fn a_symbolic_link_is_refused() {
        let target = Dir::new(0o700);
        let link = Dir::new(0o700);
        let path = link.0.join("link");
        std::os::unix::fs::symlink(&target.0, &path).unwrap();
        let result = check_socket_dir(&path.join("broker.sock"), &me());
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(&result, Err(BrokerError::UntrustedSocketDir { why, .. }) if why.contains("not a directory")),
            "{result:?}"
        );
    }

    #[test]
    fn another_users_directory_is_refused_unless_trusted() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let dir = Dir::new(0o700);
        std::os::unix::fs::chown(&dir.0, Some(65534), Some(65534)).unwrap();
        let message = refused(&dir, &me());
        assert!(message.contains("belongs to uid 65534"), "{message}");
        let nobody = Trusted {
            extra: Some(65534),
            ..me()
        };
        check_socket_dir(&dir.socket(), &nobody).unwrap();
    }
}
