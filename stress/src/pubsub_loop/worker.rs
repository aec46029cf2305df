//! The worker processes of the publish/subscribe kill loop: a publisher
//! or a subscriber, each checking what it sees and reporting in lines
//! (the table in the module above).

use super::{POLL, REPORT_EVERY, SLOT_SIZE};
use crate::msg::{self, Rng, Sizes};
use shmring::prelude::*;
use shmring::pubsub::Subscriber;
use shmring::{Delivery, JoinAt, PubSub, RecvTimeoutError, SendTimeoutError};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

/// The worker subcommand's arguments (`pubsub-worker`).
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Which end.
    #[arg(value_enum)]
    role: WorkerRole,
    /// Segment name.
    #[arg(long)]
    name: String,
    /// The publisher's incarnation (its messages' stream).
    #[arg(long, default_value_t = 0)]
    stream: u32,
    /// Seed of the worker's random pauses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A subscriber joins at the oldest message the ring holds.
    #[arg(long)]
    oldest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WorkerRole {
    Publisher,
    Subscriber,
}

/// Message lengths of the loop: a header at least, a slot at most.
fn sizes() -> Sizes {
    Sizes {
        min: msg::HEADER_LEN,
        max: SLOT_SIZE as usize,
    }
}

/// A worker's report channel: stdout, one `write` per line.
struct Lines(std::fs::File);

impl Lines {
    fn say(&mut self, line: &str) {
        let text = format!("{line}\n");
        // The harness went away: nobody is left to tell.
        if self.0.write_all(text.as_bytes()).is_err() {
            std::process::exit(3);
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        self.say(&format!("bad {what}"));
        std::process::exit(crate::worker::exit::TORN);
    }
}

/// A channel that disconnects when stdin reaches end of file: the cue
/// to stop.
fn stdin_closed() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        drop(tx);
    });
    rx
}

fn closed(cue: &mpsc::Receiver<()>) -> bool {
    matches!(cue.try_recv(), Err(mpsc::TryRecvError::Disconnected))
}

/// Random pauses: mostly none, sometimes a yield, now and then a sleep.
fn pause(rng: &mut Rng) {
    match rng.range(0, 63) {
        0 => std::thread::sleep(Duration::from_micros(rng.range(0, 2000))),
        1..=4 => std::thread::sleep(Duration::from_micros(rng.range(0, 100))),
        5..=12 => std::thread::yield_now(),
        _ => {}
    }
}

/// Runs a worker; never returns.
pub fn worker(args: WorkerArgs) -> ! {
    crate::worker::die_with_parent();
    let stdout = {
        use std::os::fd::AsFd;
        std::io::stdout().as_fd().try_clone_to_owned()
    };
    let mut out = match stdout {
        Ok(fd) => Lines(fd.into()),
        Err(_) => std::process::exit(crate::worker::exit::SETUP),
    };
    let cue = stdin_closed();
    let ring = match PubSub::open(&args.name) {
        Ok(r) => r,
        Err(e) => out.fail(&format!("open {}: {e}", args.name)),
    };
    let mut rng = Rng::new(args.seed);
    match args.role {
        WorkerRole::Publisher => publisher(&ring, args.stream, &cue, &mut rng, &mut out),
        WorkerRole::Subscriber => {
            let at = if args.oldest {
                JoinAt::Oldest
            } else {
                JoinAt::Next
            };
            let subscriber = match ring.subscriber_at(at) {
                Ok(s) => s,
                Err(e) => out.fail(&format!("subscribe: {e}")),
            };
            let lossless = ring.delivery() == Delivery::Lossless;
            subscriber_loop(subscriber, lossless, &cue, &mut rng, &mut out)
        }
    }
    std::process::exit(0)
}

fn publisher(ring: &PubSub, stream: u32, cue: &mpsc::Receiver<()>, rng: &mut Rng, out: &mut Lines) {
    let mut publisher = match ring.publisher() {
        Ok(p) => p,
        Err(e) => out.fail(&format!("publisher: {e}")),
    };
    out.say(&format!("ready {}", publisher.published()));
    let (sizes, mut buf) = (sizes(), Vec::new());
    while !closed(cue) {
        let seq = publisher.published();
        msg::fill(&mut buf, stream, seq, sizes.len_of(stream, seq));
        match publisher.send_timeout(&buf, POLL) {
            Ok(()) => {
                if (seq + 1) % REPORT_EVERY == 0 {
                    out.say(&format!("at {}", seq + 1));
                }
            }
            // Lossless: blocked on a subscriber (live, or dead and not
            // found yet); the next call tries again.
            Err(SendTimeoutError::Timeout(_)) => {}
            Err(e) => out.fail(&format!("send of message {seq}: {e}")),
        }
        pause(rng);
    }
    let next = publisher.published();
    drop(publisher);
    out.say(&format!("done {next} 0 0 0"));
}

fn subscriber_loop(
    mut subscriber: Subscriber,
    lossless: bool,
    cue: &mpsc::Receiver<()>,
    rng: &mut Rng,
    out: &mut Lines,
) {
    let joined = subscriber.position();
    out.say(&format!("joined {joined}"));
    let (sizes, mut scratch) = (sizes(), Vec::new());
    let (mut next, mut received, mut lagged) = (joined, 0u64, 0u64);
    let mut last_stream = 0u32;
    let mut gone = false;
    loop {
        let finishing = closed(cue);
        match subscriber.recv_timeout(POLL) {
            Ok(m) => {
                let seq = m.sequence();
                let (stream, said) = match msg::parse(&m) {
                    Ok(id) => id,
                    Err(bad) => out.fail(&format!("message {seq}: {bad}")),
                };
                if seq != next || said != seq {
                    out.fail(&format!(
                        "message {said} (guard: {seq}) where {next} was expected"
                    ));
                }
                if let Err(bad) = msg::check_expected(&m, stream, seq, sizes, &mut scratch) {
                    out.fail(&format!("message {seq}: {bad}"));
                }
                if stream < last_stream {
                    out.fail(&format!(
                        "message {seq} of stream {stream} after one of stream {last_stream}"
                    ));
                }
                drop(m);
                last_stream = stream;
                next += 1;
                received += 1;
                gone = false;
                if next % REPORT_EVERY == 0 {
                    out.say(&format!("at {next}"));
                }
            }
            Err(RecvTimeoutError::Lagged(n)) if !lossless && n > 0 => {
                lagged += n;
                next += n;
                out.say(&format!("at {next}"));
            }
            Err(RecvTimeoutError::Lagged(n)) => {
                out.fail(&format!("Lagged({n}) at {next} in a lossless ring"))
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if !gone {
                    out.say(&format!("gone {next}"));
                    gone = true;
                }
                if finishing {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => out.fail(&format!("at message {next}: {e}")),
        }
        if subscriber.position() != next {
            out.fail(&format!(
                "position {}, {next} expected",
                subscriber.position()
            ));
        }
        pause(rng);
    }
    let missed = subscriber.missed();
    drop(subscriber);
    out.say(&format!("done {next} {received} {missed} {lagged}"));
}
