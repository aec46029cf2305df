//! The exported functions: `<mqueue.h>`'s, with Linux's signatures, and
//! `close`, so that closing a queue's descriptor with `close(2)` ends its
//! use cleanly.
//!
//! Each checks its arguments in the order Linux does (which error wins
//! when several apply is part of the behaviour programs see), then hands
//! the call to `shmring::mq`, or to the C library when the descriptor or
//! name is a kernel queue's.

use crate::kernel;
use crate::last_error::fail;
use crate::notify::SigEvent;
use crate::readiness;
use crate::table::{self, Open};
use shmring::mq::{MQ_PRIO_MAX, MessageQueue, MqError, OpenRequest};
use std::ffi::{CStr, c_char, c_int, c_uint};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn failed(error: &MqError) -> c_int {
    fail(error.errno(), error.why())
}

/// A realtime deadline from an absolute `struct timespec`, checked as
/// Linux checks it (before anything else: `EINVAL`).
///
/// # Safety
/// `timeout` is null or points to a readable `struct timespec`.
unsafe fn deadline(timeout: *const libc::timespec) -> Result<Option<SystemTime>, c_int> {
    if timeout.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    let ts = unsafe { *timeout };
    if !(0..1_000_000_000).contains(&ts.tv_nsec) || ts.tv_sec < 0 {
        return Err(fail(
            libc::EINVAL,
            "the timeout's tv_nsec or tv_sec is out of range",
        ));
    }
    let since_epoch = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    // Past what the clock can say: never.
    Ok(UNIX_EPOCH.checked_add(since_epoch))
}

// `mq_open` is variadic in C; it is defined here with its four
// arguments, which the C ABIs of these targets pass in the same registers
// either way (Rust cannot define a C-variadic function on stable).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("libshmring-mq's mq_open relies on the x86_64 or aarch64 calling convention");

/// `mq_open(3)`. The variadic `mode` and `attr` are read only with
/// `O_CREAT`, as the C library does: on x86_64 and aarch64 Linux a
/// variadic argument travels where a fixed one would.
///
/// # Safety
/// `name` is a NUL-terminated string; with `O_CREAT`, `attr` is null or
/// points to a readable `struct mq_attr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_open(
    name: *const c_char,
    oflag: c_int,
    mode: libc::mode_t,
    attr: *mut libc::mq_attr,
) -> libc::mqd_t {
    // SAFETY: the caller's contract, passed on.
    unsafe { open(name, oflag, mode, attr) }
}

/// The body of [`mq_open`], called directly by the other entry points:
/// a call to the exported symbol would go through the PLT and, in a
/// library loaded with `RTLD_LOCAL`, find the C library's.
///
/// # Safety
/// As [`mq_open`].
unsafe fn open(
    name: *const c_char,
    oflag: c_int,
    mode: libc::mode_t,
    attr: *mut libc::mq_attr,
) -> libc::mqd_t {
    if name.is_null() {
        return fail(libc::EINVAL, "no name");
    }
    // SAFETY: the caller's contract.
    let name_bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    let create = oflag & libc::O_CREAT != 0;
    let exclusive = oflag & libc::O_EXCL != 0;
    let (mode, attr) = if create {
        let attr = if attr.is_null() {
            None
        } else {
            // SAFETY: the caller's contract (with O_CREAT).
            let a = unsafe { *attr };
            Some((a.mq_maxmsg, a.mq_msgsize))
        };
        (mode, attr)
    } else {
        (0, None)
    };
    if !name_bytes.starts_with(b"/") {
        return fail(libc::EINVAL, "a queue name starts with '/'");
    }
    // A kernel queue of that name comes first: this library never hides
    // one (docs/mq.md, "Names that are kernel queues").
    if let Some(fd) = kernel_queue(name, oflag, create && exclusive) {
        return fd;
    }
    let access = oflag & libc::O_ACCMODE;
    let request = OpenRequest {
        name: name_bytes,
        // O_ACCMODE 3 opens neither way (Linux makes the queue if asked,
        // or refuses an existing one with EINVAL: below).
        read: access == libc::O_RDONLY || access == libc::O_RDWR,
        write: access == libc::O_WRONLY || access == libc::O_RDWR,
        create,
        exclusive,
        mode,
        attr,
        // $SHMRING_MQ_DIR or the default.
        dir: None,
    };
    match MessageQueue::open(&request) {
        // Linux refuses the access mode only once it knows the queue
        // existed before the call.
        Ok(queue) if access == libc::O_ACCMODE && !queue.created() => {
            fail(libc::EINVAL, "O_ACCMODE is O_RDONLY, O_WRONLY or O_RDWR")
        }
        Ok(queue) => opened(queue, oflag & libc::O_NONBLOCK != 0),
        Err(e) => failed(&e),
    }
}

/// A descriptor for the caller: an open file description of the queue's
/// FIFO of its own, close-on-exec as Linux's queue descriptors are, whose
/// `O_NONBLOCK` is the description's flag (shared across `fork` and `dup`
/// as a kernel queue's is).
fn opened(queue: MessageQueue, nonblocking: bool) -> libc::mqd_t {
    let fd = match queue.descriptor(nonblocking) {
        Ok(fd) => fd.into_raw_fd(),
        Err(e) => return failed(&e),
    };
    if readiness::always() {
        if let Err(e) = queue.watch() {
            kernel::close(fd);
            return failed(&e);
        }
    }
    let fifo = table::identity(fd).unwrap_or((0, 0));
    table::insert(
        fd,
        Open {
            queue,
            fifo,
            nonblocking_hint: AtomicBool::new(nonblocking),
        },
    );
    fd
}

/// If `name` is a kernel queue, the C library opens it: this library
/// never hides an existing kernel queue. `None` if there is none.
fn kernel_queue(name: *const c_char, oflag: c_int, exclusive: bool) -> Option<libc::mqd_t> {
    let probe = oflag & !(libc::O_CREAT | libc::O_EXCL);
    // SAFETY: the name is the caller's C string; without O_CREAT the
    // variadic arguments are not read.
    let fd = unsafe { kernel::mq_open(name, probe, 0, std::ptr::null_mut()) };
    if fd >= 0 {
        if exclusive {
            // SAFETY: closing the descriptor just opened.
            unsafe { kernel::mq_close(fd) };
            return Some(fail(libc::EEXIST, "a kernel queue of that name exists"));
        }
        return Some(fd);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    match errno {
        // It exists, but not for us.
        libc::EACCES if exclusive => Some(fail(libc::EEXIST, "a kernel queue of that name exists")),
        libc::EACCES => Some(fail(
            libc::EACCES,
            "a kernel queue of that name exists, not open to us",
        )),
        _ => None,
    }
}

/// glibc's fortified `mq_open` for two arguments (`_FORTIFY_SOURCE`).
///
/// # Safety
/// As [`mq_open`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __mq_open_2(name: *const c_char, oflag: c_int) -> libc::mqd_t {
    if oflag & libc::O_CREAT != 0 {
        // What glibc does: O_CREAT needs the mode and attributes.
        eprintln!("invalid mq_open call: O_CREAT without mode and attr");
        std::process::abort();
    }
    // SAFETY: the caller's contract; without O_CREAT the rest is unread.
    unsafe { open(name, oflag, 0, std::ptr::null_mut()) }
}

/// `mq_close(3)`.
#[unsafe(no_mangle)]
pub extern "C" fn mq_close(mqd: libc::mqd_t) -> c_int {
    match table::remove(mqd) {
        Some(open) => {
            if table::identity(mqd) != Some(open.fifo) {
                // Closed behind our back and the number reused: not ours.
                return fail(libc::EBADF, "not a message queue descriptor");
            }
            drop(open);
            kernel::close(mqd)
        }
        // SAFETY: a descriptor number; libc checks it.
        None => unsafe { kernel::mq_close(mqd) },
    }
}

/// `close(2)`, seen first by this library: a queue's descriptor leaves
/// the table (its notification registration ends, as on Linux) before
/// the C library closes it. Any other descriptor passes straight on.
#[unsafe(no_mangle)]
pub extern "C" fn close(fd: c_int) -> c_int {
    if let Some(open) = table::remove(fd) {
        drop(open);
    }
    kernel::close(fd)
}

/// `mq_unlink(3)`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_unlink(name: *const c_char) -> c_int {
    if name.is_null() {
        return fail(libc::EINVAL, "no name");
    }
    // SAFETY: the caller's contract.
    let bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    if !bytes.starts_with(b"/") {
        return fail(libc::EINVAL, "a queue name starts with '/'");
    }
    // A kernel queue of that name first, as in `mq_open`: removed, or
    // refused (EACCES, which is also the kernel's answer to a second '/',
    // as it is this library's). Anything else (no such kernel queue, no
    // kernel queues at all) is this library's to answer.
    // SAFETY: the caller's C string.
    let rc = unsafe { kernel::mq_unlink(name) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    if rc == 0 || errno == libc::EACCES {
        return rc;
    }
    match shmring::mq::unlink(bytes) {
        Ok(()) => 0,
        Err(e) => failed(&e),
    }
}

/// `mq_send(3)`.
///
/// # Safety
/// `msg` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_send(
    mqd: libc::mqd_t,
    msg: *const c_char,
    len: libc::size_t,
    prio: c_uint,
) -> c_int {
    // SAFETY: the caller's contract; no timeout.
    unsafe { timedsend(mqd, msg, len, prio, std::ptr::null()) }
}

/// `mq_timedsend(3)`.
///
/// # Safety
/// `msg` points to `len` readable bytes; `timeout` is null or points to a
/// readable `struct timespec`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_timedsend(
    mqd: libc::mqd_t,
    msg: *const c_char,
    len: libc::size_t,
    prio: c_uint,
    timeout: *const libc::timespec,
) -> c_int {
    // SAFETY: the caller's contract, passed on.
    unsafe { timedsend(mqd, msg, len, prio, timeout) }
}

/// The body of [`mq_timedsend`], called directly by the other entry points:
/// a call to the exported symbol would go through the PLT and, in a
/// library loaded with `RTLD_LOCAL`, find the C library's.
///
/// # Safety
/// As [`mq_timedsend`].
unsafe fn timedsend(
    mqd: libc::mqd_t,
    msg: *const c_char,
    len: libc::size_t,
    prio: c_uint,
    timeout: *const libc::timespec,
) -> c_int {
    let Some(open) = table::get(mqd) else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { kernel::mq_timedsend(mqd, msg, len, prio, timeout) };
    };
    // SAFETY: the caller's contract.
    let deadline = match unsafe { deadline(timeout) } {
        Ok(d) => d,
        Err(rc) => return rc,
    };
    if prio >= MQ_PRIO_MAX {
        return fail(libc::EINVAL, "priority at or above MQ_PRIO_MAX");
    }
    if msg.is_null() && len > 0 {
        return fail(libc::EFAULT, "no message (a null pointer)");
    }
    let message: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract: `len` readable bytes at `msg`.
        // Only read when the queue can take a message that long (checked
        // in `send` before any byte is touched).
        unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) }
    };
    match open.queue.send(message, prio, deadline, |sure| {
        nonblocking(&open, mqd, sure)
    }) {
        Ok(()) => 0,
        Err(e) => failed(&e),
    }
}

/// `mq_receive(3)`.
///
/// # Safety
/// `msg` points to `len` writable bytes; `prio` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_receive(
    mqd: libc::mqd_t,
    msg: *mut c_char,
    len: libc::size_t,
    prio: *mut c_uint,
) -> libc::ssize_t {
    // SAFETY: the caller's contract; no timeout.
    unsafe { timedreceive(mqd, msg, len, prio, std::ptr::null()) }
}

/// `mq_timedreceive(3)`.
///
/// # Safety
/// `msg` points to `len` writable bytes; `prio` is null or writable;
/// `timeout` is null or points to a readable `struct timespec`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_timedreceive(
    mqd: libc::mqd_t,
    msg: *mut c_char,
    len: libc::size_t,
    prio: *mut c_uint,
    timeout: *const libc::timespec,
) -> libc::ssize_t {
    // SAFETY: the caller's contract, passed on.
    unsafe { timedreceive(mqd, msg, len, prio, timeout) }
}

/// The body of [`mq_timedreceive`], called directly by the other entry points:
/// a call to the exported symbol would go through the PLT and, in a
/// library loaded with `RTLD_LOCAL`, find the C library's.
///
/// # Safety
/// As [`mq_timedreceive`].
unsafe fn timedreceive(
    mqd: libc::mqd_t,
    msg: *mut c_char,
    len: libc::size_t,
    prio: *mut c_uint,
    timeout: *const libc::timespec,
) -> libc::ssize_t {
    let Some(open) = table::get(mqd) else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { kernel::mq_timedreceive(mqd, msg, len, prio, timeout) };
    };
    // SAFETY: the caller's contract.
    let deadline = match unsafe { deadline(timeout) } {
        Ok(d) => d,
        Err(rc) => return rc as libc::ssize_t,
    };
    if !open.queue.can_receive() {
        return fail(libc::EBADF, "the descriptor is not open for reading") as libc::ssize_t;
    }
    let size = open.queue.message_size();
    if len < size {
        return fail(libc::EMSGSIZE, "buffer shorter than mq_msgsize") as libc::ssize_t;
    }
    if msg.is_null() {
        return fail(libc::EFAULT, "no buffer (a null pointer)") as libc::ssize_t;
    }
    // SAFETY: the caller's contract: `len` >= `size` writable bytes.
    let buffer = unsafe { std::slice::from_raw_parts_mut(msg.cast::<u8>(), size) };
    match open
        .queue
        .receive(buffer, deadline, |sure| nonblocking(&open, mqd, sure))
    {
        Ok((n, p)) => {
            if !prio.is_null() {
                // SAFETY: the caller's contract.
                unsafe { *prio = p };
            }
            n as libc::ssize_t
        }
        Err(e) => failed(&e) as libc::ssize_t,
    }
}

/// `mq_getattr(3)`.
///
/// # Safety
/// `attr` points to a writable `struct mq_attr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_getattr(mqd: libc::mqd_t, attr: *mut libc::mq_attr) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { setattr(mqd, std::ptr::null(), attr) }
}

/// `mq_setattr(3)`: only `O_NONBLOCK` of `new.mq_flags` can change.
///
/// # Safety
/// `new` is null or readable, `old` null or writable (`struct mq_attr`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_setattr(
    mqd: libc::mqd_t,
    new: *const libc::mq_attr,
    old: *mut libc::mq_attr,
) -> c_int {
    // SAFETY: the caller's contract, passed on.
    unsafe { setattr(mqd, new, old) }
}

/// The body of [`mq_setattr`], called directly by the other entry points:
/// a call to the exported symbol would go through the PLT and, in a
/// library loaded with `RTLD_LOCAL`, find the C library's.
///
/// # Safety
/// As [`mq_setattr`].
unsafe fn setattr(mqd: libc::mqd_t, new: *const libc::mq_attr, old: *mut libc::mq_attr) -> c_int {
    let Some(open) = table::get(mqd) else {
        // SAFETY: the caller's arguments, passed on (mq_getattr is
        // mq_setattr without `new` in the C library too).
        return unsafe {
            if new.is_null() {
                kernel::mq_getattr(mqd, old)
            } else {
                kernel::mq_setattr(mqd, new, old)
            }
        };
    };
    // SAFETY: the caller's contract.
    let new_flags = (!new.is_null()).then(|| unsafe { (*new).mq_flags });
    if new_flags.is_some_and(|f| f & !(libc::O_NONBLOCK as libc::c_long) != 0) {
        return fail(libc::EINVAL, "mq_flags may hold O_NONBLOCK only");
    }
    let attributes = match open.queue.attributes() {
        Ok(a) => a,
        Err(e) => return failed(&e),
    };
    if !old.is_null() {
        // SAFETY: the caller's contract; zeroed first for the padding.
        unsafe {
            *old = std::mem::zeroed();
            (*old).mq_flags = if nonblocking(&open, mqd, true) {
                libc::O_NONBLOCK as libc::c_long
            } else {
                0
            };
            (*old).mq_maxmsg = attributes.max_messages;
            (*old).mq_msgsize = attributes.message_size;
            (*old).mq_curmsgs = attributes.current_messages;
        }
    }
    if let Some(flags) = new_flags {
        let on = flags & libc::O_NONBLOCK as libc::c_long != 0;
        set_nonblocking(mqd, on);
        open.nonblocking_hint.store(on, Ordering::Relaxed);
    }
    0
}

/// The description's `O_NONBLOCK`: from the descriptor (`F_GETFL`) when
/// the answer must be right (`sure`) or the hint says non-blocking, from
/// the hint otherwise, so that a blocking call that finds no message
/// makes no system call before it spins. Asked only when a call would
/// block.
fn nonblocking(open: &Open, mqd: libc::mqd_t, sure: bool) -> bool {
    // Relaxed: a per-process hint; the descriptor holds the truth.
    if !sure && !open.nonblocking_hint.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: F_GETFL on any descriptor number is defined.
    let flags = unsafe { libc::fcntl(mqd, libc::F_GETFL) };
    let on = flags >= 0 && flags & libc::O_NONBLOCK != 0;
    open.nonblocking_hint.store(on, Ordering::Relaxed);
    on
}

fn set_nonblocking(mqd: libc::mqd_t, on: bool) {
    // SAFETY: F_GETFL / F_SETFL on our own queue descriptor.
    unsafe {
        let flags = libc::fcntl(mqd, libc::F_GETFL);
        if flags >= 0 {
            let flags = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            libc::fcntl(mqd, libc::F_SETFL, flags);
        }
    }
}

/// `mq_notify(3)`.
///
/// # Safety
/// `sevp` is null or points to a readable `struct sigevent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_notify(mqd: libc::mqd_t, sevp: *const libc::sigevent) -> c_int {
    let Some(open) = table::get(mqd) else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { kernel::mq_notify(mqd, sevp) };
    };
    let action = if sevp.is_null() {
        None
    } else {
        // SAFETY: the caller's contract; glibc's `struct sigevent` begins
        // with the fields `SigEvent` names.
        match unsafe { crate::notify::action(sevp.cast::<SigEvent>()) } {
            Ok(action) => Some(action),
            Err(invalid) => return fail(libc::EINVAL, invalid.0),
        }
    };
    match open.queue.notify(action) {
        Ok(()) => 0,
        Err(e) => failed(&e),
    }
}
