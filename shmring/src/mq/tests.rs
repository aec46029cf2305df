//! The queue against deaths and scribbles that a process test cannot
//! time: a lock holder that died mid-update, lists a peer overwrote, a
//! lock a peer marked taken.

use super::*;
use crate::sync::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

/// A private queue directory and a queue in it, both removed on drop.
struct Fixture {
    dir: std::path::PathBuf,
    name: String,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        static NEXT: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
        let n = {
            let mut next = NEXT.lock().unwrap();
            *next += 1;
            *next
        };
        let dir = std::env::temp_dir().join(format!("mq-unit-{}-{tag}-{n}", std::process::id()));
        Fixture {
            dir,
            name: format!("/{tag}"),
        }
    }

    /// Opens the queue, making it with `depth` slots of 32 bytes.
    fn open(&self, depth: i64) -> Result<MessageQueue, MqError> {
        MessageQueue::open(&OpenRequest {
            create: true,
            attr: Some((depth, 32)),
            dir: Some(&self.dir),
            ..OpenRequest::read_write(self.name.as_bytes())
        })
    }

    fn unlink(&self) {
        unlink_in(&self.dir, self.name.as_bytes()).unwrap();
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.join("q").join(&self.name[1..])
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn blocking(_sure: bool) -> bool {
    false
}

fn receive_all(queue: &MessageQueue) -> Vec<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 32];
    while queue.attributes().unwrap().current_messages > 0 {
        let (n, prio) = queue.receive(&mut buf, None, blocking).unwrap();
        out.push((buf[..n].to_vec(), prio));
    }
    out
}

#[test]
fn a_holder_that_dies_mid_update_leaves_every_committed_message_once() {
    let fx = Fixture::new("owner-died");
    let queue = fx.open(8).unwrap();
    for (msg, prio) in [(&b"a"[..], 1), (b"b", 5), (b"c", 1)] {
        queue.send(msg, prio, None, blocking).unwrap();
    }
    // A process that took the lock, left the lists half-updated and died:
    // the lock word names a presence entry nobody holds any more.
    let [head, _, count, free] = queue.mapped.words.list();
    head.store(crate::layout::mq::NIL, Relaxed);
    count.store(0, Relaxed);
    free.store(3, Relaxed);
    queue.mapped.words.lock_word().store(1000, Relaxed);
    assert_eq!(queue.attributes().unwrap().current_messages, 3);
    assert_eq!(
        receive_all(&queue),
        [(b"b".to_vec(), 5), (b"a".to_vec(), 1), (b"c".to_vec(), 1)]
    );
    queue.send(b"d", 0, None, blocking).unwrap();
    assert_eq!(receive_all(&queue), [(b"d".to_vec(), 0)]);
    drop(queue);
    fx.unlink();
}

#[test]
fn lists_a_peer_overwrote_are_rebuilt_from_the_slots() {
    let fx = Fixture::new("scribbled");
    let queue = fx.open(4).unwrap();
    queue.send(b"x", 2, None, blocking).unwrap();
    queue.send(b"y", 3, None, blocking).unwrap();
    // Garbage in head, tail, count and free, through the file.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(fx.file())
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[0xAB; 16], 176).unwrap();
    assert_eq!(
        receive_all(&queue),
        [(b"y".to_vec(), 3), (b"x".to_vec(), 2)]
    );
    // All four slots are usable again.
    for i in 0..4 {
        queue.send(b"z", i, None, blocking).unwrap();
    }
    let mut buf = [0u8; 32];
    assert_eq!(queue.receive(&mut buf, None, blocking).unwrap(), (1, 3));
    drop(queue);
    fx.unlink();
}

#[test]
fn a_foreign_file_is_refused_and_a_half_made_queue_is_finished() {
    let fx = Fixture::new("foreign");
    drop(fx.open(2).unwrap());
    // Not a queue (magic overwritten): refused with EINVAL, not followed.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(fx.file())
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"NOTAQUEU", 0).unwrap();
    let err = fx.open(2).unwrap_err();
    assert_eq!(err.errno(), libc::EINVAL, "{err}");
    // A creator that died before the header was written (empty file,
    // init byte not locked): opening without O_CREAT says there is no
    // queue; with O_CREAT, the opener makes it.
    file.set_len(0).unwrap();
    let err = MessageQueue::open(&OpenRequest {
        dir: Some(&fx.dir),
        ..OpenRequest::read_write(fx.name.as_bytes())
    })
    .unwrap_err();
    assert_eq!(err.errno(), libc::ENOENT, "{err}");
    let queue = fx.open(2).unwrap();
    assert!(queue.created());
    queue.send(b"ok", 0, None, blocking).unwrap();
    assert_eq!(receive_all(&queue), [(b"ok".to_vec(), 0)]);
    drop(queue);
    fx.unlink();
}

#[test]
fn a_lock_a_peer_marked_taken_cannot_stretch_a_deadline() {
    let fx = Fixture::new("held");
    let queue = fx.open(2).unwrap();
    // The lock word (offset 128): "held by the process of presence entry
    // 0", which is alive (this one) and will never let go.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(fx.file())
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &1u32.to_ne_bytes(), 128).unwrap();
    let deadline = SystemTime::now() + Duration::from_millis(100);
    let mut buf = [0u8; 32];
    let err = queue
        .receive(&mut buf, Some(deadline), blocking)
        .unwrap_err();
    assert_eq!(err.errno(), libc::ETIMEDOUT, "{err}");
    let err = queue.send(b"m", 0, Some(deadline), blocking).unwrap_err();
    assert_eq!(err.errno(), libc::ETIMEDOUT, "{err}");
    // Released again: the queue works.
    std::os::unix::fs::FileExt::write_all_at(&file, &0u32.to_ne_bytes(), 128).unwrap();
    queue
        .send(
            b"m",
            0,
            Some(SystemTime::now() + Duration::from_secs(5)),
            blocking,
        )
        .unwrap();
    drop(queue);
    fx.unlink();
}

#[test]
fn a_lock_word_naming_nobody_is_taken_over_and_the_queue_repaired() {
    let fx = Fixture::new("garbage-lock");
    let queue = fx.open(2).unwrap();
    queue.send(b"kept", 4, None, blocking).unwrap();
    // A tag that names no presence entry: no holder can be alive.
    queue.mapped.words.lock_word().store(0x1234_5678, Relaxed);
    assert_eq!(receive_all(&queue), [(b"kept".to_vec(), 4)]);
    drop(queue);
    fx.unlink();
}
