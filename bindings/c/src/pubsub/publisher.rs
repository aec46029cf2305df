//! `shmring_publisher`: open, send (copying, or reserve and commit in
//! place), close, and its descriptor.
#![allow(unsafe_code)] // exported functions taking C pointers

use super::{PublisherEntry, shmring_publisher};
use crate::endpoint::{self, SendHandle, commit_length, nothing_reserved};
use crate::error::{Failure, attach_failure, fail, send_failure, shmring_error::*};
use crate::ffi::{call, non_null, put_handle, raw, wait_for, wait_up_to};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{pubsub_ring, shmring_pubsub};
use shmring_core::Patience;
use shmring_core::prelude::*;
use shmring_core::pubsub::Publisher;
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, RawFd};

#[inline(always)]
fn with_publisher<T>(
    promise: Exclusive,
    publisher: *mut shmring_publisher,
    f: impl FnOnce(&mut PublisherEntry) -> Result<T, Failure>,
) -> Result<T, Failure> {
    handle::with_exclusive(promise, raw(publisher), Kind::Publisher, |o| match o {
        Object::Publisher(p) => f(p),
        _ => fail(SHMRING_E_BAD_HANDLE, "not a publisher"),
    })
}

fn no_reservation(p: &PublisherEntry) -> Result<(), Failure> {
    match p.reserved {
        Some(_) => fail(
            SHMRING_E_STATE,
            "a reservation is open: commit or cancel it first",
        ),
        None => Ok(()),
    }
}

/// The address of a grant's bytes. The grant itself goes: one that is
/// not committed publishes nothing (see the module documentation).
fn address(mut grant: impl Grant) -> *mut u8 {
    grant.as_mut_ptr()
}

impl SendHandle for shmring_publisher {
    type Access = Exclusive;
    type Tx = Publisher;

    #[inline(always)]
    fn sending<T>(
        promise: Exclusive,
        publisher: *mut Self,
        f: impl FnOnce(&mut Publisher) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        with_publisher(promise, publisher, |p| {
            no_reservation(p)?;
            f(&mut p.publisher)
        })
    }

    fn reserve(
        promise: Exclusive,
        publisher: *mut Self,
        len: usize,
        patience: Patience,
    ) -> Result<*mut u8, Failure> {
        with_publisher(promise, publisher, |p| {
            no_reservation(p)?;
            let grant = p
                .publisher
                .reserve_within(len, patience)
                .map_err(send_failure)?;
            let ptr = address(grant);
            p.reserved = Some((len, ptr.addr()));
            Ok(ptr)
        })
    }

    fn commit(promise: Exclusive, publisher: *mut Self, len: usize) -> Result<(), Failure> {
        with_publisher(promise, publisher, |p| {
            let Some((reserved, addr)) = p.reserved else {
                return nothing_reserved();
            };
            commit_length(len, reserved)?;
            p.reserved = None;
            // Nothing was published since `reserve`: this claims the same
            // slot again, whose bytes the caller has written.
            let mut grant = p
                .publisher
                .reserve_within(reserved, Patience::NoWait)
                .map_err(send_failure)?;
            if grant.as_mut_ptr().addr() != addr {
                return fail(
                    SHMRING_E_CORRUPT,
                    "the reserved slot moved (ring state changed)",
                );
            }
            grant.commit_len(len);
            Ok(())
        })
    }

    fn cancel(promise: Exclusive, publisher: *mut Self) -> Result<(), Failure> {
        with_publisher(promise, publisher, |p| match p.reserved.take() {
            // The grant went without publishing: nothing to undo.
            Some(_) => Ok(()),
            None => nothing_reserved(),
        })
    }

    fn fd(promise: Exclusive, publisher: *mut Self) -> Result<RawFd, Failure> {
        with_publisher(promise, publisher, |p| Ok(p.publisher.as_raw_fd()))
    }
}

/// Takes the publisher role of `ring`. A role left by a process that died
/// is taken over, after the last message it published.
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`
/// (a live process, this one included, holds the role),
/// `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_open(
    ring: *mut shmring_pubsub,
    out: *mut *mut shmring_publisher,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let publisher = pubsub_ring(ring)?
            .publisher()
            .map_err(|e| attach_failure("publisher", e))?;
        let entry = PublisherEntry {
            publisher,
            reserved: None,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Publisher(Box::new(entry))) }
    })
}

/// Closes the publisher (an open reservation is discarded). Subscribers
/// receive what was published, then `SHMRING_E_DISCONNECTED`. Errors:
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`.
///
/// # Safety
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_close(publisher: *mut shmring_publisher) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(publisher),
            Kind::Publisher,
        )?);
        Ok(())
    })
}

/// Publishes `len` bytes from `data` to every subscriber. Lossless ring:
/// waits as long as it takes while the slowest live subscriber is a whole
/// ring behind (a subscriber that died stops holding it back within the
/// liveness interval, 100 ms). Lossy ring: never waits. Publishing with
/// no subscriber succeeds (the ring keeps the last `slots` messages for
/// subscribers joining at the oldest); there is no
/// `SHMRING_E_DISCONNECTED` for a publisher.
///
/// Errors: `SHMRING_E_INVALID` (NULL `data`, `len` 0),
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`, `SHMRING_E_STATE` (a
/// reservation is open), `SHMRING_E_TOO_LARGE` (longer than the slot
/// size).
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_send(
    publisher: *mut shmring_publisher,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(publisher, data, len, Patience::FOREVER) }
}

/// Publishes if there is room now; `SHMRING_E_FULL` otherwise (lossless
/// rings only: a lossy publisher always has room). Other errors as for
/// `shmring_publisher_send`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_try_send(
    publisher: *mut shmring_publisher,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(publisher, data, len, Patience::NoWait) }
}

/// Publishes, waiting for room at most `timeout_ms` milliseconds
/// (`SHMRING_INFINITE`: no limit; 0: like `try_send` but reporting
/// `SHMRING_E_TIMEOUT`). `SHMRING_E_TIMEOUT` when the time is up; other
/// errors as for `shmring_publisher_send`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_send_timeout(
    publisher: *mut shmring_publisher,
    data: *const c_void,
    len: usize,
    timeout_ms: u64,
) -> c_int {
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(publisher, data, len, wait_for(timeout_ms)) }
}

/// Reserves the next slot for `len` bytes to be written in place, waiting
/// for room at most `timeout_ms` (0: not at all, `SHMRING_INFINITE`: no
/// limit). `*buf` receives the address of the bytes; they are the
/// caller's to write until `shmring_publisher_commit` publishes them or
/// `shmring_publisher_cancel` drops them. One reservation at a time; no
/// send while it is open. In a lossy ring the reservation already takes
/// the slot from the message it held: a subscriber a whole ring behind
/// is told it lost that message, even if the reservation is cancelled.
///
/// Errors: `SHMRING_E_INVALID` (`buf` NULL, `len` 0), `SHMRING_E_STATE`
/// (a reservation is open), `SHMRING_E_FULL` (timeout 0),
/// `SHMRING_E_TIMEOUT`, `SHMRING_E_TOO_LARGE`.
///
/// # Safety
/// `buf` is NULL or points to writable memory for one pointer.
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_reserve(
    publisher: *mut shmring_publisher,
    len: usize,
    timeout_ms: u64,
    buf: *mut *mut c_void,
) -> c_int {
    // SAFETY: this function's contract (`buf`; one thread at a time).
    unsafe { endpoint::reserve(publisher, len, wait_up_to(timeout_ms), buf) }
}

/// Publishes the first `len` bytes (1 to the reserved length) of the open
/// reservation. Errors: `SHMRING_E_STATE` (no reservation),
/// `SHMRING_E_INVALID` (`len` 0 or longer than reserved; the reservation
/// stays open), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_commit(
    publisher: *mut shmring_publisher,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    endpoint::commit(unsafe { Exclusive::promised() }, publisher, len)
}

/// Drops the open reservation without publishing anything (the next
/// message takes the slot). Errors: `SHMRING_E_STATE` (no reservation).
///
/// # Safety
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_cancel(publisher: *mut shmring_publisher) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    endpoint::cancel(unsafe { Exclusive::promised() }, publisher)
}

/// The publisher's readiness descriptor, to wait for room with `poll`,
/// `epoll` or `select` beside other descriptors. Returns the descriptor
/// (>= 0) or a negative code: `SHMRING_E_BAD_HANDLE` (NULL, closed, or
/// another handle type), `SHMRING_E_BUSY`.
///
/// The descriptor belongs to the publisher: do not close, read or write
/// it. It is valid until `shmring_publisher_close` (every call returns
/// the same one), close-on-exec and non-blocking.
///
/// Taking it switches the publisher to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_publisher_try_send` (or
/// `shmring_publisher_reserve` with timeout 0) until it returns
/// `SHMRING_E_FULL`; only then poll for `POLLOUT`. That `SHMRING_E_FULL`
/// armed the descriptor: it stops polling writable and becomes writable
/// again when the slowest subscriber makes room (or leaves, or is found
/// dead). Until a full send arms it, it stays writable; a lossy
/// publisher's always is. There is no `POLLERR`: a publisher without
/// subscribers may go on publishing. (`send_timeout` with timeout 0
/// reports `SHMRING_E_TIMEOUT` and does not arm.)
///
/// # Safety
/// `publisher` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_publisher_fd(publisher: *mut shmring_publisher) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    endpoint::send_fd(unsafe { Exclusive::promised() }, publisher)
}
