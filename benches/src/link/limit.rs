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
