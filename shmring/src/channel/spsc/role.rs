//! Taking, releasing and watching an SPSC role: its word
//! (`layout::holder`) and its lock byte (`liveness`).

use crate::error::AttachError;
use crate::layout::holder::{RoleState, held_word, left_word};
use crate::liveness::{Lease, Locks};
use crate::sync::{AtomicU64, Ordering};
use crate::sys::process::ProcessId;
use crate::wait::doorbell::PeerProbe;
use std::time::Instant;

/// One role of a segment: the word that names its holder and the byte of
/// the segment file that the holder keeps locked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleSlot<'a> {
    pub(crate) word: &'a AtomicU64,
    pub(crate) lock_byte: u64,
}

impl RoleSlot<'_> {
    /// The pid the word names, for `Busy` (0 if none; a pid of the
    /// holder's own namespace, so for people, not for decisions).
    fn named_pid(&self) -> u32 {
        match RoleState::decode(self.word.load(Ordering::Relaxed)) {
            RoleState::Held(id) => id.pid,
            _ => 0,
        }
    }

    /// Takes the role for `me`: free, left, or held by a dead process.
    /// The returned lease keeps it; drop it after [`RoleSlot::release`].
    pub(crate) fn claim(&self, locks: &Locks, me: ProcessId) -> Result<Lease, AttachError> {
        let mut lease = locks.lease().map_err(AttachError::Io)?;
        if !lease.try_take(self.lock_byte).map_err(AttachError::Io)? {
            return Err(AttachError::Busy {
                pid: self.named_pid(),
            });
        }
        let mine = held_word(me);
        if lease.proves_dead() {
            // The lock is ours, so whoever the word names let go or died;
            // a swap also beats a reaper's CAS of that dead word to "left".
            // AcqRel: Acquire pairs with the previous holder's Release in
            // `release`, so we start from its final positions; Release so
            // a peer that reads our word also sees what we initialised.
            let previous = self.word.swap(mine, Ordering::AcqRel);
            if let RoleState::Held(dead) = RoleState::decode(previous) {
                // Held, yet its lock was free: its holder died holding it.
                taken_over(locks, self.lock_byte, dead.pid);
            }
            return Ok(lease);
        }
        // Heap memory: the word alone says who holds the role. Each failed
        // CAS means another claimer just changed it; a few rounds settle
        // any honest race.
        for _ in 0..64 {
            // Acquire: as above.
            let current = self.word.load(Ordering::Acquire);
            if let RoleState::Held(holder) = RoleState::decode(current) {
                return Err(AttachError::Busy { pid: holder.pid });
            }
            // AcqRel: as above.
            if self
                .word
                .compare_exchange(current, mine, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(lease);
            }
        }
        Err(AttachError::Busy {
            pid: self.named_pid(),
        })
    }

    /// Lets go of the role (before the lease is dropped), unless another
    /// process already took it over.
    pub(crate) fn release(&self, me: ProcessId) {
        // Release: pairs with the peer's Acquire in `PeerWatch::gone`;
        // every record we published (or released) is visible to a peer
        // that sees us gone.
        let _ = self.word.compare_exchange(
            held_word(me),
            left_word(),
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// Whether a live process holds the role now (one lock probe).
    pub(crate) fn is_held_by_live_process(&self, locks: &Locks) -> bool {
        // Acquire: pairs with `claim`; a report, nothing is read through it.
        match RoleState::decode(self.word.load(Ordering::Acquire)) {
            RoleState::Held(_) => locks.held(self.lock_byte),
            _ => false,
        }
    }

    /// Replaces a dead holder's word with "left", as its own `release`
    /// would have: the peer then reads end of file (or `Disconnected`)
    /// without a lock probe of its own, and a new process may take the
    /// role. Whether it did.
    pub(crate) fn release_if_dead(&self, locks: &Locks) -> bool {
        // Acquire: pairs with the holder's claim. A claimer locks before it
        // writes its word, so a word read before a free lock names a holder
        // that let go or died.
        let current = self.word.load(Ordering::Acquire);
        match RoleState::decode(current) {
            RoleState::Held(_) if !locks.held(self.lock_byte) => self
                .word
                // AcqRel: Release pairs with the peer's Acquire in `left`;
                // a concurrent takeover swaps its own word in, and this
                // CAS then leaves it alone.
                .compare_exchange(current, left_word(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok_and(|_| reaped(locks, self.lock_byte, current)),
            _ => false,
        }
    }

    /// The pid the word names if a live process holds the role (one lock
    /// probe): for reports.
    pub(crate) fn live_holder_pid(&self, locks: &Locks) -> Option<u32> {
        if !self.is_held_by_live_process(locks) {
            return None;
        }
        // Relaxed: a report for people; nothing is read through it.
        match RoleState::decode(self.word.load(Ordering::Relaxed)) {
            RoleState::Held(id) => Some(id.pid),
            _ => None,
        }
    }

    /// Somebody took the role once (it is held now, or was left): no
    /// system call.
    pub(crate) fn ever_claimed(&self) -> bool {
        // Relaxed: a hint for the doorbell's placeholder reader, which a
        // wrong "no" only keeps a little longer.
        RoleState::decode(self.word.load(Ordering::Relaxed)) != RoleState::Vacant
    }

    /// The holder released the role (dropped its handle): no system call.
    #[inline]
    pub(crate) fn left(&self) -> bool {
        // Acquire: pairs with `release`.
        RoleState::decode(self.word.load(Ordering::Acquire)) == RoleState::Left
    }
}

/// Reports a dead holder's role taken over by this process (attach).
#[cold]
fn taken_over(locks: &Locks, lock_byte: u64, pid: u32) {
    tracing::info!(
        ring = locks.ring_name(),
        lock_byte,
        dead_pid = pid,
        "dead holder's role taken over"
    );
}

/// Reports a dead holder's word replaced with "left"; always true.
#[cold]
fn reaped(locks: &Locks, lock_byte: u64, word: u64) -> bool {
    let dead_pid = match RoleState::decode(word) {
        RoleState::Held(id) => id.pid,
        _ => 0,
    };
    tracing::info!(
        ring = locks.ring_name(),
        lock_byte,
        dead_pid,
        "dead endpoint reaped"
    );
    true
}

/// Watches the peer's role from one endpoint.
#[derive(Debug)]
pub(crate) struct PeerWatch {
    locks: Locks,
    /// When a polling caller may probe the peer's lock again.
    next_probe: Instant,
}

impl PeerWatch {
    pub(crate) fn new(locks: Locks) -> PeerWatch {
        PeerWatch {
            locks,
            next_probe: crate::wait::now(),
        }
    }

    /// The segment's locks (for queries about the peer).
    pub(crate) fn locks(&self) -> &Locks {
        &self.locks
    }

    /// The peer left or its process died. Probes the peer's lock at most
    /// once per `LIVENESS_INTERVAL` unless `force` (a waiter's own timer).
    pub(crate) fn gone(&mut self, peer: RoleSlot<'_>, force: bool) -> bool {
        // Acquire: pairs with `release`, so a departed peer's last records
        // are visible once this says gone.
        match RoleState::decode(peer.word.load(Ordering::Acquire)) {
            RoleState::Vacant => false,
            RoleState::Left => true,
            RoleState::Held(_) => {
                let now = crate::wait::now();
                if !force && now < self.next_probe {
                    return false;
                }
                self.next_probe = now + crate::wait::LIVENESS_INTERVAL;
                // A free lock means the holder let go (its word is "left"
                // by now) or died: gone either way. A new claimer locks
                // before it writes its word, so it is never mistaken.
                !self.locks.held(peer.lock_byte)
            }
        }
    }

    /// One unthrottled look, for a doorbell that hung up
    /// (`Bell::settle_gone`).
    pub(crate) fn probe(&mut self, peer: RoleSlot<'_>) -> PeerProbe {
        // Relaxed: `gone` reads the word again with Acquire.
        match RoleState::decode(peer.word.load(Ordering::Relaxed)) {
            RoleState::Vacant => PeerProbe::NoneYet,
            _ if self.gone(peer, true) => PeerProbe::Gone,
            _ => PeerProbe::Counted,
        }
    }
}
