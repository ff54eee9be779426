//! The flow diagram as a renderer-neutral scene: node boxes and shapes by kind, the texts in
//! them, edge paths routed around the nodes, edge labels measured and placed where they
//! cover no node and no other label, and style classes the painter resolves to colours
//! (`style::Palette` for the SVG, `ui::theme` for the app). The app's graph and the SVG
//! writer both draw this, so an export looks like the app.
//!
//! Coordinates are layout units (the app scales them by its zoom); y grows downwards.
//!
//! Routing: an edge to the next layer is one curve across the gap between the two
//! columns. A longer edge crosses every column in between on a horizontal run at a height
//! where that column has no node (Sugiyama's dummy points, one per intermediate layer),
//! so it never passes behind a node. An edge backwards (a loop) or within a layer leaves
//! its source to the right, runs below every node of the layers it spans, and enters its
//! target from the left. Columns hold the nodes and gaps hold the curves, which is what
//! keeps every path off every node box but its own two.

use super::layout::{GraphLayout, LAYER_GAP};
use super::measure;
use super::style::{EdgeClass, TextClass};
use crate::model::{LatencySummary, NodeId, NodeKind, Stage, Store};
use rustc_hash::FxHashMap;

/// A node's box, in layout units.
pub const NODE_W: f32 = 156.0;
pub const NODE_H: f32 = 58.0;
/// Rounded corners of box-shaped nodes.
pub const CORNER: f32 = 6.0;
/// Clearance kept between a routed edge and a node box.
const CLEARANCE: f32 = 10.0;
/// Vertical distance between parallel runs through one column or below the nodes.
const LANE: f32 = 9.0;

/// Text sizes (pixels per em at zoom 1), as the app draws them.
pub const TAG_SIZE: f32 = 10.0;
pub const NAME_SIZE: f32 = 13.0;
pub const SUB_SIZE: f32 = 10.5;
pub const LABEL_SIZE: f32 = 11.0;
pub const LABEL_DETAIL_SIZE: f32 = 10.0;

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

pub const fn pt(x: f32, y: f32) -> Point {
    Point { x, y }
}

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Rect {
    pub min: Point,
    pub max: Point,
}

impl Rect {
    pub fn from_center_size(c: Point, w: f32, h: f32) -> Rect {
        Rect {
            min: pt(c.x - w / 2.0, c.y - h / 2.0),
            max: pt(c.x + w / 2.0, c.y + h / 2.0),
        }
    }
    pub fn width(&self) -> f32 {
        self.max.x - self.min.x
    }
    pub fn height(&self) -> f32 {
        self.max.y - self.min.y
    }
    pub fn center(&self) -> Point {
        pt(
            (self.min.x + self.max.x) / 2.0,
            (self.min.y + self.max.y) / 2.0,
        )
    }
    pub fn expand(&self, m: f32) -> Rect {
        Rect {
            min: pt(self.min.x - m, self.min.y - m),
            max: pt(self.max.x + m, self.max.y + m),
        }
    }
    /// Strictly inside (a point on the border is outside).
    pub fn contains(&self, p: Point) -> bool {
        p.x > self.min.x && p.x < self.max.x && p.y > self.min.y && p.y < self.max.y
    }
    /// The area both boxes cover.
    pub fn overlap(&self, o: &Rect) -> f32 {
        let w = self.max.x.min(o.max.x) - self.min.x.max(o.min.x);
        let h = self.max.y.min(o.max.y) - self.min.y.max(o.min.y);
        if w > 0.0 && h > 0.0 { w * h } else { 0.0 }
    }
    fn union(&self, o: &Rect) -> Rect {
        Rect {
            min: pt(self.min.x.min(o.min.x), self.min.y.min(o.min.y)),
            max: pt(self.max.x.max(o.max.x), self.max.y.max(o.max.y)),
        }
    }
}

/// How a node is drawn (after PlantUML's EDA diagrams).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeShape {
    /// A rounded box (services, producers).
    Box,
    /// A rounded box with a double left border (a FaaS handler).
    Handler,
    /// A horizontal cylinder (a channel, a queue).
    Queue,
    /// A horizontal cylinder underlined with a red dashed line.
    DeadLetter,
    /// A vertical cylinder (a database).
    Database,
}

impl NodeShape {
    pub fn of(kind: NodeKind) -> NodeShape {
        match kind {
            NodeKind::Service | NodeKind::Producer => NodeShape::Box,
            NodeKind::Handler => NodeShape::Handler,
            NodeKind::Channel => NodeShape::Queue,
            NodeKind::DeadLetter => NodeShape::DeadLetter,
            NodeKind::Store => NodeShape::Database,
        }
    }
}

/// One line of text and the box it takes (measured with the app's font).
#[derive(Clone, Debug, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// Pixels per em at zoom 1.
    pub size: f32,
    pub class: TextClass,
    /// Left, top, measured width and line height.
    pub rect: Rect,
}

impl TextLine {
    fn at(text: String, size: f32, class: TextClass, left: f32, top: f32) -> TextLine {
        let w = measure::text_width(&text, size);
        let h = measure::line_height(size);
        TextLine {
            text,
            size,
            class,
            rect: Rect {
                min: pt(left, top),
                max: pt(left + w, top + h),
            },
        }
    }

    /// Centred on `cx`.
    fn centred(text: String, size: f32, class: TextClass, cx: f32, top: f32) -> TextLine {
        let w = measure::text_width(&text, size);
        TextLine::at(text, size, class, cx - w / 2.0, top)
    }

    /// Where the baseline of the text goes (for painters that place text by baseline).
    pub fn baseline(&self) -> f32 {
        self.rect.min.y + self.size * 0.96
    }
}

/// What a node says, before it is placed.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: NodeId,
    pub kind: NodeKind,
    pub name: String,
    /// The line under the name (`received 1,204 · 3 failed`).
    pub sub: String,
    pub sub_class: TextClass,
    /// Declared by a broker, nothing seen at it yet (drawn hollow).
    pub declared_only: bool,
}

/// What an edge says, before it is routed.
#[derive(Clone, Debug)]
pub struct EdgeSpec {
    pub from: NodeId,
    pub to: NodeId,
    pub stage: Stage,
    pub class: EdgeClass,
    /// 0..=1: the share of the busiest edge's rate (drawn as width).
    pub weight: f32,
    /// The label's lines; none for no label.
    pub lines: Vec<(String, TextClass)>,
    /// The whole story of the edge (all its types), for tooltips.
    pub title: String,
}

#[derive(Clone, Debug)]
pub struct SceneNode {
    pub id: NodeId,
    pub kind: NodeKind,
    pub shape: NodeShape,
    pub rect: Rect,
    /// The full name (the drawn one may be elided).
    pub full_name: String,
    pub tag: TextLine,
    pub name: TextLine,
    pub sub: TextLine,
    pub declared_only: bool,
}

#[derive(Clone, Debug)]
pub struct EdgeLabel {
    pub rect: Rect,
    pub lines: Vec<TextLine>,
}

#[derive(Clone, Debug)]
pub struct SceneEdge {
    pub from: NodeId,
    pub to: NodeId,
    pub stage: Stage,
    pub class: EdgeClass,
    /// Stroke width at zoom 1.
    pub width: f32,
    /// Joined cubic Bézier segments: each segment's start, two control points and end.
    pub path: Vec<[Point; 4]>,
    pub label: Option<EdgeLabel>,
    pub title: String,
}

impl SceneEdge {
    /// The point at `t` in 0..=1 along the whole path (segment by segment).
    pub fn sample(&self, t: f32) -> Point {
        let n = self.path.len();
        if n == 0 {
            return Point::default();
        }
        let s = (t.clamp(0.0, 1.0) * n as f32).min(n as f32 - 1e-4);
        let i = (s.floor() as usize).min(n - 1);
        cubic(&self.path[i], s - i as f32)
    }

    /// The tip of the arrow and its direction (unit vector).
    pub fn arrow(&self) -> (Point, Point) {
        let Some(last) = self.path.last() else {
            return (Point::default(), pt(1.0, 0.0));
        };
        let tip = last[3];
        let from = if dist(last[2], tip) > 1e-3 {
            last[2]
        } else {
            last[0]
        };
        let (dx, dy) = (tip.x - from.x, tip.y - from.y);
        let len = (dx * dx + dy * dy).sqrt().max(1e-6);
        (tip, pt(dx / len, dy / len))
    }
}

/// The point at `t` of one cubic segment.
pub fn cubic(p: &[Point; 4], t: f32) -> Point {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    pt(
        a * p[0].x + b * p[1].x + c * p[2].x + d * p[3].x,
        a * p[0].y + b * p[1].y + c * p[2].y + d * p[3].y,
    )
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// The whole diagram.
#[derive(Clone, Debug, Default)]
pub struct Scene {
    pub nodes: Vec<SceneNode>,
    pub edges: Vec<SceneEdge>,
    /// Everything drawn (nodes, paths, labels), with a margin.
    pub bounds: Rect,
}

impl Scene {
    /// Places `nodes` where `layout` says, routes `edges` around them and places their
    /// labels. Nodes or edges the layout does not have are left out. `label_scale` sizes
    /// the edge labels' text (1 for an export; the app, which keeps labels readable when
    /// zoomed out, gives the factor its zoom enlarges them by, so they are placed at the
    /// size they are drawn).
    pub fn build(
        layout: &GraphLayout,
        nodes: Vec<NodeSpec>,
        edges: Vec<EdgeSpec>,
        label_scale: f32,
    ) -> Scene {
        let placed: FxHashMap<NodeId, (u32, Point)> = layout
            .nodes
            .iter()
            .map(|p| (p.id, (p.layer, pt(p.x, p.y))))
            .collect();
        let mut scene_nodes: Vec<SceneNode> = nodes
            .into_iter()
            .filter_map(|n| {
                let &(_, c) = placed.get(&n.id)?;
                Some(place_node(n, c))
            })
            .collect();
        scene_nodes.sort_by_key(|n| n.id);
        let mut router = Router::new(layout);
        let mut scene_edges: Vec<SceneEdge> = Vec::with_capacity(edges.len());
        for e in edges {
            let (Some(&(la, a)), Some(&(lb, b))) = (placed.get(&e.from), placed.get(&e.to)) else {
                continue;
            };
            let path = router.route(la, a, lb, b);
            scene_edges.push(SceneEdge {
                from: e.from,
                to: e.to,
                stage: e.stage,
                class: e.class,
                width: 1.2 + 6.0 * e.weight.clamp(0.0, 1.0),
                path,
                label: (!e.lines.is_empty()).then(|| measure_label(e.lines, label_scale)),
                title: e.title,
            });
        }
        // Labels: each where it covers no node and no label placed before it.
        let node_rects: Vec<Rect> = scene_nodes.iter().map(|n| n.rect.expand(3.0)).collect();
        let mut taken: Vec<Rect> = Vec::new();
        for e in &mut scene_edges {
            if let Some(label) = &mut e.label {
                let size = (label.rect.width(), label.rect.height());
                let r = place_label(e_path_sampler(&e.path), size, &node_rects, &taken);
                let (dx, dy) = (r.min.x - label.rect.min.x, r.min.y - label.rect.min.y);
                label.rect = r;
                for l in &mut label.lines {
                    l.rect.min.x += dx;
                    l.rect.max.x += dx;
                    l.rect.min.y += dy;
                    l.rect.max.y += dy;
                }
                taken.push(r);
            }
        }
        let mut bounds: Option<Rect> = None;
        let mut grow = |r: Rect| bounds = Some(bounds.map_or(r, |b| b.union(&r)));
        for n in &scene_nodes {
            grow(n.rect.expand(6.0));
            grow(n.name.rect);
        }
        for e in &scene_edges {
            for seg in &e.path {
                for p in seg {
                    grow(Rect { min: *p, max: *p });
                }
            }
            if let Some(l) = &e.label {
                grow(l.rect);
            }
        }
        Scene {
            nodes: scene_nodes,
            edges: scene_edges,
            bounds: bounds.unwrap_or_default().expand(20.0),
        }
    }

    pub fn node(&self, id: NodeId) -> Option<&SceneNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

fn e_path_sampler(path: &[[Point; 4]]) -> impl Fn(f32) -> Point + '_ {
    move |t| {
        let n = path.len();
        if n == 0 {
            return Point::default();
        }
        let s = (t.clamp(0.0, 1.0) * n as f32).min(n as f32 - 1e-4);
        let i = (s.floor() as usize).min(n - 1);
        cubic(&path[i], s - i as f32)
    }
}

fn place_node(n: NodeSpec, c: Point) -> SceneNode {
    let rect = Rect::from_center_size(c, NODE_W, NODE_H);
    let tag = match n.kind {
        NodeKind::Service => "service",
        NodeKind::Producer => "producer",
        NodeKind::Channel => "channel",
        NodeKind::Handler => "λ handler",
        NodeKind::Store => "store",
        NodeKind::DeadLetter => "✉ dead-letter",
    };
    let tag = TextLine::at(
        tag.to_string(),
        TAG_SIZE,
        TextClass::Kind(n.kind),
        rect.min.x + 8.0,
        rect.min.y + 4.0,
    );
    let shown = one_line(&n.name);
    let shown = measure::elide_to(&shown, NAME_SIZE, NODE_W - 16.0);
    let name_h = measure::line_height(NAME_SIZE);
    let name_class = if n.declared_only {
        TextClass::Weak
    } else {
        TextClass::Normal
    };
    let name = TextLine::centred(shown, NAME_SIZE, name_class, c.x, c.y - name_h / 2.0 + 1.0);
    let sub_h = measure::line_height(SUB_SIZE);
    let sub = TextLine::centred(n.sub, SUB_SIZE, n.sub_class, c.x, rect.max.y - 5.0 - sub_h);
    SceneNode {
        id: n.id,
        kind: n.kind,
        shape: NodeShape::of(n.kind),
        rect,
        full_name: n.name,
        tag,
        name,
        sub,
        declared_only: n.declared_only,
    }
}

/// A label's lines stacked and centred, its box 8 wider and 2 taller than the text (as the
/// app's), at the origin until placed.
fn measure_label(lines: Vec<(String, TextClass)>, scale: f32) -> EdgeLabel {
    let mut measured = Vec::with_capacity(lines.len());
    let mut y = 1.0;
    for (i, (text, class)) in lines.into_iter().enumerate() {
        let size = scale
            * if i == 0 {
                LABEL_SIZE
            } else {
                LABEL_DETAIL_SIZE
            };
        let l = TextLine::at(one_line(&text), size, class, 0.0, y);
        y += l.rect.height();
        measured.push(l);
    }
    let w = measured.iter().map(|l| l.rect.width()).fold(0.0, f32::max) + 8.0;
    let h = y + 1.0;
    for l in &mut measured {
        let lw = l.rect.width();
        l.rect.min.x = (w - lw) / 2.0;
        l.rect.max.x = l.rect.min.x + lw;
    }
    EdgeLabel {
        rect: Rect {
            min: pt(0.0, 0.0),
            max: pt(w, h),
        },
        lines: measured,
    }
}

/// Where along its path a label of `size` goes: the first point, from the middle outwards
/// (on the path, then just above or below it), where it covers no node and no label
/// placed before; failing that, the point where it covers least.
fn place_label(
    at: impl Fn(f32) -> Point,
    size: (f32, f32),
    nodes: &[Rect],
    placed: &[Rect],
) -> Rect {
    const TS: [f32; 9] = [0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82];
    let overlap = |r: &Rect| -> f32 { nodes.iter().chain(placed).map(|o| r.overlap(o)).sum() };
    let mut best: Option<(f32, Rect)> = None;
    let shift = size.1 * 0.5 + 4.0;
    for dy in [0.0, -shift, shift] {
        for t in TS {
            let c = at(t);
            let r = Rect::from_center_size(pt(c.x, c.y + dy), size.0, size.1);
            let o = overlap(&r);
            if o <= 0.0 {
                return r;
            }
            let o = if dy == 0.0 { o } else { o * 1.5 };
            if best.is_none_or(|(b, _)| o < b) {
                best = Some((o, r));
            }
        }
    }
    best.map_or_else(
        || Rect::from_center_size(at(0.5), size.0, size.1),
        |(_, r)| r,
    )
}

/// Routes edges between placed nodes (see the module docs).
struct Router {
    /// Per layer: its column's centre x and its nodes' vertical extents, top first.
    columns: Vec<(f32, Vec<(f32, f32)>)>,
    /// Heights already taken by runs through each column.
    used: Vec<Vec<f32>>,
    /// Runs below the nodes so far.
    below_runs: u32,
}

impl Router {
    fn new(layout: &GraphLayout) -> Router {
        let mut columns: Vec<(f32, Vec<(f32, f32)>)> = (0..layout.layers)
            .map(|l| (l as f32 * LAYER_GAP, Vec::new()))
            .collect();
        for p in &layout.nodes {
            if let Some(c) = columns.get_mut(p.layer as usize) {
                c.0 = p.x;
                c.1.push((p.y - NODE_H / 2.0, p.y + NODE_H / 2.0));
            }
        }
        for c in &mut columns {
            c.1.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let used = vec![Vec::new(); columns.len()];
        Router {
            columns,
            used,
            below_runs: 0,
        }
    }

    fn route(&mut self, la: u32, a: Point, lb: u32, b: Point) -> Vec<[Point; 4]> {
        let start = pt(a.x + NODE_W / 2.0, a.y);
        let end = pt(b.x - NODE_W / 2.0, b.y);
        if lb > la && end.x > start.x {
            // Forward: across each gap, through each column in between at a free height.
            let mut ports = vec![start];
            for l in la + 1..lb {
                let f = (l - la) as f32 / (lb - la) as f32;
                let want = a.y + (b.y - a.y) * f;
                let y = self.free_height(l as usize, want);
                let x = self.columns.get(l as usize).map_or(0.0, |c| c.0);
                ports.push(pt(x - NODE_W / 2.0, y));
                ports.push(pt(x + NODE_W / 2.0, y));
            }
            ports.push(end);
            let mut path = Vec::with_capacity(ports.len() - 1);
            for (i, w) in ports.windows(2).enumerate() {
                let (p, q) = (w[0], w[1]);
                if i % 2 == 0 {
                    // A gap: a curve leaving and arriving horizontally.
                    let dx = (q.x - p.x) * 0.5;
                    path.push([p, pt(p.x + dx, p.y), pt(q.x - dx, q.y), q]);
                } else {
                    // A column: a straight run.
                    let d = ((q.x - p.x) / 3.0, (q.y - p.y) / 3.0);
                    path.push([p, pt(p.x + d.0, p.y + d.1), pt(q.x - d.0, q.y - d.1), q]);
                }
            }
            path
        } else {
            // Backwards or within a layer: out to the right, below every node of the
            // layers spanned, in from the left.
            let (lo, hi) = (la.min(lb) as usize, la.max(lb) as usize);
            let bottom = self
                .columns
                .get(lo..=hi)
                .into_iter()
                .flatten()
                .flat_map(|c| c.1.iter().map(|r| r.1))
                .fold(a.y.max(b.y) + NODE_H / 2.0, f32::max);
            let y = bottom + CLEARANCE + 12.0 + self.below_runs as f32 * LANE;
            self.below_runs += 1;
            let g = (LAYER_GAP - NODE_W) * 0.45;
            let p1 = pt(start.x, y);
            let p2 = pt(end.x, y);
            let d = (p2.x - p1.x) / 3.0;
            vec![
                [start, pt(start.x + g, start.y), pt(p1.x + g, y), p1],
                [p1, pt(p1.x + d, y), pt(p2.x - d, y), p2],
                [p2, pt(p2.x - g, y), pt(end.x - g, end.y), end],
            ]
        }
    }

    /// A height in column `l` clear of its nodes (by [`CLEARANCE`]) and of the runs through
    /// it so far, nearest `want`.
    fn free_height(&mut self, l: usize, want: f32) -> f32 {
        let Some((_, blocks)) = self.columns.get(l) else {
            return want;
        };
        let used = self.used.get(l).map(Vec::as_slice).unwrap_or_default();
        let blocked = |y: f32| {
            blocks
                .iter()
                .any(|&(t, b)| y > t - CLEARANCE && y < b + CLEARANCE)
                || used.iter().any(|&u| (u - y).abs() < LANE)
        };
        // Candidates: the wish, then the edges of every blocked stretch, nearest first.
        let mut candidates = vec![want];
        for &(t, b) in blocks {
            candidates.push(t - CLEARANCE - 0.5);
            candidates.push(b + CLEARANCE + 0.5);
        }
        for &u in used {
            candidates.push(u - LANE);
            candidates.push(u + LANE);
        }
        let mut y = want;
        for _ in 0..4 {
            candidates.sort_by(|p, q| (p - want).abs().total_cmp(&(q - want).abs()));
            match candidates.iter().find(|&&c| !blocked(c)) {
                Some(&c) => {
                    y = c;
                    break;
                }
                None => {
                    // Every candidate taken: try further out.
                    let extra: Vec<f32> = candidates.iter().map(|c| c + LANE * 2.0).collect();
                    candidates.extend(extra);
                }
            }
        }
        if let Some(u) = self.used.get_mut(l) {
            u.push(y);
        }
        y
    }
}

/// A name on one line: line breaks and other control characters become spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Reverse-DNS types (`com.example.shop.OrderPlaced`) by their last segment.
pub fn short_type(t: &str) -> &str {
    t.rsplit(['.', '/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or(t)
}

/// An edge label's first line, as the app writes it: up to two types (event types by
/// The last line of an edge label: its figures (errors, p95...), in the warning colour
/// when any failed; none when there are no figures.
pub fn figures_line(figures: &[String], errors: u64) -> Option<(String, TextClass)> {
    let class = if errors > 0 {
        TextClass::Warn
    } else {
        TextClass::Weak
    };
    (!figures.is_empty()).then(|| (figures.join(" · "), class))
}

/// their last segment, a call's name whole), `+N` for the rest, or the stage.
pub fn edge_types_line(types: &[&str], stage: Stage) -> String {
    let shown: Vec<&str> = types
        .iter()
        .take(2)
        .map(|&t| {
            if stage == Stage::Call {
                t
            } else {
                short_type(t)
            }
        })
        .collect();
    let mut line = shown.join(", ");
    if types.len() > 2 {
        line.push_str(&format!(" +{}", types.len() - 2));
    }
    if line.is_empty() {
        line = stage.as_str().to_string();
    }
    line
}

/// The line under a node's name: what came in and went out, as the app writes it.
pub fn node_sub_line(kind: NodeKind, inn: u64, errs: u64, out: u64, declared_only: bool) -> String {
    match kind {
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
    }
}

/// A count with thousands separators.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in nanoseconds for people.
pub fn fmt_duration(ns: i64) -> String {
    let ms = ns as f64 / 1e6;
    if ns < 0 {
        "–".into()
    } else if ms < 1.0 {
        format!("{:.0} µs", ns as f64 / 1e3)
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// How the edges of an export are coloured (the app's "Colour edges by").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Colouring {
    #[default]
    Errors,
    Latency,
}

/// The edge class of an edge with `count` observations, `errors` failures, and latency.
pub fn edge_class(
    colouring: Colouring,
    stage: Stage,
    count: u64,
    errors: u64,
    p95_ms: Option<f64>,
    declared: bool,
) -> EdgeClass {
    let mut class = match colouring {
        Colouring::Errors => {
            if stage == Stage::DeadLetter && count > 0 {
                EdgeClass::Error
            } else {
                EdgeClass::of_error_rate(errors as f64 / count.max(1) as f64)
            }
        }
        Colouring::Latency => p95_ms.map_or(EdgeClass::Neutral, EdgeClass::of_latency),
    };
    if stage == Stage::Call && errors == 0 {
        class = EdgeClass::Call;
    }
    if declared && count == 0 {
        class = EdgeClass::Declared;
    }
    class
}

/// The scene of a whole store, as an export draws it: every node and edge of its
/// topology with their totals (the graph at the end of what the store holds), laid out as
/// the app lays it out.
pub fn of_store(store: &Store, colouring: Colouring, show_calls: bool) -> Scene {
    let layout = GraphLayout::of_store(store);
    let edges: Vec<_> = store
        .topology
        .edges_sorted()
        .into_iter()
        .filter(|e| show_calls || e.stage != Stage::Call)
        .collect();
    let max_count = edges.iter().map(|e| e.count).max().unwrap_or(0).max(1);
    let mut node_in: FxHashMap<NodeId, (u64, u64)> = FxHashMap::default();
    let mut node_out: FxHashMap<NodeId, u64> = FxHashMap::default();
    let mut specs = Vec::with_capacity(edges.len());
    for e in &edges {
        let i = node_in.entry(e.to).or_default();
        i.0 += e.count;
        i.1 += e.errors;
        *node_out.entry(e.from).or_default() += e.count;
        let types: Vec<&str> = e.types.iter().map(|(s, _)| store.str(*s)).collect();
        let p95 = e
            .latency
            .as_ref()
            .and_then(LatencySummary::of)
            .map(|s| s.p95);
        let mut lines = vec![(edge_types_line(&types, e.stage), TextClass::Normal)];
        let noun = if e.count == 1 { "event" } else { "events" };
        lines.push((format!("{} {noun}", fmt_count(e.count)), TextClass::Weak));
        let mut extra = Vec::new();
        if e.errors > 0 {
            extra.push(format!("{} err", fmt_count(e.errors)));
        }
        if let Some(p) = p95 {
            extra.push(format!("p95 {}", fmt_duration((p * 1e6) as i64)));
        }
        lines.extend(figures_line(&extra, e.errors));
        specs.push(EdgeSpec {
            from: e.from,
            to: e.to,
            stage: e.stage,
            class: edge_class(colouring, e.stage, e.count, e.errors, p95, e.declared),
            weight: (e.count as f32 / max_count as f32).sqrt(),
            lines,
            title: format!(
                "{} → {}: {}",
                store.node_name(e.from),
                store.node_name(e.to),
                types.join(", ")
            ),
        });
    }
    let nodes = layout
        .nodes
        .iter()
        .filter_map(|p| {
            let n = store.topology.node(p.id)?;
            let (inn, errs) = node_in.get(&p.id).copied().unwrap_or((0, 0));
            let out = node_out.get(&p.id).copied().unwrap_or(0);
            let declared_only = n.declared && n.observations == 0;
            Some(NodeSpec {
                id: p.id,
                kind: n.kind,
                name: store.str(n.name).to_string(),
                sub: node_sub_line(n.kind, inn, errs, out, declared_only),
                sub_class: if errs > 0 {
                    TextClass::Error
                } else {
                    TextClass::Weak
                },
                declared_only,
            })
        })
        .collect();
    Scene::build(&layout, nodes, specs, 1.0)
}

/// Where a scene's edge paths enter a node box other than their own two ends: none when
/// the routing holds. Each path is sampled `steps` times per segment.
pub fn crossings(scene: &Scene, steps: usize) -> Vec<(NodeId, NodeId, NodeId)> {
    let mut out = Vec::new();
    for e in &scene.edges {
        for n in &scene.nodes {
            if n.id == e.from || n.id == e.to {
                continue;
            }
            let hit = e.path.iter().any(|seg| {
                (0..=steps).any(|k| n.rect.contains(cubic(seg, k as f32 / steps as f32)))
            });
            if hit {
                out.push((e.from, e.to, n.id));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::layout::LayoutKey;

    fn spec(from: u32, to: u32) -> EdgeSpec {
        EdgeSpec {
            from: NodeId(from),
            to: NodeId(to),
            stage: Stage::Deliver,
            class: EdgeClass::Neutral,
            weight: 0.5,
            lines: vec![("OrderPlaced".into(), TextClass::Normal)],
            title: String::new(),
        }
    }

    fn node(id: u32) -> NodeSpec {
        NodeSpec {
            id: NodeId(id),
            kind: NodeKind::Service,
            name: format!("node {id}"),
            sub: String::new(),
            sub_class: TextClass::Weak,
            declared_only: false,
        }
    }

    #[test]
    fn long_and_back_edges_pass_no_node() {
        // 0 -> 1 -> 2 -> 3, a shortcut 0 -> 3 through the middle layers, a second node in
        // each middle layer, and a loop 3 -> 1.
        let edges = [
            (0, 1),
            (1, 2),
            (2, 3),
            (0, 3),
            (0, 4),
            (4, 5),
            (5, 3),
            (3, 1),
        ];
        let key = LayoutKey {
            nodes: (0..6).map(NodeId).collect(),
            edges: edges.iter().map(|&(a, b)| (NodeId(a), NodeId(b))).collect(),
        };
        let layout = GraphLayout::compute(key, &FxHashMap::default());
        let scene = Scene::build(
            &layout,
            (0..6).map(node).collect(),
            edges.iter().map(|&(a, b)| spec(a, b)).collect(),
            1.0,
        );
        assert_eq!(scene.edges.len(), edges.len());
        assert_eq!(crossings(&scene, 200), vec![]);
        // The shortcut has a run through each of the two middle columns.
        let long = scene
            .edges
            .iter()
            .find(|e| e.from == NodeId(0) && e.to == NodeId(3))
            .map(|e| e.path.len());
        assert_eq!(long, Some(5));
        // Labels cover no node and no other label.
        let labels: Vec<Rect> = scene
            .edges
            .iter()
            .filter_map(|e| e.label.as_ref().map(|l| l.rect))
            .collect();
        for (i, l) in labels.iter().enumerate() {
            for n in &scene.nodes {
                assert_eq!(l.overlap(&n.rect), 0.0);
            }
            for o in &labels[i + 1..] {
                assert_eq!(l.overlap(o), 0.0);
            }
        }
    }
}
