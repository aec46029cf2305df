//! MPMC endpoints: `shmring_sender` and `shmring_receiver`.
//!
//! A claimed MPMC slot cannot be given back, so the C handles keep what
//! they hand out between two calls: the sender's open reservation is an
//! `OwnedSlotGrant` and the receiver's peeked or pending message an
//! `OwnedSlotGuard`. Both hold a clone of their endpoint, so they borrow
//! nothing and may outlive the call, the handle or each other in any
//! order.
//!
//! A message too long for the caller's buffer has already been claimed
//! from the queue: the receiver keeps it ("pending") and returns it first
//! on its next receive or peek. It is never lost while the receiver
//! lives; closing the receiver frees its slot (the message is dropped).
#![allow(unsafe_code)]

use crate::endpoint::{self, ReceiveHandle, SendHandle, Shared, commit_length, nothing_reserved};
use crate::error::{Failure, attach_failure, fail, send_failure, shmring_error::*};
use crate::ffi::{call, non_null, put_handle, raw, wait_for, wait_up_to};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{mpmc_queue, shmring_mpmc};
use shmring_core::mpmc::{OwnedSlotGrant, OwnedSlotGuard, Receiver, Sender};
use shmring_core::prelude::*;
use shmring_core::{Patience, RecvStop};
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

/// A sending end of an MPMC queue (any number per queue).
///
/// Thread safety: may be shared by several threads at once (sends from
/// several threads through one handle are fine) and moved freely. At most
/// one reservation per handle is open at a time; use one sender per
/// thread for concurrent zero-copy sends.
#[derive(Debug)]
pub struct shmring_sender {
    _opaque: [u8; 0],
}

/// A receiving end of an MPMC queue (any number per queue; each message
/// goes to exactly one receiver).
///
/// Thread safety: may move between threads, but is used by one thread at
/// a time, close included (no lock; a concurrent call is usually refused
/// with `SHMRING_E_BUSY`, not reliably). Open one receiver per receiving
/// thread.
#[derive(Debug)]
pub struct shmring_receiver {
    _opaque: [u8; 0],
}

/// A sender in its handle slot (shared: `Arc`).
#[derive(Debug)]
pub(crate) struct SenderEntry {
    sender: Sender,
    /// The open reservation. Dropped uncommitted (cancel, close), it is
    /// published as a skipped slot.
    grant: Mutex<Option<OwnedSlotGrant>>,
}

/// A receiver in its handle slot (exclusive).
#[derive(Debug)]
pub(crate) struct ReceiverEntry {
    receiver: Receiver,
    /// A claimed message: pending (too long for the last buffer) or
    /// peeked.
    held: Option<OwnedSlotGuard>,
    peeked: bool,
}

fn sender_entry(sender: *mut shmring_sender) -> Result<Arc<SenderEntry>, Failure> {
    handle::shared(raw(sender), Kind::Sender, |o| match o {
        Object::Sender(s) => Some(Arc::clone(s)),
        _ => None,
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn reservation_open<T>() -> Result<T, Failure> {
    fail(
        SHMRING_E_STATE,
        "a reservation is open: commit or cancel it first",
    )
}

impl SendHandle for shmring_sender {
    type Access = Shared;
    type Tx = Sender;

    #[inline(always)]
    fn sending<T>(
        _: Shared,
        sender: *mut Self,
        f: impl FnOnce(&mut Sender) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        // A clone of the sender (as cheap as one of its entry's `Arc`) is
        // this call's own: threads sending through one handle share
        // nothing here, and a close meanwhile frees the sender when the
        // last call returns.
        let mut tx = handle::shared(raw(sender), Kind::Sender, |o| match o {
            Object::Sender(s) => Some(s.sender.clone()),
            _ => None,
        })?;
        f(&mut tx)
    }

    fn reserve(
        _: Shared,
        sender: *mut Self,
        len: usize,
        patience: Patience,
    ) -> Result<*mut u8, Failure> {
        let entry = sender_entry(sender)?;
        if lock(&entry.grant).is_some() {
            return reservation_open();
        }
        // Not holding the lock while waiting for a slot.
        let mut grant = entry
            .sender
            .reserve_owned_within(len, patience)
            .map_err(send_failure)?;
        let ptr = grant.as_mut_ptr();
        let mut slot = lock(&entry.grant);
        if slot.is_some() {
            // Another thread reserved meanwhile: ours is skipped on drop.
            drop(slot);
            drop(grant);
            return reservation_open();
        }
        *slot = Some(grant);
        Ok(ptr)
    }

    fn commit(_: Shared, sender: *mut Self, len: usize) -> Result<(), Failure> {
        let entry = sender_entry(sender)?;
        let mut slot = lock(&entry.grant);
        let Some(reserved) = slot.as_ref().map(|g| g.len()) else {
            return nothing_reserved();
        };
        commit_length(len, reserved)?;
        if let Some(grant) = slot.take() {
            grant.commit_len(len);
        }
        Ok(())
    }

    fn cancel(_: Shared, sender: *mut Self) -> Result<(), Failure> {
        let entry = sender_entry(sender)?;
        let grant = lock(&entry.grant).take();
        match grant {
            // Published as a skipped slot, outside the lock.
            Some(grant) => {
                drop(grant);
                Ok(())
            }
            None => nothing_reserved(),
        }
    }

    fn fd(_: Shared, sender: *mut Self) -> Result<RawFd, Failure> {
        // Clones of a sender share its descriptor and its mode: the
        // per-call clones `sending` makes arm it too.
        handle::shared(raw(sender), Kind::Sender, |o| match o {
            Object::Sender(s) => Some(s.sender.as_raw_fd()),
            _ => None,
        })
    }
}

impl ReceiveHandle for shmring_receiver {
    type Entry = ReceiverEntry;
    const PEEKED: &'static str =
        "a peeked message is not released: call shmring_receiver_release first";
    const KEPT: &'static str = "this receiver keeps it for its next receive";

    #[inline(always)]
    fn entry<T>(
        promise: Exclusive,
        receiver: *mut Self,
        f: impl FnOnce(&mut ReceiverEntry) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        handle::with_exclusive(promise, raw(receiver), Kind::Receiver, |o| match o {
            Object::Receiver(r) => f(r),
            _ => fail(SHMRING_E_BAD_HANDLE, "not a receiver"),
        })
    }

    fn peeked(r: &mut ReceiverEntry) -> &mut bool {
        &mut r.peeked
    }

    #[inline(always)]
    fn next(
        r: &mut ReceiverEntry,
        patience: Patience,
        f: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), RecvStop> {
        if let Some(pending) = r.held.take() {
            if f(&pending) {
                r.held = Some(pending);
            }
            return Ok(());
        }
        // Borrowed: a message is kept (and then owned, as a kept one
        // outlives this call) only when the caller's buffer is too small
        // or it is peeked.
        let msg = r.receiver.recv_within(patience)?;
        if f(&msg) {
            r.held = Some(msg.into_owned());
        }
        Ok(())
    }

    fn release(r: &mut ReceiverEntry) -> Result<(), Failure> {
        // Frees the slot.
        drop(r.held.take());
        Ok(())
    }

    fn fd(r: &ReceiverEntry) -> RawFd {
        r.receiver.as_raw_fd()
    }
}

/// Opens a sender on `queue` sending at priority `priority` (0 = lowest;
/// values above the queue's highest level are clamped).
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_BAD_HANDLE`, `SHMRING_E_LIMIT`
/// (32 sender endpoints already), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_sender_open(
    queue: *mut shmring_mpmc,
    priority: u32,
    out: *mut *mut shmring_sender,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let sender = mpmc_queue(queue)?
            .sender()
            .map_err(|e| attach_failure("sender", e))?
            .with_priority(priority);
        let entry = SenderEntry {
            sender,
            grant: Mutex::new(None),
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Sender(Arc::new(entry))) }
    })
}

/// Closes the sender (an open reservation is published as a skipped
/// slot). If another thread is inside a call on it, the sender is freed
/// when that call returns. Errors: `SHMRING_E_BAD_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_close(sender: *mut shmring_sender) -> c_int {
    call(|| {
        drop(handle::remove(None, raw(sender), Kind::Sender)?);
        Ok(())
    })
}

/// Sends, waiting for a free slot as long as it takes. Errors:
/// `SHMRING_E_INVALID`, `SHMRING_E_BAD_HANDLE`, `SHMRING_E_TOO_LARGE`,
/// `SHMRING_E_DISCONNECTED` (receivers attached once and all are gone).
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_sender_send(
    sender: *mut shmring_sender,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract (`data`; the handle is shared).
    unsafe { endpoint::send(sender, data, len, Patience::FOREVER) }
}

/// Sends if a slot is free now; `SHMRING_E_FULL` otherwise.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_sender_try_send(
    sender: *mut shmring_sender,
    data: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: this function's contract (`data`; the handle is shared).
    unsafe { endpoint::send(sender, data, len, Patience::NoWait) }
}

/// Sends, waiting at most `timeout_ms` milliseconds (`SHMRING_INFINITE`:
/// no limit); `SHMRING_E_TIMEOUT` when the time is up.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_sender_send_timeout(
    sender: *mut shmring_sender,
    data: *const c_void,
    len: usize,
    timeout_ms: u64,
) -> c_int {
    // SAFETY: this function's contract (`data`; the handle is shared).
    unsafe { endpoint::send(sender, data, len, wait_for(timeout_ms)) }
}

/// Claims a slot for `len` bytes to be written in place, waiting at most
/// `timeout_ms` (0: not at all; `SHMRING_INFINITE`: no limit). `*buf`
/// receives the slot's address. Publish
/// with `shmring_sender_commit`; `shmring_sender_cancel` (or close)
/// publishes it as a skipped slot that receivers pass over.
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_STATE` (this handle has an
/// open reservation), `SHMRING_E_FULL` (timeout 0), `SHMRING_E_TIMEOUT`,
/// `SHMRING_E_TOO_LARGE`, `SHMRING_E_DISCONNECTED`.
///
/// # Safety
/// `buf` is NULL or points to writable memory for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_sender_reserve(
    sender: *mut shmring_sender,
    len: usize,
    timeout_ms: u64,
    buf: *mut *mut c_void,
) -> c_int {
    // SAFETY: this function's contract (`buf`; the handle is shared).
    unsafe { endpoint::reserve(sender, len, wait_up_to(timeout_ms), buf) }
}

/// Publishes the first `len` bytes (1 to the reserved length) of the open
/// reservation. Errors: `SHMRING_E_STATE` (none open), `SHMRING_E_INVALID`
/// (bad `len`; the reservation stays open).
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_commit(sender: *mut shmring_sender, len: usize) -> c_int {
    endpoint::commit(Shared, sender, len)
}

/// Gives up the open reservation: the slot is published as skipped.
/// Errors: `SHMRING_E_STATE` (none open).
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_cancel(sender: *mut shmring_sender) -> c_int {
    endpoint::cancel(Shared, sender)
}

/// The sender's readiness descriptor, to wait for a free slot with
/// `poll`, `epoll` or `select` beside other descriptors. Returns the
/// descriptor (>= 0) or a negative code: `SHMRING_E_BAD_HANDLE` (NULL,
/// closed, or another handle type).
///
/// The descriptor belongs to the sender: do not close, read or write it.
/// It is valid until `shmring_sender_close` (every call returns the same
/// one), close-on-exec and non-blocking.
///
/// Taking it switches the sender to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_sender_try_send` (or
/// `shmring_sender_reserve` with timeout 0) until it returns
/// `SHMRING_E_FULL`; only then poll for `POLLOUT`. That `SHMRING_E_FULL`
/// armed the descriptor: it stops polling writable and becomes writable
/// again when a receiver frees a slot. Until a full send arms it, it
/// stays writable. (`send_timeout` with timeout 0 reports
/// `SHMRING_E_TIMEOUT` and does not arm.)
///
/// - `POLLOUT`: a slot may be free; try again.
/// - `POLLERR`: every receiver is gone; sends return
///   `SHMRING_E_DISCONNECTED`.
///
/// Threads sharing this sender share its descriptor. The blocking calls
/// (`send`, `send_timeout`) keep working as before.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_fd(sender: *mut shmring_sender) -> c_int {
    endpoint::send_fd(Shared, sender)
}

/// Opens a receiver on `queue`. Errors as for `shmring_sender_open`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_open(
    queue: *mut shmring_mpmc,
    out: *mut *mut shmring_receiver,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let receiver = mpmc_queue(queue)?
            .receiver()
            .map_err(|e| attach_failure("receiver", e))?;
        let entry = ReceiverEntry {
            receiver,
            held: None,
            peeked: false,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Receiver(Box::new(entry))) }
    })
}

/// Closes the receiver. A pending or peeked message is dropped (its slot
/// freed). Errors: `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`.
///
/// # Safety
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_close(receiver: *mut shmring_receiver) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(receiver),
            Kind::Receiver,
        )?);
        Ok(())
    })
}

/// Waits for the next message as long as it takes and copies it into
/// `buf` (`cap` bytes); `*len` receives its length.
///
/// If the message is longer than `cap`: `SHMRING_E_BUFFER_TOO_SMALL` and
/// `*len` holds the length needed. The message has been taken from the
/// queue (an MPMC slot cannot be handed back), but this receiver keeps it
/// and returns it first on its next receive or peek: nothing is lost while
/// the receiver is open. Other errors: `SHMRING_E_INVALID`,
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`, `SHMRING_E_STATE` (a message
/// is peeked), `SHMRING_E_DISCONNECTED` (senders attached once, all gone,
/// queue drained), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes; `len` is NULL or
/// points to a writable `size_t`.
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_recv(
    receiver: *mut shmring_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(receiver, buf, cap, len, Patience::FOREVER) }
}

/// Like `shmring_receiver_recv`, but `SHMRING_E_EMPTY` at once if no
/// message is there.
///
/// # Safety
/// As for `shmring_receiver_recv`.
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_try_recv(
    receiver: *mut shmring_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(receiver, buf, cap, len, Patience::NoWait) }
}

/// Like `shmring_receiver_recv`, waiting at most `timeout_ms` milliseconds
/// (`SHMRING_INFINITE`: no limit); `SHMRING_E_TIMEOUT` when the time is up.
///
/// # Safety
/// As for `shmring_receiver_recv`.
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_recv_timeout(
    receiver: *mut shmring_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ms: u64,
) -> c_int {
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(receiver, buf, cap, len, wait_for(timeout_ms)) }
}

/// Zero-copy receive: waits at most `timeout_ms` (0: not at all,
/// `SHMRING_INFINITE`: no limit) for the next message (a pending one
/// first) and stores its address and length without copying. Valid until
/// `shmring_receiver_release` or close; other receives meanwhile fail with
/// `SHMRING_E_STATE`.
///
/// # Safety
/// `data` is NULL or points to writable memory for one pointer; `len` is
/// NULL or points to a writable `size_t`.
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_peek(
    receiver: *mut shmring_receiver,
    timeout_ms: u64,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    // SAFETY: this function's contract (`data`, `len`; one thread at a time).
    unsafe { endpoint::peek(receiver, wait_up_to(timeout_ms), data, len) }
}

/// Releases the message returned by `shmring_receiver_peek` (frees its
/// slot). Errors: `SHMRING_E_STATE` (nothing peeked).
///
/// # Safety
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_release(receiver: *mut shmring_receiver) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::release(receiver) }
}

/// The receiver's readiness descriptor, to wait for messages with `poll`,
/// `epoll` or `select` beside other descriptors (sockets, timers, pipes).
/// Returns the descriptor (>= 0) or a negative code:
/// `SHMRING_E_BAD_HANDLE` (NULL, closed, or another handle type),
/// `SHMRING_E_BUSY`.
///
/// The descriptor belongs to the receiver: do not close, read or write
/// it. It is valid until `shmring_receiver_close` (every call returns the
/// same one), close-on-exec and non-blocking.
///
/// Taking it switches the receiver to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_receiver_try_recv` (or `shmring_receiver_peek`
/// with timeout 0) until it returns `SHMRING_E_EMPTY`, and only then
/// poll for `POLLIN`; right after taking the descriptor too (a message
/// sent before rang nobody). That `SHMRING_E_EMPTY` armed the
/// descriptor: the next message makes it readable. Only an empty
/// receive clears a readable descriptor, so a loop that handles one
/// message per wake-up works too (it wakes more often).
/// `shmring_receiver_recv_timeout` with timeout 0 reports `SHMRING_E_TIMEOUT`
/// and does not arm.
/// With several receivers, another one may take the message that woke
/// this one: an empty receive after a wake-up is normal.
///
/// - `POLLIN`: a message may be waiting; receive until `SHMRING_E_EMPTY`.
/// - `POLLHUP`: every sender is gone (closed, exited or died): receive
///   what is left, then `SHMRING_E_DISCONNECTED` (end of file).
///
/// The blocking calls (`recv`, `recv_timeout`) keep working as before.
///
/// # Safety
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_fd(receiver: *mut shmring_receiver) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::receive_fd(receiver) }
}
