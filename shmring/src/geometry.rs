//! The shape of a ring: one description, with its defaults and its
//! validation, carried unchanged by the builders, the broker protocol,
//! `shmring stat` and the C options.

use crate::layout::RingKind;
use crate::layout::header::SegmentHeader;
use crate::layout::mpmc::MpmcGeometry;
use crate::layout::pubsub::{Delivery, PubSubGeometry};
use crate::layout::spsc::SpscGeometry;
use std::fmt;

/// Default data-area size of a new SPSC ring (64 KiB).
pub const DEFAULT_CAPACITY: u64 = 64 * 1024;
/// Default slot count per priority level of a new MPMC queue.
pub const DEFAULT_SLOTS: u64 = 1024;
/// Default slot size (largest message) of a new MPMC queue.
pub const DEFAULT_SLOT_SIZE: u64 = 256;
/// Default subscriber entries of a new publish/subscribe ring.
pub const DEFAULT_SUBSCRIBERS: u32 = 64;

/// The largest message an SPSC or publish/subscribe shape is given when it
/// is asked for more than one priority level: no ring can have it, and
/// `laid` names the real mistake.
const ONE_LEVEL_ONLY: u64 = u64::MAX;

/// What a ring looks like: its kind and the numbers that size it.
///
/// The constructors fill in the defaults; [`validate`](Self::validate)
/// says what is wrong with a shape before any segment is made.
///
/// ```
/// use shmring::{RingGeometry, RingKind};
/// let spsc = RingGeometry::spsc(1 << 16);
/// assert_eq!(spsc, RingGeometry::Spsc { capacity: 1 << 16, max_message: 1 << 14 });
/// let mpmc = RingGeometry::default_for(RingKind::Mpmc).with_priorities(4);
/// assert_eq!(mpmc.max_message(), 256);
/// assert!(RingGeometry::spsc(1000).validate().is_err()); // not a power of two
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingGeometry {
    /// A single-producer single-consumer ring of variable-size records.
    Spsc {
        /// Data-area bytes: a power of two, 64 B to 1 TiB.
        capacity: u64,
        /// Largest message: at most `capacity / 4` and `2³² − 8`.
        max_message: u64,
    },
    /// A multi-producer multi-consumer queue of fixed-size slots.
    Mpmc {
        /// Slots per priority level: a power of two, 2 to 16 Mi.
        slots: u64,
        /// Bytes per slot, the largest message: at most 16 MiB.
        slot_size: u64,
        /// Priority levels, 1 to 8; each is its own queue of `slots`.
        priorities: u32,
    },
    /// One publisher, many subscribers, each seeing every message, in
    /// fixed-size slots.
    PubSub {
        /// Slots: a power of two, 2 to 16 Mi.
        slots: u64,
        /// Bytes per slot, the largest message: at most 16 MiB.
        slot_size: u64,
        /// Subscribers the ring holds at once, 1 to 1024.
        subscribers: u32,
        /// Whether the publisher waits for the slowest subscriber.
        delivery: Delivery,
    },
}

/// The layout-level geometry a [`RingGeometry`] stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Laid {
    Spsc(SpscGeometry),
    Mpmc(MpmcGeometry),
    PubSub(PubSubGeometry),
}

impl Laid {
    /// The header a creator writes.
    pub(crate) fn header(self, creator_pid: u32, creator_start_ticks: u64) -> SegmentHeader {
        match self {
            Laid::Spsc(g) => g.header(creator_pid, creator_start_ticks),
            Laid::Mpmc(g) => g.header(creator_pid, creator_start_ticks),
            Laid::PubSub(g) => g.header(creator_pid, creator_start_ticks),
        }
    }
}

impl RingGeometry {
    /// An SPSC ring of `capacity` data bytes, messages up to a quarter.
    pub const fn spsc(capacity: u64) -> RingGeometry {
        RingGeometry::Spsc {
            capacity,
            max_message: capacity / 4,
        }
    }

    /// An MPMC queue of `slots` slots of `slot_size` bytes, one level.
    pub const fn mpmc(slots: u64, slot_size: u64) -> RingGeometry {
        RingGeometry::Mpmc {
            slots,
            slot_size,
            priorities: 1,
        }
    }

    /// A lossless publish/subscribe ring of `slots` slots of `slot_size`
    /// bytes, for up to 64 subscribers.
    pub const fn pubsub(slots: u64, slot_size: u64) -> RingGeometry {
        RingGeometry::PubSub {
            slots,
            slot_size,
            subscribers: DEFAULT_SUBSCRIBERS,
            delivery: Delivery::Lossless,
        }
    }

    /// The default shape of a new ring of `kind`: a 64 KiB SPSC ring with
    /// messages up to 16 KiB, or 1024 slots of 256 bytes (MPMC: one
    /// level; publish/subscribe: lossless, 64 subscribers).
    pub const fn default_for(kind: RingKind) -> RingGeometry {
        match kind {
            RingKind::Spsc => RingGeometry::spsc(DEFAULT_CAPACITY),
            RingKind::Mpmc => RingGeometry::mpmc(DEFAULT_SLOTS, DEFAULT_SLOT_SIZE),
            RingKind::PubSub => RingGeometry::pubsub(DEFAULT_SLOTS, DEFAULT_SLOT_SIZE),
        }
    }

    /// The ring kind this shape is for.
    pub const fn kind(&self) -> RingKind {
        match self {
            RingGeometry::Spsc { .. } => RingKind::Spsc,
            RingGeometry::Mpmc { .. } => RingKind::Mpmc,
            RingGeometry::PubSub { .. } => RingKind::PubSub,
        }
    }

    /// The largest message a ring of this shape carries.
    pub const fn max_message(&self) -> u64 {
        match *self {
            RingGeometry::Spsc { max_message, .. } => max_message,
            RingGeometry::Mpmc { slot_size, .. } | RingGeometry::PubSub { slot_size, .. } => {
                slot_size
            }
        }
    }

    /// Subscribers a publish/subscribe ring holds (0 for other kinds).
    pub const fn subscribers(&self) -> u32 {
        match *self {
            RingGeometry::PubSub { subscribers, .. } => subscribers,
            _ => 0,
        }
    }

    /// Whether a publish/subscribe ring is lossless or lossy (`None` for
    /// other kinds).
    pub const fn delivery(&self) -> Option<Delivery> {
        match *self {
            RingGeometry::PubSub { delivery, .. } => Some(delivery),
            _ => None,
        }
    }

    /// This shape with `subscribers` entries (publish/subscribe; other
    /// kinds are returned unchanged).
    pub const fn with_subscribers(self, subscribers: u32) -> RingGeometry {
        match self {
            RingGeometry::PubSub {
                slots,
                slot_size,
                delivery,
                ..
            } => RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                delivery,
            },
            other => other,
        }
    }

    /// This shape with `delivery` (publish/subscribe; other kinds are
    /// returned unchanged).
    pub const fn with_delivery(self, delivery: Delivery) -> RingGeometry {
        match self {
            RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                ..
            } => RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                delivery,
            },
            other => other,
        }
    }

    /// The MPMC queue whose slots, over all `priorities` levels, take at
    /// most `bytes`: the largest power-of-two slot count, at least 2 (for
    /// a size given in bytes, as `shmring create --size` takes it).
    ///
    /// ```
    /// use shmring::RingGeometry;
    /// let g = RingGeometry::mpmc_within(64 * 1024, 240, 2);
    /// assert_eq!(g, RingGeometry::mpmc(128, 240).with_priorities(2)); // 256 B a slot
    /// ```
    pub fn mpmc_within(bytes: u64, slot_size: u64, priorities: u32) -> RingGeometry {
        let levels = u64::from(priorities.max(1));
        let stride = MpmcGeometry {
            slots: 2,
            slot_size,
            levels: priorities,
        }
        .stride();
        let slots = match bytes / levels / stride.max(1) {
            0..=2 => 2,
            n => 1 << n.ilog2(),
        };
        RingGeometry::mpmc(slots, slot_size).with_priorities(priorities)
    }

    /// This shape with its largest message set (the SPSC `max_message`,
    /// the MPMC slot size).
    pub const fn with_max_message(self, bytes: u64) -> RingGeometry {
        match self {
            RingGeometry::Spsc { capacity, .. } => RingGeometry::Spsc {
                capacity,
                max_message: bytes,
            },
            RingGeometry::Mpmc {
                slots, priorities, ..
            } => RingGeometry::Mpmc {
                slots,
                slot_size: bytes,
                priorities,
            },
            RingGeometry::PubSub {
                slots,
                subscribers,
                delivery,
                ..
            } => RingGeometry::PubSub {
                slots,
                slot_size: bytes,
                subscribers,
                delivery,
            },
        }
    }

    /// This shape with `levels` priority levels (MPMC; an SPSC ring has
    /// one, and any other number makes [`validate`](Self::validate) fail).
    pub const fn with_priorities(self, levels: u32) -> RingGeometry {
        match self {
            RingGeometry::Mpmc {
                slots, slot_size, ..
            } => RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities: levels,
            },
            one_level if levels == 1 => one_level,
            // Kept invalid on purpose: asking an SPSC or publish/subscribe
            // ring for priority levels is a mistake to report, not to
            // ignore.
            RingGeometry::Spsc { capacity, .. } => RingGeometry::Spsc {
                capacity,
                max_message: ONE_LEVEL_ONLY,
            },
            pubsub @ RingGeometry::PubSub { .. } => pubsub.with_max_message(ONE_LEVEL_ONLY),
        }
    }

    /// Priority levels (1 for an SPSC or publish/subscribe ring).
    pub const fn priorities(&self) -> u32 {
        match *self {
            RingGeometry::Spsc { .. } | RingGeometry::PubSub { .. } => 1,
            RingGeometry::Mpmc { priorities, .. } => priorities,
        }
    }

    /// Checks the shape; the message says what to change.
    pub fn validate(self) -> Result<RingGeometry, InvalidGeometry> {
        self.laid().map(|_| self)
    }

    /// Bytes a segment of this shape takes (header and control included).
    pub fn segment_size(self) -> Result<u64, InvalidGeometry> {
        Ok(match self.laid()? {
            Laid::Spsc(g) => g.segment_size(),
            Laid::Mpmc(g) => g.segment_size(),
            Laid::PubSub(g) => g.segment_size(),
        })
    }

    /// The checked layout-level geometry.
    pub(crate) fn laid(self) -> Result<Laid, InvalidGeometry> {
        match self {
            RingGeometry::Spsc {
                max_message: ONE_LEVEL_ONLY,
                ..
            } => Err("an SPSC ring has one priority level"),
            RingGeometry::Spsc {
                capacity,
                max_message,
            } => SpscGeometry {
                capacity,
                max_message,
            }
            .check()
            .map(Laid::Spsc),
            RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities,
            } => MpmcGeometry {
                slots,
                slot_size,
                levels: priorities,
            }
            .check()
            .map(Laid::Mpmc),
            RingGeometry::PubSub {
                slot_size: ONE_LEVEL_ONLY,
                ..
            } => Err("a publish/subscribe ring has one priority level"),
            RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                delivery,
            } => PubSubGeometry {
                slots,
                slot_size,
                subscribers,
                delivery,
            }
            .check()
            .map(Laid::PubSub),
        }
        .map_err(InvalidGeometry)
    }

    /// The numbers the broker protocol carries: (capacity or slots, largest
    /// message, priority levels; 0 levels for SPSC; for publish/subscribe
    /// the header's kind parameter, subscribers and the lossy bit).
    pub(crate) fn to_wire(self) -> (u64, u64, u32) {
        match self {
            RingGeometry::Spsc {
                capacity,
                max_message,
            } => (capacity, max_message, 0),
            RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities,
            } => (slots, slot_size, priorities),
            RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                delivery,
            } => (
                slots,
                slot_size,
                PubSubGeometry {
                    slots,
                    slot_size,
                    subscribers,
                    delivery,
                }
                .kind_param(),
            ),
        }
    }

    /// The inverse of [`to_wire`](Self::to_wire) (unchecked).
    pub(crate) fn from_wire(kind: RingKind, size: u64, max_message: u64, levels: u32) -> Self {
        match kind {
            RingKind::Spsc => RingGeometry::Spsc {
                capacity: size,
                max_message,
            },
            RingKind::Mpmc => RingGeometry::Mpmc {
                slots: size,
                slot_size: max_message,
                priorities: levels,
            },
            RingKind::PubSub => {
                let (subscribers, delivery) = PubSubGeometry::split_kind_param(levels);
                RingGeometry::PubSub {
                    slots: size,
                    slot_size: max_message,
                    subscribers,
                    delivery,
                }
            }
        }
    }
}

impl From<SpscGeometry> for RingGeometry {
    fn from(g: SpscGeometry) -> RingGeometry {
        RingGeometry::Spsc {
            capacity: g.capacity,
            max_message: g.max_message,
        }
    }
}

impl From<MpmcGeometry> for RingGeometry {
    fn from(g: MpmcGeometry) -> RingGeometry {
        RingGeometry::Mpmc {
            slots: g.slots,
            slot_size: g.slot_size,
            priorities: g.levels,
        }
    }
}

impl From<PubSubGeometry> for RingGeometry {
    fn from(g: PubSubGeometry) -> RingGeometry {
        RingGeometry::PubSub {
            slots: g.slots,
            slot_size: g.slot_size,
            subscribers: g.subscribers,
            delivery: g.delivery,
        }
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delivery::Lossless => "lossless",
            Delivery::Lossy => "lossy",
        })
    }
}

impl fmt::Display for RingGeometry {
    /// `spsc capacity=65536 max_message=16384` or
    /// `mpmc slots=1024 slot_size=256 priorities=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingGeometry::Spsc {
                capacity,
                max_message,
            } => write!(f, "spsc capacity={capacity} max_message={max_message}"),
            RingGeometry::Mpmc {
                slots,
                slot_size,
                priorities,
            } => write!(
                f,
                "mpmc slots={slots} slot_size={slot_size} priorities={priorities}"
            ),
            RingGeometry::PubSub {
                slots,
                slot_size,
                subscribers,
                delivery,
            } => write!(
                f,
                "pubsub slots={slots} slot_size={slot_size} subscribers={subscribers} delivery={delivery}"
            ),
        }
    }
}

/// A ring shape that no segment may have; the text says what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidGeometry(pub &'static str);

impl fmt::Display for InvalidGeometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidGeometry {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_of_their_kind() {
        for kind in [RingKind::Spsc, RingKind::Mpmc, RingKind::PubSub] {
            let g = RingGeometry::default_for(kind);
            assert_eq!(g.kind(), kind);
            assert_eq!(g.validate(), Ok(g));
        }
    }

    #[test]
    fn priorities_on_spsc_are_refused_not_ignored() {
        assert!(
            RingGeometry::spsc(1 << 12)
                .with_priorities(1)
                .validate()
                .is_ok()
        );
        assert_eq!(
            RingGeometry::spsc(1 << 12).with_priorities(2).validate(),
            Err(InvalidGeometry("an SPSC ring has one priority level"))
        );
    }

    #[test]
    fn wire_round_trips() {
        for g in [
            RingGeometry::spsc(1 << 20),
            RingGeometry::mpmc(64, 100).with_priorities(3),
            RingGeometry::pubsub(64, 100)
                .with_subscribers(300)
                .with_delivery(Delivery::Lossy),
        ] {
            let (size, max, levels) = g.to_wire();
            assert_eq!(RingGeometry::from_wire(g.kind(), size, max, levels), g);
        }
    }
}
