//! Dropping one side while the other sends or receives.

use crate::{message, tiny_ring};
use loom::thread;
use shmring::prelude::*;
use shmring::{RecvError, SendError};

/// The producer sends two messages and drops while the consumer is
/// blocked: the consumer gets both, then `Disconnected`, never a hang.
pub fn producer_drop_during_recv() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        producer.send(&message(0)).unwrap();
        producer.send(&message(1)).unwrap();
    });
    assert_eq!(&*consumer.recv().unwrap(), message(0).as_slice());
    assert_eq!(&*consumer.recv().unwrap(), message(1).as_slice());
    assert_eq!(consumer.recv().unwrap_err(), RecvError::Disconnected);
    sender.join().unwrap();
}

/// The consumer takes one message and drops while the producer keeps
/// sending into a ring that fills: every send either succeeds or reports
/// `Disconnected` (message handed back), and the producer never hangs.
pub fn consumer_drop_during_send() {
    let ring = tiny_ring();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        let mut sent = 0;
        for i in 0..4u8 {
            match producer.send(&[i; 16]) {
                Ok(()) => sent += 1,
                Err(SendError::Disconnected(msg)) => {
                    assert_eq!(msg, &[i; 16]);
                    return sent;
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        sent
    });
    assert_eq!(&*consumer.recv().unwrap(), &[0; 16]);
    drop(consumer);
    let sent = sender.join().unwrap();
    assert!(sent >= 1);
}
