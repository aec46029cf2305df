//! Rings on heap memory, for the loom models only (`--cfg shmring_loom`):
//! the same handles and algorithms, without a segment, and the one thing
//! a model cannot do by itself (kill a process).
#![allow(unsafe_code)]

use crate::channel::mpmc::{Mpmc, Receiver, Sender};
use crate::channel::spsc::Spsc;
use crate::channel::{Backing, Keepalive};
use crate::layout::mpmc::{LevelPositions, MpmcControl, MpmcGeometry};
use crate::layout::spsc::{SpscControl, SpscGeometry};
use crate::ring::data::DataArea;
use crate::ring::mpmc::MpmcMemory;
use crate::ring::spsc::SpscMemory;
use crate::sync::AtomicU64;
use crate::wait::WaitStrategy;
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
