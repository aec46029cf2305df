//! Shared-memory segments: create, open or adopt one, map it, and check
//! its header before anything else touches it.
#![allow(unsafe_code)]

use crate::error::{Corruption, OpenError};
use crate::layout::header::{
    self, HEADER_SIZE, HeaderProblem, HeaderWords, INIT_READY, LAYOUT_VERSION,
};
use crate::layout::{RingKind, SegmentHeader};
use crate::liveness::Locks;
use crate::sys::process::ProcessId;
use crate::sys::shm;
use crate::wait::doorbell::Doorbells;
use memmap2::MmapRaw;
use rustix::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default permission bits of a new segment: owner read/write only.
pub const DEFAULT_MODE: u32 = 0o600;
/// Default time `open` waits for a creator that is still initialising.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// Options shared by every kind of segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentOptions {
    pub(crate) mode: u32,
    pub(crate) open_timeout: Duration,
    /// Populate every page of this process's mapping when it is made
    /// (`sys::shm::prefault`).
    pub(crate) prefault: bool,
    /// Lock this process's mapping in memory (`mlock`).
    pub(crate) lock: bool,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            mode: DEFAULT_MODE,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            prefault: false,
            lock: false,
        }
    }
}

/// Makes this process's mapping resident as `options` ask: locked
/// (`mlock`, which faults every page in), else populated. Called once,
/// when the mapping is made, never on the message path.
fn settle_memory(map: &MmapRaw, options: SegmentOptions) -> Result<(), OpenError> {
    if options.lock {
        shm::lock(map).map_err(|e| OpenError::MemoryLock(e.into()))?;
    }
    if options.prefault {
        shm::prefault(map).map_err(|e| match e {
            rustix::io::Errno::NOMEM | rustix::io::Errno::FAULT => OpenError::NoSpace,
            other => OpenError::Io(other.into()),
        })?;
    }
    Ok(())
}

/// A mapped segment whose header has been validated (or just written).
#[derive(Debug)]
pub struct Mapping {
    map: MmapRaw,
    header: SegmentHeader,
    name: Option<String>,
    /// The segment file, kept open for its role locks (`liveness`): this
    /// description only ever probes them.
    file: Arc<OwnedFd>,
    /// The ring's doorbells (`wait/doorbell.rs`).
    bells: Doorbells,
}

// SAFETY: the mapping is plain shared memory; every access through it
// goes through atomics or the ring protocols.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// The validated header snapshot.
    pub(crate) fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// The name it was created or opened by, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The ring's doorbells.
    pub(crate) fn bells(&self) -> &Doorbells {
        &self.bells
    }

    /// The role locks of this segment.
    pub(crate) fn locks(&self) -> Locks {
        Locks::of_file(Arc::clone(&self.file), self.name.as_deref())
    }

    /// A pointer to a `T` at byte offset `off`.
    ///
    /// Panics unless `T` fits in the mapping there and is aligned: callers
    /// pass offsets from a validated header.
    pub(crate) fn at<T>(&self, off: u64) -> NonNull<T> {
        let len = self.map.len() as u64;
        assert!(
            off <= len
                && std::mem::size_of::<T>() as u64 <= len - off
                && off % std::mem::align_of::<T>() as u64 == 0,
            "offset outside the mapping"
        );
        // SAFETY: in bounds (asserted); the base is page-aligned, so the
        // offset's alignment is the pointer's.
        let ptr = unsafe { self.map.as_mut_ptr().add(off as usize) };
        NonNull::new(ptr.cast()).expect("mmap never returns null")
    }

    fn header_words(map: &MmapRaw) -> &HeaderWords {
        debug_assert!(map.len() >= HEADER_SIZE);
        // SAFETY: the mapping has at least HEADER_SIZE bytes (callers check
        // the file size first), is page-aligned, and HeaderWords is made
        // of atomics, valid for any bit pattern and shareable.
        unsafe { &*map.as_ptr().cast::<HeaderWords>() }
    }
}

/// Checks a POSIX shared-memory name: one optional leading `/`, then 1 to
/// 250 bytes without `/` or NUL, and not `.` or `..`.
pub(crate) fn check_name(name: &str) -> Result<&str, OpenError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty()
        || bare.len() > 250
        || bare == "."
        || bare == ".."
        || bare.bytes().any(|b| b == b'/' || b == 0)
    {
        return Err(OpenError::InvalidName);
    }
    Ok(bare)
}

/// Creates the named segment exclusively, sizes it, makes its doorbells,
/// writes `header`, lets `init` fill the control block, and only then
/// marks it ready. The name and the doorbells are removed again if any
/// step fails.
pub(crate) fn create(
    name: &str,
    options: SegmentOptions,
    mut header: SegmentHeader,
    init: impl FnOnce(&Mapping),
) -> Result<Mapping, OpenError> {
    let name = check_name(name)?;
    let fd = shm::create_exclusive(name, options.mode)?;
    let mut bell_id = 0;
    let result = (|| {
        shm::set_len_reserved(&fd, header.segment_size)?;
        let map = shm::map_shared(&fd, header.segment_size).map_err(OpenError::Io)?;
        settle_memory(&map, options)?;
        // Zero is "no named doorbells" (a segment handed over as a
        // descriptor).
        bell_id = crate::sys::bell::random_u64().map_err(doorbell_error)? | 1;
        header.bell_id = bell_id;
        let bells = Doorbells::create_named(name, bell_id, options.mode).map_err(doorbell_error)?;
        let mapping = Mapping {
            map,
            header,
            name: Some(name.to_owned()),
            file: Arc::new(fd),
            bells,
        };
        let words = Mapping::header_words(&mapping.map);
        header.write(&words.fields);
        init(&mapping);
        header::publish_ready(&words.init_state);
        Ok(mapping)
    })();
    if result.is_err() {
        let _ = shm::unlink(name);
        if bell_id != 0 {
            Doorbells::unlink_named(name, bell_id);
        }
    }
    result
}

/// A doorbell that could not be made or found, as an open error.
fn doorbell_error(e: rustix::io::Errno) -> OpenError {
    OpenError::Doorbell(e.into())
}

/// Opens the named segment and validates it as `kind`.
pub(crate) fn open(
    name: &str,
    options: SegmentOptions,
    kind: RingKind,
    layout_hash: u64,
) -> Result<Mapping, OpenError> {
    let bare = check_name(name)?;
    let fd = shm::open_existing(bare)?;
    let owner = rustix::fs::fstat(&fd).map_err(OpenError::from)?.st_uid;
    // A named segment cannot carry seals (see `docs/security.md`).
    let (map, header, fd) = map_validated(fd, options, kind, layout_hash)?;
    if header.bell_id == 0 {
        return Err(OpenError::Corrupt(Corruption(
            "a named segment without doorbells",
        )));
    }
    // Owned by the segment's owner, so that nobody else can plant one.
    let bells = Doorbells::open_named(bare, header.bell_id, owner).map_err(doorbell_error)?;
    Ok(Mapping {
        map,
        header,
        name: Some(bare.to_owned()),
        file: Arc::new(fd),
        bells,
    })
}

/// Validates and maps a segment file someone handed us (a memfd from the
/// broker): only a regular file sealed against shrinking is accepted.
pub(crate) fn adopt(
    fd: OwnedFd,
    bells: Doorbells,
    options: SegmentOptions,
    kind: RingKind,
    layout_hash: u64,
) -> Result<Mapping, OpenError> {
    // Refused before anything is mapped: a socket, a pipe, a file on disk,
    // a POSIX shm file or an unsealed memfd (any of which a peer could
    // truncate under our mapping, turning every later read into SIGBUS).
    shm::file_shape(&fd).map_err(not_regular)?;
    if !shm::sealed_against_shrinking(&fd)? {
        return Err(OpenError::Unsealed);
    }
    let (map, header, fd) = map_validated(fd, options, kind, layout_hash)?;
    Ok(Mapping {
        map,
        header,
        name: None,
        file: Arc::new(fd),
        bells,
    })
}

/// Maps a segment file and validates its header against the file's size,
/// waiting (bounded) for a creator that is still initialising.
fn map_validated(
    fd: OwnedFd,
    options: SegmentOptions,
    kind: RingKind,
    layout_hash: u64,
) -> Result<(MmapRaw, SegmentHeader, OwnedFd), OpenError> {
    let deadline = Instant::now() + options.open_timeout;
    let mut pause = Duration::from_micros(50);
    loop {
        let (size, huge_page) = shm::file_shape(&fd).map_err(not_regular)?;
        // Smaller than a header: the creator may not have sized it yet.
        if size >= HEADER_SIZE as u64 {
            let map = shm::map_shared(&fd, size).map_err(OpenError::Io)?;
            let words = Mapping::header_words(&map);
            match header::load_init_state(&words.init_state) {
                0 => {}
                INIT_READY => {
                    let header = SegmentHeader::snapshot(&words.fields);
                    header
                        .check_common(kind, layout_hash, size, huge_page)
                        .map_err(|p| header_error(p, kind))?;
                    settle_memory(&map, options)?;
                    return Ok((map, header, fd));
                }
                _ => return Err(OpenError::Corrupt(Corruption("invalid init state"))),
            }
        }
        if Instant::now() >= deadline {
            return Err(OpenError::NotInitialized);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// `fstat`'s `EINVAL` (not a regular file) as the open error it means.
fn not_regular(e: rustix::io::Errno) -> OpenError {
    match e {
        rustix::io::Errno::INVAL => {
            OpenError::Corrupt(Corruption("the descriptor is not a regular file"))
        }
        other => other.into(),
    }
}

/// The size a file must have to hold `segment_size` bytes: the same, or
/// on huge pages (`huge_page`, from `sys::shm::file_shape`) rounded up
/// to whole pages.
pub(crate) fn file_size_for(segment_size: u64, huge_page: Option<u64>) -> Result<u64, OpenError> {
    match huge_page {
        None => Ok(segment_size),
        Some(b) => shm::round_up(segment_size, b)
            .ok_or(OpenError::InvalidConfig("segment too large for huge pages")),
    }
}

/// Lays a new ring out in `fd` through a mapping: the header, then `init`
/// (the kind's control block), then the ready state. For a memfd that
/// nobody else holds yet and that cannot be written with `pwrite` (one on
/// huge pages); it must already be sized and sealed.
pub(crate) fn lay_out_mapped(
    fd: &OwnedFd,
    header: SegmentHeader,
    bells: Doorbells,
    init: impl FnOnce(&Mapping),
) -> Result<(), OpenError> {
    let (size, _) = shm::file_shape(fd).map_err(not_regular)?;
    let map = shm::map_shared(fd, size).map_err(OpenError::Io)?;
    let mapping = Mapping {
        map,
        header,
        name: None,
        file: Arc::new(fd.try_clone().map_err(OpenError::Io)?),
        bells,
    };
    let words = Mapping::header_words(&mapping.map);
    header.write(&words.fields);
    init(&mapping);
    header::publish_ready(&words.init_state);
    Ok(())
}

/// Removes a segment name (`shm_unlink`). Processes that have it mapped
/// keep using it; the memory is freed when the last one unmaps.
///
/// ```
/// assert!(matches!(shmring::unlink("no-such-shmring-segment"), Err(shmring::OpenError::NotFound)));
/// ```
pub fn unlink(name: &str) -> Result<(), OpenError> {
    let bare = check_name(name)?;
    // The segment's owner from the directory entry (no read permission
    // needed), and its doorbells listed before the name goes.
    let bells = rustix::fs::stat(format!("{}/{bare}", crate::sys::bell::SHM_DIR))
        .map(|st| Doorbells::named_files(bare, st.st_uid))
        .unwrap_or_default();
    shm::unlink(bare).map_err(OpenError::from)?;
    Doorbells::unlink_files(&bells);
    Ok(())
}

/// The creator identity written into new headers.
pub(crate) fn creator_identity() -> (u32, u64) {
    ProcessId::current()
        .map(|id| (id.pid, id.start_ticks))
        .unwrap_or((0, 0))
}

/// A header problem as the open error a caller asking for `expected` sees.
pub(crate) fn header_error(problem: HeaderProblem, expected: RingKind) -> OpenError {
    match problem {
        HeaderProblem::BadMagic => {
            OpenError::Corrupt(Corruption("bad magic: not a shmring segment"))
        }
        HeaderProblem::Version { found } => OpenError::VersionMismatch {
            found,
            expected: LAYOUT_VERSION,
        },
        HeaderProblem::WrongKind { found } => OpenError::WrongKind { found, expected },
        HeaderProblem::Corrupt(why) => OpenError::Corrupt(Corruption(why)),
    }
}
