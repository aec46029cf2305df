//! Mechanisms that are file descriptors: byte streams (pipe, FIFO, UNIX
//! stream socket), where a message is `size` bytes read whole, and
//! seqpacket sockets, where the kernel keeps message boundaries.

use crate::Result;
use crate::traffic::{Rx, Tx};
use rustix::fd::OwnedFd;
use rustix::io::Errno;

/// Writes each message whole (`write(2)` until done).
#[derive(Debug)]
pub struct StreamTx(pub OwnedFd);

/// Reads exactly one message's bytes per receive.
#[derive(Debug)]
pub struct StreamRx {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl StreamRx {
    /// Receiver of `size`-byte messages.
    pub fn new(fd: OwnedFd, size: usize) -> StreamRx {
        StreamRx {
            fd,
            buf: vec![0; size],
        }
    }
}

impl Tx for StreamTx {
    fn send(&mut self, mut msg: &[u8]) -> Result<()> {
        while !msg.is_empty() {
            match rustix::io::write(&self.0, msg) {
                Ok(n) => msg = &msg[n..],
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("write: {err}").into()),
            }
        }
        Ok(())
    }
}

impl Rx for StreamRx {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let mut filled = 0;
        while filled < self.buf.len() {
            match rustix::io::read(&self.fd, &mut self.buf[filled..]) {
                Ok(0) => return Err("end of file in the middle of the row".into()),
                Ok(n) => filled += n,
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("read: {err}").into()),
            }
        }
        Ok(f(&self.buf))
    }
}

/// Sends each message as one datagram.
#[derive(Debug)]
pub struct PacketTx(pub OwnedFd);

/// Receives one datagram per receive.
#[derive(Debug)]
pub struct PacketRx {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl PacketRx {
    /// Receiver of datagrams of up to `size` bytes.
    pub fn new(fd: OwnedFd, size: usize) -> PacketRx {
        PacketRx {
            fd,
            buf: vec![0; size],
        }
    }
}

impl Tx for PacketTx {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        loop {
            match rustix::net::send(&self.0, msg, rustix::net::SendFlags::empty()) {
                Ok(n) if n == msg.len() => return Ok(()),
                Ok(n) => return Err(format!("send took {n} of {} bytes", msg.len()).into()),
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("send: {err}").into()),
            }
        }
    }
}

impl Rx for PacketRx {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            match rustix::net::recv(&self.fd, &mut self.buf, rustix::net::RecvFlags::empty()) {
                Ok((0, _)) => return Err("socket closed in the middle of the row".into()),
                Ok((n, _)) => return Ok(f(&self.buf[..n.min(self.buf.len())])),
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("recv: {err}").into()),
            }
        }
    }
}
