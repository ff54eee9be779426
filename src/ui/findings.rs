//! The findings panel: findings grouped by kind and severity; clicking one selects its
//! nodes, edges, events and time range.
//!
//! [`collect`] shows the analysis findings (`crate::analysis`: duplicates, storms, retries,
//! dead letters, cold starts, schema drift...) next to what only the UI lists: read errors
//! and CloudEvents spec violations per input (with file and line) and failed handlings per
//! delivery edge.

use super::{Command, Selection, ViewCtx};
use crate::model::{EventIdx, NodeId, Stage, Store};
use crate::time::Nanos;
use egui::RichText;
use rustc_hash::FxHashMap;

pub use crate::analysis::Severity;

/// One finding as the UI shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingView {
    /// Groups findings (`read-error`, `spec-violation`, `dead-letter`, ...).
    pub kind: String,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    pub count: u64,
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
    pub nodes: Vec<NodeId>,
    pub edges: Vec<(NodeId, NodeId)>,
    /// Example events (a few, not all).
    pub events: Vec<EventIdx>,
}

const EXAMPLES: usize = 20;

/// The findings of a store: the analysis findings plus read errors, spec violations and
/// failed handlings.
pub fn collect(store: &Store, analysis: &[crate::analysis::Finding]) -> Vec<FindingView> {
    let mut out: Vec<FindingView> = analysis
        .iter()
        .map(|f| FindingView {
            kind: f.kind.as_str().to_string(),
            severity: f.severity,
            title: f.title.clone(),
            detail: f.detail.clone(),
            count: f.count,
            first: f.first,
            last: f.last,
            nodes: f.node_ids.clone(),
            edges: f.edge_ids.clone(),
            events: f.events.clone(),
        })
        .collect();
    // Events by (input, line), to point issues at events.
    let mut by_line: FxHashMap<(u16, u32), EventIdx> = FxHashMap::default();
    let has_issues = store
        .inputs
        .iter()
        .any(|i| !i.violations.is_empty() || !i.errors.is_empty());
    if has_issues {
        for (i, e) in store.events.iter().enumerate() {
            by_line
                .entry((e.loc.input, e.loc.line))
                .or_insert(EventIdx(i as u32));
        }
    }
    let event_time = |e: EventIdx| store.first_observation(e).map(|o| o.time);
    for (ii, input) in store.inputs.iter().enumerate() {
        for issue in &input.errors {
            out.push(FindingView {
                kind: "read-error".into(),
                severity: Severity::Error,
                title: format!(
                    "{}:{}: unreadable record",
                    short_path(&input.path),
                    issue.line
                ),
                detail: issue.message.clone(),
                count: 1,
                first: None,
                last: None,
                nodes: vec![],
                edges: vec![],
                events: vec![],
            });
        }
        // Group violations by their attribute (the text before the first colon).
        let mut groups: Vec<(String, Vec<&crate::model::RecordIssue>)> = Vec::new();
        for v in &input.violations {
            let key = v.message.split(':').next().unwrap_or("").to_string();
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.1.push(v),
                None => groups.push((key, vec![v])),
            }
        }
        for (key, issues) in groups {
            let events: Vec<EventIdx> = issues
                .iter()
                .filter_map(|v| by_line.get(&(ii as u16, v.line as u32)).copied())
                .take(EXAMPLES)
                .collect();
            let times: Vec<Nanos> = events.iter().filter_map(|&e| event_time(e)).collect();
            let lines: Vec<String> = issues.iter().take(5).map(|v| v.line.to_string()).collect();
            out.push(FindingView {
                kind: "spec-violation".into(),
                severity: Severity::Warning,
                title: format!("{key}: CloudEvents spec violation"),
                detail: format!(
                    "{}\n{} line(s) {}{}",
                    issues[0].message,
                    short_path(&input.path),
                    lines.join(", "),
                    if issues.len() > 5 { ", ..." } else { "" }
                ),
                count: issues.len() as u64,
                first: times.iter().min().copied(),
                last: times.iter().max().copied(),
                nodes: vec![],
                edges: vec![],
                events,
            });
        }
    }
    for e in store.topology.edges_sorted() {
        let (from, to) = (store.node_name(e.from), store.node_name(e.to));
        if e.errors > 0 && e.stage == Stage::Deliver {
            let rate = e.errors as f64 / e.count.max(1) as f64 * 100.0;
            let failing: Vec<u32> = e
                .error_times
                .iter()
                .take(EXAMPLES)
                .filter_map(|&t| {
                    let i = store.observations.partition_point(|o| o.time < t);
                    store.observations[i..]
                        .iter()
                        .position(|o| {
                            o.stage == Stage::Handle && o.to == e.to && o.outcome.is_failure()
                        })
                        .map(|p| (i + p) as u32)
                })
                .collect();
            out.push(FindingView {
                kind: "handler-failures".into(),
                severity: if rate >= 5.0 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                title: format!("{to}: {} failed handlings ({rate:.1}%)", e.errors),
                detail: format!("events from {from} that {to} failed to handle (error or timeout)"),
                count: e.errors,
                first: e.error_times.first().copied(),
                last: e.error_times.last().copied(),
                nodes: vec![e.to],
                edges: vec![(e.from, e.to)],
                events: examples(store, &failing),
            });
        }
    }
    out.sort_by(|a, b| (a.severity, &a.kind, &a.title).cmp(&(b.severity, &b.kind, &b.title)));
    out
}

fn examples(store: &Store, obs: &[u32]) -> Vec<EventIdx> {
    let mut v: Vec<EventIdx> = obs
        .iter()
        .filter_map(|&i| store.observations.get(i as usize))
        .map(|o| o.event)
        .take(EXAMPLES)
        .collect();
    v.dedup();
    v
}

fn short_path(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// The panel.
pub fn show(ui: &mut egui::Ui, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
    let width = ui.available_width();
    ui.set_max_width(width);
    ui.horizontal(|ui| {
        ui.heading("Findings");
        ui.label(RichText::new(format!("{}", cx.findings.len())).color(cx.theme.text_weak));
    });
    ui.separator();
    if cx.findings.is_empty() {
        ui.label(RichText::new(no_findings(cx)).color(cx.theme.text_weak));
        return;
    }
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let mut i = 0;
            while i < cx.findings.len() {
                let f = &cx.findings[i];
                let group_end = cx.findings[i..]
                    .iter()
                    .position(|g| g.kind != f.kind || g.severity != f.severity)
                    .map_or(cx.findings.len(), |p| i + p);
                let color = match f.severity {
                    Severity::Error => cx.theme.error,
                    Severity::Warning => cx.theme.warn,
                    Severity::Info => cx.theme.accent,
                };
                let header = RichText::new(format!(
                    "● {} · {} ({})",
                    f.severity.as_str(),
                    f.kind,
                    group_end - i
                ))
                .color(color)
                .strong();
                egui::CollapsingHeader::new(header)
                    .id_salt(("finding-group", &f.kind, f.severity))
                    .default_open(true)
                    .show(ui, |ui| {
                        for (j, g) in cx.findings[i..group_end].iter().enumerate() {
                            let selected = cx.selected_finding == Some(i + j);
                            let r = ui.selectable_label(selected, RichText::new(&g.title));
                            let r = r.on_hover_text(&g.detail);
                            if r.clicked() {
                                cmds.push(Command::SelectFinding(i + j));
                            }
                            if selected {
                                ui.label(
                                    RichText::new(&g.detail).small().color(cx.theme.text_weak),
                                );
                            }
                        }
                    });
                i = group_end;
            }
        });
}

/// What the panel says when there is nothing to list: "yet" only while more may come.
fn no_findings(cx: &ViewCtx<'_>) -> String {
    let loaded = !cx.store.inputs.is_empty() || !cx.load_failures.is_empty();
    if cx.live || !loaded {
        "No findings yet.".into()
    } else if cx.store.observations.is_empty() {
        "No findings: there are no events to analyse.".into()
    } else {
        format!(
            "No findings in {} observations.",
            super::fmt_count(cx.store.observations.len() as u64)
        )
    }
}

/// What selecting a finding does.
pub fn selection_of(f: &FindingView) -> Selection {
    if let Some(&e) = f.events.first() {
        Selection::Event(e)
    } else if let Some(&(a, b)) = f.edges.first() {
        Selection::Edge(a, b)
    } else if let Some(&n) = f.nodes.first() {
        Selection::Node(n)
    } else {
        Selection::None
    }
}
