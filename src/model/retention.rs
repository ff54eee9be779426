//! Retention: a live store keeps at most an event budget (`--max-events`). When it grows
//! past it, the events whose last observation is oldest are folded out: their counts, error
//! counts, event types and latency histograms go into [`Folded`], which every topology built
//! from the store adds back, and their findings are kept (see `analysis::analyze`). Then the
//! store is compacted: the strings and payload bytes only they used are freed, so a session
//! against a busy broker runs in bounded memory and no figure silently loses what was
//! folded.
//!
//! An event is folded whole (all its observations at once) and only once its last
//! observation is older than every kept event's: a duplicate delivery or a retry of one
//! event is never split between the folded and the kept part. What does straddle the line
//! is a pattern across events (a storm whose burst is half folded): its folded half is
//! reported on its own, as a folded finding.

use super::*;
use crate::analysis::{Finding, Kind};
use crate::time::{NANOS_PER_SEC, Nanos};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// What retention folded out of a store, added back into every figure built from it.
#[derive(Clone, Default, Debug)]
pub struct Folded {
    /// Events folded (calls included).
    pub events: u64,
    /// Of those, calls ([`EventKind::Call`]).
    pub calls: u64,
    pub observations: u64,
    /// Observations folded whose record gave no time.
    pub untimed: u64,
    /// The first and last time of the folded observations that give one.
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
    /// Times the store was folded.
    pub folds: u32,
    pub nodes: FxHashMap<NodeId, FoldedNode>,
    pub edges: FxHashMap<(NodeId, NodeId), FoldedEdge>,
    /// Findings of the folded events, one per kind, nodes and edges (merged over folds):
    /// see [`per_event`].
    pub findings: Vec<Finding>,
}

/// A node's folded figures (see [`TopoNode`]).
#[derive(Clone, Debug)]
pub struct FoldedNode {
    pub observations: u64,
    pub processing: LatencyHistogram,
    pub handled: u64,
    pub failures: u64,
    pub cold_starts: u64,
}

/// An edge's folded figures (see [`TopoEdge`]).
#[derive(Clone, Debug)]
pub struct FoldedEdge {
    pub stage: Stage,
    pub count: u64,
    pub errors: u64,
    pub types: Vec<(Sym, u64)>,
    pub latency: Option<LatencyHistogram>,
    /// Observations and failures per second (the start of the second), for counts "as of
    /// time t" over the folded part.
    pub seconds: BTreeMap<Nanos, (u64, u64)>,
}

/// An edge's folded counts as the topology keeps them: totals and, per second, the running
/// sums (for [`TopoEdge::count_until`]).
#[derive(Clone, Debug, Default)]
pub struct FoldedCounts {
    pub count: u64,
    pub errors: u64,
    /// (start of the second, observations up to its end, failures up to its end), in time
    /// order.
    pub running: Vec<(Nanos, u64, u64)>,
}

impl FoldedCounts {
    /// Folded observations and failures up to `t`, to the second: a second counts whole
    /// once `t` is in it (so at or after the last folded time, all of them).
    pub fn until(&self, t: Nanos) -> (u64, u64) {
        let i = self.running.partition_point(|r| r.0 <= t);
        match i {
            0 => (0, 0),
            i => (self.running[i - 1].1, self.running[i - 1].2),
        }
    }
}

impl FoldedEdge {
    pub fn counts(&self) -> FoldedCounts {
        let mut running = Vec::with_capacity(self.seconds.len());
        let (mut n, mut f) = (0, 0);
        for (&start, &(c, e)) in &self.seconds {
            n += c;
            f += e;
            running.push((start, n, f));
        }
        FoldedCounts {
            count: self.count,
            errors: self.errors,
            running,
        }
    }
}

/// Which events a fold takes, and which observations go and stay.
#[derive(Debug)]
pub struct FoldPlan {
    /// Observation indices (in time order) of the folded events.
    pub folded_obs: Vec<u32>,
    /// Observation indices (in time order) of the kept events.
    pub kept_obs: Vec<u32>,
    /// Per event: folded.
    pub fold_event: Vec<bool>,
    /// Events folded.
    pub events: usize,
}

/// What a fold did, for the status line and the benchmark.
#[derive(Clone, Copy, Debug, Default)]
pub struct FoldStats {
    pub events: usize,
    pub observations: usize,
    /// Strings before and after the compaction.
    pub strings_before: usize,
    pub strings_after: usize,
}

impl Store {
    /// The fold that brings the store to four fifths of `budget` events, if it holds more
    /// than `budget`: the events whose last observation is oldest (events with no
    /// observation first). `None` when the store is within budget.
    pub fn plan_fold(&self, budget: usize) -> Option<FoldPlan> {
        let budget = budget.max(1);
        if self.events.len() <= budget {
            return None;
        }
        let keep = (budget - budget / 5).max(1);
        let excess = self.events.len() - keep;
        let mut last = vec![Nanos::MIN; self.events.len()];
        for o in &self.observations {
            if let Some(l) = last.get_mut(o.event.0 as usize) {
                *l = (*l).max(o.time);
            }
        }
        let mut sorted = last.clone();
        let (_, cut, _) = sorted.select_nth_unstable(excess - 1);
        let cut = *cut;
        let fold_event: Vec<bool> = last.iter().map(|&l| l <= cut).collect();
        let (mut folded_obs, mut kept_obs) = (Vec::new(), Vec::new());
        for (i, o) in self.observations.iter().enumerate() {
            if fold_event.get(o.event.0 as usize).copied().unwrap_or(false) {
                folded_obs.push(i as u32);
            } else {
                kept_obs.push(i as u32);
            }
        }
        let events = fold_event.iter().filter(|&&f| f).count();
        Some(FoldPlan {
            folded_obs,
            kept_obs,
            fold_event,
            events,
        })
    }

    /// Folds the plan's events out: `gone` is `self.subset(&plan.folded_obs)` (finalized),
    /// `findings` what to keep of what was found (see [`fold_findings`]). Their figures go
    /// into
    /// [`Store::folded`] and the store is compacted to the kept events. Call
    /// [`Store::finalize`] after (it rebuilds the topology with the folded figures in it).
    pub fn fold(&mut self, plan: &FoldPlan, gone: &Store, findings: Vec<Finding>) -> FoldStats {
        let mut folded = self.folded.as_deref().cloned().unwrap_or_default();
        folded.folds += 1;
        for (e, &f) in self.events.iter().zip(&plan.fold_event) {
            if f {
                folded.events += 1;
                if e.kind == EventKind::Call {
                    folded.calls += 1;
                }
            }
        }
        folded.observations += gone.observations.len() as u64;
        for o in &gone.observations {
            if o.untimed {
                folded.untimed += 1;
            } else {
                folded.first = Some(folded.first.map_or(o.time, |f| f.min(o.time)));
                folded.last = Some(folded.last.map_or(o.time, |l| l.max(o.time)));
            }
        }
        // The folded part's own topology, without what was folded before (`gone` has no
        // `folded`): its nodes and edges are this store's, by the same ids.
        let topo = &gone.topology;
        for n in topo.graph.node_weights() {
            if n.observations == 0 && n.handled == 0 {
                continue;
            }
            let f = folded.nodes.entry(n.id).or_insert_with(|| FoldedNode {
                observations: 0,
                processing: new_histogram(),
                handled: 0,
                failures: 0,
                cold_starts: 0,
            });
            f.observations += n.observations;
            f.handled += n.handled;
            f.failures += n.failures;
            f.cold_starts += n.cold_starts;
            let _ = f.processing.add(&n.processing);
        }
        for e in topo.graph.edge_weights() {
            if e.count == 0 && e.errors == 0 {
                continue;
            }
            let f = folded
                .edges
                .entry((e.from, e.to))
                .or_insert_with(|| FoldedEdge {
                    stage: e.stage,
                    count: 0,
                    errors: 0,
                    types: Vec::new(),
                    latency: None,
                    seconds: BTreeMap::new(),
                });
            f.count += e.count;
            f.errors += e.errors;
            for &(t, n) in &e.types {
                match f.types.iter_mut().find(|(x, _)| *x == t) {
                    Some((_, m)) => *m += n,
                    None => f.types.push((t, n)),
                }
            }
            if let Some(h) = &e.latency {
                let _ = f.latency.get_or_insert_with(new_histogram).add(h);
            }
            let second = |t: Nanos| t.div_euclid(NANOS_PER_SEC) * NANOS_PER_SEC;
            for &t in &e.times {
                f.seconds.entry(second(t)).or_default().0 += 1;
            }
            for &t in &e.error_times {
                f.seconds.entry(second(t)).or_default().1 += 1;
            }
        }
        merge_findings(&mut folded.findings, findings);
        let strings_before = self.strings.len();
        self.compact(plan, &mut folded);
        let stats = FoldStats {
            events: plan.events,
            observations: plan.folded_obs.len(),
            strings_before,
            strings_after: self.strings.len(),
        };
        self.folded = Some(std::sync::Arc::new(folded));
        stats
    }

    /// Keeps only the plan's kept events and their observations, with the strings and
    /// payload bytes they use (and those of nodes, declared consumers and `folded`).
    fn compact(&mut self, plan: &FoldPlan, folded: &mut Folded) {
        let old = std::mem::take(&mut self.strings);
        let mut map = vec![Sym::NONE; old.len()];
        let strings = &mut self.strings;
        let mut re = |s: Sym| -> Sym {
            let Some(slot) = map.get_mut(s.0 as usize) else {
                return Sym::NONE;
            };
            if slot.is_none() {
                *slot = strings.intern(old.resolve(s));
            }
            *slot
        };
        for n in &mut self.nodes {
            n.name = re(n.name);
            n.system = re(n.system);
            n.address = re(n.address);
        }
        self.node_keys = std::mem::take(&mut self.node_keys)
            .into_iter()
            .map(|((class, name), id)| ((class, re(name)), id))
            .collect();
        self.service_names = std::mem::take(&mut self.service_names)
            .into_iter()
            .map(|(a, b)| (re(a), re(b)))
            .collect();
        for d in &mut self.declared {
            d.kind = re(d.kind);
            d.filter = re(d.filter);
        }
        for e in folded.edges.values_mut() {
            for (t, _) in &mut e.types {
                *t = re(*t);
            }
        }
        // Events, their extensions and payloads.
        let mut arenas: Vec<Option<Vec<u8>>> = self
            .inputs
            .iter()
            .map(|i| matches!(i.payloads, PayloadSource::Arena(_)).then(Vec::new))
            .collect();
        let mut remap = vec![u32::MAX; self.events.len()];
        let old_events = std::mem::take(&mut self.events);
        let old_ext = std::mem::take(&mut self.extensions);
        self.event_keys.clear();
        self.call_events = 0;
        for (i, mut e) in old_events.into_iter().enumerate() {
            if plan.fold_event.get(i).copied().unwrap_or(true) {
                continue;
            }
            let start = e.ext_start as usize;
            let ext = old_ext
                .get(start..start + e.ext_len as usize)
                .unwrap_or_default();
            e.ext_start = self.extensions.len() as u32;
            for &(k, v) in ext {
                let v = match v {
                    ExtValue::Str(s) => ExtValue::Str(re(s)),
                    v => v,
                };
                self.extensions.push((re(k), v));
            }
            for s in [
                &mut e.source,
                &mut e.id,
                &mut e.ty,
                &mut e.specversion,
                &mut e.subject,
                &mut e.datacontenttype,
                &mut e.dataschema,
                &mut e.payload_shape,
                &mut e.trace,
                &mut e.causation,
                &mut e.correlation,
                &mut e.partition_key,
            ] {
                *s = re(*s);
            }
            if let Some(p) = &mut e.payload
                && let Some(Some(arena)) = arenas.get_mut(p.input as usize)
                && let Some(PayloadSource::Arena(bytes)) =
                    self.inputs.get(p.input as usize).map(|i| &i.payloads)
            {
                let range = p.offset as usize..p.offset as usize + p.len as usize;
                match bytes.get(range) {
                    Some(b) => {
                        p.offset = arena.len() as u64;
                        arena.extend_from_slice(b);
                    }
                    None => e.payload = None,
                }
            }
            if e.kind == EventKind::Call {
                self.call_events += 1;
            }
            let idx = EventIdx(self.events.len() as u32);
            remap[i] = idx.0;
            self.event_keys.entry((e.source, e.id)).or_insert(idx);
            self.events.push(e);
        }
        for (input, arena) in self.inputs.iter_mut().zip(arenas) {
            if let Some(mut arena) = arena {
                arena.shrink_to_fit();
                input.payloads = PayloadSource::Arena(arena);
            }
        }
        let old_obs = std::mem::take(&mut self.observations);
        self.observations.reserve_exact(plan.kept_obs.len());
        for &i in &plan.kept_obs {
            let Some(&o) = old_obs.get(i as usize) else {
                continue;
            };
            let Some(&e) = remap.get(o.event.0 as usize) else {
                continue;
            };
            if e == u32::MAX {
                continue;
            }
            let mut o = o;
            o.event = EventIdx(e);
            o.reason = re(o.reason);
            o.trace = re(o.trace);
            self.observations.push(o);
        }
        self.strings.shrink_to_fit();
        self.events.shrink_to_fit();
        self.extensions.shrink_to_fit();
        // Everything derived is rebuilt by the next finalize.
        self.topology = Topology::default();
        self.by_trace = FxHashMap::default();
        self.event_obs_start = Vec::new();
        self.event_obs = Vec::new();
        self.first_publish = Vec::new();
        self.published_more = FxHashMap::default();
        self.recent = Vec::new();
        self.finalized_len = 0;
        self.finalized_events = 0;
    }
}

/// Whether a kind of finding is about single events (or single observations), so that
/// its count over disjoint sets of events adds up: an event is folded whole, so the folded
/// part's findings plus the kept part's are the whole's. The others are patterns across
/// events (a storm, a cycle, a schema that drifts, a sequence with gaps), which the folded
/// part alone may not show.
pub fn per_event(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::DuplicatePublish
            | Kind::Redelivery
            | Kind::DuplicateProcessing
            | Kind::RetryWithoutBackoff
            | Kind::DeadLetter
            | Kind::PoisonMessage
            | Kind::ColdStart
            | Kind::NonconformantEvent
            | Kind::DualWrite
            | Kind::EventStyle
            | Kind::MissingSchema
    )
}

/// What a fold keeps of the findings: about single events, those of the folded part alone
/// (`gone`, found by the detectors on it); about patterns, those the whole store showed
/// before the fold (`whole`) that began in the folded part (at or before `cut`, its last
/// time). Findings of the whole (nothing to draw; a declared consumer that received
/// nothing) are judged on the kept store with the folded figures, not kept here.
pub fn fold_findings(gone: Vec<Finding>, whole: Vec<Finding>, cut: Nanos) -> Vec<Finding> {
    let whole_kind =
        |k: Kind| matches!(k, Kind::NoEventFlow | Kind::IdleConsumer | Kind::GrowingLag);
    gone.into_iter()
        .filter(|f| per_event(f.kind) && !whole_kind(f.kind))
        .chain(whole.into_iter().filter(|f| {
            !per_event(f.kind) && !whole_kind(f.kind) && f.first.is_none_or(|t| t <= cut)
        }))
        .collect()
}

/// The folded findings to report beside `kept` (the detectors' findings on the kept
/// store): all those about single events; those about a pattern unless the kept store
/// shows the same pattern (kind, nodes and edges), which then speaks for it.
pub fn folded_findings<'a>(
    folded: &'a Folded,
    kept: &'a [Finding],
) -> impl Iterator<Item = Finding> + 'a {
    folded
        .findings
        .iter()
        .filter(move |f| {
            per_event(f.kind)
                || !kept.iter().any(|k| {
                    k.kind == f.kind && k.node_ids == f.node_ids && k.edge_ids == f.edge_ids
                })
        })
        .cloned()
}

/// Adds a fold's findings to those of earlier folds: one per kind, nodes and edges, the
/// time span widened, the counts summed for findings about single events (disjoint sets
/// of events) and the larger one kept for patterns.
fn merge_findings(into: &mut Vec<Finding>, new: Vec<Finding>) {
    for mut f in new {
        // Its events are gone from the store: the examples keep their ids, not indices.
        f.events.clear();
        let same = into
            .iter_mut()
            .find(|g| g.kind == f.kind && g.node_ids == f.node_ids && g.edge_ids == f.edge_ids);
        match same {
            Some(g) => {
                if per_event(f.kind) {
                    g.count += f.count;
                } else {
                    g.count = g.count.max(f.count);
                }
                g.first = min_opt(g.first, f.first);
                g.last = g.last.max(f.last);
                for ex in f.examples {
                    if g.examples.len() < 5 && !g.examples.contains(&ex) {
                        g.examples.push(ex);
                    }
                }
            }
            None => {
                f.title = format!("{} (folded)", f.title);
                f.detail = format!(
                    "{}\nFound in events that retention has since folded out of the store \
                     (--max-events): the figures are kept, the events themselves are not.",
                    f.detail
                );
                into.push(f);
            }
        }
    }
}

fn min_opt(a: Option<Nanos>, b: Option<Nanos>) -> Option<Nanos> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
