//! [`Poller`]: one `epoll` instance over endpoints and foreign
//! descriptors.

use super::{Interest, Waitable};
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::time::{Duration, Instant};

/// Waits on any set of endpoints and foreign descriptors (sockets, timers,
/// signals, pipes) at once, with a timeout, and says which are ready.
/// Level-triggered `epoll(7)` underneath.
///
/// Each source carries a key of the caller's choice. After [`wait`]
/// reports an endpoint, receive from it (or send to it) until `try_*`
/// says empty (or full), which arms it again; an endpoint left with work
/// stays ready. A newly added endpoint is reported once at the next wait
/// without waiting, since it may already hold messages that rang nobody.
///
/// [`wait`]: Poller::wait
///
/// ```
/// use shmring::prelude::*;
/// use shmring::{Poller, SpscBuilder};
/// use std::time::Duration;
/// let name = format!("doc-poller-{}", std::process::id());
/// let ring = SpscBuilder::new().create(&name)?;
/// let (mut producer, mut consumer) = (ring.producer()?, ring.consumer()?);
/// let mut poller = Poller::new()?;
/// poller.add(&consumer, 7)?;
/// let mut events = shmring::Events::new();
/// producer.send(b"hello").map_err(|e| e.without_message())?;
/// poller.wait(&mut events, Some(Duration::from_secs(5)))?;
/// assert_eq!(events.iter().next().map(|e| e.key), Some(7));
/// assert_eq!(&*consumer.try_recv()?, b"hello");
/// # shmring::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Poller {
    epoll: OwnedFd,
    /// Endpoints added since the last wait: reported without waiting.
    fresh: Vec<Event>,
    buffer: Vec<epoll::Event>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("epoll", &self.epoll)
            .field("fresh", &self.fresh)
            .finish_non_exhaustive()
    }
}

/// One ready source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The key it was added with.
    pub key: u64,
    /// Readable (a receiver: a message may be waiting).
    pub readable: bool,
    /// Writable (a sender: there may be room).
    pub writable: bool,
    /// Hung up or in error: for an endpoint, its peers are gone (receive
    /// what is left, then `Disconnected`).
    pub hangup: bool,
}

/// The events one [`Poller::wait`] returned.
#[derive(Debug, Default)]
pub struct Events {
    list: Vec<Event>,
}

impl Events {
    /// An empty list.
    pub fn new() -> Events {
        Events::default()
    }

    /// The ready sources.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.list.iter()
    }

    /// How many are ready.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn flags_of(interest: Interest) -> EventFlags {
    let mut flags = EventFlags::RDHUP;
    if interest.readable {
        flags |= EventFlags::IN;
    }
    if interest.writable {
        flags |= EventFlags::OUT;
    }
    flags
}

impl Poller {
    /// A new poller (`epoll_create1(EPOLL_CLOEXEC)`).
    pub fn new() -> std::io::Result<Poller> {
        Ok(Poller {
            epoll: epoll::create(CreateFlags::CLOEXEC)?,
            fresh: Vec::new(),
            buffer: Vec::with_capacity(64),
        })
    }

    /// Adds an endpoint under `key`. Taking its descriptor makes its
    /// `try_*` calls arm it; it is reported ready at the next wait.
    pub fn add<W: Waitable>(&mut self, endpoint: &W, key: u64) -> std::io::Result<()> {
        self.add_fd(endpoint, W::INTEREST, key)?;
        self.fresh.push(Event {
            key,
            readable: W::INTEREST.readable,
            writable: W::INTEREST.writable,
            hangup: false,
        });
        Ok(())
    }

    /// Adds a foreign descriptor under `key`, waited on for `interest`.
    pub fn add_fd(&mut self, fd: impl AsFd, interest: Interest, key: u64) -> std::io::Result<()> {
        epoll::add(&self.epoll, fd, EventData::new_u64(key), flags_of(interest))?;
        Ok(())
    }

    /// Stops waiting on `source` (an endpoint or a foreign descriptor).
    pub fn remove(&mut self, source: impl AsFd) -> std::io::Result<()> {
        epoll::delete(&self.epoll, source)?;
        Ok(())
    }

    /// Waits until a source is ready or `timeout` passes (`None`: no
    /// limit), and fills `events` with the ready ones (empty on timeout).
    /// A signal that interrupts the wait is retried with what remains of
    /// the timeout.
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> std::io::Result<()> {
        events.list.clear();
        if !self.fresh.is_empty() {
            events.list.append(&mut self.fresh);
            return Ok(());
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let spec = left.map(|l| rustix::event::Timespec {
                tv_sec: l.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(l.subsec_nanos()),
            });
            self.buffer.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut self.buffer),
                spec.as_ref(),
            ) {
                Ok(_) => break,
                Err(Errno::INTR) if left.is_none_or(|l| !l.is_zero()) => continue,
                Err(Errno::INTR) => break,
                Err(e) => return Err(e.into()),
            }
        }
        events.list.extend(self.buffer.iter().map(|e| {
            let flags = e.flags;
            Event {
                key: e.data.u64(),
                readable: flags.contains(EventFlags::IN),
                writable: flags.contains(EventFlags::OUT),
                hangup: flags.intersects(EventFlags::HUP | EventFlags::ERR | EventFlags::RDHUP),
            }
        }));
        // A full buffer may have left ready sources behind: the next wait
        // reports them (level-triggered), and a bigger buffer lets it.
        if self.buffer.len() == self.buffer.capacity() {
            self.buffer.reserve(self.buffer.capacity());
        }
        Ok(())
    }
}

impl AsFd for Poller {
    /// The epoll descriptor: a poller can itself sit in another event
    /// loop (readable when a source is ready).
    fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
