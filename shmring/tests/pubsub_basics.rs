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

/// A lossless subscriber hands room back in batches (`slots / 8`), so a
/// ring of 16 slots full of messages it has started reading stays full
/// for the publisher until it has read 2 of them; what `stat` shows is
/// exact after every message all the same, and finding the ring empty
/// hands everything back.
#[test]
fn a_lossless_subscriber_hands_room_back_in_batches_and_stat_stays_exact() {
    let n = name("batch");
    let ring = PubSubBuilder::new()
        .slots(16)
        .max_message(8)
        .create(&n)
        .unwrap();
    shmring::unlink(&n).unwrap();
    let mut publisher = ring.publisher().unwrap();
    let mut subscriber = ring.subscriber().unwrap();
    for i in 0..16u64 {
        publisher.try_send(&i.to_le_bytes()).unwrap();
    }
    assert!(publisher.try_send(b"full").is_err());
    let position = |ring: &shmring::PubSub| {
        let s = &ring.subscriber_states()[0];
        (s.cursor, s.received, s.lag)
    };
    drop(subscriber.try_recv().unwrap());
    assert_eq!(position(&ring), (1, 1, 15));
    assert!(
        publisher.try_send(b"full").is_err(),
        "one read: no room yet"
    );
    drop(subscriber.try_recv().unwrap());
    assert_eq!(position(&ring), (2, 2, 14));
    publisher.try_send(&16u64.to_le_bytes()).unwrap();
    for i in 2..17u64 {
        assert_eq!(&*subscriber.try_recv().unwrap(), &i.to_le_bytes());
    }
    // 17 read, 16 handed back: the empty look hands back the last one.
    assert_eq!(subscriber.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(position(&ring), (17, 17, 0));
    for i in 17..33u64 {
        publisher.try_send(&i.to_le_bytes()).unwrap();
    }
    assert!(publisher.try_send(b"full").is_err());
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

/// Whether `fd` polls ready for `flags` within `wait`.
fn ready(fd: impl std::os::fd::AsFd, flags: rustix::event::PollFlags, wait: Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(&fd, flags)];
    let timeout = rustix::event::Timespec::try_from(wait).unwrap();
    rustix::event::poll(&mut fds, Some(&timeout)).unwrap() > 0 && fds[0].revents().intersects(flags)
}

use rustix::event::PollFlags;
use std::os::fd::AsFd;
use std::time::Duration;

const NOW: Duration = Duration::ZERO;
const BOUND: Duration = Duration::from_secs(10);

#[test]
fn each_subscriber_descriptor_wakes_for_its_own_messages() {
    let n = name("fd");
    let ring = PubSubBuilder::new()
        .slots(8)
        .max_message(8)
        .create(&n)
        .unwrap();
    let mut publisher = ring.publisher().unwrap();
    let (mut a, mut b) = (ring.subscriber().unwrap(), ring.subscriber().unwrap());
    // Nothing yet: taking the descriptor arms it, and it stays quiet.
    assert!(!ready(a.as_fd(), PollFlags::IN, Duration::from_millis(20)));
    assert!(!ready(b.as_fd(), PollFlags::IN, NOW));
    publisher.send(b"one").unwrap();
    assert!(ready(a.as_fd(), PollFlags::IN, BOUND));
    assert!(ready(b.as_fd(), PollFlags::IN, BOUND));
    // One subscriber taking its message leaves the other's readiness alone.
    assert_eq!(&*a.try_recv().unwrap(), b"one");
    assert_eq!(a.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(!ready(a.as_fd(), PollFlags::IN, NOW));
    assert!(ready(b.as_fd(), PollFlags::IN, NOW));
    assert_eq!(&*b.try_recv().unwrap(), b"one");
    assert_eq!(b.try_recv().unwrap_err(), TryRecvError::Empty);
    // The publisher's end makes both readable: then end of file.
    drop(publisher);
    for s in [&mut a, &mut b] {
        assert!(ready(s.as_fd(), PollFlags::IN, BOUND));
        assert_eq!(s.try_recv().unwrap_err(), TryRecvError::Disconnected);
    }
}

#[test]
fn a_full_lossless_publisher_descriptor_waits_for_room() {
    let n = name("fd-room");
    let ring = PubSubBuilder::new()
        .slots(2)
        .max_message(8)
        .create(&n)
        .unwrap();
    let mut publisher = ring.publisher().unwrap();
    let mut sub = ring.subscriber().unwrap();
    assert!(ready(publisher.as_fd(), PollFlags::OUT, NOW));
    publisher.try_send(b"1").unwrap();
    publisher.try_send(b"2").unwrap();
    assert!(publisher.try_send(b"3").is_err());
    assert!(!ready(
        publisher.as_fd(),
        PollFlags::OUT,
        Duration::from_millis(20)
    ));
    drop(sub.try_recv().unwrap());
    assert!(ready(publisher.as_fd(), PollFlags::OUT, BOUND));
    publisher.try_send(b"3").unwrap();
}

#[test]
fn a_poller_waits_on_subscribers_of_two_rings() {
    let (n1, n2) = (name("poll-1"), name("poll-2"));
    let lossy = PubSubBuilder::new().delivery(Delivery::Lossy);
    let (r1, r2) = (lossy.create(&n1).unwrap(), lossy.create(&n2).unwrap());
    let (mut p1, mut p2) = (r1.publisher().unwrap(), r2.publisher().unwrap());
    let (mut s1, mut s2) = (r1.subscriber().unwrap(), r2.subscriber().unwrap());
    let mut poller = shmring::Poller::new().unwrap();
    poller.add(&s1, 1).unwrap();
    poller.add(&s2, 2).unwrap();
    let mut events = shmring::Events::new();
    // A poller reports what it was just given as ready once: receive
    // until empty (which arms), then wait.
    poller.wait(&mut events, Some(BOUND)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(s1.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(s2.try_recv().unwrap_err(), TryRecvError::Empty);
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        p2.send(b"two").unwrap();
        p1
    });
    poller.wait(&mut events, Some(BOUND)).unwrap();
    let keys: Vec<u64> = events.iter().map(|e| e.key).collect();
    assert_eq!(keys, vec![2]);
    assert_eq!(&*s2.try_recv().unwrap(), b"two");
    assert_eq!(s1.try_recv().unwrap_err(), TryRecvError::Empty);
    p1 = sender.join().unwrap();
    // The second publisher is gone by now: its subscriber's descriptor
    // reports that (end of file) until it is removed.
    assert_eq!(s2.try_recv().unwrap_err(), TryRecvError::Disconnected);
    poller.remove(&s2).unwrap();
    p1.send(b"one").unwrap();
    poller.wait(&mut events, Some(BOUND)).unwrap();
    let keys: Vec<u64> = events.iter().map(|e| e.key).collect();
    assert_eq!(keys, vec![1]);
    assert_eq!(&*s1.try_recv().unwrap(), b"one");
}
