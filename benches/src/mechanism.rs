//! The rows of the report: every way of moving a message that is measured.

use std::fmt;

/// A message-passing mechanism, one row (per size and pattern) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Two processes bouncing one cache line: two atomics, nothing else.
    Limit,
    /// The limit for a size: two processes bouncing `size` bytes plus an
    /// 8-byte sequence word (payload first, sequence last with Release;
    /// the other side spins on the sequence, then reads the payload).
    LimitSized,
    /// Single-threaded `memcpy` of each message into a ring-sized buffer:
    /// the bandwidth ceiling for moving bytes once.
    Memcpy,
    /// shmring SPSC, both sides busy-spinning.
    SpscSpin,
    /// shmring SPSC, spin then park on a futex (the default).
    SpscSpinPark,
    /// shmring SPSC, park at once.
    SpscPark,
    /// shmring SPSC through `reserve`/`commit` and the receive guard.
    SpscZeroCopy,
    /// shmring MPMC (one sender, one receiver), spin then park.
    Mpmc,
    /// shmring MPMC through `reserve`/`commit` and the receive guard.
    MpmcZeroCopy,
    /// shmring publish/subscribe, lossless, one subscriber, spin then park.
    PubSub,
    /// shmring publish/subscribe, lossless, through `reserve`/`commit` and
    /// the receive guard.
    PubSubZeroCopy,
    /// shmring publish/subscribe, lossy (seqlock slots: each message is
    /// copied out and validated), one subscriber, spin then park.
    PubSubLossy,
    /// Anonymous pipe.
    Pipe,
    /// Named pipe (`mkfifo`).
    Fifo,
    /// UNIX stream socket pair.
    UnixStream,
    /// UNIX seqpacket socket pair.
    UnixSeqpacket,
    /// POSIX message queue.
    PosixMq,
    /// System V message queue.
    SysvMq,
    /// Slots in shared memory, handed over with eventfd counters.
    EventfdShm,
    /// crossbeam-channel between two threads of one process.
    CrossbeamChannel,
    /// shmring SPSC, each side waiting in `epoll_wait` on its endpoint's
    /// descriptor (`try_recv` until empty, then wait).
    SpscEpoll,
    /// shmring MPMC (one sender, one receiver), waiting as [`Mechanism::SpscEpoll`].
    MpmcEpoll,
    /// Anonymous pipe, each side waiting in `epoll_wait` before `read`.
    PipeEpoll,
    /// eventfd + shared memory, each side waiting in `epoll_wait` on its
    /// eventfd before reading it.
    EventfdEpoll,
    /// tokio: shmring SPSC rings through `readiness::tokio` (AsyncFd),
    /// one task on each of two current-thread runtimes (two threads).
    TokioSpsc,
    /// tokio: a `UnixStream::pair`, fixed-size frames, arranged as
    /// [`Mechanism::TokioSpsc`].
    TokioUnixStream,
    /// tokio: `tokio::sync::mpsc` of owned buffers, arranged as
    /// [`Mechanism::TokioSpsc`].
    TokioMpsc,
    /// tokio: shmring SPSC rings through `readiness::tokio`, two tasks of
    /// one multi-thread runtime (two workers).
    TokioMtSpsc,
    /// tokio: a `UnixStream::pair`, arranged as [`Mechanism::TokioMtSpsc`].
    TokioMtUnixStream,
    /// tokio: `tokio::sync::mpsc`, arranged as [`Mechanism::TokioMtSpsc`].
    TokioMtMpsc,
    /// ringfire 0.5: its shared-memory SPSC ring of fixed-size records
    /// (`RingProducer::push`, `RingConsumer::try_recv`), busy-polling
    /// (feature `peers`).
    Ringfire,
    /// iceoryx2 0.10 publish-subscribe of byte slices, spinning on
    /// `Subscriber::receive` (feature `peers`).
    Iceoryx2,
    /// iceoryx2 0.10 publish-subscribe, the receiver sleeping in an event
    /// `Listener` that the sender's `Notifier` wakes (feature `peers`).
    Iceoryx2Event,
    /// rtrb 0.4 byte ring between two threads of one process: whole
    /// messages pushed as slices, read in place (feature `peers`).
    Rtrb,
    /// A TCP connection over loopback (127.0.0.1), `TCP_NODELAY` on both
    /// ends, fixed-size frames read whole (measured with feature `bridge`).
    TcpLoopback,
    /// zenoh 1.10 publish/subscribe used directly between the two
    /// processes: peer mode over tcp/127.0.0.1, one publisher and one
    /// subscriber each way (feature `bridge`).
    ZenohDirect,
    /// shmring rings bridged over zenoh: ring → shmring-bridge → zenoh →
    /// shmring-bridge → ring in the other process, and back (feature
    /// `bridge`).
    ShmringBridge,
}

use Mechanism::*;

impl Mechanism {
    /// Rows of the latency bench, the physical limit first.
    pub const LATENCY: [Mechanism; 20] = [
        Limit,
        LimitSized,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        Mpmc,
        PubSub,
        PubSubLossy,
        Pipe,
        Fifo,
        UnixStream,
        UnixSeqpacket,
        PosixMq,
        SysvMq,
        EventfdShm,
        CrossbeamChannel,
        SpscEpoll,
        MpmcEpoll,
        PipeEpoll,
        EventfdEpoll,
    ];

    /// Latency rows whose sides wait in `epoll_wait`, compared with
    /// [`EPOLL_BASELINES`](Self::EPOLL_BASELINES) as well as the limit.
    pub const EPOLL: [Mechanism; 4] = [SpscEpoll, MpmcEpoll, PipeEpoll, EventfdEpoll];

    /// What an epoll row is compared with: the kernel's own, waiting the
    /// same way.
    pub const EPOLL_BASELINES: [Mechanism; 2] = [PipeEpoll, EventfdEpoll];

    /// Latency rows between two tokio tasks (feature `tokio`), measured
    /// at [`TOKIO_SIZE`](Self::TOKIO_SIZE) only: each transport on two
    /// current-thread runtimes (one per CPU), then on one multi-thread
    /// runtime.
    pub const TOKIO: [Mechanism; 6] = [
        TokioSpsc,
        TokioUnixStream,
        TokioMpsc,
        TokioMtSpsc,
        TokioMtUnixStream,
        TokioMtMpsc,
    ];

    /// The one message size of the tokio rows.
    pub const TOKIO_SIZE: usize = 64;

    /// The peer libraries' rows (feature `peers`), in the latency and the
    /// throughput bench alike.
    pub const PEERS: [Mechanism; 4] = [Ringfire, Iceoryx2, Iceoryx2Event, Rtrb];

    /// The bridge rows (feature `bridge`), in the latency and the
    /// throughput bench alike, measured at [`BRIDGE_SIZE`](Self::BRIDGE_SIZE)
    /// only, one after the other, and each compared with the first two.
    pub const BRIDGE: [Mechanism; 3] = [TcpLoopback, ZenohDirect, ShmringBridge];

    /// The one message size of the bridge rows.
    pub const BRIDGE_SIZE: usize = 64;

    /// Rows of the throughput bench, the memcpy ceiling first.
    pub const THROUGHPUT: [Mechanism; 17] = [
        Memcpy,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        SpscZeroCopy,
        Mpmc,
        MpmcZeroCopy,
        PubSub,
        PubSubZeroCopy,
        Pipe,
        Fifo,
        UnixStream,
        UnixSeqpacket,
        PosixMq,
        SysvMq,
        EventfdShm,
        CrossbeamChannel,
    ];

    /// Every mechanism.
    pub const ALL: [Mechanism; 37] = [
        Limit,
        LimitSized,
        Memcpy,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        SpscZeroCopy,
        Mpmc,
        MpmcZeroCopy,
        PubSub,
        PubSubZeroCopy,
        PubSubLossy,
        Pipe,
        Fifo,
        UnixStream,
        UnixSeqpacket,
        PosixMq,
        SysvMq,
        EventfdShm,
        CrossbeamChannel,
        SpscEpoll,
        MpmcEpoll,
        PipeEpoll,
        EventfdEpoll,
        TokioSpsc,
        TokioUnixStream,
        TokioMpsc,
        TokioMtSpsc,
        TokioMtUnixStream,
        TokioMtMpsc,
        Ringfire,
        Iceoryx2,
        Iceoryx2Event,
        Rtrb,
        TcpLoopback,
        ZenohDirect,
        ShmringBridge,
    ];

    /// Short name, used on the peer's command line and in report.json.
    pub fn key(self) -> &'static str {
        match self {
            Limit => "limit",
            LimitSized => "limit-sized",
            Memcpy => "memcpy",
            SpscSpin => "spsc-spin",
            SpscSpinPark => "spsc-spin-park",
            SpscPark => "spsc-park",
            SpscZeroCopy => "spsc-zero-copy",
            Mpmc => "mpmc",
            MpmcZeroCopy => "mpmc-zero-copy",
            PubSub => "pubsub",
            PubSubZeroCopy => "pubsub-zero-copy",
            PubSubLossy => "pubsub-lossy",
            Pipe => "pipe",
            Fifo => "fifo",
            UnixStream => "unix-stream",
            UnixSeqpacket => "unix-seqpacket",
            PosixMq => "posix-mq",
            SysvMq => "sysv-mq",
            EventfdShm => "eventfd-shm",
            CrossbeamChannel => "crossbeam-channel",
            SpscEpoll => "spsc-epoll",
            MpmcEpoll => "mpmc-epoll",
            PipeEpoll => "pipe-epoll",
            EventfdEpoll => "eventfd-shm-epoll",
            TokioSpsc => "tokio-spsc",
            TokioUnixStream => "tokio-unix-stream",
            TokioMpsc => "tokio-mpsc",
            TokioMtSpsc => "tokio-mt-spsc",
            TokioMtUnixStream => "tokio-mt-unix-stream",
            TokioMtMpsc => "tokio-mt-mpsc",
            Ringfire => "ringfire",
            Iceoryx2 => "iceoryx2",
            Iceoryx2Event => "iceoryx2-event",
            Rtrb => "rtrb",
            TcpLoopback => "tcp-loopback",
            ZenohDirect => "zenoh-direct",
            ShmringBridge => "shmring-bridge",
        }
    }

    /// The mechanism named `key`.
    pub fn from_key(key: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.key() == key)
    }

    /// What a reader of the table sees.
    pub fn label(self) -> &'static str {
        match self {
            Limit => "physical limit (cache-line ping-pong)",
            LimitSized => "limit for this size (payload + sequence word)",
            Memcpy => "memcpy, one thread (ceiling)",
            SpscSpin => "shmring SPSC, busy-spin",
            SpscSpinPark => "shmring SPSC, spin-then-park",
            SpscPark => "shmring SPSC, park",
            SpscZeroCopy => "shmring SPSC, zero-copy",
            Mpmc => "shmring MPMC",
            MpmcZeroCopy => "shmring MPMC, zero-copy",
            PubSub => "shmring pub/sub, lossless, 1 subscriber",
            PubSubZeroCopy => "shmring pub/sub, lossless, zero-copy",
            PubSubLossy => "shmring pub/sub, lossy, 1 subscriber",
            Pipe => "pipe",
            Fifo => "FIFO (mkfifo)",
            UnixStream => "UNIX stream socket",
            UnixSeqpacket => "UNIX seqpacket socket",
            PosixMq => "POSIX message queue",
            SysvMq => "System V message queue",
            EventfdShm => "eventfd + shared memory",
            CrossbeamChannel => "crossbeam-channel (threads)",
            SpscEpoll => "shmring SPSC, epoll_wait",
            MpmcEpoll => "shmring MPMC, epoll_wait",
            PipeEpoll => "pipe + epoll",
            EventfdEpoll => "eventfd + shared memory + epoll",
            TokioSpsc => "tokio, 2 runtimes: shmring SPSC (AsyncFd)",
            TokioUnixStream => "tokio, 2 runtimes: UNIX socket pair",
            TokioMpsc => "tokio, 2 runtimes: sync::mpsc",
            TokioMtSpsc => "tokio, multi-thread: shmring SPSC (AsyncFd)",
            TokioMtUnixStream => "tokio, multi-thread: UNIX socket pair",
            TokioMtMpsc => "tokio, multi-thread: sync::mpsc",
            Ringfire => "ringfire 0.5 SPSC ring, busy-poll",
            Iceoryx2 => "iceoryx2 0.10 publish-subscribe, spinning",
            Iceoryx2Event => "iceoryx2 0.10 publish-subscribe + event listener",
            Rtrb => "rtrb 0.4 (threads)",
            TcpLoopback => "TCP socket pair (loopback)",
            ZenohDirect => "zenoh 1.10 direct (pub/sub over loopback TCP)",
            ShmringBridge => "shmring bridge (ring → zenoh → ring)",
        }
    }

    /// Whether the second side is a thread of the bench process (no peer
    /// process is spawned).
    pub fn in_process(self) -> bool {
        matches!(self, Memcpy | CrossbeamChannel | Rtrb) || self.is_tokio()
    }

    /// What to know when reading this row's numbers, if anything.
    pub fn note(self) -> Option<&'static str> {
        match self {
            TokioSpsc | TokioUnixStream | TokioMpsc => Some(
                "one process: one task on each of two current-thread runtimes, \
                 each on its own thread pinned to its own CPU",
            ),
            TokioMtSpsc | TokioMtUnixStream | TokioMtMpsc => Some(
                "one process: two tasks of one multi-thread runtime (2 workers, one pinned \
                 to each CPU); tokio runs them on one worker or on both, which moves p50 \
                 between runs",
            ),
            Ringfire => Some(
                "fixed-size records ([u8; size], a type per size), copied in by push and out \
                 by try_recv; round trips use its default LatestWins ring (one message in \
                 flight, nothing to overwrite); the stream uses LosslessBackpressure (the \
                 writer waits for the registered reader), since LatestWins overwrites a slow \
                 reader: the sink checks every sequence number and a lap fails the row",
            ),
            Iceoryx2 | Iceoryx2Event => Some(
                "[u8] slices: loan_slice_uninit + write_from_slice + send, receive read in \
                 place; safe overflow off and RetryUntilDelivered, so the stream cannot lose \
                 a message (the sink checks every sequence number)",
            ),
            Rtrb => Some(
                "one process, two pinned threads: RingBuffer<u8>, push_entire_slice in, \
                 read_chunk read in place (the in-process reference)",
            ),
            PubSub | PubSubZeroCopy | PubSubLossy => Some(
                "one subscriber in a ring made for 64 (the default table); spin then park, \
                 like the SPSC row it is compared with",
            ),
            LimitSized => Some(
                "size bytes + an 8-byte sequence word each way, on their own lines: the \
                 floor for a ring carrying that many bytes with an in-band marker",
            ),
            TcpLoopback => Some(
                "one TCP connection over 127.0.0.1, TCP_NODELAY on both ends, blocking \
                 write and read of whole frames",
            ),
            ZenohDirect => Some(
                "zenoh 1.10 sync API, peer mode, multicast scouting off, the bench's session \
                 listening on tcp/127.0.0.1 and the peer's connecting; round trip: express, \
                 CongestionControl::Block, each way; stream: Block, default batching (batches \
                 up to 65535 B, time limit 1 ms, 2 batches per priority queue); subscribers \
                 read through the default FIFO handler (256 samples), payload read in place",
            ),
            ShmringBridge => Some(
                "bench → SPSC ring → shmring-bridge (bench process) → zenoh → shmring-bridge \
                 (peer process) → SPSC ring → peer, and back the same way; zenoh as in the \
                 zenoh direct row (round trip: --out/--in ?express; stream: default \
                 batching); rings 1 MiB, the application's ends and the bridges' park (no spinning)",
            ),
            _ => None,
        }
    }

    /// The delivery policy of a publish/subscribe row, `None` for any
    /// other mechanism.
    pub fn delivery(self) -> Option<shmring::Delivery> {
        match self {
            PubSub | PubSubZeroCopy => Some(shmring::Delivery::Lossless),
            PubSubLossy => Some(shmring::Delivery::Lossy),
            _ => None,
        }
    }

    /// Whether this is a peer library's row (feature `peers`).
    pub fn is_peer(self) -> bool {
        Mechanism::PEERS.contains(&self)
    }

    /// Whether this is one of the bridge rows (feature `bridge`).
    pub fn is_bridge(self) -> bool {
        Mechanism::BRIDGE.contains(&self)
    }

    /// Whether both sides are tasks of a tokio runtime.
    pub fn is_tokio(self) -> bool {
        Mechanism::TOKIO.contains(&self)
    }

    /// The rows this one is also compared with (p50 over theirs, same
    /// size and pattern, same run), beside the physical limit: the kernel
    /// baselines of its group.
    pub fn baselines(self) -> &'static [Mechanism] {
        match self {
            SpscEpoll | MpmcEpoll | PipeEpoll | EventfdEpoll => &Mechanism::EPOLL_BASELINES,
            TokioSpsc | TokioUnixStream | TokioMpsc => &[TokioUnixStream],
            TokioMtSpsc | TokioMtUnixStream | TokioMtMpsc => &[TokioMtUnixStream],
            // The targets: the SPSC row waiting the same way, and
            // the peers' (ringfire's ring, iceoryx2 publish-subscribe).
            PubSub | PubSubLossy => &[SpscSpinPark, SpscSpin, Ringfire, Iceoryx2],
            PubSubZeroCopy => &[SpscZeroCopy],
            // The targets: the bridge next to zenoh used directly
            // (≤ 1.2× round trip, ≥ 0.8× stream) and next to TCP; the two
            // baselines carry the same columns (zenoh direct 1.00× itself).
            TcpLoopback | ZenohDirect | ShmringBridge => &[ZenohDirect, TcpLoopback],
            _ => &[],
        }
    }

    /// Why this mechanism cannot carry `size`-byte messages at all, when
    /// that is known without trying (limits found by trying are reported
    /// by the link setup).
    pub fn cannot_carry(self, size: usize) -> Option<String> {
        match self {
            Limit if size != 8 => Some("carries one 8-byte word, nothing else".into()),
            Ringfire if !crate::link::RECORD_SIZES.contains(&size) => Some(format!(
                "ringfire carries fixed-size records (T: Copy, moved by value), one type per \
                 size; this bench builds {:?} bytes (larger by-value records stall the \
                 release build and the stack)",
                crate::link::RECORD_SIZES
            )),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
