//! Two processes stream many messages of random sizes through one ring:
//! nothing may be lost, duplicated, reordered or torn.
mod common;

use common::{Name, Peer};
use shmring::SpscBuilder;
use shmring::prelude::*;

fn stream(capacity: u64, max_len: u64, count: u64, produce_mode: &str, consume_mode: &str) {
    let name = Name::new("stream");
    let _ring = SpscBuilder::new()
        .capacity(capacity)
        .max_message(max_len)
        .create(&name)
        .unwrap();
    let seed = u64::from(std::process::id()) * 7919 + capacity;
    let (count, seed, max) = (count.to_string(), seed.to_string(), max_len.to_string());
    let consumer = Peer::spawn(&["consume", &name, &count, &seed, &max, consume_mode]);
    let producer = Peer::spawn(&["produce", &name, &count, &seed, &max, produce_mode]);
    assert_eq!(producer.finish(), [format!("sent {count}")]);
    assert_eq!(consumer.finish(), [format!("received {count}")]);
}

#[test]
fn a_million_random_sized_messages_arrive_intact_and_in_order() {
    stream(1 << 16, 256, 1_000_000, "plain", "guard");
}

#[test]
fn wrap_around_heavy_small_ring_with_messages_near_the_maximum() {
    // 256-byte ring, messages up to 64 bytes: a padding record every few
    // messages, and the ring is full most of the time.
    stream(256, 64, 200_000, "plain", "guard");
}

#[test]
fn batches_and_drains_keep_order() {
    stream(4096, 1024, 100_000, "batch", "drain");
}

#[test]
fn zero_copy_reserve_and_copying_receive_agree() {
    stream(1 << 12, 1024, 100_000, "reserve", "copy");
}

#[test]
fn empty_messages_are_messages() {
    let name = Name::new("empty");
    let ring = SpscBuilder::new().capacity(64).create(&name).unwrap();
    let (mut producer, mut consumer) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for _ in 0..1000 {
        producer.try_send(&[]).unwrap();
        assert_eq!(consumer.try_recv().unwrap().len(), 0);
    }
    assert_eq!(ring.messages_in_flight(), 0);
}

/// The contract the C API's zero-copy calls rest on: a reservation or a
/// receive changes nothing in the ring until it is committed or dropped,
/// so an uncommitted grant is the same room next time and a forgotten
/// guard the same message.
#[test]
fn forgotten_grants_and_guards_leave_the_ring_unchanged() {
    let name = Name::new("forget");
    let ring = SpscBuilder::new().capacity(256).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    for round in 0..40u8 {
        // Wraps the 256-byte ring several times (padding records included).
        let len = 5 + usize::from(round % 23);
        // Reserved, written, never committed.
        let first = {
            let mut grant = producer.try_reserve(len).unwrap();
            grant.fill(round);
            grant.as_ptr()
        };
        assert_eq!(
            consumer.try_recv().unwrap_err(),
            shmring::TryRecvError::Empty
        );
        let grant = producer.try_reserve(len).unwrap();
        assert_eq!(grant.as_ptr(), first, "the same room");
        assert!(grant.iter().all(|&b| b == round), "with the bytes written");
        grant.commit();

        let guard = consumer.try_recv().unwrap();
        let at = guard.as_ptr();
        std::mem::forget(guard);
        let again = consumer.try_recv().unwrap();
        assert_eq!((again.as_ptr(), again.len()), (at, len), "the same message");
        assert!(again.iter().all(|&b| b == round));
        drop(again);
        assert_eq!(
            consumer.try_recv().unwrap_err(),
            shmring::TryRecvError::Empty
        );
    }
}
