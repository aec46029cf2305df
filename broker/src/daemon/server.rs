//! The event loop: one thread, one epoll set, every socket non-blocking.
//!
//! | token kind | what                                   | on readiness              |
//! |------------|----------------------------------------|---------------------------|
//! | `LISTENER` | the listening socket                   | accept until `EAGAIN`     |
//! | `SIGNALS`  | self-pipe of SIGTERM/SIGINT/SIGHUP     | stop or reload            |
//! | `CONN`     | a client connection (slot index)       | read requests / flush     |
//! | `WATCH`    | a pidfd of a client that left          | queue reaps of its rings  |
//!
//! A connection is read one frame at a time, and only while its reply
//! has been sent: a client that does not read its replies stalls itself
//! (its slot waits for `EPOLLOUT`), never the loop. Slots freed during a
//! batch of events are reused only after the batch, so a stale event can
//! never reach a new connection.
//!
//! Nothing a client controls may hold the loop for long:
//!
//! - reaping a ring (which scans it) is queued, one ring per turn of the
//!   loop, with the epoll timeout at zero while the queue is not empty,
//!   and a ring already queued is not queued twice;
//! - descriptors a client controls (its connection sockets, anything it
//!   attached to a request) are closed on the [`Closer`] thread;
//! - when `accept` fails for want of descriptors or memory, the listener
//!   leaves the epoll set for [`ACCEPT_RETRY`] (it would stay readable and
//!   make the loop spin); the connections wait in the backlog.

use super::closer::Closer;
use super::segments::{Held, Mapped, Peer, SegmentTable};
use super::systemd::Notifier;
use crate::config::{Config, Limits};
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SocketFlags};
use rustix::process::{Pid, PidfdFlags};
use shmring::broker::fdpass::{self, RecvFrameError};
use shmring::broker::protocol::{self, MsgType, PROTOCOL_VERSION, Reply, Request, Status};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: u64 = 1 << 56;
const SIGNALS: u64 = 2 << 56;
const CONN: u64 = 3 << 56;
const WATCH: u64 = 4 << 56;
const KIND: u64 = 0xff << 56;

/// Frames read from one connection per wake-up before others get a turn.
const FRAMES_PER_TURN: usize = 16;

/// How long the listener rests after `accept` ran out of descriptors or
/// memory before it is tried again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Most descriptors one `SCM_RIGHTS` message can carry (`SCM_MAX_FD`,
/// unix(7)): room for all of them, so that the kernel installs every one
/// it received and they are closed on the closer thread, not by the
/// kernel on this one (it drops what does not fit in the receiving
/// thread, on its way back from `recvmsg`).
const SCM_MAX_FD: usize = 253;

/// `SIGNALS` token indexes: which self-pipe became readable.
const STOP: usize = 0;
const RELOAD: usize = 1;

#[derive(Debug)]
struct Conn {
    fd: OwnedFd,
    peer: Peer,
    serial: u64,
    hello: bool,
    held: Vec<Held>,
    /// A reply that could not be sent yet, with its descriptor.
    pending: Option<(Vec<u8>, Vec<OwnedFd>)>,
}

/// A client process whose connection closed while it held segments: when
/// its pidfd becomes readable, the process is gone and its rings are
/// queued for reaping. A ring leaves the watch earlier if a reap finds
/// no endpoint left in it (nothing could be left to reap).
#[derive(Debug)]
struct Watch {
    pidfd: OwnedFd,
    pid: Option<u32>,
    rings: Vec<Arc<Mapped>>,
}

/// The daemon's state.
#[derive(Debug)]
pub struct Server {
    epoll: OwnedFd,
    listener: OwnedFd,
    signals: [UnixStream; 2],
    config_path: Option<PathBuf>,
    limits: Limits,
    segments: SegmentTable,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    freed_this_batch: Vec<usize>,
    live: usize,
    serial: u64,
    handshakes: VecDeque<(Instant, usize, u64)>,
    watches: Vec<Option<Watch>>,
    watch_by_pid: HashMap<u32, usize>,
    /// Rings to reap, one per turn of the loop, oldest first.
    reaps: VecDeque<Arc<Mapped>>,
    /// The rings in `reaps` (by address: each is kept alive there).
    reaps_queued: HashSet<usize>,
    /// Open connections by uid.
    conns_by_uid: HashMap<u32, u32>,
    /// Set while the listener is out of the epoll set after `accept`
    /// failed for want of descriptors: when to put it back.
    accept_paused_until: Option<Instant>,
    closer: Closer,
    input: Vec<u8>,
    output: Vec<u8>,
    stopping: bool,
    /// Readiness and watchdog notifications to systemd, for `shmringd`
    /// (not for a daemon in a thread of another program).
    notifier: Option<Notifier>,
}

fn add(epoll: &OwnedFd, fd: impl AsFd, token: u64, flags: EventFlags) -> std::io::Result<()> {
    Ok(epoll::add(epoll, fd, EventData::new_u64(token), flags)?)
}

impl Server {
    /// Sets up the epoll set around a listening socket and the read end
    /// of the signal self-pipe.
    pub fn new(
        listener: OwnedFd,
        signals: [UnixStream; 2],
        config: Config,
        config_path: Option<PathBuf>,
    ) -> std::io::Result<Server> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        add(&epoll, &listener, LISTENER, EventFlags::IN)?;
        for (i, pipe) in signals.iter().enumerate() {
            pipe.set_nonblocking(true)?;
            add(&epoll, pipe, SIGNALS | i as u64, EventFlags::IN)?;
        }
        Ok(Server {
            epoll,
            listener,
            signals,
            config_path,
            input: vec![0; config.limits.frame_size as usize],
            limits: config.limits,
            segments: SegmentTable::default(),
            conns: Vec::new(),
            free: Vec::new(),
            freed_this_batch: Vec::new(),
            live: 0,
            serial: 0,
            handshakes: VecDeque::new(),
            watches: Vec::new(),
            watch_by_pid: HashMap::new(),
            reaps: VecDeque::new(),
            reaps_queued: HashSet::new(),
            conns_by_uid: HashMap::new(),
            accept_paused_until: None,
            closer: Closer::start()?,
            output: Vec::with_capacity(protocol::MAX_FRAME_LEN),
            stopping: false,
            notifier: None,
        })
    }

    /// Has the loop tell systemd about reloads and the stop, and ping its
    /// watchdog; sends `READY=1` with `status` now (the listener is in
    /// the epoll set: connections wait in its backlog until the loop runs).
    pub fn notify_systemd(&mut self, mut notifier: Notifier, status: &str) {
        notifier.ready(status);
        self.notifier = Some(notifier);
    }

    /// Serves until SIGTERM or SIGINT.
    pub fn run(&mut self) -> std::io::Result<()> {
        let mut events = Vec::with_capacity(256);
        while !self.stopping {
            let timeout = self.next_timeout();
            events.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                timeout.as_ref(),
            ) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            for event in &events {
                let token = event.data.u64();
                let index = (token & !KIND) as usize;
                match token & KIND {
                    LISTENER => self.accept_all(),
                    SIGNALS => self.signal(index),
                    CONN => self.conn_event(index, event.flags),
                    WATCH => self.watch_fired(index),
                    _ => {}
                }
            }
            self.free.append(&mut self.freed_this_batch);
            self.expire_handshakes();
            self.resume_accepting();
            self.reap_one();
            if let Some(notifier) = &mut self.notifier {
                notifier.watchdog_tick();
            }
        }
        tracing::info!(clients = self.live, "shutting down");
        for index in 0..self.conns.len() {
            self.close(index, "daemon shutting down");
        }
        Ok(())
    }

    fn next_timeout(&self) -> Option<rustix::time::Timespec> {
        if !self.reaps.is_empty() {
            // Reaping left to do: look at the sockets, then reap on.
            return Some(rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            });
        }
        let now = Instant::now();
        let deadline = [
            self.handshakes.front().map(|(deadline, ..)| *deadline),
            self.accept_paused_until,
            self.notifier.as_ref().and_then(Notifier::watchdog_due),
        ]
        .into_iter()
        .flatten()
        .min();
        let wait = match deadline {
            Some(deadline) => deadline.saturating_duration_since(now),
            None => Duration::from_secs(60),
        };
        // Round up so that the deadline has passed when we wake.
        let wait = wait + Duration::from_millis(1);
        Some(rustix::time::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        })
    }

    fn signal(&mut self, which: usize) {
        let mut buf = [0u8; 64];
        let mut got = false;
        while let Ok(1..) = (&self.signals[which & 1]).read(&mut buf) {
            got = true;
        }
        match (got, which) {
            (true, STOP) => {
                self.stopping = true;
                if let Some(notifier) = &self.notifier {
                    notifier.stopping();
                }
            }
            (true, RELOAD) => {
                if let Some(notifier) = &self.notifier {
                    notifier.reloading();
                }
                let outcome = self.reload();
                if let Some(notifier) = &self.notifier {
                    notifier.reloaded(outcome);
                }
            }
            _ => {}
        }
    }

    /// Re-reads `[limits]`; returns what happened, for systemd's status.
    fn reload(&mut self) -> &'static str {
        let Some(path) = &self.config_path else {
            tracing::info!("SIGHUP: no --config file, limits unchanged");
            return "SIGHUP: no --config file";
        };
        match Config::load(path) {
            Ok(config) => {
                tracing::info!(?config.limits, "SIGHUP: limits reloaded");
                self.input = vec![0; config.limits.frame_size as usize];
                self.limits = config.limits;
                "limits reloaded"
            }
            Err(e) => {
                tracing::warn!("SIGHUP: keeping the old limits: {e}");
                "bad config file on reload, old limits kept"
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            let fd = match rustix::net::accept_with(
                &self.listener,
                SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            ) {
                Ok(fd) => fd,
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                Err(Errno::AGAIN) => return,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM (or anything else):
                    // the listener stays readable, and polling it now
                    // would spin. Rest it; the rest wait in the backlog.
                    return self.pause_accepting(e);
                }
            };
            if self.live >= self.limits.connections as usize {
                tracing::warn!(limit = self.limits.connections, "connection limit reached");
                self.discard(fd);
                continue;
            }
            // A client whose pid this daemon cannot see (another
            // container's, or the host's when the daemon runs in one) is
            // served like any other: its pid is only for the logs.
            let peer = match shmring::broker::peer_credentials(&fd) {
                Ok(cred) => Peer {
                    pid: cred.pid,
                    uid: cred.uid,
                    gid: cred.gid,
                },
                Err(e) => {
                    tracing::warn!("SO_PEERCRED: {e}");
                    self.discard(fd);
                    continue;
                }
            };
            let of_uid = self.conns_by_uid.get(&peer.uid).copied().unwrap_or(0);
            if of_uid >= self.limits.connections_per_uid {
                tracing::warn!(
                    uid = peer.uid,
                    limit = self.limits.connections_per_uid,
                    "connection limit of the uid reached"
                );
                self.discard(fd);
                continue;
            }
            let index = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if let Err(e) = add(
                &self.epoll,
                &fd,
                CONN | index as u64,
                EventFlags::IN | EventFlags::RDHUP,
            ) {
                tracing::warn!("epoll add: {e}");
                self.free.push(index);
                self.discard(fd);
                continue;
            }
            *self.conns_by_uid.entry(peer.uid).or_default() += 1;
            self.serial += 1;
            let deadline = Instant::now() + self.limits.handshake_timeout();
            self.handshakes.push_back((deadline, index, self.serial));
            tracing::debug!(index, pid = ?peer.pid, uid = peer.uid, "client connected");
            self.conns[index] = Some(Conn {
                fd,
                peer,
                serial: self.serial,
                hello: false,
                held: Vec::new(),
                pending: None,
            });
            self.live += 1;
        }
    }

    /// Takes the listener out of the epoll set for [`ACCEPT_RETRY`].
    fn pause_accepting(&mut self, e: Errno) {
        tracing::warn!(
            "accept: {e}; not accepting for {} ms",
            ACCEPT_RETRY.as_millis()
        );
        if epoll::delete(&self.epoll, &self.listener).is_ok() {
            self.accept_paused_until = Some(Instant::now() + ACCEPT_RETRY);
        }
    }

    /// Puts the listener back once its rest is over; pending connections
    /// make it readable at once (level-triggered).
    fn resume_accepting(&mut self) {
        let Some(until) = self.accept_paused_until else {
            return;
        };
        if Instant::now() < until {
            return;
        }
        match add(&self.epoll, &self.listener, LISTENER, EventFlags::IN) {
            Ok(()) => self.accept_paused_until = None,
            Err(e) => {
                tracing::warn!("epoll add of the listener: {e}");
                self.accept_paused_until = Some(Instant::now() + ACCEPT_RETRY);
            }
        }
    }

    fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, index, serial)) = self.handshakes.front() {
            if deadline > now {
                break;
            }
            self.handshakes.pop_front();
            let late = matches!(&self.conns[index], Some(c) if c.serial == serial && !c.hello);
            if late {
                self.close(index, "no hello within the handshake timeout");
            }
        }
    }

    fn conn_event(&mut self, index: usize, flags: EventFlags) {
        if self.conns.get(index).is_none_or(|c| c.is_none()) {
            return;
        }
        if flags.contains(EventFlags::OUT) && !self.flush(index) {
            return;
        }
        if flags.intersects(EventFlags::IN | EventFlags::HUP | EventFlags::RDHUP | EventFlags::ERR)
        {
            self.read_frames(index);
        }
    }

    /// Sends a pending reply; true once nothing is pending (interest back
    /// to reading), false if it must wait or the connection closed.
    fn flush(&mut self, index: usize) -> bool {
        let Some(conn) = self.conns[index].as_mut() else {
            return false;
        };
        let Some((frame, fds)) = conn.pending.take() else {
            return true;
        };
        match fdpass::send_frame(&conn.fd, &frame, &borrowed(&fds), true) {
            Ok(()) => {
                let token = CONN | index as u64;
                let flags = EventFlags::IN | EventFlags::RDHUP;
                if epoll::modify(&self.epoll, &conn.fd, EventData::new_u64(token), flags).is_err() {
                    self.close(index, "epoll modify failed");
                    return false;
                }
                true
            }
            Err(Errno::AGAIN) => {
                conn.pending = Some((frame, fds));
                false
            }
            Err(e) => {
                self.close(index, &format!("send: {e}"));
                false
            }
        }
    }

    fn read_frames(&mut self, index: usize) {
        for _ in 0..FRAMES_PER_TURN {
            let Some(conn) = self.conns[index].as_ref() else {
                return;
            };
            if conn.pending.is_some() {
                return;
            }
            let received = match recv_request(&conn.fd, &mut self.input, &self.closer) {
                Ok(r) => r,
                Err(RecvFrameError::WouldBlock) => return,
                Err(RecvFrameError::Closed) => return self.close(index, "client closed"),
                Err(e @ (RecvFrameError::TooLong | RecvFrameError::ControlTruncated)) => {
                    return self.refuse_and_close(index, MsgType::Hello, 0, &e.to_string());
                }
                Err(RecvFrameError::Io(e)) => return self.close(index, &format!("recv: {e}")),
            };
            let fds = received.fds.len();
            // Requests carry no descriptors: any that came are closed, off
            // this thread, and the request is refused below.
            self.closer.close(received.fds);
            let frame = &self.input[..received.len];
            let (header, payload) =
                match protocol::split_frame(frame, fds, self.limits.frame_size as usize) {
                    Ok(split) => split,
                    Err(e) => {
                        let id = frame
                            .get(8..12)
                            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()));
                        return self.refuse_and_close(index, MsgType::Hello, id, &e.to_string());
                    }
                };
            let id = header.request_id.get();
            let to = MsgType::from_raw(header.msg_type.get()).unwrap_or(MsgType::Hello);
            if fds > self.limits.fds_per_message as usize {
                return self.refuse_and_close(index, to, id, "requests carry no descriptors");
            }
            let request = match protocol::decode_request(header.msg_type.get(), payload) {
                Ok(r) => r,
                Err(e) => return self.refuse_and_close(index, to, id, &e.to_string()),
            };
            if !self.handle(index, id, request) {
                return;
            }
        }
    }

    /// Serves one request; false if the connection is gone or stalled.
    fn handle(&mut self, index: usize, id: u32, request: Request) -> bool {
        let to = request.msg_type();
        let conn = self.conns[index].as_mut().expect("caller checked");
        let peer = conn.peer;
        if !conn.hello {
            let Request::Hello {
                min_version,
                max_version,
            } = request
            else {
                self.refuse_and_close(index, to, id, "the first request must be hello");
                return false;
            };
            if !(min_version..=max_version).contains(&PROTOCOL_VERSION) {
                let why = format!("this broker speaks version {PROTOCOL_VERSION} only");
                self.send_error(index, to, id, Status::ProtocolVersion, &why);
                self.close(index, "no common protocol version");
                return false;
            }
            conn.hello = true;
            let reply = Reply::Hello {
                version: PROTOCOL_VERSION,
                max_frame: self.limits.frame_size,
            };
            return self.reply(index, to, id, &reply, Vec::new());
        }
        let outcome = match &request {
            Request::Hello { .. } => Err((Status::BadRequest, "hello was already done".into())),
            Request::Create(req) => match self.segments.create(&peer, req, &self.limits) {
                Ok((info, fds, held)) => {
                    let (name, geometry) = (&req.name, &req.geometry);
                    tracing::info!(%name, %geometry, uid = peer.uid, "created");
                    let fds = owned(fds);
                    conn.held.push(held);
                    Ok((Reply::Segment(info), fds))
                }
                Err(refusal) => Err(refusal),
            },
            Request::Open { name, role } => {
                let held = &conn.held;
                let first = |ring: &Arc<Mapped>| !held.iter().any(|h| Arc::ptr_eq(&h.ring, ring));
                match self.segments.open(&peer, name, *role, first) {
                    Ok((info, fds, h)) => {
                        tracing::debug!(%name, %role, pid = ?peer.pid, "opened");
                        let fds = owned(fds);
                        if !conn.held.iter().any(|x| Arc::ptr_eq(&x.ring, &h.ring)) {
                            conn.held.push(h);
                        }
                        Ok((Reply::Segment(info), fds))
                    }
                    Err(refusal) => Err(refusal),
                }
            }
            Request::Stat { name } => self
                .segments
                .stat(&peer, name)
                .map(|i| (Reply::Segment(i), Vec::new())),
            Request::List { offset } => {
                let (total, segments) = self.segments.list(&peer, *offset);
                Ok((Reply::List { total, segments }, Vec::new()))
            }
            Request::Subscribers { name } => self
                .segments
                .subscribers(&peer, name)
                .map(|list| (Reply::Subscribers(list), Vec::new())),
            Request::Unlink { name } => self.segments.unlink(&peer, name).map(|()| {
                tracing::info!(%name, uid = peer.uid, "unlinked");
                (Reply::Unlinked, Vec::new())
            }),
        };
        match outcome {
            Ok((reply, fds)) => {
                let wants_fds = matches!(to, MsgType::Create | MsgType::Open);
                if wants_fds && fds.len() != usize::from(protocol::SEGMENT_FDS) {
                    return self.send_error(
                        index,
                        to,
                        id,
                        Status::Internal,
                        "could not duplicate the descriptors",
                    );
                }
                self.reply(index, to, id, &reply, fds)
            }
            Err((status, why)) => self.send_error(index, to, id, status, &why),
        }
    }

    fn send_error(
        &mut self,
        index: usize,
        to: MsgType,
        id: u32,
        status: Status,
        why: &str,
    ) -> bool {
        let reply = Reply::Error {
            status,
            message: why.to_owned(),
        };
        self.reply(index, to, id, &reply, Vec::new())
    }

    /// Protocol abuse: one error reply if the socket takes it now, then
    /// the connection is closed.
    fn refuse_and_close(&mut self, index: usize, to: MsgType, id: u32, why: &str) {
        if let Some(conn) = self.conns[index].as_ref() {
            protocol::encode_error(&mut self.output, to, id, Status::BadRequest, why);
            let _ = fdpass::send_frame(&conn.fd, &self.output, &[], true);
        }
        self.close(index, why);
    }

    /// Encodes and sends a reply; if the socket is full the reply waits
    /// for `EPOLLOUT` and the connection is not read meanwhile.
    fn reply(
        &mut self,
        index: usize,
        to: MsgType,
        id: u32,
        reply: &Reply,
        fds: Vec<OwnedFd>,
    ) -> bool {
        let Some(conn) = self.conns[index].as_mut() else {
            return false;
        };
        protocol::encode_reply(&mut self.output, to, id, reply, fds.len() as u16);
        match fdpass::send_frame(&conn.fd, &self.output, &borrowed(&fds), true) {
            Ok(()) => true,
            Err(Errno::AGAIN) => {
                conn.pending = Some((self.output.clone(), fds));
                let token = CONN | index as u64;
                let flags = EventFlags::OUT | EventFlags::RDHUP;
                if epoll::modify(&self.epoll, &conn.fd, EventData::new_u64(token), flags).is_err() {
                    self.close(index, "epoll modify failed");
                }
                false
            }
            Err(e) => {
                self.close(index, &format!("send: {e}"));
                false
            }
        }
    }

    fn close(&mut self, index: usize, why: &str) {
        let Some(conn) = self.conns[index].take() else {
            return;
        };
        self.live -= 1;
        if let Some(n) = self.conns_by_uid.get_mut(&conn.peer.uid) {
            *n -= 1;
            if *n == 0 {
                self.conns_by_uid.remove(&conn.peer.uid);
            }
        }
        self.freed_this_batch.push(index);
        tracing::debug!(index, pid = ?conn.peer.pid, "client gone: {why}");
        // Out of the epoll set now (the closer thread closes it later,
        // with whatever is still in flight in it): the slot may be reused
        // after this batch.
        let _ = epoll::delete(&self.epoll, &conn.fd);
        // Asked of the socket before it goes: the process that connected,
        // whatever PID namespace it is in, and not a later one that was
        // given its pid.
        let pidfd = if conn.held.is_empty() {
            None
        } else {
            shmring::broker::peer_pidfd(&conn.fd).ok().flatten()
        };
        self.discard(conn.fd);
        if conn.held.is_empty() {
            return;
        }
        let mut rings = Vec::with_capacity(conn.held.len());
        for held in conn.held {
            self.segments.release(&held);
            // A holder already dead is reaped now (well, soon).
            self.queue_reap(Arc::clone(&held.ring));
            rings.push(held.ring);
        }
        self.watch_death(conn.peer.pid, pidfd, rings);
    }

    /// Hangs up a client's socket now (its peer sees end of file at
    /// once, whatever the closer thread is busy with) and has it closed
    /// off this thread: descriptors still in flight in it are released
    /// with it.
    fn discard(&self, socket: OwnedFd) {
        let _ = rustix::net::shutdown(&socket, rustix::net::Shutdown::Both);
        self.closer.close(vec![socket]);
    }

    /// Queues a reap of `ring` unless one is queued already.
    fn queue_reap(&mut self, ring: Arc<Mapped>) {
        if self.reaps_queued.insert(Arc::as_ptr(&ring) as usize) {
            self.reaps.push_back(ring);
        }
    }

    /// Reaps the oldest queued ring: one per turn of the loop, however
    /// costly a client made it, so that others are served in between.
    fn reap_one(&mut self) {
        let Some(ring) = self.reaps.pop_front() else {
            return;
        };
        self.reaps_queued.remove(&(Arc::as_ptr(&ring) as usize));
        let reaped = ring.reap_dead();
        if reaped > 0 {
            tracing::debug!(reaped, "dead endpoints reaped");
        }
        if ring.endpoints().is_empty() {
            // Nobody is attached: no death could leave anything to reap,
            // so no watch needs to keep it (and its memory, and its
            // owner's quota) any longer.
            self.unwatch(&ring);
        }
    }

    /// Drops `ring` from every watch; a watch left empty is closed.
    fn unwatch(&mut self, ring: &Arc<Mapped>) {
        for slot in &mut self.watches {
            let Some(watch) = slot else { continue };
            watch.rings.retain(|r| !Arc::ptr_eq(r, ring));
            if watch.rings.is_empty() {
                if let Some(pid) = watch.pid {
                    self.watch_by_pid.remove(&pid);
                }
                let _ = epoll::delete(&self.epoll, &watch.pidfd);
                *slot = None;
            }
        }
    }

    /// The process may still be exiting (its socket closes before it
    /// becomes a zombie), or may live on with its mappings: once its
    /// pidfd says it is gone, every ring it held is reaped again. Which
    /// rings it still has endpoints in is not asked here: a pid in a ring
    /// means nothing across PID namespaces, and `reap_dead` only ever
    /// reaps endpoints that are truly dead.
    ///
    /// `pidfd` is the one the socket named (`SO_PEERPIDFD`); without it
    /// (a kernel before 6.5) the pid is opened instead, which a client the
    /// daemon cannot see does not have: its rings are then left to the
    /// endpoints' own liveness checks.
    fn watch_death(&mut self, pid: Option<u32>, pidfd: Option<OwnedFd>, rings: Vec<Arc<Mapped>>) {
        if let Some(&w) = pid.and_then(|pid| self.watch_by_pid.get(&pid)) {
            let watch = self.watches[w].as_mut().expect("indexed watch exists");
            for ring in rings {
                if !watch.rings.iter().any(|r| Arc::ptr_eq(r, &ring)) {
                    watch.rings.push(ring);
                }
            }
            return;
        }
        let pidfd = pidfd.or_else(|| {
            Pid::from_raw(pid? as i32)
                .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok())
        });
        let Some(pidfd) = pidfd else {
            // Gone already (its rings are queued for reaping), or, on a
            // kernel before 6.5, a process this daemon cannot see.
            return;
        };
        let index = match self.watches.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.watches.push(None);
                self.watches.len() - 1
            }
        };
        if add(&self.epoll, &pidfd, WATCH | index as u64, EventFlags::IN).is_err() {
            return;
        }
        if let Some(pid) = pid {
            self.watch_by_pid.insert(pid, index);
        }
        self.watches[index] = Some(Watch { pidfd, pid, rings });
    }

    fn watch_fired(&mut self, index: usize) {
        let Some(watch) = self.watches.get_mut(index).and_then(Option::take) else {
            return;
        };
        if let Some(pid) = watch.pid {
            self.watch_by_pid.remove(&pid);
        }
        tracing::debug!(
            pid = ?watch.pid,
            rings = watch.rings.len(),
            "client process exited"
        );
        for ring in watch.rings {
            self.queue_reap(ring);
        }
    }
}

/// Receives one request like [`fdpass::recv_frame`], but with room for
/// every descriptor a message can carry ([`SCM_MAX_FD`]), so that they
/// are closed on the closer thread: the caller hands over those of a
/// request it got, this function those of a record it refuses. While the
/// closer thread is far behind there is no room at all (the kernel then
/// drops them here, on its way back from `recvmsg`): slow, but our
/// descriptor table stays bounded.
fn recv_request(
    socket: &OwnedFd,
    buf: &mut [u8],
    closer: &Closer,
) -> Result<fdpass::Received, RecvFrameError> {
    let room = !closer.behind();
    let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC | RecvFlags::DONTWAIT;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(SCM_MAX_FD))];
    let space = if room {
        &mut space[..]
    } else {
        &mut space[..0]
    };
    // Dropping the buffer closes every descriptor not taken out of it.
    let mut control = RecvAncillaryBuffer::new(space);
    let buf_len = buf.len();
    let msg = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(&mut *buf)],
            &mut control,
            flags,
        ) {
            Ok(msg) => break msg,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(RecvFrameError::WouldBlock),
            Err(e) => return Err(RecvFrameError::Io(e.into())),
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    let truncated = msg.flags.contains(ReturnFlags::CTRUNC);
    if msg.bytes == 0 && fds.is_empty() && !truncated {
        return Err(RecvFrameError::Closed);
    }
    if msg.flags.contains(ReturnFlags::TRUNC) || msg.bytes > buf_len {
        closer.close(fds);
        return Err(RecvFrameError::TooLong);
    }
    if truncated {
        // Not all installed (no room, or out of descriptors).
        closer.close(fds);
        return Err(RecvFrameError::ControlTruncated);
    }
    Ok(fdpass::Received {
        len: msg.bytes,
        fds,
    })
}

/// Duplicates descriptors for a reply; empty if any duplicate failed
/// (out of descriptors), which the caller reports.
fn owned(fds: [BorrowedFd<'_>; 3]) -> Vec<OwnedFd> {
    fds.iter()
        .map(|fd| fd.try_clone_to_owned())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

fn borrowed(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(|fd| fd.as_fd()).collect()
}
