//! The endpoint calls, written once for every kind: sending over
//! `MessageSender` (the SPSC producer, the MPMC sender, the publisher),
//! receiving and peeking under the rules all kinds share. What differs
//! per kind is how a C handle reaches its endpoint and how a reservation
//! or a message is kept between two C calls: `spsc.rs`, `mpmc.rs` and
//! `pubsub.rs` say that by implementing [`SendHandle`] and
//! [`ReceiveHandle`] for their C handle types, and their exported
//! functions are one-line shims over the functions here.
#![allow(unsafe_code)] // C pointers

use crate::error::{Failure, fail, recv_failure, send_failure, shmring_error::*};
use crate::ffi::{bytes_arg, call, call_fd, check_buffer, copy_out, non_null, put};
use crate::handle::Exclusive;
use shmring_core::{MessageSender, Patience, RecvStop};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;

/// What a call must bring to use a handle: [`Exclusive`], the promise
/// that no other thread uses it meanwhile, or [`Shared`], nothing.
pub(crate) trait Access: Copy {
    /// The access, as the caller of an exported function promised it.
    ///
    /// # Safety
    /// For [`Exclusive`]: the handle used with it is used by no other
    /// thread until the call returns.
    unsafe fn promised() -> Self;
}

/// The access a shared handle (`shmring_sender`) needs: none, since any
/// number of threads may use it at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shared;

impl Access for Shared {
    unsafe fn promised() -> Shared {
        Shared
    }
}

impl Access for Exclusive {
    unsafe fn promised() -> Exclusive {
        // SAFETY: the caller's promise, passed on.
        unsafe { Exclusive::promised() }
    }
}

/// The C handle of a sending endpoint.
pub(crate) trait SendHandle: Sized {
    /// What a call must bring to use the handle: the caller's promise
    /// ([`Exclusive`]) for the producer and the publisher, nothing
    /// ([`Shared`]) for the sender.
    type Access: Access;
    /// The endpoint a message goes through.
    type Tx: MessageSender;

    /// Runs `f` on the endpoint behind `handle`, unless the handle's state
    /// forbids sending now.
    fn sending<T>(
        access: Self::Access,
        handle: *mut Self,
        f: impl FnOnce(&mut Self::Tx) -> Result<T, Failure>,
    ) -> Result<T, Failure>;

    /// Claims `len` (> 0) bytes to be written in place, waiting as
    /// `patience` allows, and keeps the reservation open until
    /// [`commit`](Self::commit) or [`cancel`](Self::cancel); returns the
    /// address of the bytes.
    fn reserve(
        access: Self::Access,
        handle: *mut Self,
        len: usize,
        patience: Patience,
    ) -> Result<*mut u8, Failure>;

    /// Publishes the first `len` bytes of the open reservation (checked
    /// with [`commit_length`]; [`nothing_reserved`] without one).
    fn commit(access: Self::Access, handle: *mut Self, len: usize) -> Result<(), Failure>;

    /// Drops the open reservation ([`nothing_reserved`] without one).
    fn cancel(access: Self::Access, handle: *mut Self) -> Result<(), Failure>;

    /// The endpoint's readiness descriptor (polls writable while there
    /// may be room). Taking it switches the endpoint to descriptor mode:
    /// a `try_send` or `reserve` that finds the ring full arms it first.
    /// Allowed while a reservation is open.
    fn fd(access: Self::Access, handle: *mut Self) -> Result<RawFd, Failure>;
}

/// The C handle of a receiving endpoint (an exclusive handle).
pub(crate) trait ReceiveHandle: Sized {
    /// What the handle table holds for it: the endpoint, whether a message
    /// is peeked, and whatever the kind needs to keep a message.
    type Entry;
    /// The detail of `SHMRING_E_STATE` while a message is peeked.
    const PEEKED: &'static str;
    /// Where a message too long for the caller's buffer stays.
    const KEPT: &'static str;

    /// Runs `f` on the entry behind `handle`.
    fn entry<T>(
        promise: Exclusive,
        handle: *mut Self,
        f: impl FnOnce(&mut Self::Entry) -> Result<T, Failure>,
    ) -> Result<T, Failure>;

    /// Whether a message is peeked and not released.
    fn peeked(entry: &mut Self::Entry) -> &mut bool;

    /// Shows the next message (a kept one first) to `f`, waiting as
    /// `patience` allows. If `f` returns true the message is kept: the
    /// next call shows it again, at the same address; otherwise it is
    /// released.
    fn next(
        entry: &mut Self::Entry,
        patience: Patience,
        f: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), RecvStop>;

    /// Releases the kept message.
    fn release(entry: &mut Self::Entry) -> Result<(), Failure>;

    /// The endpoint's readiness descriptor (polls readable when a message
    /// may be waiting). Taking it switches the endpoint to descriptor
    /// mode: a `try_recv` or `peek` that finds the ring empty arms it
    /// first.
    fn fd(entry: &Self::Entry) -> RawFd;
}

/// Sends `len` bytes from `data`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes; `handle` is used as
/// its kind's [`Access`] requires.
#[inline(always)]
pub(crate) unsafe fn send<H: SendHandle>(
    handle: *mut H,
    data: *const c_void,
    len: usize,
    patience: Patience,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        // SAFETY: as the caller promises.
        let access = unsafe { H::Access::promised() };
        H::sending(access, handle, |tx| {
            tx.send_within(msg, patience).map_err(send_failure)
        })
    })
}

/// Reserves `len` bytes and stores their address in `*buf`.
///
/// # Safety
/// `buf` is NULL or points to writable memory for one pointer; `handle` is
/// used as its kind's [`Access`] requires.
pub(crate) unsafe fn reserve<H: SendHandle>(
    handle: *mut H,
    len: usize,
    patience: Patience,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf is NULL")?;
        if len == 0 {
            return fail(SHMRING_E_INVALID, "the reservation length is 0");
        }
        // SAFETY: as the caller promises.
        let access = unsafe { H::Access::promised() };
        let ptr = H::reserve(access, handle, len, patience)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(buf, ptr.cast::<c_void>()) };
        Ok(())
    })
}

/// Publishes the first `len` bytes of the open reservation. Unlike the
/// calls above it reads no C memory, so the caller hands over the access
/// itself and the function is safe.
pub(crate) fn commit<H: SendHandle>(access: H::Access, handle: *mut H, len: usize) -> c_int {
    call(|| H::commit(access, handle, len))
}

/// Drops the open reservation.
pub(crate) fn cancel<H: SendHandle>(access: H::Access, handle: *mut H) -> c_int {
    call(|| H::cancel(access, handle))
}

/// The readiness descriptor of a sending handle, or a negative code. It
/// reads no C memory, so the caller hands over the access itself.
pub(crate) fn send_fd<H: SendHandle>(access: H::Access, handle: *mut H) -> c_int {
    call_fd(|| H::fd(access, handle))
}

/// The `SHMRING_E_STATE` of a commit or cancel without a reservation.
pub(crate) fn nothing_reserved<T>() -> Result<T, Failure> {
    fail(SHMRING_E_STATE, "no reservation is open")
}

/// Checks a commit of `len` bytes of a reservation of `reserved` bytes
/// (which stays open if this fails).
pub(crate) fn commit_length(len: usize, reserved: usize) -> Result<(), Failure> {
    if len == 0 || len > reserved {
        return fail(
            SHMRING_E_INVALID,
            "commit length must be 1 to the reserved length",
        );
    }
    Ok(())
}

/// The `SHMRING_E_STATE` of a receive while a message is peeked.
fn not_peeked<H: ReceiveHandle>(entry: &mut H::Entry) -> Result<(), Failure> {
    if *H::peeked(entry) {
        return fail(SHMRING_E_STATE, H::PEEKED);
    }
    Ok(())
}

/// Receives the next message into `buf` (`cap` bytes) and its length into
/// `*len`; a message longer than `cap` is kept for the next call.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes; `len` is NULL or
/// points to a writable `size_t`; `handle` is used by no other thread
/// until the call returns.
#[inline(always)]
pub(crate) unsafe fn receive<H: ReceiveHandle>(
    handle: *mut H,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    patience: Patience,
) -> c_int {
    call(|| {
        check_buffer(buf, cap)?;
        non_null(len, "len is NULL")?;
        // SAFETY: as the caller promises.
        let promise = unsafe { Exclusive::promised() };
        H::entry(promise, handle, |entry| {
            not_peeked::<H>(entry)?;
            let mut delivered = Ok(());
            H::next(entry, patience, |msg| {
                let n = msg.len();
                // SAFETY: checked non-NULL; the caller promises it is writable.
                unsafe { put(len, n) };
                if n > cap {
                    delivered = Err(Failure::new(
                        SHMRING_E_BUFFER_TOO_SMALL,
                        format!("the message has {n} bytes, the buffer {cap}; {}", H::KEPT),
                    ));
                    return true;
                }
                // SAFETY: `n <= cap` bytes fit at `buf`, which the caller
                // promises is writable.
                unsafe { copy_out(msg, buf) };
                false
            })
            .map_err(recv_failure)?;
            delivered
        })
    })
}

/// Hands out the next message in place: its address in `*data`, its
/// length in `*len`, kept until [`release`].
///
/// # Safety
/// `data` is NULL or points to writable memory for one pointer; `len` is
/// NULL or points to a writable `size_t`; `handle` is used by no other
/// thread until the call returns.
pub(crate) unsafe fn peek<H: ReceiveHandle>(
    handle: *mut H,
    patience: Patience,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(data, "data is NULL")?;
        non_null(len, "len is NULL")?;
        // SAFETY: as the caller promises.
        let promise = unsafe { Exclusive::promised() };
        H::entry(promise, handle, |entry| {
            not_peeked::<H>(entry)?;
            H::next(entry, patience, |msg| {
                // SAFETY: both checked non-NULL; the caller promises they
                // are writable.
                unsafe {
                    put(data, msg.as_ptr().cast::<c_void>());
                    put(len, msg.len());
                }
                true
            })
            .map_err(recv_failure)?;
            *H::peeked(entry) = true;
            Ok(())
        })
    })
}

/// Releases the peeked message.
///
/// # Safety
/// `handle` is used by no other thread until the call returns.
pub(crate) unsafe fn release<H: ReceiveHandle>(handle: *mut H) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let promise = unsafe { Exclusive::promised() };
        H::entry(promise, handle, |entry| {
            let peeked = H::peeked(entry);
            if !*peeked {
                return fail(SHMRING_E_STATE, "no peeked message to release");
            }
            *peeked = false;
            H::release(entry)
        })
    })
}

/// The readiness descriptor of a receiving handle, or a negative code.
/// Allowed while a message is peeked or pending (taking the descriptor
/// changes no message).
///
/// # Safety
/// `handle` is used by no other thread until the call returns.
pub(crate) unsafe fn receive_fd<H: ReceiveHandle>(handle: *mut H) -> c_int {
    call_fd(|| {
        // SAFETY: as the caller promises.
        let promise = unsafe { Exclusive::promised() };
        H::entry(promise, handle, |entry| Ok(H::fd(entry)))
    })
}
