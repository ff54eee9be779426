//! What the panels draw that is computed from the data rather than per frame: the graph
//! layout (only when the node/edge set changes), the filter result, the flow series of the
//! timeline, the edge rate indexes and the finding markers. Recomputed when the store's
//! generation or the filter changes, never per frame. The series and rates themselves are
//! the engine's ([`crate::analysis::series`]). The engine's latency figures (`analyze
//! --json`'s latency series and the cold/warm split) are computed on first use after a
//! data change. The filter is applied on a background thread (it may read payload text
//! back from disk): the previous result stays shown until the new one is ready.

use crate::analysis::filter::{Filter, FilterResult};
use crate::analysis::series::{FlowViews, RateAt, RateIndex};
use crate::analysis::{AnalysisConfig, ColdWarm, Finding, LatencyReport};
use crate::export::layout::{GraphLayout, LayoutKey};
use crate::live::Waker;
use crate::model::{EventIdx, NodeId, Store};
use crate::time::Nanos;
use crossbeam_channel::{Receiver, TryRecvError};
use std::cell::OnceCell;
use std::sync::Arc;

/// A filter being applied on a background thread.
struct FilterJob {
    text: String,
    rx: Receiver<(FilterResult, FlowViews)>,
}

/// A filter waiting for the running one to finish (latest wins).
struct QueuedFilter {
    text: String,
    filter: Filter,
}

#[derive(Default)]
pub struct Derived {
    /// The store generation these were computed for.
    pub generation: u64,
    /// The filter text [`Self::filter`] is the result of (what is shown).
    pub filter_text: String,
    pub layout: GraphLayout,
    /// What the filter keeps; `None` when no filter is shown.
    pub filter: Option<FilterResult>,
    /// Terms of the filter as typed that were not understood.
    pub filter_errors: Vec<String>,
    /// The (generation, text) the filter was last asked for.
    requested: Option<(u64, String)>,
    running: Option<FilterJob>,
    queued: Option<QueuedFilter>,
    /// Called when a background filter is done (repaints the UI).
    waker: Option<Waker>,
    /// The timeline's series and the edges' rate indexes (of what the filter keeps, when
    /// one is active).
    pub views: Arc<FlowViews>,
    /// Bumped whenever `views` changes: plots cache their decimation against it.
    pub version: u64,
    /// The views of all the data of a generation, built by the live worker: shown without
    /// a pass over the data when no filter is active.
    unfiltered: Option<(u64, Arc<FlowViews>)>,
    /// Views offered with the next generation (a live snapshot's).
    offered: Option<Arc<FlowViews>>,
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
    /// `waker` is called when a filter applied in the background is ready.
    pub fn new(waker: Option<Waker>) -> Derived {
        Derived {
            waker,
            ..Default::default()
        }
    }

    /// Forgets the filter result: it was of other data (a new file), whose observation
    /// indexes need not exist in the new store. The next refresh applies the filter anew.
    pub fn reset_filter(&mut self) {
        self.filter = None;
        self.filter_text.clear();
        self.requested = None;
        self.running = None;
        self.queued = None;
    }

    /// Whether the filter is being applied to the data shown (the previous result is
    /// shown meanwhile).
    pub fn is_filtering(&self) -> bool {
        self.running.is_some() || self.queued.is_some()
    }

    /// Views of all the data of the next generation, built elsewhere (the live worker):
    /// [`refresh`](Self::refresh) then shows them instead of making a pass over the data.
    pub fn offer_views(&mut self, views: Arc<FlowViews>) {
        self.offered = Some(views);
    }

    /// Blocks until the filter asked for last is applied (tests, `--screenshot`).
    pub fn wait_for_filter(&mut self, store: &Arc<Store>) {
        while let Some(job) = self.running.take() {
            match job.rx.recv() {
                Ok((result, views)) => self.show_filter(job.text, result, views),
                Err(_) => tracing::error!("the filter thread ended without a result"),
            }
            self.start_queued(store);
        }
    }

    /// Brings everything up to date; returns whether anything was recomputed. A changed
    /// filter (or data, when a filter is set) starts applying the filter in the background;
    /// its result is picked up by a later call.
    pub fn refresh(
        &mut self,
        store: &Arc<Store>,
        generation: u64,
        filter_text: &str,
        findings: &[Finding],
    ) -> bool {
        let data_changed = generation != self.generation;
        let requested = self
            .requested
            .as_ref()
            .is_some_and(|(g, t)| *g == generation && t == filter_text);
        let mut changed = false;
        // Whether the views must be rebuilt here, on this thread.
        let mut rebuild = false;
        if data_changed {
            self.unfiltered = self.offered.take().map(|v| (generation, v));
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
            self.generation = generation;
            changed = true;
            // The previous result stays shown while the filter is applied to the new data
            // (live data only grows), unless it points past the new store.
            if self
                .filter
                .as_ref()
                .and_then(|f| f.observations.last())
                .is_some_and(|&i| i as usize >= store.observations.len())
            {
                self.filter = None;
                self.filter_text.clear();
            }
            // A filter's views stay shown until the filter applied to the new data comes
            // (live data only grows); all the data's are the worker's, or else built here.
            rebuild = self.filter.is_none();
        }
        if !requested {
            self.requested = Some((generation, filter_text.to_string()));
            let (filter, errors) = Filter::parse(filter_text);
            self.filter_errors = errors;
            self.queued = None;
            if filter.is_empty() {
                // Nothing to apply: shown at once; a filter still running is of no use.
                self.running = None;
                if self.filter.is_some() || self.filter_text != filter_text {
                    self.filter = None;
                    self.filter_text = filter_text.to_string();
                    changed = true;
                    rebuild = true;
                }
            } else {
                self.queued = Some(QueuedFilter {
                    text: filter_text.to_string(),
                    filter,
                });
            }
        }
        if let Some(job) = &self.running {
            match job.rx.try_recv() {
                Ok((result, views)) => {
                    let text = job.text.clone();
                    self.running = None;
                    self.filter = Some(result);
                    self.filter_text = text;
                    self.set_views(Arc::new(views));
                    changed = true;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    tracing::error!("the filter thread ended without a result");
                    self.running = None;
                }
            }
        }
        self.start_queued(store);
        if rebuild {
            self.recompute(store);
        }
        changed
    }

    /// Starts the queued filter unless one is running.
    fn start_queued(&mut self, store: &Arc<Store>) {
        if self.running.is_some() {
            return;
        }
        let Some(q) = self.queued.take() else {
            return;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (store_ref, waker, filter) = (store.clone(), self.waker.clone(), q.filter);
        let spawned = std::thread::Builder::new()
            .name("eventlens-filter".into())
            .spawn(move || {
                let result = filter.apply(&store_ref);
                let views = FlowViews::build(&store_ref, Some(&result));
                let result = (result, views);
                // The app may have moved on (a newer filter, other data): nobody waits then.
                if tx.send(result).is_ok()
                    && let Some(w) = waker
                {
                    w();
                }
            });
        match spawned {
            Ok(_) => {
                self.running = Some(FilterJob { text: q.text, rx });
            }
            Err(e) => tracing::error!("cannot start the filter thread: {e}"),
        }
    }

    /// Shows a filter result and its views.
    fn show_filter(&mut self, text: String, result: FilterResult, views: FlowViews) {
        self.filter = Some(result);
        self.filter_text = text;
        self.set_views(Arc::new(views));
    }

    fn set_views(&mut self, views: Arc<FlowViews>) {
        self.views = views;
        self.version += 1;
    }

    /// The views of what is shown (no filter is active): the worker's of this generation,
    /// or else built here.
    fn recompute(&mut self, store: &Store) {
        let views = match &self.unfiltered {
            Some((g, v)) if *g == self.generation && self.filter.is_none() => v.clone(),
            _ => Arc::new(FlowViews::build(store, self.filter.as_ref())),
        };
        self.set_views(views);
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
        match self.views.edge_rates.get(&(from, to)) {
            Some(idx) => idx.at(times, t),
            None => RateIndex::new(&[], self.views.rate_window).at(times, t),
        }
    }

    /// Times of the observations on an edge (filtered when a filter is active).
    pub fn edge_times<'a>(&'a self, store: &'a Store, from: NodeId, to: NodeId) -> &'a [Nanos] {
        FlowViews::edge_times_of(store, self.filter.as_ref(), from, to)
    }
}
