//! The tokio endpoints (feature `tokio`): no lost wake-up under a sender
//! that comes in bursts and gaps, async sends into a ring that fills, the
//! stream, cancellation, end of file (dropped and killed peers), clones and
//! returning peers; each test on both ring kinds, under both runtime
//! flavours.
//!
//! `cargo test -p shmring --features tokio --test tokio`. The no-lost-
//! wake-up test moves 1,000,000 messages per case, 200,000 when `CI` is
//! set; `SHMRING_TOKIO_MESSAGES` overrides both.
#![cfg(feature = "tokio")]

mod common;

use common::{Name, PATIENCE, Peer};
use futures_core::Stream;
use futures_core::stream::FusedStream;
use shmring::prelude::*;
use shmring::readiness::tokio::{AsyncReceiver, AsyncRecvError, AsyncSendError, AsyncSender};
use shmring::{AnyRing, Mpmc, PubSub, RingBuilder, RingGeometry, Spsc, TryRecvError, Waitable};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A ring kind under test, with the shapes the tests use.
trait Kind: Ring<Sender: Waitable + 'static, Receiver: Waitable + Unpin + 'static> {
    /// Room for a few hundred test messages.
    fn roomy() -> RingBuilder<Self>;
    /// Room for a handful: fills at once.
    fn small() -> RingBuilder<Self>;
    /// The test peer's subcommand that attaches a sender and sleeps.
    const HOLD_SENDER: &'static str;
}

impl Kind for Spsc {
    fn roomy() -> RingBuilder<Spsc> {
        RingBuilder::new().geometry(RingGeometry::spsc(1 << 14).with_max_message(64))
    }
    fn small() -> RingBuilder<Spsc> {
        RingBuilder::new().geometry(RingGeometry::spsc(256).with_max_message(64))
    }
    const HOLD_SENDER: &'static str = "hold-producer";
}

impl Kind for Mpmc {
    fn roomy() -> RingBuilder<Mpmc> {
        RingBuilder::new().geometry(RingGeometry::mpmc(256, 64))
    }
    fn small() -> RingBuilder<Mpmc> {
        RingBuilder::new().geometry(RingGeometry::mpmc(4, 64))
    }
    const HOLD_SENDER: &'static str = "mpmc-hold-sender";
}

/// xorshift64: a fixed, dependency-free source of bursts and gaps.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Messages for the no-lost-wake-up test.
fn message_count() -> u64 {
    if let Some(n) = std::env::var_os("SHMRING_TOKIO_MESSAGES") {
        return n
            .to_str()
            .and_then(|n| n.parse().ok())
            .expect("SHMRING_TOKIO_MESSAGES: a count");
    }
    if std::env::var_os("CI").is_some() {
        200_000
    } else {
        1_000_000
    }
}

/// Message `seq`: its number, then 0 to 40 bytes that depend on it.
fn encode(seq: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let extra = (seq.wrapping_mul(7) % 41) as usize;
    buf.extend((0..extra).map(|k| (seq as u8).wrapping_add(k as u8)));
}

/// The number of a message, checked against its contents.
fn decode(message: &[u8]) -> u64 {
    let seq = u64::from_le_bytes(message[..8].try_into().expect("8-byte sequence number"));
    let mut expected = Vec::new();
    encode(seq, &mut expected);
    assert_eq!(message, expected, "message {seq} damaged");
    seq
}

/// FNV-1a over every message, in order, on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, message: &[u8]) {
        for &b in message.iter().chain(&(message.len() as u32).to_le_bytes()) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A plain thread that sends messages `0..count` with blocking sends, in
/// random bursts (1 to 64 messages, mostly short) with random gaps (none,
/// a yield, a busy wait of up to 20 µs, or a sleep of up to `max_gap_us`):
/// the short ones land while the receiver is between its last look and
/// its wait, where a lost wake-up would hide. Returns the checksum of what
/// it sent; dropping its sender at the end is the receivers' end of file.
fn bursty_sender<S: MessageSender + 'static>(
    mut tx: S,
    count: u64,
    seed: u64,
    max_gap_us: u64,
) -> JoinHandle<Checksum> {
    std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let (mut sum, mut buf, mut seq) = (Checksum::new(), Vec::new(), 0);
        while seq < count {
            let burst = match rng.below(2) {
                0 => 1 + rng.below(4),
                _ => 1 + rng.below(64),
            };
            for _ in 0..burst.min(count - seq) {
                encode(seq, &mut buf);
                tx.send_timeout(&buf, PATIENCE).expect("send");
                sum.add(&buf);
                seq += 1;
            }
            match rng.below(16) {
                0 => std::thread::sleep(Duration::from_micros(rng.below(max_gap_us + 1))),
                1..=3 => std::thread::yield_now(),
                4..=11 => {
                    let until = Instant::now() + Duration::from_nanos(rng.below(20_000));
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                }
                _ => {}
            }
        }
        sum
    })
}

/// `StreamExt::next` (of futures or tokio-stream), without the dependency.
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Runs `task` on the runtime (a worker thread under the multi-thread
/// flavour, so that the futures must be `Send`), bounded by `PATIENCE`.
async fn bounded<T: Send + 'static>(task: impl Future<Output = T> + Send + 'static) -> T {
    bounded_by(PATIENCE, task).await
}

/// [`bounded`] by `limit`.
async fn bounded_by<T: Send + 'static>(
    limit: Duration,
    task: impl Future<Output = T> + Send + 'static,
) -> T {
    tokio::time::timeout(limit, tokio::spawn(task))
        .await
        .expect("timed out (a lost wake-up?)")
        .expect("task panicked")
}

/// Joins a test thread (which has finished or is about to).
fn join<T>(thread: JoinHandle<T>) -> T {
    thread.join().expect("thread panicked")
}

/// (a) A plain thread sends at a random pace; the async receiver gets every
/// message, in order, intact.
async fn no_lost_wakeup<K: Kind>() {
    let name = Name::new("tokio-wakeup");
    let ring = K::roomy().create(&name).unwrap();
    let count = message_count();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let sender = bursty_sender(ring.sender().unwrap(), count, 1, 200);
    // Generous for a loaded machine running a debug build: a lost wake-up
    // stalls for good (or until the sender's own bound gives up).
    let limit = PATIENCE + Duration::from_micros(100 * count);
    let (received, sum) = bounded_by(limit, async move {
        let (mut next_seq, mut sum) = (0u64, Checksum::new());
        loop {
            // In place, alternating with copies out.
            let outcome = if next_seq % 2 == 0 {
                rx.recv_with(|m| {
                    sum.add(m);
                    decode(m)
                })
                .await
            } else {
                rx.recv().await.map(|m| {
                    sum.add(&m);
                    decode(&m)
                })
            };
            match outcome {
                Ok(seq) => {
                    assert_eq!(seq, next_seq, "out of order");
                    next_seq += 1;
                }
                Err(AsyncRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        (next_seq, sum)
    })
    .await;
    assert_eq!(received, count);
    assert_eq!(sum, join(sender));
}

/// (b) Async sends into a small ring that fills, read by a slow plain
/// thread: everything is delivered, in order.
async fn send_into_a_full_ring<K: Kind>() {
    const COUNT: u64 = 5_000;
    let name = Name::new("tokio-full");
    let ring = K::small().create(&name).unwrap();
    let mut rx = ring.receiver().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut rng, mut sum, mut n) = (Rng::new(2), Checksum::new(), 0u64);
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(m) => {
                    sum.add(&m);
                    assert_eq!(decode(&m), n, "out of order");
                    n += 1;
                }
                Err(shmring::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
            if rng.below(16) == 0 {
                std::thread::sleep(Duration::from_micros(rng.below(200)));
            }
        }
        (n, sum)
    });
    let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
    let sent = bounded(async move {
        let (mut sum, mut buf) = (Checksum::new(), Vec::new());
        for seq in 0..COUNT {
            encode(seq, &mut buf);
            if seq % 2 == 0 {
                tx.send(&buf)
                    .await
                    .map_err(|e| e.without_message())
                    .unwrap();
            } else {
                tx.send_with(buf.len(), |room| room.copy_from_slice(&buf))
                    .await
                    .unwrap();
            }
            sum.add(&buf);
        }
        sum
        // `tx` drops here: the reader's end of file.
    })
    .await;
    assert_eq!(join(reader), (COUNT, sent));
}

/// (c) The receiver as a stream: every message, then the end once the
/// sender is gone.
async fn stream_until_the_sender_leaves<K: Kind>() {
    const COUNT: u64 = 20_000;
    let name = Name::new("tokio-stream");
    let ring = K::roomy().create(&name).unwrap();
    let mut stream = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let sender = bursty_sender(ring.sender().unwrap(), COUNT, 3, 200);
    let (n, sum, stream) = bounded(async move {
        let (mut n, mut sum) = (0u64, Checksum::new());
        while let Some(message) = next(&mut stream).await {
            let message = message.unwrap();
            assert_eq!(decode(&message), n);
            sum.add(&message);
            n += 1;
        }
        (n, sum, stream)
    })
    .await;
    assert_eq!((n, sum), (COUNT, join(sender)));
    // Ended for good.
    let mut stream = stream;
    assert!(stream.is_terminated());
    assert!(matches!(
        poll_once(&mut Box::pin(next(&mut stream))),
        Poll::Ready(None)
    ));
}

/// (d) Receives raced against short timers and polled once then dropped,
/// many times, while a thread sends: every message arrives exactly once.
async fn cancelled_receives_lose_nothing<K: Kind>() {
    const COUNT: u64 = 20_000;
    let name = Name::new("tokio-cancel");
    let ring = K::roomy().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    // Gaps of up to 3 ms: longer than the timer's 1 ms resolution.
    let sender = bursty_sender(ring.sender().unwrap(), COUNT, 4, 3_000);
    let (n, sum, cancelled) = bounded(async move {
        let (mut rng, mut n, mut sum, mut cancelled) = (Rng::new(5), 0u64, Checksum::new(), 0u64);
        loop {
            let outcome = match rng.below(3) {
                // Against a timer of 0 to 2 ms.
                0 => {
                    let timer = tokio::time::sleep(Duration::from_micros(rng.below(2_000)));
                    tokio::select! {
                        outcome = rx.recv() => outcome,
                        () = timer => {
                            cancelled += 1;
                            continue;
                        }
                    }
                }
                // Polled once, then dropped if still pending.
                1 => {
                    let mut receive = Box::pin(rx.recv());
                    match poll_once(&mut receive) {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => {
                            drop(receive);
                            cancelled += 1;
                            tokio::task::yield_now().await;
                            continue;
                        }
                    }
                }
                _ => rx.recv().await,
            };
            match outcome {
                Ok(message) => {
                    assert_eq!(decode(&message), n, "lost or repeated");
                    sum.add(&message);
                    n += 1;
                }
                Err(AsyncRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        (n, sum, cancelled)
    })
    .await;
    assert_eq!((n, sum), (COUNT, join(sender)));
    eprintln!("{cancelled} receives cancelled");
}

/// (d) A dropped receive took nothing; a dropped send sent nothing and
/// holds no room.
async fn dropped_futures_take_and_hold_nothing<K: Kind>() {
    let name = Name::new("tokio-drop");
    let ring = K::small().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();

    // A receive on an empty ring, dropped: the message sent after it is
    // there for the next one.
    assert!(poll_once(&mut Box::pin(rx.recv())).is_pending());
    tx.get_mut().try_send(b"kept").unwrap();
    assert_eq!(rx.recv().await.unwrap(), b"kept");

    // Fill the ring; count what fits.
    let mut fits = 0;
    while tx.get_mut().try_send(&[fits as u8; 16]).is_ok() {
        fits += 1;
    }
    assert!(fits > 0);
    // Sends into the full ring, dropped.
    for _ in 0..3 {
        assert!(poll_once(&mut Box::pin(tx.send(b"dropped"))).is_pending());
        assert!(poll_once(&mut Box::pin(tx.send_with(16, |_| ()))).is_pending());
    }
    // Exactly what was sent, and then as much room as before.
    for i in 0..fits {
        assert_eq!(rx.recv().await.unwrap(), [i as u8; 16]);
    }
    assert_eq!(rx.get_mut().try_recv().err(), Some(TryRecvError::Empty));
    let mut again = 0;
    while tx.get_mut().try_send(&[0; 16]).is_ok() {
        again += 1;
    }
    assert_eq!(again, fits);
}

/// (e) End of file: after the last message once the sender is dropped,
/// also when the receiver was already waiting; a sender waiting for room
/// sees the receiver go.
async fn end_of_file<K: Kind>() {
    let name = Name::new("tokio-eof");
    let ring = K::small().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let mut tx = ring.sender().unwrap();
    tx.try_send(b"one").unwrap();
    tx.try_send(b"two").unwrap();
    drop(tx);
    assert_eq!(rx.recv().await.unwrap(), b"one");
    assert_eq!(rx.recv().await.unwrap(), b"two");
    assert!(matches!(rx.recv().await, Err(AsyncRecvError::Disconnected)));
    drop(rx);

    // Waiting already when the sender goes (the hang-up wakes it).
    let name = Name::new("tokio-eof-wait");
    let ring = K::small().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let tx = ring.sender().unwrap();
    let waiting = tokio::spawn(async move { rx.recv().await.map(|_| ()) });
    let dropper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(tx);
    });
    let outcome = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("not woken")
        .unwrap();
    assert!(
        matches!(outcome, Err(AsyncRecvError::Disconnected)),
        "{outcome:?}"
    );
    join(dropper);

    // A sender waiting for room when the receiver goes.
    let name = Name::new("tokio-eof-send");
    let ring = K::small().create(&name).unwrap();
    let rx = ring.receiver().unwrap();
    let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
    while tx.get_mut().try_send(b"fill").is_ok() {}
    let waiting =
        tokio::spawn(async move { tx.send(b"more").await.map_err(|e| e.without_message()) });
    let dropper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
    });
    let outcome = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("not woken")
        .unwrap();
    assert!(
        matches!(outcome, Err(AsyncSendError::Disconnected(()))),
        "{outcome:?}"
    );
    join(dropper);
}

/// (e) A sender in another process killed with SIGKILL: the waiting
/// receiver sees end of file.
async fn end_of_file_when_the_sender_is_killed<K: Kind>() {
    let name = Name::new("tokio-kill");
    let ring = K::small().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let mut peer = Peer::spawn(&[K::HOLD_SENDER, &name]);
    peer.expect("ready");
    let waiting = tokio::spawn(async move { rx.recv().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    peer.kill9();
    let outcome = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("not woken")
        .unwrap();
    assert!(
        matches!(outcome, Err(AsyncRecvError::Disconnected)),
        "{outcome:?}"
    );
}

/// Counts the polls of a future.
struct Counted<F> {
    future: Pin<Box<F>>,
    polls: u32,
}

impl<F: Future> Counted<F> {
    fn new(future: F) -> Counted<F> {
        Counted {
            future: Box::pin(future),
            polls: 0,
        }
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = (F::Output, u32);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        let polls = self.polls;
        self.future.as_mut().poll(cx).map(|out| (out, polls))
    }
}

/// An endpoint woken by its peers' going (a hang-up, or an error for a
/// sender), which tokio keeps for good, still waits properly for peers
/// that come later: it is not reported ready over and over (its descriptor
/// is registered afresh).
async fn returning_peers_are_waited_for<K: Kind>() {
    // Receiving side: woken by the hang-up, end of file, then a new sender.
    let name = Name::new("tokio-return-rx");
    let ring = K::roomy().create(&name).unwrap();
    let mut rx = AsyncReceiver::new(ring.receiver().unwrap()).unwrap();
    let mut first = ring.sender().unwrap();
    let leaving = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        first.send(b"first").unwrap();
        std::thread::sleep(Duration::from_millis(20));
    });
    let mut rx = bounded(async move {
        assert_eq!(rx.recv().await.unwrap(), b"first");
        // Waits, and the hang-up wakes it.
        assert!(matches!(rx.recv().await, Err(AsyncRecvError::Disconnected)));
        rx
    })
    .await;
    join(leaving);
    let mut second = ring.sender().unwrap();
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        second.send(b"second").unwrap();
        second
    });
    let (outcome, polls) = bounded(async move { Counted::new(rx.recv()).await }).await;
    assert_eq!(outcome.unwrap(), b"second");
    // A handful (the first look, the doorbell's wake-up), not one per turn
    // of the runtime for 50 ms.
    assert!(polls <= 5, "receive polled {polls} times while waiting");
    drop(join(later));

    // Sending side: woken by the receivers' going, then a new receiver.
    let name = Name::new("tokio-return-tx");
    let ring = K::small().create(&name).unwrap();
    let mut tx = AsyncSender::new(ring.sender().unwrap()).unwrap();
    while tx.get_mut().try_send(b"fill").is_ok() {}
    let first = ring.receiver().unwrap();
    let leaving = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(first);
    });
    let mut tx = bounded(async move {
        let outcome = tx.send(b"lost").await.map_err(|e| e.without_message());
        assert!(
            matches!(outcome, Err(AsyncSendError::Disconnected(()))),
            "{outcome:?}"
        );
        tx
    })
    .await;
    join(leaving);
    // The ring is still full, for the next receiver to drain, later.
    let mut second = ring.receiver().unwrap();
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let mut n = 0;
        while let Ok(m) = second.recv_timeout(PATIENCE) {
            n += 1;
            if &*m == b"last" {
                break;
            }
        }
        n
    });
    let (outcome, polls) = bounded(async move {
        Counted::new(async { tx.send(b"last").await.map_err(|e| e.without_message()) }).await
    })
    .await;
    outcome.unwrap();
    assert!(polls <= 5, "send polled {polls} times while waiting");
    assert!(join(later) > 1);
}

/// Both sides async, through the kind-erased endpoints of a ring opened by
/// name.
async fn any_endpoints_both_async<K: Kind>() {
    const COUNT: u64 = 10_000;
    let name = Name::new("tokio-any");
    let _ring = K::small().create(&name).unwrap();
    let any = AnyRing::open(&name).unwrap();
    let mut tx = AsyncSender::new(any.sender().unwrap()).unwrap();
    let mut rx = AsyncReceiver::new(any.receiver().unwrap()).unwrap();
    let sending = tokio::spawn(async move {
        let (mut buf, mut sum) = (Vec::new(), Checksum::new());
        for seq in 0..COUNT {
            encode(seq, &mut buf);
            tx.send(&buf)
                .await
                .map_err(|e| e.without_message())
                .unwrap();
            sum.add(&buf);
        }
        sum
    });
    let (n, sum) = bounded(async move {
        let (mut n, mut sum, mut buf) = (0u64, Checksum::new(), Vec::new());
        loop {
            match rx.recv_into(&mut buf).await {
                Ok(len) => assert_eq!(len, buf.len()),
                Err(AsyncRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
            assert_eq!(decode(&buf), n);
            sum.add(&buf);
            n += 1;
        }
        (n, sum)
    })
    .await;
    let sent = tokio::time::timeout(PATIENCE, sending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n, sum), (COUNT, sent));
}

/// Every test above, on both kinds, under both flavours.
macro_rules! on_every_kind_and_flavour {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                use super::*;

                #[tokio::test(flavor = "current_thread")]
                async fn spsc_current_thread() {
                    super::$test::<Spsc>().await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn spsc_multi_thread() {
                    super::$test::<Spsc>().await
                }

                #[tokio::test(flavor = "current_thread")]
                async fn mpmc_current_thread() {
                    super::$test::<Mpmc>().await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mpmc_multi_thread() {
                    super::$test::<Mpmc>().await
                }
            }
        )*
    };
}

on_every_kind_and_flavour!(
    no_lost_wakeup,
    send_into_a_full_ring,
    stream_until_the_sender_leaves,
    cancelled_receives_lose_nothing,
    dropped_futures_take_and_hold_nothing,
    end_of_file,
    end_of_file_when_the_sender_is_killed,
    returning_peers_are_waited_for,
    any_endpoints_both_async,
);

/// The clones of an MPMC receiver, each wrapped (each registers a
/// descriptor of its own), share the messages: each arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpmc_clones_share_the_messages() {
    const COUNT: u64 = 20_000;
    let name = Name::new("tokio-clones");
    let queue = Mpmc::roomy().create(&name).unwrap();
    let receiver = queue.receiver().unwrap();
    let sender = bursty_sender(queue.sender().unwrap(), COUNT, 6, 200);
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = AsyncReceiver::new(receiver.clone()).unwrap();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Ok(m) = rx.recv().await {
                    seen.push(decode(&m));
                }
                seen
            })
        })
        .collect();
    drop(receiver);
    let mut all = Vec::new();
    for task in tasks {
        let seen = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("timed out")
            .unwrap();
        // Each clone's share is in order.
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        all.extend(seen);
    }
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(0..COUNT),
        "lost or repeated messages"
    );
    join(sender);
}

/// Publish/subscribe: every async subscriber of a lossless ring gets every
/// message of a bursty publisher, in order, intact (no lost wake-up on any
/// subscriber's own descriptor), then end of file.
async fn pubsub_subscribers_miss_no_wakeup() {
    let count = message_count() / 4;
    let name = Name::new("tokio-pubsub");
    let ring = RingBuilder::<PubSub>::new()
        .geometry(RingGeometry::pubsub(64, 64))
        .create(&name)
        .unwrap();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = AsyncReceiver::new(ring.subscriber().unwrap()).unwrap();
            tokio::spawn(async move {
                let (mut sum, mut expected) = (Checksum::new(), 0);
                loop {
                    match rx.recv().await {
                        Ok(m) => {
                            assert_eq!(decode(&m), expected);
                            sum.add(&m);
                            expected += 1;
                        }
                        Err(AsyncRecvError::Disconnected) => return (expected, sum),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let sent = bursty_sender(ring.publisher().unwrap(), count, 17, 200);
    let expected = sum_of(count);
    for task in tasks {
        let (received, sum) = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a subscriber missed a wake-up")
            .unwrap();
        assert_eq!((received, sum), (count, expected));
    }
    assert_eq!(join(sent), expected);
}

/// The checksum of messages `0..count`, as `bursty_sender` sends them.
fn sum_of(count: u64) -> Checksum {
    let (mut sum, mut buf) = (Checksum::new(), Vec::new());
    for seq in 0..count {
        encode(seq, &mut buf);
        sum.add(&buf);
    }
    sum
}

/// Publish/subscribe: an async publisher waits in a full lossless ring
/// until the slowest subscriber reads, and a killed publisher is the
/// subscribers' end of file.
async fn pubsub_publisher_waits_and_its_death_is_end_of_file() {
    let name = Name::new("tokio-pubsub-full");
    let ring = RingBuilder::<PubSub>::new()
        .geometry(RingGeometry::pubsub(4, 64))
        .create(&name)
        .unwrap();
    let mut slow = ring.subscriber().unwrap();
    let mut tx = AsyncSender::new(ring.publisher().unwrap()).unwrap();
    while tx.get_mut().try_send(b"fill").is_ok() {}
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        let first = slow.recv_timeout(PATIENCE).map(|m| m.to_vec());
        (first, slow)
    });
    bounded(async move {
        tx.send(b"after")
            .await
            .map_err(|e| e.without_message())
            .unwrap();
    })
    .await;
    let (first, _slow) = join(reader);
    assert_eq!(first.unwrap(), b"fill");

    let name = Name::new("tokio-pubsub-kill");
    let ring = RingBuilder::<PubSub>::new()
        .geometry(RingGeometry::pubsub(4, 64))
        .create(&name)
        .unwrap();
    let mut rx = AsyncReceiver::new(ring.subscriber().unwrap()).unwrap();
    let mut peer = Peer::spawn(&["pubsub-publish", &name, "0", "1", "fast", "hold"]);
    peer.expect("ready 0");
    let waiting = tokio::spawn(async move { rx.recv().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(20)).await;
    peer.kill9();
    let outcome = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("not woken")
        .unwrap();
    assert!(
        matches!(outcome, Err(AsyncRecvError::Disconnected)),
        "{outcome:?}"
    );
}

/// The publish/subscribe tests, under both flavours.
macro_rules! on_both_flavours {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "current_thread")]
                async fn current_thread() {
                    super::$test().await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn multi_thread() {
                    super::$test().await
                }
            }
        )*
    };
}

on_both_flavours!(
    pubsub_subscribers_miss_no_wakeup,
    pubsub_publisher_waits_and_its_death_is_end_of_file,
);
