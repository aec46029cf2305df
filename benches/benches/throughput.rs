//! `cargo bench --bench throughput`: one-way stream of every mechanism at
//! every size, next to one thread's memcpy (with the `peers` feature,
//! the peer libraries' rows too); the publish/subscribe rows also next to
//! the SPSC stream; with the `bridge` feature, 64-byte streams through a
//! TCP socket pair over loopback, zenoh used directly and the shmring
//! bridge, each next to the first two.

use shmring_benches::mechanism::Mechanism;
use shmring_benches::report::{self, Ratio, Report};
use shmring_benches::runner::Runner;

fn main() -> shmring_benches::Result<()> {
    let plan = shmring_benches::plan::Plan::from_env();
    let peer_rows: &[Mechanism] = if cfg!(feature = "peers") {
        &Mechanism::PEERS
    } else {
        &[]
    };
    let bridge_rows: &[Mechanism] = if cfg!(feature = "bridge") {
        &Mechanism::BRIDGE
    } else {
        &[]
    };
    let cells: Vec<(Mechanism, usize)> = plan
        .sizes
        .iter()
        .flat_map(|&size| {
            let bridge: &[Mechanism] = if size == Mechanism::BRIDGE_SIZE {
                bridge_rows
            } else {
                &[]
            };
            Mechanism::THROUGHPUT
                .iter()
                .chain(peer_rows)
                .chain(bridge)
                .filter(|m| plan.wants(**m))
                .map(move |&m| (m, size))
        })
        .collect();
    let mut runner = Runner::new(
        "throughput",
        cells.len(),
        env!("CARGO_BIN_EXE_shmring-bench-peer"),
    );
    let mut rows: Vec<_> = cells
        .into_iter()
        .map(|(mechanism, size)| runner.throughput(mechanism, size))
        .collect();
    // Ratios against memcpy and the pipe at the same size, same run.
    let reference = |rows: &[report::Row], m: Mechanism, size: usize| {
        rows.iter()
            .find(|r| r.mechanism == m.key() && r.size == size)
            .and_then(|r| Some((r.bytes_per_s?, r.msgs_per_s?)))
    };
    let references: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                reference(&rows, Mechanism::Memcpy, r.size),
                reference(&rows, Mechanism::Pipe, r.size),
            )
        })
        .collect();
    for (row, (memcpy, pipe)) in rows.iter_mut().zip(references) {
        row.ratio_to_limit = memcpy.zip(row.bytes_per_s).map(|((b, _), ours)| ours / b);
        row.ratio_to_pipe = pipe.zip(row.msgs_per_s).map(|((_, m), ours)| ours / m);
    }
    // Rows with baselines of their own (pub/sub against the SPSC stream
    // and the peers): messages/s over theirs.
    let ratios: Vec<Vec<Ratio>> = rows
        .iter()
        .map(|row| {
            let baselines = Mechanism::from_key(&row.mechanism).map_or(&[][..], |m| m.baselines());
            baselines
                .iter()
                .filter_map(|b| {
                    let (_, theirs) = reference(&rows, *b, row.size)?;
                    Some(Ratio {
                        to: b.key().to_string(),
                        value: row.msgs_per_s? / theirs,
                    })
                })
                .collect()
        })
        .collect();
    for (row, ratios) in rows.iter_mut().zip(ratios) {
        row.ratios = ratios;
    }
    let report = Report {
        machine: runner.machine(),
        rows,
    };
    let dir = report::output_dir();
    let table = report::write(&dir, "throughput", &report)?;
    shmring_benches::plot::throughput(&dir.join("throughput.svg"), &report.rows)?;
    println!("{}\n{table}", report::machine_line(&report.machine));
    println!("written to {}", dir.display());
    Ok(())
}
