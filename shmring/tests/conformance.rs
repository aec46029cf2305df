//! Behaviour both ring kinds must share, written once and run for each.
mod common;

use common::Name;
use shmring::{
    Mpmc, MpmcBuilder, OpenError, RecvTimeoutError, SendTimeoutError, Spsc, SpscBuilder,
    TryRecvError, TrySendError,
};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// What the suite needs from a ring kind.
trait Kind: Sized {
    type Tx;
    type Rx;
    /// A small ring (a few dozen 32-byte messages at most).
    fn create(name: &str) -> Self;
    fn open(name: &str) -> Result<Self, OpenError>;
    fn endpoints(&self) -> (Self::Tx, Self::Rx);
    fn try_send(tx: &mut Self::Tx, msg: &[u8]) -> Result<(), TrySendError<()>>;
    fn send_timeout(tx: &mut Self::Tx, msg: &[u8], d: Duration)
    -> Result<(), SendTimeoutError<()>>;
    fn try_recv(rx: &mut Self::Rx) -> Result<Vec<u8>, TryRecvError>;
    fn recv_timeout(rx: &mut Self::Rx, d: Duration) -> Result<Vec<u8>, RecvTimeoutError>;
}

impl Kind for Spsc {
    type Tx = shmring::Producer;
    type Rx = shmring::Consumer;
    fn create(name: &str) -> Self {
        SpscBuilder::new()
            .capacity(1024)
            .max_message(32)
            .create(name)
            .unwrap()
    }
    fn open(name: &str) -> Result<Self, OpenError> {
        SpscBuilder::new()
            .open_timeout(Duration::from_millis(20))
            .open(name)
    }
    fn endpoints(&self) -> (Self::Tx, Self::Rx) {
        (self.producer().unwrap(), self.consumer().unwrap())
    }
    fn try_send(tx: &mut Self::Tx, msg: &[u8]) -> Result<(), TrySendError<()>> {
        tx.try_send(msg).map_err(|e| e.without_message())
    }
    fn send_timeout(
        tx: &mut Self::Tx,
        msg: &[u8],
        d: Duration,
    ) -> Result<(), SendTimeoutError<()>> {
        tx.send_timeout(msg, d).map_err(|e| e.without_message())
    }
    fn try_recv(rx: &mut Self::Rx) -> Result<Vec<u8>, TryRecvError> {
        rx.try_recv().map(|m| m.to_vec())
    }
    fn recv_timeout(rx: &mut Self::Rx, d: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
        rx.recv_timeout(d).map(|m| m.to_vec())
    }
}

impl Kind for Mpmc {
    type Tx = shmring::Sender;
    type Rx = shmring::Receiver;
    fn create(name: &str) -> Self {
        MpmcBuilder::new()
            .slots(32)
            .slot_size(32)
            .create(name)
            .unwrap()
    }
    fn open(name: &str) -> Result<Self, OpenError> {
        MpmcBuilder::new()
            .open_timeout(Duration::from_millis(20))
            .open(name)
    }
    fn endpoints(&self) -> (Self::Tx, Self::Rx) {
        (self.sender().unwrap(), self.receiver().unwrap())
    }
    fn try_send(tx: &mut Self::Tx, msg: &[u8]) -> Result<(), TrySendError<()>> {
        tx.try_send(msg).map_err(|e| e.without_message())
    }
    fn send_timeout(
        tx: &mut Self::Tx,
        msg: &[u8],
        d: Duration,
    ) -> Result<(), SendTimeoutError<()>> {
        tx.send_timeout(msg, d).map_err(|e| e.without_message())
    }
    fn try_recv(rx: &mut Self::Rx) -> Result<Vec<u8>, TryRecvError> {
        rx.try_recv().map(|m| m.to_vec())
    }
    fn recv_timeout(rx: &mut Self::Rx, d: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
        rx.recv_timeout(d).map(|m| m.to_vec())
    }
}

fn fifo_from_one_sender<K: Kind>() {
    let name = Name::new("c-fifo");
    let ring = K::create(&name);
    let (mut tx, mut rx) = ring.endpoints();
    let mut next_expected = 0u32;
    for i in 0..2_000u32 {
        while K::try_send(&mut tx, &i.to_le_bytes()).is_err() {
            let m = K::try_recv(&mut rx).unwrap();
            assert_eq!(m, next_expected.to_le_bytes());
            next_expected += 1;
        }
    }
    while let Ok(m) = K::try_recv(&mut rx) {
        assert_eq!(m, next_expected.to_le_bytes());
        next_expected += 1;
    }
    assert_eq!(next_expected, 2_000);
}

fn end_of_file_after_the_last_message<K: Kind>() {
    let name = Name::new("c-eof");
    let ring = K::create(&name);
    let (mut tx, mut rx) = ring.endpoints();
    K::try_send(&mut tx, b"one").unwrap();
    K::try_send(&mut tx, b"two").unwrap();
    drop(tx);
    assert_eq!(
        K::recv_timeout(&mut rx, Duration::from_secs(5)).unwrap(),
        b"one"
    );
    assert_eq!(K::try_recv(&mut rx).unwrap(), b"two");
    assert_eq!(
        K::try_recv(&mut rx).unwrap_err(),
        TryRecvError::Disconnected
    );
    assert_eq!(
        K::recv_timeout(&mut rx, Duration::from_secs(5)).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
}

fn sending_to_nobody_is_disconnected<K: Kind>() {
    let name = Name::new("c-epipe");
    let ring = K::create(&name);
    let (mut tx, rx) = ring.endpoints();
    drop(rx);
    assert_eq!(
        K::try_send(&mut tx, b"x").unwrap_err(),
        TrySendError::Disconnected(())
    );
    assert_eq!(
        K::send_timeout(&mut tx, b"x", Duration::from_secs(5)).unwrap_err(),
        SendTimeoutError::Disconnected(())
    );
}

fn timeouts_on_empty_and_full<K: Kind>() {
    let name = Name::new("c-timeouts");
    let ring = K::create(&name);
    let (mut tx, mut rx) = ring.endpoints();
    assert_eq!(
        K::recv_timeout(&mut rx, Duration::from_millis(10)).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    while K::try_send(&mut tx, &[7; 32]).is_ok() {}
    assert_eq!(
        K::try_send(&mut tx, &[7; 32]).unwrap_err(),
        TrySendError::Full(())
    );
    assert_eq!(
        K::send_timeout(&mut tx, &[7; 32], Duration::from_millis(10)).unwrap_err(),
        SendTimeoutError::Timeout(())
    );
    assert_eq!(
        K::try_send(&mut tx, &[0; 33]).unwrap_err(),
        TrySendError::TooLarge(())
    );
}

fn a_damaged_header_is_corrupt<K: Kind>() {
    let name = Name::new("c-corrupt");
    let _ring = K::create(&name);
    let file = OpenOptions::new().write(true).open(name.path()).unwrap();
    file.write_all_at(b"garbage!", 0).unwrap();
    assert!(matches!(K::open(&name), Err(OpenError::Corrupt(_))));
}

fn hostile_bytes_never_panic<K: Kind>() {
    let name = Name::new("c-hostile");
    let ring = K::create(&name);
    let (mut tx, mut rx) = ring.endpoints();
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
        let _ = K::try_send(&mut tx, &i.to_le_bytes());
        if let Ok(m) = K::try_recv(&mut rx) {
            assert!(m.len() <= 32);
        }
        let _ = K::recv_timeout(&mut rx, Duration::from_micros(10));
    }
}

macro_rules! conformance {
    ($module:ident, $kind:ty) => {
        mod $module {
            use super::*;
            #[test]
            fn fifo_from_one_sender() {
                super::fifo_from_one_sender::<$kind>();
            }
            #[test]
            fn end_of_file_after_the_last_message() {
                super::end_of_file_after_the_last_message::<$kind>();
            }
            #[test]
            fn sending_to_nobody_is_disconnected() {
                super::sending_to_nobody_is_disconnected::<$kind>();
            }
            #[test]
            fn timeouts_on_empty_and_full() {
                super::timeouts_on_empty_and_full::<$kind>();
            }
            #[test]
            fn a_damaged_header_is_corrupt() {
                super::a_damaged_header_is_corrupt::<$kind>();
            }
            #[test]
            fn hostile_bytes_never_panic() {
                super::hostile_bytes_never_panic::<$kind>();
            }
        }
    };
}

conformance!(spsc, Spsc);
conformance!(mpmc, Mpmc);
