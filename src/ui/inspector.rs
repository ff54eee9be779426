//! The inspector (right): the selected node, edge or event in full. For an event, in
//! collapsible sections: its delivery history, its causal chain (trace, causationid) as a
//! tree to click through, its CloudEvent attributes and extensions, and the payload
//! pretty-printed. Copy as JSON. Figures (percentiles, cold/warm) are the engine's.
//! Untrusted strings are shown as plain text.

use super::{Command, Selection, ViewCtx, fmt_count, fmt_duration};
use crate::model::{EventIdx, ExtValue, LatencySummary, NodeId, NodeKind, Store};
use crate::time::format_rfc3339;
use egui::RichText;

/// Payload bytes shown at most.
const MAX_PAYLOAD: usize = 64 * 1024;

/// Per-selection caches (payload read back from disk, causal chain).
#[derive(Default)]
pub struct InspectorView {
    cached: Option<(EventIdx, u64, EventDetail)>,
}

struct EventDetail {
    payload: Option<String>,
    parent: Option<EventIdx>,
    children: Vec<EventIdx>,
    trace_events: Vec<EventIdx>,
}

fn detail(store: &Store, e: EventIdx) -> EventDetail {
    let ev = store.event(e);
    let payload = store.payload(ev).map(|bytes| {
        let bytes = &bytes[..bytes.len().min(MAX_PAYLOAD)];
        let json = ev.payload.is_some_and(|p| p.json);
        if json && let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            return serde_json::to_string_pretty(&v).unwrap_or_default();
        }
        String::from_utf8_lossy(bytes).into_owned()
    });
    let mut parent = None;
    let mut children = Vec::new();
    if ev.causation.some().is_some() || !ev.id.is_none() {
        for (i, other) in store.events.iter().enumerate() {
            if ev.causation.some().is_some() && other.id == ev.causation && parent.is_none() {
                parent = Some(EventIdx(i as u32));
            }
            if other.causation == ev.id && children.len() < 50 {
                children.push(EventIdx(i as u32));
            }
        }
    }
    let mut trace_events = Vec::new();
    if let Some(obs) = ev.trace.some().and_then(|t| store.by_trace.get(&t)) {
        for &oi in obs {
            if let Some(o) = store.observations.get(oi as usize)
                && !trace_events.contains(&o.event)
            {
                trace_events.push(o.event);
                if trace_events.len() >= 50 {
                    break;
                }
            }
        }
    }
    EventDetail {
        payload,
        parent,
        children,
        trace_events,
    }
}

/// The event as CloudEvents JSON (attributes, extensions, data).
pub fn event_json(store: &Store, e: EventIdx) -> String {
    let ev = store.event(e);
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, s: crate::model::Sym| {
        if let Some(v) = store.strings.resolve_opt(s) {
            m.insert(k.into(), v.into());
        }
    };
    put("specversion", ev.specversion);
    put("id", ev.id);
    put("source", ev.source);
    put("type", ev.ty);
    put("subject", ev.subject);
    put("datacontenttype", ev.datacontenttype);
    put("dataschema", ev.dataschema);
    if let Some(t) = ev.time {
        m.insert("time".into(), format_rfc3339(t).into());
    }
    for (k, v) in store.event_extensions(ev) {
        let v: serde_json::Value = match v {
            ExtValue::Str(s) => store.str(*s).into(),
            ExtValue::Int(i) => (*i).into(),
            ExtValue::Bool(b) => (*b).into(),
        };
        m.insert(store.str(*k).into(), v);
    }
    if let Some(bytes) = store.payload(ev) {
        let json = ev.payload.is_some_and(|p| p.json);
        match (json, serde_json::from_slice::<serde_json::Value>(&bytes)) {
            (true, Ok(v)) => {
                m.insert("data".into(), v);
            }
            _ => {
                m.insert(
                    "data_base64".into(),
                    String::from_utf8_lossy(&bytes).into_owned().into(),
                );
            }
        }
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(m)).unwrap_or_default()
}

/// Width of a value column: the panel minus the key column, so long values wrap instead of
/// widening the panel.
fn value_width(ui: &egui::Ui) -> f32 {
    (ui.available_width() - 120.0).max(120.0)
}

fn kv(ui: &mut egui::Ui, k: &str, v: impl Into<String>) {
    ui.label(RichText::new(k).strong());
    ui.add(egui::Label::new(v.into()).wrap());
    ui.end_row();
}

pub fn show(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    view: &mut InspectorView,
    cmds: &mut Vec<Command>,
) {
    // Content never widens the panel (a long id or URL wraps instead).
    let width = ui.available_width();
    ui.set_max_width(width);
    ui.heading("Inspector");
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| match cx.selection {
            Selection::None => {
                ui.label(
                    RichText::new("Click a node, an edge, an event or a finding.")
                        .color(cx.theme.text_weak),
                );
                summary(ui, cx);
            }
            Selection::Node(n) => node(ui, cx, n, cmds),
            Selection::Edge(a, b) => edge(ui, cx, a, b),
            Selection::Event(e) => event(ui, cx, e, view, cmds),
        });
}

fn summary(ui: &mut egui::Ui, cx: &ViewCtx<'_>) {
    ui.add_space(8.0);
    egui::Grid::new("summary")
        .num_columns(2)
        .striped(true)
        .max_col_width(value_width(ui))
        .show(ui, |ui| {
            // With retention, the totals count what was folded out too (the kept part is
            // what the table lists).
            let folded = cx.store.folded.as_deref();
            let calls = cx.store.call_events + folded.map_or(0, |f| f.calls);
            let kept = cx.store.events.len() as u64 - cx.store.call_events;
            kv(
                ui,
                "events",
                fmt_count(kept + folded.map_or(0, |f| f.events - f.calls)),
            );
            if calls > 0 {
                kv(ui, "calls", fmt_count(calls));
            }
            kv(
                ui,
                "observations",
                fmt_count(
                    cx.store.observations.len() as u64 + folded.map_or(0, |f| f.observations),
                ),
            );
            if let Some(f) = folded {
                kv(
                    ui,
                    "folded",
                    format!(
                        "{} events, kept in the counts, histograms and findings ({} folds)",
                        fmt_count(f.events),
                        f.folds
                    ),
                );
                kv(ui, "kept", format!("{} events", fmt_count(kept)));
            }
            kv(ui, "nodes", fmt_count(cx.derived.layout.nodes.len() as u64));
            kv(
                ui,
                "edges",
                fmt_count(cx.store.topology.graph.edge_count() as u64),
            );
            for i in &cx.store.inputs {
                kv(
                    ui,
                    "input",
                    format!("{} ({})", i.path, i.format.map_or("?", |f| f.as_str())),
                );
            }
        });
}

fn node(ui: &mut egui::Ui, cx: &ViewCtx<'_>, n: NodeId, cmds: &mut Vec<Command>) {
    let Some(node) = cx.store.topology.node(n) else {
        return;
    };
    ui.label(
        RichText::new(cx.store.str(node.name))
            .heading()
            .color(cx.theme.node_color(node.kind)),
    );
    // A node's figures are of the whole run (its edges below say what is at the cursor).
    egui::CollapsingHeader::new("Whole run")
        .id_salt("node-figures")
        .default_open(true)
        .show(ui, |ui| {
            egui::Grid::new("node")
                .num_columns(2)
                .striped(true)
                .max_col_width(value_width(ui))
                .show(ui, |ui| {
                    kv(ui, "kind", node.kind.as_str());
                    kv(ui, "id", cx.store.node_key(n));
                    kv(ui, "observations", fmt_count(node.observations));
                    if node.kind == NodeKind::Handler {
                        kv(ui, "handled", fmt_count(node.handled));
                        kv(ui, "failures", fmt_count(node.failures));
                        if let Some(s) = LatencySummary::of(&node.processing) {
                            kv(ui, "processing", fmt_summary(&s));
                        }
                        // The split the cold-start finding makes (marked or inferred).
                        let split = cx
                            .derived
                            .cold_warm(cx.store, cx.analysis_config)
                            .iter()
                            .find(|c| c.handler == n);
                        match split {
                            Some(c) if c.cold_count > 0 => {
                                let how = if c.inferred { "inferred" } else { "marked" };
                                let mut v = format!("{} ({how})", fmt_count(c.cold_count));
                                if let Some(cold) = &c.cold {
                                    v.push_str(&format!(" · cold p50 {:.1} ms", cold.p50));
                                }
                                if let Some(warm) = &c.warm {
                                    v.push_str(&format!(" · warm p50 {:.1} ms", warm.p50));
                                }
                                kv(ui, "cold starts", v);
                            }
                            _ => kv(ui, "cold starts", "0"),
                        }
                    }
                });
        });
    egui::CollapsingHeader::new("Edges")
        .default_open(true)
        .show(ui, |ui| {
            for e in cx.store.topology.edges_sorted() {
                if e.from == n || e.to == n {
                    let label = format!(
                        "{} → {}  ({} at cursor)",
                        cx.store.node_name(e.from),
                        cx.store.node_name(e.to),
                        fmt_count(e.count_until(cx.time))
                    );
                    if ui.link(label).clicked() {
                        cmds.push(Command::Select(Selection::Edge(e.from, e.to)));
                    }
                }
            }
        });
}

/// Percentiles as `analyze` prints them.
fn fmt_summary(s: &LatencySummary) -> String {
    format!(
        "p50 {:.1} · p95 {:.1} · p99 {:.1} · max {:.1} ms",
        s.p50, s.p95, s.p99, s.max
    )
}

fn edge(ui: &mut egui::Ui, cx: &ViewCtx<'_>, a: NodeId, b: NodeId) {
    let Some(e) = cx.store.topology.edge_between(a, b) else {
        return;
    };
    ui.label(
        RichText::new(format!(
            "{} → {}",
            cx.store.node_name(a),
            cx.store.node_name(b)
        ))
        .heading(),
    );
    egui::Grid::new("edge")
        .num_columns(2)
        .striped(true)
        .max_col_width(value_width(ui))
        .show(ui, |ui| {
            kv(ui, "stage", e.stage.as_str());
            kv(ui, "at cursor", fmt_count(e.count_until(cx.time)));
            kv(ui, "total", fmt_count(e.count));
            kv(
                ui,
                "errors",
                format!(
                    "{} ({} at cursor)",
                    fmt_count(e.errors),
                    fmt_count(e.errors_until(cx.time))
                ),
            );
            if let Some(s) = e.latency.as_ref().and_then(LatencySummary::of) {
                kv(ui, "latency", fmt_summary(&s));
            }
            for (t, c) in &e.types {
                kv(
                    ui,
                    "type",
                    format!("{} ×{}", cx.store.str(*t), fmt_count(*c)),
                );
            }
            // What the broker declares about this consumer, as of the last time it was asked.
            if let Some(d) = cx.store.declared_between(a, b) {
                kv(ui, "declared", cx.store.str(d.kind));
                if let Some(f) = d.filter.some() {
                    kv(ui, "filter", cx.store.str(f));
                }
                let f = &d.last;
                for (name, v) in [
                    ("broker: delivered", f.delivered),
                    ("broker: pending", f.pending),
                    ("broker: ack pending", f.ack_pending),
                    ("broker: consumers", f.consumers),
                ] {
                    if let Some(v) = v {
                        kv(ui, name, fmt_count(v));
                    }
                }
                kv(
                    ui,
                    "broker asked",
                    format!(
                        "{}, last {}",
                        if d.snapshots == 1 {
                            "once".to_string()
                        } else {
                            format!("{} times", d.snapshots)
                        },
                        crate::time::format_rfc3339(f.time)
                    ),
                );
            }
        });
}

fn event_link(ui: &mut egui::Ui, cx: &ViewCtx<'_>, e: EventIdx, cmds: &mut Vec<Command>) {
    let ev = cx.store.event(e);
    let label = format!(
        "{} · {} · {}",
        cx.store.str(ev.ty),
        cx.store.str(ev.id),
        cx.store.str(ev.source)
    );
    let selected = cx.selection == Selection::Event(e);
    if ui.selectable_label(selected, label).clicked() {
        cmds.push(Command::Select(Selection::Event(e)));
    }
}

fn event(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    e: EventIdx,
    view: &mut InspectorView,
    cmds: &mut Vec<Command>,
) {
    if e.0 as usize >= cx.store.events.len() {
        return;
    }
    if view
        .cached
        .as_ref()
        .is_none_or(|c| c.0 != e || c.1 != cx.derived.generation)
    {
        view.cached = Some((e, cx.derived.generation, detail(cx.store, e)));
    }
    let Some((_, _, d)) = &view.cached else {
        return;
    };
    let store = cx.store;
    let ev = store.event(e);
    if cx.marked.len() > 1 {
        ui.label(
            RichText::new(format!(
                "{} events selected in the table; this is the last one clicked",
                fmt_count(cx.marked.len() as u64)
            ))
            .color(cx.theme.text_weak),
        );
    }
    ui.horizontal(|ui| {
        ui.label(RichText::new(store.str(ev.ty)).heading());
        if ui.button("Copy as JSON").clicked() {
            cmds.push(Command::CopyText(event_json(store, e)));
        }
        if ui
            .button("Re-drive…")
            .on_hover_text(if cx.marked.len() > 1 {
                "Send the selected events again to an endpoint or a broker"
            } else {
                "Send this event again to an endpoint or a broker"
            })
            .clicked()
        {
            cmds.push(Command::OpenRedrive);
        }
    });
    // The delivery history first: what happened to the event is what one looks for.
    egui::CollapsingHeader::new("Delivery history")
        .default_open(true)
        .show(ui, |ui| {
            // One wrapped line per observation: a grid would widen the panel.
            for &oi in store.observations_of(e) {
                let Some(o) = store.observations.get(oi as usize) else {
                    continue;
                };
                let past = (oi as usize) < cx.cursor_n;
                let c = if past {
                    cx.theme.text
                } else {
                    cx.theme.text_weak
                };
                let from = store.node_name(o.from);
                let route = if from.is_empty() {
                    store.node_name(o.to).to_string()
                } else {
                    format!("{from} → {}", store.node_name(o.to))
                };
                let mut detail = Vec::new();
                if o.attempt > 0 {
                    detail.push(format!("attempt {}", o.attempt));
                }
                if o.outcome != crate::model::Outcome::Unknown {
                    detail.push(o.outcome.as_str().to_string());
                }
                let took = if o.duration >= 0 {
                    o.duration
                } else {
                    o.latency
                };
                if took >= 0 {
                    detail.push(fmt_duration(took));
                }
                if o.cold_start {
                    detail.push("cold start".into());
                }
                if let Some(r) = store.strings.resolve_opt(o.reason) {
                    detail.push(r.to_string());
                }
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(if o.untimed {
                            "no time".to_string()
                        } else {
                            format!("{:.3}", cx.secs(o.time))
                        })
                        .monospace()
                        .color(c),
                    );
                    ui.label(RichText::new(o.stage.as_str()).strong().color(c));
                    ui.label(RichText::new(route).color(c));
                    if !detail.is_empty() {
                        let dc = if o.outcome.is_failure() {
                            cx.theme.error
                        } else {
                            cx.theme.text_weak
                        };
                        ui.label(RichText::new(detail.join(" · ")).color(dc));
                    }
                });
            }
        });
    egui::CollapsingHeader::new("Causal chain")
        .default_open(true)
        .show(ui, |ui| {
            if let Some(p) = d.parent {
                ui.label(
                    RichText::new("caused by (causationid)")
                        .small()
                        .color(cx.theme.text_weak),
                );
                ui.indent("parent", |ui| event_link(ui, cx, p, cmds));
            }
            ui.label(
                RichText::new("this event")
                    .small()
                    .color(cx.theme.text_weak),
            );
            ui.indent("self", |ui| {
                event_link(ui, cx, e, cmds);
                if !d.children.is_empty() {
                    ui.label(
                        RichText::new("caused (causationid)")
                            .small()
                            .color(cx.theme.text_weak),
                    );
                    ui.indent("children", |ui| {
                        for &c in &d.children {
                            event_link(ui, cx, c, cmds);
                        }
                    });
                }
            });
            if let Some(t) = store.strings.resolve_opt(ev.trace) {
                egui::CollapsingHeader::new(format!("trace {t} ({} events)", d.trace_events.len()))
                    .id_salt("trace")
                    .default_open(d.trace_events.len() <= 12)
                    .show(ui, |ui| {
                        for &te in &d.trace_events {
                            event_link(ui, cx, te, cmds);
                        }
                    });
            }
            if let Some(c) = store.strings.resolve_opt(ev.correlation) {
                ui.label(format!("correlationid: {c}"));
            }
        });
    egui::CollapsingHeader::new("CloudEvent attributes")
        .default_open(true)
        .show(ui, |ui| {
            egui::Grid::new("attrs")
                .num_columns(2)
                .striped(true)
                .max_col_width(value_width(ui))
                .show(ui, |ui| {
                    kv(ui, "id", store.str(ev.id));
                    kv(ui, "source", store.str(ev.source));
                    kv(ui, "type", store.str(ev.ty));
                    kv(ui, "specversion", store.str(ev.specversion));
                    if let Some(s) = store.strings.resolve_opt(ev.subject) {
                        kv(ui, "subject", s);
                    }
                    if let Some(t) = ev.time {
                        kv(ui, "time", format_rfc3339(t));
                    }
                    if let Some(s) = store.strings.resolve_opt(ev.datacontenttype) {
                        kv(ui, "datacontenttype", s);
                    }
                    if let Some(s) = store.strings.resolve_opt(ev.dataschema) {
                        kv(ui, "dataschema", s);
                    }
                    for (k, v) in store.event_extensions(ev) {
                        let v = match v {
                            ExtValue::Str(s) => store.str(*s).to_string(),
                            ExtValue::Int(i) => i.to_string(),
                            ExtValue::Bool(b) => b.to_string(),
                        };
                        kv(ui, store.str(*k), v);
                    }
                    if let Some(input) = store.inputs.get(ev.loc.input as usize) {
                        kv(ui, "read from", format!("{}:{}", input.path, ev.loc.line));
                    }
                });
        });
    egui::CollapsingHeader::new("Payload")
        .default_open(true)
        .show(ui, |ui| match &d.payload {
            Some(p) => {
                ui.add(egui::Label::new(RichText::new(p).monospace()).wrap());
            }
            None => {
                ui.label(RichText::new("no payload").color(cx.theme.text_weak));
            }
        });
}
