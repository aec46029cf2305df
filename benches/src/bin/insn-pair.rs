//! Instructions per 64-byte send + receive pair, in one process, for
//! `benches/insn-count.sh` to run under `valgrind --tool=callgrind`.
//!
//! ```text
//! insn-pair shmring|pubsub|pubsub-lossy|ringfire|rtrb PAIRS
//! ```
//! Sends and receives PAIRS messages of 64 bytes, one at a time, on one
//! thread: copied in by the send call, copied out (or out of the receive
//! guard) and every byte read. Two runs of different lengths, subtracted,
//! give the instructions of one pair without the set-up. ringfire and
//! rtrb need the `peers` feature.

use std::hint::black_box;

const SIZE: usize = 64;

fn main() {
    if let Err(err) = run() {
        eprintln!("insn-pair: {err}");
        std::process::exit(1);
    }
}

fn run() -> shmring_benches::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [library, pairs] = args.as_slice() else {
        return Err("usage: insn-pair shmring|pubsub|pubsub-lossy|ringfire|rtrb PAIRS".into());
    };
    let pairs: u64 = pairs.parse()?;
    let sum = match library.as_str() {
        "shmring" => shmring_pairs(pairs)?,
        "pubsub" => pubsub_pairs(pairs, shmring::Delivery::Lossless)?,
        "pubsub-lossy" => pubsub_pairs(pairs, shmring::Delivery::Lossy)?,
        "ringfire" => ringfire_pairs(pairs)?,
        "rtrb" => rtrb_pairs(pairs)?,
        other => return Err(format!("unknown library {other}").into()),
    };
    println!("{library}: {pairs} pairs (checksum {sum:#x})");
    Ok(())
}

/// The message of pair `i`: its number in the first word, then fill.
#[inline(always)]
fn stamp(msg: &mut [u8; SIZE], i: u64) {
    msg[..8].copy_from_slice(&i.to_ne_bytes());
}

/// Reads every byte of a received message (as the benches' loops do).
#[inline(always)]
fn read_all(msg: &[u8]) -> u64 {
    msg.chunks_exact(8).fold(0u64, |acc, w| {
        acc.wrapping_add(u64::from_ne_bytes(w.try_into().unwrap_or_default()))
    })
}

/// `try_send` + `try_recv` on any shmring kind, one message at a time,
/// the message copied out of the receive guard.
fn copied_pairs(
    mut tx: impl shmring::MessageSender,
    mut rx: impl shmring::MessageReceiver,
    pairs: u64,
) -> shmring_benches::Result<u64> {
    let mut msg = [0xA5u8; SIZE];
    let mut out = [0u8; SIZE];
    let mut sum = 0u64;
    for i in 0..pairs {
        stamp(&mut msg, i);
        tx.try_send(black_box(&msg))
            .map_err(|e| e.without_message())?;
        let guard = rx.try_recv()?;
        out.copy_from_slice(&guard);
        drop(guard);
        sum = sum.wrapping_add(read_all(black_box(&out)));
    }
    Ok(sum)
}

/// shmring SPSC.
fn shmring_pairs(pairs: u64) -> shmring_benches::Result<u64> {
    let name = format!("shmring-insn-{}", std::process::id());
    let ring = shmring::SpscBuilder::new()
        .capacity(1 << 16)
        .wait_strategy(shmring::WaitStrategy::BusySpin)
        .create(&name)?;
    let endpoints = (ring.producer(), ring.consumer());
    shmring::unlink(&name)?;
    let (tx, rx) = (endpoints.0?, endpoints.1?);
    copied_pairs(tx, rx, pairs)
}

/// shmring publish/subscribe, one subscriber.
fn pubsub_pairs(pairs: u64, delivery: shmring::Delivery) -> shmring_benches::Result<u64> {
    let name = format!("shmring-insn-{}", std::process::id());
    let ring = shmring::PubSubBuilder::new()
        .slots(1024)
        .max_message(SIZE as u64)
        .delivery(delivery)
        .wait_strategy(shmring::WaitStrategy::BusySpin)
        .create(&name)?;
    let endpoints = (ring.publisher(), ring.subscriber());
    shmring::unlink(&name)?;
    let (tx, rx) = (endpoints.0?, endpoints.1?);
    copied_pairs(tx, rx, pairs)
}

/// ringfire: `push` + `try_recv` of a `[u8; 64]` record (copied in by
/// `push`, out by `try_recv`).
#[cfg(feature = "peers")]
fn ringfire_pairs(pairs: u64) -> shmring_benches::Result<u64> {
    let path = format!("/dev/shm/shmring-insn-{}-ringfire", std::process::id());
    let tx = ringfire::RingProducer::<[u8; SIZE]>::create(&path, 1024);
    let rx = ringfire::RingConsumer::<[u8; SIZE]>::attach(&path);
    let _ = std::fs::remove_file(&path);
    let (mut tx, mut rx) = (tx?, rx?);
    let mut msg = [0xA5u8; SIZE];
    let mut sum = 0u64;
    for i in 0..pairs {
        stamp(&mut msg, i);
        tx.push(black_box(&msg));
        let out = rx.try_recv().ok_or("ringfire: nothing received")?;
        sum = sum.wrapping_add(read_all(black_box(&out)));
    }
    Ok(sum)
}

/// rtrb: `push` + `pop` of a `[u8; 64]` item.
#[cfg(feature = "peers")]
fn rtrb_pairs(pairs: u64) -> shmring_benches::Result<u64> {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; SIZE]>::new(1024);
    let mut msg = [0xA5u8; SIZE];
    let mut sum = 0u64;
    for i in 0..pairs {
        stamp(&mut msg, i);
        tx.push(black_box(msg))
            .map_err(|_| "rtrb: the ring is full")?;
        let out = rx.pop()?;
        sum = sum.wrapping_add(read_all(black_box(&out)));
    }
    Ok(sum)
}

#[cfg(not(feature = "peers"))]
fn ringfire_pairs(_: u64) -> shmring_benches::Result<u64> {
    Err("built without the `peers` feature".into())
}

#[cfg(not(feature = "peers"))]
fn rtrb_pairs(_: u64) -> shmring_benches::Result<u64> {
    Err("built without the `peers` feature".into())
}
