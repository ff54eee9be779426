//! Joining spans that arrive a few at a time (a followed collector file, a pipe, later an
//! OTLP receiver) into whole traces before they are mapped. The span mapping
//! ([`super::span_flow::add_spans`]) joins a consumer to its producer only among the spans
//! it is given together, so spans are held per trace until the trace is quiet: released
//! [`QUIET`] after its last new span, and at most [`MAX_HOLD`] after its first. A trace whose
//! spans link to another held trace (a consumer in a trace of its own, linked to its
//! producer) is held and released with it.
//!
//! A span that arrives for a trace already released is still mapped, with the other late
//! spans of its trace, and each is said in a note ("late span"): never dropped.
//!
//! Transport-neutral: no file, socket or clock of its own. The caller says what time it is.

use super::spans::{Span, TraceId, hex};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A trace is released this long after its last new span.
pub const QUIET: Duration = Duration::from_millis(1500);
/// A trace is released at the latest this long after its first span.
pub const MAX_HOLD: Duration = Duration::from_secs(30);
/// Released trace ids remembered, to tell a late span from a new trace.
const REMEMBERED: usize = 1 << 20;

/// Spans held together: one trace, or traces linked to each other.
struct Group {
    spans: Vec<Span>,
    traces: Vec<TraceId>,
    first: Instant,
    last: Instant,
    /// Order of arrival, so that releases are in a stable order.
    seq: u64,
}

/// What [`SpanJoiner::push`] has to say about spans it was given.
#[derive(Debug, Default)]
pub struct Pushed {
    /// `(line, note)` for each late span.
    pub late: Vec<(u64, String)>,
}

/// Holds spans per trace until the trace is quiet.
pub struct SpanJoiner {
    quiet: Duration,
    max_hold: Duration,
    groups: FxHashMap<u64, Group>,
    /// The group each held trace is in.
    group_of: FxHashMap<TraceId, u64>,
    next_group: u64,
    released: FxHashSet<TraceId>,
    released_order: VecDeque<TraceId>,
    /// Late spans so far.
    pub late_spans: u64,
}

impl Default for SpanJoiner {
    fn default() -> Self {
        SpanJoiner::new(QUIET, MAX_HOLD)
    }
}

impl SpanJoiner {
    pub fn new(quiet: Duration, max_hold: Duration) -> SpanJoiner {
        SpanJoiner {
            quiet,
            max_hold,
            groups: FxHashMap::default(),
            group_of: FxHashMap::default(),
            next_group: 0,
            released: FxHashSet::default(),
            released_order: VecDeque::new(),
            late_spans: 0,
        }
    }

    /// Spans held, waiting for their trace to be quiet.
    pub fn held(&self) -> usize {
        self.groups.values().map(|g| g.spans.len()).sum()
    }

    /// Takes spans that arrived at `now`.
    pub fn push(&mut self, spans: Vec<Span>, now: Instant) -> Pushed {
        let mut out = Pushed::default();
        for span in spans {
            let late = self.released.contains(&span.trace_id);
            if late {
                self.late_spans += 1;
                out.late.push((
                    span.line,
                    format!(
                        "{}: a late span: \"{}\" of {} arrived after its trace {} was released; mapped with the other late spans of that trace, it may not join the spans released before",
                        span.path,
                        super::cloudevents::escape_msg(&span.name),
                        super::cloudevents::escape_msg(&span.service),
                        hex(&span.trace_id)
                    ),
                ));
                // Held again (as a new group): late spans of one trace join each other.
                self.released.remove(&span.trace_id);
            }
            let mut g = self.group_for(span.trace_id, now);
            for (t, _) in &span.links {
                if let Some(&other) = self.group_of.get(t)
                    && other != g
                {
                    g = self.merge(g, other);
                }
            }
            if let Some(group) = self.groups.get_mut(&g) {
                group.last = now;
                group.spans.push(span);
            }
        }
        out
    }

    /// The group holding `trace`, new if none does.
    fn group_for(&mut self, trace: TraceId, now: Instant) -> u64 {
        if let Some(&g) = self.group_of.get(&trace) {
            return g;
        }
        let g = self.next_group;
        self.next_group += 1;
        self.groups.insert(
            g,
            Group {
                spans: Vec::new(),
                traces: vec![trace],
                first: now,
                last: now,
                seq: g,
            },
        );
        self.group_of.insert(trace, g);
        g
    }

    /// Merges group `b` into `a` (the older one stays); the group that remains.
    fn merge(&mut self, a: u64, b: u64) -> u64 {
        let (keep, gone) = if a < b { (a, b) } else { (b, a) };
        let Some(gone_group) = self.groups.remove(&gone) else {
            return keep;
        };
        for t in &gone_group.traces {
            self.group_of.insert(*t, keep);
        }
        if let Some(k) = self.groups.get_mut(&keep) {
            k.spans.extend(gone_group.spans);
            k.traces.extend(gone_group.traces);
            k.first = k.first.min(gone_group.first);
            k.last = k.last.max(gone_group.last);
        }
        keep
    }

    /// The spans of every trace that is due at `now` (quiet, or held for the longest
    /// allowed), oldest trace first.
    pub fn release(&mut self, now: Instant) -> Vec<Span> {
        let due: Vec<u64> = self
            .groups
            .iter()
            .filter(|(_, g)| {
                now.saturating_duration_since(g.last) >= self.quiet
                    || now.saturating_duration_since(g.first) >= self.max_hold
            })
            .map(|(k, _)| *k)
            .collect();
        self.take(due)
    }

    /// Every span held (the input ended).
    pub fn release_all(&mut self) -> Vec<Span> {
        let all: Vec<u64> = self.groups.keys().copied().collect();
        self.take(all)
    }

    fn take(&mut self, mut keys: Vec<u64>) -> Vec<Span> {
        keys.sort_by_key(|k| self.groups.get(k).map_or(0, |g| g.seq));
        let mut out = Vec::new();
        for k in keys {
            let Some(g) = self.groups.remove(&k) else {
                continue;
            };
            for t in g.traces {
                self.group_of.remove(&t);
                if self.released.insert(t) {
                    self.released_order.push_back(t);
                }
            }
            out.extend(g.spans);
        }
        while self.released_order.len() > REMEMBERED {
            if let Some(t) = self.released_order.pop_front() {
                self.released.remove(&t);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::spans::{SpanKind, SpanPath};
    use std::sync::Arc;

    fn span(trace: u8, id: u8, links: &[(u8, u8)]) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [id; 8],
            parent: None,
            links: links.iter().map(|(t, s)| ([*t; 16], [*s; 8])).collect(),
            service: Arc::from("svc"),
            kind: SpanKind::Internal,
            name: format!("s{id}"),
            start: 1,
            end: Some(2),
            error: false,
            status_message: None,
            attrs: Vec::new(),
            resource: Arc::new(Vec::new()),
            remote_service: None,
            line: id as u64,
            path: SpanPath::Zipkin { index: 0 },
        }
    }

    fn ids(spans: &[Span]) -> Vec<u8> {
        spans.iter().map(|s| s.span_id[0]).collect()
    }

    #[test]
    fn a_trace_is_released_once_quiet_or_held_too_long() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut j = SpanJoiner::default();
        j.push(vec![span(1, 1, &[])], t0);
        j.push(vec![span(2, 2, &[])], t0);
        // Trace 1 keeps getting spans; trace 2 is quiet.
        j.push(vec![span(1, 3, &[])], t0 + ms(1000));
        assert!(j.release(t0 + ms(1400)).is_empty());
        assert_eq!(ids(&j.release(t0 + ms(1500))), vec![2]);
        assert_eq!(ids(&j.release(t0 + ms(2500))), vec![1, 3]);
        // A trace never quiet is released after 30 s.
        for i in 0..40u64 {
            j.push(vec![span(3, 10 + i as u8, &[])], t0 + ms(3000 + i * 1000));
            let out = j.release(t0 + ms(3000 + i * 1000));
            if i < 30 {
                assert!(out.is_empty(), "released at {i} s");
            } else {
                assert!(!out.is_empty(), "held past 30 s ({i} s)");
                break;
            }
        }
    }

    #[test]
    fn linked_traces_go_together_and_late_spans_are_mapped_and_said() {
        let t0 = Instant::now();
        let mut j = SpanJoiner::default();
        j.push(vec![span(1, 1, &[])], t0);
        // A consumer in a trace of its own, linked to the producer's trace.
        j.push(vec![span(2, 2, &[(1, 1)])], t0);
        assert_eq!(j.held(), 2);
        let out = j.release(t0 + QUIET);
        assert_eq!(ids(&out), vec![1, 2]);
        let pushed = j.push(vec![span(1, 5, &[])], t0 + QUIET);
        assert_eq!(pushed.late.len(), 1);
        assert!(pushed.late[0].1.contains("late span"), "{:?}", pushed.late);
        assert_eq!(j.late_spans, 1);
        assert_eq!(ids(&j.release_all()), vec![5]);
        assert_eq!(j.held(), 0);
    }
}
