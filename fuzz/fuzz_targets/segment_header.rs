//! Any bytes as a segment file: opening must give a typed error or a ring
//! that then works or reports `Corrupt`; never a panic, a hang or SIGBUS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmring::SpscBuilder;
use shmring::prelude::*;
use std::io::Write;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create(
        "shmring-fuzz",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .unwrap();
    let mut file = std::fs::File::from(fd);
    file.write_all(data).unwrap();
    // As the broker hands them out: only sealed memfds are adopted.
    rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW).unwrap();
    let Ok(ring) = SpscBuilder::new()
        .open_timeout(Duration::ZERO)
        .from_fd(file.into(), shmring::Doorbells::create().unwrap())
    else {
        return;
    };
    let (Ok(mut producer), Ok(mut consumer)) = (ring.producer(), ring.consumer()) else {
        return;
    };
    for i in 0..8u8 {
        let _ = producer.try_send(&[i; 5]);
        if let Ok(msg) = consumer.try_recv() {
            assert!(msg.len() as u64 <= ring.max_message());
        }
    }
});
