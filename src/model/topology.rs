//! The topology: a petgraph `StableDiGraph` of producers, channels, handlers, stores and
//! dead-letter destinations, with per-edge counts, errors, event types, HDR histograms of
//! latency and the sorted observation times that make "the graph as of time t" a binary
//! search.

use super::*;
use crate::time::Nanos;
use hdrhistogram::Histogram;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use rustc_hash::FxHashMap;

/// Latency histograms record microseconds.
pub type LatencyHistogram = Histogram<u64>;

pub fn new_histogram() -> LatencyHistogram {
    // Three significant digits over 1 µs .. ~1 hour; auto-resize keeps outliers.
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("3 sigfig is valid"));
    h.auto(true);
    h
}

/// Records a duration given in nanoseconds.
pub fn record_nanos(h: &mut LatencyHistogram, nanos: i64) {
    let us = (nanos.max(0) / 1000).max(1) as u64;
    let _ = h.record(us);
}

#[derive(Clone, Debug)]
pub struct TopoNode {
    pub id: NodeId,
    pub kind: NodeKind,
    pub name: Sym,
    /// Observations that touch this node (as origin or destination).
    pub observations: u64,
    /// Handler processing time.
    pub processing: LatencyHistogram,
    pub handled: u64,
    pub failures: u64,
    pub cold_starts: u64,
    /// A broker declared it (a consumer, or the channel one reads): drawn even when
    /// nothing was observed at it.
    pub declared: bool,
}

#[derive(Clone, Debug)]
pub struct TopoEdge {
    pub from: NodeId,
    pub to: NodeId,
    /// The stage of the observations this edge aggregates.
    pub stage: Stage,
    pub count: u64,
    /// Failed handlings (for a delivery edge), failed writes or failed calls.
    pub errors: u64,
    /// Event types with counts, sorted by type name.
    pub types: Vec<(Sym, u64)>,
    /// Delivery latency (channel -> handler), write time (handler -> store), time to
    /// dead-letter, call duration (caller -> callee); none for publishes.
    pub latency: Option<LatencyHistogram>,
    /// Observation indices in time order.
    pub observations: Vec<u32>,
    /// Times of those observations (for counts as of time t).
    pub times: Vec<Nanos>,
    /// Times of the failures counted in `errors`.
    pub error_times: Vec<Nanos>,
    /// A broker declared this consumer of the channel (see [`Declared`]).
    pub declared: bool,
    /// What retention folded out (counted in `count`, `errors`, `types` and `latency`, not
    /// in `observations` and `times`).
    pub folded: Option<Box<FoldedCounts>>,
}

impl TopoEdge {
    /// Observations on this edge up to and including `t` (folded ones to the second).
    pub fn count_until(&self, t: Nanos) -> u64 {
        let folded = self.folded.as_ref().map_or(0, |f| f.until(t).0);
        folded + self.times.partition_point(|&x| x <= t) as u64
    }
    pub fn errors_until(&self, t: Nanos) -> u64 {
        let folded = self.folded.as_ref().map_or(0, |f| f.until(t).1);
        folded + self.error_times.partition_point(|&x| x <= t) as u64
    }
}

#[derive(Default, Clone)]
pub struct Topology {
    pub graph: StableDiGraph<TopoNode, TopoEdge>,
    /// NodeId -> graph index.
    pub index: Vec<NodeIndex>,
    edge_keys: FxHashMap<(NodeId, NodeId), EdgeIndex>,
}

impl Topology {
    pub fn build(store: &Store) -> Topology {
        let mut topo = Topology::default();
        topo.extend(store, 0);
        if let Some(f) = &store.folded {
            topo.absorb(store, f);
        }
        topo
    }

    /// Adds what retention folded out of the store (see [`Folded`]).
    fn absorb(&mut self, store: &Store, folded: &Folded) {
        for (id, f) in &folded.nodes {
            let Some(&ix) = self.index.get(id.0 as usize) else {
                continue;
            };
            let n = &mut self.graph[ix];
            n.observations += f.observations;
            n.handled += f.handled;
            n.failures += f.failures;
            n.cold_starts += f.cold_starts;
            let _ = n.processing.add(&f.processing);
        }
        for (&(from, to), f) in &folded.edges {
            if self.index.get(from.0 as usize).is_none() || self.index.get(to.0 as usize).is_none()
            {
                continue;
            }
            let e = self.edge_mut(from, to, f.stage);
            let edge = &mut self.graph[e];
            edge.count += f.count;
            edge.errors += f.errors;
            for &(t, n) in &f.types {
                match edge.types.iter_mut().find(|(x, _)| *x == t) {
                    Some((_, m)) => *m += n,
                    None => edge.types.push((t, n)),
                }
            }
            edge.types
                .sort_by(|a, b| store.str(a.0).cmp(store.str(b.0)));
            if let Some(h) = &f.latency {
                let _ = edge.latency.get_or_insert_with(new_histogram).add(h);
            }
            edge.folded = Some(Box::new(f.counts()));
        }
    }

    /// Brings the topology up to date with nodes added since the last call and observations
    /// from index `from` on (the live path: only what arrived is processed).
    pub fn extend(&mut self, store: &Store, from: usize) {
        for (i, n) in store.nodes.iter().enumerate() {
            match self.index.get(i) {
                Some(&ix) => self.graph[ix].kind = n.kind,
                None => {
                    let ix = self.graph.add_node(TopoNode {
                        id: NodeId(i as u32),
                        kind: n.kind,
                        name: n.name,
                        observations: 0,
                        processing: new_histogram(),
                        handled: 0,
                        failures: 0,
                        cold_starts: 0,
                        declared: false,
                    });
                    self.index.push(ix);
                }
            }
        }
        for d in &store.declared {
            if self.index.get(d.channel.0 as usize).is_none()
                || self.index.get(d.consumer.0 as usize).is_none()
            {
                continue;
            }
            for n in [d.channel, d.consumer] {
                let ix = self.index[n.0 as usize];
                self.graph[ix].declared = true;
            }
            let e = self.edge_mut(d.channel, d.consumer, Stage::Deliver);
            self.graph[e].declared = true;
        }
        let mut touched_types = Vec::new();
        for (i, o) in store.observations.iter().enumerate().skip(from) {
            if let Some(n) = o.to.some().and_then(|n| self.index.get(n.0 as usize)) {
                self.graph[*n].observations += 1;
            }
            if o.stage != Stage::Handle
                && let Some(n) = o.from.some().and_then(|n| self.index.get(n.0 as usize))
            {
                self.graph[*n].observations += 1;
            }
            if o.stage == Stage::Handle {
                let Some(&h) = self.index.get(o.to.0 as usize) else {
                    continue;
                };
                let node = &mut self.graph[h];
                node.handled += 1;
                if o.duration >= 0 {
                    record_nanos(&mut node.processing, o.duration);
                }
                if o.cold_start {
                    node.cold_starts += 1;
                }
                if o.outcome.is_failure() {
                    node.failures += 1;
                    if o.from.some().is_some() {
                        let e = self.edge_mut(o.from, o.to, Stage::Deliver);
                        let edge = &mut self.graph[e];
                        edge.errors += 1;
                        edge.error_times.push(o.time);
                    }
                }
                continue;
            }
            if o.from.is_none() || o.to.is_none() {
                continue;
            }
            let e = self.edge_mut(o.from, o.to, o.stage);
            let edge = &mut self.graph[e];
            edge.count += 1;
            edge.observations.push(i as u32);
            edge.times.push(o.time);
            if matches!(o.stage, Stage::Store | Stage::Call) && o.outcome.is_failure() {
                edge.errors += 1;
                edge.error_times.push(o.time);
            }
            if o.latency >= 0 && o.stage != Stage::Publish {
                record_nanos(edge.latency.get_or_insert_with(new_histogram), o.latency);
            }
            let ty = store.events[o.event.0 as usize].ty;
            // Few types per edge: a linear scan beats a map.
            match edge.types.iter_mut().find(|(t, _)| *t == ty) {
                Some((_, n)) => *n += 1,
                None => {
                    edge.types.push((ty, 1));
                    touched_types.push(e);
                }
            }
        }
        for e in touched_types {
            self.graph[e]
                .types
                .sort_by(|a, b| store.str(a.0).cmp(store.str(b.0)));
        }
    }

    fn edge_mut(&mut self, from: NodeId, to: NodeId, stage: Stage) -> EdgeIndex {
        if let Some(e) = self.edge_keys.get(&(from, to)) {
            return *e;
        }
        let (a, b) = (self.index[from.0 as usize], self.index[to.0 as usize]);
        let e = self.graph.add_edge(
            a,
            b,
            TopoEdge {
                from,
                to,
                stage,
                count: 0,
                errors: 0,
                types: Vec::new(),
                latency: None,
                observations: Vec::new(),
                times: Vec::new(),
                error_times: Vec::new(),
                declared: false,
                folded: None,
            },
        );
        self.edge_keys.insert((from, to), e);
        e
    }

    pub fn edge_between(&self, from: NodeId, to: NodeId) -> Option<&TopoEdge> {
        self.edge_keys.get(&(from, to)).map(|e| &self.graph[*e])
    }

    pub fn node(&self, id: NodeId) -> Option<&TopoNode> {
        self.index.get(id.0 as usize).map(|i| &self.graph[*i])
    }

    /// Edges in a stable order (by endpoint ids).
    pub fn edges_sorted(&self) -> Vec<&TopoEdge> {
        let mut v: Vec<&TopoEdge> = self.graph.edge_weights().collect();
        v.sort_by_key(|e| (e.from, e.to));
        v
    }
}

/// p50/p95/p99/max in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencySummary {
    pub fn of(h: &LatencyHistogram) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Some(LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        })
    }
}
