//! The one mapping from spans to events and observations, for every span format:
//!
//! - a span that publishes ([`Role::Publish`]) puts an event on its channel (a dead-letter
//!   destination makes it a dead-letter observation);
//! - a span that consumes is a delivery from the channel to its service plus the handling
//!   (processing time, outcome, attempt, cold start). It refers to the event of the
//!   producer span it is joined to: by a span link, else by its parent chain (a
//!   `CHILD_OF` or `FOLLOWS_FROM` reference), else by the message id or Kafka position;
//! - a producer and the consumers joined to it share one channel, named by whichever of
//!   them names it best ([`Strength`]): a Zipkin producer that only knows the broker and a
//!   consumer tagged with the queue end up on the queue;
//! - a CLIENT span and the SERVER span it caused are a call between two services; a CLIENT
//!   span whose callee was not traced is a call to a peer named from `peer.service`, the
//!   remote endpoint, `server.address` or the URL;
//! - a database or cache CLIENT span is a store access: a write of the event being handled
//!   when it runs inside a consumer span of the same service, else an access of its own;
//! - `faas.*` attributes mark the service as a handler.
//!
//! Readers parse their format into [`Span`]s and hand all spans of an input to
//! [`add_spans`], so spans can arrive in any order.

use super::conventions::{self as conv, Role, Strength};
use super::spans::{AttrValue, Span, SpanId, TraceId, hex};
use crate::model::*;
use crate::time::Nanos;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::sync::Arc;

/// How deep a parent chain is followed.
const MAX_DEPTH: usize = 64;

/// Event identity and attributes of a span that carries one.
struct Identity<'s> {
    kind: EventKind,
    source: Cow<'s, str>,
    id: Cow<'s, str>,
    ty: Option<Cow<'s, str>>,
    specversion: Option<Cow<'s, str>>,
    subject: Option<Cow<'s, str>>,
}

/// The CloudEvent a span names with OpenTelemetry's `cloudevents.*` attributes.
fn ce_identity(s: &Span) -> Option<Identity<'_>> {
    let id = s.attr_str("cloudevents.event_id")?;
    let source = s.attr_str("cloudevents.event_source")?;
    Some(Identity {
        kind: EventKind::Cloudevent,
        source,
        id,
        ty: s.attr_str("cloudevents.event_type"),
        specversion: [
            "cloudevents.event_spec_version",
            "cloudevents.event_specversion",
        ]
        .iter()
        .find_map(|k| s.attr_str(k)),
        subject: s.attr_str("cloudevents.event_subject"),
    })
}

/// The event type: `cloudevents.event_type`, else the span name unless it is only the
/// operation and destination (`publish orders`), else the channel.
fn event_type<'s>(ty: Option<Cow<'s, str>>, s: &'s Span, channel: &str) -> Cow<'s, str> {
    if let Some(t) = ty {
        return t;
    }
    let name = s.name.trim();
    // OpenTelemetry names messaging spans `{operation} {destination}` (older ones the other
    // way round), Brave `send`/`poll`/`on-message`: none of that is an event type.
    let generic = name.is_empty()
        || !channel.is_empty() && name.contains(channel)
        || conv::channel_from_name(name).is_some()
        || name.split_whitespace().any(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "publish" | "send" | "create" | "receive" | "process" | "deliver" | "poll"
            )
        })
        || matches!(
            name.to_ascii_lowercase().as_str(),
            "on-message" | "on_message" | "onmessage" | "next-message"
        );
    if generic && !channel.is_empty() {
        Cow::Owned(channel.to_string())
    } else {
        Cow::Borrowed(name)
    }
}

fn outcome(s: &Span) -> Outcome {
    if s.error { Outcome::Error } else { Outcome::Ok }
}

fn escape(s: &str) -> String {
    super::cloudevents::escape_msg(s)
}

/// The spans of one input, indexed.
struct Spans<'s> {
    spans: &'s [Span],
    roles: Vec<Role>,
    index: FxHashMap<(TraceId, SpanId), usize>,
    /// Ids that several spans carry (Zipkin's shared client/server spans): all of them.
    shared: FxHashMap<(TraceId, SpanId), Vec<usize>>,
}

impl<'s> Spans<'s> {
    fn new(spans: &'s [Span]) -> Self {
        let mut index: FxHashMap<(TraceId, SpanId), usize> = FxHashMap::default();
        let mut shared: FxHashMap<(TraceId, SpanId), Vec<usize>> = FxHashMap::default();
        index.reserve(spans.len());
        for (i, s) in spans.iter().enumerate() {
            // Zipkin's shared client/server spans reuse an id: the first one is the id's
            // span, and all are kept.
            match index.entry((s.trace_id, s.span_id)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let first = *o.get();
                    shared
                        .entry((s.trace_id, s.span_id))
                        .or_insert_with(|| vec![first])
                        .push(i);
                }
            }
        }
        Spans {
            spans,
            roles: spans.iter().map(conv::role).collect(),
            index,
            shared,
        }
    }

    /// The parent span; of a shared id, the one of the same service (a child of a shared
    /// server span runs in the server).
    fn parent(&self, i: usize) -> Option<usize> {
        let s = &self.spans[i];
        let key = (s.trace_id, s.parent?);
        if let Some(all) = self.shared.get(&key)
            && let Some(&same) = all.iter().find(|&&p| self.spans[p].service == s.service)
        {
            return Some(same);
        }
        self.index.get(&key).copied()
    }

    /// The ancestors of a span, nearest first, as far as `MAX_DEPTH`.
    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = i;
        (0..MAX_DEPTH).map_while(move |_| {
            let p = self.parent(cur)?;
            cur = p;
            Some(p)
        })
    }

    /// The nearest ancestor of the same service with one of `roles`, not crossing into
    /// another service.
    fn enclosing(&self, i: usize, roles: &[Role]) -> Option<usize> {
        let service = &self.spans[i].service;
        for p in self.ancestors(i) {
            if self.spans[p].service != *service {
                return None;
            }
            if roles.contains(&self.roles[p]) {
                return Some(p);
            }
        }
        None
    }
}

/// What a consuming span handles.
#[derive(Clone, Default)]
struct Join {
    /// The producer spans of the messages it got (several for a batch receive).
    producers: Vec<usize>,
    /// The consuming span of the same service and message it is nested in (receive ->
    /// process).
    enclosing: Option<usize>,
}

/// Joins each consuming span to the producer spans of what it got: span links first, then
/// the parent chain (through spans that neither publish nor consume), then the message id
/// or the Kafka partition and offset.
fn join_consumers(sp: &Spans) -> Vec<Join> {
    let spans = sp.spans;
    let mut by_message_id: FxHashMap<Cow<str>, Vec<usize>> = FxHashMap::default();
    let mut by_position: FxHashMap<(Cow<str>, i64, i64), usize> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] != Role::Publish {
            continue;
        }
        if let Some(m) = conv::message_id(s) {
            by_message_id.entry(m).or_default().push(i);
        }
        if let (Some(pos), Some((ch, _))) = (conv::kafka_position(s), conv::channel(s)) {
            by_position.entry((ch, pos.0, pos.1)).or_insert(i);
        }
    }
    for v in by_message_id.values_mut() {
        v.sort_by_key(|&i| spans[i].start);
    }
    // Producers whose parent is not in the input, by that parent: a consumer with the same
    // missing parent was started by the same (untraced) work as that producer's message.
    let mut by_missing_parent: FxHashMap<(TraceId, SpanId), Vec<usize>> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] == Role::Publish
            && let Some(p) = s.parent
            && !sp.index.contains_key(&(s.trace_id, p))
        {
            by_missing_parent
                .entry((s.trace_id, p))
                .or_default()
                .push(i);
        }
    }
    let mut joins = vec![Join::default(); spans.len()];
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] != Role::Consume {
            continue;
        }
        let j = &mut joins[i];
        for l in &s.links {
            if let Some(&p) = sp.index.get(l)
                && sp.roles[p] == Role::Publish
                && !j.producers.contains(&p)
            {
                j.producers.push(p);
            }
        }
        if !j.producers.is_empty() {
            continue;
        }
        let own = conv::channel(s);
        for p in sp.ancestors(i) {
            match sp.roles[p] {
                Role::Publish => {
                    j.producers.push(p);
                    break;
                }
                Role::Consume => {
                    let same_channel = match (&own, conv::channel(&spans[p])) {
                        (Some((a, Strength::Attribute)), Some((b, Strength::Attribute))) => a == &b,
                        _ => true,
                    };
                    if spans[p].service == s.service && same_channel {
                        j.enclosing = Some(p);
                    }
                    break;
                }
                _ => {}
            }
        }
        if !j.producers.is_empty() || j.enclosing.is_some() {
            continue;
        }
        if let Some(m) = conv::message_id(s)
            && let Some(candidates) = by_message_id.get(&m)
        {
            // One message id can be published twice (a handler forwarding it to a
            // dead-letter queue): the publish on the consumer's own channel, else the last
            // one before it.
            let on_own = candidates.iter().copied().find(|&p| {
                matches!((&own, conv::channel(&spans[p])), (Some((a, _)), Some((b, _))) if *a == b)
            });
            let before = candidates
                .iter()
                .copied()
                .rev()
                .find(|&p| spans[p].start <= s.start);
            if let Some(p) = on_own.or(before).or(candidates.first().copied()) {
                j.producers.push(p);
                continue;
            }
        }
        if let (Some(pos), Some((ch, _))) = (conv::kafka_position(s), &own)
            && let Some(&p) = by_position.get(&(ch.clone(), pos.0, pos.1))
        {
            j.producers.push(p);
            continue;
        }
        if let Some(p) = s.parent
            && let Some(siblings) = by_missing_parent.get(&(s.trace_id, p))
            && let [only] = siblings.as_slice()
            && spans[*only].start <= s.start
        {
            j.producers.push(*only);
        }
    }
    joins
}

/// The channel of every messaging span: a producer and the consumers joined to it share
/// one, the best named of theirs.
fn resolve_channels<'s>(sp: &Spans<'s>, joins: &[Join]) -> Vec<Option<Cow<'s, str>>> {
    let spans = sp.spans;
    let own: Vec<Option<(Cow<str>, Strength)>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| match sp.roles[i] {
            Role::Publish | Role::Consume => conv::channel(s),
            _ => None,
        })
        .collect();
    let mut best: Vec<Option<(Cow<str>, Strength)>> = own.clone();
    for (c, j) in joins.iter().enumerate() {
        let Some((name, strength)) = &own[c] else {
            continue;
        };
        for &p in &j.producers {
            if best[p].as_ref().is_none_or(|(_, s)| s < strength) {
                best[p] = Some((name.clone(), *strength));
            }
        }
    }
    let mut resolved: Vec<Option<Cow<str>>> = vec![None; spans.len()];
    for (i, r) in resolved.iter_mut().enumerate() {
        if sp.roles[i] == Role::Publish {
            *r = best[i].as_ref().map(|(n, _)| n.clone());
            // Neither the producer nor any consumer of its message names a destination
            // (OpenTracing's span.kind alone): older instrumentation names the span after
            // it, so the producer's span name is the channel.
            let name = spans[i].name.trim();
            if r.is_none() && !name.is_empty() {
                *r = Some(Cow::Borrowed(name));
            }
        }
    }
    for i in 0..spans.len() {
        if sp.roles[i] != Role::Consume {
            continue;
        }
        // Follow enclosing consumers up to the one that knows its producer.
        let mut cur = i;
        let mut channel = None;
        for _ in 0..MAX_DEPTH {
            let j = &joins[cur];
            if let Some(&p) = j.producers.first() {
                channel = resolved[p].clone();
            }
            if channel.is_none() {
                channel = own[cur].as_ref().map(|(n, _)| n.clone());
            }
            match (channel.is_none(), j.enclosing) {
                (true, Some(e)) => cur = e,
                _ => break,
            }
        }
        resolved[i] = channel;
    }
    resolved
}

/// Per input, the figures of spans that are not part of the flow, for the report.
#[derive(Default)]
struct Tally {
    unplaced: u64,
}

fn loc_of(input: u16, s: &Span) -> RecordLoc {
    RecordLoc {
        input,
        line: s.line.min(u32::MAX as u64) as u32,
    }
}

/// The spans of one role, earliest first.
fn in_start_order(sp: &Spans, role: Role) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sp.spans.len())
        .filter(|&i| sp.roles[i] == role)
        .collect();
    order.sort_by_key(|&i| sp.spans[i].start);
    order
}

/// A messaging span that names no destination and got none from a join: counted, and
/// reported on its line.
fn unplaced(store: &mut Store, tally: &mut Tally, input: u16, s: &Span, does: &str, and: &str) {
    tally.unplaced += 1;
    store.inputs[input as usize].error(
        s.line,
        format!(
            "{}: {:?} span \"{}\" of {} {does} but names no destination (messaging.destination.name) and {and}",
            s.path,
            s.kind,
            escape(&s.name),
            escape(&s.service)
        ),
    );
}

/// Adds every span of one input to the store: events, observations, calls, handler marks.
/// Spans that cannot be placed (a producer span without any destination) are reported.
pub fn add_spans(store: &mut Store, input: u16, spans: &[Span]) {
    let sp = Spans::new(spans);
    let joins = join_consumers(&sp);
    let channels = resolve_channels(&sp, &joins);
    let mut tally = Tally::default();
    let trace_syms: Vec<Sym> = {
        let mut cache: FxHashMap<TraceId, Sym> = FxHashMap::default();
        spans
            .iter()
            .map(|s| {
                *cache
                    .entry(s.trace_id)
                    .or_insert_with(|| store.intern(&hex(&s.trace_id)))
            })
            .collect()
    };
    let loc = |s: &Span| loc_of(input, s);
    let mut span_event: Vec<Option<EventIdx>> = vec![None; spans.len()];

    add_publishes(
        store,
        &sp,
        &channels,
        &trace_syms,
        input,
        &mut span_event,
        &mut tally,
    );
    add_consumers(
        store,
        &sp,
        &joins,
        &channels,
        &trace_syms,
        input,
        &mut span_event,
        &mut tally,
    );
    add_store_accesses(store, &sp, &trace_syms, &span_event, loc);
    add_calls(store, &sp, &trace_syms, loc);

    // FaaS functions are handlers even when the input shows no delivery to them.
    let faas: FxHashSet<&Arc<str>> = spans
        .iter()
        .filter(|s| conv::is_faas(s))
        .map(|s| &s.service)
        .collect();
    for name in faas {
        let n = store.node(NodeClass::Service, name);
        store.nodes[n.0 as usize].kind = NodeKind::Handler;
    }
    let inp = &mut store.inputs[input as usize];
    inp.records += spans.len() as u64 - tally.unplaced;
}

fn add_publishes(
    store: &mut Store,
    sp: &Spans,
    channels: &[Option<Cow<str>>],
    trace_syms: &[Sym],
    input: u16,
    span_event: &mut [Option<EventIdx>],
    tally: &mut Tally,
) {
    let spans = sp.spans;
    // A message id names one message wherever it is published (a dead-letter queue keeps
    // it): its first publisher is the event's source.
    let mut source_of_message: FxHashMap<String, Arc<str>> = FxHashMap::default();
    for i in in_start_order(sp, Role::Publish) {
        let s = &spans[i];
        let loc = loc_of(input, s);
        let Some(channel) = &channels[i] else {
            unplaced(store, tally, input, s, "publishes", "no consumer names one");
            continue;
        };
        let message_id = conv::message_id(s);
        let ident = ce_identity(s).unwrap_or_else(|| {
            let (source, id) = match &message_id {
                Some(m) => {
                    let first = source_of_message
                        .entry(m.to_string())
                        .or_insert_with(|| s.service.clone());
                    (Cow::Owned(first.to_string()), m.clone())
                }
                None => (
                    Cow::Borrowed(&*s.service),
                    Cow::Owned(format!("{}-{}", hex(&s.trace_id), hex(&s.span_id))),
                ),
            };
            Identity {
                kind: EventKind::Message,
                source,
                id,
                ty: None,
                specversion: None,
                subject: None,
            }
        });
        let trace_hex = hex(&s.trace_id);
        let ty = event_type(ident.ty, s, channel);
        let mut extensions = Vec::new();
        let correlation = s.attr_str("messaging.message.conversation_id");
        if let Some(c) = &correlation {
            extensions.push(("correlationid", NewExt::Str(c)));
        }
        let key = conv::message_key(s);
        if let Some(k) = &key {
            extensions.push(("partitionkey", NewExt::Str(k)));
        }
        let event = store.add_event(&NewEvent {
            kind: ident.kind,
            source: &ident.source,
            id: &ident.id,
            ty: &ty,
            specversion: ident.specversion.as_deref().unwrap_or(""),
            subject: ident.subject.as_deref(),
            time: Some(s.start),
            extensions,
            trace: Some(&trace_hex),
            loc,
            ..Default::default()
        });
        span_event[i] = Some(event);
        let from = store.node(NodeClass::Service, &s.service);
        let to = store.channel_or_dead_letter(channel);
        store.describe_node(to, conv::system(s).as_deref(), conv::broker(s).as_deref());
        let stage = if store.nodes[to.0 as usize].class == NodeClass::DeadLetter {
            Stage::DeadLetter
        } else {
            Stage::Publish
        };
        let mut o = Observation::new(stage, s.start, event, from, to);
        o.trace = trace_syms[i];
        o.loc = loc;
        if s.error {
            o.outcome = Outcome::Error;
        }
        if let Some(m) = &s.status_message {
            o.reason = store.intern(m);
        }
        store.add_observation(o);
    }
}

#[allow(clippy::too_many_arguments)]
fn add_consumers(
    store: &mut Store,
    sp: &Spans,
    joins: &[Join],
    channels: &[Option<Cow<str>>],
    trace_syms: &[Sym],
    input: u16,
    span_event: &mut [Option<EventIdx>],
    tally: &mut Tally,
) {
    let spans = sp.spans;
    // A failure inside the handling (a processing span under the consumer span, as Brave
    // records it) fails the handling; database writes report their own outcome.
    let mut failed_below: FxHashSet<usize> = FxHashSet::default();
    // Brave finishes a consumer span when it hands the record over; the handling goes on
    // in child spans of the same service, so the handling ends with the last of them.
    let mut handling_end: Vec<Option<Nanos>> = spans.iter().map(|s| s.end).collect();
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] != Role::Internal {
            continue;
        }
        if s.error
            && let Some(c) = sp.enclosing(i, &[Role::Consume, Role::Serve])
        {
            failed_below.insert(c);
        }
        if let (Some(p), Some(end)) = (sp.parent(i), s.end)
            && sp.roles[p] == Role::Consume
            && spans[p].service == s.service
            && handling_end[p].is_none_or(|e| e < end)
        {
            handling_end[p] = Some(end);
        }
    }
    for i in in_start_order(sp, Role::Consume) {
        let s = &spans[i];
        let loc = loc_of(input, s);
        let Some(channel) = &channels[i] else {
            unplaced(
                store,
                tally,
                input,
                s,
                "consumes",
                "is joined to no producer span",
            );
            continue;
        };
        let join = &joins[i];
        // The events it got: its own CloudEvents identity, else the producers' events (a
        // batch receive gets several), else the enclosing consumer's.
        let mut events: Vec<EventIdx> = Vec::new();
        if let Some(ident) = ce_identity(s) {
            let trace_hex = hex(&s.trace_id);
            let ty = event_type(ident.ty, s, channel);
            events.push(store.add_event(&NewEvent {
                kind: ident.kind,
                source: &ident.source,
                id: &ident.id,
                ty: &ty,
                specversion: ident.specversion.as_deref().unwrap_or(""),
                subject: ident.subject.as_deref(),
                trace: Some(&trace_hex),
                loc,
                ..Default::default()
            }));
        } else {
            for &p in &join.producers {
                if let Some(e) = span_event[p]
                    && !events.contains(&e)
                {
                    events.push(e);
                }
            }
            if events.is_empty()
                && let Some(e) = join.enclosing.and_then(|e| span_event[e])
            {
                events.push(e);
            }
        }
        if events.is_empty() {
            // No producer span in this input: identify the message as well as we can.
            let (source, id, trace) = match (conv::message_id(s), s.links.first()) {
                (Some(m), _) => (channel.to_string(), m.into_owned(), s.trace_id),
                (None, Some((t, l))) => (channel.to_string(), format!("{}-{}", hex(t), hex(l)), *t),
                (None, None) => (
                    s.service.to_string(),
                    format!("{}-{}", hex(&s.trace_id), hex(&s.span_id)),
                    s.trace_id,
                ),
            };
            let trace_hex = hex(&trace);
            let ty = event_type(None, s, channel);
            events.push(store.add_event(&NewEvent {
                kind: EventKind::Message,
                source: &source,
                id: &id,
                ty: &ty,
                trace: Some(&trace_hex),
                loc,
                ..Default::default()
            }));
        }
        span_event[i] = events.first().copied();
        // A consumer span nested in another of the same service for the same message
        // (receive -> process) is one delivery, not two: the outermost one counts.
        let mut outer_events: FxHashSet<EventIdx> = FxHashSet::default();
        for p in sp.ancestors(i) {
            if spans[p].service != s.service {
                break;
            }
            if sp.roles[p] == Role::Consume
                && let Some(e) = span_event[p]
            {
                outer_events.insert(e);
            }
        }
        events.retain(|e| !outer_events.contains(e));
        if events.is_empty() {
            continue;
        }
        let ch = store.channel_or_dead_letter(channel);
        store.describe_node(ch, conv::system(s).as_deref(), conv::broker(s).as_deref());
        let handler = store.node(NodeClass::Service, &s.service);
        let attempt = conv::attempt(s);
        let mut cold_start = s.attr("faas.coldstart").is_some_and(AttrValue::as_bool)
            || sp
                .ancestors(i)
                .take_while(|&p| spans[p].service == s.service)
                .any(|p| {
                    spans[p]
                        .attr("faas.coldstart")
                        .is_some_and(AttrValue::as_bool)
                });
        let reason = s.status_message.as_deref().map(|m| store.intern(m));
        for event in events {
            let mut d = Observation::new(Stage::Deliver, s.start, event, ch, handler);
            d.trace = trace_syms[i];
            d.attempt = attempt;
            d.loc = loc;
            store.add_observation(d);
            let mut h = Observation::new(Stage::Handle, s.start, event, ch, handler);
            h.trace = trace_syms[i];
            h.attempt = attempt;
            h.duration = handling_end[i].map_or(-1, |e| (e - s.start).max(0));
            h.outcome = if failed_below.contains(&i) {
                Outcome::Error
            } else {
                outcome(s)
            };
            // One invocation, one cold start, however many messages it got.
            h.cold_start = std::mem::take(&mut cold_start);
            if let Some(r) = reason {
                h.reason = r;
            }
            h.loc = loc;
            store.add_observation(h);
        }
    }
}

/// A synthetic event for a call or a store access outside any event handling.
fn call_event(store: &mut Store, s: &Span, name: &str, loc: RecordLoc) -> EventIdx {
    let trace_hex = hex(&s.trace_id);
    store.add_event(&NewEvent {
        kind: EventKind::Call,
        source: &s.service,
        id: &format!("{trace_hex}-{}", hex(&s.span_id)),
        ty: name,
        time: Some(s.start),
        trace: Some(&trace_hex),
        loc,
        ..Default::default()
    })
}

/// Database and cache calls: a write of the handled event inside a consumer span of the
/// same service, else an access of its own.
fn add_store_accesses(
    store: &mut Store,
    sp: &Spans,
    trace_syms: &[Sym],
    span_event: &[Option<EventIdx>],
    loc: impl Fn(&Span) -> RecordLoc,
) {
    for (i, s) in sp.spans.iter().enumerate() {
        if sp.roles[i] != Role::Db {
            continue;
        }
        let Some(name) = conv::db_store(s) else {
            continue;
        };
        let event = match sp
            .enclosing(i, &[Role::Consume])
            .and_then(|c| span_event[c])
        {
            Some(e) => e,
            None => call_event(store, s, &conv::db_operation(s), loc(s)),
        };
        let from = store.node(NodeClass::Service, &s.service);
        let to = store.node(NodeClass::Store, &name);
        let address = s
            .attr_str("server.address")
            .or_else(|| s.attr_str("net.peer.name"));
        store.describe_node(to, conv::db_system(s).as_deref(), address.as_deref());
        let mut o = Observation::new(Stage::Store, s.start, event, from, to);
        o.duration = s.duration();
        o.outcome = outcome(s);
        o.trace = trace_syms[i];
        if let Some(m) = &s.status_message {
            o.reason = store.intern(m);
        }
        o.loc = loc(s);
        store.add_observation(o);
    }
}

/// One call as the spans show it: `caller` (the span that names the call and carries its
/// identity) from service `from` to service `to`; `timed` gives the time, duration, trace
/// and line.
struct Call<'a> {
    from: &'a str,
    to: &'a str,
    name: String,
    caller: &'a Span,
    timed: &'a Span,
    trace: Sym,
    failed: bool,
    reason: Option<&'a str>,
}

fn add_call(store: &mut Store, c: Call, loc: &impl Fn(&Span) -> RecordLoc) {
    let event = call_event(store, c.caller, &c.name, loc(c.caller));
    let from = store.node(NodeClass::Service, c.from);
    let to = store.node(NodeClass::Service, c.to);
    let mut o = Observation::new(Stage::Call, c.timed.start, event, from, to);
    o.duration = c.timed.duration();
    o.outcome = if c.failed {
        Outcome::Error
    } else {
        Outcome::Ok
    };
    if let Some(m) = c.reason {
        o.reason = store.intern(m);
    }
    o.trace = c.trace;
    o.loc = loc(c.timed);
    store.add_observation(o);
}

/// Calls: a SERVER span and the CLIENT span that caused it (its parent, or Zipkin's
/// shared span of the same id) are one call between their services; a SERVER span that
/// names its caller is a call from it; a span whose parent runs in another service is a
/// call from that service; a CLIENT span whose callee was not traced is a call to the peer
/// it names.
fn add_calls(store: &mut Store, sp: &Spans, trace_syms: &[Sym], loc: impl Fn(&Span) -> RecordLoc) {
    let spans = sp.spans;
    let mut clients: FxHashMap<(TraceId, SpanId), usize> = FxHashMap::default();
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] == Role::CallOut {
            clients.entry((s.trace_id, s.span_id)).or_insert(i);
        }
    }
    // A failure inside the served request (an internal span of the same service) fails it.
    let mut failed_below: FxHashSet<usize> = FxHashSet::default();
    for (i, s) in spans.iter().enumerate() {
        if s.error
            && sp.roles[i] == Role::Internal
            && let Some(c) = sp.enclosing(i, &[Role::Serve])
        {
            failed_below.insert(c);
        }
    }
    let mut answered: FxHashSet<usize> = FxHashSet::default();
    let mut served: FxHashSet<usize> = FxHashSet::default();
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] != Role::Serve {
            continue;
        }
        // Zipkin's shared span (the same id as the client's) first: a shared server span's
        // parent is the client's parent.
        let client = clients
            .get(&(s.trace_id, s.span_id))
            .filter(|&&c| c != i)
            .or_else(|| s.parent.and_then(|p| clients.get(&(s.trace_id, p))))
            .copied();
        let failed = s.error || failed_below.contains(&i);
        match client {
            Some(c) => {
                answered.insert(c);
                served.insert(i);
                let caller = &spans[c];
                add_call(
                    store,
                    Call {
                        from: &caller.service,
                        to: &s.service,
                        name: conv::call_name(s),
                        caller,
                        // The client's view of the call, where it has one.
                        timed: if caller.end.is_some() { caller } else { s },
                        trace: trace_syms[c],
                        failed: failed || caller.error,
                        reason: s
                            .status_message
                            .as_deref()
                            .or(caller.status_message.as_deref()),
                    },
                    &loc,
                );
            }
            None => {
                // A request from outside the traced system: drawn when the server names
                // its caller (`peer.service`, Zipkin's remote endpoint of a SERVER span).
                let caller = s
                    .attr_str("peer.service")
                    .or_else(|| s.remote_service.as_deref().map(Cow::Borrowed))
                    .filter(|p| !p.is_empty() && **p != *s.service);
                if let Some(caller) = caller {
                    served.insert(i);
                    add_call(
                        store,
                        Call {
                            from: &caller,
                            to: &s.service,
                            name: conv::call_name(s),
                            caller: s,
                            timed: s,
                            trace: trace_syms[i],
                            failed,
                            reason: s.status_message.as_deref(),
                        },
                        &loc,
                    );
                }
            }
        }
    }
    // A span whose parent runs in another service, without client and server kinds
    // (OpenTracing without `span.kind`, or an untraced server): the parent's service
    // called this one, as Jaeger's dependency graph draws it.
    for (i, s) in spans.iter().enumerate() {
        // Shared ids are Zipkin's client/server halves (and their fragments): paired above.
        if served.contains(&i)
            || matches!(sp.roles[i], Role::Publish | Role::Consume | Role::Db)
            || sp.shared.contains_key(&(s.trace_id, s.span_id))
        {
            continue;
        }
        let Some(p) = sp.parent(i) else { continue };
        let caller = &spans[p];
        if caller.service == s.service
            || matches!(sp.roles[p], Role::Publish | Role::Consume | Role::Db)
        {
            continue;
        }
        answered.insert(p);
        add_call(
            store,
            Call {
                from: &caller.service,
                to: &s.service,
                name: if sp.roles[p] == Role::CallOut {
                    conv::call_name(caller)
                } else {
                    conv::call_name(s)
                },
                caller,
                timed: s,
                trace: trace_syms[i],
                failed: s.error,
                reason: s.status_message.as_deref(),
            },
            &loc,
        );
    }
    for (i, s) in spans.iter().enumerate() {
        if sp.roles[i] != Role::CallOut || answered.contains(&i) {
            continue;
        }
        let Some(peer) = conv::peer(s) else {
            // A call that names no callee draws nothing.
            continue;
        };
        add_call(
            store,
            Call {
                from: &s.service,
                to: &peer,
                name: conv::call_name(s),
                caller: s,
                timed: s,
                trace: trace_syms[i],
                failed: s.error,
                reason: s.status_message.as_deref(),
            },
            &loc,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::spans::{SpanKind, SpanPath};

    fn span(
        trace: u8,
        id: u8,
        service: &str,
        kind: SpanKind,
        start_ms: i64,
        attrs: &[(&str, &str)],
    ) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [id; 8],
            parent: None,
            links: Vec::new(),
            service: Arc::from(service),
            kind,
            name: String::new(),
            start: start_ms * 1_000_000,
            end: Some((start_ms + 5) * 1_000_000),
            error: false,
            status_message: None,
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), AttrValue::Str(v.to_string())))
                .collect(),
            resource: Arc::default(),
            remote_service: None,
            line: id as u64,
            path: SpanPath::Zipkin { index: id as u32 },
        }
    }

    fn mapped(spans: &[Span]) -> Store {
        let mut store = Store::new();
        let input = store.add_input("test", Some(Format::Otlp));
        add_spans(&mut store, input, spans);
        store.finalize();
        store
    }

    fn count(store: &Store, stage: Stage) -> usize {
        store
            .observations
            .iter()
            .filter(|o| o.stage == stage)
            .count()
    }

    #[test]
    fn nested_receive_and_process_are_one_delivery() {
        let dest = ("messaging.destination.name", "orders");
        let p = span(1, 1, "producer-service", SpanKind::Producer, 0, &[dest]);
        let mut receive = span(2, 2, "handler-a", SpanKind::Consumer, 10, &[dest]);
        receive.links.push(([1; 16], [1; 8]));
        let mut process = span(
            2,
            3,
            "handler-a",
            SpanKind::Internal,
            11,
            &[("messaging.operation.type", "process")],
        );
        process.parent = Some([2; 8]);
        let store = mapped(&[process, receive, p]);
        assert_eq!(store.events.len(), 1);
        assert_eq!(count(&store, Stage::Deliver), 1);
        assert_eq!(count(&store, Stage::Handle), 1);
        assert!(store.inputs[0].errors.is_empty());
    }

    #[test]
    fn message_ids_dead_letters_attempts_and_unplaced_spans() {
        let p = span(
            1,
            1,
            "producer-service",
            SpanKind::Producer,
            0,
            &[
                ("messaging.destination", "orders"),
                ("messaging.message_id", "m-1"),
            ],
        );
        // Another trace, no link: the message id finds the event.
        let c = span(
            2,
            2,
            "handler-a",
            SpanKind::Consumer,
            10,
            &[
                ("messaging.destination.name", "orders"),
                ("messaging.message.id", "m-1"),
                ("messaging.servicebus.message.delivery_count", "3"),
            ],
        );
        // The handler gives up: it publishes the message to the dead-letter queue.
        let mut dl = span(
            2,
            3,
            "handler-a",
            SpanKind::Producer,
            12,
            &[
                ("messaging.destination.name", "orders.DLQ"),
                ("messaging.message.id", "m-1"),
            ],
        );
        dl.parent = Some([2; 8]);
        let orphan = span(3, 4, "lost", SpanKind::Producer, 1, &[]);
        let store = mapped(&[p, c, dl, orphan]);
        let e = store
            .find_event("producer-service", "m-1")
            .expect("event by message id");
        let obs: Vec<(Stage, u16)> = store
            .observations_of(e)
            .iter()
            .map(|&i| {
                (
                    store.observations[i as usize].stage,
                    store.observations[i as usize].attempt,
                )
            })
            .collect();
        assert!(obs.contains(&(Stage::Deliver, 3)), "{obs:?}");
        assert!(obs.contains(&(Stage::DeadLetter, 0)), "{obs:?}");
        assert_eq!(store.events.len(), 1);
        assert!(
            store
                .find_node(NodeClass::DeadLetter, "orders.DLQ")
                .is_some()
        );
        let errs = &store.inputs[0].errors;
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 4);
        assert!(errs[0].message.contains("names no destination"), "{errs:?}");
        assert_eq!(store.inputs[0].records, 3);
    }

    #[test]
    fn event_types_from_span_names() {
        let s = |name: &str| {
            let mut s = span(1, 1, "svc", SpanKind::Producer, 0, &[]);
            s.name = name.to_string();
            s
        };
        for generic in [
            "publish orders",
            "orders publish",
            "send",
            "poll",
            "orders",
            "",
        ] {
            assert_eq!(
                event_type(None, &s(generic), "orders"),
                "orders",
                "{generic}"
            );
        }
        assert_eq!(event_type(None, &s("OrderPlaced"), "orders"), "OrderPlaced");
        assert_eq!(
            event_type(Some(Cow::Borrowed("com.example.X")), &s("send"), "orders"),
            "com.example.X"
        );
    }

    #[test]
    fn a_batch_receive_delivers_every_linked_message() {
        let dest = ("messaging.destination.name", "orders");
        let p1 = span(1, 1, "producer-service", SpanKind::Producer, 0, &[dest]);
        let p2 = span(2, 2, "producer-service", SpanKind::Producer, 3, &[dest]);
        let mut batch = span(
            3,
            3,
            "handler-a",
            SpanKind::Consumer,
            10,
            &[dest, ("faas.coldstart", "true")],
        );
        batch.links = vec![([1; 16], [1; 8]), ([2; 16], [2; 8])];
        let store = mapped(&[p1, p2, batch]);
        assert_eq!(store.events.len(), 2);
        assert_eq!(count(&store, Stage::Deliver), 2);
        let handles: Vec<_> = store
            .observations
            .iter()
            .filter(|o| o.stage == Stage::Handle)
            .collect();
        assert_eq!(handles.len(), 2);
        assert_eq!(handles.iter().filter(|o| o.cold_start).count(), 1);
        let mut lat: Vec<i64> = store
            .observations
            .iter()
            .filter(|o| o.stage == Stage::Deliver)
            .map(|o| o.latency)
            .collect();
        lat.sort();
        assert_eq!(lat, vec![7_000_000, 10_000_000]);
    }

    #[test]
    fn faas_functions_are_handlers() {
        let f = span(
            1,
            1,
            "fn-producer",
            SpanKind::Producer,
            0,
            &[
                ("messaging.destination.name", "orders"),
                ("faas.trigger", "http"),
            ],
        );
        let store = mapped(&[f]);
        let n = store
            .find_node(NodeClass::Service, "fn-producer")
            .expect("node");
        assert_eq!(store.nodes[n.0 as usize].kind, NodeKind::Handler);
    }
}
