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
