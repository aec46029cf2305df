//! What the scratch probes in `src/bin` (`stream-combos`, `pubsub-probe`)
//! share: their numeric arguments and the receivers' read of a message.

/// The program's arguments, each a number.
pub fn numeric_args() -> crate::Result<Vec<u64>> {
    Ok(std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?)
}

/// Reads every byte of `msg` (as the bench's receivers do) and returns
/// its first word, the sender's sequence number.
pub fn read_word(msg: &[u8]) -> u64 {
    let sum = msg.chunks_exact(8).fold(0u64, |acc, w| {
        acc.wrapping_add(u64::from_ne_bytes(w.try_into().unwrap_or_default()))
    });
    std::hint::black_box(sum);
    u64::from_ne_bytes(msg[..8].try_into().unwrap_or_default())
}
