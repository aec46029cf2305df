//! What the MPMC queue says it recovered from dead endpoints, behind one
//! function so the loops do not depend on the exact API.

use shmring::Mpmc;

/// Slots and messages the queue recovered from killed endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Slots claimed by senders that died before publishing, skipped.
    pub dead_sender_slots: u64,
    /// Messages held by receivers that died, dropped (not redelivered).
    pub dead_receiver_messages: u64,
}

/// The queue's recovery counters (`None` if the library had none).
pub fn recovered(queue: &Mpmc) -> Option<Recovered> {
    let r = queue.recovered();
    Some(Recovered {
        dead_sender_slots: r.dead_sender_slots,
        dead_receiver_messages: r.dead_receiver_messages,
    })
}
