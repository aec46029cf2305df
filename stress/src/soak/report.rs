//! What a soak measured: the resource samples, the traffic totals, the
//! verdict, and how they print.

use crate::proc::Memory;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// One sample of resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the start.
    pub at: Duration,
    /// The harness process.
    pub harness: Memory,
    /// The harness's open descriptors.
    pub harness_fds: usize,
    /// The daemon.
    pub daemon: Memory,
    /// The daemon's open descriptors.
    pub daemon_fds: usize,
    /// Segments (memfds) the daemon has mapped.
    pub daemon_maps: usize,
}

/// Totals over all episodes.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Messages moved and checked.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Episodes per (kind, broker, processes).
    pub episodes: HashMap<String, u64>,
    /// Episode failures.
    pub errors: Vec<String>,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Traffic totals.
    pub totals: Totals,
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Resource checks that failed.
    pub failures: Vec<String>,
    /// Failures turned into warnings on request.
    pub warnings: Vec<String>,
    /// Harness descriptors at start and end.
    pub harness_fds: (usize, usize),
    /// Daemon descriptors at start and end.
    pub daemon_fds: (usize, usize),
    /// Anonymous memory (KiB) after warm-up and the most after that:
    /// harness, daemon.
    pub anon_growth: ((u64, u64), (u64, u64)),
    /// Daemon RSS (KiB) after warm-up and the most after that.
    pub daemon_rss_growth: (u64, u64),
    /// Segments the daemon still maps at the end.
    pub daemon_maps_end: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl SoakReport {
    /// No error and no resource growth.
    pub fn passed(&self) -> bool {
        self.totals.errors.is_empty() && self.failures.is_empty()
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let peak = |g: fn(&Sample) -> u64| self.samples.iter().map(g).max().unwrap_or(0);
        let episodes: u64 = self.totals.episodes.values().sum();
        writeln!(
            f,
            "soak: {:.1?}, {episodes} episodes, {} messages ({:.1} MiB) moved and checked, {} errors",
            self.elapsed,
            self.totals.messages,
            self.totals.bytes as f64 / (1024.0 * 1024.0),
            self.totals.errors.len()
        )?;
        let mut kinds: Vec<_> = self.totals.episodes.iter().collect();
        kinds.sort();
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(f, "  episodes: {}", kinds.join(", "))?;
        writeln!(
            f,
            "  harness: peak RSS {} KiB (VmHWM {} KiB), anonymous {} KiB after warm-up, max {} KiB after; fds {} at start, {} at end",
            peak(|s| s.harness.rss_kib),
            peak(|s| s.harness.hwm_kib),
            self.anon_growth.0.0,
            self.anon_growth.0.1,
            self.harness_fds.0,
            self.harness_fds.1
        )?;
        writeln!(
            f,
            "  daemon: peak RSS {} KiB (VmHWM {} KiB; {} KiB after warm-up, max {} KiB after), anonymous {} KiB after warm-up, max {} KiB after; fds {} at start, {} at end (peak {}); segments mapped at the end {} (peak {})",
            peak(|s| s.daemon.rss_kib),
            peak(|s| s.daemon.hwm_kib),
            self.daemon_rss_growth.0,
            self.daemon_rss_growth.1,
            self.anon_growth.1.0,
            self.anon_growth.1.1,
            self.daemon_fds.0,
            self.daemon_fds.1,
            peak(|s| s.daemon_fds as u64),
            self.daemon_maps_end,
            peak(|s| s.daemon_maps as u64)
        )?;
        for e in self.totals.errors.iter().take(20) {
            writeln!(f, "  error: {e}")?;
        }
        for e in &self.failures {
            writeln!(f, "  FAILED: {e}")?;
        }
        for e in &self.warnings {
            writeln!(f, "  WARNING (tolerated on request): {e}")?;
        }
        write!(
            f,
            "  result: {}",
            if self.passed() { "ok" } else { "FAILED" }
        )
    }
}
