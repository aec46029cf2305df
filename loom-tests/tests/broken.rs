//! Proof that the models bite: built with `--cfg shmring_loom_broken`, the
//! library publishes SPSC records with Relaxed instead of Release, its
//! waiters skip the re-check after announcing themselves, an MPMC
//! receiver that frees a slot wakes any one sender instead of one of that
//! slot's level, an endpoint arming its doorbell resets it and looks
//! at its condition without announcing itself, and the message queue's
//! unlock wakes no sleeper (docs/verification.md).
//! Each model below must then fail.
//!
//! A loom deadlock report can abort the process (it panics again while
//! unwinding), so each broken model runs in a child process: this test
//! binary re-executed with only that (ignored) test selected.
#![cfg(all(shmring_loom, shmring_loom_broken))]

use std::process::Command;

/// Runs the ignored test `name` in a child; returns its combined output
/// after checking that it failed.
fn run_expecting_failure(name: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the broken model {name} passed:\n{text}"
    );
    text
}

#[test]
#[ignore = "run by relaxed_publication_is_caught, in a child process"]
fn broken_stream_model() {
    loom::model(loom_tests::spsc::wrapping_stream);
}

#[test]
#[ignore = "run by a_missing_recheck_is_caught, in a child process"]
fn broken_wake_up_model() {
    loom::model(loom_tests::wait::consumer_wakes_for_a_message);
}

#[test]
#[ignore = "run by a_wake_up_for_any_level_is_caught, in a child process"]
fn broken_level_wake_up_model() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(loom_tests::mpmc::room_on_one_level_wakes_a_sender_of_that_level);
}

#[test]
#[ignore = "run by a_missing_doorbell_announcement_is_caught, in a child process"]
fn broken_doorbell_model() {
    loom::model(loom_tests::doorbell::consumer_waits_by_doorbell_for_empty_messages);
}

/// A Relaxed publication lets the consumer see a header before the
/// payload: loom finds an execution where the bytes differ.
#[test]
fn relaxed_publication_is_caught() {
    let text = run_expecting_failure("broken_stream_model");
    assert!(text.contains("assertion `left == right` failed"), "{text}");
}

/// Without the re-check, a message published between the waiter's first
/// look and its announcement never wakes it: loom reports a deadlock.
/// (The message is empty, so the weakened publication plays no part.)
#[test]
fn a_missing_recheck_is_caught() {
    let text = run_expecting_failure("broken_wake_up_model");
    assert!(text.contains("deadlock"), "{text}");
}

/// A wake-up for "any sender" goes to the level-0 sender that slept first;
/// the level-1 sender, for whom the room is, sleeps on: loom reports a
/// deadlock.
#[test]
fn a_wake_up_for_any_level_is_caught() {
    let text = run_expecting_failure("broken_level_wake_up_model");
    assert!(text.contains("deadlock"), "{text}");
}

/// A consumer that arms its doorbell without announcing itself is never
/// rung: a message published after its look leaves it waiting on the
/// doorbell forever (loom: deadlock). Empty messages, so that the weakened
/// publication plays no part.
#[test]
fn a_missing_doorbell_announcement_is_caught() {
    let text = run_expecting_failure("broken_doorbell_model");
    assert!(text.contains("deadlock"), "{text}");
}

#[test]
#[ignore = "run by an_unlock_that_wakes_nobody_is_caught, in a child process"]
fn broken_queue_lock_model() {
    loom::model(loom_tests::queue_lock::lockers_exclude_each_other_and_every_sleeper_is_woken);
}

/// The message queue's unlock that forgets the sleepers behind it leaves
/// a locker asleep on the word for ever: loom reports a deadlock.
#[test]
fn an_unlock_that_wakes_nobody_is_caught() {
    let text = run_expecting_failure("broken_queue_lock_model");
    assert!(text.contains("deadlock"), "{text}");
}

#[test]
#[ignore = "run by a_wait_line_that_does_not_move_is_caught, in a child process"]
fn broken_queue_wait_model() {
    loom::model(loom_tests::queue_lock::a_receiver_asleep_on_an_empty_queue_wakes_for_a_message);
}

/// A waker that does not move the message queue's epoch: a receiver that
/// counted itself waiting but was not yet asleep sleeps through the
/// wake-up (loom: deadlock).
#[test]
fn a_wait_line_that_does_not_move_is_caught() {
    let text = run_expecting_failure("broken_queue_wait_model");
    assert!(text.contains("deadlock"), "{text}");
}
