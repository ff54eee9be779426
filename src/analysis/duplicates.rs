//! Duplicates: `duplicate-publish` (one (source, id) published twice), `redelivery` (one
//! event delivered twice to one handler, for whatever reason: the finding says how many
//! were retries and how many followed a second publish) and `duplicate-processing` (a handler succeeded twice on one event).
//!
//! One pass over the events, each walking its own observations in time order through the
//! store's per-event index: O(observations).

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, name, plural};
use crate::model::*;
use rustc_hash::FxHashMap;

/// Per-handler state while walking one event's observations.
#[derive(Clone, Copy)]
struct HandlerState {
    handler: NodeId,
    /// Deliveries seen (or handlings, when the capture has no deliveries).
    arrivals: u32,
    /// Publishes of the event to the channel at the last arrival.
    publishes_at_last: u32,
    /// A failed handling since the last arrival (a retry is expected).
    failed_since: bool,
    /// Successful handlings.
    ok: u32,
    /// The capture has deliveries for this handler, so handlings are not arrivals.
    has_deliveries: bool,
}

#[derive(Default)]
struct Group {
    acc: Acc,
    extra: u64,
    /// Redeliveries that retried a failed attempt.
    after_failure: u64,
    /// Redeliveries explained by a second publish of the event.
    after_publish: u64,
}

fn group(map: &mut FxHashMap<(NodeId, NodeId), Group>, from: NodeId, to: NodeId) -> &mut Group {
    map.entry((from, to)).or_insert_with(|| {
        let mut g = Group::default();
        g.acc.edge(from, to);
        g.acc.node(to);
        g
    })
}

/// Counts one extra sighting (of kind `which`: 0 publish, 1 delivery, 2 processing) on its
/// edge's group. The event is an example once per group; later sightings only widen the
/// time range.
fn extra<'a>(
    map: &'a mut FxHashMap<(NodeId, NodeId), Group>,
    counted: &mut Vec<(u8, NodeId, NodeId)>,
    which: u8,
    ev: EventIdx,
    o: &Observation,
    max: usize,
) -> &'a mut Group {
    let g = group(map, o.from, o.to);
    g.extra += 1;
    if counted.contains(&(which, o.from, o.to)) {
        g.acc.time(o.time);
    } else {
        counted.push((which, o.from, o.to));
        g.acc.add(ev, o.time, max);
    }
    g
}

/// Finds duplicate publishes, redeliveries and duplicate processing.
pub fn detect(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    let max = cfg.max_examples;
    let mut publishes: FxHashMap<(NodeId, NodeId), Group> = FxHashMap::default();
    let mut redeliveries: FxHashMap<(NodeId, NodeId), Group> = FxHashMap::default();
    let mut processing: FxHashMap<(NodeId, NodeId), Group> = FxHashMap::default();
    // Scratch, reused for every event: (producer, channel, publishes).
    let mut pubs: Vec<(NodeId, NodeId, u32)> = Vec::new();
    let mut handlers: Vec<HandlerState> = Vec::new();
    // Per event: which edges already counted it.
    let mut counted: Vec<(u8, NodeId, NodeId)> = Vec::new();
    for e in 0..store.events.len() {
        let ev = EventIdx(e as u32);
        let obs = store.observations_of(ev);
        if obs.len() < 2 {
            continue;
        }
        pubs.clear();
        handlers.clear();
        counted.clear();
        for &i in obs {
            let o = &store.observations[i as usize];
            if o.stage == Stage::Deliver
                && !o.inferred
                && let Some(h) = handlers.iter_mut().find(|h| h.handler == o.to)
            {
                h.has_deliveries = true;
            } else if o.stage == Stage::Deliver && !o.inferred {
                handlers.push(HandlerState {
                    handler: o.to,
                    arrivals: 0,
                    publishes_at_last: 0,
                    failed_since: false,
                    ok: 0,
                    has_deliveries: true,
                });
            }
        }
        for &i in obs {
            let o = &store.observations[i as usize];
            if o.inferred {
                continue;
            }
            match o.stage {
                Stage::Publish => match pubs.iter_mut().find(|p| p.1 == o.to) {
                    Some(p) => {
                        p.2 += 1;
                        extra(&mut publishes, &mut counted, 0, ev, o, max);
                    }
                    None => pubs.push((o.from, o.to, 1)),
                },
                Stage::Deliver | Stage::Handle => {
                    let published = pubs.iter().find(|p| p.1 == o.from).map_or(0, |p| p.2);
                    let idx = match handlers.iter().position(|h| h.handler == o.to) {
                        Some(i) => i,
                        None => {
                            handlers.push(HandlerState {
                                handler: o.to,
                                arrivals: 0,
                                publishes_at_last: 0,
                                failed_since: false,
                                ok: 0,
                                has_deliveries: false,
                            });
                            handlers.len() - 1
                        }
                    };
                    let h = &mut handlers[idx];
                    let is_arrival = o.stage == Stage::Deliver || !h.has_deliveries;
                    if is_arrival {
                        if h.arrivals > 0 {
                            let g = extra(&mut redeliveries, &mut counted, 1, ev, o, max);
                            if h.failed_since {
                                g.after_failure += 1;
                            } else if published > h.publishes_at_last {
                                g.after_publish += 1;
                            }
                        }
                        h.arrivals += 1;
                        h.publishes_at_last = published;
                        h.failed_since = false;
                    }
                    if o.stage == Stage::Handle {
                        if o.outcome.is_failure() {
                            h.failed_since = true;
                        } else {
                            h.ok += 1;
                            if h.ok >= 2 {
                                extra(&mut processing, &mut counted, 2, ev, o, max);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for ((from, to), g) in publishes {
        let n = g.acc.count;
        out.push(g.acc.finish(
            store,
            Kind::DuplicatePublish,
            Severity::Warning,
            format!(
                "{} published more than once by {} to {}",
                plural(n, "event", "events"),
                name(store, from),
                name(store, to)
            ),
            format!(
                "The same CloudEvents source+id was published {} extra. Consumers that do \
                 not deduplicate on (source, id) will act on these twice. Make the publish \
                 idempotent (transactional outbox, broker-side deduplication by message id, \
                 idempotent producer) and deduplicate on (source, id) in consumers.",
                plural(g.extra, "time", "times")
            ),
            Evidence {
                extra: Some(g.extra),
                ..Evidence::default()
            },
        ));
    }
    for ((from, to), g) in redeliveries {
        let n = g.acc.count;
        let plain = g.extra - g.after_failure - g.after_publish;
        let mut detail = format!(
            "{}: {} retried a failed attempt, {} followed a second publish of the same event, \
             {} came with no failure and no new publish (at-least-once delivery: an ack lost \
             or late, an ack deadline shorter than the processing time).",
            plural(g.extra, "extra delivery", "extra deliveries"),
            g.after_failure,
            g.after_publish,
            plain
        );
        detail.push_str(
            " Every handler must be idempotent: record processed (source, id) pairs (inbox \
             pattern) and skip repeats.",
        );
        out.push(g.acc.finish(
            store,
            Kind::Redelivery,
            if plain > 0 {
                Severity::Warning
            } else {
                Severity::Info
            },
            format!(
                "{} delivered more than once from {} to {}",
                plural(n, "event", "events"),
                name(store, from),
                name(store, to)
            ),
            detail,
            Evidence {
                extra: Some(g.extra),
                ..Evidence::default()
            },
        ));
    }
    for ((from, to), g) in processing {
        let n = g.acc.count;
        let mut detail = format!(
            "An idempotency violation: {} ran their side effects {} extra. Store the \
             processed (source, id) in the same transaction as the side effect (inbox \
             pattern) and skip events already processed.",
            plural(n, "event", "events"),
            plural(g.extra, "time", "times")
        );
        if !from.is_none() {
            detail.push_str(&format!(" They arrived from {}.", name(store, from)));
        }
        out.push(g.acc.finish(
            store,
            Kind::DuplicateProcessing,
            Severity::Error,
            format!(
                "{} processed {} successfully more than once",
                name(store, to),
                plural(n, "event", "events")
            ),
            detail,
            Evidence {
                extra: Some(g.extra),
                ..Evidence::default()
            },
        ));
    }
    out
}
