//! Sends each line of standard input as one message.
//!
//! ```text
//! terminal 1: cargo run --example consumer -- demo
//! terminal 2: cargo run --example producer -- demo      (type lines; Ctrl-D ends)
//! ```
//! Either side may start first: each creates the segment if it is missing.
use shmring::prelude::*;
use shmring::{OpenError, Spsc, SpscBuilder};
use std::io::BufRead;

fn create_or_open(name: &str) -> Result<Spsc, OpenError> {
    let builder = SpscBuilder::new().capacity(1 << 20).max_message(64 * 1024);
    match builder.create(name) {
        Err(OpenError::AlreadyExists) => builder.open(name),
        other => other,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shmring-demo".to_owned());
    let ring = create_or_open(&name)?;
    let mut producer = ring.producer()?;
    eprintln!("producer on {name:?}: type lines, Ctrl-D to end");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        producer
            .send(line.as_bytes())
            .map_err(|e| e.without_message())?;
    }
    // Dropping the producer is the consumer's end of file.
    Ok(())
}
