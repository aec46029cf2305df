//! The tokio rows (feature `tokio`): 64-byte round trips between two
//! tasks in one process, arranged two ways: one task on each of two
//! current-thread runtimes (two threads, one per CPU), and two tasks of
//! one multi-thread runtime (two workers), over
//!
//! - shmring SPSC rings (one per direction) through
//!   `shmring::readiness::tokio::{AsyncSender, AsyncReceiver}` (tokio's
//!   `AsyncFd` over each endpoint's descriptor),
//! - a `tokio::net::UnixStream::pair`, each message a fixed-size frame,
//! - two `tokio::sync::mpsc` channels of owned buffers.
//!
//! The loops are those of [`traffic`](crate::traffic) (warm-up, round
//! trips, then one-way times measured by the echo), written once more
//! over async halves: a task cannot block in `Tx::send`.

use crate::Result;
use crate::clock::now_ns;
use crate::mechanism::Mechanism;
use crate::pin::pin_current_thread;
use crate::plan::Plan;
use crate::traffic::{
    FIRST_DATA, LatencyRun, MARK, MARK_ONE_WAY, MIN_SAMPLES, STOP, Timing, first_word, histogram,
    message, read_whole, set_first_word,
};
use hdrhistogram::Histogram;
use std::future::Future;
use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The sending half of an async mechanism.
pub trait AsyncTx: Send {
    /// Sends `msg` whole, waiting (as a task) while there is no room.
    fn send(&mut self, msg: &[u8]) -> impl Future<Output = Result<()>> + Send;
}

/// The receiving half of an async mechanism.
pub trait AsyncRx: Send {
    /// Waits (as a task) for the next message.
    fn recv(&mut self) -> impl Future<Output = Result<&[u8]>> + Send;
}

/// Sender side of a latency row: as [`traffic::round_trips`](crate::traffic::round_trips).
pub async fn round_trips(
    tx: &mut impl AsyncTx,
    rx: &mut impl AsyncRx,
    size: usize,
    timing: Timing,
) -> Result<Vec<LatencyRun>> {
    let mut msg = message(size);
    let mut counter = FIRST_DATA;
    let until = Instant::now() + timing.warm_up;
    while Instant::now() < until {
        exchange(tx, rx, &mut msg, counter).await?;
        counter += 1;
    }
    let mut results = Vec::with_capacity(timing.runs);
    for _ in 0..timing.runs {
        exchange(tx, rx, &mut msg, MARK).await?;
        let mut h = histogram();
        let until = Instant::now() + timing.run;
        let mut before = now_ns();
        while h.len() < MIN_SAMPLES || Instant::now() < until {
            exchange(tx, rx, &mut msg, counter).await?;
            counter += 1;
            let after = now_ns();
            h.saturating_record(after - before);
            before = after;
        }
        results.push(LatencyRun::of(&h));
    }
    for _ in 0..timing.runs {
        exchange(tx, rx, &mut msg, MARK_ONE_WAY).await?;
        let until = Instant::now() + timing.run;
        let mut sent = 0;
        while sent < MIN_SAMPLES || Instant::now() < until {
            exchange(tx, rx, &mut msg, now_ns().max(FIRST_DATA)).await?;
            sent += 1;
        }
    }
    exchange(tx, rx, &mut msg, MARK).await?;
    exchange(tx, rx, &mut msg, STOP).await?;
    Ok(results)
}

async fn exchange(
    tx: &mut impl AsyncTx,
    rx: &mut impl AsyncRx,
    msg: &mut [u8],
    word: u64,
) -> Result<()> {
    set_first_word(msg, word);
    tx.send(msg).await?;
    let reply = rx.recv().await?;
    read_whole(reply);
    let echoed = first_word(reply)?;
    if echoed != word {
        return Err(format!("echo returned word {echoed}, sent {word}").into());
    }
    Ok(())
}

/// Echo side of a latency row: as [`traffic::echo`](crate::traffic::echo).
pub async fn echo(tx: &mut impl AsyncTx, rx: &mut impl AsyncRx) -> Result<Vec<LatencyRun>> {
    let mut runs = Vec::new();
    let mut current: Option<Histogram<u64>> = None;
    loop {
        let timed = current.is_some();
        let msg = rx.recv().await?;
        let arrived = if timed { now_ns() } else { 0 };
        tx.send(msg).await?;
        match first_word(msg)? {
            STOP => return Ok(runs),
            word @ (MARK | MARK_ONE_WAY) => {
                if let Some(h) = current.take() {
                    runs.push(LatencyRun::of(&h));
                }
                if word == MARK_ONE_WAY {
                    current = Some(histogram());
                }
            }
            sent => {
                if let Some(h) = current.as_mut() {
                    h.saturating_record(arrived.saturating_sub(sent));
                }
            }
        }
    }
}

/// How the two tasks of a row are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrangement {
    /// One current-thread runtime per side, each on its own thread pinned
    /// to its own CPU: every message wakes the other thread, which waits
    /// in its runtime's `epoll_wait`.
    TwoRuntimes,
    /// Both tasks on one multi-thread runtime with two workers (one pinned
    /// to each CPU): tokio decides where each task runs.
    MultiThread,
}

/// Measures one tokio row: (round-trip runs, one-way runs).
pub fn measure(
    mechanism: Mechanism,
    size: usize,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)> {
    use Arrangement::{MultiThread, TwoRuntimes};
    let timing = Timing {
        warm_up: plan.warm_up,
        run: plan.latency_run,
        runs: plan.runs,
    };
    match mechanism {
        Mechanism::TokioSpsc => row::<spsc::Rings>(TwoRuntimes, size, timing, cpus),
        Mechanism::TokioUnixStream => row::<unix::Socket>(TwoRuntimes, size, timing, cpus),
        Mechanism::TokioMpsc => row::<mpsc::Channels>(TwoRuntimes, size, timing, cpus),
        Mechanism::TokioMtSpsc => row::<spsc::Rings>(MultiThread, size, timing, cpus),
        Mechanism::TokioMtUnixStream => row::<unix::Socket>(MultiThread, size, timing, cpus),
        Mechanism::TokioMtMpsc => row::<mpsc::Channels>(MultiThread, size, timing, cpus),
        _ => Err(format!("{mechanism} is no tokio row").into()),
    }
}

/// A transport of the tokio rows: made outside any runtime, then wrapped
/// by each side in the runtime that will poll it (a descriptor registers
/// with the reactor of the runtime it is wrapped in).
trait Transport {
    /// One side's halves before they are wrapped.
    type Raw: Send + 'static;
    /// The sending half.
    type Tx: AsyncTx + 'static;
    /// The receiving half.
    type Rx: AsyncRx + 'static;
    /// What must live as long as the row (names to remove).
    type Keep;
    /// Both sides: (the round trips', the echo's).
    fn pair(size: usize) -> Result<(Self::Raw, Self::Raw, Self::Keep)>;
    /// One side's halves; called inside the runtime that polls them.
    fn wrap(raw: Self::Raw, size: usize) -> Result<(Self::Tx, Self::Rx)>;
}

fn row<X: Transport>(
    arrangement: Arrangement,
    size: usize,
    timing: Timing,
    cpus: Option<(usize, usize)>,
) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)> {
    let (ours, theirs, _keep) = X::pair(size)?;
    match arrangement {
        Arrangement::TwoRuntimes => {
            // The echo on a thread of its own, on the other CPU; the round
            // trips on this thread, which the runner pinned to the first.
            let echoing = std::thread::spawn(move || -> Result<Vec<LatencyRun>> {
                if let Some((_, cpu)) = cpus {
                    pin_current_thread(cpu);
                }
                let runtime = current_thread()?;
                runtime.block_on(async move {
                    let (mut tx, mut rx) = X::wrap(theirs, size)?;
                    echo(&mut tx, &mut rx).await
                })
            });
            let runtime = current_thread()?;
            let rtt = runtime.block_on(async move {
                let (mut tx, mut rx) = X::wrap(ours, size)?;
                round_trips(&mut tx, &mut rx, size, timing).await
            });
            // The halves are gone with the runtime's future: a failed side
            // ends the other at its next receive.
            let one_way = echoing.join().map_err(|_| "the echo thread panicked")?;
            Ok((rtt?, one_way?))
        }
        Arrangement::MultiThread => {
            let started = Arc::new(AtomicUsize::new(0));
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_io()
                .on_thread_start(move || {
                    if let Some((a, b)) = cpus {
                        let nth = started.fetch_add(1, Ordering::Relaxed);
                        pin_current_thread(if nth % 2 == 0 { a } else { b });
                    }
                })
                .build()?;
            let outcome = runtime.block_on(async move {
                let ours = X::wrap(ours, size)?;
                let theirs = X::wrap(theirs, size)?;
                run(ours, theirs, size, timing).await
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
            outcome
        }
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?)
}

/// Runs the echo and the round trips as two tasks of the current
/// (multi-thread) runtime.
async fn run<T, R, U, S>(
    ours: (T, R),
    theirs: (U, S),
    size: usize,
    timing: Timing,
) -> Result<(Vec<LatencyRun>, Vec<LatencyRun>)>
where
    T: AsyncTx + 'static,
    R: AsyncRx + 'static,
    U: AsyncTx + 'static,
    S: AsyncRx + 'static,
{
    let echoing = tokio::spawn(async move {
        let (mut tx, mut rx) = theirs;
        echo(&mut tx, &mut rx).await
    });
    let sending = tokio::spawn(async move {
        let (mut tx, mut rx) = ours;
        round_trips(&mut tx, &mut rx, size, timing).await
    });
    // The sender's error first: the echo only fails because of it (its
    // peer went away).
    let rtt = sending.await.map_err(|e| format!("round-trip task: {e}"))?;
    let one_way = echoing.await.map_err(|e| format!("echo task: {e}"))?;
    Ok((rtt?, one_way?))
}

/// shmring SPSC rings, one per direction, through the async endpoints.
mod spsc {
    use super::{AsyncRx, AsyncTx, Transport};
    use crate::Result;
    use crate::link::{rings, unique_tag};
    use crate::mechanism::Mechanism;
    use shmring::readiness::tokio::{AsyncReceiver, AsyncSender};
    use shmring::{Consumer, Producer, RingBuilder, Spsc};

    /// `AsyncSender::send`: one copy into the ring.
    pub(super) struct Tx(AsyncSender<Producer>);

    /// `AsyncReceiver::recv_into`: one copy out of the ring, as the UNIX
    /// socket's read makes one.
    pub(super) struct Rx(AsyncReceiver<Consumer>, Vec<u8>);

    impl AsyncTx for Tx {
        async fn send(&mut self, msg: &[u8]) -> Result<()> {
            self.0
                .send(msg)
                .await
                .map_err(|e| format!("shmring send: {e}").into())
        }
    }

    impl AsyncRx for Rx {
        async fn recv(&mut self) -> Result<&[u8]> {
            self.0
                .recv_into(&mut self.1)
                .await
                .map_err(|e| format!("shmring recv: {e}"))?;
            Ok(&self.1)
        }
    }

    /// The rings' names, removed when dropped (the endpoints keep the
    /// rings).
    pub(super) struct Names(Vec<String>);

    impl Drop for Names {
        fn drop(&mut self) {
            for name in &self.0 {
                let _ = shmring::unlink(name);
            }
        }
    }

    /// Two SPSC rings (`up`, `down`) made as the SPSC rows make them.
    pub(super) struct Rings;

    impl Transport for Rings {
        type Raw = (Producer, Consumer);
        type Tx = Tx;
        type Rx = Rx;
        type Keep = Names;

        fn pair(size: usize) -> Result<(Self::Raw, Self::Raw, Names)> {
            let geometry = rings::geometry(Mechanism::TokioSpsc, size).ok_or("no SPSC geometry")?;
            let builder = RingBuilder::<Spsc>::new().geometry(geometry);
            let tag = unique_tag();
            let mut names = Names(Vec::new());
            let mut ring = |direction: &str| -> Result<Spsc> {
                let name = format!("{tag}-{direction}");
                let ring = builder.create(&name)?;
                names.0.push(name);
                Ok(ring)
            };
            let (up, down) = (ring("up")?, ring("down")?);
            let ours = (up.producer()?, down.consumer()?);
            let theirs = (down.producer()?, up.consumer()?);
            Ok((ours, theirs, names))
        }

        fn wrap((tx, rx): Self::Raw, size: usize) -> Result<(Tx, Rx)> {
            Ok((
                Tx(AsyncSender::new(tx)?),
                Rx(AsyncReceiver::new(rx)?, Vec::with_capacity(size)),
            ))
        }
    }
}

/// A UNIX stream socket pair; each message a `size`-byte frame.
mod unix {
    use super::{AsyncRx, AsyncTx, ErrorKind, Transport};
    use crate::Result;
    use tokio::net::UnixStream;
    use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

    /// Writes the frame whole, waiting for room as tokio does.
    pub(super) struct Tx(OwnedWriteHalf);

    /// Reads exactly one frame.
    pub(super) struct Rx(OwnedReadHalf, Vec<u8>);

    impl AsyncTx for Tx {
        async fn send(&mut self, mut msg: &[u8]) -> Result<()> {
            while !msg.is_empty() {
                match self.0.try_write(msg) {
                    Ok(n) => msg = &msg[n..],
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.0.writable().await?,
                    Err(e) => return Err(format!("write: {e}").into()),
                }
            }
            Ok(())
        }
    }

    impl AsyncRx for Rx {
        async fn recv(&mut self) -> Result<&[u8]> {
            let mut filled = 0;
            while filled < self.1.len() {
                match self.0.try_read(&mut self.1[filled..]) {
                    Ok(0) => return Err("socket closed in the middle of the row".into()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.0.readable().await?,
                    Err(e) => return Err(format!("read: {e}").into()),
                }
            }
            Ok(&self.1)
        }
    }

    /// `UnixStream::pair`, each end split into its two halves.
    pub(super) struct Socket;

    impl Transport for Socket {
        type Raw = std::os::unix::net::UnixStream;
        type Tx = Tx;
        type Rx = Rx;
        type Keep = ();

        fn pair(_: usize) -> Result<(Self::Raw, Self::Raw, ())> {
            let (a, b) = std::os::unix::net::UnixStream::pair()?;
            Ok((a, b, ()))
        }

        fn wrap(raw: Self::Raw, size: usize) -> Result<(Tx, Rx)> {
            raw.set_nonblocking(true)?;
            let (read, write) = UnixStream::from_std(raw)?.into_split();
            Ok((Tx(write), Rx(read, vec![0; size])))
        }
    }
}

/// `tokio::sync::mpsc` of owned buffers, one channel per direction.
mod mpsc {
    use super::{AsyncRx, AsyncTx, Transport};
    use crate::Result;
    use tokio::sync::mpsc::{Receiver, Sender, channel};

    /// Each message a fresh `Vec<u8>`, as the crossbeam row sends it.
    pub(super) struct Tx(Sender<Vec<u8>>);

    /// Keeps the last buffer received.
    pub(super) struct Rx(Receiver<Vec<u8>>, Vec<u8>);

    impl AsyncTx for Tx {
        async fn send(&mut self, msg: &[u8]) -> Result<()> {
            self.0
                .send(msg.to_vec())
                .await
                .map_err(|_| "channel closed".into())
        }
    }

    impl AsyncRx for Rx {
        async fn recv(&mut self) -> Result<&[u8]> {
            self.1 = self.0.recv().await.ok_or("channel closed")?;
            Ok(&self.1)
        }
    }

    /// Two bounded channels, one per direction.
    pub(super) struct Channels;

    impl Transport for Channels {
        type Raw = (Sender<Vec<u8>>, Receiver<Vec<u8>>);
        type Tx = Tx;
        type Rx = Rx;
        type Keep = ();

        fn pair(_: usize) -> Result<(Self::Raw, Self::Raw, ())> {
            // A round trip has one message in flight: the bound never bites.
            let (up_tx, up_rx) = channel(16);
            let (down_tx, down_rx) = channel(16);
            Ok(((up_tx, down_rx), (down_tx, up_rx), ()))
        }

        fn wrap((tx, rx): Self::Raw, _: usize) -> Result<(Tx, Rx)> {
            Ok((Tx(tx), Rx(rx, Vec::new())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tokio_row_measures_both_patterns() {
        let ms = Duration::from_millis(5);
        let plan = Plan {
            quick: true,
            sizes: vec![Mechanism::TOKIO_SIZE],
            warm_up: ms,
            run: ms,
            latency_run: ms,
            runs: 2,
            row_limit: Duration::from_secs(20),
            only: None,
        };
        for mechanism in Mechanism::TOKIO {
            let (rtt, one_way) = measure(mechanism, Mechanism::TOKIO_SIZE, &plan, None)
                .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
            assert_eq!((rtt.len(), one_way.len()), (2, 2), "{mechanism}");
            assert!(rtt.iter().chain(&one_way).all(|r| r.samples >= MIN_SAMPLES));
        }
    }
}
