//! The event model: events (identified by CloudEvents `source` + `id`), observations (one
//! event seen at one place at one time), the time-sorted [`Store`] that owns them with
//! interned strings, and the [`Topology`] graph derived from it.
//!
//! Readers add events and observations through the builder methods of [`Store`] and then
//! call [`Store::finalize`], which sorts, de-duplicates across inputs, computes latencies and
//! builds the topology and indexes. Nothing here does I/O except [`Store::payload`].

mod declared;
mod intern;
mod retention;
mod store;
mod topology;

pub use declared::*;
pub use intern::{Interner, Sym};
pub use retention::*;
pub use store::*;
pub use topology::*;

use crate::time::Nanos;

/// Index of an event in [`Store::events`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventIdx(pub u32);

/// Index of a node in [`Store::nodes`]; the topology graph uses the same numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub const NONE: NodeId = NodeId(u32::MAX);
    pub fn is_none(self) -> bool {
        self == NodeId::NONE
    }
    pub fn some(self) -> Option<NodeId> {
        if self.is_none() { None } else { Some(self) }
    }
}

/// What a node is, as the user sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// A service seen only in calls (HTTP, gRPC, database): it neither publishes nor
    /// handles events.
    Service,
    Producer,
    Channel,
    Handler,
    Store,
    DeadLetter,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Service => "service",
            NodeKind::Producer => "producer",
            NodeKind::Channel => "channel",
            NodeKind::Handler => "handler",
            NodeKind::Store => "store",
            NodeKind::DeadLetter => "dead-letter",
        }
    }
}

/// The namespace a node name lives in. A service is a producer until it is seen handling
/// something, then it is a handler; the class never changes, so node ids stay stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeClass {
    Service,
    Channel,
    Store,
    DeadLetter,
}

impl NodeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeClass::Service => "service",
            NodeClass::Channel => "channel",
            NodeClass::Store => "store",
            NodeClass::DeadLetter => "dead-letter",
        }
    }
}

/// A node of the system: a service, a channel (topic, subject, queue, bus), a store, or a
/// dead-letter destination.
#[derive(Clone, Debug)]
pub struct Node {
    pub class: NodeClass,
    pub kind: NodeKind,
    pub name: Sym,
    /// The technology, where the input says: `rabbitmq`, `kafka`, `postgresql`, `redis`.
    pub system: Sym,
    /// Where it runs, where the input says: a broker URL or host (credentials removed), a
    /// database server.
    pub address: Sym,
}

/// Where in the flow an observation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// A producer put the event on a channel (`from` producer, `to` channel).
    Publish,
    /// A channel delivered the event to a handler (`from` channel, `to` handler); the time is
    /// the moment the handler received it.
    Deliver,
    /// A handler processed the event (`from` the channel it came from, if known, `to` the
    /// handler); the time is the start, `duration` the processing time.
    Handle,
    /// A handler wrote to a store (`from` handler, `to` store).
    Store,
    /// The event reached a dead-letter destination (`from` channel or handler).
    DeadLetter,
    /// A synchronous call between services (`from` the caller, `to` the callee or the
    /// uninstrumented peer); the time is the start, `duration` the caller's wait.
    Call,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Publish => "publish",
            Stage::Deliver => "deliver",
            Stage::Handle => "handle",
            Stage::Store => "store",
            Stage::DeadLetter => "deadletter",
            Stage::Call => "call",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "publish" => Stage::Publish,
            "deliver" => Stage::Deliver,
            "handle" => Stage::Handle,
            "store" => Stage::Store,
            "deadletter" | "dead-letter" => Stage::DeadLetter,
            "call" => Stage::Call,
            _ => return None,
        })
    }
}

/// The result of a handling or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    #[default]
    Unknown,
    Ok,
    Error,
    Timeout,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unknown => "unknown",
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "ok" | "success" => Outcome::Ok,
            "error" | "failure" | "failed" => Outcome::Error,
            "timeout" => Outcome::Timeout,
            "unknown" => Outcome::Unknown,
            _ => return None,
        })
    }
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Error | Outcome::Timeout)
    }
}

/// A CloudEvents extension value. JSON carries URI, URI-reference, Timestamp and Binary
/// extension values as strings, so they stay strings here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtValue {
    Str(Sym),
    Int(i64),
    Bool(bool),
}

/// Where a record came from: the input (file or live source) and its line (1-based), or
/// its position in a JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecordLoc {
    pub input: u16,
    pub line: u32,
}

/// A reference to an event's payload bytes inside an input; never a copy per event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadRef {
    pub input: u16,
    pub offset: u64,
    pub len: u32,
    /// The bytes are a JSON value (`data`); otherwise base64 text (`data_base64`).
    pub json: bool,
}

/// What an [`Event`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A CloudEvent (read as one, or named by `cloudevents.*` span attributes), or an event
    /// of another schema mapped onto CloudEvents attributes.
    #[default]
    Cloudevent,
    /// A broker message known from messaging spans only (no CloudEvents identity).
    Message,
    /// Not an event: a synchronous call or a store access outside any event handling,
    /// kept so that call observations have something to point at.
    Call,
}

impl EventKind {
    /// An event of the event flow (not a call).
    pub fn is_event(self) -> bool {
        self != EventKind::Call
    }
}

/// One event, identified by `source` + `id`. Attributes are the first ones seen.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub source: Sym,
    pub id: Sym,
    pub ty: Sym,
    pub specversion: Sym,
    pub subject: Sym,
    pub time: Option<Nanos>,
    pub datacontenttype: Sym,
    pub dataschema: Sym,
    /// Range into [`Store::extensions`].
    pub ext_start: u32,
    pub ext_len: u16,
    pub payload: Option<PayloadRef>,
    /// Top-level shape of a JSON object payload (`field:type,...`, sorted), for schema checks.
    pub payload_shape: Sym,
    /// W3C trace id (32 lowercase hex digits) from `traceparent` or the span that carried it.
    pub trace: Sym,
    pub causation: Sym,
    pub correlation: Sym,
    pub partition_key: Sym,
    pub sequence: Option<i64>,
    pub loc: RecordLoc,
}

/// One event seen at one place at one time.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub time: Nanos,
    /// Processing time for [`Stage::Handle`], write time for [`Stage::Store`]; -1 if unknown.
    pub duration: i64,
    /// Filled by [`Store::finalize`]: delivery latency for deliveries, publish-to-dead-letter
    /// time for dead letters; -1 if unknown.
    pub latency: i64,
    pub event: EventIdx,
    pub from: NodeId,
    pub to: NodeId,
    pub stage: Stage,
    pub outcome: Outcome,
    pub attempt: u16,
    pub cold_start: bool,
    /// Derived rather than seen (e.g. from a `causationid`); carries no latency.
    pub inferred: bool,
    /// The record gave no time (no `time`, receive or record time): `time` is borrowed from
    /// the record before it in the same input (the first timed one for leading records, 0
    /// when none has a time) so that file order is kept; shown as "no time".
    pub untimed: bool,
    /// Error message or dead-letter reason.
    pub reason: Sym,
    pub trace: Sym,
    pub loc: RecordLoc,
}

impl Observation {
    /// A new observation with the optional fields empty.
    pub fn new(stage: Stage, time: Nanos, event: EventIdx, from: NodeId, to: NodeId) -> Self {
        Observation {
            time,
            duration: -1,
            latency: -1,
            event,
            from,
            to,
            stage,
            outcome: Outcome::Unknown,
            attempt: 0,
            cold_start: false,
            inferred: false,
            untimed: false,
            reason: Sym::NONE,
            trace: Sym::NONE,
            loc: RecordLoc::default(),
        }
    }
}

/// A channel name that says it is a dead-letter destination (`orders.dlq`, `orders-DLQ`,
/// `dead-letter-orders`, `orders.deadletter`).
pub fn is_dead_letter_name(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.contains("dlq")
        || l.contains("dead-letter")
        || l.contains("deadletter")
        || l.contains("dead_letter")
        || l.contains("dead.letter")
}
