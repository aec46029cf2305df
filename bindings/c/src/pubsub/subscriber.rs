//! `shmring_subscriber`: open, receive (copying, or peek and release in
//! place), lag and position, close, and its descriptor.
#![allow(unsafe_code)] // exported functions taking C pointers

use super::{SHMRING_JOIN_NEXT, SHMRING_JOIN_OLDEST, SubscriberEntry, shmring_subscriber};
use crate::endpoint::{self, ReceiveHandle};
use crate::error::{Failure, attach_failure, fail, recv_failure, shmring_error::*};
use crate::ffi::{call, non_null, put, put_handle, raw, wait_for, wait_up_to};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{pubsub_ring, shmring_pubsub};
use shmring_core::prelude::*;
use shmring_core::pubsub::Subscriber;
use shmring_core::{Delivery, JoinAt, Patience, RecvStop};
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, RawFd};

#[inline(always)]
fn with_subscriber<T>(
    promise: Exclusive,
    subscriber: *mut shmring_subscriber,
    f: impl FnOnce(&mut SubscriberEntry) -> Result<T, Failure>,
) -> Result<T, Failure> {
    handle::with_exclusive(promise, raw(subscriber), Kind::Subscriber, |o| match o {
        Object::Subscriber(s) => f(s),
        _ => fail(SHMRING_E_BAD_HANDLE, "not a subscriber"),
    })
}

impl ReceiveHandle for shmring_subscriber {
    type Entry = SubscriberEntry;
    const PEEKED: &'static str =
        "a peeked message is not released: call shmring_subscriber_release first";
    const KEPT: &'static str = "this subscriber keeps it for its next receive";

    #[inline(always)]
    fn entry<T>(
        promise: Exclusive,
        subscriber: *mut Self,
        f: impl FnOnce(&mut SubscriberEntry) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        with_subscriber(promise, subscriber, f)
    }

    fn peeked(s: &mut SubscriberEntry) -> &mut bool {
        &mut s.peeked
    }

    #[inline(always)]
    fn next(
        s: &mut SubscriberEntry,
        patience: Patience,
        f: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), RecvStop> {
        if s.kept {
            s.kept = f(&s.copy);
            return Ok(());
        }
        let msg = s.subscriber.recv_within(patience)?;
        if !s.lossy {
            if f(&msg) {
                // Not passed: the next receive returns the same message,
                // from the same slot, which no publisher writes meanwhile.
                std::mem::forget(msg);
            }
            return Ok(());
        }
        s.copy.clear();
        s.copy.extend_from_slice(&msg);
        // Passed: from here on the message is the handle's copy.
        drop(msg);
        s.kept = f(&s.copy);
        Ok(())
    }

    fn release(s: &mut SubscriberEntry) -> Result<(), Failure> {
        if s.lossy {
            s.kept = false;
            return Ok(());
        }
        // The kept message is still at the cursor: take it again and drop
        // the guard, which passes it.
        let msg = s
            .subscriber
            .recv_within(Patience::NoWait)
            .map_err(recv_failure)?;
        drop(msg);
        Ok(())
    }

    fn fd(s: &SubscriberEntry) -> RawFd {
        s.subscriber.as_raw_fd()
    }
}

/// Joins `ring` as a subscriber starting at `at`: `SHMRING_JOIN_NEXT`
/// (the next message published) or `SHMRING_JOIN_OLDEST` (the oldest
/// message the ring still holds). An entry left by a process that died is
/// taken over.
///
/// Errors: `SHMRING_E_INVALID` (`out` NULL, another `at`),
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_LIMIT` (every subscriber entry is
/// held by a live process), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_open(
    ring: *mut shmring_pubsub,
    at: u32,
    out: *mut *mut shmring_subscriber,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let at = match at {
            SHMRING_JOIN_NEXT => JoinAt::Next,
            SHMRING_JOIN_OLDEST => JoinAt::Oldest,
            _ => {
                return fail(
                    SHMRING_E_INVALID,
                    "at must be SHMRING_JOIN_NEXT or SHMRING_JOIN_OLDEST",
                );
            }
        };
        let ring = pubsub_ring(ring)?;
        let subscriber = ring
            .subscriber_at(at)
            .map_err(|e| attach_failure("subscriber", e))?;
        let entry = SubscriberEntry {
            subscriber,
            lossy: ring.delivery() == Delivery::Lossy,
            peeked: false,
            copy: Vec::new(),
            kept: false,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Subscriber(Box::new(entry))) }
    })
}

/// Leaves the ring: a lossless publisher stops waiting for this
/// subscriber. A peeked or kept message is dropped. Errors:
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`.
///
/// # Safety
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_close(subscriber: *mut shmring_subscriber) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(subscriber),
            Kind::Subscriber,
        )?);
        Ok(())
    })
}

/// Waits for the next message as long as it takes and copies it into
/// `buf` (`cap` bytes); `*len` receives its length. Messages arrive in the
/// order published.
///
/// Lossy ring: `SHMRING_E_LAGGED` when the publisher overwrote messages
/// this subscriber had not read yet. Nothing is received by that call
/// (`*len` is not set); `shmring_subscriber_missed` gives the count, and
/// the next receive goes on with the oldest message still there. A
/// message overwritten while it was being copied is never delivered (it
/// counts as missed).
///
/// If the message is longer than `cap`: `SHMRING_E_BUFFER_TOO_SMALL`,
/// `*len` holds the length needed, and this subscriber keeps the message
/// for its next receive or peek (lossless: in the ring; lossy: a copy in
/// the handle, which the publisher cannot overwrite). Other errors:
/// `SHMRING_E_INVALID` (NULL `buf`/`len`, `cap` 0),
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`, `SHMRING_E_STATE` (a message
/// is peeked), `SHMRING_E_DISCONNECTED` (the publisher is gone and every
/// message it published was received), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes; `len` is NULL or
/// points to a writable `size_t`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_recv(
    subscriber: *mut shmring_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(subscriber, buf, cap, len, Patience::FOREVER) }
}

/// Like `shmring_subscriber_recv` but returns `SHMRING_E_EMPTY` at once
/// if no message is there.
///
/// # Safety
/// As for `shmring_subscriber_recv`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_try_recv(
    subscriber: *mut shmring_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(subscriber, buf, cap, len, Patience::NoWait) }
}

/// Like `shmring_subscriber_recv`, waiting at most `timeout_ms`
/// milliseconds (`SHMRING_INFINITE`: no limit); `SHMRING_E_TIMEOUT` when
/// the time is up.
///
/// # Safety
/// As for `shmring_subscriber_recv`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_recv_timeout(
    subscriber: *mut shmring_subscriber,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ms: u64,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(subscriber, buf, cap, len, wait_for(timeout_ms)) }
}

/// Receive without a buffer of your own: waits at most `timeout_ms` (0:
/// not at all, `SHMRING_INFINITE`: no limit) for the next message (a kept
/// one first) and stores its address in `*data` and its length in
/// `*len`. The bytes stay valid and unchanged until
/// `shmring_subscriber_release` (or close); until then other receives
/// fail with `SHMRING_E_STATE`.
///
/// What the address is depends on the ring. Lossless: the message in
/// place in the ring, not copied (the publisher does not write its slot
/// again before this subscriber releases it, so a peek held long holds
/// the publisher back). Lossy: a copy in the subscriber handle, made and
/// validated when the message was taken (the publisher may overwrite the
/// slot at any moment, so the ring's bytes are never handed out); the
/// subscriber has already moved past it, and holding it holds nobody
/// back.
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_STATE` (already peeked),
/// `SHMRING_E_EMPTY` (timeout 0), `SHMRING_E_TIMEOUT`, `SHMRING_E_LAGGED`
/// (lossy: nothing peeked, see `shmring_subscriber_recv`),
/// `SHMRING_E_DISCONNECTED`, `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `data` is NULL or points to writable memory for one pointer; `len` is
/// NULL or points to a writable `size_t`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_peek(
    subscriber: *mut shmring_subscriber,
    timeout_ms: u64,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`data`, `len`; one thread at a time).
    unsafe { endpoint::peek(subscriber, wait_up_to(timeout_ms), data, len) }
}

/// Releases the message returned by `shmring_subscriber_peek` (its bytes
/// must not be used afterwards). Errors: `SHMRING_E_STATE` (nothing
/// peeked), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_release(subscriber: *mut shmring_subscriber) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::release(subscriber) }
}

/// Reads one counter of the subscriber into `*out`.
///
/// # Safety
/// `out` is NULL or points to a writable `uint64_t`; `subscriber` is used
/// by no other thread until the call returns.
unsafe fn counter(
    subscriber: *mut shmring_subscriber,
    out: *mut u64,
    read: impl FnOnce(&Subscriber) -> u64,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        // SAFETY: as the caller promises.
        let promise = unsafe { Exclusive::promised() };
        let value = with_subscriber(promise, subscriber, |s| Ok(read(&s.subscriber)))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, value) };
        Ok(())
    })
}

/// Stores in `*missed` how many messages this subscriber lost to a lossy
/// publisher since it joined (always 0 in a lossless ring). Each
/// `SHMRING_E_LAGGED` adds the messages it reports: with the messages
/// received, this counts every message published since joining.
///
/// Errors: `SHMRING_E_INVALID` (`missed` NULL), `SHMRING_E_BAD_HANDLE`,
/// `SHMRING_E_BUSY`.
///
/// # Safety
/// `missed` is NULL or points to a writable `uint64_t`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_missed(
    subscriber: *mut shmring_subscriber,
    missed: *mut u64,
) -> c_int {
    // SAFETY: this function's contract (`missed`; one thread at a time).
    unsafe { counter(subscriber, missed, Subscriber::missed) }
}

/// Stores in `*position` the sequence number of the next message this
/// subscriber reads (messages are numbered from 0 in publishing order; a
/// kept or peeked lossy message is already behind it). Errors as for
/// `shmring_subscriber_missed`.
///
/// # Safety
/// `position` is NULL or points to a writable `uint64_t`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_position(
    subscriber: *mut shmring_subscriber,
    position: *mut u64,
) -> c_int {
    // SAFETY: this function's contract (`position`; one thread at a time).
    unsafe { counter(subscriber, position, Subscriber::position) }
}

/// Stores in `*lag` how many messages were published that this subscriber
/// has not read yet (in a lossy ring it may exceed the slots: the excess
/// is lost, reported by the next receive). Errors as for
/// `shmring_subscriber_missed`.
///
/// # Safety
/// `lag` is NULL or points to a writable `uint64_t`.
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_lag(
    subscriber: *mut shmring_subscriber,
    lag: *mut u64,
) -> c_int {
    // SAFETY: this function's contract (`lag`; one thread at a time).
    unsafe { counter(subscriber, lag, Subscriber::lag) }
}

/// The subscriber's readiness descriptor, to wait for messages with
/// `poll`, `epoll` or `select` beside other descriptors. Returns the
/// descriptor (>= 0) or a negative code: `SHMRING_E_BAD_HANDLE` (NULL,
/// closed, or another handle type), `SHMRING_E_BUSY`.
///
/// The descriptor belongs to the subscriber: do not close, read or write
/// it. It is valid until `shmring_subscriber_close` (every call returns
/// the same one), close-on-exec and non-blocking. Each subscriber has its
/// own (a private pipe, made ready by a helper thread that its first
/// wait starts), so subscribers never take each other's wake-ups.
///
/// Taking it switches the subscriber to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_subscriber_try_recv` (or
/// `shmring_subscriber_peek` with timeout 0) until it returns
/// `SHMRING_E_EMPTY`, and only then poll for `POLLIN`. That
/// `SHMRING_E_EMPTY` armed the descriptor: it becomes readable when a
/// message, a lag (`SHMRING_E_LAGGED`) or the publisher's end
/// (`SHMRING_E_DISCONNECTED`) is there for this subscriber: all three
/// show as `POLLIN` (there is no `POLLHUP`); receive to see which.
/// `shmring_subscriber_recv_timeout` with timeout 0 reports
/// `SHMRING_E_TIMEOUT` and does not arm.
///
/// # Safety
/// `subscriber` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_subscriber_fd(subscriber: *mut shmring_subscriber) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::receive_fd(subscriber) }
}
