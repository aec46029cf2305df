//! Runs the `loom_tests::claim` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn two_producers_race() {
    loom::model(loom_tests::claim::two_producers_race);
}
