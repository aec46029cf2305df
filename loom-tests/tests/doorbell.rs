//! Runs the `loom_tests::doorbell` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn consumer_waits_by_doorbell() {
    loom::model(loom_tests::doorbell::consumer_waits_by_doorbell);
}

#[test]
fn consumer_waits_by_doorbell_for_empty_messages() {
    loom::model(loom_tests::doorbell::consumer_waits_by_doorbell_for_empty_messages);
}

#[test]
fn producer_waits_by_doorbell_for_room() {
    loom::model(loom_tests::doorbell::producer_waits_by_doorbell_for_room);
}

/// Three threads: bounded to 2 preemptions whatever `LOOM_MAX_PREEMPTIONS`
/// says, as the other three-thread models (about 8 s on 2 cores; 3 takes
/// minutes).
#[test]
fn two_receivers_wait_by_doorbell() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(loom_tests::doorbell::two_receivers_wait_by_doorbell);
}

/// Bounded to 1 preemption: with 2 it passes too, in about 65 s on 2
/// cores, too long for CI.
#[test]
fn two_receivers_wait_by_doorbell_for_two_messages() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(loom_tests::doorbell::two_receivers_wait_by_doorbell_for_two_messages);
}

#[test]
fn sender_waits_by_doorbell_for_room() {
    loom::model(loom_tests::doorbell::sender_waits_by_doorbell_for_room);
}

/// An arm that finds work gives the descriptor its readiness back, so a
/// consumer may take one message per wake-up (see the model).
#[test]
fn consumer_takes_one_message_per_wake_up() {
    loom::model(loom_tests::doorbell::consumer_takes_one_message_per_wake_up);
}
