//! Any bytes as a frame arriving at the broker (or at a client): the
//! checks and decoders give a typed error or a value, never a panic; a
//! request that decodes encodes back to a frame that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring::broker::protocol::{
    MAX_FRAME_LEN, decode_reply, decode_request, encode_request, split_frame,
};

fuzz_target!(|data: &[u8]| {
    // The first byte is how many descriptors "came with" the frame.
    let Some((&fds, frame)) = data.split_first() else {
        return;
    };
    let Ok((header, payload)) = split_frame(frame, usize::from(fds % 3), MAX_FRAME_LEN) else {
        return;
    };
    let msg_type = header.msg_type.get();
    let _ = decode_reply(msg_type, payload);
    if let Ok(request) = decode_request(msg_type, payload) {
        let mut again = Vec::new();
        encode_request(&mut again, header.request_id.get(), &request);
        let (header2, payload2) = split_frame(&again, 0, MAX_FRAME_LEN).expect("own frame splits");
        assert_eq!(header2.msg_type.get(), msg_type);
        assert_eq!(
            decode_request(msg_type, payload2).expect("own frame decodes"),
            request
        );
    }
});
