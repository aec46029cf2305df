//! A plain shared mapping of a POSIX shared-memory object, used by the
//! rows that are not shmring: the physical limit (two atomics) and the
//! eventfd + shared-memory transport (slots copied in and out).
//!
//! This is one of the two files of the crate with unsafe code: a mapping
//! that another process writes cannot be a Rust reference, so every access
//! goes through a raw pointer with a bound check in front of it.
#![allow(unsafe_code)]

use crate::Result;
use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::shm;
use std::fs::File;
use std::sync::atomic::AtomicU64;

/// A named shared mapping of a fixed length.
#[derive(Debug)]
pub struct SharedFile {
    map: MmapRaw,
}

impl SharedFile {
    /// Creates `/dev/shm/<name>` (exclusive, mode 0600) of `len` bytes.
    pub fn create(name: &str, len: usize) -> Result<SharedFile> {
        let fd = shm::open(
            name,
            shm::OFlags::RDWR | shm::OFlags::CREATE | shm::OFlags::EXCL,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| format!("shm_open {name}: {e}"))?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(|e| format!("ftruncate {name}: {e}"))?;
        let map = MmapOptions::new().len(len).map_raw(&File::from(fd))?;
        Ok(SharedFile { map })
    }

    /// Maps the existing `/dev/shm/<name>` whole.
    pub fn open(name: &str) -> Result<SharedFile> {
        let fd = shm::open(name, shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| format!("shm_open {name}: {e}"))?;
        let len = rustix::fs::fstat(&fd)?.st_size as usize;
        let map = MmapOptions::new().len(len).map_raw(&File::from(fd))?;
        Ok(SharedFile { map })
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The 8-byte-aligned word at `offset` as an atomic.
    pub fn atomic(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= self.len(),
            "word out of the mapping"
        );
        // SAFETY: in bounds and aligned (checked above; mmap returns a
        // page-aligned base); the mapping lives as long as `self`, and the
        // other process touches the word only through atomics too.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast()) }
    }

    /// Copies `bytes` into the mapping at `offset`.
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(
            offset
                .checked_add(bytes.len())
                .is_some_and(|end| end <= self.len())
        );
        // SAFETY: the destination range is inside the mapping (checked
        // above) and cannot overlap `bytes`, which is process-private.
        // Who may write a slot when is decided by the eventfd handshake,
        // whose system calls order the copies between the processes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            )
        }
    }

    /// Hands `f` the `len` bytes at `offset`, read where they lie.
    ///
    /// Only for a range the other process does not write until this one
    /// answers (the sized limit: the sender writes a payload again only
    /// after the receiver has replied to it).
    pub fn with_bytes<T>(&self, offset: usize, len: usize, f: impl FnOnce(&[u8]) -> T) -> T {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len()));
        // SAFETY: the range is inside the mapping (checked above), which
        // lives as long as `self`; the slice does not outlive `f`. The
        // protocol of the caller (one message in flight each way) keeps
        // the other process from writing the range while `f` runs.
        let bytes = unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) };
        f(bytes)
    }

    /// Copies `out.len()` bytes out of the mapping from `offset`.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(
            offset
                .checked_add(out.len())
                .is_some_and(|end| end <= self.len())
        );
        // SAFETY: as in `write`, with the roles of the two ranges swapped.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        }
    }
}
