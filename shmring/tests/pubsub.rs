//! The publish/subscribe kind between real processes (issue 17): a
//! million messages to four subscriber processes, a slow lossy subscriber
//! under adversarial timing, a killed and a leaving subscriber of a
//! blocked lossless publisher, subscribers in another PID namespace or of
//! another uid, and a killed publisher taken over. The peers' commands
//! and message format are in `src/bin/testpeer/pubsub.rs`; every peer
//! checks every message it receives and fails on the first wrong one.
//! The namespace and uid tests need root (CI runs as root) and say so
//! when skipped.

mod common;

use common::{Name, PATIENCE, Peer};
use shmring::prelude::*;
use shmring::{Delivery, PubSub, PubSubBuilder, SendTimeoutError};
use std::time::{Duration, Instant};

/// Seed of the peers' messages (any value; the same for every peer of a
/// ring, which is how a subscriber knows what the publisher wrote).
const SEED: &str = "1717";

/// Longer than several liveness intervals (100 ms): a peer mistaken for
/// dead would be reaped, and the publisher go on, within it.
const OBSERVE: Duration = Duration::from_millis(500);

/// What a publisher that resumes must resume within: a hang detector,
/// far above the 100 ms liveness interval the library promises (printed).
const RESUME_BOUND: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The number after `key` in a peer's line (`WORD k1 v1 k2 v2 ...`).
fn field(line: &str, key: &str) -> u64 {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find_map(|w| (w[0] == key).then(|| w[1].parse().ok()).flatten())
        .unwrap_or_else(|| panic!("no number {key} in {line:?}"))
}

/// The line a publisher prints once it published `count` messages;
/// returns its sum.
fn expect_sent(publisher: &mut Peer, count: u64, next: u64, timeout: Duration) -> u64 {
    let line = publisher.line(timeout);
    assert!(line.starts_with("sent "), "publisher: {line}");
    assert_eq!(
        (field(&line, "sent"), field(&line, "next")),
        (count, next),
        "{line}"
    );
    field(&line, "sum")
}

/// A subscriber's last line: (joined, next, received, missed, lagged, sum).
fn expect_done(subscriber: &mut Peer, timeout: Duration) -> (u64, u64, u64, u64, u64, u64) {
    let line = subscriber.line(timeout);
    assert!(line.starts_with("done "), "subscriber: {line}");
    let f = |k| field(&line, k);
    (
        f("joined"),
        f("next"),
        f("received"),
        f("missed"),
        f("lagged"),
        f("sum"),
    )
}

/// Waits (bounded by `bound`) until `ready` holds; returns how long it took.
fn wait_until(what: &str, bound: Duration, mut ready: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
    start.elapsed()
}

fn ring(name: &str, delivery: Delivery, slots: u64, slot_size: u64) -> PubSub {
    PubSubBuilder::new()
        .slots(slots)
        .max_message(slot_size)
        .subscribers(8)
        .delivery(delivery)
        .mode(0o666)
        .create(name)
        .unwrap()
}

#[test]
fn four_subscriber_processes_each_see_a_million_messages_in_order() {
    const COUNT: u64 = 1_000_000;
    // Debug builds on two shared cores: minutes, not seconds, are possible.
    let long = Duration::from_secs(600);
    let name = Name::new("million");
    let _ring = ring(&name, Delivery::Lossless, 256, 128);
    let mut subscribers: Vec<Peer> = (0..4)
        .map(|_| Peer::spawn(&["pubsub-subscribe", &name, SEED, "fast", "1"]))
        .collect();
    // Every subscriber is in before the first message.
    for s in &mut subscribers {
        s.expect("ready 0");
    }
    let started = Instant::now();
    let count = COUNT.to_string();
    let mut publisher = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "fast", "exit"]);
    publisher.expect("ready 0");
    let sum = expect_sent(&mut publisher, COUNT, COUNT, long);
    publisher.finish();
    for s in &mut subscribers {
        s.expect(&format!("disconnected {COUNT} received {COUNT}"));
        assert_eq!(expect_done(s, long), (0, COUNT, COUNT, 0, 0, sum));
    }
    let elapsed = started.elapsed();
    for s in subscribers {
        s.finish();
    }
    eprintln!(
        "1 publisher x 4 subscriber processes x {COUNT} messages (8..=128 B): {elapsed:.2?}, {:.0} messages/s per subscriber",
        COUNT as f64 / elapsed.as_secs_f64()
    );
}

#[test]
fn a_slow_lossy_subscriber_accounts_for_every_message_and_never_sees_a_torn_one() {
    const COUNT: u64 = 20_000;
    // (slots, slot size): small rings, lengths from 8 to the slot size.
    for (slots, slot_size) in [(4, 8), (4, 200), (8, 40), (16, 64), (16, 1000)] {
        let name = Name::new("lossy");
        let ring = ring(&name, Delivery::Lossy, slots, slot_size);
        let after = format!("after:{COUNT}");
        let mut subscribers: Vec<(&str, Peer)> = ["slow", "slow", "fast", &after]
            .into_iter()
            .map(|pace| {
                let peer = Peer::spawn(&["pubsub-subscribe", &name, SEED, pace, "1"]);
                (pace, peer)
            })
            .collect();
        for (_, s) in &mut subscribers {
            s.expect("ready 0");
        }
        let count = COUNT.to_string();
        let mut publisher = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "jitter", "exit"]);
        publisher.expect("ready 0");
        expect_sent(&mut publisher, COUNT, COUNT, PATIENCE);
        publisher.finish();
        let mut report = Vec::new();
        for (pace, mut s) in subscribers {
            let line = s.line(PATIENCE);
            assert!(
                line.starts_with(&format!("disconnected {COUNT} ")),
                "{line}"
            );
            let (joined, next, received, missed, lagged, _) = expect_done(&mut s, PATIENCE);
            s.finish();
            assert_eq!((joined, next), (0, COUNT));
            assert_eq!(
                received + missed,
                COUNT,
                "{pace}: {received} received + {missed} missed"
            );
            assert_eq!(lagged, missed, "{pace}: Lagged(n) sum and missed() differ");
            if pace == after {
                // It read only once everything was published: it must
                // have lost all but (at most) a ring's worth.
                assert!(missed >= COUNT - slots, "{pace}: missed only {missed}");
            }
            report.push(format!("{pace} {received}+{missed}"));
        }
        assert_eq!(ring.published(), COUNT);
        eprintln!(
            "lossy, {slots} slots of {slot_size} B, {COUNT} published: received+missed {}",
            report.join(", ")
        );
    }
}

#[test]
fn a_killed_subscriber_stops_holding_a_blocked_lossless_publisher() {
    const COUNT: u64 = 1000;
    let name = Name::new("killed-sub");
    let ring = ring(&name, Delivery::Lossless, 8, 64);
    let mut holder = Peer::spawn(&["pubsub-hold", &name, "forever"]);
    holder.expect("ready 0");
    let mut reader = Peer::spawn(&["pubsub-subscribe", &name, SEED, "fast", "1"]);
    reader.expect("ready 0");
    let count = COUNT.to_string();
    let mut publisher = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "fast", "exit"]);
    publisher.expect("ready 0");
    // A ring ahead of the holder, which never reads: blocked.
    wait_until("a full ring", PATIENCE, || ring.published() == 8);
    std::thread::sleep(OBSERVE);
    assert_eq!(
        ring.published(),
        8,
        "the publisher passed a live subscriber"
    );
    holder.kill9();
    let resumed = wait_until("the publisher resuming", RESUME_BOUND, || {
        ring.published() > 8
    });
    eprintln!("lossless publisher resumed {resumed:.1?} after its blocking subscriber was killed");
    let sum = expect_sent(&mut publisher, COUNT, COUNT, PATIENCE);
    publisher.finish();
    reader.expect(&format!("disconnected {COUNT} received {COUNT}"));
    assert_eq!(
        expect_done(&mut reader, PATIENCE),
        (0, COUNT, COUNT, 0, 0, sum)
    );
    reader.finish();
    assert_eq!(ring.reaped(), 1);
    assert_eq!(ring.subscriber_count(), 0);
}

#[test]
fn a_subscriber_that_leaves_releases_a_blocked_publisher_at_once() {
    const COUNT: u64 = 1000;
    let name = Name::new("leaving-sub");
    let ring = ring(&name, Delivery::Lossless, 8, 64);
    let mut holder = Peer::spawn(&["pubsub-hold", &name, "until-full"]);
    holder.expect("ready 0");
    let count = COUNT.to_string();
    let mut publisher = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "fast", "exit"]);
    publisher.expect("ready 0");
    holder.expect("leaving");
    holder.expect("left");
    let resumed = wait_until("the publisher resuming", RESUME_BOUND, || {
        ring.published() > 8
    });
    eprintln!("lossless publisher resumed {resumed:.1?} after its blocking subscriber left");
    expect_sent(&mut publisher, COUNT, COUNT, PATIENCE);
    publisher.finish();
    // The holder process lives on: the leave, not a reaping, let it go.
    assert_eq!(ring.reaped(), 0);
    assert_eq!(ring.subscriber_count(), 0);
    assert!(ring.subscriber_states().is_empty());
}

/// Checks that running a command under `wrapper` is allowed here; the
/// reason it is not otherwise.
fn permitted(wrapper: &[&str]) -> Result<(), String> {
    if !is_root() {
        return Err("needs root".into());
    }
    let status = std::process::Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg("true")
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", wrapper[0]))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("{wrapper:?} is not permitted here ({status})")),
    }
}

/// The pid (in our namespace) of the only child of `pid`.
fn only_child(pid: u32) -> u32 {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let children = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(first) = children.split_whitespace().next() {
            return first.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "{pid} has no child");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
}

#[test]
fn a_subscriber_in_another_pid_namespace_keeps_the_publisher_waiting_until_killed() {
    let wrapper = ["unshare", "--pid", "--fork", "--kill-child"];
    if let Err(why) = permitted(&wrapper) {
        eprintln!("skipped: {why}");
        return;
    }
    let name = Name::new("pidns-sub");
    let ring = ring(&name, Delivery::Lossless, 4, 16);
    let mut holder = Peer::spawn_wrapped(&wrapper, &["pubsub-hold", &name, "forever"]);
    holder.expect("ready 0");
    let inner = only_child(holder.pid());
    let mut publisher = ring.publisher().unwrap();
    for i in 0..4u64 {
        publisher.try_send(&i.to_le_bytes()).unwrap();
    }
    // A wait of several liveness intervals: a publisher that took the
    // subscriber for dead would reap it and send.
    match publisher.send_timeout(b"more", OBSERVE) {
        Err(SendTimeoutError::Timeout(_)) => {}
        other => panic!("a live subscriber in another PID namespace was passed: {other:?}"),
    }
    assert_eq!(ring.reap_dead_subscribers(), 0);
    let states = ring.subscriber_states();
    assert!(states.len() == 1 && states[0].alive, "{states:?}");
    sigkill(inner);
    let killed = Instant::now();
    publisher.send_timeout(b"more", RESUME_BOUND).unwrap();
    eprintln!(
        "publisher resumed {:.1?} after the subscriber in another PID namespace was killed",
        killed.elapsed()
    );
    assert_eq!(ring.reaped(), 1);
}

/// A `/dev/shm` with 256 KiB, in a private mount namespace: a ring that
/// does not fit is refused with `NoSpace` and leaves no file, and a ring
/// already there keeps every message it held and goes on working.
#[test]
fn a_full_dev_shm_refuses_a_new_ring_and_keeps_the_old_one() {
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o size=256k tmpfs /dev/shm && exec \"$0\" \"$@\"",
    ];
    if let Err(why) = permitted(&wrapper) {
        eprintln!("skipped: {why}");
        return;
    }
    let name = Name::new("full-shm");
    let mut peer = Peer::spawn_wrapped(&wrapper, &["pubsub-full-shm", &name]);
    for line in ["nospace", "clean", "kept 3", "works"] {
        peer.expect(line);
    }
    peer.finish();
}

/// `/proc` mounted `hidepid=2` in a private mount namespace, then the
/// command run as `uid` (as in `tests/liveness.rs`): it cannot see other
/// users' processes.
fn behind_hidepid(uid: u32) -> Vec<String> {
    let script = format!(
        "mount -t proc -o hidepid=2 proc /proc && \
         exec setpriv --reuid={uid} --regid={uid} --clear-groups \"$0\" \"$@\""
    );
    ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
        .iter()
        .map(|s| s.to_string())
        .chain([script])
        .collect()
}

/// Subscriber `nobody`, publisher another non-root uid, each behind
/// `hidepid=2`: neither can read the other's `/proc` entry.
#[test]
fn a_subscriber_of_another_uid_keeps_the_publisher_waiting_until_killed() {
    const COUNT: u64 = 8;
    let wrap_subscriber = behind_hidepid(65534);
    let wrap_subscriber: Vec<&str> = wrap_subscriber.iter().map(String::as_str).collect();
    if let Err(why) = permitted(&wrap_subscriber) {
        eprintln!("skipped: {why}");
        return;
    }
    let name = Name::new("uid-sub");
    let ring = ring(&name, Delivery::Lossless, 4, 16);
    let mut holder = Peer::spawn_wrapped(&wrap_subscriber, &["pubsub-hold", &name, "forever"]);
    holder.expect("ready 0");
    let wrap_publisher = behind_hidepid(65533);
    let wrap_publisher: Vec<&str> = wrap_publisher.iter().map(String::as_str).collect();

    // The premise: the publisher's /proc does not show the subscriber.
    let probe = std::process::Command::new(wrap_publisher[0])
        .args(&wrap_publisher[1..])
        .args(["test", "-e", &format!("/proc/{}/stat", holder.pid())])
        .status()
        .unwrap();
    assert_eq!(
        probe.code(),
        Some(1),
        "hidepid=2 should hide the subscriber"
    );

    let count = COUNT.to_string();
    let mut publisher = Peer::spawn_wrapped(
        &wrap_publisher,
        &["pubsub-publish", &name, &count, SEED, "fast", "exit"],
    );
    publisher.expect("ready 0");
    wait_until("a full ring", PATIENCE, || ring.published() == 4);
    std::thread::sleep(OBSERVE);
    assert_eq!(
        ring.published(),
        4,
        "a live subscriber of another uid was passed"
    );
    assert_eq!(ring.reaped(), 0);
    let states = ring.subscriber_states();
    assert!(states.len() == 1 && states[0].alive, "{states:?}");
    holder.kill9();
    let killed = Instant::now();
    expect_sent(&mut publisher, COUNT, COUNT, RESUME_BOUND);
    eprintln!(
        "publisher of uid 65533 resumed {:.1?} after the subscriber of uid 65534 was killed",
        killed.elapsed()
    );
    publisher.finish();
    assert_eq!(ring.reaped(), 1);
}

/// The publisher is killed: a subscriber receives everything it
/// published, then `Disconnected`; a new publisher continues at the next
/// sequence number, and the subscriber goes on with it.
fn publisher_killed_and_taken_over(delivery: Delivery) {
    const COUNT: u64 = 1000;
    let name = Name::new("killed-pub");
    let ring = ring(&name, delivery, 64, 100);
    let mut subscriber = Peer::spawn(&["pubsub-subscribe", &name, SEED, "fast", "2"]);
    subscriber.expect("ready 0");
    let count = COUNT.to_string();
    let mut first = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "jitter", "hold"]);
    first.expect("ready 0");
    let first_sum = expect_sent(&mut first, COUNT, COUNT, PATIENCE);
    first.kill9();
    let line = subscriber.line(PATIENCE);
    assert_eq!(field(&line, "disconnected"), COUNT, "{line}");
    if delivery == Delivery::Lossless {
        assert_eq!(line, format!("disconnected {COUNT} received {COUNT}"));
    }
    assert!(!ring.is_publisher_attached());
    let mut second = Peer::spawn(&["pubsub-publish", &name, &count, SEED, "fast", "exit"]);
    second.expect(&format!("ready {COUNT}"));
    let second_sum = expect_sent(&mut second, COUNT, 2 * COUNT, PATIENCE);
    second.finish();
    let line = subscriber.line(PATIENCE);
    assert_eq!(field(&line, "disconnected"), 2 * COUNT, "{line}");
    let (joined, next, received, missed, lagged, sum) = expect_done(&mut subscriber, PATIENCE);
    subscriber.finish();
    assert_eq!((joined, next), (0, 2 * COUNT));
    assert_eq!(received + missed, 2 * COUNT);
    assert_eq!(lagged, missed);
    if delivery == Delivery::Lossless {
        assert_eq!(
            (received, sum),
            (2 * COUNT, first_sum.wrapping_add(second_sum))
        );
    }
}

#[test]
fn a_killed_lossless_publisher_is_taken_over_at_the_next_sequence_number() {
    publisher_killed_and_taken_over(Delivery::Lossless);
}

#[test]
fn a_killed_lossy_publisher_is_taken_over_at_the_next_sequence_number() {
    publisher_killed_and_taken_over(Delivery::Lossy);
}

/// The peers' checks are live: a subscriber that expects another
/// stream's messages rejects the first one.
#[test]
fn a_subscriber_rejects_messages_that_are_not_the_expected_ones() {
    let name = Name::new("wrong-seed");
    let _ring = ring(&name, Delivery::Lossless, 8, 64);
    let mut subscriber = Peer::spawn(&["pubsub-subscribe", &name, "4242", "fast", "1"]);
    subscriber.expect("ready 0");
    let mut publisher = Peer::spawn(&["pubsub-publish", &name, "1", SEED, "fast", "exit"]);
    publisher.expect("ready 0");
    expect_sent(&mut publisher, 1, 1, PATIENCE);
    publisher.finish();
    let line = subscriber.line(PATIENCE);
    assert!(
        line.starts_with("error: message 0 is torn or corrupt"),
        "{line}"
    );
}
