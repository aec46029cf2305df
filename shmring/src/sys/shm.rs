//! POSIX shared-memory objects (`shm_open(3)`) and their mappings.

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
