//! Axes shared by the plots: time as seconds since the start beside the wall clock (UTC or
//! the local zone), with marks on round wall-clock times; and log-scaled milliseconds with
//! marks at 1, 2 and 5 of each decade. Pure formatting: no data, no state.

use crate::time::{NANOS_PER_SEC, Nanos, format_rfc3339};
use egui_plot::{GridInput, GridMark};

/// Where the timeline leaves the chosen clock for the other plots (egui temp data).
pub const CLOCK_KEY: &str = "eventlens.clock";

/// Which wall clock the time axes show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Clock {
    #[default]
    Utc,
    Local,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::Utc => "UTC",
            Clock::Local => "local",
        }
    }

    /// Seconds to add to UTC for this clock at `t`.
    pub fn offset_secs(self, t: Nanos) -> i64 {
        match self {
            Clock::Utc => 0,
            Clock::Local => local_offset_secs(t),
        }
    }
}

/// The local zone's offset from UTC at `t` (0 where the platform does not say).
#[cfg(unix)]
fn local_offset_secs(t: Nanos) -> i64 {
    let secs: libc::time_t = t.div_euclid(NANOS_PER_SEC) as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes into the `tm` we
    // own and reads the `time_t` we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if ok { tm.tm_gmtoff } else { 0 }
}

#[cfg(not(unix))]
fn local_offset_secs(_t: Nanos) -> i64 {
    0
}

/// Round steps for time marks, in nanoseconds: 1-2-5 below a second, then the units of
/// a clock.
const TIME_STEPS: [Nanos; 27] = {
    const MS: Nanos = 1_000_000;
    const S: Nanos = NANOS_PER_SEC;
    [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
        1800 * S,
        3600 * S,
        7200 * S,
        3 * 3600 * S,
        6 * 3600 * S,
        12 * 3600 * S,
        24 * 3600 * S,
    ]
};

/// Grid marks for an axis in seconds since `origin`, placed on round times of `clock`
/// (a mark at 09:00:10, not at 09:00:13.4 because the capture began at 09:00:03.4).
pub fn time_marks(input: &GridInput, origin: Nanos, clock: Clock) -> Vec<GridMark> {
    let (x0, x1) = input.bounds;
    if !(x0.is_finite() && x1.is_finite()) || x1 <= x0 {
        return Vec::new();
    }
    let min_step = (input.base_step_size * 1e9).max(1.0);
    // Three weights, as egui's own spacers: the finest near the minimum, then about 8x and
    // 40x it, each a multiple of the one before.
    let pick = |at_least: f64, multiple_of: Nanos| {
        TIME_STEPS
            .iter()
            .copied()
            .find(|&s| s as f64 >= at_least && s % multiple_of == 0)
    };
    let day = 86_400 * NANOS_PER_SEC;
    let Some(s0) = pick(min_step, 1) else {
        // Longer than days per mark: whole days, every so many.
        let every = (min_step / day as f64).ceil().max(1.0) as Nanos;
        return marks_every(x0, x1, origin, clock, every * day, &[every * day]);
    };
    let s1 = pick(min_step * 8.0, s0).unwrap_or(day.max(s0));
    let s2 = pick(min_step * 40.0, s1).unwrap_or(day.max(s1));
    marks_every(x0, x1, origin, clock, s0, &[s0, s1, s2])
}

fn marks_every(
    x0: f64,
    x1: f64,
    origin: Nanos,
    clock: Clock,
    step: Nanos,
    sizes: &[Nanos],
) -> Vec<GridMark> {
    let offset = clock.offset_secs(origin) as i128 * NANOS_PER_SEC as i128;
    let abs = |x: f64| origin as i128 + offset + (x * 1e9) as i128;
    let step_i = step as i128;
    let (k0, k1) = (
        (abs(x0) + step_i - 1).div_euclid(step_i),
        abs(x1).div_euclid(step_i),
    );
    if k1 - k0 > 4000 {
        return Vec::new();
    }
    (k0..=k1)
        .map(|k| {
            let t = k * step_i;
            // The largest step this mark is a multiple of decides its weight.
            let size = sizes
                .iter()
                .rev()
                .find(|&&s| t.rem_euclid(s as i128) == 0)
                .copied()
                .unwrap_or(step);
            GridMark {
                value: (t - origin as i128 - offset) as f64 / 1e9,
                step_size: size as f64 / 1e9,
            }
        })
        .collect()
}

/// Label of a mark on the relative axis, whose marks reach `range`: `12 s`, `12.25 s` when
/// the step needs the digits, `5:00` for minute steps, `1:02:00` on an axis past an hour.
pub fn relative_label(mark: GridMark, range: &std::ops::RangeInclusive<f64>) -> String {
    let x = mark.value;
    let reach = range.start().abs().max(range.end().abs());
    let decimals = if mark.step_size >= 1.0 {
        0
    } else {
        (-mark.step_size.log10().floor()).clamp(0.0, 4.0) as usize
    };
    if reach < 3600.0 && mark.step_size < 60.0 {
        return format!("{x:.decimals$} s");
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let whole = x.abs().floor() as i64;
    let frac = x.abs() - whole as f64;
    let secs = if decimals > 0 {
        let f = format!("{frac:.decimals$}");
        format!("{:02}{}", whole % 60, f.trim_start_matches('0'))
    } else {
        format!("{:02}", (x.abs().round() as i64) % 60)
    };
    let whole = if decimals > 0 {
        whole
    } else {
        x.abs().round() as i64
    };
    if reach >= 3600.0 {
        format!("{sign}{}:{:02}:{secs}", whole / 3600, whole / 60 % 60)
    } else {
        format!("{sign}{}:{secs}", whole / 60)
    }
}

/// Label of a mark on the wall-clock axis: `09:00:10`, `09:00:10.250` below a second,
/// the date on day marks.
pub fn clock_label(mark: GridMark, origin: Nanos, clock: Clock) -> String {
    let t = origin + (mark.value * 1e9).round() as Nanos;
    let s = format_rfc3339(t + clock.offset_secs(t) * NANOS_PER_SEC);
    // YYYY-MM-DDTHH:MM:SS.mmm...
    let (date, time) = (s.get(..10).unwrap_or(""), s.get(11..19).unwrap_or(""));
    if mark.step_size >= 86_400.0 || (time == "00:00:00" && mark.step_size >= 3600.0) {
        date.to_string()
    } else if mark.step_size >= 1.0 {
        time.to_string()
    } else {
        s.get(11..23).unwrap_or("").to_string()
    }
}

/// A time in full for hover text: `2026-03-02 09:00:09.250 UTC`.
pub fn clock_full(t: Nanos, clock: Clock) -> String {
    let s = format_rfc3339(t + clock.offset_secs(t) * NANOS_PER_SEC);
    let date = s.get(..10).unwrap_or("");
    let time = s.get(11..23).unwrap_or("");
    let zone = match clock {
        Clock::Utc => "UTC".to_string(),
        Clock::Local => {
            let o = clock.offset_secs(t);
            let sign = if o < 0 { '-' } else { '+' };
            format!("UTC{sign}{:02}:{:02}", o.abs() / 3600, o.abs() / 60 % 60)
        }
    };
    format!("{date} {time} {zone}")
}

/// Marks at 1, 2 and 5 times powers of ten for a linear axis (rates, counts), weighted so
/// that labels keep about four marks of room between them.
pub fn linear_marks(input: &GridInput) -> Vec<GridMark> {
    let (y0, y1) = input.bounds;
    let base = input.base_step_size;
    if !(y0.is_finite() && y1.is_finite() && base > 0.0) || y1 <= y0 {
        return Vec::new();
    }
    // The 1-2-5 value at or above `at_least` that is a whole multiple of `of`.
    let nice = |at_least: f64, of: Option<f64>| {
        let mut p = 10f64.powf(at_least.log10().floor() - 1.0);
        for _ in 0..40 {
            for m in [1.0, 2.0, 5.0] {
                let s = m * p;
                let whole = of.is_none_or(|o| {
                    let k = s / o;
                    (k - k.round()).abs() < 1e-6
                });
                if s >= at_least * (1.0 - 1e-9) && whole {
                    return s;
                }
            }
            p *= 10.0;
        }
        at_least
    };
    let s0 = nice(base, None);
    let s1 = nice(s0 * 4.0, Some(s0));
    let s2 = nice(s1 * 4.0, Some(s1));
    let first = (y0 / s0).ceil() as i64;
    let last = (y1 / s0).floor() as i64;
    if last - first > 2000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| {
            let v = k as f64 * s0;
            let size = [s2, s1]
                .into_iter()
                .find(|s| ((v / s) - (v / s).round()).abs() < 1e-6)
                .unwrap_or(s0);
            GridMark {
                value: v,
                step_size: size,
            }
        })
        .collect()
}

/// Marks for an axis of log10(milliseconds): 1, 2 and 5 of every decade; decades weigh
/// more, so their labels stay when space runs out.
pub fn log_ms_marks(input: &GridInput) -> Vec<GridMark> {
    let (y0, y1) = input.bounds;
    if !(y0.is_finite() && y1.is_finite()) || y1 <= y0 || y1 - y0 > 40.0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for decade in y0.floor() as i64..=y1.ceil() as i64 {
        for (m, size) in [(1.0f64, 1.0), (2.0, 0.3), (5.0, 0.4)] {
            let v = decade as f64 + m.log10();
            if v >= y0 && v <= y1 {
                out.push(GridMark {
                    value: v,
                    step_size: size,
                });
            }
        }
    }
    out
}

/// A log10(ms) value as a duration: `0.5 ms`, `20 ms`, `1.5 s`.
pub fn log_ms_label(v: f64) -> String {
    fmt_ms(10f64.powf(v))
}

/// Milliseconds as people write them.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        let s = ms / 1000.0;
        if s >= 10.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s").replace(".0 s", " s")
        }
    } else if ms >= 1.0 {
        format!("{ms:.0} ms")
    } else if ms >= 0.001 {
        let v = format!("{ms:.3}");
        let v = v.trim_end_matches('0').trim_end_matches('.');
        format!("{v} ms")
    } else {
        format!("{:.0} µs", ms * 1000.0)
    }
}

/// Marks for a log10(count) axis: 1, 10, 100... (and 2, 5 when there is room).
pub fn log_count_marks(input: &GridInput) -> Vec<GridMark> {
    log_ms_marks(input)
        .into_iter()
        .filter(|m| m.value >= -1e-9)
        .collect()
}

/// A log10(count) value as a count: `1`, `20`, `1,000`.
pub fn log_count_label(v: f64) -> String {
    super::fmt_count(10f64.powf(v).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn input(x0: f64, x1: f64, base: f64) -> GridInput {
        GridInput {
            bounds: (x0, x1),
            base_step_size: base,
        }
    }

    #[test]
    fn wall_clock_marks_land_on_round_times_whatever_the_start() {
        let origin = parse_rfc3339("2026-03-02T09:00:03.400Z").expect("time");
        let marks = time_marks(&input(0.0, 60.0, 3.0), origin, Clock::Utc);
        assert!(!marks.is_empty());
        for m in &marks {
            let label = clock_label(*m, origin, Clock::Utc);
            assert!(label.ends_with('0') || label.ends_with('5'), "{label}");
        }
        let first = marks[0];
        assert_eq!(clock_label(first, origin, Clock::Utc), "09:00:05");
        assert!((first.value - 1.6).abs() < 1e-6);
    }

    #[test]
    fn a_day_long_axis_has_hour_marks_and_dates_at_midnight() {
        let origin = parse_rfc3339("2026-03-02T00:00:00Z").expect("time");
        let marks = time_marks(&input(0.0, 86_400.0, 3000.0), origin, Clock::Utc);
        let labels: Vec<String> = marks
            .iter()
            .map(|m| clock_label(*m, origin, Clock::Utc))
            .collect();
        assert!(labels.contains(&"06:00:00".to_string()), "{labels:?}");
        assert!(labels.contains(&"2026-03-03".to_string()), "{labels:?}");
    }

    #[test]
    fn durations_and_counts_on_log_axes_read_plainly() {
        assert_eq!(log_ms_label(0.0), "1 ms");
        assert_eq!(log_ms_label(2.0), "100 ms");
        assert_eq!(log_ms_label(3.0_f64 + 2f64.log10()), "2 s");
        assert_eq!(fmt_ms(0.25), "0.25 ms");
        assert_eq!(log_count_label(3.0), "1,000");
        let marks = log_ms_marks(&input(-0.5, 2.5, 0.01));
        let values: Vec<String> = marks.iter().map(|m| log_ms_label(m.value)).collect();
        assert_eq!(
            values,
            [
                "0.5 ms", "1 ms", "2 ms", "5 ms", "10 ms", "20 ms", "50 ms", "100 ms", "200 ms"
            ]
        );
    }

    #[test]
    fn linear_marks_are_round_and_weighted_for_labels() {
        let marks = linear_marks(&input(0.0, 58.0, 2.3));
        let values: Vec<f64> = marks.iter().map(|m| m.value).collect();
        assert_eq!(values.first(), Some(&0.0));
        assert!(values.contains(&50.0), "{values:?}");
        // Steps of 5, labelled every 20 (four steps apart).
        let labelled: Vec<f64> = marks
            .iter()
            .filter(|m| m.step_size >= 20.0)
            .map(|m| m.value)
            .collect();
        assert_eq!(labelled, [0.0, 20.0, 40.0]);
    }

    #[test]
    fn relative_marks_show_the_digits_their_step_needs() {
        let m = |value, step_size| GridMark { value, step_size };
        let short = 0.0..=36.0;
        assert_eq!(relative_label(m(12.0, 5.0), &short), "12 s");
        assert_eq!(relative_label(m(12.25, 0.05), &short), "12.25 s");
        let long = 0.0..=6600.0;
        assert_eq!(relative_label(m(300.0, 300.0), &long), "0:05:00");
        assert_eq!(relative_label(m(3720.0, 600.0), &long), "1:02:00");
        assert_eq!(relative_label(m(3725.5, 0.5), &long), "1:02:05.5");
        assert_eq!(relative_label(m(600.0, 60.0), &(0.0..=1800.0)), "10:00");
    }
}
