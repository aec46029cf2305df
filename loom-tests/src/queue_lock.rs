//! The POSIX message queue's lock (`shmring/src/ring/queue_lock.rs`):
//! mutual exclusion, no lost wake-up behind an unlock, and the take-over
//! of a lock whose holder died or whose word a peer overwrote.
// The counter the lock guards is a plain cell, so that loom reports a
// critical section the lock fails to order (a data race), not only one
// it fails to exclude.
#![allow(unsafe_code)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shmring::queue_lock_model::{Acquired, GARBAGE, ModelLock, Nap};

/// Nobody dies in this model.
fn alive(_tag: u32) -> Option<bool> {
    Some(false)
}

/// Two lockers and the main thread each add one to a counter under the
/// lock, sleeping on the futex when they must: loom's cell reports any
/// overlap of two critical sections, and the futex mock any sleeper the
/// unlocks never wake.
pub fn lockers_exclude_each_other_and_every_sleeper_is_woken() {
    let lock = Arc::new(ModelLock::new());
    let counter = Arc::new(UnsafeCell::new(0u32));
    let spawn = |tag: u32| {
        let lock = Arc::clone(&lock);
        let counter = Arc::clone(&counter);
        thread::spawn(move || {
            assert_eq!(lock.lock(tag, Nap::Futex, alive), Acquired::Clean);
            // SAFETY: under the lock (which is what is under test).
            counter.with_mut(|c| unsafe { *c += 1 });
            lock.unlock();
        })
    };
    let a = spawn(1);
    let b = spawn(2);
    assert_eq!(lock.lock(3, Nap::Futex, alive), Acquired::Clean);
    // SAFETY: under the lock.
    counter.with_mut(|c| unsafe { *c += 1 });
    lock.unlock();
    a.join().unwrap();
    b.join().unwrap();
    // SAFETY: every other thread has finished.
    assert_eq!(counter.with(|c| unsafe { *c }), 3);
}

/// A holder that dies holding the lock (its presence lock is released:
/// `dead` turns true) hands it to a waiter that looks at its life after
/// every nap; the waiter learns that the holder died, and only if it did.
pub fn a_dead_holders_lock_is_taken_over() {
    let lock = Arc::new(ModelLock::new());
    let dead = Arc::new(AtomicBool::new(false));
    let holder = {
        let lock = Arc::clone(&lock);
        let dead = Arc::clone(&dead);
        thread::spawn(move || {
            let acquired = lock.lock(1, Nap::RunsOut, alive);
            // Dies: never unlocks. SeqCst: the death is what the waiter's
            // probe (an OFD lock query in the library) sees.
            dead.store(true, Ordering::SeqCst);
            acquired
        })
    };
    let waiter_dead = Arc::clone(&dead);
    let acquired = lock.lock(2, Nap::RunsOut, move |tag| {
        Some(tag == 1 && waiter_dead.load(Ordering::SeqCst))
    });
    if acquired == Acquired::Clean {
        // The waiter was first: it lets go, and the holder takes it.
        lock.unlock();
        assert_eq!(holder.join().unwrap(), Acquired::Clean);
        return;
    }
    // Taken over: from the holder, after it died.
    assert_eq!(holder.join().unwrap(), Acquired::Clean);
    assert!(dead.load(Ordering::SeqCst));
}

/// A word a peer filled with garbage (a tag that names no holder) is
/// taken over at once, and said to be so.
pub fn a_garbage_word_is_taken_over() {
    let lock = ModelLock::holding(GARBAGE + 7);
    assert_eq!(
        lock.lock(1, Nap::Futex, |tag| Some(tag >= GARBAGE)),
        Acquired::OwnerDied
    );
    lock.unlock();
}

/// The waiting protocol (`shmring/src/ring/queue_wait.rs`): a receiver
/// that finds the queue empty sleeps, and a message sent at any moment
/// wakes it. A lost wake-up leaves it in the futex mock: loom reports a
/// deadlock.
pub fn a_receiver_asleep_on_an_empty_queue_wakes_for_a_message() {
    use shmring::queue_wait_model::ModelQueue;
    let queue = Arc::new(ModelQueue::new());
    let receiver = {
        let queue = Arc::clone(&queue);
        thread::spawn(move || queue.receive(1))
    };
    queue.send(2);
    receiver.join().unwrap();
}

/// Two receivers and two messages: each receiver gets one, and neither
/// sleeps through the other's wake-up.
pub fn two_receivers_both_wake_for_two_messages() {
    use shmring::queue_wait_model::ModelQueue;
    let queue = Arc::new(ModelQueue::new());
    let spawn = |tag: u32| {
        let queue = Arc::clone(&queue);
        thread::spawn(move || queue.receive(tag))
    };
    let a = spawn(1);
    let b = spawn(2);
    queue.send(3);
    queue.send(3);
    a.join().unwrap();
    b.join().unwrap();
}
