//! Runs the `loom_tests::wait` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn consumer_wakes_for_a_message() {
    loom::model(loom_tests::wait::consumer_wakes_for_a_message);
}

#[test]
fn producer_wakes_for_space() {
    loom::model(loom_tests::wait::producer_wakes_for_space);
}
