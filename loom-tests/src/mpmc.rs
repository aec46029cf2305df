//! The MPMC slot protocol: exactly-once delivery, per-producer order, the
//! full and empty edges, blocking and disconnect.

use loom::thread;
use shmring::{Mpmc, RecvError, TryRecvError, TrySendError, WaitStrategy};

/// Two slots, so that the models hit both "full" and "empty".
fn tiny_queue() -> Mpmc {
    Mpmc::on_heap(2, 8, 1, WaitStrategy::Park)
}

/// The queue holds one message and has one free slot; two producers race
/// for it: exactly one wins, the other is told `Full` and keeps its
/// message, and the receiver sees the old message, then the winner's.
pub fn two_producers_race_for_the_last_slot() {
    let queue = tiny_queue();
    let receiver = queue.receiver().unwrap();
    let first = queue.sender().unwrap();
    first.try_send(&[9]).unwrap();
    let racers: Vec<_> = (0..2u8)
        .map(|id| {
            let sender = first.clone();
            thread::spawn(move || match sender.try_send(&[id]) {
                Ok(()) => Some(id),
                Err(TrySendError::Full(m)) => {
                    assert_eq!(m, &[id]);
                    None
                }
                Err(e) => panic!("{e:?}"),
            })
        })
        .collect();
    let winners: Vec<u8> = racers
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one producer gets the last slot");
    assert_eq!(&*receiver.try_recv().unwrap(), &[9]);
    assert_eq!(&*receiver.try_recv().unwrap(), &[winners[0]]);
}

/// Two messages, two consumers taking one each at the same time: no
/// message is delivered twice, none is lost.
pub fn two_consumers_race_for_two_messages() {
    let queue = tiny_queue();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    sender.try_send(&[0]).unwrap();
    sender.try_send(&[1]).unwrap();
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let receiver = receiver.clone();
            thread::spawn(move || match receiver.try_recv() {
                Ok(m) => Some(m[0]),
                Err(TryRecvError::Empty) => None,
                Err(e) => panic!("{e:?}"),
            })
        })
        .collect();
    let mut got: Vec<u8> = racers
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    while let Ok(m) = receiver.try_recv() {
        got.push(m[0]);
    }
    got.sort();
    assert_eq!(got, [0, 1], "each message exactly once");
}

/// Producer 0 sends two messages and producer 1 one, with blocking sends
/// through two slots (so one of them waits for space); one blocked
/// consumer gets all three, producer 0's in order.
pub fn two_producers_one_consumer_in_order() {
    let queue = tiny_queue();
    let receiver = queue.receiver().unwrap();
    let producers: Vec<_> = (0..2u8)
        .map(|id| {
            let sender = queue.sender().unwrap();
            thread::spawn(move || {
                for seq in 0..2 - id {
                    sender.send(&[id, seq]).unwrap();
                }
            })
        })
        .collect();
    let mut next = [0u8; 2];
    for _ in 0..3 {
        let msg = receiver.recv().unwrap();
        let (id, seq) = (usize::from(msg[0]), msg[1]);
        assert_eq!(seq, next[id], "producer {id} out of order");
        next[id] += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(receiver.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

/// A receiver parked on the empty queue wakes for a message.
pub fn parked_receiver_wakes() {
    let queue = tiny_queue();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    let t = thread::spawn(move || {
        assert_eq!(&*receiver.recv().unwrap(), b"x");
        receiver
    });
    sender.send(b"x").unwrap();
    drop(t.join().unwrap());
    drop(sender);
}

/// The last sender's drop ends a blocked receive with `Disconnected`,
/// after the message it sent before.
pub fn sender_drop_ends_receive() {
    let queue = tiny_queue();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    let t = thread::spawn(move || {
        sender.send(b"last").unwrap();
    });
    assert_eq!(&*receiver.recv().unwrap(), b"last");
    assert_eq!(receiver.recv().unwrap_err(), RecvError::Disconnected);
    t.join().unwrap();
}

/// A sender "dies" holding a claimed slot (its grant is forgotten, as a
/// killed process would leave it); while another sender publishes behind
/// it, a reaper recovers the dead sender's slot and the receiver polls.
/// The live message is delivered exactly once, the dead slot never, and
/// the recovery is counted once.
pub fn a_dead_senders_slot_is_recovered() {
    let queue = std::sync::Arc::new(tiny_queue());
    let receiver = queue.receiver().unwrap();
    let dead = queue.sender().unwrap();
    let live = queue.sender().unwrap();
    std::mem::forget(dead.try_reserve(1).unwrap());
    let sending = thread::spawn(move || live.try_send(&[7]).unwrap());
    let reaper = {
        let queue = std::sync::Arc::clone(&queue);
        thread::spawn(move || queue.recover_as_if_dead(Some(&dead), None))
    };
    let mut got = Vec::new();
    if let Ok(m) = receiver.try_recv() {
        got.push(m[0]);
    }
    sending.join().unwrap();
    assert_eq!(reaper.join().unwrap(), 1, "the dead slot is recovered once");
    while let Ok(m) = receiver.try_recv() {
        got.push(m[0]);
    }
    assert_eq!(got, [7]);
    assert_eq!(queue.recovered().dead_sender_slots, 1);
}

/// A dead sender claimed both slots and never published: recovered, they
/// are "published as skipped" and the queue is full of them. A sender
/// waits for room; a receiver passes both skipped slots, freeing them,
/// and must wake it, as the release of a received slot would (without
/// the wake the sender sleeps on: loom reports the deadlock).
pub fn passing_skipped_slots_wakes_a_sender_waiting_for_room() {
    let queue = tiny_queue();
    let receiver = queue.receiver().unwrap();
    let dead = queue.sender().unwrap();
    let live = queue.sender().unwrap();
    std::mem::forget(dead.try_reserve(1).unwrap());
    std::mem::forget(dead.try_reserve(1).unwrap());
    assert_eq!(queue.recover_as_if_dead(Some(&dead), None), 2);
    let sending = thread::spawn(move || {
        live.send(&[7]).unwrap();
        live
    });
    let mut got = Vec::new();
    match receiver.try_recv() {
        Ok(m) => got.push(m[0]),
        Err(TryRecvError::Empty) => {}
        Err(e) => panic!("{e:?}"),
    }
    drop(sending.join().unwrap());
    if let Ok(m) = receiver.try_recv() {
        got.push(m[0]);
    }
    assert_eq!(got, [7]);
    assert_eq!(queue.recovered().dead_sender_slots, 2);
}

/// A receiver "dies" holding a message; a reaper frees its slot while a
/// sender tries to send into it and another receiver takes the next
/// message. The dropped message is never delivered, every other one
/// exactly once, and the sender gets the freed slot.
pub fn a_dead_receivers_slot_is_recovered() {
    let queue = std::sync::Arc::new(tiny_queue());
    let sender = queue.sender().unwrap();
    let dead = queue.receiver().unwrap();
    let live = queue.receiver().unwrap();
    sender.try_send(&[1]).unwrap();
    std::mem::forget(dead.try_recv().unwrap());
    sender.try_send(&[2]).unwrap();
    let sending = thread::spawn(move || {
        let first_try = sender.try_send(&[3]).is_ok();
        (sender, first_try)
    });
    let reaper = {
        let queue = std::sync::Arc::clone(&queue);
        thread::spawn(move || queue.recover_as_if_dead(None, Some(&dead)))
    };
    let mut got = Vec::new();
    if let Ok(m) = live.try_recv() {
        got.push(m[0]);
    }
    let (sender, sent) = sending.join().unwrap();
    assert_eq!(reaper.join().unwrap(), 1, "the held slot is recovered once");
    if !sent {
        sender.try_send(&[3]).expect("the recovered slot is free");
    }
    while let Ok(m) = live.try_recv() {
        got.push(m[0]);
    }
    assert_eq!(got, [2, 3]);
    assert_eq!(queue.recovered().dead_receiver_messages, 1);
}

/// Senders of two priority levels are parked on full levels (one futex
/// word for all senders); a receiver frees a slot of level 1 only (it
/// takes the highest level first). The wake-up must reach the level-1
/// sender: the futex mock wakes exactly one sleeper, the longest sleeping
/// first, so a wake-up for "any sender" can go to the level-0 one, which
/// finds no room and sleeps again while the level-1 sender sleeps on
/// (loom: deadlock). Dropping the receiver then ends the level-0 send.
pub fn room_on_one_level_wakes_a_sender_of_that_level() {
    let queue = Mpmc::on_heap(2, 8, 2, WaitStrategy::Park);
    let receiver = queue.receiver().unwrap();
    let sender = queue.sender().unwrap();
    for level in 0..2 {
        for _ in 0..2 {
            sender.with_priority(level).try_send(&[9]).unwrap();
        }
    }
    let low = sender.with_priority(0);
    let high = sender.with_priority(1);
    drop(sender);
    let low = thread::spawn(move || low.send(&[0]).is_err());
    let high = thread::spawn(move || high.send(&[1]).unwrap());
    drop(receiver.try_recv().unwrap());
    high.join().unwrap();
    drop(receiver);
    assert!(low.join().unwrap(), "level 0 never had room: disconnected");
}

/// A receiver polls while the first sender attaches: it may find the
/// queue empty, never disconnected. (`live` goes up before `ever`, and
/// `gone` reads `ever` first: with the opposite order a receiver could see
/// `ever = 1, live = 0` and report a sender that never left as gone.)
pub fn a_sender_attaching_is_never_taken_for_a_departed_one() {
    let queue = std::sync::Arc::new(tiny_queue());
    let receiver = queue.receiver().unwrap();
    let shared = std::sync::Arc::clone(&queue);
    let attacher = thread::spawn(move || shared.sender().unwrap());
    match receiver.try_recv() {
        Err(TryRecvError::Empty) => {}
        other => panic!("a sender attaching looked gone: {other:?}"),
    }
    let sender = attacher.join().unwrap();
    sender.try_send(&[1]).unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), &[1]);
}
