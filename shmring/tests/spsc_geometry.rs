//! Issue 13: an SPSC `max_message` close to 4 GiB would let a wrap-around
//! padding record overflow its 32-bit length field. Refused at creation,
//! before anything is allocated. (The capacity, 1 TiB, is more than this
//! machine's `/dev/shm`: a check that let it through failed at once with
//! `NoSpace` rather than allocating. A header claiming such a geometry is
//! refused by the same check: `layout/spsc.rs` unit tests.)
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(clippy::disallowed_types)]

mod common;

use common::Name;
use shmring::{OpenError, SpscBuilder};

#[test]
fn a_max_message_whose_padding_overflows_32_bits_is_refused() {
    for max_message in [u64::from(u32::MAX), (1 << 32) - 7] {
        let name = Name::new("huge-max-message");
        let outcome = SpscBuilder::new()
            .capacity(1 << 40)
            .max_message(max_message)
            .create(&name);
        assert!(
            matches!(outcome, Err(OpenError::InvalidConfig(_))),
            "max_message {max_message}: {outcome:?}"
        );
    }
}
