//! Properties of the broker's frame decoder, on stable (the fuzz target
//! `broker_frame` explores the same code with coverage guidance): any
//! bytes give a typed error or a value, and every request survives
//! encoding and decoding unchanged.

use proptest::prelude::*;
use shmring::RingGeometry;
use shmring::broker::protocol::{
    CreateRequest, HEADER_LEN, Lifetime, MAX_FRAME_LEN, Request, Role, decode_reply,
    decode_request, encode_request, split_frame,
};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,40}".prop_filter("not . or ..", |n| n != "." && n != "..")
}

fn request() -> impl Strategy<Value = Request> {
    let role = prop_oneof![
        Just(Role::None),
        Just(Role::Producer),
        Just(Role::Consumer),
        Just(Role::Sender),
        Just(Role::Receiver)
    ];
    let geometry = prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(capacity, max_message)| RingGeometry::Spsc {
            capacity,
            max_message
        }),
        (any::<u64>(), any::<u64>(), 0u32..9).prop_map(|(slots, slot_size, priorities)| {
            RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities,
            }
        }),
    ];
    let create = (
        name(),
        geometry,
        0u32..0o1000,
        prop_oneof![Just(Lifetime::Persistent), Just(Lifetime::Ephemeral)],
        any::<bool>(),
    )
        .prop_map(|(name, geometry, mode, lifetime, huge_pages)| {
            Request::Create(CreateRequest {
                name,
                geometry,
                mode,
                lifetime,
                huge_pages,
            })
        });
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(min_version, max_version)| Request::Hello {
            min_version,
            max_version
        }),
        create,
        (name(), role).prop_map(|(name, role)| Request::Open { name, role }),
        name().prop_map(|name| Request::Stat { name }),
        any::<u32>().prop_map(|offset| Request::List { offset }),
        name().prop_map(|name| Request::Unlink { name }),
    ]
}

proptest! {
    #[test]
    fn any_bytes_decode_to_an_error_or_a_value(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        fds in 0usize..3,
    ) {
        if let Ok((header, payload)) = split_frame(&bytes, fds, MAX_FRAME_LEN) {
            prop_assert_eq!(payload.len(), bytes.len() - HEADER_LEN);
            let _ = decode_request(header.msg_type.get(), payload);
            let _ = decode_reply(header.msg_type.get(), payload);
        }
    }

    #[test]
    fn a_valid_header_with_any_payload_never_panics(
        kind in 0u16..8,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Make the header right so that the payload decoders are reached.
        let mut frame = Vec::new();
        encode_request(&mut frame, 7, &Request::List { offset: 0 });
        frame.truncate(HEADER_LEN);
        frame[6..8].copy_from_slice(&kind.to_le_bytes());
        frame[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        let (header, body) = split_frame(&frame, 0, MAX_FRAME_LEN).unwrap();
        let _ = decode_request(header.msg_type.get(), body);
        let _ = decode_reply(header.msg_type.get() | 0x8000, body);
    }

    #[test]
    fn requests_survive_encoding(request in request(), id in any::<u32>()) {
        let mut frame = Vec::new();
        encode_request(&mut frame, id, &request);
        let (header, payload) = split_frame(&frame, 0, MAX_FRAME_LEN).unwrap();
        prop_assert_eq!(header.request_id.get(), id);
        prop_assert_eq!(decode_request(header.msg_type.get(), payload).unwrap(), request);
    }
}
