//! MPMC endpoints: `shmring_sender` and `shmring_receiver`.
//!
//! The core crate's zero-copy objects (`SlotGrant`, `SlotGuard`) borrow
//! their endpoint, and a claimed MPMC slot cannot be given back, so the C
//! handles keep them: each entry holds its endpoint behind an `Arc` (a
//! stable address) and the grant or guard beside it, with the borrow
//! stretched to `'static`. The entry drops the grant/guard before the
//! endpoint, and never moves or replaces the endpoint while one exists.
//!
//! A message too long for the caller's buffer has already been claimed
//! from the queue: the receiver keeps it ("pending") and returns it first
//! on its next receive or peek. It is never lost while the receiver
//! lives; closing the receiver frees its slot (the message is dropped).
#![allow(unsafe_code)]

use crate::error::{
    Failure, attach_failure, fail, recv_failure, recv_timeout_failure, send_failure,
    send_timeout_failure, shmring_error::*, try_recv_failure, try_send_failure,
};
use crate::ffi::{
    bytes_arg, call, check_buffer, copy_out, handle_ptr, non_null, put, raw, timeout,
};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{mpmc_queue, shmring_mpmc};
use shmring_core::{Receiver, Sender, SlotGrant, SlotGuard};
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// An open reservation; borrows `*sender`. Declared first: dropped first.
    grant: Mutex<Option<SlotGrant<'static>>>,
    sender: Arc<Sender>,
}

impl Drop for SenderEntry {
    fn drop(&mut self) {
        // Before `sender` goes: an uncommitted grant is published as a
        // skipped slot.
        drop(
            self.grant
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

/// A receiver in its handle slot (exclusive).
#[derive(Debug)]
pub(crate) struct ReceiverEntry {
    /// A claimed message: pending (too long for the last buffer) or
    /// peeked. Borrows `*receiver`. Declared first: dropped first.
    held: Option<SlotGuard<'static>>,
    peeked: bool,
    receiver: Arc<Receiver>,
}

impl Drop for ReceiverEntry {
    fn drop(&mut self) {
        // Before `receiver` goes: releases the slot.
        drop(self.held.take());
    }
}

/// The sender of `entry` with its borrow stretched to `'static`.
///
/// # Safety
/// Whatever borrows the result must be stored in `entry.grant` (which is
/// emptied before `entry.sender` is dropped) or dropped before `entry`.
unsafe fn static_sender(entry: &SenderEntry) -> &'static Sender {
    // SAFETY: `entry.sender` is an `Arc` that is never replaced; the
    // `Sender` lives at a fixed address until `SenderEntry` drops, and the
    // caller keeps every borrow shorter than that.
    unsafe { &*Arc::as_ptr(&entry.sender) }
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
        let raw = handle::insert(Object::Sender(Arc::new(SenderEntry {
            grant: Mutex::new(None),
            sender: Arc::new(sender),
        })))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, handle_ptr(raw)) };
        Ok(())
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

#[inline(always)]
fn sender_entry(sender: *mut shmring_sender) -> Result<Arc<SenderEntry>, Failure> {
    handle::shared(raw(sender), Kind::Sender, |o| match o {
        Object::Sender(s) => Some(Arc::clone(s)),
        _ => None,
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
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        sender_entry(sender)?.sender.send(msg).map_err(send_failure)
    })
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
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        sender_entry(sender)?
            .sender
            .try_send(msg)
            .map_err(try_send_failure)
    })
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
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        let entry = sender_entry(sender)?;
        match timeout(timeout_ms) {
            None => entry.sender.send(msg).map_err(send_failure),
            Some(t) => entry
                .sender
                .send_timeout(msg, t)
                .map_err(send_timeout_failure),
        }
    })
}

/// Claims a slot for `len` bytes, waiting at most `timeout_ms`.
fn claim_slot(
    sender: &'static Sender,
    len: usize,
    timeout_ms: u64,
) -> Result<SlotGrant<'static>, Failure> {
    match timeout_ms {
        0 => sender.try_reserve(len).map_err(try_send_failure),
        t => match timeout(t) {
            None => sender.reserve(len).map_err(send_failure),
            Some(t) => sender.reserve_timeout(len, t).map_err(send_timeout_failure),
        },
    }
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
    call(|| {
        non_null(buf, "buf is NULL")?;
        if len == 0 {
            return fail(SHMRING_E_INVALID, "the reservation length is 0");
        }
        let entry = sender_entry(sender)?;
        let open = || {
            fail(
                SHMRING_E_STATE,
                "a reservation is open: commit or cancel it first",
            )
        };
        if lock(&entry.grant).is_some() {
            return open();
        }
        // SAFETY: the grant is stored in `entry.grant` below, or dropped
        // before this function returns.
        let s = unsafe { static_sender(&entry) };
        // Not holding the lock while waiting for a slot.
        let mut grant = claim_slot(s, len, timeout_ms)?;
        let ptr = grant.as_mut_ptr();
        let mut slot = lock(&entry.grant);
        if slot.is_some() {
            // Another thread reserved meanwhile: ours is skipped on drop.
            drop(slot);
            drop(grant);
            return open();
        }
        *slot = Some(grant);
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(buf, ptr.cast::<c_void>()) };
        Ok(())
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publishes the first `len` bytes (1 to the reserved length) of the open
/// reservation. Errors: `SHMRING_E_STATE` (none open), `SHMRING_E_INVALID`
/// (bad `len`; the reservation stays open).
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_commit(sender: *mut shmring_sender, len: usize) -> c_int {
    call(|| {
        let entry = sender_entry(sender)?;
        let mut slot = lock(&entry.grant);
        let Some(reserved) = slot.as_ref().map(|g| g.len()) else {
            return fail(SHMRING_E_STATE, "no reservation is open");
        };
        if len == 0 || len > reserved {
            return fail(
                SHMRING_E_INVALID,
                "commit length must be 1 to the reserved length",
            );
        }
        if let Some(grant) = slot.take() {
            grant.commit_len(len);
        }
        Ok(())
    })
}

/// Gives up the open reservation: the slot is published as skipped.
/// Errors: `SHMRING_E_STATE` (none open).
#[unsafe(no_mangle)]
pub extern "C" fn shmring_sender_cancel(sender: *mut shmring_sender) -> c_int {
    call(|| {
        let entry = sender_entry(sender)?;
        let grant = lock(&entry.grant).take();
        match grant {
            Some(grant) => {
                drop(grant);
                Ok(())
            }
            None => fail(SHMRING_E_STATE, "no reservation is open"),
        }
    })
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
        let raw = handle::insert(Object::Receiver(Box::new(ReceiverEntry {
            held: None,
            peeked: false,
            receiver: Arc::new(receiver),
        })))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, handle_ptr(raw)) };
        Ok(())
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

#[inline(always)]
fn with_receiver(
    promise: Exclusive,
    receiver: *mut shmring_receiver,
    f: impl FnOnce(&mut ReceiverEntry) -> Result<(), Failure>,
) -> Result<(), Failure> {
    handle::with_exclusive(promise, raw(receiver), Kind::Receiver, |o| match o {
        Object::Receiver(r) => f(r),
        _ => fail(SHMRING_E_BAD_HANDLE, "not a receiver"),
    })
}

/// How long a receive may wait.
#[derive(Clone, Copy)]
enum Patience {
    Now,
    Forever,
    For(Duration),
}

impl Patience {
    fn from_ms(ms: u64) -> Patience {
        match ms {
            0 => Patience::Now,
            t => match timeout(t) {
                None => Patience::Forever,
                Some(t) => Patience::For(t),
            },
        }
    }
}

/// The pending message, or the next one from the queue.
fn next_message(r: &mut ReceiverEntry, patience: Patience) -> Result<SlotGuard<'static>, Failure> {
    if r.peeked {
        return fail(
            SHMRING_E_STATE,
            "a peeked message is not released: call shmring_receiver_release first",
        );
    }
    if let Some(guard) = r.held.take() {
        return Ok(guard);
    }
    // SAFETY: `r.receiver` is an `Arc` never replaced while the entry
    // lives; every guard made from it is stored in `r.held` (dropped
    // first in `ReceiverEntry::drop`) or dropped before this call returns.
    let receiver: &'static Receiver = unsafe { &*Arc::as_ptr(&r.receiver) };
    match patience {
        Patience::Now => receiver.try_recv().map_err(try_recv_failure),
        Patience::Forever => receiver.recv().map_err(recv_failure),
        Patience::For(t) => receiver.recv_timeout(t).map_err(recv_timeout_failure),
    }
}

/// Receives into `buf`, keeping a too-long message pending.
///
/// # Safety
/// `buf`/`cap` and `len` checked and valid as for `shmring_receiver_recv`.
unsafe fn receive(
    receiver: *mut shmring_receiver,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    patience: Patience,
) -> Result<(), Failure> {
    check_buffer(buf, cap)?;
    non_null(len, "len is NULL")?;
    with_receiver(
        // SAFETY: promised by the caller (`# Safety`: one thread at a time).
        unsafe { Exclusive::promised() },
        receiver,
        |r| {
            let guard = next_message(r, patience)?;
            let n = guard.len();
            // SAFETY: checked non-NULL; the caller promises it is writable.
            unsafe { put(len, n) };
            if n > cap {
                r.held = Some(guard);
                return Err(Failure::new(
                    SHMRING_E_BUFFER_TOO_SMALL,
                    format!(
                        "the message has {n} bytes, the buffer {cap}; this receiver keeps it for its next receive"
                    ),
                ));
            }
            // SAFETY: `n <= cap` bytes fit at `buf`.
            unsafe { copy_out(&guard, buf) };
            Ok(())
        },
    )
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
    // SAFETY: as the caller promises.
    call(|| unsafe { receive(receiver, buf, cap, len, Patience::Forever) })
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
    // SAFETY: as the caller promises.
    call(|| unsafe { receive(receiver, buf, cap, len, Patience::Now) })
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
    let patience = match timeout(timeout_ms) {
        None => Patience::Forever,
        Some(t) => Patience::For(t),
    };
    // SAFETY: as the caller promises.
    call(|| unsafe { receive(receiver, buf, cap, len, patience) })
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
    call(|| {
        non_null(data, "data is NULL")?;
        non_null(len, "len is NULL")?;
        with_receiver(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            receiver,
            |r| {
                let guard = next_message(r, Patience::from_ms(timeout_ms))?;
                let (ptr, n) = (guard.as_ptr(), guard.len());
                r.held = Some(guard);
                r.peeked = true;
                // SAFETY: both checked non-NULL; the caller promises they are
                // writable.
                unsafe {
                    put(data, ptr.cast::<c_void>());
                    put(len, n);
                }
                Ok(())
            },
        )
    })
}

/// Releases the message returned by `shmring_receiver_peek` (frees its
/// slot). Errors: `SHMRING_E_STATE` (nothing peeked).
///
/// # Safety
/// `receiver` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_receiver_release(receiver: *mut shmring_receiver) -> c_int {
    call(|| {
        with_receiver(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            receiver,
            |r| {
                if !r.peeked {
                    return fail(SHMRING_E_STATE, "no peeked message to release");
                }
                r.peeked = false;
                drop(r.held.take());
                Ok(())
            },
        )
    })
}
