//! `poll`, `ppoll`, `select`, `pselect` and `epoll_ctl`, seen first by
//! this library: a queue whose descriptor is about to be waited on starts
//! keeping its readiness FIFO (`MessageQueue::watch`), which then polls
//! readable exactly while a message waits, as a kernel queue's descriptor
//! does. Every call then goes on to the C library unchanged.
//!
//! Until a queue is watched its messages cost no system call; once it is
//! (by any process), the first message into an empty queue and the last
//! one out each cost one. `SHMRING_MQ_READINESS=always` watches every
//! queue from its opening, for programs that wait on a descriptor some
//! other way (a raw system call, or a copy made with `dup`).

use crate::kernel;
use crate::table;
use std::ffi::c_int;
use std::sync::OnceLock;

/// Whether every queue is watched from its opening.
pub(crate) fn always() -> bool {
    static ALWAYS: OnceLock<bool> = OnceLock::new();
    *ALWAYS.get_or_init(|| std::env::var("SHMRING_MQ_READINESS").is_ok_and(|v| v == "always"))
}

fn watch(fd: c_int) {
    if let Some(open) = table::get(fd) {
        // A queue that cannot be watched (its mutex unusable) will fail
        // the caller's next call on it with the reason.
        let _ = open.queue.watch();
    }
}

/// # Safety
/// `fds` points to `nfds` readable `struct pollfd`s (or `nfds` is 0).
unsafe fn watch_pollfds(fds: *const libc::pollfd, nfds: libc::nfds_t) {
    if !table::any() || fds.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    let fds = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
    for pfd in fds {
        watch(pfd.fd);
    }
}

/// # Safety
/// Each set is null or a readable `fd_set` covering `nfds` descriptors.
unsafe fn watch_fd_sets(nfds: c_int, sets: [*const libc::fd_set; 3]) {
    if !table::any() {
        return;
    }
    for fd in 0..nfds.clamp(0, libc::FD_SETSIZE as c_int) {
        let in_a_set = sets.iter().any(|set| {
            // SAFETY: the caller's contract; `fd` is below FD_SETSIZE.
            !set.is_null() && unsafe { libc::FD_ISSET(fd, *set) }
        });
        if in_a_set {
            watch(fd);
        }
    }
}

/// `poll(2)`.
///
/// # Safety
/// As `poll`: `fds` points to `nfds` `struct pollfd`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    // SAFETY: the caller's contract, checked by the kernel too.
    unsafe {
        watch_pollfds(fds, nfds);
        kernel::poll(fds, nfds, timeout)
    }
}

/// glibc's fortified `poll` (`_FORTIFY_SOURCE`).
///
/// # Safety
/// As `poll`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
    fdslen: libc::size_t,
) -> c_int {
    // SAFETY: as in `poll`; glibc checks `fdslen`.
    unsafe {
        watch_pollfds(
            fds,
            nfds.min((fdslen / std::mem::size_of::<libc::pollfd>()) as libc::nfds_t),
        );
        kernel::__poll_chk(fds, nfds, timeout, fdslen)
    }
}

/// `ppoll(2)`.
///
/// # Safety
/// As `ppoll`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: as in `poll`.
    unsafe {
        watch_pollfds(fds, nfds);
        kernel::ppoll(fds, nfds, timeout, mask)
    }
}

/// glibc's fortified `ppoll`.
///
/// # Safety
/// As `ppoll`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut libc::pollfd,
    nfds: libc::nfds_t,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
    fdslen: libc::size_t,
) -> c_int {
    // SAFETY: as in `__poll_chk`.
    unsafe {
        watch_pollfds(
            fds,
            nfds.min((fdslen / std::mem::size_of::<libc::pollfd>()) as libc::nfds_t),
        );
        kernel::__ppoll_chk(fds, nfds, timeout, mask, fdslen)
    }
}

/// `select(2)`.
///
/// # Safety
/// As `select`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    nfds: c_int,
    read: *mut libc::fd_set,
    write: *mut libc::fd_set,
    except: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        watch_fd_sets(nfds, [read, write, except].map(|s| s.cast_const()));
        kernel::select(nfds, read, write, except, timeout)
    }
}

/// `pselect(2)`.
///
/// # Safety
/// As `pselect`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    read: *mut libc::fd_set,
    write: *mut libc::fd_set,
    except: *mut libc::fd_set,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        watch_fd_sets(nfds, [read, write, except].map(|s| s.cast_const()));
        kernel::pselect(nfds, read, write, except, timeout, mask)
    }
}

/// `epoll_ctl(2)`: a queue added to (or modified in) an epoll set is
/// watched from then on.
///
/// # Safety
/// As `epoll_ctl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut libc::epoll_event,
) -> c_int {
    if op != libc::EPOLL_CTL_DEL && table::any() {
        watch(fd);
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { kernel::epoll_ctl(epfd, op, fd, event) }
}
