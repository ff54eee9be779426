//! What the panels draw that is computed from the data rather than per frame: the graph
//! What the panels draw that is computed from the data rather than per frame: the graph
//! layout (only when the node/edge set changes), the filter result, the flow series of the
//! timeline, the edge rate indexes and the finding markers. Recomputed when the store's
//! generation or the filter changes, never per frame. The series and rates themselves are
//! the engine's ([`crate::analysis::series`]). The engine's latency figures (`analyze
//! --json`'s latency series and the cold/warm split) are computed on first use after a
//! data change.

use crate::analysis::filter::{Filter, FilterResult};
use crate::analysis::series::{FlowTimeline, RateAt, RateIndex, rate_window};
use crate::analysis::{AnalysisConfig, ColdWarm, Finding, LatencyReport};
use crate::export::layout::{GraphLayout, LayoutKey};
use crate::model::{EventIdx, NodeId, Store};
use crate::time::Nanos;
use rustc_hash::FxHashMap;
use std::cell::OnceCell;

#[derive(Default)]
pub struct Derived {
    /// The store generation these were computed for.
    pub generation: u64,
    pub filter_text: String,
    pub layout: GraphLayout,
    pub filter: Option<FilterResult>,
    pub filter_errors: Vec<String>,
    /// The timeline's series (of what the filter keeps, when one is active).
    pub flow: FlowTimeline,
    /// The window of every rate shown (edges and timeline).
    pub rate_window: Nanos,
    /// Bumped on every recompute: plots cache their decimation against it.
    pub version: u64,
    /// Per edge (from, to): the peak rate so far at each of its times (filtered too).
    pub edge_rates: FxHashMap<(NodeId, NodeId), RateIndex>,
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
        self.flow = FlowTimeline::build(
            store,
            self.filter.as_ref().map(|f| f.observations.as_slice()),
        );
        let window = match (store.first_time(), store.last_time()) {
            (Some(a), Some(b)) => rate_window(b - a),
            _ => rate_window(0),
        };
        self.rate_window = window;
        self.edge_rates = store
            .topology
            .graph
            .edge_weights()
            .map(|e| {
                let times = self.edge_times(store, e.from, e.to);
                ((e.from, e.to), RateIndex::new(times, window))
            })
            .collect();
        self.version += 1;
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

    /// The rate on an edge at `t`: events in the window ending at `t`, and the peak so far.
    pub fn edge_rate(&self, store: &Store, from: NodeId, to: NodeId, t: Nanos) -> RateAt {
        let times = self.edge_times(store, from, to);
        match self.edge_rates.get(&(from, to)) {
            Some(idx) => idx.at(times, t),
            None => RateIndex::new(&[], self.rate_window).at(times, t),
        }
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
