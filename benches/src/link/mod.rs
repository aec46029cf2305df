//! Setting up each mechanism: the bench's side ([`prepare`]), what the
//! peer process is handed, and the peer's side ([`attach`]).
//!
//! Every mechanism ends as a pair of concrete [`Tx`]/[`Rx`] types, and the
//! measuring loops are generic over them ([`Driver`]), so no row pays for
//! dynamic dispatch and every row runs the same loop.

#[cfg(feature = "bridge")]
pub mod bridge;
pub mod epoll;
pub mod eventfd_shm;
pub mod fd_stream;
pub mod in_process;
pub mod kernel_queues;
pub mod limit;
#[cfg(feature = "peers")]
pub mod peers;
pub mod rings;
pub mod shared_memory;

use crate::mechanism::Mechanism;
use crate::traffic::{Rx, Tx};
use crate::{Error, Result};
use epoll::{EpollStreamRx, EpollStreamTx, WaitFirst};
use eventfd_shm::{EventRx, EventTx, STREAM_SLOTS, Slots};
use fd_stream::{PacketRx, PacketTx, StreamRx, StreamTx};
pub use in_process::{ChannelRx, ChannelTx, ThreadEnds, in_process_pair};
use kernel_queues::{PosixQueue, SysvQueue};
use rings::{RingEnds, Side};
use rustix::fd::{AsFd, OwnedFd};
use shared_memory::SharedFile;
use shmring::{Mpmc, PubSub, Spsc};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which directions a row uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Bench → peer and back (latency rows).
    RoundTrip,
    /// Bench → peer only (throughput rows).
    Stream,
}

impl Pattern {
    /// Name on the peer's command line.
    pub fn key(self) -> &'static str {
        match self {
            Pattern::RoundTrip => "round-trip",
            Pattern::Stream => "stream",
        }
    }

    /// The pattern named `key`.
    pub fn from_key(key: &str) -> Option<Pattern> {
        [Pattern::RoundTrip, Pattern::Stream]
            .into_iter()
            .find(|p| p.key() == key)
    }
}

/// This mechanism cannot carry this size here; the reason goes in the row.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

pub(crate) fn unsupported(reason: impl Into<String>) -> Error {
    Box::new(Unsupported(reason.into()))
}

/// The two halves one side of a row uses (a stream's sender has no `rx`,
/// its receiver no `tx`).
#[derive(Debug)]
pub struct Ends<T, R> {
    /// Sending half.
    pub tx: Option<T>,
    /// Receiving half.
    pub rx: Option<R>,
}

/// What runs over a side's ends: the measuring loops.
pub trait Driver {
    /// What the loop returns.
    type Out;
    /// Runs the loop over concrete halves.
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out>;
}

/// One side of a row, whatever the mechanism.
#[derive(Debug)]
pub enum AnyEnds {
    /// Physical limit.
    Limit(Ends<limit::WordTx, limit::WordRx>),
    /// The limit for a size: payload + sequence word.
    LimitSized(Ends<limit::SizedTx, limit::SizedRx>),
    // Boxed: a pair of ring endpoints is several times the size of the
    // other variants. The loops run over the unboxed ends.
    /// shmring SPSC ring.
    Spsc(Box<RingEnds<Spsc>>),
    /// shmring MPMC queue.
    Mpmc(Box<RingEnds<Mpmc>>),
    /// shmring publish/subscribe ring.
    PubSub(Box<RingEnds<PubSub>>),
    /// Pipe, FIFO, UNIX stream socket.
    Stream(Ends<StreamTx, StreamRx>),
    /// UNIX seqpacket socket.
    Packet(Ends<PacketTx, PacketRx>),
    /// POSIX message queue.
    PosixMq(Ends<PosixQueue, PosixQueue>),
    /// System V message queue.
    SysvMq(Ends<SysvQueue, SysvQueue>),
    /// eventfd + shared memory.
    Eventfd(Ends<EventTx, EventRx>),
    /// Pipe, waiting in `epoll_wait`.
    EpollStream(Ends<EpollStreamTx, EpollStreamRx>),
    /// eventfd + shared memory, waiting in `epoll_wait`.
    EventfdEpoll(Ends<EventTx, WaitFirst<EventRx>>),
    /// crossbeam-channel.
    Crossbeam(Ends<ChannelTx, ChannelRx>),
    /// ringfire's shared-memory ring, one record type per size.
    #[cfg(feature = "peers")]
    Ringfire(Box<peers::RingfireEnds>),
    /// iceoryx2 publish-subscribe (spinning or with events).
    #[cfg(feature = "peers")]
    Iceoryx2(Box<Ends<peers::Iceoryx2Tx, peers::Iceoryx2Rx>>),
    /// zenoh publish/subscribe used directly.
    #[cfg(feature = "bridge")]
    Zenoh(Box<bridge::ZenohEnds>),
    /// shmring rings bridged over zenoh.
    #[cfg(feature = "bridge")]
    Bridge(Box<bridge::BridgeEnds>),
}

impl AnyEnds {
    /// Runs `driver` over the concrete halves.
    pub fn drive<D: Driver>(self, driver: D) -> Result<D::Out> {
        match self {
            AnyEnds::Limit(e) => driver.drive(e),
            AnyEnds::LimitSized(e) => driver.drive(e),
            #[cfg(feature = "peers")]
            AnyEnds::Ringfire(e) => e.drive(driver),
            #[cfg(feature = "peers")]
            AnyEnds::Iceoryx2(e) => driver.drive(*e),
            #[cfg(feature = "bridge")]
            AnyEnds::Zenoh(e) => driver.drive(*e),
            #[cfg(feature = "bridge")]
            AnyEnds::Bridge(e) => driver.drive(*e),

            AnyEnds::Spsc(e) => e.drive(driver),
            AnyEnds::Mpmc(e) => e.drive(driver),
            AnyEnds::PubSub(e) => e.drive(driver),
            AnyEnds::Stream(e) => driver.drive(e),
            AnyEnds::Packet(e) => driver.drive(e),
            AnyEnds::PosixMq(e) => driver.drive(e),
            AnyEnds::SysvMq(e) => driver.drive(e),
            AnyEnds::Eventfd(e) => driver.drive(e),
            AnyEnds::EpollStream(e) => driver.drive(e),
            AnyEnds::EventfdEpoll(e) => driver.drive(e),
            AnyEnds::Crossbeam(e) => driver.drive(e),
        }
    }
}

/// The record sizes ringfire rows are built for: a record is a type
/// (`[u8; N]`), so each size is compiled in. Not 64 KiB or 1 MiB: ringfire
/// moves records by value (`try_recv` returns `T`), and records that
/// large made the crate's release build run for over 15 minutes (and
/// would put megabytes on the stack).
pub const RECORD_SIZES: [usize; 3] = [8, 64, 1024];

/// The error of a row whose mechanism this build cannot run.
pub(crate) fn not_built(mechanism: Mechanism) -> Error {
    if mechanism.is_peer() && !cfg!(feature = "peers") {
        format!("{mechanism}: shmring-benches was built without its `peers` feature").into()
    } else if mechanism.is_bridge() && !cfg!(feature = "bridge") {
        format!("{mechanism}: shmring-benches was built without its `bridge` feature").into()
    } else {
        format!("{mechanism} has no such side here").into()
    }
}

/// What the peer process is given: a spec on its command line and, for
/// descriptor-based mechanisms, its stdin and stdout.
#[derive(Debug, Default)]
pub struct PeerHandover {
    /// Mechanism-specific: names, ids.
    pub spec: String,
    /// Becomes the peer's fd 0.
    pub stdin: Option<OwnedFd>,
    /// Becomes the peer's fd 1.
    pub stdout: Option<OwnedFd>,
}

/// Names and ids a row created. Names are removed as soon as the peer has
/// attached (so that an interrupted run leaves nothing behind), the rest
/// when the row ends.
#[derive(Debug, Default)]
pub struct Cleanup {
    shm_names: Vec<String>,
    posix_queues: Vec<String>,
    fifo_dir: Option<PathBuf>,
    sysv_ids: Vec<i32>,
    /// Files mapped by path (ringfire's rings), removed once attached.
    #[cfg_attr(not(feature = "peers"), allow(dead_code))]
    paths: Vec<PathBuf>,
    /// Tags of iceoryx2 rows: their files are removed when the row ends
    /// (iceoryx2 opens some of them as it connects ports).
    #[cfg_attr(not(feature = "peers"), allow(dead_code))]
    iceoryx2: Vec<String>,
    /// The bench's zenoh session or bridge of a bridge row: closed when
    /// the row ends, after the peer has exited.
    #[cfg(feature = "bridge")]
    held: Vec<bridge::Keep>,
}

impl Cleanup {
    /// Removes the names: both sides hold what they need.
    pub fn peer_attached(&mut self) {
        for name in self.shm_names.drain(..) {
            // shmring::unlink: a ring's doorbells go with its name.
            let _ = shmring::unlink(&name);
        }
        for name in self.posix_queues.drain(..) {
            let _ = PosixQueue::unlink(&name);
        }
        if let Some(dir) = self.fifo_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        for path in self.paths.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// System V queue ids, for a watchdog that must remove them itself.
    pub fn sysv_ids(&self) -> &[i32] {
        &self.sysv_ids
    }

    /// Removes what a row leaves behind, by the names only (for a
    /// watchdog stopping the bench with the row still running).
    pub fn remove_files_of(tags: &[String]) {
        for tag in tags {
            remove_iceoryx2(tag);
            for direction in ["up", "down"] {
                let _ = std::fs::remove_file(format!("/dev/shm/{tag}-{direction}"));
            }
        }
    }

    /// Tags whose files [`remove_files_of`](Self::remove_files_of) removes.
    pub fn tags(&self) -> Vec<String> {
        self.iceoryx2.clone()
    }
}

#[cfg(feature = "peers")]
fn remove_iceoryx2(tag: &str) {
    peers::iceoryx2_remove(tag);
}

#[cfg(not(feature = "peers"))]
fn remove_iceoryx2(_: &str) {}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.peer_attached();
        for id in self.sysv_ids.drain(..) {
            let _ = SysvQueue::remove_id(id);
        }
        for tag in self.iceoryx2.drain(..) {
            remove_iceoryx2(&tag);
        }
        #[cfg(feature = "bridge")]
        self.held.clear();
    }
}

/// The bench side of a row before the peer exists: everything created,
/// except what can only be opened once the peer runs (FIFOs).
#[derive(Debug)]
pub struct Prepared {
    /// How the peer attaches.
    pub handover: PeerHandover,
    /// What to remove.
    pub cleanup: Cleanup,
    ends: Pending,
}

#[derive(Debug)]
enum Pending {
    Ready(Box<AnyEnds>),
    Fifo {
        dir: PathBuf,
        size: usize,
        pattern: Pattern,
    },
    /// Ends that need the peer's side first (ringfire: the peer makes the
    /// ring it sends on).
    #[cfg(feature = "peers")]
    Later(Later),
}

#[cfg(feature = "peers")]
struct Later(peers::Later);

#[cfg(feature = "peers")]
impl fmt::Debug for Later {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Later(..)")
    }
}

impl Prepared {
    /// The bench's ends; call after the peer was spawned (opening a FIFO
    /// blocks until the other side opens it too).
    pub fn connect(self) -> Result<(AnyEnds, Cleanup)> {
        let ends = match self.ends {
            Pending::Ready(ends) => *ends,
            #[cfg(feature = "peers")]
            Pending::Later(Later(later)) => later()?,
            Pending::Fifo { dir, size, pattern } => {
                use rustix::fs::{Mode, OFlags, open};
                let up = open(
                    dir.join("up"),
                    OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let down = match pattern {
                    Pattern::RoundTrip => Some(open(
                        dir.join("down"),
                        OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?),
                    Pattern::Stream => None,
                };
                AnyEnds::Stream(Ends {
                    tx: Some(StreamTx(up)),
                    rx: down.map(|fd| StreamRx::new(fd, size)),
                })
            }
        };
        Ok((ends, self.cleanup))
    }
}

static NEXT_TAG: AtomicU64 = AtomicU64::new(0);

/// A name no other row, process or test uses (`shmring-` prefixed so that
/// CI's leftover check sees it).
pub(crate) fn unique_tag() -> String {
    format!(
        "shmring-bench-{}-{}",
        std::process::id(),
        NEXT_TAG.fetch_add(1, Ordering::Relaxed)
    )
}

fn read_sysctl(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Creates the bench's side of `mechanism` for `size`-byte messages.
pub fn prepare(mechanism: Mechanism, size: usize, pattern: Pattern) -> Result<Prepared> {
    if let Some(reason) = mechanism.cannot_carry(size) {
        return Err(unsupported(reason));
    }
    let round_trip = pattern == Pattern::RoundTrip;
    let tag = unique_tag();
    let mut cleanup = Cleanup::default();
    let mut handover = PeerHandover::default();
    let ends = match mechanism {
        Mechanism::Memcpy
        | Mechanism::CrossbeamChannel
        | Mechanism::Rtrb
        | Mechanism::TokioSpsc
        | Mechanism::TokioUnixStream
        | Mechanism::TokioMpsc
        | Mechanism::TokioMtSpsc
        | Mechanism::TokioMtUnixStream
        | Mechanism::TokioMtMpsc => {
            return Err(format!("{mechanism} runs in one process").into());
        }
        Mechanism::Limit => {
            let file = SharedFile::create(&tag, limit::LEN)?;
            cleanup.shm_names.push(tag.clone());
            handover.spec = tag;
            let (tx, rx) = limit::pair(file, limit::PING, limit::PONG);
            AnyEnds::Limit(Ends {
                tx: Some(tx),
                rx: Some(rx),
            })
        }
        Mechanism::LimitSized => {
            if !round_trip {
                return Err(format!("{mechanism} is measured as round trips only").into());
            }
            let file = SharedFile::create(&tag, limit::sized_len(size))?;
            cleanup.shm_names.push(tag.clone());
            handover.spec = tag;
            let (tx, rx) = limit::sized_pair(file, size, 0);
            AnyEnds::LimitSized(Ends {
                tx: Some(tx),
                rx: Some(rx),
            })
        }
        #[cfg(feature = "peers")]
        Mechanism::Ringfire => {
            let later = peers::ringfire_prepare(size, pattern, &tag, &mut cleanup)?;
            handover.spec = tag;
            return Ok(Prepared {
                handover,
                cleanup,
                ends: Pending::Later(Later(later)),
            });
        }
        #[cfg(feature = "peers")]
        Mechanism::Iceoryx2 | Mechanism::Iceoryx2Event => {
            let events = mechanism == Mechanism::Iceoryx2Event;
            let ends = peers::iceoryx2_prepare(size, pattern, &tag, events, &mut cleanup)?;
            handover.spec = tag;
            ends
        }
        #[cfg(not(feature = "peers"))]
        Mechanism::Ringfire | Mechanism::Iceoryx2 | Mechanism::Iceoryx2Event => {
            return Err(not_built(mechanism));
        }
        #[cfg(feature = "bridge")]
        Mechanism::ZenohDirect => {
            bridge::zenoh_prepare(pattern, &tag, &mut handover, &mut cleanup)?
        }
        #[cfg(feature = "bridge")]
        Mechanism::ShmringBridge => {
            bridge::bridge_prepare(size, pattern, &tag, &mut handover, &mut cleanup)?
        }
        #[cfg(not(feature = "bridge"))]
        Mechanism::ZenohDirect | Mechanism::ShmringBridge => {
            return Err(not_built(mechanism));
        }
        Mechanism::TcpLoopback => {
            let (ours, theirs) = tcp_loopback_pair()?;
            if round_trip {
                handover.stdout = Some(theirs.as_fd().try_clone_to_owned()?);
            }
            handover.stdin = Some(theirs);
            let rx_fd = round_trip
                .then(|| ours.as_fd().try_clone_to_owned())
                .transpose()?;
            AnyEnds::Stream(Ends {
                tx: Some(StreamTx(ours)),
                rx: rx_fd.map(|fd| StreamRx::new(fd, size)),
            })
        }
        Mechanism::SpscSpin
        | Mechanism::SpscSpinPark
        | Mechanism::SpscPark
        | Mechanism::SpscZeroCopy
        | Mechanism::Mpmc
        | Mechanism::MpmcZeroCopy
        | Mechanism::PubSub
        | Mechanism::PubSubZeroCopy
        | Mechanism::PubSubLossy
        | Mechanism::SpscEpoll
        | Mechanism::MpmcEpoll => {
            let ends = rings::open(
                mechanism,
                size,
                pattern,
                &tag,
                Side::Bench,
                &mut cleanup.shm_names,
            )?;
            handover.spec = tag;
            ends
        }
        Mechanism::Pipe | Mechanism::PipeEpoll => {
            use rustix::pipe::{PipeFlags, pipe_with};
            let (up_r, up_w) = pipe_with(PipeFlags::CLOEXEC)?;
            handover.stdin = Some(up_r);
            let rx = if round_trip {
                let (down_r, down_w) = pipe_with(PipeFlags::CLOEXEC)?;
                handover.stdout = Some(down_w);
                Some(down_r)
            } else {
                None
            };
            stream_ends(mechanism, Some(up_w), rx, size)?
        }
        Mechanism::Fifo => {
            let dir = std::env::temp_dir().join(&tag);
            std::fs::create_dir(&dir)?;
            cleanup.fifo_dir = Some(dir.clone());
            for name in ["up", "down"] {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    dir.join(name),
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )?;
            }
            handover.spec = dir.to_string_lossy().into_owned();
            return Ok(Prepared {
                handover,
                cleanup,
                ends: Pending::Fifo { dir, size, pattern },
            });
        }
        Mechanism::UnixStream | Mechanism::UnixSeqpacket => {
            use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
            let kind = if mechanism == Mechanism::UnixStream {
                SocketType::STREAM
            } else {
                SocketType::SEQPACKET
            };
            let (ours, theirs) = socketpair(AddressFamily::UNIX, kind, SocketFlags::CLOEXEC, None)?;
            if kind == SocketType::SEQPACKET {
                fit_datagrams(&ours, &theirs, size)?;
            }
            if round_trip {
                handover.stdout = Some(theirs.as_fd().try_clone_to_owned()?);
            }
            handover.stdin = Some(theirs);
            let rx_fd = round_trip
                .then(|| ours.as_fd().try_clone_to_owned())
                .transpose()?;
            if kind == SocketType::STREAM {
                AnyEnds::Stream(Ends {
                    tx: Some(StreamTx(ours)),
                    rx: rx_fd.map(|fd| StreamRx::new(fd, size)),
                })
            } else {
                AnyEnds::Packet(Ends {
                    tx: Some(PacketTx(ours)),
                    rx: rx_fd.map(|fd| PacketRx::new(fd, size)),
                })
            }
        }
        Mechanism::PosixMq => {
            // The per-user RLIMIT_MSGQUEUE (800 KiB by default) must hold
            // both directions: fewer messages per queue as they grow.
            let depth = (300_000 / size).clamp(1, 10) as i64;
            let explain = |err: std::io::Error| {
                unsupported(format!(
                    "mq_open: {err} (fs.mqueue.msgsize_max = {}, RLIMIT_MSGQUEUE = {} bytes)",
                    read_sysctl("/proc/sys/fs/mqueue/msgsize_max").unwrap_or(0),
                    rustix::process::getrlimit(rustix::process::Resource::Msgqueue)
                        .current
                        .unwrap_or(u64::MAX)
                ))
            };
            let up_name = format!("/{tag}-up");
            let up = PosixQueue::create(&up_name, depth, size).map_err(explain)?;
            cleanup.posix_queues.push(up_name);
            let down = if round_trip {
                let down_name = format!("/{tag}-down");
                let down = PosixQueue::create(&down_name, depth, size).map_err(explain)?;
                cleanup.posix_queues.push(down_name);
                Some(down)
            } else {
                None
            };
            handover.spec = tag;
            AnyEnds::PosixMq(Ends {
                tx: Some(up),
                rx: down,
            })
        }
        Mechanism::SysvMq => {
            let msgmax = read_sysctl("/proc/sys/kernel/msgmax").unwrap_or(8192);
            let msgmnb = read_sysctl("/proc/sys/kernel/msgmnb").unwrap_or(16384);
            if size > msgmax || size > msgmnb {
                return Err(unsupported(format!(
                    "larger than kernel.msgmax = {msgmax} / kernel.msgmnb = {msgmnb}"
                )));
            }
            let id = SysvQueue::create_id()?;
            cleanup.sysv_ids.push(id);
            handover.spec = id.to_string();
            AnyEnds::SysvMq(Ends {
                tx: Some(SysvQueue::new(id, 1, size)),
                rx: round_trip.then(|| SysvQueue::new(id, 2, size)),
            })
        }
        Mechanism::EventfdShm | Mechanism::EventfdEpoll => {
            use rustix::event::{EventfdFlags, eventfd};
            if mechanism == Mechanism::EventfdEpoll && !round_trip {
                return Err(format!("{mechanism} is measured as round trips only").into());
            }
            let flags = EventfdFlags::CLOEXEC | EventfdFlags::SEMAPHORE;
            let slots = if round_trip { 1 } else { STREAM_SLOTS };
            let file = Arc::new(SharedFile::create(&tag, 2 * slots * size)?);
            cleanup.shm_names.push(tag.clone());
            handover.spec = format!("{tag}:{slots}");
            let up = Slots {
                file: file.clone(),
                base: 0,
                count: slots,
                size,
            };
            let up_items = eventfd(0, flags)?;
            handover.stdin = Some(up_items.as_fd().try_clone_to_owned()?);
            if round_trip {
                let down_items = eventfd(0, flags)?;
                handover.stdout = Some(down_items.as_fd().try_clone_to_owned()?);
                let down = Slots {
                    base: slots * size,
                    ..up.clone()
                };
                eventfd_ends(
                    mechanism,
                    EventTx::new(up, up_items, None),
                    EventRx::new(down, down_items, None),
                )?
            } else {
                let spaces = eventfd(slots as u32, flags)?;
                handover.stdout = Some(spaces.as_fd().try_clone_to_owned()?);
                AnyEnds::Eventfd(Ends {
                    tx: Some(EventTx::new(up, up_items, Some(spaces))),
                    rx: None,
                })
            }
        }
    };
    Ok(Prepared {
        handover,
        cleanup,
        ends: Pending::Ready(Box::new(ends)),
    })
}

/// Both ends of a TCP connection over 127.0.0.1 (the bench keeps one,
/// the peer process gets the other as its stdin and stdout), each with
/// `TCP_NODELAY`: a message goes out when written, as in a request/reply
/// protocol.
fn tcp_loopback_pair() -> Result<(OwnedFd, OwnedFd)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let ours = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    ours.set_nodelay(true)?;
    theirs.set_nodelay(true)?;
    Ok((OwnedFd::from(ours), OwnedFd::from(theirs)))
}

/// Seqpacket messages must fit the socket buffer whole: raise it for big
/// messages as a user would (up to `net.core.wmem_max`), then check with
/// a real datagram on the pair before the peer sees it.
fn fit_datagrams(ours: &OwnedFd, theirs: &OwnedFd, size: usize) -> Result<()> {
    use rustix::net::sockopt;
    if size > 64 * 1024 {
        for fd in [ours, theirs] {
            let _ = sockopt::set_socket_send_buffer_size(fd, 4 * size);
            let _ = sockopt::set_socket_recv_buffer_size(fd, 4 * size);
        }
    }
    rustix::io::ioctl_fionbio(ours, true)?;
    let probe = vec![0u8; size];
    let sent = rustix::net::send(ours, &probe, rustix::net::SendFlags::empty());
    rustix::io::ioctl_fionbio(ours, false)?;
    match sent {
        Ok(_) => {
            let mut drain = vec![0u8; size];
            rustix::net::recv(theirs, &mut drain, rustix::net::RecvFlags::empty())?;
            Ok(())
        }
        Err(err) => Err(unsupported(format!(
            "send: {err} (net.core.wmem_max = {})",
            read_sysctl("/proc/sys/net/core/wmem_max").unwrap_or(0)
        ))),
    }
}

/// Attaches the peer process's side: `spec` from its command line, fd 0
/// and fd 1 as the bench handed them over.
pub fn attach(mechanism: Mechanism, size: usize, pattern: Pattern, spec: &str) -> Result<AnyEnds> {
    let round_trip = pattern == Pattern::RoundTrip;
    let stdin = || std::io::stdin().as_fd().try_clone_to_owned();
    let stdout = || std::io::stdout().as_fd().try_clone_to_owned();
    Ok(match mechanism {
        Mechanism::Memcpy
        | Mechanism::CrossbeamChannel
        | Mechanism::Rtrb
        | Mechanism::TokioSpsc
        | Mechanism::TokioUnixStream
        | Mechanism::TokioMpsc
        | Mechanism::TokioMtSpsc
        | Mechanism::TokioMtUnixStream
        | Mechanism::TokioMtMpsc => {
            return Err(format!("{mechanism} has no peer process").into());
        }
        Mechanism::Limit => {
            let (tx, rx) = limit::pair(SharedFile::open(spec)?, limit::PONG, limit::PING);
            AnyEnds::Limit(Ends {
                tx: Some(tx),
                rx: Some(rx),
            })
        }
        Mechanism::LimitSized => {
            let (tx, rx) = limit::sized_pair(SharedFile::open(spec)?, size, 1);
            AnyEnds::LimitSized(Ends {
                tx: Some(tx),
                rx: Some(rx),
            })
        }
        #[cfg(feature = "peers")]
        Mechanism::Ringfire => peers::ringfire_attach(size, pattern, spec)?,
        #[cfg(feature = "peers")]
        Mechanism::Iceoryx2 | Mechanism::Iceoryx2Event => {
            peers::iceoryx2_attach(size, pattern, spec, mechanism == Mechanism::Iceoryx2Event)?
        }
        #[cfg(not(feature = "peers"))]
        Mechanism::Ringfire | Mechanism::Iceoryx2 | Mechanism::Iceoryx2Event => {
            return Err(not_built(mechanism));
        }
        #[cfg(feature = "bridge")]
        Mechanism::ZenohDirect => bridge::zenoh_attach(pattern, spec)?,
        #[cfg(feature = "bridge")]
        Mechanism::ShmringBridge => bridge::bridge_attach(size, pattern, spec)?,
        #[cfg(not(feature = "bridge"))]
        Mechanism::ZenohDirect | Mechanism::ShmringBridge => {
            return Err(not_built(mechanism));
        }
        Mechanism::SpscSpin
        | Mechanism::SpscSpinPark
        | Mechanism::SpscPark
        | Mechanism::SpscZeroCopy
        | Mechanism::Mpmc
        | Mechanism::MpmcZeroCopy
        | Mechanism::PubSub
        | Mechanism::PubSubZeroCopy
        | Mechanism::PubSubLossy
        | Mechanism::SpscEpoll
        | Mechanism::MpmcEpoll => {
            rings::open(mechanism, size, pattern, spec, Side::Peer, &mut Vec::new())?
        }
        Mechanism::Pipe | Mechanism::PipeEpoll | Mechanism::UnixStream | Mechanism::TcpLoopback => {
            stream_ends(
                mechanism,
                round_trip.then(stdout).transpose()?,
                Some(stdin()?),
                size,
            )?
        }
        Mechanism::Fifo => {
            use rustix::fs::{Mode, OFlags, open};
            let dir = PathBuf::from(spec);
            // The same order as the bench's `connect`, or both would block.
            let up = open(
                dir.join("up"),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let down = if round_trip {
                Some(open(
                    dir.join("down"),
                    OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?)
            } else {
                None
            };
            AnyEnds::Stream(Ends {
                tx: down.map(StreamTx),
                rx: Some(StreamRx::new(up, size)),
            })
        }
        Mechanism::UnixSeqpacket => AnyEnds::Packet(Ends {
            tx: round_trip.then(stdout).transpose()?.map(PacketTx),
            rx: Some(PacketRx::new(stdin()?, size)),
        }),
        Mechanism::PosixMq => AnyEnds::PosixMq(Ends {
            tx: round_trip
                .then(|| PosixQueue::open(&format!("/{spec}-down"), size))
                .transpose()?,
            rx: Some(PosixQueue::open(&format!("/{spec}-up"), size)?),
        }),
        Mechanism::SysvMq => {
            let id: i32 = spec.parse()?;
            AnyEnds::SysvMq(Ends {
                tx: round_trip.then(|| SysvQueue::new(id, 2, size)),
                rx: Some(SysvQueue::new(id, 1, size)),
            })
        }
        Mechanism::EventfdShm | Mechanism::EventfdEpoll => {
            let (name, slots) = spec.split_once(':').ok_or("eventfd spec is NAME:SLOTS")?;
            let slots: usize = slots.parse()?;
            let file = Arc::new(SharedFile::open(name)?);
            let up = Slots {
                file,
                base: 0,
                count: slots,
                size,
            };
            if round_trip {
                let down = Slots {
                    base: slots * size,
                    ..up.clone()
                };
                eventfd_ends(
                    mechanism,
                    EventTx::new(down, stdout()?, None),
                    EventRx::new(up, stdin()?, None),
                )?
            } else {
                AnyEnds::Eventfd(Ends {
                    tx: None,
                    rx: Some(EventRx::new(up, stdin()?, Some(stdout()?))),
                })
            }
        }
    })
}

/// A byte stream's ends: blocking (pipe, UNIX stream socket), or waiting
/// in `epoll_wait` (pipe + epoll).
fn stream_ends(
    mechanism: Mechanism,
    tx: Option<OwnedFd>,
    rx: Option<OwnedFd>,
    size: usize,
) -> Result<AnyEnds> {
    Ok(if mechanism == Mechanism::PipeEpoll {
        AnyEnds::EpollStream(Ends {
            tx: tx.map(EpollStreamTx::new).transpose()?,
            rx: rx.map(|fd| EpollStreamRx::new(fd, size)).transpose()?,
        })
    } else {
        AnyEnds::Stream(Ends {
            tx: tx.map(StreamTx),
            rx: rx.map(|fd| StreamRx::new(fd, size)),
        })
    })
}

/// The round-trip ends of an eventfd row: blocking in `read`, or waiting
/// in `epoll_wait` on the eventfd first (eventfd + epoll).
fn eventfd_ends(mechanism: Mechanism, tx: EventTx, rx: EventRx) -> Result<AnyEnds> {
    Ok(if mechanism == Mechanism::EventfdEpoll {
        AnyEnds::EventfdEpoll(Ends {
            tx: Some(tx),
            rx: Some(WaitFirst::new(rx)?),
        })
    } else {
        AnyEnds::Eventfd(Ends {
            tx: Some(tx),
            rx: Some(rx),
        })
    })
}
