//! The `analyze` report: the `eventlens.analysis/v1` JSON document and its readable form.

use super::config::AnalysisConfig;
use super::findings::Finding;
use super::latency::LatencyReport;
use crate::model::*;
use crate::time::format_rfc3339;
use serde::Serialize;

pub const SCHEMA: &str = "eventlens.analysis/v1";

#[derive(Serialize, Debug)]
pub struct Report {
    pub schema: &'static str,
    /// The `--filter` expression the analysis was restricted to: everything below (summary,
    /// topology, latency, findings) is of the observations it keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub inputs: Vec<InputReport>,
    pub summary: Summary,
    pub topology: TopologyReport,
    /// Latency per edge, per handler and end to end, overall and per window (absent when
    /// the analysis was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyReport>,
    /// Sorted by severity (errors first), then time.
    pub findings: Vec<Finding>,
}

#[derive(Serialize, Debug)]
pub struct InputReport {
    pub path: String,
    pub format: Option<Format>,
    pub records: u64,
    pub skipped: u64,
    pub errors: Vec<RecordIssue>,
    pub violation_count: u64,
    pub violations: Vec<RecordIssue>,
    /// Records left out or read in part on purpose, with why (not errors).
    pub note_count: u64,
    pub notes: Vec<RecordIssue>,
}

#[derive(Serialize, Debug)]
pub struct Summary {
    /// Events (CloudEvents and broker messages); calls are counted apart.
    pub events: u64,
    /// Synchronous calls and store accesses outside any event handling, from span inputs.
    pub calls: u64,
    pub observations: u64,
    /// The first and last time an observation gives (null when none gives a time).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Observations whose record gives no time (kept in file order, shown as "no time").
    pub untimed: u64,
    /// Observations two inputs both reported, merged into one.
    pub merged_duplicates: u64,
    /// Deliveries derived from `causationid` rather than observed.
    pub inferred_deliveries: u64,
    /// What retention (`--max-events`) folded out of a live store: counted in the figures
    /// above, in the topology's counts and histograms and in the findings; no longer kept
    /// as events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded: Option<FoldedSummary>,
}

#[derive(Serialize, Debug)]
pub struct FoldedSummary {
    pub events: u64,
    pub observations: u64,
    /// Times retention folded.
    pub folds: u32,
    /// The span of the folded observations.
    pub first: Option<String>,
    pub last: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct TopologyReport {
    pub nodes: Vec<NodeReport>,
    pub edges: Vec<EdgeReport>,
}

#[derive(Serialize, Debug)]
pub struct NodeReport {
    pub id: String,
    pub kind: NodeKind,
    pub name: String,
    /// The technology, where the input says (`rabbitmq`, `kafka`, `postgresql`, `redis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Where it runs, where the input says: a broker or database address (no credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub observations: u64,
    /// Handlers: processing time (handler end minus start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_ms: Option<LatencySummary>,
    #[serde(skip_serializing_if = "is_zero")]
    pub handled: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub failures: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cold_starts: u64,
    /// A broker declared it (a consumer, or the channel it reads).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub declared: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize, Debug)]
pub struct EdgeReport {
    pub from: String,
    pub to: String,
    pub stage: Stage,
    pub count: u64,
    pub errors: u64,
    pub types: Vec<String>,
    pub latency_ms: Option<LatencySummary>,
    /// A broker declared this consumer of the channel.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub declared: bool,
    /// What the broker calls the consumer (`jetstream-consumer`, `rabbitmq-queue`,
    /// `redis-group`), its filter or binding keys, and its figures the last time it was
    /// asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<DeclaredFigures>,
}

impl Report {
    /// The report with latency and every finding, default thresholds.
    pub fn build(store: &Store) -> Report {
        Self::build_with(store, &AnalysisConfig::default(), true)
    }

    /// The report with thresholds from `cfg`; `analysis: false` skips the latency analysis
    /// and the detectors (no `latency`, an empty `findings` array).
    pub fn build_with(store: &Store, cfg: &AnalysisConfig, analysis: bool) -> Report {
        let inputs = store
            .inputs
            .iter()
            .map(|i| InputReport {
                path: i.path.clone(),
                format: i.format,
                records: i.records,
                skipped: i.skipped,
                errors: i.errors.clone(),
                violation_count: i.violation_count,
                violations: i.violations.clone(),
                note_count: i.note_count,
                notes: i.notes.clone(),
            })
            .collect();
        // Times a record gives, not those borrowed by records without one: with none at all,
        // no figure that needs a time (latency, when a finding happened) is shown.
        let untimed = store.observations.iter().filter(|o| o.untimed).count() as u64;
        let first = store
            .observations
            .iter()
            .find(|o| !o.untimed)
            .map(|o| o.time);
        let last = store
            .observations
            .iter()
            .rfind(|o| !o.untimed)
            .map(|o| o.time);
        let folded = store.folded.as_deref();
        let first = match (first, folded.and_then(|f| f.first)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let last = last.or(folded.and_then(|f| f.last));
        let timed = first.is_some();
        let topo = &store.topology;
        let mut nodes: Vec<NodeReport> = topo
            .graph
            .node_weights()
            // A node nothing was seen at (a name an input gave that turned out to be
            // another's, see `unify_producers`) is not part of the flow, as in the app.
            .filter(|n| n.observations > 0 || n.declared)
            .map(|n| NodeReport {
                id: store.node_key(n.id),
                kind: n.kind,
                name: store.str(n.name).to_string(),
                system: store.nodes[n.id.0 as usize]
                    .system
                    .some()
                    .map(|s| store.str(s).to_string()),
                address: store.nodes[n.id.0 as usize]
                    .address
                    .some()
                    .map(|s| store.str(s).to_string()),
                observations: n.observations,
                processing_ms: LatencySummary::of(&n.processing),
                handled: n.handled,
                failures: n.failures,
                cold_starts: n.cold_starts,
                declared: n.declared,
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<EdgeReport> = topo
            .graph
            .edge_weights()
            .map(|e| EdgeReport {
                from: store.node_key(e.from),
                to: store.node_key(e.to),
                stage: e.stage,
                count: e.count,
                errors: e.errors,
                types: e
                    .types
                    .iter()
                    .map(|(t, _)| store.str(*t).to_string())
                    .collect(),
                latency_ms: e
                    .latency
                    .as_ref()
                    .filter(|_| timed)
                    .and_then(LatencySummary::of),
                declared: e.declared,
                declared_kind: store
                    .declared_between(e.from, e.to)
                    .map(|d| store.str(d.kind).to_string()),
                filter: store
                    .declared_between(e.from, e.to)
                    .and_then(|d| d.filter.some())
                    .map(|f| store.str(f).to_string()),
                broker: store.declared_between(e.from, e.to).map(|d| d.last),
            })
            .collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        // Latency and the detectors are independent: run them side by side.
        let (latency, findings) = if analysis {
            let (l, f) = rayon::join(
                || {
                    let t = std::time::Instant::now();
                    let l = super::latency::latency(store, cfg);
                    if std::env::var_os("EVENTLENS_PROFILE").is_some() {
                        eprintln!("profile: latency {:?}", t.elapsed());
                    }
                    l
                },
                || super::findings::analyze(store, cfg),
            );
            (Some(l), f)
        } else {
            (None, Vec::new())
        };
        let (latency, findings) = if timed {
            (latency, findings)
        } else {
            (
                latency.map(|l| LatencyReport {
                    end_to_end_ms: None,
                    chains: 0,
                    series: Vec::new(),
                    ..l
                }),
                findings
                    .into_iter()
                    .map(|mut f| {
                        f.first = None;
                        f.last = None;
                        f
                    })
                    .collect(),
            )
        };
        Report {
            schema: SCHEMA,
            filter: None,
            inputs,
            summary: Summary {
                events: store.events.len() as u64 - store.call_events
                    + folded.map_or(0, |f| f.events - f.calls),
                calls: store.call_events + folded.map_or(0, |f| f.calls),
                observations: store.observations.len() as u64
                    + folded.map_or(0, |f| f.observations),
                first: first.map(format_rfc3339),
                last: last.map(format_rfc3339),
                untimed: untimed + folded.map_or(0, |f| f.untimed),
                merged_duplicates: store.merged_duplicates,
                inferred_deliveries: store.inferred_deliveries,
                folded: folded.map(|f| FoldedSummary {
                    events: f.events,
                    observations: f.observations,
                    folds: f.folds,
                    first: f.first.map(format_rfc3339),
                    last: f.last.map(format_rfc3339),
                }),
            },
            topology: TopologyReport { nodes, edges },
            latency,
            findings,
        }
    }

    /// The readable summary printed by `analyze` without `--json`. Untrusted names are
    /// stripped of control characters so they cannot drive the terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for i in &self.inputs {
            let _ = writeln!(
                s,
                "{}: {} ({} records, {} skipped, {} spec violations)",
                clean(&i.path),
                i.format.map_or("unknown", Format::as_str),
                i.records,
                i.skipped,
                i.violation_count
            );
            for e in i.errors.iter().take(10) {
                let _ = writeln!(s, "  line {}: error: {}", e.line, clean(&e.message));
            }
            if i.skipped > 10 {
                let _ = writeln!(s, "  ... {} more errors (see --json)", i.skipped - 10);
            }
            for v in i.violations.iter().take(10) {
                let _ = writeln!(s, "  line {}: violation: {}", v.line, clean(&v.message));
            }
            if i.violation_count > 10 {
                let _ = writeln!(
                    s,
                    "  ... {} more violations (see --json)",
                    i.violation_count - 10
                );
            }
            for n in i.notes.iter().take(10) {
                let _ = writeln!(s, "  line {}: note: {}", n.line, clean(&n.message));
            }
            if i.note_count > 10 {
                let _ = writeln!(s, "  ... {} more notes (see --json)", i.note_count - 10);
            }
        }
        if let Some(f) = &self.filter {
            let _ = writeln!(
                s,
                "\nfiltered: {} (what follows is of what it keeps)",
                clean(f)
            );
        }
        let sm = &self.summary;
        if let Some(f) = &sm.folded {
            let _ = writeln!(
                s,
                "\nretention folded {} events ({} observations) in {} folds, {} .. {}: \
                 counted in every figure below, no longer kept as events",
                f.events,
                f.observations,
                f.folds,
                f.first.as_deref().unwrap_or("-"),
                f.last.as_deref().unwrap_or("-")
            );
        }
        let _ = writeln!(
            s,
            "\n{} events, {}{} observations, {} .. {}",
            sm.events,
            if sm.calls > 0 {
                format!("{} calls, ", sm.calls)
            } else {
                String::new()
            },
            sm.observations,
            sm.first.as_deref().unwrap_or("-"),
            sm.last.as_deref().unwrap_or("-")
        );
        if sm.untimed > 0 && sm.first.is_none() {
            let _ = writeln!(
                s,
                "times are missing: no record gives a time, so events are in file order and no latency or time is shown"
            );
        } else if sm.untimed > 0 {
            let _ = writeln!(
                s,
                "{} of {} observations have no time (placed after the record before them; shown as \"no time\")",
                sm.untimed, sm.observations
            );
        }
        let _ = writeln!(s, "\nNodes:");
        for n in &self.topology.nodes {
            let _ = write!(
                s,
                "  {:<12} {:<32} {:>9} obs",
                n.kind.as_str_kebab(),
                clean(&n.name),
                n.observations
            );
            if let Some(p) = &n.processing_ms {
                let _ = write!(s, "  processing p50 {:.1} ms p99 {:.1} ms", p.p50, p.p99);
            }
            if n.cold_starts > 0 {
                let _ = write!(s, "  {} cold starts", n.cold_starts);
            }
            if n.declared {
                let _ = write!(s, "  declared");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "\nEdges:");
        for e in &self.topology.edges {
            let _ = write!(
                s,
                "  {} -> {}  {}{} ({} errors)",
                clean(&e.from),
                clean(&e.to),
                if e.stage == Stage::Call { "calls " } else { "" },
                e.count,
                e.errors
            );
            if let Some(l) = &e.latency_ms {
                let _ = write!(
                    s,
                    "  latency p50 {:.1} p95 {:.1} p99 {:.1} max {:.1} ms",
                    l.p50, l.p95, l.p99, l.max
                );
            }
            if let Some(kind) = &e.declared_kind {
                let _ = write!(s, "  declared {}", clean(kind));
                if let Some(f) = &e.filter {
                    let _ = write!(s, " ({})", clean(f));
                }
                if let Some(b) = &e.broker {
                    for (name, v) in [
                        ("delivered", b.delivered),
                        ("pending", b.pending),
                        ("ack pending", b.ack_pending),
                        ("consumers", b.consumers),
                    ] {
                        if let Some(v) = v {
                            let _ = write!(s, " {name} {v}");
                        }
                    }
                }
            }
            let _ = writeln!(
                s,
                "  [{}]",
                e.types
                    .iter()
                    .map(|t| clean(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(lat) = &self.latency
            && let Some(l) = &lat.end_to_end_ms
        {
            let _ = writeln!(
                s,
                "\nEnd to end: {} chains, p50 {:.1} p95 {:.1} p99 {:.1} max {:.1} ms",
                lat.chains, l.p50, l.p95, l.p99, l.max
            );
        }
        let _ = writeln!(s, "\nFindings: {}", self.findings.len());
        for f in &self.findings {
            let when = f.first.map(format_rfc3339).unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<7} {:<21} {}  [{} {}{}{}]",
                f.severity.as_str(),
                f.kind.as_str(),
                clean(&f.title),
                f.count,
                f.kind.count_unit(f.count),
                if when.is_empty() { "" } else { ", from " },
                when
            );
            for e in &f.edges {
                let _ = writeln!(s, "          on {} -> {}", clean(&e.from), clean(&e.to));
            }
            if f.edges.is_empty() && !f.nodes.is_empty() {
                let _ = writeln!(
                    s,
                    "          at {}",
                    f.nodes
                        .iter()
                        .map(|n| clean(n))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let _ = writeln!(s, "          {}", clean(&f.detail));
        }
        s
    }
}

impl NodeKind {
    fn as_str_kebab(self) -> &'static str {
        self.as_str()
    }
}

/// Removes control characters (escape sequences) from untrusted text for a terminal.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}
