//! Times, sizes, rates and counts as a person reads them: `3.90 ms`
//! rather than `3895295 ns`, `64 KiB` rather than `65536`. For the demo,
//! the `shmring` tool's tables and the benchmark reports; anything a
//! program reads (`--json`, `report.json`) stays a plain number with its
//! unit in the key's name.
//!
//! Each wrapper is a [`Display`](fmt::Display) that allocates nothing:
//!
//! | wrapper        | from                         | reads like                           | steps                          |
//! |----------------|------------------------------|--------------------------------------|--------------------------------|
//! | [`Duration`]   | ns (`u64`), [`std::time::Duration`] | `850 ns`, `3.90 µs`, `125 µs`, `1.25 s` | ×1000: ns, µs, ms, s (no minutes) |
//! | [`Bytes`]      | `u64`                        | `64 B`, `1 KiB`, `1.5 MiB`, `64 GiB` | ×1024: B, KiB, MiB, … EiB      |
//! | [`Count`]      | `u64`                        | `999`, `1.23 k`, `2 M`               | ×1000: k, M, G, T, P, E        |
//! | [`Rate`]       | per second (`f64`)           | `38.4 M msg/s`, `38.4 M/s`           | ×1000: k, M, G, T, P, E        |
//! | [`ByteRate`]   | bytes per second (`f64`)     | `512 B/s`, `2.40 GiB/s`              | ×1024: KiB, MiB, … EiB         |
//!
//! The rule, the same for all of them:
//!
//! - **The unit** is the largest in which the value is at least 1
//!   (`999 ns`, then `1.00 µs`). Durations stop at seconds: `1500 s`.
//! - **Three significant digits**: `1.23`, `12.3`, `123`. In a unit's
//!   range from 1000 up (`1000`–`1023 KiB`, seconds past 999) the whole
//!   number is shown: four digits or more, never an exponent.
//! - **Rounding** is half up, and a value that rounds up to the next
//!   unit is shown in it: 999 999 ns is `1.00 ms`, never `1000 µs`, and
//!   9 995 ns is `10.0 µs`, never `10.00 µs`. The integer wrappers round
//!   in integers, so no binary fraction creeps in.
//! - **Trailing zeros.** Durations and rates are measured: their three
//!   digits are always shown, and `1.00 µs` says "1 µs to within 5 ns".
//!   Sizes and counts are usually set, and often exact: a [`Bytes`] or
//!   [`Count`] whose figure is exact drops its trailing zeros (`1 KiB`,
//!   `1.5 MiB`, `2 M`), and only a rounded one keeps them (`1.00 MiB` is
//!   1 MiB and a little).
//! - The smallest unit (ns, B, a bare count) shows whole numbers only.
//!
//! A width, a fill and an alignment apply to the whole text (`{:>9}`
//! right-aligns `3.90 µs` in 9 characters); without an alignment it is
//! right-aligned, as numbers are. `µ` is one character.
//!
//! For logs and terminals that are not UTF-8, [`Duration::ascii`] writes
//! `us` for `µs`; every other unit is ASCII already.
//!
//! ```
//! use shmring::human::{ByteRate, Bytes, Count, Duration, Rate};
//! assert_eq!(Duration::from_nanos(3_895_295).to_string(), "3.90 ms");
//! assert_eq!(Bytes(64 << 10).to_string(), "64 KiB");
//! assert_eq!(Rate::per_second(38.4e6).to_string(), "38.4 M msg/s");
//! assert_eq!(ByteRate::per_second(2.4 * (1u64 << 30) as f64).to_string(), "2.40 GiB/s");
//! assert_eq!(Count(1_200_000).to_string(), "1.2 M");
//! assert_eq!(format!("[{:>9}]", Duration::from_nanos(850)), "[   850 ns]");
//! ```

use std::fmt;

/// Units of time, ×1000 apart, as UTF-8 and as ASCII.
const TIME: [&str; 4] = ["ns", "µs", "ms", "s"];
const TIME_ASCII: [&str; 4] = ["ns", "us", "ms", "s"];
/// Binary prefixes of bytes, ×1024 apart (`u64::MAX` is just under
/// 16 EiB).
const BINARY: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
/// SI prefixes, ×1000 apart (`u64::MAX` is about 18.4 E).
const SI: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];

/// A figure ready to print: `digits` with `decimals` of them after the
/// point, in `units[unit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Figure {
    digits: u128,
    decimals: u32,
    unit: usize,
}

/// Decimals for three significant digits of a value whose whole part is
/// `whole`.
fn decimals_for(whole: u128) -> u32 {
    match whole {
        0..=9 => 2,
        10..=99 => 1,
        _ => 0,
    }
}

/// `value` (in the smallest unit) in the largest of `units` units `step`
/// apart in which it is at least 1, to three significant digits, rounded
/// half up; `trim` drops the zeros an exact figure ends with.
fn integer_figure(value: u128, step: u128, units: usize, trim: bool) -> Figure {
    let mut unit = 0;
    let mut size = 1u128;
    while unit + 1 < units && value / size >= step {
        unit += 1;
        size *= step;
    }
    // The smallest unit shows whole numbers.
    let mut decimals = if unit == 0 {
        0
    } else {
        decimals_for(value / size)
    };
    loop {
        let scaled = value * 10u128.pow(decimals);
        let digits = (scaled + size / 2) / size;
        if decimals > 0 && digits >= 1000 {
            // Rounded up to four digits (9.995 → 10.00): one decimal less.
            decimals -= 1;
            continue;
        }
        if decimals == 0 && digits >= step && unit + 1 < units {
            // Rounded up to the next unit (999.5 µs → 1000 µs): show it
            // there, where it is 1 and a little below.
            unit += 1;
            size *= step;
            decimals = 2;
            continue;
        }
        let mut figure = Figure {
            digits,
            decimals,
            unit,
        };
        if trim && scaled % size == 0 {
            while figure.decimals > 0 && figure.digits % 10 == 0 {
                figure.digits /= 10;
                figure.decimals -= 1;
            }
        }
        return figure;
    }
}

/// The same for a rate: `None` for a value that is not a finite number
/// of at least 0 (or is beyond any rate: 10³⁰ of the last unit).
fn float_figure(value: f64, step: f64, units: usize) -> Option<Figure> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let mut unit = 0;
    let mut size = 1.0;
    while unit + 1 < units && value / size >= step {
        unit += 1;
        size *= step;
    }
    // A rate has a fraction in any unit: 0.50 msg/s. Scaled up before
    // it is divided, so that a figure exact in decimal (9 995/s) rounds
    // as written.
    let mut decimals = decimals_for((value / size) as u128);
    loop {
        let digits = (value * 10f64.powi(decimals as i32) / size).round();
        if decimals > 0 && digits >= 1000.0 {
            decimals -= 1;
            continue;
        }
        if decimals == 0 && digits >= step && unit + 1 < units {
            unit += 1;
            size *= step;
            decimals = 2;
            continue;
        }
        if digits >= 1e30 {
            // Past any rate there is (a u128 would saturate): as f64 prints it.
            return None;
        }
        return Some(Figure {
            digits: digits as u128,
            decimals,
            unit,
        });
    }
}

/// Counts the characters written (not the bytes: `µ` is one).
struct Chars(usize);

impl fmt::Write for Chars {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.chars().count();
        Ok(())
    }
}

/// Writes what `body` writes with the formatter's width, fill and
/// alignment (right unless told otherwise), without allocating: `body`
/// runs once to count, once to write.
fn padded(
    f: &mut fmt::Formatter<'_>,
    body: impl Fn(&mut dyn fmt::Write) -> fmt::Result,
) -> fmt::Result {
    let Some(width) = f.width() else {
        return body(f);
    };
    let mut len = Chars(0);
    body(&mut len)?;
    let fill = width.saturating_sub(len.0);
    let (before, after) = match f.align() {
        Some(fmt::Alignment::Left) => (0, fill),
        Some(fmt::Alignment::Center) => (fill / 2, fill - fill / 2),
        Some(fmt::Alignment::Right) | None => (fill, 0),
    };
    let c = f.fill();
    for _ in 0..before {
        fmt::Write::write_char(f, c)?;
    }
    body(f)?;
    for _ in 0..after {
        fmt::Write::write_char(f, c)?;
    }
    Ok(())
}

/// Writes `figure`'s number, then `suffix`, padded as a whole.
fn write_figure(
    f: &mut fmt::Formatter<'_>,
    figure: Figure,
    suffix: fmt::Arguments<'_>,
) -> fmt::Result {
    let point = 10u128.pow(figure.decimals);
    padded(f, |w| {
        write!(w, "{}", figure.digits / point)?;
        if figure.decimals > 0 {
            let width = figure.decimals as usize;
            write!(w, ".{:0width$}", figure.digits % point)?;
        }
        w.write_fmt(suffix)
    })
}

/// Writes a rate that is no finite number of at least 0 as the `f64`
/// prints it, then `suffix`: `NaN msg/s`.
fn write_raw(f: &mut fmt::Formatter<'_>, value: f64, suffix: fmt::Arguments<'_>) -> fmt::Result {
    padded(f, |w| {
        write!(w, "{value}")?;
        w.write_fmt(suffix)
    })
}

/// A span of time: `850 ns`, `3.90 µs`, `12.4 µs`, `125 µs`, `3.90 ms`,
/// `1.25 s` (three significant digits, always shown; see the [module
/// rule](self)).
///
/// ```
/// use shmring::human::Duration;
/// assert_eq!(Duration::from_nanos(999).to_string(), "999 ns");
/// assert_eq!(Duration::from_nanos(1_000).to_string(), "1.00 µs");
/// assert_eq!(Duration::from_nanos(12_449).to_string(), "12.4 µs");
/// assert_eq!(Duration::from(std::time::Duration::from_millis(1250)).to_string(), "1.25 s");
/// assert_eq!(Duration::from_nanos(3_895_295).ascii().to_string(), "3.90 ms");
/// assert_eq!(Duration::from_nanos(20_000).ascii().to_string(), "20.0 us");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: u128,
    ascii: bool,
}

impl Duration {
    /// `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Duration {
        Duration {
            nanos: ns as u128,
            ascii: false,
        }
    }

    /// The same, written `us` instead of `µs`: for logs and terminals
    /// that are not UTF-8.
    ///
    /// ```
    /// use shmring::human::Duration;
    /// assert_eq!(Duration::from_nanos(3_900).ascii().to_string(), "3.90 us");
    /// ```
    pub const fn ascii(self) -> Duration {
        Duration {
            ascii: true,
            ..self
        }
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Duration {
        Duration {
            nanos: d.as_nanos(),
            ascii: false,
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = if self.ascii { &TIME_ASCII } else { &TIME };
        let figure = integer_figure(self.nanos, 1000, units.len(), false);
        write_figure(f, figure, format_args!(" {}", units[figure.unit]))
    }
}

/// A size in bytes, with binary prefixes: `64 B`, `1 KiB`, `1.5 MiB`,
/// `64 GiB` (three significant digits, trailing zeros only when rounded;
/// see the [module rule](self)).
///
/// ```
/// use shmring::human::Bytes;
/// assert_eq!(Bytes(64).to_string(), "64 B");
/// assert_eq!(Bytes(1024).to_string(), "1 KiB");
/// assert_eq!(Bytes(3 << 19).to_string(), "1.5 MiB");
/// assert_eq!(Bytes(64 << 30).to_string(), "64 GiB");
/// // Rounded: the zeros say so.
/// assert_eq!(Bytes((1 << 20) + 1).to_string(), "1.00 MiB");
/// assert_eq!(Bytes(66_304).to_string(), "64.8 KiB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figure = integer_figure(self.0.into(), 1024, BINARY.len(), true);
        write_figure(f, figure, format_args!(" {}", BINARY[figure.unit]))
    }
}

/// A large count, with SI prefixes: `999`, `1.23 k`, `1.2 M` (three
/// significant digits, trailing zeros only when rounded; see the [module
/// rule](self)).
///
/// ```
/// use shmring::human::Count;
/// assert_eq!(Count(999).to_string(), "999");
/// assert_eq!(Count(1_234).to_string(), "1.23 k");
/// assert_eq!(Count(2_000_000).to_string(), "2 M");
/// assert_eq!(Count(1_000_001).to_string(), "1.00 M");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Count(pub u64);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figure = integer_figure(self.0.into(), 1000, SI.len(), true);
        match figure.unit {
            0 => write_figure(f, figure, format_args!("")),
            unit => write_figure(f, figure, format_args!(" {}", SI[unit])),
        }
    }
}

/// Things per second, with SI prefixes: `850 msg/s`, `38.4 M msg/s`, or
/// with another unit, or none (`38.4 M/s`). Three significant digits,
/// always shown (see the [module rule](self)); a rate that is not a
/// finite number of at least 0 is written as the `f64` prints it
/// (`NaN msg/s`).
///
/// ```
/// use shmring::human::Rate;
/// assert_eq!(Rate::per_second(38.4e6).to_string(), "38.4 M msg/s");
/// assert_eq!(Rate::per_second(38.4e6).unit("").to_string(), "38.4 M/s");
/// assert_eq!(Rate::per_second(850.0).unit("opens").to_string(), "850 opens/s");
/// let elapsed = std::time::Duration::from_millis(250);
/// assert_eq!(Rate::of(1_000_000, elapsed).to_string(), "4.00 M msg/s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_second: f64,
    unit: &'static str,
}

impl Rate {
    /// `per_second` messages per second.
    pub const fn per_second(per_second: f64) -> Rate {
        Rate {
            per_second,
            unit: "msg",
        }
    }

    /// `count` messages in `elapsed` (an empty `elapsed` is a rate that
    /// is not a number: it prints as `inf` or `NaN`).
    pub fn of(count: u64, elapsed: std::time::Duration) -> Rate {
        Rate::per_second(count as f64 / elapsed.as_secs_f64())
    }

    /// Counted in `unit` instead of `msg` (`""`: `38.4 M/s`).
    pub const fn unit(self, unit: &'static str) -> Rate {
        Rate { unit, ..self }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(figure) = float_figure(self.per_second, 1000.0, SI.len()) else {
            return match self.unit {
                "" => write_raw(f, self.per_second, format_args!("/s")),
                unit => write_raw(f, self.per_second, format_args!(" {unit}/s")),
            };
        };
        match (SI[figure.unit], self.unit) {
            ("", "") => write_figure(f, figure, format_args!("/s")),
            ("", unit) | (unit, "") => write_figure(f, figure, format_args!(" {unit}/s")),
            (prefix, unit) => write_figure(f, figure, format_args!(" {prefix} {unit}/s")),
        }
    }
}

/// Bytes per second, with binary prefixes: `512 B/s`, `2.40 GiB/s`
/// (three significant digits, always shown; see the [module
/// rule](self)).
///
/// ```
/// use shmring::human::ByteRate;
/// assert_eq!(ByteRate::per_second(512.0).to_string(), "512 B/s");
/// assert_eq!(ByteRate::per_second(2.4 * (1u64 << 30) as f64).to_string(), "2.40 GiB/s");
/// let elapsed = std::time::Duration::from_secs(2);
/// assert_eq!(ByteRate::of(3 << 20, elapsed).to_string(), "1.50 MiB/s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteRate {
    per_second: f64,
}

impl ByteRate {
    /// `per_second` bytes per second.
    pub const fn per_second(per_second: f64) -> ByteRate {
        ByteRate { per_second }
    }

    /// `bytes` in `elapsed`.
    pub fn of(bytes: u64, elapsed: std::time::Duration) -> ByteRate {
        ByteRate::per_second(bytes as f64 / elapsed.as_secs_f64())
    }
}

impl fmt::Display for ByteRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(figure) = float_figure(self.per_second, 1024.0, BINARY.len()) else {
            return write_raw(f, self.per_second, format_args!(" B/s"));
        };
        write_figure(f, figure, format_args!(" {}/s", BINARY[figure.unit]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: u64) -> String {
        Duration::from_nanos(n).to_string()
    }

    #[test]
    fn durations_step_at_each_thousand() {
        assert_eq!(ns(0), "0 ns");
        assert_eq!(ns(1), "1 ns");
        assert_eq!(ns(850), "850 ns");
        assert_eq!(ns(999), "999 ns");
        assert_eq!(ns(1_000), "1.00 µs");
        assert_eq!(ns(1_004), "1.00 µs");
        // Half up, in integers (1.005 is not exact in binary).
        assert_eq!(ns(1_005), "1.01 µs");
        assert_eq!(ns(3_900), "3.90 µs");
        assert_eq!(ns(12_449), "12.4 µs");
        assert_eq!(ns(12_450), "12.5 µs");
        assert_eq!(ns(125_000), "125 µs");
        assert_eq!(ns(3_895_295), "3.90 ms");
        assert_eq!(ns(1_250_000_000), "1.25 s");
        assert_eq!(ns(999_000_000_000), "999 s");
        assert_eq!(ns(1_500_000_000_000), "1500 s");
    }

    #[test]
    fn rounding_carries_into_the_next_digit_and_unit() {
        // Into one decimal less.
        assert_eq!(ns(9_994), "9.99 µs");
        assert_eq!(ns(9_995), "10.0 µs");
        assert_eq!(ns(99_949), "99.9 µs");
        assert_eq!(ns(99_950), "100 µs");
        // Into the next unit.
        assert_eq!(ns(999_499), "999 µs");
        assert_eq!(ns(999_500), "1.00 ms");
        assert_eq!(ns(999_999), "1.00 ms");
        assert_eq!(ns(999_999_999), "1.00 s");
        // Seconds are the last unit: whole numbers from 1000 on.
        assert_eq!(ns(999_500_000_000), "1000 s");
    }

    #[test]
    fn durations_at_the_ends() {
        // u64::MAX ns: about 584 years.
        assert_eq!(ns(u64::MAX), "18446744074 s");
        let max = Duration::from(std::time::Duration::MAX).to_string();
        assert_eq!(max, "18446744073709551616 s");
        assert_eq!(
            Duration::from(std::time::Duration::from_nanos(1_500)).to_string(),
            "1.50 µs"
        );
        assert_eq!(
            Duration::from(std::time::Duration::ZERO).to_string(),
            "0 ns"
        );
    }

    #[test]
    fn ascii_durations_say_us() {
        let d = |n| Duration::from_nanos(n).ascii().to_string();
        assert_eq!(d(999), "999 ns");
        assert_eq!(d(1_000), "1.00 us");
        assert_eq!(d(999_999), "1.00 ms");
        assert!(d(123_456).is_ascii());
    }

    #[test]
    fn bytes_use_binary_prefixes_and_drop_zeros_when_exact() {
        let b = |n: u64| Bytes(n).to_string();
        assert_eq!(b(0), "0 B");
        assert_eq!(b(64), "64 B");
        assert_eq!(b(1023), "1023 B");
        assert_eq!(b(1024), "1 KiB");
        assert_eq!(b(1025), "1.00 KiB");
        assert_eq!(b(1536), "1.5 KiB");
        assert_eq!(b(8960), "8.75 KiB");
        assert_eq!(b(3 << 19), "1.5 MiB");
        assert_eq!(b(64 << 30), "64 GiB");
        // 1000-1023 of a unit: whole numbers.
        assert_eq!(b(1000 << 10), "1000 KiB");
        assert_eq!(b(1023 << 10), "1023 KiB");
        // Rounding up to 1024 of a unit: the next unit, rounded.
        assert_eq!(b((1 << 20) - 1), "1.00 MiB");
        assert_eq!(b((1023 << 10) + 512), "1.00 MiB");
        assert_eq!(b((1023 << 10) + 511), "1023 KiB");
        // 9.995 KiB rounds to 10.0, not 10.00.
        assert_eq!(b(10_235), "10.0 KiB");
        assert_eq!(b(1 << 60), "1 EiB");
        assert_eq!(b(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn counts_use_si_prefixes() {
        let c = |n: u64| Count(n).to_string();
        assert_eq!(c(0), "0");
        assert_eq!(c(999), "999");
        assert_eq!(c(1_000), "1 k");
        assert_eq!(c(1_200_000), "1.2 M");
        assert_eq!(c(1_234_567), "1.23 M");
        assert_eq!(c(999_999), "1.00 M");
        assert_eq!(c(u64::MAX), "18.4 E");
    }

    #[test]
    fn rates_use_si_prefixes_and_any_unit() {
        let r = |x: f64| Rate::per_second(x).to_string();
        assert_eq!(r(0.0), "0.00 msg/s");
        assert_eq!(r(0.5), "0.50 msg/s");
        assert_eq!(r(850.0), "850 msg/s");
        assert_eq!(r(999.4), "999 msg/s");
        assert_eq!(r(999.5), "1.00 k msg/s");
        assert_eq!(r(9_995.0), "10.0 k msg/s");
        assert_eq!(r(38.4e6), "38.4 M msg/s");
        assert_eq!(r(1.59e6), "1.59 M msg/s");
        assert_eq!(r(u64::MAX as f64), "18.4 E msg/s");
        // Past the last prefix: whole numbers.
        assert_eq!(r(2e21), "2000 E msg/s");
        assert_eq!(r(1e50), format!("{} msg/s", 1e50));
        assert_eq!(Rate::per_second(38.4e6).unit("").to_string(), "38.4 M/s");
        assert_eq!(Rate::per_second(5.0).unit("").to_string(), "5.00/s");
        assert_eq!(Rate::per_second(f64::NAN).to_string(), "NaN msg/s");
        assert_eq!(
            Rate::per_second(f64::INFINITY).unit("").to_string(),
            "inf/s"
        );
        let zero = std::time::Duration::ZERO;
        assert_eq!(Rate::of(10, zero).to_string(), "inf msg/s");
    }

    #[test]
    fn byte_rates_use_binary_prefixes() {
        let r = |x: f64| ByteRate::per_second(x).to_string();
        assert_eq!(r(0.0), "0.00 B/s");
        assert_eq!(r(512.0), "512 B/s");
        assert_eq!(r(1023.4), "1023 B/s");
        assert_eq!(r(1023.6), "1.00 KiB/s");
        assert_eq!(r(2.4 * (1u64 << 30) as f64), "2.40 GiB/s");
        // The old report printed 9.999 MB/s as "10.00 MB/s".
        assert_eq!(r(9.999 * (1u64 << 20) as f64), "10.0 MiB/s");
        assert_eq!(r(u64::MAX as f64), "16.0 EiB/s");
        assert_eq!(r(-1.0), "-1 B/s");
    }

    #[test]
    fn width_fill_and_alignment_apply_to_the_whole() {
        let d = Duration::from_nanos(3_900);
        assert_eq!(format!("[{d:9}]"), "[  3.90 µs]");
        assert_eq!(format!("[{d:<9}]"), "[3.90 µs  ]");
        assert_eq!(format!("[{d:^9}]"), "[ 3.90 µs ]");
        assert_eq!(format!("[{d:*>9}]"), "[**3.90 µs]");
        assert_eq!(format!("[{d:3}]"), "[3.90 µs]");
        assert_eq!(
            format!("[{:>12}]", Rate::per_second(38.4e6)),
            "[38.4 M msg/s]"
        );
        assert_eq!(format!("[{:>8}]", Bytes(1024)), "[   1 KiB]");
    }
}
