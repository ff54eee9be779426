//! Findings: what the flow analysis reports (kind, severity, evidence), and [`analyze`],
//! which runs every detector over a finalized [`Store`].

use super::config::AnalysisConfig;
use crate::model::*;
use crate::time::{Nanos, format_rfc3339};
use serde::{Serialize, Serializer};

/// What a finding is about. The names are the `kind` strings of `analyze --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The same (source, id) published more than once.
    DuplicatePublish,
    /// The same event delivered to the same handler more than once.
    Redelivery,
    /// A handler processed the same event successfully more than once.
    DuplicateProcessing,
    /// An event rate far above its own baseline.
    Storm,
    /// A cycle in the topology through which events keep re-entering.
    FeedbackLoop,
    /// One event causing more than N descendant events.
    FanOut,
    /// Retries of one event whose intervals do not grow.
    RetryWithoutBackoff,
    /// Events that reached a dead-letter node.
    DeadLetter,
    /// One event failing N or more attempts.
    PoisonMessage,
    /// Cold starts of a handler (marked or inferred).
    ColdStart,
    /// Processing time p99 within the margin of the handler's limit.
    TimeoutRisk,
    /// Events published against their `sequence` order.
    OutOfOrder,
    /// Missing `sequence` numbers.
    SequenceGap,
    /// One type seen with several `dataschema` values or payload shapes.
    SchemaDrift,
    /// A later payload shape removes or retypes a field an earlier one had.
    BreakingChange,
    /// Event types without `dataschema`.
    MissingSchema,
    /// CloudEvents spec violations.
    NonconformantEvent,
    /// A channel with publishes and no observed consumer.
    OrphanChannel,
    /// One type produced by several sources.
    SharedOwnership,
    /// A handler invocation that writes a store and publishes directly.
    DualWrite,
    /// Event notification vs event-carried state, per type.
    EventStyle,
    /// A consumer the broker declares received nothing while there was something for it.
    IdleConsumer,
    /// A consumer the broker declares has more waiting for it at every one of the last
    /// asks: it consumes more slowly than its channel is produced to.
    GrowingLag,
    /// Inputs were read but hold no event flow, no call and no store access: nothing to
    /// draw, and every other detector has nothing to look at.
    NoEventFlow,
}

impl Kind {
    /// Every kind, in documentation order.
    pub const ALL: [Kind; 24] = [
        Kind::DuplicatePublish,
        Kind::Redelivery,
        Kind::DuplicateProcessing,
        Kind::Storm,
        Kind::FeedbackLoop,
        Kind::FanOut,
        Kind::RetryWithoutBackoff,
        Kind::DeadLetter,
        Kind::PoisonMessage,
        Kind::ColdStart,
        Kind::TimeoutRisk,
        Kind::OutOfOrder,
        Kind::SequenceGap,
        Kind::SchemaDrift,
        Kind::BreakingChange,
        Kind::MissingSchema,
        Kind::NonconformantEvent,
        Kind::OrphanChannel,
        Kind::SharedOwnership,
        Kind::DualWrite,
        Kind::EventStyle,
        Kind::IdleConsumer,
        Kind::GrowingLag,
        Kind::NoEventFlow,
    ];

    /// The kebab-case name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DuplicatePublish => "duplicate-publish",
            Kind::Redelivery => "redelivery",
            Kind::DuplicateProcessing => "duplicate-processing",
            Kind::Storm => "storm",
            Kind::FeedbackLoop => "feedback-loop",
            Kind::FanOut => "fan-out",
            Kind::RetryWithoutBackoff => "retry-without-backoff",
            Kind::DeadLetter => "dead-letter",
            Kind::PoisonMessage => "poison-message",
            Kind::ColdStart => "cold-start",
            Kind::TimeoutRisk => "timeout-risk",
            Kind::OutOfOrder => "out-of-order",
            Kind::SequenceGap => "sequence-gap",
            Kind::SchemaDrift => "schema-drift",
            Kind::BreakingChange => "breaking-change",
            Kind::MissingSchema => "missing-schema",
            Kind::NonconformantEvent => "nonconformant-event",
            Kind::OrphanChannel => "orphan-channel",
            Kind::SharedOwnership => "shared-ownership",
            Kind::DualWrite => "dual-write",
            Kind::EventStyle => "event-style",
            Kind::IdleConsumer => "idle-consumer",
            Kind::GrowingLag => "growing-lag",
            Kind::NoEventFlow => "no-event-flow",
        }
    }

    /// What a finding's `count` counts, one and many: events, except for the declared
    /// consumers' findings, where it is the broker's figure of messages waiting.
    pub fn count_unit(self, n: u64) -> &'static str {
        match (self, n == 1) {
            (Kind::IdleConsumer, true) => "message waiting",
            (Kind::IdleConsumer, false) => "messages waiting",
            (Kind::GrowingLag, _) => "more waiting",
            (_, true) => "event",
            (_, false) => "events",
        }
    }

    /// The kind of a kebab-case name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How bad a finding is. Orders as error < warning < info, so sorting puts errors first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    /// The name used in JSON and by `--fail-on`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
    /// The severity of a name (`warn` too).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "error" => Severity::Error,
            "warning" | "warn" => Severity::Warning,
            "info" => Severity::Info,
            _ => return None,
        })
    }
    /// True if `self` is at least as severe as `min`.
    pub fn at_least(self, min: Severity) -> bool {
        self <= min
    }
}

/// An edge of the topology, by the stable node ids of `analyze --json`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EdgeRef {
    /// Origin node id.
    pub from: String,
    /// Destination node id.
    pub to: String,
}

/// An event by its CloudEvents identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRef {
    /// CloudEvents `source`.
    pub source: String,
    /// CloudEvents `id`.
    pub id: String,
}

/// Kind-specific figures behind a finding. Absent fields are left out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// Storm: the burst window.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub window_start: Option<Nanos>,
    /// Storm: end of the burst window.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub window_end: Option<Nanos>,
    /// Storm: events per second in the busiest window and in the baseline before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_rate: Option<f64>,
    /// Storm: standard scores of the peak window over the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z_score: Option<f64>,
    /// Feedback loop: events published inside the cycle per event entering it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplification: Option<f64>,
    /// Duplicates: copies beyond the first (total over all events of the finding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<u64>,
    /// Poison messages, retries: the most attempts one event had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    /// Fan-out: the most descendants of one event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_descendants: Option<u64>,
    /// Retries: the intervals between the attempts of the first example, in ms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals_ms: Vec<f64>,
    /// Cold starts: processing time p50 of cold and warm invocations, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_p50_ms: Option<f64>,
    /// Cold starts: whether they were marked in the capture or inferred from idle gaps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inferred: Option<bool>,
    /// Timeout risk: processing time p99 and the limit, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_ms: Option<f64>,
    /// Sequence gaps: sequence numbers missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<u64>,
    /// The event type concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Dead-letter reason, violated spec rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Partition key (ordering findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Schema findings: the `dataschema` values and payload shapes seen, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<String>,
    /// Breaking change: fields removed or retyped (`field:old->new`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Shared ownership: the sources producing the type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Event style: events classified as notifications and as carried state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried_state: Option<u64>,
    /// Idle consumer: what the consumer is (`jetstream-consumer`, `rabbitmq-queue`,
    /// `redis-group`) and the broker's figures the first and the last time it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_first: Option<DeclaredFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_last: Option<DeclaredFigures>,
    /// Idle consumer: publishes observed on its channel, deliveries observed to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
}

impl Evidence {
    fn is_empty(&self) -> bool {
        *self == Evidence::default()
    }
}

/// One finding: a defect or a fact worth a look, with the evidence for it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// How bad it is.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What happened and what to do about it.
    pub detail: String,
    /// How many events it covers.
    pub count: u64,
    /// Time of the first and last observation involved.
    #[serde(serialize_with = "ser_opt_time")]
    pub first: Option<Nanos>,
    #[serde(serialize_with = "ser_opt_time")]
    pub last: Option<Nanos>,
    /// Node ids (`service:handler-a`, `channel:orders`).
    pub nodes: Vec<String>,
    /// Edges involved.
    pub edges: Vec<EdgeRef>,
    /// Up to `max_examples` events.
    pub examples: Vec<EventRef>,
    #[serde(skip_serializing_if = "Evidence::is_empty")]
    pub evidence: Evidence,
    /// The nodes as store ids (for the GUI to highlight).
    #[serde(skip)]
    pub node_ids: Vec<NodeId>,
    /// The edges as store ids.
    #[serde(skip)]
    pub edge_ids: Vec<(NodeId, NodeId)>,
    /// The example events as store indices.
    #[serde(skip)]
    pub events: Vec<EventIdx>,
}

fn ser_opt_time<S: Serializer>(t: &Option<Nanos>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_rfc3339(*t)),
        None => s.serialize_none(),
    }
}

impl Finding {
    /// True if `filter` selects this finding.
    pub fn matches(&self, filter: &FailOn) -> bool {
        filter.kinds.contains(&self.kind)
            || filter
                .min_severity
                .is_some_and(|m| self.severity.at_least(m))
    }
}

/// What `--fail-on` selects: kinds by name and/or a minimum severity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailOn {
    /// Kinds named in the list.
    pub kinds: Vec<Kind>,
    /// The least severe severity named (`warning` selects errors and warnings).
    pub min_severity: Option<Severity>,
}

impl FailOn {
    /// Parses `duplicate-processing,storm` or `warning` (or a mix). `any` means info.
    pub fn parse(list: &str) -> Result<FailOn, String> {
        let mut f = FailOn::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(k) = Kind::parse(item) {
                f.kinds.push(k);
            } else if let Some(s) =
                Severity::parse(item).or((item == "any").then_some(Severity::Info))
            {
                f.min_severity = Some(f.min_severity.map_or(s, |m| m.max(s)));
            } else {
                return Err(format!(
                    "--fail-on: \"{item}\" is neither a finding kind ({}) nor a severity (error, warning, info)",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ));
            }
        }
        if f.kinds.is_empty() && f.min_severity.is_none() {
            return Err("--fail-on: the list is empty".into());
        }
        Ok(f)
    }
}

/// Collects the events, times, nodes and edges of one finding while a detector scans.
#[derive(Clone, Debug, Default)]
pub(crate) struct Acc {
    /// Events counted.
    pub count: u64,
    /// Time range seen.
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
    /// Example events (at most the configured number).
    pub events: Vec<EventIdx>,
    /// Nodes and edges involved.
    pub nodes: Vec<NodeId>,
    pub edges: Vec<(NodeId, NodeId)>,
}

impl Acc {
    /// Counts one event (listed as an example while there is room) seen at `t`.
    pub fn add(&mut self, e: EventIdx, t: Nanos, max_examples: usize) {
        self.count += 1;
        if self.events.len() < max_examples {
            self.events.push(e);
        }
        self.time(t);
    }

    /// Widens the time range to include `t`.
    pub fn time(&mut self, t: Nanos) {
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// Adds another accumulator's count, examples (once each, while there is room), time
    /// range and nodes.
    pub fn merge(&mut self, other: &Acc, max_examples: usize) {
        self.count += other.count;
        for &e in &other.events {
            if self.events.len() < max_examples && !self.events.contains(&e) {
                self.events.push(e);
            }
        }
        if let (Some(f), Some(l)) = (other.first, other.last) {
            self.time(f);
            self.time(l);
        }
        for &n in &other.nodes {
            self.node(n);
        }
    }

    /// Adds a node (once).
    pub fn node(&mut self, n: NodeId) {
        if !n.is_none() && !self.nodes.contains(&n) {
            self.nodes.push(n);
        }
    }

    /// Adds an edge and its nodes (once).
    pub fn edge(&mut self, from: NodeId, to: NodeId) {
        if from.is_none() || to.is_none() {
            return;
        }
        self.node(from);
        self.node(to);
        if !self.edges.contains(&(from, to)) {
            self.edges.push((from, to));
        }
    }

    /// Turns the accumulated evidence into a finding.
    pub fn finish(
        self,
        store: &Store,
        kind: Kind,
        severity: Severity,
        title: String,
        detail: String,
        evidence: Evidence,
    ) -> Finding {
        let mut node_ids = self.nodes;
        node_ids.sort();
        let mut edge_ids = self.edges;
        edge_ids.sort();
        let mut nodes: Vec<String> = node_ids.iter().map(|n| store.node_key(*n)).collect();
        nodes.sort();
        let mut edges: Vec<EdgeRef> = edge_ids
            .iter()
            .map(|(a, b)| EdgeRef {
                from: store.node_key(*a),
                to: store.node_key(*b),
            })
            .collect();
        edges.sort();
        let examples = self
            .events
            .iter()
            .map(|e| {
                let ev = store.event(*e);
                EventRef {
                    source: store.str(ev.source).to_string(),
                    id: store.str(ev.id).to_string(),
                }
            })
            .collect();
        Finding {
            kind,
            severity,
            title,
            detail,
            count: self.count,
            first: self.first,
            last: self.last,
            nodes,
            edges,
            examples,
            evidence,
            node_ids,
            edge_ids,
            events: self.events,
        }
    }
}

/// A short readable name of a node for titles (`handler-a`, `orders`).
pub(crate) fn name(store: &Store, n: NodeId) -> String {
    crate::analysis::report::clean(store.node_name(n))
}

/// `n` followed by the noun, singular or plural.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Nanoseconds as milliseconds with three decimals.
pub(crate) fn ms(nanos: i64) -> f64 {
    (nanos as f64 / 1000.0).round() / 1000.0
}

/// Runs every detector and returns the findings sorted by severity (errors first), then
/// by time of first occurrence, then by kind.
pub fn analyze(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    let mut out = detect(store, cfg);
    // What retention folded out of a live store was found before (see `model::retention`).
    if let Some(f) = &store.folded {
        let folded: Vec<Finding> = crate::model::folded_findings(f, &out).collect();
        out.extend(folded);
        sort(&mut out);
    }
    out
}

/// The detectors on what the store holds (without what retention folded out of it).
pub fn detect(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    type Detector = fn(&Store, &AnalysisConfig) -> Vec<Finding>;
    // The storm detectors are the costliest: separate tasks, for the threads to share.
    let detectors: [(&str, Detector); 9] = [
        ("flow", |s, c| collect(s, c, no_event_flow)),
        ("storm", |s, c| collect(s, c, super::storm::storms)),
        ("duplicates", super::duplicates::detect),
        ("delivery", super::delivery::detect),
        ("feedback", |s, c| {
            collect(s, c, super::storm::feedback_loops)
        }),
        ("fan-out", |s, c| collect(s, c, super::storm::fan_out)),
        ("schema", super::schema::detect),
        ("governance", super::governance::detect),
        ("declared", |s, c| {
            let mut out = collect(s, c, super::declared::idle_consumers);
            out.extend(collect(s, c, super::declared::growing_lags));
            out
        }),
    ];
    // EVENTLENS_PROFILE=1 prints each detector's time to stderr.
    let profile = std::env::var_os("EVENTLENS_PROFILE").is_some();
    use rayon::prelude::*;
    let mut out: Vec<Finding> = detectors
        .par_iter()
        .flat_map_iter(|(name, d)| {
            let t = std::time::Instant::now();
            let f = d(store, cfg);
            if profile {
                eprintln!("profile: findings/{name} {:?}", t.elapsed());
            }
            f
        })
        .collect();
    sort(&mut out);
    out
}

/// `no-event-flow`: records were read, yet not one of them is a messaging, call or store
/// observation. Says what was read, per input, and why nothing is drawn.
fn no_event_flow(store: &Store, _cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    // Declared consumers are drawn even when nothing was observed.
    if !store.observations.is_empty() || !store.declared.is_empty() {
        return;
    }
    let read: Vec<&Input> = store
        .inputs
        .iter()
        .filter(|i| i.records > 0 || i.skipped > 0)
        .collect();
    if read.is_empty() {
        return;
    }
    let mut what = Vec::new();
    let mut why = Vec::new();
    for i in &read {
        let file = crate::analysis::report::clean(
            std::path::Path::new(&i.path)
                .file_name()
                .map_or(i.path.as_str(), |f| f.to_str().unwrap_or(&i.path)),
        );
        let spans = matches!(
            i.format,
            Some(Format::Otlp | Format::Jaeger | Format::Zipkin)
        );
        let unit = if spans { "span" } else { "record" };
        what.push(format!(
            "{} read from {file}",
            plural(i.records, unit, &format!("{unit}s"))
        ));
        let mut reason = if spans {
            format!(
                "{file}: none of its spans is a messaging span (PRODUCER or CONSUMER, or \
                 messaging.* attributes), a call (a CLIENT span with its SERVER span or a \
                 named peer) or a store access (db.* attributes)"
            )
        } else {
            format!("{file}: none of its records places an event on a channel or at a handler")
        };
        if i.skipped > 0 {
            reason.push_str(&format!(
                "; {} could not be read (see the input's errors)",
                plural(i.skipped, "record", "records")
            ));
        }
        why.push(reason);
    }
    let records: u64 = read.iter().map(|i| i.records).sum();
    out.push(Finding {
        kind: Kind::NoEventFlow,
        severity: Severity::Warning,
        title: format!("No event flow: {}; nothing to draw", what.join(", ")),
        detail: format!(
            "{}. The README lists the conventions read, format by format (messaging, \
             RPC and database attributes of OpenTelemetry, Zipkin and Jaeger).",
            why.join(". ")
        ),
        count: records,
        first: None,
        last: None,
        nodes: Vec::new(),
        edges: Vec::new(),
        examples: Vec::new(),
        evidence: Evidence::default(),
        node_ids: Vec::new(),
        edge_ids: Vec::new(),
        events: Vec::new(),
    });
}

fn collect(
    store: &Store,
    cfg: &AnalysisConfig,
    detect: fn(&Store, &AnalysisConfig, &mut Vec<Finding>),
) -> Vec<Finding> {
    let mut out = Vec::new();
    detect(store, cfg, &mut out);
    out
}

/// Sorts findings by severity, then first time, then kind and title.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.severity, a.first.unwrap_or(i64::MAX), a.kind)
            .cmp(&(b.severity, b.first.unwrap_or(i64::MAX), b.kind))
            .then_with(|| a.title.cmp(&b.title))
    });
}
