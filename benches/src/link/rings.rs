//! shmring itself, every ring kind through one path: the rings of a row
//! are made and opened generically over [`Ring`], and measured through
//! [`MessageSender`]/[`MessageReceiver`]. The loops are monomorphised per
//! kind (no dispatch per message); only [`open`] names the kinds.

use super::epoll::{EpollRx, EpollTx};
use super::{AnyEnds, Ends, Pattern};
use crate::Result;
use crate::mechanism::Mechanism;
use crate::traffic::{FILL, Rx, Tx};
use shmring::prelude::*;
use shmring::{Delivery, RingBuilder, RingGeometry, RingKind, WaitStrategy, Waitable};

/// `send`: one copy into the ring.
#[derive(Debug)]
pub struct SendTx<S>(pub S);

/// `reserve` + `commit`: the message is written in place (its first word,
/// then the fill), as an application producing into the ring would.
#[derive(Debug)]
pub struct ReserveTx<S>(pub S);

/// `recv`: the guard reads the message in place.
#[derive(Debug)]
pub struct GuardRx<R>(pub R);

/// `recv_into`: one copy out of the ring.
#[derive(Debug)]
pub struct CopyRx<R>(pub R, pub Vec<u8>);

impl<S: MessageSender> Tx for SendTx<S> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.0.send(msg).map_err(|e| e.without_message().into())
    }
}

impl<S: MessageSender> Tx for ReserveTx<S> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut grant = self.0.reserve(msg.len()).map_err(|e| e.without_message())?;
        grant[..8].copy_from_slice(&msg[..8]);
        grant[8..].fill(FILL);
        grant.commit();
        Ok(())
    }
}

impl<R: MessageReceiver> Rx for GuardRx<R> {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let guard = self.0.recv()?;
        Ok(f(&guard))
    }
}

impl<R: MessageReceiver> Rx for CopyRx<R> {
    #[inline]
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        self.0.recv_into(&mut self.1)?;
        Ok(f(&self.1))
    }
}

/// One side of a ring row of kind `R`, in the row's style; the style is
/// matched once per row, in [`drive`](Self::drive).
#[derive(Debug)]
pub enum RingEnds<R: Ring> {
    /// `send`, and the guard read in place (latency rows).
    Guard(Ends<SendTx<R::Sender>, GuardRx<R::Receiver>>),
    /// `send`, and `recv_into` a buffer (copying streams).
    Copy(Ends<SendTx<R::Sender>, CopyRx<R::Receiver>>),
    /// `reserve` + `commit`, and the guard read in place.
    ZeroCopy(Ends<ReserveTx<R::Sender>, GuardRx<R::Receiver>>),
    /// `try_send`, and `try_recv` with the guard read in place, each side
    /// waiting in `epoll_wait` on its endpoint's descriptor.
    Epoll(Ends<EpollTx<R::Sender>, EpollRx<R::Receiver>>),
}

impl<R: RowRing> RingEnds<R> {
    /// Runs `driver` over the concrete halves.
    pub fn drive<D: super::Driver>(self, driver: D) -> Result<D::Out> {
        match self {
            RingEnds::Guard(e) => driver.drive(e),
            RingEnds::Copy(e) => driver.drive(e),
            RingEnds::ZeroCopy(e) => driver.drive(e),
            RingEnds::Epoll(e) => driver.drive(e),
        }
    }
}

/// A ring kind whose endpoints each have a descriptor to wait on, as
/// every kind's do: what an epoll row needs of it.
pub trait RowRing: Ring<Sender: Waitable, Receiver: Waitable> {}

impl<R: Ring<Sender: Waitable, Receiver: Waitable>> RowRing for R {}

/// Which side of the row's rings a process holds: the bench makes them and
/// sends up (receiving down in a round trip), the peer opens them and
/// receives up (sending down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Makes `{tag}-up` and `{tag}-down`.
    Bench,
    /// Opens them.
    Peer,
}

/// The shape of a row's rings, `None` if `mechanism` is no ring.
pub fn geometry(mechanism: Mechanism, size: usize) -> Option<RingGeometry> {
    let size = size as u64;
    match mechanism {
        Mechanism::SpscSpin
        | Mechanism::SpscSpinPark
        | Mechanism::SpscPark
        | Mechanism::SpscZeroCopy
        | Mechanism::SpscEpoll
        | Mechanism::TokioSpsc
        | Mechanism::TokioMtSpsc => {
            let capacity = (4 * size).next_power_of_two().max(1 << 20);
            Some(RingGeometry::spsc(capacity).with_max_message(size))
        }
        Mechanism::Mpmc | Mechanism::MpmcZeroCopy | Mechanism::MpmcEpoll => {
            let slots = ((4 << 20) / size.max(1)).next_power_of_two().clamp(4, 1024);
            Some(RingGeometry::mpmc(slots, size))
        }
        Mechanism::PubSub | Mechanism::PubSubZeroCopy | Mechanism::PubSubLossy => {
            Some(pubsub_geometry(mechanism.delivery()?, size))
        }
        _ => None,
    }
}

/// A publish/subscribe ring for `size`-byte messages: as many slots as
/// the SPSC rows' ring holds messages (1 MiB, or four messages), and the
/// default subscriber table (64 entries), whatever the number attached.
pub fn pubsub_geometry(delivery: Delivery, size: u64) -> RingGeometry {
    let capacity = (4 * size).next_power_of_two().max(1 << 20);
    let slots = (capacity / size.max(8)).next_power_of_two().max(4);
    RingGeometry::pubsub(slots, size).with_delivery(delivery)
}

fn wait_strategy(mechanism: Mechanism) -> WaitStrategy {
    match mechanism {
        Mechanism::SpscSpin => WaitStrategy::BusySpin,
        Mechanism::SpscPark => WaitStrategy::Park,
        _ => WaitStrategy::default(),
    }
}

/// This side's ends of a ring row: the rings named `{tag}-up` and (round
/// trips) `{tag}-down`, made or opened as `side` says. The names made are
/// pushed on `made`, for the row's cleanup.
pub fn open(
    mechanism: Mechanism,
    size: usize,
    pattern: Pattern,
    tag: &str,
    side: Side,
    made: &mut Vec<String>,
) -> Result<AnyEnds> {
    let geometry = geometry(mechanism, size).ok_or("not a ring mechanism")?;
    let row = Row {
        geometry,
        wait: wait_strategy(mechanism),
        zero_copy: matches!(
            mechanism,
            Mechanism::SpscZeroCopy | Mechanism::MpmcZeroCopy | Mechanism::PubSubZeroCopy
        ),
        epoll: matches!(mechanism, Mechanism::SpscEpoll | Mechanism::MpmcEpoll),
        round_trip: pattern == Pattern::RoundTrip,
        size,
    };
    Ok(match geometry.kind() {
        RingKind::Spsc => AnyEnds::Spsc(Box::new(row.open(tag, side, made)?)),
        RingKind::Mpmc => AnyEnds::Mpmc(Box::new(row.open(tag, side, made)?)),
        RingKind::PubSub => AnyEnds::PubSub(Box::new(row.open(tag, side, made)?)),
    })
}

/// What a ring row is, whatever its kind.
struct Row {
    geometry: RingGeometry,
    wait: WaitStrategy,
    zero_copy: bool,
    epoll: bool,
    round_trip: bool,
    size: usize,
}

impl Row {
    fn open<R: RowRing>(
        &self,
        tag: &str,
        side: Side,
        made: &mut Vec<String>,
    ) -> Result<RingEnds<R>> {
        let builder = RingBuilder::<R>::new()
            .geometry(self.geometry)
            .wait_strategy(self.wait);
        let mut ring = |direction: &str| -> Result<R> {
            let name = format!("{tag}-{direction}");
            Ok(match side {
                Side::Bench => {
                    let ring = builder.create(&name)?;
                    made.push(name);
                    ring
                }
                Side::Peer => builder.open(&name)?,
            })
        };
        let up = ring("up")?;
        let down = self.round_trip.then(|| ring("down")).transpose()?;
        let (sends_on, receives_on) = match side {
            Side::Bench => (Some(&up), down.as_ref()),
            Side::Peer => (down.as_ref(), Some(&up)),
        };
        let tx = sends_on.map(R::sender).transpose()?;
        let rx = receives_on.map(R::receiver).transpose()?;
        Ok(if self.epoll {
            RingEnds::Epoll(Ends {
                tx: tx.map(EpollTx::new),
                rx: rx.map(EpollRx::new).transpose()?,
            })
        } else if self.zero_copy {
            RingEnds::ZeroCopy(Ends {
                tx: tx.map(ReserveTx),
                rx: rx.map(GuardRx),
            })
        } else if self.round_trip {
            RingEnds::Guard(Ends {
                tx: tx.map(SendTx),
                rx: rx.map(GuardRx),
            })
        } else {
            RingEnds::Copy(Ends {
                tx: tx.map(SendTx),
                rx: rx.map(|rx| CopyRx(rx, Vec::with_capacity(self.size))),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Driver, unique_tag};
    use crate::traffic::{self, MIN_SAMPLES, Timing};
    use shmring::PubSub;
    use std::time::Duration;

    /// Both sides of a publish/subscribe row, as the bench and the peer
    /// open them (the bench's subscriber joins `down` before the peer
    /// opens it, the peer's joins `up` before the bench sends).
    fn pubsub_sides(
        mechanism: Mechanism,
        pattern: Pattern,
    ) -> (RingEnds<PubSub>, RingEnds<PubSub>) {
        let tag = unique_tag();
        let mut made = Vec::new();
        let side_of =
            |side, made: &mut Vec<String>| match open(mechanism, 64, pattern, &tag, side, made)
                .unwrap()
            {
                AnyEnds::PubSub(ends) => *ends,
                other => panic!("not publish/subscribe ends: {other:?}"),
            };
        let bench = side_of(Side::Bench, &mut made);
        let peer = side_of(Side::Peer, &mut Vec::new());
        for name in made {
            shmring::unlink(&name).unwrap();
        }
        (bench, peer)
    }

    struct Echo;

    impl Driver for Echo {
        type Out = Vec<traffic::LatencyRun>;
        fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
            let (Some(mut tx), Some(mut rx)) = (ends.tx, ends.rx) else {
                return Err("echo needs both directions".into());
            };
            traffic::echo(&mut tx, &mut rx)
        }
    }

    struct RoundTrips;

    impl Driver for RoundTrips {
        type Out = Vec<traffic::LatencyRun>;
        fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
            let (Some(mut tx), Some(mut rx)) = (ends.tx, ends.rx) else {
                return Err("round trips need both directions".into());
            };
            let ms = Duration::from_millis(5);
            let timing = Timing {
                warm_up: ms,
                run: ms,
                runs: 2,
            };
            traffic::round_trips(&mut tx, &mut rx, 64, timing)
        }
    }

    struct Sink;

    impl Driver for Sink {
        type Out = Vec<traffic::ThroughputRun>;
        fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
            traffic::sink(&mut ends.rx.ok_or("a sink needs the receiving direction")?)
        }
    }

    struct Stream;

    impl Driver for Stream {
        type Out = ();
        fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<()> {
            let mut tx = ends.tx.ok_or("a stream needs the sending direction")?;
            let ms = Duration::from_millis(5);
            traffic::stream(&mut tx, 64, ms, ms, 2)
        }
    }

    #[test]
    fn pubsub_rows_make_round_trips_both_ways() {
        for mechanism in [Mechanism::PubSub, Mechanism::PubSubLossy] {
            let (bench, peer) = pubsub_sides(mechanism, Pattern::RoundTrip);
            let echo = std::thread::spawn(move || peer.drive(Echo).map_err(|e| e.to_string()));
            let ours = bench.drive(RoundTrips).unwrap();
            let theirs = echo.join().unwrap().unwrap();
            assert_eq!((ours.len(), theirs.len()), (2, 2), "{mechanism}");
            assert!(ours.iter().chain(&theirs).all(|r| r.samples >= MIN_SAMPLES));
        }
    }

    #[test]
    fn pubsub_streams_lose_nothing() {
        for mechanism in [Mechanism::PubSub, Mechanism::PubSubZeroCopy] {
            let (bench, peer) = pubsub_sides(mechanism, Pattern::Stream);
            let sink = std::thread::spawn(move || peer.drive(Sink).map_err(|e| e.to_string()));
            bench.drive(Stream).unwrap();
            let runs = sink.join().unwrap().unwrap();
            assert_eq!(runs.len(), 2, "{mechanism}");
            assert!(runs.iter().all(|r| r.bytes == r.messages * 64));
        }
    }

    #[test]
    fn a_pubsub_segment_holds_each_message_once() {
        // The slot area does not grow with the subscriber table's use:
        // the segment is the same for every number of subscribers.
        let g = pubsub_geometry(Delivery::Lossless, 64);
        let size = g.segment_size().unwrap();
        assert_eq!(
            g.with_delivery(Delivery::Lossy).segment_size().unwrap(),
            size
        );
        assert!(size < 2 * (1 << 20) + (1 << 16), "{size}");
    }
}
