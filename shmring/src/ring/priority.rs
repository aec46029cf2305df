//! The POSIX message queue's priority list: slots linked in the order
//! messages leave (higher priority first, FIFO within a priority), and a
//! free list, all under the queue's mutex (`layout/mq.rs`).
//!
//! Crash consistency: a slot's state word is the commit point. A sender
//! writes payload, length, priority and sequence number, then stores
//! `QUEUED`; a receiver copies the payload out, then stores `FREE`. The
//! lists and `count` are derived, so when a holder dies mid-update (or a
//! peer scribbles on a word) [`rebuild`] recomputes them from the states,
//! and every message committed before the death is still there, once.
//!
//! Every index read back is checked; a list that leaves the slots, loops
//! or disagrees with a state is [`Corrupt`], never followed further.

use crate::layout::mq::{FREE, NIL, PRIORITIES, QUEUED, QueueShape, QueueWords};
use crate::sync::Ordering::Relaxed;

// Every access below is Relaxed: the queue's mutex orders them (its lock
// and unlock are the acquire and release).

/// The lists do not match the slots: [`rebuild`] them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt;

/// What [`rebuild`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rebuilt {
    /// Messages queued.
    pub(crate) count: u32,
    /// Slots whose words made no sense, now free (their messages lost).
    pub(crate) dropped: u32,
}

/// Empties the queue: every slot free and chained, no message.
pub(crate) fn init(words: &QueueWords, shape: &QueueShape) {
    let n = shape.max_messages as u32;
    for i in 0..n {
        let slot = words.slot(shape, i);
        slot.state.store(FREE, Relaxed);
        slot.next
            .store(if i + 1 < n { i + 1 } else { NIL }, Relaxed);
    }
    let [head, tail, count, free] = words.list();
    head.store(NIL, Relaxed);
    tail.store(NIL, Relaxed);
    count.store(0, Relaxed);
    free.store(0, Relaxed);
    words.next_seq().store(0, Relaxed);
}

/// Messages queued, as the list says (checked against the geometry).
#[inline]
pub(crate) fn count(words: &QueueWords, shape: &QueueShape) -> Result<u32, Corrupt> {
    let count = words.list()[2].load(Relaxed);
    if u64::from(count) > shape.max_messages {
        return Err(Corrupt);
    }
    Ok(count)
}

#[inline]
fn index(raw: u32, shape: &QueueShape) -> Result<u32, Corrupt> {
    if u64::from(raw) < shape.max_messages {
        Ok(raw)
    } else {
        Err(Corrupt)
    }
}

/// Queues `bytes` with `prio`; the caller checked that there is room and
/// that `bytes` fits a slot. Returns the count before.
pub(crate) fn push(
    words: &QueueWords,
    shape: &QueueShape,
    prio: u32,
    bytes: &[u8],
) -> Result<u32, Corrupt> {
    let [head, tail, count_word, free] = words.list();
    let before = count(words, shape)?;
    let slot_index = index(free.load(Relaxed), shape)?;
    let slot = words.slot(shape, slot_index);
    if slot.state.load(Relaxed) != FREE {
        return Err(Corrupt);
    }
    let next_free = slot.next.load(Relaxed);

    // Where it goes: after the last message of priority >= prio. The
    // common cases (one priority, or non-increasing ones) append. Found
    // before the commit, so that a corrupt list is refused with nothing
    // written (the caller rebuilds and retries without a duplicate).
    let last = tail.load(Relaxed);
    let mut after = NIL;
    if last != NIL && words.slot(shape, index(last, shape)?).prio.load(Relaxed) >= prio {
        after = last;
    } else {
        let mut at = head.load(Relaxed);
        let mut steps = 0u64;
        while at != NIL {
            let here = words.slot(shape, index(at, shape)?);
            if here.prio.load(Relaxed) < prio {
                break;
            }
            after = at;
            at = here.next.load(Relaxed);
            steps += 1;
            if steps > shape.max_messages {
                return Err(Corrupt);
            }
        }
    }
    if after == slot_index {
        return Err(Corrupt);
    }

    let seq = words.next_seq().load(Relaxed);
    words.write_payload(shape, slot_index, bytes);
    slot.len.store(bytes.len() as u64, Relaxed);
    slot.prio.store(prio, Relaxed);
    slot.seq.store(seq, Relaxed);
    slot.state.store(QUEUED, Relaxed);
    // Committed: from here on the message survives any death.
    words.next_seq().store(seq.wrapping_add(1), Relaxed);
    free.store(next_free, Relaxed);
    if after == NIL {
        slot.next.store(head.load(Relaxed), Relaxed);
        head.store(slot_index, Relaxed);
    } else {
        let prev = words.slot(shape, after);
        slot.next.store(prev.next.load(Relaxed), Relaxed);
        prev.next.store(slot_index, Relaxed);
    }
    if slot.next.load(Relaxed) == NIL {
        tail.store(slot_index, Relaxed);
    }
    count_word.store(before + 1, Relaxed);
    Ok(before)
}

/// A message taken off the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Popped {
    pub(crate) len: usize,
    pub(crate) prio: u32,
    /// Messages left.
    pub(crate) left: u32,
}

/// Takes the first message into `out` (at least `mq_msgsize` bytes,
/// checked by the caller); the queue is not empty.
pub(crate) fn pop_into(
    words: &QueueWords,
    shape: &QueueShape,
    out: &mut [u8],
) -> Result<Popped, Corrupt> {
    let [head, tail, count_word, free] = words.list();
    let before = count(words, shape)?;
    let slot_index = index(head.load(Relaxed), shape)?;
    let slot = words.slot(shape, slot_index);
    let len = slot.len.load(Relaxed);
    let prio = slot.prio.load(Relaxed);
    if before == 0
        || slot.state.load(Relaxed) != QUEUED
        || len > shape.message_size
        || prio >= PRIORITIES
    {
        return Err(Corrupt);
    }
    let len = len as usize;
    words.read_payload(shape, slot_index, &mut out[..len]);
    let next = slot.next.load(Relaxed);
    slot.state.store(FREE, Relaxed);
    // Committed: the message is the caller's.
    head.store(next, Relaxed);
    if next == NIL {
        tail.store(NIL, Relaxed);
    }
    slot.next.store(free.load(Relaxed), Relaxed);
    free.store(slot_index, Relaxed);
    count_word.store(before - 1, Relaxed);
    Ok(Popped {
        len,
        prio,
        left: before - 1,
    })
}

/// Recomputes the lists and the count from the slots' states: queued
/// slots sorted by (priority descending, sequence ascending), every
/// other slot free. A queued slot whose length or priority is out of
/// range is dropped (freed) and counted.
pub(crate) fn rebuild(words: &QueueWords, shape: &QueueShape) -> Rebuilt {
    let n = shape.max_messages as u32;
    let mut queued: Vec<(u32, u64, u32)> = Vec::new();
    let mut free_slots: Vec<u32> = Vec::new();
    let mut dropped = 0;
    let mut next_seq = 0u64;
    for i in 0..n {
        let slot = words.slot(shape, i);
        let state = slot.state.load(Relaxed);
        let prio = slot.prio.load(Relaxed);
        let seq = slot.seq.load(Relaxed);
        if state == QUEUED && slot.len.load(Relaxed) <= shape.message_size && prio < PRIORITIES {
            queued.push((prio, seq, i));
            next_seq = next_seq.max(seq.wrapping_add(1));
        } else {
            if state != FREE {
                dropped += 1;
            }
            slot.state.store(FREE, Relaxed);
            free_slots.push(i);
        }
    }
    queued.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let [head, tail, count, free] = words.list();
    let link = |order: &[u32], first: &crate::sync::AtomicU32| {
        first.store(order.first().copied().unwrap_or(NIL), Relaxed);
        for pair in order.windows(2) {
            words.slot(shape, pair[0]).next.store(pair[1], Relaxed);
        }
        if let Some(&last) = order.last() {
            words.slot(shape, last).next.store(NIL, Relaxed);
        }
    };
    let order: Vec<u32> = queued.iter().map(|q| q.2).collect();
    link(&order, head);
    tail.store(order.last().copied().unwrap_or(NIL), Relaxed);
    link(&free_slots, free);
    count.store(order.len() as u32, Relaxed);
    words.next_seq().store(next_seq, Relaxed);
    Rebuilt {
        count: order.len() as u32,
        dropped,
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    struct Heap {
        _buf: Vec<u64>,
        words: QueueWords,
        shape: QueueShape,
    }

    fn heap(max_messages: u64, message_size: u64) -> Heap {
        let shape = QueueShape::new(max_messages, message_size, 0o600, 0, 0).unwrap();
        let mut buf = vec![0u64; (shape.segment_size as usize).div_ceil(8) + 8];
        let base = buf.as_mut_ptr() as usize;
        let aligned = base.div_ceil(64) * 64;
        // SAFETY: `aligned` is inside `buf` with `segment_size` bytes
        // after it (8 spare words cover the alignment), which lives as
        // long as the `Heap`; only these accessors touch it.
        let words = unsafe { QueueWords::new(aligned as *mut u8, shape.segment_size) };
        init(&words, &shape);
        Heap {
            _buf: buf,
            words,
            shape,
        }
    }

    fn drain(h: &Heap) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; h.shape.message_size as usize];
        while count(&h.words, &h.shape).unwrap() > 0 {
            let p = pop_into(&h.words, &h.shape, &mut buf).unwrap();
            out.push((p.prio, buf[..p.len].to_vec()));
        }
        out
    }

    #[test]
    fn messages_leave_by_priority_then_in_order_of_arrival() {
        let h = heap(8, 16);
        for (prio, msg) in [(3, "a"), (1, "b"), (3, "c"), (7, "d"), (0, "e"), (7, "f")] {
            push(&h.words, &h.shape, prio, msg.as_bytes()).unwrap();
        }
        let got: Vec<(u32, String)> = drain(&h)
            .into_iter()
            .map(|(p, m)| (p, String::from_utf8(m).unwrap()))
            .collect();
        let want = [(7, "d"), (7, "f"), (3, "a"), (3, "c"), (1, "b"), (0, "e")];
        assert_eq!(got, want.map(|(p, m)| (p, m.to_string())));
    }

    #[test]
    fn a_rebuild_keeps_every_committed_message_in_order_and_frees_the_rest() {
        let h = heap(6, 8);
        for (prio, msg) in [(2, "x"), (5, "y"), (2, "z")] {
            push(&h.words, &h.shape, prio, msg.as_bytes()).unwrap();
        }
        // A holder that died mid-update: lists scrambled, one slot
        // written but not committed, garbage in another's state.
        let [head, _, count_word, free] = h.words.list();
        head.store(NIL, Relaxed);
        count_word.store(99, Relaxed);
        free.store(4242, Relaxed);
        h.words.slot(&h.shape, 5).state.store(77, Relaxed);
        assert_eq!(
            push(&h.words, &h.shape, 1, b"w"),
            Err(Corrupt),
            "a corrupt list is refused, not followed"
        );
        let rebuilt = rebuild(&h.words, &h.shape);
        assert_eq!(
            rebuilt,
            Rebuilt {
                count: 3,
                dropped: 1
            }
        );
        push(&h.words, &h.shape, 9, b"v").unwrap();
        let got: Vec<Vec<u8>> = drain(&h).into_iter().map(|(_, m)| m).collect();
        assert_eq!(got, [b"v", b"y", b"x", b"z"].map(|m| m.to_vec()));
        // All six slots are usable again.
        for i in 0..6 {
            push(&h.words, &h.shape, i, b"f").unwrap();
        }
        assert_eq!(count(&h.words, &h.shape), Ok(6));
    }

    #[test]
    fn a_priority_a_peer_wrote_out_of_range_is_refused_and_rebuilt_away() {
        let h = heap(4, 8);
        push(&h.words, &h.shape, 5, b"a").unwrap();
        push(&h.words, &h.shape, 1, b"b").unwrap();
        let head = h.words.list()[0].load(Relaxed);
        h.words.slot(&h.shape, head).prio.store(PRIORITIES, Relaxed);
        let mut buf = [0u8; 8];
        assert_eq!(pop_into(&h.words, &h.shape, &mut buf), Err(Corrupt));
        assert_eq!(
            rebuild(&h.words, &h.shape),
            Rebuilt {
                count: 1,
                dropped: 1
            }
        );
        let got = pop_into(&h.words, &h.shape, &mut buf).unwrap();
        assert_eq!((got.prio, &buf[..got.len]), (1, &b"b"[..]));
    }

    #[test]
    fn a_looping_list_is_caught() {
        let h = heap(4, 8);
        push(&h.words, &h.shape, 5, b"a").unwrap();
        push(&h.words, &h.shape, 5, b"b").unwrap();
        // a -> b -> a ...: a cycle.
        let [head, tail, ..] = h.words.list();
        let a = head.load(Relaxed);
        let b = h.words.slot(&h.shape, a).next.load(Relaxed);
        h.words.slot(&h.shape, b).next.store(a, Relaxed);
        h.words.slot(&h.shape, b).prio.store(6, Relaxed);
        h.words.slot(&h.shape, a).prio.store(6, Relaxed);
        // The tail names a free slot (priority 0), so the insert walks.
        tail.store(2, Relaxed);
        assert_eq!(push(&h.words, &h.shape, 5, b"c"), Err(Corrupt));
    }
}
