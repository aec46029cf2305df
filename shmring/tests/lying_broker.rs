//! A broker that lies: the client refuses every descriptor that is not a
//! sealed segment of the announced size before mapping it (so no peer can
//! make it fault with SIGBUS by truncating the file), and a sealed file
//! shorter than its header claims fails validation.
mod common;

use common::Name;
use rustix::fd::OwnedFd;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use shmring::broker::fdpass;
use shmring::broker::protocol::{
    self, Lifetime, MsgType, PROTOCOL_VERSION, Reply, Request, SegmentInfo,
};
use shmring::broker::{BrokerClient, BrokerError};
use shmring::{OpenError, RingGeometry, SpscBuilder};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// A valid 4 KiB SPSC segment's bytes.
fn segment_bytes() -> Vec<u8> {
    let name = Name::new("lying-broker");
    SpscBuilder::new().capacity(4096).create(&name).unwrap();
    std::fs::read(name.path()).unwrap()
}

fn memfd_with(bytes: &[u8], seals: SealFlags) -> OwnedFd {
    let fd =
        rustix::fs::memfd_create("lying", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    let file = std::fs::File::from(fd);
    file.write_all_at(bytes, 0).unwrap();
    if !seals.is_empty() {
        rustix::fs::fcntl_add_seals(&file, seals).unwrap();
    }
    file.into()
}

fn info(size: u64) -> SegmentInfo {
    SegmentInfo {
        name: "lie".into(),
        geometry: RingGeometry::Spsc {
            capacity: 4096,
            max_message: 4096,
        },
        lifetime: Lifetime::Persistent,
        mode: 0o600,
        uid: 0,
        gid: 0,
        size,
        holders: 1,
        messages_in_flight: 0,
        bytes_in_flight: 0,
        dead_sender_slots: 0,
        dead_receiver_messages: 0,
        traffic: shmring::TrafficCounts::default(),
        endpoints: Vec::new(),
    }
}

/// Serves one connection: answers hello honestly, then answers the open
/// with `info` and `fd`. Returns the socket path (in a fresh directory).
fn lying_broker(info: SegmentInfo, fds: Vec<OwnedFd>) -> (PathBuf, std::thread::JoinHandle<()>) {
    #[allow(clippy::disallowed_types)] // a test counter, not ring state
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("shmring-liar-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broker.sock");
    let listener = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    rustix::net::bind(&listener, &SocketAddrUnix::new(&path).unwrap()).unwrap();
    rustix::net::listen(&listener, 1).unwrap();
    let server = std::thread::spawn(move || {
        let conn = rustix::net::accept(&listener).unwrap();
        let mut buf = vec![0u8; protocol::MAX_FRAME_LEN];
        let mut out = Vec::new();
        let mut fds = Some(fds);
        for _ in 0..2 {
            let Ok(received) = fdpass::recv_frame(&conn, &mut buf, false) else {
                return;
            };
            let (header, payload) =
                protocol::split_frame(&buf[..received.len], 0, 1 << 16).unwrap();
            let id = header.request_id.get();
            match protocol::decode_request(header.msg_type.get(), payload).unwrap() {
                Request::Hello { .. } => {
                    let hello = Reply::Hello {
                        version: PROTOCOL_VERSION,
                        max_frame: protocol::MAX_FRAME_LEN as u32,
                    };
                    protocol::encode_reply(&mut out, MsgType::Hello, id, &hello, 0);
                    fdpass::send_frame(&conn, &out, &[], false).unwrap();
                }
                Request::Open { .. } => {
                    let reply = Reply::Segment(info.clone());
                    let fds = fds.take().unwrap_or_default();
                    protocol::encode_reply(&mut out, MsgType::Open, id, &reply, fds.len() as u16);
                    use rustix::fd::AsFd;
                    let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
                    let _ = fdpass::send_frame(&conn, &out, &borrowed, false);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    (path, server)
}

/// A segment descriptor with a real pair of doorbells beside it.
fn with_bells(fd: OwnedFd) -> Vec<OwnedFd> {
    let bells = shmring::Doorbells::create().unwrap();
    vec![
        fd,
        bells.data_fd().try_clone_to_owned().unwrap(),
        bells.room_fd().try_clone_to_owned().unwrap(),
    ]
}

fn open_through(info: SegmentInfo, fds: Vec<OwnedFd>) -> BrokerError {
    let (path, server) = lying_broker(info, fds);
    let result = BrokerClient::connect_to(&path).and_then(|mut c| c.open_spsc("lie"));
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    match result {
        Ok(_) => panic!("the client accepted a bad segment"),
        Err(e) => e,
    }
}

#[test]
fn an_unsealed_memfd_is_refused() {
    let bytes = segment_bytes();
    let fd = memfd_with(&bytes, SealFlags::empty());
    let err = open_through(info(bytes.len() as u64), with_bells(fd));
    assert!(matches!(err, BrokerError::BadSegment(_)), "{err:?}");
}

#[test]
fn a_memfd_that_may_still_shrink_is_refused() {
    let bytes = segment_bytes();
    let fd = memfd_with(&bytes, SealFlags::GROW | SealFlags::SEAL);
    let err = open_through(info(bytes.len() as u64), with_bells(fd));
    assert!(matches!(err, BrokerError::BadSegment(_)), "{err:?}");
}

#[test]
fn a_file_on_disk_is_refused() {
    let bytes = segment_bytes();
    let path = std::env::temp_dir().join(format!("shmring-liar-file-{}", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = open_through(info(bytes.len() as u64), with_bells(file.into()));
    assert!(matches!(err, BrokerError::BadSegment(_)), "{err:?}");
}

#[test]
fn a_socket_is_refused() {
    let (socket, _other) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = open_through(info(4096), with_bells(socket.into()));
    assert!(matches!(err, BrokerError::BadSegment(_)), "{err:?}");
}

#[test]
fn a_size_other_than_announced_is_refused() {
    let bytes = segment_bytes();
    let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    let fd = memfd_with(&bytes, all);
    let err = open_through(info(bytes.len() as u64 * 2), with_bells(fd));
    assert!(matches!(err, BrokerError::BadSegment(_)), "{err:?}");
}

#[test]
fn a_sealed_file_shorter_than_its_header_claims_is_corrupt() {
    let bytes = segment_bytes();
    let half = &bytes[..bytes.len() / 2];
    let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    let fd = memfd_with(half, all);
    let err = open_through(info(half.len() as u64), with_bells(fd));
    assert!(
        matches!(err, BrokerError::Open(OpenError::Corrupt(_))),
        "{err:?}"
    );
}

#[test]
fn a_reply_without_a_descriptor_is_a_protocol_error() {
    let err = open_through(info(4096), Vec::new());
    assert!(matches!(err, BrokerError::Protocol(_)), "{err:?}");
}

#[test]
fn a_segment_without_its_doorbells_is_a_protocol_error() {
    let bytes = segment_bytes();
    let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    let fd = memfd_with(&bytes, all);
    let err = open_through(info(bytes.len() as u64), vec![fd]);
    assert!(matches!(err, BrokerError::Protocol(_)), "{err:?}");
}

#[test]
fn doorbells_that_are_not_fifos_are_refused() {
    let bytes = segment_bytes();
    let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    let fd = memfd_with(&bytes, all);
    let (a, _) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = memfd_with(b"not a fifo", SealFlags::empty());
    let err = open_through(info(bytes.len() as u64), vec![fd, a.into(), b]);
    assert!(matches!(err, BrokerError::Protocol(_)), "{err:?}");
}
