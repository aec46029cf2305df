//! shmring itself: SPSC and MPMC rings, copying or zero-copy.

use crate::Result;
use crate::wire::{FILL, Rx, Tx};
use shmring::{Consumer, Producer, Receiver, Sender};

/// `Producer::send`: one copy into the ring.
#[derive(Debug)]
pub struct SpscTx(pub Producer);

/// `Producer::reserve` + `commit`: the message is written in place (its
/// first word, then the fill), as an application producing into the ring
/// would.
#[derive(Debug)]
pub struct SpscReserveTx(pub Producer);

/// `Consumer::recv`: the guard reads the message in place.
#[derive(Debug)]
pub struct SpscGuardRx(pub Consumer);

/// `Consumer::recv_into`: one copy out of the ring.
#[derive(Debug)]
pub struct SpscCopyRx(pub Consumer, pub Vec<u8>);

/// `Sender::send`.
#[derive(Debug)]
pub struct MpmcTx(pub Sender);

/// `Sender::reserve` + `commit`, written in place.
#[derive(Debug)]
pub struct MpmcReserveTx(pub Sender);

/// `Receiver::recv`: the guard reads the slot in place.
#[derive(Debug)]
pub struct MpmcGuardRx(pub Receiver);

/// `Receiver::recv_into`: one copy out of the slot.
#[derive(Debug)]
pub struct MpmcCopyRx(pub Receiver, pub Vec<u8>);

#[inline]
fn write_in_place(grant: &mut [u8], msg: &[u8]) {
    grant[..8].copy_from_slice(&msg[..8]);
    grant[8..].fill(FILL);
}

impl Tx for SpscTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.0.send(msg).map_err(|e| e.without_message().into())
    }
}

impl Tx for SpscReserveTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut grant = self.0.reserve(msg.len()).map_err(|e| e.without_message())?;
        write_in_place(&mut grant, msg);
        grant.commit();
        Ok(())
    }
}

impl Rx for SpscGuardRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let guard = self.0.recv()?;
        Ok(f(&guard))
    }
}

impl Rx for SpscCopyRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        self.0.recv_into(&mut self.1)?;
        Ok(f(&self.1))
    }
}

impl Tx for MpmcTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.0.send(msg).map_err(|e| e.without_message().into())
    }
}

impl Tx for MpmcReserveTx {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut grant = self.0.reserve(msg.len()).map_err(|e| e.without_message())?;
        write_in_place(&mut grant, msg);
        grant.commit();
        Ok(())
    }
}

impl Rx for MpmcGuardRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let guard = self.0.recv()?;
        Ok(f(&guard))
    }
}

impl Rx for MpmcCopyRx {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        self.0.recv_into(&mut self.1)?;
        Ok(f(&self.1))
    }
}
