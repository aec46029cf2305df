//! The daemon's table of named segments: creation as sealed memfds,
//! permission checks like `ipc_perm`, per-uid accounting and lifetimes.

use crate::config::Limits;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::MemfdFlags;
use shmring::admin::SegmentView;
use shmring::broker::protocol::{self, CreateRequest, MAX_FRAME_LEN, SubscriberList};
use shmring::broker::{Lifetime, Role, SegmentInfo, Status};
use shmring::{OpenError, RingGeometry};
use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

/// Who is asking, from `SO_PEERCRED` (never from anything the client says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Process id at connect time, for the logs; `None` when the client
    /// lives in a PID namespace the daemon cannot see (its death is then
    /// watched through the pidfd its socket names).
    pub pid: Option<u32>,
    /// User id.
    pub uid: u32,
    /// Primary group id (supplementary groups are not visible).
    pub gid: u32,
}

/// A refused request: the status and the line the client sees.
pub type Refusal = (Status, String);

fn refuse<T>(status: Status, why: impl Into<String>) -> Result<T, Refusal> {
    Err((status, why.into()))
}

/// The daemon's mapping of a segment, charged to its owner's quota for
/// as long as it exists: the name, every connection that created or
/// opened it and every pending reap share it, and the charge goes back
/// when the last of them lets go (not when the name is unlinked: the
/// memory is still there, held by the daemon).
#[derive(Debug)]
pub struct Mapped {
    ring: SegmentView,
    owner: u32,
    bytes: u64,
    usage: Arc<Mutex<UsageTable>>,
}

impl Mapped {
    fn charge(ring: SegmentView, owner: u32, bytes: u64, usage: &Arc<Mutex<UsageTable>>) -> Self {
        let mut table = usage.lock().unwrap_or_else(PoisonError::into_inner);
        let u = table.entry(owner).or_default();
        u.segments += 1;
        u.bytes += bytes;
        Mapped {
            ring,
            owner,
            bytes,
            usage: Arc::clone(usage),
        }
    }
}

impl Deref for Mapped {
    type Target = SegmentView;

    fn deref(&self) -> &SegmentView {
        &self.ring
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        let mut table = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(u) = table.get_mut(&self.owner) {
            u.segments = u.segments.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(self.bytes);
            if u.segments == 0 {
                table.remove(&self.owner);
            }
        }
    }
}

/// One named segment.
#[derive(Debug)]
pub struct Segment {
    fd: OwnedFd,
    ring: Arc<Mapped>,
    uid: u32,
    gid: u32,
    mode: u32,
    lifetime: Lifetime,
    holders: u32,
}

/// Read permission bit (as in a mode's `rwx` triple).
const READ: u32 = 4;
/// Write permission bit.
const WRITE: u32 = 2;

impl Segment {
    /// The `ipc_perm` check: root may do anything; the owner is judged by
    /// the owner bits, members of the segment's group by the group bits,
    /// everybody else by the other bits.
    fn allows(&self, peer: &Peer, want: u32) -> bool {
        if peer.uid == 0 {
            return true;
        }
        let bits = if peer.uid == self.uid {
            self.mode >> 6
        } else if peer.gid == self.gid {
            self.mode >> 3
        } else {
            self.mode
        };
        bits & want == want
    }

    /// What a client is handed: the memfd and the ring's two doorbells
    /// (`SEGMENT_FDS`, in the protocol's order).
    fn handed(&self) -> [BorrowedFd<'_>; 3] {
        let bells = self.ring.doorbells();
        [self.fd.as_fd(), bells.data_fd(), bells.room_fd()]
    }

    fn info(&self, name: &str) -> SegmentInfo {
        let recovered = self.ring.recovered();
        SegmentInfo {
            name: name.to_owned(),
            geometry: self.ring.geometry(),
            lifetime: self.lifetime,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.ring.size(),
            holders: self.holders,
            messages_in_flight: self.ring.messages_in_flight(),
            bytes_in_flight: self.ring.bytes_in_flight(),
            dead_sender_slots: recovered.dead_sender_slots,
            dead_receiver_messages: recovered.dead_receiver_messages,
            traffic: self.ring.traffic(),
            endpoints: self.ring.endpoints(),
        }
    }
}

/// What a connection keeps of each segment it created or opened: enough
/// to release its hold and, once its process is gone, to reap its
/// endpoints even if the name was unlinked meanwhile.
#[derive(Debug, Clone)]
pub struct Held {
    /// The name it was reached by.
    pub name: String,
    /// The broker's mapping of it (which keeps its owner charged).
    pub ring: Arc<Mapped>,
}

/// Segment usage of one uid.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    segments: u32,
    bytes: u64,
}

/// Usage by owner uid, of every segment the daemon still maps.
type UsageTable = HashMap<u32, Usage>;

/// Every named segment.
#[derive(Debug, Default)]
pub struct SegmentTable {
    segments: BTreeMap<String, Segment>,
    /// Shared with every [`Mapped`], which gives its charge back when
    /// dropped. A mutex, not a `RefCell`, only because the server moves
    /// to its own thread in `InProcess`: it is never contended.
    usage: Arc<Mutex<UsageTable>>,
}

impl SegmentTable {
    /// Number of named segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether no segment exists.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Creates a sealed memfd segment owned by `peer`; the caller sends
    /// the returned descriptor and records the returned hold.
    pub fn create(
        &mut self,
        peer: &Peer,
        req: &CreateRequest,
        limits: &Limits,
    ) -> Result<(SegmentInfo, [BorrowedFd<'_>; 3], Held), Refusal> {
        protocol::check_name(&req.name).or_else(|why| refuse(Status::InvalidArgument, why))?;
        if req.mode > 0o777 {
            return refuse(Status::InvalidArgument, "mode must be at most 0777");
        }
        let size = req
            .geometry
            .segment_size()
            // In the words clients have always seen for a bad shape.
            .map_err(|e| OpenError::InvalidConfig(e.0))
            .or_else(|e| refuse(Status::InvalidArgument, e.to_string()))?;
        // Made (empty) before the limits are checked: on huge pages the
        // memory charged is the size rounded up to the file's huge page.
        let fd = new_memfd(&req.name, req.huge_pages)?;
        let size = charged_size(&fd, size)?;
        if size > limits.max_segment_size {
            return refuse(
                Status::LimitExceeded,
                format!(
                    "segment of {size} bytes exceeds the maximum of {}",
                    limits.max_segment_size
                ),
            );
        }
        if self.segments.contains_key(&req.name) {
            return refuse(Status::AlreadyExists, format!("{} exists", req.name));
        }
        // Counts unlinked segments the daemon still maps (some connection
        // holds them): their memory is still in use.
        let usage = self
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer.uid)
            .copied()
            .unwrap_or_default();
        if usage.segments >= limits.segments_per_uid {
            return refuse(
                Status::LimitExceeded,
                format!("uid {} owns {} segments already", peer.uid, usage.segments),
            );
        }
        if usage.bytes.saturating_add(size) > limits.bytes_per_uid {
            return refuse(
                Status::LimitExceeded,
                format!(
                    "uid {} would own more than {} bytes",
                    peer.uid, limits.bytes_per_uid
                ),
            );
        }
        let ring = lay_out(&fd, req.geometry, req.huge_pages)?;
        let segment = Segment {
            fd,
            ring: Arc::new(Mapped::charge(ring, peer.uid, size, &self.usage)),
            uid: peer.uid,
            gid: peer.gid,
            mode: req.mode,
            lifetime: req.lifetime,
            holders: 1,
        };
        let held = Held {
            name: req.name.clone(),
            ring: Arc::clone(&segment.ring),
        };
        let segment = self.segments.entry(req.name.clone()).or_insert(segment);
        Ok((segment.info(&req.name), segment.handed(), held))
    }

    /// Opens a segment for `peer`: every role (and plain mapping) needs
    /// read and write permission, because the mapping is read-write.
    /// `first_hold` says whether this connection holds it already.
    pub fn open(
        &mut self,
        peer: &Peer,
        name: &str,
        role: Role,
        first_hold: impl FnOnce(&Arc<Mapped>) -> bool,
    ) -> Result<(SegmentInfo, [BorrowedFd<'_>; 3], Held), Refusal> {
        let Some(segment) = self.segments.get_mut(name) else {
            return refuse(Status::NotFound, format!("no segment named {name}"));
        };
        if !segment.allows(peer, READ | WRITE) {
            return refuse(
                Status::PermissionDenied,
                format!(
                    "mode {:04o} does not let uid {} open {name}",
                    segment.mode, peer.uid
                ),
            );
        }
        let ring_kind = segment.ring.kind();
        if role.kind().is_some_and(|kind| kind != ring_kind) {
            return refuse(
                Status::WrongKind,
                format!("{name} is an {ring_kind} ring; {role} is not a role of it"),
            );
        }
        if first_hold(&segment.ring) {
            segment.holders += 1;
        }
        let held = Held {
            name: name.to_owned(),
            ring: Arc::clone(&segment.ring),
        };
        Ok((segment.info(name), segment.handed(), held))
    }

    /// Describes a segment `peer` may read.
    pub fn stat(&self, peer: &Peer, name: &str) -> Result<SegmentInfo, Refusal> {
        self.readable(peer, name).map(|segment| segment.info(name))
    }

    /// The segment `name`, if `peer` may read it.
    fn readable(&self, peer: &Peer, name: &str) -> Result<&Segment, Refusal> {
        let Some(segment) = self.segments.get(name) else {
            return refuse(Status::NotFound, format!("no segment named {name}"));
        };
        if !segment.allows(peer, READ) {
            return refuse(
                Status::PermissionDenied,
                format!(
                    "mode {:04o} does not let uid {} read {name}",
                    segment.mode, peer.uid
                ),
            );
        }
        Ok(segment)
    }

    /// The subscribers of a publish/subscribe segment `peer` may read.
    pub fn subscribers(&self, peer: &Peer, name: &str) -> Result<SubscriberList, Refusal> {
        let segment = self.readable(peer, name)?;
        let Some(published) = segment.ring.published() else {
            let kind = segment.ring.kind();
            return refuse(
                Status::WrongKind,
                format!("{name} is an {kind} ring: it has no subscribers"),
            );
        };
        Ok(SubscriberList {
            published,
            subscribers: segment.ring.subscribers(),
        })
    }

    /// One page of the segments `peer` may read, from the `offset`-th on,
    /// as many as fit in a reply frame; and how many there are in all.
    pub fn list(&self, peer: &Peer, offset: u32) -> (u32, Vec<SegmentInfo>) {
        let readable: Vec<_> = self
            .segments
            .iter()
            .filter(|(_, s)| s.allows(peer, READ))
            .collect();
        let mut room = MAX_FRAME_LEN - protocol::LIST_REPLY_OVERHEAD;
        let mut page = Vec::new();
        for (name, segment) in readable.iter().skip(offset as usize) {
            let info = segment.info(name);
            let len = protocol::info_len(&info);
            if len > room {
                break;
            }
            room -= len;
            page.push(info);
        }
        (readable.len() as u32, page)
    }

    /// Removes a name: only its owner (or root) may. Processes that
    /// mapped it keep it, and while the daemon does (a connection holds
    /// it) it still counts against the owner's quota.
    pub fn unlink(&mut self, peer: &Peer, name: &str) -> Result<(), Refusal> {
        let Some(segment) = self.segments.get(name) else {
            return refuse(Status::NotFound, format!("no segment named {name}"));
        };
        if peer.uid != 0 && peer.uid != segment.uid {
            return refuse(
                Status::PermissionDenied,
                format!("only uid {} or root may remove {name}", segment.uid),
            );
        }
        self.remove(name);
        Ok(())
    }

    /// A connection that held `held` closed: an ephemeral segment that no
    /// connection holds any more is forgotten.
    pub fn release(&mut self, held: &Held) {
        let Some(segment) = self.segments.get_mut(&held.name) else {
            return;
        };
        // The name may have been unlinked and reused for another segment.
        if !Arc::ptr_eq(&segment.ring, &held.ring) {
            return;
        }
        segment.holders = segment.holders.saturating_sub(1);
        if segment.holders == 0 && segment.lifetime == Lifetime::Ephemeral {
            self.remove(&held.name);
        }
    }

    /// Forgets a name; the quota comes back with the last hold on its
    /// mapping ([`Mapped`]'s drop).
    fn remove(&mut self, name: &str) {
        self.segments.remove(name);
    }
}

/// `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, with `MFD_HUGETLB`
/// (the default huge page size) when asked for huge pages.
fn new_memfd(name: &str, huge: bool) -> Result<OwnedFd, Refusal> {
    // memfd names are at most 249 bytes and only show in /proc.
    let mut label = format!("shmring:{name}");
    let mut end = label.len().min(240);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    label.truncate(end);
    let mut flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    if huge {
        flags |= MemfdFlags::HUGETLB;
    }
    rustix::fs::memfd_create(label, flags).or_else(|e| match (huge, e) {
        // No hugetlbfs in this kernel, or no huge page size configured.
        (true, rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => refuse(
            Status::InvalidArgument,
            format!("huge pages are not available on this system (memfd_create(MFD_HUGETLB): {e})"),
        ),
        _ => refuse(Status::Internal, format!("memfd_create: {e}")),
    })
}

/// The bytes a segment of `size` takes in `fd`: on hugetlbfs (a memfd
/// made with `MFD_HUGETLB`, `fstatfs` says) rounded up to whole huge
/// pages (`f_bsize`).
fn charged_size(fd: &OwnedFd, size: u64) -> Result<u64, Refusal> {
    /// `f_type` of hugetlbfs (statfs(2)).
    const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
    let fs =
        rustix::fs::fstatfs(fd).or_else(|e| refuse(Status::Internal, format!("fstatfs: {e}")))?;
    let page = fs.f_bsize as u64;
    if fs.f_type as u64 & 0xffff_ffff != HUGETLBFS_MAGIC || !page.is_power_of_two() {
        return Ok(size);
    }
    match size.checked_add(page - 1) {
        Some(s) => Ok(s & !(page - 1)),
        None => refuse(Status::InvalidArgument, "segment too large for huge pages"),
    }
}

/// The ring laid out in the empty memfd, then sealed against shrinking,
/// growing and further sealing (`initialise` seals it before anyone
/// else can see it): no descriptor leaves the daemon before the seals
/// are on.
fn lay_out(fd: &OwnedFd, geometry: RingGeometry, huge: bool) -> Result<SegmentView, Refusal> {
    SegmentView::initialise(fd, geometry).or_else(|e| match e {
        // hugetlbfs reports an empty pool as ENOSPC (fallocate) or ENOMEM
        // (mmap); both arrive as NoSpace or as an I/O error.
        OpenError::NoSpace => refuse(
            Status::NoSpace,
            match huge {
                true => NO_HUGE_PAGES,
                false => "no memory left for the segment",
            },
        ),
        OpenError::Io(io)
            if huge && io.raw_os_error() == Some(rustix::io::Errno::NOMEM.raw_os_error()) =>
        {
            refuse(Status::NoSpace, NO_HUGE_PAGES)
        }
        OpenError::InvalidConfig(why) => refuse(Status::InvalidArgument, why),
        other => refuse(Status::Internal, other.to_string()),
    })
}

/// What a client is told when the huge page pool cannot hold a segment.
const NO_HUGE_PAGES: &str = "no huge pages free for the segment: reserve some in \
     /proc/sys/vm/nr_hugepages (HugePages_Free in /proc/meminfo)";

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            pid: Some(1),
            uid,
            gid,
        }
    }

    fn create(name: &str, mode: u32) -> CreateRequest {
        CreateRequest {
            name: name.into(),
            geometry: RingGeometry::spsc(4096).with_max_message(1024),
            mode,
            lifetime: Lifetime::Persistent,
            huge_pages: false,
        }
    }

    #[test]
    fn permissions_follow_ipc_perm() {
        let mut r = SegmentTable::default();
        let owner = peer(1000, 100);
        let limits = Limits::default();
        r.create(&owner, &create("a", 0o640), &limits).unwrap();
        let yes = |_: &Arc<Mapped>| true;
        assert!(r.open(&owner, "a", Role::Producer, yes).is_ok());
        // Group may read (stat) but not open read-write.
        assert!(r.stat(&peer(1001, 100), "a").is_ok());
        assert_eq!(
            r.open(&peer(1001, 100), "a", Role::None, yes)
                .unwrap_err()
                .0,
            Status::PermissionDenied
        );
        assert_eq!(
            r.stat(&peer(1002, 200), "a").unwrap_err().0,
            Status::PermissionDenied
        );
        assert_eq!(r.list(&peer(1002, 200), 0).0, 0);
        assert!(r.open(&peer(0, 0), "a", Role::Consumer, yes).is_ok());
        assert_eq!(
            r.open(&owner, "a", Role::Sender, yes).unwrap_err().0,
            Status::WrongKind
        );
        // Only a publish/subscribe ring has subscribers to list.
        assert_eq!(r.subscribers(&owner, "a").unwrap_err().0, Status::WrongKind);
        assert_eq!(
            r.subscribers(&peer(1002, 200), "a").unwrap_err().0,
            Status::PermissionDenied
        );
        assert_eq!(
            r.unlink(&peer(1001, 100), "a").unwrap_err(),
            (
                Status::PermissionDenied,
                "only uid 1000 or root may remove a".into()
            )
        );
        r.unlink(&owner, "a").unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn limits_and_ephemeral_segments() {
        let mut r = SegmentTable::default();
        let me = peer(1000, 100);
        let limits = Limits {
            segments_per_uid: 1,
            ..Limits::default()
        };
        let mut req = create("e", 0o600);
        req.lifetime = Lifetime::Ephemeral;
        let (_, _, held) = r.create(&me, &req, &limits).unwrap();
        assert_eq!(
            r.create(&me, &create("f", 0o600), &limits).unwrap_err().0,
            Status::LimitExceeded
        );
        assert_eq!(
            r.create(&peer(1, 1), &req, &limits).unwrap_err().0,
            Status::AlreadyExists
        );
        r.release(&held);
        assert!(r.is_empty());
        // Still held (the connection's hold, a pending reap): still charged.
        assert_eq!(
            r.create(&me, &create("f", 0o600), &limits).unwrap_err().0,
            Status::LimitExceeded
        );
        // The quota comes back once the daemon lets go of the mapping.
        drop(held);
        r.create(&me, &create("f", 0o600), &limits).unwrap();
        // Unlinking a held segment does not give it back either.
        let limits = Limits {
            segments_per_uid: 2,
            ..limits
        };
        let (_, _, held) = r.create(&me, &create("h", 0o600), &limits).unwrap();
        r.unlink(&me, "h").unwrap();
        assert_eq!(
            r.create(&me, &create("i", 0o600), &limits).unwrap_err().0,
            Status::LimitExceeded
        );
        drop(held);
        r.create(&me, &create("i", 0o600), &limits).unwrap();
        let big = CreateRequest {
            geometry: RingGeometry::spsc(1 << 30).with_max_message(1024),
            ..create("g", 0o600)
        };
        assert_eq!(
            r.create(&peer(7, 7), &big, &limits).unwrap_err().0,
            Status::LimitExceeded
        );
    }
}
