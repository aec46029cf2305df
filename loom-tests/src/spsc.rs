//! The SPSC publish/consume protocol, wrap-around included.

use crate::{message, recv_polling, send_polling, tiny_ring};
use loom::thread;
use shmring::prelude::*;

/// Four messages of 3–16 bytes through a 64-byte ring: it fills up and
/// wraps (a padding record) at least once. The consumer must see them in
/// order, byte for byte.
pub fn wrapping_stream() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        for i in 0..4 {
            send_polling(&mut producer, &message(i)).unwrap();
        }
    });
    for i in 0..4 {
        assert_eq!(
            recv_polling(&mut consumer).unwrap(),
            message(i),
            "message {i}"
        );
    }
    sender.join().unwrap();
}

/// Three messages pushed into one batch become visible together, intact.
pub fn batch_commit() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        let mut batch = producer.batch();
        for i in 0..3 {
            batch.try_push(&message(i)[..3]).unwrap();
        }
        assert_eq!(batch.commit(), 3);
    });
    for i in 0..3 {
        assert_eq!(
            recv_polling(&mut consumer).unwrap(),
            message(i)[..3],
            "message {i}"
        );
    }
    sender.join().unwrap();
}

/// A reservation dropped without commit publishes nothing; the message
/// after it arrives alone.
pub fn dropped_reservation() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        let mut grant = producer.try_reserve(12).unwrap();
        grant.copy_from_slice(&[0xee; 12]);
        drop(grant);
        send_polling(&mut producer, &message(1)).unwrap();
    });
    assert_eq!(recv_polling(&mut consumer).unwrap(), message(1));
    sender.join().unwrap();
}
