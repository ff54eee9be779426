//! Governance: `orphan-channel` (publishes, no observed consumer), `shared-ownership` (one
//! type produced by several sources) and `dual-write` (one handler invocation that both
//! writes a store and publishes directly, without an outbox relay between them).

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, name, plural};
use crate::analysis::report::clean;
use crate::model::*;
use rustc_hash::FxHashMap;

/// Runs the governance detectors.
pub fn detect(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    orphans(store, cfg, &mut out);
    ownership(store, cfg, &mut out);
    dual_writes(store, cfg, &mut out);
    out
}

fn orphans(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let mut consumed: Vec<bool> = vec![false; store.nodes.len()];
    let mut any_consumer = false;
    for o in &store.observations {
        if matches!(o.stage, Stage::Deliver | Stage::Handle) {
            any_consumer = true;
            if let Some(c) = consumed.get_mut(o.from.0 as usize) {
                *c = true;
            }
        }
    }
    let g = &store.topology.graph;
    for ix in g.node_indices() {
        let node = &g[ix];
        if node.kind != NodeKind::Channel || consumed.get(node.id.0 as usize) == Some(&true) {
            continue;
        }
        // A broker declares its consumers: `idle-consumer` speaks for them.
        if store.declared.iter().any(|d| d.channel == node.id) {
            continue;
        }
        let mut acc = Acc::default();
        acc.node(node.id);
        let mut published = false;
        for e in g.edges_directed(ix, petgraph::Direction::Incoming) {
            let w = e.weight();
            if w.stage != Stage::Publish || w.count == 0 {
                continue;
            }
            published = true;
            acc.edge(w.from, w.to);
            for &oi in &w.observations {
                let o = &store.observations[oi as usize];
                acc.add(o.event, o.time, cfg.max_examples);
            }
        }
        if !published {
            continue;
        }
        let n = acc.count;
        let (severity, detail) = if any_consumer {
            (
                Severity::Warning,
                "Events are published here but no handler was seen receiving them: a \
                 subscription is missing or broken, or the events are dead weight. Remove \
                 the publish or add (or fix) the consumer.",
            )
        } else {
            (
                Severity::Info,
                "The capture shows no consumer side at all (no deliveries or handlings), so \
                 consumers may simply not have been recorded.",
            )
        };
        out.push(acc.finish(
            store,
            Kind::OrphanChannel,
            severity,
            format!(
                "{}: {} published, no consumer observed",
                name(store, node.id),
                plural(n, "event", "events")
            ),
            detail.to_string(),
            Evidence::default(),
        ));
    }
}

/// Event types that frameworks give every event they send unless told otherwise.
const FRAMEWORK_DEFAULT_TYPES: &[&str] = &["com.dapr.event.sent"];

fn ownership(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    // Per type: its sources with an accumulator each.
    let mut types: FxHashMap<Sym, Vec<(Sym, Acc)>> = FxHashMap::default();
    for (i, e) in store.events.iter().enumerate() {
        if e.kind == EventKind::Call {
            continue; // a call has no event type to own or a payload to shape
        }
        // A framework's default type (Dapr's `com.dapr.event.sent`) is nobody's claim.
        if FRAMEWORK_DEFAULT_TYPES.contains(&store.str(e.ty)) {
            continue;
        }
        let ev = EventIdx(i as u32);
        let first = store.first_observation(ev).copied();
        let sources = types.entry(e.ty).or_default();
        let si = match sources.iter().position(|s| s.0 == e.source) {
            Some(s) => s,
            None if sources.len() < 64 => {
                sources.push((e.source, Acc::default()));
                sources.len() - 1
            }
            None => sources.len() - 1,
        };
        let acc = &mut sources[si].1;
        match first {
            Some(o) => {
                acc.add(ev, o.time, cfg.max_examples);
                if o.stage == Stage::Publish {
                    acc.edge(o.from, o.to);
                }
            }
            None => acc.count += 1,
        }
    }
    let mut list: Vec<(Sym, Vec<(Sym, Acc)>)> = types.into_iter().collect();
    list.sort_by_key(|t| t.0);
    for (ty, sources) in list {
        if sources.len() < 2 {
            continue;
        }
        let mut acc = Acc::default();
        let mut names = Vec::new();
        // Examples: a few from each source.
        let per = (cfg.max_examples / sources.len()).max(1);
        for (src, a) in &sources {
            names.push(clean(store.str(*src)));
            acc.count += a.count;
            for &e in a.events.iter().take(per) {
                if acc.events.len() < cfg.max_examples {
                    acc.events.push(e);
                }
            }
            if let (Some(f), Some(l)) = (a.first, a.last) {
                acc.time(f);
                acc.time(l);
            }
            for &(f, t) in &a.edges {
                acc.edge(f, t);
            }
        }
        let ty_s = clean(store.str(ty));
        out.push(acc.finish(
            store,
            Kind::SharedOwnership,
            Severity::Warning,
            format!("{ty_s} is produced by {} sources", names.len()),
            format!(
                "The type has no single owner ({}): its meaning and schema can drift apart \
                 between producers and nobody can change it safely. Give each type one \
                 owning service, or split it into distinct types.",
                names.join(", ")
            ),
            Evidence {
                event_type: Some(ty_s),
                sources: names,
                ..Evidence::default()
            },
        ));
    }
}

#[derive(Default)]
struct DualGroup {
    acc: Acc,
    before_write: u64,
}

fn dual_writes(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    // Only handlers that both write a store and publish can dual-write.
    let mut writes = vec![false; store.nodes.len()];
    let mut publishes = vec![false; store.nodes.len()];
    for o in &store.observations {
        let slot = match o.stage {
            Stage::Store => writes.get_mut(o.from.0 as usize),
            Stage::Publish => publishes.get_mut(o.from.0 as usize),
            _ => None,
        };
        if let Some(s) = slot {
            *s = true;
        }
    }
    if !writes.iter().zip(&publishes).any(|(w, p)| *w && *p) {
        return;
    }
    // Effects by the id of their cause, for causationid links.
    let mut effects: Vec<(Sym, EventIdx)> = store
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.causation.is_none())
        .map(|(i, e)| (e.causation, EventIdx(i as u32)))
        .collect();
    effects.sort_unstable_by_key(|x| x.0);
    let mut groups: FxHashMap<NodeId, DualGroup> = FxHashMap::default();
    for (ei, ev) in store.events.iter().enumerate() {
        let e = EventIdx(ei as u32);
        let obs = store.observations_of(e);
        for &hi in obs {
            let h = &store.observations[hi as usize];
            if h.stage != Stage::Handle
                || h.duration < 0
                || h.inferred
                || !publishes.get(h.to.0 as usize).is_some_and(|p| *p)
            {
                continue;
            }
            let (start, end) = (h.time, h.time + h.duration);
            // The write of this invocation.
            let Some(write) = obs
                .iter()
                .map(|&i| &store.observations[i as usize])
                .find(|o| {
                    o.stage == Stage::Store && o.from == h.to && o.time >= start && o.time <= end
                })
            else {
                continue;
            };
            let write_end = write.time + write.duration.max(0);
            // A publish by the same handler within the invocation, linked by causation or trace.
            let mut publish: Option<&Observation> = None;
            let a = effects.partition_point(|x| x.0 < ev.id);
            for &(_, f) in effects[a..].iter().take_while(|x| x.0 == ev.id) {
                publish = store
                    .observations_of(f)
                    .iter()
                    .map(|&i| &store.observations[i as usize])
                    .find(|o| {
                        o.stage == Stage::Publish
                            && o.from == h.to
                            && o.time >= start
                            && o.time <= end
                    });
                if publish.is_some() {
                    break;
                }
            }
            if publish.is_none()
                && !h.trace.is_none()
                && let Some(trace) = store.by_trace.get(&h.trace)
            {
                let from = trace.partition_point(|&i| store.observations[i as usize].time < start);
                publish = trace[from..]
                    .iter()
                    .map(|&i| &store.observations[i as usize])
                    .take_while(|o| o.time <= end)
                    .find(|o| o.stage == Stage::Publish && o.from == h.to);
            }
            let Some(p) = publish else { continue };
            let g = groups.entry(h.to).or_default();
            g.acc.add(e, h.time, cfg.max_examples);
            g.acc.edge(write.from, write.to);
            g.acc.edge(p.from, p.to);
            if p.time < write_end {
                g.before_write += 1;
            }
        }
    }
    for (handler, g) in groups {
        let n = g.acc.count;
        let mut detail = format!(
            "In {} the handler wrote its store and published an event itself. If either \
             fails after the other succeeded, the store and the consumers disagree. Write \
             the event to an outbox table in the same transaction and let a relay publish \
             it (transactional outbox); deduplicate on the consumer side (inbox).",
            plural(n, "invocation", "invocations")
        );
        if g.before_write > 0 {
            detail.push_str(&format!(
                " In {} the event was published before the write completed, so consumers \
                 can react to state that is not (yet, or ever) stored.",
                plural(g.before_write, "of them", "of them")
            ));
        }
        out.push(g.acc.finish(
            store,
            Kind::DualWrite,
            if g.before_write > 0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            format!(
                "{}: dual write (store and publish without an outbox) in {}",
                name(store, handler),
                plural(n, "invocation", "invocations")
            ),
            detail,
            Evidence::default(),
        ));
    }
}
