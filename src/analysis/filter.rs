//! The filter expression of the events table, also applied to the graph and plots.
//!
//! Terms are separated by spaces and all must match:
//! `type:OrderPlaced source:orders channel:bus handler:handler-a node:read-model
//! outcome:error stage:deliver latency>50ms time:10..20 id:ord-1 trace:4bf9` and bare words,
//! which search the event's id, type, source, subject and payload text. Values match
//! case-insensitively as substrings. Pure logic: no egui here.

use crate::model::{EventIdx, NodeId, NodeKind, Observation, Outcome, Stage, Store};
use crate::time::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};
use rustc_hash::{FxHashMap, FxHashSet};

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Type(String),
    Source(String),
    Channel(String),
    Handler(String),
    Node(String),
    Outcome(Vec<Outcome>),
    Stage(Stage),
    LatencyAbove(Nanos),
    /// Seconds after the first observation.
    TimeRange(f64, f64),
    Id(String),
    Trace(String),
    Text(String),
}

/// A parsed filter; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub terms: Vec<Term>,
}

/// The observations a filter keeps, and what the graph needs to show them.
#[derive(Clone, Debug, Default)]
pub struct FilterResult {
    /// Matching observation indices, in time order.
    pub observations: Vec<u32>,
    /// Per edge (from, to): times of matching observations, sorted (for counts at t).
    pub edge_times: FxHashMap<(NodeId, NodeId), Vec<Nanos>>,
    /// Nodes touched by a matching observation.
    pub nodes: FxHashSet<NodeId>,
}

fn parse_duration(s: &str) -> Option<Nanos> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("ms") {
        (v, NANOS_PER_MS as f64)
    } else if let Some(v) = s.strip_suffix("us") {
        (v, 1000.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, NANOS_PER_SEC as f64)
    } else {
        (s, NANOS_PER_MS as f64)
    };
    let v: f64 = num.trim().parse().ok()?;
    v.is_finite().then_some((v * mul) as Nanos)
}

impl Filter {
    /// Parses an expression; returns the terms it could not read.
    pub fn parse(text: &str) -> (Filter, Vec<String>) {
        let mut terms = Vec::new();
        let mut bad = Vec::new();
        for word in text.split_whitespace() {
            let lower = word.to_lowercase();
            if let Some(rest) = lower.strip_prefix("latency>") {
                match parse_duration(rest) {
                    Some(n) => terms.push(Term::LatencyAbove(n)),
                    None => bad.push(word.to_string()),
                }
                continue;
            }
            let Some((k, v)) = lower.split_once(':') else {
                terms.push(Term::Text(lower));
                continue;
            };
            let v = v.to_string();
            let term = match k {
                "type" => Term::Type(v),
                "source" => Term::Source(v),
                "channel" | "topic" | "bus" => Term::Channel(v),
                "handler" => Term::Handler(v),
                "node" => Term::Node(v),
                "id" => Term::Id(v),
                "trace" => Term::Trace(v),
                "outcome" => match v.as_str() {
                    "failed" | "failure" | "fail" => {
                        Term::Outcome(vec![Outcome::Error, Outcome::Timeout])
                    }
                    other => match Outcome::parse(other) {
                        Some(o) => Term::Outcome(vec![o]),
                        None => {
                            bad.push(word.to_string());
                            continue;
                        }
                    },
                },
                "stage" => match Stage::parse(&v) {
                    Some(s) => Term::Stage(s),
                    None => {
                        bad.push(word.to_string());
                        continue;
                    }
                },
                "time" => {
                    let (a, b) = v.split_once("..").unwrap_or((v.as_str(), ""));
                    let a = if a.is_empty() {
                        Some(0.0)
                    } else {
                        a.trim_end_matches('s').parse().ok()
                    };
                    let b = if b.is_empty() {
                        Some(f64::MAX)
                    } else {
                        b.trim_end_matches('s').parse().ok()
                    };
                    match (a, b) {
                        (Some(a), Some(b)) => Term::TimeRange(a, b),
                        _ => {
                            bad.push(word.to_string());
                            continue;
                        }
                    }
                }
                _ => Term::Text(lower.clone()),
            };
            terms.push(term);
        }
        // Payload text is the costly test: run it last, on what the other terms kept.
        terms.sort_by_key(|t| matches!(t, Term::Text(_)));
        (Filter { terms }, bad)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Applies the filter to every observation (once per filter or data change, never per
    /// frame). Payload text is read back once per event.
    pub fn apply(&self, store: &Store) -> FilterResult {
        let mut out = FilterResult::default();
        let first = store.first_time().unwrap_or(0);
        let mut text_cache: FxHashMap<EventIdx, bool> = FxHashMap::default();
        let contains = |hay: &str, needle: &str| hay.to_lowercase().contains(needle);
        let node_is = |id: NodeId, kind: Option<NodeKind>, needle: &str| {
            id.some().is_some_and(|n| {
                store.nodes.get(n.0 as usize).is_some_and(|node| {
                    kind.is_none_or(|k| {
                        node.kind == k
                            || (k == NodeKind::Channel && node.kind == NodeKind::DeadLetter)
                    })
                }) && contains(store.node_name(n), needle)
            })
        };
        // A handling is drawn on its delivery edge when its delivery did not match too
        // (`outcome:error` matches handlings only), never twice.
        let mut delivered: FxHashSet<(EventIdx, NodeId, NodeId, u16)> = FxHashSet::default();
        for (i, o) in store.observations.iter().enumerate() {
            if !self.matches(store, o, first, &node_is, &contains, &mut text_cache) {
                continue;
            }
            out.observations.push(i as u32);
            for n in [o.from, o.to] {
                if n.some().is_some() {
                    out.nodes.insert(n);
                }
            }
            if o.from.some().is_none() || o.to.some().is_none() {
                continue;
            }
            let on_edge = match o.stage {
                Stage::Deliver => {
                    delivered.insert((o.event, o.from, o.to, o.attempt));
                    true
                }
                Stage::Handle => {
                    !delivered.contains(&(o.event, o.from, o.to, o.attempt))
                        && store.topology.edge_between(o.from, o.to).is_some()
                }
                _ => true,
            };
            if on_edge {
                out.edge_times
                    .entry((o.from, o.to))
                    .or_default()
                    .push(o.time);
            }
        }
        out
    }

    fn matches(
        &self,
        store: &Store,
        o: &Observation,
        first: Nanos,
        node_is: &dyn Fn(NodeId, Option<NodeKind>, &str) -> bool,
        contains: &dyn Fn(&str, &str) -> bool,
        text_cache: &mut FxHashMap<EventIdx, bool>,
    ) -> bool {
        let ev = store.event(o.event);
        self.terms.iter().all(|t| match t {
            Term::Type(v) => contains(store.str(ev.ty), v),
            Term::Source(v) => contains(store.str(ev.source), v),
            Term::Channel(v) => {
                node_is(o.from, Some(NodeKind::Channel), v)
                    || node_is(o.to, Some(NodeKind::Channel), v)
            }
            Term::Handler(v) => {
                node_is(o.from, Some(NodeKind::Handler), v)
                    || node_is(o.to, Some(NodeKind::Handler), v)
            }
            Term::Node(v) => node_is(o.from, None, v) || node_is(o.to, None, v),
            Term::Outcome(os) => os.contains(&o.outcome),
            Term::Stage(s) => o.stage == *s,
            Term::LatencyAbove(n) => o.latency > *n,
            Term::TimeRange(a, b) => {
                let s = (o.time - first) as f64 / NANOS_PER_SEC as f64;
                s >= *a && s <= *b
            }
            Term::Id(v) => contains(store.str(ev.id), v),
            Term::Trace(v) => contains(store.str(o.trace), v),
            Term::Text(v) => *text_cache.entry(o.event).or_insert_with(|| {
                [ev.id, ev.ty, ev.source, ev.subject]
                    .iter()
                    .any(|s| contains(store.str(*s), v))
                    || store
                        .payload(ev)
                        .is_some_and(|p| contains(&String::from_utf8_lossy(&p), v))
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms() {
        let (f, bad) =
            Filter::parse("type:OrderPlaced latency>50ms outcome:error foo time:1..2 stage:nope");
        assert_eq!(bad, vec!["stage:nope".to_string()]);
        assert_eq!(
            f.terms,
            vec![
                Term::Type("orderplaced".into()),
                Term::LatencyAbove(50 * NANOS_PER_MS),
                Term::Outcome(vec![Outcome::Error]),
                Term::TimeRange(1.0, 2.0),
                Term::Text("foo".into()),
            ]
        );
    }
}
