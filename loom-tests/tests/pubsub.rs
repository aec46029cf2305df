//! Models of the publish/subscribe protocol (`shmring/src/ring/broadcast.rs`,
//! `shmring/src/channel/pubsub/membership.rs`): lossless fan-out against
//! two subscribers, lossy lag accounting with the seqlock check, a join
//! racing the publisher, a subscriber that dies while the publisher
//! waits for it, a subscriber showing its cursor in batches to a
//! publisher that waits for room, and parked subscribers woken by a
//! publisher that skips the wake-up while they are all marked woken.
//!
//! Every ring but the last model's has two slots, so that message `s + 2` reuses the slot of
//! message `s`. Payloads are two words, each a different function of the
//! message's sequence number: a stale word, or one torn from another
//! message, shows. Each model races only a few calls (`try_*`, no polling
//! loops, at most one parked wait) and checks the rest single-threaded
//! after the threads are joined: loom's state space grows with every
//! shared access of the racing part.
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

use loom::thread;
use shmring::prelude::*;
use shmring::pubsub::{Publisher, Subscriber};
use shmring::{Delivery, PubSub, TryRecvError, TrySendError, WaitStrategy};
use std::sync::Arc;

const SLOTS: u64 = 2;
const SLOT_SIZE: u64 = 16;

fn ring(subscribers: u32, delivery: Delivery) -> PubSub {
    PubSub::on_heap(SLOTS, SLOT_SIZE, subscribers, delivery, WaitStrategy::Park)
}

/// The payload of message `seq`.
fn payload(seq: u64) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&(seq + 1).to_ne_bytes());
    bytes[8..].copy_from_slice(&(!seq).wrapping_mul(0x9e37_79b9).to_ne_bytes());
    bytes
}

/// Publishes message `seq`; `false` if a lossless ring is full.
fn try_publish(publisher: &mut Publisher, seq: u64) -> bool {
    match publisher.try_send(&payload(seq)) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => false,
        Err(e) => panic!("send {seq}: {e:?}"),
    }
}

/// One lossless receive: the message at the subscriber's position,
/// intact, whose slot is not published over while its guard is held
/// (`published` stays within a ring of it); `None` if nothing is there.
fn try_receive(ring: &PubSub, subscriber: &mut Subscriber) -> Option<u64> {
    let expected = subscriber.position();
    match subscriber.try_recv() {
        Ok(msg) => {
            let seq = msg.sequence();
            assert_eq!(seq, expected, "a message skipped or repeated");
            assert_eq!(&*msg, &payload(seq), "message {seq} stale or torn");
            assert!(
                ring.published() <= seq + SLOTS,
                "message {seq}'s slot was reused under its guard"
            );
            Some(seq)
        }
        Err(TryRecvError::Empty) => None,
        Err(e) => panic!("lossless receive at {expected}: {e:?}"),
    }
}

/// Lossless: with messages 0 and 1 in both slots, the publisher tries
/// message 2, which reuses message 0's slot, while two subscribers (each
/// in its own thread) read message 0. The publisher gets `Full` unless
/// both had passed message 0, and neither sees its slot reused under its
/// guard. Afterwards both get 1 and 2, in order, intact.
fn lossless_publish_to_two_subscribers() {
    let ring = Arc::new(ring(2, Delivery::Lossless));
    let mut publisher = ring.publisher().unwrap();
    let mut a = ring.subscriber().unwrap();
    let mut b = ring.subscriber().unwrap();
    assert!(try_publish(&mut publisher, 0) && try_publish(&mut publisher, 1));
    let publishing = thread::spawn(move || {
        let sent = try_publish(&mut publisher, 2);
        (publisher, sent)
    });
    let other = {
        let ring = Arc::clone(&ring);
        thread::spawn(move || {
            assert_eq!(try_receive(&ring, &mut a), Some(0));
            a
        })
    };
    assert_eq!(try_receive(&ring, &mut b), Some(0));
    let mut a = other.join().unwrap();
    let (mut publisher, sent) = publishing.join().unwrap();
    if !sent {
        assert!(try_publish(&mut publisher, 2), "both passed message 0");
    }
    drop(publisher);
    for s in [&mut a, &mut b] {
        assert_eq!(try_receive(&ring, s), Some(1));
        assert_eq!(try_receive(&ring, s), Some(2));
        assert_eq!(s.try_recv().unwrap_err(), TryRecvError::Disconnected);
    }
}

/// Lossy: with messages 0 and 1 in both slots, the publisher writes 2 and
/// 3 over them while the subscriber receives twice. Every message
/// delivered is intact (never torn by a rewrite of its slot during the
/// copy); the delivered and the reported lost messages partition `0..4`
/// in order, and `missed()` agrees.
fn lossy_subscriber_counts_exactly_what_it_missed() {
    const N: u64 = 4;
    let ring = ring(1, Delivery::Lossy);
    let mut publisher = ring.publisher().unwrap();
    let mut subscriber = ring.subscriber().unwrap();
    assert!(try_publish(&mut publisher, 0) && try_publish(&mut publisher, 1));
    let publishing = thread::spawn(move || {
        assert!(try_publish(&mut publisher, 2) && try_publish(&mut publisher, 3));
    });
    let (mut next, mut received, mut missed) = (0, 0, 0);
    let mut take = |subscriber: &mut Subscriber| match subscriber.try_recv() {
        Ok(msg) => {
            let seq = msg.sequence();
            assert_eq!(seq, next, "a message delivered out of order");
            assert_eq!(&*msg, &payload(seq), "message {seq} torn");
            next += 1;
            received += 1;
            true
        }
        Err(TryRecvError::Lagged(n)) => {
            assert!(n > 0, "an empty lag reported");
            next += n;
            missed += n;
            true
        }
        Err(TryRecvError::Empty | TryRecvError::Disconnected) => false,
        Err(e) => panic!("lossy receive: {e:?}"),
    };
    take(&mut subscriber);
    take(&mut subscriber);
    publishing.join().unwrap();
    while take(&mut subscriber) {}
    assert_eq!(received + missed, N, "received + missed == published");
    assert_eq!(subscriber.missed(), missed);
    assert_eq!(
        subscriber.try_recv().unwrap_err(),
        TryRecvError::Disconnected
    );
}

/// Lossless: message 0 was published to nobody; a subscriber joins while
/// the publisher tries 1, 2 and 3 (stopping at the first `Full`). With
/// nobody subscribed the publisher's bound is unlimited: it must notice
/// the join through the membership epoch, or the joiner must have read a
/// `head` late enough (Dekker). The joiner's first message is some `k`;
/// it then gets `k + 1`, … up to 3, none skipped, none overwritten.
fn a_joiner_racing_the_publisher_misses_nothing_after_its_start() {
    const N: u64 = 4;
    let ring = Arc::new(ring(1, Delivery::Lossless));
    let mut publisher = ring.publisher().unwrap();
    assert!(try_publish(&mut publisher, 0));
    let publishing = thread::spawn(move || {
        let mut next = 1;
        while next < N && try_publish(&mut publisher, next) {
            next += 1;
        }
        (publisher, next)
    });
    let mut subscriber = ring.subscriber().unwrap();
    let start = subscriber.position();
    let mut got: Vec<u64> = try_receive(&ring, &mut subscriber).into_iter().collect();
    let (mut publisher, mut next) = publishing.join().unwrap();
    assert!((1..=next).contains(&start), "joined at {start}");
    while subscriber.position() < N {
        while next < N && try_publish(&mut publisher, next) {
            next += 1;
        }
        got.push(try_receive(&ring, &mut subscriber).expect("a message"));
    }
    assert_eq!(got, (start..N).collect::<Vec<_>>());
}

/// Lossless: the publisher has filled the ring and parks in a blocking
/// `send` (no deadline) on a subscriber that read nothing; another
/// subscriber has read everything. The stalled subscriber is removed as a
/// reaper removes a dead process's entry: the publisher wakes, and its
/// message reaches the live subscriber. (Time stands still in the
/// models: only the removal's wake-up can end the wait, or loom reports a
/// deadlock.)
fn a_dead_subscriber_stops_holding_the_publisher_back() {
    let ring = ring(2, Delivery::Lossless);
    let mut publisher = ring.publisher().unwrap();
    let dead = ring.subscriber().unwrap();
    let mut live = ring.subscriber().unwrap();
    assert!(try_publish(&mut publisher, 0) && try_publish(&mut publisher, 1));
    assert_eq!(try_receive(&ring, &mut live), Some(0));
    assert_eq!(try_receive(&ring, &mut live), Some(1));
    assert!(
        !try_publish(&mut publisher, 2),
        "the dead subscriber holds it"
    );
    let publishing = thread::spawn(move || publisher.send(&payload(2)).unwrap());
    assert!(ring.remove_as_if_dead(&dead), "the entry was held");
    publishing.join().unwrap();
    assert_eq!(try_receive(&ring, &mut live), Some(2));
    assert_eq!((ring.subscriber_count(), ring.reaped()), (1, 1));
    drop(dead);
    assert_eq!(ring.subscriber_count(), 1, "a removed subscriber's leave");
}

/// Lossless, a ring of 16 slots, where a subscriber shows its cursor to
/// the publisher every 2 messages (`slots / 8`), not every message: the
/// publisher has filled the ring and parks in a blocking `send` while the
/// subscriber reads messages 0 and 1. The second read shows the cursor
/// and must wake the publisher (time stands still: a lost wake-up is a
/// loom deadlock); the message it then writes over message 0's slot is
/// read intact after the fifteen before it.
fn a_batched_cursor_wakes_a_full_publisher() {
    const BATCHED_SLOTS: u64 = 16;
    let ring = Arc::new(PubSub::on_heap(
        BATCHED_SLOTS,
        SLOT_SIZE,
        1,
        Delivery::Lossless,
        WaitStrategy::Park,
    ));
    let mut publisher = ring.publisher().unwrap();
    let mut subscriber = ring.subscriber().unwrap();
    for seq in 0..BATCHED_SLOTS {
        assert!(try_publish(&mut publisher, seq));
    }
    assert!(!try_publish(&mut publisher, BATCHED_SLOTS), "full");
    let publishing = thread::spawn(move || {
        publisher.send(&payload(BATCHED_SLOTS)).unwrap();
        publisher
    });
    for seq in 0..2 {
        let msg = subscriber.try_recv().unwrap();
        assert_eq!((msg.sequence(), &*msg), (seq, &payload(seq)[..]));
    }
    drop(publishing.join().unwrap());
    for seq in 2..=BATCHED_SLOTS {
        let msg = subscriber.try_recv().unwrap();
        assert_eq!((msg.sequence(), &*msg), (seq, &payload(seq)[..]));
    }
    assert_eq!(
        subscriber.try_recv().unwrap_err(),
        TryRecvError::Disconnected
    );
}

/// Lossless: two subscribers parked in blocking receives, one for two
/// messages, the other for one, while the publisher publishes two. The
/// first publication wakes every sleeper and marks them woken (`WOKEN`):
/// the second makes no system call while the mark stands. A subscriber
/// that announces itself again clears the mark, so a publication that
/// skipped the wake-up is always one whose message it then sees (a lost
/// wake-up would be a loom deadlock).
fn a_skipped_wake_all_loses_no_subscriber() {
    let ring = Arc::new(ring(2, Delivery::Lossless));
    let mut publisher = ring.publisher().unwrap();
    let mut a = ring.subscriber().unwrap();
    let mut b = ring.subscriber().unwrap();
    let reading_two = thread::spawn(move || {
        for seq in 0..2 {
            let msg = a.recv().unwrap();
            assert_eq!((msg.sequence(), &*msg), (seq, &payload(seq)[..]));
        }
    });
    let reading_one = thread::spawn(move || {
        let msg = b.recv().unwrap();
        assert_eq!((msg.sequence(), &*msg), (0, &payload(0)[..]));
    });
    assert!(try_publish(&mut publisher, 0));
    assert!(try_publish(&mut publisher, 1));
    reading_two.join().unwrap();
    reading_one.join().unwrap();
}

#[test]
fn lossless_two_subscribers() {
    loom::model(lossless_publish_to_two_subscribers);
}

#[test]
fn lossy_lag_accounting() {
    loom::model(lossy_subscriber_counts_exactly_what_it_missed);
}

#[test]
fn join_race() {
    loom::model(a_joiner_racing_the_publisher_misses_nothing_after_its_start);
}

#[test]
fn batched_cursor() {
    loom::model(a_batched_cursor_wakes_a_full_publisher);
}

#[test]
fn skipped_wake_all() {
    loom::model(a_skipped_wake_all_loses_no_subscriber);
}

#[test]
fn subscriber_death() {
    loom::model(a_dead_subscriber_stops_holding_the_publisher_back);
}
