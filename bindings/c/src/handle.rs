//! The process-wide handle table.
//!
//! A C handle (`shmring_producer *` and the others) is not a pointer to
//! memory: its value encodes a slot index and that slot's generation.
//!
//! | bits  | meaning                                              |
//! |-------|------------------------------------------------------|
//! | 0–31  | slot index + 1 (so no handle is NULL)                |
//! | 32–63 | the slot's generation when the handle was made (≥ 1) |
//!
//! Each slot has a state word, the object, and a lock used only by
//! shareable handles. The state word:
//!
//! | bits  | meaning                                                   |
//! |-------|-----------------------------------------------------------|
//! | 0     | `OPEN`: the slot holds an object                          |
//! | 1     | `BUSY`: an exclusive handle's call is running             |
//! | 8–15  | the object's kind                                         |
//! | 32–63 | generation; bumped when the handle is closed              |
//!
//! A call first compares the state with what the handle expects (same
//! generation and kind, open). Closing bumps the generation, so any copy
//! of a closed handle fails that check and gets `SHMRING_E_BAD_HANDLE`;
//! its object is never touched (a generation repeats only after 2³²
//! closes of one slot). Slots live in chunks allocated on demand and never
//! freed, so a stale handle always indexes valid memory.
//!
//! Access per kind of object:
//!
//! | objects | access |
//! |---------|--------|
//! | client, producer, consumer, receiver, publisher, subscriber | *exclusive*, no lock: the caller promises one thread at a time (the C contract). A call sets `BUSY` with a plain store and clears it when it returns, so a second thread arriving meanwhile — typically a close while another thread blocks in a receive — gets `SHMRING_E_BUSY` instead of freeing the object under it. This detection is best-effort (two threads starting within nanoseconds can both pass); it costs two plain stores, where a lock costs two atomic read-modify-writes (about 20–30 ns each on the benchmark machine) per call. |
//! | spsc, mpmc, pubsub, sender | *shared*: the slot's lock is held only to clone an `Arc`; calls run concurrently, and a close during a call frees the object when that call ends |
#![allow(unsafe_code)]
// the object cell of a slot
// Process-local bookkeeping, not shared memory and not modelled by loom:
// the std atomics and cell are the right tools here.
#![allow(clippy::disallowed_types)]

use crate::error::{Failure, fail, shmring_error::*};
use crate::mpmc::{ReceiverEntry, SenderEntry};
use crate::pubsub::{PublisherEntry, SubscriberEntry};
use crate::rings::ClientEntry;
use crate::spsc::{ConsumerEntry, ProducerEntry};
use shmring_core::{Mpmc, PubSub, Spsc};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// What a slot can hold.
#[derive(Debug)]
pub(crate) enum Object {
    Spsc(Arc<Spsc>),
    Mpmc(Arc<Mpmc>),
    Client(Box<ClientEntry>),
    Producer(Box<ProducerEntry>),
    Consumer(Box<ConsumerEntry>),
    Sender(Arc<SenderEntry>),
    Receiver(Box<ReceiverEntry>),
    PubSub(Arc<PubSub>),
    Publisher(Box<PublisherEntry>),
    Subscriber(Box<SubscriberEntry>),
}

/// The type of handle a function expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Spsc = 1,
    Mpmc = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
    Sender = 6,
    Receiver = 7,
    PubSub = 8,
    Publisher = 9,
    Subscriber = 10,
}

impl Kind {
    fn shared(self) -> bool {
        matches!(self, Kind::Spsc | Kind::Mpmc | Kind::Sender | Kind::PubSub)
    }
}

const OPEN: u64 = 1;
const BUSY: u64 = 2;

/// The state word of an open slot of generation `generation` holding a
/// `kind` object, not busy.
fn open_state(generation: u32, kind: Kind) -> u64 {
    (u64::from(generation) << 32) | ((kind as u64) << 8) | OPEN
}

fn generation_of(state: u64) -> u32 {
    (state >> 32) as u32
}

impl Object {
    fn kind(&self) -> Kind {
        match self {
            Object::Spsc(_) => Kind::Spsc,
            Object::Mpmc(_) => Kind::Mpmc,
            Object::Client(_) => Kind::Client,
            Object::Producer(_) => Kind::Producer,
            Object::Consumer(_) => Kind::Consumer,
            Object::Sender(_) => Kind::Sender,
            Object::Receiver(_) => Kind::Receiver,
            Object::PubSub(_) => Kind::PubSub,
            Object::Publisher(_) => Kind::Publisher,
            Object::Subscriber(_) => Kind::Subscriber,
        }
    }
}

struct Slot {
    /// See the module documentation.
    state: AtomicU64,
    /// Held by shared-handle lookups and by closing a shared handle.
    lock: Mutex<()>,
    /// Written only while the slot is not open (by `insert`, which owns
    /// a free slot), or taken by `remove` under the rules of its kind.
    object: UnsafeCell<Option<Object>>,
}

// SAFETY: `object` is accessed only as described on the field and in the
// module documentation: by the thread that owns a free slot, by the one
// thread allowed to use an exclusive handle, or under `lock`; `Object` is
// `Send`.
unsafe impl Sync for Slot {}

// The last claim above, checked: what the entries keep between calls
// (grants, guards, endpoints) may move to another thread.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Object>()
};

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

const CHUNK: usize = 256;
const CHUNKS: usize = 4096;
/// Most handles open at once in one process (1 Mi).
pub(crate) const MAX_HANDLES: usize = CHUNK * CHUNKS;

static TABLE: [OnceLock<Box<[Slot]>>; CHUNKS] = [const { OnceLock::new() }; CHUNKS];

#[derive(Debug)]
struct Allocator {
    free: Vec<u32>,
    next: u32,
}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator {
    free: Vec::new(),
    next: 0,
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic caught at the boundary may have poisoned a lock; the data
    // it protects is still consistent (every update is a single move).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn chunk(c: usize) -> &'static [Slot] {
    TABLE[c].get_or_init(|| {
        (0..CHUNK)
            .map(|_| Slot {
                state: AtomicU64::new(1 << 32),
                lock: Mutex::new(()),
                object: UnsafeCell::new(None),
            })
            .collect()
    })
}

fn slot(index: usize) -> Option<&'static Slot> {
    let c = index / CHUNK;
    if c >= CHUNKS {
        return None;
    }
    // A slot index only exists once its chunk was created by `insert`.
    TABLE[c].get().map(|chunk| &chunk[index % CHUNK])
}

fn encode(index: u32, generation: u32) -> usize {
    ((generation as usize) << 32) | (index as usize + 1)
}

fn decode(raw: usize) -> Option<(usize, u32)> {
    let low = raw & 0xffff_ffff;
    let generation = (raw >> 32) as u32;
    if low == 0 || generation == 0 {
        return None;
    }
    Some((low - 1, generation))
}

/// Stores `object` and returns its handle value.
pub(crate) fn insert(object: Object) -> Result<usize, Failure> {
    let index = {
        let mut a = lock(&ALLOCATOR);
        match a.free.pop() {
            Some(i) => i,
            None if (a.next as usize) < MAX_HANDLES => {
                a.next += 1;
                a.next - 1
            }
            None => return fail(SHMRING_E_LIMIT, "too many open handles in this process"),
        }
    };
    let slot = &chunk(index as usize / CHUNK)[index as usize % CHUNK];
    // Acquire: pairs with the Release store of `remove` that freed it.
    let state = slot.state.load(Ordering::Acquire);
    debug_assert_eq!(state & OPEN, 0);
    let generation = generation_of(state);
    let kind = object.kind();
    // SAFETY: the slot is free (not open) and was handed to us alone by
    // the allocator; nobody else reads `object` of a slot that is not open.
    unsafe { *slot.object.get() = Some(object) };
    // Release: publishes the object with the open state.
    slot.state
        .store(open_state(generation, kind), Ordering::Release);
    Ok(encode(index, generation))
}

fn bad_handle(kind: Kind) -> Failure {
    Failure::new(
        SHMRING_E_BAD_HANDLE,
        match kind {
            Kind::Spsc => "not an open shmring_spsc handle (closed, never opened, or another type)",
            Kind::Mpmc => "not an open shmring_mpmc handle (closed, never opened, or another type)",
            Kind::Client => {
                "not an open shmring_client handle (closed, never opened, or another type)"
            }
            Kind::Producer => {
                "not an open shmring_producer handle (closed, never opened, or another type)"
            }
            Kind::Consumer => {
                "not an open shmring_consumer handle (closed, never opened, or another type)"
            }
            Kind::Sender => {
                "not an open shmring_sender handle (closed, never opened, or another type)"
            }
            Kind::Receiver => {
                "not an open shmring_receiver handle (closed, never opened, or another type)"
            }
            Kind::PubSub => {
                "not an open shmring_pubsub handle (closed, never opened, or another type)"
            }
            Kind::Publisher => {
                "not an open shmring_publisher handle (closed, never opened, or another type)"
            }
            Kind::Subscriber => {
                "not an open shmring_subscriber handle (closed, never opened, or another type)"
            }
        },
    )
}

fn busy() -> Failure {
    Failure::new(
        SHMRING_E_BUSY,
        "the handle is in use by another thread right now (it must not be shared)",
    )
}

/// The slot of `raw` and its expected open state.
#[inline(always)]
fn find(raw: usize, kind: Kind) -> Result<(&'static Slot, u64), Failure> {
    let (index, generation) = decode(raw).ok_or_else(|| bad_handle(kind))?;
    let slot = slot(index).ok_or_else(|| bad_handle(kind))?;
    Ok((slot, open_state(generation, kind)))
}

/// Proof that the caller of an exclusive-handle function promised that
/// no other thread uses the handle during the call (the `# Safety`
/// contract of those functions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exclusive(());

impl Exclusive {
    /// # Safety
    /// The handle passed along with it is used by no other thread until
    /// the call returns.
    #[inline(always)]
    pub(crate) unsafe fn promised() -> Exclusive {
        Exclusive(())
    }
}

/// Clears `BUSY` when an exclusive call ends, even by a panic.
struct Busy {
    slot: &'static Slot,
    state: u64,
}

impl Drop for Busy {
    #[inline(always)]
    fn drop(&mut self) {
        // Release: the call's effects on the object happen before whatever
        // a later user (another thread, after the application's own
        // synchronisation) does.
        self.slot.state.store(self.state, Ordering::Release);
    }
}

/// Runs `f` on the object of an exclusive handle; `Exclusive` carries the
/// promise that no other thread uses `raw` meanwhile (a concurrent call is
/// usually, not always, caught as `SHMRING_E_BUSY`).
#[inline(always)]
pub(crate) fn with_exclusive<R>(
    _promise: Exclusive,
    raw: usize,
    kind: Kind,
    f: impl FnOnce(&mut Object) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let (slot, open) = find(raw, kind)?;
    // Acquire: pairs with the Release of `insert` and of the previous
    // call's `Busy` drop.
    let state = slot.state.load(Ordering::Acquire);
    if state != open {
        return Err(if state == open | BUSY {
            busy()
        } else {
            bad_handle(kind)
        });
    }
    // Relaxed: a best-effort marker for a concurrent misuse, see above.
    slot.state.store(open | BUSY, Ordering::Relaxed);
    let _busy = Busy { slot, state: open };
    // SAFETY: the slot is open with our generation and kind, so it holds
    // our object; `_promise` says no other thread uses it now, and
    // `remove` of an exclusive handle runs under the same promise.
    let object = unsafe { (*slot.object.get()).as_mut() }.ok_or_else(|| bad_handle(kind))?;
    f(object)
}

/// A value taken from the object of a shared handle (an `Arc` clone),
/// under the slot's lock.
pub(crate) fn shared<R>(
    raw: usize,
    kind: Kind,
    f: impl FnOnce(&Object) -> Option<R>,
) -> Result<R, Failure> {
    let (slot, open) = find(raw, kind)?;
    let _guard = lock(&slot.lock);
    if slot.state.load(Ordering::Acquire) != open {
        return Err(bad_handle(kind));
    }
    // SAFETY: open with our generation and a shared kind: the object is
    // there, and it is only taken out under `lock`, which we hold.
    let object = unsafe { (*slot.object.get()).as_ref() };
    object.and_then(f).ok_or_else(|| bad_handle(kind))
}

/// Takes the object out of its slot and retires the handle. The caller
/// drops the object. For an exclusive kind, `promise` must be given.
pub(crate) fn remove(
    promise: Option<Exclusive>,
    raw: usize,
    kind: Kind,
) -> Result<Object, Failure> {
    if !kind.shared() && promise.is_none() {
        return fail(
            SHMRING_E_INTERNAL,
            "closing an exclusive handle without its promise",
        );
    }
    let (slot, open) = find(raw, kind)?;
    let index = decode(raw).map(|(i, _)| i).unwrap_or_default();
    let _guard = kind.shared().then(|| lock(&slot.lock));
    let state = slot.state.load(Ordering::Acquire);
    if state != open {
        return Err(if state == open | BUSY {
            busy()
        } else {
            bad_handle(kind)
        });
    }
    // SAFETY: open with our generation and kind; shared kinds hold the
    // lock (so no lookup reads the object now), exclusive kinds come with
    // the promise that nobody else uses the handle.
    let object = unsafe { (*slot.object.get()).take() };
    let next = generation_of(state).wrapping_add(1).max(1);
    // Release: the slot is free; pairs with the Acquire of the next
    // `insert` (which got the index through the allocator's lock anyway)
    // and of stale lookups.
    slot.state.store(u64::from(next) << 32, Ordering::Release);
    drop(_guard);
    lock(&ALLOCATOR).free.push(index as u32);
    object.ok_or_else(|| bad_handle(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_is_never_null() {
        for (i, g) in [(0u32, 1u32), (5, 7), (u32::MAX - 1, u32::MAX)] {
            let raw = encode(i, g);
            assert_ne!(raw, 0);
            assert_eq!(decode(raw), Some((i as usize, g)));
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(1), None); // generation 0
    }

    #[test]
    fn unknown_indices_are_bad_handles() {
        let raw = encode((MAX_HANDLES - 1) as u32, 1);
        // SAFETY: nobody else uses this (never issued) handle.
        let promise = unsafe { Exclusive::promised() };
        let err = with_exclusive(promise, raw, Kind::Producer, |_| Ok(())).unwrap_err();
        assert_eq!(err.code, SHMRING_E_BAD_HANDLE);
    }
}
