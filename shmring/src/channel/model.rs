//! Rings on heap memory, for the loom models only (`--cfg shmring_loom`):
//! the same handles and algorithms, without a segment, and the one thing
//! a model cannot do by itself (kill a process).
#![allow(unsafe_code)]

use crate::channel::mpmc::{Mpmc, Receiver, Sender};
use crate::channel::pubsub::{PubSub, Subscriber};
use crate::channel::spsc::Spsc;
use crate::channel::{Backing, Keepalive};
use crate::layout::mpmc::{LevelPositions, MpmcControl, MpmcGeometry};
use crate::layout::pubsub::{Delivery, PubSubControl, PubSubGeometry, SubscriberEntry};
use crate::layout::spsc::{SpscControl, SpscGeometry};
use crate::ring::broadcast::PubSubMemory;
use crate::ring::data::DataArea;
use crate::ring::mpmc::MpmcMemory;
use crate::ring::spsc::SpscMemory;
use crate::sync::{AtomicU64, Ordering};
use crate::wait::WaitStrategy;
use crossbeam_utils::CachePadded;
use std::ptr::NonNull;
use std::sync::Arc;

impl Spsc {
    /// A ring on heap memory.
    #[doc(hidden)]
    pub fn on_heap(capacity: u64, max_message: u64, wait: WaitStrategy) -> Spsc {
        let geometry = SpscGeometry {
            capacity,
            max_message,
        }
        .check()
        .expect("model geometry");
        let control: Box<SpscControl> = Box::default();
        let words: Box<[AtomicU64]> = (0..capacity / 8).map(|_| AtomicU64::new(0)).collect();
        let control_ptr = NonNull::from(&*control);
        let words_ptr = NonNull::from(&words[0]);
        // SAFETY: both boxes move into `memory` below and live as long as
        // the `Spsc` and every handle made from it.
        let data = unsafe { DataArea::new(words_ptr, capacity) };
        // SAFETY: as above.
        let mem = unsafe { SpscMemory::new(control_ptr, data, geometry) };
        let memory: Keepalive = Arc::new((control, words));
        Spsc::from_parts(Backing::on_heap(memory, wait), mem)
    }
}

impl Mpmc {
    /// A queue on heap memory.
    #[doc(hidden)]
    pub fn on_heap(slots: u64, slot_size: u64, levels: u32, wait: WaitStrategy) -> Mpmc {
        let geometry = MpmcGeometry {
            slots,
            slot_size,
            levels,
        }
        .check()
        .expect("model geometry");
        let control: Box<MpmcControl> = Box::default();
        let positions: Box<[LevelPositions]> =
            (0..levels).map(|_| LevelPositions::default()).collect();
        let words = geometry.stride() * slots * u64::from(levels) / 8;
        let slot_words: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
        // SAFETY: the boxes move into `memory` below and outlive every use.
        let data = unsafe { DataArea::new(NonNull::from(&slot_words[0]), words * 8) };
        // SAFETY: as above.
        let mem = unsafe {
            MpmcMemory::new(
                NonNull::from(&*control),
                NonNull::from(&positions[0]),
                data,
                geometry,
            )
        };
        mem.initialise();
        let memory: Keepalive = Arc::new((control, positions, slot_words));
        Mpmc::from_parts(Backing::on_heap(memory, wait), mem)
    }

    /// Recovers the slots `sender`'s (or `receiver`'s) registry entry
    /// holds as if its process had died.
    #[doc(hidden)]
    pub fn recover_as_if_dead(&self, sender: Option<&Sender>, receiver: Option<&Receiver>) -> u64 {
        let mut n = 0;
        if let Some(s) = sender {
            n += self.memory().recover(s.registry_index() as u32, false);
        }
        if let Some(r) = receiver {
            n += self.memory().recover(r.registry_index() as u32, true);
        }
        n
    }
}

impl PubSub {
    /// A publish/subscribe ring on heap memory.
    #[doc(hidden)]
    pub fn on_heap(
        slots: u64,
        slot_size: u64,
        subscribers: u32,
        delivery: Delivery,
        wait: WaitStrategy,
    ) -> PubSub {
        let geometry = PubSubGeometry {
            slots,
            slot_size,
            subscribers,
            delivery,
        }
        .check()
        .expect("model geometry");
        let control: Box<PubSubControl> = Box::default();
        let entries: Box<[CachePadded<SubscriberEntry>]> = (0..subscribers)
            .map(|_| CachePadded::new(SubscriberEntry::default()))
            .collect();
        let bytes = geometry.stride() * slots;
        let slot_words: Box<[AtomicU64]> = (0..bytes / 8).map(|_| AtomicU64::new(0)).collect();
        // SAFETY: the boxes move into `memory` below and outlive every use.
        let data = unsafe { DataArea::new(NonNull::from(&slot_words[0]), bytes) };
        // SAFETY: as above; every word starts at zero, the initial state
        // of a segment (no publisher, no subscriber, nothing written).
        let mem = unsafe {
            PubSubMemory::new(
                NonNull::from(&*control),
                NonNull::from(&entries[0]),
                data,
                geometry,
            )
        };
        let memory: Keepalive = Arc::new((control, entries, slot_words));
        PubSub::from_parts(Backing::on_heap(memory, wait), mem)
    }

    /// Frees `subscriber`'s table entry as the reaper frees a dead
    /// process's (`membership::reap_dead`, whose lock probe proves nothing
    /// on heap memory), and wakes a publisher waiting for it. The handle
    /// must not be used afterwards but may be dropped: its leave finds the
    /// entry no longer its own. Returns whether the entry was still held.
    #[doc(hidden)]
    pub fn remove_as_if_dead(&self, subscriber: &Subscriber) -> bool {
        let mem = self.memory();
        let entry = mem.entry(subscriber.index());
        // Acquire: pairs with the holder's Release of its word.
        let word = entry.role.load(Ordering::Acquire);
        // AcqRel: as in `reap_dead`.
        if word == 0
            || entry
                .role
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        let membership = mem.membership();
        // Relaxed: gauges and counters.
        membership.live.fetch_sub(1, Ordering::Relaxed);
        mem.control()
            .publisher
            .reaped
            .fetch_add(1, Ordering::Relaxed);
        // AcqRel: pairs with the publisher's Acquire load of the epoch, as
        // in `reap_dead`: it reads the cursors again without this entry.
        membership.epoch.fetch_add(1, Ordering::AcqRel);
        crate::wait::notify_all_sleepers(&mem.control().writable);
        true
    }
}
