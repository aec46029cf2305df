//! `mq_notify`: one registration per queue, held by a live process.
//!
//! The registrant holds a byte of the segment file locked (OFD) through
//! a description of its own (`layout::mq::notify_lock_byte` of its
//! token), so the kernel tells a
//! live registrant (`EBUSY` for everyone else) from a dead one (its
//! registration is overwritten), across PID namespaces and uids. The
//! shared `token` says a registration exists; a sender that makes the
//! queue non-empty with no receiver blocked moves it to `fired`, bumps
//! `fire_epoch` and wakes it. A helper thread of the registrant, waiting
//! on that word with every signal blocked, then runs the action: raise
//! the signal in its own process, or start the `SIGEV_THREAD` function
//! (the C library's part). Once fired, the registration is gone.

use super::store::Mapped;
use super::{Fired, MqError, NotifyAction};
use crate::layout::mq::notify_lock_byte;
use crate::sync::AtomicU32;
use crate::sync::Ordering::{Acquire, Relaxed, Release};
use crate::sys::{bell, futex, ofd_lock};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Registration {
    pid: u32,
    token: u64,
    stop: Arc<AtomicU32>,
    mapped: Arc<Mapped>,
    /// The description holding the lock byte.
    lock: OwnedFd,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // Explicitly: a forked child may share the description.
            let _ = ofd_lock::unlock_all(&self.lock);
        }
    }
}

/// This process's registrations, by queue identity.
static REGISTRY: Mutex<Option<HashMap<(u64, u64), Registration>>> = Mutex::new(None);

fn with_registry<R>(f: impl FnOnce(&mut HashMap<(u64, u64), Registration>) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    // A forked child inherited its parent's registrations: not its own.
    let pid = std::process::id();
    map.retain(|_, r| r.pid == pid);
    f(map)
}

/// Registers `action` for the queue `mapped`: `EBUSY` if any live
/// process (this one included) holds a registration.
pub(crate) fn register(
    mapped: &Arc<Mapped>,
    tag: u32,
    action: NotifyAction,
) -> Result<(), MqError> {
    let busy = || {
        MqError::new(
            Errno::BUSY,
            "another registration holds this queue's notification",
        )
    };
    with_registry(|registry| {
        if registry.contains_key(&mapped.identity) {
            return Err(busy());
        }
        let lock = ofd_lock::reopen(rustix::fd::AsFd::as_fd(&mapped.segment))
            .map_err(|e| MqError::new(e, "cannot reopen the queue's file"))?;
        let held = super::lock::lock(mapped, tag);
        let current = mapped.words.notify_token().load(Relaxed);
        if current != 0
            && ofd_lock::is_locked(&mapped.segment, notify_lock_byte(current)).unwrap_or(true)
        {
            return Err(busy());
        }
        // A dead registrant's token, if any, is overwritten.
        let mut token = 0;
        for _ in 0..16 {
            let candidate = bell::random_u64()
                .map_err(|e| MqError::new(e, "no randomness for a registration"))?
                | 1;
            if ofd_lock::try_lock(&lock, notify_lock_byte(candidate)).unwrap_or(false) {
                token = candidate;
                break;
            }
        }
        if token == 0 {
            return Err(MqError::new(
                Errno::AGAIN,
                "no free lock byte for a registration",
            ));
        }
        mapped.words.notify_token().store(token, Relaxed);
        drop(held);
        let stop = Arc::new(AtomicU32::new(0));
        let helper_mapped = Arc::clone(mapped);
        let helper_stop = Arc::clone(&stop);
        let spawned = crate::sys::thread::spawn_quiet("shmring-mq-notify", move || {
            wait_and_fire(&helper_mapped, token, &helper_stop, action)
        });
        if spawned.is_err() {
            let _held = super::lock::lock(mapped, tag);
            mapped.words.notify_token().store(0, Relaxed);
            return Err(MqError::new(
                Errno::NOMEM,
                "cannot start the notification thread",
            ));
        }
        registry.insert(
            mapped.identity,
            Registration {
                pid: std::process::id(),
                token,
                stop,
                mapped: Arc::clone(mapped),
                lock,
            },
        );
        Ok(())
    })
}

/// Removes this process's registration for the queue, if it has one
/// (`mq_notify(NULL)`, and every close of one of its descriptors).
pub(crate) fn unregister(identity: (u64, u64), tag: u32) {
    let Some(registration) = with_registry(|registry| registry.remove(&identity)) else {
        return;
    };
    let words = &registration.mapped.words;
    {
        let _held = super::lock::lock(&registration.mapped, tag);
        if words.notify_token().load(Relaxed) == registration.token {
            words.notify_token().store(0, Relaxed);
        }
    }
    // Release: pairs with the helper's Acquire load after its wake-up.
    registration.stop.store(1, Release);
    words.notify_epoch().fetch_add(1, Release);
    futex::wake(words.notify_epoch().as_std(), u32::MAX);
}

/// Under the lock, after a message went into an empty queue with no
/// receiver blocked: fires the registration, if there is one. Returns
/// whether the caller must wake the helper after unlocking.
pub(crate) fn fire(mapped: &Mapped) -> bool {
    let words = &mapped.words;
    let token = words.notify_token().load(Relaxed);
    if token == 0 {
        return false;
    }
    words.notify_token().store(0, Relaxed);
    words.notify_fired().store(token, Relaxed);
    let [pid, uid] = words.notify_sender();
    pid.store(std::process::id(), Relaxed);
    uid.store(rustix::process::getuid().as_raw(), Relaxed);
    // Release: pairs with the helper's Acquire load of the epoch, after
    // which it reads `fired` and the sender.
    words.notify_epoch().fetch_add(1, Release);
    true
}

/// After unlocking: wakes the registrant's helper.
pub(crate) fn wake_helper(mapped: &Mapped) {
    futex::wake(mapped.words.notify_epoch().as_std(), u32::MAX);
}

fn wait_and_fire(mapped: &Arc<Mapped>, token: u64, stop: &AtomicU32, action: NotifyAction) {
    let words = &mapped.words;
    loop {
        // Acquire: pairs with the Release bump in `fire` / `unregister`.
        let seen = words.notify_epoch().load(Acquire);
        // Fired first: a message that fired the registration before the
        // process removed it was a notification the kernel would have
        // sent at once.
        if words.notify_fired().load(Relaxed) == token {
            let [pid, uid] = words.notify_sender();
            let fired = Fired {
                sender_pid: pid.load(Relaxed),
                sender_uid: uid.load(Relaxed),
            };
            // The registration is over: free the byte for the next one.
            with_registry(|registry| {
                if registry
                    .get(&mapped.identity)
                    .is_some_and(|r| r.token == token)
                {
                    registry.remove(&mapped.identity);
                }
            });
            action(fired);
            return;
        }
        if stop.load(Acquire) != 0 {
            return;
        }
        futex::wait(words.notify_epoch().as_std(), seen, None);
    }
}
