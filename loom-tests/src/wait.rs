//! The futex waiter protocol: no lost wake-up. A waiter that is never
//! woken blocks in the futex mock forever, which loom reports as a
//! deadlock.

use crate::tiny_ring;
use loom::thread;
use shmring::prelude::*;

/// The consumer parks on the empty ring while the producer publishes one
/// (empty) message. Empty, so that only the wake-up is under test.
pub fn consumer_wakes_for_a_message() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let receiver = thread::spawn(move || {
        assert_eq!(consumer.recv().unwrap().len(), 0);
        consumer
    });
    producer.send(&[]).unwrap();
    // Keep the producer attached until the message is taken, so that the
    // wake-up, not the disconnect, is what ends the wait.
    drop(receiver.join().unwrap());
    drop(producer);
}

/// The producer parks on a full ring while the consumer frees space.
pub fn producer_wakes_for_space() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    // 64-byte ring: after two 24-byte records at 0 and 24 the third needs
    // a 16-byte padding, its 24 bytes and the 8-byte zeroed slot: both
    // earlier records must be consumed first.
    producer.try_send(&[1; 16]).unwrap();
    producer.try_send(&[2; 16]).unwrap();
    assert!(producer.try_send(&[3; 16]).is_err());
    let sender = thread::spawn(move || {
        producer.send(&[3; 16]).unwrap();
        producer
    });
    assert_eq!(&*consumer.recv().unwrap(), &[1; 16]);
    assert_eq!(&*consumer.recv().unwrap(), &[2; 16]);
    let producer = sender.join().unwrap();
    assert_eq!(&*consumer.recv().unwrap(), &[3; 16]);
    drop(consumer);
    drop(producer);
}
