//! Threads the library starts inside its host process, and the signal a
//! POSIX message queue's notification raises.
//!
//! A library thread must never take a signal meant for the program: a
//! program that blocks a signal everywhere and collects it with
//! `sigwaitinfo` would otherwise see the default action (often death)
//! taken in our thread. So every such thread starts with all signals
//! blocked (pthread_sigmask(3); a new thread inherits its creator's mask).
#![allow(unsafe_code)]

use rustix::io::Errno;

/// Starts `f` on a named thread with every signal blocked.
pub(crate) fn spawn_quiet<F>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigfillset` initialises `all`; `pthread_sigmask` reads it
    // and writes the caller's previous mask into `old`, which is restored
    // below whatever the spawn returned.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), old.as_mut_ptr());
    }
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(f);
    // SAFETY: `old` was written by the call above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    spawned
}

/// The calling process's pid, cached (getpid(2) is a system call on
/// every call since glibc 2.25); a `fork` through the C library clears
/// the cache in the child (pthread_atfork(3)).
#[inline]
pub(crate) fn pid() -> u32 {
    #[allow(clippy::disallowed_types)]
    static PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static HOOKED: std::sync::Once = std::sync::Once::new();
    extern "C" fn forgotten_in_child() {
        PID.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    // Relaxed: a per-process cache of a value that never changes while
    // the process lives; the fork hook runs in the child alone.
    let cached = PID.load(std::sync::atomic::Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    HOOKED.call_once(|| {
        // SAFETY: registers a plain function for the child side of fork.
        unsafe { libc::pthread_atfork(None, None, Some(forgotten_in_child)) };
    });
    let pid = std::process::id();
    PID.store(pid, std::sync::atomic::Ordering::Relaxed);
    pid
}

/// CPUs online (`sysconf(_SC_NPROCESSORS_ONLN)`), whatever this
/// process's affinity.
pub(crate) fn cpus_online() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize
}

/// The value a notification carries (`union sigval`), as raw bits.
pub(crate) type SigValue = usize;

/// Queues signal `signo` to the calling process as a message queue's
/// notification does (`rt_sigqueueinfo(2)` to oneself): `si_code` is
/// `SI_MESGQ`, `si_pid` and `si_uid` name the sender whose message fired
/// it, `si_value` is the registration's value.
pub(crate) fn raise_mesgq(
    signo: i32,
    value: SigValue,
    sender_pid: u32,
    sender_uid: u32,
) -> Result<(), Errno> {
    // siginfo_t on Linux: si_signo @0, si_errno @4, si_code @8; for
    // SI_MESGQ (the `_rt` member) si_pid @16, si_uid @20, si_value @24.
    let mut info = [0u8; 128];
    info[0..4].copy_from_slice(&signo.to_ne_bytes());
    info[8..12].copy_from_slice(&libc::SI_MESGQ.to_ne_bytes());
    info[16..20].copy_from_slice(&sender_pid.to_ne_bytes());
    info[20..24].copy_from_slice(&sender_uid.to_ne_bytes());
    info[24..32].copy_from_slice(&value.to_ne_bytes());
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: the kernel reads 128 bytes of siginfo from `info`, which is
    // that long. Sending to oneself may use any negative `si_code`.
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, pid, signo, info.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ))
    }
}

/// The caller's effective ids and groups, for permission checks.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) euid: u32,
    pub(crate) egid: u32,
    pub(crate) groups: Vec<u32>,
}

impl Credentials {
    /// The caller's effective uid and gid and supplementary groups
    /// (getgroups(2)).
    pub(crate) fn current() -> Credentials {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        // SAFETY: a null buffer of length 0 asks for the count only.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) }.max(0) as usize;
        let mut groups = vec![0 as libc::gid_t; n];
        // SAFETY: `groups` has room for `n` gids.
        let got = unsafe { libc::getgroups(n as libc::c_int, groups.as_mut_ptr()) };
        groups.truncate(got.max(0) as usize);
        Credentials { euid, egid, groups }
    }
}
