//! Record headers of the SPSC byte ring.
//!
//! Every record starts at an 8-byte-aligned position with one 64-bit
//! header word; the payload follows and is padded to a multiple of 8.
//!
//! | bits   | meaning                                                  |
//! |--------|----------------------------------------------------------|
//! | 63     | PUBLISHED: always 1 in a written header                  |
//! | 62     | PADDING: the record only fills the ring up to its end    |
//! | 32..62 | zero                                                     |
//! | 0..32  | payload length (message) or total length (padding)       |
//!
//! A header word of 0 means "nothing here yet": the producer zeroes the
//! header slot after each record before it publishes that record, so the
//! consumer never mistakes bytes of an older lap for a header.

/// Size of a record header.
pub(crate) const RECORD_HEADER: u64 = 8;
/// Records start at multiples of this.
pub(crate) const RECORD_ALIGN: u64 = 8;

const PUBLISHED: u64 = 1 << 63;
const PADDING: u64 = 1 << 62;
const LEN_MASK: u64 = 0xffff_ffff;

/// Largest `max_message` whose records all fit their 32-bit length field:
/// a message header holds the payload length (at most `max_message`), and
/// a wrap-around padding record is shorter than the record that did not
/// fit, so at most `record_size(max_message) - 8 = round_up(max_message,
/// 8)` bytes. `2³² - 8` keeps both within `u32::MAX`; one byte more and a
/// padding of `2³²` bytes would lose its top bit.
pub(crate) const MAX_RECORD_PAYLOAD: u64 = LEN_MASK & !(RECORD_ALIGN - 1);

/// A decoded, validated record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// A message of `len` payload bytes.
    Message { len: u64 },
    /// Filler up to the end of the ring; `total` includes this header.
    Padding { total: u64 },
}

/// Bytes a message of `len` occupies, header and padding included.
#[inline(always)]
pub(crate) const fn record_size(len: u64) -> u64 {
    RECORD_HEADER + ((len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1))
}

#[inline(always)]
pub(crate) const fn encode_message(len: u64) -> u64 {
    PUBLISHED | len
}

#[inline(always)]
pub(crate) const fn encode_padding(total: u64) -> u64 {
    PUBLISHED | PADDING | total
}

/// Decodes a non-zero header word; `None` for a word no producer writes.
#[inline(always)]
pub(crate) fn decode(word: u64) -> Option<Record> {
    if word & PUBLISHED == 0 || word & !(PUBLISHED | PADDING | LEN_MASK) != 0 {
        return None;
    }
    let len = word & LEN_MASK;
    Some(if word & PADDING != 0 {
        Record::Padding { total: len }
    } else {
        Record::Message { len }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_stray_bits() {
        assert_eq!(decode(encode_message(0)), Some(Record::Message { len: 0 }));
        assert_eq!(
            decode(encode_message(77)),
            Some(Record::Message { len: 77 })
        );
        assert_eq!(
            decode(encode_padding(64)),
            Some(Record::Padding { total: 64 })
        );
        assert_eq!(decode(77), None);
        assert_eq!(decode(encode_message(1) | 1 << 40), None);
        assert_eq!(record_size(0), 8);
        assert_eq!(record_size(1), 16);
        assert_eq!(record_size(8), 16);
        assert_eq!(record_size(9), 24);
    }

    /// Issue 13: with `max_message = u32::MAX` a padding record could be
    /// `2³²` bytes, which its 32-bit length field cannot hold.
    #[test]
    fn the_largest_padding_fits_its_length_field() {
        let largest_padding = record_size(MAX_RECORD_PAYLOAD) - RECORD_HEADER;
        assert_eq!(
            decode(encode_padding(largest_padding)),
            Some(Record::Padding {
                total: largest_padding
            })
        );
        assert_eq!(
            decode(encode_message(MAX_RECORD_PAYLOAD)),
            Some(Record::Message {
                len: MAX_RECORD_PAYLOAD
            })
        );
        let too_big = MAX_RECORD_PAYLOAD + 1;
        assert_eq!(
            decode(encode_padding(record_size(too_big) - RECORD_HEADER)),
            None
        );
    }
}
