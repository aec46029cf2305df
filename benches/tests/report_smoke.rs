//! Checks the report a benchmark run left behind (CI runs it right after
//! `SHMRING_BENCH_QUICK=1 cargo bench`): well-formed, every mechanism
//! present, numbers where a row says it measured, plots written. It does
//! not judge timings. Ignored by default: it needs that run first.

use shmring_benches::mechanism::Mechanism;
use shmring_benches::report::{Report, output_dir};

#[test]
#[ignore = "needs a `cargo bench -p shmring-benches` run first"]
fn the_last_run_left_a_complete_report() {
    let dir = output_dir();
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("report.json").display()));
    let report: Report = serde_json::from_str(&text).expect("report.json parses");
    assert!(report.machine.cpus >= 1);

    // The peer libraries' rows are there in a run built with `peers`
    // (CI's): then all of them, in both benches.
    let with_peers = report
        .rows
        .iter()
        .any(|r| Mechanism::from_key(&r.mechanism).is_some_and(|m| m.is_peer()));
    let peers: &[Mechanism] = if with_peers { &Mechanism::PEERS } else { &[] };
    let latency: Vec<Mechanism> = Mechanism::LATENCY.iter().chain(peers).copied().collect();
    let throughput: Vec<Mechanism> = Mechanism::THROUGHPUT.iter().chain(peers).copied().collect();

    for (pattern, mechanisms) in [
        ("round-trip", &latency[..]),
        ("one-way", &latency[..]),
        ("stream", &throughput[..]),
    ] {
        for m in mechanisms {
            let rows: Vec<_> = report
                .rows
                .iter()
                .filter(|r| r.pattern == pattern && r.mechanism == m.key())
                .collect();
            assert!(!rows.is_empty(), "no {pattern} row for {}", m.key());
            for row in rows {
                if row.measured() {
                    assert!(row.runs >= 1, "{} {pattern}: no runs", m.key());
                    if pattern == "stream" {
                        assert!(row.msgs_per_s.unwrap() > 0.0 && row.bytes_per_s.unwrap() > 0.0);
                        assert!(
                            row.ratio_to_limit.is_some(),
                            "{} stream: no memcpy ratio",
                            m.key()
                        );
                    } else {
                        let (p50, p99) = (row.p50_ns.unwrap(), row.p99_ns.unwrap());
                        let (p999, max) = (row.p999_ns.unwrap(), row.max_ns.unwrap());
                        assert!(
                            0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
                            "{row:?}"
                        );
                        assert!(
                            row.ratio_to_limit.is_some(),
                            "{} {pattern}: no ratio",
                            m.key()
                        );
                    }
                } else {
                    // A row without numbers must say why.
                    assert!(
                        row.note
                            .as_deref()
                            .is_some_and(|n| n.contains("cannot carry")),
                        "{} {pattern} {} B failed: {:?}",
                        m.key(),
                        row.size,
                        row.note
                    );
                }
            }
        }
    }
    // Every measured latency row carries its ratio to the limit of its own
    // size, wherever that limit was measured.
    for row in report
        .rows
        .iter()
        .filter(|r| r.pattern != "stream" && r.measured() && r.mechanism != "limit")
    {
        let limit_measured = report.rows.iter().any(|l| {
            l.mechanism == Mechanism::LimitSized.key()
                && l.pattern == row.pattern
                && l.size == row.size
                && l.measured()
        });
        if limit_measured {
            assert!(
                row.ratio_to_size_limit.is_some_and(|r| r > 0.0),
                "{} {} {} B: no ratio to the limit of its size",
                row.mechanism,
                row.pattern,
                row.size
            );
        }
    }

    // shmring itself and the limits always measure (and, in a run with
    // the peer rows, every peer library at 64 bytes).
    let mut always = vec![
        "limit",
        "limit-sized",
        "spsc-spin",
        "spsc-park",
        "mpmc",
        "pubsub",
        "pubsub-lossy",
        "pubsub-zero-copy",
        "pipe",
    ];
    if with_peers {
        always.extend(Mechanism::PEERS.iter().map(|m| m.key()));
    }
    for key in always {
        assert!(
            report
                .rows
                .iter()
                .any(|r| r.mechanism == key && r.measured()),
            "{key} measured nothing"
        );
    }

    // The rows waiting in epoll_wait (and the tokio rows, in a run built
    // with the `tokio` feature) carry their ratios to their baselines.
    let measured = |key: &str, pattern: &str, size: usize| {
        report
            .rows
            .iter()
            .any(|r| r.mechanism == key && r.pattern == pattern && r.size == size && r.measured())
    };
    let pubsub = [
        Mechanism::PubSub,
        Mechanism::PubSubLossy,
        Mechanism::PubSubZeroCopy,
    ];
    for m in Mechanism::EPOLL
        .iter()
        .chain(&Mechanism::TOKIO)
        .chain(&pubsub)
    {
        for row in report
            .rows
            .iter()
            .filter(|r| r.mechanism == m.key() && r.measured())
        {
            for b in m.baselines() {
                if measured(b.key(), &row.pattern, row.size) {
                    assert!(
                        row.ratio_to(b.key()).is_some_and(|r| r > 0.0),
                        "{} {} {} B: no ratio to {}",
                        m.key(),
                        row.pattern,
                        row.size,
                        b.key()
                    );
                }
            }
        }
    }
    let is_tokio = |key: &str| Mechanism::TOKIO.iter().any(|m| m.key() == key);
    if report.rows.iter().any(|r| is_tokio(&r.mechanism)) {
        for m in Mechanism::TOKIO {
            assert!(
                measured(m.key(), "round-trip", Mechanism::TOKIO_SIZE),
                "{} measured nothing",
                m.key()
            );
        }
    }

    let markdown = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(markdown.contains("## Latency") && markdown.contains("## Throughput"));
    assert!(markdown.contains("## Fan-out"));
    assert!(markdown.contains("## Round trips next to"));
    for plot in ["latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(dir.join(plot)).expect(plot);
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{plot}"
        );
    }
}

#[test]
#[ignore = "needs a `cargo bench -p shmring-benches` run first"]
fn the_last_run_left_every_fan_out_row() {
    use shmring_benches::fanout::{DELIVERIES, FanoutReport, SUBSCRIBERS, WAITS, delivery_key};
    let path = output_dir().join("fanout.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report: FanoutReport = serde_json::from_str(&text).expect("fanout.json parses");
    let cells = DELIVERIES
        .map(delivery_key)
        .into_iter()
        .flat_map(|d| WAITS.map(|w| (d, w.key())))
        .flat_map(|(d, w)| SUBSCRIBERS.map(|n| (d, w, n)));
    for (delivery, wait, n) in cells {
        let rows: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.delivery == delivery && r.wait == wait && r.subscribers == n)
            .collect();
        assert!(
            !rows.is_empty(),
            "no {delivery} {wait} row with {n} subscribers"
        );
        for row in rows {
            assert!(
                row.published_per_s.is_some(),
                "{delivery} ×{n}: {:?}",
                row.note
            );
            assert_eq!(row.seen.len(), n);
            // The bench checked it already; a report saying otherwise
            // was not written by this code.
            for seen in &row.seen {
                assert_eq!(seen.delivered + seen.missed, row.published);
            }
            assert!(row.ratio_to_one.is_some());
            // One slot per message whatever the number of subscribers.
            assert!(row.slot_area_bytes > 0 && row.slot_area_bytes < row.segment_bytes);
        }
    }
    let sizes = |n: usize| -> Vec<u64> {
        report
            .rows
            .iter()
            .filter(|r| r.subscribers == n && r.size == 64)
            .map(|r| r.segment_bytes)
            .collect()
    };
    assert_eq!(sizes(1), sizes(4), "the segment grew with the subscribers");
}
