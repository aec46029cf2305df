//! Streams messages through an SPSC ring while the consumer waits in one
//! of three ways, to be run under `strace -f -c` to count the system
//! calls each way costs:
//!
//! ```text
//! strace -f -c -e trace=futex,write,read,epoll_wait,membarrier \
//!     target/release/examples/wait_modes spin 1000000
//! ```
//!
//! | mode    | the consumer                                            |
//! |---------|---------------------------------------------------------|
//! | `spin`  | calls `try_recv` in a loop (never takes the descriptor) |
//! | `block` | calls `recv` (spin, then futex)                         |
//! | `epoll` | takes the descriptor: `try_recv` until empty, then `epoll_wait` |
//!
//! The producer sends as fast as it can (`send`, which blocks on a full
//! ring). In `spin` and `block` no doorbell is ever armed, so the producer
//! makes no `write`; in `epoll` it writes once per arm, which happens only
//! when the consumer found the ring empty.
use rustix::event::epoll;
use shmring::SpscBuilder;
use shmring::prelude::*;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "epoll".into());
    let count: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let name = format!("wait-modes-{}", std::process::id());
    let ring = SpscBuilder::new().capacity(1 << 16).create(&name)?;
    let mut producer = ring.producer()?;
    let mut consumer = ring.consumer()?;
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for i in 0..count {
            producer.send(&i.to_le_bytes()).expect("send");
        }
    });
    let mut next = 0u64;
    let mut waits = 0u64;
    let epoll_fd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    if mode == "epoll" {
        epoll::add(
            &epoll_fd,
            &consumer,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?;
    }
    let mut events = Vec::with_capacity(4);
    while next < count {
        let got = match mode.as_str() {
            "spin" => match consumer.try_recv() {
                Ok(m) => Some(u64::from_le_bytes(m[..8].try_into()?)),
                Err(shmring::TryRecvError::Empty) => None,
                Err(e) => return Err(e.into()),
            },
            "block" => Some(u64::from_le_bytes(consumer.recv()?[..8].try_into()?)),
            "epoll" => match consumer.try_recv() {
                Ok(m) => Some(u64::from_le_bytes(m[..8].try_into()?)),
                Err(shmring::TryRecvError::Empty) => {
                    waits += 1;
                    events.clear();
                    epoll::wait(&epoll_fd, rustix::buffer::spare_capacity(&mut events), None)?;
                    None
                }
                Err(e) => return Err(e.into()),
            },
            other => return Err(format!("unknown mode {other}").into()),
        };
        if let Some(v) = got {
            assert_eq!(v, next, "out of order");
            next += 1;
        }
    }
    sender.join().expect("producer thread");
    let elapsed = start.elapsed();
    println!(
        "{mode}: {count} messages in {:.3} s ({:.1} M/s), {waits} descriptor waits",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64() / 1e6
    );
    shmring::unlink(&name)?;
    Ok(())
}
