//! Prints every message until the producer goes away, then removes the
//! segment name. See `producer.rs` for the two-terminal walk-through.
use shmring::prelude::*;
use shmring::{OpenError, RecvError, Spsc, SpscBuilder};

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
    let mut consumer = ring.consumer()?;
    eprintln!("consumer on {name:?}: waiting for messages");
    let mut count = 0u64;
    loop {
        match consumer.recv() {
            Ok(message) => {
                count += 1;
                println!("{}", String::from_utf8_lossy(&message));
            }
            // Like a pipe: end of file once the producer left and the
            // ring is drained.
            Err(RecvError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    eprintln!("producer gone after {count} messages");
    shmring::unlink(&name)?;
    Ok(())
}
