//! Peer process for the integration tests: each subcommand plays one side
//! of a ring and reports on stdout. Not a user tool.
//!
//! ```text
//! shmring-testpeer produce NAME COUNT SEED MAX_LEN [batch|reserve|plain]
//! shmring-testpeer consume NAME COUNT SEED MAX_LEN [drain|guard|copy]
//! shmring-testpeer hold-producer NAME        # attach, print "ready", sleep until killed
//! shmring-testpeer hold-consumer NAME
//! shmring-testpeer send-one NAME TEXT        # send, drop, exit
//! shmring-testpeer recv-one NAME TIMEOUT_MS  # print the message or the error
//! shmring-testpeer wait-send NAME LEN TIMEOUT_MS  # a send that may block; prints the outcome
//!
//! shmring-testpeer mpmc-produce NAME ID COUNT      # COUNT checksummed messages from producer ID
//! shmring-testpeer mpmc-consume NAME               # until Disconnected; prints a digest per producer
//! shmring-testpeer mpmc-hold-sender NAME           # attach, print "ready", sleep until killed
//! shmring-testpeer mpmc-hold-receiver NAME
//! shmring-testpeer mpmc-send NAME PRIORITY TEXT... # send each TEXT, then exit
//! shmring-testpeer mpmc-recv-one NAME TIMEOUT_MS
//!
//! shmring-testpeer trickle spsc|mpmc NAME INTERVAL_MS [zombie-leader]
//!     # attach, print "ready", send "tick N" every INTERVAL_MS until killed;
//!     # with zombie-leader, a second thread sends and the main thread exits
//! shmring-testpeer observe spsc|mpmc NAME WAIT_MS
//!     # as the receiving side: "attached=B", then what WAIT_MS of receiving
//!     # brought ("received N disconnected=B"), then whether a second
//!     # sending endpoint may attach ("second=busy|attached|..."; MPMC
//!     # senders are many, so there "second=" reports the live count)
//!
//! shmring-testpeer pace-send NAME ID COUNT SEED
//!     # any kind: COUNT checksummed messages (as mpmc-produce) in random
//!     # bursts with random pauses, then "sent COUNT" and exit
//! shmring-testpeer send-hold NAME ID COUNT
//!     # any kind: COUNT checksummed messages, "sent COUNT", sleep until killed
//! shmring-testpeer bells-closed-first NAME sender|receiver HOLD_MS
//!     # any kind: attaches the end (a sender sends "last"), closes its
//!     # doorbells, "bells closed", keeps its lock HOLD_MS, exits
//! shmring-testpeer fd-limit NAME
//!     # any kind, with RLIMIT_NOFILE lowered so that only a few descriptors
//!     # can be opened: "attach-sender free=K: R" for K free descriptors,
//!     # K = 0..8 (R: ok, doorbell, io, other: ...), the same for
//!     # "attach-receiver" and "open"; then, with the limit restored,
//!     # attaches both sides, sends "after" to itself, "received after"
//!
//! shmring-testpeer pubsub-publish|pubsub-subscribe|pubsub-hold ...
//!     # the publish/subscribe peers: see `testpeer/pubsub.rs`
//! ```
use shmring::prelude::*;
use shmring::{MpmcBuilder, RecvTimeoutError, SendTimeoutError, SpscBuilder};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[path = "testpeer/pubsub.rs"]
mod pubsub;

/// Message `seq` of the stream with `seed`: length in `0..=max_len`, bytes
/// derived from both. Starts with the sequence number when it fits, so
/// that a reordered message is caught by its bytes, not only its length.
fn expected_message(seed: u64, seq: u64, max_len: usize) -> Vec<u8> {
    let mut state = seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = (next() % (max_len as u64 + 1)) as usize;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        bytes.extend_from_slice(&next().to_le_bytes());
    }
    bytes.truncate(len);
    let stamp = seq.to_le_bytes();
    let n = len.min(8);
    bytes[..n].copy_from_slice(&stamp[..n]);
    bytes
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn run(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let open = |name: &str| SpscBuilder::new().open(name);
    match args {
        ["produce", name, count, seed, max_len, mode] => {
            let (count, seed, max_len) = (count.parse()?, seed.parse()?, max_len.parse()?);
            let mut producer = open(name)?.producer()?;
            let mut seq = 0u64;
            while seq < count {
                match *mode {
                    "batch" => {
                        let mut batch = producer.batch();
                        for _ in 0..16.min(count - seq) {
                            let msg = expected_message(seed, seq, max_len);
                            batch.push(&msg).map_err(|e| e.without_message())?;
                            seq += 1;
                        }
                        batch.commit();
                    }
                    "reserve" => {
                        let msg = expected_message(seed, seq, max_len);
                        let mut grant = producer
                            .reserve(msg.len())
                            .map_err(|e| e.without_message())?;
                        grant.copy_from_slice(&msg);
                        grant.commit();
                        seq += 1;
                    }
                    _ => {
                        let msg = expected_message(seed, seq, max_len);
                        producer.send(&msg).map_err(|e| e.without_message())?;
                        seq += 1;
                    }
                }
            }
            say(&format!("sent {count}"));
            Ok(())
        }
        ["consume", name, count, seed, max_len, mode] => {
            let (count, seed, max_len): (u64, u64, usize) =
                (count.parse()?, seed.parse()?, max_len.parse()?);
            let mut consumer = open(name)?.consumer()?;
            let mut seq = 0u64;
            let mut buf = Vec::new();
            let mut failure: Option<String> = None;
            let mut check = |seq: u64, got: &[u8]| {
                if failure.is_none() && got != expected_message(seed, seq, max_len).as_slice() {
                    failure = Some(format!("message {seq} differs ({} bytes)", got.len()));
                }
            };
            while seq < count {
                match *mode {
                    "drain" => match consumer.try_drain(64, |m| {
                        check(seq, m);
                        seq += 1;
                    }) {
                        Ok(_) | Err(shmring::TryRecvError::Empty) => {}
                        Err(e) => return Err(e.into()),
                    },
                    "copy" => {
                        consumer.recv_into(&mut buf)?;
                        check(seq, &buf);
                        seq += 1;
                    }
                    _ => {
                        let msg = consumer.recv_timeout(Duration::from_secs(30))?;
                        check(seq, &msg);
                        seq += 1;
                    }
                }
            }
            if let Some(f) = failure {
                return Err(f.into());
            }
            // Nothing more may arrive: the producer sent exactly `count`.
            match consumer.recv_timeout(Duration::from_secs(30)) {
                Err(RecvTimeoutError::Disconnected) => {}
                Ok(m) => return Err(format!("extra message of {} bytes", m.len()).into()),
                Err(e) => return Err(format!("after the last message: {e}").into()),
            }
            say(&format!("received {count}"));
            Ok(())
        }
        ["hold-producer", name] => {
            let _producer = open(name)?.producer()?;
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        ["hold-consumer", name] => {
            let _consumer = open(name)?.consumer()?;
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        ["send-one", name, text] => {
            let mut producer = open(name)?.producer()?;
            producer
                .send(text.as_bytes())
                .map_err(|e| e.without_message())?;
            say("sent");
            Ok(())
        }
        ["recv-one", name, timeout_ms] => {
            let mut consumer = open(name)?.consumer()?;
            say("ready");
            match consumer.recv_timeout(Duration::from_millis(timeout_ms.parse()?)) {
                Ok(m) => say(&format!("message {}", String::from_utf8_lossy(&m))),
                Err(e) => say(&format!("{e:?}")),
            }
            Ok(())
        }
        ["wait-send", name, len, timeout_ms] => {
            let mut producer = open(name)?.producer()?;
            let msg = vec![7u8; len.parse()?];
            say("ready");
            match producer.send_timeout(&msg, Duration::from_millis(timeout_ms.parse()?)) {
                Ok(()) => say("sent"),
                Err(SendTimeoutError::Timeout(_)) => say("Timeout"),
                Err(SendTimeoutError::Disconnected(_)) => say("Disconnected"),
                Err(e) => say(&format!("{e}")),
            }
            Ok(())
        }
        ["trickle" | "observe", ..] => run_liveness(args),
        [
            "pace-send" | "send-hold" | "fd-limit" | "bells-closed-first",
            ..,
        ] => run_readiness(args),
        [command, ..] if command.starts_with("pubsub-") => pubsub::run(args),
        _ => run_mpmc(args),
    }
}

/// An MPMC test message: producer id, sequence, filler of a length that
/// varies with the sequence, and a checksum over all of it.
fn mpmc_message(id: u32, seq: u64) -> Vec<u8> {
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

/// Checks an MPMC test message; returns (producer id, sequence).
fn parse_mpmc_message(msg: &[u8]) -> Result<(u32, u64), String> {
    if msg.len() < 20 {
        return Err(format!("short message ({} bytes)", msg.len()));
    }
    let (body, sum) = msg.split_at(msg.len() - 8);
    if checksum(body).to_le_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    let id = u32::from_le_bytes(body[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(body[4..12].try_into().unwrap());
    if msg != mpmc_message(id, seq).as_slice() {
        return Err(format!("message {id}/{seq} is torn"));
    }
    Ok((id, seq))
}

/// The sending side of a liveness test: ticks until killed.
fn trickle(kind: &str, name: &str, interval: Duration) -> Result<(), String> {
    let tick = |n: u64| format!("tick {n}");
    match kind {
        "spsc" => {
            let mut producer = SpscBuilder::new()
                .open(name)
                .map_err(|e| e.to_string())?
                .producer()
                .map_err(|e| e.to_string())?;
            say("ready");
            for n in 0.. {
                producer
                    .send(tick(n).as_bytes())
                    .map_err(|e| e.without_message().to_string())?;
                std::thread::sleep(interval);
            }
        }
        "mpmc" => {
            let sender = MpmcBuilder::new()
                .open(name)
                .map_err(|e| e.to_string())?
                .sender()
                .map_err(|e| e.to_string())?;
            say("ready");
            for n in 0.. {
                sender
                    .send(tick(n).as_bytes())
                    .map_err(|e| e.without_message().to_string())?;
                std::thread::sleep(interval);
            }
        }
        other => return Err(format!("unknown kind {other}")),
    }
    Ok(())
}

fn run_liveness(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        ["trickle", kind, name, interval_ms] => {
            trickle(kind, name, Duration::from_millis(interval_ms.parse()?))?;
            Ok(())
        }
        ["trickle", kind, name, interval_ms, "zombie-leader"] => {
            let interval = Duration::from_millis(interval_ms.parse()?);
            let (kind, name) = (kind.to_string(), name.to_string());
            // The leader exits first, then the thread attaches: attaching
            // from a process whose leader is a zombie must work too.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                if let Err(e) = trickle(&kind, &name, interval) {
                    say(&format!("error: {e}"));
                    std::process::exit(1);
                }
            });
            exit_main_thread()
        }
        ["observe", kind, name, wait_ms] => {
            let wait = Duration::from_millis(wait_ms.parse()?);
            let (received, disconnected, second) = match *kind {
                "spsc" => {
                    let ring = SpscBuilder::new().open(name)?;
                    say(&format!("attached={}", ring.is_producer_attached()));
                    let mut consumer = ring.consumer()?;
                    let (n, eof) =
                        receive_for(wait, |timeout| match consumer.recv_timeout(timeout) {
                            Ok(_) => Ok(true),
                            Err(RecvTimeoutError::Timeout) => Ok(false),
                            Err(e) => Err(e),
                        });
                    let second = match ring.producer() {
                        Ok(_) => "attached".to_string(),
                        Err(shmring::AttachError::Busy { .. }) => "busy".to_string(),
                        Err(e) => format!("{e}"),
                    };
                    (n, eof, second)
                }
                "mpmc" => {
                    let queue = MpmcBuilder::new().open(name)?;
                    say(&format!("attached={}", queue.live_senders() > 0));
                    let receiver = queue.receiver()?;
                    let (n, eof) =
                        receive_for(wait, |timeout| match receiver.recv_timeout(timeout) {
                            Ok(_) => Ok(true),
                            Err(RecvTimeoutError::Timeout) => Ok(false),
                            Err(e) => Err(e),
                        });
                    let recovered = queue.recovered();
                    let second = format!(
                        "{} recovered={}",
                        queue.live_senders(),
                        recovered.dead_sender_slots + recovered.dead_receiver_messages
                    );
                    (n, eof, second)
                }
                other => return Err(format!("unknown kind {other}").into()),
            };
            say(&format!("received {received} disconnected={disconnected}"));
            say(&format!("second={second}"));
            Ok(())
        }
        _ => Err(format!("bad arguments: {args:?}").into()),
    }
}

/// Ends the thread-group leader only: the process lives on in its other
/// threads, and its `/proc/PID/stat` state reads `Z`, as after a C
/// program's `pthread_exit()` in main. Returning from main would call
/// exit(3) and end every thread; `pthread_exit` itself unwinds, which
/// Rust's main may not be unwound by, so this is the kernel's `exit(2)`
/// (one thread), not `exit_group(2)`.
#[allow(unsafe_code)]
fn exit_main_thread() -> ! {
    // SAFETY: SYS_exit ends only the calling thread and does not return;
    // nothing on its stack is referenced by the other threads (they own
    // their data), and no destructor of this thread needs to run.
    unsafe {
        libc::syscall(libc::SYS_exit, 0);
    }
    unreachable!("exit(2) does not return")
}

/// Receives for `wait` in short timeouts (each shorter than the liveness
/// interval, as a polling caller's would be); returns how many messages
/// came and whether end of file came.
fn receive_for(
    wait: Duration,
    mut recv: impl FnMut(Duration) -> Result<bool, RecvTimeoutError>,
) -> (u64, bool) {
    let end = std::time::Instant::now() + wait;
    let mut received = 0;
    while std::time::Instant::now() < end {
        match recv(Duration::from_millis(30)) {
            Ok(true) => received += 1,
            Ok(false) => {}
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

fn run_mpmc(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let open = |name: &str| MpmcBuilder::new().open(name);
    match args {
        ["mpmc-produce", name, id, count] => {
            let (id, count): (u32, u64) = (id.parse()?, count.parse()?);
            let sender = open(name)?.sender()?;
            for seq in 0..count {
                sender
                    .send(&mpmc_message(id, seq))
                    .map_err(|e| e.without_message())?;
            }
            say(&format!("sent {count}"));
            Ok(())
        }
        ["mpmc-consume", name] => {
            let receiver = open(name)?.receiver()?;
            say("ready");
            // Per producer: count, sum of sequences, last sequence seen.
            let mut seen: BTreeMap<u32, (u64, u64, Option<u64>)> = BTreeMap::new();
            loop {
                let msg = match receiver.recv_timeout(Duration::from_secs(60)) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(e) => return Err(e.into()),
                };
                let (id, seq) = parse_mpmc_message(&msg)?;
                let entry = seen.entry(id).or_insert((0, 0, None));
                if entry.2.is_some_and(|last| seq <= last) {
                    return Err(format!("producer {id}: {seq} after {:?}", entry.2).into());
                }
                *entry = (entry.0 + 1, entry.1 + seq, Some(seq));
            }
            for (id, (count, sum, _)) in seen {
                say(&format!("producer {id} count {count} sum {sum}"));
            }
            say("done");
            Ok(())
        }
        ["mpmc-hold-sender", name] => {
            let _sender = open(name)?.sender()?;
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        ["mpmc-hold-receiver", name] => {
            let _receiver = open(name)?.receiver()?;
            say("ready");
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        ["mpmc-claim-and-hang", name, len] => {
            // Dies (SIGKILL from the test) between claiming a slot and
            // publishing it, with the payload half written.
            let sender = open(name)?.sender()?;
            let mut grant = sender.reserve(len.parse()?).map_err(|e| format!("{e:?}"))?;
            let half = grant.len() / 2;
            grant[..half].fill(0xEE);
            say("claimed");
            std::thread::sleep(Duration::from_secs(60));
            drop(grant);
            Ok(())
        }
        ["mpmc-take-and-hang", name] => {
            // Dies (SIGKILL from the test) holding a received message.
            let receiver = open(name)?.receiver()?;
            let msg = receiver.recv_timeout(Duration::from_secs(10))?;
            say(&format!("holding {}", String::from_utf8_lossy(&msg)));
            std::thread::sleep(Duration::from_secs(60));
            drop(msg);
            Ok(())
        }
        ["mpmc-send", name, priority, texts @ ..] => {
            let sender = open(name)?.sender()?.with_priority(priority.parse()?);
            for text in texts {
                sender
                    .send(text.as_bytes())
                    .map_err(|e| e.without_message())?;
            }
            say("sent");
            Ok(())
        }
        ["mpmc-recv-one", name, timeout_ms] => {
            let receiver = open(name)?.receiver()?;
            say("ready");
            match receiver.recv_timeout(Duration::from_millis(timeout_ms.parse()?)) {
                Ok(m) => say(&format!("message {}", String::from_utf8_lossy(&m))),
                Err(e) => say(&format!("{e:?}")),
            }
            Ok(())
        }
        _ => Err(format!("bad arguments: {args:?}").into()),
    }
}

/// The peers of the readiness tests (`tests/readiness.rs`).
fn run_readiness(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        ["pace-send", name, id, count, seed] => {
            let (id, count, seed): (u32, u64, u64) = (id.parse()?, count.parse()?, seed.parse()?);
            let mut sender = shmring::AnyRing::open(name)?.sender()?;
            // xorshift64: bursts of 1..=64 messages, sometimes a pause.
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut seq = 0u64;
            while seq < count {
                let burst = (1 + next() % 64).min(count - seq);
                for _ in 0..burst {
                    sender
                        .send_timeout(&mpmc_message(id, seq), Duration::from_secs(60))
                        .map_err(|e| format!("message {seq}: {}", e.without_message()))?;
                    seq += 1;
                }
                match next() % 16 {
                    0 => std::thread::sleep(Duration::from_micros(next() % 200)),
                    1..=3 => std::thread::yield_now(),
                    _ => {}
                }
            }
            say(&format!("sent {count}"));
            Ok(())
        }
        ["send-hold", name, id, count] => {
            let (id, count): (u32, u64) = (id.parse()?, count.parse()?);
            let mut sender = shmring::AnyRing::open(name)?.sender()?;
            for seq in 0..count {
                sender
                    .send_timeout(&mpmc_message(id, seq), Duration::from_secs(60))
                    .map_err(|e| e.without_message())?;
            }
            say(&format!("sent {count}"));
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        ["fd-limit", name] => {
            let ring = shmring::AnyRing::open(name)?;
            let emfile = |e: &std::io::Error| {
                e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error())
            };
            let attach = |what: Result<(), shmring::AttachError>| match what {
                Ok(()) => "ok".to_string(),
                Err(shmring::AttachError::Doorbell(_)) => "doorbell".to_string(),
                Err(shmring::AttachError::Io(e)) if emfile(&e) => "io".to_string(),
                Err(e) => format!("other: {e}"),
            };
            for free in 0..8 {
                let sender = with_free_fds(free, || ring.sender().map(drop))?;
                say(&format!("attach-sender free={free}: {}", attach(sender)));
            }
            for free in 0..8 {
                let receiver = with_free_fds(free, || ring.receiver().map(drop))?;
                say(&format!(
                    "attach-receiver free={free}: {}",
                    attach(receiver)
                ));
            }
            for free in 0..8 {
                let opened = with_free_fds(free, || shmring::AnyRing::open(name).map(drop))?;
                let result = match opened {
                    Ok(()) => "ok".to_string(),
                    Err(shmring::OpenError::Doorbell(_)) => "doorbell".to_string(),
                    Err(shmring::OpenError::Io(e)) if emfile(&e) => "io".to_string(),
                    Err(e) => format!("other: {e}"),
                };
                say(&format!("open free={free}: {result}"));
            }
            let mut receiver = ring.receiver()?;
            let mut sender = ring.sender()?;
            sender
                .send_timeout(b"after", Duration::from_secs(10))
                .map_err(|e| e.without_message())?;
            let msg = receiver.recv_timeout(Duration::from_secs(10))?;
            say(&format!("received {}", String::from_utf8_lossy(&msg)));
            Ok(())
        }
        ["bells-closed-first", name, end, hold_ms] => {
            // A dying process as the kernel may show it: its doorbells
            // already closed, its liveness lock still held.
            let ring = shmring::AnyRing::open(name)?;
            let hold = Duration::from_millis(hold_ms.parse()?);
            match *end {
                "sender" => {
                    let mut sender = ring.sender()?;
                    sender
                        .send_timeout(b"last", Duration::from_secs(10))
                        .map_err(|e| e.without_message())?;
                    std::mem::forget(sender);
                }
                "receiver" => std::mem::forget(ring.receiver()?),
                other => return Err(format!("unknown end {other}").into()),
            }
            close_fifos()?;
            say("bells closed");
            std::thread::sleep(hold);
            // No destructor runs: the lock goes with the process.
            std::process::exit(0)
        }
        _ => Err(format!("bad arguments: {args:?}").into()),
    }
}

/// Closes every FIFO this process holds open for reading or writing,
/// except its standard streams (`O_PATH` descriptors hold no end).
/// Closing descriptors the process does not own is the point here, and
/// no safe call does that.
#[allow(unsafe_code)]
fn close_fifos() -> Result<(), Box<dyn std::error::Error>> {
    use rustix::fd::{BorrowedFd, FromRawFd, OwnedFd};
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in listed {
        // SAFETY: only borrowed for the two queries; a number that no
        // longer names a descriptor (the listing's own) makes them fail.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(stat) = rustix::fs::fstat(borrowed) else {
            continue;
        };
        let fifo = rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo;
        let path_only =
            rustix::fs::fcntl_getfl(borrowed).is_ok_and(|f| f.contains(rustix::fs::OFlags::PATH));
        if fifo && !path_only {
            // SAFETY: the endpoint owning it was forgotten, so nothing
            // else closes or uses this descriptor again.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Ok(())
}

/// Runs `f` with `RLIMIT_NOFILE` lowered so that exactly `free` more
/// descriptors can be opened (the lowest free numbers), then restores it.
fn with_free_fds<T>(free: usize, f: impl FnOnce() -> T) -> Result<T, Box<dyn std::error::Error>> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // The listing's own descriptor is closed once it is collected: keep
    // only the numbers that still name something.
    let listed: Vec<usize> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let open: std::collections::BTreeSet<usize> = listed
        .into_iter()
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok())
        .collect();
    // The limit is one past the highest usable number: the `free`-th
    // unused number (counting from 0) is the first that may not be used.
    let limit = (0..)
        .filter(|n| !open.contains(n))
        .nth(free)
        .expect("unbounded");
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit as u64),
            maximum: old.maximum,
        },
    )?;
    let result = f();
    setrlimit(Resource::Nofile, old)?;
    Ok(result)
}
