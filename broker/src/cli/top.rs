//! `shmring top`: every broker ring's traffic, refreshed at an interval,
//! as rates since the last refresh (like `top`, or Aeron's AeronStat).

use shmring::TrafficCounts;
use shmring::broker::{BrokerClient, BrokerError, SegmentInfo};
use shmring::human::{ByteRate, Bytes, Count, Rate};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How `top` runs.
#[derive(Debug, Clone, Copy)]
pub struct TopOptions {
    /// Time between refreshes.
    pub interval: Duration,
    /// Stop after this many refreshes (`None`: until interrupted).
    pub count: Option<u64>,
}

/// Runs the live view. On a terminal each refresh replaces the last;
/// otherwise refreshes follow each other, separated by a blank line.
pub fn run(client: &mut BrokerClient, options: TopOptions) -> Result<(), BrokerError> {
    let terminal = std::io::stdout().is_terminal();
    let mut last: HashMap<String, TrafficCounts> = HashMap::new();
    let mut last_at = Instant::now();
    let mut refreshes = 0u64;
    loop {
        let rings = client.list()?;
        let now = Instant::now();
        let elapsed = now.duration_since(last_at);
        let mut screen = String::new();
        if terminal {
            // Home and clear: the new table replaces the old in place.
            screen.push_str("\x1b[H\x1b[2J");
        } else if refreshes > 0 {
            screen.push('\n');
        }
        render(&mut screen, &rings, &last, elapsed, options.interval);
        let mut out = std::io::stdout().lock();
        // A closed pipe (`shmring top | head`) ends the view quietly.
        if out
            .write_all(screen.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(());
        }
        drop(out);
        last = rings
            .into_iter()
            .map(|info| (info.name, info.traffic))
            .collect();
        last_at = now;
        refreshes += 1;
        if options.count.is_some_and(|n| refreshes >= n) {
            return Ok(());
        }
        std::thread::sleep(options.interval);
    }
}

/// One refresh: a header line and a row per ring, in name order. Rates
/// are over `elapsed` since the previous refresh; a ring new since then
/// (or the first refresh) shows its totals instead, marked `*`.
fn render(
    screen: &mut String,
    rings: &[SegmentInfo],
    last: &HashMap<String, TrafficCounts>,
    elapsed: Duration,
    interval: Duration,
) {
    use std::fmt::Write as _;
    let _ = writeln!(
        screen,
        "shmring top: {} ring{}, every {}; rates since the last refresh (* totals: new ring)",
        rings.len(),
        if rings.len() == 1 { "" } else { "s" },
        shmring::human::Duration::from(interval),
    );
    let _ = writeln!(
        screen,
        "{:<24} {:<6} {:>13} {:>13} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "NAME",
        "KIND",
        "SENT/s",
        "RECEIVED/s",
        "BYTES/s",
        "FULL/s",
        "EMPTY/s",
        "PARKS/s",
        "WAKES/s",
        "IN FLIGHT",
        "SENT",
        "RECEIVED"
    );
    for info in rings {
        let now = info.traffic;
        let (before, mark, span) = match last.get(&info.name) {
            Some(before) => (*before, ' ', elapsed),
            None => (TrafficCounts::default(), '*', Duration::ZERO),
        };
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let rate = |n: u64| -> String {
            if span.is_zero() {
                Count(n).to_string()
            } else {
                Rate::of(n, span).unit("").to_string()
            }
        };
        let bytes = d(now.bytes_sent, before.bytes_sent);
        let byte_rate = if span.is_zero() {
            Bytes(bytes).to_string()
        } else {
            ByteRate::of(bytes, span).to_string()
        };
        let parks = d(
            now.sender_parks + now.receiver_parks,
            before.sender_parks + before.receiver_parks,
        );
        let wakes = d(
            now.sender_wakes + now.receiver_wakes,
            before.sender_wakes + before.receiver_wakes,
        );
        let _ = writeln!(
            screen,
            "{:<24} {:<6} {:>13} {:>13} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}{}",
            info.name,
            info.geometry.kind().to_string(),
            rate(d(now.sent, before.sent)),
            rate(d(now.received, before.received)),
            byte_rate,
            rate(d(now.full, before.full)),
            rate(d(now.empty, before.empty)),
            rate(parks),
            rate(wakes),
            Count(info.messages_in_flight),
            Count(now.sent),
            Count(now.received),
            if mark == '*' { " *" } else { "" },
        );
    }
}
