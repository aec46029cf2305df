//! `cargo bench --bench fanout`: one publisher streaming into a
//! publish/subscribe ring, read by 1, 2 and 4 subscriber processes,
//! lossless and lossy, waiting the default way and busy-spinning
//! (`shmring_benches::fanout`). The publisher runs on the first CPU and
//! every subscriber on the second.

use shmring_benches::fanout::{self, Cell, FanoutReport};
use shmring_benches::report;
use shmring_benches::runner::Runner;

fn main() -> shmring_benches::Result<()> {
    let plan = shmring_benches::plan::Plan::from_env();
    let cells = Cell::all(&plan);
    let mut runner = Runner::new(
        "fan-out",
        cells.len(),
        env!("CARGO_BIN_EXE_shmring-bench-peer"),
    );
    let mut rows: Vec<_> = cells.into_iter().map(|cell| runner.fanout(cell)).collect();
    fanout::compare_with_one(&mut rows);
    let report = FanoutReport {
        machine: runner.machine(),
        rows,
    };
    let dir = report::output_dir();
    let table = fanout::write(&dir, &report)?;
    println!("{}\n{table}", report::machine_line(&report.machine));
    println!("written to {}", dir.display());
    Ok(())
}
