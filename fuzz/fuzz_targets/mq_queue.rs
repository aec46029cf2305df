//! A live POSIX message queue (`shmring::mq`) whose segment the fuzzer
//! rewrites between operations, as a hostile process could: the lock
//! word, the lists and count, `next_seq`, `watched`, the waiter counts,
//! the waiting and notification lines, presence entries and slot
//! headers, with values shaped like the protocol's (small, near NIL,
//! contended, around `MQ_PRIO_MAX`, near the current value). Every call
//! must return a message within `mq_msgsize` with a priority below
//! `MQ_PRIO_MAX`, or an error; never panic, read out of bounds or hang.
//! Calls are non-blocking and timed (5 ms): a lock word naming a live
//! holder may only cost a call its deadline (`ETIMEDOUT`), and no call
//! may take a second. Such words are written by one shape only, and the
//! untimed `attributes` and `watch` are skipped while the lock word
//! names one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustix::io::Errno;
use shmring::mq::{MQ_PRIO_MAX, MessageQueue, OpenRequest, unlink_in};
use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant, SystemTime};

thread_local! {
    /// Inputs run so far in this process: unique queue names.
    static COUNTER: Cell<u32> = const { Cell::new(0) };
}

const MAXMSG: u64 = 4;
const MSGSIZE: u64 = 32;
/// `layout/mq.rs`: slots at 8832, stride round_up(32 + msgsize, 64).
const SLOTS: u64 = 8832;
const STRIDE: u64 = 64;
const SIZE: u64 = SLOTS + MAXMSG * STRIDE;
const LOCK: u64 = 128;
/// Lock word: somebody sleeps on it; the tag of a process without a
/// presence entry (never found dead); our own tag (presence entry 0).
const CONTENDED: u32 = 1 << 31;
const ANONYMOUS: u32 = 0x7FFF_FFFF;
const OURS: u32 = 1;

/// The fixed words the protocol reads, with their widths; then the
/// slots' header words (state, prio, len, seq, next) make up `WORDS`.
const FIXED: [(u64, usize); 23] = [
    (LOCK, 4),
    (176, 4), // head, tail, count, free
    (180, 4),
    (184, 4),
    (188, 4),
    (192, 8), // next_seq
    (200, 4), // watched
    (204, 4), // waiters: not_empty, not_full
    (208, 4),
    (212, 4), // anonymous receivers
    (256, 4), // not_empty: epoch, sleepers
    (260, 4),
    (384, 4), // not_full
    (388, 4),
    (512, 8), // notify: token, fired, fire_epoch, sender pid and uid
    (520, 8),
    (528, 4),
    (532, 4),
    (536, 4),
    (640, 4), // presence entries 0 (ours) and 1: claimed, receivers
    (644, 4),
    (648, 4),
    (652, 4),
];
const SLOT_FIELDS: [(u64, usize); 5] = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 4)];
const WORDS: usize = FIXED.len() + SLOT_FIELDS.len() * MAXMSG as usize;

fn word(which: u8) -> (u64, usize) {
    match usize::from(which) % WORDS {
        i if i < FIXED.len() => FIXED[i],
        i => {
            let (slot, (off, width)) = ((i - FIXED.len()) / 5, SLOT_FIELDS[(i - FIXED.len()) % 5]);
            (SLOTS + slot as u64 * STRIDE + off, width)
        }
    }
}

fn read_word(file: &File, offset: u64, width: usize) -> u64 {
    let mut bytes = [0; 8];
    file.read_exact_at(&mut bytes[..width], offset).unwrap();
    u64::from_ne_bytes(bytes)
}

fn read_lock(file: &File) -> u32 {
    read_word(file, LOCK, 4) as u32
}

fn live(lock: u32) -> bool {
    matches!(lock & !CONTENDED, OURS | ANONYMOUS)
}

/// A lock word naming a live holder turned into a dead (or garbage) one.
fn tame(file: &File) {
    let lock = read_lock(file);
    if live(lock) {
        file.write_all_at(&(lock ^ 2).to_ne_bytes(), LOCK).unwrap();
    }
}

fn deadline() -> Option<SystemTime> {
    Some(SystemTime::now() + Duration::from_millis(5))
}

fn nonblocking(_sure: bool) -> bool {
    true
}

fuzz_target!(|data: &[u8]| {
    let pid = std::process::id();
    let dir = std::path::PathBuf::from(format!("/dev/shm/mq-fuzz-{pid}"));
    let name = format!("/mq-fuzz-{pid}-{}", COUNTER.replace(COUNTER.get() + 1));
    let queue = MessageQueue::open(&OpenRequest {
        create: true,
        attr: Some((MAXMSG as i64, MSGSIZE as i64)),
        dir: Some(&dir),
        ..OpenRequest::read_write(name.as_bytes())
    })
    .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("q").join(&name[1..]))
        .unwrap();
    assert_eq!(file.metadata().unwrap().len(), SIZE);
    // Gone from the directory at once (as in the other targets): a crash
    // leaves only the empty directories, removed below otherwise.
    unlink_in(&dir, name.as_bytes()).unwrap();
    let mut buf = [0u8; MSGSIZE as usize];
    let mut timeouts = 0;
    // Each 4-byte chunk: one operation. Offsets stay past the header,
    // which openers validate once and never read again.
    for op in data.chunks(4) {
        let started = Instant::now();
        let result = match op {
            [0, len, prio, fill] => {
                let prio = match prio {
                    0xf0.. => MQ_PRIO_MAX - 2 + u32::from(prio & 3),
                    _ => u32::from(*prio),
                };
                let msg = vec![*fill; usize::from(*len % 40)];
                queue.send(&msg, prio, deadline(), nonblocking)
            }
            [1, ..] => queue
                .receive(&mut buf, deadline(), nonblocking)
                .map(|(len, prio)| {
                    assert!(len as u64 <= MSGSIZE, "length {len} > mq_msgsize");
                    assert!(prio < MQ_PRIO_MAX, "priority {prio} >= MQ_PRIO_MAX");
                }),
            // Untimed calls: only while the lock word names no live holder.
            [2, ..] if live(read_lock(&file)) => Ok(()),
            [2, ..] => queue.attributes().map(|a| {
                assert!((0..=MAXMSG as i64).contains(&a.current_messages));
            }),
            [3, ..] if live(read_lock(&file)) => Ok(()),
            [3, ..] => queue.watch(),
            [4, which, shape, v] => {
                let (offset, width) = word(*which);
                let v = u64::from(*v);
                let top = 8 * width as u32 - 1;
                let value = match shape % 8 {
                    0 => v,
                    1 => (u64::MAX >> (64 - 8 * width)) - v, // NIL and just below
                    2 => 1 << top | v,
                    3 => v << (top - 7),
                    4 => read_word(&file, offset, width)
                        .wrapping_add(v)
                        .wrapping_sub(128),
                    5 => u64::from(MQ_PRIO_MAX) - 2 + v % 4,
                    6 => 1020 + v % 8, // the last presence tags, and past them
                    // A live holder: ours or an anonymous one, maybe contended.
                    _ => u64::from([OURS, ANONYMOUS][(v & 1) as usize] | (v as u32 & 2) << 30),
                };
                file.write_all_at(&value.to_ne_bytes()[..width], offset)
                    .unwrap();
                if offset == LOCK && shape % 8 != 7 {
                    tame(&file);
                }
                Ok(())
            }
            [_, a, b, c] => {
                let offset = 128 + (u64::from(*a) << 8 | u64::from(*b)) % (SIZE - 128);
                file.write_all_at(&[*c], offset).unwrap();
                if offset < LOCK + 4 {
                    tame(&file);
                }
                Ok(())
            }
            _ => Ok(()),
        };
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{op:?} overran its deadline"
        );
        // The first time out: the live holder lets go. The second ends
        // the input, so that none costs more than two deadlines.
        if result.is_err_and(|e| e.errno() == Errno::TIMEDOUT.raw_os_error()) {
            timeouts += 1;
            if timeouts == 2 {
                break;
            }
            file.write_all_at(&0u32.to_ne_bytes(), LOCK).unwrap();
        }
    }
    drop(queue);
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
});
