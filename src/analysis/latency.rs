//! Latency, with the design's words: **delivery latency** per channel -> handler edge
//! (receive minus publish), **processing time** per handler (end minus start), and
//! **end-to-end latency** per causal chain (first publish to last completion of a trace,
//! else of a `correlationid`, else of a `causationid` chain). Overall summaries come from
//! HDR histograms; the time series give p50/p95/p99/max per window for plots.

use super::config::AnalysisConfig;
use crate::model::*;
use crate::time::Nanos;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Which latency a series measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatencyKind {
    /// Channel -> handler (and time to dead-letter) edges.
    Delivery,
    /// Handler end minus start.
    Processing,
    /// Handler -> store write time.
    Write,
    /// First publish to last completion of a causal chain.
    EndToEnd,
}

/// One window of a latency series (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyPoint {
    /// Start of the window.
    #[serde(serialize_with = "ser_time")]
    pub start: Nanos,
    /// Measurements in the window.
    pub count: u64,
    /// Percentiles and maximum in milliseconds.
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

fn ser_time<S: serde::Serializer>(t: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_rfc3339(*t))
}

/// A latency time series for one edge, one handler, or all end-to-end chains.
#[derive(Clone, Debug, Serialize)]
pub struct LatencySeries {
    /// What is measured.
    pub kind: LatencyKind,
    /// Edge origin (node id), for edge series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Edge destination, or the handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip)]
    pub from_id: NodeId,
    #[serde(skip)]
    pub to_id: NodeId,
    /// Overall figures of the series.
    pub overall: Option<LatencySummary>,
    /// One point per window with measurements, in time order.
    pub points: Vec<LatencyPoint>,
}

/// Everything latency for `analyze --json` and the GUI's plots.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyReport {
    /// End-to-end latency over all causal chains with a completion.
    pub end_to_end_ms: Option<LatencySummary>,
    /// Causal chains measured.
    pub chains: u64,
    /// Width of the series windows.
    pub window_ms: u64,
    /// Delivery and write edges, handlers, then end to end.
    pub series: Vec<LatencySeries>,
}

/// The window: configured, or a round width giving about `points` windows over the capture.
pub fn window_ns(store: &Store, cfg: &AnalysisConfig) -> i64 {
    let span = match (store.first_time(), store.last_time()) {
        (Some(a), Some(b)) => (b - a).max(1),
        _ if cfg.latency.window_ms > 0 => 1,
        _ => return 1_000_000_000,
    };
    if cfg.latency.window_ms > 0 {
        // The configuration caps it at a day; wider (doubled) past a million windows, as
        // the series says in its `window_ms`.
        let mut w = i64::try_from(cfg.latency.window_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        while span / w > 1_000_000 {
            w = w.saturating_mul(2);
        }
        return w;
    }
    let target = (span / i64::from(cfg.latency.points.max(1))).max(1_000_000);
    let mut w: i64 = 1_000_000;
    loop {
        for m in [1, 2, 5] {
            if w * m >= target {
                return w * m;
            }
        }
        w *= 10;
    }
}

/// A histogram for one window: two significant digits are plenty for a plot point and
/// keep the per-window reset small.
fn window_histogram() -> LatencyHistogram {
    let mut h =
        LatencyHistogram::new_with_bounds(1, 3_600_000_000, 2).unwrap_or_else(|_| new_histogram());
    h.auto(true);
    h
}

/// Builds windowed series from (time, latency ns) pairs in time order.
struct Windowed {
    w: i64,
    current: Option<i64>,
    hist: LatencyHistogram,
    /// Overall figures, when the topology does not already have them.
    overall: Option<LatencyHistogram>,
    recorded: u64,
    points: Vec<LatencyPoint>,
}

impl Windowed {
    fn new(w: i64, overall: bool) -> Self {
        Windowed {
            w,
            current: None,
            hist: window_histogram(),
            overall: overall.then(new_histogram),
            recorded: 0,
            points: Vec::new(),
        }
    }
    fn flush(&mut self) {
        if let (Some(start), Some(s)) = (self.current, LatencySummary::of(&self.hist)) {
            self.points.push(LatencyPoint {
                start,
                count: self.hist.len(),
                p50: s.p50,
                p95: s.p95,
                p99: s.p99,
                max: s.max,
            });
        }
        self.hist.reset();
    }
    fn record(&mut self, t: Nanos, latency: i64) {
        // Only a time outside the current window needs the division.
        let inside = self.current.is_some_and(|ws| t >= ws && t - ws < self.w);
        if !inside {
            self.flush();
            self.current = Some(t.div_euclid(self.w) * self.w);
        }
        self.recorded += 1;
        record_nanos(&mut self.hist, latency);
        if let Some(o) = &mut self.overall {
            record_nanos(o, latency);
        }
    }
    fn finish(
        mut self,
        kind: LatencyKind,
        store: &Store,
        from: NodeId,
        to: NodeId,
        overall: Option<LatencySummary>,
    ) -> LatencySeries {
        self.flush();
        let key = |n: NodeId| n.some().map(|n| store.node_key(n));
        LatencySeries {
            kind,
            from: key(from),
            to: key(to),
            from_id: from,
            to_id: to,
            overall: overall.or_else(|| self.overall.as_ref().and_then(LatencySummary::of)),
            points: self.points,
        }
    }
}

/// End-to-end latencies: (completion time, latency ns) per causal chain, in time order.
pub fn end_to_end(store: &Store) -> Vec<(Nanos, i64)> {
    // A chain ends with a delivery, a handling or a store write: where none was seen (a
    // log of publishes, say) there is no end-to-end latency to find.
    if store.observations.iter().all(|o| o.stage == Stage::Publish) {
        return Vec::new();
    }
    // Chain key per event: (0, trace) | (1, correlation) | (2, root event id).
    let any_causation = store.events.iter().any(|e| !e.causation.is_none());
    let by_id: FxHashMap<Sym, u32> = if any_causation {
        let mut m = FxHashMap::default();
        for (i, e) in store.events.iter().enumerate() {
            m.entry(e.id).or_insert(i as u32);
        }
        m
    } else {
        FxHashMap::default()
    };
    let mut keys: FxHashMap<(u8, Sym), u32> = FxHashMap::default();
    keys.reserve(store.events.len());
    let chain_of: Vec<u32> = store
        .events
        .iter()
        .map(|e| {
            let key = if !e.trace.is_none() {
                (0, e.trace)
            } else if !e.correlation.is_none() {
                (1, e.correlation)
            } else {
                let mut root = e;
                for _ in 0..64 {
                    match by_id.get(&root.causation) {
                        Some(&p) if !root.causation.is_none() => root = &store.events[p as usize],
                        _ => break,
                    }
                }
                (2, root.id)
            };
            let n = keys.len() as u32;
            *keys.entry(key).or_insert(n)
        })
        .collect();
    // (start, end, has completion) per chain, in one sequential pass.
    let mut chains: Vec<(Nanos, Nanos, bool)> = vec![(i64::MAX, i64::MIN, false); keys.len()];
    for o in &store.observations {
        let Some(&c) = chain_of.get(o.event.0 as usize) else {
            continue;
        };
        let c = &mut chains[c as usize];
        match o.stage {
            Stage::Publish => c.0 = c.0.min(o.time),
            Stage::Handle | Stage::Store | Stage::Call => {
                c.1 = c.1.max(o.time + o.duration.max(0));
                c.2 = true;
            }
            Stage::Deliver | Stage::DeadLetter => {
                c.1 = c.1.max(o.time);
                c.2 = true;
            }
        }
    }
    let mut out: Vec<(Nanos, i64)> = chains
        .into_iter()
        .filter(|c| c.2 && c.0 != i64::MAX && c.1 >= c.0)
        .map(|c| (c.1, c.1 - c.0))
        .collect();
    out.sort_unstable();
    out
}

/// Latency summaries and series for every delivery and write edge, every handler, and the
/// end-to-end chains. One sequential pass over the observations feeds all the series.
pub fn latency(store: &Store, cfg: &AnalysisConfig) -> LatencyReport {
    let w = window_ns(store, cfg);
    // The causal chains and the per-edge series are independent passes: side by side.
    let (chains, series) = rayon::join(|| end_to_end(store), || series(store, w));
    let mut series = series;
    let mut win = Windowed::new(w, true);
    for &(t, l) in &chains {
        win.record(t, l);
    }
    let e2e = win.finish(
        LatencyKind::EndToEnd,
        store,
        NodeId::NONE,
        NodeId::NONE,
        None,
    );
    let end_to_end_ms = e2e.overall;
    if !chains.is_empty() {
        series.push(e2e);
    }
    LatencyReport {
        end_to_end_ms,
        chains: chains.len() as u64,
        window_ms: (w / 1_000_000) as u64,
        series,
    }
}

/// p50/p95/p99/max per window of width `w` of (time, latency ns) pairs in time order: the
/// windows and percentiles of the report's series, for any set of samples (the GUI's
/// selection). Windows without samples have no point.
pub fn windows(samples: impl IntoIterator<Item = (Nanos, i64)>, w: i64) -> Vec<LatencyPoint> {
    let mut win = Windowed::new(w.max(1), false);
    for (t, l) in samples {
        win.record(t, l);
    }
    win.flush();
    win.points
}

/// Windowed series per delivery and write edge (in the stable edge order), then per handler.
fn series(store: &Store, w: i64) -> Vec<LatencySeries> {
    // Edge series first (in the stable edge order), then handlers as they appear.
    let mut slots: Vec<(LatencyKind, NodeId, NodeId, Windowed)> = Vec::new();
    let mut edge_slot: FxHashMap<(NodeId, NodeId), usize> = FxHashMap::default();
    for e in store.topology.edges_sorted() {
        let kind = match e.stage {
            Stage::Deliver | Stage::DeadLetter => LatencyKind::Delivery,
            Stage::Store => LatencyKind::Write,
            _ => continue,
        };
        edge_slot.insert((e.from, e.to), slots.len());
        slots.push((kind, e.from, e.to, Windowed::new(w, false)));
    }
    let mut handler_slot: FxHashMap<NodeId, usize> = FxHashMap::default();
    for o in &store.observations {
        let slot = match o.stage {
            Stage::Deliver | Stage::DeadLetter | Stage::Store if o.latency >= 0 => {
                edge_slot.get(&(o.from, o.to)).copied()
            }
            Stage::Handle if o.duration >= 0 => {
                Some(*handler_slot.entry(o.to).or_insert_with(|| {
                    slots.push((
                        LatencyKind::Processing,
                        NodeId::NONE,
                        o.to,
                        Windowed::new(w, false),
                    ));
                    slots.len() - 1
                }))
            }
            _ => None,
        };
        if let Some(i) = slot {
            let v = if o.stage == Stage::Handle {
                o.duration
            } else {
                o.latency
            };
            slots[i].3.record(o.time, v);
        }
    }
    let edges = edge_slot.len();
    let mut handlers = slots.split_off(edges);
    handlers.sort_by_key(|h| h.2);
    let mut series = Vec::with_capacity(slots.len() + handlers.len() + 1);
    for (kind, from, to, win) in slots.into_iter().chain(handlers) {
        if win.recorded == 0 {
            continue;
        }
        let overall = if kind == LatencyKind::Processing {
            store
                .topology
                .node(to)
                .and_then(|n| LatencySummary::of(&n.processing))
        } else {
            store
                .topology
                .edge_between(from, to)
                .and_then(|e| e.latency.as_ref())
                .and_then(LatencySummary::of)
        };
        series.push(win.finish(kind, store, from, to, overall));
    }
    series
}
