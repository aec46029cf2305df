//! The messages every loop exchanges: self-describing, checksummed, of a
//! length that follows from (stream, sequence) so that a receiver can
//! also check messages too short to carry a header.
//!
//! | bytes   | field                                               |
//! |---------|-----------------------------------------------------|
//! | 0..4    | stream (a producer incarnation), little endian      |
//! | 4..8    | total length                                        |
//! | 8..16   | sequence number, from 0 in each stream              |
//! | 16..24  | checksum of bytes 0..16 and of the body             |
//! | 24..    | body: a pseudo-random function of (stream, sequence) |
//!
//! Messages shorter than [`HEADER_LEN`] are the first bytes of a
//! pseudo-random word of (stream, sequence): only a receiver that knows
//! which message comes next can check them.

/// Bytes of the header; the shortest self-describing message.
pub const HEADER_LEN: usize = 24;

/// The finaliser of SplitMix64: a cheap, well-mixing bijection.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// SplitMix64: small, seedable, good enough to pick delays and sizes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator that replays exactly from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from the clock and the pid, for runs not asked to replay.
    pub fn fresh_seed() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        mix(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability 1/2.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

/// Which lengths a stream's messages have: `min..=max` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Shortest message.
    pub min: usize,
    /// Longest message.
    pub max: usize,
}

impl Sizes {
    /// Length of message `seq` of `stream`: fixed by the pair, so the
    /// receiver can check it.
    pub fn len_of(&self, stream: u32, seq: u64) -> usize {
        let span = (self.max - self.min) as u64 + 1;
        self.min + (mix(key(stream, seq) ^ 0x5eed) % span) as usize
    }

    /// Whether every message carries a header (self-describing).
    pub fn self_describing(&self) -> bool {
        self.min >= HEADER_LEN
    }
}

fn key(stream: u32, seq: u64) -> u64 {
    mix(seq ^ (u64::from(stream) << 40) ^ u64::from(stream).rotate_left(17))
}

/// Writes message `seq` of `stream` into `buf` (replacing it).
pub fn fill(buf: &mut Vec<u8>, stream: u32, seq: u64, len: usize) {
    buf.clear();
    buf.resize(len, 0);
    let k = key(stream, seq);
    if len < HEADER_LEN {
        let mut word = [0u8; HEADER_LEN];
        for (i, chunk) in word.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(k ^ i as u64).to_le_bytes());
        }
        buf.copy_from_slice(&word[..len]);
        return;
    }
    buf[0..4].copy_from_slice(&stream.to_le_bytes());
    buf[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    buf[8..16].copy_from_slice(&seq.to_le_bytes());
    let mut state = k;
    for chunk in buf[HEADER_LEN..].chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let word = mix(state).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let sum = checksum(buf);
    buf[16..24].copy_from_slice(&sum.to_le_bytes());
}

/// Checksum of everything but the checksum field.
fn checksum(msg: &[u8]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64;
    let mut absorb = |bytes: &[u8]| {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = mix(h ^ u64::from_le_bytes(word)).wrapping_add(chunk.len() as u64);
        }
    };
    absorb(&msg[..16]);
    absorb(&msg[HEADER_LEN..]);
    h
}

/// What was wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Shorter than a header and no expectation to check it against.
    Short(usize),
    /// The length field disagrees with the real length.
    Length {
        /// Length in the header.
        said: u32,
        /// Length received.
        got: usize,
    },
    /// The checksum does not match: a torn or corrupted message.
    Checksum {
        /// Stream in the (untrustworthy) header.
        stream: u32,
        /// Sequence in the (untrustworthy) header.
        seq: u64,
    },
    /// Not the message expected at this point.
    Unexpected {
        /// What was expected.
        expected: (u32, u64),
    },
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Short(n) => write!(f, "{n}-byte message cannot be identified"),
            Bad::Length { said, got } => write!(f, "header says {said} bytes, got {got}"),
            Bad::Checksum { stream, seq } => {
                write!(f, "bad checksum (header claims stream {stream} seq {seq})")
            }
            Bad::Unexpected { expected } => write!(
                f,
                "not the expected message (stream {} seq {})",
                expected.0, expected.1
            ),
        }
    }
}

/// Identifies and checks a self-describing message.
pub fn parse(msg: &[u8]) -> Result<(u32, u64), Bad> {
    if msg.len() < HEADER_LEN {
        return Err(Bad::Short(msg.len()));
    }
    let word = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b[..r.len()].copy_from_slice(&msg[r]);
        u64::from_le_bytes(b)
    };
    let stream = word(0..4) as u32;
    let said = word(4..8) as u32;
    let seq = word(8..16);
    if said as usize != msg.len() {
        return Err(Bad::Length {
            said,
            got: msg.len(),
        });
    }
    if word(16..24) != checksum(msg) {
        return Err(Bad::Checksum { stream, seq });
    }
    Ok((stream, seq))
}

/// Checks `msg` against the message expected next, whatever its length.
pub fn check_expected(
    msg: &[u8],
    stream: u32,
    seq: u64,
    sizes: Sizes,
    scratch: &mut Vec<u8>,
) -> Result<(), Bad> {
    let unexpected = Bad::Unexpected {
        expected: (stream, seq),
    };
    if msg.len() >= HEADER_LEN {
        let got = parse(msg)?;
        if got != (stream, seq) || msg.len() != sizes.len_of(stream, seq) {
            return Err(unexpected);
        }
        return Ok(());
    }
    fill(scratch, stream, seq, sizes.len_of(stream, seq));
    if scratch.as_slice() != msg {
        return Err(unexpected);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tear_detection() {
        let sizes = Sizes { min: 1, max: 300 };
        let mut buf = Vec::new();
        let mut scratch = Vec::new();
        for seq in 0..500 {
            let len = sizes.len_of(7, seq);
            fill(&mut buf, 7, seq, len);
            assert_eq!(buf.len(), len);
            check_expected(&buf, 7, seq, sizes, &mut scratch).unwrap();
            if len >= HEADER_LEN {
                assert_eq!(parse(&buf), Ok((7, seq)));
                let mut torn = buf.clone();
                let last = torn.len() - 1;
                torn[last] ^= 1;
                assert!(parse(&torn).is_err() || len == HEADER_LEN);
                torn[20] ^= 0x40;
                assert!(parse(&torn).is_err());
            }
            assert!(check_expected(&buf, 7, seq + 1, sizes, &mut scratch).is_err());
        }
    }
}
