//! Spans written back as OTLP JSON: one `TracesData` per line, the OpenTelemetry
//! collector's file exporter format, which every OTLP tool (and eventlens's own reader)
//! reads. `record` writes the spans an OTLP receiver (or a followed span file) gave this
//! way, so that a recording opens as the same flow graph as the live view it was taken from.
//!
//! What the span model keeps is written: ids, parent, links, kind, name, times, status,
//! span and resource attributes. Spans are grouped by resource, one `resourceSpans` entry
//! per distinct resource (and service) in the order first seen. A Zipkin remote endpoint,
//! which OTLP has no field for, becomes `peer.service` unless the span has one.

use super::spans::{AttrValue, Attrs, Span, SpanKind, hex};
use std::fmt::Write as _;
use std::sync::Arc;

/// The scope the spans are written under.
const SCOPE: &str = "eventlens record";

/// One OTLP JSON `TracesData` line (no newline) holding `spans`.
pub fn otlp_json_line(spans: &[Span]) -> String {
    // Group by resource: the same `Arc` (spans of one request share it) or equal contents.
    let mut groups: Vec<(&Arc<str>, &Arc<Attrs>, Vec<&Span>)> = Vec::new();
    for s in spans {
        let found = groups.iter_mut().find(|(svc, res, _)| {
            **svc == s.service && (Arc::ptr_eq(res, &s.resource) || **res == s.resource)
        });
        match found {
            Some((_, _, g)) => g.push(s),
            None => groups.push((&s.service, &s.resource, vec![s])),
        }
    }
    let mut out = String::with_capacity(256 + spans.len() * 384);
    out.push_str(r#"{"resourceSpans":["#);
    for (i, (service, resource, group)) in groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"resource":{"attributes":["#);
        let mut first = true;
        if !resource.iter().any(|(k, _)| k == "service.name") {
            push_attr(
                &mut out,
                "service.name",
                &AttrValue::Str(service.to_string()),
            );
            first = false;
        }
        for (k, v) in resource.iter() {
            if !first {
                out.push(',');
            }
            push_attr(&mut out, k, v);
            first = false;
        }
        out.push_str(r#"]},"scopeSpans":[{"scope":{"name":"#);
        push_str(&mut out, SCOPE);
        out.push_str(r#"},"spans":["#);
        for (j, s) in group.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_span(&mut out, s);
        }
        out.push_str("]}]}");
    }
    out.push_str("]}");
    out
}

fn kind_number(k: SpanKind) -> u8 {
    match k {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn push_span(out: &mut String, s: &Span) {
    let _ = write!(
        out,
        r#"{{"traceId":"{}","spanId":"{}""#,
        hex(&s.trace_id),
        hex(&s.span_id)
    );
    if let Some(p) = &s.parent {
        let _ = write!(out, r#","parentSpanId":"{}""#, hex(p));
    }
    out.push_str(r#","name":"#);
    push_str(out, &s.name);
    let _ = write!(out, r#","kind":{}"#, kind_number(s.kind));
    // A span read without a time is written without one, and read back the same way.
    if s.start > 0 {
        let _ = write!(out, r#","startTimeUnixNano":"{}""#, s.start);
        if let Some(e) = s.end {
            let _ = write!(out, r#","endTimeUnixNano":"{e}""#);
        }
    }
    out.push_str(r#","attributes":["#);
    let mut first = true;
    for (k, v) in &s.attrs {
        if !first {
            out.push(',');
        }
        push_attr(out, k, v);
        first = false;
    }
    if let Some(remote) = &s.remote_service
        && !s.attrs.iter().any(|(k, _)| k == "peer.service")
    {
        if !first {
            out.push(',');
        }
        push_attr(out, "peer.service", &AttrValue::Str(remote.clone()));
    }
    out.push(']');
    if !s.links.is_empty() {
        out.push_str(r#","links":["#);
        for (i, (t, sp)) in s.links.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, r#"{{"traceId":"{}","spanId":"{}"}}"#, hex(t), hex(sp));
        }
        out.push(']');
    }
    if s.error || s.status_message.is_some() {
        let _ = write!(out, r#","status":{{"code":{}"#, if s.error { 2 } else { 0 });
        if let Some(m) = &s.status_message {
            out.push_str(r#","message":"#);
            push_str(out, m);
        }
        out.push('}');
    }
    out.push('}');
}

fn push_attr(out: &mut String, key: &str, v: &AttrValue) {
    out.push_str(r#"{"key":"#);
    push_str(out, key);
    out.push_str(r#","value":{"#);
    match v {
        AttrValue::Str(s) => {
            out.push_str(r#""stringValue":"#);
            push_str(out, s);
        }
        // 64-bit integers are strings in OTLP JSON.
        AttrValue::Int(i) => {
            let _ = write!(out, r#""intValue":"{i}""#);
        }
        AttrValue::Float(f) if f.is_finite() => {
            let _ = write!(out, r#""doubleValue":{f:?}"#);
        }
        // JSON has no NaN or infinity; proto3 JSON writes them as strings.
        AttrValue::Float(f) => {
            let name = if f.is_nan() {
                "NaN"
            } else if *f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            let _ = write!(out, r#""doubleValue":"{name}""#);
        }
        AttrValue::Bool(b) => {
            let _ = write!(out, r#""boolValue":{b}"#);
        }
    }
    out.push_str("}}");
}

/// A JSON string literal of `s`, escaped (untrusted text: names, attribute values).
fn push_str(out: &mut String, s: &str) {
    // serde_json escapes quotes, backslashes and control characters; a `String` never
    // fails to serialize.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::parse_line;
    use crate::ingest::spans::SpanPath;

    fn span(service: &str, resource: &Arc<Attrs>, id: u8) -> Span {
        Span {
            trace_id: [7; 16],
            span_id: [id; 8],
            parent: (id > 1).then_some([1; 8]),
            links: if id == 3 {
                vec![([9; 16], [2; 8])]
            } else {
                Vec::new()
            },
            service: Arc::from(service),
            kind: SpanKind::from_otlp(u64::from(id % 6)).unwrap_or_default(),
            name: format!("orders \"{id}\" publish\n\u{7}"),
            start: 1_700_000_000_123_456_789,
            end: Some(1_700_000_000_223_456_789),
            error: id == 2,
            status_message: (id == 2).then(|| "broker said <no>".to_string()),
            attrs: vec![
                (
                    "messaging.destination.name".into(),
                    AttrValue::Str("orders".into()),
                ),
                ("messaging.batch.message_count".into(), AttrValue::Int(-3)),
                ("ratio".into(), AttrValue::Float(0.25)),
                ("retry".into(), AttrValue::Bool(true)),
            ],
            resource: resource.clone(),
            remote_service: (id == 4).then(|| "rabbitmq".to_string()),
            line: 0,
            path: SpanPath::Zipkin { index: 0 },
        }
    }

    #[test]
    fn spans_read_back_as_they_were_written() {
        let shop: Arc<Attrs> = Arc::new(vec![
            ("service.name".into(), AttrValue::Str("shop".into())),
            ("host.name".into(), AttrValue::Str("h1".into())),
        ]);
        // A Jaeger or Zipkin span: the service is not among the resource attributes.
        let bare: Arc<Attrs> = Arc::new(Vec::new());
        let spans = vec![
            span("shop", &shop, 1),
            span("billing", &bare, 2),
            span("shop", &shop, 3),
            span("billing", &bare, 4),
            span("shop", &shop, 5),
        ];
        let line = otlp_json_line(&spans);
        assert!(!line.contains('\n'), "one line: {line}");
        let back = parse_line(&line, 12);
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!(back.spans.len(), 5);
        // Two resources; spans keep their order within each.
        let ids: Vec<u8> = back.spans.iter().map(|s| s.span_id[0]).collect();
        assert_eq!(ids, [1, 3, 5, 2, 4]);
        for b in &back.spans {
            let a = spans
                .iter()
                .find(|s| s.span_id == b.span_id)
                .expect("the same span");
            assert_eq!(b.trace_id, a.trace_id);
            assert_eq!(b.parent, a.parent);
            assert_eq!(b.links, a.links);
            assert_eq!(b.service, a.service);
            assert_eq!(b.kind, a.kind);
            assert_eq!(b.name, a.name);
            assert_eq!((b.start, b.end), (a.start, a.end));
            assert_eq!(b.error, a.error);
            assert_eq!(b.status_message, a.status_message);
            for (k, v) in &a.attrs {
                assert_eq!(b.attr(k), Some(v), "{k}");
            }
            assert_eq!(
                b.attr_str("peer.service").as_deref(),
                a.remote_service.as_deref()
            );
            assert_eq!(b.line, 12);
        }
        assert_eq!(
            back.spans[0]
                .resource
                .iter()
                .find(|(k, _)| k == "host.name"),
            Some(&("host.name".to_string(), AttrValue::Str("h1".into())))
        );
    }

    #[test]
    fn a_span_without_a_time_stays_without_one() {
        let r: Arc<Attrs> = Arc::new(Vec::new());
        let mut s = span("svc", &r, 1);
        s.start = 0;
        s.end = None;
        let back = parse_line(&otlp_json_line(&[s]), 1);
        assert_eq!(back.spans.len(), 1);
        assert_eq!((back.spans[0].start, back.spans[0].end), (0, None));
    }
}
