//! The data area of a ring: 64-bit words that hold record headers, with
//! payload bytes in between.
//!
//! Headers are always accessed as atomics. Payload bytes are copied with
//! `memcpy` in normal builds (ordered by the header's Release/Acquire);
//! under loom, whose atomics are not plain memory, payloads are moved
//! word by word with relaxed atomics so that the model still sees stale
//! bytes when an ordering is too weak.
#![allow(unsafe_code)]

use crate::sync::{AtomicU64, Ordering};
use std::ptr::NonNull;

/// A view of `len_words` 8-byte words. Offsets are in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataArea {
    words: NonNull<AtomicU64>,
    len_bytes: u64,
}

// SAFETY: the area is only ever accessed through atomics or through the
// ring protocol's ownership hand-off (Release/Acquire on headers and
// positions), which is what makes a cross-thread move sound.
unsafe impl Send for DataArea {}

impl DataArea {
    /// # Safety
    /// - `words` points to `len_bytes / 8` initialised `AtomicU64`s that
    ///   stay valid (mapped or allocated) for as long as this view or any
    ///   copy of it is used.
    /// - `len_bytes` is a multiple of 8.
    pub(crate) unsafe fn new(words: NonNull<AtomicU64>, len_bytes: u64) -> DataArea {
        debug_assert_eq!(len_bytes % 8, 0);
        assert!(len_bytes >= 8, "a data area holds at least one word");
        DataArea { words, len_bytes }
    }

    /// Length in bytes.
    #[inline(always)]
    pub(crate) fn len(&self) -> u64 {
        self.len_bytes
    }

    /// The word at byte position `pos` modulo the area's length, for an
    /// area whose length is a power of two (an SPSC ring, whose positions
    /// run on past it). `index & (words - 1) < words` holds for any
    /// `pos`, so no check is needed, even for a position a peer corrupted.
    #[inline(always)]
    pub(crate) fn word_at(&self, pos: u64) -> &AtomicU64 {
        let index = (pos / 8) & (self.len_bytes / 8 - 1);
        // SAFETY: `index <= len_bytes / 8 - 1`, and `new` made sure there
        // is a word; alive per `new`'s contract.
        unsafe { self.words.add(index as usize).as_ref() }
    }

    /// The header word at byte offset `off` (8-aligned, inside the area).
    #[inline(always)]
    pub(crate) fn word(&self, off: u64) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off < self.len_bytes,
            "ring offset out of bounds"
        );
        // SAFETY: in bounds and aligned (asserted; every caller masks the
        // offset first, so the assert folds away), and `new`'s contract
        // keeps the memory alive while `self` is.
        unsafe { self.words.add((off / 8) as usize).as_ref() }
    }

    #[inline(always)]
    fn check_range(&self, off: u64, len: u64) {
        assert!(
            off <= self.len_bytes && len <= self.len_bytes - off,
            "ring range out of bounds"
        );
    }

    /// A byte pointer to `off`, with `len` bytes in bounds.
    #[cfg_attr(shmring_loom, allow(dead_code))]
    #[inline(always)]
    fn bytes_ptr(&self, off: u64, len: u64) -> *mut u8 {
        self.check_range(off, len);
        // SAFETY: checked in bounds just above; `AtomicU64` has interior
        // mutability, so writing through a pointer derived from it is
        // allowed.
        unsafe { self.words.as_ptr().cast::<u8>().add(off as usize) }
    }

    /// Copies `src` to byte offset `off`.
    #[inline(always)]
    pub(crate) fn write(&self, off: u64, src: &[u8]) {
        #[cfg(not(shmring_loom))]
        {
            let dst = self.bytes_ptr(off, src.len() as u64);
            // SAFETY: `dst` has `src.len()` bytes in bounds; the ring
            // protocol gives the producer sole ownership of a claimed
            // record, and `src` (process-local) cannot overlap it unless
            // the caller passes a slice of the ring itself, which only a
            // `WriteGrant` could and that borrows the producer mutably.
            unsafe { copy_bytes(src.as_ptr(), dst, src.len()) }
        }
        #[cfg(shmring_loom)]
        {
            self.check_range(off, src.len() as u64);
            for (i, chunk) in src.chunks(8).enumerate() {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                self.word(off + 8 * i as u64)
                    .store(u64::from_ne_bytes(word), Ordering::Relaxed);
            }
        }
    }

    /// Copies `dst.len()` bytes from byte offset `off`.
    #[inline(always)]
    pub(crate) fn read(&self, off: u64, dst: &mut [u8]) {
        #[cfg(not(shmring_loom))]
        {
            let src = self.bytes_ptr(off, dst.len() as u64);
            // SAFETY: in bounds (checked); a hostile peer writing at the
            // same time can only change the bytes we copy, not their count.
            unsafe { copy_bytes(src, dst.as_mut_ptr(), dst.len()) }
        }
        #[cfg(shmring_loom)]
        {
            self.check_range(off, dst.len() as u64);
            for (i, chunk) in dst.chunks_mut(8).enumerate() {
                let word = self.word(off + 8 * i as u64).load(Ordering::Relaxed);
                chunk.copy_from_slice(&word.to_ne_bytes()[..chunk.len()]);
            }
        }
    }
}

impl DataArea {
    /// The word at byte offset `off`, unchecked: for a caller whose
    /// offsets are in bounds by construction (a slot index masked and
    /// multiplied by a stride the area was sized for).
    ///
    /// # Safety
    /// `off` is a multiple of 8 and below [`len`](Self::len).
    #[inline(always)]
    pub(crate) unsafe fn word_unchecked(&self, off: u64) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off < self.len_bytes);
        // SAFETY: in bounds and aligned per the caller's contract; alive
        // per `new`'s.
        unsafe { self.words.add((off / 8) as usize).as_ref() }
    }

    /// Appends `len` bytes from byte offset `off` (8-aligned) to `dst`,
    /// read with relaxed atomic loads, one word at a time: for bytes
    /// another process may be overwriting while they are read (a lossy
    /// publish/subscribe ring), which the reader validates afterwards.
    /// Never a data race; slower than [`read`](Self::read) for large
    /// payloads, which `memcpy` moves in wider blocks.
    pub(crate) fn read_racing(&self, off: u64, len: usize, dst: &mut Vec<u8>) {
        self.check_range(off, len as u64);
        assert!(off % 8 == 0, "ring offset not word-aligned");
        dst.reserve(len);
        let whole = len / 8;
        let base = dst.len();
        // SAFETY: `reserve` made room for `len` more bytes after `base`;
        // every source word is in the area (range checked above, `off`
        // aligned), read through atomics.
        unsafe {
            let out = dst.as_mut_ptr().add(base);
            let src = self.words.as_ptr().add((off / 8) as usize);
            for i in 0..whole {
                // Relaxed: the caller validates what it read afterwards.
                let word = (*src.add(i)).load(Ordering::Relaxed);
                out.add(8 * i).cast::<u64>().write_unaligned(word);
            }
            let tail = len % 8;
            if tail != 0 {
                // Relaxed: as above. The last word holds the tail bytes
                // (the range check covers them; the word is whole because
                // the area is made of words).
                let word = (*src.add(whole)).load(Ordering::Relaxed).to_ne_bytes();
                std::ptr::copy_nonoverlapping(word.as_ptr(), out.add(8 * whole), tail);
            }
            dst.set_len(base + len);
        }
    }
}

/// `memcpy`, with small copies inlined: a call into libc costs more than
/// moving a few words, and on the latency path of a small message every
/// cycle between seeing a record and answering it counts. Up to 64 bytes
/// are moved as two blocks of the largest power of two that fits, one
/// from each end, overlapping in the middle: two loads and two stores per
/// block size, whatever the length, instead of a loop.
///
/// # Safety
/// As for [`std::ptr::copy_nonoverlapping`].
#[cfg(not(shmring_loom))]
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    /// Copies `N` bytes at `0` and `N` bytes ending at `len`.
    ///
    /// # Safety
    /// `N <= len <= 2 * N`, and both ranges are valid for `len` bytes.
    #[inline(always)]
    unsafe fn ends<const N: usize>(src: *const u8, dst: *mut u8, len: usize) {
        // SAFETY: `N <= len`: both blocks lie inside the `len` bytes.
        unsafe {
            let head = src.cast::<[u8; N]>().read_unaligned();
            let tail = src.add(len - N).cast::<[u8; N]>().read_unaligned();
            dst.cast::<[u8; N]>().write_unaligned(head);
            dst.add(len - N).cast::<[u8; N]>().write_unaligned(tail);
        }
    }
    // SAFETY: each arm's bounds give `ends`'s condition; the ranges are
    // valid per the caller's contract.
    unsafe {
        match len {
            32..=64 => ends::<32>(src, dst, len),
            16..=31 => ends::<16>(src, dst, len),
            8..=15 => ends::<8>(src, dst, len),
            4..=7 => ends::<4>(src, dst, len),
            2..=3 => ends::<2>(src, dst, len),
            1 => *dst = *src,
            0 => {}
            _ => std::ptr::copy_nonoverlapping(src, dst, len),
        }
    }
}

/// A range of the data area that one side owns, read in place. Under loom
/// (whose atomics are not plain memory) it is a copy taken when the view
/// is made; the public handles hold one without knowing which.
#[derive(Debug)]
pub(crate) struct ReadView {
    #[cfg(not(shmring_loom))]
    ptr: NonNull<u8>,
    #[cfg(shmring_loom)]
    copy: Vec<u8>,
    len: usize,
}

// SAFETY: the view is a borrow of shared memory that the protocol handed
// to this side; it may move with the handle that owns it.
unsafe impl Send for ReadView {}
// SAFETY: `&ReadView` only reads.
unsafe impl Sync for ReadView {}

impl ReadView {
    /// # Safety
    /// This side owns `len` bytes at `off` (the protocol handed them over
    /// and nobody else writes them) until the view is dropped, and the
    /// memory behind `area` outlives the view.
    #[inline(always)]
    pub(crate) unsafe fn new(area: &DataArea, off: u64, len: u64) -> ReadView {
        #[cfg(not(shmring_loom))]
        {
            let ptr = NonNull::new(area.bytes_ptr(off, len)).expect("mapped memory");
            ReadView {
                ptr,
                len: len as usize,
            }
        }
        #[cfg(shmring_loom)]
        {
            let mut copy = vec![0; len as usize];
            area.read(off, &mut copy);
            ReadView {
                copy,
                len: len as usize,
            }
        }
    }

    /// The bytes.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        #[cfg(not(shmring_loom))]
        // SAFETY: in bounds and owned per `new`'s contract; a hostile peer
        // writing anyway can only change what the slice shows.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)
        }
        #[cfg(shmring_loom)]
        &self.copy[..self.len]
    }
}

/// A range of the data area that one side owns, written in place. Under
/// loom it is a staging buffer that [`finish`](Self::finish) copies in.
#[derive(Debug)]
pub(crate) struct WriteView {
    #[cfg(not(shmring_loom))]
    ptr: NonNull<u8>,
    #[cfg(shmring_loom)]
    staging: Vec<u8>,
    #[cfg(shmring_loom)]
    area: DataArea,
    #[cfg(shmring_loom)]
    off: u64,
    len: usize,
}

// SAFETY: as for `ReadView`.
unsafe impl Send for WriteView {}
// SAFETY: `&WriteView` only reads.
unsafe impl Sync for WriteView {}

impl WriteView {
    /// # Safety
    /// This side owns `len` bytes at `off` exclusively (claimed, not yet
    /// published) until [`finish`](Self::finish) or drop, and the memory
    /// behind `area` outlives the view.
    #[inline(always)]
    pub(crate) unsafe fn new(area: &DataArea, off: u64, len: u64) -> WriteView {
        #[cfg(not(shmring_loom))]
        {
            let ptr = NonNull::new(area.bytes_ptr(off, len)).expect("mapped memory");
            WriteView {
                ptr,
                len: len as usize,
            }
        }
        #[cfg(shmring_loom)]
        {
            area.check_range(off, len);
            WriteView {
                staging: vec![0; len as usize],
                area: *area,
                off,
                len: len as usize,
            }
        }
    }

    /// The bytes, to read back what was written.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        #[cfg(not(shmring_loom))]
        // SAFETY: in bounds and exclusively ours per `new`'s contract.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)
        }
        #[cfg(shmring_loom)]
        &self.staging
    }

    /// The bytes, to write.
    #[inline(always)]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        #[cfg(not(shmring_loom))]
        // SAFETY: as in `bytes`; `&mut self` makes the borrow exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len)
        }
        #[cfg(shmring_loom)]
        &mut self.staging
    }

    /// Ends the writing of the first `len` bytes, before publication.
    #[inline(always)]
    pub(crate) fn finish(&self, len: usize) {
        #[cfg(shmring_loom)]
        self.area.write(self.off, &self.staging[..len]);
        #[cfg(not(shmring_loom))]
        let _ = len;
    }
}

#[cfg(all(test, not(shmring_loom)))]
mod tests {
    use super::copy_bytes;

    /// Every length up to past the inline limit, at every offset of a
    /// word: exactly the bytes asked for arrive, and nothing around them
    /// is touched.
    #[test]
    fn small_copies_move_exactly_their_bytes() {
        let src: Vec<u8> = (0..200u32).map(|i| (i * 7 + 1) as u8).collect();
        for len in 0..=130 {
            for skew in 0..8 {
                let mut dst = vec![0u8; 160];
                // SAFETY: both ranges are in bounds (`skew + len <= 138`)
                // and the two vectors do not overlap.
                unsafe { copy_bytes(src.as_ptr().add(skew), dst.as_mut_ptr().add(skew), len) };
                assert_eq!(&dst[skew..skew + len], &src[skew..skew + len], "len {len}");
                assert!(dst[..skew].iter().all(|&b| b == 0), "before, len {len}");
                assert!(
                    dst[skew + len..].iter().all(|&b| b == 0),
                    "after, len {len}"
                );
            }
        }
    }
}
