//! The report: rows, the markdown table, report.json, and where they go.
//!
//! Each bench target writes its own rows (`latency.json`,
//! `throughput.json`, `fanout.json` + `fanout.md` in
//! `target/shmring-bench/`), then rebuilds the combined `report.md` and
//! `report.json` from whatever row files exist, so `cargo bench` (every
//! target) leaves one report with every row.

use crate::Result;
use crate::plan::size_label;
use serde::{Deserialize, Serialize};
use shmring::human::{ByteRate, Duration, Rate};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One line of the report: a mechanism, a pattern, a size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Mechanism key (`spsc-spin`, `pipe`, …).
    pub mechanism: String,
    /// Mechanism as the table shows it.
    pub label: String,
    /// `round-trip`, `one-way` or `stream`.
    pub pattern: String,
    /// Message size in bytes.
    pub size: usize,
    /// Median latency (median over runs), ns.
    pub p50_ns: Option<u64>,
    /// 99th percentile, ns.
    pub p99_ns: Option<u64>,
    /// 99.9th percentile, ns.
    pub p999_ns: Option<u64>,
    /// Largest sample (median over runs of each run's maximum), ns.
    pub max_ns: Option<u64>,
    /// Messages per second (median over runs).
    pub msgs_per_s: Option<f64>,
    /// Bytes per second.
    pub bytes_per_s: Option<f64>,
    /// Latency: p50 over the physical limit's p50 (same pattern, same
    /// run). Throughput: bytes/s over single-threaded memcpy's at the
    /// same size.
    pub ratio_to_limit: Option<f64>,
    /// Throughput only: messages/s over the pipe's at the same size.
    pub ratio_to_pipe: Option<f64>,
    /// Latency: p50 over the p50 of the limit for this row's size
    /// (`limit-sized`: the same number of bytes plus a sequence word,
    /// same pattern, same run).
    #[serde(default)]
    pub ratio_to_size_limit: Option<f64>,
    /// Latency rows of a group with kernel baselines (the epoll rows, the
    /// tokio rows; see `Mechanism::baselines`): p50 over each baseline's
    /// p50, same size and pattern, same run.
    #[serde(default)]
    pub ratios: Vec<Ratio>,
    /// Measured runs the medians are taken over.
    pub runs: usize,
    /// Why a row has no numbers, or what to know when reading them.
    pub note: Option<String>,
}

impl Row {
    /// A row with nothing measured yet.
    pub fn new(mechanism: crate::mechanism::Mechanism, pattern: &str, size: usize) -> Row {
        Row {
            mechanism: mechanism.key().to_string(),
            label: mechanism.label().to_string(),
            pattern: pattern.to_string(),
            size,
            p50_ns: None,
            p99_ns: None,
            p999_ns: None,
            max_ns: None,
            msgs_per_s: None,
            bytes_per_s: None,
            ratio_to_limit: None,
            ratio_to_pipe: None,
            ratio_to_size_limit: None,
            ratios: Vec::new(),
            runs: 0,
            note: None,
        }
    }

    /// Whether the row carries a measurement.
    pub fn measured(&self) -> bool {
        self.p50_ns.is_some() || self.msgs_per_s.is_some()
    }
}

/// A row's p50 over another row's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    /// The other row's mechanism key.
    pub to: String,
    /// This row's p50 over the other's.
    pub value: f64,
}

impl Row {
    /// This row's ratio to the row of mechanism `key`, if measured.
    pub fn ratio_to(&self, key: &str) -> Option<f64> {
        self.ratios.iter().find(|r| r.to == key).map(|r| r.value)
    }
}

/// Where and on what a report was measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
    /// The two CPUs the sides were pinned to, if any.
    pub pinned: Option<(usize, usize)>,
    /// Whether this was the reduced smoke run.
    pub quick: bool,
}

impl Machine {
    /// This machine, now.
    pub fn here(cpus: usize, pinned: Option<(usize, usize)>, quick: bool) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
        Machine {
            cpu,
            cpus,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or("unknown".to_string(), |k| k.trim().to_string()),
            pinned,
            quick,
        }
    }
}

/// Rows of one bench target, or of all of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// The rows, in measuring order.
    pub rows: Vec<Row>,
}

/// `target/shmring-bench`, found from the running bench binary
/// (`target/<profile>/deps/<bench>`), so that `CARGO_TARGET_DIR` is
/// honoured; `SHMRING_BENCH_DIR` overrides it.
pub fn output_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHMRING_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    match exe.ancestors().nth(3) {
        Some(target) if !target.as_os_str().is_empty() => target.join("shmring-bench"),
        _ => PathBuf::from("target/shmring-bench"),
    }
}

/// Writes `<dir>/<part>.json`, then rebuilds `report.md` and
/// `report.json` from every part present. Returns the markdown of `part`.
pub fn write(dir: &Path, part: &str, report: &Report) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(format!("{part}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    rebuild(dir, &report.machine)?;
    Ok(table(part, &report.rows))
}

/// Rebuilds `report.md` and `report.json` in `dir` from every part
/// present (`latency.json`, `throughput.json`, and the fan-out table
/// `fanout.md`), whichever bench target ran last.
pub fn rebuild(dir: &Path, machine: &Machine) -> Result<()> {
    let mut all = Report {
        machine: machine.clone(),
        rows: Vec::new(),
    };
    let mut tables = String::new();
    for name in ["latency", "throughput"] {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("{name}.json"))) else {
            continue;
        };
        let Ok(part) = serde_json::from_str::<Report>(&text) else {
            continue;
        };
        tables.push_str(&table(name, &part.rows));
        all.rows.extend(part.rows);
    }
    // The fan-out rows have a shape of their own (`crate::fanout`): their
    // table goes in as the fan-out target wrote it.
    if let Ok(fanout) = std::fs::read_to_string(dir.join("fanout.md")) {
        tables.push_str(&fanout);
    }
    let markdown = format!(
        "# shmring benchmark report\n\n{}\n{}{tables}",
        machine_line(machine),
        summary(&all.rows)
    );
    std::fs::write(dir.join("report.md"), &markdown)?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&all)?)?;
    Ok(())
}

/// The mechanisms of the short table (the README's).
const SUMMARY: [&str; 13] = [
    "limit",
    "limit-sized",
    "spsc-spin",
    "spsc-spin-park",
    "spsc-park",
    "mpmc",
    "pipe",
    "unix-stream",
    "posix-mq",
    "ringfire",
    "iceoryx2",
    "iceoryx2-event",
    "rtrb",
];

/// The short table: 64-byte round trip and stream for the main rows.
pub fn summary(rows: &[Row]) -> String {
    let find = |key: &str, pattern: &str| {
        rows.iter().find(|r| {
            r.mechanism == key && r.pattern == pattern && (r.size == 64 || key == "limit")
        })
    };
    let mut out = String::from(
        "\n## Summary: 64-byte messages\n\n\
         | mechanism | round trip p50 | p99 | × limit | × 64 B limit | stream messages/s | × pipe |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for key in SUMMARY {
        let rt = find(key, "round-trip").filter(|r| r.measured());
        let stream = find(key, "stream").filter(|r| r.measured());
        if rt.is_none() && stream.is_none() {
            continue;
        }
        let label = rt.or(stream).map_or(key, |r| r.label.as_str());
        let label = if key == "limit" {
            format!("{label}, 8 B")
        } else {
            label.to_string()
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            rt.and_then(|r| r.p50_ns).map_or("—".into(), nanos),
            rt.and_then(|r| r.p99_ns).map_or("—".into(), nanos),
            ratio(rt.and_then(|r| r.ratio_to_limit)),
            ratio(rt.and_then(|r| r.ratio_to_size_limit)),
            stream.and_then(|r| r.msgs_per_s).map_or("—".into(), msgs),
            ratio(stream.and_then(|r| r.ratio_to_pipe)),
        );
    }
    out
}

/// One line describing the machine.
pub fn machine_line(m: &Machine) -> String {
    format!(
        "Machine: {}, {} CPU(s), Linux {}; {}{}.",
        m.cpu,
        m.cpus,
        m.kernel,
        match m.pinned {
            Some((a, b)) => format!("the two sides pinned to CPUs {a} and {b}"),
            None => "one CPU: nothing pinned".to_string(),
        },
        if m.quick {
            "; quick smoke run (SHMRING_BENCH_QUICK)"
        } else {
            ""
        }
    )
}

/// The markdown table of one bench target's rows.
pub fn table(part: &str, rows: &[Row]) -> String {
    match part {
        "latency" => latency_table(rows) + &comparison_tables(rows),
        _ => throughput_table(rows) + &stream_comparisons(rows),
    }
}

/// A latency as the tables show it: `850 ns`, `12.3 µs`, `1.23 ms`
/// (three significant digits, [`shmring::human::Duration`]).
pub fn nanos(ns: u64) -> String {
    Duration::from_nanos(ns).to_string()
}

/// Messages per second as the tables show them: `38.4 M msg/s`.
pub fn msgs(per_s: f64) -> String {
    Rate::per_second(per_s).to_string()
}

/// Bytes per second as the tables show them, binary prefixes:
/// `2.40 GiB/s`.
pub fn bytes(per_s: f64) -> String {
    ByteRate::per_second(per_s).to_string()
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}×"))
}

fn latency_cells(row: Option<&Row>) -> String {
    match row {
        Some(r) if r.measured() => format!(
            "{} | {} | {} | {} | {} | {}",
            nanos(r.p50_ns.unwrap_or(0)),
            nanos(r.p99_ns.unwrap_or(0)),
            nanos(r.p999_ns.unwrap_or(0)),
            nanos(r.max_ns.unwrap_or(0)),
            ratio(r.ratio_to_limit),
            ratio(r.ratio_to_size_limit)
        ),
        _ => "— | — | — | — | — | —".to_string(),
    }
}

fn latency_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "\n## Latency (median of runs; × limit = p50 over the physical limit's p50 (one \
         8-byte word); × size = p50 over the p50 of the limit for the row's size \
         (payload + sequence word))\n\n\
         | mechanism | size | round trip p50 | p99 | p99.9 | max | × limit | × size \
         | one-way p50 | p99 | p99.9 | max | × limit | × size | note |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for rt in rows.iter().filter(|r| r.pattern == "round-trip") {
        let one_way = rows
            .iter()
            .find(|r| r.pattern == "one-way" && r.mechanism == rt.mechanism && r.size == rt.size);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            rt.label,
            size_label(rt.size),
            latency_cells(Some(rt)),
            latency_cells(one_way),
            rt.note.as_deref().unwrap_or("")
        );
    }
    out
}

/// The label of the mechanism `key`, for a column header.
fn label_of(key: &str) -> &str {
    crate::mechanism::Mechanism::from_key(key).map_or(key, |m| m.label())
}

/// One table per group of rows compared with the same baselines (the
/// epoll rows with pipe + epoll and eventfd + epoll, the tokio rows with
/// tokio's UNIX socket): p50 and its ratio to each baseline, round trip
/// and one-way.
fn comparison_tables(rows: &[Row]) -> String {
    let keys_of = |r: &Row| -> Vec<String> { r.ratios.iter().map(|x| x.to.clone()).collect() };
    let mut groups: Vec<Vec<String>> = Vec::new();
    for r in rows.iter().filter(|r| r.pattern == "round-trip") {
        let keys = keys_of(r);
        if !keys.is_empty() && !groups.contains(&keys) {
            groups.push(keys);
        }
    }
    let mut out = String::new();
    for keys in groups {
        let labels: Vec<&str> = keys.iter().map(|k| label_of(k)).collect();
        let ratio_headers: String = labels.iter().map(|l| format!(" × {l} |")).collect();
        let ratio_align = " ---: |".repeat(keys.len());
        let _ = write!(
            out,
            "\n## Round trips next to {} (× = p50 over theirs, same size, same run)\n\n\
             | mechanism | size | round trip p50 | p99 |{ratio_headers} one-way p50 |{ratio_headers} note |\n\
             |---|---:|---:|---:|{ratio_align} ---: |{ratio_align}---|\n",
            labels.join(" and ")
        );
        for rt in rows
            .iter()
            .filter(|r| r.pattern == "round-trip" && keys_of(r) == keys)
        {
            let one_way = rows.iter().find(|r| {
                r.pattern == "one-way" && r.mechanism == rt.mechanism && r.size == rt.size
            });
            let cells = |row: Option<&Row>, with_p99: bool| -> String {
                let row = row.filter(|r| r.measured());
                let mut cells = vec![row.and_then(|r| r.p50_ns).map_or("—".into(), nanos)];
                if with_p99 {
                    cells.push(row.and_then(|r| r.p99_ns).map_or("—".into(), nanos));
                }
                cells.extend(keys.iter().map(|k| ratio(row.and_then(|r| r.ratio_to(k)))));
                cells.join(" | ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                rt.label,
                size_label(rt.size),
                cells(Some(rt), true),
                cells(one_way, false),
                rt.note.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// Streams compared with the rows of `Mechanism::baselines` (messages/s
/// over theirs, same size, same run).
fn stream_comparisons(rows: &[Row]) -> String {
    let compared: Vec<&Row> = rows.iter().filter(|r| !r.ratios.is_empty()).collect();
    if compared.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Streams next to their baselines (× = messages/s over theirs, same size, same \
         run)\n\n| mechanism | size | messages/s | compared with |\n|---|---:|---:|---|\n",
    );
    for r in compared {
        let ratios: Vec<String> = r
            .ratios
            .iter()
            .map(|x| format!("{:.2}× {}", x.value, label_of(&x.to)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.label,
            size_label(r.size),
            r.msgs_per_s.map_or("—".into(), msgs),
            ratios.join(", ")
        );
    }
    out
}

fn throughput_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "\n## Throughput, one-way stream (median of runs; × memcpy = bytes/s over one \
         thread's memcpy at the same size)\n\n\
         | mechanism | size | messages/s | bytes/s | × memcpy | × pipe | note |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let (msgs, bytes) = match (r.msgs_per_s, r.bytes_per_s) {
            (Some(m), Some(b)) => (msgs(m), bytes(b)),
            _ => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {msgs} | {bytes} | {} | {} | {} |",
            r.label,
            size_label(r.size),
            ratio(r.ratio_to_limit),
            ratio(r.ratio_to_pipe),
            r.note.as_deref().unwrap_or("")
        );
    }
    out
}
