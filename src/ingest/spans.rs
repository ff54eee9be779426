//! The span model shared by the OTLP, Jaeger and Zipkin readers, and the one mapping from
//! spans to events and observations:
//!
//! - a PRODUCER span (or `messaging.operation.type` publish/send/create) publishes an event
//!   from its service to the destination channel (a dead-letter destination makes it a
//!   dead-letter observation);
//! - a CONSUMER span (or operation receive/process/deliver, or a FaaS invocation with a
//!   `pubsub` trigger) is a delivery from the channel to its service plus the handling
//!   (processing time, outcome, attempt, cold start); it refers to the same event as the
//!   producer span it links to (span link, Jaeger reference or parent);
//! - a CLIENT span with `db.system` is a write of the event being handled by the enclosing
//!   consumer span to a store;
//! - `faas.*` attributes mark the service as a handler.
//!
//! Readers parse their format into [`Span`]s (in parallel where they can) and hand all spans
//! of an input to [`add_spans`], so producer and consumer spans can arrive in any order.

use crate::model::*;
use crate::time::Nanos;
use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A W3C trace id (16 bytes).
pub type TraceId = [u8; 16];
/// A span id (8 bytes).
pub type SpanId = [u8; 8];

/// The role a span plays in its trace, as OpenTelemetry, Jaeger and Zipkin name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpanKind {
    /// No kind given.
    #[default]
    Unspecified,
    /// Work inside a service.
    Internal,
    /// Handling a synchronous request (also a FaaS invocation).
    Server,
    /// A synchronous outgoing call (a database write).
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Receiving or processing a message from a broker.
    Consumer,
}

impl SpanKind {
    /// Parses `PRODUCER`, `producer`, `SPAN_KIND_PRODUCER` and the like.
    pub fn parse(s: &str) -> Option<SpanKind> {
        let s = s.strip_prefix("SPAN_KIND_").unwrap_or(s);
        Some(match s.to_ascii_lowercase().as_str() {
            "unspecified" | "" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// The OTLP enum number (`SPAN_KIND_INTERNAL` = 1 ... `SPAN_KIND_CONSUMER` = 5).
    pub fn from_otlp(n: u64) -> Option<SpanKind> {
        Some(match n {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => return None,
        })
    }
}

/// An attribute (tag) value. Arrays and maps are kept as their JSON text.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text (also arrays and maps, as their text).
    Str(String),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl AttrValue {
    /// The value as text (numbers and booleans formatted).
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Str(s) => Cow::Borrowed(s),
            AttrValue::Int(i) => Cow::Owned(i.to_string()),
            AttrValue::Float(f) => Cow::Owned(f.to_string()),
            AttrValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    /// The value as a whole number, also from a numeric string.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean: `true`, `"true"` (any case), or a non-zero number.
    pub fn as_bool(&self) -> bool {
        match self {
            AttrValue::Bool(b) => *b,
            AttrValue::Str(s) => s.eq_ignore_ascii_case("true"),
            AttrValue::Int(i) => *i != 0,
            AttrValue::Float(f) => *f != 0.0,
        }
    }
}

/// Key/value attributes in the order the format listed them.
pub type Attrs = Vec<(String, AttrValue)>;

/// Where a span was found, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanPath {
    /// `resourceSpans[r].scopeSpans[s].spans[k]` (or `instrumentationLibrarySpans`).
    Otlp {
        /// Index in `resourceSpans`.
        resource: u32,
        /// Index in `scopeSpans` (or `instrumentationLibrarySpans`).
        scope: u32,
        /// Index in `spans`.
        span: u32,
        /// The pre-1.0 name `instrumentationLibrarySpans` was used.
        old_scope_name: bool,
    },
    /// `data[t].spans[k]` (`t` is `None` for a bare trace object).
    Jaeger {
        /// Index in `data`.
        trace: Option<u32>,
        /// Index in the trace's `spans`.
        span: u32,
    },
    /// Position in a Zipkin v2 array (0-based).
    Zipkin {
        /// 0-based position.
        index: u32,
    },
}

impl fmt::Display for SpanPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpanPath::Otlp {
                resource,
                scope,
                span,
                old_scope_name,
            } => {
                let scope_name = if old_scope_name {
                    "instrumentationLibrarySpans"
                } else {
                    "scopeSpans"
                };
                write!(
                    f,
                    "resourceSpans[{resource}].{scope_name}[{scope}].spans[{span}]"
                )
            }
            SpanPath::Jaeger {
                trace: Some(t),
                span,
            } => write!(f, "data[{t}].spans[{span}]"),
            SpanPath::Jaeger { trace: None, span } => write!(f, "spans[{span}]"),
            SpanPath::Zipkin { index } => write!(f, "span [{index}] (element {})", index + 1),
        }
    }
}

/// One span in the common model.
#[derive(Clone, Debug)]
pub struct Span {
    /// The trace the span belongs to (64-bit ids left-padded with zeros).
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// The parent span in the same trace.
    pub parent: Option<SpanId>,
    /// Span links and Jaeger FOLLOWS_FROM references (to the producer span, for consumers).
    pub links: Vec<(TraceId, SpanId)>,
    /// `service.name`, the Jaeger process `serviceName`, the Zipkin local endpoint.
    pub service: Arc<str>,
    /// PRODUCER, CONSUMER, CLIENT, SERVER or INTERNAL.
    pub kind: SpanKind,
    /// Span name (Jaeger `operationName`).
    pub name: String,
    /// Start, nanoseconds since the epoch.
    pub start: Nanos,
    /// `None` when the format did not say how long the span took.
    pub end: Option<Nanos>,
    /// The span failed (OTLP status ERROR, Jaeger `error=true`, Zipkin `error` tag).
    pub error: bool,
    /// Status message or error description.
    pub status_message: Option<String>,
    /// Span attributes (Jaeger tags, Zipkin tags).
    pub attrs: Attrs,
    /// Resource attributes (OTLP) or process tags (Jaeger), shared by many spans.
    pub resource: Arc<Attrs>,
    /// Zipkin `remoteEndpoint.serviceName` (the broker or database).
    pub remote_service: Option<String>,
    /// 1-based line of the span in its input.
    pub line: u64,
    /// Where in the input the span is, for messages.
    pub path: SpanPath,
}

impl Span {
    /// The span's attribute of that name, else the resource's.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs
            .iter()
            .chain(self.resource.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A non-empty text attribute.
    pub fn attr_str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attr(key)
            .map(AttrValue::as_str)
            .filter(|s| !s.is_empty())
    }

    fn first_str(&self, keys: &[&str]) -> Option<Cow<'_, str>> {
        keys.iter().find_map(|k| self.attr_str(k))
    }

    /// Duration in nanoseconds, -1 if unknown.
    pub fn duration(&self) -> i64 {
        self.end.map_or(-1, |e| (e - self.start).max(0))
    }
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A hex id of up to `2 * N` digits, left-padded with zeros (Jaeger drops leading zeros and
/// Zipkin allows 64-bit trace ids). `None` for empty, non-hex, too long or all-zero ids.
pub fn parse_hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    let digits = s.as_bytes();
    let pad = 2 * N - digits.len();
    for i in 0..2 * N {
        let d = if i < pad {
            0
        } else {
            (digits[i - pad] as char).to_digit(16).unwrap_or(0) as u8
        };
        out[i / 2] |= if i % 2 == 0 { d << 4 } else { d };
    }
    (out != [0u8; N]).then_some(out)
}

/// An OTLP id: `2 * N` hex digits (the OTLP/JSON spec), or base64 of `N` bytes (what
/// protobuf JSON mappers emit). Errors say why.
pub fn parse_otlp_id<const N: usize>(s: &str) -> Result<[u8; N], String> {
    use base64::Engine;
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() == 2 * N && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_hex_id::<N>(s).ok_or_else(|| "is all zeros (an invalid id)".to_string());
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for e in engines {
        if let Ok(bytes) = e.decode(s.as_bytes()) {
            return match <[u8; N]>::try_from(bytes.as_slice()) {
                Ok(a) if a == [0u8; N] => Err("is all zeros (an invalid id)".into()),
                Ok(a) => Ok(a),
                Err(_) => Err(format!(
                    "\"{}\" is base64 of {} bytes, expected {N}",
                    super::cloudevents::escape_msg(s),
                    bytes.len()
                )),
            };
        }
    }
    Err(format!(
        "\"{}\" is neither {} hex digits nor base64 of {N} bytes",
        super::cloudevents::escape_msg(s),
        2 * N
    ))
}

/// Maps byte offsets of a document to 1-based line numbers.
pub struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    /// Indexes the newlines of `text`.
    pub fn new(text: &[u8]) -> Self {
        LineIndex {
            newlines: memchr::memchr_iter(b'\n', text).collect(),
        }
    }

    /// The line of byte `offset`.
    pub fn line(&self, offset: usize) -> u64 {
        self.newlines.partition_point(|&n| n < offset) as u64 + 1
    }
}

/// Spans parsed from (part of) an input, and the records that could not be read.
#[derive(Default, Debug)]
pub struct Parsed {
    /// The spans read.
    pub spans: Vec<Span>,
    /// `(line, message)`; the message starts with the span's path.
    pub errors: Vec<(u64, String)>,
    /// `(line, message)` for spans left out or read in part on purpose (not errors).
    pub notes: Vec<(u64, String)>,
}

impl Parsed {
    /// Collects per-span results: spans read, and `(line, message)` for those that were not.
    pub fn push_results(&mut self, results: Vec<Result<Span, (u64, String)>>) {
        for r in results {
            match r {
                Ok(s) => self.spans.push(s),
                Err(e) => self.errors.push(e),
            }
        }
    }

    /// Appends another part.
    pub fn extend(&mut self, other: Parsed) {
        self.spans.extend(other.spans);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
    }
}

/// What a span means for the event flow.
#[derive(Clone, Debug, PartialEq)]
enum Role<'s> {
    Publish(Option<Cow<'s, str>>),
    Consume(Option<Cow<'s, str>>),
    Db(Cow<'s, str>),
    Other,
}

const DESTINATION_KEYS: &[&str] = &[
    "messaging.destination.name",
    "messaging.destination",
    "message_bus.destination",
    "kafka.topic",
    "messaging.kafka.topic",
    "rabbit.exchange",
    "rabbit.routing_key",
    "rabbit.queue",
    "messaging.rabbitmq.destination.routing_key",
];

const OPERATION_KEYS: &[&str] = &["messaging.operation.type", "messaging.operation"];

/// The destination the span's attributes name.
fn destination<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    DESTINATION_KEYS.iter().find_map(|k| s.attr_str(k))
}

/// Zipkin's last resort: the remote service (the broker) names the channel.
fn remote<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    s.remote_service
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(Cow::Borrowed)
}

fn role(s: &Span) -> Role<'_> {
    let op = s
        .first_str(OPERATION_KEYS)
        .map(|o| o.to_ascii_lowercase())
        .unwrap_or_default();
    let publish_op = matches!(op.as_str(), "publish" | "send" | "create");
    let consume_op = matches!(op.as_str(), "receive" | "process" | "deliver");
    let faas_pubsub = s
        .attr_str("faas.trigger")
        .is_some_and(|t| t.eq_ignore_ascii_case("pubsub"))
        && matches!(s.kind, SpanKind::Server | SpanKind::Consumer);
    if s.kind == SpanKind::Producer || (publish_op && s.kind != SpanKind::Consumer) {
        return Role::Publish(destination(s).or_else(|| remote(s)));
    }
    if s.kind == SpanKind::Consumer || consume_op || faas_pubsub {
        return Role::Consume(destination(s));
    }
    if s.kind == SpanKind::Client
        && let Some(system) = s.first_str(&["db.system.name", "db.system", "db.type"])
    {
        let name = s
            .first_str(&[
                "db.namespace",
                "db.name",
                "db.collection.name",
                "db.instance",
            ])
            .unwrap_or(system);
        return Role::Db(name);
    }
    // Brave's JDBC/p6spy spans: a CLIENT span with the query, the remote service the database.
    if s.kind == SpanKind::Client
        && (s.attr("sql.query").is_some() || s.attr("jdbc.query").is_some())
        && let Some(db) = s.remote_service.as_deref().filter(|r| !r.is_empty())
    {
        return Role::Db(Cow::Borrowed(db));
    }
    Role::Other
}

fn is_faas(s: &Span) -> bool {
    s.kind != SpanKind::Client
        && ["faas.trigger", "faas.name", "faas.invoked_name"]
            .iter()
            .any(|k| s.attr(k).is_some())
}

/// What a consumer span's message is known from.
#[derive(Clone, Copy)]
enum Origin {
    /// The producer span that published it.
    Producer(usize),
    /// The consumer span of the same delivery this one is nested in.
    Enclosing(usize),
}

/// Event identity and attributes of a span that carries one.
struct Identity<'s> {
    /// The id is the messaging message id (not a CloudEvents id).
    from_message_id: bool,
    source: Cow<'s, str>,
    id: Cow<'s, str>,
    ty: Option<Cow<'s, str>>,
    specversion: Option<Cow<'s, str>>,
    subject: Option<Cow<'s, str>>,
    correlation: Option<Cow<'s, str>>,
}

fn ce_identity(s: &Span) -> Option<Identity<'_>> {
    let id = s.attr_str("cloudevents.event_id")?;
    let source = s.attr_str("cloudevents.event_source")?;
    Some(Identity {
        from_message_id: false,
        source,
        id,
        ty: s.attr_str("cloudevents.event_type"),
        specversion: s.first_str(&[
            "cloudevents.event_spec_version",
            "cloudevents.event_specversion",
        ]),
        subject: s.attr_str("cloudevents.event_subject"),
        correlation: s.attr_str("messaging.message.conversation_id"),
    })
}

fn message_id(s: &Span) -> Option<Cow<'_, str>> {
    s.first_str(&["messaging.message.id", "messaging.message_id"])
}

/// The identity of the event a producer span publishes.
fn publish_identity<'s>(s: &'s Span) -> Identity<'s> {
    if let Some(i) = ce_identity(s) {
        return i;
    }
    let msg = message_id(s);
    let from_message_id = msg.is_some();
    let id = msg.unwrap_or_else(|| Cow::Owned(format!("{}-{}", hex(&s.trace_id), hex(&s.span_id))));
    Identity {
        from_message_id,
        source: Cow::Borrowed(&s.service),
        id,
        ty: None,
        specversion: None,
        subject: None,
        correlation: s.attr_str("messaging.message.conversation_id"),
    }
}

/// The event type: `cloudevents.event_type`, else the span name unless it is only the
/// operation and destination (`publish orders`), else the destination.
fn event_type<'s>(ty: Option<Cow<'s, str>>, s: &'s Span, dest: &str) -> Cow<'s, str> {
    if let Some(t) = ty {
        return t;
    }
    let name = s.name.trim();
    // OpenTelemetry names messaging spans `{operation} {destination}` (older ones the other
    // way round), Brave `send`/`poll`/`on-message`: none of that is an event type.
    let generic = name.is_empty()
        || !dest.is_empty() && name.contains(dest)
        || name.split_whitespace().any(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "publish" | "send" | "create" | "receive" | "process" | "deliver" | "poll"
            )
        })
        || matches!(
            name.to_ascii_lowercase().as_str(),
            "on-message" | "on_message" | "onmessage"
        );
    if generic && !dest.is_empty() {
        Cow::Owned(dest.to_string())
    } else {
        Cow::Borrowed(name)
    }
}

const ATTEMPT_SUFFIXES: &[&str] = &[
    ".delivery_count",
    ".delivery_attempt",
    ".retry_count",
    ".retry",
    "retry.count",
];

fn attempt(s: &Span) -> u16 {
    s.attrs
        .iter()
        .find(|(k, _)| ATTEMPT_SUFFIXES.iter().any(|suf| k.ends_with(suf)))
        .and_then(|(_, v)| v.as_int())
        .map_or(0, |n| n.clamp(0, u16::MAX as i64) as u16)
}

fn outcome(s: &Span) -> Outcome {
    if s.error { Outcome::Error } else { Outcome::Ok }
}

/// Adds every span of one input to the store: events, observations, handler marks.
/// Spans that cannot be placed (a producer span without destination) are reported.
pub fn add_spans(store: &mut Store, input: u16, spans: &[Span]) {
    let mut index: FxHashMap<(TraceId, SpanId), usize> = FxHashMap::default();
    index.reserve(spans.len());
    for (i, s) in spans.iter().enumerate() {
        // Zipkin's shared client/server spans reuse an id: the first one wins.
        index.entry((s.trace_id, s.span_id)).or_insert(i);
    }
    let roles: Vec<Role> = spans.iter().map(role).collect();
    let parent_of = |i: usize| -> Option<usize> {
        let s = &spans[i];
        s.parent.and_then(|p| index.get(&(s.trace_id, p)).copied())
    };
    let mut span_event: Vec<Option<EventIdx>> = vec![None; spans.len()];
    let mut unplaced = 0u64;
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
    let loc = |s: &Span| RecordLoc {
        input,
        line: s.line.min(u32::MAX as u64) as u32,
    };

    // Producers first, so consumers can find their events whatever the order of the input.
    let mut publish_dest: Vec<Option<Cow<str>>> = vec![None; spans.len()];
    // Messages by channel and message id, for consumers in traces not linked to the producer.
    let mut by_message_id: FxHashMap<(String, String), EventIdx> = FxHashMap::default();
    // A message id names one message wherever it is published (a dead-letter queue keeps
    // it): its first publisher is the event's source.
    let mut source_of_message: FxHashMap<String, Arc<str>> = FxHashMap::default();
    let mut publish_order: Vec<usize> = (0..spans.len())
        .filter(|&i| matches!(roles[i], Role::Publish(_)))
        .collect();
    publish_order.sort_by_key(|&i| spans[i].start);
    for i in publish_order {
        let s = &spans[i];
        let Role::Publish(dest) = &roles[i] else {
            continue;
        };
        let Some(dest) = dest.clone() else {
            unplaced += 1;
            store.inputs[input as usize].error(
                s.line,
                format!(
                    "{}: {:?} span \"{}\" of {} publishes but names no destination (messaging.destination.name)",
                    s.path,
                    s.kind,
                    super::cloudevents::escape_msg(&s.name),
                    super::cloudevents::escape_msg(&s.service)
                ),
            );
            continue;
        };
        let mut ident = publish_identity(s);
        if ident.from_message_id
            && let Some(m) = message_id(s)
        {
            let first = source_of_message
                .entry(m.into_owned())
                .or_insert_with(|| s.service.clone());
            ident.source = Cow::Owned(first.to_string());
        }
        let trace_hex = hex(&s.trace_id);
        let ty = event_type(ident.ty, s, &dest);
        let mut extensions = Vec::new();
        if let Some(c) = &ident.correlation {
            extensions.push(("correlationid", NewExt::Str(c)));
        }
        let event = store.add_event(&NewEvent {
            source: &ident.source,
            id: &ident.id,
            ty: &ty,
            specversion: ident.specversion.as_deref().unwrap_or(""),
            subject: ident.subject.as_deref(),
            time: Some(s.start),
            extensions,
            trace: Some(&trace_hex),
            loc: loc(s),
            ..Default::default()
        });
        span_event[i] = Some(event);
        if let Some(m) = message_id(s) {
            by_message_id
                .entry((dest.to_string(), m.into_owned()))
                .or_insert(event);
        }
        let from = store.node(NodeClass::Service, &s.service);
        let to = store.channel_or_dead_letter(&dest);
        let stage = if store.nodes[to.0 as usize].class == NodeClass::DeadLetter {
            Stage::DeadLetter
        } else {
            Stage::Publish
        };
        let mut o = Observation::new(stage, s.start, event, from, to);
        o.trace = trace_syms[i];
        o.loc = loc(s);
        if s.error {
            o.outcome = Outcome::Error;
        }
        if let Some(m) = &s.status_message {
            o.reason = store.intern(m);
        }
        store.add_observation(o);
        publish_dest[i] = Some(dest);
    }

    // What a consumer span refers to: the producer span it links to, else the producer span
    // up its parent chain (through spans that are neither consumers nor producers), else
    // the consumer span of the same service and channel it is nested in (receive ->
    // process), which handles the same message.
    let origin_of = |i: usize| -> Option<Origin> {
        let s = &spans[i];
        for l in &s.links {
            if let Some(&p) = index.get(l)
                && matches!(roles[p], Role::Publish(_))
            {
                return Some(Origin::Producer(p));
            }
        }
        let own_dest = match &roles[i] {
            Role::Consume(d) => d.as_ref(),
            _ => None,
        };
        let mut cur = i;
        for _ in 0..64 {
            let p = parent_of(cur)?;
            match &roles[p] {
                Role::Publish(_) => return Some(Origin::Producer(p)),
                Role::Consume(d) => {
                    let same_channel = own_dest.is_none() || d.is_none() || d.as_ref() == own_dest;
                    return (spans[p].service == s.service && same_channel)
                        .then_some(Origin::Enclosing(p));
                }
                _ => cur = p,
            }
        }
        None
    };
    let mut consume_dest: Vec<Option<Cow<str>>> = vec![None; spans.len()];
    let consumer_order: Vec<usize> = {
        let mut v: Vec<usize> = (0..spans.len())
            .filter(|&i| matches!(roles[i], Role::Consume(_)))
            .collect();
        v.sort_by_key(|&i| spans[i].start);
        v
    };
    // A failure inside the handling (a processing span under the consumer span, as Brave
    // records it) fails the handling; database writes report their own outcome.
    let mut failed_below: FxHashSet<usize> = FxHashSet::default();
    for (i, s) in spans.iter().enumerate() {
        if !s.error || roles[i] != Role::Other {
            continue;
        }
        let mut cur = i;
        for _ in 0..64 {
            let Some(p) = parent_of(cur) else { break };
            if spans[p].service != s.service {
                break;
            }
            if matches!(roles[p], Role::Consume(_)) {
                failed_below.insert(p);
                break;
            }
            cur = p;
        }
    }
    // Brave finishes a consumer span when it hands the record over; the handling goes on
    // in child spans of the same service, so the handling ends with the last of them.
    let mut handling_end: Vec<Option<Nanos>> = spans.iter().map(|s| s.end).collect();
    for (i, s) in spans.iter().enumerate() {
        if roles[i] != Role::Other {
            continue;
        }
        if let (Some(p), Some(end)) = (parent_of(i), s.end)
            && matches!(roles[p], Role::Consume(_))
            && spans[p].service == s.service
            && handling_end[p].is_none_or(|e| e < end)
        {
            handling_end[p] = Some(end);
        }
    }
    for i in consumer_order {
        let s = &spans[i];
        let Role::Consume(own_dest) = &roles[i] else {
            continue;
        };
        let origin = origin_of(i);
        let dest: Option<Cow<str>> = own_dest
            .clone()
            .or_else(|| match origin {
                Some(Origin::Producer(p)) => publish_dest[p].clone(),
                Some(Origin::Enclosing(p)) => consume_dest[p].clone(),
                None => None,
            })
            .or_else(|| remote(s));
        let Some(dest) = dest else {
            unplaced += 1;
            store.inputs[input as usize].error(
                s.line,
                format!(
                    "{}: {:?} span \"{}\" of {} consumes but names no destination (messaging.destination.name) and links to no producer span",
                    s.path,
                    s.kind,
                    super::cloudevents::escape_msg(&s.name),
                    super::cloudevents::escape_msg(&s.service)
                ),
            );
            continue;
        };
        let known = match origin {
            Some(Origin::Producer(p) | Origin::Enclosing(p)) => span_event[p],
            None => None,
        };
        let event = match (ce_identity(s), known) {
            (Some(ident), _) => {
                let trace_hex = hex(&s.trace_id);
                let ty = event_type(ident.ty, s, &dest);
                store.add_event(&NewEvent {
                    source: &ident.source,
                    id: &ident.id,
                    ty: &ty,
                    specversion: ident.specversion.as_deref().unwrap_or(""),
                    subject: ident.subject.as_deref(),
                    trace: Some(&trace_hex),
                    loc: loc(s),
                    ..Default::default()
                })
            }
            (None, Some(e)) => e,
            (None, None)
                if let Some(&e) = message_id(s)
                    .and_then(|m| by_message_id.get(&(dest.to_string(), m.into_owned()))) =>
            {
                e
            }
            (None, None) => {
                // No producer span in this input: identify the message as well as we can.
                let (source, id, trace) = match (message_id(s), s.links.first()) {
                    (Some(m), _) => (dest.to_string(), m.into_owned(), s.trace_id),
                    (None, Some((t, sp))) => {
                        (dest.to_string(), format!("{}-{}", hex(t), hex(sp)), *t)
                    }
                    (None, None) => (
                        s.service.to_string(),
                        format!("{}-{}", hex(&s.trace_id), hex(&s.span_id)),
                        s.trace_id,
                    ),
                };
                let trace_hex = hex(&trace);
                let ty = event_type(None, s, &dest);
                store.add_event(&NewEvent {
                    source: &source,
                    id: &id,
                    ty: &ty,
                    specversion: "",
                    trace: Some(&trace_hex),
                    loc: loc(s),
                    ..Default::default()
                })
            }
        };
        span_event[i] = Some(event);
        let channel = store.channel_or_dead_letter(&dest);
        consume_dest[i] = Some(dest);
        let handler = store.node(NodeClass::Service, &s.service);
        let attempt = attempt(s);
        // A batch receive links to every message it got: one delivery each.
        let mut events = vec![event];
        if ce_identity(s).is_none() {
            for l in &s.links {
                if let Some(&p) = index.get(l)
                    && matches!(roles[p], Role::Publish(_))
                    && let Some(e) = span_event[p]
                    && !events.contains(&e)
                {
                    events.push(e);
                }
            }
        }
        // A consumer span nested in another consumer span of the same service for the same
        // message (receive -> process) is one delivery, not two: the outermost one counts.
        let nested = |event: EventIdx| {
            let mut cur = i;
            for _ in 0..64 {
                let Some(p) = parent_of(cur) else { break };
                if spans[p].service != s.service {
                    break;
                }
                if matches!(roles[p], Role::Consume(_)) && span_event[p] == Some(event) {
                    return true;
                }
                cur = p;
            }
            false
        };
        events.retain(|e| !nested(*e));
        let mut cold_start = {
            let mut cold = s.attr("faas.coldstart").is_some_and(AttrValue::as_bool);
            let mut cur = i;
            for _ in 0..64 {
                if cold {
                    break;
                }
                let Some(p) = parent_of(cur) else { break };
                if spans[p].service != s.service {
                    break;
                }
                cold = spans[p]
                    .attr("faas.coldstart")
                    .is_some_and(AttrValue::as_bool);
                cur = p;
            }
            cold
        };
        let reason = s.status_message.as_deref().map(|m| store.intern(m));
        for event in events {
            let mut d = Observation::new(Stage::Deliver, s.start, event, channel, handler);
            d.trace = trace_syms[i];
            d.attempt = attempt;
            d.loc = loc(s);
            store.add_observation(d);
            let mut h = Observation::new(Stage::Handle, s.start, event, channel, handler);
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
            h.loc = loc(s);
            store.add_observation(h);
        }
    }

    // Writes to stores, attributed to the event the enclosing consumer span handles.
    for (i, s) in spans.iter().enumerate() {
        let Role::Db(name) = &roles[i] else {
            continue;
        };
        let mut cur = i;
        let mut event = None;
        for _ in 0..64 {
            let Some(p) = parent_of(cur) else { break };
            if let Role::Consume(_) = roles[p] {
                event = span_event[p];
                break;
            }
            cur = p;
        }
        let Some(event) = event else {
            // A database call outside any event handling is not part of the event flow.
            continue;
        };
        let from = store.node(NodeClass::Service, &s.service);
        let to = store.node(NodeClass::Store, name);
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

    // FaaS functions are handlers even when the input shows no delivery to them.
    let mut faas_services: FxHashSet<&str> = FxHashSet::default();
    for s in spans {
        if is_faas(s) {
            faas_services.insert(&s.service);
        }
    }
    for name in faas_services {
        if let Some(n) = store.find_node(NodeClass::Service, name) {
            store.nodes[n.0 as usize].kind = NodeKind::Handler;
        }
    }
    let inp = &mut store.inputs[input as usize];
    inp.records += spans.len() as u64 - unplaced;
}

/// A 64-bit unsigned number written as a JSON number or a decimal string (proto3 JSON
/// writes 64-bit integers as strings). A value of another kind is kept as the reason it is
/// not a number, so the reader can name the field in its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flex64(pub Result<u64, String>);

impl Flex64 {
    /// The number of an optional field, or `field: why it is not one`.
    pub fn of(v: Option<Flex64>, field: &str) -> Result<Option<u64>, String> {
        v.map(|f| f.0.map_err(|e| format!("{field}: {e}")))
            .transpose()
    }
}

impl<'de> serde::Deserialize<'de> for Flex64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        let bad = |v: &serde_json::Value| {
            let t = v.to_string();
            Err(format!(
                "{} is not a non-negative integer",
                super::cloudevents::escape_msg(&t)
            ))
        };
        Ok(Flex64(match &v {
            serde_json::Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Ok(u),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
                _ => bad(&v),
            },
            serde_json::Value::String(s) => s.trim().parse().or_else(|_| bad(&v)),
            _ => bad(&v),
        }))
    }
}

/// An enum written as its number or its name (`4` or `"SPAN_KIND_PRODUCER"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnumVal {
    /// The enum's number.
    Num(u64),
    /// The enum's name.
    Name(String),
}

impl<'de> serde::Deserialize<'de> for EnumVal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EnumVal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum number or name")
            }
            fn visit_u64<E>(self, v: u64) -> Result<EnumVal, E> {
                Ok(EnumVal::Num(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EnumVal, E> {
                u64::try_from(v)
                    .map(EnumVal::Num)
                    .map_err(|_| E::custom(format!("{v} is not an enum value")))
            }
            fn visit_str<E>(self, v: &str) -> Result<EnumVal, E> {
                Ok(match v.parse() {
                    Ok(n) => EnumVal::Num(n),
                    Err(_) => EnumVal::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON scalar as an [`AttrValue`] (Jaeger tag values, Zipkin tags); arrays and objects
/// are kept as their JSON text, null as an empty string.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar(pub AttrValue);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        Ok(Scalar(match v {
            serde_json::Value::Null => AttrValue::Str(String::new()),
            serde_json::Value::Bool(b) => AttrValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AttrValue::Int(i),
                None => AttrValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => AttrValue::Str(s),
            other => AttrValue::Str(other.to_string()),
        }))
    }
}

/// Nanoseconds from a count of `unit_ns`-long units, if it fits.
/// Start and end of a span given in microseconds as a start time and a duration (Jaeger,
/// Zipkin); `start_field` names the start field in errors.
pub fn micros_span(
    start: Option<Flex64>,
    duration: Option<Flex64>,
    start_field: &str,
) -> Result<(Nanos, Option<Nanos>), String> {
    let start = match Flex64::of(start, start_field)? {
        None | Some(0) => return Err(format!("{start_field} is missing or zero")),
        Some(us) => {
            nanos_of(us, 1000).ok_or_else(|| format!("{start_field} {us} µs is out of range"))?
        }
    };
    let end = match Flex64::of(duration, "duration")? {
        None => None,
        Some(us) => Some(
            nanos_of(us, 1000)
                .and_then(|d| start.checked_add(d))
                .ok_or_else(|| format!("duration {us} µs is out of range"))?,
        ),
    };
    Ok((start, end))
}

pub fn nanos_of(count: u64, unit_ns: u64) -> Option<Nanos> {
    count
        .checked_mul(unit_ns)
        .and_then(|n| i64::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hex_and_base64() {
        let hex32 = "5b8efff798038103d269b633813fc60c";
        let t = parse_otlp_id::<16>(hex32).unwrap_or_default();
        assert_eq!(hex(&t), hex32);
        // The same id as base64 (what protobuf JSON mappers emit).
        let t2 = parse_otlp_id::<16>("W47/95gDgQPSabYzgT/GDA==").unwrap_or_default();
        assert_eq!(t, t2);
        let s = parse_otlp_id::<8>("7rsv2NxhKfM=").unwrap_or_default();
        assert_eq!(hex(&s), "eebb2fd8dc6129f3");
        assert!(parse_otlp_id::<8>("zz").is_err());
        assert!(parse_otlp_id::<8>("0000000000000000").is_err());
        assert_eq!(
            parse_hex_id::<16>("abc").map(|a| hex(&a)).as_deref(),
            Some("00000000000000000000000000000abc")
        );
        assert_eq!(parse_hex_id::<8>(""), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(
            SpanKind::parse("SPAN_KIND_PRODUCER"),
            Some(SpanKind::Producer)
        );
        assert_eq!(SpanKind::parse("consumer"), Some(SpanKind::Consumer));
        assert_eq!(SpanKind::from_otlp(3), Some(SpanKind::Client));
        assert_eq!(SpanKind::from_otlp(9), None);
    }

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

    #[test]
    fn line_index() {
        let li = LineIndex::new(b"a\nb\nc");
        assert_eq!(li.line(0), 1);
        assert_eq!(li.line(2), 2);
        assert_eq!(li.line(4), 3);
    }
}
