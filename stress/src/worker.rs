//! The child processes' side: a producer or consumer loop that reports
//! every message to the harness, and the daemon.
//!
//! A worker stops when its stdin reaches end of file: a producer at once
//! (after its current message), a consumer at the next `Disconnected`,
//! that is once every message of the finished producer was received.

use crate::endpoint::{self, End, Got, Kind, Sent, Style, Transport};
use crate::msg::{self, Sizes};
use crate::report::{Record, Reporter};
use shmring::broker::{BrokerClient, CreateOptions};
use shmring::prelude::*;
use shmring::{AnyReceiver, AnySender};
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// What a producer or consumer worker does.
#[derive(Debug, Clone)]
pub struct Role {
    /// Ring kind.
    pub kind: Kind,
    /// Segment name.
    pub name: String,
    /// Direct or through the broker.
    pub transport: Transport,
    /// Calling style.
    pub style: Style,
    /// Stream number of a producer (its incarnation).
    pub stream: u32,
    /// Message lengths (at least a header: workers check every message
    /// on its own).
    pub sizes: Sizes,
    /// A producer stops after this many messages.
    pub count: Option<u64>,
}

/// Exit codes of a worker.
pub mod exit {
    /// Opening or attaching failed.
    pub const SETUP: i32 = 10;
    /// The library returned an unexpected error.
    pub const LIBRARY: i32 = 11;
    /// A message failed its check.
    pub const TORN: i32 = 12;
}

/// Kills this process when the thread that spawned it dies, so that a
/// harness killed outright leaves no worker behind.
pub fn die_with_parent() {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
}

/// A channel that disconnects when stdin reaches end of file.
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

fn fail(rep: &mut Reporter, code: i32, what: &str) -> ! {
    eprintln!("shmring-stress-worker[{}]: {what}", std::process::id());
    rep.say(Record::Failed { code: code as u32 });
    std::process::exit(code);
}

/// Runs a producer until stdin closes (or `count` messages); exits.
pub fn producer(role: &Role) -> ! {
    let mut rep = Reporter::stdout().unwrap_or_else(|_| std::process::exit(exit::SETUP));
    let cue = stdin_closed();
    let opened =
        match endpoint::open::<AnySender>(role.kind, &role.transport, &role.name, role.style) {
            Ok(o) => o,
            Err(e) => fail(&mut rep, exit::SETUP, &e),
        };
    let mut tx = opened.handle;
    rep.say(Record::Attached);
    let mut buf = Vec::new();
    let mut seq = 0u64;
    let mut gone = false;
    while !closed(&cue) && role.count.is_none_or(|n| seq < n) {
        msg::fill(
            &mut buf,
            role.stream,
            seq,
            role.sizes.len_of(role.stream, seq),
        );
        match endpoint::send(&mut tx, &buf, role.style) {
            Ok(Sent::Yes) => {
                rep.say(Record::Sent {
                    stream: role.stream,
                    seq,
                });
                seq += 1;
                gone = false;
            }
            Ok(Sent::Later) => {}
            Ok(Sent::Gone) => {
                if !gone {
                    rep.say(Record::PeerGone);
                    gone = true;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => fail(&mut rep, exit::LIBRARY, &e),
        }
    }
    drop(tx);
    drop(opened.client);
    rep.say(Record::Done { count: seq });
    std::process::exit(0)
}

/// Runs a consumer until stdin is closed and the producer side is gone.
pub fn consumer(role: &Role) -> ! {
    let mut rep = Reporter::stdout().unwrap_or_else(|_| std::process::exit(exit::SETUP));
    let cue = stdin_closed();
    let opened =
        match endpoint::open::<AnyReceiver>(role.kind, &role.transport, &role.name, role.style) {
            Ok(o) => o,
            Err(e) => fail(&mut rep, exit::SETUP, &e),
        };
    let mut rx = opened.handle;
    rep.say(Record::Attached);
    let mut count = 0u64;
    let mut gone = false;
    let mut finishing = false;
    loop {
        finishing = finishing || closed(&cue);
        let mut bad = None;
        let got = endpoint::recv(&mut rx, role.style, |m| match msg::parse(m) {
            // Reported while the message is still held: a kill after
            // this line and before the release is what the checker's
            // one-repeat allowance is for.
            Ok((stream, seq)) => rep.say(Record::Received { stream, seq }),
            Err(b) => {
                let (stream, seq) = match b {
                    msg::Bad::Checksum { stream, seq } => (stream, seq),
                    _ => (u32::MAX, u64::MAX),
                };
                rep.say(Record::Torn { stream, seq });
                bad = Some(b);
            }
        });
        if let Some(b) = bad {
            fail(
                &mut rep,
                exit::TORN,
                &format!("received a bad message: {b}"),
            );
        }
        match got {
            Ok(Got::Yes) => {
                count += 1;
                gone = false;
            }
            Ok(Got::Later) => {}
            Ok(Got::Gone) if finishing => break,
            Ok(Got::Gone) => {
                if !gone {
                    rep.say(Record::PeerGone);
                    gone = true;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => fail(&mut rep, exit::LIBRARY, &e),
        }
    }
    drop(rx);
    drop(opened.client);
    rep.say(Record::Done { count });
    std::process::exit(0)
}

/// Runs the broker daemon (the same code as `shmringd`) at `socket`.
pub fn daemon(socket: &std::path::Path) -> ! {
    shmring_broker::init_logging(0);
    match shmring_broker::daemon::run(socket, shmring_broker::config::Config::default(), None) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("shmring-stress-worker shmringd: {e}");
            std::process::exit(1)
        }
    }
}

/// A new client creates a ring through the restarted daemon, a second
/// one opens it, they exchange a few checked messages, and it is removed.
pub fn fresh_exchange(socket: &Path, name: &str, kind: Kind, stream: u32) -> Result<(), String> {
    let connect = || BrokerClient::connect_to(socket).map_err(|e| format!("connect: {e}"));
    let mut creator = connect()?;
    let mut opener = connect()?;
    let sizes = Sizes {
        min: msg::HEADER_LEN,
        max: 200,
    };
    let options = match kind {
        Kind::Spsc => CreateOptions::spsc(4096),
        Kind::Mpmc => CreateOptions::mpmc(16, 256),
    };
    let ring = endpoint::create(Some(&mut creator), name, &options.ephemeral())?;
    let mut sender = ring.sender().map_err(|e| format!("sender: {e}"))?;
    let mut receiver = AnyReceiver::attach_via(&mut opener, kind, name)
        .map_err(|e| format!("open receiver: {e}"))?;
    let mut buf = Vec::new();
    let mut scratch = Vec::new();
    for seq in 0..16 {
        msg::fill(&mut buf, stream, seq, sizes.len_of(stream, seq));
        sender
            .send_timeout(&buf, crate::harness::STEP_LIMIT)
            .map_err(|e| format!("send: {e}"))?;
        let got = receiver
            .recv_timeout(crate::harness::STEP_LIMIT)
            .map_err(|e| format!("recv: {e}"))?;
        msg::check_expected(&got, stream, seq, sizes, &mut scratch)
            .map_err(|e| format!("message {seq}: {e}"))?;
    }
    creator.unlink(name).map_err(|e| format!("unlink: {e}"))?;
    Ok(())
}
