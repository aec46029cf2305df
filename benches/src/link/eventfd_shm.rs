//! Slots in a shared mapping, handed over with two eventfd counters in
//! semaphore mode: `items` (filled slots) and, for a stream, `spaces`
//! (free slots). The classic hand-rolled shared-memory transport: the
//! data never enters the kernel, but every message costs two system calls
//! on each side.

use super::shared_memory::SharedFile;
use crate::Result;
use crate::traffic::{Rx, Tx};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::sync::Arc;

/// Slots of one direction of a stream; a round trip needs one.
pub const STREAM_SLOTS: usize = 16;

/// One direction's slots inside the mapping.
#[derive(Debug, Clone)]
pub struct Slots {
    /// The mapping shared by both directions.
    pub file: Arc<SharedFile>,
    /// Offset of the first slot.
    pub base: usize,
    /// Number of slots.
    pub count: usize,
    /// Bytes per slot (the message size).
    pub size: usize,
}

/// Copies a message into the next slot and counts it in `items`.
#[derive(Debug)]
pub struct EventTx {
    slots: Slots,
    next: usize,
    items: OwnedFd,
    spaces: Option<OwnedFd>,
}

/// Waits on `items`, copies the slot out, and returns it to `spaces`.
#[derive(Debug)]
pub struct EventRx {
    slots: Slots,
    next: usize,
    items: OwnedFd,
    spaces: Option<OwnedFd>,
    buf: Vec<u8>,
}

impl EventTx {
    /// Sender over `slots`; `spaces` is needed when more than one message
    /// can be in flight.
    pub fn new(slots: Slots, items: OwnedFd, spaces: Option<OwnedFd>) -> EventTx {
        EventTx {
            slots,
            next: 0,
            items,
            spaces,
        }
    }
}

impl EventRx {
    /// Receiver over `slots`.
    pub fn new(slots: Slots, items: OwnedFd, spaces: Option<OwnedFd>) -> EventRx {
        let buf = vec![0; slots.size];
        EventRx {
            slots,
            next: 0,
            items,
            spaces,
            buf,
        }
    }
}

impl AsFd for EventRx {
    /// The `items` counter: readable while a message is waiting (what
    /// the epoll row waits on before each receive).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.items.as_fd()
    }
}

fn take_one(fd: &OwnedFd) -> Result<()> {
    let mut value = [0u8; 8];
    loop {
        // Semaphore mode: blocks while zero, then decrements by one.
        match rustix::io::read(fd, &mut value) {
            Ok(8) => return Ok(()),
            Ok(n) => return Err(format!("eventfd read returned {n} bytes").into()),
            Err(Errno::INTR) => {}
            Err(err) => return Err(format!("eventfd read: {err}").into()),
        }
    }
}

fn give_one(fd: &OwnedFd) -> Result<()> {
    loop {
        match rustix::io::write(fd, &1u64.to_ne_bytes()) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(err) => return Err(format!("eventfd write: {err}").into()),
        }
    }
}

impl Tx for EventTx {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        if msg.len() > self.slots.size {
            return Err("message larger than a slot".into());
        }
        if let Some(spaces) = &self.spaces {
            take_one(spaces)?;
        }
        let offset = self.slots.base + self.next * self.slots.size;
        self.slots.file.write(offset, msg);
        self.next = (self.next + 1) % self.slots.count;
        give_one(&self.items)
    }
}

impl Rx for EventRx {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        take_one(&self.items)?;
        let offset = self.slots.base + self.next * self.slots.size;
        self.slots.file.read(offset, &mut self.buf);
        self.next = (self.next + 1) % self.slots.count;
        let out = f(&self.buf);
        if let Some(spaces) = &self.spaces {
            give_one(spaces)?;
        }
        Ok(out)
    }
}
