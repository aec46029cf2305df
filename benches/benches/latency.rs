//! `cargo bench --bench latency`: round-trip and one-way latency of every
//! mechanism at every size, next to the physical limit; the rows that
//! wait in `epoll_wait` (and, with the `tokio` feature, the tokio rows at
//! 64 bytes) also next to the kernel's baselines of their group. Every
//! row also gets its ratio to the limit for its own size (`limit-sized`),
//! and with the `peers` feature the peer libraries' rows are measured too;
//! with the `bridge` feature, at 64 bytes, a TCP socket pair over
//! loopback, zenoh used directly and the shmring bridge, each next to the
//! first two.

use shmring_benches::mechanism::Mechanism;
use shmring_benches::report::{self, Ratio, Report, Row};
use shmring_benches::runner::{Runner, median};

fn main() -> shmring_benches::Result<()> {
    let plan = shmring_benches::plan::Plan::from_env();
    let tokio_rows: &[Mechanism] = if cfg!(feature = "tokio") {
        &Mechanism::TOKIO
    } else {
        &[]
    };
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
    let extra = |size: usize| -> Vec<Mechanism> {
        let mut rows = Vec::new();
        if size == Mechanism::TOKIO_SIZE {
            rows.extend_from_slice(tokio_rows);
        }
        if size == Mechanism::BRIDGE_SIZE {
            rows.extend_from_slice(bridge_rows);
        }
        rows
    };
    let total = plan
        .sizes
        .iter()
        .map(|&size| {
            let rows = Mechanism::LATENCY.iter().skip(1).chain(peer_rows);
            1 + rows.chain(&extra(size)).filter(|m| plan.wants(**m)).count()
        })
        .sum();
    let mut runner = Runner::new("latency", total, env!("CARGO_BIN_EXE_shmring-bench-peer"));
    // The machine's speed drifts over minutes: the limit (one 8-byte
    // word) is measured again before each size, and each row's ratio is
    // taken against the measurement just before it.
    let mut limits: Vec<Row> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    for &size in &plan.sizes {
        let limit = runner.latency(Mechanism::Limit, 8);
        let extra = extra(size);
        let mechanisms = Mechanism::LATENCY
            .iter()
            .skip(1)
            .chain(peer_rows)
            .chain(&extra)
            .filter(|m| plan.wants(**m));
        for &mechanism in mechanisms {
            for mut row in runner.latency(mechanism, size) {
                let reference = limit.iter().find(|l| l.pattern == row.pattern);
                row.ratio_to_limit = reference
                    .and_then(|l| l.p50_ns)
                    .filter(|&l| l > 0)
                    .zip(row.p50_ns)
                    .map(|(l, p)| p as f64 / l as f64);
                rows.push(row);
            }
        }
        limits.extend(limit);
    }
    compare_with_baselines(&mut rows);
    compare_with_size_limit(&mut rows);
    let mut all: Vec<Row> = ["round-trip", "one-way"]
        .into_iter()
        .map(|pattern| merged_limit(&limits, pattern))
        .collect();
    all.extend(rows);
    let report = Report {
        machine: runner.machine(),
        rows: all,
    };
    let dir = report::output_dir();
    let table = report::write(&dir, "latency", &report)?;
    shmring_benches::plot::latency(&dir.join("latency.svg"), &report.rows)?;
    println!("{}\n{table}", report::machine_line(&report.machine));
    println!("written to {}", dir.display());
    Ok(())
}

/// Each row of a group with baselines (`Mechanism::baselines`) gets its
/// p50 over each baseline's, same size and pattern, same run.
fn compare_with_baselines(rows: &mut [Row]) {
    let p50_of = |rows: &[Row], key: &str, pattern: &str, size: usize| {
        rows.iter()
            .find(|r| r.mechanism == key && r.pattern == pattern && r.size == size)
            .and_then(|r| r.p50_ns)
            .filter(|&p| p > 0)
    };
    let ratios: Vec<Vec<Ratio>> = rows
        .iter()
        .map(|row| {
            let baselines = Mechanism::from_key(&row.mechanism).map_or(&[][..], |m| m.baselines());
            baselines
                .iter()
                .filter_map(|b| {
                    let theirs = p50_of(rows, b.key(), &row.pattern, row.size)?;
                    Some(Ratio {
                        to: b.key().to_string(),
                        value: row.p50_ns? as f64 / theirs as f64,
                    })
                })
                .collect()
        })
        .collect();
    for (row, ratios) in rows.iter_mut().zip(ratios) {
        row.ratios = ratios;
    }
}

/// Each row gets its p50 over the p50 of the limit for its size
/// (`limit-sized`), same size and pattern, same run.
fn compare_with_size_limit(rows: &mut [Row]) {
    let limits: Vec<(usize, String, u64)> = rows
        .iter()
        .filter(|r| r.mechanism == Mechanism::LimitSized.key())
        .filter_map(|r| Some((r.size, r.pattern.clone(), r.p50_ns.filter(|&p| p > 0)?)))
        .collect();
    for row in rows.iter_mut() {
        let limit = limits
            .iter()
            .find(|(size, pattern, _)| *size == row.size && *pattern == row.pattern);
        row.ratio_to_size_limit = limit
            .zip(row.p50_ns)
            .map(|((_, _, l), p)| p as f64 / *l as f64);
    }
}

/// One limit row from its measurements before each size: the median of
/// each figure.
fn merged_limit(limits: &[Row], pattern: &str) -> Row {
    let measured: Vec<&Row> = limits
        .iter()
        .filter(|r| r.pattern == pattern && r.measured())
        .collect();
    let mut row = Row::new(Mechanism::Limit, pattern, 8);
    if measured.is_empty() {
        row.note = limits.iter().find_map(|r| r.note.clone());
        return row;
    }
    let med = |f: fn(&Row) -> Option<u64>| {
        Some(median(measured.iter().filter_map(|r| f(r)).map(|v| v as f64)) as u64)
    };
    row.p50_ns = med(|r| r.p50_ns);
    row.p99_ns = med(|r| r.p99_ns);
    row.p999_ns = med(|r| r.p999_ns);
    row.max_ns = med(|r| r.max_ns);
    row.runs = measured.iter().map(|r| r.runs).sum();
    row.ratio_to_limit = Some(1.0);
    if measured.len() > 1 {
        let p50s: Vec<String> = measured
            .iter()
            .map(|r| report::nanos(r.p50_ns.unwrap_or(0)))
            .collect();
        row.note = Some(format!(
            "measured before each size (p50 {}); each row's ratio uses the measurement just before it",
            p50s.join(", ")
        ));
    }
    row
}
