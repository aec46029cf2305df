//! The doorbell protocol (arm, check, wait): an endpoint whose descriptor
//! was taken arms its doorbell in every `try_*` call that finds nothing
//! to do, and a waker that sees the armed bit rings (see
//! `shmring/src/wait/doorbell.rs`). No ring may be lost.
//!
//! Under loom the doorbells are heap mocks: `watch_doorbell()` stands for
//! taking the descriptor (`as_fd`), `wait_doorbell()` for `epoll_wait` on
//! it. A waiter whose doorbell never rings blocks in the futex mock
//! forever, which loom reports as a deadlock. The mocks model a FIFO's
//! level (raised by a ring, lowered by a reset), not the hang-up the
//! kernel reports when every peer closed it, so the models end every
//! wait by a ring: a message, or a drop that rings an armed doorbell.
//!
//! A ring must land after the reset of the waiter whose announcement the
//! ringer saw: in the kernel the FIFO's lock orders the two system calls.
//! The mock must order them too (its level changed by read-modify-writes,
//! as under a lock; or the announcement's `fetch_or` Release and the
//! ringer's `fetch_and` Acquire). With plain stores to the level and both
//! bit operations Relaxed, loom may order the ring before the reset, and
//! the waiter sleeps on a level its own reset lowered after the ring.

use crate::message;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use shmring::mpmc::{Receiver, Sender};
use shmring::prelude::*;
use shmring::{Mpmc, Spsc, TryRecvError, TrySendError, WaitStrategy};

/// Two messages sent with `try_send` to a consumer waiting by doorbell:
/// it receives both, in order, byte for byte. The producer stays attached
/// until then, so a lost ring is a deadlock, not an end of file.
pub fn consumer_waits_by_doorbell() {
    consumer_gets_by_doorbell(&[message(0), message(1)]);
}

/// As [`consumer_waits_by_doorbell`], with empty messages: only the
/// doorbell is under test, not the publication of payload bytes (the
/// broken build weakens that too, see `tests/broken.rs`).
pub fn consumer_waits_by_doorbell_for_empty_messages() {
    consumer_gets_by_doorbell(&[Vec::new(), Vec::new()]);
}

/// The consumer side of the two models above: receive until empty, then
/// wait on the doorbell.
fn consumer_gets_by_doorbell(messages: &[Vec<u8>]) {
    let ring = Spsc::on_heap(64, 16, WaitStrategy::Park);
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    consumer.watch_doorbell();
    let sent = messages.to_vec();
    let sender = thread::spawn(move || {
        // Two records of at most 24 bytes fit a 64-byte ring: never full.
        for msg in &sent {
            producer.try_send(msg).unwrap();
        }
        producer
    });
    let mut got = 0;
    while got < messages.len() {
        let empty = match consumer.try_recv() {
            Ok(msg) => {
                assert_eq!(&*msg, messages[got].as_slice(), "message {got}");
                got += 1;
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(e) => panic!("unexpected {e:?}"),
        };
        if empty {
            consumer.wait_doorbell();
        }
    }
    drop(sender.join().unwrap());
    drop(consumer);
}

/// "Until an `Empty` is seen the descriptor stays ready": a consumer
/// that first receives until `Empty` (so that it is armed) and from then
/// on takes at most one message per wake-up. An arm whose check finds a
/// message has already reset the doorbell; without giving the descriptor
/// its readiness back (`Bell::found_work`), the `try_recv` that returns
/// that message would leave it quiet while a second message waits, and
/// nobody would ring again (this model found that: loom deadlock).
pub fn consumer_takes_one_message_per_wake_up() {
    let ring = Spsc::on_heap(64, 16, WaitStrategy::Park);
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    consumer.watch_doorbell();
    let sender = thread::spawn(move || {
        // Three 8-byte records fit a 64-byte ring: never full.
        for _ in 0..3 {
            producer.try_send(&[]).unwrap();
        }
        producer
    });
    let mut got = 0;
    while consumer.try_recv().is_ok() {
        got += 1;
    }
    while got < 3 {
        consumer.wait_doorbell();
        // At most one message per wake-up.
        match consumer.try_recv() {
            Ok(_) => got += 1,
            Err(TryRecvError::Empty) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    drop(sender.join().unwrap());
    drop(consumer);
}

/// A producer waiting by doorbell for room: three 16-byte messages
/// through a 64-byte ring that holds two, so the third waits until the
/// consumer (blocking on the futex) has freed both earlier records.
pub fn producer_waits_by_doorbell_for_room() {
    let ring = Spsc::on_heap(64, 16, WaitStrategy::Park);
    let mut producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let sender = thread::spawn(move || {
        producer.watch_doorbell();
        for i in 0..3u8 {
            loop {
                match producer.try_send(&[i; 16]) {
                    Ok(()) => break,
                    Err(TrySendError::Full(_)) => producer.wait_doorbell(),
                    Err(e) => panic!("unexpected {:?}", e.without_message()),
                }
            }
        }
        producer
    });
    for i in 0..3u8 {
        assert_eq!(&*consumer.recv().unwrap(), &[i; 16], "message {i}");
    }
    drop(sender.join().unwrap());
    drop(consumer);
}

/// MPMC: two receivers, both waiting by doorbell (receive until empty,
/// then wait) on the ring's one `data` doorbell, one sender sending one
/// message. Exactly one receiver takes it; a ring may wake both, and one
/// receiver's reset may swallow a ring the other was woken for (its check
/// then sees the message). The receiver that got nothing ends up armed
/// and asleep, woken by the sender's drop, which must ring an armed
/// doorbell: the sender drops only once the message was taken, so a lost
/// ring or a drop that rings nobody is a deadlock.
pub fn two_receivers_wait_by_doorbell() {
    receivers_share_a_doorbell(1);
}

/// [`two_receivers_wait_by_doorbell`] with two messages: each is received
/// exactly once, by either receiver.
pub fn two_receivers_wait_by_doorbell_for_two_messages() {
    receivers_share_a_doorbell(2);
}

/// The bookkeeping of [`receivers_share_a_doorbell`] (the model's, not
/// the library's): which messages were taken (bit `i`: message `i`), and
/// the sender, until everything was taken. Whoever sees the last message
/// taken, with the sender in place, drops it: the end of file that ends
/// the receivers still waiting.
struct Taken {
    bits: AtomicU32,
    all: u32,
    sender: Mutex<Option<Sender>>,
}

impl Taken {
    /// Records message `i` as taken; drops the sender if that was the
    /// last one and the sender is in place.
    fn take(&self, i: u8) {
        let bit = 1 << i;
        let before = self.bits.fetch_or(bit, Ordering::SeqCst);
        assert_eq!(before & bit, 0, "message {i} received twice");
        if before | bit == self.all {
            drop(self.sender.lock().unwrap().take());
        }
    }

    /// Puts the sender in place when it is done sending, or drops it if
    /// everything was taken already.
    fn sender_done(&self, sender: Sender) {
        let mut slot = self.sender.lock().unwrap();
        if self.bits.load(Ordering::SeqCst) != self.all {
            *slot = Some(sender);
        }
    }

    fn all_taken(&self) -> bool {
        self.bits.load(Ordering::SeqCst) == self.all
    }
}

/// Two receivers waiting by doorbell for `messages` messages (one or two:
/// the two slots never fill) from one sender, which is dropped once all
/// were taken.
fn receivers_share_a_doorbell(messages: u8) {
    let queue = Mpmc::on_heap(2, 8, 1, WaitStrategy::Park);
    let sender = queue.sender().unwrap();
    let taken = Arc::new(Taken {
        bits: AtomicU32::new(0),
        all: (1 << messages) - 1,
        sender: Mutex::new(None),
    });
    let other = {
        let receiver = queue.receiver().unwrap();
        let taken = Arc::clone(&taken);
        thread::spawn(move || receive_by_doorbell(&receiver, &taken))
    };
    let receiver = queue.receiver().unwrap();
    let sending = {
        let taken = Arc::clone(&taken);
        thread::spawn(move || {
            for i in 0..messages {
                sender.try_send(&[i]).unwrap();
            }
            taken.sender_done(sender);
        })
    };
    receive_by_doorbell(&receiver, &taken);
    other.join().unwrap();
    sending.join().unwrap();
}

/// One receiver of [`receivers_share_a_doorbell`]: takes messages until
/// every one was taken by anybody; waits on its doorbell when empty.
/// `Disconnected` (the sender dropped, which happens only once all were
/// taken) ends it too.
fn receive_by_doorbell(receiver: &Receiver, taken: &Taken) {
    receiver.watch_doorbell();
    while !taken.all_taken() {
        match receiver.try_recv() {
            Ok(msg) => {
                let i = msg[0];
                drop(msg);
                taken.take(i);
            }
            Err(TryRecvError::Empty) => receiver.wait_doorbell(),
            Err(TryRecvError::Disconnected) => assert!(taken.all_taken()),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// MPMC: a sender waiting by doorbell for room. Three messages through
/// two slots; the receiver blocks on the futex and frees slots one by
/// one (each freed slot rings the armed doorbell).
pub fn sender_waits_by_doorbell_for_room() {
    let queue = Mpmc::on_heap(2, 8, 1, WaitStrategy::Park);
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    let sending = thread::spawn(move || {
        sender.watch_doorbell();
        for i in 0..3u8 {
            loop {
                match sender.try_send(&[i]) {
                    Ok(()) => break,
                    Err(TrySendError::Full(_)) => sender.wait_doorbell(),
                    Err(e) => panic!("unexpected {:?}", e.without_message()),
                }
            }
        }
        sender
    });
    for i in 0..3u8 {
        assert_eq!(&*receiver.recv().unwrap(), &[i], "message {i}");
    }
    drop(sending.join().unwrap());
    drop(receiver);
}
