//! SPSC endpoints: `shmring_producer` and `shmring_consumer`.
//!
//! Zero-copy without self-references: the core crate's reservations and
//! receives change nothing in the ring until the grant is committed or
//! the guard is dropped (a claim and a peek are pure reads of the
//! positions; a forgotten grant or guard leaves no trace). So `reserve`
//! takes a grant, notes its address and lets it go; `commit` claims the
//! same room again (same position, same length: the same bytes, already
//! written) and commits that. `peek` forgets the guard; `release`
//! receives the same message again and drops it. The message a too-small
//! buffer could not take is likewise left in the ring (the guard is
//! forgotten, nothing is released).
#![allow(unsafe_code)] // exported functions taking C pointers

use crate::endpoint::{self, ReceiveHandle, SendHandle, commit_length, nothing_reserved};
use crate::error::{Failure, attach_failure, fail, recv_failure, send_failure, shmring_error::*};
use crate::ffi::{call, non_null, put_handle, raw, wait_for, wait_up_to};
use crate::handle::{self, Exclusive, Kind, Object};
use crate::rings::{shmring_spsc, spsc_ring};
use shmring_core::prelude::*;
use shmring_core::{Consumer, Patience, Producer, RecvStop};
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, RawFd};

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

#[inline(always)]
fn with_producer<T>(
    promise: Exclusive,
    producer: *mut shmring_producer,
    f: impl FnOnce(&mut ProducerEntry) -> Result<T, Failure>,
) -> Result<T, Failure> {
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

/// The address of a grant's bytes. The grant itself goes: one that is
/// not committed publishes nothing (see the module documentation).
fn address(mut grant: impl Grant) -> *mut u8 {
    grant.as_mut_ptr()
}

impl SendHandle for shmring_producer {
    type Access = Exclusive;
    type Tx = Producer;

    #[inline(always)]
    fn sending<T>(
        promise: Exclusive,
        producer: *mut Self,
        f: impl FnOnce(&mut Producer) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        with_producer(promise, producer, |p| {
            no_reservation(p)?;
            f(&mut p.producer)
        })
    }

    fn reserve(
        promise: Exclusive,
        producer: *mut Self,
        len: usize,
        patience: Patience,
    ) -> Result<*mut u8, Failure> {
        with_producer(promise, producer, |p| {
            no_reservation(p)?;
            let grant = p
                .producer
                .reserve_within(len, patience)
                .map_err(send_failure)?;
            let ptr = address(grant);
            p.reserved = Some((len, ptr.addr()));
            Ok(ptr)
        })
    }

    fn commit(promise: Exclusive, producer: *mut Self, len: usize) -> Result<(), Failure> {
        with_producer(promise, producer, |p| {
            let Some((reserved, addr)) = p.reserved else {
                return nothing_reserved();
            };
            commit_length(len, reserved)?;
            p.reserved = None;
            // Nothing moved since `reserve`, and the consumer can only have
            // freed more room: this claims the same bytes again.
            let mut grant = p
                .producer
                .reserve_within(reserved, Patience::NoWait)
                .map_err(send_failure)?;
            if grant.as_mut_ptr().addr() != addr {
                return fail(
                    SHMRING_E_CORRUPT,
                    "the reserved room moved (ring state changed)",
                );
            }
            grant.commit_len(len);
            Ok(())
        })
    }

    fn cancel(promise: Exclusive, producer: *mut Self) -> Result<(), Failure> {
        with_producer(promise, producer, |p| match p.reserved.take() {
            // The grant went without publishing: nothing to undo.
            Some(_) => Ok(()),
            None => nothing_reserved(),
        })
    }

    fn fd(promise: Exclusive, producer: *mut Self) -> Result<RawFd, Failure> {
        with_producer(promise, producer, |p| Ok(p.producer.as_raw_fd()))
    }
}

impl ReceiveHandle for shmring_consumer {
    type Entry = ConsumerEntry;
    const PEEKED: &'static str =
        "a peeked message is not released: call shmring_consumer_release first";
    const KEPT: &'static str = "it stays in the ring";

    #[inline(always)]
    fn entry<T>(
        promise: Exclusive,
        consumer: *mut Self,
        f: impl FnOnce(&mut ConsumerEntry) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        handle::with_exclusive(promise, raw(consumer), Kind::Consumer, |o| match o {
            Object::Consumer(c) => f(c),
            _ => fail(SHMRING_E_BAD_HANDLE, "not a consumer"),
        })
    }

    fn peeked(c: &mut ConsumerEntry) -> &mut bool {
        &mut c.peeked
    }

    #[inline(always)]
    fn next(
        c: &mut ConsumerEntry,
        patience: Patience,
        f: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), RecvStop> {
        let msg = c.consumer.recv_within(patience)?;
        if f(&msg) {
            // Not released: the next receive returns the same message.
            std::mem::forget(msg);
        }
        Ok(())
    }

    fn release(c: &mut ConsumerEntry) -> Result<(), Failure> {
        // The kept message is still the first one in the ring: take it
        // again and drop the guard, which releases it.
        let msg = c
            .consumer
            .recv_within(Patience::NoWait)
            .map_err(recv_failure)?;
        drop(msg);
        Ok(())
    }

    fn fd(c: &ConsumerEntry) -> RawFd {
        c.consumer.as_raw_fd()
    }
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
        let entry = ProducerEntry {
            producer,
            reserved: None,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Producer(Box::new(entry))) }
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
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(producer, data, len, Patience::FOREVER) }
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
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(producer, data, len, Patience::NoWait) }
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
    // SAFETY: this function's contract (`data`; one thread at a time).
    unsafe { endpoint::send(producer, data, len, wait_for(timeout_ms)) }
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
    // SAFETY: this function's contract (`buf`; one thread at a time).
    unsafe { endpoint::reserve(producer, len, wait_up_to(timeout_ms), buf) }
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
    // SAFETY: this function's contract (one thread at a time).
    endpoint::commit(unsafe { Exclusive::promised() }, producer, len)
}

/// Drops the open reservation without publishing anything. Errors:
/// `SHMRING_E_STATE` (no reservation).
///
/// # Safety
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_cancel(producer: *mut shmring_producer) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    endpoint::cancel(unsafe { Exclusive::promised() }, producer)
}

/// The producer's readiness descriptor, to wait for room with `poll`,
/// `epoll` or `select` beside other descriptors. Returns the descriptor
/// (>= 0) or a negative code: `SHMRING_E_BAD_HANDLE` (NULL, closed, or
/// another handle type), `SHMRING_E_BUSY`.
///
/// The descriptor belongs to the producer: do not close, read or write
/// it. It is valid until `shmring_producer_close` (every call returns the
/// same one), close-on-exec and non-blocking.
///
/// Taking it switches the producer to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_producer_try_send` (or
/// `shmring_producer_reserve` with timeout 0) until it returns
/// `SHMRING_E_FULL`; only then poll for `POLLOUT`. That `SHMRING_E_FULL`
/// armed the descriptor: it stops polling writable and becomes writable
/// again when the consumer frees room. Until a full send arms it, it
/// stays writable. (`send_timeout` with timeout 0 reports
/// `SHMRING_E_TIMEOUT` and does not arm.)
///
/// - `POLLOUT`: there may be room; try again (it may be too little for a
///   large message: then `SHMRING_E_FULL` again, and wait again).
/// - `POLLERR`: the consumer is gone; sends return
///   `SHMRING_E_DISCONNECTED`.
///
/// The blocking calls (`send`, `send_timeout`) keep working as before.
///
/// # Safety
/// `producer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_producer_fd(producer: *mut shmring_producer) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    endpoint::send_fd(unsafe { Exclusive::promised() }, producer)
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
        let entry = ConsumerEntry {
            consumer,
            peeked: false,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Consumer(Box::new(entry))) }
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
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(consumer, buf, cap, len, Patience::FOREVER) }
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
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(consumer, buf, cap, len, Patience::NoWait) }
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
    // SAFETY: this function's contract (`buf`, `len`; one thread at a time).
    unsafe { endpoint::receive(consumer, buf, cap, len, wait_for(timeout_ms)) }
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
    // SAFETY: this function's contract (`data`, `len`; one thread at a time).
    unsafe { endpoint::peek(consumer, wait_up_to(timeout_ms), data, len) }
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
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::release(consumer) }
}

/// The consumer's readiness descriptor, to wait for messages with `poll`,
/// `epoll` or `select` beside other descriptors (sockets, timers, pipes).
/// Returns the descriptor (>= 0) or a negative code:
/// `SHMRING_E_BAD_HANDLE` (NULL, closed, or another handle type),
/// `SHMRING_E_BUSY`.
///
/// The descriptor belongs to the consumer: do not close, read or write
/// it. It is valid until `shmring_consumer_close` (every call returns the
/// same one), close-on-exec and non-blocking.
///
/// Taking it switches the consumer to descriptor mode. THE RULE (arm,
/// check, wait): call `shmring_consumer_try_recv` (or `shmring_consumer_peek`
/// with timeout 0) until it returns `SHMRING_E_EMPTY`, and only then
/// poll for `POLLIN`; right after taking the descriptor too (a message
/// sent before rang nobody). That `SHMRING_E_EMPTY` armed the
/// descriptor: the next message makes it readable. Only an empty
/// receive clears a readable descriptor, so a loop that handles one
/// message per wake-up works too (it wakes more often).
/// `shmring_consumer_recv_timeout` with timeout 0 reports `SHMRING_E_TIMEOUT`
/// and does not arm.
///
/// - `POLLIN`: a message may be waiting; receive until `SHMRING_E_EMPTY`.
/// - `POLLHUP`: the producer is gone (closed, exited or died): receive
///   what is left, then `SHMRING_E_DISCONNECTED` (end of file).
///
/// The blocking calls (`recv`, `recv_timeout`) keep working as before.
///
/// # Safety
/// `consumer` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_consumer_fd(consumer: *mut shmring_consumer) -> c_int {
    // SAFETY: this function's contract (one thread at a time).
    unsafe { endpoint::receive_fd(consumer) }
}
