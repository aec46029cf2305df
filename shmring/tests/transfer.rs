//! Two processes stream many messages of random sizes through one ring:
//! nothing may be lost, duplicated, reordered or torn.
mod common;

use common::{Name, Peer};
use shmring::SpscBuilder;

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
