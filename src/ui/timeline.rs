//! The timeline (bottom): replay controls, and the flow over time per channel or per
//! handler: published, delivered, failed, retried and dead-lettered, as rates over a named
//! window. Each pixel-wide bin shows the highest and lowest window of the steps it holds
//! (the engine's decimation), so a one-second storm stays visible on a one-day capture at
//! any zoom. Findings are markers, merged with a count where they crowd; hovering reads
//! the data of the nearest series at that time. Click or drag to move the cursor,
//! shift-drag to loop a range, scroll to zoom, double-click for the whole run. Keys: Space
//! play/pause, Left/Right step, Home/End.

use super::findings::Severity;
use super::plot_axes::{self, Clock};
use super::{Command, ViewCtx, fmt_count};
use crate::analysis::series::{Bin, FlowKind, FlowTimeline, Grouping, fmt_rate, fmt_window};
use crate::replay::{PlayState, SPEEDS, TimeCommand};
use crate::time::Nanos;
use egui::{Align2, Color32, RichText};
use egui_plot::{AxisHints, MarkerShape, Plot, PlotPoint, Points, Span, Text, VLine};

pub fn controls(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    view: &mut TimelineView,
    cmds: &mut Vec<Command>,
) {
    let tc = cx.time_ctl;
    let mut pending: Vec<TimeCommand> = Vec::new();
    let mut time = |c: TimeCommand| pending.push(c);
    let mut other: Vec<Command> = Vec::new();
    let cmds_outer = &mut *cmds;
    let cmds = &mut other;
    ui.horizontal(|ui| {
        if ui
            .button("⏮")
            .on_hover_text("To the start (Home)")
            .clicked()
        {
            time(TimeCommand::Home);
        }
        if ui
            .button("◀ Step")
            .on_hover_text("One event back (Left)")
            .clicked()
        {
            time(TimeCommand::StepBack);
        }
        let playing = tc.state == PlayState::Playing;
        let label = if playing { "⏸ Pause" } else { "▶ Play" };
        if ui
            .button(label)
            .on_hover_text("Play or pause (Space)")
            .clicked()
        {
            time(TimeCommand::TogglePlay);
        }
        if ui
            .button("Step ▶")
            .on_hover_text("One event forward (Right)")
            .clicked()
        {
            time(TimeCommand::StepForward);
        }
        if ui.button("⏭").on_hover_text("To the end (End)").clicked() {
            time(TimeCommand::End);
        }
        ui.separator();
        if ui
            .button("◀ Finding")
            .on_hover_text("Jump to the previous finding")
            .clicked()
        {
            cmds.push(Command::JumpFinding(-1));
        }
        if ui
            .button("Finding ▶")
            .on_hover_text("Jump to the next finding")
            .clicked()
        {
            cmds.push(Command::JumpFinding(1));
        }
        ui.separator();
        let mut speed = tc.speed;
        egui::ComboBox::new("speed", "speed")
            .selected_text(format!("{}x", speed))
            .width(64.0)
            .show_ui(ui, |ui| {
                for s in SPEEDS {
                    ui.selectable_value(&mut speed, s, format!("{s}x"));
                }
            });
        if speed != tc.speed {
            cmds.push(Command::Time(TimeCommand::SetSpeed(speed)));
        }
        ui.separator();
        let looping = tc.loop_range.is_some();
        if ui
            .selectable_label(looping, "⟲ Loop")
            .on_hover_text(
                "Loop the selected finding's range, or the last 10 s before the cursor \
                 (or shift-drag a range on the plot)",
            )
            .clicked()
        {
            let range = if looping {
                None
            } else {
                let f = cx.selected_finding.and_then(|i| cx.findings.get(i));
                match f
                    .and_then(|f| Some((f.first?, f.last?)))
                    .filter(|(a, b)| b > a)
                {
                    Some(r) => Some(r),
                    None => Some((cx.time - 10_000_000_000, cx.time)),
                }
            };
            cmds.push(Command::Time(TimeCommand::SetLoop(range)));
        }
        if cx.live {
            let following = tc.state == PlayState::Following;
            let txt = RichText::new("● Follow live").color(if following {
                cx.theme.error
            } else {
                cx.theme.text_weak
            });
            if ui
                .selectable_label(following, txt)
                .on_hover_text("Stick to the newest events")
                .clicked()
            {
                cmds.push(Command::Time(if following {
                    TimeCommand::Pause
                } else {
                    TimeCommand::Follow
                }));
            }
        }
        ui.separator();
        let total = cx.store.observations.len();
        let clock_time = plot_axes::clock_full(cx.time, view.clock);
        ui.label(
            RichText::new(format!(
                "t = {:.3} s · {}  ·  {} / {} observations",
                cx.secs(cx.time),
                clock_time.get(11..).unwrap_or(""),
                fmt_count(cx.cursor_n as u64),
                fmt_count(total as u64)
            ))
            .monospace(),
        )
        .on_hover_text(format!("the cursor: {clock_time}"));
        for c in [Clock::Utc, Clock::Local] {
            if ui
                .selectable_label(view.clock == c, RichText::new(c.name()).small())
                .on_hover_text("The wall clock of the time axes")
                .clicked()
            {
                view.clock = c;
            }
        }
        if let Some((a, b)) = tc.loop_range {
            ui.label(
                RichText::new(format!("loop {:.1}–{:.1} s", cx.secs(a), cx.secs(b)))
                    .small()
                    .color(cx.theme.text_weak),
            );
        }
        ui.separator();
        series_menu(ui, cx, view);
    });
    cmds_outer.extend(pending.into_iter().map(Command::Time));
    cmds_outer.append(&mut other);
}

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

/// Meshes by series index, with what they were built for.
type MeshCache = std::cell::RefCell<Vec<(usize, MeshKey, std::sync::Arc<egui::Mesh>)>>;

/// What a series' mesh depends on: its bins, its look, and the plot's transform.
#[derive(Clone, Copy, PartialEq)]
struct MeshKey {
    bins: DecimationKey,
    color: Color32,
    dashed: bool,
    frame: egui::Rect,
    bounds: [f64; 4],
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

/// What the pointer is over, for the tooltip.
struct Hover {
    bin: usize,
    /// Events per second at the pointer's height.
    rate: f64,
    /// Marker clusters within reach of the pointer.
    cluster: Option<MarkerCluster>,
}

/// Nearby finding markers merged into one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MarkerCluster {
    /// Where it is drawn: its first marker (seconds since the origin).
    pub x: f64,
    /// The most severe of its findings.
    pub severity: Severity,
    /// Its findings (indices), in time order.
    pub findings: Vec<usize>,
}

/// Merges markers (x, severity, finding), sorted by x, that lie within `gap` of the first
/// marker of their cluster.
pub(crate) fn cluster_markers(marks: &[(f64, Severity, usize)], gap: f64) -> Vec<MarkerCluster> {
    let mut out: Vec<MarkerCluster> = Vec::new();
    for &(x, sev, i) in marks {
        match out.last_mut() {
            Some(c) if x - c.x < gap => {
                c.severity = c.severity.min(sev);
                c.findings.push(i);
            }
            _ => out.push(MarkerCluster {
                x,
                severity: sev,
                findings: vec![i],
            }),
        }
    }
    out
}

/// The series whose drawn band (low..=peak) at one bin is nearest to `y`; inside a band
/// is distance 0, and ties go to the higher peak. `None` when no series has data there.
pub(crate) fn nearest_series(values: &[Option<(f64, f64)>], y: f64) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|(lo, hi)| (i, lo, hi)))
        .map(|(i, lo, hi)| {
            let d = if y < lo {
                lo - y
            } else if y > hi {
                y - hi
            } else {
                0.0
            };
            (i, d, hi)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(i, _, _)| i)
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

/// Which series the plot shows: per channel or per handler, and which kinds (each with
/// its line style).
fn series_menu(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut TimelineView) {
    let shown = FlowKind::ALL
        .iter()
        .zip(view.kinds)
        .filter(|(k, on)| {
            *on && !(view.grouping == Grouping::Handler && **k == FlowKind::Published)
        })
        .count();
    let per = match view.grouping {
        Grouping::Channel => "per channel",
        Grouping::Handler => "per handler",
    };
    egui::ComboBox::new("timeline-series", "series")
        .selected_text(format!("{per} · {shown} kinds"))
        .width(150.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut view.grouping, Grouping::Channel, "per channel");
            ui.selectable_value(&mut view.grouping, Grouping::Handler, "per handler");
            ui.separator();
            for (i, kind) in FlowKind::ALL.iter().enumerate() {
                if view.grouping == Grouping::Handler && *kind == FlowKind::Published {
                    continue;
                }
                let color = match kind {
                    FlowKind::Failed | FlowKind::DeadLettered => cx.theme.error,
                    FlowKind::Retried => cx.theme.warn,
                    _ => cx.theme.text,
                };
                let text =
                    RichText::new(format!("{} {}", kind_glyph(*kind), kind.as_str())).color(color);
                ui.checkbox(&mut view.kinds[i], text);
            }
        });
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
    let window = cx.derived.flow.window as f64 / 1e9;
    let window_text = fmt_window(cx.derived.flow.window);
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
    let flow: &FlowTimeline = &cx.derived.flow;
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
            for c in &clusters {
                let color = severity_color(cx, c.severity);
                let selected = cx.selected_finding.is_some_and(|s| c.findings.contains(&s));
                plot.points(
                    Points::new("", vec![[c.x.max(x0), y_marker]])
                        .shape(MarkerShape::Down)
                        .filled(true)
                        .radius(if selected { 6.5 } else { 5.0 })
                        .color(color)
                        .allow_hover(false),
                );
                if c.findings.len() > 1 {
                    plot.text(
                        Text::new(
                            "",
                            PlotPoint::new(c.x.max(x0) + 6.0 * px, y_marker),
                            RichText::new(fmt_count(c.findings.len() as u64))
                                .small()
                                .color(color),
                        )
                        .anchor(Align2::LEFT_CENTER)
                        .allow_hover(false),
                    );
                }
            }
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

    let to_time =
        |p: egui::Pos2| cx.origin + (resp.transform.value_from_position(p).x * 1e9) as i64;
    // Scroll zooms around the pointer, sideways scroll pans, double-click shows the run.
    if r.hovered() {
        let (scroll, zoom_delta) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        let factor = (zoom_delta as f64) * (-(scroll.y as f64) * 0.002).exp();
        let pointer_x = r
            .hover_pos()
            .map(|p| resp.transform.value_from_position(p).x);
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

/// One series drawn straight into a mesh: the band from each bin's lowest to its highest
/// window, and the line of the highest, a quad per bin. One bin per point of width makes
/// a polyline of thousands of points, which egui would stroke and feather every frame; a
/// mesh goes to the GPU as it is. Bins without data leave a gap.
struct Envelope<'a> {
    base: egui_plot::PlotItemBase,
    /// The series (index in its grouping), its bins' key, and where its mesh is kept.
    series: usize,
    key: DecimationKey,
    cache: &'a MeshCache,
    bins: &'a [Option<Bin>],
    /// Left edge of bin 0 and the bin width, in seconds since the origin.
    x0: f64,
    bin_secs: f64,
    /// Events per second of a count of one in a window.
    per_count: f64,
    color: Color32,
    dashed: bool,
}

impl egui_plot::PlotItem for Envelope<'_> {
    fn shapes(&self, _ui: &egui::Ui, t: &egui_plot::PlotTransform, shapes: &mut Vec<egui::Shape>) {
        let b = t.bounds();
        let key = MeshKey {
            bins: self.key,
            color: self.color,
            dashed: self.dashed,
            frame: *t.frame(),
            bounds: [b.min()[0], b.min()[1], b.max()[0], b.max()[1]],
        };
        let mut cache = self.cache.borrow_mut();
        if let Some((_, _, mesh)) = cache
            .iter()
            .find(|(i, k, _)| *i == self.series && *k == key)
        {
            shapes.push(egui::Shape::Mesh(mesh.clone()));
            return;
        }
        let mesh = std::sync::Arc::new(self.mesh(t));
        cache.retain(|(i, _, _)| *i != self.series);
        cache.push((self.series, key, mesh.clone()));
        if !mesh.is_empty() {
            shapes.push(egui::Shape::Mesh(mesh));
        }
    }

    fn initialize(&mut self, _x_range: std::ops::RangeInclusive<f64>) {}

    fn color(&self) -> Color32 {
        self.color
    }

    fn geometry(&self) -> egui_plot::PlotGeometry<'_> {
        egui_plot::PlotGeometry::None
    }

    fn bounds(&self) -> egui_plot::PlotBounds {
        // The plot's bounds are set explicitly.
        egui_plot::PlotBounds::NOTHING
    }

    fn base(&self) -> &egui_plot::PlotItemBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut egui_plot::PlotItemBase {
        &mut self.base
    }
}

impl Envelope<'_> {
    fn mesh(&self, t: &egui_plot::PlotTransform) -> egui::Mesh {
        let fill = self.color.gamma_multiply(0.22);
        let half = 0.75;
        let left = t.frame().left();
        let mut mesh = egui::Mesh::default();
        mesh.reserve_vertices(self.bins.len() * 6);
        mesh.reserve_triangles(self.bins.len() * 4);
        // The previous bin: x, y of its peak, index of its two band vertices.
        let mut prev: Option<(f32, f32, u32)> = None;
        for (i, b) in self.bins.iter().enumerate() {
            let Some(b) = b else {
                prev = None;
                continue;
            };
            let x = t.position_from_point_x(self.x0 + (i as f64 + 0.5) * self.bin_secs);
            let y_low = t.position_from_point_y(b.low as f64 * self.per_count);
            let y_peak = t.position_from_point_y(b.peak as f64 * self.per_count);
            let v = mesh.vertices.len() as u32;
            mesh.colored_vertex(egui::pos2(x, y_peak), fill);
            mesh.colored_vertex(egui::pos2(x, y_low), fill);
            let (px, py) = match prev {
                Some((px, py, pv)) => {
                    mesh.add_triangle(pv, pv + 1, v);
                    mesh.add_triangle(pv + 1, v + 1, v);
                    (px, py)
                }
                // A bin alone: a short flat stroke.
                None => (x - 1.0, y_peak),
            };
            let on = !self.dashed || ((x - left) as i32).rem_euclid(10) < 6;
            if on {
                // A quad as thick across the segment whatever its slope, so the rise of a
                // burst shows as well as its top.
                let d = egui::vec2(x - px, y_peak - py);
                let n = egui::vec2(-d.y, d.x) / d.length().max(1e-3) * half;
                let l = mesh.vertices.len() as u32;
                for p in [
                    egui::pos2(px, py) - n,
                    egui::pos2(px, py) + n,
                    egui::pos2(x, y_peak) - n,
                    egui::pos2(x, y_peak) + n,
                ] {
                    mesh.colored_vertex(p, self.color);
                }
                mesh.add_triangle(l, l + 1, l + 2);
                mesh.add_triangle(l + 1, l + 3, l + 2);
            }
            prev = Some((x, y_peak, v));
        }
        mesh
    }
}

/// The tooltip: the hovered bin's time, then each series' figures there, the nearest to
/// the pointer first; findings under the pointer.
fn hover_ui(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    flow: &FlowTimeline,
    drawn: &[Drawn<'_>],
    h: &Hover,
    clock: Clock,
) {
    let values: Vec<Option<(f64, f64)>> = drawn
        .iter()
        .map(|d| {
            d.bins
                .get(h.bin)
                .copied()
                .flatten()
                .map(|b| (flow.per_sec(b.low), flow.per_sec(b.peak)))
        })
        .collect();
    let span = drawn
        .iter()
        .find_map(|d| d.bins.get(h.bin).copied().flatten());
    if let Some(b) = span {
        ui.label(
            RichText::new(format!(
                "{} – {}",
                plot_axes::clock_full(b.from, clock),
                plot_axes::clock_full(b.to, clock).get(11..).unwrap_or("")
            ))
            .small(),
        );
        ui.label(
            RichText::new(format!(
                "+{:.3} s – +{:.3} s · rates per {} window",
                cx.secs(b.from),
                cx.secs(b.to),
                fmt_window(flow.window)
            ))
            .small()
            .color(cx.theme.text_weak),
        );
    }
    let nearest = nearest_series(&values, h.rate);
    let mut order: Vec<usize> = (0..drawn.len()).filter(|&i| values[i].is_some()).collect();
    order.sort_by_key(|&i| (Some(i) != nearest, i));
    for i in order {
        let (d, Some(b)) = (&drawn[i], drawn[i].bins.get(h.bin).copied().flatten()) else {
            continue;
        };
        let text = format!(
            "{}: peak {} · low {} · {} events",
            d.name,
            fmt_rate(flow.per_sec(b.peak)),
            fmt_rate(flow.per_sec(b.low)),
            fmt_count(b.events)
        );
        let mut rt = RichText::new(text).color(d.color);
        if Some(i) == nearest {
            rt = rt.strong();
        }
        ui.label(rt);
    }
    if let Some(c) = &h.cluster {
        ui.separator();
        ui.label(RichText::new(format!("{} findings here", c.findings.len())).small());
        for &i in c.findings.iter().take(5) {
            if let Some(f) = cx.findings.get(i) {
                ui.label(
                    RichText::new(&f.title)
                        .small()
                        .color(severity_color(cx, f.severity)),
                );
            }
        }
        if c.findings.len() > 5 {
            ui.label(RichText::new(format!("+{} more", c.findings.len() - 5)).small());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hover_reads_the_series_nearest_to_the_pointer_not_the_pointer_height() {
        // Three series at one bin: 0..2/s, 10..300/s (a burst), and no data.
        let values = [Some((0.0, 2.0)), Some((10.0, 300.0)), None];
        assert_eq!(nearest_series(&values, 1.0), Some(0));
        assert_eq!(nearest_series(&values, 150.0), Some(1));
        assert_eq!(nearest_series(&values, 7.0), Some(1));
        assert_eq!(nearest_series(&values, 5.0), Some(0));
        assert_eq!(nearest_series(&[None, None], 5.0), None);
        // Inside two bands: the higher peak wins.
        assert_eq!(
            nearest_series(&[Some((0.0, 50.0)), Some((0.0, 80.0))], 20.0),
            Some(1)
        );
    }

    #[test]
    fn crowded_markers_merge_into_one_with_their_count_and_worst_severity() {
        let marks: Vec<(f64, Severity, usize)> = (0..194)
            .map(|i| {
                (
                    10.0 + i as f64 * 0.01,
                    if i == 7 {
                        Severity::Error
                    } else {
                        Severity::Info
                    },
                    i,
                )
            })
            .chain([(50.0, Severity::Warning, 194)])
            .collect();
        let c = cluster_markers(&marks, 1.0);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c[0].findings.len() + c[1].findings.len(), 194);
        assert_eq!(c[0].severity, Severity::Error);
        assert_eq!(c[2].findings, vec![194]);
        assert_eq!(c[2].severity, Severity::Warning);
    }
}
