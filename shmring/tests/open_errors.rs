//! Opening validates every header field against the real file; each kind
//! of damage has its own error, and none panics.
mod common;

use common::{Name, Peer};
use shmring::{AttachError, OpenError, RingKind, SpscBuilder};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

/// Creates a valid 1 KiB ring and returns its name.
fn valid_segment(tag: &str) -> Name {
    let name = Name::new(tag);
    SpscBuilder::new().capacity(1024).create(&name).unwrap();
    name
}

fn patch(name: &Name, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

fn set_len(name: &Name, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(name.path())
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn open(name: &Name) -> Result<shmring::Spsc, OpenError> {
    SpscBuilder::new()
        .open_timeout(Duration::from_millis(50))
        .open(name)
}

fn corrupt_reason(result: Result<shmring::Spsc, OpenError>) -> &'static str {
    match result {
        Err(OpenError::Corrupt(c)) => c.reason(),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_valid_segment_opens() {
    let name = valid_segment("valid");
    let ring = open(&name).unwrap();
    assert_eq!((ring.capacity(), ring.max_message()), (1024, 256));
}

#[test]
fn wrong_magic_is_corrupt() {
    let name = valid_segment("magic");
    patch(&name, 0, b"NOTARING");
    assert!(corrupt_reason(open(&name)).contains("magic"));
}

#[test]
fn another_layout_version_is_a_version_mismatch() {
    let name = valid_segment("version");
    patch(&name, 8, &99u32.to_le_bytes());
    assert!(matches!(
        open(&name),
        Err(OpenError::VersionMismatch {
            found: 99,
            expected: 3
        })
    ));
    // Version 1 told liveness from `/proc`, version 2 from lock bytes: a
    // peer of each would take the other for dead; version 2 does not ring
    // doorbells, so a version 3 peer waiting by descriptor would sleep on.
    for old in [1u32, 2] {
        patch(&name, 8, &old.to_le_bytes());
        assert!(matches!(
            open(&name),
            Err(OpenError::VersionMismatch { found, expected: 3 }) if found == old
        ));
    }
}

#[test]
fn another_layout_hash_is_a_version_mismatch() {
    let name = valid_segment("hash");
    patch(&name, 16, &0xdead_beefu64.to_le_bytes());
    assert!(matches!(
        open(&name),
        Err(OpenError::VersionMismatch { .. })
    ));
}

#[test]
fn an_mpmc_segment_is_the_wrong_kind_and_an_unknown_kind_is_corrupt() {
    let name = valid_segment("kind");
    patch(&name, 12, &2u32.to_le_bytes());
    assert!(matches!(
        open(&name),
        Err(OpenError::WrongKind {
            found: RingKind::Mpmc,
            expected: RingKind::Spsc
        })
    ));
    patch(&name, 12, &77u32.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("kind"));
}

#[test]
fn a_truncated_file_is_corrupt() {
    let name = valid_segment("truncated");
    set_len(&name, 768 + 512);
    assert!(corrupt_reason(open(&name)).contains("size"));
}

#[test]
fn a_file_shorter_than_a_header_is_not_initialised_after_the_bounded_wait() {
    let name = valid_segment("short");
    set_len(&name, 100);
    assert!(matches!(open(&name), Err(OpenError::NotInitialized)));
}

#[test]
fn an_unpublished_header_is_not_initialised_after_the_bounded_wait() {
    let name = valid_segment("init");
    patch(&name, 120, &0u32.to_le_bytes());
    assert!(matches!(open(&name), Err(OpenError::NotInitialized)));
    patch(&name, 120, &7u32.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("init"));
}

#[test]
fn geometry_that_disagrees_with_the_file_size_is_corrupt() {
    let name = valid_segment("geometry");
    // Claims 2 KiB of data in a file with 1 KiB.
    patch(&name, 32, &2048u64.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("size"));
    patch(&name, 32, &1000u64.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("power of two"));
    patch(&name, 32, &1024u64.to_le_bytes());
    patch(&name, 40, &1000u64.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("max_message"));
    patch(&name, 40, &256u64.to_le_bytes());
    patch(&name, 56, &1024u64.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("offset"));
    patch(&name, 56, &768u64.to_le_bytes());
    patch(&name, 24, &4096u64.to_le_bytes());
    assert!(corrupt_reason(open(&name)).contains("size"));
    patch(&name, 24, &2048u64.to_le_bytes());
    patch(&name, 88, &[1]);
    assert!(corrupt_reason(open(&name)).contains("reserved"));
    patch(&name, 88, &[0]);
    assert!(
        open(&name).is_ok(),
        "restoring every field makes it valid again"
    );
}

#[test]
fn random_headers_never_panic() {
    let name = valid_segment("fuzz");
    let mut state = 0x1234_5678_9abc_def0u64 ^ u64::from(std::process::id());
    for _ in 0..2_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let offset = state % 128;
        patch(
            &name,
            offset,
            &state.to_le_bytes()[..(state >> 60) as usize % 8 + 1],
        );
        let _ = open(&name);
    }
}

#[test]
fn missing_taken_and_malformed_names_have_their_own_errors() {
    let name = valid_segment("names");
    assert!(matches!(
        SpscBuilder::new().create(&name),
        Err(OpenError::AlreadyExists)
    ));
    let missing = Name::new("missing");
    assert!(matches!(open(&missing), Err(OpenError::NotFound)));
    for bad in ["", "/", "a/b", "..", &"x".repeat(300)] {
        assert!(
            matches!(open(&Name(bad.to_owned())), Err(OpenError::InvalidName)),
            "{bad}"
        );
    }
    assert!(matches!(
        SpscBuilder::new().capacity(1000).create(&Name::new("cfg")),
        Err(OpenError::InvalidConfig(_))
    ));
    assert!(matches!(
        SpscBuilder::new()
            .capacity(1024)
            .max_message(512)
            .create(&Name::new("cfg")),
        Err(OpenError::InvalidConfig(_))
    ));
}

#[test]
fn another_user_is_refused_by_the_default_mode() {
    let name = valid_segment("perm");
    // The peer drops to `nobody` before it opens the 0600 segment.
    let mut peer = Peer::spawn_with(&["recv-one", &name, "10"], |command| {
        command.uid(65534).gid(65534);
    });
    let line = peer.line(common::PATIENCE);
    assert_eq!(line, "error: permission denied");
}

#[test]
fn a_mode_chosen_at_creation_lets_other_users_in() {
    let name = Name::new("perm-open");
    let _ring = SpscBuilder::new().mode(0o666).create(&name).unwrap();
    let meta = std::fs::metadata(name.path()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o666
    );
    let mut peer = Peer::spawn_with(&["recv-one", &name, "10"], |command| {
        command.uid(65534).gid(65534);
    });
    peer.expect("ready");
    peer.expect("Timeout");
}

/// A memfd holding `bytes`, sealed with `seals` (none: left unsealed).
fn memfd_with(bytes: &[u8], seals: rustix::fs::SealFlags) -> std::fs::File {
    use rustix::fs::MemfdFlags;
    let fd = rustix::fs::memfd_create(
        "open-errors",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .unwrap();
    let file = std::fs::File::from(fd);
    file.write_all_at(bytes, 0).unwrap();
    if !seals.is_empty() {
        rustix::fs::fcntl_add_seals(&file, seals).unwrap();
    }
    file
}

fn adopt(file: impl Into<rustix::fd::OwnedFd>) -> Result<shmring::Spsc, OpenError> {
    SpscBuilder::new()
        .open_timeout(Duration::from_millis(20))
        .from_fd(file.into(), shmring::Doorbells::create().unwrap())
}

/// `from_fd` maps only what nobody can truncate under the mapping: a memfd
/// sealed against shrinking. Every other descriptor is refused before it
/// is mapped, even one holding a perfectly valid segment.
#[test]
fn from_fd_refuses_anything_but_a_sealed_memfd_before_mapping() {
    use rustix::fs::SealFlags;
    let name = valid_segment("fd");
    let segment = std::fs::read(name.path()).unwrap();

    // A valid segment in a memfd sealed against shrinking is adopted.
    let ring = adopt(memfd_with(&segment, SealFlags::SHRINK | SealFlags::GROW)).unwrap();
    assert_eq!(ring.capacity(), 1024);
    assert_eq!(ring.name(), None);

    // The same bytes in an unsealed memfd, a file on disk, the named
    // segment itself: refused.
    assert!(matches!(
        adopt(memfd_with(&segment, SealFlags::empty())),
        Err(OpenError::Unsealed)
    ));
    assert!(matches!(
        adopt(memfd_with(&segment, SealFlags::GROW)),
        Err(OpenError::Unsealed)
    ));
    let path = std::env::temp_dir().join(format!("shmring-fd-{}", std::process::id()));
    std::fs::write(&path, &segment).unwrap();
    let on_disk = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(adopt(on_disk), Err(OpenError::Unsealed)));
    let named = OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    assert!(matches!(adopt(named), Err(OpenError::Unsealed)));

    // Not a file at all.
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    assert_eq!(
        corrupt_reason(adopt(socket)),
        "the descriptor is not a regular file"
    );
    let (pipe, _writer) = rustix::pipe::pipe().unwrap();
    assert_eq!(
        corrupt_reason(adopt(pipe)),
        "the descriptor is not a regular file"
    );

    // Sealed, but shorter than its header says: refused, never SIGBUS.
    let short = memfd_with(&segment[..segment.len() / 2], SealFlags::SHRINK);
    assert_eq!(
        corrupt_reason(adopt(short)),
        "segment size differs from the file size"
    );
    // Sealed and zero-filled: the creator never finished.
    let zeros = memfd_with(&vec![0; segment.len()], SealFlags::SHRINK);
    assert!(matches!(adopt(zeros), Err(OpenError::NotInitialized)));
}

#[test]
fn attach_errors_explain_themselves() {
    let err = AttachError::Busy { pid: 42 };
    assert_eq!(err.to_string(), "the role is held by live process 42");
}

/// `create_or_open` makes the ring once and then finds it, keeping the
/// first shape; a name of another kind is refused, not overwritten.
#[test]
fn create_or_open_makes_once_then_finds_and_keeps_the_kind() {
    let name = Name::new("create-or-open");
    let made = SpscBuilder::new()
        .capacity(1 << 12)
        .create_or_open(&name)
        .unwrap();
    let found = SpscBuilder::new()
        .capacity(1 << 16)
        .create_or_open(&name)
        .unwrap();
    assert_eq!((made.capacity(), found.capacity()), (1 << 12, 1 << 12));
    assert!(matches!(
        shmring::MpmcBuilder::new().create_or_open(&name),
        Err(OpenError::WrongKind {
            found: RingKind::Spsc,
            expected: RingKind::Mpmc
        })
    ));
}
