//! The MPMC queue across processes: exactly-once delivery, per-producer
//! order, blocking with several waiters, disconnect, priorities.
mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{
    MpmcBuilder, OpenError, RecvTimeoutError, RingKind, SendTimeoutError, SpscBuilder,
    TryRecvError, TrySendError, WaitStrategy,
};
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn three_producers_three_consumers_every_message_exactly_once_in_order() {
    const PER_PRODUCER: u64 = 300_000;
    let name = Name::new("3x3");
    let queue = MpmcBuilder::new()
        .slots(1024)
        .slot_size(64)
        .create(&name)
        .unwrap();
    let mut consumers: Vec<Peer> = (0..3)
        .map(|_| Peer::spawn(&["mpmc-consume", &name]))
        .collect();
    for consumer in &mut consumers {
        consumer.expect("ready");
    }
    let count = PER_PRODUCER.to_string();
    let producers: Vec<Peer> = (0..3)
        .map(|id| Peer::spawn(&["mpmc-produce", &name, &id.to_string(), &count]))
        .collect();
    for producer in producers {
        assert_eq!(producer.finish(), [format!("sent {PER_PRODUCER}")]);
    }
    // Each consumer checked checksums and per-producer order itself; the
    // totals show that nothing was lost or delivered twice.
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut busy_consumers = 0;
    for consumer in consumers {
        let lines = consumer.finish();
        assert_eq!(lines.last().map(String::as_str), Some("done"), "{lines:?}");
        busy_consumers += usize::from(lines.len() > 1);
        for line in &lines[..lines.len() - 1] {
            let words: Vec<&str> = line.split(' ').collect();
            let (count, sum): (u64, u64) = (words[3].parse().unwrap(), words[5].parse().unwrap());
            let total = totals.entry(words[1].to_owned()).or_default();
            total.0 += count;
            total.1 += sum;
        }
    }
    let expected_sum = PER_PRODUCER * (PER_PRODUCER - 1) / 2;
    for id in ["0", "1", "2"] {
        assert_eq!(
            totals.get(id),
            Some(&(PER_PRODUCER, expected_sum)),
            "producer {id}"
        );
    }
    assert!(busy_consumers >= 1);
    assert_eq!(queue.messages_in_flight(), 0);
}

#[test]
fn several_parked_receivers_each_wake_for_a_message() {
    let name = Name::new("park-receivers");
    let queue = MpmcBuilder::new()
        .wait_strategy(WaitStrategy::Park)
        .create(&name)
        .unwrap();
    let sender = queue.sender().unwrap();
    let mut peers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn(&["mpmc-recv-one", &name, "30000"]))
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let receiver = queue.receiver().unwrap();
            std::thread::spawn(move || receiver.recv_timeout(PATIENCE).map(|m| m.to_vec()))
        })
        .collect();
    for peer in &mut peers {
        peer.expect("ready");
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..4 {
        sender.send(format!("m{i}").as_bytes()).unwrap();
    }
    let mut got: Vec<String> = threads
        .into_iter()
        .map(|t| String::from_utf8(t.join().unwrap().unwrap()).unwrap())
        .collect();
    for mut peer in peers {
        got.push(
            peer.line(PATIENCE)
                .trim_start_matches("message ")
                .to_owned(),
        );
        peer.finish();
    }
    got.sort();
    assert_eq!(got, ["m0", "m1", "m2", "m3"]);
}

#[test]
fn several_senders_parked_on_a_full_queue_each_get_through() {
    let name = Name::new("park-senders");
    let queue = MpmcBuilder::new()
        .slots(2)
        .wait_strategy(WaitStrategy::Park)
        .create(&name)
        .unwrap();
    let receiver = queue.receiver().unwrap();
    let first = queue.sender().unwrap();
    first.try_send(b"a").unwrap();
    first.try_send(b"b").unwrap();
    assert!(matches!(first.try_send(b"c"), Err(TrySendError::Full(_))));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let sender = first.clone();
            std::thread::spawn(move || sender.send_timeout(&[i], PATIENCE).is_ok())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(receiver.recv_timeout(PATIENCE).unwrap().to_vec());
    }
    assert!(threads.into_iter().all(|t| t.join().unwrap()));
    assert_eq!(&got[..2], [b"a".to_vec(), b"b".to_vec()]);
    let mut rest: Vec<u8> = got[2..].iter().map(|m| m[0]).collect();
    rest.sort();
    assert_eq!(rest, [0, 1, 2]);
}

#[test]
fn timeouts_hand_the_message_back_and_report_empty() {
    let name = Name::new("timeouts");
    let queue = MpmcBuilder::new().slots(2).create(&name).unwrap();
    let (sender, receiver) = (queue.sender().unwrap(), queue.receiver().unwrap());
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(
        receiver
            .recv_timeout(Duration::from_millis(20))
            .unwrap_err(),
        RecvTimeoutError::Timeout
    );
    sender.send(b"1").unwrap();
    sender.send(b"2").unwrap();
    let err = sender
        .send_timeout(b"3", Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::Timeout(m) if m == b"3"));
    assert!(matches!(
        sender.try_send(&[0; 300]),
        Err(TrySendError::TooLarge(_))
    ));
}

#[test]
fn receivers_drain_then_see_disconnected_when_every_sender_is_gone_even_a_killed_one() {
    let name = Name::new("senders-gone");
    let queue = MpmcBuilder::new().create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let local = queue.sender().unwrap();
    let mut held = Peer::spawn(&["mpmc-hold-sender", &name]);
    held.expect("ready");
    Peer::spawn(&["mpmc-send", &name, "0", "x", "y"]).finish();
    local.send(b"z").unwrap();
    drop(local);
    let mut got: Vec<Vec<u8>> = (0..3)
        .map(|_| receiver.recv_timeout(PATIENCE).unwrap().to_vec())
        .collect();
    got.sort();
    assert_eq!(got, [b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
    // One sender is still attached (alive): no end of file yet.
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(queue.live_senders(), 1);
    held.kill9();
    assert_eq!(
        receiver.recv_timeout(Duration::from_secs(1)).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
    assert_eq!(queue.live_senders(), 0);
}

#[test]
fn senders_see_disconnected_when_every_receiver_is_gone_even_a_killed_one() {
    let name = Name::new("receivers-gone");
    let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
    let sender = queue.sender().unwrap();
    let local = queue.receiver().unwrap();
    let mut held = Peer::spawn(&["mpmc-hold-receiver", &name]);
    held.expect("ready");
    drop(local);
    while sender.try_send(b"fill").is_ok() {}
    held.kill9();
    let err = sender
        .send_timeout(b"more", Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, SendTimeoutError::Disconnected(_)), "{err:?}");
    assert!(matches!(
        sender.try_send(b"x"),
        Err(TrySendError::Disconnected(_))
    ));
}

#[test]
fn the_highest_priority_is_received_first_across_processes() {
    let name = Name::new("priorities");
    let queue = MpmcBuilder::new().priorities(8).create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    Peer::spawn(&["mpmc-send", &name, "0", "low-1", "low-2"]).finish();
    Peer::spawn(&["mpmc-send", &name, "7", "top-1", "top-2"]).finish();
    Peer::spawn(&["mpmc-send", &name, "3", "mid"]).finish();
    let got: Vec<String> = (0..5)
        .map(|_| String::from_utf8(receiver.recv_timeout(PATIENCE).unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(got, ["top-1", "top-2", "mid", "low-1", "low-2"]);
}

#[test]
fn a_dropped_reservation_is_skipped_and_zero_copy_round_trips() {
    let name = Name::new("grants");
    let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
    let (sender, receiver) = (queue.sender().unwrap(), queue.receiver().unwrap());
    drop(sender.try_reserve(8).unwrap());
    let mut grant = sender.reserve(5).unwrap();
    grant.copy_from_slice(b"hello");
    grant.commit_len(4);
    sender.send_value(&42u64).unwrap();
    assert_eq!(&*receiver.recv_timeout(PATIENCE).unwrap(), b"hell");
    assert_eq!(receiver.recv_value::<u64>().unwrap(), 42);
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    // The skipped slot was freed: all four slots are usable again.
    for i in 0..4u8 {
        sender.try_send(&[i]).unwrap();
    }
}

#[test]
fn kinds_are_not_interchangeable() {
    let spsc = Name::new("kind-spsc");
    let mpmc = Name::new("kind-mpmc");
    SpscBuilder::new().create(&spsc).unwrap();
    MpmcBuilder::new().create(&mpmc).unwrap();
    assert!(matches!(
        MpmcBuilder::new().open(&spsc),
        Err(OpenError::WrongKind {
            found: RingKind::Spsc,
            expected: RingKind::Mpmc
        })
    ));
    assert!(matches!(
        SpscBuilder::new().open(&mpmc),
        Err(OpenError::WrongKind {
            found: RingKind::Mpmc,
            expected: RingKind::Spsc
        })
    ));
}

#[test]
fn a_side_holds_at_most_32_endpoint_families_and_frees_them_on_drop() {
    let name = Name::new("families");
    let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
    let mut senders: Vec<_> = (0..32).map(|_| queue.sender().unwrap()).collect();
    assert!(matches!(
        queue.sender(),
        Err(shmring::AttachError::TooManyEndpoints)
    ));
    // Clones share their family's entry: dropping one frees nothing.
    drop(senders[0].clone());
    assert!(matches!(
        queue.sender(),
        Err(shmring::AttachError::TooManyEndpoints)
    ));
    // Dropping a whole family frees its entry.
    senders.truncate(31);
    let _again = queue.sender().unwrap();
    // The other side is not affected.
    let _receiver = queue.receiver().unwrap();
}
