//! Role words: who holds a role (SPSC producer or consumer) right now.
//!
//! | value                      | meaning                                   |
//! |----------------------------|-------------------------------------------|
//! | 0                          | [`RoleState::Vacant`]: never held         |
//! | `u64::MAX`                 | [`RoleState::Left`]: held, then released  |
//! | `start32 << 32 \| pid`     | [`RoleState::Held`]: held by that process |
//!
//! `start32` is the low 32 bits of the holder's start time in clock ticks
//! (wraps after 497 days at 100 Hz), enough with the pid to tell a dead
//! holder from a process that reused its pid.

use crate::sys::process::ProcessId;

const VACANT: u64 = 0;
const LEFT: u64 = u64::MAX;

/// A decoded role word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleState {
    /// Nobody has held the role yet.
    Vacant,
    /// The last holder released it (dropped its handle).
    Left,
    /// A process holds it (alive or not: ask [`ProcessId::liveness_truncated`]).
    Held(ProcessId),
}

impl RoleState {
    pub(crate) fn decode(word: u64) -> RoleState {
        match word {
            VACANT => RoleState::Vacant,
            LEFT => RoleState::Left,
            held => RoleState::Held(ProcessId {
                pid: held as u32,
                start_ticks: held >> 32,
            }),
        }
    }
}

/// The word a process writes to hold a role.
pub(crate) fn held_word(id: ProcessId) -> u64 {
    // A pid is never 0 and never has all bits set, so this never collides
    // with VACANT or LEFT.
    (id.start_ticks & 0xffff_ffff) << 32 | u64::from(id.pid)
}

/// The word a holder writes when it lets go.
pub(crate) const fn left_word() -> u64 {
    LEFT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let id = ProcessId {
            pid: 4242,
            start_ticks: 0x1_2345_6789,
        };
        let word = held_word(id);
        assert_eq!(
            RoleState::decode(word),
            RoleState::Held(ProcessId {
                pid: 4242,
                start_ticks: 0x2345_6789
            })
        );
        assert_eq!(RoleState::decode(0), RoleState::Vacant);
        assert_eq!(RoleState::decode(left_word()), RoleState::Left);
    }
}
