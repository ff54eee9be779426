//! The [`Store`]: events, observations sorted by time, interned strings, and the indexes
//! that make "the state at time t" a binary search rather than a rescan.

use super::*;
use crate::time::Nanos;
use rustc_hash::FxHashMap;
use std::path::PathBuf;

/// The formats eventlens reads, as named in `analyze --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Cloudevents,
    CloudeventsBatch,
    CloudeventsJsonl,
    Capture,
    Otlp,
    Jaeger,
    Zipkin,
    Kcat,
    /// A live source (broker, webhook, the built-in demo).
    Live,
    /// OTLP JSON logs: the log records that carry `cloudevents.*` attributes.
    OtlpLogs,
    /// Azure Event Grid event schema (`eventType`, `eventTime`, `topic`, `subject`).
    Eventgrid,
    /// Amazon EventBridge events (`detail-type`, `detail`, `source`).
    Eventbridge,
    /// CDEvents (`context` with id, source, type, timestamp; `subject`).
    Cdevents,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cloudevents => "cloudevents",
            Format::CloudeventsBatch => "cloudevents-batch",
            Format::CloudeventsJsonl => "cloudevents-jsonl",
            Format::Capture => "capture",
            Format::Otlp => "otlp",
            Format::Jaeger => "jaeger",
            Format::Zipkin => "zipkin",
            Format::Kcat => "kcat",
            Format::Live => "live",
            Format::OtlpLogs => "otlp-logs",
            Format::Eventgrid => "eventgrid",
            Format::Eventbridge => "eventbridge",
            Format::Cdevents => "cdevents",
        }
    }
}

/// A problem with one record: where (line or array position, 1-based) and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordIssue {
    pub line: u64,
    pub message: String,
}

/// At most this many errors and violations are kept per input; all are counted.
pub const MAX_ISSUES: usize = 100;

/// What reading one input produced.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: String,
    pub format: Option<Format>,
    /// Records loaded (events, spans or messages).
    pub records: u64,
    /// Records that could not be read (every one, not only the listed ones).
    pub skipped: u64,
    pub errors: Vec<RecordIssue>,
    /// Records loaded but breaking the CloudEvents spec.
    pub violation_count: u64,
    pub violations: Vec<RecordIssue>,
    /// Records left out or loaded in part on purpose, each with why: not errors (a Zipkin
    /// span with nothing to merge into, a placeholder time, an unusable span link).
    pub note_count: u64,
    pub notes: Vec<RecordIssue>,
    pub payloads: PayloadSource,
}

impl Input {
    pub fn error(&mut self, line: u64, message: impl Into<String>) {
        self.skipped += 1;
        if self.errors.len() < MAX_ISSUES {
            self.errors.push(RecordIssue {
                line,
                message: message.into(),
            });
        }
    }
    pub fn note(&mut self, line: u64, message: impl Into<String>) {
        self.note_count += 1;
        if self.notes.len() < MAX_ISSUES {
            self.notes.push(RecordIssue {
                line,
                message: message.into(),
            });
        }
    }
    pub fn violation(&mut self, line: u64, message: impl Into<String>) {
        self.violation_count += 1;
        if self.violations.len() < MAX_ISSUES {
            self.violations.push(RecordIssue {
                line,
                message: message.into(),
            });
        }
    }
}

/// Where the payload bytes of an input's events can be read back.
#[derive(Clone, Debug, Default)]
pub enum PayloadSource {
    #[default]
    None,
    /// An uncompressed file: payloads are byte ranges of it, read back on demand through one
    /// handle kept open (a positioned read per payload, no open or seek); past the first
    /// [`crate::ingest::KEEP_OPEN`] inputs, opened for each read (`None`), so that
    /// thousands of inputs do not hold thousands of descriptors.
    File(PathBuf, Option<std::sync::Arc<std::fs::File>>),
    /// Compressed or live input: payload bytes kept in one arena for the whole input.
    Arena(Vec<u8>),
}

/// A new event as a reader sees it, before interning.
#[derive(Clone, Debug, Default)]
pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub source: &'a str,
    pub id: &'a str,
    pub ty: &'a str,
    pub specversion: &'a str,
    pub subject: Option<&'a str>,
    pub time: Option<Nanos>,
    pub datacontenttype: Option<&'a str>,
    pub dataschema: Option<&'a str>,
    pub extensions: Vec<(&'a str, NewExt<'a>)>,
    pub payload: Option<PayloadRef>,
    pub payload_shape: Option<&'a str>,
    /// Trace id from the transport (span), when `traceparent` does not carry it.
    pub trace: Option<&'a str>,
    pub loc: RecordLoc,
}

/// An extension value before interning.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NewExt<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

/// Everything loaded: inputs, events, observations, nodes, topology and indexes.
///
/// `Clone` is a deep copy: the live worker keeps appending to its own store and publishes
/// copies of it (see [`crate::live::worker`]).
#[derive(Default, Clone)]
pub struct Store {
    pub strings: Interner,
    pub inputs: Vec<Input>,
    pub events: Vec<Event>,
    pub extensions: Vec<(Sym, ExtValue)>,
    /// Sorted by time after [`Store::finalize`].
    pub observations: Vec<Observation>,
    pub nodes: Vec<Node>,
    pub(super) node_keys: FxHashMap<(NodeClass, Sym), NodeId>,
    pub(super) event_keys: FxHashMap<(Sym, Sym), EventIdx>,
    pub topology: Topology,
    /// Consumers the brokers declared (see [`Declared`]), in the order first told.
    pub declared: Vec<Declared>,
    /// Observation indices per event (CSR layout: `event_obs_start[e]..event_obs_start[e+1]`).
    pub(super) event_obs_start: Vec<u32>,
    pub(super) event_obs: Vec<u32>,
    /// Observation indices per trace id, in time order.
    pub by_trace: FxHashMap<Sym, Vec<u32>>,
    /// Observations that were reported by two inputs (e.g. a capture and an OTLP export of
    /// the same run) and merged into one.
    pub merged_duplicates: u64,
    /// Events of kind [`EventKind::Call`] (calls and store accesses outside any event
    /// handling): `events.len() - call_events` are events.
    pub call_events: u64,
    /// Service names by the name an input gives them (`[services]` in `eventlens.toml`).
    pub(super) service_names: FxHashMap<Sym, Sym>,
    /// Event sources found to be the same producer as a traced service (see
    /// `unify_producers`).
    pub unified_producers: u64,
    /// Deliveries inferred from `causationid` links.
    pub inferred_deliveries: u64,
    /// What retention folded out of a live store (`--max-events`): every topology built
    /// from the store adds it back (see [`super::retention`]).
    pub folded: Option<std::sync::Arc<super::Folded>>,
    pub(super) finalized_len: usize,
    pub(super) finalized_events: usize,
    /// Earliest publish per (event, channel) and per event, kept between finalize calls.
    /// Dense per event: its first publish (channel and time; `NodeId::NONE` if none yet).
    /// Publishes of the same event to other channels go to `published_more`.
    pub(super) first_publish: Vec<(NodeId, Nanos)>,
    pub(super) published_more: FxHashMap<(EventIdx, NodeId), Nanos>,
    /// Recently seen events by the hash of `source` + `id` ([`event_key_hash`]), direct
    /// mapped: the sightings of one event in a capture are close together, and this spares
    /// them the lookups in the large tables.
    pub(super) recent: Vec<(u64, EventIdx)>,
    /// What the live path's incremental finalize keeps about `causationid` links between
    /// calls; `None` after a full rebuild (built again when next needed).
    pub(super) causation_links: LinksSlot,
}

/// Holds the [`CausationLinks`] of the store that keeps being finalized. A copy (a
/// published snapshot) starts without them: they are built again from the store if that
/// copy is ever finalized, so publishing does not copy them.
#[derive(Default)]
pub(super) struct LinksSlot {
    links: Option<Box<CausationLinks>>,
    /// Some finalized event names a cause (set by each finalize).
    any: bool,
}

impl Clone for LinksSlot {
    fn clone(&self) -> Self {
        LinksSlot {
            links: None,
            any: self.any,
        }
    }
}

/// The state of `causationid` inference between incremental finalizes: which event an id
/// names, which effects wait for what, and which deliveries were inferred (see
/// [`Store::infer_causation_incremental`]).
#[derive(Default, Clone)]
pub(super) struct CausationLinks {
    /// The first event with each id, over `events[..events_seen]`.
    by_id: FxHashMap<Sym, EventIdx>,
    events_seen: usize,
    /// Effects waiting for an event with this id (their cause) to appear.
    awaiting_id: FxHashMap<Sym, Vec<EventIdx>>,
    /// Effects waiting for this event (the cause or the effect itself) to be published.
    awaiting_publish: FxHashMap<EventIdx, Vec<EventIdx>>,
    /// (cause, producer) pairs given an inferred delivery, with the effect it was inferred
    /// for (`u32::MAX`: inferred by a full rebuild, effect not known).
    inferred: FxHashMap<(EventIdx, NodeId), EventIdx>,
}

const RECENT: usize = 1 << 14;

/// The hash of an event's key (`source` + `id`), computed where lines are parsed in
/// parallel; never 0, which stands for "not computed".
pub fn event_key_hash(source: &str, id: &str) -> u64 {
    let h = super::intern::hash_str(source).rotate_left(29) ^ super::intern::hash_str(id);
    h.max(1)
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// The most inputs one store holds: an observation names its input in a `u16`.
    pub const MAX_INPUTS: usize = u16::MAX as usize + 1;

    /// Whether another input fits ([`Store::MAX_INPUTS`]); loaders check it first.
    pub fn has_room_for_input(&self) -> bool {
        self.inputs.len() < Self::MAX_INPUTS
    }

    /// Adds an input and gives its index. Past [`Store::MAX_INPUTS`] (which loaders refuse
    /// before calling this, see [`Store::has_room_for_input`]) the last index is given again
    /// rather than a wrapped one naming another input.
    pub fn add_input(&mut self, path: impl Into<String>, format: Option<Format>) -> u16 {
        if !self.has_room_for_input() {
            tracing::error!(
                "more than {} inputs: merged into the last",
                Self::MAX_INPUTS
            );
            return u16::MAX;
        }
        self.inputs.push(Input {
            path: path.into(),
            format,
            records: 0,
            skipped: 0,
            errors: Vec::new(),
            violation_count: 0,
            violations: Vec::new(),
            note_count: 0,
            notes: Vec::new(),
            payloads: PayloadSource::None,
        });
        u16::try_from(self.inputs.len() - 1).unwrap_or(u16::MAX)
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        self.strings.intern(s)
    }

    /// Reserves room for the store to grow `factor` times what it holds now (a loader
    /// that has read part of an input knows the rest's size). Growing a large vector by
    /// doubling copies it and touches twice its memory; this allocates once. Capped, so a
    /// wrong guess costs address space, not memory.
    pub fn reserve_for(&mut self, factor: f64) {
        const MAX_OBSERVATIONS: f64 = 20_000_000.0;
        let n = self.observations.len().max(1) as f64;
        // A margin: reserved memory that is never touched costs only address space.
        let factor = (factor * 1.25).min(MAX_OBSERVATIONS / n);
        if factor <= 1.0 {
            return;
        }
        let more = |len: usize| (len as f64 * (factor - 1.0)) as usize;
        self.observations.reserve(more(self.observations.len()));
        self.events.reserve(more(self.events.len()));
        self.extensions.reserve(more(self.extensions.len()));
        self.event_keys.reserve(more(self.event_keys.len()));
        self.strings.reserve_for(factor);
    }

    pub fn str(&self, s: Sym) -> &str {
        self.strings.resolve(s)
    }

    /// Names services: an event `source` or a span's service called `from` becomes the
    /// node `to` (the `[services]` table of `eventlens.toml`). Call before loading.
    pub fn set_service_names<'a>(&mut self, names: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (from, to) in names {
            let (f, t) = (self.strings.intern(from), self.strings.intern(to));
            self.service_names.insert(f, t);
        }
    }

    /// The node of a class and name, created on first use.
    pub fn node(&mut self, class: NodeClass, name: &str) -> NodeId {
        let name = self.strings.intern(name);
        self.node_sym(class, name)
    }

    pub fn node_sym(&mut self, class: NodeClass, name: Sym) -> NodeId {
        let name = match class {
            NodeClass::Service if !self.service_names.is_empty() => {
                self.service_names.get(&name).copied().unwrap_or(name)
            }
            _ => name,
        };
        if let Some(id) = self.node_keys.get(&(class, name)) {
            return *id;
        }
        let id = NodeId(self.nodes.len() as u32);
        let kind = match class {
            NodeClass::Service => NodeKind::Service,
            NodeClass::Channel => NodeKind::Channel,
            NodeClass::Store => NodeKind::Store,
            NodeClass::DeadLetter => NodeKind::DeadLetter,
        };
        self.nodes.push(Node {
            class,
            kind,
            name,
            system: Sym::NONE,
            address: Sym::NONE,
        });
        self.node_keys.insert((class, name), id);
        id
    }

    /// Notes a node's technology and address, where they are not known yet.
    pub fn describe_node(&mut self, id: NodeId, system: Option<&str>, address: Option<&str>) {
        let system = system
            .filter(|s| !s.is_empty())
            .map(|s| self.strings.intern(s));
        let address = address
            .filter(|s| !s.is_empty())
            .map(|s| self.strings.intern(s));
        if let Some(n) = self.nodes.get_mut(id.0 as usize) {
            if let Some(s) = system
                && n.system.is_none()
            {
                n.system = s;
            }
            if let Some(a) = address
                && n.address.is_none()
            {
                n.address = a;
            }
        }
    }

    /// A channel node, or a dead-letter node if its name says it is one.
    pub fn channel_or_dead_letter(&mut self, name: &str) -> NodeId {
        let sym = self.strings.intern(name);
        for class in [NodeClass::Channel, NodeClass::DeadLetter] {
            if let Some(id) = self.node_keys.get(&(class, sym)) {
                return *id;
            }
        }
        if is_dead_letter_name(name) {
            self.node(NodeClass::DeadLetter, name)
        } else {
            self.node(NodeClass::Channel, name)
        }
    }

    pub fn find_node(&self, class: NodeClass, name: &str) -> Option<NodeId> {
        let sym = self.strings.get(name)?;
        self.node_keys.get(&(class, sym)).copied()
    }

    /// A stable id for a node, used in JSON and exports: `class:name`.
    pub fn node_key(&self, id: NodeId) -> String {
        match self.nodes.get(id.0 as usize) {
            Some(n) => format!("{}:{}", n.class.as_str(), self.str(n.name)),
            None => String::new(),
        }
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        self.nodes
            .get(id.0 as usize)
            .map_or("", |n| self.str(n.name))
    }

    pub fn find_event(&self, source: &str, id: &str) -> Option<EventIdx> {
        let s = self.strings.get(source)?;
        let i = self.strings.get(id)?;
        self.event_keys.get(&(s, i)).copied()
    }

    /// [`Store::find_event`] with the key's hash ([`event_key_hash`]) to check the
    /// recent events first. `hash` 0 skips that.
    pub fn existing_event_hashed(&mut self, source: &str, id: &str, hash: u64) -> Option<EventIdx> {
        if hash == 0 {
            return self.find_event(source, id);
        }
        if self.recent.is_empty() {
            self.recent = vec![(0, EventIdx(u32::MAX)); RECENT];
        }
        let slot = hash as usize & (RECENT - 1);
        let (h, e) = self.recent[slot];
        if h == hash
            && let Some(ev) = self.events.get(e.0 as usize)
            && self.strings.resolve(ev.id) == id
            && self.strings.resolve(ev.source) == source
        {
            return Some(e);
        }
        let e = self.find_event(source, id)?;
        self.recent[slot] = (hash, e);
        Some(e)
    }

    /// Notes a new event in the recent cache (see [`Store::existing_event_hashed`]).
    pub fn note_recent(&mut self, hash: u64, e: EventIdx) {
        if hash != 0 && !self.recent.is_empty() {
            self.recent[hash as usize & (RECENT - 1)] = (hash, e);
        }
    }

    /// Adds an event, or returns the existing one with the same `source` + `id` (filling in
    /// attributes the first sighting lacked).
    pub fn add_event(&mut self, e: &NewEvent<'_>) -> EventIdx {
        let source = self.strings.intern(e.source);
        let id = self.strings.intern(e.id);
        if let Some(&idx) = self.event_keys.get(&(source, id)) {
            let ev = &mut self.events[idx.0 as usize];
            if ev.payload.is_none() && e.payload.is_some() {
                ev.payload = e.payload;
                ev.payload_shape = self.strings.intern_opt(e.payload_shape);
            }
            if ev.time.is_none() {
                ev.time = e.time;
            }
            if ev.trace.is_none()
                && let Some(t) = e.trace
            {
                ev.trace = self.strings.intern(t);
            }
            return idx;
        }
        let ext_start = self.extensions.len() as u32;
        let mut trace = self.strings.intern_opt(e.trace);
        let (mut causation, mut correlation, mut partition_key) = (Sym::NONE, Sym::NONE, Sym::NONE);
        let mut sequence = None;
        for (name, value) in &e.extensions {
            let v = match *value {
                NewExt::Str(s) => {
                    match *name {
                        "traceparent" => {
                            if let Some(t) = trace_id_of_traceparent(s) {
                                trace = self.strings.intern(t);
                            }
                            // Unique to the event (its span id): kept, not filed for lookup.
                            let n = self.strings.intern(name);
                            self.extensions
                                .push((n, ExtValue::Str(self.strings.push_unique(s))));
                            continue;
                        }
                        "causationid" => causation = self.strings.intern(s),
                        "correlationid" => correlation = self.strings.intern(s),
                        "partitionkey" => partition_key = self.strings.intern(s),
                        "sequence" => sequence = s.parse().ok(),
                        _ => {}
                    }
                    ExtValue::Str(self.strings.intern(s))
                }
                NewExt::Int(i) => {
                    if *name == "sequence" {
                        sequence = Some(i);
                    }
                    ExtValue::Int(i)
                }
                NewExt::Bool(b) => ExtValue::Bool(b),
            };
            let n = self.strings.intern(name);
            self.extensions.push((n, v));
        }
        let idx = EventIdx(self.events.len() as u32);
        let ev = Event {
            kind: e.kind,
            source,
            id,
            ty: self.strings.intern(e.ty),
            specversion: self.strings.intern(e.specversion),
            subject: self.strings.intern_opt(e.subject),
            time: e.time,
            datacontenttype: self.strings.intern_opt(e.datacontenttype),
            dataschema: self.strings.intern_opt(e.dataschema),
            ext_start,
            ext_len: (self.extensions.len() as u32 - ext_start).min(u16::MAX as u32) as u16,
            payload: e.payload,
            payload_shape: self.strings.intern_opt(e.payload_shape),
            trace,
            causation,
            correlation,
            partition_key,
            sequence,
            loc: e.loc,
        };
        if ev.kind == EventKind::Call {
            self.call_events += 1;
        }
        self.events.push(ev);
        self.event_keys.insert((source, id), idx);
        idx
    }

    pub fn event(&self, idx: EventIdx) -> &Event {
        &self.events[idx.0 as usize]
    }

    pub fn event_extensions(&self, e: &Event) -> &[(Sym, ExtValue)] {
        let s = e.ext_start as usize;
        &self.extensions[s..s + e.ext_len as usize]
    }

    pub fn add_observation(&mut self, mut obs: Observation) {
        if obs.trace.is_none() {
            obs.trace = self.events[obs.event.0 as usize].trace;
        }
        self.observations.push(obs);
    }

    /// Observation indices of one event, in time order (after [`Store::finalize`]).
    pub fn observations_of(&self, e: EventIdx) -> &[u32] {
        let i = e.0 as usize;
        match (self.event_obs_start.get(i), self.event_obs_start.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.event_obs[a as usize..b as usize],
            _ => &[],
        }
    }

    /// An event's earliest observation (after [`Store::finalize`]).
    pub fn first_observation(&self, e: EventIdx) -> Option<&Observation> {
        let &i = self.observations_of(e).first()?;
        self.observations.get(i as usize)
    }

    pub fn first_time(&self) -> Option<Nanos> {
        self.observations.first().map(|o| o.time)
    }

    pub fn last_time(&self) -> Option<Nanos> {
        self.observations.last().map(|o| o.time)
    }

    /// Number of observations at or before `t`: the replay cursor's position.
    pub fn observations_until(&self, t: Nanos) -> usize {
        self.observations.partition_point(|o| o.time <= t)
    }

    /// Reads an event's payload back from its input.
    pub fn payload(&self, e: &Event) -> Option<Vec<u8>> {
        let p = e.payload?;
        match &self.inputs.get(p.input as usize)?.payloads {
            PayloadSource::None => None,
            PayloadSource::Arena(bytes) => bytes
                .get(p.offset as usize..p.offset as usize + p.len as usize)
                .map(<[u8]>::to_vec),
            PayloadSource::File(_, Some(file)) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0; p.len as usize];
                file.read_exact_at(&mut buf, p.offset).ok()?;
                Some(buf)
            }
            PayloadSource::File(path, None) => {
                // Past the handles kept open (many inputs): opened for this read.
                use std::os::unix::fs::FileExt;
                let file = std::fs::File::open(path).ok()?;
                let mut buf = vec![0; p.len as usize];
                file.read_exact_at(&mut buf, p.offset).ok()?;
                Some(buf)
            }
        }
    }

    /// Sorts observations, merges what two inputs both reported, derives node kinds,
    /// latencies, the topology and the indexes. Call after every batch of additions; it is
    /// cheap when little was added (the live path calls it per batch).
    /// Returns whether only what arrived since the last call was processed (`false`: a
    /// full rebuild).
    pub fn finalize(&mut self) -> bool {
        let old_len = self.finalized_len;
        let key = |o: &Observation| (o.time, o.stage, o.event);
        // What arrived sorts after what is finalized: out of order among itself (a live
        // batch from several producers) is sorted here, and gives the order a full sort
        // would (stable, by the same key).
        let appended_after = old_len > 0
            && old_len <= self.observations.len()
            && self.observations[old_len..]
                .iter()
                .all(|o| key(o) >= key(&self.observations[old_len - 1]));
        let mut incremental = appended_after && self.inputs.len() == 1;
        if incremental {
            let tail = &mut self.observations[old_len..];
            if !tail.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
                tail.sort_by_key(key);
            }
            // Causation links add inferred deliveries to what arrived; one that would reach
            // back before it (a cause seen after its effect) takes a full rebuild.
            incremental = self.infer_causation_incremental(old_len);
        }
        if incremental {
            // The live path: process only what arrived since the last call.
            self.derive_node_kinds(old_len);
            self.compute_latencies(old_len);
            self.build_indexes(old_len);
            let mut topology = std::mem::take(&mut self.topology);
            topology.extend(self, old_len);
            self.topology = topology;
        } else {
            sort_nearly_sorted(&mut self.observations, |o| (o.time, o.stage, o.event));
            if self.inputs.len() > 1 {
                self.unify_producers();
                self.merge_cross_input_duplicates();
            }
            self.infer_causation_deliveries();
            self.causation_links = LinksSlot {
                links: None,
                any: self.events.iter().any(|e| !e.causation.is_none()),
            };
            self.first_publish.clear();
            self.published_more.clear();
            self.derive_node_kinds(0);
            self.compute_latencies(0);
            // The indexes and the topology only read the observations: build them side by
            // side.
            let ((events, traces), topology) = rayon::join(
                || rayon::join(|| self.event_index(), || self.trace_index()),
                || Topology::build(self),
            );
            (self.event_obs_start, self.event_obs) = events;
            self.by_trace = traces;
            self.topology = topology;
        }
        self.finalized_len = self.observations.len();
        self.finalized_events = self.events.len();
        incremental
    }

    /// A store of only the observations `keep` (indices into [`Store::observations`], in
    /// time order) and the events they belong to: what `analyze --filter` analyses, the
    /// same observations the app's filter keeps. Nodes, inputs and strings are kept whole
    /// (a node no kept observation touches is not reported). Latencies are the ones measured
    /// on the whole store: a delivery kept without its publish keeps its delivery latency.
    pub fn subset(&self, keep: &[u32]) -> Store {
        let mut out = Store {
            strings: self.strings.clone(),
            inputs: self.inputs.clone(),
            nodes: self.nodes.clone(),
            node_keys: self.node_keys.clone(),
            service_names: self.service_names.clone(),
            merged_duplicates: self.merged_duplicates,
            unified_producers: self.unified_producers,
            inferred_deliveries: self.inferred_deliveries,
            declared: self.declared.clone(),
            ..Store::default()
        };
        let mut remap = vec![u32::MAX; self.events.len()];
        out.observations.reserve(keep.len());
        for &i in keep {
            let Some(o) = self.observations.get(i as usize) else {
                continue;
            };
            let old = o.event.0 as usize;
            if remap[old] == u32::MAX {
                remap[old] = out.events.len() as u32;
                let mut e = self.events[old].clone();
                let ext = self.event_extensions(&e);
                e.ext_start = out.extensions.len() as u32;
                out.extensions.extend_from_slice(ext);
                if e.kind == EventKind::Call {
                    out.call_events += 1;
                }
                out.event_keys
                    .insert((e.source, e.id), EventIdx(remap[old]));
                out.events.push(e);
            }
            let mut o = *o;
            o.event = EventIdx(remap[old]);
            out.observations.push(o);
        }
        out.build_indexes(0);
        out.topology = Topology::build(&out);
        out.finalized_len = out.observations.len();
        out.finalized_events = out.events.len();
        out
    }

    /// One event published in a span input (a span with `cloudevents.*` attributes) and in
    /// an event input (the CloudEvent itself) is one piece of work: the producer is the
    /// span's service, not a second node named after the event's `source`, and the span's
    /// channel replaces the default bus the event input fell back to.
    fn unify_producers(&mut self) {
        let spans: Vec<bool> = self
            .inputs
            .iter()
            .map(|i| {
                matches!(
                    i.format,
                    Some(Format::Otlp | Format::Jaeger | Format::Zipkin)
                )
            })
            .collect();
        let is_span = |o: &Observation| spans.get(o.loc.input as usize).copied().unwrap_or(false);
        let mut span_publish: FxHashMap<EventIdx, (NodeId, NodeId)> = FxHashMap::default();
        for o in &self.observations {
            if o.stage == Stage::Publish && is_span(o) {
                span_publish.entry(o.event).or_insert((o.from, o.to));
            }
        }
        if span_publish.is_empty() {
            return;
        }
        let default_bus =
            self.find_node(NodeClass::Channel, crate::ingest::cloudevents::DEFAULT_BUS);
        let mut alias: FxHashMap<NodeId, NodeId> = FxHashMap::default();
        let mut fallback_publish: rustc_hash::FxHashSet<(EventIdx, Nanos)> = Default::default();
        for o in &self.observations {
            if o.stage != Stage::Publish || is_span(o) {
                continue;
            }
            let Some(&(from, to)) = span_publish.get(&o.event) else {
                continue;
            };
            if o.from != from
                && self
                    .nodes
                    .get(o.from.0 as usize)
                    .is_some_and(|n| n.class == NodeClass::Service)
            {
                alias.entry(o.from).or_insert(from);
            }
            if o.to != to && Some(o.to) == default_bus {
                fallback_publish.insert((o.event, o.time));
            }
        }
        if !fallback_publish.is_empty() {
            let before = self.observations.len();
            self.observations.retain(|o| {
                !(o.stage == Stage::Publish
                    && Some(o.to) == default_bus
                    && fallback_publish.contains(&(o.event, o.time)))
            });
            self.merged_duplicates += (before - self.observations.len()) as u64;
        }
        if alias.is_empty() {
            return;
        }
        // A source node that also stands for other work keeps its own name there.
        for o in &mut self.observations {
            if let Some(&a) = alias.get(&o.from) {
                o.from = a;
            }
            if let Some(&a) = alias.get(&o.to) {
                o.to = a;
            }
        }
        self.unified_producers += alias.len() as u64;
    }

    /// Two inputs reporting the same observation (same event, stage and place within a
    /// millisecond) describe one thing: keep the first. The attempt number is not part of
    /// the key because traces rarely carry it; retries are further apart than that.
    fn merge_cross_input_duplicates(&mut self) {
        type Key = (EventIdx, Stage, NodeId, NodeId);
        let mut seen: FxHashMap<Key, (Nanos, u16)> = FxHashMap::default();
        let before = self.observations.len();
        self.observations.retain(|o| {
            let key = (o.event, o.stage, o.from, o.to);
            match seen.get(&key) {
                Some(&(t, input)) if input != o.loc.input && o.time.abs_diff(t) <= 1_000_000 => {
                    false
                }
                _ => {
                    seen.insert(key, (o.time, o.loc.input));
                    true
                }
            }
        });
        self.merged_duplicates += (before - self.observations.len()) as u64;
    }

    /// An event whose `causationid` names another event shows that its producer handled the
    /// cause: add a delivery from the cause's channel unless one was observed.
    fn infer_causation_deliveries(&mut self) {
        // Inferred afresh from what is held now: a delivery observed since may make one
        // inferred before unnecessary.
        if self.inferred_deliveries > 0 {
            self.observations.retain(|o| !o.inferred);
            self.inferred_deliveries = 0;
        }
        if self.events.iter().all(|e| e.causation.is_none()) {
            return;
        }
        let mut by_id: FxHashMap<Sym, EventIdx> = FxHashMap::default();
        for (i, e) in self.events.iter().enumerate() {
            by_id.entry(e.id).or_insert(EventIdx(i as u32));
        }
        let mut publish_channel: FxHashMap<EventIdx, (NodeId, Nanos)> = FxHashMap::default();
        let mut publisher: FxHashMap<EventIdx, (NodeId, Nanos)> = FxHashMap::default();
        let mut delivered: rustc_hash::FxHashSet<(EventIdx, NodeId)> = Default::default();
        for o in &self.observations {
            match o.stage {
                Stage::Publish => {
                    publish_channel.entry(o.event).or_insert((o.to, o.time));
                    publisher.entry(o.event).or_insert((o.from, o.time));
                }
                Stage::Deliver | Stage::Handle => {
                    delivered.insert((o.event, o.to));
                }
                _ => {}
            }
        }
        let mut added = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            let Some(&cause) = by_id.get(&e.causation) else {
                continue;
            };
            let effect = EventIdx(i as u32);
            let (Some(&(channel, _)), Some(&(producer, t))) =
                (publish_channel.get(&cause), publisher.get(&effect))
            else {
                continue;
            };
            if self
                .nodes
                .get(producer.0 as usize)
                .is_none_or(|n| n.class != NodeClass::Service)
                || delivered.contains(&(cause, producer))
            {
                continue;
            }
            delivered.insert((cause, producer));
            let mut o = Observation::new(Stage::Deliver, t, cause, channel, producer);
            o.inferred = true;
            o.trace = self.events[cause.0 as usize].trace;
            o.loc = e.loc;
            added.push(o);
        }
        if !added.is_empty() {
            self.inferred_deliveries += added.len() as u64;
            self.observations.extend(added);
            self.observations
                .sort_by_key(|o| (o.time, o.stage, o.event));
        }
    }

    /// [`Store::infer_causation_deliveries`] for what arrived since the last finalize
    /// (`observations[old_len..]`, sorted, after everything before it): the same
    /// deliveries a full rebuild infers, appended to what arrived. Returns `false` when
    /// that is not possible and a full rebuild must run: an inferred delivery would come
    /// before what arrived (a cause or a publish seen after its effect's publish), or a
    /// delivery observed now makes one inferred earlier unnecessary.
    fn infer_causation_incremental(&mut self, old_len: usize) -> bool {
        let new_causes = self.events[self.finalized_events.min(self.events.len())..]
            .iter()
            .any(|e| !e.causation.is_none());
        if !new_causes && !self.causation_links.any {
            // No event names a cause: nothing to infer.
            return true;
        }
        let mut links = match self.causation_links.links.take() {
            Some(links) => links,
            None => Box::new(self.causation_links_of_finalized(old_len)),
        };
        let ok = self.infer_causation_tail(&mut links, old_len);
        self.causation_links = LinksSlot {
            links: ok.then_some(links),
            any: true,
        };
        ok
    }

    /// The causation state of the finalized part (`observations[..old_len]`), which a full
    /// rebuild inferred: settled effects are not waiting for anything.
    fn causation_links_of_finalized(&self, old_len: usize) -> CausationLinks {
        let mut links = CausationLinks::default();
        for o in &self.observations[..old_len] {
            if o.inferred {
                links.inferred.insert((o.event, o.to), EventIdx(u32::MAX));
            }
        }
        let seen = self.finalized_events.min(self.events.len());
        for (i, e) in self.events[..seen].iter().enumerate() {
            links.by_id.entry(e.id).or_insert(EventIdx(i as u32));
        }
        links.events_seen = seen;
        for (i, e) in self.events[..seen].iter().enumerate() {
            if e.causation.is_none() {
                continue;
            }
            let effect = EventIdx(i as u32);
            match links.by_id.get(&e.causation) {
                None => links
                    .awaiting_id
                    .entry(e.causation)
                    .or_default()
                    .push(effect),
                Some(&cause) => {
                    for waits_for in [cause, effect] {
                        if self.first_publish_of(waits_for, old_len, None).is_none() {
                            links
                                .awaiting_publish
                                .entry(waits_for)
                                .or_default()
                                .push(effect);
                            break;
                        }
                    }
                }
            }
        }
        links
    }

    /// An event's first publish (`from`, `to`, time) among the finalized observations (the
    /// event index), else among what arrived (`tail`: first publish per event there).
    fn first_publish_of(
        &self,
        e: EventIdx,
        old_len: usize,
        tail: Option<&FxHashMap<EventIdx, (NodeId, NodeId, Nanos)>>,
    ) -> Option<(NodeId, NodeId, Nanos)> {
        self.observations_of(e)
            .iter()
            .filter(|&&i| (i as usize) < old_len)
            .filter_map(|&i| self.observations.get(i as usize))
            .find(|o| o.stage == Stage::Publish)
            .map(|o| (o.from, o.to, o.time))
            .or_else(|| tail.and_then(|t| t.get(&e).copied()))
    }

    fn infer_causation_tail(&mut self, links: &mut CausationLinks, old_len: usize) -> bool {
        // A delivery observed now where one was inferred before: a full rebuild would not
        // have inferred it.
        if !links.inferred.is_empty()
            && self.observations[old_len..].iter().any(|o| {
                !o.inferred
                    && matches!(o.stage, Stage::Deliver | Stage::Handle)
                    && links.inferred.contains_key(&(o.event, o.to))
            })
        {
            return false;
        }
        // Effects to settle: new events with a causation, and those waiting for an id or a
        // publish that arrived now, in event order (as the full rebuild goes).
        let mut todo: Vec<EventIdx> = Vec::new();
        for i in links.events_seen..self.events.len() {
            let e = &self.events[i];
            if let Some(waiting) = links.awaiting_id.remove(&e.id) {
                todo.extend(waiting);
            }
            links.by_id.entry(e.id).or_insert(EventIdx(i as u32));
            if !e.causation.is_none() {
                todo.push(EventIdx(i as u32));
            }
        }
        links.events_seen = self.events.len();
        let mut tail_publish: FxHashMap<EventIdx, (NodeId, NodeId, Nanos)> = FxHashMap::default();
        let mut tail_delivered: rustc_hash::FxHashSet<(EventIdx, NodeId)> = Default::default();
        for o in &self.observations[old_len..] {
            if matches!(o.stage, Stage::Deliver | Stage::Handle) {
                tail_delivered.insert((o.event, o.to));
            }
            if o.stage == Stage::Publish {
                tail_publish
                    .entry(o.event)
                    .or_insert((o.from, o.to, o.time));
                if let Some(waiting) = links.awaiting_publish.remove(&o.event) {
                    todo.extend(waiting);
                }
            }
        }
        if todo.is_empty() {
            return true;
        }
        todo.sort_unstable();
        todo.dedup();
        let key = |o: &Observation| (o.time, o.stage, o.event);
        let last = old_len
            .checked_sub(1)
            .and_then(|i| self.observations.get(i))
            .map(key);
        let mut added = Vec::new();
        for effect in todo {
            let e = &self.events[effect.0 as usize];
            let Some(&cause) = links.by_id.get(&e.causation) else {
                links
                    .awaiting_id
                    .entry(e.causation)
                    .or_default()
                    .push(effect);
                continue;
            };
            let Some((_, channel, _)) = self.first_publish_of(cause, old_len, Some(&tail_publish))
            else {
                links
                    .awaiting_publish
                    .entry(cause)
                    .or_default()
                    .push(effect);
                continue;
            };
            let Some((producer, _, t)) =
                self.first_publish_of(effect, old_len, Some(&tail_publish))
            else {
                links
                    .awaiting_publish
                    .entry(effect)
                    .or_default()
                    .push(effect);
                continue;
            };
            if self
                .nodes
                .get(producer.0 as usize)
                .is_none_or(|n| n.class != NodeClass::Service)
            {
                continue;
            }
            if let Some(&by) = links.inferred.get(&(cause, producer)) {
                if by > effect {
                    // A full rebuild infers it for the first effect in event order, at
                    // that effect's publish.
                    return false;
                }
                continue;
            }
            if tail_delivered.contains(&(cause, producer))
                || self
                    .observations_of(cause)
                    .iter()
                    .filter(|&&i| (i as usize) < old_len)
                    .filter_map(|&i| self.observations.get(i as usize))
                    .any(|o| o.to == producer && matches!(o.stage, Stage::Deliver | Stage::Handle))
            {
                continue;
            }
            let mut o = Observation::new(Stage::Deliver, t, cause, channel, producer);
            if last.is_some_and(|l| key(&o) < l) {
                // It belongs before what is finalized.
                return false;
            }
            o.inferred = true;
            o.trace = self.events[cause.0 as usize].trace;
            o.loc = e.loc;
            links.inferred.insert((cause, producer), effect);
            added.push(o);
        }
        if !added.is_empty() {
            self.inferred_deliveries += added.len() as u64;
            self.observations.extend(added);
            self.observations[old_len..].sort_by_key(key);
        }
        true
    }

    /// A service that handles an event (a delivery, a handling, a write while handling) is a
    /// handler; one that only publishes is a producer; one seen only in calls stays a
    /// service. Kinds only ever move up, so the live path can derive them batch by batch.
    fn derive_node_kinds(&mut self, from: usize) {
        for o in &self.observations[from..] {
            let (node, kind) = match o.stage {
                Stage::Deliver | Stage::Handle => (o.to, NodeKind::Handler),
                Stage::Store if self.events[o.event.0 as usize].kind.is_event() => {
                    (o.from, NodeKind::Handler)
                }
                Stage::Publish | Stage::DeadLetter => (o.from, NodeKind::Producer),
                Stage::Store | Stage::Call => continue,
            };
            if let Some(n) = self.nodes.get_mut(node.0 as usize)
                && n.class == NodeClass::Service
                && (n.kind == NodeKind::Service
                    || n.kind == NodeKind::Producer && kind == NodeKind::Handler)
            {
                n.kind = kind;
            }
        }
    }

    fn compute_latencies(&mut self, from: usize) {
        let (first_publish, more) = (&mut self.first_publish, &mut self.published_more);
        first_publish.resize(self.events.len(), (NodeId::NONE, 0));
        for o in &mut self.observations[from..] {
            let e = o.event.0 as usize;
            // In time order, so the first publish seen per (event, channel) is the earliest.
            if o.stage == Stage::Publish {
                let first = &mut first_publish[e];
                if first.0.is_none() {
                    *first = (o.to, o.time);
                } else if first.0 != o.to {
                    more.entry((o.event, o.to)).or_insert(o.time);
                }
            }
            let event_time = self.events[e].time;
            let first = first_publish[e];
            let first_time = (!first.0.is_none()).then_some(first.1);
            o.latency = match o.stage {
                Stage::Deliver if !o.inferred => {
                    let on_channel = if first.0 == o.from && !first.0.is_none() {
                        Some(first.1)
                    } else {
                        more.get(&(o.event, o.from)).copied()
                    };
                    on_channel
                        .or(first_time)
                        .or(event_time)
                        .map_or(-1, |p| o.time.saturating_sub(p).max(0))
                }
                Stage::DeadLetter => first_time
                    .or(event_time)
                    .map_or(-1, |p| o.time.saturating_sub(p).max(0)),
                Stage::Handle | Stage::Store | Stage::Call => o.duration,
                _ => -1,
            };
        }
    }

    fn build_indexes(&mut self, from: usize) {
        (self.event_obs_start, self.event_obs) = self.event_index();
        // Appended in order, trace lists only grow: index just the new observations.
        if from == 0 {
            self.by_trace.clear();
        }
        for (i, o) in self.observations.iter().enumerate().skip(from) {
            if !o.trace.is_none() {
                self.by_trace.entry(o.trace).or_default().push(i as u32);
            }
        }
    }

    /// Observation indices per event, in CSR layout (see `event_obs_start`).
    fn event_index(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.events.len();
        let mut counts = vec![0u32; n + 1];
        for o in &self.observations {
            counts[o.event.0 as usize + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut event_obs = vec![0u32; self.observations.len()];
        for (i, o) in self.observations.iter().enumerate() {
            let slot = &mut fill[o.event.0 as usize];
            event_obs[*slot as usize] = i as u32;
            *slot += 1;
        }
        (counts, event_obs)
    }

    fn trace_index(&self) -> FxHashMap<Sym, Vec<u32>> {
        let mut by_trace: FxHashMap<Sym, Vec<u32>> = FxHashMap::default();
        by_trace.reserve(self.events.len());
        for (i, o) in self.observations.iter().enumerate() {
            if !o.trace.is_none() {
                by_trace.entry(o.trace).or_default().push(i as u32);
            }
        }
        by_trace
    }
}

/// A stable sort by `key` for input that is almost in order, as captures are (records are
/// written as they are seen, a few out of place): each misplaced element is moved back
/// to its place, which costs nothing like a merge sort's pass over all the data and its
/// buffer of the same size. Input too far from sorted gets a parallel merge sort.
pub fn sort_nearly_sorted<T: Send, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K + Sync) {
    let mut budget = v.len().saturating_mul(4);
    for i in 1..v.len() {
        if key(&v[i - 1]) <= key(&v[i]) {
            continue;
        }
        // After every equal key: stable.
        let k = key(&v[i]);
        let to = v[..i].partition_point(|x| key(x) <= k);
        let moves = i - to;
        if moves > budget {
            use rayon::slice::ParallelSliceMut;
            v.par_sort_by_key(key);
            return;
        }
        budget -= moves;
        v[to..=i].rotate_right(1);
    }
}

/// The trace id of a W3C `traceparent` (`00-<trace-id>-<parent-id>-<flags>`).
pub fn trace_id_of_traceparent(tp: &str) -> Option<&str> {
    let t = tp.get(3..35)?;
    (tp.as_bytes().get(2) == Some(&b'-') && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(store: &mut Store, id: &str, t: Nanos) {
        let e = store.add_event(&NewEvent {
            source: "p",
            id,
            ty: "T",
            specversion: "1.0",
            ..Default::default()
        });
        let (p, c) = (
            store.node(NodeClass::Service, "p"),
            store.node(NodeClass::Channel, "c"),
        );
        store.add_observation(Observation::new(Stage::Publish, t, e, p, c));
    }

    fn deliver(store: &mut Store, id: &str, t: Nanos) {
        let e = store.find_event("p", id).expect("published first");
        let (c, h) = (
            store.node(NodeClass::Channel, "c"),
            store.node(NodeClass::Service, "h"),
        );
        store.add_observation(Observation::new(Stage::Deliver, t, e, c, h));
    }

    /// One observation of an event with an optional `causationid`, between two nodes.
    fn seen(
        store: &mut Store,
        stage: Stage,
        ms: i64,
        id: &str,
        cause: Option<&str>,
        from: (NodeClass, &str),
        to: (NodeClass, &str),
    ) {
        let mut ne = NewEvent {
            source: "s",
            id,
            ty: "T",
            specversion: "1.0",
            ..Default::default()
        };
        if let Some(c) = cause {
            ne.extensions.push(("causationid", NewExt::Str(c)));
        }
        let e = store.add_event(&ne);
        let (a, b) = (store.node(from.0, from.1), store.node(to.0, to.1));
        store.add_observation(Observation::new(stage, ms * 1_000_000, e, a, b));
    }

    /// Deliveries inferred from `causationid` are the same whether the live path finalizes
    /// batch by batch or a file is finalized once, and the live path stays incremental
    /// except where an inferred delivery would reach back before what arrived, or a
    /// delivery observed later makes an inferred one unnecessary.
    #[test]
    fn causation_links_are_inferred_incrementally_as_a_full_rebuild_infers_them() {
        use NodeClass::{Channel, Service};
        use Stage::{Deliver, Publish};
        type Batch = Vec<(
            Stage,
            i64,
            &'static str,
            Option<&'static str>,
            (NodeClass, &'static str),
            (NodeClass, &'static str),
        )>;
        let (api, orders, billing) = ((Service, "api"), (Service, "orders"), (Service, "billing"));
        let (commands, events) = ((Channel, "commands"), (Channel, "events"));
        let batches: Vec<Batch> = vec![
            // An effect published by the handler of its cause: a delivery is inferred.
            vec![
                (Publish, 0, "c1", None, api, commands),
                (Publish, 5, "e1", Some("c1"), orders, events),
            ],
            // An effect whose cause is not seen yet...
            vec![(Publish, 10, "e2", Some("c2"), orders, events)],
            // ...until now, after the effect's publish. The inferred delivery (at the
            // effect's 10 ms) sorts after the last finalized observation (the effect's
            // publish at 10 ms), so it is still appended.
            vec![(Publish, 12, "c2", None, api, commands)],
            // A delivery observed: none inferred.
            vec![
                (Publish, 20, "c3", None, api, commands),
                (Deliver, 21, "c3", None, commands, orders),
                (Publish, 22, "e3", Some("c3"), orders, events),
            ],
            vec![
                (Publish, 30, "c4", None, api, commands),
                (Publish, 31, "e4", Some("c4"), orders, events),
            ],
            // The delivery inferred at 31 ms is observed late: a full rebuild drops it.
            vec![(Deliver, 40, "c4", None, commands, orders)],
            // A cause never seen: nothing inferred.
            vec![(Publish, 50, "e5", Some("missing"), orders, events)],
            // Two effects of one cause by one producer: one delivery, at the first.
            vec![
                (Publish, 60, "c5", None, api, commands),
                (Publish, 61, "e6", Some("c5"), orders, events),
                (Publish, 62, "e7", Some("c5"), orders, events),
            ],
            // A cause finalized long ago, a new producer.
            vec![(Publish, 70, "e8", Some("c1"), billing, events)],
        ];
        let mut live = Store::new();
        live.add_input("live", Some(Format::Live));
        let mut full = Store::new();
        full.add_input("file", Some(Format::Capture));
        let mut incremental = Vec::new();
        for batch in &batches {
            for &(stage, ms, id, cause, from, to) in batch {
                for s in [&mut live, &mut full] {
                    seen(s, stage, ms, id, cause, from, to);
                }
            }
            incremental.push(live.finalize());
        }
        full.finalize();
        assert_eq!(
            incremental,
            [false, true, true, true, true, false, true, true, true]
        );
        let rows = |s: &Store| -> Vec<(i64, Stage, String, String, String, bool)> {
            s.observations
                .iter()
                .map(|o| {
                    (
                        o.time / 1_000_000,
                        o.stage,
                        s.str(s.event(o.event).id).to_string(),
                        s.node_name(o.from).to_string(),
                        s.node_name(o.to).to_string(),
                        o.inferred,
                    )
                })
                .collect()
        };
        let inferred: Vec<_> = rows(&full).into_iter().filter(|r| r.5).collect();
        let row = |ms, id: &str, to: &str| {
            (
                ms,
                Deliver,
                id.to_string(),
                "commands".to_string(),
                to.to_string(),
                true,
            )
        };
        assert_eq!(
            inferred,
            [
                row(5, "c1", "orders"),
                row(10, "c2", "orders"),
                row(61, "c5", "orders"),
                row(70, "c1", "billing"),
            ]
        );
        assert_eq!(rows(&live), rows(&full));
        assert_eq!(live.inferred_deliveries, 4);
        assert_eq!(full.inferred_deliveries, 4);
        let edge = |s: &Store| {
            let (c, o) = (
                s.find_node(Channel, "commands").expect("commands"),
                s.find_node(Service, "orders").expect("orders"),
            );
            s.topology.edge_between(c, o).map(|e| e.count)
        };
        assert_eq!(edge(&live), edge(&full));
        // c1, c2 and c5 inferred; c3 and c4 observed.
        assert_eq!(edge(&live), Some(5));
    }

    /// The live path finalizes after every batch; the result must equal one full finalize.
    #[test]
    fn incremental_finalize_equals_a_full_rebuild() {
        let mut live = Store::new();
        live.add_input("live", Some(Format::Live));
        let mut full = Store::new();
        full.add_input("file", Some(Format::Capture));
        for batch in 0..5i64 {
            for k in 0..10i64 {
                let id = format!("e{batch}-{k}");
                let t = (batch * 10 + k) * 1_000_000;
                for s in [&mut live, &mut full] {
                    publish(s, &id, t);
                    deliver(s, &id, t + 3_000_000 + k * 100_000);
                }
            }
            live.finalize();
        }
        full.finalize();
        let edge = |s: &Store| {
            let (c, h) = (
                s.find_node(NodeClass::Channel, "c").unwrap(),
                s.find_node(NodeClass::Service, "h").unwrap(),
            );
            let e = s.topology.edge_between(c, h).unwrap();
            (
                e.count,
                e.times.clone(),
                LatencySummary::of(e.latency.as_ref().unwrap()),
            )
        };
        assert_eq!(edge(&live), edge(&full));
        assert_eq!(live.observations.len(), 100);
        let h = live.find_node(NodeClass::Service, "h").unwrap();
        assert_eq!(live.topology.node(h).unwrap().kind, NodeKind::Handler);
        let e = live.find_event("p", "e4-9").unwrap();
        assert_eq!(live.observations_of(e).len(), 2);
        assert_eq!(
            live.observations[live.observations_of(e)[1] as usize].latency,
            3_900_000
        );
    }
}

#[cfg(test)]
mod sort_tests {
    use super::sort_nearly_sorted;

    /// Equal to a stable sort, whether the input is nearly sorted or far from it.
    #[test]
    fn sorts_like_a_stable_sort() {
        let mut seed = 7u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for disorder in [0u64, 1, 50, 1000] {
            // (key, insertion order): the second field shows stability.
            let mut v: Vec<(u64, usize)> = (0..5000)
                .map(|i| {
                    let jitter = if disorder > 0 && next() % 20 == 0 {
                        next() % disorder
                    } else {
                        0
                    };
                    ((i as u64 / 3).saturating_sub(jitter), i)
                })
                .collect();
            if disorder == 1000 {
                v.reverse();
            }
            let mut expected = v.clone();
            expected.sort_by_key(|x| x.0);
            sort_nearly_sorted(&mut v, |x| x.0);
            assert_eq!(v, expected, "disorder {disorder}");
        }
    }
}
