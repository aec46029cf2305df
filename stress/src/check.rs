//! The delivery checks, fed with the workers' reports.
//!
//! Both checkers see the producers' `Sent` records and the consumers'
//! `Received` records. Records of one worker arrive in order; records of
//! different workers do not, so the comparison of the two sides waits for
//! [`SpscChecker::finish`] / [`MpmcChecker::finish`].

use std::collections::HashMap;

/// What every stream's producer confirmed: sequences `0..confirmed`.
#[derive(Debug, Default)]
struct Confirmed(HashMap<u32, u64>);

impl Confirmed {
    fn sent(&mut self, stream: u32, seq: u64) -> Result<(), String> {
        let next = self.0.entry(stream).or_insert(0);
        if seq != *next {
            return Err(format!(
                "producer stream {stream} confirmed seq {seq} after {}",
                *next as i64 - 1
            ));
        }
        *next += 1;
        Ok(())
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// SPSC: exactly once and in order per stream, streams one after the
/// other; the one exception is the message a killed consumer reported
/// but had not released, which its successor receives again first.
#[derive(Debug, Default)]
pub struct SpscChecker {
    confirmed: Confirmed,
    /// Next sequence expected per stream.
    next: HashMap<u32, u64>,
    /// Streams in the order their first message arrived.
    order: Vec<u32>,
    /// The last message the current consumer reported.
    last: Option<(u32, u64)>,
    /// A consumer was killed after reporting this message: its successor
    /// may receive it once more, as its very first message.
    may_repeat: Option<(u32, u64)>,
    /// The next `Received` is the first of a new consumer.
    fresh_consumer: bool,
    /// Messages received (repeats not counted).
    pub received: u64,
    /// Repeats allowed by a consumer kill that did happen.
    pub repeats: u64,
}

impl SpscChecker {
    /// A producer confirmed a send.
    pub fn sent(&mut self, stream: u32, seq: u64) -> Result<(), String> {
        self.confirmed.sent(stream, seq)
    }

    /// The consumer reported a message.
    pub fn received(&mut self, stream: u32, seq: u64) -> Result<(), String> {
        let first = std::mem::take(&mut self.fresh_consumer);
        let allowance = self.may_repeat.take();
        if first && allowance == Some((stream, seq)) {
            self.repeats += 1;
            self.last = Some((stream, seq));
            return Ok(());
        }
        // Streams follow each other: a restarted producer continues after
        // its predecessor's last published message, so once a stream has
        // begun no older stream may deliver again.
        if let Some(&current) = self.order.last() {
            if current != stream {
                if self.order.contains(&stream) {
                    return Err(format!(
                        "stream {stream} seq {seq} received after stream {current} began"
                    ));
                }
                self.order.push(stream);
            }
        } else {
            self.order.push(stream);
        }
        let next = self.next.entry(stream).or_insert(0);
        if seq != *next {
            let what = if seq < *next { "duplicate" } else { "gap" };
            return Err(format!(
                "{what}: stream {stream} seq {seq} received, expected {} (last {:?}, repeat allowed {:?})",
                *next, self.last, allowance
            ));
        }
        *next += 1;
        self.last = Some((stream, seq));
        self.received += 1;
        Ok(())
    }

    /// The consumer was killed; a new one will start.
    pub fn consumer_killed(&mut self) {
        self.may_repeat = self.last;
        self.fresh_consumer = true;
    }

    /// Messages producers confirmed.
    pub fn confirmed(&self) -> u64 {
        self.confirmed.total()
    }

    /// Everything confirmed must have been received.
    pub fn finish(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for (&stream, &confirmed) in &self.confirmed.0 {
            let got = self.next.get(&stream).copied().unwrap_or(0);
            if got < confirmed {
                problems.push(format!(
                    "stream {stream}: {confirmed} confirmed sent, only 0..{got} received"
                ));
            }
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(format!("lost messages: {}", problems.join("; "))),
        }
    }
}

/// MPMC: no message twice; confirmed messages never received at most as
/// many as the queue says it dropped with killed receivers.
#[derive(Debug, Default)]
pub struct MpmcChecker {
    confirmed: Confirmed,
    seen: HashMap<u32, Vec<u64>>,
    /// Last sequence received per stream (one sender per stream, one
    /// receiver at a time: positions, hence sequences, only increase).
    last: HashMap<u32, u64>,
    /// Messages received.
    pub received: u64,
}

impl MpmcChecker {
    /// A producer confirmed a send.
    pub fn sent(&mut self, stream: u32, seq: u64) -> Result<(), String> {
        self.confirmed.sent(stream, seq)
    }

    /// A consumer reported a message.
    pub fn received(&mut self, stream: u32, seq: u64) -> Result<(), String> {
        let bits = self.seen.entry(stream).or_default();
        let word = (seq / 64) as usize;
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if bits[word] & (1 << (seq % 64)) != 0 {
            return Err(format!("duplicate: stream {stream} seq {seq}"));
        }
        bits[word] |= 1 << (seq % 64);
        if let Some(&last) = self.last.get(&stream) {
            if seq < last {
                return Err(format!(
                    "out of order: stream {stream} seq {seq} after {last}"
                ));
            }
        }
        self.last.insert(stream, seq);
        self.received += 1;
        Ok(())
    }

    /// Messages producers confirmed.
    pub fn confirmed(&self) -> u64 {
        self.confirmed.total()
    }

    /// Confirmed messages never received.
    pub fn missing(&self) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for (&stream, &confirmed) in &self.confirmed.0 {
            let bits = self.seen.get(&stream);
            for seq in 0..confirmed {
                let word = (seq / 64) as usize;
                let seen = bits
                    .and_then(|b| b.get(word))
                    .is_some_and(|w| w & (1 << (seq % 64)) != 0);
                if !seen {
                    out.push((stream, seq));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// At most `allowed` confirmed messages may be missing.
    pub fn finish(&self, allowed: u64) -> Result<u64, String> {
        let missing = self.missing();
        if missing.len() as u64 > allowed {
            let shown: Vec<_> = missing.iter().take(10).collect();
            return Err(format!(
                "{} confirmed messages never received, {allowed} allowed (dead receivers' messages); first: {shown:?}",
                missing.len()
            ));
        }
        Ok(missing.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spsc_allows_exactly_one_repeat_per_consumer_kill() {
        let mut c = SpscChecker::default();
        for s in 0..3 {
            c.sent(0, s).unwrap();
            c.received(0, s).unwrap();
        }
        c.consumer_killed();
        c.received(0, 2).unwrap();
        assert!(c.received(0, 2).is_err());
        let mut c = SpscChecker::default();
        c.received(0, 0).unwrap();
        c.received(0, 1).unwrap();
        c.consumer_killed();
        assert!(c.received(0, 0).is_err(), "only the last may repeat");
        let mut c = SpscChecker::default();
        c.received(0, 0).unwrap();
        assert!(c.received(0, 2).is_err(), "gap");
        let mut c = SpscChecker::default();
        c.sent(0, 0).unwrap();
        c.sent(0, 1).unwrap();
        c.received(0, 0).unwrap();
        assert!(c.finish().is_err(), "lost");
    }

    #[test]
    fn mpmc_counts_missing_and_refuses_duplicates() {
        let mut c = MpmcChecker::default();
        for s in 0..5 {
            c.sent(1, s).unwrap();
        }
        c.received(1, 0).unwrap();
        c.received(1, 2).unwrap();
        assert!(c.received(1, 2).is_err());
        c.received(1, 4).unwrap();
        assert_eq!(c.missing(), vec![(1, 1), (1, 3)]);
        assert!(c.finish(1).is_err());
        assert_eq!(c.finish(2), Ok(2));
    }
}
