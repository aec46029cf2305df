//! POSIX shared-memory objects (`shm_open(3)`) and their mappings.
#![allow(unsafe_code)]

use memmap2::{MmapOptions, MmapRaw};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FallocateFlags, Mode, SealFlags};
use rustix::io::Errno;
use rustix::shm;

/// `shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode)` (shm_open(3)).
pub(crate) fn create_exclusive(name: &str, mode: u32) -> Result<OwnedFd, Errno> {
    let fd = shm::open(
        name,
        shm::OFlags::RDWR | shm::OFlags::CREATE | shm::OFlags::EXCL,
        Mode::from_raw_mode(mode),
    )?;
    // shm_open applies the umask; the caller asked for exactly `mode`.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(fd)
}

/// `shm_open(name, O_RDWR, 0)` (shm_open(3)).
pub(crate) fn open_existing(name: &str) -> Result<OwnedFd, Errno> {
    shm::open(name, shm::OFlags::RDWR, Mode::empty())
}

/// `shm_unlink(name)` (shm_unlink(3)).
pub(crate) fn unlink(name: &str) -> Result<(), Errno> {
    shm::unlink(name)
}

/// Sets the size with `ftruncate(2)` and reserves the pages with
/// `fallocate(2)`, so that a full tmpfs fails here with `ENOSPC` instead of
/// raising `SIGBUS` on a later write.
pub(crate) fn set_len_reserved(fd: impl AsFd, len: u64) -> Result<(), Errno> {
    rustix::fs::ftruncate(&fd, len)?;
    match rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len) {
        // Filesystems without fallocate keep the plain ftruncate.
        Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => Ok(()),
        other => other,
    }
}

/// The file's size and type as `fstat(2)` reports them.
pub(crate) fn file_size(fd: impl AsFd) -> Result<u64, Errno> {
    let st = rustix::fs::fstat(fd)?;
    let is_regular =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
    if !is_regular {
        return Err(Errno::INVAL);
    }
    Ok(st.st_size as u64)
}

/// Whether `fd` is sealed against shrinking (`fcntl(2)` `F_GET_SEALS`):
/// only such a file can be mapped without a peer being able to truncate
/// it under the mapping (SIGBUS). Files that cannot carry seals (POSIX
/// shm from `shm_open`, files on disk) are not.
pub(crate) fn sealed_against_shrinking(fd: impl AsFd) -> Result<bool, Errno> {
    match rustix::fs::fcntl_get_seals(fd) {
        Ok(seals) => Ok(seals.contains(SealFlags::SHRINK)),
        Err(Errno::INVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The seals every broker segment carries and every client demands: its
/// size can never change under a mapping, and nobody can lift the seals.
/// (A descriptor adopted from anyone else needs only `SHRINK`:
/// [`sealed_against_shrinking`].)
pub(crate) const SEGMENT_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// Adds [`SEGMENT_SEALS`] (`fcntl(2)` `F_ADD_SEALS`); the memfd must allow
/// sealing (`MFD_ALLOW_SEALING`).
pub(crate) fn seal_segment(fd: impl AsFd) -> Result<(), Errno> {
    rustix::fs::fcntl_add_seals(fd, SEGMENT_SEALS)
}

/// Whether `fd` carries every one of [`SEGMENT_SEALS`] (`F_GET_SEALS`);
/// `EINVAL` if it cannot carry seals at all.
pub(crate) fn has_segment_seals(fd: impl AsFd) -> Result<bool, Errno> {
    Ok(rustix::fs::fcntl_get_seals(fd)?.contains(SEGMENT_SEALS))
}

/// Writes all of `bytes` at `offset` (`pwrite(2)`, retried on `EINTR`);
/// `ENOSPC` if the file takes no more.
pub(crate) fn write_all_at(fd: impl AsFd, mut bytes: &[u8], mut offset: u64) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::pwrite(&fd, bytes, offset) {
            Ok(0) => return Err(Errno::NOSPC),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Maps `len` bytes of the file shared and read-write (`mmap(2)` with
/// `MAP_SHARED`). The mapping outlives the descriptor.
pub(crate) fn map_shared(fd: &OwnedFd, len: u64) -> std::io::Result<MmapRaw> {
    let len = usize::try_from(len)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "segment too large"))?;
    MmapOptions::new().len(len).map_raw(fd)
}

/// The file's size (`fstat(2)`) and, if it lives on hugetlbfs (a memfd
/// made with `MFD_HUGETLB`), its huge page size (`fstatfs(2)`: `f_type`
/// is `HUGETLBFS_MAGIC`, `f_bsize` the page size). Such a file can only
/// be sized in whole huge pages (hugetlbfs refuses any other
/// `ftruncate`) and cannot be written with `write(2)`. Not a regular
/// file: `EINVAL`, as [`file_size`].
pub(crate) fn file_shape(fd: impl AsFd) -> Result<(u64, Option<u64>), Errno> {
    let size = file_size(&fd)?;
    let fs = rustix::fs::fstatfs(&fd)?;
    // `f_type` is a signed word on some targets: compare its low 32 bits.
    let on_hugetlbfs = fs.f_type as u64 & 0xffff_ffff == u64::from(HUGETLBFS_MAGIC);
    let page = fs.f_bsize as u64;
    Ok((
        size,
        (on_hugetlbfs && page.is_power_of_two()).then_some(page),
    ))
}

/// `f_type` of hugetlbfs (statfs(2)).
const HUGETLBFS_MAGIC: u32 = 0x9584_58f6;

/// `len` rounded up to a multiple of `block` (a power of two); `None` on
/// overflow.
pub(crate) fn round_up(len: u64, block: u64) -> Option<u64> {
    debug_assert!(block.is_power_of_two());
    len.checked_add(block - 1).map(|l| l & !(block - 1))
}

/// Populates every page of `map` for writing, so that no access to it
/// faults later: `madvise(MADV_POPULATE_WRITE)` (madvise(2), Linux 5.14);
/// on an older kernel (`EINVAL`), one atomic load per page of the
/// mapping, which on a shared tmpfs or hugetlbfs mapping maps the page
/// writable as well (neither filesystem tracks dirty pages). Changes no
/// byte of the segment. `ENOMEM` or `EFAULT` if the pages cannot be had
/// (hugetlbfs out of huge pages).
pub(crate) fn prefault(map: &MmapRaw) -> Result<(), Errno> {
    if map.len() == 0 {
        return Ok(());
    }
    // SAFETY: the range is exactly our own live mapping; populating it
    // changes no content and no mapping.
    let advised = unsafe {
        rustix::mm::madvise(
            map.as_mut_ptr().cast(),
            map.len(),
            rustix::mm::Advice::LinuxPopulateWrite,
        )
    };
    match advised {
        Err(Errno::INVAL) => {}
        other => return other,
    }
    touch_pages(map);
    Ok(())
}

/// One atomic load every 4 KiB of `map` (the smallest page there is, so
/// at least once per page): the fallback of [`prefault`].
// A page fault, not a synchronisation: the std atomic (not `crate::sync`,
// which loom replaces) is what a load of mapped memory needs here.
#[allow(clippy::disallowed_types)]
fn touch_pages(map: &MmapRaw) {
    use std::sync::atomic::{AtomicU8, Ordering};
    let step = 4096;
    let base = map.as_ptr();
    for off in (0..map.len()).step_by(step) {
        // SAFETY: `off < len`, so the byte is inside the live mapping; an
        // atomic load of shared memory is sound whatever a peer writes
        // there, and `AtomicU8` has the alignment of a byte.
        let byte = unsafe { &*base.add(off).cast::<AtomicU8>() };
        byte.load(Ordering::Relaxed);
    }
}

/// Locks every page of `map` in memory (`mlock(2)`), which also faults
/// them in. `ENOMEM` or `EPERM` when `RLIMIT_MEMLOCK` (`ulimit -l`) is
/// too small and the caller lacks `CAP_IPC_LOCK`. The lock goes with the
/// mapping (`munmap`).
pub(crate) fn lock(map: &MmapRaw) -> Result<(), Errno> {
    if map.len() == 0 {
        return Ok(());
    }
    // SAFETY: the range is exactly our own live mapping; locking changes
    // no content and no mapping.
    unsafe { rustix::mm::mlock(map.as_mut_ptr().cast(), map.len()) }
}
