//! The two pictures: `latency.svg` (round-trip p50 and p99 per
//! mechanism, one panel per size, log scale) and `throughput.svg`
//! (messages/s per mechanism, one panel per size, log scale).

use crate::Result;
use crate::plan::size_label;
use crate::report::Row;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1100;
const PANEL_ROW_HEIGHT: u32 = 22;
const PANEL_EXTRA: u32 = 80;

struct Bar {
    label: String,
    main: f64,
    marker: Option<f64>,
}

/// Draws `latency.svg` from the round-trip rows.
pub fn latency(path: &Path, rows: &[Row]) -> Result<()> {
    // The limit is measured once (8 bytes) and drawn in every panel as
    // the floor the others are compared with.
    let limit = rows.iter().find(|r| {
        r.mechanism == crate::mechanism::Mechanism::Limit.key() && r.pattern == "round-trip"
    });
    let mut rows: Vec<Row> = rows
        .iter()
        .filter(|r| r.mechanism != limit.map_or("", |l| &l.mechanism))
        .cloned()
        .collect();
    if let Some(limit) = limit {
        let mut sizes: Vec<usize> = rows.iter().map(|r| r.size).collect();
        sizes.dedup();
        for size in sizes.into_iter().rev() {
            let at = rows.iter().position(|r| r.size == size).unwrap_or(0);
            rows.insert(
                at,
                Row {
                    size,
                    label: format!("{} (8 B)", limit.label),
                    ..limit.clone()
                },
            );
        }
    }
    let panels = panels(&rows, "round-trip", |r| {
        Some(Bar {
            label: r.label.clone(),
            main: r.p50_ns? as f64,
            marker: r.p99_ns.map(|v| v as f64),
        })
    });
    draw(
        path,
        &panels,
        "round trip (log scale): bar = p50, dot = p99",
        "round trip",
        |ns| crate::report::nanos(ns as u64),
    )
}

/// Draws `throughput.svg` from the stream rows.
pub fn throughput(path: &Path, rows: &[Row]) -> Result<()> {
    let panels = panels(rows, "stream", |r| {
        Some(Bar {
            label: r.label.clone(),
            main: r.msgs_per_s?,
            marker: None,
        })
    });
    draw(
        path,
        &panels,
        "messages/s (log scale)",
        "one-way stream",
        crate::report::msgs,
    )
}

fn panels(
    rows: &[Row],
    pattern: &str,
    bar: impl Fn(&Row) -> Option<Bar>,
) -> Vec<(usize, Vec<Bar>)> {
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .into_iter()
        .map(|size| {
            let bars = rows
                .iter()
                .filter(|r| r.size == size && r.pattern == pattern)
                .filter_map(&bar)
                .filter(|b| b.main > 0.0)
                .collect::<Vec<_>>();
            (size, bars)
        })
        .filter(|(_, bars)| !bars.is_empty())
        .collect()
}

fn draw(
    path: &Path,
    panels: &[(usize, Vec<Bar>)],
    x_desc: &str,
    what: &str,
    x_label: impl Fn(f64) -> String,
) -> Result<()> {
    let heights: Vec<u32> = panels
        .iter()
        .map(|(_, bars)| bars.len() as u32 * PANEL_ROW_HEIGHT + PANEL_EXTRA)
        .collect();
    let total = heights.iter().sum::<u32>().max(100);
    let root = SVGBackend::new(path, (WIDTH, total)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut rest = root.clone();
    for ((size, bars), height) in panels.iter().zip(&heights) {
        let (panel, below) = rest.split_vertically(*height);
        rest = below;
        let values = bars
            .iter()
            .flat_map(|b| std::iter::once(b.main).chain(b.marker));
        let (lo, hi) = values.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        );
        let n = bars.len();
        let mut chart = ChartBuilder::on(&panel)
            .caption(
                format!("{} messages, {what}", size_label(*size)),
                ("sans-serif", 16),
            )
            .margin(6)
            .margin_right(40)
            .x_label_area_size(34)
            .y_label_area_size(280)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..n as f64)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                // Labels sit at the middle of each bar's band.
                let band = y - 0.5;
                if (band - band.round()).abs() > 1e-6 || band < 0.0 {
                    return String::new();
                }
                let i = n - 1 - band.round() as usize;
                bars.get(i).map_or(String::new(), |b| b.label.clone())
            })
            .x_label_formatter(&|x| x_label(*x))
            .x_desc(x_desc)
            .draw()?;
        let band = |i: usize| (n - 1 - i) as f64;
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            Rectangle::new(
                [(lo, band(i) + 0.2), (b.main, band(i) + 0.8)],
                RGBColor(70, 110, 180).filled(),
            )
        }))?;
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            b.marker
                .map(|m| Circle::new((m, band(i) + 0.5), 4, RGBColor(200, 60, 40).filled()))
        }))?;
    }
    root.present()?;
    Ok(())
}
