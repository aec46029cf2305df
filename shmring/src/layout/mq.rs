//! The POSIX message queue's segment: header, control block, waiting
//! lines, notification line and message slots.
//!
//! | offset | size | content                                                   |
//! |-------:|-----:|-----------------------------------------------------------|
//! |      0 |  128 | header (below)                                            |
//! |    128 |  128 | control: the lock word at 128, list words at 176 (below)  |
//! |    256 |  128 | `not_empty` waiting line: receivers wait here             |
//! |    384 |  128 | `not_full` waiting line: senders wait here                |
//! |    512 |  128 | notification line                                         |
//! |    640 | 8192 | presence table: 1024 entries of 8 bytes                   |
//! |   8832 | n·stride | slots                                                |
//!
//! Header: magic `SHMRNGMQ` at 0, layout version (u32) at 8, layout hash
//! (u64) at 16, segment size at 24, `mq_maxmsg` at 32, `mq_msgsize` at
//! 40, slot stride at 48 (all u64); the queue's mode bits at 56, owner
//! uid at 60, owner gid at 64 (u32); the readiness FIFO's id (u64) at
//! 72 (`r/<id in hex>` beside the queues); init state (u32) at 120, written
//! last with Release (0: being made, 1: ready).
//!
//! Control: the lock word (u32) at 128 (`mq/lock.rs`); every other word
//! is guarded by the lock: `head` 176, `tail` 180, `count` 184, `free`
//! 188 (slot indices, [`NIL`] for none), `next_seq` (u64) 192,
//! `watched` (u32) 200: 1 once a descriptor of the queue has been handed
//! to `poll`, `select` or `epoll`; from then on the readiness FIFO holds
//! one byte exactly while `count` is not zero (before, it is not kept,
//! and a message costs no system call); the `waiters` of `not_empty`
//! (u32) at 204 and of `not_full` at 208: callers blocked in the call
//! (spinning or asleep), which is what POSIX's "a receiver is waiting"
//! means for `mq_notify`. They sit with the lock that guards them, so a
//! waker reads them without pulling the line its waiters spin on.
//! `anonymous_receivers` (u32) at 212: blocked receivers of processes
//! that found the presence table full.
//!
//! A waiting line (`not_empty` at 256, `not_full` at 384): `epoch` (u32)
//! at +0, the futex word, bumped under the lock whenever a waiter
//! should look again (waiters spin on it, then sleep on it); `sleepers`
//! (u32) at +4, threads inside `futex_wait` or about to be.
//!
//! Notification line (512): `token` (u64) at 512, the registration's
//! random id, 0 for none (lock); `fired` (u64) at 520, the token of the
//! last registration fired (lock); `fire_epoch` (u32) at 528, the futex
//! word the registrant's helper thread waits on; sender pid at 532 and
//! uid at 536 (u32) of the message that fired it.
//!
//! A presence entry (entry `i` at `640 + 8·i`; `mq/presence.rs`):
//! `claimed` (u32) at +0, 1 while a process holds it for one of its open
//! descriptions of the queue; `receivers` (u32) at +4 (lock), how many of
//! the blocked receivers are its. Its holder keeps byte
//! [`PRESENCE_LOCK_BASE`]` + i` of the segment file locked (OFD), so a
//! holder that died is found (`is_locked` says no): the lock word names
//! its holder by entry (`i + 1`), and a receiver killed while blocked
//! must not keep `mq_notify` from firing.
//!
//! A slot (`stride = round_up(32 + mq_msgsize, 64)`):
//!
//! | offset | size | field                                           |
//! |-------:|-----:|-------------------------------------------------|
//! |      0 |    4 | state: 0 free, 1 queued (the commit point)      |
//! |      4 |    4 | priority (below [`PRIORITIES`])                 |
//! |      8 |    8 | length                                          |
//! |     16 |    8 | sequence number (FIFO order within a priority)  |
//! |     24 |    4 | next slot in its list                           |
//! |     32 | msgsize | payload                                      |
//!
//! The slots' states and contents are the truth; the sorted list, the
//! free list and `count` are derived from them, and rebuilt
//! (`ring/priority.rs`) when a holder died with the lock or a word is
//! found out of range.
//!
//! Nothing read from shared memory is ever used as a pointer.

use super::header::INIT_READY;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// First eight bytes of a queue segment.
pub(crate) const MAGIC: [u8; 8] = *b"SHMRNGMQ";
/// Bumped on any incompatible change.
pub(crate) const LAYOUT_VERSION: u32 = 1;
/// Layout hash of the queue segment.
pub(crate) const LAYOUT_HASH: u64 = super::fnv1a(
    b"mq/v1 header{magic:8,version:u32@8,hash:u64@16,size@24,maxmsg@32,msgsize@40,stride@48:u64,\
      mode@56,uid@60,gid@64:u32,ready_id@72:u64,init@120:u32} control@128{lock:u32,head@176,tail,count,free:u32,seq@192:u64,watched@200,waiters_not_empty@204,waiters_not_full@208,anonymous_receivers@212:u32} \
      not_empty@256{epoch,sleepers:u32} not_full@384{epoch,sleepers:u32} \
      notify@512{token:u64,fired@520:u64,fire_epoch@528,sender_pid@532,sender_uid@536:u32} \
      presence@640[1024]{claimed,receivers:u32} slots@8832{state:u32,prio:u32,len:u64,seq:u64,next:u32,payload@32}:round64(32+msgsize)",
);
/// No slot.
pub(crate) const NIL: u32 = u32::MAX;
/// Offset of the presence table.
pub(crate) const PRESENCE_OFFSET: u64 = 640;
/// Entries in the presence table.
pub(crate) const PRESENCE_ENTRIES: u32 = 1024;
/// The segment file's byte locked by the holder of presence entry 0
/// (entry `i`: this + `i`), far beyond the file's end.
pub(crate) const PRESENCE_LOCK_BASE: u64 = 1 << 40;
/// The segment file's bytes a notification's registrant holds one of
/// locked: this + the low 16 bits of its token. A new registrant picks a
/// token whose byte is free, so it need not wait for the helper of a
/// fired registration to let go of its own.
pub(crate) const NOTIFY_LOCK_BASE: u64 = (1 << 40) - (1 << 16);

/// The lock byte of registration `token`.
pub(crate) const fn notify_lock_byte(token: u64) -> u64 {
    NOTIFY_LOCK_BASE + (token & 0xffff)
}
/// Offset of the slots.
pub(crate) const SLOTS_OFFSET: u64 = PRESENCE_OFFSET + 8 * PRESENCE_ENTRIES as u64;
/// Bytes before a slot's payload.
pub(crate) const SLOT_HEADER: u64 = 32;
/// Slot state: free.
pub(crate) const FREE: u32 = 0;
/// Slot state: holds a queued message.
pub(crate) const QUEUED: u32 = 1;
/// Priorities run from 0 to this, exclusive (Linux's `MQ_PRIO_MAX`): a
/// queued slot whose priority word says more was written by a peer, not
/// by a sender.
pub(crate) const PRIORITIES: u32 = 32_768;
/// Most messages a queue holds (Linux's `HARD_MSGMAX`).
pub(crate) const MAX_MESSAGES: u64 = 65_536;
/// Largest message (Linux's `HARD_MSGSIZEMAX`).
pub(crate) const MAX_MESSAGE_SIZE: u64 = 16 << 20;
/// Where the init state lives.
const INIT_STATE: usize = 120;

/// Bytes per slot for messages of up to `msgsize` bytes.
pub(crate) const fn stride(msgsize: u64) -> u64 {
    (SLOT_HEADER + msgsize).div_ceil(64) * 64
}

/// What the header says, read once and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueShape {
    pub(crate) max_messages: u64,
    pub(crate) message_size: u64,
    pub(crate) stride: u64,
    pub(crate) segment_size: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl QueueShape {
    /// The shape of a new queue, or `None` if `max_messages` or
    /// `message_size` is out of range.
    pub(crate) fn new(
        max_messages: u64,
        message_size: u64,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Option<QueueShape> {
        if !(1..=MAX_MESSAGES).contains(&max_messages)
            || !(1..=MAX_MESSAGE_SIZE).contains(&message_size)
        {
            return None;
        }
        let stride = stride(message_size);
        Some(QueueShape {
            max_messages,
            message_size,
            stride,
            segment_size: SLOTS_OFFSET + max_messages * stride,
            mode: mode & 0o777,
            uid,
            gid,
        })
    }
}

/// Why a segment is not a queue this build can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShapeProblem {
    /// The creator has not finished (or died before it did).
    NotReady,
    /// Not a queue, another layout, or inconsistent geometry.
    Invalid,
}

/// The words of a mapped queue segment. Every accessor computes an
/// offset inside the `len` bytes checked at construction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueWords {
    base: *mut u8,
    len: u64,
}

#[allow(unsafe_code)]
// SAFETY: the pointer is into a shared mapping whose words are all
// accessed atomically; the owner of
// the mapping keeps it alive while any copy of this is used.
unsafe impl Send for QueueWords {}
#[allow(unsafe_code)]
// SAFETY: as above.
unsafe impl Sync for QueueWords {}

/// A waiting line's words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitLine<'a> {
    pub(crate) epoch: &'a AtomicU32,
    pub(crate) sleepers: &'a AtomicU32,
    pub(crate) waiters: &'a AtomicU32,
}

/// One slot's header words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotWords<'a> {
    pub(crate) state: &'a AtomicU32,
    pub(crate) prio: &'a AtomicU32,
    pub(crate) len: &'a AtomicU64,
    pub(crate) seq: &'a AtomicU64,
    pub(crate) next: &'a AtomicU32,
}

#[allow(unsafe_code)]
impl QueueWords {
    /// The words of a mapping of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base` is 64-byte aligned and valid for reads and writes of `len`
    /// bytes for as long as the result (or a copy) is used, and the
    /// memory is only ever accessed atomically, through these accessors.
    pub(crate) unsafe fn new(base: *mut u8, len: u64) -> QueueWords {
        // Every fixed word lies below the slots: checked once here, so
        // their accessors need no check of their own.
        assert!(
            len >= SLOTS_OFFSET && base as usize % 64 == 0,
            "not a queue mapping"
        );
        QueueWords { base, len }
    }

    /// The word at `off`: a fixed offset below [`SLOTS_OFFSET`], or one
    /// inside a slot that [`slot_offset`](Self::slot_offset) checked.
    #[inline(always)]
    fn u32_at(&self, off: u64) -> &AtomicU32 {
        debug_assert!(
            off % 4 == 0 && off + 4 <= self.len,
            "offset {off} out of the mapping"
        );
        // SAFETY: aligned and inside the mapping (every caller's offset is
        // below SLOTS_OFFSET <= len, checked in `new`, or inside a checked
        // slot); the constructor's contract covers the rest.
        unsafe { &*self.base.add(off as usize).cast::<AtomicU32>() }
    }

    /// As [`u32_at`](Self::u32_at), for a 64-bit word.
    #[inline(always)]
    fn u64_at(&self, off: u64) -> &AtomicU64 {
        debug_assert!(
            off % 8 == 0 && off + 8 <= self.len,
            "offset {off} out of the mapping"
        );
        // SAFETY: as in `u32_at`.
        unsafe { &*self.base.add(off as usize).cast::<AtomicU64>() }
    }

    /// Writes the header of a new queue (not yet ready).
    pub(crate) fn write_header(&self, shape: &QueueShape) {
        for (i, byte) in MAGIC.chunks(4).enumerate() {
            let word = u32::from_ne_bytes([byte[0], byte[1], byte[2], byte[3]]);
            // Relaxed: published by the Release store in `publish_ready`.
            self.u32_at(4 * i as u64).store(word, Ordering::Relaxed);
        }
        self.u32_at(8).store(LAYOUT_VERSION, Ordering::Relaxed);
        self.u64_at(16).store(LAYOUT_HASH, Ordering::Relaxed);
        self.u64_at(24).store(shape.segment_size, Ordering::Relaxed);
        self.u64_at(32).store(shape.max_messages, Ordering::Relaxed);
        self.u64_at(40).store(shape.message_size, Ordering::Relaxed);
        self.u64_at(48).store(shape.stride, Ordering::Relaxed);
        self.u32_at(56).store(shape.mode, Ordering::Relaxed);
        self.u32_at(60).store(shape.uid, Ordering::Relaxed);
        self.u32_at(64).store(shape.gid, Ordering::Relaxed);
    }

    /// The id of the queue's readiness FIFO (written before it is ready).
    #[inline]
    pub(crate) fn ready_id(&self) -> &AtomicU64 {
        self.u64_at(72)
    }

    /// Marks the queue ready. Release: pairs with the Acquire load in
    /// [`QueueWords::read_shape`], so an opener that sees it ready sees
    /// the header, the lock word and the empty lists.
    pub(crate) fn publish_ready(&self) {
        self.u32_at(INIT_STATE as u64)
            .store(INIT_READY, Ordering::Release);
    }

    /// Reads and checks the header of a segment of `self.len` bytes.
    pub(crate) fn read_shape(&self) -> Result<QueueShape, ShapeProblem> {
        if self.len < SLOTS_OFFSET {
            return Err(ShapeProblem::NotReady);
        }
        // Acquire: pairs with `publish_ready`.
        if self.u32_at(INIT_STATE as u64).load(Ordering::Acquire) != INIT_READY {
            return Err(ShapeProblem::NotReady);
        }
        let mut magic = [0u8; 8];
        for i in 0..2 {
            let word = self.u32_at(4 * i).load(Ordering::Relaxed).to_ne_bytes();
            magic[4 * i as usize..4 * i as usize + 4].copy_from_slice(&word);
        }
        if magic != MAGIC
            || self.u32_at(8).load(Ordering::Relaxed) != LAYOUT_VERSION
            || self.u64_at(16).load(Ordering::Relaxed) != LAYOUT_HASH
        {
            return Err(ShapeProblem::Invalid);
        }
        let shape = QueueShape::new(
            self.u64_at(32).load(Ordering::Relaxed),
            self.u64_at(40).load(Ordering::Relaxed),
            self.u32_at(56).load(Ordering::Relaxed),
            self.u32_at(60).load(Ordering::Relaxed),
            self.u32_at(64).load(Ordering::Relaxed),
        )
        .ok_or(ShapeProblem::Invalid)?;
        if self.u64_at(24).load(Ordering::Relaxed) != shape.segment_size
            || self.u64_at(48).load(Ordering::Relaxed) != shape.stride
            || shape.segment_size > self.len
        {
            return Err(ShapeProblem::Invalid);
        }
        Ok(shape)
    }

    /// The queue's lock word (`mq/lock.rs`).
    #[inline]
    pub(crate) fn lock_word(&self) -> &AtomicU32 {
        self.u32_at(128)
    }

    /// Blocked receivers of processes without a presence entry (lock).
    #[inline]
    pub(crate) fn anonymous_receivers(&self) -> &AtomicU32 {
        self.u32_at(212)
    }

    /// `head`, `tail`, `count`, `free` (lock).
    #[inline]
    pub(crate) fn list(&self) -> [&AtomicU32; 4] {
        [
            self.u32_at(176),
            self.u32_at(180),
            self.u32_at(184),
            self.u32_at(188),
        ]
    }

    /// The next sequence number (lock).
    #[inline]
    pub(crate) fn next_seq(&self) -> &AtomicU64 {
        self.u64_at(192)
    }

    /// Whether the readiness FIFO is kept (lock).
    #[inline]
    pub(crate) fn watched(&self) -> &AtomicU32 {
        self.u32_at(200)
    }

    /// Where receivers wait.
    #[inline]
    pub(crate) fn not_empty(&self) -> WaitLine<'_> {
        self.wait_line(256, 204)
    }

    /// Where senders wait.
    #[inline]
    pub(crate) fn not_full(&self) -> WaitLine<'_> {
        self.wait_line(384, 208)
    }

    #[inline]
    fn wait_line(&self, off: u64, waiters: u64) -> WaitLine<'_> {
        WaitLine {
            epoch: self.u32_at(off),
            sleepers: self.u32_at(off + 4),
            waiters: self.u32_at(waiters),
        }
    }

    /// The registration's token, 0 for none (lock).
    #[inline]
    pub(crate) fn notify_token(&self) -> &AtomicU64 {
        self.u64_at(512)
    }

    /// The token of the last registration fired (lock).
    #[inline]
    pub(crate) fn notify_fired(&self) -> &AtomicU64 {
        self.u64_at(520)
    }

    /// The futex word a registrant's helper waits on.
    #[inline]
    pub(crate) fn notify_epoch(&self) -> &AtomicU32 {
        self.u32_at(528)
    }

    /// Pid and uid of the sender whose message fired the registration.
    #[inline]
    pub(crate) fn notify_sender(&self) -> [&AtomicU32; 2] {
        [self.u32_at(532), self.u32_at(536)]
    }

    /// Presence entry `index`: `claimed`, `receivers` (lock).
    #[inline]
    pub(crate) fn presence(&self, index: u32) -> [&AtomicU32; 2] {
        assert!(index < PRESENCE_ENTRIES);
        let off = PRESENCE_OFFSET + 8 * u64::from(index);
        [self.u32_at(off), self.u32_at(off + 4)]
    }

    /// The header words of slot `index` of a queue shaped `shape`.
    #[inline]
    pub(crate) fn slot(&self, shape: &QueueShape, index: u32) -> SlotWords<'_> {
        let off = self.slot_offset(shape, index);
        SlotWords {
            state: self.u32_at(off),
            prio: self.u32_at(off + 4),
            len: self.u64_at(off + 8),
            seq: self.u64_at(off + 16),
            next: self.u32_at(off + 24),
        }
    }

    #[inline(always)]
    fn slot_offset(&self, shape: &QueueShape, index: u32) -> u64 {
        let off = SLOTS_OFFSET + u64::from(index) * shape.stride;
        // One check covers the slot's header and payload: the stride
        // holds both, and the whole slot must be inside the mapping.
        assert!(
            u64::from(index) < shape.max_messages && off + shape.stride <= self.len,
            "slot {index} out of range"
        );
        off
    }

    /// Copies `bytes` into slot `index`'s payload.
    pub(crate) fn write_payload(&self, shape: &QueueShape, index: u32, bytes: &[u8]) {
        let off = self.slot_offset(shape, index) + SLOT_HEADER;
        assert!(bytes.len() as u64 <= shape.message_size && off + shape.message_size <= self.len);
        // SAFETY: inside the mapping (checked); the slot is free and the
        // lock is held, so no opener following the protocol touches
        // these bytes now. A hostile one could, which makes the bytes
        // garbage but never the copy unsound for plain bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(off as usize), bytes.len())
        };
    }

    /// Copies `out.len()` bytes of slot `index`'s payload into `out`.
    pub(crate) fn read_payload(&self, shape: &QueueShape, index: u32, out: &mut [u8]) {
        let off = self.slot_offset(shape, index) + SLOT_HEADER;
        assert!(out.len() as u64 <= shape.message_size && off + shape.message_size <= self.len);
        // SAFETY: as in `write_payload`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.add(off as usize), out.as_mut_ptr(), out.len())
        };
    }
}
