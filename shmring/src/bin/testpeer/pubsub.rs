//! The publish/subscribe peers (`tests/pubsub.rs`).
//!
//! ```text
//! shmring-testpeer pubsub-publish NAME COUNT SEED fast|jitter exit|hold
//!     # take the publisher role: "ready FIRST" (the sequence number it
//!     # continues at), publish COUNT messages, "sent COUNT next NEXT sum
//!     # SUM"; then exit, or (hold) sleep until killed
//! shmring-testpeer pubsub-subscribe NAME SEED fast|slow|after:N DISCONNECTS
//!     # join at the next message: "ready CURSOR"; check every message as
//!     # it comes; at each end of file "disconnected NEXT received R";
//!     # after the DISCONNECTS-th: "done joined J next N received R missed
//!     # M lagged L sum S". A message out of order or not the one the
//!     # publisher wrote ends it with "error: ..." (and a failure status)
//! shmring-testpeer pubsub-full-shm NAME
//!     # in a /dev/shm too small for a second ring: see `full_shm`
//! shmring-testpeer pubsub-hold NAME forever|until-full
//!     # join and never read: "ready CURSOR", then sleep until killed; or
//!     # (until-full) once the publisher filled the ring for it, "leaving",
//!     # leave, "left", and sleep until killed
//! ```
//!
//! Message `s` of the stream with seed `x` is `8..=slot_size` bytes (the
//! length a function of both): `s` in the first 8 bytes, then a checksum
//! word of `s`, the length and the body, then the body (a function of
//! both); shorter messages carry the first bytes of that. A subscriber
//! rebuilds the message the sequence number it expects names and compares
//! every byte, so a reordered, lost, repeated or torn message fails. The
//! `sum` the peers print is the wrapping sum of every message's digest:
//! the same over the same messages, and what one publisher and the next
//! published adds up.

use shmring::prelude::*;
use shmring::{PubSub, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Bound of every blocking call and of every wait for the ring to change.
const PATIENCE: Duration = Duration::from_secs(60);

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A word-wise hash of `bytes` and their length.
fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word));
    }
    h
}

/// What the printed `sum` adds per message.
fn digest(msg: &[u8]) -> u64 {
    hash(msg)
}

/// Writes message `seq` of the stream `seed` into `buf` (replacing it).
fn message(seed: u64, seq: u64, slot_size: usize, buf: &mut Vec<u8>) {
    let mut state = mix(seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let len = 8 + (state % (slot_size as u64 - 7)) as usize;
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&[0; 8]);
    while buf.len() < len.max(16) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        buf.extend_from_slice(&mix(state).to_le_bytes());
    }
    buf.truncate(len.max(16));
    let mut sum = hash(&buf[16..]) ^ seq.rotate_left(17) ^ len as u64;
    sum = mix(sum);
    buf[8..16].copy_from_slice(&sum.to_le_bytes());
    buf.truncate(len);
}

/// Checks that `got` is message `seq` of the stream `seed`.
fn check(
    seed: u64,
    seq: u64,
    slot_size: usize,
    got: &[u8],
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    if got.len() < 8 {
        return Err(format!(
            "message {seq}: {} bytes, less than its sequence number",
            got.len()
        ));
    }
    let said = u64::from_le_bytes(got[..8].try_into().expect("8 bytes"));
    if said != seq {
        return Err(format!("expected message {seq}, got message {said}"));
    }
    message(seed, seq, slot_size, scratch);
    if scratch.as_slice() != got {
        return Err(format!(
            "message {seq} is torn or corrupt ({} bytes, {} expected)",
            got.len(),
            scratch.len()
        ));
    }
    Ok(())
}

/// xorshift64: the random pauses of the `jitter` and `slow` paces.
struct Pace {
    state: u64,
    enabled: bool,
}

impl Pace {
    fn new(seed: u64, enabled: bool) -> Pace {
        Pace {
            state: mix(seed ^ u64::from(std::process::id())) | 1,
            enabled,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// Now and then a sleep of up to `max_us`, more often a yield.
    fn pause(&mut self, max_us: u64) {
        if !self.enabled {
            return;
        }
        match self.next() % 16 {
            0..=2 => std::thread::sleep(Duration::from_micros(self.next() % max_us)),
            3..=6 => std::thread::yield_now(),
            _ => {}
        }
    }
}

/// Waits (bounded) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        if Instant::now() >= deadline {
            return Err(format!("{what}: not within {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Runs one `pubsub-*` command.
pub(crate) fn run(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    match args {
        ["pubsub-publish", name, count, seed, pace, end] => {
            let (count, seed): (u64, u64) = (count.parse()?, seed.parse()?);
            let ring = PubSub::open(name)?;
            let slot_size = ring.slot_size() as usize;
            let mut publisher = ring.publisher()?;
            let first = publisher.published();
            super::say(&format!("ready {first}"));
            let mut pace = Pace::new(seed, *pace == "jitter");
            let (mut buf, mut sum) = (Vec::new(), 0u64);
            for seq in first..first + count {
                message(seed, seq, slot_size, &mut buf);
                // Every third message is written in place: both ways of
                // publishing are under test.
                if seq % 3 == 0 {
                    let mut grant = publisher
                        .reserve_timeout(buf.len(), PATIENCE)
                        .map_err(|e| format!("message {seq}: {}", e.without_message()))?;
                    grant.copy_from_slice(&buf);
                    grant.commit();
                } else {
                    publisher
                        .send_timeout(&buf, PATIENCE)
                        .map_err(|e| format!("message {seq}: {}", e.without_message()))?;
                }
                sum = sum.wrapping_add(digest(&buf));
                pace.pause(200);
            }
            let next = publisher.published();
            super::say(&format!("sent {count} next {next} sum {sum}"));
            if *end == "hold" {
                std::thread::sleep(PATIENCE);
            }
            Ok(())
        }
        ["pubsub-subscribe", name, seed, pace, disconnects] => {
            let (seed, disconnects): (u64, u32) = (seed.parse()?, disconnects.parse()?);
            let ring = PubSub::open(name)?;
            let slot_size = ring.slot_size() as usize;
            let mut subscriber = ring.subscriber()?;
            let joined = subscriber.position();
            super::say(&format!("ready {joined}"));
            if let Some(n) = pace.strip_prefix("after:") {
                let n: u64 = n.parse()?;
                wait_for("the publisher's messages", || ring.published() >= n)?;
            }
            let mut pace = Pace::new(seed, *pace == "slow");
            let mut scratch = Vec::new();
            let (mut next, mut received, mut lagged, mut sum) = (joined, 0u64, 0u64, 0u64);
            let mut seen_disconnects = 0;
            // Whether the end of file just reported was reported already:
            // until a message comes, it is the same one.
            let mut at_end = false;
            loop {
                match subscriber.recv_timeout(PATIENCE) {
                    Ok(msg) => {
                        if msg.sequence() != next {
                            return Err(format!(
                                "the guard says message {}, {next} expected",
                                msg.sequence()
                            )
                            .into());
                        }
                        check(seed, next, slot_size, &msg, &mut scratch)?;
                        sum = sum.wrapping_add(digest(&msg));
                        drop(msg);
                        next += 1;
                        received += 1;
                        at_end = false;
                    }
                    Err(RecvTimeoutError::Lagged(n)) => {
                        if n == 0 {
                            return Err(format!("a lag of 0 messages at {next}").into());
                        }
                        lagged += n;
                        next += n;
                    }
                    Err(RecvTimeoutError::Disconnected) if at_end => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        at_end = true;
                        seen_disconnects += 1;
                        super::say(&format!("disconnected {next} received {received}"));
                        if seen_disconnects >= disconnects {
                            break;
                        }
                    }
                    Err(e) => return Err(format!("at message {next}: {e}").into()),
                }
                if subscriber.position() != next {
                    return Err(format!(
                        "position {} after message {}, {next} expected",
                        subscriber.position(),
                        next - 1
                    )
                    .into());
                }
                pace.pause(500);
            }
            super::say(&format!(
                "done joined {joined} next {next} received {received} missed {} lagged {lagged} sum {sum}",
                subscriber.missed()
            ));
            Ok(())
        }
        ["pubsub-hold", name, until] => {
            let ring = PubSub::open(name)?;
            let subscriber = ring.subscriber()?;
            let joined = subscriber.position();
            super::say(&format!("ready {joined}"));
            if *until == "until-full" {
                let full = joined + ring.slots();
                wait_for("a full ring", || ring.published() >= full)?;
                super::say("leaving");
                drop(subscriber);
                super::say("left");
            }
            std::thread::sleep(PATIENCE);
            Ok(())
        }
        ["pubsub-full-shm", name] => full_shm(name),
        _ => Err(format!("bad arguments: {args:?}").into()),
    }
}

/// In a `/dev/shm` too small for a second ring (the test mounts one):
/// a ring `NAME` holding three messages, then a ring too large for what
/// is left, which must fail with `NoSpace` and leave no file behind,
/// then the first ring, whose messages must all be there and which must
/// still carry one more. Prints `nospace`, `clean`, `kept 3`, `works`.
fn full_shm(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ring = shmring::PubSubBuilder::new()
        .slots(8)
        .max_message(64)
        .create(name)?;
    let mut publisher = ring.publisher()?;
    let mut subscriber = ring.subscriber()?;
    for seq in 0..3u64 {
        publisher
            .send(&seq.to_le_bytes())
            .map_err(|e| e.without_message())?;
    }
    let big = format!("{name}-big");
    match shmring::PubSubBuilder::new()
        .slots(1 << 16)
        .max_message(1024)
        .create(&big)
    {
        Err(shmring::OpenError::NoSpace) => super::say("nospace"),
        Err(e) => return Err(format!("a ring too large: {e}").into()),
        Ok(_) => return Err("a ring too large was made".into()),
    }
    if std::path::Path::new(&format!("/dev/shm/{big}")).exists() {
        return Err("the refused ring left its file".into());
    }
    super::say("clean");
    for seq in 0..3u64 {
        let msg = subscriber.recv_timeout(PATIENCE)?;
        if *msg != seq.to_le_bytes() {
            return Err(format!("message {seq} changed").into());
        }
    }
    super::say("kept 3");
    publisher.send(b"more").map_err(|e| e.without_message())?;
    if *subscriber.recv_timeout(PATIENCE)? != *b"more" {
        return Err("the ring no longer carries messages".into());
    }
    super::say("works");
    shmring::unlink(name)?;
    Ok(())
}
