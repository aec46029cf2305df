//! Runs the `loom_tests::disconnect` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn producer_drop_during_recv() {
    loom::model(loom_tests::disconnect::producer_drop_during_recv);
}

#[test]
fn consumer_drop_during_send() {
    loom::model(loom_tests::disconnect::consumer_drop_during_send);
}
