//! The broker's wire format, shared by the daemon (`shmringd`) and the
//! client ([`BrokerClient`](super::BrokerClient)). `docs/protocol.md`
//! gives the same thing byte by byte.
//!
//! Every frame is one `SOCK_SEQPACKET` record: a 24-byte [`FrameHeader`]
//! and `payload_len` bytes of payload. Numbers are little-endian.
//!
//! | offset | size | field         | value                                   |
//! |-------:|-----:|---------------|-----------------------------------------|
//! |      0 |    4 | magic         | `b"SHRB"`                               |
//! |      4 |    2 | version       | [`PROTOCOL_VERSION`]                    |
//! |      6 |    2 | type          | [`MsgType`]                             |
//! |      8 |    4 | request id    | chosen by the client, echoed in the reply |
//! |     12 |    4 | payload length| bytes after the header                  |
//! |     16 |    2 | fd count      | descriptors attached (`SCM_RIGHTS`)     |
//! |     18 |    6 | reserved      | zero                                    |
//!
//! Decoding never trusts a length: the header is checked against the
//! number of bytes actually received, and every variable-length field
//! against what is left of the payload, before anything is allocated.

use crate::geometry::RingGeometry;
use crate::layout::RingKind;
use crate::pubsub::SubscriberState;
use std::fmt;
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// First four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"SHRB";
/// The only protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 3;

/// Descriptors that come with a segment (create and open replies): the
/// sealed memfd, then its `data` and `room` doorbells (`O_PATH` FIFOs).
pub const SEGMENT_FDS: u16 = 3;
/// Size of [`FrameHeader`].
pub const HEADER_LEN: usize = 24;
/// Hard ceiling of a frame (header and payload); the daemon may be
/// configured lower, never higher.
pub const MAX_FRAME_LEN: usize = 64 * 1024;
/// Longest segment name in bytes.
pub const MAX_NAME_LEN: usize = 250;
/// Most descriptors a frame may carry; replies to create/open carry one.
pub const MAX_FDS: usize = 1;

/// The fixed header of every frame.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct FrameHeader {
    /// [`MAGIC`].
    pub magic: [u8; 4],
    /// Protocol version the frame is written in.
    pub version: U16,
    /// A [`MsgType`] value.
    pub msg_type: U16,
    /// Echoed from request to reply.
    pub request_id: U32,
    /// Bytes of payload after the header.
    pub payload_len: U32,
    /// Descriptors attached to this frame.
    pub fd_count: U16,
    /// Zero.
    pub reserved: [u8; 6],
}

const _: () = assert!(std::mem::size_of::<FrameHeader>() == HEADER_LEN);

/// Frame types. A reply has the request's type with bit 15 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MsgType {
    /// Version negotiation; must be the first request.
    Hello = 1,
    /// Create a named segment.
    Create = 2,
    /// Open a named segment, optionally announcing a role.
    Open = 3,
    /// Describe one segment.
    Stat = 4,
    /// Describe segments, a page at a time.
    List = 5,
    /// Remove a name.
    Unlink = 6,
    /// Describe the subscribers of a publish/subscribe ring.
    Subscribers = 7,
}

/// Bit set in the type of every reply.
pub const REPLY_BIT: u16 = 0x8000;

impl MsgType {
    /// The request type named by `raw` (reply bit clear).
    pub fn from_raw(raw: u16) -> Option<MsgType> {
        Some(match raw {
            1 => MsgType::Hello,
            2 => MsgType::Create,
            3 => MsgType::Open,
            4 => MsgType::Stat,
            5 => MsgType::List,
            6 => MsgType::Unlink,
            7 => MsgType::Subscribers,
            _ => return None,
        })
    }
}

/// Outcome carried in the first two bytes of every reply payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    /// Done; the body follows.
    Ok = 0,
    /// The request was malformed (the daemon then disconnects).
    BadRequest = 1,
    /// No protocol version in common.
    ProtocolVersion = 2,
    /// The segment's owner and mode do not allow this.
    PermissionDenied = 3,
    /// No segment has this name.
    NotFound = 4,
    /// The name is taken.
    AlreadyExists = 5,
    /// A configured limit would be exceeded.
    LimitExceeded = 6,
    /// A parameter is out of range (geometry, name, mode).
    InvalidArgument = 7,
    /// The broker's tmpfs is full.
    NoSpace = 8,
    /// The segment holds another kind of ring.
    WrongKind = 9,
    /// Anything else went wrong in the broker.
    Internal = 10,
}

impl Status {
    /// The status named by `raw`; unknown values read as `Internal`.
    pub fn from_raw(raw: u16) -> Status {
        match raw {
            0 => Status::Ok,
            1 => Status::BadRequest,
            2 => Status::ProtocolVersion,
            3 => Status::PermissionDenied,
            4 => Status::NotFound,
            5 => Status::AlreadyExists,
            6 => Status::LimitExceeded,
            7 => Status::InvalidArgument,
            8 => Status::NoSpace,
            9 => Status::WrongKind,
            _ => Status::Internal,
        }
    }
}

/// What an opener intends to attach, so the broker can account for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Only looking (stat-like access, no endpoint).
    None = 0,
    /// SPSC producer.
    Producer = 1,
    /// SPSC consumer.
    Consumer = 2,
    /// MPMC sender.
    Sender = 3,
    /// MPMC receiver.
    Receiver = 4,
    /// Publish/subscribe publisher.
    Publisher = 5,
    /// Publish/subscribe subscriber.
    Subscriber = 6,
}

impl Role {
    /// The role named by `raw`.
    pub fn from_raw(raw: u8) -> Option<Role> {
        Some(match raw {
            0 => Role::None,
            1 => Role::Producer,
            2 => Role::Consumer,
            3 => Role::Sender,
            4 => Role::Receiver,
            5 => Role::Publisher,
            6 => Role::Subscriber,
            _ => return None,
        })
    }

    /// Whether the role writes to the segment (needs write permission).
    /// Every role reads and updates shared positions, so any role other
    /// than `None` needs both read and write access.
    pub fn attaches(self) -> bool {
        self != Role::None
    }

    /// The role of the sending endpoint of `kind`.
    pub fn sender_of(kind: RingKind) -> Role {
        match kind {
            RingKind::Spsc => Role::Producer,
            RingKind::Mpmc => Role::Sender,
            RingKind::PubSub => Role::Publisher,
        }
    }

    /// The role of the receiving endpoint of `kind`.
    pub fn receiver_of(kind: RingKind) -> Role {
        match kind {
            RingKind::Spsc => Role::Consumer,
            RingKind::Mpmc => Role::Receiver,
            RingKind::PubSub => Role::Subscriber,
        }
    }

    /// The ring kind this role belongs to (`None` for [`Role::None`]).
    pub fn kind(self) -> Option<RingKind> {
        match self {
            Role::None => None,
            Role::Producer | Role::Consumer => Some(RingKind::Spsc),
            Role::Sender | Role::Receiver => Some(RingKind::Mpmc),
            Role::Publisher | Role::Subscriber => Some(RingKind::PubSub),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::None => "none",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Sender => "sender",
            Role::Receiver => "receiver",
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        })
    }
}

/// How long the broker keeps a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Lifetime {
    /// Until unlinked.
    Persistent = 0,
    /// Until unlinked, or until no connection that created or opened it
    /// is left. Mappings in processes outlive it either way.
    Ephemeral = 1,
}

impl Lifetime {
    fn from_raw(raw: u8) -> Option<Lifetime> {
        match raw {
            0 => Some(Lifetime::Persistent),
            1 => Some(Lifetime::Ephemeral),
            _ => None,
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lifetime::Persistent => "persistent",
            Lifetime::Ephemeral => "ephemeral",
        })
    }
}

/// Parameters of a new segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// Segment name (1 to 250 bytes, no `/` or NUL).
    pub name: String,
    /// Kind and shape (on the wire: kind, capacity or slots, largest
    /// message, levels, as `docs/protocol.md` lays out).
    pub geometry: RingGeometry,
    /// Permission bits (`0o777` at most).
    pub mode: u32,
    /// When the broker forgets it.
    pub lifetime: Lifetime,
    /// Lay the segment out on huge pages (a memfd made with
    /// `MFD_HUGETLB`, its size rounded up to whole huge pages).
    pub huge_pages: bool,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Versions the client speaks, inclusive.
    Hello {
        /// Oldest.
        min_version: u16,
        /// Newest.
        max_version: u16,
    },
    /// Create a segment; the reply carries its descriptor.
    Create(CreateRequest),
    /// Open a segment; the reply carries its descriptor.
    Open {
        /// Segment name.
        name: String,
        /// What the opener will attach.
        role: Role,
    },
    /// Describe one segment.
    Stat {
        /// Segment name.
        name: String,
    },
    /// Describe segments from the `offset`-th on (in name order).
    List {
        /// Segments to skip.
        offset: u32,
    },
    /// Remove a name.
    Unlink {
        /// Segment name.
        name: String,
    },
    /// Describe every subscriber of a publish/subscribe ring.
    Subscribers {
        /// Segment name.
        name: String,
    },
}

impl Request {
    /// The frame type of this request.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Request::Hello { .. } => MsgType::Hello,
            Request::Create(_) => MsgType::Create,
            Request::Open { .. } => MsgType::Open,
            Request::Stat { .. } => MsgType::Stat,
            Request::List { .. } => MsgType::List,
            Request::Unlink { .. } => MsgType::Unlink,
            Request::Subscribers { .. } => MsgType::Subscribers,
        }
    }
}

/// An endpoint attached to a segment, as read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Producer, consumer, sender, receiver, publisher or subscriber.
    pub role: Role,
    /// The holder's pid.
    pub pid: u32,
}

/// What the broker reports about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment name.
    pub name: String,
    /// Kind and shape, as validated from the segment's header.
    pub geometry: RingGeometry,
    /// Lifetime.
    pub lifetime: Lifetime,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Owning group.
    pub gid: u32,
    /// Segment size in bytes (the memfd's size).
    pub size: u64,
    /// Broker connections that created or opened it and are still open.
    pub holders: u32,
    /// Messages published and not yet consumed (publish/subscribe: not
    /// yet read by the slowest live subscriber).
    pub messages_in_flight: u64,
    /// SPSC: bytes in flight; MPMC and publish/subscribe:
    /// `messages × slot stride`.
    pub bytes_in_flight: u64,
    /// MPMC: slots claimed by senders that died before publishing, passed
    /// over (crash recovery); SPSC: 0.
    pub dead_sender_slots: u64,
    /// MPMC: messages held by receivers that died, dropped; SPSC: 0.
    pub dead_receiver_messages: u64,
    /// Traffic counters, as the segment held them when the request was
    /// served.
    pub traffic: crate::TrafficCounts,
    /// Endpoints held by live processes.
    pub endpoints: Vec<EndpointInfo>,
}

/// What the broker reports about the subscribers of a publish/subscribe
/// ring: one snapshot, taken when the request was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberList {
    /// Messages published so far (the sequence number of the next).
    pub published: u64,
    /// Every held entry of the subscriber table, in table order: its
    /// index, holder pid, whether the holder is alive, position (cursor),
    /// lag, missed and received counts.
    pub subscribers: Vec<SubscriberState>,
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A failure, with a one-line explanation.
    Error {
        /// Never [`Status::Ok`].
        status: Status,
        /// Human-readable detail.
        message: String,
    },
    /// Hello accepted.
    Hello {
        /// Version chosen for this connection.
        version: u16,
        /// Largest frame the broker accepts.
        max_frame: u32,
    },
    /// Create, open or stat: one segment (create/open carry its fd).
    Segment(SegmentInfo),
    /// One page of the segment list.
    List {
        /// Segments in total.
        total: u32,
        /// The page, in name order.
        segments: Vec<SegmentInfo>,
    },
    /// Unlink done.
    Unlinked,
    /// The subscribers of a publish/subscribe ring.
    Subscribers(SubscriberList),
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than a header.
    Short,
    /// More bytes than the frame limit (or the receive buffer).
    TooLong,
    /// The magic is wrong: not our protocol.
    BadMagic,
    /// A protocol version this build does not speak.
    BadVersion(u16),
    /// The header's payload length disagrees with the bytes received.
    LengthMismatch,
    /// The header's fd count disagrees with the descriptors received.
    FdCount,
    /// An unknown frame type.
    UnknownType(u16),
    /// The payload is malformed; the text says where.
    Malformed(&'static str),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Short => f.write_str("frame shorter than its header"),
            FrameError::TooLong => f.write_str("frame longer than the limit"),
            FrameError::BadMagic => f.write_str("bad magic: not a shmring broker frame"),
            FrameError::BadVersion(v) => write!(f, "unsupported protocol version {v}"),
            FrameError::LengthMismatch => f.write_str("payload length disagrees with the frame"),
            FrameError::FdCount => f.write_str("fd count disagrees with the descriptors received"),
            FrameError::UnknownType(t) => write!(f, "unknown frame type {t:#06x}"),
            FrameError::Malformed(why) => write!(f, "malformed payload: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Checks a received frame's header against what arrived: `frame` is
/// every byte received, `fds` the number of descriptors that came with
/// it. Returns the header and the payload slice.
pub fn split_frame(
    frame: &[u8],
    fds: usize,
    max_frame: usize,
) -> Result<(FrameHeader, &[u8]), FrameError> {
    if frame.len() > max_frame {
        return Err(FrameError::TooLong);
    }
    let (header, payload) = FrameHeader::read_from_prefix(frame).map_err(|_| FrameError::Short)?;
    if header.magic != MAGIC {
        return Err(FrameError::BadMagic);
    }
    if header.version.get() != PROTOCOL_VERSION {
        return Err(FrameError::BadVersion(header.version.get()));
    }
    if header.payload_len.get() as usize != payload.len() {
        return Err(FrameError::LengthMismatch);
    }
    if header.fd_count.get() as usize != fds {
        return Err(FrameError::FdCount);
    }
    Ok((header, payload))
}

/// Appends a header and payload written by `body` to `out` (cleared
/// first); fixes the payload length afterwards.
fn frame(
    out: &mut Vec<u8>,
    msg_type: u16,
    request_id: u32,
    fd_count: u16,
    body: impl FnOnce(&mut Vec<u8>),
) {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    body(out);
    let header = FrameHeader {
        magic: MAGIC,
        version: PROTOCOL_VERSION.into(),
        msg_type: msg_type.into(),
        request_id: request_id.into(),
        payload_len: ((out.len() - HEADER_LEN) as u32).into(),
        fd_count: fd_count.into(),
        reserved: [0; 6],
    };
    out[..HEADER_LEN].copy_from_slice(header.as_bytes());
}

mod wire;
use wire::put_info;
pub use wire::{decode_reply, decode_request};

/// Encodes `request` as a frame into `out`. Requests never carry fds.
pub fn encode_request(out: &mut Vec<u8>, request_id: u32, request: &Request) {
    frame(out, request.msg_type() as u16, request_id, 0, |p| {
        wire::put_request(p, request)
    });
}

/// Encodes `reply` to a request of type `to` into `out`; `fds` says how
/// many descriptors go with it ([`SEGMENT_FDS`] with a segment, else 0).
pub fn encode_reply(out: &mut Vec<u8>, to: MsgType, request_id: u32, reply: &Reply, fds: u16) {
    let msg_type = to as u16 | REPLY_BIT;
    frame(out, msg_type, request_id, fds, |p| match reply {
        Reply::Error { status, message } => {
            p.extend_from_slice(&(*status as u16).to_le_bytes());
            p.extend_from_slice(&[0; 2]);
            // A message never pushes a frame past the limit.
            let mut end = message.len().min(1024);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            p.extend_from_slice(&message.as_bytes()[..end]);
        }
        Reply::Hello { version, max_frame } => {
            p.extend_from_slice(&[0; 4]);
            p.extend_from_slice(&version.to_le_bytes());
            p.extend_from_slice(&[0; 2]);
            p.extend_from_slice(&max_frame.to_le_bytes());
        }
        Reply::Segment(info) => {
            p.extend_from_slice(&[0; 4]);
            put_info(p, info);
        }
        Reply::List { total, segments } => {
            p.extend_from_slice(&[0; 4]);
            p.extend_from_slice(&total.to_le_bytes());
            p.extend_from_slice(&(segments.len() as u32).to_le_bytes());
            for info in segments {
                put_info(p, info);
            }
        }
        Reply::Unlinked => p.extend_from_slice(&[0; 4]),
        Reply::Subscribers(list) => {
            p.extend_from_slice(&[0; 4]);
            wire::put_subscribers(p, list);
        }
    });
}

/// Bytes [`encode_reply`] writes for one segment's info: the list
/// builder uses it to fill a page without overflowing the frame.
pub fn info_len(info: &SegmentInfo) -> usize {
    std::mem::size_of::<wire::InfoFixed>() + info.name.len() + 8 * info.endpoints.len()
}

/// Payload bytes of a list reply before its first entry.
pub const LIST_REPLY_OVERHEAD: usize = HEADER_LEN + 12;

/// Encodes a one-line error reply (helper for the daemon's many error
/// paths).
pub fn encode_error(out: &mut Vec<u8>, to: MsgType, request_id: u32, status: Status, why: &str) {
    let reply = Reply::Error {
        status,
        message: why.to_owned(),
    };
    encode_reply(out, to, request_id, &reply, 0);
}

/// Checks a segment name as the broker and the client both do.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err("segment names are 1 to 250 bytes");
    }
    if name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == 0) {
        return Err("segment names contain no '/' or NUL and are not '.' or '..'");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
