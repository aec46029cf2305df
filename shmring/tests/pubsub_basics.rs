//! The publish/subscribe kind in one process: fan-out, order, late join,
//! lossy lag accounting, zero-copy, disconnect.

mod common;

use common::Name;
use shmring::prelude::*;
use shmring::{Delivery, JoinAt, PubSubBuilder, RecvError, TryRecvError};

fn name(tag: &str) -> Name {
    Name::new(tag)
}

#[test]
fn every_subscriber_sees_every_message_in_order() {
    let n = name("fanout");
    let ring = PubSubBuilder::new()
        .slots(8)
        .max_message(16)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    let mut subs: Vec<_> = (0..3).map(|_| ring.subscriber().unwrap()).collect();
    for round in 0..10u64 {
        for i in 0..8u64 {
            publisher.try_send(&(round * 8 + i).to_ne_bytes()).unwrap();
        }
        // Lossless and full: the publisher waits for the slowest.
        assert!(matches!(
            publisher.try_send(b"x"),
            Err(shmring::TrySendError::Full(_))
        ));
        for s in subs.iter_mut() {
            for i in 0..8u64 {
                let g = s.try_recv().unwrap();
                assert_eq!(g.value::<u64>(), Some(round * 8 + i));
            }
            assert_eq!(s.try_recv().unwrap_err(), TryRecvError::Empty);
        }
    }
    drop(publisher);
    for s in subs.iter_mut() {
        assert_eq!(s.try_recv().unwrap_err(), TryRecvError::Disconnected);
    }
}

#[test]
fn a_late_subscriber_starts_at_the_next_or_the_oldest() {
    let n = name("late");
    let ring = PubSubBuilder::new()
        .slots(4)
        .max_message(8)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    for i in 0..10u64 {
        publisher.try_send(&i.to_ne_bytes()).unwrap();
    }
    let mut next = ring.subscriber().unwrap();
    let mut oldest = ring.subscriber_at(JoinAt::Oldest).unwrap();
    publisher.try_send(&10u64.to_ne_bytes()).unwrap();
    assert_eq!(next.try_recv().unwrap().value::<u64>(), Some(10));
    // slots = 4; head was 10 when it joined: 7, 8, 9 are still there.
    let got: Vec<u64> = (0..4)
        .map(|_| oldest.try_recv().unwrap().value::<u64>().unwrap())
        .collect();
    assert_eq!(got, vec![7, 8, 9, 10]);
}

#[test]
fn a_lossy_subscriber_counts_exactly_what_it_missed() {
    let n = name("lossy");
    let ring = PubSubBuilder::new()
        .slots(4)
        .max_message(8)
        .delivery(Delivery::Lossy)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    let mut sub = ring.subscriber().unwrap();
    for i in 0..10u64 {
        publisher.try_send(&i.to_ne_bytes()).unwrap();
    }
    match sub.try_recv() {
        Err(TryRecvError::Lagged(n)) => assert_eq!(n, 7),
        other => panic!("expected a lag, got {other:?}"),
    }
    let got: Vec<u64> = (0..3)
        .map(|_| sub.try_recv().unwrap().value::<u64>().unwrap())
        .collect();
    assert_eq!(got, vec![7, 8, 9]);
    assert_eq!(sub.missed(), 7);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
}

#[test]
fn zero_copy_publish_is_seen_by_all() {
    let n = name("zc");
    let ring = PubSubBuilder::new()
        .slots(4)
        .max_message(64)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    let (mut a, mut b) = (ring.subscriber().unwrap(), ring.subscriber().unwrap());
    let mut grant = publisher.reserve(5).unwrap();
    grant.copy_from_slice(b"hello");
    grant.commit();
    // An uncommitted grant publishes nothing.
    let unused = publisher.reserve(3).unwrap();
    let _ = unused;
    assert_eq!(&*a.recv().unwrap(), b"hello");
    assert_eq!(&*b.recv().unwrap(), b"hello");
    assert_eq!(a.try_recv().unwrap_err(), TryRecvError::Empty);
    drop(publisher);
    assert_eq!(a.recv().unwrap_err(), RecvError::Disconnected);
}

#[test]
fn a_leaving_subscriber_stops_holding_the_publisher() {
    let n = name("leave");
    let ring = PubSubBuilder::new()
        .slots(2)
        .max_message(8)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    let slow = ring.subscriber().unwrap();
    publisher.try_send(b"1").unwrap();
    publisher.try_send(b"2").unwrap();
    assert!(publisher.try_send(b"3").is_err());
    drop(slow);
    publisher.try_send(b"3").unwrap();
    assert_eq!(ring.subscriber_count(), 0);
}

#[test]
fn too_many_subscribers_is_an_error() {
    let n = name("many");
    let ring = PubSubBuilder::new().subscribers(2).create(&n).unwrap();
    shmring::unlink(&n).unwrap();
    let _a = ring.subscriber().unwrap();
    let _b = ring.subscriber().unwrap();
    assert!(matches!(
        ring.subscriber(),
        Err(shmring::AttachError::TooManyEndpoints)
    ));
}
