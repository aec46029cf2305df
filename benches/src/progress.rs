//! One line on stderr per row, before and after, so that a long run
//! never looks hung and a failure says where it happened.

use std::io::Write;
use std::time::Instant;

/// Counts rows of one bench target.
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    /// A bench target about to measure `total` rows.
    pub fn new(what: &'static str, total: usize) -> Progress {
        Progress {
            what,
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// A row starts.
    pub fn start(&mut self, row: &str) {
        self.done += 1;
        let _ = write!(
            std::io::stderr(),
            "[{} {:>3}/{} {:>5.1}s] {row} … ",
            self.what,
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// The row ended with `outcome`.
    pub fn finish(&mut self, outcome: &str) {
        let _ = writeln!(std::io::stderr(), "{outcome}");
    }
}
