//! The latency view: the histogram of the selected edge's latency (delivery, write, time to
//! dead-letter) or the selected handler's processing time, cold vs warm, and p50/p95/p99
//! over time. Computed once per selection and data change, not per frame.

use super::{Selection, ViewCtx};
use crate::model::{NodeKind, Stage};
use egui::RichText;
use egui_plot::{Bar, BarChart, Corner, Legend, Line, Plot, PlotPoints, VLine};

const HIST_BINS: usize = 40;
const TIME_BINS: usize = 60;

#[derive(Default)]
pub struct LatencyView {
    key: Option<(Selection, u64)>,
    data: Option<LatencyData>,
}

struct LatencyData {
    title: String,
    what: &'static str,
    /// (time in s since origin, ms, cold)
    samples: Vec<(f64, f64, bool)>,
    warm_bars: Vec<[f64; 2]>,
    cold_bars: Vec<[f64; 2]>,
    bin_width: f64,
    p50: Vec<[f64; 2]>,
    p95: Vec<[f64; 2]>,
    p99: Vec<[f64; 2]>,
    summary: String,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn compute(cx: &ViewCtx<'_>) -> Option<LatencyData> {
    let store = cx.store;
    let (title, what, samples): (String, &'static str, Vec<(f64, f64, bool)>) = match cx.selection {
        Selection::Edge(a, b) => {
            let e = store.topology.edge_between(a, b)?;
            let what = match e.stage {
                Stage::Deliver => "delivery latency",
                Stage::Store => "write time",
                Stage::DeadLetter => "time to dead-letter",
                _ => "latency",
            };
            let s = e
                .observations
                .iter()
                .filter_map(|&i| store.observations.get(i as usize))
                .filter(|o| o.latency >= 0)
                .map(|o| (cx.secs(o.time), o.latency as f64 / 1e6, false))
                .collect();
            (
                format!("{} → {}", store.node_name(a), store.node_name(b)),
                what,
                s,
            )
        }
        Selection::Node(n) => {
            let node = store.topology.node(n)?;
            if node.kind == NodeKind::Handler {
                let s = store
                    .observations
                    .iter()
                    .filter(|o| o.stage == Stage::Handle && o.to == n && o.duration >= 0)
                    .map(|o| (cx.secs(o.time), o.duration as f64 / 1e6, o.cold_start))
                    .collect();
                (store.node_name(n).to_string(), "processing time", s)
            } else {
                let s = store
                    .topology
                    .graph
                    .edge_weights()
                    .filter(|e| e.to == n)
                    .flat_map(|e| e.observations.iter())
                    .filter_map(|&i| store.observations.get(i as usize))
                    .filter(|o| o.latency >= 0)
                    .map(|o| (cx.secs(o.time), o.latency as f64 / 1e6, false))
                    .collect();
                (
                    store.node_name(n).to_string(),
                    "latency of incoming edges",
                    s,
                )
            }
        }
        _ => return None,
    };
    let mut all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    all.sort_by(f64::total_cmp);
    let hi = quantile(&all, 0.995).max(0.001) * 1.05;
    let bin_width = hi / HIST_BINS as f64;
    let mut warm = vec![0f64; HIST_BINS];
    let mut cold = vec![0f64; HIST_BINS];
    for &(_, ms, c) in &samples {
        let b = ((ms / bin_width) as usize).min(HIST_BINS - 1);
        if c { cold[b] += 1.0 } else { warm[b] += 1.0 }
    }
    let centre = |i: usize| (i as f64 + 0.5) * bin_width;
    let warm_bars = warm
        .iter()
        .enumerate()
        .map(|(i, &c)| [centre(i), c])
        .collect();
    let cold_bars = cold
        .iter()
        .enumerate()
        .map(|(i, &c)| [centre(i), c])
        .collect();
    let (mut p50, mut p95, mut p99) = (Vec::new(), Vec::new(), Vec::new());
    if let (Some(t0), Some(t1)) = (
        samples.iter().map(|s| s.0).reduce(f64::min),
        samples.iter().map(|s| s.0).reduce(f64::max),
    ) {
        let w = ((t1 - t0) / TIME_BINS as f64).max(1e-6);
        let mut bins: Vec<Vec<f64>> = vec![Vec::new(); TIME_BINS];
        for &(t, ms, _) in &samples {
            bins[(((t - t0) / w) as usize).min(TIME_BINS - 1)].push(ms);
        }
        for (i, mut b) in bins.into_iter().enumerate() {
            if b.is_empty() {
                continue;
            }
            b.sort_by(f64::total_cmp);
            let x = t0 + (i as f64 + 0.5) * w;
            p50.push([x, quantile(&b, 0.5)]);
            p95.push([x, quantile(&b, 0.95)]);
            p99.push([x, quantile(&b, 0.99)]);
        }
    }
    let n_cold = samples.iter().filter(|s| s.2).count();
    let mut cold_sorted: Vec<f64> = samples.iter().filter(|s| s.2).map(|s| s.1).collect();
    cold_sorted.sort_by(f64::total_cmp);
    let mut warm_sorted: Vec<f64> = samples.iter().filter(|s| !s.2).map(|s| s.1).collect();
    warm_sorted.sort_by(f64::total_cmp);
    let mut summary = format!(
        "{} samples · p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
        all.len(),
        quantile(&all, 0.5),
        quantile(&all, 0.95),
        quantile(&all, 0.99),
        all.last().copied().unwrap_or(0.0)
    );
    if n_cold > 0 {
        summary.push_str(&format!(
            "   |   warm p50 {:.1} ms · cold ({n_cold}) p50 {:.1} ms",
            quantile(&warm_sorted, 0.5),
            quantile(&cold_sorted, 0.5)
        ));
    }
    Some(LatencyData {
        title,
        what,
        samples,
        warm_bars,
        cold_bars,
        bin_width,
        p50,
        p95,
        p99,
        summary,
    })
}

pub fn show(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut LatencyView) {
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
    ui.horizontal(|ui| {
        ui.strong(format!("{} — {}", d.title, d.what));
        ui.label(RichText::new(&d.summary).color(cx.theme.text_weak));
    });
    if d.samples.is_empty() {
        ui.label("No latency samples.");
        return;
    }
    let h = ui.available_height().max(80.0);
    let w = ui.available_width();
    ui.allocate_ui_with_layout(
        egui::vec2(w, h),
        egui::Layout::left_to_right(egui::Align::Min),
        |ui| {
            ui.vertical(|ui| {
                ui.set_width(w * 0.45);
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
                        plot.bar_chart(
                            BarChart::new("warm", bars(&d.warm_bars)).color(cx.theme.accent),
                        );
                        if d.cold_bars.iter().any(|b| b[1] > 0.0) {
                            plot.bar_chart(
                                BarChart::new("cold start", bars(&d.cold_bars))
                                    .color(cx.theme.warn)
                                    .stack_on(&[&BarChart::new("warm", bars(&d.warm_bars))]),
                            );
                        }
                    });
            });
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
                            Line::new("p50", PlotPoints::from(d.p50.clone())).color(cx.theme.ok),
                        );
                        plot.line(
                            Line::new("p95", PlotPoints::from(d.p95.clone())).color(cx.theme.warn),
                        );
                        plot.line(
                            Line::new("p99", PlotPoints::from(d.p99.clone())).color(cx.theme.error),
                        );
                        plot.vline(VLine::new("", cx.secs(cx.time)).color(cx.theme.cursor));
                    });
            });
        },
    );
}
