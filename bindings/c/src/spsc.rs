//! SPSC endpoints: `shmring_producer` and `shmring_consumer`.
//!
//! Zero-copy without self-references: the core crate's `try_reserve` and
//! `try_recv` change nothing in the ring until the grant is committed or
//! the guard is dropped (a claim and a peek are pure reads of the
//! positions). So `reserve` takes a grant, notes its pointer and forgets
//! it (a `WriteGrant` has no `Drop`); `commit` claims the same room again (same position, same length:
//! the same bytes, already written) and commits that. `peek` forgets the
//! guard; `release` receives the same message again and drops it. The
//! message a too-small buffer could not take is likewise left in the ring
//! (the guard is forgotten, nothing is released).
#![allow(unsafe_code)] // exported functions taking C pointers

use crate::error::{
    Failure, attach_failure, fail, recv_failure, recv_timeout_failure, send_failure,
    send_timeout_failure, shmring_error::*, try_recv_failure, try_send_failure,
};
use crate::ffi::{
    bytes_arg, call, check_buffer, copy_out, handle_ptr, non_null, put, raw, timeout,
};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{shmring_spsc, spsc_ring};
use shmring_core::{Consumer, Producer, RecvGuard, WriteGrant};
use std::ffi::{c_int, c_void};

/// The sending end of an SPSC ring (one per ring at a time).
///
/// Thread safety: may move between threads, but is used by one thread at
/// a time, close included (no lock; a concurrent call is usually refused
/// with `SHMRING_E_BUSY`, not reliably).
/// Closing it is the end-of-file for the consumer.
#[derive(Debug)]
pub struct shmring_producer {
    _opaque: [u8; 0],
}

/// The receiving end of an SPSC ring (one per ring at a time). Same
/// thread rules as `shmring_producer`. Closing it makes the producer's
/// sends fail with `SHMRING_E_DISCONNECTED`.
#[derive(Debug)]
pub struct shmring_consumer {
    _opaque: [u8; 0],
}

/// A producer in its handle slot.
#[derive(Debug)]
pub(crate) struct ProducerEntry {
    producer: Producer,
    /// An open reservation: its length and the address of its bytes.
    reserved: Option<(usize, usize)>,
}

/// A consumer in its handle slot.
#[derive(Debug)]
pub(crate) struct ConsumerEntry {
    consumer: Consumer,
    /// A message handed out by `peek` and not yet released.
    peeked: bool,
}

/// Opens the producer of `ring`. Errors: `SHMRING_E_INVALID`,
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY` (a live process holds the
/// role), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_open(
    ring: *mut shmring_spsc,
    out: *mut *mut shmring_producer,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let producer = spsc_ring(ring)?
            .producer()
            .map_err(|e| attach_failure("producer", e))?;
        let raw = handle::insert(Object::Producer(Box::new(ProducerEntry {
            producer,
            reserved: None,
        })))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, handle_ptr(raw)) };
        Ok(())
    })
}

/// Closes the producer (an open reservation is discarded). Errors:
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`.
///
/// # Safety
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_close(producer: *mut shmring_producer) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(producer),
            Kind::Producer,
        )?);
        Ok(())
    })
}

#[inline(always)]
fn with_producer(
    promise: Exclusive,
    producer: *mut shmring_producer,
    f: impl FnOnce(&mut ProducerEntry) -> Result<(), Failure>,
) -> Result<(), Failure> {
    handle::with_exclusive(promise, raw(producer), Kind::Producer, |o| match o {
        Object::Producer(p) => f(p),
        _ => fail(SHMRING_E_BAD_HANDLE, "not a producer"),
    })
}

fn no_reservation(p: &ProducerEntry) -> Result<(), Failure> {
    match p.reserved {
        Some(_) => fail(
            SHMRING_E_STATE,
            "a reservation is open: commit or cancel it first",
        ),
        None => Ok(()),
    }
}

/// Sends `len` bytes from `data`, waiting for room as long as it takes.
///
/// Errors: `SHMRING_E_INVALID` (NULL `data`, `len` 0),
/// `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`, `SHMRING_E_STATE` (a
/// reservation is open), `SHMRING_E_TOO_LARGE`, `SHMRING_E_DISCONNECTED`,
/// `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_send(
    producer: *mut shmring_producer,
    data: *const c_void,
    len: usize,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| {
                no_reservation(p)?;
                p.producer.send(msg).map_err(send_failure)
            },
        )
    })
}

/// Sends if there is room now; `SHMRING_E_FULL` otherwise. Other errors
/// as for `shmring_producer_send`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_try_send(
    producer: *mut shmring_producer,
    data: *const c_void,
    len: usize,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| {
                no_reservation(p)?;
                p.producer.try_send(msg).map_err(try_send_failure)
            },
        )
    })
}

/// Sends, waiting for room at most `timeout_ms` milliseconds
/// (`SHMRING_INFINITE`: no limit; 0: like `try_send` but reporting
/// `SHMRING_E_TIMEOUT`). `SHMRING_E_TIMEOUT` when the time is up; other
/// errors as for `shmring_producer_send`.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes.
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_send_timeout(
    producer: *mut shmring_producer,
    data: *const c_void,
    len: usize,
    timeout_ms: u64,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let msg = unsafe { bytes_arg(data, len)? };
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| {
                no_reservation(p)?;
                match timeout(timeout_ms) {
                    None => p.producer.send(msg).map_err(send_failure),
                    Some(t) => p
                        .producer
                        .send_timeout(msg, t)
                        .map_err(send_timeout_failure),
                }
            },
        )
    })
}

/// Address of a grant's bytes. The grant itself goes: a `WriteGrant`
/// has no `Drop`, and one that is not committed publishes nothing (see
/// the module documentation).
fn keep_grant(mut grant: WriteGrant<'_>) -> *mut u8 {
    grant.as_mut_ptr()
}

/// Reserves `len` bytes in the ring to be written in place, waiting for
/// room at most `timeout_ms` (0: not at all, `SHMRING_INFINITE`: no
/// limit). `*buf` receives the address of the reserved bytes; they are
/// the caller's to write until `shmring_producer_commit` publishes them or
/// `shmring_producer_cancel` drops them. One reservation at a time; no
/// send while it is open.
///
/// Errors: `SHMRING_E_INVALID` (`buf` NULL, `len` 0), `SHMRING_E_STATE`
/// (a reservation is open), `SHMRING_E_FULL` (timeout 0),
/// `SHMRING_E_TIMEOUT`, `SHMRING_E_TOO_LARGE`, `SHMRING_E_DISCONNECTED`.
///
/// # Safety
/// `buf` is NULL or points to writable memory for one pointer.
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_reserve(
    producer: *mut shmring_producer,
    len: usize,
    timeout_ms: u64,
    buf: *mut *mut c_void,
) -> c_int {
    call(|| {
        non_null(buf, "buf is NULL")?;
        if len == 0 {
            return fail(SHMRING_E_INVALID, "the reservation length is 0");
        }
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| {
                no_reservation(p)?;
                let ptr = match timeout_ms {
                    0 => keep_grant(p.producer.try_reserve(len).map_err(try_send_failure)?),
                    t => match timeout(t) {
                        None => keep_grant(p.producer.reserve(len).map_err(send_failure)?),
                        Some(t) => keep_grant(
                            p.producer
                                .reserve_timeout(len, t)
                                .map_err(send_timeout_failure)?,
                        ),
                    },
                };
                p.reserved = Some((len, ptr.addr()));
                // SAFETY: checked non-NULL; the caller promises it is writable.
                unsafe { put(buf, ptr.cast::<c_void>()) };
                Ok(())
            },
        )
    })
}

/// Publishes the first `len` bytes (1 to the reserved length) of the open
/// reservation. Errors: `SHMRING_E_STATE` (no reservation),
/// `SHMRING_E_INVALID` (`len` 0 or longer than reserved; the reservation
/// stays open), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_commit(
    producer: *mut shmring_producer,
    len: usize,
) -> c_int {
    call(|| {
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| {
                let Some((reserved, addr)) = p.reserved else {
                    return fail(SHMRING_E_STATE, "no reservation is open");
                };
                if len == 0 || len > reserved {
                    return fail(
                        SHMRING_E_INVALID,
                        "commit length must be 1 to the reserved length",
                    );
                }
                p.reserved = None;
                // Nothing moved since `reserve`, and the consumer can only have
                // freed more room: this claims the same bytes again.
                let mut grant = p.producer.try_reserve(reserved).map_err(try_send_failure)?;
                if grant.as_mut_ptr().addr() != addr {
                    return fail(
                        SHMRING_E_CORRUPT,
                        "the reserved room moved (ring state changed)",
                    );
                }
                grant.commit_len(len);
                Ok(())
            },
        )
    })
}

/// Drops the open reservation without publishing anything. Errors:
/// `SHMRING_E_STATE` (no reservation).
///
/// # Safety
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_cancel(producer: *mut shmring_producer) -> c_int {
    call(|| {
        with_producer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            producer,
            |p| match p.reserved.take() {
                // The grant was forgotten without publishing: nothing to undo.
                Some(_) => Ok(()),
                None => fail(SHMRING_E_STATE, "no reservation is open"),
            },
        )
    })
}

/// Opens the consumer of `ring`. Errors as for `shmring_producer_open`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_open(
    ring: *mut shmring_spsc,
    out: *mut *mut shmring_consumer,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let consumer = spsc_ring(ring)?
            .consumer()
            .map_err(|e| attach_failure("consumer", e))?;
        let raw = handle::insert(Object::Consumer(Box::new(ConsumerEntry {
            consumer,
            peeked: false,
        })))?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, handle_ptr(raw)) };
        Ok(())
    })
}

/// Closes the consumer. A peeked, unreleased message stays in the ring
/// (the next consumer receives it).
///
/// # Safety
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_close(consumer: *mut shmring_consumer) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(consumer),
            Kind::Consumer,
        )?);
        Ok(())
    })
}

#[inline(always)]
fn with_consumer(
    promise: Exclusive,
    consumer: *mut shmring_consumer,
    f: impl FnOnce(&mut ConsumerEntry) -> Result<(), Failure>,
) -> Result<(), Failure> {
    handle::with_exclusive(promise, raw(consumer), Kind::Consumer, |o| match o {
        Object::Consumer(c) => f(c),
        _ => fail(SHMRING_E_BAD_HANDLE, "not a consumer"),
    })
}

fn not_peeked(c: &ConsumerEntry) -> Result<(), Failure> {
    if c.peeked {
        return fail(
            SHMRING_E_STATE,
            "a peeked message is not released: call shmring_consumer_release first",
        );
    }
    Ok(())
}

/// Copies the message of `guard` out, or leaves it in the ring if `cap`
/// is too small.
///
/// # Safety
/// `buf` points to `cap` writable bytes; `len` is writable.
#[inline(always)]
unsafe fn deliver(
    guard: RecvGuard<'_>,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> Result<(), Failure> {
    let n = guard.len();
    // SAFETY: checked non-NULL by the caller's caller; writable.
    unsafe { put(len, n) };
    if n > cap {
        // Not released: the same message is delivered by the next receive.
        std::mem::forget(guard);
        return Err(Failure::new(
            SHMRING_E_BUFFER_TOO_SMALL,
            format!("the message has {n} bytes, the buffer {cap}; it stays in the ring"),
        ));
    }
    // SAFETY: `n <= cap` bytes fit at `buf`.
    unsafe { copy_out(&guard, buf) };
    Ok(())
}

/// Waits for the next message as long as it takes and copies it into
/// `buf` (`cap` bytes); `*len` receives its length.
///
/// If the message is longer than `cap`: `SHMRING_E_BUFFER_TOO_SMALL`,
/// `*len` holds the length needed, and the message stays in the ring (the
/// next receive returns it). Other errors: `SHMRING_E_INVALID` (NULL
/// `buf`/`len`, `cap` 0), `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY`,
/// `SHMRING_E_STATE` (a message is peeked), `SHMRING_E_DISCONNECTED`
/// (producer gone and ring drained), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes; `len` is NULL or
/// points to a writable `size_t`.
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_recv(
    consumer: *mut shmring_consumer,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    call(|| {
        check_buffer(buf, cap)?;
        non_null(len, "len is NULL")?;
        with_consumer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            consumer,
            |c| {
                not_peeked(c)?;
                let guard = c.consumer.recv().map_err(recv_failure)?;
                // SAFETY: arguments checked above, validity promised by the caller.
                unsafe { deliver(guard, buf, cap, len) }
            },
        )
    })
}

/// Like `shmring_consumer_recv` but returns `SHMRING_E_EMPTY` at once if
/// no message is there.
///
/// # Safety
/// As for `shmring_consumer_recv`.
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_try_recv(
    consumer: *mut shmring_consumer,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    call(|| {
        check_buffer(buf, cap)?;
        non_null(len, "len is NULL")?;
        with_consumer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            consumer,
            |c| {
                not_peeked(c)?;
                let guard = c.consumer.try_recv().map_err(try_recv_failure)?;
                // SAFETY: arguments checked above, validity promised by the caller.
                unsafe { deliver(guard, buf, cap, len) }
            },
        )
    })
}

/// Like `shmring_consumer_recv`, waiting at most `timeout_ms`
/// milliseconds (`SHMRING_INFINITE`: no limit); `SHMRING_E_TIMEOUT` when
/// the time is up.
///
/// # Safety
/// As for `shmring_consumer_recv`.
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_recv_timeout(
    consumer: *mut shmring_consumer,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ms: u64,
) -> c_int {
    call(|| {
        check_buffer(buf, cap)?;
        non_null(len, "len is NULL")?;
        with_consumer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            consumer,
            |c| {
                not_peeked(c)?;
                let guard = match timeout(timeout_ms) {
                    None => c.consumer.recv().map_err(recv_failure)?,
                    Some(t) => c.consumer.recv_timeout(t).map_err(recv_timeout_failure)?,
                };
                // SAFETY: arguments checked above, validity promised by the caller.
                unsafe { deliver(guard, buf, cap, len) }
            },
        )
    })
}

/// Zero-copy receive: waits at most `timeout_ms` (0: not at all,
/// `SHMRING_INFINITE`: no limit) for the next message and stores its
/// address in `*data` and its length in `*len`, without copying. The bytes
/// stay valid and unchanged until `shmring_consumer_release` (or close);
/// until then other receives fail with `SHMRING_E_STATE`.
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_STATE` (already peeked),
/// `SHMRING_E_EMPTY` (timeout 0), `SHMRING_E_TIMEOUT`,
/// `SHMRING_E_DISCONNECTED`, `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `data` is NULL or points to writable memory for one pointer; `len` is
/// NULL or points to a writable `size_t`.
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_peek(
    consumer: *mut shmring_consumer,
    timeout_ms: u64,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    call(|| {
        non_null(data, "data is NULL")?;
        non_null(len, "len is NULL")?;
        with_consumer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            consumer,
            |c| {
                not_peeked(c)?;
                let guard = match timeout_ms {
                    0 => c.consumer.try_recv().map_err(try_recv_failure)?,
                    t => match timeout(t) {
                        None => c.consumer.recv().map_err(recv_failure)?,
                        Some(t) => c.consumer.recv_timeout(t).map_err(recv_timeout_failure)?,
                    },
                };
                let (ptr, n) = (guard.as_ptr(), guard.len());
                // Not released until `shmring_consumer_release`.
                std::mem::forget(guard);
                c.peeked = true;
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

/// Releases the message returned by `shmring_consumer_peek` (its bytes
/// must not be used afterwards). Errors: `SHMRING_E_STATE` (nothing
/// peeked), `SHMRING_E_CORRUPT`.
///
/// # Safety
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_release(consumer: *mut shmring_consumer) -> c_int {
    call(|| {
        with_consumer(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            consumer,
            |c| {
                if !c.peeked {
                    return fail(SHMRING_E_STATE, "no peeked message to release");
                }
                c.peeked = false;
                // The peeked message is still the first one in the ring: take
                // it again and drop the guard, which releases it.
                drop(c.consumer.try_recv().map_err(try_recv_failure)?);
                Ok(())
            },
        )
    })
}
