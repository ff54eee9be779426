//! Delivery: `dead-letter`, `poison-message`, `retry-without-backoff`, `cold-start`,
//! `timeout-risk`, `out-of-order` and `sequence-gap`.
//!
//! Every detector here is one or two passes over the observations (or the events' own
//! observation lists), plus a sort of the sequenced events for ordering: O(n log n).

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, ms, name, plural};
use crate::model::*;
use crate::time::Nanos;
use rustc_hash::FxHashMap;

/// Runs the delivery detectors.
pub fn detect(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    dead_letters(store, cfg, &mut out);
    retries(store, cfg, &mut out);
    handlers(store, cfg, &mut out);
    ordering(store, cfg, &mut out);
    out
}

fn dead_letters(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let mut groups: FxHashMap<(NodeId, Sym, Sym), Acc> = FxHashMap::default();
    for o in &store.observations {
        if o.stage != Stage::DeadLetter {
            continue;
        }
        let ty = store.events[o.event.0 as usize].ty;
        let acc = groups.entry((o.to, ty, o.reason)).or_default();
        acc.add(o.event, o.time, cfg.max_examples);
        acc.edge(o.from, o.to);
    }
    for ((dlq, ty, reason), acc) in groups {
        let ty_s = crate::analysis::report::clean(store.str(ty));
        let reason_s = crate::analysis::report::clean(store.str(reason));
        let n = acc.count;
        let why = if reason.is_none() {
            "no reason recorded".to_string()
        } else {
            format!("reason \"{reason_s}\"")
        };
        out.push(acc.finish(
            store,
            Kind::DeadLetter,
            Severity::Warning,
            format!(
                "{} of type {ty_s} dead-lettered to {} ({why})",
                plural(n, "event", "events"),
                name(store, dlq)
            ),
            format!(
                "These events were given up on and parked in {}. Inspect them (the examples \
                 list their source and id), fix the cause ({why}) and re-drive them; a \
                 dead-letter queue nobody drains loses the business operation.",
                name(store, dlq)
            ),
            Evidence {
                event_type: Some(ty_s),
                reason: reason.some().map(|_| reason_s),
                ..Evidence::default()
            },
        ));
    }
}

/// One arrival (delivery or handling) of an event at a handler.
#[derive(Clone, Copy)]
struct Arrival {
    handler: NodeId,
    from: NodeId,
    time: Nanos,
    deliver: bool,
    failed: bool,
    attempt: u16,
}

#[derive(Default)]
struct RetryGroup {
    acc: Acc,
    max_attempts: u64,
    intervals: Vec<f64>,
    /// The longest first retry interval of the events judged without backoff.
    max_first: i64,
}

fn retries(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let max = cfg.max_examples;
    let mut poison: FxHashMap<(NodeId, NodeId), RetryGroup> = FxHashMap::default();
    let mut no_backoff: FxHashMap<(NodeId, NodeId), RetryGroup> = FxHashMap::default();
    let mut arrivals: Vec<Arrival> = Vec::new();
    let mut times: Vec<Nanos> = Vec::new();
    // Events retried once: one interval says nothing on its own; they join a finding whose
    // retries on the same edge came as fast.
    let mut single: Vec<((NodeId, NodeId), EventIdx, Nanos, Nanos)> = Vec::new();
    for e in 0..store.events.len() {
        let ev = EventIdx(e as u32);
        let obs = store.observations_of(ev);
        if obs.len() < 2 {
            continue;
        }
        arrivals.clear();
        for &i in obs {
            let o = &store.observations[i as usize];
            if o.inferred || !matches!(o.stage, Stage::Deliver | Stage::Handle) {
                continue;
            }
            arrivals.push(Arrival {
                handler: o.to,
                from: o.from,
                time: o.time,
                deliver: o.stage == Stage::Deliver,
                failed: o.outcome.is_failure(),
                attempt: o.attempt,
            });
        }
        if arrivals.len() < 2 {
            continue;
        }
        // Group by handler, keeping time order within each.
        arrivals.sort_by_key(|a| (a.handler, a.time));
        let mut start = 0;
        while start < arrivals.len() {
            let h = arrivals[start].handler;
            let end = start
                + arrivals[start..]
                    .iter()
                    .take_while(|a| a.handler == h)
                    .count();
            let group = &arrivals[start..end];
            start = end;
            let failures = group.iter().filter(|a| !a.deliver && a.failed).count() as u64;
            let max_attempt = group
                .iter()
                .filter(|a| a.failed)
                .map(|a| u64::from(a.attempt))
                .max()
                .unwrap_or(0);
            let channel = group
                .iter()
                .map(|a| a.from)
                .find(|f| !f.is_none())
                .unwrap_or(NodeId::NONE);
            let attempts = failures.max(max_attempt);
            // A later success means the failures were transient (an outage), not the event.
            let last_fail = group.iter().rposition(|a| !a.deliver && a.failed);
            let recovered =
                last_fail.is_some_and(|lf| group[lf..].iter().any(|a| !a.deliver && !a.failed));
            if attempts >= u64::from(cfg.poison_attempts) && !recovered {
                let g = poison.entry((channel, h)).or_default();
                g.max_attempts = g.max_attempts.max(attempts);
                let first_fail = group.iter().find(|a| a.failed).map_or(0, |a| a.time);
                g.acc.add(ev, first_fail, max);
                if let Some(last) = group.iter().rev().find(|a| a.failed) {
                    g.acc.time(last.time);
                }
                g.acc.edge(channel, h);
                g.acc.node(h);
            }
            if failures == 0 {
                continue;
            }
            // Attempt times: deliveries if the capture has them, else handlings.
            let has_deliveries = group.iter().any(|a| a.deliver);
            times.clear();
            times.extend(
                group
                    .iter()
                    .filter(|a| a.deliver == has_deliveries)
                    .map(|a| a.time),
            );
            if times.len() == 2 {
                single.push(((channel, h), ev, times[0], times[1]));
                continue;
            }
            if times.len() < 3 {
                continue;
            }
            let first = times[1] - times[0];
            let last = times[times.len() - 1] - times[times.len() - 2];
            if (last as f64) <= (first as f64) * cfg.retry.min_growth {
                let g = no_backoff.entry((channel, h)).or_default();
                g.max_attempts = g.max_attempts.max(times.len() as u64);
                g.acc.add(ev, times[0], max);
                g.acc.time(times[times.len() - 1]);
                g.acc.edge(channel, h);
                g.acc.node(h);
                g.max_first = g.max_first.max(first);
                if g.intervals.is_empty() {
                    g.intervals = times.windows(2).map(|w| ms(w[1] - w[0])).collect();
                }
            }
        }
    }
    for (key, ev, t0, t1) in single {
        if let Some(g) = no_backoff.get_mut(&key)
            && (t1 - t0) as f64 <= g.max_first as f64 * cfg.retry.min_growth
        {
            g.acc.add(ev, t0, max);
            g.acc.time(t1);
        }
    }
    for ((_, h), g) in poison {
        let n = g.acc.count;
        out.push(g.acc.finish(
            store,
            Kind::PoisonMessage,
            Severity::Error,
            format!(
                "{} failed {} or more times in {}",
                plural(n, "event", "events"),
                cfg.poison_attempts,
                name(store, h)
            ),
            format!(
                "Each of these events failed at least {} attempts (up to {}) and never \
                 succeeded: retrying will not help. Look at the handler's error for the examples, route such events \
                 to a dead-letter queue after a bounded number of attempts, and make sure \
                 they do not block the events behind them.",
                cfg.poison_attempts, g.max_attempts
            ),
            Evidence {
                max_attempts: Some(g.max_attempts),
                ..Evidence::default()
            },
        ));
    }
    for ((_, h), g) in no_backoff {
        let n = g.acc.count;
        out.push(g.acc.finish(
            store,
            Kind::RetryWithoutBackoff,
            Severity::Warning,
            format!(
                "{} retried in {} without backoff",
                plural(n, "event", "events"),
                name(store, h)
            ),
            format!(
                "The intervals between attempts do not grow (first example: {:?} ms), so a \
                 failing dependency gets hammered at full rate and a retry storm can follow. \
                 Use exponential backoff with jitter and a bounded number of attempts.",
                g.intervals
            ),
            Evidence {
                max_attempts: Some(g.max_attempts),
                intervals_ms: g.intervals,
                ..Evidence::default()
            },
        ));
    }
}

/// Per handler: processing times for cold starts and timeout risk.
struct HandlerStats {
    handler: NodeId,
    marked_cold: bool,
    warm: LatencyHistogram,
    cold: LatencyHistogram,
    cold_acc: Acc,
    /// The cold invocations (observation indices, in time order).
    cold_obs: Vec<u32>,
    all: LatencyHistogram,
    /// Shortest processing time that ended in a timeout (the observed limit).
    timeout_at: Option<i64>,
    last_end: Option<Nanos>,
}

/// A handler's processing time split into cold and warm invocations, exactly as the
/// `cold-start` finding splits them (marked in the input, else inferred from idle gaps and
/// slowness). The GUI shows these figures; it never splits on its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ColdWarm {
    pub handler: NodeId,
    /// Processing time of the cold invocations (ms), when any had a duration.
    pub cold: Option<LatencySummary>,
    /// Processing time of the warm invocations (ms).
    pub warm: Option<LatencySummary>,
    /// Cold invocations (with or without a duration).
    pub cold_count: u64,
    /// True when the input marks no cold start for this handler and they were inferred.
    pub inferred: bool,
    /// The cold invocations: indices into `store.observations`, in time order.
    pub cold_observations: Vec<u32>,
}

/// The cold/warm split of every handler with processing times, by handler id.
pub fn cold_warm(store: &Store, cfg: &AnalysisConfig) -> Vec<ColdWarm> {
    let mut v: Vec<ColdWarm> = handler_stats(store, cfg)
        .into_iter()
        .map(|st| ColdWarm {
            handler: st.handler,
            cold: LatencySummary::of(&st.cold),
            warm: LatencySummary::of(&st.warm),
            cold_count: st.cold_acc.count,
            inferred: !st.marked_cold,
            cold_observations: st.cold_obs,
        })
        .collect();
    v.sort_by_key(|c| c.handler);
    v
}

fn handler_stats(store: &Store, cfg: &AnalysisConfig) -> Vec<HandlerStats> {
    let max = cfg.max_examples;
    let mut slots: FxHashMap<NodeId, usize> = FxHashMap::default();
    let mut stats: Vec<HandlerStats> = Vec::new();
    for (oi, o) in store.observations.iter().enumerate() {
        if o.stage != Stage::Handle {
            continue;
        }
        let s = *slots.entry(o.to).or_insert_with(|| {
            stats.push(HandlerStats {
                handler: o.to,
                marked_cold: false,
                warm: new_histogram(),
                cold: new_histogram(),
                cold_acc: Acc::default(),
                cold_obs: Vec::new(),
                all: new_histogram(),
                timeout_at: None,
                last_end: None,
            });
            stats.len() - 1
        });
        let st = &mut stats[s];
        if o.duration >= 0 {
            record_nanos(&mut st.all, o.duration);
            if o.outcome == Outcome::Timeout {
                st.timeout_at = Some(st.timeout_at.map_or(o.duration, |t| t.min(o.duration)));
            }
        }
        if o.cold_start {
            st.marked_cold = true;
            st.cold_acc.add(o.event, o.time, max);
            st.cold_acc.edge(o.from, o.to);
            st.cold_acc.node(o.to);
            st.cold_obs.push(oi as u32);
            if o.duration >= 0 {
                record_nanos(&mut st.cold, o.duration);
            }
        } else if o.duration >= 0 {
            record_nanos(&mut st.warm, o.duration);
        }
    }
    // Handlers without marks: infer cold starts from idle gaps and slowness.
    let gap = i64::try_from(cfg.cold_start.idle_gap_ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    if stats.iter().any(|s| !s.marked_cold && !s.all.is_empty()) {
        let thresholds: Vec<Option<i64>> = stats
            .iter()
            .map(|s| {
                (!s.marked_cold && !s.all.is_empty()).then(|| {
                    (s.all.value_at_quantile(0.5) as f64 * 1000.0 * cfg.cold_start.slower_than)
                        as i64
                })
            })
            .collect();
        for (st, t) in stats.iter_mut().zip(&thresholds) {
            if t.is_some() {
                st.warm = new_histogram();
            }
        }
        for (oi, o) in store.observations.iter().enumerate() {
            if o.stage != Stage::Handle {
                continue;
            }
            let Some(&s) = slots.get(&o.to) else { continue };
            let Some(threshold) = thresholds[s] else {
                continue;
            };
            let st = &mut stats[s];
            // The first invocation in a capture is not evidence: the capture may have
            // started in the middle of a warm run.
            let idle = st.last_end.is_some_and(|end| o.time - end >= gap);
            let end = o.time + o.duration.max(0);
            st.last_end = Some(st.last_end.map_or(end, |l| l.max(end)));
            if o.duration < 0 {
                continue;
            }
            if idle && o.duration > threshold {
                st.cold_acc.add(o.event, o.time, max);
                st.cold_acc.edge(o.from, o.to);
                st.cold_acc.node(o.to);
                st.cold_obs.push(oi as u32);
                record_nanos(&mut st.cold, o.duration);
            } else {
                record_nanos(&mut st.warm, o.duration);
            }
        }
    }
    stats
}

fn handlers(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let max = cfg.max_examples;
    let stats = handler_stats(store, cfg);
    // Timeout risk: handlers whose p99 is within the margin of their limit, then one pass
    // for the invocations at risk of all of them.
    let mut risky: Vec<(NodeId, f64, f64, i64, bool)> = Vec::new();
    for st in &stats {
        let hname = store.node_name(st.handler);
        let configured = cfg.timeout_limit_ms(hname);
        let Some(limit) = configured.or(st.timeout_at.map(ms)) else {
            continue;
        };
        if st.all.is_empty() {
            continue;
        }
        let p99 = st.all.value_at_quantile(0.99) as f64 / 1000.0;
        let risk_from = limit * (1.0 - cfg.timeouts.margin);
        if p99 >= risk_from {
            let from_ns = (risk_from * 1_000_000.0) as i64;
            risky.push((st.handler, p99, limit, from_ns, configured.is_some()));
        }
    }
    if !risky.is_empty() {
        let mut accs: Vec<Acc> = vec![Acc::default(); risky.len()];
        for o in &store.observations {
            if o.stage != Stage::Handle {
                continue;
            }
            if let Some(i) = risky.iter().position(|r| r.0 == o.to)
                && o.duration >= risky[i].3
            {
                accs[i].add(o.event, o.time, max);
                accs[i].edge(o.from, o.to);
            }
        }
        for ((h, p99, limit, _, configured), mut acc) in risky.into_iter().zip(accs) {
            acc.node(h);
            let source = if configured {
                "configured"
            } else {
                "observed in its timeouts"
            };
            out.push(acc.finish(
                store,
                Kind::TimeoutRisk,
                Severity::Warning,
                format!(
                    "{}: processing p99 {p99:.1} ms is within {:.0}% of its {limit:.0} ms limit",
                    name(store, h),
                    cfg.timeouts.margin * 100.0
                ),
                format!(
                    "The limit ({source}) leaves no headroom: a slower dependency or a cold \
                     start pushes invocations over it, they time out and get retried. Raise \
                     the limit, make the work smaller (batch less, move slow calls out of the \
                     handler) or find what makes the slow tail slow."
                ),
                Evidence {
                    p99_ms: Some(p99),
                    limit_ms: Some(limit),
                    ..Evidence::default()
                },
            ));
        }
    }
    for st in stats {
        let h = st.handler;
        // Cold starts.
        if st.cold_acc.count == 0 {
            continue;
        }
        let p50 = |hist: &LatencyHistogram| {
            (!hist.is_empty()).then(|| hist.value_at_quantile(0.5) as f64 / 1000.0)
        };
        let (cold, warm) = (p50(&st.cold), p50(&st.warm));
        let slow = match (cold, warm) {
            (Some(c), Some(w)) => c >= w * cfg.cold_start.slower_than,
            _ => false,
        };
        let n = st.cold_acc.count;
        let figures = match (cold, warm) {
            (Some(c), Some(w)) => format!("cold p50 {c:.1} ms vs warm p50 {w:.1} ms"),
            (Some(c), None) => format!("cold p50 {c:.1} ms"),
            _ => "no processing times recorded".to_string(),
        };
        let how = if st.marked_cold {
            "marked as cold starts in the capture"
        } else {
            "inferred: first invocations after an idle gap that were much slower than usual"
        };
        out.push(st.cold_acc.finish(
            store,
            Kind::ColdStart,
            if slow {
                Severity::Warning
            } else {
                Severity::Info
            },
            format!(
                "{}: {} ({figures})",
                name(store, h),
                plural(n, "cold start", "cold starts")
            ),
            format!(
                "{} ({how}). Cold invocations add their start-up time to the delivery and \
                 end-to-end latency. Keep instances warm (provisioned concurrency, minimum \
                 instances), trim start-up work and package size, or accept it where latency \
                 does not matter.",
                plural(n, "invocation was", "invocations were")
            ),
            Evidence {
                cold_p50_ms: cold,
                warm_p50_ms: warm,
                inferred: Some(!st.marked_cold),
                ..Evidence::default()
            },
        ));
    }
}

fn ordering(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    // (source, partition key, time of first observation, sequence, event)
    let mut seq: Vec<(Sym, Sym, Nanos, i64, EventIdx)> = Vec::new();
    for (i, e) in store.events.iter().enumerate() {
        let Some(s) = e.sequence else { continue };
        let ev = EventIdx(i as u32);
        let obs = store.observations_of(ev);
        let first_publish = obs
            .iter()
            .map(|&o| &store.observations[o as usize])
            .find(|o| o.stage == Stage::Publish)
            .or_else(|| obs.first().map(|&o| &store.observations[o as usize]));
        let Some(o) = first_publish else { continue };
        // Kafka offsets (kcat) count per partition, whoever produced the message.
        let kafka = store
            .inputs
            .get(e.loc.input as usize)
            .is_some_and(|i| i.format == Some(Format::Kcat));
        let source = if kafka && !e.partition_key.is_none() {
            Sym::NONE
        } else {
            e.source
        };
        seq.push((source, e.partition_key, o.time, s, ev));
    }
    if seq.len() < 2 {
        return;
    }
    let producer = |src: Sym| {
        store
            .find_node(NodeClass::Service, store.str(src))
            .unwrap_or(NodeId::NONE)
    };
    // Out of order: in publish order, a sequence below the highest seen so far.
    seq.sort_unstable_by_key(|x| (x.0, x.1, x.2, x.3));
    for group in seq.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let key = (group[0].0, group[0].1);
        let mut acc = Acc::default();
        let mut high = i64::MIN;
        for x in group {
            if x.3 < high {
                acc.add(x.4, x.2, cfg.max_examples);
            }
            high = high.max(x.3);
        }
        if acc.count > 0 {
            acc.node(producer(key.0));
            let n = acc.count;
            out.push(
                acc.finish(
                    store,
                    Kind::OutOfOrder,
                    Severity::Warning,
                    format!(
                        "{} from {} out of sequence order{}",
                        plural(n, "event", "events"),
                        stream_name(store, key.0),
                        partition_suffix(store, key.1)
                    ),
                    "These events were published after an event with a higher `sequence`. \
                 Consumers that apply them in arrival order see stale state: order by \
                 `sequence` on the consumer side, or keep one partition key per ordered \
                 stream with a single writer."
                        .to_string(),
                    Evidence {
                        partition_key: key.1.some().map(|k| store.str(k).to_string()),
                        ..Evidence::default()
                    },
                ),
            );
        }
    }
    // Gaps: holes in the sorted set of sequence numbers of each stream.
    seq.sort_unstable_by_key(|x| (x.0, x.1, x.3, x.2));
    for group in seq.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let key = (group[0].0, group[0].1);
        let mut acc = Acc::default();
        let mut missing: u64 = 0;
        for w in group.windows(2) {
            let d = w[1].3.saturating_sub(w[0].3);
            if d > 1 {
                let holes = (d - 1) as u64;
                missing += holes;
                acc.add(w[1].4, w[1].2, cfg.max_examples);
            }
        }
        if missing > 0 {
            acc.count = missing;
            acc.node(producer(key.0));
            out.push(
                acc.finish(
                    store,
                    Kind::SequenceGap,
                    Severity::Warning,
                    format!(
                        "{} missing from {}{}",
                        plural(missing, "sequence number", "sequence numbers"),
                        stream_name(store, key.0),
                        partition_suffix(store, key.1)
                    ),
                    "Events between the listed ones (each example follows a gap) were never \
                 seen: lost in transit, filtered, or not captured. Check the producer's \
                 publish errors and the broker's retention; consumers relying on \
                 `sequence` should detect and fetch the missing range."
                        .to_string(),
                    Evidence {
                        missing: Some(missing),
                        partition_key: key.1.some().map(|k| store.str(k).to_string()),
                        ..Evidence::default()
                    },
                ),
            );
        }
    }
}

fn stream_name(store: &Store, source: Sym) -> String {
    match source.some() {
        Some(s) => crate::analysis::report::clean(store.str(s)),
        None => "the partition".to_string(),
    }
}

fn partition_suffix(store: &Store, key: Sym) -> String {
    match key.some() {
        Some(k) => format!(
            " (partition key {})",
            crate::analysis::report::clean(store.str(k))
        ),
        None => String::new(),
    }
}
