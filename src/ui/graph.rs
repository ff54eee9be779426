//! The flow graph (centre): the layered layout drawn left to right with node shapes by kind
//! (services as rectangles, channels as queues, stores as cylinders, dead-letter queues
//! marked), edges sized by rate and coloured by error rate or latency, events travelling
//! along the edges as dots. Pan (drag), zoom (scroll), fit (double-click or button); click a
//! node or edge to select it. Everything at the cursor comes from binary searches.

use super::theme::{CORNER, NODE_H, NODE_W, Theme};
use super::{ColorBy, Command, Selection, ViewCtx, fmt_count, fmt_duration};
use crate::export::scene::{self, Colouring, EdgeSpec, NodeShape, NodeSpec, Scene};
use crate::export::style::TextClass;
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

/// What an edge says at the cursor.
struct EdgeStat<'a> {
    edge: &'a TopoEdge,
    /// Observations up to the cursor.
    count: u64,
    errors: u64,
    rate_at: crate::analysis::series::RateAt,
}

/// The scene of the graph at the cursor: what each node and edge says (counts so far,
/// rates at the cursor, the run's p95), routed and placed by the engine
/// ([`crate::export::scene`]), as the SVG export draws it.
fn scene_of(
    cx: &ViewCtx<'_>,
    stats: &[EdgeStat<'_>],
    node_in: &FxHashMap<NodeId, (u64, u64)>,
    node_out: &FxHashMap<NodeId, u64>,
    label_scale: f32,
) -> Scene {
    let max_rate = stats
        .iter()
        .map(|g| g.rate_at.per_sec)
        .fold(0.0f64, f64::max);
    let max_count = stats.iter().map(|g| g.count).max().unwrap_or(0).max(1);
    let colouring = match cx.color_by {
        ColorBy::Errors => Colouring::Errors,
        ColorBy::Latency => Colouring::Latency,
    };
    let edges = stats
        .iter()
        .map(|g| {
            let e = g.edge;
            let types: Vec<&str> = e.types.iter().map(|(s, _)| cx.store.str(*s)).collect();
            let p95 = e
                .latency
                .as_ref()
                .and_then(LatencySummary::of)
                .map(|s| s.p95);
            let weight = if max_rate > 0.0 {
                (g.rate_at.per_sec / max_rate).sqrt()
            } else {
                (g.count as f64 / max_count as f64).sqrt() * 0.5
            } as f32;
            // Scopes: the count is what crossed the edge up to the cursor, the rate is at
            // the cursor (its window named), the p95 is of the whole run.
            let r = &g.rate_at;
            let mut lines = vec![
                (scene::edge_types_line(&types, e.stage), TextClass::Normal),
                (
                    format!(
                        "{} so far · {} ({})",
                        fmt_count(g.count),
                        crate::analysis::series::fmt_rate(r.per_sec),
                        crate::analysis::series::fmt_window(r.window)
                    ),
                    TextClass::Weak,
                ),
            ];
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
            if let Some(p) = p95 {
                extra.push(format!("run p95 {}", fmt_duration((p * 1e6) as i64)));
            }
            lines.extend(scene::figures_line(&extra, g.errors));
            EdgeSpec {
                from: e.from,
                to: e.to,
                stage: e.stage,
                class: scene::edge_class(colouring, e.stage, g.count, g.errors, p95, e.declared),
                weight,
                lines,
                title: types.join(", "),
            }
        })
        .collect();
    let nodes = cx
        .derived
        .layout
        .nodes
        .iter()
        .filter_map(|p| {
            let node = cx.store.topology.node(p.id)?;
            let (inn, errs) = node_in.get(&p.id).copied().unwrap_or((0, 0));
            let out = node_out.get(&p.id).copied().unwrap_or(0);
            let declared_only = node.declared && node.observations == 0;
            Some(NodeSpec {
                id: p.id,
                kind: node.kind,
                name: cx.store.str(node.name).to_string(),
                sub: scene::node_sub_line(node.kind, inn, errs, out, declared_only),
                sub_class: if errs > 0 {
                    TextClass::Error
                } else {
                    TextClass::Weak
                },
                declared_only,
            })
        })
        .collect();
    Scene::build(&cx.derived.layout, nodes, edges, label_scale)
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
    let t = cx.time;
    let filter_nodes = cx.derived.filter.as_ref().map(|f| &f.nodes);
    let laid_out: FxHashSet<NodeId> = layout.nodes.iter().map(|p| p.id).collect();

    // What each edge says at the cursor: counts so far, the rate at the cursor.
    let mut stats: Vec<EdgeStat<'_>> = Vec::new();
    let mut node_in: FxHashMap<NodeId, (u64, u64)> = FxHashMap::default();
    let mut node_out: FxHashMap<NodeId, u64> = FxHashMap::default();
    for edge in cx.store.topology.edges_sorted() {
        if !laid_out.contains(&edge.from) || !laid_out.contains(&edge.to) {
            continue;
        }
        if edge.stage == Stage::Call && !cx.show_calls {
            continue;
        }
        let times = cx.derived.edge_times(cx.store, edge.from, edge.to);
        // What retention folded out is counted too (a filter applies to the kept events).
        let folded = match (&cx.derived.filter, &edge.folded) {
            (None, Some(f)) => f.until(t).0,
            _ => 0,
        };
        let count = folded + times.partition_point(|&x| x <= t) as u64;
        let rate_at = cx.derived.edge_rate(cx.store, edge.from, edge.to, t);
        let errors = edge.errors_until(t);
        let e_in = node_in.entry(edge.to).or_default();
        e_in.0 += count;
        e_in.1 += errors;
        *node_out.entry(edge.from).or_default() += count;
        stats.push(EdgeStat {
            edge,
            count,
            errors,
            rate_at,
        });
    }
    view.drawn_edges = stats.len();

    // Fit the nodes (and room for loops under them and labels around them).
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
    // Labels stay readable zoomed out: drawn at 9.5 px at least, and placed at that size.
    let label_px = (scene::LABEL_SIZE * zoom).clamp(9.5, 13.0);
    let label_scale = label_px / (scene::LABEL_SIZE * zoom);
    let scene = scene_of(cx, &stats, &node_in, &node_out, label_scale);
    let centre = scene::pt((bx0 + bx1) / 2.0, (by0 + by1) / 2.0);
    let origin = rect.center() + view.pan;
    let to_screen = |p: scene::Point| origin + (vec2(p.x, p.y) - vec2(centre.x, centre.y)) * zoom;
    let screen_rect = |r: scene::Rect| Rect::from_min_max(to_screen(r.min), to_screen(r.max));

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

    // Edges first (under the nodes), as the scene routed them.
    let speed = if cx.live { 1.0 } else { cx.time_ctl.speed };
    let dot_window = ((0.9 * speed * NANOS_PER_SEC as f64) as Nanos).max(1);
    let pointer = response.hover_pos();
    let mut hovered_edge: Option<(f32, (NodeId, NodeId))> = None;
    let by_key: FxHashMap<(NodeId, NodeId), &EdgeStat<'_>> = stats
        .iter()
        .map(|g| ((g.edge.from, g.edge.to), g))
        .collect();
    for se in &scene.edges {
        let key = (se.from, se.to);
        let Some(g) = by_key.get(&key) else { continue };
        let e = g.edge;
        let dimmed = filter_nodes.is_some_and(|_| g.count == 0 && e.count > 0);
        let lit = lit_edges.contains(&key);
        let width = se.width * zoom.clamp(0.6, 1.3);
        let mut color = theme.edge_color(se.class);
        if lit {
            color = theme.highlight;
        }
        if dimmed {
            color = color.gamma_multiply(0.25);
        }
        let stroke = Stroke::new(if lit { width + 2.0 } else { width }, color);
        let segments: Vec<[Pos2; 4]> = se.path.iter().map(|seg| seg.map(to_screen)).collect();
        let selected = cx.selection == Selection::Edge(e.from, e.to);
        if selected {
            // The selected edge: a wide halo in the selection colour under it, so it
            // stands out whatever its own colour says.
            for seg in &segments {
                painter.add(CubicBezierShape::from_points_stroke(
                    *seg,
                    false,
                    Color32::TRANSPARENT,
                    Stroke::new(stroke.width + 9.0, theme.selection.gamma_multiply(0.55)),
                ));
            }
        }
        if se.class.dashed() && !lit {
            // Calls are not event flow, declared edges saw nothing yet: dashed.
            let points: Vec<Pos2> = segments
                .iter()
                .flat_map(|seg| {
                    let curve = CubicBezierShape::from_points_stroke(
                        *seg,
                        false,
                        Color32::TRANSPARENT,
                        Stroke::NONE,
                    );
                    (0..=24).map(move |k| curve.sample(k as f32 / 24.0))
                })
                .collect();
            painter.extend(Shape::dashed_line(&points, stroke, 7.0 * zoom, 5.0 * zoom));
        } else {
            for seg in &segments {
                painter.add(CubicBezierShape::from_points_stroke(
                    *seg,
                    false,
                    Color32::TRANSPARENT,
                    stroke,
                ));
            }
        }
        // Arrow head.
        let (tip, dir) = se.arrow();
        let tip = to_screen(tip);
        let dir = vec2(dir.x, dir.y);
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
                let p = to_screen(se.sample(frac.clamp(0.0, 1.0)));
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
            for seg in &se.path {
                for k in 0..=20 {
                    let d = to_screen(scene::cubic(seg, k as f32 / 20.0)).distance(p);
                    if d < 8.0 && hovered_edge.is_none_or(|h| d < h.0) {
                        hovered_edge = Some((d, key));
                    }
                }
            }
        }
    }

    // Nodes.
    for sn in &scene.nodes {
        let Some(node) = cx.store.topology.node(sn.id) else {
            continue;
        };
        let r = screen_rect(sn.rect);
        let kind_color = theme.node_color(node.kind);
        let selected = cx.selection == Selection::Node(sn.id);
        let lit = lit_nodes.contains(&sn.id);
        let dimmed = filter_nodes.is_some_and(|f| !f.contains(&sn.id));
        let mut stroke = Stroke::new(1.6, kind_color);
        if lit {
            stroke = Stroke::new(2.6, theme.highlight);
        }
        if selected {
            stroke = Stroke::new(3.0, theme.selection);
        }
        // Declared by the broker, nothing seen at it yet: hollow, its outline muted.
        if sn.declared_only && !lit && !selected {
            stroke = Stroke::new(1.2, kind_color.gamma_multiply(0.55));
        }
        let fill = if sn.declared_only {
            Color32::TRANSPARENT
        } else if dimmed {
            theme.node_fill.gamma_multiply(0.5)
        } else {
            theme.node_fill
        };
        draw_shape(&painter, sn.shape, r, fill, stroke, theme, zoom);
        let name = cx.store.str(node.name);
        let text_color = |class| {
            if dimmed && class == TextClass::Normal {
                theme.text_weak
            } else {
                theme.text_color(class)
            }
        };
        painter.text(
            to_screen(sn.tag.rect.min),
            Align2::LEFT_TOP,
            &sn.tag.text,
            FontId::proportional((sn.tag.size * zoom).clamp(7.0, 11.0)),
            kind_color,
        );
        painter.text(
            to_screen(sn.name.rect.center()),
            Align2::CENTER_CENTER,
            &sn.name.text,
            FontId::proportional((sn.name.size * zoom).clamp(8.0, 15.0)),
            text_color(sn.name.class),
        );
        painter.text(
            to_screen(sn.sub.rect.center()),
            Align2::CENTER_CENTER,
            &sn.sub.text,
            FontId::proportional((sn.sub.size * zoom).clamp(7.0, 12.0)),
            text_color(sn.sub.class),
        );
        let id = ui.scope_id().with(("node", sn.id));
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
            cmds.push(Command::Select(Selection::Node(sn.id)));
        }
    }

    // Edge labels over every curve and node (never covered), where the scene placed them:
    // the middle of the edge when that covers no node and no other label, else the free
    // point nearest the middle, else the least covered one.
    for se in scene.edges.iter().filter(|_| zoom > 0.4) {
        let Some(l) = &se.label else { continue };
        let dimmed = by_key
            .get(&(se.from, se.to))
            .is_some_and(|g| filter_nodes.is_some() && g.count == 0 && g.edge.count > 0);
        let galleys: Vec<_> = l
            .lines
            .iter()
            .map(|line| {
                let size = line.size * zoom;
                let color = if dimmed && line.class == TextClass::Normal {
                    theme.text_weak
                } else {
                    theme.text_color(line.class)
                };
                painter.layout_no_wrap(line.text.clone(), FontId::proportional(size), color)
            })
            .collect();
        let text_w = galleys.iter().map(|g| g.size().x).fold(0.0, f32::max) + 8.0;
        let text_h: f32 = galleys.iter().map(|g| g.size().y).sum::<f32>() + 2.0;
        let scaled = screen_rect(l.rect);
        let label_rect = Rect::from_center_size(
            scaled.center(),
            vec2(scaled.width().max(text_w), scaled.height().max(text_h)),
        );
        let selected = cx.selection == Selection::Edge(se.from, se.to);
        painter.rect_filled(label_rect, 3.0, theme.canvas.gamma_multiply(0.92));
        if selected {
            painter.rect_stroke(
                label_rect,
                3.0,
                Stroke::new(2.0, theme.selection),
                StrokeKind::Outside,
            );
        }
        let mut y = label_rect.center().y - (text_h - 2.0) / 2.0;
        for g in galleys {
            let gh = g.size().y;
            painter.galley(
                pos2(label_rect.center().x - g.size().x / 2.0, y),
                g,
                theme.text,
            );
            y += gh;
        }
        let (from, to) = (se.from, se.to);
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

/// Node shapes after PlantUML's EDA diagrams.
fn draw_shape(
    painter: &egui::Painter,
    shape: NodeShape,
    r: Rect,
    fill: Color32,
    stroke: Stroke,
    theme: &Theme,
    zoom: f32,
) {
    match shape {
        NodeShape::Box | NodeShape::Handler => {
            painter.rect_filled(r, CORNER, fill);
            painter.rect_stroke(r, CORNER, stroke, StrokeKind::Inside);
            if shape == NodeShape::Handler {
                // A FaaS handler: a double left border.
                let x = r.left() + 4.0 * zoom;
                painter.line_segment(
                    [pos2(x, r.top() + 4.0), pos2(x, r.bottom() - 4.0)],
                    Stroke::new(1.0, stroke.color),
                );
            }
        }
        NodeShape::Queue | NodeShape::DeadLetter => {
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
            if shape == NodeShape::DeadLetter {
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
        NodeShape::Database => {
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
