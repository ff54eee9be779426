//! The flow graph (centre): the layered layout drawn left to right with node shapes by kind
//! (services as rectangles, channels as queues, stores as cylinders, dead-letter queues
//! marked), edges sized by rate and coloured by error rate or latency, events travelling
//! along the edges as dots. Pan (drag), zoom (scroll), fit (double-click or button); click a
//! node or edge to select it. Everything at the cursor comes from binary searches.

use super::theme::{CORNER, NODE_H, NODE_W, Theme};
use super::{ColorBy, Command, Selection, ViewCtx, fmt_count, fmt_duration};
use crate::model::{LatencySummary, NodeId, NodeKind, Stage, TopoEdge};
use crate::replay::PlayState;
use crate::time::{NANOS_PER_SEC, Nanos};
use egui::epaint::{CubicBezierShape, PathShape, PathStroke};
use egui::{
    Align2, Color32, FontId, Pos2, Rect, Sense, Shape, Stroke, StrokeKind, Vec2, pos2, vec2,
};
use rustc_hash::{FxHashMap, FxHashSet};

/// Pan and zoom of the graph (the panel's own state).
pub struct GraphView {
    pub pan: Vec2,
    pub zoom: f32,
    pub fit_pending: bool,
    fitted_for: usize,
    /// Canvas size at the last fit; the view refits when it changes, until the user pans
    /// or zooms.
    fitted_size: Vec2,
    user_moved: bool,
    /// Edges drawn in the last frame (for tests: the calls toggle hides call edges).
    pub drawn_edges: usize,
}

impl Default for GraphView {
    fn default() -> Self {
        GraphView {
            pan: Vec2::ZERO,
            zoom: 1.0,
            fit_pending: true,
            fitted_for: 0,
            fitted_size: Vec2::ZERO,
            user_moved: false,
            drawn_edges: 0,
        }
    }
}

/// Dots drawn per edge at most.
const MAX_DOTS: usize = 48;

struct EdgeGeom<'a> {
    edge: &'a TopoEdge,
    pts: [Pos2; 4],
    count: u64,
    errors: u64,
    rate: f64,
    rate_at: crate::analysis::series::RateAt,
}

/// An edge's label, measured, waiting to be placed.
struct EdgeLabel {
    key: (NodeId, NodeId),
    bez: CubicBezierShape,
    size: Vec2,
    galleys: Vec<std::sync::Arc<egui::Galley>>,
    selected: bool,
}

/// Where along its curve a label of `size` goes: the first point, from the middle
/// outwards (on the curve, then just above or below it), where it covers no node and no
/// label placed before; failing that, the point where it covers least.
fn place_label(bez: &CubicBezierShape, size: Vec2, nodes: &[Rect], placed: &[Rect]) -> Rect {
    const TS: [f32; 9] = [0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82];
    let overlap = |r: &Rect| -> f32 {
        nodes
            .iter()
            .chain(placed)
            .map(|o| {
                let i = r.intersect(*o);
                if i.is_positive() { i.area() } else { 0.0 }
            })
            .sum()
    };
    let mut best: Option<(f32, Rect)> = None;
    // On the curve first, then just above or below it (still reading as its label).
    let shift = size.y * 0.5 + 4.0;
    for dy in [0.0, -shift, shift] {
        for t in TS {
            let r = Rect::from_center_size(bez.sample(t) + vec2(0.0, dy), size);
            let o = overlap(&r);
            if o <= 0.0 {
                return r;
            }
            // A shifted place must be clearly better to be taken.
            let o = if dy == 0.0 { o } else { o * 1.5 };
            if best.is_none_or(|(b, _)| o < b) {
                best = Some((o, r));
            }
        }
    }
    best.map_or_else(|| Rect::from_center_size(bez.sample(0.5), size), |(_, r)| r)
}

/// Draws the graph; returns the canvas (below the toolbar), where overlays go.
pub fn show(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    view: &mut GraphView,
    cmds: &mut Vec<Command>,
) -> Rect {
    let theme = cx.theme;
    ui.horizontal(|ui| {
        ui.strong("Flow");
        if ui
            .button("⛶ Fit")
            .on_hover_text("Fit the graph to the view (double-click)")
            .clicked()
        {
            view.fit_pending = true;
        }
        ui.separator();
        ui.label("Colour edges by");
        let mut by = cx.color_by;
        ui.selectable_value(&mut by, ColorBy::Errors, "errors");
        ui.selectable_value(&mut by, ColorBy::Latency, "p95 latency");
        if by != cx.color_by {
            cmds.push(Command::SetColorBy(by));
        }
        if cx.store.topology.graph.edge_weights().any(|e| e.stage == Stage::Call) {
            ui.separator();
            let mut on = cx.show_calls;
            if ui
                .checkbox(&mut on, "calls")
                .on_hover_text("Show synchronous calls (HTTP, gRPC, queries outside event handling) as dashed edges")
                .changed()
            {
                cmds.push(Command::SetShowCalls(on));
            }
        }
        ui.separator();
        legend(ui, theme);
    });
    let layout = &cx.derived.layout;
    // A row under the canvas says what the edge colours mean.
    let full = ui.available_rect_before_wrap();
    let legend_h = if layout.nodes.is_empty() { 0.0 } else { 24.0 };
    let rect = Rect::from_min_max(full.min, pos2(full.max.x, full.max.y - legend_h));
    let response = ui.allocate_rect(rect, Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, theme.canvas);
    if layout.nodes.is_empty() {
        // The app says why over the empty canvas (`super::empty`).
        return rect;
    }
    let has_calls = cx.show_calls
        && cx
            .store
            .topology
            .graph
            .edge_weights()
            .any(|e| e.stage == Stage::Call);
    let has_declared = cx.store.topology.graph.edge_weights().any(|e| e.declared);
    edge_legend(
        ui,
        cx,
        Rect::from_min_max(pos2(full.min.x, rect.max.y), full.max),
        has_calls,
        has_declared,
    );
    let (bx0, by0, bx1, by1) = layout.bounds;
    let bounds_w = bx1 - bx0 + NODE_W + 40.0;
    let bounds_h = by1 - by0 + NODE_H + 60.0;
    let resized = !view.user_moved && (rect.size() - view.fitted_size).length() > 1.0;
    if view.fit_pending
        || view.fitted_for != layout.nodes.len()
        || response.double_clicked()
        || resized
    {
        view.zoom = (rect.width() / bounds_w)
            .min(rect.height() / bounds_h)
            .clamp(0.35, 1.5);
        view.pan = Vec2::ZERO;
        view.fit_pending = false;
        view.fitted_for = layout.nodes.len();
        view.fitted_size = rect.size();
        view.user_moved = false;
    }
    if response.dragged() {
        view.pan += response.drag_delta();
        view.user_moved = true;
    }
    if response.hovered() {
        let (scroll, zoom_delta, pointer) = ui.input(|i| {
            (
                i.smooth_scroll_delta.y,
                i.zoom_delta(),
                i.pointer.hover_pos(),
            )
        });
        let factor = zoom_delta * (scroll * 0.0015).exp();
        if (factor - 1.0).abs() > 1e-4 {
            let new_zoom = (view.zoom * factor).clamp(0.15, 4.0);
            if let Some(p) = pointer {
                // Zoom around the pointer.
                let c = rect.center() + view.pan;
                view.pan += (p - c) * (1.0 - new_zoom / view.zoom);
            }
            view.zoom = new_zoom;
            view.user_moved = true;
        }
    }
    let zoom = view.zoom;
    let centre = vec2((bx0 + bx1) / 2.0, (by0 + by1) / 2.0);
    let origin = rect.center() + view.pan;
    let to_screen = |x: f32, y: f32| origin + (vec2(x, y) - centre) * zoom;
    let node_size = vec2(NODE_W, NODE_H) * zoom;
    let pos: FxHashMap<NodeId, Pos2> = layout
        .nodes
        .iter()
        .map(|p| (p.id, to_screen(p.x, p.y)))
        .collect();

    // What to light: the selected node/edge, the selected event's path, the finding.
    let mut lit_edges: FxHashSet<(NodeId, NodeId)> = FxHashSet::default();
    let mut lit_nodes: FxHashSet<NodeId> = FxHashSet::default();
    match cx.selection {
        Selection::Node(n) => {
            lit_nodes.insert(n);
        }
        // The selected edge keeps its colour (what it says matters) and gets a halo.
        Selection::Edge(..) => {}
        Selection::Event(e) => {
            for &oi in cx.store.observations_of(e) {
                if let Some(o) = cx.store.observations.get(oi as usize) {
                    if o.from.some().is_some() {
                        lit_edges.insert((o.from, o.to));
                        lit_nodes.insert(o.from);
                    }
                    lit_nodes.insert(o.to);
                }
            }
        }
        Selection::None => {}
    }
    if let Some(f) = cx.selected_finding.and_then(|i| cx.findings.get(i)) {
        lit_edges.extend(f.edge_ids.iter().copied());
        lit_nodes.extend(f.node_ids.iter().copied());
    }
    let t = cx.time;
    let filter_nodes = cx.derived.filter.as_ref().map(|f| &f.nodes);

    // Edges first (under the nodes).
    let mut geoms: Vec<EdgeGeom<'_>> = Vec::new();
    let mut node_in: FxHashMap<NodeId, (u64, u64)> = FxHashMap::default();
    let mut node_out: FxHashMap<NodeId, u64> = FxHashMap::default();
    for edge in cx.store.topology.edges_sorted() {
        let (Some(&a), Some(&b)) = (pos.get(&edge.from), pos.get(&edge.to)) else {
            continue;
        };
        if edge.stage == Stage::Call && !cx.show_calls {
            continue;
        }
        let times = cx.derived.edge_times(cx.store, edge.from, edge.to);
        let count = times.partition_point(|&x| x <= t) as u64;
        let rate_at = cx.derived.edge_rate(cx.store, edge.from, edge.to, t);
        let errors = edge.errors_until(t);
        let e_in = node_in.entry(edge.to).or_default();
        e_in.0 += count;
        e_in.1 += errors;
        *node_out.entry(edge.from).or_default() += count;
        let p0 = a + vec2(node_size.x / 2.0, 0.0);
        let p3 = b - vec2(node_size.x / 2.0, 0.0);
        let layer_w = crate::export::layout::LAYER_GAP * zoom;
        let pts = if p3.x > p0.x + layer_w {
            // A long edge skips layers: arc over the nodes in between instead of running
            // behind them.
            let dx = (p3.x - p0.x) * 0.25;
            let lift = node_size.y * 1.6;
            [p0, p0 + vec2(dx, -lift), p3 - vec2(dx, lift), p3]
        } else if p3.x > p0.x + 4.0 {
            let dx = (p3.x - p0.x) * 0.5;
            [p0, p0 + vec2(dx, 0.0), p3 - vec2(dx, 0.0), p3]
        } else {
            // A back edge (a loop): route below the nodes.
            let drop = node_size.y * 1.4;
            [
                p0,
                p0 + vec2(80.0 * zoom, drop),
                p3 + vec2(-80.0 * zoom, drop),
                p3,
            ]
        };
        geoms.push(EdgeGeom {
            edge,
            pts,
            count,
            errors,
            rate: rate_at.per_sec,
            rate_at,
        });
    }
    view.drawn_edges = geoms.len();
    let max_rate = geoms.iter().map(|g| g.rate).fold(0.0f64, f64::max);
    let max_count = geoms.iter().map(|g| g.count).max().unwrap_or(0).max(1);
    let speed = if cx.live { 1.0 } else { cx.time_ctl.speed };
    let dot_window = ((0.9 * speed * NANOS_PER_SEC as f64) as Nanos).max(1);
    let pointer = response.hover_pos();
    let mut hovered_edge: Option<(f32, (NodeId, NodeId))> = None;
    let mut labels: Vec<EdgeLabel> = Vec::new();
    for g in &geoms {
        let e = g.edge;
        let key = (e.from, e.to);
        let dimmed = filter_nodes.is_some_and(|_| g.count == 0 && e.count > 0);
        let lit = lit_edges.contains(&key);
        let weight = if max_rate > 0.0 {
            (g.rate / max_rate).sqrt()
        } else {
            (g.count as f64 / max_count as f64).sqrt() * 0.5
        } as f32;
        let width = (1.2 + 6.0 * weight) * zoom.clamp(0.6, 1.3);
        let mut color = match cx.color_by {
            ColorBy::Errors => {
                if e.stage == Stage::DeadLetter && g.count > 0 {
                    theme.error
                } else {
                    theme.error_rate_color(g.errors as f64 / g.count.max(1) as f64)
                }
            }
            ColorBy::Latency => match e.latency.as_ref().and_then(LatencySummary::of) {
                Some(s) => theme.latency_color(s.p95),
                None => theme.edge,
            },
        };
        if lit {
            color = theme.highlight;
        }
        if dimmed {
            color = color.gamma_multiply(0.25);
        }
        let call = e.stage == Stage::Call;
        if call && !lit && g.errors == 0 {
            color = if dimmed {
                theme.call.gamma_multiply(0.25)
            } else {
                theme.call
            };
        }
        // Declared by the broker, nothing seen on it yet: dashed and muted.
        let declared_only = e.declared && g.count == 0;
        if declared_only && !lit {
            color = theme.text_weak;
        }
        let stroke = Stroke::new(if lit { width + 2.0 } else { width }, color);
        let selected = cx.selection == Selection::Edge(e.from, e.to);
        if selected {
            // The selected edge: a wide halo in the selection colour under it, so it
            // stands out whatever its own colour says.
            painter.add(CubicBezierShape::from_points_stroke(
                g.pts,
                false,
                Color32::TRANSPARENT,
                Stroke::new(stroke.width + 9.0, theme.selection.gamma_multiply(0.55)),
            ));
        }
        if call || declared_only {
            // Calls are not event flow: dashed, in their own colour.
            let curve = CubicBezierShape::from_points_stroke(
                g.pts,
                false,
                Color32::TRANSPARENT,
                Stroke::NONE,
            );
            let points: Vec<Pos2> = (0..=32).map(|k| curve.sample(k as f32 / 32.0)).collect();
            painter.extend(Shape::dashed_line(&points, stroke, 7.0 * zoom, 5.0 * zoom));
        } else {
            painter.add(CubicBezierShape::from_points_stroke(
                g.pts,
                false,
                Color32::TRANSPARENT,
                stroke,
            ));
        }
        // Arrow head.
        let tip = g.pts[3];
        let dir = (g.pts[3] - g.pts[2]).normalized();
        let n = vec2(-dir.y, dir.x);
        let s = (6.0 + width) * zoom.clamp(0.7, 1.2);
        painter.add(Shape::convex_polygon(
            vec![
                tip,
                tip - dir * s * 1.6 + n * s * 0.8,
                tip - dir * s * 1.6 - n * s * 0.8,
            ],
            color,
            Stroke::NONE,
        ));
        let bez =
            CubicBezierShape::from_points_stroke(g.pts, false, Color32::TRANSPARENT, Stroke::NONE);
        // Dots: events arriving at the target within the next `dot_window`.
        let times = cx.derived.edge_times(cx.store, e.from, e.to);
        // Following a live source the cursor is the newest event, so dots show the last
        // window instead of the next one.
        let dot_t = if cx.time_ctl.state == PlayState::Following {
            t - dot_window
        } else {
            t
        };
        let lo = times.partition_point(|&x| x <= dot_t);
        let hi = times.partition_point(|&x| x <= dot_t + dot_window);
        if cx.time_ctl.is_playing() || cx.live {
            let step = ((hi - lo) / MAX_DOTS).max(1);
            for &ti in times[lo..hi].iter().step_by(step) {
                let frac = 1.0 - (ti - dot_t) as f32 / dot_window as f32;
                let p = bez.sample(frac.clamp(0.0, 1.0));
                let c = if e.stage == Stage::DeadLetter {
                    theme.error
                } else {
                    theme.dot
                };
                painter.circle_filled(p, 3.2 * zoom.clamp(0.7, 1.3), c);
            }
        }
        // Hit test for clicks on the curve.
        if let Some(p) = pointer {
            for k in 0..=20 {
                let d = bez.sample(k as f32 / 20.0).distance(p);
                if d < 8.0 && hovered_edge.is_none_or(|h| d < h.0) {
                    hovered_edge = Some((d, key));
                }
            }
        }
        // The label: measured here, placed after every curve is drawn (see below).
        if zoom > 0.4 {
            let types: Vec<&str> = e
                .types
                .iter()
                .take(2)
                .map(|(s, _)| {
                    let t = cx.store.str(*s);
                    // A call's name (`POST /orders`) reads whole; event types shorten.
                    if e.stage == Stage::Call {
                        t
                    } else {
                        short_type(t)
                    }
                })
                .collect();
            let mut line1 = types.join(", ");
            if e.types.len() > 2 {
                line1.push_str(&format!(" +{}", e.types.len() - 2));
            }
            if line1.is_empty() {
                line1 = e.stage.as_str().to_string();
            }
            let mut lines = vec![(line1, if dimmed { theme.text_weak } else { theme.text })];
            // Scopes: the count is what crossed the edge up to the cursor, the rate is at
            // the cursor (its window named), the p95 is of the whole run.
            let r = &g.rate_at;
            lines.push((
                format!(
                    "{} so far · {} ({})",
                    fmt_count(g.count),
                    crate::analysis::series::fmt_rate(r.per_sec),
                    crate::analysis::series::fmt_window(r.window)
                ),
                theme.text_weak,
            ));
            let mut extra = Vec::new();
            if r.peak_per_sec > r.per_sec {
                extra.push(format!(
                    "peak {}",
                    crate::analysis::series::fmt_rate(r.peak_per_sec)
                ));
            }
            if g.errors > 0 {
                extra.push(format!("{} err", fmt_count(g.errors)));
            }
            if let Some(s) = e.latency.as_ref().and_then(LatencySummary::of) {
                extra.push(format!("run p95 {}", fmt_duration((s.p95 * 1e6) as i64)));
            }
            if !extra.is_empty() {
                let c = if g.errors > 0 {
                    theme.warn
                } else {
                    theme.text_weak
                };
                lines.push((extra.join(" · "), c));
            }
            let size = (11.0 * zoom).clamp(9.5, 13.0);
            let galleys: Vec<_> = lines
                .into_iter()
                .enumerate()
                .map(|(i, (text, color))| {
                    let font = FontId::proportional(if i == 0 { size } else { size - 1.0 });
                    painter.layout_no_wrap(text, font, color)
                })
                .collect();
            let w = galleys.iter().map(|g| g.size().x).fold(0.0, f32::max);
            let h: f32 = galleys.iter().map(|g| g.size().y).sum();
            labels.push(EdgeLabel {
                key,
                bez,
                size: vec2(w + 8.0, h + 2.0),
                galleys,
                selected,
            });
        }
    }

    // Nodes.
    for p in &layout.nodes {
        let Some(&c) = pos.get(&p.id) else { continue };
        let Some(node) = cx.store.topology.node(p.id) else {
            continue;
        };
        let r = Rect::from_center_size(c, node_size);
        let kind_color = theme.node_color(node.kind);
        let selected = cx.selection == Selection::Node(p.id);
        let lit = lit_nodes.contains(&p.id);
        let dimmed = filter_nodes.is_some_and(|f| !f.contains(&p.id));
        let mut stroke = Stroke::new(1.6, kind_color);
        if lit {
            stroke = Stroke::new(2.6, theme.highlight);
        }
        if selected {
            stroke = Stroke::new(3.0, theme.selection);
        }
        // Declared by the broker, nothing seen at it yet: hollow, its outline muted.
        let declared_only = node.declared && node.observations == 0;
        if declared_only && !lit && !selected {
            stroke = Stroke::new(1.2, kind_color.gamma_multiply(0.55));
        }
        let fill = if declared_only {
            Color32::TRANSPARENT
        } else if dimmed {
            theme.node_fill.gamma_multiply(0.5)
        } else {
            theme.node_fill
        };
        draw_shape(&painter, node.kind, r, fill, stroke, theme, zoom);
        let name = cx.store.str(node.name);
        let (inn, errs) = node_in.get(&p.id).copied().unwrap_or((0, 0));
        let out = node_out.get(&p.id).copied().unwrap_or(0);
        let sub = match node.kind {
            NodeKind::Service => format!("calls in {} · out {}", fmt_count(inn), fmt_count(out)),
            NodeKind::Producer => format!("published {}", fmt_count(out)),
            NodeKind::Channel => format!("in {} · out {}", fmt_count(inn), fmt_count(out)),
            NodeKind::Handler if declared_only && inn == 0 => "declared · nothing seen".into(),
            NodeKind::Handler => {
                if errs > 0 {
                    format!("recv {} · {} failed", fmt_count(inn), fmt_count(errs))
                } else {
                    format!("received {}", fmt_count(inn))
                }
            }
            NodeKind::Store => format!("writes {}", fmt_count(inn)),
            NodeKind::DeadLetter => format!("dead letters {}", fmt_count(inn)),
        };
        let tag = match node.kind {
            NodeKind::Service => "service",
            NodeKind::Producer => "producer",
            NodeKind::Channel => "channel",
            NodeKind::Handler => "λ handler",
            NodeKind::Store => "store",
            NodeKind::DeadLetter => "✉ dead-letter",
        };
        let fs = (13.0 * zoom).clamp(8.0, 15.0);
        let text_color = if dimmed { theme.text_weak } else { theme.text };
        let name_galley = painter.layout(
            name.to_string(),
            FontId::proportional(fs),
            text_color,
            r.width() - 16.0 * zoom,
        );
        let name_galley = if name_galley.rows.len() > 1 {
            painter.layout_no_wrap(elide(name, 20), FontId::proportional(fs), text_color)
        } else {
            name_galley
        };
        painter.text(
            r.left_top() + vec2(8.0, 4.0) * zoom,
            Align2::LEFT_TOP,
            tag,
            FontId::proportional((10.0 * zoom).clamp(7.0, 11.0)),
            kind_color,
        );
        painter.galley(
            pos2(
                c.x - name_galley.size().x / 2.0,
                c.y - name_galley.size().y / 2.0 + 1.0 * zoom,
            ),
            name_galley,
            text_color,
        );
        painter.text(
            pos2(c.x, r.bottom() - 5.0 * zoom),
            Align2::CENTER_BOTTOM,
            sub,
            FontId::proportional((10.5 * zoom).clamp(7.0, 12.0)),
            if errs > 0 {
                theme.error
            } else {
                theme.text_weak
            },
        );
        let id = ui.scope_id().with(("node", p.id));
        let resp = ui.interact(r, id, Sense::click());
        resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, name));
        let resp = resp.on_hover_ui(|ui| {
            ui.strong(name);
            ui.label(format!(
                "{} · {} observations",
                node.kind.as_str(),
                fmt_count(node.observations)
            ));
            if node.handled > 0 {
                ui.label(format!(
                    "handled {} · failed {} · cold starts {}",
                    node.handled, node.failures, node.cold_starts
                ));
            }
        });
        if resp.clicked() {
            cmds.push(Command::Select(Selection::Node(p.id)));
        }
    }

    // Edge labels over every curve and node (never covered), each where no node and no other label is: the middle
    // of its edge when that is free, else the free point nearest the middle, else the
    // least covered one.
    let node_rects: Vec<Rect> = layout
        .nodes
        .iter()
        .filter_map(|p| pos.get(&p.id))
        .map(|&c| Rect::from_center_size(c, node_size).expand(3.0))
        .collect();
    let mut placed: Vec<Rect> = Vec::with_capacity(labels.len());
    for l in labels {
        let label_rect = place_label(&l.bez, l.size, &node_rects, &placed);
        placed.push(label_rect);
        painter.rect_filled(label_rect, 3.0, theme.canvas.gamma_multiply(0.92));
        if l.selected {
            painter.rect_stroke(
                label_rect,
                3.0,
                Stroke::new(2.0, theme.selection),
                StrokeKind::Outside,
            );
        }
        let mut y = label_rect.top() + 1.0;
        for g in l.galleys {
            let gh = g.size().y;
            painter.galley(
                pos2(label_rect.center().x - g.size().x / 2.0, y),
                g,
                theme.text,
            );
            y += gh;
        }
        let (from, to) = l.key;
        let id = ui.scope_id().with(("edge", from, to));
        let r = ui.interact(label_rect, id, Sense::click());
        let name = format!(
            "edge {} → {}",
            cx.store.node_name(from),
            cx.store.node_name(to)
        );
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
        if r.clicked() {
            cmds.push(Command::Select(Selection::Edge(from, to)));
        }
    }

    if response.clicked() {
        match hovered_edge {
            Some((_, (a, b))) => cmds.push(Command::Select(Selection::Edge(a, b))),
            None => cmds.push(Command::Select(Selection::None)),
        }
    }
    rect
}

/// Reverse-DNS types (`com.example.shop.OrderPlaced`) by their last segment.
fn short_type(t: &str) -> &str {
    t.rsplit(['.', '/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or(t)
}

fn elide(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// Node shapes after PlantUML's EDA diagrams.
fn draw_shape(
    painter: &egui::Painter,
    kind: NodeKind,
    r: Rect,
    fill: Color32,
    stroke: Stroke,
    theme: &Theme,
    zoom: f32,
) {
    match kind {
        NodeKind::Service | NodeKind::Producer | NodeKind::Handler => {
            painter.rect_filled(r, CORNER, fill);
            painter.rect_stroke(r, CORNER, stroke, StrokeKind::Inside);
            if kind == NodeKind::Handler {
                // A FaaS handler: a double left border.
                let x = r.left() + 4.0 * zoom;
                painter.line_segment(
                    [pos2(x, r.top() + 4.0), pos2(x, r.bottom() - 4.0)],
                    Stroke::new(1.0, stroke.color),
                );
            }
        }
        NodeKind::Channel | NodeKind::DeadLetter => {
            // A queue: a horizontal cylinder.
            let ry = r.height() / 2.0;
            let rx = (10.0 * zoom).max(4.0);
            let body = Rect::from_min_max(
                pos2(r.left() + rx, r.top()),
                pos2(r.right() - rx, r.bottom()),
            );
            painter.add(Shape::ellipse_filled(
                pos2(body.left(), r.center().y),
                vec2(rx, ry),
                fill,
            ));
            painter.rect_filled(body, 0.0, fill);
            painter.add(Shape::ellipse_filled(
                pos2(body.right(), r.center().y),
                vec2(rx, ry),
                fill,
            ));
            painter.add(Shape::ellipse_stroke(
                pos2(body.right(), r.center().y),
                vec2(rx, ry),
                stroke,
            ));
            half_ellipse(
                painter,
                pos2(body.left(), r.center().y),
                vec2(rx, ry),
                stroke,
                true,
            );
            painter.line_segment([body.left_top(), body.right_top()], stroke);
            painter.line_segment([body.left_bottom(), body.right_bottom()], stroke);
            if kind == NodeKind::DeadLetter {
                let dash = Shape::dashed_line(
                    &[
                        pos2(body.left(), r.bottom() + 4.0),
                        pos2(body.right(), r.bottom() + 4.0),
                    ],
                    Stroke::new(1.5, theme.error),
                    5.0,
                    4.0,
                );
                painter.extend(dash);
            }
        }
        NodeKind::Store => {
            // A database: a vertical cylinder.
            let ry = (7.0 * zoom).max(3.0);
            let body = Rect::from_min_max(
                pos2(r.left(), r.top() + ry),
                pos2(r.right(), r.bottom() - ry),
            );
            let rx = r.width() / 2.0;
            painter.add(Shape::ellipse_filled(
                pos2(r.center().x, body.bottom()),
                vec2(rx, ry),
                fill,
            ));
            painter.rect_filled(body, 0.0, fill);
            painter.add(Shape::ellipse_filled(
                pos2(r.center().x, body.top()),
                vec2(rx, ry),
                fill,
            ));
            painter.add(Shape::ellipse_stroke(
                pos2(r.center().x, body.top()),
                vec2(rx, ry),
                stroke,
            ));
            half_ellipse_v(
                painter,
                pos2(r.center().x, body.bottom()),
                vec2(rx, ry),
                stroke,
            );
            painter.line_segment([body.left_top(), body.left_bottom()], stroke);
            painter.line_segment([body.right_top(), body.right_bottom()], stroke);
        }
    }
}

/// The left half of an ellipse outline (the back of a horizontal cylinder).
fn half_ellipse(painter: &egui::Painter, c: Pos2, r: Vec2, stroke: Stroke, left: bool) {
    let pts: Vec<Pos2> = (0..=16)
        .map(|i| {
            let a = std::f32::consts::FRAC_PI_2 + std::f32::consts::PI * i as f32 / 16.0;
            let x = a.cos() * r.x;
            pos2(c.x + if left { x } else { -x }, c.y - a.sin() * r.y)
        })
        .collect();
    painter.add(PathShape::line(pts, PathStroke::from(stroke)));
}

/// The lower half of an ellipse outline (the bottom of a vertical cylinder).
fn half_ellipse_v(painter: &egui::Painter, c: Pos2, r: Vec2, stroke: Stroke) {
    let pts: Vec<Pos2> = (0..=16)
        .map(|i| {
            let a = std::f32::consts::PI * i as f32 / 16.0;
            pos2(c.x + a.cos() * r.x, c.y + a.sin() * r.y)
        })
        .collect();
    painter.add(PathShape::line(pts, PathStroke::from(stroke)));
}

/// What the edge colours mean in the current colouring (and the dashes, the halo).
fn edge_legend(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    rect: Rect,
    has_calls: bool,
    has_declared: bool,
) {
    let theme = cx.theme;
    ui.scope_builder(
        egui::UiBuilder::new()
            .max_rect(rect.shrink2(vec2(4.0, 2.0)))
            .layout(egui::Layout::left_to_right(egui::Align::Center)),
        |ui| {
            let what = match cx.color_by {
                ColorBy::Errors => "Failed share so far:",
                ColorBy::Latency => "p95 latency of the run:",
            };
            ui.label(egui::RichText::new(what).color(theme.text_weak));
            let swatch = |ui: &mut egui::Ui, color: Color32, dashed: bool| {
                let (r, _) = ui.allocate_exact_size(vec2(22.0, 12.0), Sense::hover());
                let a = pos2(r.left(), r.center().y);
                let b = pos2(r.right(), r.center().y);
                if dashed {
                    ui.painter().extend(Shape::dashed_line(
                        &[a, b],
                        Stroke::new(3.0, color),
                        5.0,
                        3.0,
                    ));
                } else {
                    ui.painter().line_segment([a, b], Stroke::new(4.0, color));
                }
            };
            for (color, label) in theme.edge_legend(cx.color_by) {
                swatch(ui, color, false);
                ui.label(label);
            }
            ui.separator();
            if has_calls {
                swatch(ui, theme.call, true);
                ui.label("call");
            }
            if has_declared {
                swatch(ui, theme.text_weak, true);
                ui.label("declared, nothing seen");
            }
            swatch(ui, theme.selection.gamma_multiply(0.55), false);
            ui.label("selected");
            swatch(ui, theme.highlight, false);
            ui.label("event path");
            ui.label(egui::RichText::new("· width: rate at the cursor").color(theme.text_weak));
        },
    );
}

fn legend(ui: &mut egui::Ui, theme: &Theme) {
    for (kind, label) in [
        (NodeKind::Service, "service"),
        (NodeKind::Producer, "producer"),
        (NodeKind::Channel, "channel"),
        (NodeKind::Handler, "handler"),
        (NodeKind::Store, "store"),
        (NodeKind::DeadLetter, "dead-letter"),
    ] {
        ui.label(egui::RichText::new("■").color(theme.node_color(kind)));
        ui.label(egui::RichText::new(label).small().color(theme.text_weak));
    }
}
