//! Runs the `loom_tests::spsc` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn wrapping_stream() {
    loom::model(loom_tests::spsc::wrapping_stream);
}

#[test]
fn batch_commit() {
    loom::model(loom_tests::spsc::batch_commit);
}

#[test]
fn dropped_reservation() {
    loom::model(loom_tests::spsc::dropped_reservation);
}
