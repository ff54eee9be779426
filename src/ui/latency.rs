//! The latency view: the selected edge's latency (delivery, write, time to dead-letter) or
//! the selected handler's processing time. Every figure comes from the engine, the same as
//! `analyze --json` prints: the summary from the topology's HDR histograms, the p50/p95/p99
//! over time from `analysis::latency`'s windowed series, the cold/warm split from
//! `analysis::cold_warm` (as the `cold-start` finding splits). The view only bins the
//! samples into a histogram to draw their distribution. Built once per selection and data
//! change, not per frame.

use super::{Command, Selection, ViewCtx};
use crate::model::{LatencySummary, NodeId, NodeKind, Stage};
use egui::RichText;
use egui_plot::{Bar, BarChart, Corner, Legend, Line, Plot, PlotPoints, VLine};

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
}

impl LatencyView {
    /// What the tab shows now (None: no edge or handler selected, or not drawn yet).
    pub fn figures(&self) -> Option<&LatencyFigures> {
        self.data.as_ref().map(|d| &d.figures)
    }
}

struct LatencyData {
    figures: LatencyFigures,
    /// Samples in ms, cold or not.
    samples: Vec<(f64, bool)>,
    warm_bars: Vec<[f64; 2]>,
    cold_bars: Vec<[f64; 2]>,
    bin_width: f64,
    /// Samples beyond the histogram's axis, counted in its last bar.
    beyond: usize,
    /// The engine's windowed percentiles: (seconds since origin, ms).
    p50: Vec<[f64; 2]>,
    p95: Vec<[f64; 2]>,
    p99: Vec<[f64; 2]>,
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
    // (ms, cold) per sample, and the (from, to) of the engine series to plot over time.
    let samples: Vec<(f64, bool)>;
    let series: Option<(NodeId, NodeId)>;
    (samples, series) = match cx.selection {
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
            let s = e
                .observations
                .iter()
                .filter_map(|&i| store.observations.get(i as usize))
                .filter(|o| o.latency >= 0)
                .map(|o| (o.latency as f64 / 1e6, false))
                .collect();
            (s, Some((a, b)))
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
                let s = store
                    .observations
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.stage == Stage::Handle && o.to == n && o.duration >= 0)
                    .map(|(i, o)| {
                        let cold = cold_obs.binary_search(&(i as u32)).is_ok();
                        (o.duration as f64 / 1e6, cold)
                    })
                    .collect();
                (s, Some((NodeId::NONE, n)))
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
                            .map(|o| (o.latency as f64 / 1e6, false)),
                    );
                }
                (s, None)
            }
        }
        _ => return None,
    };
    figures.samples = samples.len();
    // The histogram's axis ends at the max, unless a few outliers would squash the rest:
    // then at 1.5 x p99, the outliers counted in the last bar (and said so).
    let hi = match figures.overall {
        Some(s) if s.max > s.p99 * 3.0 && s.p99 > 0.0 => s.p99 * 1.5,
        Some(s) => s.max.max(0.001) * 1.02,
        None => samples.iter().map(|s| s.0).fold(0.001, f64::max) * 1.02,
    };
    let bin_width = hi / HIST_BINS as f64;
    let mut warm = vec![0f64; HIST_BINS];
    let mut cold = vec![0f64; HIST_BINS];
    let mut beyond = 0;
    for &(ms, c) in &samples {
        if ms > hi {
            beyond += 1;
        }
        let b = ((ms / bin_width) as usize).min(HIST_BINS - 1);
        if c { cold[b] += 1.0 } else { warm[b] += 1.0 }
    }
    let centre = |i: usize| (i as f64 + 0.5) * bin_width;
    let bars = |v: &[f64]| -> Vec<[f64; 2]> {
        v.iter().enumerate().map(|(i, &c)| [centre(i), c]).collect()
    };
    let (mut p50, mut p95, mut p99) = (Vec::new(), Vec::new(), Vec::new());
    if let Some((from, to)) = series {
        let report = cx.derived.latency_report(store, cx.analysis_config);
        let half = report.window_ms as f64 / 2e3;
        if let Some(s) = report
            .series
            .iter()
            .find(|s| s.from_id == from && s.to_id == to)
        {
            for p in &s.points {
                let x = cx.secs(p.start) + half;
                p50.push([x, p.p50]);
                p95.push([x, p.p95]);
                p99.push([x, p.p99]);
            }
        }
    }
    Some(LatencyData {
        figures,
        warm_bars: bars(&warm),
        cold_bars: bars(&cold),
        samples,
        bin_width,
        beyond,
        p50,
        p95,
        p99,
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
        ui.label(RichText::new(summary_line(&d.figures)).color(cx.theme.text_weak));
    });
    if !d.incoming.is_empty() {
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
    }
    if d.samples.is_empty() {
        ui.label("No latency samples.");
        return;
    }
    let h = ui.available_height().max(80.0);
    let w = ui.available_width();
    let with_series = !d.p50.is_empty();
    ui.allocate_ui_with_layout(
        egui::vec2(w, h),
        egui::Layout::left_to_right(egui::Align::Min),
        |ui| {
            ui.vertical(|ui| {
                ui.set_width(if with_series { w * 0.45 } else { w });
                let beyond = d.beyond;
                Plot::new("latency-hist")
                    .height(h - 6.0)
                    .legend(Legend::default().position(Corner::RightTop))
                    .x_axis_formatter(|m, _| format!("{:.0} ms", m.value))
                    .allow_drag(false)
                    .allow_zoom(false)
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        let bars = |v: &[[f64; 2]]| {
                            v.iter()
                                .map(|p| Bar::new(p[0], p[1]).width(d.bin_width * 0.9))
                                .collect::<Vec<_>>()
                        };
                        let warm_name = if beyond > 0 {
                            format!("warm (last bar: {beyond} beyond the axis)")
                        } else {
                            "warm".to_string()
                        };
                        let warm =
                            BarChart::new(warm_name, bars(&d.warm_bars)).color(cx.theme.accent);
                        if d.cold_bars.iter().any(|b| b[1] > 0.0) {
                            let cold = BarChart::new("cold start", bars(&d.cold_bars))
                                .color(cx.theme.warn)
                                .stack_on(&[&warm]);
                            plot.bar_chart(warm);
                            plot.bar_chart(cold);
                        } else {
                            plot.bar_chart(warm);
                        }
                    });
            });
            if with_series {
                ui.vertical(|ui| {
                    Plot::new("latency-time")
                        .height(h - 6.0)
                        .legend(Legend::default().position(Corner::LeftTop))
                        .x_axis_formatter(|m, _| format!("{:.0} s", m.value))
                        .y_axis_formatter(|m, _| format!("{:.0} ms", m.value))
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .include_y(0.0)
                        .show(ui, |plot| {
                            plot.line(
                                Line::new("p50", PlotPoints::from(d.p50.clone()))
                                    .color(cx.theme.ok),
                            );
                            plot.line(
                                Line::new("p95", PlotPoints::from(d.p95.clone()))
                                    .color(cx.theme.warn),
                            );
                            plot.line(
                                Line::new("p99", PlotPoints::from(d.p99.clone()))
                                    .color(cx.theme.error),
                            );
                            plot.vline(VLine::new("", cx.secs(cx.time)).color(cx.theme.cursor));
                        });
                });
            }
        },
    );
}
