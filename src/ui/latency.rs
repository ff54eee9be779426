//! The latency view: the histogram of the selected edge's latency (delivery, write, time to
//! dead-letter) or the selected handler's processing time, cold vs warm, and p50/p95/p99
//! over time. Every figure comes from the engine, the same as `analyze --json` prints: the
//! summary from the topology's HDR histograms, the percentiles over time from
//! `analysis::latency`'s windows, the cold/warm split from `analysis::cold_warm` (as the
//! `cold-start` finding splits). Computed once per selection and data change, not per frame.
//!
//! Honest plots: latency axes are logarithmic, so warm invocations and cold starts both
//! show at their real values; cold and warm are separate bars; outliers past the last bin
//! are one labelled overflow bar; counts have a scale (linear or log). Percentiles over
//! time are steps, one per window with samples, and break where a window has none: no line
//! is drawn across an idle gap.

use super::plot_axes::{self, Clock};
use super::{Command, Selection, ViewCtx};
use crate::analysis::distribution::{LatencyBins, log_bins};
use crate::analysis::latency::{LatencyPoint, window_ns, windows};
use crate::analysis::series::contiguous_runs;
use crate::model::{LatencySummary, NodeId, NodeKind, Stage};
use crate::time::Nanos;
use egui::{Align2, RichText};
use egui_plot::{
    AxisHints, Bar, BarChart, Corner, Legend, Line, MarkerShape, Plot, PlotPoint, PlotPoints,
    Points, Text, VLine,
};
use std::ops::Range;

const HIST_BINS: usize = 40;

/// The figures the Latency tab shows for the selection (all from the engine).
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyFigures {
    /// `orders → handler-b`, or the handler's name.
    pub title: String,
    /// What is measured: `delivery latency`, `write time`, `processing time`...
    pub what: &'static str,
    /// Samples (observations with a measurement).
    pub samples: usize,
    /// p50/p95/p99/max of all samples: `latency_ms` of the edge, `processing_ms` of the
    /// handler in `analyze --json`.
    pub overall: Option<LatencySummary>,
    /// Handlers: cold and warm invocations, as the `cold-start` finding counts them.
    pub cold: Option<LatencySummary>,
    pub warm: Option<LatencySummary>,
    pub cold_count: u64,
    /// True when the cold starts were inferred (not marked in the input).
    pub cold_inferred: bool,
}

#[derive(Default)]
pub struct LatencyView {
    key: Option<(Selection, u64)>,
    data: Option<LatencyData>,
    /// Histogram counts on a log scale; `None`: chosen from the data (log when a cold-start
    /// or overflow bar would be too small to see).
    log_counts: Option<bool>,
}

impl LatencyView {
    /// What the tab shows now (None: no edge or handler selected, or not drawn yet).
    pub fn figures(&self) -> Option<&LatencyFigures> {
        self.data.as_ref().map(|d| &d.figures)
    }
}

struct LatencyData {
    figures: LatencyFigures,
    /// (time in s since origin, ms, cold)
    samples: Vec<(f64, f64, bool)>,
    /// Log-spaced bins of the whole run, cold and warm apart.
    bins: Option<LatencyBins>,
    /// Percentiles per window with samples, the window, and the runs of adjacent windows.
    windows: Vec<LatencyPoint>,
    window: Nanos,
    runs: Vec<Range<usize>>,
    /// Cold starts as points: (s since origin, log10 ms).
    cold_points: Vec<[f64; 2]>,
    summary: String,
    /// For a node that is not a handler: its incoming edges with their figures.
    incoming: Vec<(NodeId, NodeId, String, Option<LatencySummary>)>,
}

fn compute(cx: &ViewCtx<'_>) -> Option<LatencyData> {
    let store = cx.store;
    let mut figures = LatencyFigures {
        title: String::new(),
        what: "latency",
        samples: 0,
        overall: None,
        cold: None,
        warm: None,
        cold_count: 0,
        cold_inferred: false,
    };
    let mut incoming = Vec::new();
    // (s since origin, ms, cold) per sample.
    let samples: Vec<(f64, f64, bool)> = match cx.selection {
        Selection::Edge(a, b) => {
            let e = store.topology.edge_between(a, b)?;
            figures.what = match e.stage {
                Stage::Deliver => "delivery latency",
                Stage::Store => "write time",
                Stage::DeadLetter => "time to dead-letter",
                Stage::Call => "call duration",
                _ => "latency",
            };
            figures.title = format!("{} → {}", store.node_name(a), store.node_name(b));
            figures.overall = e.latency.as_ref().and_then(LatencySummary::of);
            e.observations
                .iter()
                .filter_map(|&i| store.observations.get(i as usize))
                .filter(|o| o.latency >= 0)
                .map(|o| (cx.secs(o.time), o.latency as f64 / 1e6, false))
                .collect()
        }
        Selection::Node(n) => {
            let node = store.topology.node(n)?;
            figures.title = store.node_name(n).to_string();
            if node.kind == NodeKind::Handler {
                figures.what = "processing time";
                figures.overall = LatencySummary::of(&node.processing);
                let split = cx
                    .derived
                    .cold_warm(store, cx.analysis_config)
                    .iter()
                    .find(|c| c.handler == n);
                let cold_obs: &[u32] = split.map_or(&[], |c| c.cold_observations.as_slice());
                if let Some(c) = split {
                    figures.cold = c.cold;
                    figures.warm = c.warm;
                    figures.cold_count = c.cold_count;
                    figures.cold_inferred = c.inferred;
                }
                store
                    .observations
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.stage == Stage::Handle && o.to == n && o.duration >= 0)
                    .map(|(i, o)| {
                        let cold = cold_obs.binary_search(&(i as u32)).is_ok();
                        (cx.secs(o.time), o.duration as f64 / 1e6, cold)
                    })
                    .collect()
            } else {
                figures.what = "latency of incoming edges";
                let mut s = Vec::new();
                for e in store.topology.edges_sorted() {
                    if e.to != n || e.latency.is_none() {
                        continue;
                    }
                    incoming.push((
                        e.from,
                        e.to,
                        format!("{} → {}", store.node_name(e.from), store.node_name(e.to)),
                        e.latency.as_ref().and_then(LatencySummary::of),
                    ));
                    s.extend(
                        e.observations
                            .iter()
                            .filter_map(|&i| store.observations.get(i as usize))
                            .filter(|o| o.latency >= 0)
                            .map(|o| (cx.secs(o.time), o.latency as f64 / 1e6, false)),
                    );
                }
                s
            }
        }
        _ => return None,
    };
    figures.samples = samples.len();
    let mut samples = samples;
    // In time order for the windows (a node's incoming edges come one edge after another).
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pairs: Vec<(f64, bool)> = samples.iter().map(|s| (s.1, s.2)).collect();
    let bins = log_bins(&pairs, HIST_BINS);
    let window = window_ns(store, cx.analysis_config);
    let windows = windows(
        samples.iter().map(|s| {
            (
                cx.origin + (s.0 * 1e9).round() as Nanos,
                (s.1 * 1e6).round() as i64,
            )
        }),
        window,
    );
    let starts: Vec<Nanos> = windows.iter().map(|p| p.start).collect();
    let runs = contiguous_runs(&starts, window);
    let cold_points = samples
        .iter()
        .filter(|s| s.2)
        .map(|s| [s.0, log_ms(s.1)])
        .collect();
    let summary = summary_line(&figures);
    Some(LatencyData {
        figures,
        samples,
        bins,
        windows,
        window,
        runs,
        cold_points,
        summary,
        incoming,
    })
}

fn fmt_summary(s: &LatencySummary) -> String {
    format!(
        "p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
        s.p50, s.p95, s.p99, s.max
    )
}

/// The one-line summary above the plots.
fn summary_line(f: &LatencyFigures) -> String {
    let mut s = format!("{} samples", super::fmt_count(f.samples as u64));
    if let Some(o) = &f.overall {
        s.push_str(" · ");
        s.push_str(&fmt_summary(o));
    }
    if f.cold_count > 0 {
        let how = if f.cold_inferred { ", inferred" } else { "" };
        s.push_str(&format!("   |   {} cold starts{how}", f.cold_count));
        if let Some(c) = &f.cold {
            s.push_str(&format!(": cold p50 {:.1} ms", c.p50));
        }
        if let Some(w) = &f.warm {
            s.push_str(&format!(" · warm p50 {:.1} ms", w.p50));
        }
    }
    s
}

/// Milliseconds on the log axes (a floor of 1 µs keeps zero latencies on the plot).
fn log_ms(ms: f64) -> f64 {
    ms.max(0.001).log10()
}

/// Step lines of one percentile, one per run of adjacent windows: each window is a flat
/// segment over its own time, never joined to a window across a gap.
fn step_runs(
    windows: &[LatencyPoint],
    runs: &[Range<usize>],
    window: Nanos,
    origin: Nanos,
    value: impl Fn(&LatencyPoint) -> f64,
) -> Vec<Vec<[f64; 2]>> {
    let secs = |t: Nanos| (t - origin) as f64 / 1e9;
    runs.iter()
        .map(|r| {
            windows[r.clone()]
                .iter()
                .flat_map(|p| {
                    let y = log_ms(value(p));
                    [[secs(p.start), y], [secs(p.start + window), y]]
                })
                .collect()
        })
        .collect()
}

pub fn show(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut LatencyView, cmds: &mut Vec<Command>) {
    let key = (cx.selection, cx.derived.generation);
    if view.key != Some(key) {
        view.data = compute(cx);
        view.key = Some(key);
    }
    let Some(d) = &view.data else {
        ui.label(
            RichText::new("Select an edge or a handler to see its latency.")
                .color(cx.theme.text_weak),
        );
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong(format!("{} — {}", d.figures.title, d.figures.what));
        ui.label(RichText::new(&d.summary).color(cx.theme.text_weak));
    });
    for (a, b, name, s) in &d.incoming {
        ui.horizontal(|ui| {
            if ui.link(name).clicked() {
                cmds.push(Command::Select(Selection::Edge(*a, *b)));
            }
            if let Some(s) = s {
                ui.label(RichText::new(fmt_summary(s)).color(cx.theme.text_weak));
            }
        });
    }
    let (Some(bins), false) = (&d.bins, d.samples.is_empty()) else {
        ui.label("No latency samples.");
        return;
    };
    let clock: Clock = ui
        .ctx()
        .data(|m| m.get_temp(egui::Id::unique(plot_axes::CLOCK_KEY)))
        .unwrap_or_default();
    let h = ui.available_height().max(80.0);
    let w = ui.available_width();
    ui.allocate_ui_with_layout(
        egui::vec2(w, h),
        egui::Layout::left_to_right(egui::Align::Min),
        |ui| {
            ui.vertical(|ui| {
                ui.set_width(w * 0.45);
                let auto = {
                    let tallest = bins.tallest().max(1);
                    let small = bins
                        .cold
                        .iter()
                        .copied()
                        .chain([bins.overflow()])
                        .filter(|&c| c > 0)
                        .min();
                    small.is_some_and(|c| c * 20 < tallest)
                };
                let mut log = view.log_counts.unwrap_or(auto);
                histogram(ui, cx, bins, &mut log, h);
                if log != view.log_counts.unwrap_or(auto) {
                    view.log_counts = Some(log);
                }
            });
            ui.vertical(|ui| over_time(ui, cx, d, clock, h));
        },
    );
}

/// The histogram of the whole run on a log latency axis: warm and cold side by side, the
/// overflow bar labelled with where it starts.
fn histogram(ui: &mut egui::Ui, cx: &ViewCtx<'_>, b: &LatencyBins, log_counts: &mut bool, h: f32) {
    ui.horizontal(|ui| {
        let n: u64 = b.warm.iter().chain(&b.cold).sum::<u64>() + b.overflow();
        ui.label(
            RichText::new(format!(
                "whole run · {} samples · log latency axis",
                super::fmt_count(n)
            ))
            .small()
            .color(cx.theme.text_weak),
        );
        ui.checkbox(log_counts, RichText::new("log count").small());
    });
    let log = *log_counts;
    // Bars start at 0.5 on a log scale, so a bin of one sample still shows.
    let base = 0.5f64.log10();
    let height = |c: u64| {
        if log {
            (c as f64).log10() - base
        } else {
            c as f64
        }
    };
    let n = b.warm.len();
    let lo = b.edges.first().copied().unwrap_or(1.0).log10();
    let step = if n > 0 {
        (b.overflow_from().log10() - lo) / n as f64
    } else {
        1.0
    };
    let has_cold = b.cold.iter().any(|&c| c > 0) || b.overflow_cold > 0;
    let width = if has_cold { step * 0.45 } else { step * 0.9 };
    let centre = |i: usize| lo + (i as f64 + 0.5) * step;
    let mk = |counts: &[u64], offset: f64| -> Vec<Bar> {
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let bar = Bar::new(centre(i) + offset, height(c)).width(width);
                if log { bar.base_offset(base) } else { bar }
            })
            .collect()
    };
    let (wo, co) = if has_cold {
        (-step * 0.23, step * 0.23)
    } else {
        (0.0, 0.0)
    };
    let overflow_x = centre(n) + step * 0.5;
    let overflow_from = b.overflow_from();
    let tallest = b.tallest().max(1);
    let y_top = if log {
        (tallest as f64).log10() + 0.3
    } else {
        tallest as f64 * 1.2
    };
    let edges = b.edges.clone();
    let label = move |x: f64| {
        let ms = 10f64.powf(x);
        if x > centre_of_overflow_start(&edges) {
            format!("> {}", plot_axes::fmt_ms(overflow_from))
        } else {
            plot_axes::fmt_ms(ms)
        }
    };
    Plot::new("latency-hist")
        .height(h - 30.0)
        .legend(Legend::default().position(Corner::RightTop))
        .x_grid_spacer(|i| plot_axes::log_ms_marks(&i))
        .x_axis_formatter(move |m, _| label(m.value))
        .y_grid_spacer(move |i| {
            if log {
                plot_axes::log_count_marks(&i)
            } else {
                plot_axes::linear_marks(&i)
            }
        })
        .custom_y_axes(vec![
            AxisHints::new_y()
                .label(RichText::new("samples").small())
                .formatter(move |m, _| {
                    if log {
                        plot_axes::log_count_label(m.value)
                    } else if m.value < 0.0 || m.value.fract() != 0.0 {
                        String::new()
                    } else {
                        super::fmt_count(m.value as u64)
                    }
                }),
        ])
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_x(lo)
        .include_x(if b.overflow() > 0 {
            overflow_x + step
        } else {
            lo + step * n as f64
        })
        .include_y(if log { base } else { 0.0 })
        .include_y(y_top)
        .show(ui, |plot| {
            plot.bar_chart(
                BarChart::new("warm", mk(&b.warm, wo))
                    .color(cx.theme.accent)
                    .element_formatter(Box::new(|bar, _| format!("{:.0} samples", bar.value))),
            );
            if has_cold {
                plot.bar_chart(BarChart::new("cold start", mk(&b.cold, co)).color(cx.theme.warn));
            }
            if b.overflow() > 0 {
                let bar = |c: u64, off: f64| {
                    let bar = Bar::new(overflow_x + off, height(c)).width(width);
                    if log { bar.base_offset(base) } else { bar }
                };
                let mut bars = Vec::new();
                if b.overflow_warm > 0 {
                    bars.push(bar(b.overflow_warm, wo));
                }
                if b.overflow_cold > 0 {
                    bars.push(bar(b.overflow_cold, co));
                }
                plot.bar_chart(
                    BarChart::new(format!("over {}", plot_axes::fmt_ms(overflow_from)), bars)
                        .color(cx.theme.text_weak),
                );
                plot.text(
                    Text::new(
                        "",
                        PlotPoint::new(
                            overflow_x,
                            height(b.overflow_warm.max(b.overflow_cold))
                                + if log { base } else { 0.0 },
                        ),
                        RichText::new(format!(
                            "> {}: {} (max {})",
                            plot_axes::fmt_ms(overflow_from),
                            b.overflow(),
                            plot_axes::fmt_ms(b.max)
                        ))
                        .small(),
                    )
                    .anchor(Align2::RIGHT_BOTTOM),
                );
            }
        });
}

/// Where labels switch to "> overflow" on the histogram's x axis: past the last edge.
fn centre_of_overflow_start(edges: &[f64]) -> f64 {
    edges.last().map_or(f64::INFINITY, |e| e.log10() + 1e-9)
}

/// Which percentile of a window a line shows.
type Percentile = fn(&LatencyPoint) -> f64;

/// p50/p95/p99 per window as steps on a log axis, broken where a window has no samples;
/// cold starts as points; the cursor.
fn over_time(ui: &mut egui::Ui, cx: &ViewCtx<'_>, d: &LatencyData, clock: Clock, h: f32) {
    ui.label(
        RichText::new(format!(
            "per {} window · steps break where a window has no samples · log latency axis",
            crate::analysis::series::fmt_window(d.window)
        ))
        .small()
        .color(cx.theme.text_weak),
    );
    let origin = cx.origin;
    let top = d
        .windows
        .iter()
        .map(|p| log_ms(p.p99))
        .chain(d.cold_points.iter().map(|p| p[1]))
        .fold(f64::MIN, f64::max)
        .max(0.0);
    let lines: [(&str, egui::Color32, Percentile); 3] = [
        ("p50", cx.theme.ok, |p| p.p50),
        ("p95", cx.theme.warn, |p| p.p95),
        ("p99", cx.theme.error, |p| p.p99),
    ];
    Plot::new("latency-time")
        .height(h - 30.0)
        .legend(
            Legend::default()
                .position(Corner::LeftTop)
                .background_alpha(0.5),
        )
        // Headroom above the slowest window, so the legend does not cover it.
        .include_y(top + 0.6)
        .x_grid_spacer(move |i| plot_axes::time_marks(&i, origin, clock))
        .custom_x_axes(vec![
            AxisHints::new_x().formatter(plot_axes::relative_label),
            AxisHints::new_x().formatter(move |m, _| plot_axes::clock_label(m, origin, clock)),
        ])
        .y_grid_spacer(|i| plot_axes::log_ms_marks(&i))
        .y_axis_formatter(|m, _| plot_axes::log_ms_label(m.value))
        .label_formatter(move |hover| {
            let (name, p) = match hover {
                egui_plot::HoverPosition::NearDataPoint {
                    plot_name,
                    position,
                    ..
                } => (*plot_name, *position),
                egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
            };
            let t = origin + (p.x * 1e9) as Nanos;
            let head = if name.is_empty() {
                String::new()
            } else {
                format!("{name}\n")
            };
            Some(format!(
                "{head}{}\n+{:.3} s\n{}",
                plot_axes::clock_full(t, clock),
                p.x,
                plot_axes::fmt_ms(10f64.powf(p.y))
            ))
        })
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .show(ui, |plot| {
            for (name, color, value) in lines {
                for pts in step_runs(&d.windows, &d.runs, d.window, origin, value) {
                    plot.line(
                        Line::new(name, PlotPoints::from(pts))
                            .color(color)
                            .width(1.5)
                            // egui_plot would merge the vertical steps into a filled band.
                            .allow_band(false),
                    );
                }
            }
            if !d.cold_points.is_empty() {
                plot.points(
                    Points::new("cold start", d.cold_points.clone())
                        .shape(MarkerShape::Diamond)
                        .filled(true)
                        .radius(3.5)
                        .color(cx.theme.warn),
                );
            }
            plot.vline(VLine::new("", cx.secs(cx.time)).color(cx.theme.cursor));
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(start: Nanos, p: f64) -> LatencyPoint {
        LatencyPoint {
            start,
            count: 1,
            p50: p,
            p95: p,
            p99: p,
            max: p,
        }
    }

    #[test]
    fn percentile_steps_never_span_an_idle_window() {
        // Samples in windows 0-2 and 10-11 of 1 s; windows 3-9 are idle.
        let s = 1_000_000_000;
        let windows: Vec<LatencyPoint> = [0, 1, 2, 10, 11]
            .iter()
            .map(|&i| point(i * s, 10.0 + i as f64))
            .collect();
        let starts: Vec<Nanos> = windows.iter().map(|p| p.start).collect();
        let runs = contiguous_runs(&starts, s);
        let lines = step_runs(&windows, &runs, s, 0, |p| p.p95);
        assert_eq!(lines.len(), 2);
        for line in &lines {
            for seg in line.windows(2) {
                let (a, b) = (seg[0][0], seg[1][0]);
                // No segment covers any part of an idle window (3 s .. 10 s).
                assert!(b <= 3.0 || a >= 10.0, "segment {a}..{b} crosses the gap");
            }
        }
        // Each window is one flat step over its own time, at its real value.
        assert_eq!(lines[0][0], [0.0, 10f64.log10()]);
        assert_eq!(lines[0][1], [1.0, 10f64.log10()]);
        assert_eq!(lines[1].last().copied(), Some([12.0, 21f64.log10()]));
    }
}
