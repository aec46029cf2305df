//! Payload encodings: the fixed part of each payload is a zerocopy
//! structure, followed by the variable part (a name, a list) whose length
//! the fixed part states and the decoder checks against what is left.

use super::{
    CreateRequest, EndpointInfo, FrameError, Lifetime, MAX_NAME_LEN, MsgType, REPLY_BIT, Reply,
    Request, Role, SegmentInfo, Status, SubscriberList,
};
use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::pubsub::SubscriberState;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct HelloFixed {
    min_version: U16,
    max_version: U16,
    reserved: [u8; 4],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct CreateFixed {
    kind: u8,
    lifetime: u8,
    name_len: U16,
    mode: U32,
    levels: U32,
    /// [`CREATE_HUGE_PAGES`]; once reserved (zero), so a daemon from
    /// before it refuses a request that sets it.
    flags: U32,
    capacity: U64,
    max_message: U64,
}

/// Create flag: lay the segment out on huge pages (`MFD_HUGETLB`).
pub(super) const CREATE_HUGE_PAGES: u32 = 1;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct OpenFixed {
    role: u8,
    reserved0: u8,
    name_len: U16,
    reserved: [u8; 4],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct NameFixed {
    name_len: U16,
    reserved: [u8; 6],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ListFixed {
    offset: U32,
    reserved: [u8; 4],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ReplyHead {
    status: U16,
    reserved: [u8; 2],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct HelloReplyFixed {
    version: U16,
    reserved: [u8; 2],
    max_frame: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct ListReplyFixed {
    total: U32,
    count: U32,
}

/// The fixed part of a segment description (168 bytes), followed by the
/// name and `endpoint_count` × 8 bytes of [`EndpointWire`].
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct InfoFixed {
    kind: u8,
    lifetime: u8,
    name_len: U16,
    mode: U32,
    uid: U32,
    gid: U32,
    levels: U32,
    holders: U32,
    endpoint_count: U32,
    reserved: [u8; 4],
    size: U64,
    capacity: U64,
    max_message: U64,
    messages_in_flight: U64,
    bytes_in_flight: U64,
    dead_sender_slots: U64,
    dead_receiver_messages: U64,
    sent: U64,
    bytes_sent: U64,
    full: U64,
    sender_parks: U64,
    sender_wakes: U64,
    received: U64,
    bytes_received: U64,
    empty: U64,
    receiver_parks: U64,
    receiver_wakes: U64,
}

const _: () = assert!(std::mem::size_of::<InfoFixed>() == 168);

/// The fixed part of a subscribers reply (16 bytes), followed by
/// `count` × 40 bytes of [`SubscriberWire`].
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SubscribersFixed {
    published: U64,
    count: U32,
    reserved: [u8; 4],
}

/// One subscriber entry as `stat` shows it.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct SubscriberWire {
    index: U16,
    /// 1 if its holder holds its lock, 0 if it is dead and not yet reaped.
    alive: u8,
    reserved: u8,
    pid: U32,
    cursor: U64,
    lag: U64,
    missed: U64,
    received: U64,
}

const _: () = assert!(std::mem::size_of::<SubscriberWire>() == 40);

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct EndpointWire {
    role: u8,
    reserved: [u8; 3],
    pid: U32,
}

/// Walks a payload; every read checks the length first.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn fixed<T: FromBytes + KnownLayout + Immutable + Unaligned>(
        &mut self,
        what: &'static str,
    ) -> Result<T, FrameError> {
        let (value, rest) = T::read_from_prefix(self.0).map_err(|_| FrameError::Malformed(what))?;
        self.0 = rest;
        Ok(value)
    }

    fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        if len > self.0.len() {
            return Err(FrameError::Malformed(what));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn name(&mut self, len: u16) -> Result<String, FrameError> {
        let len = usize::from(len);
        if len > MAX_NAME_LEN {
            return Err(FrameError::Malformed("name longer than 250 bytes"));
        }
        let raw = self.bytes(len, "name runs past the payload")?;
        let name =
            std::str::from_utf8(raw).map_err(|_| FrameError::Malformed("name is not UTF-8"))?;
        Ok(name.to_owned())
    }

    fn finish(self) -> Result<(), FrameError> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(FrameError::Malformed("trailing bytes")),
        }
    }
}

fn zero(reserved: &[u8]) -> Result<(), FrameError> {
    match reserved.iter().all(|&b| b == 0) {
        true => Ok(()),
        false => Err(FrameError::Malformed("reserved bytes are not zero")),
    }
}

fn kind_from(raw: u8) -> Result<RingKind, FrameError> {
    RingKind::from_raw(u32::from(raw)).ok_or(FrameError::Malformed("unknown ring kind"))
}

pub(super) fn put_name(p: &mut Vec<u8>, name: &str) {
    p.extend_from_slice(name.as_bytes());
}

fn name_len(name: &str) -> U16 {
    // Longer names are refused on decode; truncating the length here
    // would only make the frame inconsistent, so saturate instead.
    u16::try_from(name.len()).unwrap_or(u16::MAX).into()
}

pub(super) fn put_request(p: &mut Vec<u8>, request: &Request) {
    match request {
        Request::Hello {
            min_version,
            max_version,
        } => p.extend_from_slice(
            HelloFixed {
                min_version: (*min_version).into(),
                max_version: (*max_version).into(),
                reserved: [0; 4],
            }
            .as_bytes(),
        ),
        Request::Create(c) => {
            let (capacity, max_message, levels) = c.geometry.to_wire();
            let fixed = CreateFixed {
                kind: c.geometry.kind() as u8,
                lifetime: c.lifetime as u8,
                name_len: name_len(&c.name),
                mode: c.mode.into(),
                levels: levels.into(),
                flags: match c.huge_pages {
                    true => CREATE_HUGE_PAGES,
                    false => 0,
                }
                .into(),
                capacity: capacity.into(),
                max_message: max_message.into(),
            };
            p.extend_from_slice(fixed.as_bytes());
            put_name(p, &c.name);
        }
        Request::Open { name, role } => {
            let fixed = OpenFixed {
                role: *role as u8,
                reserved0: 0,
                name_len: name_len(name),
                reserved: [0; 4],
            };
            p.extend_from_slice(fixed.as_bytes());
            put_name(p, name);
        }
        Request::Stat { name } | Request::Unlink { name } | Request::Subscribers { name } => {
            let fixed = NameFixed {
                name_len: name_len(name),
                reserved: [0; 6],
            };
            p.extend_from_slice(fixed.as_bytes());
            put_name(p, name);
        }
        Request::List { offset } => p.extend_from_slice(
            ListFixed {
                offset: (*offset).into(),
                reserved: [0; 4],
            }
            .as_bytes(),
        ),
    }
}

/// Decodes a request payload of frame type `msg_type`.
pub fn decode_request(msg_type: u16, payload: &[u8]) -> Result<Request, FrameError> {
    let t = MsgType::from_raw(msg_type).ok_or(FrameError::UnknownType(msg_type))?;
    let mut r = Reader(payload);
    let request = match t {
        MsgType::Hello => {
            let f: HelloFixed = r.fixed("short hello")?;
            zero(&f.reserved)?;
            Request::Hello {
                min_version: f.min_version.get(),
                max_version: f.max_version.get(),
            }
        }
        MsgType::Create => {
            let f: CreateFixed = r.fixed("short create")?;
            if f.flags.get() & !CREATE_HUGE_PAGES != 0 {
                return Err(FrameError::Malformed("unknown create flags"));
            }
            Request::Create(CreateRequest {
                huge_pages: f.flags.get() & CREATE_HUGE_PAGES != 0,
                geometry: RingGeometry::from_wire(
                    kind_from(f.kind)?,
                    f.capacity.get(),
                    f.max_message.get(),
                    f.levels.get(),
                ),
                lifetime: Lifetime::from_raw(f.lifetime)
                    .ok_or(FrameError::Malformed("unknown lifetime"))?,
                mode: f.mode.get(),
                name: r.name(f.name_len.get())?,
            })
        }
        MsgType::Open => {
            let f: OpenFixed = r.fixed("short open")?;
            zero(&[f.reserved0])?;
            zero(&f.reserved)?;
            Request::Open {
                role: Role::from_raw(f.role).ok_or(FrameError::Malformed("unknown role"))?,
                name: r.name(f.name_len.get())?,
            }
        }
        MsgType::Stat | MsgType::Unlink | MsgType::Subscribers => {
            let f: NameFixed = r.fixed("short name request")?;
            zero(&f.reserved)?;
            let name = r.name(f.name_len.get())?;
            match t {
                MsgType::Stat => Request::Stat { name },
                MsgType::Unlink => Request::Unlink { name },
                _ => Request::Subscribers { name },
            }
        }
        MsgType::List => {
            let f: ListFixed = r.fixed("short list")?;
            zero(&f.reserved)?;
            Request::List {
                offset: f.offset.get(),
            }
        }
    };
    r.finish()?;
    Ok(request)
}

pub(in crate::broker) fn put_info(p: &mut Vec<u8>, info: &SegmentInfo) {
    let (capacity, max_message, levels) = info.geometry.to_wire();
    let fixed = InfoFixed {
        kind: info.geometry.kind() as u8,
        lifetime: info.lifetime as u8,
        name_len: name_len(&info.name),
        mode: info.mode.into(),
        uid: info.uid.into(),
        gid: info.gid.into(),
        levels: levels.into(),
        holders: info.holders.into(),
        endpoint_count: (info.endpoints.len() as u32).into(),
        reserved: [0; 4],
        size: info.size.into(),
        capacity: capacity.into(),
        max_message: max_message.into(),
        messages_in_flight: info.messages_in_flight.into(),
        bytes_in_flight: info.bytes_in_flight.into(),
        dead_sender_slots: info.dead_sender_slots.into(),
        dead_receiver_messages: info.dead_receiver_messages.into(),
        sent: info.traffic.sent.into(),
        bytes_sent: info.traffic.bytes_sent.into(),
        full: info.traffic.full.into(),
        sender_parks: info.traffic.sender_parks.into(),
        sender_wakes: info.traffic.sender_wakes.into(),
        received: info.traffic.received.into(),
        bytes_received: info.traffic.bytes_received.into(),
        empty: info.traffic.empty.into(),
        receiver_parks: info.traffic.receiver_parks.into(),
        receiver_wakes: info.traffic.receiver_wakes.into(),
    };
    p.extend_from_slice(fixed.as_bytes());
    put_name(p, &info.name);
    for e in &info.endpoints {
        let wire = EndpointWire {
            role: e.role as u8,
            reserved: [0; 3],
            pid: e.pid.into(),
        };
        p.extend_from_slice(wire.as_bytes());
    }
}

pub(in crate::broker) fn put_subscribers(p: &mut Vec<u8>, list: &SubscriberList) {
    let fixed = SubscribersFixed {
        published: list.published.into(),
        count: (list.subscribers.len() as u32).into(),
        reserved: [0; 4],
    };
    p.extend_from_slice(fixed.as_bytes());
    for s in &list.subscribers {
        let wire = SubscriberWire {
            // A table has at most 1024 entries; saturating keeps a frame
            // consistent even if that ever changed.
            index: u16::try_from(s.index).unwrap_or(u16::MAX).into(),
            alive: u8::from(s.alive),
            reserved: 0,
            pid: s.pid.into(),
            cursor: s.cursor.into(),
            lag: s.lag.into(),
            missed: s.missed.into(),
            received: s.received.into(),
        };
        p.extend_from_slice(wire.as_bytes());
    }
}

fn subscribers(r: &mut Reader<'_>) -> Result<SubscriberList, FrameError> {
    let f: SubscribersFixed = r.fixed("short subscribers reply")?;
    zero(&f.reserved)?;
    let size = std::mem::size_of::<SubscriberWire>();
    // Checked against the bytes left before the vector is sized.
    let raw = r.bytes(
        (f.count.get() as usize)
            .checked_mul(size)
            .ok_or(FrameError::Malformed("subscriber count"))?,
        "subscriber list runs past the payload",
    )?;
    let subscribers = raw
        .chunks_exact(size)
        .map(|chunk| {
            let s = SubscriberWire::read_from_bytes(chunk).expect("40-byte chunk");
            zero(&[s.reserved])?;
            let alive = match s.alive {
                0 => false,
                1 => true,
                _ => return Err(FrameError::Malformed("subscriber liveness is not 0 or 1")),
            };
            Ok(SubscriberState {
                index: usize::from(s.index.get()),
                pid: s.pid.get(),
                alive,
                cursor: s.cursor.get(),
                lag: s.lag.get(),
                missed: s.missed.get(),
                received: s.received.get(),
            })
        })
        .collect::<Result<Vec<_>, FrameError>>()?;
    Ok(SubscriberList {
        published: f.published.get(),
        subscribers,
    })
}

fn info(r: &mut Reader<'_>) -> Result<SegmentInfo, FrameError> {
    let f: InfoFixed = r.fixed("short segment info")?;
    let name = r.name(f.name_len.get())?;
    let count = f.endpoint_count.get() as usize;
    // Checked against the bytes left before the vector is sized.
    let raw = r.bytes(
        count
            .checked_mul(8)
            .ok_or(FrameError::Malformed("endpoint count"))?,
        "endpoint list runs past the payload",
    )?;
    let endpoints = raw
        .chunks_exact(8)
        .map(|chunk| {
            let e = EndpointWire::read_from_bytes(chunk).expect("8-byte chunk");
            Ok(EndpointInfo {
                role: Role::from_raw(e.role).ok_or(FrameError::Malformed("unknown role"))?,
                pid: e.pid.get(),
            })
        })
        .collect::<Result<Vec<_>, FrameError>>()?;
    Ok(SegmentInfo {
        name,
        geometry: RingGeometry::from_wire(
            kind_from(f.kind)?,
            f.capacity.get(),
            f.max_message.get(),
            f.levels.get(),
        ),
        lifetime: Lifetime::from_raw(f.lifetime)
            .ok_or(FrameError::Malformed("unknown lifetime"))?,
        mode: f.mode.get(),
        uid: f.uid.get(),
        gid: f.gid.get(),
        size: f.size.get(),
        holders: f.holders.get(),
        messages_in_flight: f.messages_in_flight.get(),
        bytes_in_flight: f.bytes_in_flight.get(),
        dead_sender_slots: f.dead_sender_slots.get(),
        dead_receiver_messages: f.dead_receiver_messages.get(),
        traffic: crate::TrafficCounts {
            sent: f.sent.get(),
            bytes_sent: f.bytes_sent.get(),
            full: f.full.get(),
            sender_parks: f.sender_parks.get(),
            sender_wakes: f.sender_wakes.get(),
            received: f.received.get(),
            bytes_received: f.bytes_received.get(),
            empty: f.empty.get(),
            receiver_parks: f.receiver_parks.get(),
            receiver_wakes: f.receiver_wakes.get(),
            recovered: f
                .dead_sender_slots
                .get()
                .saturating_add(f.dead_receiver_messages.get()),
        },
        endpoints,
    })
}

/// Decodes a reply payload of frame type `msg_type` (reply bit set).
pub fn decode_reply(msg_type: u16, payload: &[u8]) -> Result<Reply, FrameError> {
    if msg_type & REPLY_BIT == 0 {
        return Err(FrameError::UnknownType(msg_type));
    }
    let t = MsgType::from_raw(msg_type & !REPLY_BIT).ok_or(FrameError::UnknownType(msg_type))?;
    let mut r = Reader(payload);
    let head: ReplyHead = r.fixed("short reply")?;
    let status = Status::from_raw(head.status.get());
    if status != Status::Ok {
        let message = String::from_utf8_lossy(r.0).into_owned();
        return Ok(Reply::Error { status, message });
    }
    let reply = match t {
        MsgType::Hello => {
            let f: HelloReplyFixed = r.fixed("short hello reply")?;
            Reply::Hello {
                version: f.version.get(),
                max_frame: f.max_frame.get(),
            }
        }
        MsgType::Create | MsgType::Open | MsgType::Stat => Reply::Segment(info(&mut r)?),
        MsgType::List => {
            let f: ListReplyFixed = r.fixed("short list reply")?;
            let count = f.count.get() as usize;
            let room = r.0.len() / std::mem::size_of::<InfoFixed>();
            if count > room {
                return Err(FrameError::Malformed("list count runs past the payload"));
            }
            let mut segments = Vec::with_capacity(count);
            for _ in 0..count {
                segments.push(info(&mut r)?);
            }
            Reply::List {
                total: f.total.get(),
                segments,
            }
        }
        MsgType::Unlink => Reply::Unlinked,
        MsgType::Subscribers => Reply::Subscribers(subscribers(&mut r)?),
    };
    r.finish()?;
    Ok(reply)
}
