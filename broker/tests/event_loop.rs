//! The event loop under pressure from one client: out of descriptors,
//! descriptors attached to requests, costly reaping. Nobody else may be
//! stalled for long (the bounds are hang detectors, not timings), and
//! the daemon must not spin.

mod common;

use common::{Daemon, hello_frame, raw_connect, refused_then_closed, request_frame};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::process::Signal;
use shmring::broker::fdpass;
use shmring::broker::protocol::{self, Reply, Request, Role, Status};
use shmring::broker::{BrokerClient, CreateOptions};
use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sends a request, returns the reply and its descriptor.
fn request(sock: &OwnedFd, id: u32, req: &Request) -> (Reply, Option<OwnedFd>) {
    fdpass::send_frame(sock, &request_frame(id, req), &[], false).unwrap();
    let mut buf = vec![0u8; protocol::MAX_FRAME_LEN];
    let mut got = fdpass::recv_frame(sock, &mut buf, false).unwrap();
    let (h, payload) = protocol::split_frame(&buf[..got.len], got.fds.len(), buf.len()).unwrap();
    let reply = protocol::decode_reply(h.msg_type.get(), payload).unwrap();
    // The segment comes first, then its two doorbells.
    (reply, (!got.fds.is_empty()).then(|| got.fds.remove(0)))
}

/// Reads until the daemon closes; there must be an error reply first.
fn expect_error_then_closed(sock: &OwnedFd) -> Status {
    refused_then_closed(sock).expect("closed without an error")
}

/// Connects and lists from another thread; panics if that takes more
/// than `bound` (a hang detector: the daemon is stuck on someone else).
fn served_within(socket: &Path, bound: Duration, what: &str) {
    let (tx, rx) = mpsc::channel();
    let socket = socket.to_owned();
    let started = Instant::now();
    // Not joined on failure: it ends when the daemon is killed.
    std::thread::spawn(move || {
        let result = BrokerClient::connect_to(&socket).and_then(|mut c| c.list());
        let _ = tx.send(result.map(|_| ()));
    });
    match rx.recv_timeout(bound) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: not served within {bound:?}"),
    }
    eprintln!("{what}: served in {:?}", started.elapsed());
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is
    // the 3rd field of the line, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A daemon started under `prlimit --nofile=N:N` (the daemon raises its
/// soft limit to the hard one, so both are set). Quiet: it warns each
/// time `accept` runs out of descriptors.
fn daemon_with_fd_limit(limit: u32, config: &str) -> Option<Daemon> {
    let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let mut d = Daemon::new(Some(config));
    d.wrapper = vec![prlimit.into(), format!("--nofile={limit}:{limit}").into()];
    d.quiet = true;
    d.spawn();
    Some(d)
}

#[test]
fn out_of_descriptors_the_daemon_waits_instead_of_spinning() {
    const LIMIT: u32 = 40;
    let Some(d) = daemon_with_fd_limit(LIMIT, "[limits]\nhandshake_timeout_ms = 600000\n") else {
        eprintln!("skipped: no prlimit");
        return;
    };
    // More connections than the daemon has descriptors for: the rest
    // wait in the listen backlog.
    let mut conns: Vec<OwnedFd> = (0..2 * LIMIT).map(|_| raw_connect(&d.socket)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.fd_count() < LIMIT as usize {
        assert!(
            Instant::now() < deadline,
            "daemon stopped at {} descriptors",
            d.fd_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Saturated for a second: accept keeps failing with EMFILE. The
    // daemon must sleep meanwhile (a spinning loop burns ~100 ticks).
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks(d.pid());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(d.pid()) - before;
    assert!(used < 20, "the daemon used {used} ticks of CPU in 1 s");
    // Once connections close, new clients are served.
    conns.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    while BrokerClient::connect_to(&d.socket)
        .and_then(|mut c| c.list())
        .is_err()
    {
        assert!(Instant::now() < deadline, "no client served after closes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP socket whose close blocks for `linger`: its unsent data can
/// not leave (the peer reads nothing) and `SO_LINGER` makes the last
/// close wait for it. Returns it and the peer to keep open.
fn lingering_socket(linger: Duration) -> (std::net::TcpStream, std::net::TcpStream) {
    use rustix::net::sockopt;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    sockopt::set_socket_recv_buffer_size(&listener, 4096).unwrap();
    let mut stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    sockopt::set_socket_send_buffer_size(&stream, 4096).unwrap();
    stream.set_nonblocking(true).unwrap();
    let chunk = [7u8; 4096];
    let mut written = 0usize;
    loop {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(written < 256 << 20, "the peer's window never filled");
    }
    sockopt::set_socket_linger(&stream, Some(linger)).unwrap();
    (stream, peer)
}

#[test]
fn a_descriptor_that_is_slow_to_close_stalls_nobody() {
    let d = Daemon::start(None);
    let (slow, _peer) = lingering_socket(Duration::from_secs(30));
    let sock = raw_connect(&d.socket);
    // The daemon's close must be the last one: ours goes while the
    // daemon is stopped and the descriptor is still in flight.
    let pid = rustix::process::Pid::from_child(d.child.as_ref().unwrap());
    rustix::process::kill_process(pid, Signal::STOP).unwrap();
    let sent = fdpass::send_frame(&sock, &hello_frame(), &[slow.as_fd()], false);
    drop(slow);
    rustix::process::kill_process(pid, Signal::CONT).unwrap();
    sent.unwrap();
    assert_eq!(expect_error_then_closed(&sock), Status::BadRequest);
    served_within(&d.socket, Duration::from_secs(5), "next client");
}

#[test]
fn requests_with_many_descriptors_are_refused_and_leave_nothing_open() {
    let d = Daemon::start(None);
    served_within(&d.socket, Duration::from_secs(5), "first client");
    let baseline = d.settled_fd_count();
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..125).map(|_| rustix::pipe::pipe().unwrap()).collect();
    let fds: Vec<BorrowedFd<'_>> = pipes
        .iter()
        .flat_map(|(r, w)| [r.as_fd(), w.as_fd()])
        .collect();
    assert_eq!(fds.len(), 250);
    for round in 0..20 {
        let sock = raw_connect(&d.socket);
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(250))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        let hello = hello_frame();
        rustix::net::sendmsg(
            &sock,
            &[IoSlice::new(&hello)],
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
        assert_eq!(
            expect_error_then_closed(&sock),
            Status::BadRequest,
            "round {round}"
        );
        served_within(&d.socket, Duration::from_secs(5), "another client");
    }
    // Every received descriptor is closed again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.fd_count() > baseline {
        assert!(
            Instant::now() < deadline,
            "daemon holds {} descriptors, baseline {baseline}",
            d.fd_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// MPMC geometry that makes one reap of 64 "left" registry entries take
/// a good fraction of a second in a debug build.
const BIG_SLOTS: u64 = 1 << 15;
const BIG_LEVELS: u32 = 8;
/// The two registries of an MPMC control block (`layout/mpmc.rs`): 64
/// role words from offset 256.
const REGISTRIES: (u64, usize) = (256, 512);

#[test]
fn reaping_a_huge_ring_on_every_close_stalls_nobody() {
    let d = Daemon::start(None);
    let mut owner = d.client();
    let options = CreateOptions::mpmc(BIG_SLOTS, 8).priorities(BIG_LEVELS);
    owner.create("big", &options).unwrap();
    // Client X maps the ring and keeps writing "left" into every
    // registry entry, as a hostile peer may: each reap recovers each
    // entry by scanning every slot of every level.
    let x = raw_connect(&d.socket);
    let _ = request(
        &x,
        1,
        &Request::Hello {
            min_version: protocol::PROTOCOL_VERSION,
            max_version: protocol::PROTOCOL_VERSION,
        },
    );
    let open = Request::Open {
        name: "big".into(),
        role: Role::None,
    };
    let (reply, fd) = request(&x, 2, &open);
    assert!(matches!(reply, Reply::Segment(_)), "{reply:?}");
    let memfd = fd.expect("the ring's descriptor");
    let (stop, stopped) = mpsc::channel::<()>();
    let writer = {
        std::thread::spawn(move || {
            let left = vec![0xffu8; REGISTRIES.1];
            while let Err(mpsc::TryRecvError::Empty) = stopped.try_recv() {
                rustix::io::pwrite(&memfd, &left, REGISTRIES.0).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    // X opens the ring on many connections and closes them all at once,
    // a few times; Y must be served after each wave.
    for wave in 0..3 {
        let conns: Vec<OwnedFd> = (0..30)
            .map(|i| {
                let c = raw_connect(&d.socket);
                let _ = request(
                    &c,
                    1,
                    &Request::Hello {
                        min_version: protocol::PROTOCOL_VERSION,
                        max_version: protocol::PROTOCOL_VERSION,
                    },
                );
                let (reply, _fd) = request(&c, 2 + i, &open);
                assert!(matches!(reply, Reply::Segment(_)), "{reply:?}");
                c
            })
            .collect();
        drop(conns);
        served_within(&d.socket, Duration::from_secs(5), &format!("wave {wave}"));
    }
    drop(stop);
    writer.join().unwrap();
    drop(x);
    owner.unlink("big").unwrap();
}
