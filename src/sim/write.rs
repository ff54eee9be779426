//! Writers for a simulated run: the eventlens capture format, OTLP JSON and Jaeger JSON.
//! The three describe the same run and load into the same topology.

use super::*;
use crate::ingest::cloudevents::ext;
use crate::time::format_rfc3339;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{self, Write};

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn span_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// One eventlens capture line (CloudEvents JSON with the observation as extensions).
pub fn capture_line(o: &SimObservation, e: &SimEvent) -> String {
    let mut s = String::with_capacity(512);
    let schema = if e.schema_v2 { SCHEMA_V2 } else { SCHEMA_V1 };
    let _ = write!(
        s,
        r#"{{"specversion":"1.0","id":{},"source":"{PRODUCER}","type":"{EVENT_TYPE}","time":"{}","datacontenttype":"application/json","dataschema":"{schema}","traceparent":"00-{}-{}-01","{}":"{}","{}":"{}""#,
        q(&e.id),
        format_rfc3339(e.time),
        e.trace_id,
        span_hex(o.span_id),
        ext::RECORDED_TIME,
        format_rfc3339(o.time),
        ext::STAGE,
        o.stage.as_str(),
    );
    let handler = o.handler.map(|h| HANDLERS[h]);
    match o.stage {
        Stage::Publish | Stage::Deliver | Stage::Handle => {
            let _ = write!(s, r#","{}":"{CHANNEL}""#, ext::CHANNEL);
        }
        _ => {}
    }
    if let Some(h) = handler {
        let _ = write!(s, r#","{}":"{h}""#, ext::HANDLER);
    }
    if o.attempt > 0 {
        let _ = write!(s, r#","{}":{}"#, ext::ATTEMPT, o.attempt);
    }
    match o.stage {
        Stage::Handle => {
            let _ = write!(
                s,
                r#","{}":"{}","{}":{}"#,
                ext::OUTCOME,
                o.outcome.as_str(),
                ext::DURATION_US,
                o.duration / 1000
            );
            if o.cold_start {
                let _ = write!(s, r#","{}":true"#, ext::COLD_START);
            }
        }
        Stage::Store => {
            let _ = write!(
                s,
                r#","{}":"{STORE}","{}":{}"#,
                ext::STORE,
                ext::DURATION_US,
                o.duration / 1000
            );
        }
        Stage::DeadLetter => {
            let _ = write!(s, r#","{}":"{DEAD_LETTER}""#, ext::DEAD_LETTER);
        }
        _ => {}
    }
    if let Some(r) = o.reason {
        let _ = write!(s, r#","{}":{}"#, ext::REASON, q(r));
    }
    let _ = write!(s, r#","data":{}}}"#, e.data);
    s
}

/// Writes the run as an eventlens capture (JSON Lines).
pub fn write_capture(run: &SimRun, w: &mut impl Write) -> io::Result<()> {
    for (o, e) in &run.observations {
        writeln!(w, "{}", capture_line(o, e))?;
    }
    Ok(())
}

/// A span of the run in neutral terms, rendered by the OTLP and Jaeger writers.
struct Span<'a> {
    trace: &'a str,
    id: u64,
    parent: Option<u64>,
    /// Producer span this consumer span follows (a link).
    link: Option<u64>,
    service: &'static str,
    kind: &'static str,
    name: String,
    start: Nanos,
    end: Nanos,
    attrs: Vec<(&'static str, Value)>,
    error: Option<&'static str>,
}

fn spans(run: &SimRun) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    for (o, e) in &run.observations {
        let handler = o.handler.map(|h| HANDLERS[h]).unwrap_or(PRODUCER);
        let messaging = |destination: &str, operation: &str| {
            vec![
                ("messaging.system", json!("kafka")),
                ("messaging.destination.name", json!(destination)),
                ("messaging.operation.type", json!(operation)),
            ]
        };
        let cloudevent = [
            ("cloudevents.event_id", json!(e.id)),
            ("cloudevents.event_source", json!(PRODUCER)),
            ("cloudevents.event_type", json!(EVENT_TYPE)),
            ("cloudevents.event_spec_version", json!("1.0")),
        ];
        // What differs per stage; the rest of the span is the same for all.
        let (service, kind, name, parent, link, end, attrs, error) = match o.stage {
            Stage::Publish => {
                let mut attrs = messaging(CHANNEL, "publish");
                attrs.push(("messaging.message.id", json!(e.id)));
                attrs.extend(cloudevent);
                let end = o.time + o.duration;
                (
                    PRODUCER,
                    "producer",
                    format!("{CHANNEL} publish"),
                    None,
                    None,
                    end,
                    attrs,
                    None,
                )
            }
            // Deliver and Handle of one attempt are one consumer span; emit it once, from Handle.
            Stage::Deliver | Stage::Call => continue,
            Stage::Handle => {
                let mut attrs = messaging(CHANNEL, "process");
                attrs.push(("messaging.message.id", json!(e.id)));
                attrs.push(("messaging.consumer.group.name", json!(handler)));
                attrs.push(("faas.trigger", json!("pubsub")));
                attrs.push(("faas.coldstart", json!(o.cold_start)));
                attrs.extend(cloudevent);
                let error = o
                    .outcome
                    .is_failure()
                    .then_some(o.reason.unwrap_or("error"));
                let end = o.time + o.duration;
                (
                    handler,
                    "consumer",
                    format!("{CHANNEL} process"),
                    None,
                    o.parent_span,
                    end,
                    attrs,
                    error,
                )
            }
            Stage::Store => {
                let attrs = vec![
                    ("db.system", json!("postgresql")),
                    ("db.namespace", json!(STORE)),
                    ("db.operation.name", json!("INSERT")),
                ];
                let end = o.time + o.duration;
                (
                    handler,
                    "client",
                    format!("INSERT {STORE}"),
                    o.parent_span,
                    None,
                    end,
                    attrs,
                    None,
                )
            }
            Stage::DeadLetter => {
                let mut attrs = messaging(DEAD_LETTER, "publish");
                attrs.push(("error.type", json!(o.reason.unwrap_or("error"))));
                attrs.extend(cloudevent);
                let end = o.time + 500_000;
                (
                    handler,
                    "producer",
                    format!("{DEAD_LETTER} publish"),
                    o.parent_span,
                    None,
                    end,
                    attrs,
                    None,
                )
            }
        };
        out.push(Span {
            trace: &e.trace_id,
            id: o.span_id,
            parent,
            link,
            service,
            kind,
            name,
            start: o.time,
            end,
            attrs,
            error,
        });
    }
    out
}

fn otlp_value(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => json!({ "intValue": n.to_string() }),
        other => json!({ "stringValue": other.as_str().unwrap_or_default() }),
    }
}

/// Writes the run as OTLP JSON (one `TracesData` document, hex ids, 64-bit numbers as
/// strings, as the OpenTelemetry Collector's file exporter writes them).
pub fn write_otlp(run: &SimRun, w: &mut impl Write) -> io::Result<()> {
    let mut by_service: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for s in spans(run) {
        let kind = match s.kind {
            "producer" => 4,
            "consumer" => 5,
            _ => 3,
        };
        let mut span = json!({
            "traceId": s.trace,
            "spanId": span_hex(s.id),
            "name": s.name,
            "kind": kind,
            "startTimeUnixNano": s.start.to_string(),
            "endTimeUnixNano": s.end.to_string(),
            "attributes": s.attrs.iter().map(|(k, v)| json!({"key": k, "value": otlp_value(v)})).collect::<Vec<_>>(),
            "status": match s.error { Some(m) => json!({"code": 2, "message": m}), None => json!({}) },
        });
        if let Some(p) = s.parent {
            span["parentSpanId"] = json!(span_hex(p));
        }
        if let Some(l) = s.link {
            span["links"] = json!([{ "traceId": s.trace, "spanId": span_hex(l) }]);
        }
        by_service.entry(s.service).or_default().push(span);
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .map(|(svc, spans)| {
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"scope": {"name": "eventlens-sim", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}]
            })
        })
        .collect();
    serde_json::to_writer(&mut *w, &json!({ "resourceSpans": resource_spans }))?;
    writeln!(w)
}

fn jaeger_tag(k: &str, v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!({"key": k, "type": "bool", "value": b}),
        Value::Number(n) => json!({"key": k, "type": "int64", "value": n}),
        other => json!({"key": k, "type": "string", "value": other.as_str().unwrap_or_default()}),
    }
}

/// Writes the run as Jaeger JSON (the UI's "Download JSON": `{"data":[trace...]}`).
pub fn write_jaeger(run: &SimRun, w: &mut impl Write) -> io::Result<()> {
    let mut traces: std::collections::BTreeMap<&str, Vec<Span<'_>>> = Default::default();
    for s in spans(run) {
        traces.entry(s.trace).or_default().push(s);
    }
    let mut data = Vec::new();
    for (trace, spans) in traces {
        let mut processes: std::collections::BTreeMap<&str, String> = Default::default();
        for s in &spans {
            let n = processes.len() + 1;
            processes
                .entry(s.service)
                .or_insert_with(|| format!("p{n}"));
        }
        let spans: Vec<Value> = spans
            .iter()
            .map(|s| {
                let mut tags: Vec<Value> =
                    vec![json!({"key": "span.kind", "type": "string", "value": s.kind})];
                tags.extend(s.attrs.iter().map(|(k, v)| jaeger_tag(k, v)));
                if let Some(m) = s.error {
                    tags.push(json!({"key": "error", "type": "bool", "value": true}));
                    tags.push(
                        json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}),
                    );
                    tags.push(
                        json!({"key": "otel.status_description", "type": "string", "value": m}),
                    );
                }
                let mut refs = Vec::new();
                if let Some(p) = s.parent {
                    refs.push(
                        json!({"refType": "CHILD_OF", "traceID": trace, "spanID": span_hex(p)}),
                    );
                }
                if let Some(l) = s.link {
                    refs.push(
                        json!({"refType": "FOLLOWS_FROM", "traceID": trace, "spanID": span_hex(l)}),
                    );
                }
                json!({
                    "traceID": trace,
                    "spanID": span_hex(s.id),
                    "operationName": s.name,
                    "references": refs,
                    "startTime": s.start / 1000,
                    "duration": (s.end - s.start) / 1000,
                    "tags": tags,
                    "logs": [],
                    "processID": processes.get(s.service).cloned().unwrap_or_default(),
                    "warnings": null,
                    "flags": 1
                })
            })
            .collect();
        let procs: serde_json::Map<String, Value> = processes
            .iter()
            .map(|(svc, id)| (id.clone(), json!({"serviceName": svc, "tags": [{"key": "telemetry.sdk.language", "type": "string", "value": "rust"}]})))
            .collect();
        data.push(json!({"traceID": trace, "spans": spans, "processes": procs, "warnings": null}));
    }
    serde_json::to_writer_pretty(
        &mut *w,
        &json!({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": null}),
    )?;
    writeln!(w)
}
