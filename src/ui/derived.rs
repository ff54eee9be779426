//! What the panels draw that is computed from the data rather than per frame: the graph
//! layout (only when the node/edge set changes), the filter result, the per-channel rate
//! series and the finding markers. Recomputed when the store's generation or the filter
//! changes, never per frame.

use super::filter::{Filter, FilterResult};
use super::findings::FindingView;
use crate::export::layout::{GraphLayout, LayoutKey};
use crate::model::{NodeId, NodeKind, Stage, Store};
use crate::time::Nanos;

/// Bins of the rate plot over the whole range (decimation: the plot never draws more).
pub const RATE_BINS: usize = 320;

/// Events per second arriving on one channel over time.
#[derive(Clone, Debug)]
pub struct RateSeries {
    pub channel: NodeId,
    pub name: String,
    pub dead_letter: bool,
    /// (seconds since origin, events/s).
    pub points: Vec<[f64; 2]>,
}

#[derive(Default)]
pub struct Derived {
    /// The store generation these were computed for.
    pub generation: u64,
    pub filter_text: String,
    pub layout: GraphLayout,
    pub filter: Option<FilterResult>,
    pub filter_errors: Vec<String>,
    pub rates: Vec<RateSeries>,
    /// First time of each finding, sorted (timeline markers, jump to next/previous).
    pub finding_times: Vec<Nanos>,
    /// Largest edge count (edge widths are relative to it).
    pub max_edge_count: u64,
}

impl Derived {
    /// Brings everything up to date; returns whether anything was recomputed.
    pub fn refresh(
        &mut self,
        store: &Store,
        generation: u64,
        filter_text: &str,
        findings: &[FindingView],
    ) -> bool {
        let data_changed = generation != self.generation;
        let filter_changed = filter_text != self.filter_text;
        if !data_changed && !filter_changed {
            return false;
        }
        if data_changed {
            let key = LayoutKey::of(store);
            if key != self.layout.key {
                self.layout = GraphLayout::of_store(store);
            }
            self.max_edge_count = store
                .topology
                .graph
                .edge_weights()
                .map(|e| e.count)
                .max()
                .unwrap_or(0);
            let mut t: Vec<Nanos> = findings.iter().filter_map(|f| f.first).collect();
            t.sort_unstable();
            t.dedup();
            self.finding_times = t;
        }
        let (filter, errors) = Filter::parse(filter_text);
        self.filter = (!filter.is_empty()).then(|| filter.apply(store));
        self.filter_errors = errors;
        self.filter_text = filter_text.to_string();
        self.generation = generation;
        self.rates = rate_series(store, self.filter.as_ref());
        true
    }

    /// Times of the observations on an edge (filtered when a filter is active).
    pub fn edge_times<'a>(&'a self, store: &'a Store, from: NodeId, to: NodeId) -> &'a [Nanos] {
        match &self.filter {
            Some(f) => f.edge_times.get(&(from, to)).map_or(&[], Vec::as_slice),
            None => store
                .topology
                .edge_between(from, to)
                .map_or(&[], |e| e.times.as_slice()),
        }
    }
}

fn rate_series(store: &Store, filter: Option<&FilterResult>) -> Vec<RateSeries> {
    let (Some(first), Some(last)) = (store.first_time(), store.last_time()) else {
        return Vec::new();
    };
    let span = (last - first).max(1);
    // Bins of at least 200 ms, so a short trace does not plot as spikes.
    let bins = RATE_BINS.min((span / 200_000_000).max(1) as usize).max(1);
    let width = span as f64 / bins as f64;
    let mut out = Vec::new();
    let mut channels: Vec<(NodeId, NodeKind)> = store
        .topology
        .graph
        .node_weights()
        .filter(|n| {
            matches!(n.kind, NodeKind::Channel | NodeKind::DeadLetter) && n.observations > 0
        })
        .map(|n| (n.id, n.kind))
        .collect();
    channels.sort();
    for (ch, kind) in channels {
        let edges: Vec<&[Nanos]> = store
            .topology
            .graph
            .edge_weights()
            .filter(|e| e.to == ch && matches!(e.stage, Stage::Publish | Stage::DeadLetter))
            .map(|e| match filter {
                Some(f) => f
                    .edge_times
                    .get(&(e.from, e.to))
                    .map_or(&[][..], Vec::as_slice),
                None => e.times.as_slice(),
            })
            .collect();
        let mut points = Vec::with_capacity(bins + 1);
        let mut prev = 0usize;
        for b in 0..bins {
            let end = if b + 1 == bins {
                last + 1
            } else {
                first + ((b + 1) as f64 * width) as Nanos
            };
            let upto: usize = edges.iter().map(|t| t.partition_point(|&x| x < end)).sum();
            let count = upto - prev;
            prev = upto;
            let mid = (b as f64 + 0.5) * width / 1e9;
            // A trace shorter than a bin is a burst, not an infinite rate.
            points.push([mid, count as f64 / (width / 1e9).max(0.2)]);
        }
        out.push(RateSeries {
            channel: ch,
            name: store.node_name(ch).to_string(),
            dead_letter: kind == NodeKind::DeadLetter,
            points,
        });
    }
    out
}
