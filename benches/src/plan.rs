//! How much to measure: the full run (`cargo bench`, under 5 minutes on
//! 2 cores) or the quick smoke run (`SHMRING_BENCH_QUICK=1`, under 30 s).

use std::time::Duration;

/// Message sizes of the full run.
pub const SIZES: [usize; 5] = [8, 64, 1024, 64 * 1024, 1024 * 1024];

/// What one bench target measures and for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// True for the reduced smoke run.
    pub quick: bool,
    /// Message sizes, in bytes, each at least 8 (the sequence word).
    pub sizes: Vec<usize>,
    /// Traffic before the first measured run, not recorded.
    pub warm_up: Duration,
    /// Length of one measured throughput run.
    pub run: Duration,
    /// Length of one measured latency run (a latency row has twice as
    /// many: round trips, then one-way).
    pub latency_run: Duration,
    /// Measured runs per row; the row reports their median.
    pub runs: usize,
    /// A row taking longer than this is declared hung and the bench stops.
    pub row_limit: Duration,
    /// Only these mechanisms (keys), when `SHMRING_BENCH_ROWS` lists some
    /// (comma-separated); the references a bench compares with (the
    /// limit, memcpy) are measured anyway.
    pub only: Option<Vec<String>>,
}

impl Plan {
    /// The plan chosen by the environment: `SHMRING_BENCH_QUICK=1` (or any
    /// value but `0`) for the smoke run.
    pub fn from_env() -> Plan {
        let quick = std::env::var("SHMRING_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let only = std::env::var("SHMRING_BENCH_ROWS")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.split(',').map(|k| k.trim().to_string()).collect());
        if quick {
            Plan {
                quick,
                sizes: vec![64, 64 * 1024],
                warm_up: Duration::from_millis(10),
                run: Duration::from_millis(25),
                latency_run: Duration::from_millis(15),
                runs: 2,
                row_limit: Duration::from_secs(20),
                only,
            }
        } else {
            Plan {
                quick,
                sizes: SIZES.to_vec(),
                warm_up: Duration::from_millis(50),
                run: Duration::from_millis(150),
                latency_run: Duration::from_millis(100),
                runs: 7,
                row_limit: Duration::from_secs(60),
                only,
            }
        }
    }

    /// Whether `mechanism` is measured in this run (`SHMRING_BENCH_ROWS`).
    pub fn wants(&self, mechanism: crate::mechanism::Mechanism) -> bool {
        mechanism == crate::mechanism::Mechanism::Memcpy
            || self
                .only
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k == mechanism.key()))
    }
}

/// `64 B`, `1 KiB`, `1 MiB`: sizes as people say them.
pub fn size_label(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size_label(8), "8 B");
        assert_eq!(size_label(1024), "1 KiB");
        assert_eq!(size_label(64 * 1024), "64 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(1500), "1500 B");
    }
}
