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
