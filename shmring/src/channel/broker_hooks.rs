//! What the broker daemon needs from inside the channel code: build a
//! ring in a file it created (a memfd), report who is attached, and
//! declare the endpoints of dead processes gone, waking every waiter so
//! that their peers see `Disconnected` at once instead of at their next
//! liveness poll.
#![allow(unsafe_code)]

use crate::broker::protocol::{EndpointInfo, Role};
use crate::channel::error::OpenError;
use crate::channel::mpmc::{self as mpmc_channel, End};
use crate::channel::role::RoleSlot;
use crate::channel::spsc::{consumer_role, producer_role};
use crate::layout::header::{HEADER_SIZE, INIT_READY};
use crate::layout::mpmc::{self as mpmc_layout, LevelPositions, MpmcControl, MpmcGeometry};
use crate::layout::role::{RoleState, left_word};
use crate::layout::spsc::{self as spsc_layout, SpscControl, SpscGeometry};
use crate::layout::{RingKind, SegmentHeader};
use crate::liveness::Locks;
use crate::segment::{self, Mapping, SegmentOptions};
use crate::sync::Ordering;
use crate::wait;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::SealFlags;
use zerocopy::IntoBytes;

/// Geometry of a ring the broker is asked to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpec {
    /// Ring kind.
    pub kind: RingKind,
    /// SPSC: data bytes (power of two); MPMC: slots per level.
    pub capacity: u64,
    /// SPSC: largest message; MPMC: slot size.
    pub max_message: u64,
    /// MPMC priority levels (ignored for SPSC).
    pub levels: u32,
}

enum Geometry {
    Spsc(SpscGeometry),
    Mpmc(MpmcGeometry),
}

impl SegmentSpec {
    fn geometry(&self) -> Result<Geometry, OpenError> {
        match self.kind {
            RingKind::Spsc => SpscGeometry {
                capacity: self.capacity,
                max_message: self.max_message,
            }
            .check()
            .map(Geometry::Spsc),
            RingKind::Mpmc => MpmcGeometry {
                slots: self.capacity,
                slot_size: self.max_message,
                levels: self.levels,
            }
            .check()
            .map(Geometry::Mpmc),
        }
        .map_err(OpenError::InvalidConfig)
    }

    /// Size in bytes of a segment with this geometry; `InvalidConfig` if
    /// the geometry is not allowed.
    pub fn segment_size(&self) -> Result<u64, OpenError> {
        Ok(match self.geometry()? {
            Geometry::Spsc(g) => g.segment_size(),
            Geometry::Mpmc(g) => g.segment_size(),
        })
    }
}

/// A ring as the broker holds it: mapped, validated, never attached.
#[derive(Debug)]
pub struct BrokerSegment {
    mapping: Mapping,
    kind: RingKind,
}

/// Bytes written per `pwrite` while laying out MPMC sequence numbers.
const INIT_CHUNK: u64 = 1 << 20;

impl BrokerSegment {
    /// Lays a new ring out in the empty file `fd`: sizes it with
    /// `ftruncate` and reserves its pages with `fallocate` (a full tmpfs is
    /// `NoSpace` here, never a later `SIGBUS`), writes the header and the
    /// initial control words with `pwrite(2)`, then maps and validates it
    /// like any opener would. Nobody else may hold `fd` yet: the header is
    /// written ready in one go, without the init-state protocol. Finally
    /// seals it against shrinking, growing and further sealing (the memfd
    /// must allow sealing: `MFD_ALLOW_SEALING`) and maps it.
    pub fn initialise(fd: &OwnedFd, spec: &SegmentSpec) -> Result<BrokerSegment, OpenError> {
        let geometry = spec.geometry()?;
        let (pid, start) = segment::creator_identity();
        let (header, hash): (SegmentHeader, u64) = match &geometry {
            Geometry::Spsc(g) => (g.header(pid, start), spsc_layout::LAYOUT_HASH),
            Geometry::Mpmc(g) => (g.header(pid, start), mpmc_layout::LAYOUT_HASH),
        };
        crate::sys::shm::set_len_reserved(fd, header.segment_size)?;
        let mut first = Vec::with_capacity(HEADER_SIZE);
        first.extend_from_slice(header.as_bytes());
        first.extend_from_slice(&INIT_READY.to_ne_bytes());
        first.extend_from_slice(&[0; 4]);
        write_all_at(fd, &first, 0)?;
        // SPSC: every control word and record header starts at zero, which
        // the fresh file already is. MPMC: slot i of each level holds
        // sequence number i.
        if let Geometry::Mpmc(g) = geometry {
            write_sequences(fd, g)?;
        }
        // Sealed before the first mapping, as every adopted descriptor
        // must be: nobody can make it shrink under a mapping (SIGBUS).
        rustix::fs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(|e| OpenError::Io(e.into()))?;
        let copy = fd.try_clone().map_err(OpenError::Io)?;
        let mapping = segment::adopt(copy, SegmentOptions::default(), spec.kind, hash)?;
        Ok(BrokerSegment {
            mapping,
            kind: spec.kind,
        })
    }

    /// Ring kind.
    pub fn kind(&self) -> RingKind {
        self.kind
    }

    /// Segment size in bytes.
    pub fn size(&self) -> u64 {
        self.mapping.header().segment_size
    }

    fn spsc(&self) -> &SpscControl {
        debug_assert_eq!(self.kind, RingKind::Spsc);
        let control = self.mapping.at::<SpscControl>(spsc_layout::CONTROL_OFFSET);
        // SAFETY: the header was validated as SPSC, so the control block
        // is mapped at this offset; it is made of atomics (any bit pattern
        // is valid, shared access is sound) and lives as long as `self`.
        unsafe { control.as_ref() }
    }

    fn mpmc(&self) -> (&MpmcControl, MpmcGeometry) {
        debug_assert_eq!(self.kind, RingKind::Mpmc);
        let control = self.mapping.at::<MpmcControl>(mpmc_layout::CONTROL_OFFSET);
        let geometry = MpmcGeometry::from_header(self.mapping.header())
            .expect("validated when the segment was mapped");
        // SAFETY: as in `spsc`, for the MPMC control block.
        (unsafe { control.as_ref() }, geometry)
    }

    fn level(&self, level: u32) -> &LevelPositions {
        let off = mpmc_layout::LEVELS_OFFSET + mpmc_layout::LEVEL_SIZE * u64::from(level);
        let positions = self.mapping.at::<LevelPositions>(off);
        // SAFETY: `level` is below the validated level count (callers), so
        // the line is mapped; atomics only; lives as long as `self`.
        unsafe { positions.as_ref() }
    }

    /// Messages published and not yet consumed (relaxed reads, clamped).
    pub fn messages_in_flight(&self) -> u64 {
        match self.kind {
            RingKind::Spsc => {
                let c = self.spsc();
                let sent = c.producer.sent.load(Ordering::Relaxed);
                let received = c.consumer.received.load(Ordering::Relaxed);
                let capacity = self.mapping.header().capacity;
                sent.wrapping_sub(received).min(capacity / 8)
            }
            RingKind::Mpmc => {
                let (_, g) = self.mpmc();
                (0..g.levels)
                    .map(|l| {
                        let p = self.level(l);
                        let enq = p.enqueue.load(Ordering::Relaxed);
                        let deq = p.dequeue.load(Ordering::Relaxed);
                        enq.wrapping_sub(deq).min(g.slots)
                    })
                    .sum()
            }
        }
    }

    /// MPMC: (slots given up by dead senders, messages dropped with dead
    /// receivers), as [`crate::Mpmc::recovered`]; SPSC: (0, 0).
    pub fn recovered(&self) -> (u64, u64) {
        match self.kind {
            RingKind::Spsc => (0, 0),
            RingKind::Mpmc => {
                let (c, _) = self.mpmc();
                // Relaxed: statistics.
                (
                    c.counters.dead_sender_slots.load(Ordering::Relaxed),
                    c.counters.dead_receiver_messages.load(Ordering::Relaxed),
                )
            }
        }
    }

    /// SPSC: record bytes in flight; MPMC: messages × slot stride.
    pub fn bytes_in_flight(&self) -> u64 {
        match self.kind {
            RingKind::Spsc => {
                let c = self.spsc();
                let write = c.producer.write_pos.load(Ordering::Relaxed);
                let read = c.consumer.read_pos.load(Ordering::Relaxed);
                write
                    .saturating_sub(read)
                    .min(self.mapping.header().capacity)
            }
            RingKind::Mpmc => self.messages_in_flight() * self.mpmc().1.stride(),
        }
    }

    /// Endpoints held by live processes: one lock probe per role in use.
    /// The pid is the one the holder wrote, in its own PID namespace.
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        let locks = self.mapping.locks();
        let info = |word: u64, role: Role| match RoleState::decode(word) {
            RoleState::Held(id) => Some(EndpointInfo { role, pid: id.pid }),
            _ => None,
        };
        match self.kind {
            RingKind::Spsc => {
                let c = self.spsc();
                [
                    (producer_role(c), Role::Producer),
                    (consumer_role(c), Role::Consumer),
                ]
                .into_iter()
                .filter(|(slot, _)| slot.is_held_by_live_process(&locks))
                // Relaxed: a report for people; nothing is read through it.
                .filter_map(|(slot, role)| info(slot.word.load(Ordering::Relaxed), role))
                .collect()
            }
            RingKind::Mpmc => {
                let (_, geometry) = self.mpmc();
                let queue = mpmc_channel::memory_of(&self.mapping, geometry);
                let side = |end| mpmc_channel::side_of(&queue, &locks, end);
                let senders: Vec<_> = side(End::Send).held_entries().collect();
                let receivers: Vec<_> = side(End::Receive).held_entries().collect();
                let senders = senders.into_iter().map(|w| info(w, Role::Sender));
                let receivers = receivers.into_iter().map(|w| info(w, Role::Receiver));
                senders.chain(receivers).flatten().collect()
            }
        }
    }

    /// Declares every endpoint whose holder is dead (its role word still
    /// names it, its lock byte is free) gone, exactly as its own detach
    /// would have, and wakes every waiter on both sides so that they
    /// re-check now. Returns how many endpoints were declared gone.
    pub fn reap_dead(&self) -> usize {
        let locks = self.mapping.locks();
        match self.kind {
            RingKind::Spsc => {
                let c = self.spsc();
                let reaped = [producer_role(c), consumer_role(c)]
                    .into_iter()
                    .filter(|slot| release_if_dead(*slot, &locks))
                    .count();
                wait::notify_all(&c.readable);
                wait::notify_all(&c.writable);
                reaped
            }
            RingKind::Mpmc => {
                let (c, geometry) = self.mpmc();
                let queue = mpmc_channel::memory_of(&self.mapping, geometry);
                let before = c.counters.live_senders.load(Ordering::Relaxed)
                    + c.counters.live_receivers.load(Ordering::Relaxed);
                // Reaping also recovers the slots the dead left claimed.
                for end in [End::Send, End::Receive] {
                    mpmc_channel::side_of(&queue, &locks, end).reap();
                }
                let after = c.counters.live_senders.load(Ordering::Relaxed)
                    + c.counters.live_receivers.load(Ordering::Relaxed);
                wait::notify_all(&c.not_empty);
                wait::notify_all(&c.not_full);
                before.saturating_sub(after) as usize
            }
        }
    }
}

/// Replaces a dead holder's SPSC role word with "left", as its own
/// `release` would have: the peer then reads end of file (or
/// `Disconnected`) without a lock probe of its own, and a new process may
/// take the role.
fn release_if_dead(slot: RoleSlot<'_>, locks: &Locks) -> bool {
    // Acquire: pairs with the holder's claim. A claimer locks before it
    // writes its word, so a word read before a free lock names a holder
    // that let go or died.
    let current = slot.word.load(Ordering::Acquire);
    match RoleState::decode(current) {
        RoleState::Held(_) if !locks.held(slot.lock_byte) => slot
            .word
            // AcqRel: Release pairs with the peer's Acquire in
            // `RoleSlot::left`; a concurrent takeover swaps its own word
            // in, and this CAS then leaves it alone.
            .compare_exchange(current, left_word(), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok(),
        _ => false,
    }
}

fn write_all_at(fd: impl AsFd, mut bytes: &[u8], mut offset: u64) -> Result<(), OpenError> {
    while !bytes.is_empty() {
        match rustix::io::pwrite(&fd, bytes, offset) {
            Ok(0) => return Err(OpenError::NoSpace),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Slot `j` of the whole slot area (levels are contiguous) belongs to
/// level `j / slots` and starts free for position `j % slots`.
fn write_sequences(fd: &OwnedFd, g: MpmcGeometry) -> Result<(), OpenError> {
    let stride = g.stride();
    let total = g.slots * u64::from(g.levels);
    let base = g.slots_offset();
    if stride > INIT_CHUNK {
        for j in 0..total {
            write_all_at(fd, &(j % g.slots).to_ne_bytes(), base + j * stride)?;
        }
        return Ok(());
    }
    let per_chunk = INIT_CHUNK / stride;
    let mut buf = vec![0u8; (per_chunk * stride) as usize];
    let mut j = 0;
    while j < total {
        let n = per_chunk.min(total - j);
        for k in 0..n {
            let at = (k * stride) as usize;
            buf[at..at + 8].copy_from_slice(&((j + k) % g.slots).to_ne_bytes());
        }
        write_all_at(fd, &buf[..(n * stride) as usize], base + j * stride)?;
        j += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memfd() -> OwnedFd {
        use rustix::fs::MemfdFlags;
        rustix::fs::memfd_create(
            "broker-hooks-test",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .unwrap()
    }

    #[test]
    fn an_initialised_spsc_segment_opens_and_reports() {
        let fd = memfd();
        let spec = SegmentSpec {
            kind: RingKind::Spsc,
            capacity: 4096,
            max_message: 1024,
            levels: 0,
        };
        let seg = BrokerSegment::initialise(&fd, &spec).unwrap();
        assert_eq!(seg.size(), spec.segment_size().unwrap());
        let ring = crate::SpscBuilder::new().from_fd(fd).unwrap();
        let mut p = ring.producer().unwrap();
        let _c = ring.consumer().unwrap();
        p.send(b"abc").unwrap();
        assert_eq!(seg.messages_in_flight(), 1);
        assert_eq!(seg.bytes_in_flight(), 16);
        let me = std::process::id();
        assert_eq!(seg.endpoints().len(), 2);
        assert!(seg.endpoints().iter().all(|e| e.pid == me));
        // Live holders are never reaped.
        assert_eq!(seg.reap_dead(), 0);
    }

    #[test]
    fn an_initialised_mpmc_segment_works_and_dead_holders_are_reaped() {
        let fd = memfd();
        let spec = SegmentSpec {
            kind: RingKind::Mpmc,
            capacity: 8,
            max_message: 24,
            levels: 2,
        };
        let seg = BrokerSegment::initialise(&fd, &spec).unwrap();
        let q = crate::MpmcBuilder::new().from_fd(fd).unwrap();
        let s = q.sender().unwrap();
        let r = q.receiver().unwrap();
        for i in 0..20u8 {
            s.send(&[i]).unwrap();
            assert_eq!(&*r.recv().unwrap(), &[i]);
        }
        s.with_priority(1).send(b"hi").unwrap();
        assert_eq!(seg.messages_in_flight(), 1);
        // A registry word of a process that cannot exist (pid 0x7fff_fff0
        // with start time 1) is reaped.
        let (c, _) = seg.mpmc();
        c.senders.entries[5].store(1 << 32 | 0x7fff_fff0, Ordering::Relaxed);
        c.counters.live_senders.fetch_add(1, Ordering::Relaxed);
        assert_eq!(seg.reap_dead(), 1);
        assert_eq!(seg.endpoints().len(), 2);
    }

    #[test]
    fn a_dead_spsc_producer_becomes_left() {
        let fd = memfd();
        let spec = SegmentSpec {
            kind: RingKind::Spsc,
            capacity: 1024,
            max_message: 256,
            levels: 0,
        };
        let seg = BrokerSegment::initialise(&fd, &spec).unwrap();
        let ring = crate::SpscBuilder::new().from_fd(fd).unwrap();
        let mut consumer = ring.consumer().unwrap();
        seg.spsc()
            .roles
            .producer
            .store(1 << 32 | 0x7fff_fff0, Ordering::Relaxed);
        assert_eq!(seg.reap_dead(), 1);
        assert!(matches!(
            consumer.try_recv(),
            Err(crate::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn bad_geometry_is_refused() {
        let spec = SegmentSpec {
            kind: RingKind::Spsc,
            capacity: 1000,
            max_message: 10,
            levels: 0,
        };
        assert!(matches!(
            BrokerSegment::initialise(&memfd(), &spec),
            Err(OpenError::InvalidConfig(_))
        ));
    }
}
