//! Waiting in `epoll_wait` instead of spinning or blocking in the call
//! itself: the rows of an event-driven program, whose every side sleeps
//! in one `epoll_wait(2)` per message on a descriptor.
//!
//! Every epoll row pays for the same wait ([`Epoll::wait`]: one
//! level-triggered `epoll_wait` on one descriptor), so that only the
//! mechanism differs between them:
//!
//! | row | receiver | sender |
//! |-----|----------|--------|
//! | shmring ([`EpollRx`], [`EpollTx`]) | `try_recv` until empty (which arms the doorbell), then `epoll_wait` on the endpoint's descriptor | `try_send`; on full, `epoll_wait` on the sender's descriptor |
//! | pipe ([`EpollStreamRx`], [`EpollStreamTx`]) | `epoll_wait`, then `read` (again for the rest of a message) | non-blocking `write`; on `EAGAIN`, `epoll_wait` |
//! | eventfd + shared memory ([`WaitFirst`] over [`EventRx`](super::eventfd_shm::EventRx)) | `epoll_wait` on the eventfd, then `read` it and copy the slot | `write` the eventfd, as in the blocking row |
//!
//! Reading the shmring rows: an empty `try_recv` arms (drains the
//! doorbell, announces itself) and then looks once more, and a sender
//! rings only a receiver that armed. A reply that lands while the other
//! side is still arming is taken without sleeping and without a ring, so
//! two sides that happen to be awake together can keep exchanging without
//! either sleeping for a while. How often that happens depends on timing:
//! the p50 of these rows can fall between runs from about the kernel
//! baselines' to well under it (the counts of voluntary context switches
//! per round trip drop with it).

use crate::Result;
use crate::traffic::{Rx, Tx};
use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use shmring::prelude::*;
use shmring::{Interest, TryRecvError, TrySendError, Waitable};
use std::mem::MaybeUninit;

/// How long one wait may last before the row is declared broken (a lost
/// wake-up): far beyond any round trip, well inside the row's limit.
pub const WAIT_LIMIT_S: i64 = 10;

/// One epoll instance watching one descriptor.
#[derive(Debug)]
pub struct Epoll {
    epoll: OwnedFd,
}

impl Epoll {
    /// Watches `fd` for `interest` (level-triggered).
    pub fn new(fd: impl AsFd, interest: Interest) -> Result<Epoll> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let mut flags = EventFlags::empty();
        if interest.readable {
            flags |= EventFlags::IN;
        }
        if interest.writable {
            flags |= EventFlags::OUT;
        }
        epoll::add(&epoll, fd, EventData::new_u64(0), flags)?;
        Ok(Epoll { epoll })
    }

    /// Sleeps in `epoll_wait` until the descriptor is ready (or hung up,
    /// or in error: the next call on it says what happened).
    #[inline]
    pub fn wait(&mut self) -> Result<()> {
        let limit = Timespec {
            tv_sec: WAIT_LIMIT_S,
            tv_nsec: 0,
        };
        // On the stack: an `epoll::Event` holds a pointer-sized union,
        // which would make the ends that keep one not `Send`.
        let mut events = [MaybeUninit::<epoll::Event>::uninit(); 1];
        loop {
            match epoll::wait(&self.epoll, &mut events, Some(&limit)) {
                Ok(([], _)) => {
                    return Err(format!("no wake-up within {WAIT_LIMIT_S} s in epoll_wait").into());
                }
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("epoll_wait: {err}").into()),
            }
        }
    }
}

/// A shmring receiver used as an event loop uses it: `try_recv` until
/// it says empty (which arms the descriptor), then `epoll_wait` on the
/// descriptor. The guard is read in place.
#[derive(Debug)]
pub struct EpollRx<R> {
    rx: R,
    epoll: Epoll,
}

impl<R: MessageReceiver + Waitable> EpollRx<R> {
    /// Takes the receiver's descriptor (from now on its `try_recv` arms
    /// it) and watches it.
    pub fn new(rx: R) -> Result<EpollRx<R>> {
        let epoll = Epoll::new(rx.as_fd(), R::INTEREST)?;
        Ok(EpollRx { rx, epoll })
    }
}

impl<R: MessageReceiver + Waitable> Rx for EpollRx<R> {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            match self.rx.try_recv() {
                Ok(guard) => return Ok(f(&guard)),
                Err(TryRecvError::Empty) => self.epoll.wait()?,
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// A shmring sender used as an event loop uses it: `try_send`, and on
/// full `epoll_wait` on the sender's descriptor (taken the first time the
/// ring is full, so that a sender that never waits never arms).
#[derive(Debug)]
pub struct EpollTx<S> {
    tx: S,
    epoll: Option<Epoll>,
}

impl<S> EpollTx<S> {
    /// Sender whose descriptor is taken when first needed.
    pub fn new(tx: S) -> EpollTx<S> {
        EpollTx { tx, epoll: None }
    }
}

impl<S: MessageSender + Waitable> Tx for EpollTx<S> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => match &mut self.epoll {
                    Some(epoll) => epoll.wait()?,
                    // Descriptor mode starts here: the next `try_send`
                    // arms it before it says full again.
                    None => self.epoll = Some(Epoll::new(self.tx.as_fd(), S::INTEREST)?),
                },
                Err(err) => return Err(err.without_message().into()),
            }
        }
    }
}

/// A byte stream's reader that sleeps in `epoll_wait` before each
/// `read(2)` (a blocking descriptor: after the wait, `read` returns what
/// is there without sleeping).
#[derive(Debug)]
pub struct EpollStreamRx {
    fd: OwnedFd,
    epoll: Epoll,
    buf: Vec<u8>,
}

impl EpollStreamRx {
    /// Receiver of `size`-byte messages on `fd`.
    pub fn new(fd: OwnedFd, size: usize) -> Result<EpollStreamRx> {
        let epoll = Epoll::new(&fd, Interest::READABLE)?;
        Ok(EpollStreamRx {
            fd,
            epoll,
            buf: vec![0; size],
        })
    }
}

impl Rx for EpollStreamRx {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let mut filled = 0;
        while filled < self.buf.len() {
            self.epoll.wait()?;
            match rustix::io::read(&self.fd, &mut self.buf[filled..]) {
                Ok(0) => return Err("end of file in the middle of the row".into()),
                Ok(n) => filled += n,
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(err) => return Err(format!("read: {err}").into()),
            }
        }
        Ok(f(&self.buf))
    }
}

/// A byte stream's writer on a non-blocking descriptor: writes what fits
/// and sleeps in `epoll_wait` for room when nothing does.
#[derive(Debug)]
pub struct EpollStreamTx {
    fd: OwnedFd,
    epoll: Epoll,
}

impl EpollStreamTx {
    /// Sender on `fd`, which it makes non-blocking (`fd` must be this
    /// process's alone: the flag belongs to the open file description).
    pub fn new(fd: OwnedFd) -> Result<EpollStreamTx> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        let epoll = Epoll::new(&fd, Interest::WRITABLE)?;
        Ok(EpollStreamTx { fd, epoll })
    }
}

impl Tx for EpollStreamTx {
    fn send(&mut self, mut msg: &[u8]) -> Result<()> {
        while !msg.is_empty() {
            match rustix::io::write(&self.fd, msg) {
                Ok(n) => msg = &msg[n..],
                Err(Errno::AGAIN) => self.epoll.wait()?,
                Err(Errno::INTR) => {}
                Err(err) => return Err(format!("write: {err}").into()),
            }
        }
        Ok(())
    }
}

/// Any receiver whose one blocking call returns at once once its
/// descriptor is readable (an eventfd's `read`): `epoll_wait` first, then
/// that call.
#[derive(Debug)]
pub struct WaitFirst<R> {
    rx: R,
    epoll: Epoll,
}

impl<R: AsFd> WaitFirst<R> {
    /// `rx`, whose descriptor is readable when its next receive returns
    /// at once.
    pub fn new(rx: R) -> Result<WaitFirst<R>> {
        let epoll = Epoll::new(rx.as_fd(), Interest::READABLE)?;
        Ok(WaitFirst { rx, epoll })
    }
}

impl<R: Rx> Rx for WaitFirst<R> {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        self.epoll.wait()?;
        self.rx.recv(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::rings::{self, RingEnds, Side};
    use crate::link::{AnyEnds, Ends, Pattern, unique_tag};
    use crate::mechanism::Mechanism;
    use crate::traffic::{self, MIN_SAMPLES, Timing};
    use std::time::Duration;

    /// A short latency row over two threads: both loops finish, and
    /// agree on the number of runs.
    fn round_trips<T, R, U, S>(ours: Ends<T, R>, theirs: Ends<U, S>, size: usize)
    where
        T: Tx,
        R: Rx,
        U: Tx + Send + 'static,
        S: Rx + Send + 'static,
    {
        let (Some(mut tx), Some(mut rx)) = (ours.tx, ours.rx) else {
            panic!("our side lacks a direction");
        };
        let (Some(mut echo_tx), Some(mut echo_rx)) = (theirs.tx, theirs.rx) else {
            panic!("their side lacks a direction");
        };
        let echo = std::thread::spawn(move || traffic::echo(&mut echo_tx, &mut echo_rx));
        let ms = Duration::from_millis(5);
        let timing = Timing {
            warm_up: ms,
            run: ms,
            runs: 2,
        };
        let ours = traffic::round_trips(&mut tx, &mut rx, size, timing).unwrap();
        let theirs = echo.join().unwrap().unwrap();
        assert_eq!((ours.len(), theirs.len()), (2, 2));
        assert!(ours.iter().chain(&theirs).all(|r| r.samples >= MIN_SAMPLES));
    }

    /// Both sides of a ring row, as the bench and the peer open them.
    fn ring_sides(mechanism: Mechanism, size: usize) -> (AnyEnds, AnyEnds) {
        let tag = unique_tag();
        let mut made = Vec::new();
        let open = |side, made: &mut Vec<String>| {
            rings::open(mechanism, size, Pattern::RoundTrip, &tag, side, made).unwrap()
        };
        let bench = open(Side::Bench, &mut made);
        let peer = open(Side::Peer, &mut Vec::new());
        for name in made {
            shmring::unlink(&name).unwrap();
        }
        (bench, peer)
    }

    #[test]
    fn spsc_sides_wait_in_epoll_and_lose_nothing() {
        let size = 64;
        let (AnyEnds::Spsc(bench), AnyEnds::Spsc(peer)) = ring_sides(Mechanism::SpscEpoll, size)
        else {
            panic!("not SPSC ends");
        };
        let (RingEnds::Epoll(bench), RingEnds::Epoll(peer)) = (*bench, *peer) else {
            panic!("not epoll ends");
        };
        round_trips(bench, peer, size);
    }

    #[test]
    fn mpmc_sides_wait_in_epoll_and_lose_nothing() {
        let size = 64 * 1024;
        let (AnyEnds::Mpmc(bench), AnyEnds::Mpmc(peer)) = ring_sides(Mechanism::MpmcEpoll, size)
        else {
            panic!("not MPMC ends");
        };
        let (RingEnds::Epoll(bench), RingEnds::Epoll(peer)) = (*bench, *peer) else {
            panic!("not epoll ends");
        };
        round_trips(bench, peer, size);
    }

    #[test]
    fn a_pipe_message_larger_than_the_pipe_goes_through_in_pieces() {
        use rustix::pipe::{PipeFlags, pipe_with};
        // Four times the default pipe size: writes stop at EAGAIN and
        // reads come back partial, both waiting in epoll_wait between.
        let size = 256 * 1024;
        let (up_r, up_w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        let (down_r, down_w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
        let ours = Ends {
            tx: Some(EpollStreamTx::new(up_w).unwrap()),
            rx: Some(EpollStreamRx::new(down_r, size).unwrap()),
        };
        let theirs = Ends {
            tx: Some(EpollStreamTx::new(down_w).unwrap()),
            rx: Some(EpollStreamRx::new(up_r, size).unwrap()),
        };
        round_trips(ours, theirs, size);
    }
}
