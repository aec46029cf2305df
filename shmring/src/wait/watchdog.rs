//! Re-checks for descriptor waiters that may be stuck behind a dead peer.
//!
//! A futex waiter wakes every [`LIVENESS_INTERVAL`] to look for dead
//! peers; a descriptor waiter sleeps in its caller's `epoll_wait`, and the
//! kernel wakes it only when a whole side is gone (its doorbell hangs up).
//! When arming finds the one case that neither covers, a slot held by a
//! peer that still lives but might die while others of its side go on
//! (an MPMC sender in the middle of a message, a receiver holding one), it
//! asks this watchdog to ring the waiter's own doorbell after the interval.
//! The waiter's next `try_*` then arms again, which reaps the holder if it
//! died (and asks again if it still lives). One thread per process,
//! started on first use, asleep while nothing is asked.

use super::LIVENESS_INTERVAL;
use std::sync::{Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

/// Something the watchdog can wake: an endpoint's own doorbell.
pub(crate) trait Poke: Send + Sync {
    /// Makes the endpoint's descriptor ready, so that its waiter looks
    /// again.
    fn poke(&self);
}

struct Queue {
    due: Mutex<Vec<(Instant, Weak<dyn Poke>)>>,
    changed: Condvar,
}

fn queue() -> &'static Queue {
    static QUEUE: OnceLock<&'static Queue> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue: &'static Queue = Box::leak(Box::new(Queue {
            due: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }));
        // If the thread cannot start, requests pile up unserved: waiters
        // then wake at their next event, as without the watchdog.
        if let Err(error) = std::thread::Builder::new()
            .name("shmring-watchdog".into())
            .spawn(move || run(queue))
        {
            tracing::warn!(%error, "watchdog thread not started");
        }
        queue
    })
}

/// Rings `endpoint`'s own doorbell after one liveness interval (unless it
/// is gone by then).
pub(crate) fn poke_later(endpoint: Weak<dyn Poke>) {
    let q = queue();
    let mut due = q.due.lock().unwrap_or_else(|e| e.into_inner());
    due.push((Instant::now() + LIVENESS_INTERVAL, endpoint));
    q.changed.notify_one();
}

fn run(q: &'static Queue) {
    let mut due = q.due.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let mut ready = Vec::new();
        due.retain(|(at, endpoint)| {
            if *at <= now {
                ready.push(endpoint.clone());
                false
            } else {
                true
            }
        });
        if !ready.is_empty() {
            // Rung without the lock: a poke opens a FIFO.
            drop(due);
            for endpoint in ready.iter().filter_map(Weak::upgrade) {
                endpoint.poke();
            }
            due = q.due.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        due = match due.iter().map(|(at, _)| *at).min() {
            Some(next) => {
                let wait = next.saturating_duration_since(now);
                q.changed
                    .wait_timeout(due, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => q.changed.wait(due).unwrap_or_else(|e| e.into_inner()),
        };
    }
}
