//! Runs the `loom_tests::queue_lock` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn lockers_exclude_each_other_and_every_sleeper_is_woken() {
    loom::model(loom_tests::queue_lock::lockers_exclude_each_other_and_every_sleeper_is_woken);
}

#[test]
fn a_dead_holders_lock_is_taken_over() {
    loom::model(loom_tests::queue_lock::a_dead_holders_lock_is_taken_over);
}

#[test]
fn a_garbage_word_is_taken_over() {
    loom::model(loom_tests::queue_lock::a_garbage_word_is_taken_over);
}

#[test]
fn a_receiver_asleep_on_an_empty_queue_wakes_for_a_message() {
    loom::model(loom_tests::queue_lock::a_receiver_asleep_on_an_empty_queue_wakes_for_a_message);
}

#[test]
fn two_receivers_both_wake_for_two_messages() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(loom_tests::queue_lock::two_receivers_both_wake_for_two_messages);
}
