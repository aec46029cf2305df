//! An open queue: send, receive, attributes, notification.

use super::lock::{lock, lock_until, repair, sync_readiness};
use super::park::{self, Line, Parked};
use super::presence::{self, Member};
use super::store::{self, Mapped};
use super::{Attributes, MqError, NotifyAction, OpenRequest};
use crate::ring::priority::{self, Corrupt};
use crate::sync::Ordering::Relaxed;
use crate::sys::queue_dir;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use std::sync::Arc;
use std::time::SystemTime;

/// Priorities run from 0 to `MQ_PRIO_MAX - 1` (Linux: 32768).
pub const MQ_PRIO_MAX: u32 = crate::layout::mq::PRIORITIES;

/// Runs `op` on the lists; a corrupt list is rebuilt and `op` run again.
fn on_lists<T>(mapped: &Mapped, mut op: impl FnMut() -> Result<T, Corrupt>) -> Result<T, MqError> {
    match op() {
        Ok(v) => Ok(v),
        Err(Corrupt) => {
            repair(mapped);
            op().map_err(|_| MqError::new(Errno::INVAL, "the queue's segment is corrupt"))
        }
    }
}

/// A receiver counted as blocked, and the presence entry (if any) that
/// counts it too.
#[derive(Debug, Clone, Copy)]
struct Counted(Option<u32>);

/// An open message queue: what `mq_open` returns a descriptor of.
#[derive(Debug)]
pub struct MessageQueue {
    pub(super) mapped: Arc<Mapped>,
    read: bool,
    write: bool,
    member: Member,
    created: bool,
}

impl MessageQueue {
    /// Opens (and with `create`, makes) a queue, as `mq_open` does.
    pub fn open(request: &OpenRequest<'_>) -> Result<MessageQueue, MqError> {
        let (mapped, created) = store::open(request)?;
        let mapped = Arc::new(mapped);
        let queue = MessageQueue {
            mapped,
            read: request.read,
            write: request.write,
            member: Member::default(),
            created,
        };
        // Claimed now, so that the message path finds it.
        queue.tag();
        Ok(queue)
    }

    /// The calling process's lock tag for this description.
    fn tag(&self) -> u32 {
        self.member.tag(&self.mapped)
    }

    /// Whether this open made the queue.
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether this description may receive (`O_RDONLY` or `O_RDWR`).
    pub fn can_receive(&self) -> bool {
        self.read
    }

    /// Whether this description may send (`O_WRONLY` or `O_RDWR`).
    pub fn can_send(&self) -> bool {
        self.write
    }

    /// `mq_msgsize`.
    pub fn message_size(&self) -> usize {
        self.mapped.shape.message_size as usize
    }

    /// The readiness descriptor: readable while a message waits.
    pub fn ready_fd(&self) -> BorrowedFd<'_> {
        self.mapped.ready.as_fd()
    }

    /// The queue's identity (device and inode of its segment file).
    pub fn identity(&self) -> (u64, u64) {
        self.mapped.identity
    }

    /// A new open file description of the queue's FIFO, for a caller to
    /// hold as its descriptor: it polls readable while a message waits,
    /// and its `O_NONBLOCK` flag (set here to `nonblocking`) can serve as
    /// the description's flag, shared across `fork` and `dup` as a
    /// kernel queue's is.
    pub fn descriptor(&self, nonblocking: bool) -> Result<OwnedFd, MqError> {
        crate::sys::queue_dir::reopen_fifo(self.mapped.ready.as_fd(), nonblocking)
            .map_err(|e| MqError::new(e, "no descriptor left for the queue"))
    }

    /// Keeps the readiness FIFO from now on: call before a descriptor of
    /// the queue is handed to `poll`, `select` or `epoll` (until then a
    /// message costs no system call, and the FIFO says nothing).
    pub fn watch(&self) -> Result<(), MqError> {
        let words = &self.mapped.words;
        // Read without the mutex: once set it stays set.
        if words.watched().load(Relaxed) != 0 {
            return Ok(());
        }
        let _held = lock(&self.mapped, self.tag());
        if words.watched().load(Relaxed) == 0 {
            words.watched().store(1, Relaxed);
            sync_readiness(&self.mapped);
        }
        Ok(())
    }

    /// `mq_getattr`: the queue's attributes, `curmsgs` exact.
    pub fn attributes(&self) -> Result<Attributes, MqError> {
        let held = lock(&self.mapped, self.tag());
        let count = on_lists(&self.mapped, || {
            priority::count(&self.mapped.words, &self.mapped.shape)
        })?;
        drop(held);
        Ok(Attributes {
            max_messages: self.mapped.shape.max_messages as i64,
            message_size: self.mapped.shape.message_size as i64,
            current_messages: i64::from(count),
        })
    }

    /// Sends `message` with `prio`, as `mq_timedsend` does: blocks while
    /// the queue is full until `deadline` on the realtime clock (`None`:
    /// for ever), unless the caller's description is non-blocking
    /// (`EAGAIN`). `nonblocking(sure)` says whether it is, asked only when
    /// the queue is full: first with `sure` false (an answer from a cache
    /// will do: a wrong "blocking" costs a short spin), then, before the
    /// call sleeps, with `sure` true.
    pub fn send(
        &self,
        message: &[u8],
        prio: u32,
        deadline: Option<SystemTime>,
        nonblocking: impl Fn(bool) -> bool,
    ) -> Result<(), MqError> {
        if prio >= MQ_PRIO_MAX {
            return Err(MqError::new(
                Errno::INVAL,
                "priority at or above MQ_PRIO_MAX",
            ));
        }
        if !self.write {
            return Err(MqError::new(
                Errno::BADF,
                "the descriptor is not open for writing",
            ));
        }
        if message.len() as u64 > self.mapped.shape.message_size {
            return Err(MqError::new(
                Errno::MSGSIZE,
                "message longer than mq_msgsize",
            ));
        }
        let mapped = &self.mapped;
        let line = mapped.words.not_full();
        let mut waiting = false;
        loop {
            let held = match lock_until(mapped, self.tag(), deadline) {
                Ok(held) => held,
                Err(e) if waiting => return Err(self.leave(Waiter::Sender, e)),
                Err(e) => return Err(e),
            };
            if std::mem::take(&mut waiting) {
                line.waiters.fetch_sub(1, Relaxed);
            }
            let count = on_lists(mapped, || priority::count(&mapped.words, &mapped.shape))?;
            if u64::from(count) < mapped.shape.max_messages {
                let before = on_lists(mapped, || {
                    priority::push(&mapped.words, &mapped.shape, prio, message)
                })?;
                let receivers = mapped.words.not_empty();
                let mut fired = false;
                if before == 0 {
                    if mapped.words.watched().load(Relaxed) != 0 {
                        queue_dir::put_byte(mapped.ready.as_fd());
                    }
                    if mapped.words.notify_token().load(Relaxed) != 0
                        && presence::receivers_blocked(mapped) == 0
                    {
                        fired = super::notify::fire(mapped);
                    }
                }
                let wake = park::bump(receivers);
                drop(held);
                if wake {
                    park::wake_after_unlock(receivers);
                }
                if fired {
                    super::notify::wake_helper(mapped);
                }
                return Ok(());
            }
            if nonblocking(false) {
                return Err(full());
            }
            if passed(deadline) {
                return Err(timed_out());
            }
            line.waiters.fetch_add(1, Relaxed);
            waiting = true;
            let seen = line.epoch.load(Relaxed);
            drop(held);
            match park::park(mapped, Line::NotFull, seen, deadline, &|| nonblocking(true)) {
                Parked::Woken => {}
                Parked::NonBlocking => {
                    return Err(self.leave(Waiter::Sender, full()));
                }
                Parked::Interrupted => return Err(self.leave(Waiter::Sender, interrupted())),
                Parked::TimedOut => return Err(self.leave(Waiter::Sender, timed_out())),
            }
        }
    }

    /// Receives the oldest message of the highest priority into `buffer`
    /// (at least `mq_msgsize` bytes), as `mq_timedreceive` does, waiting
    /// as [`send`](Self::send) does. Returns its length and priority.
    pub fn receive(
        &self,
        buffer: &mut [u8],
        deadline: Option<SystemTime>,
        nonblocking: impl Fn(bool) -> bool,
    ) -> Result<(usize, u32), MqError> {
        if !self.read {
            return Err(MqError::new(
                Errno::BADF,
                "the descriptor is not open for reading",
            ));
        }
        if (buffer.len() as u64) < self.mapped.shape.message_size {
            return Err(MqError::new(
                Errno::MSGSIZE,
                "buffer shorter than mq_msgsize",
            ));
        }
        let mapped = &self.mapped;
        let line = mapped.words.not_empty();
        let mut waiting = None;
        loop {
            let held = match (lock_until(mapped, self.tag(), deadline), waiting) {
                (Ok(held), _) => held,
                (Err(e), Some(counted)) => return Err(self.leave(Waiter::Receiver(counted), e)),
                (Err(e), None) => return Err(e),
            };
            if let Some(counted) = waiting.take() {
                self.uncount_receiver(counted);
            }
            let count = on_lists(mapped, || priority::count(&mapped.words, &mapped.shape))?;
            if count > 0 {
                let popped = on_lists(mapped, || {
                    priority::pop_into(&mapped.words, &mapped.shape, buffer)
                })?;
                if popped.left == 0 && mapped.words.watched().load(Relaxed) != 0 {
                    queue_dir::take_byte(mapped.ready.as_fd());
                }
                let senders = mapped.words.not_full();
                let wake = park::bump(senders);
                drop(held);
                if wake {
                    park::wake_after_unlock(senders);
                }
                return Ok((popped.len, popped.prio));
            }
            if nonblocking(false) {
                return Err(empty());
            }
            if passed(deadline) {
                return Err(timed_out());
            }
            let counted = self.count_blocked_receiver();
            waiting = Some(counted);
            let seen = line.epoch.load(Relaxed);
            drop(held);
            match park::park(mapped, Line::NotEmpty, seen, deadline, &|| {
                nonblocking(true)
            }) {
                Parked::Woken => {}
                Parked::NonBlocking => return Err(self.leave(Waiter::Receiver(counted), empty())),
                Parked::Interrupted => {
                    return Err(self.leave(Waiter::Receiver(counted), interrupted()));
                }
                Parked::TimedOut => return Err(self.leave(Waiter::Receiver(counted), timed_out())),
            }
        }
    }

    /// Stops counting the caller as a waiter and hands on a wake it may
    /// have taken: a message (or room) that is there now goes to the next
    /// waiter. Returns `error`, the one to report. Patient for
    /// [`LEAVE_PATIENCE`] at most: a peer that holds the lock longer (one
    /// that made a timed call fail) leaves the caller counted, which
    /// costs spurious wake-ups and, for a receiver, a notification held
    /// back while its process lives.
    fn leave(&self, waiter: Waiter, error: MqError) -> MqError {
        let mapped = &self.mapped;
        let patience = Some(SystemTime::now() + LEAVE_PATIENCE);
        if let Ok(held) = lock_until(mapped, self.tag(), patience) {
            let count = priority::count(&mapped.words, &mapped.shape).unwrap_or(0);
            let (line, more) = match waiter {
                Waiter::Receiver(counted) => {
                    self.uncount_receiver(counted);
                    (Line::NotEmpty, count > 0)
                }
                Waiter::Sender => {
                    let waiters = mapped.words.not_full().waiters;
                    waiters.store(waiters.load(Relaxed).saturating_sub(1), Relaxed);
                    (Line::NotFull, u64::from(count) < mapped.shape.max_messages)
                }
            };
            let words = line.of(mapped);
            let wake = more && park::bump(words);
            drop(held);
            if wake {
                park::wake_after_unlock(words);
            }
        }
        error
    }

    /// Counts the caller among the queue's blocked receivers, and in its
    /// process's presence entry (lock held).
    fn count_blocked_receiver(&self) -> Counted {
        let words = &self.mapped.words;
        words.not_empty().waiters.fetch_add(1, Relaxed);
        let index = self.member.index(&self.mapped);
        let count = match index {
            Some(index) => words.presence(index)[1],
            None => words.anonymous_receivers(),
        };
        count.fetch_add(1, Relaxed);
        Counted(index)
    }

    /// Undoes [`count_blocked_receiver`](Self::count_blocked_receiver)
    /// (lock held). Saturating: a scan after a death may have reset the
    /// counts under us.
    fn uncount_receiver(&self, counted: Counted) {
        let words = &self.mapped.words;
        let count = match counted.0 {
            Some(index) => words.presence(index)[1],
            None => words.anonymous_receivers(),
        };
        for word in [words.not_empty().waiters, count] {
            word.store(word.load(Relaxed).saturating_sub(1), Relaxed);
        }
    }

    /// `mq_notify`: registers `action` (`Some`) or removes this process's
    /// registration (`None`).
    pub fn notify(&self, action: Option<NotifyAction>) -> Result<(), MqError> {
        match action {
            Some(action) => super::notify::register(&self.mapped, self.tag(), action),
            None => {
                super::notify::unregister(self.mapped.identity, self.tag());
                Ok(())
            }
        }
    }
}

impl Drop for MessageQueue {
    fn drop(&mut self) {
        // Closing any descriptor of a queue ends the process's
        // registration, as on Linux.
        super::notify::unregister(self.mapped.identity, self.tag());
        self.member.release(&self.mapped);
    }
}

/// How long [`MessageQueue::leave`] waits for the lock.
const LEAVE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

fn full() -> MqError {
    MqError::new(Errno::AGAIN, "the queue is full")
}

fn empty() -> MqError {
    MqError::new(Errno::AGAIN, "the queue is empty")
}

fn interrupted() -> MqError {
    MqError::new(Errno::INTR, "interrupted by a signal")
}

fn timed_out() -> MqError {
    MqError::new(Errno::TIMEDOUT, "the deadline passed")
}

/// Who is leaving a wait.
#[derive(Debug, Clone, Copy)]
enum Waiter {
    Sender,
    Receiver(Counted),
}

fn passed(deadline: Option<SystemTime>) -> bool {
    deadline.is_some_and(|d| SystemTime::now() >= d)
}
