//! A tokio task reads a named SPSC ring that a plain thread writes, as a
//! stream, while a timer keeps ticking on the same (single) thread of the
//! runtime: waiting for messages blocks no thread.
//!
//! ```text
//! cargo run -p shmring --features tokio --example tokio_pipeline [MESSAGES]
//! ```
use futures_core::Stream;
use shmring::SpscBuilder;
use shmring::prelude::*;
use shmring::readiness::tokio::AsyncReceiver;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// Removes the segment's name when `main` returns, whichever way.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shmring::unlink(&self.0);
    }
}

/// `StreamExt::next` (of futures or tokio-stream) without the dependency.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let name = format!("shmring-tokio-pipeline-{}", std::process::id());
    let ring = SpscBuilder::new().capacity(1 << 16).create(&name)?;
    let _unlink = Unlink(name);
    let mut producer = ring.producer()?;
    // Created inside the runtime: it registers with the runtime's reactor.
    let mut messages = AsyncReceiver::new(ring.consumer()?)?;

    let start = Instant::now();
    let writer = std::thread::spawn(move || -> Result<(), String> {
        for i in 0..count {
            // A sequence number, then up to 56 bytes of payload.
            let mut message = [0u8; 64];
            let len = 8 + (i % 57) as usize;
            message[..8].copy_from_slice(&i.to_le_bytes());
            message[8..len].fill(i as u8);
            producer
                .send(&message[..len])
                .map_err(|e| e.without_message().to_string())?;
            if i % 10_000 == 0 {
                // A pause now and then, for the reader to wait through.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
        // The producer drops here: the stream ends once it is drained.
    });

    // The reader races a 5 ms timer: each tick drops the pending `next`
    // future, which is cancellation safe (a dropped receive took nothing).
    let mut timer = tokio::time::interval(Duration::from_millis(5));
    let (mut received, mut bytes, mut ticks) = (0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            message = next(&mut messages) => {
                let Some(message) = message else { break };
                let message = message?;
                let seq = u64::from_le_bytes(message[..8].try_into()?);
                if seq != received || message[8..].iter().any(|&b| b != seq as u8) {
                    return Err(format!("message {received} arrived as {seq}, or damaged").into());
                }
                received += 1;
                bytes += message.len() as u64;
            }
            _ = timer.tick() => ticks += 1,
        }
    }
    let elapsed = start.elapsed();
    writer.join().map_err(|_| "the writer panicked")??;

    println!(
        "received {received} messages ({bytes} bytes) in {:.1} ms ({:.2} M messages/s), \
         in order; {ticks} timer ticks meanwhile on the same thread; \
         end of file after the producer left",
        elapsed.as_secs_f64() * 1e3,
        received as f64 / elapsed.as_secs_f64() / 1e6,
    );
    assert_eq!(received, count);
    Ok(())
}
