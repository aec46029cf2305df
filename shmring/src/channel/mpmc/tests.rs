//! Unit tests of the MPMC handles that need their private state.

use super::*;
use crate::sys::futex::tests::asleep_in_futex;
use crate::wait::test_hooks;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

/// Far beyond any prompt wake-up, far below the senders' deadlines and
/// sleep slices: only a wake-up meant for the sender completes it.
const WATCHDOG: Duration = Duration::from_secs(10);
const NEVER: Duration = Duration::from_secs(3600);

struct Unlink(String);
impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = crate::unlink(&self.0);
    }
}

/// Starts a blocking send at `level` in a thread whose sleep slices last
/// an hour; returns once it sleeps in the kernel, with the channel its
/// outcome arrives on.
fn parked_sender(
    sender: &Sender,
    level: u32,
    sleepers: &crate::sync::AtomicU32,
    before: u32,
) -> mpsc::Receiver<Result<(), String>> {
    let sender = sender.with_priority(level);
    let (tid_tx, tid_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        test_hooks::LIVENESS.with(|c| c.set(Some(NEVER)));
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        let outcome = sender
            .send_timeout(&[level as u8], NEVER)
            .map_err(|e| format!("{e:?}"));
        let _ = done_tx.send(outcome);
    });
    let tid = tid_rx.recv().unwrap();
    let give_up = Instant::now() + WATCHDOG;
    while !(crate::wait::sleeper_count(sleepers.load(crate::sync::Ordering::SeqCst)) > before
        && asleep_in_futex(tid))
    {
        assert!(
            Instant::now() < give_up,
            "the level-{level} sender never slept"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    done_rx
}

/// Issue 13: senders of two levels sleep on one futex word; room
/// appears on level 1 only. The wake-up must reach the level-1 sender,
/// although the level-0 sender went to sleep first (the kernel wakes in
/// queue order): before the fix it woke the level-0 sender, which found
/// no room and slept again, and the level-1 sender slept on to the end
/// of its slice (here an hour; in production 100 ms).
#[test]
fn room_on_one_level_wakes_a_sender_of_that_level() {
    let name = format!("shmring-unit-{}-level-wake", std::process::id());
    let _unlink = Unlink(name.clone());
    let queue = MpmcBuilder::new()
        .slots(2)
        .slot_size(8)
        .priorities(2)
        .wait_strategy(WaitStrategy::Park)
        .create(&name)
        .unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    for level in 0..2 {
        for _ in 0..2 {
            sender.with_priority(level).try_send(b"fill").unwrap();
        }
    }
    let sleepers = &queue.mem.control().not_full.sleepers;
    let low = parked_sender(&sender, 0, sleepers, 0);
    let high = parked_sender(&sender, 1, sleepers, 1);
    // A receiver takes the highest level first: room on level 1 only.
    drop(receiver.try_recv().unwrap());
    assert_eq!(
        high.recv_timeout(WATCHDOG),
        Ok(Ok(())),
        "the level-1 sender was not woken for the room on its level"
    );
    assert!(
        matches!(low.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "the level-0 sender has no room and must still wait"
    );
    // Ends the level-0 sender: every sleeper wakes for a disconnect.
    drop(receiver);
    let outcome = low.recv_timeout(WATCHDOG);
    assert!(
        matches!(&outcome, Ok(Err(e)) if e.contains("Disconnected")),
        "{outcome:?}"
    );
}

/// A borrowed guard made owned keeps its message (and its slot) past the
/// borrow, and frees the slot only when the owned guard drops.
#[test]
fn a_guard_made_owned_holds_its_slot_until_dropped() {
    let name = format!("shmring-unit-{}-into-owned", std::process::id());
    let _unlink = Unlink(name.clone());
    let queue = MpmcBuilder::new()
        .slots(2)
        .slot_size(8)
        .create(&name)
        .unwrap();
    let sender = queue.sender().unwrap();
    let receiver = queue.receiver().unwrap();
    sender.try_send(b"one").unwrap();
    sender.try_send(b"two").unwrap();
    let owned = receiver.try_recv().unwrap().into_owned();
    assert_eq!(&*owned, b"one");
    // Its slot is still taken: the queue has room for nothing more.
    assert!(sender.try_send(b"three").is_err());
    drop(owned);
    sender.try_send(b"three").unwrap();
    assert_eq!(&*receiver.try_recv().unwrap(), b"two");
    assert_eq!(&*receiver.try_recv().unwrap(), b"three");
}
