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
//! ```
use shmring::{RecvTimeoutError, SendTimeoutError, SpscBuilder};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

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
        _ => Err(format!("bad arguments: {args:?}").into()),
    }
}
