//! `cargo bench --bench latency`: round-trip and one-way latency of every
//! mechanism at every size, next to the physical limit.

use shmring_benches::mechanism::Mechanism;
use shmring_benches::report::{self, Report};
use shmring_benches::runner::Runner;

fn main() -> shmring_benches::Result<()> {
    let plan = shmring_benches::plan::Plan::from_env();
    let mut cells = Vec::new();
    for &size in &plan.sizes {
        for mechanism in Mechanism::LATENCY {
            // The limit is one word: measured once, at 8 bytes, whatever
            // the sizes of the plan.
            if mechanism == Mechanism::Limit && size != plan.sizes[0] {
                continue;
            }
            let size = if mechanism == Mechanism::Limit {
                8
            } else {
                size
            };
            cells.push((mechanism, size));
        }
    }
    let mut runner = Runner::new(
        "latency",
        cells.len(),
        env!("CARGO_BIN_EXE_shmring-bench-peer"),
    );
    let mut rows = Vec::new();
    for (mechanism, size) in cells {
        rows.extend(runner.latency(mechanism, size));
    }
    // Ratios against the limit measured in this run, pattern by pattern.
    for pattern in ["round-trip", "one-way"] {
        let limit = rows
            .iter()
            .find(|r| r.mechanism == Mechanism::Limit.key() && r.pattern == pattern)
            .and_then(|r| r.p50_ns)
            .filter(|&p| p > 0);
        for row in rows.iter_mut().filter(|r| r.pattern == pattern) {
            row.ratio_to_limit = limit.zip(row.p50_ns).map(|(l, p)| p as f64 / l as f64);
        }
    }
    let report = Report {
        machine: runner.machine(),
        rows,
    };
    let dir = report::output_dir();
    let table = report::write(&dir, "latency", &report)?;
    shmring_benches::plot::latency(&dir.join("latency.svg"), &report.rows)?;
    println!("{}\n{table}", report::machine_line(&report.machine));
    println!("written to {}", dir.display());
    Ok(())
}
