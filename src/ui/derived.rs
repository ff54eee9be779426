//! What the panels draw that is computed from the data rather than per frame: the graph
//! layout (only when the node/edge set changes), the filter result, the per-channel rate
//! series and the finding markers. Recomputed when the store's generation or the filter
//! changes, never per frame. The engine's latency figures (`analyze --json`'s latency
//! series and the cold/warm split) are computed on first use after a data change.

use super::filter::{Filter, FilterResult};
use crate::analysis::{AnalysisConfig, ColdWarm, Finding, LatencyReport};
use crate::export::layout::{GraphLayout, LayoutKey};
use crate::model::{EventIdx, NodeId, NodeKind, Stage, Store};
use crate::time::Nanos;
use std::cell::OnceCell;

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
    /// `analysis::latency` of the data: what `analyze --json` prints as `latency`.
    latency: OnceCell<LatencyReport>,
    /// `analysis::cold_warm` of the data: the split the `cold-start` finding makes.
    cold_warm: OnceCell<Vec<ColdWarm>>,
    /// The first event read from each (input, line): spec violations point at their event.
    by_line: OnceCell<rustc_hash::FxHashMap<(u16, u32), EventIdx>>,
}

impl Derived {
    /// Brings everything up to date; returns whether anything was recomputed.
    pub fn refresh(
        &mut self,
        store: &Store,
        generation: u64,
        filter_text: &str,
        findings: &[Finding],
    ) -> bool {
        let data_changed = generation != self.generation;
        let filter_changed = filter_text != self.filter_text;
        if !data_changed && !filter_changed {
            return false;
        }
        if data_changed {
            self.latency = OnceCell::new();
            self.cold_warm = OnceCell::new();
            self.by_line = OnceCell::new();
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

    /// The engine's latency report of the data (computed on first use).
    pub fn latency_report(&self, store: &Store, cfg: &AnalysisConfig) -> &LatencyReport {
        self.latency
            .get_or_init(|| crate::analysis::latency(store, cfg))
    }

    /// The engine's cold/warm split per handler (computed on first use).
    pub fn cold_warm(&self, store: &Store, cfg: &AnalysisConfig) -> &[ColdWarm] {
        self.cold_warm
            .get_or_init(|| crate::analysis::cold_warm(store, cfg))
    }

    /// The event read from `line` of input `input` (computed on first use).
    pub fn event_at(&self, store: &Store, input: u16, line: u64) -> Option<EventIdx> {
        let map = self.by_line.get_or_init(|| {
            let mut m = rustc_hash::FxHashMap::default();
            for (i, e) in store.events.iter().enumerate() {
                m.entry((e.loc.input, e.loc.line))
                    .or_insert(EventIdx(i as u32));
            }
            m
        });
        map.get(&(input, u32::try_from(line).ok()?)).copied()
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
        let points = binned(first, last, bins, width, &edges);
        out.push(RateSeries {
            channel: ch,
            name: store.node_name(ch).to_string(),
            dead_letter: kind == NodeKind::DeadLetter,
            points,
        });
    }
    if let Some(f) = filter {
        // Everything the filter keeps (handlings and writes included), so an outcome or
        // latency filter still has a curve.
        let times: Vec<Nanos> = f
            .observations
            .iter()
            .filter_map(|&i| store.observations.get(i as usize))
            .map(|o| o.time)
            .collect();
        out.push(RateSeries {
            channel: NodeId::NONE,
            name: "filter matches".into(),
            dead_letter: false,
            points: binned(first, last, bins, width, &[times.as_slice()]),
        });
    }
    out
}

/// Events per second in `bins` bins of `width` ns from `first`, over sorted time lists.
fn binned(first: Nanos, last: Nanos, bins: usize, width: f64, lists: &[&[Nanos]]) -> Vec<[f64; 2]> {
    let mut points = Vec::with_capacity(bins);
    let mut prev = 0usize;
    for b in 0..bins {
        let end = if b + 1 == bins {
            last + 1
        } else {
            first + ((b + 1) as f64 * width) as Nanos
        };
        let upto: usize = lists.iter().map(|t| t.partition_point(|&x| x < end)).sum();
        let count = upto.saturating_sub(prev);
        prev = upto;
        let mid = (b as f64 + 0.5) * width / 1e9;
        // A trace shorter than a bin is a burst, not an infinite rate.
        points.push([mid, count as f64 / (width / 1e9).max(0.2)]);
    }
    points
}
