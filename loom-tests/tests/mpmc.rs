//! Runs the `loom_tests::mpmc` models (see that module).
#![cfg(all(shmring_loom, not(shmring_loom_broken)))]

#[test]
fn two_producers_race_for_the_last_slot() {
    loom::model(loom_tests::mpmc::two_producers_race_for_the_last_slot);
}

#[test]
fn a_sender_attaching_is_never_taken_for_a_departed_one() {
    loom::model(loom_tests::mpmc::a_sender_attaching_is_never_taken_for_a_departed_one);
}

#[test]
fn two_consumers_race_for_two_messages() {
    loom::model(loom_tests::mpmc::two_consumers_race_for_two_messages);
}

/// Three threads with blocking waits: bounded to 2 preemptions whatever
/// `LOOM_MAX_PREEMPTIONS` says (about 75 s on 2 cores; 3 takes too long
/// for CI).
#[test]
fn two_producers_one_consumer_in_order() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(loom_tests::mpmc::two_producers_one_consumer_in_order);
}

#[test]
fn parked_receiver_wakes() {
    loom::model(loom_tests::mpmc::parked_receiver_wakes);
}

#[test]
fn sender_drop_ends_receive() {
    loom::model(loom_tests::mpmc::sender_drop_ends_receive);
}

#[test]
fn a_dead_senders_slot_is_recovered() {
    loom::model(loom_tests::mpmc::a_dead_senders_slot_is_recovered);
}

#[test]
fn passing_skipped_slots_wakes_a_sender_waiting_for_room() {
    loom::model(loom_tests::mpmc::passing_skipped_slots_wakes_a_sender_waiting_for_room);
}

#[test]
fn a_dead_receivers_slot_is_recovered() {
    loom::model(loom_tests::mpmc::a_dead_receivers_slot_is_recovered);
}

/// Three threads with blocking waits: bounded to 2 preemptions, as
/// `two_producers_one_consumer_in_order`.
#[test]
fn room_on_one_level_wakes_a_sender_of_that_level() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(loom_tests::mpmc::room_on_one_level_wakes_a_sender_of_that_level);
}
