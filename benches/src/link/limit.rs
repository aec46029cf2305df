//! The physical limit: one word each way on its own cache line, stored by
//! one process and spun on by the other. No record format, no index, no
//! check: what remains is the cost of moving a cache line between cores.

use super::shared_memory::SharedFile;
use crate::Result;
use crate::traffic::{Rx, Tx};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Offsets of the two words: 128 bytes apart, so that the adjacent-line
/// prefetcher does not couple them.
pub const PING: usize = 0;
/// See [`PING`].
pub const PONG: usize = 128;
/// Length of the mapping.
pub const LEN: usize = 256;

/// Stores the first word of each message.
#[derive(Debug)]
pub struct WordTx {
    file: Arc<SharedFile>,
    offset: usize,
}

/// Spins until the word changes, then hands its new value on.
#[derive(Debug)]
pub struct WordRx {
    file: Arc<SharedFile>,
    offset: usize,
    last: u64,
}

/// Sender storing at `offset`, receiver watching the other word.
pub fn pair(file: SharedFile, tx_offset: usize, rx_offset: usize) -> (WordTx, WordRx) {
    let file = Arc::new(file);
    (
        WordTx {
            file: file.clone(),
            offset: tx_offset,
        },
        WordRx {
            file,
            offset: rx_offset,
            last: 0,
        },
    )
}

impl Tx for WordTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let word = crate::traffic::first_word(msg)?;
        // Release: pairs with the Acquire load in `WordRx::recv`.
        self.file.atomic(self.offset).store(word, Ordering::Release);
        Ok(())
    }
}

impl Rx for WordRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let word = self.file.atomic(self.offset);
        loop {
            // Acquire: pairs with the Release store in `WordTx::send`.
            let value = word.load(Ordering::Acquire);
            if value != self.last {
                self.last = value;
                return Ok(f(&value.to_ne_bytes()));
            }
            std::hint::spin_loop();
        }
    }
}

/// Bytes of one direction of the sized limit: the sequence word, then
/// the payload, rounded up to whole 128-byte pairs of lines plus one
/// spare pair, so that the two directions never share (or prefetch) a
/// line.
pub fn sized_region(size: usize) -> usize {
    (8 + size).next_multiple_of(128) + 128
}

/// Length of the mapping of the sized limit at `size` bytes.
pub fn sized_len(size: usize) -> usize {
    2 * sized_region(size)
}

/// Sends `size` bytes and a sequence word: the payload is copied in
/// first, then the sequence is stored with Release.
#[derive(Debug)]
pub struct SizedTx {
    file: Arc<SharedFile>,
    base: usize,
    seq: u64,
}

/// Spins on the sequence word with Acquire, then reads the payload where
/// it lies (the sender does not write it again before this side replies).
#[derive(Debug)]
pub struct SizedRx {
    file: Arc<SharedFile>,
    base: usize,
    size: usize,
    last: u64,
}

/// The sized limit's halves: sending into direction `tx` (0 or 1),
/// receiving from the other.
pub fn sized_pair(file: SharedFile, size: usize, tx: usize) -> (SizedTx, SizedRx) {
    let file = Arc::new(file);
    let region = sized_region(size);
    (
        SizedTx {
            file: file.clone(),
            base: tx * region,
            seq: 0,
        },
        SizedRx {
            file,
            base: (1 - tx) * region,
            size,
            last: 0,
        },
    )
}

impl Tx for SizedTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.file.write(self.base + 8, msg);
        self.seq += 1;
        // Release: pairs with the Acquire load in `SizedRx::recv`; the
        // payload written above is visible before the new sequence.
        self.file
            .atomic(self.base)
            .store(self.seq, Ordering::Release);
        Ok(())
    }
}

impl Rx for SizedRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let seq = self.file.atomic(self.base);
        loop {
            // Acquire: pairs with the Release store in `SizedTx::send`;
            // the payload is read after it.
            let value = seq.load(Ordering::Acquire);
            if value != self.last {
                self.last = value;
                return Ok(self.file.with_bytes(self.base + 8, self.size, f));
            }
            std::hint::spin_loop();
        }
    }
}
