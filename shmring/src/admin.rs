//! The administrative view of a segment: what the broker daemon and
//! `shmring stat` read and reap. A view over the ring handles' own
//! accessors (the same counters, roles and registry the endpoints use),
//! not a second implementation of them; kernel calls live in `sys/`.

use crate::Ring;
use crate::broker::protocol::{EndpointInfo, Role};
use crate::channel::any::AnyRing;
use crate::channel::mpmc::{End, Mpmc, Recovered, side_of};
use crate::channel::open::sealed::RingInternals;
use crate::channel::spsc::{Spsc, consumer_role, producer_role};
use crate::error::OpenError;
use crate::geometry::{Laid, RingGeometry};
use crate::layout::header::{HEADER_SIZE, INIT_READY};
use crate::layout::holder::RoleState;
use crate::layout::mpmc::MpmcGeometry;
use crate::segment;
use crate::sync::Ordering;
use crate::sys::shm;
use crate::wait::doorbell::Doorbells;
use crate::wait::{self, WaitStrategy};
use rustix::fd::{AsFd, OwnedFd};
use zerocopy::IntoBytes;

/// A ring as the broker (or an inspecting tool) holds it: mapped,
/// validated, never attached.
#[derive(Debug)]
pub struct SegmentView {
    ring: AnyRing,
    size: u64,
}

/// Bytes written per `pwrite` while laying out MPMC sequence numbers.
const INIT_CHUNK: u64 = 1 << 20;

impl SegmentView {
    /// Lays a new ring of `geometry` out in the empty file `fd`: sizes it
    /// with `ftruncate` and reserves its pages with `fallocate` (a full
    /// tmpfs is `NoSpace` here, never a later `SIGBUS`), writes the header
    /// and the initial control words with `pwrite(2)`, seals it against
    /// shrinking, growing and further sealing (the memfd must allow
    /// sealing: `MFD_ALLOW_SEALING`), then maps and validates it like any
    /// opener would. Nobody else may hold `fd` yet: the header is written
    /// ready in one go, without the init-state protocol.
    ///
    /// A memfd on huge pages (`MFD_HUGETLB`) is sized in whole huge pages
    /// (the header keeps the ring's own size; openers accept exactly that
    /// rounding) and, since hugetlbfs takes no `write(2)`, laid out
    /// through a mapping after it is sealed.
    pub fn initialise(fd: &OwnedFd, geometry: RingGeometry) -> Result<SegmentView, OpenError> {
        let laid = geometry.laid().map_err(|e| OpenError::InvalidConfig(e.0))?;
        let (pid, start) = segment::creator_identity();
        let header = laid.header(pid, start);
        let (_, huge_page) = shm::file_shape(fd)?;
        if huge_page.is_some() {
            shm::set_len_reserved(fd, segment::file_size_for(header.segment_size, huge_page)?)?;
            shm::seal_segment(fd)?;
            let bells = Doorbells::create().map_err(OpenError::Doorbell)?;
            let init = match laid {
                Laid::Spsc(_) => <Spsc as RingInternals>::initialise,
                Laid::Mpmc(_) => <Mpmc as RingInternals>::initialise,
                Laid::PubSub(_) => <crate::PubSub as RingInternals>::initialise,
            };
            segment::lay_out_mapped(fd, header, bells.clone(), init)?;
            return SegmentView::adopt(fd.try_clone().map_err(OpenError::Io)?, bells);
        }
        shm::set_len_reserved(fd, header.segment_size)?;
        let mut first = Vec::with_capacity(HEADER_SIZE);
        first.extend_from_slice(header.as_bytes());
        first.extend_from_slice(&INIT_READY.to_ne_bytes());
        first.extend_from_slice(&[0; 4]);
        shm::write_all_at(fd, &first, 0)?;
        // SPSC: every control word and record header starts at zero, which
        // the fresh file already is. MPMC: slot i of each level holds
        // sequence number i.
        if let Laid::Mpmc(g) = laid {
            write_sequences(fd, g)?;
        }
        // Sealed before the first mapping, as every adopted descriptor
        // must be: nobody can make it shrink under a mapping (SIGBUS).
        shm::seal_segment(fd)?;
        let bells = Doorbells::create().map_err(OpenError::Doorbell)?;
        SegmentView::adopt(fd.try_clone().map_err(OpenError::Io)?, bells)
    }

    /// Maps and validates a sealed segment file of either kind, with the
    /// doorbells that go with it.
    pub fn adopt(fd: OwnedFd, bells: Doorbells) -> Result<SegmentView, OpenError> {
        let size = shm::file_size(&fd)?;
        let builder = crate::SpscBuilder::new().wait_strategy(WaitStrategy::Park);
        let ring = AnyRing::from_fd(&builder, fd, bells)?;
        Ok(SegmentView { ring, size })
    }

    /// Opens and validates a named segment of either kind (for `stat`
    /// without a broker).
    pub fn open_named(name: &str) -> Result<SegmentView, OpenError> {
        let builder = crate::SpscBuilder::new().wait_strategy(WaitStrategy::Park);
        let ring = AnyRing::open_with(&builder, name, crate::OpenMode::Open)?;
        let size = ring
            .geometry()
            .segment_size()
            .map_err(|e| OpenError::InvalidConfig(e.0))?;
        Ok(SegmentView { ring, size })
    }

    /// The ring's shape.
    pub fn geometry(&self) -> RingGeometry {
        self.ring.geometry()
    }

    /// Ring kind.
    pub fn kind(&self) -> crate::RingKind {
        self.ring.kind()
    }

    /// Segment size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Messages published and not yet consumed (relaxed reads, clamped).
    pub fn messages_in_flight(&self) -> u64 {
        self.ring.messages_in_flight()
    }

    /// The ring's traffic counters.
    pub fn traffic(&self) -> crate::TrafficCounts {
        self.ring.traffic()
    }

    /// What crash recovery did ([`Mpmc::recovered`]); nothing for the
    /// other kinds.
    pub fn recovered(&self) -> Recovered {
        match &self.ring {
            AnyRing::Spsc(_) | AnyRing::PubSub(_) => Recovered::default(),
            AnyRing::Mpmc(q) => q.recovered(),
        }
    }

    /// SPSC: record bytes in flight; MPMC and publish/subscribe:
    /// messages × slot stride.
    pub fn bytes_in_flight(&self) -> u64 {
        match &self.ring {
            AnyRing::Spsc(r) => r.bytes_in_flight(),
            AnyRing::Mpmc(q) => q.messages_in_flight() * q.memory().geometry().stride(),
            AnyRing::PubSub(p) => p.messages_in_flight() * p.memory().geometry().stride(),
        }
    }

    /// Endpoints held by live processes: one lock probe per role in use.
    /// The pid is the one the holder wrote, in its own PID namespace.
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        match &self.ring {
            AnyRing::Spsc(r) => spsc_roles(r)
                .into_iter()
                .filter_map(|(slot, role)| {
                    let pid = slot.live_holder_pid(r.locks())?;
                    Some(EndpointInfo { role, pid })
                })
                .collect(),
            AnyRing::Mpmc(q) => {
                let info = |word: u64, role: Role| match RoleState::decode(word) {
                    RoleState::Held(id) => Some(EndpointInfo { role, pid: id.pid }),
                    _ => None,
                };
                let side = |end| side_of(q.memory(), q.locks(), end);
                let senders: Vec<_> = side(End::Send).held_entries().collect();
                let receivers: Vec<_> = side(End::Receive).held_entries().collect();
                let senders = senders.into_iter().map(|w| info(w, Role::Sender));
                let receivers = receivers.into_iter().map(|w| info(w, Role::Receiver));
                senders.chain(receivers).flatten().collect()
            }
            AnyRing::PubSub(p) => {
                let publisher = crate::channel::pubsub::publisher_role(p.memory().control())
                    .live_holder_pid(p.locks())
                    .map(|pid| EndpointInfo {
                        role: Role::Publisher,
                        pid,
                    });
                let subscribers = p
                    .subscriber_states()
                    .into_iter()
                    .filter(|s| s.alive)
                    .map(|s| EndpointInfo {
                        role: Role::Subscriber,
                        pid: s.pid,
                    });
                publisher.into_iter().chain(subscribers).collect()
            }
        }
    }

    /// Messages published so far in a publish/subscribe ring (`None` for
    /// other kinds).
    pub fn published(&self) -> Option<u64> {
        match &self.ring {
            AnyRing::PubSub(p) => Some(p.published()),
            _ => None,
        }
    }

    /// Every subscriber of a publish/subscribe ring, with its position,
    /// lag and counters (empty for other kinds).
    pub fn subscribers(&self) -> Vec<crate::pubsub::SubscriberState> {
        match &self.ring {
            AnyRing::PubSub(p) => p.subscriber_states(),
            _ => Vec::new(),
        }
    }

    /// Declares every endpoint whose holder is dead (its role word still
    /// names it, its lock byte is free) gone, exactly as its own detach
    /// would have, and wakes every waiter on both sides so that they
    /// re-check now. Returns how many endpoints were declared gone.
    pub fn reap_dead(&self) -> usize {
        match &self.ring {
            AnyRing::Spsc(r) => {
                let reaped: Vec<Role> = spsc_roles(r)
                    .into_iter()
                    .filter(|(slot, _)| slot.release_if_dead(r.locks()))
                    .map(|(_, role)| role)
                    .collect();
                wait::notify_all_sleepers(&r.control().readable);
                wait::notify_all_sleepers(&r.control().writable);
                ring_after_reap(
                    r.doorbells(),
                    reaped.contains(&Role::Producer),
                    reaped.contains(&Role::Consumer),
                );
                reaped.len()
            }
            AnyRing::Mpmc(q) => reap_mpmc(q),
            AnyRing::PubSub(p) => {
                let role = crate::channel::pubsub::publisher_role(p.memory().control());
                let publisher = usize::from(role.release_if_dead(p.locks()));
                let subscribers = p.reap_dead_subscribers() as usize;
                let control = p.memory().control();
                wait::notify_all_sleepers(&control.readable);
                wait::notify_all_sleepers(&control.writable);
                ring_after_reap(p.doorbells(), publisher > 0, subscribers > 0);
                publisher + subscribers
            }
        }
    }

    /// The ring's doorbells (the broker hands them over with the segment).
    pub fn doorbells(&self) -> &Doorbells {
        self.ring.doorbells()
    }
}

/// Rings the doorbells of the side that lost an endpoint's peer: the
/// receivers' when a sender was reaped, the senders' when a receiver was.
/// Never the receivers' otherwise: a ring by a passing writer would leave
/// them a hang-up when no sender ever came.
fn ring_after_reap(bells: &Doorbells, sender_reaped: bool, receiver_reaped: bool) {
    if sender_reaped {
        bells.ring_data();
    }
    if receiver_reaped {
        bells.ring_room();
    }
}

fn spsc_roles(r: &Spsc) -> [(crate::channel::spsc::role::RoleSlot<'_>, Role); 2] {
    [
        (producer_role(r.control()), Role::Producer),
        (consumer_role(r.control()), Role::Consumer),
    ]
}

fn reap_mpmc(q: &Mpmc) -> usize {
    let c = q.memory().control();
    let live = || {
        (
            c.counters.live_senders.load(Ordering::Relaxed),
            c.counters.live_receivers.load(Ordering::Relaxed),
        )
    };
    let before = live();
    // Reaping also recovers the slots the dead left claimed.
    for end in [End::Send, End::Receive] {
        side_of(q.memory(), q.locks(), end).reap();
    }
    let after = live();
    wait::notify_all_sleepers(&c.not_empty);
    wait::notify_all_sleepers(&c.not_full);
    let senders = before.0.saturating_sub(after.0);
    let receivers = before.1.saturating_sub(after.1);
    ring_after_reap(q.doorbells(), senders > 0, receivers > 0);
    (senders + receivers) as usize
}

/// Slot `j` of the whole slot area (levels are contiguous) belongs to
/// level `j / slots` and starts free for position `j % slots`.
fn write_sequences(fd: impl AsFd, g: MpmcGeometry) -> Result<(), OpenError> {
    let stride = g.stride();
    let total = g.slots * u64::from(g.levels);
    let base = g.slots_offset();
    if stride > INIT_CHUNK {
        for j in 0..total {
            shm::write_all_at(&fd, &(j % g.slots).to_ne_bytes(), base + j * stride)?;
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
        shm::write_all_at(&fd, &buf[..(n * stride) as usize], base + j * stride)?;
        j += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

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
        let geometry = RingGeometry::Spsc {
            capacity: 4096,
            max_message: 1024,
        };
        let seg = SegmentView::initialise(&fd, geometry).unwrap();
        assert_eq!(seg.size(), geometry.segment_size().unwrap());
        let ring = crate::SpscBuilder::new()
            .from_fd(fd, seg.doorbells().clone())
            .unwrap();
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
        let geometry = RingGeometry::mpmc(8, 24).with_priorities(2);
        let seg = SegmentView::initialise(&fd, geometry).unwrap();
        let q = crate::MpmcBuilder::new()
            .from_fd(fd, seg.doorbells().clone())
            .unwrap();
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
        let AnyRing::Mpmc(queue) = &seg.ring else {
            panic!("an MPMC view")
        };
        let c = queue.memory().control();
        c.senders.entries[5].store(1 << 32 | 0x7fff_fff0, Ordering::Relaxed);
        c.counters.live_senders.fetch_add(1, Ordering::Relaxed);
        assert_eq!(seg.reap_dead(), 1);
        assert_eq!(seg.endpoints().len(), 2);
    }

    #[test]
    fn a_dead_spsc_producer_becomes_left() {
        let fd = memfd();
        let seg = SegmentView::initialise(&fd, RingGeometry::spsc(1024)).unwrap();
        let ring = crate::SpscBuilder::new()
            .from_fd(fd, seg.doorbells().clone())
            .unwrap();
        let mut consumer = ring.consumer().unwrap();
        let AnyRing::Spsc(view) = &seg.ring else {
            panic!("an SPSC view")
        };
        view.control()
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
    fn a_pubsub_segment_reports_its_subscribers_and_reaps_the_dead() {
        let fd = memfd();
        let geometry = RingGeometry::pubsub(4, 16).with_subscribers(3);
        let seg = SegmentView::initialise(&fd, geometry).unwrap();
        assert_eq!(seg.geometry(), geometry);
        let ring = crate::PubSubBuilder::new()
            .from_fd(fd, seg.doorbells().clone())
            .unwrap();
        let mut publisher = ring.publisher().unwrap();
        let mut sub = ring.subscriber().unwrap();
        for i in 0..3u8 {
            publisher.send(&[i]).unwrap();
        }
        assert_eq!(&*sub.recv().unwrap(), &[0]);
        assert_eq!(seg.published(), Some(3));
        let me = std::process::id();
        let roles: Vec<_> = seg.endpoints().iter().map(|e| (e.role, e.pid)).collect();
        assert_eq!(roles, vec![(Role::Publisher, me), (Role::Subscriber, me)]);
        let states = seg.subscribers();
        assert_eq!(states.len(), 1);
        assert_eq!((states[0].cursor, states[0].lag), (1, 2));
        assert_eq!(seg.reap_dead(), 0);
        // An entry naming a process that cannot exist (pid 0x7fff_fff0,
        // start time 1), its lock free: a dead subscriber, reaped once.
        let AnyRing::PubSub(view) = &seg.ring else {
            panic!("a publish/subscribe view")
        };
        let dead = (0..3).find(|&i| i != sub.index()).expect("a free entry");
        let mem = view.memory();
        mem.entry(dead)
            .role
            .store(1 << 32 | 0x7fff_fff0, Ordering::Relaxed);
        mem.membership().live.fetch_add(1, Ordering::Relaxed);
        assert_eq!(seg.subscribers().len(), 2);
        assert_eq!(seg.reap_dead(), 1);
        assert_eq!(seg.reap_dead(), 0);
        assert_eq!(seg.subscribers().len(), 1);
        assert_eq!(view.reaped(), 1);
    }

    #[test]
    fn bad_geometry_is_refused() {
        let geometry = RingGeometry::Spsc {
            capacity: 1000,
            max_message: 10,
        };
        assert!(matches!(
            SegmentView::initialise(&memfd(), geometry),
            Err(OpenError::InvalidConfig(_))
        ));
    }
}
