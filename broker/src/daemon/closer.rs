//! A thread that closes the descriptors a client controls: the sockets
//! of its connections and any descriptor it attached to a request.
//!
//! Closing the last reference to a file runs its release on the closing
//! thread, and a client chooses how long that takes: a TCP socket with
//! unsent data and `SO_LINGER` waits for the linger time, a FUSE file for
//! its server, a connection socket releases every descriptor still in
//! flight in it. None of that may happen on the event loop.

use rustix::fd::OwnedFd;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

/// Descriptors handed over and not closed yet, above which the event
/// loop stops taking more (see [`Closer::behind`]).
const MAX_BACKLOG: usize = 4096;

/// The sending side of the closer thread.
#[derive(Debug)]
pub struct Closer {
    queue: mpsc::Sender<Vec<OwnedFd>>,
    /// Descriptors queued or being closed.
    backlog: Arc<Mutex<usize>>,
}

impl Closer {
    /// Starts the thread. It ends once the `Closer` is dropped and the
    /// queue is empty; nobody waits for it (a close may take minutes).
    pub fn start() -> std::io::Result<Closer> {
        let (queue, incoming) = mpsc::channel::<Vec<OwnedFd>>();
        let backlog = Arc::new(Mutex::new(0usize));
        let counted = Arc::clone(&backlog);
        std::thread::Builder::new()
            .name("shmringd-close".into())
            .spawn(move || {
                for fds in incoming {
                    let n = fds.len();
                    drop(fds);
                    let mut b = counted.lock().unwrap_or_else(PoisonError::into_inner);
                    *b = b.saturating_sub(n);
                }
            })?;
        Ok(Closer { queue, backlog })
    }

    /// Closes `fds` on the closer thread (here if that thread is gone).
    pub fn close(&self, fds: Vec<OwnedFd>) {
        if fds.is_empty() {
            return;
        }
        let n = fds.len();
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) += n;
        if let Err(mpsc::SendError(fds)) = self.queue.send(fds) {
            drop(fds);
            let mut b = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
            *b = b.saturating_sub(n);
        }
    }

    /// Whether the thread is so far behind (descriptors whose close
    /// blocks) that taking more would let our descriptor table grow
    /// without bound.
    pub fn behind(&self) -> bool {
        *self.backlog.lock().unwrap_or_else(PoisonError::into_inner) > MAX_BACKLOG
    }
}
