use super::*;

fn create() -> Request {
    Request::Create(CreateRequest {
        name: "jobs".into(),
        geometry: RingGeometry::Mpmc {
            slots: 64,
            slot_size: 256,
            priorities: 2,
        },
        mode: 0o660,
        lifetime: Lifetime::Ephemeral,
        huge_pages: true,
    })
}

fn info() -> SegmentInfo {
    SegmentInfo {
        name: "q".into(),
        geometry: RingGeometry::Spsc {
            capacity: 4096,
            max_message: 1024,
        },
        lifetime: Lifetime::Persistent,
        mode: 0o600,
        uid: 1000,
        gid: 100,
        size: 768 + 4096,
        holders: 2,
        messages_in_flight: 3,
        bytes_in_flight: 48,
        dead_sender_slots: 2,
        dead_receiver_messages: 1,
        traffic: crate::TrafficCounts {
            sent: 1 << 40,
            bytes_sent: u64::MAX,
            full: 3,
            sender_parks: 4,
            sender_wakes: 5,
            received: 6,
            bytes_received: 7,
            empty: 8,
            receiver_parks: 9,
            receiver_wakes: 10,
            // Derived from the two counts above when decoded.
            recovered: 3,
        },
        endpoints: vec![
            EndpointInfo {
                role: Role::Producer,
                pid: 42,
            },
            EndpointInfo {
                role: Role::Consumer,
                pid: 43,
            },
        ],
    }
}

fn requests() -> Vec<Request> {
    vec![
        Request::Hello {
            min_version: 1,
            max_version: 1,
        },
        create(),
        Request::Open {
            name: "q".into(),
            role: Role::Consumer,
        },
        Request::Stat { name: "q".into() },
        Request::List { offset: 7 },
        Request::Unlink { name: "q".into() },
        Request::Subscribers {
            name: "ticks".into(),
        },
    ]
}

fn subscriber_list() -> SubscriberList {
    let state = |index, alive, cursor, missed| SubscriberState {
        index,
        pid: 4000 + index as u32,
        alive,
        cursor,
        lag: 10 - cursor,
        missed,
        received: cursor - missed,
    };
    SubscriberList {
        published: 10,
        subscribers: vec![state(0, true, 7, 2), state(1023, false, 10, 0)],
    }
}

#[test]
fn requests_round_trip() {
    let mut buf = Vec::new();
    for (id, request) in requests().into_iter().enumerate() {
        encode_request(&mut buf, id as u32, &request);
        let (header, payload) = split_frame(&buf, 0, MAX_FRAME_LEN).unwrap();
        assert_eq!(header.request_id.get(), id as u32);
        assert_eq!(header.msg_type.get(), request.msg_type() as u16);
        assert_eq!(
            decode_request(header.msg_type.get(), payload).unwrap(),
            request
        );
    }
}

#[test]
fn replies_round_trip() {
    let cases = [
        (
            MsgType::Hello,
            Reply::Hello {
                version: 1,
                max_frame: 65536,
            },
        ),
        (MsgType::Open, Reply::Segment(info())),
        (
            MsgType::List,
            Reply::List {
                total: 9,
                segments: vec![info(), info()],
            },
        ),
        (MsgType::Unlink, Reply::Unlinked),
        (MsgType::Subscribers, Reply::Subscribers(subscriber_list())),
        (
            MsgType::Subscribers,
            Reply::Subscribers(SubscriberList {
                published: 0,
                subscribers: Vec::new(),
            }),
        ),
        (
            MsgType::Create,
            Reply::Error {
                status: Status::LimitExceeded,
                message: "too many segments".into(),
            },
        ),
    ];
    let mut buf = Vec::new();
    for (to, reply) in cases {
        encode_reply(
            &mut buf,
            to,
            5,
            &reply,
            if to == MsgType::Open { SEGMENT_FDS } else { 0 },
        );
        let fds = if to == MsgType::Open { 3 } else { 0 };
        let (header, payload) = split_frame(&buf, fds, MAX_FRAME_LEN).unwrap();
        assert_eq!(header.msg_type.get(), to as u16 | REPLY_BIT);
        assert_eq!(decode_reply(header.msg_type.get(), payload).unwrap(), reply);
    }
}

#[test]
fn info_len_matches_the_encoding() {
    let mut buf = Vec::new();
    encode_reply(&mut buf, MsgType::Stat, 1, &Reply::Segment(info()), 0);
    assert_eq!(buf.len(), HEADER_LEN + 4 + info_len(&info()));
}

#[test]
fn header_checks() {
    let mut buf = Vec::new();
    encode_request(&mut buf, 1, &Request::List { offset: 0 });
    assert_eq!(
        split_frame(&buf[..HEADER_LEN - 1], 0, MAX_FRAME_LEN),
        Err(FrameError::Short)
    );
    assert_eq!(
        split_frame(&buf, 0, HEADER_LEN + 4),
        Err(FrameError::TooLong)
    );
    assert_eq!(
        split_frame(&buf, 1, MAX_FRAME_LEN),
        Err(FrameError::FdCount)
    );

    let mut bad = buf.clone();
    bad[0] = b'X';
    assert_eq!(
        split_frame(&bad, 0, MAX_FRAME_LEN),
        Err(FrameError::BadMagic)
    );

    let mut bad = buf.clone();
    bad[4] = 9;
    assert_eq!(
        split_frame(&bad, 0, MAX_FRAME_LEN),
        Err(FrameError::BadVersion(9))
    );

    let mut long = buf.clone();
    long.push(0);
    assert_eq!(
        split_frame(&long, 0, MAX_FRAME_LEN),
        Err(FrameError::LengthMismatch)
    );
}

#[test]
fn payload_checks() {
    let mut buf = Vec::new();
    encode_request(&mut buf, 1, &create());
    let payload = &buf[HEADER_LEN..];
    let t = MsgType::Create as u16;
    // Truncated anywhere: an error, never a panic or a big allocation.
    for cut in 0..payload.len() {
        assert!(decode_request(t, &payload[..cut]).is_err(), "cut at {cut}");
    }
    // A name length pointing past the end.
    let mut lying = payload.to_vec();
    lying[2] = 0xff;
    assert!(decode_request(t, &lying).is_err());
    // Trailing garbage, unknown kind, unknown create flags.
    let mut trailing = payload.to_vec();
    trailing.push(1);
    assert!(decode_request(t, &trailing).is_err());
    let mut kind = payload.to_vec();
    kind[0] = 9;
    assert!(decode_request(t, &kind).is_err());
    assert_eq!(payload[12], 1, "the huge-pages flag");
    for (byte, bit) in [(12, 2), (13, 1), (15, 0x80)] {
        let mut flags = payload.to_vec();
        flags[byte] |= bit;
        assert!(
            decode_request(t, &flags).is_err(),
            "flag {bit:#x} of byte {byte}"
        );
    }
    assert_eq!(
        decode_request(0x77, &[]),
        Err(FrameError::UnknownType(0x77))
    );
}

#[test]
fn reply_counts_are_checked_before_allocating() {
    let mut buf = Vec::new();
    let reply = Reply::List {
        total: 1,
        segments: vec![info()],
    };
    encode_reply(&mut buf, MsgType::List, 1, &reply, 0);
    let t = MsgType::List as u16 | REPLY_BIT;
    let mut payload = buf[HEADER_LEN..].to_vec();
    // count = u32::MAX
    payload[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_reply(t, &payload).is_err());
    // endpoint count = u32::MAX in the first entry
    let mut payload = buf[HEADER_LEN..].to_vec();
    let at = 12 + 24;
    payload[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_reply(t, &payload).is_err());
    // Truncated anywhere.
    let payload = &buf[HEADER_LEN..];
    for cut in 4..payload.len() {
        assert!(decode_reply(t, &payload[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn subscriber_lists_are_checked_before_allocating() {
    let mut buf = Vec::new();
    let reply = Reply::Subscribers(subscriber_list());
    encode_reply(&mut buf, MsgType::Subscribers, 1, &reply, 0);
    let t = MsgType::Subscribers as u16 | REPLY_BIT;
    let payload = buf[HEADER_LEN..].to_vec();
    // Status (4), published (8), count (4), reserved (4), 2 × 40.
    assert_eq!(payload.len(), 4 + 16 + 2 * 40);
    let mut huge = payload.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_reply(t, &huge).is_err());
    // The liveness byte of the first entry is 0 or 1, nothing else.
    let mut alive = payload.clone();
    alive[4 + 16 + 2] = 2;
    assert!(decode_reply(t, &alive).is_err());
    for cut in 4..payload.len() {
        assert!(decode_reply(t, &payload[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn names() {
    assert!(check_name("ok-name.1").is_ok());
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    assert!(check_name(&"x".repeat(251)).is_err());
}
