//! Pipe-like end of file: a dropped or killed side is noticed by the other.
mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{
    AttachError, RecvError, RecvTimeoutError, SendTimeoutError, SpscBuilder, TryRecvError,
    TrySendError,
};
use std::time::Duration;

/// The bound the issue sets for noticing a peer killed with SIGKILL.
const DETECTION: Duration = Duration::from_secs(1);

#[test]
fn the_consumer_drains_then_sees_end_of_file_when_the_producer_exits() {
    let name = Name::new("eof");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    Peer::spawn(&["send-one", &name, "last words"]).finish();
    assert_eq!(&*consumer.recv_timeout(PATIENCE).unwrap(), b"last words");
    assert_eq!(consumer.recv().unwrap_err(), RecvError::Disconnected);
    assert_eq!(consumer.try_recv().unwrap_err(), TryRecvError::Disconnected);
}

#[test]
fn a_blocked_consumer_wakes_with_end_of_file_when_the_producer_drops() {
    let name = Name::new("eof-blocked");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let producer = ring.producer().unwrap();
    let mut consumer = ring.consumer().unwrap();
    let reader = std::thread::spawn(move || consumer.recv_timeout(PATIENCE).map(|m| m.len()));
    std::thread::sleep(Duration::from_millis(100));
    drop(producer);
    assert_eq!(reader.join().unwrap(), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn send_fails_with_disconnected_once_the_consumer_is_gone() {
    let name = Name::new("epipe");
    let ring = SpscBuilder::new().capacity(256).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let mut peer = Peer::spawn(&["recv-one", &name, "1"]);
    peer.expect("ready");
    peer.finish();
    assert!(matches!(producer.try_send(b"x"), Err(TrySendError::Disconnected(m)) if m == b"x"));
    assert!(matches!(
        producer.send(b"y"),
        Err(shmring::SendError::Disconnected(_))
    ));
}

#[test]
fn a_blocked_producer_wakes_with_disconnected_when_the_consumer_drops() {
    let name = Name::new("epipe-blocked");
    let ring = SpscBuilder::new().capacity(64).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let consumer = ring.consumer().unwrap();
    while producer.try_send(&[0; 8]).is_ok() {}
    let writer = std::thread::spawn(move || {
        producer
            .send_timeout(&[1; 8], PATIENCE)
            .map_err(|e| e.without_message())
    });
    std::thread::sleep(Duration::from_millis(100));
    drop(consumer);
    assert!(matches!(
        writer.join().unwrap(),
        Err(SendTimeoutError::Disconnected(()))
    ));
}

#[test]
fn kill_9_of_the_producer_is_noticed_within_a_second_and_its_role_can_be_retaken() {
    let name = Name::new("kill-producer");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut peer = Peer::spawn(&["hold-producer", &name]);
    peer.expect("ready");
    assert!(matches!(ring.producer(), Err(AttachError::Busy { pid }) if pid == peer.pid()));
    assert!(consumer.is_producer_attached());
    // Parked: the consumer must notice by itself, nobody wakes it.
    let reader = std::thread::spawn(move || {
        let outcome = consumer.recv_timeout(PATIENCE).map(|m| m.len());
        (outcome, consumer)
    });
    std::thread::sleep(Duration::from_millis(200));
    peer.kill9();
    let (outcome, mut consumer) = reader.join().unwrap();
    assert_eq!(outcome, Err(RecvTimeoutError::Disconnected));
    // Polling notices too, within the bound.
    assert_eq!(
        consumer.recv_timeout(DETECTION).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
    // The dead process's role is free again: a restarted producer carries on.
    let mut producer = ring.producer().unwrap();
    producer.send(b"again").unwrap();
    assert_eq!(&*consumer.recv_timeout(PATIENCE).unwrap(), b"again");
}

#[test]
fn kill_9_of_the_consumer_is_noticed_within_a_second() {
    let name = Name::new("kill-consumer");
    let ring = SpscBuilder::new().capacity(128).create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    let mut peer = Peer::spawn(&["hold-consumer", &name]);
    peer.expect("ready");
    while producer.try_send(&[0; 16]).is_ok() {}
    peer.kill9();
    let err = producer.send_timeout(&[1; 16], DETECTION).unwrap_err();
    assert!(matches!(err, SendTimeoutError::Disconnected(_)), "{err:?}");
    // A polling producer gets the same answer.
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(
        producer.try_send(&[1; 16]),
        Err(TrySendError::Disconnected(_))
    ));
    assert!(!producer.is_consumer_attached());
}

#[test]
fn a_second_claim_of_a_role_is_busy_in_the_same_process_too() {
    let name = Name::new("busy");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let _producer = ring.producer().unwrap();
    let _consumer = ring.consumer().unwrap();
    let again = SpscBuilder::new().open(&name).unwrap();
    let me = std::process::id();
    assert!(matches!(again.producer(), Err(AttachError::Busy { pid }) if pid == me));
    assert!(matches!(again.consumer(), Err(AttachError::Busy { pid }) if pid == me));
}

#[test]
fn a_restarted_consumer_continues_where_the_last_one_released() {
    let name = Name::new("restart-consumer");
    let ring = SpscBuilder::new().create(&name).unwrap();
    let mut producer = ring.producer().unwrap();
    for i in 0..10u8 {
        producer.send(&[i]).unwrap();
    }
    {
        let mut consumer = ring.consumer().unwrap();
        for i in 0..4u8 {
            assert_eq!(&*consumer.recv().unwrap(), &[i]);
        }
    }
    let mut consumer = ring.consumer().unwrap();
    for i in 4..10u8 {
        assert_eq!(&*consumer.recv().unwrap(), &[i]);
    }
}
