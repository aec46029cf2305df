//! Readiness descriptors (issue 15): every endpoint can be waited on with
//! poll/epoll, never misses a wake-up when its user follows the rule
//! ("`try_*` until empty or full, then wait on the descriptor"), reports
//! end of file like a pipe, and stands up to peers that misuse the
//! doorbells.
//!
//! Every wait has a bound: a wait that runs out is a failure (for the
//! wake-up tests, a lost wake-up), never a hang. The random tests print
//! their seed when they fail; `SHMRING_SEED=N` replays one.
// The sync-shim rule (clippy.toml) is for the library, which loom swaps.
#![allow(clippy::disallowed_types)]

mod common;

use common::{Name, PATIENCE, Peer};
use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::{Errno, FdFlags};
use shmring::prelude::*;
use shmring::{
    AnyReceiver, AnyRing, Events, Interest, MpmcBuilder, Poller, RecvTimeoutError, SpscBuilder,
    TryRecvError, TrySendError,
};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a waiter that follows the rule may wait for a wake-up that
/// must come: running out means the wake-up was lost.
const WAKE_BOUND: Duration = Duration::from_secs(10);

/// How long end of file may take to show on a descriptor after the peer
/// was killed (a liveness bound, not a benchmark: death is noticed within
/// one liveness interval, about 100 ms).
const EOF_BOUND: Duration = Duration::from_secs(5);

/// How long a `try_*` call waits for a hung-up peer's liveness to follow
/// (the library's `EXIT_SETTLE`).
const EXIT_SETTLE: Duration = Duration::from_millis(100);

/// Messages per wake-up test: fewer on CI.
fn messages() -> u64 {
    if std::env::var_os("CI").is_some() {
        200_000
    } else {
        1_000_000
    }
}

// ---------------------------------------------------------------------------
// Helpers: random pace, checked messages, bounded waits.

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

/// Message `seq` of sender `id`: id, sequence, a filler whose length
/// varies with the sequence, and a checksum over all of it (the format of
/// the test peer's `mpmc-produce`, `pace-send` and `send-hold`).
fn message(id: u32, seq: u64) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&id.to_le_bytes());
    msg.extend_from_slice(&seq.to_le_bytes());
    let filler = (seq % 37) as usize;
    msg.extend((0..filler).map(|i| (seq as u8).wrapping_add(i as u8)));
    let sum = checksum(&msg);
    msg.extend_from_slice(&sum.to_le_bytes());
    msg
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Checks a message's checksum and bytes; returns (id, sequence).
fn parse(msg: &[u8]) -> (u32, u64) {
    assert!(msg.len() >= 20, "short message ({} bytes)", msg.len());
    let (body, sum) = msg.split_at(msg.len() - 8);
    assert_eq!(checksum(body).to_le_bytes(), sum, "checksum mismatch");
    let id = u32::from_le_bytes(body[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(body[4..12].try_into().unwrap());
    assert_eq!(
        msg,
        message(id, seq).as_slice(),
        "message {id}/{seq} is torn"
    );
    (id, seq)
}

/// Checks that `msg` is message `next` of sender `id` and counts it.
fn expect_next(msg: &[u8], id: u32, next: &mut u64) {
    assert_eq!(parse(msg), (id, *next), "out of order or foreign message");
    *next += 1;
}

/// Sends messages `0..count` of sender `id` in random bursts with random
/// pauses, each send blocking (bounded) while the ring is full.
fn send_paced(tx: &mut impl MessageSender, id: u32, count: u64, rng: &mut Rng) {
    let mut seq = 0;
    while seq < count {
        let burst = (1 + rng.below(64)).min(count - seq);
        for _ in 0..burst {
            tx.send_timeout(&message(id, seq), PATIENCE)
                .unwrap_or_else(|e| panic!("message {seq}: {}", e.without_message()));
            seq += 1;
        }
        rng.pause();
    }
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

/// A bare epoll instance, as an event loop would hold one.
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> Epoll {
        Epoll(epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create1"))
    }

    fn add(&self, fd: impl AsFd, flags: EventFlags, key: u64) {
        epoll::add(&self.0, fd, EventData::new_u64(key), flags).expect("epoll_ctl");
    }

    /// `epoll_wait(2)` for at most `timeout`: the ready keys and flags
    /// (empty on timeout).
    fn wait(&self, timeout: Duration) -> Vec<(u64, EventFlags)> {
        let deadline = Instant::now() + timeout;
        let mut buf = Vec::with_capacity(8);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            buf.clear();
            match epoll::wait(&self.0, spare_capacity(&mut buf), Some(&timespec(left))) {
                Ok(_) => break,
                Err(Errno::INTR) => continue,
                Err(e) => panic!("epoll_wait: {e}"),
            }
        }
        buf.iter()
            .map(|e| {
                let flags = e.flags;
                (e.data.u64(), flags)
            })
            .collect()
    }
}

/// Receives messages of sender `id` in order, the descriptor way only:
/// `try_recv` until Empty, then `epoll_wait`; until end of file. Returns
/// how many came.
fn receive_by_epoll(rx: &mut AnyReceiver, epoll: &Epoll, id: u32) -> u64 {
    let mut next = 0u64;
    let mut waits = 0u64;
    loop {
        match rx.try_recv() {
            Ok(msg) => expect_next(&msg, id, &mut next),
            Err(TryRecvError::Empty) => {
                if epoll.wait(WAKE_BOUND).is_empty() {
                    panic!("lost wake-up: no event in {WAKE_BOUND:?} after {next} messages");
                }
                waits += 1;
            }
            Err(TryRecvError::Disconnected) => break,
            Err(e) => panic!("after {next} messages: {e}"),
        }
    }
    eprintln!("{next} messages, {waits} waits in epoll_wait");
    // The sender's pauses leave the ring empty now and then: the
    // receiver must have waited, or the test tested nothing.
    assert!(waits > 0, "the receiver never had to wait");
    next
}

fn spsc(name: &Name, capacity: u64) -> AnyRing {
    SpscBuilder::new()
        .capacity(capacity)
        .create(name)
        .expect("create spsc")
        .into()
}

fn mpmc(name: &Name, slots: u64) -> AnyRing {
    MpmcBuilder::new()
        .slots(slots)
        .slot_size(64)
        .create(name)
        .expect("create mpmc")
        .into()
}

/// The files of a named ring's doorbells in `/dev/shm`, found by the id
/// its header keeps (a u64 at byte 80).
fn bell_files(name: &Name) -> (u64, Vec<String>) {
    let header = std::fs::read(name.path()).expect("read the segment");
    let id = u64::from_le_bytes(header[80..88].try_into().unwrap());
    assert_ne!(id, 0, "a named ring has a doorbell id");
    (id, bells_with_id(id))
}

fn bells_with_id(id: u64) -> Vec<String> {
    let tail = format!("{id:016x}.");
    let mut found: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("list /dev/shm")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".shmring-") && n.contains(&tail) && n.ends_with("-bell"))
        .collect();
    found.sort();
    found
}

/// A child process, killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

// ---------------------------------------------------------------------------
// 1. No lost wake-up.

/// A sender at random pace, and a receiver that only ever waits in
/// `epoll_wait` on its descriptor: every message comes, in order.
fn receiver_waits_only_in_epoll(ring: AnyRing) {
    let count = messages();
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rx = ring.receiver().unwrap();
    let mut tx = ring.sender().unwrap();
    let sender = thread::spawn(move || send_paced(&mut tx, 1, count, &mut Rng::new(seed)));
    let epoll = Epoll::new();
    epoll.add(&rx, EventFlags::IN, 0);
    let got = receive_by_epoll(&mut rx, &epoll, 1);
    join_within(sender, PATIENCE, "the sender");
    assert_eq!(got, count);
}

/// A sender that only ever waits in `epoll_wait` (writable) on a tiny
/// ring, and a plain receiver at random pace: every message comes.
fn sender_waits_only_in_epoll(ring: AnyRing) {
    let count = messages();
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rx = ring.receiver().unwrap();
    let mut tx = ring.sender().unwrap();
    let receiver = thread::spawn(move || {
        let mut rng = Rng::new(!seed);
        let mut next = 0u64;
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(msg) => expect_next(&msg, 2, &mut next),
                Err(RecvTimeoutError::Disconnected) => return next,
                Err(e) => panic!("after {next} messages: {e}"),
            }
            if rng.below(32) == 0 {
                rng.pause();
            }
        }
    });
    let epoll = Epoll::new();
    epoll.add(&tx, EventFlags::OUT, 0);
    let mut waits = 0u64;
    for seq in 0..count {
        let msg = message(2, seq);
        loop {
            match tx.try_send(&msg) {
                Ok(()) => break,
                Err(TrySendError::Full(_)) => {
                    assert!(
                        !epoll.wait(WAKE_BOUND).is_empty(),
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
    // The ring is tiny: the sender must have waited, or the test tested
    // nothing.
    assert!(waits > 0, "the sender never had to wait");
}

#[test]
fn no_lost_wake_up_for_a_receiver_in_epoll_spsc() {
    let name = Name::new("wake-rx-spsc");
    receiver_waits_only_in_epoll(spsc(&name, 4096));
}

#[test]
fn no_lost_wake_up_for_a_receiver_in_epoll_mpmc() {
    let name = Name::new("wake-rx-mpmc");
    receiver_waits_only_in_epoll(mpmc(&name, 16));
}

#[test]
fn no_lost_wake_up_for_a_sender_in_epoll_spsc() {
    let name = Name::new("wake-tx-spsc");
    sender_waits_only_in_epoll(spsc(&name, 256));
}

#[test]
fn no_lost_wake_up_for_a_sender_in_epoll_mpmc() {
    let name = Name::new("wake-tx-mpmc");
    sender_waits_only_in_epoll(mpmc(&name, 4));
}

/// The sender is another process (`pace-send`); the receiver only waits
/// in `epoll_wait`, and sees end of file when the sender exits.
fn receiver_in_epoll_sender_in_another_process(ring: AnyRing, name: &Name) {
    let count = messages() / 2;
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rx = ring.receiver().unwrap();
    let epoll = Epoll::new();
    epoll.add(&rx, EventFlags::IN, 0);
    let (count_arg, seed_arg) = (count.to_string(), seed.to_string());
    let peer = Peer::spawn(&["pace-send", name, "7", &count_arg, &seed_arg]);
    let got = receive_by_epoll(&mut rx, &epoll, 7);
    assert_eq!(peer.finish(), vec![format!("sent {count}")]);
    assert_eq!(got, count);
}

#[test]
fn no_lost_wake_up_across_processes_spsc() {
    let name = Name::new("wake-proc-spsc");
    receiver_in_epoll_sender_in_another_process(spsc(&name, 4096), &name);
}

#[test]
fn no_lost_wake_up_across_processes_mpmc() {
    let name = Name::new("wake-proc-mpmc");
    receiver_in_epoll_sender_in_another_process(mpmc(&name, 16), &name);
}

// ---------------------------------------------------------------------------
// 2. One Poller over many rings and foreign descriptors.

const RINGS: usize = 64;
const SENDER_THREADS: usize = 4;
const SOCKET_KEY: u64 = 1000;
const TIMER_KEY: u64 = 1001;

/// What the poller's thread and the senders share.
#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    received: AtomicU64,
    finished: AtomicUsize,
    /// A sender found messages left unreceived for `WAKE_BOUND`.
    lost: AtomicBool,
}

#[test]
fn one_poller_over_64_rings_a_socket_and_a_timer() {
    let ci = std::env::var_os("CI").is_some();
    let per_thread: u64 = if ci { 20_000 } else { 100_000 };
    let socket_bytes: usize = if ci { 1 << 20 } else { 4 << 20 };
    let seed = seed();
    let _report = SeedReport(seed);

    // Even rings SPSC, odd rings MPMC; small, so that senders wait too.
    let names: Vec<Name> = (0..RINGS).map(|i| Name::new(&format!("poll{i}"))).collect();
    let rings: Vec<AnyRing> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i % 2 == 0 {
                spsc(n, 1024)
            } else {
                mpmc(n, 8)
            }
        })
        .collect();
    let mut receivers: Vec<Option<AnyReceiver>> =
        rings.iter().map(|r| Some(r.receiver().unwrap())).collect();
    // Each SPSC ring's producer belongs to one thread; every thread has a
    // sender on every MPMC ring.
    let mut mine: Vec<Vec<(usize, shmring::AnySender)>> =
        (0..SENDER_THREADS).map(|_| Vec::new()).collect();
    for (i, ring) in rings.iter().enumerate() {
        for (t, list) in mine.iter_mut().enumerate() {
            if i % 2 == 1 || (i / 2) % SENDER_THREADS == t {
                list.push((i, ring.sender().unwrap()));
            }
        }
    }

    let progress = Arc::new(Progress::default());
    let senders: Vec<_> = mine
        .into_iter()
        .enumerate()
        .map(|(t, mut mine)| {
            let progress = Arc::clone(&progress);
            thread::spawn(move || {
                let mut rng = Rng::new(seed ^ ((t as u64 + 1) << 32));
                let mut seqs = vec![0u64; mine.len()];
                let mut sent = 0;
                while sent < per_thread {
                    let j = rng.below(mine.len() as u64) as usize;
                    let burst = (1 + rng.below(16)).min(per_thread - sent);
                    for _ in 0..burst {
                        let (ring, tx) = &mut mine[j];
                        tx.send_timeout(&message(t as u32, seqs[j]), PATIENCE)
                            .unwrap_or_else(|e| {
                                panic!("thread {t} ring {ring}: {}", e.without_message())
                            });
                        seqs[j] += 1;
                        sent += 1;
                        progress.sent.fetch_add(1, Ordering::SeqCst);
                    }
                    rng.pause();
                }
                // Keep the senders until everything sent was received: a
                // ring whose wake-up was lost keeps its messages, and end
                // of file must not be what delivers them.
                progress.finished.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + PATIENCE;
                while progress.finished.load(Ordering::SeqCst) < SENDER_THREADS {
                    assert!(
                        Instant::now() < deadline,
                        "the other senders never finished"
                    );
                    thread::sleep(Duration::from_millis(1));
                }
                let deadline = Instant::now() + WAKE_BOUND;
                while progress.received.load(Ordering::SeqCst)
                    < progress.sent.load(Ordering::SeqCst)
                {
                    if Instant::now() > deadline {
                        progress.lost.store(true, Ordering::SeqCst);
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                // Per ring: how many this thread sent to it.
                mine.iter()
                    .zip(&seqs)
                    .map(|((ring, _), n)| (*ring, *n))
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    let (reader, writer) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair");
    rustix::io::ioctl_fionbio(&reader, true).expect("non-blocking");
    let socket_writer = thread::spawn(move || {
        let mut writer = UnixStream::from(writer);
        let mut rng = Rng::new(seed ^ 0x50c4);
        let mut at = 0;
        while at < socket_bytes {
            let len = (1 + rng.below(8192) as usize).min(socket_bytes - at);
            let chunk: Vec<u8> = (at..at + len).map(|i| (i % 251) as u8).collect();
            writer.write_all(&chunk).expect("write to the socket");
            at += len;
            rng.pause();
        }
    });
    let timer = rustix::time::timerfd_create(
        rustix::time::TimerfdClockId::Monotonic,
        rustix::time::TimerfdFlags::NONBLOCK | rustix::time::TimerfdFlags::CLOEXEC,
    )
    .expect("timerfd_create");
    let period = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000,
    };
    rustix::time::timerfd_settime(
        &timer,
        rustix::time::TimerfdTimerFlags::empty(),
        &rustix::time::Itimerspec {
            it_interval: period,
            it_value: period,
        },
    )
    .expect("timerfd_settime");

    let mut poller = Poller::new().unwrap();
    for (i, rx) in receivers.iter().enumerate() {
        poller.add(rx.as_ref().unwrap(), i as u64).unwrap();
    }
    poller
        .add_fd(&reader, Interest::READABLE, SOCKET_KEY)
        .unwrap();
    poller
        .add_fd(&timer, Interest::READABLE, TIMER_KEY)
        .unwrap();

    // next[ring][thread]: the sequence expected next.
    let mut next = vec![[0u64; SENDER_THREADS]; RINGS];
    let mut open_rings = RINGS;
    let mut socket_open = true;
    let mut socket_seen = 0usize;
    let mut ticks = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let mut events = Events::new();
    while open_rings > 0 || socket_open {
        poller.wait(&mut events, Some(WAKE_BOUND)).unwrap();
        assert!(!events.is_empty(), "nothing ready for {WAKE_BOUND:?}");
        for event in events.iter() {
            match event.key {
                TIMER_KEY => {
                    let mut expirations = [0u8; 8];
                    match rustix::io::read(&timer, &mut expirations) {
                        Ok(8) => ticks += u64::from_ne_bytes(expirations),
                        Ok(n) => panic!("timerfd read {n} bytes"),
                        Err(Errno::AGAIN) => {}
                        Err(e) => panic!("timerfd: {e}"),
                    }
                }
                SOCKET_KEY if socket_open => loop {
                    match rustix::io::read(&reader, &mut buf) {
                        Ok(0) => {
                            poller.remove(&reader).unwrap();
                            socket_open = false;
                            break;
                        }
                        Ok(n) => {
                            for (k, b) in buf[..n].iter().enumerate() {
                                assert_eq!(*b, ((socket_seen + k) % 251) as u8, "socket byte");
                            }
                            socket_seen += n;
                        }
                        Err(Errno::AGAIN) => break,
                        Err(Errno::INTR) => {}
                        Err(e) => panic!("socket: {e}"),
                    }
                },
                SOCKET_KEY => {}
                key => {
                    let i = key as usize;
                    let Some(rx) = receivers[i].as_mut() else {
                        continue;
                    };
                    // The rule: receive until Empty (which arms again).
                    let stop = loop {
                        let msg = match rx.try_recv() {
                            Ok(msg) => parse(&msg),
                            Err(stop) => break stop,
                        };
                        let (t, seq) = (msg.0 as usize, msg.1);
                        assert!(t < SENDER_THREADS, "ring {i}: sender {t}?");
                        assert_eq!(seq, next[i][t], "ring {i}, sender {t}: order");
                        next[i][t] += 1;
                        progress.received.fetch_add(1, Ordering::SeqCst);
                    };
                    match stop {
                        TryRecvError::Empty => {}
                        TryRecvError::Disconnected => {
                            poller.remove(&*rx).unwrap();
                            receivers[i] = None;
                            open_rings -= 1;
                        }
                        e => panic!("ring {i}: {e}"),
                    }
                }
            }
        }
    }

    join_within(socket_writer, PATIENCE, "the socket writer");
    let mut sent = vec![[0u64; SENDER_THREADS]; RINGS];
    for (t, handle) in senders.into_iter().enumerate() {
        for (ring, n) in join_within(handle, PATIENCE, "a sender") {
            sent[ring][t] = n;
        }
    }
    assert!(
        !progress.lost.load(Ordering::SeqCst),
        "lost wake-up: messages stayed unreceived for {WAKE_BOUND:?} while every sender lived"
    );
    assert_eq!(next, sent, "per ring and sender: received vs sent");
    assert_eq!(
        sent.iter().flatten().sum::<u64>(),
        per_thread * SENDER_THREADS as u64
    );
    assert_eq!(socket_seen, socket_bytes);
    assert!(ticks > 0, "the timer never ticked");
}

// ---------------------------------------------------------------------------
// 3. End of file on the descriptor.

/// A sender in another process sends five messages and is killed: the
/// receiver's descriptor hangs up within the bound, and `try_recv` gives
/// what was sent, then `Disconnected`.
fn eof_when_the_sending_process_is_killed(ring: AnyRing, name: &Name, drain_first: bool) {
    let mut rx = ring.receiver().unwrap();
    let _ = rx.as_fd();
    let mut peer = Peer::spawn(&["send-hold", name, "3", "5"]);
    peer.expect("sent 5");
    let mut next = 0u64;
    if drain_first {
        loop {
            match rx.try_recv() {
                Ok(msg) => expect_next(&msg, 3, &mut next),
                Err(TryRecvError::Empty) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(next, 5);
        // Armed, the sender alive and quiet: nothing to report.
        let idle = poll_one(&rx, PollFlags::IN, Duration::from_millis(100));
        assert!(
            idle.is_empty(),
            "{idle:?} while the sender lives and is quiet"
        );
    }
    peer.kill9();
    let revents = poll_one(&rx, PollFlags::IN, EOF_BOUND);
    assert!(
        revents.contains(PollFlags::HUP),
        "no hang-up within {EOF_BOUND:?} of the kill: {revents:?}"
    );
    loop {
        match rx.try_recv() {
            Ok(msg) => expect_next(&msg, 3, &mut next),
            Err(TryRecvError::Disconnected) => break,
            Err(e) => panic!("after the hang-up, {next} messages: {e}"),
        }
    }
    assert_eq!(next, 5, "what was sent before the kill");
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

#[test]
fn killing_the_producer_process_hangs_up_the_consumer_descriptor() {
    for drain_first in [true, false] {
        let name = Name::new("eof-kill-spsc");
        eof_when_the_sending_process_is_killed(spsc(&name, 4096), &name, drain_first);
    }
}

#[test]
fn killing_the_last_sender_process_hangs_up_the_receiver_descriptor() {
    for drain_first in [true, false] {
        let name = Name::new("eof-kill-mpmc");
        eof_when_the_sending_process_is_killed(mpmc(&name, 16), &name, drain_first);
    }
}

/// A receiver in another process is killed while the ring is full and
/// the sender waits for room on its descriptor: the descriptor reports
/// (an error or writable) within the bound, and `try_send` then gives
/// `Disconnected`.
fn epipe_when_the_receiving_process_is_killed(ring: AnyRing, hold: &[&str]) {
    let mut tx = ring.sender().unwrap();
    let mut peer = Peer::spawn(hold);
    peer.expect("ready");
    let _ = tx.as_fd();
    let mut sent = 0;
    loop {
        match tx.try_send(&message(4, sent)) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full(_)) => break,
            Err(e) => panic!("{}", e.without_message()),
        }
    }
    assert!(sent > 0);
    let idle = poll_one(&tx, PollFlags::OUT, Duration::from_millis(100));
    assert!(
        idle.is_empty(),
        "{idle:?} on a full ring with a live receiver"
    );
    peer.kill9();
    let revents = poll_one(&tx, PollFlags::OUT, EOF_BOUND);
    assert!(
        revents.intersects(PollFlags::ERR | PollFlags::OUT),
        "nothing within {EOF_BOUND:?} of the kill: {revents:?}"
    );
    assert!(matches!(
        tx.try_send(b"late"),
        Err(TrySendError::Disconnected(_))
    ));
}

#[test]
fn killing_the_consumer_process_wakes_a_producer_waiting_for_room() {
    let name = Name::new("epipe-kill-spsc");
    epipe_when_the_receiving_process_is_killed(spsc(&name, 256), &["hold-consumer", &name]);
}

#[test]
fn killing_the_last_receiver_process_wakes_a_sender_waiting_for_room() {
    let name = Name::new("epipe-kill-mpmc");
    epipe_when_the_receiving_process_is_killed(mpmc(&name, 4), &["mpmc-hold-receiver", &name]);
}

/// A dying process lets its files go one at a time, so its doorbell can
/// hang up while its liveness lock is still held (for a moment; the peer
/// here keeps it 5 ms, well inside the 100 ms a `try_*` call waits). A
/// `try_*` call after that hang-up waits the moment out and says
/// `Disconnected`, never `Empty` or `Full`, which a level-triggered poll
/// would turn into a busy loop. (CI caught the race with a real kill
/// about once in twenty runs.) A peer stalled past the whole wait (seen
/// once on a loaded 2-core CI machine) gets `Full` after the full 100 ms,
/// as documented, and `Disconnected` once it has exited.
fn hang_up_before_the_lock_is_free(ring: AnyRing, name: &Name) {
    let mut rx = ring.receiver().unwrap();
    let _ = rx.as_fd();
    let mut peer = Peer::spawn(&["bells-closed-first", name, "sender", "5"]);
    peer.expect("bells closed");
    let revents = poll_one(&rx, PollFlags::IN, EOF_BOUND);
    assert!(revents.contains(PollFlags::HUP), "{revents:?}");
    assert_eq!(&*rx.try_recv().unwrap(), b"last");
    let start = Instant::now();
    let mut stop = rx.try_recv().unwrap_err();
    if stop == TryRecvError::Empty && start.elapsed() >= EXIT_SETTLE {
        peer.wait_exited();
        stop = rx.try_recv().unwrap_err();
    }
    assert_eq!(stop, TryRecvError::Disconnected);
    drop(rx);

    let mut tx = ring.sender().unwrap();
    let _ = tx.as_fd();
    let mut peer = Peer::spawn(&["bells-closed-first", name, "receiver", "5"]);
    peer.expect("bells closed");
    let mut sent = 0u64;
    let stop = loop {
        let start = Instant::now();
        match tx.try_send(&message(5, sent)) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full(_)) if start.elapsed() >= EXIT_SETTLE => {
                peer.wait_exited();
                break tx.try_send(b"late").unwrap_err().without_message();
            }
            Err(e) => break e.without_message(),
        }
    };
    assert_eq!(
        stop,
        TrySendError::Disconnected(()),
        "after {sent} messages"
    );
    let revents = poll_one(&tx, PollFlags::OUT, Duration::ZERO);
    assert!(revents.contains(PollFlags::ERR), "{revents:?}");
}

#[test]
fn spsc_hang_up_before_the_lock_is_free_is_end_of_file() {
    let name = Name::new("hup-first-spsc");
    hang_up_before_the_lock_is_free(spsc(&name, 256), &name);
}

#[test]
fn mpmc_hang_up_before_the_lock_is_free_is_end_of_file() {
    let name = Name::new("hup-first-mpmc");
    hang_up_before_the_lock_is_free(mpmc(&name, 4), &name);
}

#[test]
fn dropping_the_producer_hangs_up_the_consumer_descriptor() {
    let name = Name::new("eof-drop-spsc");
    let ring = SpscBuilder::new().capacity(4096).create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut producer = ring.producer().unwrap();
    let _ = consumer.as_fd();
    assert_eq!(consumer.try_recv().unwrap_err(), TryRecvError::Empty);
    let mut poller = Poller::new().unwrap();
    poller.add(&consumer, 3).unwrap();
    let mut events = Events::new();
    poller.wait(&mut events, Some(WAKE_BOUND)).unwrap();
    assert_eq!(consumer.try_recv().unwrap_err(), TryRecvError::Empty);
    producer.send(b"last words").unwrap();
    drop(producer);
    let revents = poll_one(&consumer, PollFlags::IN, EOF_BOUND);
    assert!(revents.contains(PollFlags::HUP), "{revents:?}");
    // The Poller says so too.
    poller.wait(&mut events, Some(EOF_BOUND)).unwrap();
    let event = events.iter().next().copied();
    assert!(
        event.is_some_and(|e| e.key == 3 && e.readable && e.hangup),
        "{event:?}"
    );
    assert_eq!(&*consumer.try_recv().unwrap(), b"last words");
    assert_eq!(consumer.try_recv().unwrap_err(), TryRecvError::Disconnected);
    // End of file stays: the descriptor keeps saying so.
    let again = poll_one(&consumer, PollFlags::IN, Duration::ZERO);
    assert!(again.contains(PollFlags::HUP), "{again:?}");
}

#[test]
fn dropping_the_last_sender_hangs_up_the_receiver_descriptor() {
    let name = Name::new("eof-drop-mpmc");
    let queue = MpmcBuilder::new().slots(16).create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let first = queue.sender().unwrap();
    let second = queue.sender().unwrap();
    let _ = receiver.as_fd();
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    first.send(b"one").unwrap();
    second.send(b"two").unwrap();
    drop(first);
    // One sender is left: readable, not hung up.
    let revents = poll_one(&receiver, PollFlags::IN, EOF_BOUND);
    assert_eq!(revents, PollFlags::IN);
    assert_eq!(&*receiver.try_recv().unwrap(), b"one");
    drop(second);
    let revents = poll_one(&receiver, PollFlags::IN, EOF_BOUND);
    assert!(revents.contains(PollFlags::HUP), "{revents:?}");
    assert_eq!(&*receiver.try_recv().unwrap(), b"two");
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

#[test]
fn a_receiver_waiting_before_any_sender_came_is_not_hung_up() {
    let name = Name::new("nohup-spsc");
    let ring = SpscBuilder::new().capacity(4096).create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let _ = consumer.as_fd();
    assert_eq!(consumer.try_recv().unwrap_err(), TryRecvError::Empty);
    let idle = poll_one(&consumer, PollFlags::IN, Duration::from_millis(100));
    assert!(idle.is_empty(), "{idle:?} before any producer came");
    // A producer that comes later rings it.
    let mut producer = ring.producer().unwrap();
    producer.send(b"first").unwrap();
    let revents = poll_one(&consumer, PollFlags::IN, WAKE_BOUND);
    assert_eq!(revents, PollFlags::IN);
    assert_eq!(&*consumer.try_recv().unwrap(), b"first");

    let name = Name::new("nohup-mpmc");
    let queue = MpmcBuilder::new().slots(16).create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let _ = receiver.as_fd();
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    let idle = poll_one(&receiver, PollFlags::IN, Duration::from_millis(100));
    assert!(idle.is_empty(), "{idle:?} before any sender came");
    // Through a Poller as well: reported once when added, then quiet.
    let mut poller = Poller::new().unwrap();
    poller.add(&receiver, 9).unwrap();
    let mut events = Events::new();
    poller.wait(&mut events, Some(WAKE_BOUND)).unwrap();
    assert_eq!(events.len(), 1, "a fresh endpoint is reported once");
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    poller
        .wait(&mut events, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(events.is_empty(), "{:?}", events.iter().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// 5. Bad input.

/// A hostile process writes into the receivers' doorbell without pause:
/// the receiver still gets every message in order, each `try_recv`
/// returns, and the sender is never held up by the full doorbell.
fn a_flooded_doorbell_loses_nothing(ring: AnyRing, name: &Name) {
    let count = messages() / 10;
    let seed = seed();
    let _report = SeedReport(seed);
    let mut rx = ring.receiver().unwrap();
    let epoll = Epoll::new();
    epoll.add(&rx, EventFlags::IN, 0);
    let (_, bells) = bell_files(name);
    let data = bells
        .iter()
        .find(|b| b.ends_with(".data-bell"))
        .expect("the data doorbell");
    let path = format!("/dev/shm/{data}");
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    let flooder = Reaped(
        Command::new("sh")
            .args(["-c", "exec cat /dev/zero > \"$0\"", &path])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the flooder"),
    );
    // The flood is on: the descriptor is readable with nothing sent.
    assert!(
        !epoll.wait(WAKE_BOUND).is_empty(),
        "the flooder never wrote"
    );
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    let mut tx = ring.sender().unwrap();
    let sender = thread::spawn(move || send_paced(&mut tx, 5, count, &mut Rng::new(seed)));
    let mut next = 0u64;
    let mut wakes = 0u64;
    let mut slowest = Duration::ZERO;
    while next < count {
        let start = Instant::now();
        let got = rx.try_recv().map(|msg| expect_next(&msg, 5, &mut next));
        slowest = slowest.max(start.elapsed());
        match got {
            Ok(()) => {}
            Err(TryRecvError::Empty) => {
                assert!(
                    !epoll.wait(WAKE_BOUND).is_empty(),
                    "lost wake-up after {next} messages"
                );
                wakes += 1;
            }
            Err(e) => panic!("after {next} messages: {e}"),
        }
    }
    join_within(sender, PATIENCE, "the sender");
    // The flooder is a writer of the doorbell: while it lives there is no
    // end of file to see; once it is gone, there is.
    drop(flooder);
    let revents = poll_one(&rx, PollFlags::IN, EOF_BOUND);
    assert!(revents.contains(PollFlags::HUP), "{revents:?}");
    loop {
        match rx.try_recv() {
            Ok(msg) => panic!("an extra message of {} bytes", msg.len()),
            Err(TryRecvError::Empty) => {
                assert!(!epoll.wait(EOF_BOUND).is_empty(), "no end of file");
            }
            Err(TryRecvError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(slowest < EOF_BOUND, "a try_recv took {slowest:?}");
    eprintln!("{count} messages, {wakes} wake-ups, slowest try_recv {slowest:?}");
}

#[test]
fn a_flooded_doorbell_loses_nothing_spsc() {
    let name = Name::new("flood-spsc");
    a_flooded_doorbell_loses_nothing(spsc(&name, 4096), &name);
}

#[test]
fn a_flooded_doorbell_loses_nothing_mpmc() {
    let name = Name::new("flood-mpmc");
    a_flooded_doorbell_loses_nothing(mpmc(&name, 16), &name);
}

/// A receiver armed once, then idle (it never polls nor drains its
/// doorbell, which a hostile peer has filled besides): the sender's
/// 100,000 `try_send`s all succeed at once, and the receiver gets them all
/// later.
fn an_idle_armed_receiver_never_blocks_the_sender(ring: AnyRing, name: &Name) {
    const COUNT: u64 = 100_000;
    let mut rx = ring.receiver().unwrap();
    let _ = rx.as_fd();
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    let (_, bells) = bell_files(name);
    let data = bells.iter().find(|b| b.ends_with(".data-bell")).unwrap();
    let hostile = rustix::fs::open(
        format!("/dev/shm/{data}"),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open the doorbell");
    let chunk = [0u8; 4096];
    while rustix::io::write(&hostile, &chunk).is_ok() {}
    let mut tx = ring.sender().unwrap();
    let sender = thread::spawn(move || {
        for seq in 0..COUNT {
            if let Err(e) = tx.try_send(&message(6, seq)) {
                panic!("message {seq}: {}", e.without_message());
            }
        }
    });
    join_within(sender, PATIENCE, "the sender");
    let revents = poll_one(&rx, PollFlags::IN, Duration::ZERO);
    assert!(revents.contains(PollFlags::IN), "{revents:?}");
    let mut next = 0;
    while next < COUNT {
        let msg = rx
            .try_recv()
            .unwrap_or_else(|e| panic!("after {next}: {e}"));
        expect_next(&msg, 6, &mut next);
    }
    drop(hostile);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

#[test]
fn an_idle_armed_receiver_never_blocks_the_sender_spsc() {
    let name = Name::new("idle-spsc");
    an_idle_armed_receiver_never_blocks_the_sender(spsc(&name, 8 << 20), &name);
}

#[test]
fn an_idle_armed_receiver_never_blocks_the_sender_mpmc() {
    let name = Name::new("idle-mpmc");
    an_idle_armed_receiver_never_blocks_the_sender(mpmc(&name, 1 << 17), &name);
}

/// A receiver that arms again and again but never waits on its
/// descriptor (it sleeps instead): a sender on a small ring, blocking
/// in `send` when full, still gets every message through.
#[test]
fn a_receiver_that_never_polls_never_blocks_the_sender() {
    const COUNT: u64 = 100_000;
    for kind in ["spsc", "mpmc"] {
        let name = Name::new("never-polls");
        let ring = if kind == "spsc" {
            spsc(&name, 1024)
        } else {
            mpmc(&name, 8)
        };
        let mut rx = ring.receiver().unwrap();
        let mut tx = ring.sender().unwrap();
        let receiver = thread::spawn(move || {
            let _ = rx.as_fd();
            let mut next = 0;
            loop {
                match rx.try_recv() {
                    Ok(msg) => expect_next(&msg, 8, &mut next),
                    Err(TryRecvError::Empty) => thread::sleep(Duration::from_micros(100)),
                    Err(TryRecvError::Disconnected) => return next,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let sender = thread::spawn(move || {
            for seq in 0..COUNT {
                tx.send_timeout(&message(8, seq), PATIENCE)
                    .unwrap_or_else(|e| panic!("message {seq}: {}", e.without_message()));
            }
        });
        join_within(sender, PATIENCE, "the sender");
        assert_eq!(join_within(receiver, PATIENCE, "the receiver"), COUNT);
    }
}

#[test]
fn endpoint_descriptors_are_close_on_exec() {
    fn cloexec(what: &str, fd: impl AsFd) {
        let flags = rustix::io::fcntl_getfd(&fd).expect("F_GETFD");
        assert!(flags.contains(FdFlags::CLOEXEC), "{what}: {flags:?}");
    }
    let name = Name::new("cloexec-spsc");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let (producer, consumer) = (ring.producer().unwrap(), ring.consumer().unwrap());
    cloexec("producer", &producer);
    cloexec("consumer", &consumer);
    let name = Name::new("cloexec-mpmc");
    let queue = MpmcBuilder::new().create(&name).unwrap();
    let (sender, receiver) = (queue.sender().unwrap(), queue.receiver().unwrap());
    cloexec("sender", &sender);
    cloexec("receiver", &receiver);
    let any = AnyRing::from(queue);
    let (any_sender, any_receiver) = (any.sender().unwrap(), any.receiver().unwrap());
    cloexec("any sender", &any_sender);
    cloexec("any receiver", &any_receiver);
    cloexec("poller", Poller::new().unwrap());
    // The doorbells a ring keeps (what a broker hands over).
    cloexec("data doorbell", any.doorbells().data_fd());
    cloexec("room doorbell", any.doorbells().room_fd());
    let bells = shmring::Doorbells::create().unwrap();
    cloexec("unnamed data doorbell", bells.data_fd());
    cloexec("unnamed room doorbell", bells.room_fd());
}

/// In another process with `RLIMIT_NOFILE` lowered, attaching or opening
/// fails with a doorbell error, nothing else; with the limit back, the
/// same process attaches and sends, and the ring works for everyone.
fn out_of_descriptors(ring: AnyRing, name: &Name) {
    let mut peer = Peer::spawn(&["fd-limit", name]);
    for what in ["attach-sender", "attach-receiver", "open"] {
        let mut results = Vec::new();
        for free in 0..8 {
            let line = peer.line(PATIENCE);
            let result = line
                .strip_prefix(&format!("{what} free={free}: "))
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .to_string();
            // "io": EMFILE from what comes before the doorbells (reading
            // the process's identity, opening the segment).
            assert!(
                ["ok", "doorbell", "io"].contains(&result.as_str()),
                "{what} with {free} free descriptors: {result}"
            );
            results.push(result);
        }
        eprintln!("{what}: {results:?}");
        assert!(
            results.iter().any(|r| r == "doorbell"),
            "{what}: none failed on its doorbells: {results:?}"
        );
        assert_eq!(
            results.last().map(String::as_str),
            Some("ok"),
            "{what}: {results:?}"
        );
    }
    assert_eq!(peer.finish(), vec!["received after".to_string()]);
    // The failed attachments left nothing behind: both roles attach here.
    let mut rx = ring.receiver().unwrap();
    let mut tx = ring.sender().unwrap();
    tx.send(b"still works").unwrap();
    assert_eq!(&*rx.recv_timeout(PATIENCE).unwrap(), b"still works");
}

#[test]
fn out_of_descriptors_attaching_fails_with_a_doorbell_error_spsc() {
    let name = Name::new("emfile-spsc");
    out_of_descriptors(spsc(&name, 4096), &name);
}

#[test]
fn out_of_descriptors_attaching_fails_with_a_doorbell_error_mpmc() {
    let name = Name::new("emfile-mpmc");
    out_of_descriptors(mpmc(&name, 16), &name);
}

// ---------------------------------------------------------------------------
// 6. Leftovers.

#[test]
fn unlinking_a_named_ring_removes_its_doorbells() {
    for kind in ["spsc", "mpmc"] {
        let name = Name::new("leftovers");
        let ring = if kind == "spsc" {
            spsc(&name, 4096)
        } else {
            mpmc(&name, 16)
        };
        let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
        let _ = (tx.as_fd(), rx.as_fd());
        let (id, bells) = bell_files(&name);
        assert_eq!(bells.len(), 2, "{kind}: {bells:?}");
        assert!(bells.iter().any(|b| b.ends_with(".data-bell")), "{bells:?}");
        assert!(bells.iter().any(|b| b.ends_with(".room-bell")), "{bells:?}");
        // Removed while endpoints still hold them, and after.
        shmring::unlink(&name).unwrap();
        assert_eq!(bells_with_id(id), Vec::<String>::new(), "{kind}");
        drop((tx, rx, ring));
        assert_eq!(bells_with_id(id), Vec::<String>::new(), "{kind}");
    }
}

// ---------------------------------------------------------------------------
// 7. A peer that dies holding a slot while another peer of its side lives
//    (the doorbell does not hang up then): a blocking waiter recovers
//    within one liveness interval, since it checks liveness while it
//    sleeps; a descriptor waiter has the watchdog ring its doorbell after
//    that interval, and reaps then.

#[test]
fn a_sender_dying_mid_message_wakes_a_receiver_waiting_behind_it() {
    let name = Name::new("dead-claimer");
    let queue = MpmcBuilder::new().slots(16).create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let live = queue.sender().unwrap();
    let _ = receiver.as_fd();
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    // Claims the next slot and hangs with it unpublished.
    let mut peer = Peer::spawn(&["mpmc-claim-and-hang", &name, "8"]);
    peer.expect("claimed");
    live.send(b"behind").unwrap();
    let revents = poll_one(&receiver, PollFlags::IN, WAKE_BOUND);
    assert!(revents.contains(PollFlags::IN), "{revents:?}");
    // The rule: the message waits behind the hanging slot, so Empty.
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    // While the claimer lives, the watchdog's re-checks find it alive.
    let _ = poll_one(&receiver, PollFlags::IN, Duration::from_millis(150));
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    peer.kill9();
    // The slot can be reaped now: the descriptor must say "look again".
    let revents = poll_one(&receiver, PollFlags::IN, EOF_BOUND);
    assert!(
        !revents.is_empty(),
        "no wake-up within {EOF_BOUND:?} of the claimer's death"
    );
    assert_eq!(&*receiver.try_recv().unwrap(), b"behind");
}

#[test]
fn a_receiver_dying_with_a_message_wakes_a_sender_waiting_for_its_slot() {
    let name = Name::new("dead-taker");
    let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
    let sender = queue.sender().unwrap();
    let live = queue.receiver().unwrap();
    sender.send(b"taken").unwrap();
    // Receives it and hangs without releasing the slot.
    let mut peer = Peer::spawn(&["mpmc-take-and-hang", &name]);
    peer.expect("holding taken");
    let _ = sender.as_fd();
    while sender.try_send(b"fill").is_ok() {}
    while live.try_recv().is_ok() {}
    // The next slot to send into is the one the peer holds.
    assert!(matches!(sender.try_send(b"x"), Err(TrySendError::Full(_))));
    // While the holder lives, the watchdog may make the descriptor ready
    // once per liveness interval (a re-check); the slot stays held.
    let _ = poll_one(&sender, PollFlags::OUT, Duration::from_millis(150));
    assert!(matches!(sender.try_send(b"x"), Err(TrySendError::Full(_))));
    peer.kill9();
    let revents = poll_one(&sender, PollFlags::OUT, EOF_BOUND);
    assert!(
        !revents.is_empty(),
        "no wake-up within {EOF_BOUND:?} of the holder's death"
    );
    sender.try_send(b"x").unwrap();
}
