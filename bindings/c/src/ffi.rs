//! The boundary: every exported function runs its body through [`call`]
//! (`catch_unwind`, error recording), and reads C pointers only through
//! the checked helpers below.
#![allow(unsafe_code)]

use crate::error::{Failure, fail, record, shmring_error::*};
use crate::handle::{self, Object};
use shmring_core::Patience;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// Runs `f`, turning its failure (or a panic) into a negative code and a
/// last-error message.
#[inline(always)]
pub(crate) fn call(f: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(failure)) => record(failure),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            record(Failure::new(
                SHMRING_E_INTERNAL,
                format!("internal error (panic caught at the C boundary): {what}"),
            ))
        }
    }
}

/// As [`call`], for the functions that return a descriptor instead of a
/// status: the descriptor `f` returns (never negative), or a negative
/// code.
pub(crate) fn call_fd(f: impl FnOnce() -> Result<RawFd, Failure>) -> c_int {
    let mut fd = -1;
    match call(|| {
        fd = f()?;
        Ok(())
    }) {
        0 if fd >= 0 => fd,
        0 => record(Failure::new(
            SHMRING_E_INTERNAL,
            "an endpoint has no valid descriptor",
        )),
        code => code,
    }
}

/// The handle value behind an opaque C handle pointer (never dereferenced).
#[inline(always)]
pub(crate) fn raw<T>(handle: *mut T) -> usize {
    handle.addr()
}

/// An opaque C handle pointer carrying the handle value `raw`.
pub(crate) fn handle_ptr<T>(raw: usize) -> *mut T {
    std::ptr::without_provenance_mut(raw)
}

/// Fails with `SHMRING_E_INVALID` if `p` is NULL.
#[inline(always)]
pub(crate) fn non_null<T>(p: *const T, what: &'static str) -> Result<(), Failure> {
    if p.is_null() {
        return fail(SHMRING_E_INVALID, what);
    }
    Ok(())
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &'static str) -> Result<&'a str, Failure> {
    non_null(p, what)?;
    // SAFETY: non-NULL, and the caller promises a valid C string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Failure::new(SHMRING_E_BAD_NAME, "the name is not valid UTF-8"))
}

/// A message argument: `len` (> 0) bytes at `data`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that stay valid and
/// are not written for `'a`.
#[inline(always)]
pub(crate) unsafe fn bytes_arg<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Failure> {
    non_null(data, "the message pointer is NULL")?;
    if len == 0 {
        return fail(SHMRING_E_INVALID, "the message length is 0");
    }
    if len > isize::MAX as usize {
        return fail(SHMRING_E_INVALID, "the message length is out of range");
    }
    // SAFETY: non-NULL, `len` fits an allocation, and the caller promises
    // `len` readable bytes for `'a`.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Checks a receive buffer argument (`buf` non-NULL, `cap` > 0).
#[inline(always)]
pub(crate) fn check_buffer(buf: *mut c_void, cap: usize) -> Result<(), Failure> {
    non_null(buf, "the buffer pointer is NULL")?;
    if cap == 0 {
        return fail(SHMRING_E_INVALID, "the buffer size is 0");
    }
    Ok(())
}

/// Copies `msg` to `buf` (checked with [`check_buffer`], `msg.len() <= cap`).
///
/// # Safety
/// `buf` points to at least `msg.len()` writable bytes that do not overlap
/// `msg`.
#[inline(always)]
pub(crate) unsafe fn copy_out(msg: &[u8], buf: *mut c_void) {
    // SAFETY: the caller promises room for `msg.len()` bytes at `buf`, not
    // overlapping `msg` (a C buffer is not inside a ring we read from, and
    // a peeked message blocks the receive functions).
    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), msg.len()) }
}

/// Stores `value` through an out-pointer checked with [`non_null`].
///
/// # Safety
/// `p` is non-NULL, aligned and writable for a `T`.
#[inline(always)]
pub(crate) unsafe fn put<T>(p: *mut T, value: T) {
    // SAFETY: as promised by the caller.
    unsafe { p.write(value) }
}

/// How long a call given `ms` milliseconds waits: without limit for
/// [`crate::SHMRING_INFINITE`], else until `ms` from now (0 included: one
/// look, and `SHMRING_E_TIMEOUT` if it fails).
pub(crate) fn wait_for(ms: u64) -> Patience {
    match ms {
        crate::SHMRING_INFINITE => Patience::FOREVER,
        ms => Patience::after(Duration::from_millis(ms)),
    }
}

/// As [`wait_for`], but 0 is the `try_*` behaviour (`SHMRING_E_FULL`,
/// `SHMRING_E_EMPTY`): the zero-copy calls' timeouts.
pub(crate) fn wait_up_to(ms: u64) -> Patience {
    match ms {
        0 => Patience::NoWait,
        ms => wait_for(ms),
    }
}

/// Stores `object` in the handle table and its handle in `*out`.
///
/// # Safety
/// `out` was checked with [`non_null`] and is aligned and writable for a
/// handle.
pub(crate) unsafe fn put_handle<T>(out: *mut *mut T, object: Object) -> Result<(), Failure> {
    let raw = handle::insert(object)?;
    // SAFETY: as promised by the caller.
    unsafe { put(out, handle_ptr(raw)) };
    Ok(())
}
