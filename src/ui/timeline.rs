//! The timeline (bottom): replay controls, and the flow over time per channel or per
//! handler: published, delivered, failed, retried and dead-lettered, as rates over a named
//! window. Each pixel-wide bin shows the highest and lowest window of the steps it holds
//! (the engine's decimation), so a one-second storm stays visible on a one-day capture at
//! any zoom. Findings are markers, merged with a count where they crowd; hovering reads
//! the data of the nearest series at that time. Click or drag to move the cursor,
//! shift-drag to loop a range, scroll to zoom, double-click for the whole run. Keys: Space
//! play/pause, Left/Right step, Home/End.

mod controls;
mod envelope;
mod hover;
mod markers;

pub use controls::controls;

use super::findings::Severity;
use super::plot_axes::{self, Clock};
use super::{Command, ViewCtx};
use crate::analysis::series::{Bin, FlowKind, FlowTimeline, Grouping, fmt_rate, fmt_window};
use crate::replay::TimeCommand;
use crate::time::Nanos;
use egui::{Align2, Color32};
use egui_plot::{AxisHints, Plot, Span, VLine};
use envelope::{Envelope, MeshCache};
use hover::{Hover, hover_ui};
use markers::cluster_markers;

/// Series drawn at most; the rest are named in the header (a filter shows them).
const MAX_SERIES: usize = 16;
/// Markers closer than this (in points) merge into one with a count; on a wide plot the
/// gap grows so that there are never more than [`MAX_MARKERS`].
const MARKER_GAP_PX: f64 = 24.0;
const MAX_MARKERS: f64 = 40.0;

/// The timeline's own state: what it shows and its zoom.
pub struct TimelineView {
    pub grouping: Grouping,
    /// Kinds shown, indexed like [`FlowKind::ALL`].
    pub kinds: [bool; 5],
    pub clock: Clock,
    /// The visible range in seconds since the origin; `None`: the whole run.
    pub zoom: Option<(f64, f64)>,
    /// The origin the zoom was made on: another capture shows its whole run.
    zoom_origin: Nanos,
    cache: Option<Decimated>,
    /// The series' meshes as last drawn, reused while neither data nor view change (as
    /// while playing).
    meshes: MeshCache,
}

impl Default for TimelineView {
    fn default() -> Self {
        TimelineView {
            grouping: Grouping::Channel,
            kinds: [true; 5],
            clock: Clock::Utc,
            zoom: None,
            zoom_origin: 0,
            cache: None,
            meshes: MeshCache::default(),
        }
    }
}

/// What the decimation was computed for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct DecimationKey {
    version: u64,
    grouping: Grouping,
    from: Nanos,
    to: Nanos,
    bins: usize,
}

/// The bins of every series of one grouping for one view.
struct Decimated {
    key: DecimationKey,
    /// Index into the grouping's series, and that series' bins.
    series: Vec<(usize, Vec<Option<Bin>>)>,
}

/// One series as drawn: its legend name, colour and rates per bin (`None`: no data).
struct Drawn<'a> {
    /// Index of the series in its grouping.
    index: usize,
    name: String,
    kind: FlowKind,
    color: Color32,
    bins: &'a [Option<Bin>],
}

fn kind_color(cx: &ViewCtx<'_>, kind: FlowKind, node_index: usize) -> Color32 {
    match kind {
        FlowKind::Failed | FlowKind::DeadLettered => cx.theme.error,
        FlowKind::Retried => cx.theme.warn,
        FlowKind::Published | FlowKind::Delivered => cx.theme.series(node_index),
    }
}

fn severity_color(cx: &ViewCtx<'_>, s: Severity) -> Color32 {
    match s {
        Severity::Error => cx.theme.error,
        Severity::Warning => cx.theme.warn,
        Severity::Info => cx.theme.accent,
    }
}

fn kind_glyph(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Published | FlowKind::DeadLettered => "┄",
        _ => "—",
    }
}

/// What the plot shows and over which scope, written on the plot itself.
fn scope_text(cx: &ViewCtx<'_>, view: &TimelineView, bin_secs: f64, hidden: usize) -> String {
    let scope = if view.zoom.is_some() {
        "zoomed (double-click: whole run)"
    } else {
        "whole run"
    };
    let window = cx.derived.views.flow.window as f64 / 1e9;
    let window_text = fmt_window(cx.derived.views.flow.window);
    // Zoomed in past one window, a pixel shows the window it lies in.
    let mut text = if bin_secs <= window {
        format!(
            "events/s per {window_text} window: line the highest sliding, band down to the aligned one · {scope}"
        )
    } else {
        format!(
            "events/s over {window_text} windows · each {}: line the highest, band the lowest–highest · {scope}",
            fmt_secs(bin_secs)
        )
    };
    if cx.derived.filter.is_some() {
        text.push_str(" · filtered");
    }
    if hidden > 0 {
        text.push_str(&format!(" · {hidden} smaller series not drawn"));
    }
    text
}

/// A bin width for people: `54 s`, `250 ms`, `1.5 h`.
fn fmt_secs(s: f64) -> String {
    if s >= 5400.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 90.0 {
        format!("{:.1} min", s / 60.0)
    } else if s >= 1.0 {
        format!("{s:.1} s").replace(".0 s", " s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

pub fn plot(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut TimelineView, cmds: &mut Vec<Command>) {
    if cx.store.observations.is_empty() {
        // No time axis without a single time: say what fills it instead of drawing an
        // empty plot over a made-up range.
        let (rect, _) = ui.allocate_exact_size(ui.available_size(), egui::Sense::hover());
        let text = if cx.live {
            "No events yet: the timeline fills as they arrive"
        } else {
            "No events: nothing to plot over time"
        };
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            text,
            egui::FontId::proportional(13.0),
            cx.theme.text_weak,
        );
        return;
    }
    let flow: &FlowTimeline = &cx.derived.views.flow;
    let span = cx.store.last_time().map_or(0.0, |l| cx.secs(l)).max(0.0);
    let full = if span > 0.0 { (0.0, span) } else { (-0.5, 0.5) };
    if view.zoom_origin != cx.origin {
        view.zoom = None;
    }
    let (x0, x1) = view.zoom.unwrap_or(full);
    // One bin per point of plot width (the y axis takes about 40).
    let bins = ((ui.available_width() - 44.0).max(16.0) as usize).min(4096);
    let to_ns = |x: f64| cx.origin + (x * 1e9).round() as Nanos;
    let key = DecimationKey {
        version: cx.derived.version,
        grouping: view.grouping,
        from: to_ns(x0),
        to: to_ns(x1).max(to_ns(x0) + 1),
        bins,
    };
    if view.cache.as_ref().is_none_or(|c| c.key != key) {
        let series = flow
            .series(view.grouping)
            .iter()
            .enumerate()
            .map(|(i, s)| (i, flow.decimate(s, key.from, key.to, bins)))
            .collect();
        view.cache = Some(Decimated { key, series });
    }
    let all = flow.series(view.grouping);
    // The series shown: the kinds chosen, the largest first when there are too many.
    let mut chosen: Vec<usize> = (0..all.len())
        .filter(|&i| {
            let k = all[i].kind;
            !(view.grouping == Grouping::Handler && k == FlowKind::Published)
                && FlowKind::ALL
                    .iter()
                    .position(|&x| x == k)
                    .is_some_and(|p| view.kinds[p])
        })
        .collect();
    let hidden = chosen.len().saturating_sub(MAX_SERIES);
    if hidden > 0 {
        chosen.sort_by_key(|&i| std::cmp::Reverse(all[i].total));
        chosen.truncate(MAX_SERIES);
        chosen.sort_unstable();
    }
    let bin_secs = (x1 - x0) / bins as f64;
    let scope = scope_text(cx, view, bin_secs, hidden);
    let Some(dec) = view.cache.take() else {
        return;
    };
    // Published and delivered take their node's colour; failures, retries and dead
    // letters take the colour of what they are.
    let mut node_order: Vec<crate::model::NodeId> = Vec::new();
    let drawn: Vec<Drawn<'_>> = chosen
        .iter()
        .filter_map(|&i| {
            let s = all.get(i)?;
            let bins = dec.series.get(i).map(|(_, b)| b.as_slice())?;
            let own_colour = matches!(s.kind, FlowKind::Published | FlowKind::Delivered);
            let ni = match node_order.iter().position(|&n| n == s.node) {
                Some(p) => p,
                None if own_colour => {
                    node_order.push(s.node);
                    node_order.len() - 1
                }
                None => 0,
            };
            Some(Drawn {
                index: i,
                name: format!("{} · {}", s.name, s.kind.as_str()),
                kind: s.kind,
                color: kind_color(cx, s.kind, ni),
                bins,
            })
        })
        .collect();
    let per = |n: u32| flow.per_sec(n);
    let ymax = drawn
        .iter()
        .flat_map(|d| d.bins.iter().flatten())
        .map(|b| per(b.peak))
        .fold(0.0f64, f64::max)
        .max(1.0);
    // Headroom above the data: the legend line, then the finding markers.
    let y_top = ymax * 1.45;
    let y_marker = ymax * 1.12;
    let bin_x = |b: usize| x0 + (b as f64 + 0.5) * bin_secs;

    let theme = cx.theme;
    let origin = cx.origin;
    let clock = view.clock;
    // The Latency tab shows the same clock.
    ui.ctx()
        .data_mut(|m| m.insert_temp(egui::Id::unique(plot_axes::CLOCK_KEY), clock));
    let plot_w_px = bins as f64;
    let marker_gap = MARKER_GAP_PX.max(plot_w_px / MAX_MARKERS) * (x1 - x0) / plot_w_px.max(1.0);
    // egui_plot shows a tick label only with 60 points of room; the others need no text.
    let px_per_sec = plot_w_px / (x1 - x0).max(1e-9);
    let labelled = move |m: egui_plot::GridMark| m.step_size * px_per_sec >= 55.0;
    let meshes = std::mem::take(&mut view.meshes);
    meshes.borrow_mut().retain(|(_, k, _)| k.bins == key);
    let mut marks: Vec<(f64, Severity, usize)> = cx
        .findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((cx.secs(f.first?), f.severity, i)))
        .filter(|(x, _, _)| *x >= x0 - marker_gap && *x <= x1)
        .collect();
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let clusters = cluster_markers(&marks, marker_gap);

    let resp = Plot::new("timeline-flow")
        .height(ui.available_height().max(60.0))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(false)
        .show_y(false)
        .y_axis_min_width(36.0)
        .x_grid_spacer(move |input| plot_axes::time_marks(&input, origin, clock))
        .custom_x_axes(vec![
            AxisHints::new_x().formatter(move |m, r| {
                if labelled(m) {
                    plot_axes::relative_label(m, r)
                } else {
                    String::new()
                }
            }),
            AxisHints::new_x().formatter(move |m, _| {
                if labelled(m) {
                    plot_axes::clock_label(m, origin, clock)
                } else {
                    String::new()
                }
            }),
        ])
        .y_grid_spacer(|i| plot_axes::linear_marks(&i))
        .y_axis_formatter(|m, _| {
            if m.value < 0.0 {
                String::new()
            } else {
                fmt_rate(m.value)
            }
        })
        .show(ui, |plot| {
            plot.set_plot_bounds_x(x0..=x1);
            plot.set_plot_bounds_y(0.0..=y_top);
            for d in &drawn {
                plot.add(Envelope {
                    base: egui_plot::PlotItemBase::new(String::new()),
                    series: d.index,
                    key,
                    cache: &meshes,
                    bins: d.bins,
                    x0,
                    bin_secs,
                    per_count: flow.per_sec(1),
                    color: d.color,
                    dashed: matches!(d.kind, FlowKind::Published | FlowKind::DeadLettered),
                });
            }
            let px = (x1 - x0) / plot_w_px.max(1.0);
            if let Some(f) = cx.selected_finding.and_then(|i| cx.findings.get(i))
                && let Some(first) = f.first
            {
                let color = severity_color(cx, f.severity);
                if let Some(last) = f.last.filter(|&l| l > first) {
                    plot.span(
                        Span::new("", cx.secs(first)..=cx.secs(last))
                            .fill(color.gamma_multiply(0.15)),
                    );
                }
                plot.vline(VLine::new("", cx.secs(first)).color(color).width(1.0));
            }
            markers::draw(plot, cx, &clusters, x0, y_marker, px);
            if let Some((a, b)) = cx.time_ctl.loop_range {
                plot.span(
                    Span::new("", cx.secs(a)..=cx.secs(b)).fill(theme.accent.gamma_multiply(0.12)),
                );
            }
            plot.vline(
                VLine::new("", cx.secs(cx.time))
                    .color(theme.cursor)
                    .width(2.0),
            );
            // The hovered bin: a thin line and the values the tooltip reads.
            let pointer = plot.pointer_coordinate()?;
            if pointer.x < x0 || pointer.x > x1 {
                return None;
            }
            let bin = (((pointer.x - x0) / bin_secs).floor().max(0.0) as usize).min(bins - 1);
            plot.vline(
                VLine::new("", bin_x(bin))
                    .color(theme.text_weak.gamma_multiply(0.5))
                    .width(1.0),
            );
            let cluster = clusters
                .iter()
                .find(|c| (c.x.max(x0) - pointer.x).abs() <= 7.0 * px && pointer.y >= ymax)
                .cloned();
            Some(Hover {
                bin,
                rate: pointer.y,
                cluster,
            })
        });
    let r = &resp.response;
    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "timeline"));
    legend_and_scope(ui, cx, r.rect, &drawn, scope);
    if let Some(h) = resp.inner.filter(|_| r.hovered()) {
        egui::containers::Tooltip::for_widget(r)
            .at_pointer()
            .gap(12.0)
            .show(|ui| hover_ui(ui, cx, flow, &drawn, &h, clock));
    }
    drop(drawn);
    view.cache = Some(dec);
    view.meshes = meshes;

    navigate(
        ui,
        cx,
        view,
        (&resp.response, &resp.transform),
        (x0, x1),
        full,
        plot_w_px,
        cmds,
    );
}

/// The plot's own input: scroll zooms around the pointer, sideways scroll pans,
/// double-click shows the whole run; shift-drag selects a loop range; a click or drag
/// moves the cursor.
#[allow(clippy::too_many_arguments)]
fn navigate(
    ui: &egui::Ui,
    cx: &ViewCtx<'_>,
    view: &mut TimelineView,
    (r, transform): (&egui::Response, &egui_plot::PlotTransform),
    (x0, x1): (f64, f64),
    full: (f64, f64),
    plot_w_px: f64,
    cmds: &mut Vec<Command>,
) {
    let flow = &cx.derived.views.flow;
    let to_time = |p: egui::Pos2| cx.origin + (transform.value_from_position(p).x * 1e9) as i64;
    if r.hovered() {
        let (scroll, zoom_delta) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        let factor = (zoom_delta as f64) * (-(scroll.y as f64) * 0.002).exp();
        let pointer_x = r.hover_pos().map(|p| transform.value_from_position(p).x);
        let (mut a, mut b) = (x0, x1);
        if (factor - 1.0).abs() > 1e-4
            && let Some(px) = pointer_x
        {
            // No narrower than four rate windows, no wider than the run.
            let max_w = full.1 - full.0;
            let min_w = (flow.window as f64 / 1e9 * 4.0).min(max_w);
            let w = ((b - a) * factor).max(min_w).min(max_w);
            let frac = ((px - a) / (b - a)).clamp(0.0, 1.0);
            a = px - frac * w;
            b = a + w;
        }
        if scroll.x.abs() > 0.0 {
            let d = -(scroll.x as f64) * (b - a) / plot_w_px.max(1.0);
            a += d;
            b += d;
        }
        if (a, b) != (x0, x1) {
            // Keep the view inside the run.
            let w = b - a;
            let a2 = a.clamp(full.0, (full.1 - w).max(full.0));
            view.zoom = (w < full.1 - full.0 - 1e-9).then_some((a2, a2 + w));
            view.zoom_origin = cx.origin;
        }
    }
    if r.double_clicked() {
        view.zoom = None;
    }
    // Shift-drag selects a loop range; a plain click or drag moves the cursor.
    let loop_start = r.id.with("loop-start");
    let shift = ui.input(|i| i.modifiers.shift);
    let pending: Option<i64> = ui.data(|d| d.get_temp(loop_start));
    if shift
        && r.drag_started()
        && let Some(p) = r.interact_pointer_pos()
    {
        ui.data_mut(|d| d.insert_temp(loop_start, to_time(p)));
    } else if let Some(a) = pending {
        if r.drag_stopped() {
            ui.data_mut(|d| d.remove::<i64>(loop_start));
            let end = r.interact_pointer_pos().or(r.hover_pos()).map(to_time);
            if let Some(b) = end.filter(|&b| b != a) {
                cmds.push(Command::Time(TimeCommand::SetLoop(Some((a, b)))));
                cmds.push(Command::Time(TimeCommand::SetTime(a.min(b))));
                cmds.push(Command::Time(TimeCommand::Play));
            }
        }
    } else if (r.clicked() || r.dragged())
        && let Some(p) = r.interact_pointer_pos()
    {
        cmds.push(Command::Time(TimeCommand::SetTime(to_time(p))));
    }
}

/// Written on the plot: the series drawn (top left, as many as fit) and what the values
/// mean over which scope (top right).
fn legend_and_scope(
    ui: &egui::Ui,
    cx: &ViewCtx<'_>,
    rect: egui::Rect,
    drawn: &[Drawn<'_>],
    scope: String,
) {
    let painter = ui.painter_at(rect);
    let font = egui::FontId::proportional(10.5);
    let scope = painter.layout_no_wrap(scope, font.clone(), cx.theme.text_weak);
    let scope_w = scope.size().x;
    let top = rect.top() + 3.0;
    painter.galley(
        egui::pos2(rect.right() - 6.0 - scope_w, top),
        scope,
        cx.theme.text_weak,
    );
    let limit = rect.right() - scope_w - 24.0;
    let mut x = rect.left() + 6.0;
    for (i, d) in drawn.iter().enumerate() {
        let g = painter.layout_no_wrap(
            format!("{} {}", kind_glyph(d.kind), d.name),
            font.clone(),
            d.color,
        );
        if x + g.size().x > limit {
            painter.text(
                egui::pos2(x, top),
                Align2::LEFT_TOP,
                format!("+{} (hover)", drawn.len() - i),
                font,
                cx.theme.text_weak,
            );
            break;
        }
        let w = g.size().x;
        painter.galley(egui::pos2(x, top), g, d.color);
        x += w + 12.0;
    }
}
