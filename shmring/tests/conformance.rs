//! Behaviour every ring kind must share, written once over [`Ring`] and run
//! for each kind on a small ring (a few dozen of its largest messages at
//! most).
mod common;

use common::Name;
use shmring::prelude::*;
use shmring::{
    Mpmc, OpenError, RecvTimeoutError, RingBuilder, RingGeometry, SendTimeoutError, Spsc,
    TryRecvError, TrySendError,
};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// A new ring made by `builder`, with one endpoint of each side.
fn create<R: Ring>(builder: &RingBuilder<R>, name: &str) -> (R, R::Sender, R::Receiver) {
    let ring = builder.create(name).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    (ring, tx, rx)
}

/// The largest message of the suite's rings.
fn max_message<R: Ring>(builder: &RingBuilder<R>) -> usize {
    builder.shape().max_message() as usize
}

fn fifo_from_one_sender<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-fifo");
    let (_ring, mut tx, mut rx) = create(&builder, &name);
    let mut next_expected = 0u32;
    for i in 0..2_000u32 {
        while tx.try_send(&i.to_le_bytes()).is_err() {
            assert_eq!(*rx.try_recv().unwrap(), next_expected.to_le_bytes());
            next_expected += 1;
        }
    }
    while let Ok(m) = rx.try_recv() {
        assert_eq!(*m, next_expected.to_le_bytes());
        next_expected += 1;
    }
    assert_eq!(next_expected, 2_000);
}

fn end_of_file_after_the_last_message<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-eof");
    let (_ring, mut tx, mut rx) = create(&builder, &name);
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    drop(tx);
    assert_eq!(*rx.recv_timeout(Duration::from_secs(5)).unwrap(), *b"one");
    assert_eq!(*rx.try_recv().unwrap(), *b"two");
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Disconnected));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).err(),
        Some(RecvTimeoutError::Disconnected)
    );
}

fn sending_to_nobody_is_disconnected<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-epipe");
    let (_ring, mut tx, rx) = create(&builder, &name);
    drop(rx);
    assert_eq!(
        tx.try_send(b"x").unwrap_err().without_message(),
        TrySendError::Disconnected(())
    );
    assert_eq!(
        tx.send_timeout(b"x", Duration::from_secs(5))
            .unwrap_err()
            .without_message(),
        SendTimeoutError::Disconnected(())
    );
}

fn timeouts_on_empty_and_full<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-timeouts");
    let (_ring, mut tx, mut rx) = create(&builder, &name);
    let largest = vec![7; max_message(&builder)];
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(10)).err(),
        Some(RecvTimeoutError::Timeout)
    );
    while tx.try_send(&largest).is_ok() {}
    assert_eq!(
        tx.try_send(&largest).unwrap_err().without_message(),
        TrySendError::Full(())
    );
    assert_eq!(
        tx.send_timeout(&largest, Duration::from_millis(10))
            .unwrap_err()
            .without_message(),
        SendTimeoutError::Timeout(())
    );
    assert_eq!(
        tx.try_send(&vec![0; largest.len() + 1])
            .unwrap_err()
            .without_message(),
        TrySendError::TooLarge(())
    );
}

fn a_damaged_header_is_corrupt<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-corrupt");
    let _ring = builder.create(&name).unwrap();
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    file.write_all_at(b"garbage!", 0).unwrap();
    let opened = builder.open_timeout(Duration::from_millis(20)).open(&name);
    assert!(matches!(opened, Err(OpenError::Corrupt(_))));
}

fn hostile_bytes_never_panic<R: Ring>(builder: RingBuilder<R>) {
    let name = Name::new("c-hostile");
    let (_ring, mut tx, mut rx) = create(&builder, &name);
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    let len = file.metadata().unwrap().len();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..20_000u32 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if i % 4 == 0 {
            let offset = (128 + state % (len - 136)) & !7;
            file.write_all_at(&state.to_le_bytes(), offset).unwrap();
        }
        let _ = tx.try_send(&i.to_le_bytes());
        if let Ok(m) = rx.try_recv() {
            assert!(m.len() <= max_message(&builder));
        }
        let _ = rx.recv_timeout(Duration::from_micros(10));
    }
}

/// Every test above, in module `$module`, on rings of kind `$ring` shaped
/// `$geometry`.
macro_rules! conformance {
    ($module:ident, $ring:ty, $geometry:expr) => {
        conformance!(@tests $module, $ring, $geometry, fifo_from_one_sender,
            end_of_file_after_the_last_message, sending_to_nobody_is_disconnected,
            timeouts_on_empty_and_full, a_damaged_header_is_corrupt, hostile_bytes_never_panic);
    };
    (@tests $module:ident, $ring:ty, $geometry:expr, $($test:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $test() {
                    super::$test(RingBuilder::<$ring>::new().geometry($geometry));
                }
            )*
        }
    };
}

conformance!(spsc, Spsc, RingGeometry::spsc(1024).with_max_message(32));
conformance!(mpmc, Mpmc, RingGeometry::mpmc(32, 32));
