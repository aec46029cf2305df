//! The rows of the report: every way of moving a message that is measured.

use std::fmt;

/// A message-passing mechanism, one row (per size and pattern) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// Two processes bouncing one cache line: two atomics, nothing else.
    Limit,
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
}

use Mechanism::*;

impl Mechanism {
    /// Rows of the latency bench, the physical limit first.
    pub const LATENCY: [Mechanism; 13] = [
        Limit,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        Mpmc,
        Pipe,
        Fifo,
        UnixStream,
        UnixSeqpacket,
        PosixMq,
        SysvMq,
        EventfdShm,
        CrossbeamChannel,
    ];

    /// Rows of the throughput bench, the memcpy ceiling first.
    pub const THROUGHPUT: [Mechanism; 15] = [
        Memcpy,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        SpscZeroCopy,
        Mpmc,
        MpmcZeroCopy,
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
    pub const ALL: [Mechanism; 16] = [
        Limit,
        Memcpy,
        SpscSpin,
        SpscSpinPark,
        SpscPark,
        SpscZeroCopy,
        Mpmc,
        MpmcZeroCopy,
        Pipe,
        Fifo,
        UnixStream,
        UnixSeqpacket,
        PosixMq,
        SysvMq,
        EventfdShm,
        CrossbeamChannel,
    ];

    /// Short name, used on the peer's command line and in report.json.
    pub fn key(self) -> &'static str {
        match self {
            Limit => "limit",
            Memcpy => "memcpy",
            SpscSpin => "spsc-spin",
            SpscSpinPark => "spsc-spin-park",
            SpscPark => "spsc-park",
            SpscZeroCopy => "spsc-zero-copy",
            Mpmc => "mpmc",
            MpmcZeroCopy => "mpmc-zero-copy",
            Pipe => "pipe",
            Fifo => "fifo",
            UnixStream => "unix-stream",
            UnixSeqpacket => "unix-seqpacket",
            PosixMq => "posix-mq",
            SysvMq => "sysv-mq",
            EventfdShm => "eventfd-shm",
            CrossbeamChannel => "crossbeam-channel",
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
            Memcpy => "memcpy, one thread (ceiling)",
            SpscSpin => "shmring SPSC, busy-spin",
            SpscSpinPark => "shmring SPSC, spin-then-park",
            SpscPark => "shmring SPSC, park",
            SpscZeroCopy => "shmring SPSC, zero-copy",
            Mpmc => "shmring MPMC",
            MpmcZeroCopy => "shmring MPMC, zero-copy",
            Pipe => "pipe",
            Fifo => "FIFO (mkfifo)",
            UnixStream => "UNIX stream socket",
            UnixSeqpacket => "UNIX seqpacket socket",
            PosixMq => "POSIX message queue",
            SysvMq => "System V message queue",
            EventfdShm => "eventfd + shared memory",
            CrossbeamChannel => "crossbeam-channel (threads)",
        }
    }

    /// Whether the second side is a thread of the bench process (no peer
    /// process is spawned).
    pub fn in_process(self) -> bool {
        matches!(self, Memcpy | CrossbeamChannel)
    }

    /// Why this mechanism cannot carry `size`-byte messages at all, when
    /// that is known without trying (limits found by trying are reported
    /// by the link setup).
    pub fn cannot_carry(self, size: usize) -> Option<String> {
        match self {
            Limit if size != 8 => Some("carries one 8-byte word, nothing else".into()),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
