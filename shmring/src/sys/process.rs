//! Process identity: pid + start time, written into role words so that a
//! person (and `shmring stat`) can tell who holds a role, and so that a
//! holder's word differs from a later holder's with the same pid.
//!
//! The start time is field 22 of `/proc/self/stat` (clock ticks since
//! boot, proc(5)). Liveness is never decided from it: a pid means nothing
//! in another PID namespace, and `/proc` may hide other processes
//! (`liveness.rs` decides, by lock).

use std::fs;

/// A process as recorded in a segment: its pid and its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    pub(crate) start_ticks: u64,
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
    fn current_process_has_a_start_time() {
        let me = ProcessId::current().unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start_ticks > 0);
    }
}
