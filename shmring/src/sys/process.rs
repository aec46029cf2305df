//! Process identity that survives pid reuse: pid + start time.
//!
//! The start time is field 22 of `/proc/PID/stat` (clock ticks since boot,
//! proc(5)). A pid that is reused by a new process gets a new start time,
//! so `(pid, start)` names one process for the life of the machine.

use std::fs;

/// A process as recorded in a segment: its pid and its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    pub(crate) start_ticks: u64,
}

/// What `/proc` says about a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running (or sleeping, stopped…): it may still touch the segment.
    Alive,
    /// Gone, a zombie, or its pid now belongs to another process.
    Dead,
}

impl ProcessId {
    /// The calling process (`getpid(2)` + `/proc/self/stat`). Not cached:
    /// a forked child must not inherit its parent's identity.
    pub(crate) fn current() -> std::io::Result<ProcessId> {
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        let stat = fs::read_to_string("/proc/self/stat")?;
        let (_, start_ticks) = parse_stat(&stat).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "unparsable /proc/self/stat",
            )
        })?;
        Ok(ProcessId { pid, start_ticks })
    }

    /// Whether this process still exists: reads `/proc/PID/stat`, compares
    /// the start time, and treats zombies as dead (a killed peer stays a
    /// zombie until its parent reaps it, but will never write again). The
    /// recorded start time may be truncated to 32 bits (role words pack
    /// pid and start time into one `u64`).
    pub(crate) fn liveness_truncated(self) -> Liveness {
        self.liveness_with(|recorded, actual| recorded == (actual & 0xffff_ffff))
    }

    fn liveness_with(self, same_start: impl Fn(u64, u64) -> bool) -> Liveness {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return Liveness::Dead;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return Liveness::Dead;
        };
        match parse_stat(&stat) {
            Some((state, start)) if same_start(self.start_ticks, start) => {
                if state == 'Z' || state == 'X' || state == 'x' {
                    Liveness::Dead
                } else {
                    Liveness::Alive
                }
            }
            // Unparsable or another start time: not the process we knew.
            _ => Liveness::Dead,
        }
    }
}

/// Extracts (state, starttime) from a `/proc/PID/stat` line. The command
/// name in parentheses may itself contain spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields after the state: ppid(4) … starttime(22) is the 19th more.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parentheses_and_spaces() {
        let line = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 10 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(('S', 777)));
    }

    #[test]
    fn current_process_is_alive_and_a_reused_pid_is_not() {
        let me = ProcessId::current().unwrap();
        assert_eq!(me.liveness_truncated(), Liveness::Alive);
        let impostor = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert_eq!(impostor.liveness_truncated(), Liveness::Dead);
        assert_eq!(
            ProcessId {
                pid: 0,
                start_ticks: 0
            }
            .liveness_truncated(),
            Liveness::Dead
        );
    }
}
