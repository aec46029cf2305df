//! The C library's own `mq_*` functions and `close`, found with
//! `dlsym(RTLD_NEXT, ...)`: whatever comes after this library in the
//! lookup order, the libc when it is preloaded or linked first.

use std::ffi::{CStr, c_void};
use std::sync::OnceLock;

/// The next definition of `symbol` after this library, if any.
pub(crate) fn next(cache: &OnceLock<usize>, symbol: &CStr) -> Option<*mut c_void> {
    let addr = *cache.get_or_init(|| {
        // SAFETY: `symbol` is NUL-terminated; RTLD_NEXT is valid from a
        // shared object (and from an executable, where it means libc).
        unsafe { libc::dlsym(libc::RTLD_NEXT, symbol.as_ptr()) as usize }
    });
    (addr != 0).then_some(addr as *mut c_void)
}

macro_rules! next_fn {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        /// Calls the C library's function of this name; `ENOSYS` if none.
        pub(crate) unsafe fn $name($($arg: $ty),*) -> $ret {
            static CACHE: OnceLock<usize> = OnceLock::new();
            let symbol = CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes())
                .expect("a symbol name without NUL");
            match next(&CACHE, symbol) {
                Some(f) => {
                    // SAFETY: the symbol is the C library's function of
                    // this name, whose prototype this is (mqueue.h,
                    // unistd.h); the caller passes its arguments on.
                    let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(f) };
                    // SAFETY: the caller's arguments, as valid as the C
                    // function's contract asks (each caller documents it).
                    unsafe { f($($arg),*) }
                }
                None => {
                    crate::last_error::fail(libc::ENOSYS, "the C library has no such function");
                    -1 as $ret
                }
            }
        }
    )*};
}

next_fn! {
    fn mq_open(name: *const libc::c_char, oflag: libc::c_int, mode: libc::mode_t, attr: *mut libc::mq_attr) -> libc::mqd_t;
    fn mq_close(mqd: libc::mqd_t) -> libc::c_int;
    fn mq_unlink(name: *const libc::c_char) -> libc::c_int;
    fn mq_timedsend(mqd: libc::mqd_t, msg: *const libc::c_char, len: libc::size_t, prio: libc::c_uint, timeout: *const libc::timespec) -> libc::c_int;
    fn mq_timedreceive(mqd: libc::mqd_t, msg: *mut libc::c_char, len: libc::size_t, prio: *mut libc::c_uint, timeout: *const libc::timespec) -> libc::ssize_t;
    fn mq_getattr(mqd: libc::mqd_t, attr: *mut libc::mq_attr) -> libc::c_int;
    fn mq_setattr(mqd: libc::mqd_t, new: *const libc::mq_attr, old: *mut libc::mq_attr) -> libc::c_int;
    fn mq_notify(mqd: libc::mqd_t, sevp: *const libc::sigevent) -> libc::c_int;
    fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: libc::c_int) -> libc::c_int;
    fn __poll_chk(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: libc::c_int, fdslen: libc::size_t) -> libc::c_int;
    fn ppoll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: *const libc::timespec, mask: *const libc::sigset_t) -> libc::c_int;
    fn __ppoll_chk(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: *const libc::timespec, mask: *const libc::sigset_t, fdslen: libc::size_t) -> libc::c_int;
    fn select(nfds: libc::c_int, read: *mut libc::fd_set, write: *mut libc::fd_set, except: *mut libc::fd_set, timeout: *mut libc::timeval) -> libc::c_int;
    fn pselect(nfds: libc::c_int, read: *mut libc::fd_set, write: *mut libc::fd_set, except: *mut libc::fd_set, timeout: *const libc::timespec, mask: *const libc::sigset_t) -> libc::c_int;
    fn epoll_ctl(epfd: libc::c_int, op: libc::c_int, fd: libc::c_int, event: *mut libc::epoll_event) -> libc::c_int;
}

/// `close(2)` itself, for descriptors that are not ours.
pub(crate) fn close(fd: libc::c_int) -> libc::c_int {
    static CACHE: OnceLock<usize> = OnceLock::new();
    match next(&CACHE, c"close") {
        Some(f) => {
            // SAFETY: libc's `int close(int)`.
            let f: unsafe extern "C" fn(libc::c_int) -> libc::c_int =
                unsafe { std::mem::transmute(f) };
            // SAFETY: closing a descriptor number is defined for any value.
            unsafe { f(fd) }
        }
        // SAFETY: as above, through the system call.
        None => unsafe { libc::syscall(libc::SYS_close, fd) as libc::c_int },
    }
}
