//! MPMC crash recovery with real processes: a sender killed between
//! claiming and publishing a slot, and a receiver killed while holding a
//! message, stop the queue only until the death is noticed (a liveness
//! check after a bounded stall); the slot is then passed over (or freed),
//! counted, and every other message is delivered exactly once.
mod common;

use common::{Name, PATIENCE, Peer};
use shmring::MpmcBuilder;
use shmring::mpmc::{Receiver, Recovered};
use shmring::prelude::*;
use shmring::{TryRecvError, TrySendError};
use std::time::Instant;

/// Receives with `try_recv` until a message arrives (or `PATIENCE` runs
/// out): the non-blocking path must notice a dead claimer too.
fn poll_recv(receiver: &Receiver) -> Vec<u8> {
    let start = Instant::now();
    loop {
        match receiver.try_recv() {
            Ok(m) => return m.to_vec(),
            Err(TryRecvError::Empty) if start.elapsed() < PATIENCE => std::thread::yield_now(),
            Err(e) => panic!("{e:?} after {:?}", start.elapsed()),
        }
    }
}

fn dead_sender_mid_write(blocking: bool) {
    let name = Name::new("dead-sender");
    let queue = MpmcBuilder::new()
        .slots(4)
        .slot_size(32)
        .create(&name)
        .unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    sender.send(b"before").unwrap();
    let mut claimer = Peer::spawn(&["mpmc-claim-and-hang", &name, "20"]);
    claimer.expect("claimed");
    sender.send(b"after-1").unwrap();
    sender.send(b"after-2").unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), b"before");
    // Stopped at the claimed slot while its owner lives.
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    claimer.kill9();
    let next = |r: &Receiver| {
        if blocking {
            r.recv_timeout(PATIENCE).unwrap().to_vec()
        } else {
            poll_recv(r)
        }
    };
    assert_eq!(next(&receiver), b"after-1");
    assert_eq!(next(&receiver), b"after-2");
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(
        queue.recovered(),
        Recovered {
            dead_sender_slots: 1,
            dead_receiver_messages: 0
        }
    );
    // The queue goes on over the recovered slot, lap after lap.
    for round in 0..10u8 {
        sender.send(&[round]).unwrap();
        assert_eq!(&*receiver.try_recv().unwrap(), &[round]);
    }
    assert_eq!(queue.messages_in_flight(), 0);
}

#[test]
fn a_sender_killed_mid_write_is_skipped_by_blocking_receivers() {
    dead_sender_mid_write(true);
}

#[test]
fn a_sender_killed_mid_write_is_skipped_by_polling_receivers() {
    dead_sender_mid_write(false);
}

fn dead_receiver_holding(blocking: bool) {
    let name = Name::new("dead-receiver");
    let queue = MpmcBuilder::new().slots(2).create(&name).unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    sender.send(b"held").unwrap();
    let mut taker = Peer::spawn(&["mpmc-take-and-hang", &name]);
    taker.expect("holding held");
    sender.send(b"one").unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), b"one");
    // The next position is the slot the taker holds.
    assert!(matches!(
        sender.try_send(b"two"),
        Err(TrySendError::Full(_))
    ));
    taker.kill9();
    if blocking {
        sender.send_timeout(b"two", PATIENCE).unwrap();
    } else {
        let start = Instant::now();
        while let Err(e) = sender.try_send(b"two") {
            assert!(matches!(e, TrySendError::Full(_)), "{e:?}");
            assert!(start.elapsed() < PATIENCE, "still full");
            std::thread::yield_now();
        }
    }
    sender.send(b"three").unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), b"two");
    assert_eq!(&*receiver.try_recv().unwrap(), b"three");
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(
        queue.recovered(),
        Recovered {
            dead_sender_slots: 0,
            dead_receiver_messages: 1
        }
    );
}

#[test]
fn a_message_held_by_a_killed_receiver_is_dropped_and_counted_blocking() {
    dead_receiver_holding(true);
}

#[test]
fn a_message_held_by_a_killed_receiver_is_dropped_and_counted_polling() {
    dead_receiver_holding(false);
}

/// A new process that takes over the dead sender's registry entry recovers
/// its slot at once, before it can mark slots with the same index.
#[test]
fn taking_over_a_dead_entry_recovers_its_slots_first() {
    let name = Name::new("takeover");
    let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let mut claimer = Peer::spawn(&["mpmc-claim-and-hang", &name, "8"]);
    claimer.expect("claimed");
    claimer.kill9();
    // Attaching in a new process takes the first entry that is free or
    // dead: the dead claimer's (entry 0; nobody else attached a sender).
    Peer::spawn(&["mpmc-send", &name, "0", "fresh"]).finish();
    assert_eq!(queue.recovered().dead_sender_slots, 1);
    assert_eq!(&*receiver.recv_timeout(PATIENCE).unwrap(), b"fresh");
}

/// Calls `f` until it says the peer is gone, failing after `PATIENCE`.
fn until_gone(mut f: impl FnMut() -> Option<bool>) {
    let start = Instant::now();
    loop {
        match f() {
            Some(true) => return,
            Some(false) | None => assert!(start.elapsed() < PATIENCE, "death never noticed"),
        }
    }
}

/// A death is noticed by callers that never wait a whole liveness
/// interval: `try_*` polls and timeouts shorter than 100 ms, in a loop.
#[test]
fn short_timeouts_and_polls_notice_a_killed_peer_on_both_kinds() {
    use shmring::{RecvTimeoutError, SendTimeoutError, SpscBuilder};
    use std::time::Duration;
    let short = Duration::from_millis(20);

    // SPSC, consumer side: recv_timeout of 20 ms.
    let name = Name::new("short-spsc-c");
    let ring = SpscBuilder::new().capacity(1024).create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut producer = Peer::spawn(&["hold-producer", &name]);
    producer.expect("ready");
    producer.kill9();
    until_gone(|| match consumer.recv_timeout(short) {
        Err(RecvTimeoutError::Disconnected) => Some(true),
        Err(RecvTimeoutError::Timeout) => Some(false),
        other => panic!("{other:?}"),
    });

    // SPSC, producer side: send_timeout of 20 ms into a full ring.
    let name = Name::new("short-spsc-p");
    let ring = SpscBuilder::new().capacity(64).create(&name).unwrap();
    let mut local = ring.producer().unwrap();
    let mut consumer = Peer::spawn(&["hold-consumer", &name]);
    consumer.expect("ready");
    while local.try_send(b"fill").is_ok() {}
    consumer.kill9();
    until_gone(|| match local.send_timeout(b"more", short) {
        Err(SendTimeoutError::Disconnected(_)) => Some(true),
        Err(SendTimeoutError::Timeout(_)) => Some(false),
        other => panic!("{other:?}"),
    });

    // MPMC, receiver side: recv_timeout and try_recv.
    for polling in [false, true] {
        let name = Name::new("short-mpmc-r");
        let queue = MpmcBuilder::new().slots(4).create(&name).unwrap();
        let receiver = queue.receiver().unwrap();
        let mut sender = Peer::spawn(&["mpmc-hold-sender", &name]);
        sender.expect("ready");
        sender.kill9();
        until_gone(|| {
            let result = if polling {
                receiver.try_recv().map(|_| ()).map_err(|e| match e {
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    other => panic!("{other:?}"),
                })
            } else {
                receiver.recv_timeout(short).map(|_| ())
            };
            match result {
                Err(RecvTimeoutError::Disconnected) => Some(true),
                Err(RecvTimeoutError::Timeout) => Some(false),
                other => panic!("{other:?}"),
            }
        });
    }

    // MPMC, sender side: send_timeout and try_send into a full queue.
    for polling in [false, true] {
        let name = Name::new("short-mpmc-s");
        let queue = MpmcBuilder::new().slots(2).create(&name).unwrap();
        let sender = queue.sender().unwrap();
        let mut receiver = Peer::spawn(&["mpmc-hold-receiver", &name]);
        receiver.expect("ready");
        while sender.try_send(b"fill").is_ok() {}
        receiver.kill9();
        until_gone(|| {
            let gone = if polling {
                match sender.try_send(b"more") {
                    Err(TrySendError::Disconnected(_)) => true,
                    Err(TrySendError::Full(_)) => false,
                    other => panic!("{other:?}"),
                }
            } else {
                match sender.send_timeout(b"more", short) {
                    Err(SendTimeoutError::Disconnected(_)) => true,
                    Err(SendTimeoutError::Timeout(_)) => false,
                    other => panic!("{other:?}"),
                }
            };
            Some(gone)
        });
    }
}
