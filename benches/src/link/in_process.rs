//! The in-process rows: both sides are threads of the bench process
//! (crossbeam-channel, and rtrb with the `peers` feature), so their ends
//! must be `Send`, which some of [`AnyEnds`](super::AnyEnds) are not.

#[cfg(feature = "peers")]
use super::peers;
use super::{Driver, Ends, Pattern, not_built, unsupported};
use crate::Result;
use crate::mechanism::Mechanism;
use crate::traffic::{Rx, Tx};

/// crossbeam-channel sender: each message a fresh `Vec<u8>`, as a user of
/// a channel of owned buffers would send it.
#[derive(Debug)]
pub struct ChannelTx(pub crossbeam_channel::Sender<Vec<u8>>);

/// crossbeam-channel receiver.
#[derive(Debug)]
pub struct ChannelRx(pub crossbeam_channel::Receiver<Vec<u8>>);

impl Tx for ChannelTx {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.0
            .send(msg.to_vec())
            .map_err(|_| "channel closed".into())
    }
}

impl Rx for ChannelRx {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let msg = self.0.recv().map_err(|_| "channel closed")?;
        Ok(f(&msg))
    }
}

/// One side of an in-process row, handed to a thread (so `Send`, unlike
/// some of [`AnyEnds`]).
#[derive(Debug)]
pub enum ThreadEnds {
    /// crossbeam-channel.
    Crossbeam(Ends<ChannelTx, ChannelRx>),
    /// rtrb.
    #[cfg(feature = "peers")]
    Rtrb(Ends<peers::RtrbTx, peers::RtrbRx>),
}

impl ThreadEnds {
    /// Runs `driver` over the concrete halves.
    pub fn drive<D: Driver>(self, driver: D) -> Result<D::Out> {
        match self {
            ThreadEnds::Crossbeam(e) => driver.drive(e),
            #[cfg(feature = "peers")]
            ThreadEnds::Rtrb(e) => driver.drive(e),
        }
    }
}

/// Both sides of an in-process row of `mechanism`: (bench side, other
/// thread's side).
pub fn in_process_pair(
    mechanism: Mechanism,
    size: usize,
    pattern: Pattern,
) -> Result<(ThreadEnds, ThreadEnds)> {
    if let Some(reason) = mechanism.cannot_carry(size) {
        return Err(unsupported(reason));
    }
    match mechanism {
        Mechanism::CrossbeamChannel => Ok(crossbeam_pair(size, pattern)),
        #[cfg(feature = "peers")]
        Mechanism::Rtrb => Ok(peers::rtrb_pair(size, pattern)),
        _ => Err(not_built(mechanism)),
    }
}

fn crossbeam_pair(size: usize, pattern: Pattern) -> (ThreadEnds, ThreadEnds) {
    let capacity = (4 << 20) / size.max(1);
    let (up_tx, up_rx) = crossbeam_channel::bounded(capacity.clamp(2, 1024));
    let (down_tx, down_rx) = if pattern == Pattern::RoundTrip {
        let (tx, rx) = crossbeam_channel::bounded(1);
        (Some(ChannelTx(tx)), Some(ChannelRx(rx)))
    } else {
        (None, None)
    };
    (
        ThreadEnds::Crossbeam(Ends {
            tx: Some(ChannelTx(up_tx)),
            rx: down_rx,
        }),
        ThreadEnds::Crossbeam(Ends {
            tx: down_tx,
            rx: Some(ChannelRx(up_rx)),
        }),
    )
}
