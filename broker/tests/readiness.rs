//! Readiness descriptors of rings handed out by a real `shmringd` (issue
//! 15): the doorbells travel with the segment, a receiver that only waits
//! in `epoll_wait` misses no wake-up, a sender that only waits for room
//! on its descriptor neither, and killing a sender process attached
//! through the daemon hangs up the receiver's descriptor.
//!
//! Every wait has a bound: one that runs out is a failure (a lost wake-up),
//! never a hang. The random tests print their seed when they fail;
//! `SHMRING_SEED=N` replays one.

mod common;

use common::{Daemon, SHMRING, wait_timeout};
use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::{Errno, FdFlags};
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::prelude::*;
use shmring::{Mpmc, RecvTimeoutError, Spsc, TryRecvError, TrySendError};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for; hitting it is a failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// How long a waiter that follows the rule may wait for a wake-up that
/// must come: running out means the wake-up was lost.
const WAKE_BOUND: Duration = Duration::from_secs(10);

/// How long end of file may take to show after the peer was killed (a
/// liveness bound, not a benchmark).
const EOF_BOUND: Duration = Duration::from_secs(5);

/// Messages per wake-up test: fewer on CI.
fn messages() -> u64 {
    if std::env::var_os("CI").is_some() {
        20_000
    } else {
        100_000
    }
}

/// xorshift64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Sometimes sleeps a little, sometimes yields, mostly goes on.
    fn pause(&mut self) {
        match self.below(16) {
            0 => thread::sleep(Duration::from_micros(self.below(200))),
            1..=3 => thread::yield_now(),
            _ => {}
        }
    }
}

/// The seed of a random test: `SHMRING_SEED`, else the clock.
fn seed() -> u64 {
    std::env::var("SHMRING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 40)
        })
}

/// Prints the seed if the test fails (drops while panicking).
struct SeedReport(u64);

impl Drop for SeedReport {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("failed with seed {0}: replay with SHMRING_SEED={0}", self.0);
        }
    }
}

/// Message `seq`: sequence, a filler whose length varies with it, and a
/// checksum over all of it.
fn message(seq: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&seq.to_le_bytes());
    msg.extend((0..seq % 37).map(|i| (seq as u8).wrapping_add(i as u8)));
    let sum = checksum(&msg);
    msg.extend_from_slice(&sum.to_le_bytes());
    msg
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Checks that `msg` is message `next`, whole, and counts it.
fn expect_next(msg: &[u8], next: &mut u64) {
    assert!(msg.len() >= 16, "short message ({} bytes)", msg.len());
    let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
    assert_eq!(seq, *next, "out of order");
    assert_eq!(msg, message(seq).as_slice(), "message {seq} is torn");
    *next += 1;
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// One descriptor's `poll(2)`, at most `timeout`; its revents (empty on
/// timeout).
fn poll_one(fd: impl AsFd, flags: PollFlags, timeout: Duration) -> PollFlags {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(&fd, flags)];
        match rustix::event::poll(&mut fds, Some(&timespec(left))) {
            Ok(_) => return fds[0].revents(),
            Err(Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// An epoll instance over one descriptor.
struct Epoll(OwnedFd);

impl Epoll {
    fn over(fd: impl AsFd, flags: EventFlags) -> Epoll {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create1");
        epoll::add(&epoll, fd, EventData::new_u64(0), flags).expect("epoll_ctl");
        Epoll(epoll)
    }

    /// `epoll_wait(2)` for at most `timeout`: whether anything was ready.
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = Vec::with_capacity(4);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            buf.clear();
            match epoll::wait(&self.0, spare_capacity(&mut buf), Some(&timespec(left))) {
                Ok(_) => return !buf.is_empty(),
                Err(Errno::INTR) => continue,
                Err(e) => panic!("epoll_wait: {e}"),
            }
        }
    }
}

/// The error of a `try_recv` that must not have given a message.
fn no_message<G: std::ops::Deref<Target = [u8]>>(r: Result<G, TryRecvError>) -> TryRecvError {
    match r {
        Ok(msg) => panic!("unexpected message of {} bytes", msg.len()),
        Err(e) => e,
    }
}

/// Waits (bounded) for a thread; panics with its panic, or if it is
/// still running after `bound`.
fn join_within<T>(handle: thread::JoinHandle<T>, bound: Duration, what: &str) -> T {
    let deadline = Instant::now() + bound;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} still running after {bound:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Makes `name` through the daemon, then attaches its receiver and its
/// sender, each through a connection of its own.
fn attach_both<R: Ring>(
    d: &Daemon,
    name: &str,
    options: &CreateOptions,
) -> (R::Sender, R::Receiver) {
    let mut client = d.client();
    client
        .open_ring::<R>(name, shmring::OpenMode::Create, options)
        .expect("create through the daemon");
    let rx = d
        .client()
        .attach_receiver::<R>(name)
        .expect("attach the receiver");
    let tx = d
        .client()
        .attach_sender::<R>(name)
        .expect("attach the sender");
    (tx, rx)
}

// ---------------------------------------------------------------------------
// No lost wake-up.

/// A sender at random pace; a receiver that only ever waits in
/// `epoll_wait` on its descriptor.
fn receiver_waits_only_in_epoll<R: Ring>(options: CreateOptions)
where
    R::Sender: Send + 'static,
    R::Receiver: AsFd,
{
    let count = messages();
    let seed = seed();
    let _report = SeedReport(seed);
    let d = Daemon::start(None);
    let (mut tx, mut rx) = attach_both::<R>(&d, "wake-rx", &options);
    let sender = thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let mut seq = 0;
        while seq < count {
            for _ in 0..(1 + rng.below(64)).min(count - seq) {
                tx.send_timeout(&message(seq), PATIENCE)
                    .unwrap_or_else(|e| panic!("message {seq}: {}", e.without_message()));
                seq += 1;
            }
            rng.pause();
        }
    });
    let epoll = Epoll::over(&rx, EventFlags::IN);
    let (mut next, mut waits) = (0u64, 0u64);
    loop {
        match rx.try_recv() {
            Ok(msg) => expect_next(&msg, &mut next),
            Err(TryRecvError::Empty) => {
                assert!(
                    epoll.wait(WAKE_BOUND),
                    "lost wake-up: no event in {WAKE_BOUND:?} after {next} messages"
                );
                waits += 1;
            }
            Err(TryRecvError::Disconnected) => break,
            Err(e) => panic!("after {next} messages: {e}"),
        }
    }
    join_within(sender, PATIENCE, "the sender");
    eprintln!("{next} messages, {waits} waits in epoll_wait");
    assert_eq!(next, count);
    assert!(waits > 0, "the receiver never had to wait");
}

/// A sender that only ever waits for room on its descriptor, on a tiny
/// ring; a plain receiver at random pace.
fn sender_waits_only_in_epoll<R: Ring>(options: CreateOptions)
where
    R::Sender: AsFd,
    R::Receiver: Send + 'static,
{
    let count = messages();
    let seed = seed();
    let _report = SeedReport(seed);
    let d = Daemon::start(None);
    let (mut tx, mut rx) = attach_both::<R>(&d, "wake-tx", &options);
    let receiver = thread::spawn(move || {
        let mut rng = Rng::new(!seed);
        let mut next = 0u64;
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(msg) => expect_next(&msg, &mut next),
                Err(RecvTimeoutError::Disconnected) => return next,
                Err(e) => panic!("after {next} messages: {e}"),
            }
            if rng.below(32) == 0 {
                rng.pause();
            }
        }
    });
    let epoll = Epoll::over(&tx, EventFlags::OUT);
    let mut waits = 0u64;
    for seq in 0..count {
        let msg = message(seq);
        loop {
            match tx.try_send(&msg) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) => {
                    assert!(
                        epoll.wait(WAKE_BOUND),
                        "lost wake-up: no room in {WAKE_BOUND:?} at message {seq}"
                    );
                    waits += 1;
                }
                Err(e) => panic!("message {seq}: {}", e.without_message()),
            }
        }
    }
    drop(tx);
    let got = join_within(receiver, PATIENCE, "the receiver");
    eprintln!("{got} messages, {waits} waits in epoll_wait");
    assert_eq!(got, count);
    assert!(waits > 0, "the sender never had to wait");
}

#[test]
fn broker_spsc_receiver_in_epoll_loses_no_wake_up() {
    receiver_waits_only_in_epoll::<Spsc>(CreateOptions::spsc(4096));
}

#[test]
fn broker_mpmc_receiver_in_epoll_loses_no_wake_up() {
    receiver_waits_only_in_epoll::<Mpmc>(CreateOptions::mpmc(16, 64));
}

#[test]
fn broker_spsc_sender_in_epoll_loses_no_wake_up() {
    sender_waits_only_in_epoll::<Spsc>(CreateOptions::spsc(256));
}

#[test]
fn broker_mpmc_sender_in_epoll_loses_no_wake_up() {
    sender_waits_only_in_epoll::<Mpmc>(CreateOptions::mpmc(4, 64));
}

// ---------------------------------------------------------------------------
// End of file when a sender attached through the daemon is killed.

/// `shmring send NAME` (a sender attached through the daemon) with its
/// stdin held open; killed and reaped on drop.
struct LineSender {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
}

impl LineSender {
    fn spawn(d: &Daemon, name: &str) -> LineSender {
        let mut child = Command::new(SHMRING)
            .arg("--socket")
            .arg(&d.socket)
            .args(["send", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn shmring send");
        let stdin = child.stdin.take();
        LineSender { child, stdin }
    }

    fn send_lines(&mut self, lines: &[&str]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        for line in lines {
            writeln!(stdin, "{line}").expect("write to shmring send");
        }
        stdin.flush().unwrap();
    }

    /// SIGKILL, then waits (bounded) until it has exited, so that the
    /// kernel has closed its descriptors.
    fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        wait_timeout(&mut self.child, EOF_BOUND).expect("shmring send did not die");
    }
}

impl Drop for LineSender {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn killing_the_sender_process_hangs_up_the_receiver<R: Ring>(options: CreateOptions)
where
    R::Receiver: AsFd,
{
    let d = Daemon::start(None);
    d.client()
        .open_ring::<R>("eof", shmring::OpenMode::Create, &options)
        .expect("create through the daemon");
    let mut rx = d.client().attach_receiver::<R>("eof").unwrap();
    let _ = rx.as_fd();
    assert_eq!(no_message(rx.try_recv()), TryRecvError::Empty);
    let mut sender = LineSender::spawn(&d, "eof");
    sender.send_lines(&["one", "two", "three"]);
    // Received the descriptor way.
    let mut got = Vec::new();
    while got.len() < 3 {
        let empty = match rx.try_recv() {
            Ok(msg) => {
                got.push(String::from_utf8_lossy(&msg).into_owned());
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(e) => panic!("after {got:?}: {e}"),
        };
        if empty {
            let r = poll_one(&rx, PollFlags::IN, WAKE_BOUND);
            assert!(!r.is_empty(), "lost wake-up after {got:?}");
        }
    }
    assert_eq!(got, ["one", "two", "three"]);
    assert_eq!(no_message(rx.try_recv()), TryRecvError::Empty);
    sender.send_lines(&["four"]);
    // Not received before the kill: delivered before end of file.
    let r = poll_one(&rx, PollFlags::IN, WAKE_BOUND);
    assert!(r.contains(PollFlags::IN), "{r:?}");
    sender.kill9();
    let r = poll_one(&rx, PollFlags::IN, EOF_BOUND);
    assert!(
        r.contains(PollFlags::HUP),
        "no hang-up within {EOF_BOUND:?} of the kill: {r:?}"
    );
    assert_eq!(&*rx.try_recv().unwrap(), b"four");
    assert_eq!(no_message(rx.try_recv()), TryRecvError::Disconnected);
}

#[test]
fn broker_spsc_killing_the_producer_process_hangs_up_the_consumer() {
    killing_the_sender_process_hangs_up_the_receiver::<Spsc>(CreateOptions::spsc(4096));
}

#[test]
fn broker_mpmc_killing_the_sender_process_hangs_up_the_receiver() {
    killing_the_sender_process_hangs_up_the_receiver::<Mpmc>(CreateOptions::mpmc(16, 64));
}

// ---------------------------------------------------------------------------
// Descriptors.

#[test]
fn broker_endpoint_and_doorbell_descriptors_are_close_on_exec() {
    fn cloexec(what: &str, fd: impl AsFd) {
        let flags = rustix::io::fcntl_getfd(&fd).expect("F_GETFD");
        assert!(flags.contains(FdFlags::CLOEXEC), "{what}: {flags:?}");
    }
    let d = Daemon::start(None);
    let mut client: BrokerClient = d.client();
    let spsc = client
        .create_spsc("c-spsc", &CreateOptions::spsc(4096))
        .unwrap();
    cloexec("spsc data doorbell", spsc.doorbells().data_fd());
    cloexec("spsc room doorbell", spsc.doorbells().room_fd());
    let (tx, rx) = attach_both::<Mpmc>(&d, "c-mpmc", &CreateOptions::mpmc(16, 64));
    cloexec("mpmc sender", &tx);
    cloexec("mpmc receiver", &rx);
    let producer = client.attach_sender::<Spsc>("c-spsc").unwrap();
    let consumer = client.attach_receiver::<Spsc>("c-spsc").unwrap();
    cloexec("producer", &producer);
    cloexec("consumer", &consumer);
}
