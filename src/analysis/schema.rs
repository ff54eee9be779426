//! Schema: `schema-drift` (one type, several `dataschema` values or payload shapes),
//! `breaking-change` (a later shape drops or retypes a field every earlier shape had),
//! `missing-schema`, `nonconformant-event` (CloudEvents spec violations by rule) and
//! `event-style` (notification vs event-carried state).
//!
//! One pass over the events with a per-type table; shapes are compared per distinct
//! interned shape, never per event.

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, plural};
use crate::analysis::report::clean;
use crate::model::*;
use crate::time::Nanos;
use rustc_hash::{FxHashMap, FxHashSet};

/// Distinct values tracked per type (more are counted with the last one).
const MAX_VARIANTS: usize = 64;

struct Variant {
    value: Sym,
    first: Nanos,
    acc: Acc,
}

#[derive(Default)]
struct TypeStats {
    schemas: Vec<Variant>,
    shapes: Vec<Variant>,
    missing_schema: Acc,
    events: u64,
    notifications: Acc,
    state: Acc,
    payload_bytes: u64,
}

fn variant(list: &mut Vec<Variant>, value: Sym, t: Nanos) -> &mut Variant {
    let i = match list.iter().position(|v| v.value == value) {
        Some(i) => i,
        None if list.len() < MAX_VARIANTS => {
            list.push(Variant {
                value,
                first: t,
                acc: Acc::default(),
            });
            list.len() - 1
        }
        None => list.len() - 1,
    };
    let v = &mut list[i];
    v.first = v.first.min(t);
    v
}

/// Runs the schema detectors.
pub fn detect(store: &Store, cfg: &AnalysisConfig) -> Vec<Finding> {
    let max = cfg.max_examples;
    let mut slots: FxHashMap<Sym, usize> = FxHashMap::default();
    let mut types: Vec<(Sym, TypeStats)> = Vec::new();
    // Per distinct shape: number of fields.
    let mut shape_fields: FxHashMap<Sym, u32> = FxHashMap::default();
    for (i, e) in store.events.iter().enumerate() {
        if e.kind == EventKind::Call {
            continue; // a call has no event type to own or a payload to shape
        }
        let ev = EventIdx(i as u32);
        let first = store.first_observation(ev).copied();
        let Some(t) = first.map(|o| o.time).or(e.time) else {
            continue;
        };
        let producer = first
            .filter(|o| o.stage == Stage::Publish)
            .map_or(NodeId::NONE, |o| o.from);
        let slot = *slots.entry(e.ty).or_insert_with(|| {
            types.push((e.ty, TypeStats::default()));
            types.len() - 1
        });
        let st = &mut types[slot].1;
        st.events += 1;
        // `dataschema` is a CloudEvents attribute: a span format has no place for it.
        let schema_applies = e.kind == EventKind::Cloudevent
            && !matches!(
                store
                    .inputs
                    .get(e.loc.input as usize)
                    .and_then(|i| i.format),
                Some(Format::Otlp | Format::Jaeger | Format::Zipkin)
            );
        if e.dataschema.is_none() {
            if schema_applies {
                st.missing_schema.add(ev, t, max);
                st.missing_schema.node(producer);
            }
        } else {
            let v = variant(&mut st.schemas, e.dataschema, t);
            v.acc.add(ev, t, max);
            v.acc.node(producer);
        }
        if !e.payload_shape.is_none() {
            let v = variant(&mut st.shapes, e.payload_shape, t);
            v.acc.add(ev, t, max);
            v.acc.node(producer);
        }
        if let Some(p) = e.payload.filter(|p| p.json) {
            let fields = match e.payload_shape.some() {
                Some(s) => *shape_fields.entry(s).or_insert_with(|| {
                    let text = store.str(s);
                    if text.is_empty() {
                        0
                    } else {
                        text.split(',').count() as u32
                    }
                }),
                None => 0,
            };
            st.payload_bytes += u64::from(p.len);
            let thin = p.len <= cfg.event_style.thin_bytes && fields <= cfg.event_style.thin_fields;
            let acc = if thin {
                &mut st.notifications
            } else {
                &mut st.state
            };
            acc.add(ev, t, max);
            acc.node(producer);
        }
    }
    let mut out = Vec::new();
    for (ty, mut st) in types {
        let ty_s = clean(store.str(ty));
        st.schemas.sort_by_key(|v| v.first);
        st.shapes.sort_by_key(|v| v.first);
        drift(store, &ty_s, &st, max, &mut out);
        breaking(store, &ty_s, &st, max, &mut out);
        if st.missing_schema.count > 0 {
            let n = st.missing_schema.count;
            let all = n == st.events;
            let acc = std::mem::take(&mut st.missing_schema);
            out.push(
                acc.finish(
                    store,
                    Kind::MissingSchema,
                    Severity::Info,
                    if all {
                        format!("{ty_s}: no dataschema on any of its {} events", n)
                    } else {
                        format!("{ty_s}: {} of {} events carry no dataschema", n, st.events)
                    },
                    "Without `dataschema` consumers cannot tell which contract an event follows, \
                 and schema changes go unnoticed until something breaks. Register the schema \
                 (a registry or a versioned URI) and set `dataschema` on every event."
                        .to_string(),
                    Evidence {
                        event_type: Some(ty_s.clone()),
                        ..Evidence::default()
                    },
                ),
            );
        }
        event_style(store, &ty_s, st, max, &mut out);
    }
    nonconformant(store, cfg, &mut out);
    out
}

fn drift(store: &Store, ty_s: &str, st: &TypeStats, max: usize, out: &mut Vec<Finding>) {
    if st.schemas.len() < 2 && st.shapes.len() < 2 {
        return;
    }
    let mut acc = Acc::default();
    // Events beyond the original schema and shape.
    for v in st.schemas.iter().skip(1).chain(st.shapes.iter().skip(1)) {
        acc.merge(&v.acc, max);
    }
    let schemas: Vec<String> = st
        .schemas
        .iter()
        .map(|v| clean(store.str(v.value)))
        .collect();
    let shapes: Vec<String> = st
        .shapes
        .iter()
        .map(|v| clean(store.str(v.value)))
        .collect();
    let severity = if st.schemas.len() > 1 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let what = match (schemas.len() > 1, shapes.len() > 1) {
        (true, true) => format!(
            "{} dataschema values and {} payload shapes",
            schemas.len(),
            shapes.len()
        ),
        (true, false) => format!("{} dataschema values", schemas.len()),
        _ => format!("{} payload shapes", shapes.len()),
    };
    out.push(
        acc.finish(
            store,
            Kind::SchemaDrift,
            severity,
            format!("{ty_s}: {what}"),
            "One event type is published in several versions (the evidence lists them, oldest \
         first). Consumers must accept all of them; version the type or the dataschema \
         explicitly and retire old versions deliberately."
                .to_string(),
            Evidence {
                event_type: Some(ty_s.to_string()),
                schemas,
                shapes,
                ..Evidence::default()
            },
        ),
    );
}

fn parse_shape(s: &str) -> Vec<(&str, &str)> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').filter_map(|f| f.rsplit_once(':')).collect()
}

fn breaking(store: &Store, ty_s: &str, st: &TypeStats, max: usize, out: &mut Vec<Finding>) {
    if st.shapes.len() < 2 {
        return;
    }
    // Fields every earlier shape had, with the types they had.
    let first = parse_shape(store.str(st.shapes[0].value));
    let mut established: FxHashMap<&str, FxHashSet<&str>> = first
        .iter()
        .map(|(k, t)| (*k, std::iter::once(*t).collect()))
        .collect();
    let mut seen_types: FxHashMap<&str, FxHashSet<&str>> = established.clone();
    let mut acc = Acc::default();
    let mut fields: Vec<String> = Vec::new();
    for v in &st.shapes[1..] {
        let shape = parse_shape(store.str(v.value));
        let mut broke = false;
        for (k, types) in &established {
            match shape.iter().find(|(f, _)| f == k) {
                None => {
                    broke = true;
                    let d = format!("{k}: removed");
                    if !fields.contains(&d) {
                        fields.push(d);
                    }
                }
                Some((_, t)) => {
                    let compatible = *t == "null"
                        || types.contains(t)
                        || types.iter().all(|x| *x == "null")
                        || seen_types.get(k).is_some_and(|s| s.contains(t));
                    if !compatible {
                        broke = true;
                        let mut old: Vec<&str> = types.iter().copied().collect();
                        old.sort();
                        let d = format!("{k}: {} -> {t}", old.join("|"));
                        if !fields.contains(&d) {
                            fields.push(d);
                        }
                    }
                }
            }
        }
        if broke {
            acc.merge(&v.acc, max);
        }
        established.retain(|k, _| shape.iter().any(|(f, _)| f == k));
        for (k, t) in &shape {
            seen_types.entry(*k).or_default().insert(*t);
        }
    }
    if acc.count == 0 {
        return;
    }
    let n = acc.count;
    let shapes = st
        .shapes
        .iter()
        .map(|v| clean(store.str(v.value)))
        .collect();
    let fields: Vec<String> = fields.iter().map(|f| clean(f)).collect();
    out.push(
        acc.finish(
            store,
            Kind::BreakingChange,
            Severity::Error,
            format!(
                "{ty_s}: breaking payload change in {} ({})",
                plural(n, "event", "events"),
                fields.join(", ")
            ),
            "A later version of this event type removes or retypes a field that every earlier \
         version had; consumers written against the old shape will fail or silently \
         misread it. Restore the field (add new fields instead of changing old ones) or \
         publish the new shape as a new type or dataschema version and migrate consumers \
         first."
                .to_string(),
            Evidence {
                event_type: Some(ty_s.to_string()),
                shapes,
                fields,
                ..Evidence::default()
            },
        ),
    );
}

fn event_style(store: &Store, ty_s: &str, st: TypeStats, max: usize, out: &mut Vec<Finding>) {
    let (nn, ns) = (st.notifications.count, st.state.count);
    let total = nn + ns;
    if total == 0 {
        return;
    }
    let avg = st.payload_bytes / total;
    let minority = nn.min(ns);
    let mixed = minority > 0 && minority * 10 >= total;
    let (title, detail) = if mixed {
        (
            format!("{ty_s}: mixes event notifications ({nn}) and event-carried state ({ns})"),
            "Some events of this type are thin notifications (a reference to fetch) and others \
             carry the entity: consumers cannot rely on either. Pick one style per type."
                .to_string(),
        )
    } else if nn >= ns {
        (
            format!("{ty_s}: event notification (thin payloads, {avg} bytes on average)"),
            "Consumers get a reference and must call back for the state, coupling them to the \
             producer's availability; fine for triggers, costly for projections."
                .to_string(),
        )
    } else {
        (
            format!("{ty_s}: event-carried state ({avg} bytes on average)"),
            "Events carry the entity, so consumers need no call-back; mind payload size \
             limits and personal data in the payload."
                .to_string(),
        )
    };
    let mut acc = st.state;
    acc.merge(&st.notifications, max);
    out.push(acc.finish(
        store,
        Kind::EventStyle,
        Severity::Info,
        title,
        detail,
        Evidence {
            event_type: Some(ty_s.to_string()),
            notifications: Some(nn),
            carried_state: Some(ns),
            ..Evidence::default()
        },
    ));
}

/// The rule part of a violation message: the text in its last parentheses, prefixed with
/// the attribute (`time: CloudEvents 1.0: time MUST adhere to RFC 3339`).
fn rule_of(message: &str) -> String {
    let attr = message.split(':').next().unwrap_or("");
    let rule = match (message.rfind('('), message.rfind(')')) {
        (Some(a), Some(b)) if a < b => &message[a + 1..b],
        _ => message,
    };
    format!("{attr}: {rule}")
}

fn nonconformant(store: &Store, cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    if store.inputs.iter().all(|i| i.violations.is_empty()) {
        return;
    }
    let lines: FxHashSet<(u16, u32)> = store
        .inputs
        .iter()
        .enumerate()
        .flat_map(|(i, inp)| {
            inp.violations
                .iter()
                .map(move |v| (i as u16, v.line.min(u32::MAX as u64) as u32))
        })
        .collect();
    let mut at: FxHashMap<(u16, u32), (EventIdx, Nanos, NodeId)> = FxHashMap::default();
    for o in &store.observations {
        let key = (o.loc.input, o.loc.line);
        if lines.contains(&key) {
            at.entry(key).or_insert((o.event, o.time, o.from));
        }
    }
    let mut groups: Vec<(String, Acc)> = Vec::new();
    let mut truncated = 0;
    for (i, inp) in store.inputs.iter().enumerate() {
        // The same file read twice (or under two names) reports the same violations: count
        // them once.
        let repeat = store.inputs[..i].iter().any(|earlier| {
            earlier.records == inp.records
                && earlier.violation_count == inp.violation_count
                && earlier.violations.len() == inp.violations.len()
                && earlier
                    .violations
                    .iter()
                    .zip(&inp.violations)
                    .all(|(a, b)| a.line == b.line && a.message == b.message)
        });
        if repeat {
            continue;
        }
        truncated += inp.violation_count - inp.violations.len() as u64;
        for v in &inp.violations {
            let rule = rule_of(&v.message);
            let gi = match groups.iter().position(|g| g.0 == rule) {
                Some(g) => g,
                None => {
                    groups.push((rule, Acc::default()));
                    groups.len() - 1
                }
            };
            let acc = &mut groups[gi].1;
            match at.get(&(i as u16, v.line.min(u32::MAX as u64) as u32)) {
                Some(&(e, t, from)) => {
                    acc.add(e, t, cfg.max_examples);
                    acc.node(from);
                }
                None => acc.count += 1,
            }
        }
    }
    for (rule, acc) in groups {
        let n = acc.count;
        let mut detail = format!(
            "{} break this rule. Strict consumers and SDKs reject such events or lose \
             attributes; fix the producer (the examples and the input's `violations` list \
             give the lines).",
            plural(n, "record", "records")
        );
        if truncated > 0 {
            detail.push_str(&format!(
                " Only the first {MAX_ISSUES} violations of each input are kept; {truncated} \
                 more are counted in the inputs' violation_count."
            ));
        }
        let rule = clean(&rule);
        out.push(acc.finish(
            store,
            Kind::NonconformantEvent,
            Severity::Warning,
            format!(
                "{}: {rule}",
                plural(n, "nonconformant event", "nonconformant events")
            ),
            detail,
            Evidence {
                reason: Some(rule),
                ..Evidence::default()
            },
        ));
    }
}
