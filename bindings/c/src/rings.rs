//! Rings and the broker connection: `shmring_spsc`, `shmring_mpmc`,
//! `shmring_pubsub` (open directly in `/dev/shm` or through the broker)
//! and `shmring_client`.
#![allow(unsafe_code)] // exported functions taking C pointers

use crate::error::{Failure, broker_failure, fail, open_failure, shmring_error::*};
use crate::ffi::{call, non_null, put, put_handle, raw, str_arg};
use crate::handle::{self, Exclusive, Kind, Object};
use shmring_core::broker::{BrokerClient, CreateOptions, Lifetime, SegmentInfo};
use shmring_core::{
    DEFAULT_MODE, Delivery, Mpmc, OpenMode, PubSub, Ring, RingBuilder, RingGeometry, RingKind,
    Spsc, WaitStrategy,
};
use std::ffi::{c_char, c_int};
use std::sync::Arc;

/// An open SPSC ring (a named segment in `/dev/shm`, or a segment from the
/// broker). It hands out one producer and one consumer and answers stat
/// queries.
///
/// Thread safety: may be used from several threads at once and moved
/// freely. Closing it does not close the producer and consumer opened
/// from it (they keep the mapping alive).
#[derive(Debug)]
pub struct shmring_spsc {
    _opaque: [u8; 0],
}

/// An open MPMC queue; hands out senders and receivers. Same rules as
/// `shmring_spsc`: shareable between threads, endpoints outlive it.
#[derive(Debug)]
pub struct shmring_mpmc {
    _opaque: [u8; 0],
}

/// An open publish/subscribe ring; hands out its one publisher and up to
/// `subscribers` subscribers. Same rules as `shmring_spsc`: shareable
/// between threads, endpoints outlive it.
#[derive(Debug)]
pub struct shmring_pubsub {
    _opaque: [u8; 0],
}

/// A connection to the broker (`shmringd`).
///
/// Thread safety: may move between threads, but is used by one thread at
/// a time, close included (no lock; a concurrent call is usually refused
/// with `SHMRING_E_BUSY`, not reliably). Rings opened through it stay
/// valid after it is closed.
#[derive(Debug)]
pub struct shmring_client {
    _opaque: [u8; 0],
}

/// `flags`: create a new segment (fails with `SHMRING_E_EXISTS` if the
/// name is taken). Without it, the segment is opened.
pub const SHMRING_CREATE: u32 = 1;
/// `flags` (broker only, with `SHMRING_CREATE`): the broker forgets the
/// segment once no connection that created or opened it remains.
pub const SHMRING_EPHEMERAL: u32 = 2;
/// `flags`: blocking calls on endpoints from this ring busy-spin (lowest
/// latency, burns a core) instead of spinning 50 µs and then sleeping.
pub const SHMRING_WAIT_SPIN: u32 = 4;
/// `flags`: blocking calls sleep on the futex at once (no spinning).
pub const SHMRING_WAIT_PARK: u32 = 8;

const ALL_FLAGS: u32 = SHMRING_CREATE | SHMRING_EPHEMERAL | SHMRING_WAIT_SPIN | SHMRING_WAIT_PARK;

/// `shmring_segment_info.kind`: an SPSC ring.
pub const SHMRING_KIND_SPSC: u32 = 1;
/// `shmring_segment_info.kind`: an MPMC queue.
pub const SHMRING_KIND_MPMC: u32 = 2;
/// `shmring_segment_info.kind`: a publish/subscribe ring.
pub const SHMRING_KIND_PUBSUB: u32 = 3;

/// `shmring_pubsub_options.delivery`, `shmring_pubsub_stats.delivery`:
/// the publisher waits for the slowest live subscriber; every subscriber
/// sees every message (the default).
pub const SHMRING_LOSSLESS: u32 = 0;
/// `shmring_pubsub_options.delivery`, `shmring_pubsub_stats.delivery`:
/// the publisher never waits; a subscriber that falls a ring behind loses
/// the oldest messages and is told how many (`SHMRING_E_LAGGED`).
pub const SHMRING_LOSSY: u32 = 1;

/// How to open or create an SPSC ring. Zero-initialise it
/// (`shmring_spsc_options o = {0};`) and set what you need; every zero
/// field means "the default".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmring_spsc_options {
    /// Segment name (required): 1 to 250 bytes, no '/' except one leading.
    pub name: *const c_char,
    /// NULL: a named segment in `/dev/shm`. Otherwise the broker
    /// connection to create or open the segment through.
    pub client: *mut shmring_client,
    /// `SHMRING_CREATE`, `SHMRING_EPHEMERAL`, `SHMRING_WAIT_SPIN`,
    /// `SHMRING_WAIT_PARK`, or-ed.
    pub flags: u32,
    /// Permission bits of a new segment (0: 0600).
    pub mode: u32,
    /// Data-area bytes of a new ring: a power of two, 64 B to 1 TiB
    /// (0: 65536).
    pub capacity: u64,
    /// Largest message of a new ring, at most `capacity / 4`
    /// (0: `capacity / 4`).
    pub max_message: u64,
}

/// How to open or create an MPMC queue. Zero-initialise it; zero fields
/// mean "the default".
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmring_mpmc_options {
    /// Segment name (required).
    pub name: *const c_char,
    /// NULL: a named segment in `/dev/shm`; otherwise the broker connection.
    pub client: *mut shmring_client,
    /// As for `shmring_spsc_options`.
    pub flags: u32,
    /// Permission bits of a new segment (0: 0600).
    pub mode: u32,
    /// Slots per priority level: a power of two, 2 to 16 Mi (0: 1024).
    pub slots: u64,
    /// Largest message (slot payload) in bytes, up to 16 MiB (0: 256).
    pub slot_size: u64,
    /// Priority levels, 1 to 8 (0: 1).
    pub priorities: u32,
}

/// How to open or create a publish/subscribe ring. Zero-initialise it;
/// zero fields mean "the default". The shape fields are used only when
/// creating.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmring_pubsub_options {
    /// Segment name (required).
    pub name: *const c_char,
    /// NULL: a named segment in `/dev/shm`; otherwise the broker connection.
    pub client: *mut shmring_client,
    /// As for `shmring_spsc_options`.
    pub flags: u32,
    /// Permission bits of a new segment (0: 0600).
    pub mode: u32,
    /// Slots, the messages the ring holds: a power of two, 2 to 16 Mi
    /// (0: 1024).
    pub slots: u64,
    /// Largest message (slot payload) in bytes, up to 16 MiB (0: 256).
    pub slot_size: u64,
    /// Subscribers the ring holds at once, 1 to 1024 (0: 64).
    pub subscribers: u32,
    /// `SHMRING_LOSSLESS` (0, the default) or `SHMRING_LOSSY`.
    pub delivery: u32,
}

/// What `shmring_spsc_stat` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmring_spsc_stats {
    /// Data-area size in bytes.
    pub capacity: u64,
    /// Largest message in bytes.
    pub max_message: u64,
    /// Bytes published and not yet released (record headers included).
    pub bytes_in_flight: u64,
    /// Messages published and not yet released.
    pub messages_in_flight: u64,
    /// Whether a live process holds the producer role.
    pub producer_attached: bool,
    /// Whether a live process holds the consumer role.
    pub consumer_attached: bool,
}

/// What `shmring_mpmc_stat` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmring_mpmc_stats {
    /// Slots per priority level.
    pub slots: u64,
    /// Largest message in bytes.
    pub slot_size: u64,
    /// Messages sent (or being written) and not yet received.
    pub messages_in_flight: u64,
    /// Number of priority levels.
    pub priorities: u32,
    /// Sender endpoints held by live processes.
    pub live_senders: u32,
    /// Receiver endpoints held by live processes.
    pub live_receivers: u32,
    /// Crash recovery since the queue was created: slots claimed by
    /// senders that died before publishing (passed over as empty).
    pub dead_sender_slots: u64,
    /// Crash recovery: messages held by receivers that died before
    /// releasing them (dropped, not delivered again).
    pub dead_receiver_messages: u64,
}

/// What `shmring_pubsub_stat` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmring_pubsub_stats {
    /// Slots (messages the ring holds).
    pub slots: u64,
    /// Largest message in bytes.
    pub slot_size: u64,
    /// Messages published since the ring was created.
    pub published: u64,
    /// Messages the slowest subscriber has not read yet (at most `slots`;
    /// 0 without subscribers).
    pub messages_in_flight: u64,
    /// Subscribers found dead and removed since the ring was created.
    pub reaped_subscribers: u64,
    /// Subscribers the ring holds at once.
    pub subscribers: u32,
    /// Subscribers attached now (alive, or dead and not yet found so).
    pub live_subscribers: u32,
    /// `SHMRING_LOSSLESS` or `SHMRING_LOSSY`.
    pub delivery: u32,
    /// Whether a live process holds the publisher role.
    pub publisher_attached: bool,
}

/// What `shmring_client_stat` reports about a broker segment.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct shmring_segment_info {
    /// The name, NUL-terminated (names longer than 255 bytes are cut).
    pub name: [c_char; 256],
    /// `SHMRING_KIND_SPSC`, `SHMRING_KIND_MPMC` or `SHMRING_KIND_PUBSUB`.
    pub kind: u32,
    /// 1 if ephemeral, 0 if persistent.
    pub ephemeral: u32,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// MPMC priority levels (SPSC: 0; publish/subscribe: 1).
    pub levels: u32,
    /// Broker connections that created or opened it and are still open.
    pub holders: u32,
    /// Endpoints held by live processes.
    pub endpoints: u32,
    /// Segment size in bytes.
    pub size: u64,
    /// SPSC: data bytes; MPMC: slots per level; publish/subscribe: slots.
    pub capacity: u64,
    /// SPSC: largest message; MPMC, publish/subscribe: slot size.
    pub max_message: u64,
    /// Messages published and not yet consumed.
    pub messages_in_flight: u64,
    /// SPSC: bytes in flight; MPMC: messages × slot stride.
    pub bytes_in_flight: u64,
}

/// A broker connection in its handle slot.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    client: Option<BrokerClient>,
}

fn wait_strategy(flags: u32) -> Result<WaitStrategy, Failure> {
    if flags & !ALL_FLAGS != 0 {
        return fail(SHMRING_E_INVALID, "unknown bits in flags");
    }
    match (
        flags & SHMRING_WAIT_SPIN != 0,
        flags & SHMRING_WAIT_PARK != 0,
    ) {
        (true, true) => fail(
            SHMRING_E_INVALID,
            "SHMRING_WAIT_SPIN and SHMRING_WAIT_PARK exclude each other",
        ),
        (true, false) => Ok(WaitStrategy::BusySpin),
        (false, true) => Ok(WaitStrategy::Park),
        (false, false) => Ok(WaitStrategy::default()),
    }
}

/// Runs a broker request with the client of `client_handle`, using `wait`
/// for the handles it returns.
fn with_client<R>(
    promise: Exclusive,
    client_handle: *mut shmring_client,
    wait: WaitStrategy,
    f: impl FnOnce(&mut BrokerClient) -> Result<R, Failure>,
) -> Result<R, Failure> {
    handle::with_exclusive(promise, raw(client_handle), Kind::Client, |object| {
        let Object::Client(entry) = object else {
            return fail(SHMRING_E_BAD_HANDLE, "not a client handle");
        };
        let client = entry
            .client
            .take()
            .ok_or_else(|| Failure::new(SHMRING_E_IO, "the broker connection was lost"))?;
        let mut client = client.with_wait_strategy(wait);
        let result = f(&mut client);
        entry.client = Some(client);
        result
    })
}

/// Connects to the broker. `socket_path` NULL means the default path:
/// `$SHMRING_SOCKET`, else `$XDG_RUNTIME_DIR/shmring/broker.sock`, else
/// `/tmp/shmring-$UID/broker.sock`. On success `*out` is the new handle.
///
/// Errors: `SHMRING_E_INVALID` (`out` NULL), `SHMRING_E_NO_BROKER`,
/// `SHMRING_E_PERMISSION` (an untrusted daemon or socket directory),
/// `SHMRING_E_INCOMPATIBLE` (protocol version), `SHMRING_E_IO`.
///
/// # Safety
/// `socket_path` is NULL or a NUL-terminated string; `out` is NULL or
/// points to writable memory for one handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_client_connect(
    socket_path: *const c_char,
    out: *mut *mut shmring_client,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let client = if socket_path.is_null() {
            BrokerClient::connect()
        } else {
            // SAFETY: non-NULL C string, as the caller promises.
            let path = unsafe { str_arg(socket_path, "socket_path")? };
            BrokerClient::connect_to(path)
        }
        .map_err(|e| broker_failure("connect", e))?;
        let entry = ClientEntry {
            client: Some(client),
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, Object::Client(Box::new(entry))) }
    })
}

/// Closes the broker connection. Rings opened through it stay usable.
/// Errors: `SHMRING_E_BAD_HANDLE`, `SHMRING_E_BUSY` (in use by another
/// thread).
///
/// # Safety
/// `client` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_client_close(client: *mut shmring_client) -> c_int {
    call(|| {
        drop(handle::remove(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Some(Exclusive::promised()) },
            raw(client),
            Kind::Client,
        )?);
        Ok(())
    })
}

/// Describes the broker segment `name` (needs read permission).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or points to
/// a writable `shmring_segment_info`.
/// `client` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_client_stat(
    client: *mut shmring_client,
    name: *const c_char,
    out: *mut shmring_segment_info,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let name = unsafe { str_arg(name, "name is NULL")? };
        non_null(out, "out is NULL")?;
        let info = with_client(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            client,
            WaitStrategy::default(),
            |c| {
                c.stat(name)
                    .map_err(|e| broker_failure(&format!("stat {name:?}"), e))
            },
        )?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, segment_info(&info)) };
        Ok(())
    })
}

/// Removes the broker segment `name` (owner only). Processes that mapped
/// it keep using it.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
/// `client` is used by no other thread until the call returns (an
/// exclusive handle: see its type).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_client_unlink(
    client: *mut shmring_client,
    name: *const c_char,
) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let name = unsafe { str_arg(name, "name is NULL")? };
        with_client(
            // SAFETY: promised by the caller (`# Safety`: one thread at a time).
            unsafe { Exclusive::promised() },
            client,
            WaitStrategy::default(),
            |c| {
                c.unlink(name)
                    .map_err(|e| broker_failure(&format!("unlink {name:?}"), e))
            },
        )
    })
}

/// Removes the named segment `name` from `/dev/shm` (direct mode).
/// Processes that mapped it keep using it.
///
/// Errors: `SHMRING_E_INVALID`, `SHMRING_E_BAD_NAME`,
/// `SHMRING_E_NOT_FOUND`, `SHMRING_E_PERMISSION`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_unlink(name: *const c_char) -> c_int {
    call(|| {
        // SAFETY: as the caller promises.
        let name = unsafe { str_arg(name, "name is NULL")? };
        shmring_core::unlink(name).map_err(|e| open_failure("unlink", name, e))
    })
}

fn segment_info(info: &SegmentInfo) -> shmring_segment_info {
    let mut name = [0 as c_char; 256];
    for (dst, src) in name.iter_mut().zip(info.name.bytes().take(255)) {
        *dst = src as c_char;
    }
    let (kind, capacity, levels) = match info.geometry {
        RingGeometry::Spsc { capacity, .. } => (SHMRING_KIND_SPSC, capacity, 0),
        RingGeometry::Mpmc {
            slots, priorities, ..
        } => (SHMRING_KIND_MPMC, slots, priorities),
        RingGeometry::PubSub { slots, .. } => (SHMRING_KIND_PUBSUB, slots, 1),
    };
    shmring_segment_info {
        name,
        kind,
        ephemeral: u32::from(info.lifetime == Lifetime::Ephemeral),
        mode: info.mode,
        uid: info.uid,
        gid: info.gid,
        levels,
        holders: info.holders,
        endpoints: u32::try_from(info.endpoints.len()).unwrap_or(u32::MAX),
        size: info.size,
        capacity,
        max_message: info.geometry.max_message(),
        messages_in_flight: info.messages_in_flight,
        bytes_in_flight: info.bytes_in_flight,
    }
}

/// What an open function is asked, whatever the kind: the fields the
/// options structs share, and their shape as one [`RingGeometry`].
#[derive(Debug, Clone, Copy)]
struct OpenRequest {
    name: *const c_char,
    client: *mut shmring_client,
    flags: u32,
    mode: u32,
    geometry: RingGeometry,
}

/// The options struct of a ring kind.
trait RingOptions: Copy {
    /// The ring it opens.
    type Ring: Ring;
    /// The C handle of that ring.
    type Handle;
    /// The request, with every zero field of the shape given
    /// [`RingGeometry::default_for`]'s value; `SHMRING_E_INVALID` for a
    /// field no ring can have whatever its other fields.
    fn request(&self) -> Result<OpenRequest, Failure>;
    /// The ring in its handle slot.
    fn object(ring: Self::Ring) -> Object;
}

impl RingOptions for shmring_spsc_options {
    type Ring = Spsc;
    type Handle = shmring_spsc;

    fn request(&self) -> Result<OpenRequest, Failure> {
        // As in `RingGeometry::spsc`, the largest message follows the
        // capacity unless it is given.
        let shape = match self.capacity {
            0 => RingGeometry::default_for(RingKind::Spsc),
            capacity => RingGeometry::spsc(capacity),
        };
        Ok(OpenRequest {
            name: self.name,
            client: self.client,
            flags: self.flags,
            mode: self.mode,
            geometry: match self.max_message {
                0 => shape,
                bytes => shape.with_max_message(bytes),
            },
        })
    }

    fn object(ring: Spsc) -> Object {
        Object::Spsc(Arc::new(ring))
    }
}

impl RingOptions for shmring_mpmc_options {
    type Ring = Mpmc;
    type Handle = shmring_mpmc;

    fn request(&self) -> Result<OpenRequest, Failure> {
        let mut geometry = RingGeometry::default_for(RingKind::Mpmc);
        if let RingGeometry::Mpmc {
            slots,
            slot_size,
            priorities,
        } = &mut geometry
        {
            given(slots, self.slots);
            given(slot_size, self.slot_size);
            given(priorities, self.priorities);
        }
        Ok(OpenRequest {
            name: self.name,
            client: self.client,
            flags: self.flags,
            mode: self.mode,
            geometry,
        })
    }

    fn object(queue: Mpmc) -> Object {
        Object::Mpmc(Arc::new(queue))
    }
}

impl RingOptions for shmring_pubsub_options {
    type Ring = PubSub;
    type Handle = shmring_pubsub;

    fn request(&self) -> Result<OpenRequest, Failure> {
        let mut geometry = RingGeometry::default_for(RingKind::PubSub);
        if let RingGeometry::PubSub {
            slots,
            slot_size,
            subscribers,
            delivery,
        } = &mut geometry
        {
            given(slots, self.slots);
            given(slot_size, self.slot_size);
            given(subscribers, self.subscribers);
            *delivery = match self.delivery {
                SHMRING_LOSSLESS => Delivery::Lossless,
                SHMRING_LOSSY => Delivery::Lossy,
                _ => {
                    return fail(
                        SHMRING_E_INVALID,
                        "options->delivery must be SHMRING_LOSSLESS or SHMRING_LOSSY",
                    );
                }
            };
        }
        Ok(OpenRequest {
            name: self.name,
            client: self.client,
            flags: self.flags,
            mode: self.mode,
            geometry,
        })
    }

    fn object(ring: PubSub) -> Object {
        Object::PubSub(Arc::new(ring))
    }
}

/// Sets `field` to `value` unless that is 0 (C's "the default").
fn given<T: Default + PartialEq>(field: &mut T, value: T) {
    if value != T::default() {
        *field = value;
    }
}

fn lifetime(flags: u32) -> Lifetime {
    if flags & SHMRING_EPHEMERAL != 0 {
        Lifetime::Ephemeral
    } else {
        Lifetime::Persistent
    }
}

/// The one open path of every kind: makes or opens the ring `options`
/// describe, as a named segment or through the broker, and stores its
/// handle in `*out`.
///
/// # Safety
/// As for `shmring_spsc_open`.
unsafe fn open<O: RingOptions>(options: *const O, out: *mut *mut O::Handle) -> c_int {
    call(|| {
        non_null(options, "options is NULL")?;
        non_null(out, "out is NULL")?;
        // SAFETY: non-NULL and readable, as the caller promises.
        let o = unsafe { options.read() }.request()?;
        // SAFETY: as the caller promises.
        let name = unsafe { str_arg(o.name, "options->name is NULL")? };
        let wait = wait_strategy(o.flags)?;
        let (how, verb) = match o.flags & SHMRING_CREATE {
            0 => (OpenMode::Open, "open"),
            _ => (OpenMode::Create, "create"),
        };
        let mode = match o.mode {
            0 => DEFAULT_MODE,
            mode => mode,
        };
        let ring = if o.client.is_null() {
            if o.flags & SHMRING_EPHEMERAL != 0 {
                return fail(SHMRING_E_INVALID, "SHMRING_EPHEMERAL needs a broker client");
            }
            RingBuilder::<O::Ring>::new()
                .geometry(o.geometry)
                .mode(mode)
                .wait_strategy(wait)
                .open_named(name, how)
                .map_err(|e| open_failure(verb, name, e))?
        } else {
            let create = CreateOptions::new(o.geometry)
                .mode(mode)
                .lifetime(lifetime(o.flags));
            with_client(
                // SAFETY: promised by the caller (`# Safety`: `options->client`
                // is used by one thread at a time).
                unsafe { Exclusive::promised() },
                o.client,
                wait,
                |c| {
                    c.open_ring::<O::Ring>(name, how, &create)
                        .map_err(|e| broker_failure(&format!("{verb} {name:?}"), e))
                },
            )?
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put_handle(out, O::object(ring)) }
    })
}

/// Creates (flag `SHMRING_CREATE`) or opens an SPSC ring, directly in
/// `/dev/shm` (`options->client` NULL) or through the broker. On success
/// `*out` is the new handle; close it with `shmring_spsc_close`.
///
/// Errors: `SHMRING_E_INVALID` (NULL `options`, `name` or `out`, unknown
/// flags), `SHMRING_E_BAD_HANDLE` (`client`), `SHMRING_E_BAD_NAME`,
/// `SHMRING_E_BAD_CONFIG`, `SHMRING_E_EXISTS`, `SHMRING_E_NOT_FOUND`,
/// `SHMRING_E_PERMISSION`, `SHMRING_E_INCOMPATIBLE` (an MPMC segment),
/// `SHMRING_E_LIMIT`, broker and I/O errors.
///
/// # Safety
/// `options` is NULL or points to a readable `shmring_spsc_options` whose
/// `name` is NULL or a NUL-terminated string; `out` is NULL or points to
/// writable memory for one handle.
/// `options->client`, if not NULL, is used by no other thread until the
/// call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_spsc_open(
    options: *const shmring_spsc_options,
    out: *mut *mut shmring_spsc,
) -> c_int {
    // SAFETY: this function's contract.
    unsafe { open(options, out) }
}

/// Closes an SPSC ring handle. Producers and consumers opened from it stay
/// open. Errors: `SHMRING_E_BAD_HANDLE`.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_spsc_close(ring: *mut shmring_spsc) -> c_int {
    call(|| {
        drop(handle::remove(None, raw(ring), Kind::Spsc)?);
        Ok(())
    })
}

/// Reports the ring's geometry and fill level.
///
/// # Safety
/// `out` is NULL or points to a writable `shmring_spsc_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_spsc_stat(
    ring: *mut shmring_spsc,
    out: *mut shmring_spsc_stats,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let ring = spsc_ring(ring)?;
        let stats = shmring_spsc_stats {
            capacity: ring.capacity(),
            max_message: ring.max_message(),
            bytes_in_flight: ring.bytes_in_flight(),
            messages_in_flight: ring.messages_in_flight(),
            producer_attached: ring.is_producer_attached(),
            consumer_attached: ring.is_consumer_attached(),
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, stats) };
        Ok(())
    })
}

pub(crate) fn spsc_ring(ring: *mut shmring_spsc) -> Result<Arc<Spsc>, Failure> {
    handle::shared(raw(ring), Kind::Spsc, |o| match o {
        Object::Spsc(r) => Some(Arc::clone(r)),
        _ => None,
    })
}

pub(crate) fn mpmc_queue(queue: *mut shmring_mpmc) -> Result<Arc<Mpmc>, Failure> {
    handle::shared(raw(queue), Kind::Mpmc, |o| match o {
        Object::Mpmc(q) => Some(Arc::clone(q)),
        _ => None,
    })
}

/// Creates (flag `SHMRING_CREATE`) or opens an MPMC queue, directly or
/// through the broker. Errors as for `shmring_spsc_open`.
///
/// # Safety
/// As for `shmring_spsc_open`.
/// `options->client`, if not NULL, is used by no other thread until the
/// call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_mpmc_open(
    options: *const shmring_mpmc_options,
    out: *mut *mut shmring_mpmc,
) -> c_int {
    // SAFETY: this function's contract.
    unsafe { open(options, out) }
}

/// Closes an MPMC queue handle; senders and receivers stay open.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_mpmc_close(queue: *mut shmring_mpmc) -> c_int {
    call(|| {
        drop(handle::remove(None, raw(queue), Kind::Mpmc)?);
        Ok(())
    })
}

/// Reports the queue's geometry, fill level, live endpoints and crash
/// recovery counters.
///
/// # Safety
/// `out` is NULL or points to a writable `shmring_mpmc_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_mpmc_stat(
    queue: *mut shmring_mpmc,
    out: *mut shmring_mpmc_stats,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let q = mpmc_queue(queue)?;
        let recovered = q.recovered();
        let stats = shmring_mpmc_stats {
            slots: q.slots(),
            slot_size: q.slot_size(),
            messages_in_flight: q.messages_in_flight(),
            priorities: q.priorities(),
            live_senders: u32::try_from(q.live_senders()).unwrap_or(u32::MAX),
            live_receivers: u32::try_from(q.live_receivers()).unwrap_or(u32::MAX),
            dead_sender_slots: recovered.dead_sender_slots,
            dead_receiver_messages: recovered.dead_receiver_messages,
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, stats) };
        Ok(())
    })
}

pub(crate) fn pubsub_ring(ring: *mut shmring_pubsub) -> Result<Arc<PubSub>, Failure> {
    handle::shared(raw(ring), Kind::PubSub, |o| match o {
        Object::PubSub(r) => Some(Arc::clone(r)),
        _ => None,
    })
}

/// Creates (flag `SHMRING_CREATE`) or opens a publish/subscribe ring,
/// directly or through the broker. Errors as for `shmring_spsc_open`, and
/// `SHMRING_E_INVALID` for a `delivery` other than `SHMRING_LOSSLESS` and
/// `SHMRING_LOSSY`.
///
/// # Safety
/// As for `shmring_spsc_open`.
/// `options->client`, if not NULL, is used by no other thread until the
/// call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_pubsub_open(
    options: *const shmring_pubsub_options,
    out: *mut *mut shmring_pubsub,
) -> c_int {
    // SAFETY: this function's contract.
    unsafe { open(options, out) }
}

/// Closes a publish/subscribe ring handle; the publisher and subscribers
/// opened from it stay open.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_pubsub_close(ring: *mut shmring_pubsub) -> c_int {
    call(|| {
        drop(handle::remove(None, raw(ring), Kind::PubSub)?);
        Ok(())
    })
}

/// Reports the ring's geometry, how much was published, how far behind
/// the slowest subscriber is, and who is attached (the publisher's
/// liveness takes a lock probe: not for hot loops).
///
/// # Safety
/// `out` is NULL or points to a writable `shmring_pubsub_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmring_pubsub_stat(
    ring: *mut shmring_pubsub,
    out: *mut shmring_pubsub_stats,
) -> c_int {
    call(|| {
        non_null(out, "out is NULL")?;
        let r = pubsub_ring(ring)?;
        let stats = shmring_pubsub_stats {
            slots: r.slots(),
            slot_size: r.slot_size(),
            published: r.published(),
            messages_in_flight: r.messages_in_flight(),
            reaped_subscribers: r.reaped(),
            subscribers: r.geometry().subscribers(),
            live_subscribers: u32::try_from(r.subscriber_count()).unwrap_or(u32::MAX),
            delivery: match r.delivery() {
                Delivery::Lossless => SHMRING_LOSSLESS,
                Delivery::Lossy => SHMRING_LOSSY,
            },
            publisher_attached: r.is_publisher_attached(),
        };
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { put(out, stats) };
        Ok(())
    })
}
