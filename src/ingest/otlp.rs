//! OTLP JSON traces: a `TracesData` / `ExportTraceServiceRequest` document, or the
//! collector file exporter's JSON Lines (one `TracesData` per line). Accepts what real
//! writers emit: `scopeSpans` and the older `instrumentationLibrarySpans`, camelCase or
//! proto field names, ids as hex (the OTLP/JSON spec) or base64 (protobuf JSON mappers),
//! enums as numbers or names, 64-bit numbers as strings or numbers, and Tempo's
//! `{"batches": [...]}`. Every span is parsed on its own, so one malformed span is reported
//! (with its `resourceSpans[i]...` path) and skipped while the rest loads. What can be read
//! in part is, with a note: ids that are neither hex nor base64 (redacted `xxxxx`) as opaque
//! ids, a span without a start time as a span without a time, a number attribute that is not
//! a number as text, a link without usable ids left out. The spans then go through
//! [`super::spans::add_spans`].

use super::cloudevents::escape_msg;
use super::ids::{self, IdForm, otlp_or_opaque};
use super::spans::{
    AttrValue, Attrs, EnumVal, Flex64, LineIndex, Parsed, Span, SpanKind, SpanPath, nanos_of,
};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;

#[derive(Deserialize)]
struct TracesData<'a> {
    /// `batches` is Tempo's name for it (its trace-by-id API and Grafana's downloads).
    #[serde(
        rename = "resourceSpans",
        alias = "resource_spans",
        alias = "batches",
        default,
        borrow
    )]
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize)]
struct ResourceSpans<'a> {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(rename = "scopeSpans", alias = "scope_spans", default, borrow)]
    scope_spans: Vec<ScopeSpans<'a>>,
    #[serde(
        rename = "instrumentationLibrarySpans",
        alias = "instrumentation_library_spans",
        default,
        borrow
    )]
    library_spans: Vec<ScopeSpans<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct Resource {
    #[serde(default)]
    pub(crate) attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    spans: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct KeyValue {
    key: String,
    #[serde(default)]
    value: Option<AnyValue>,
}

#[derive(Deserialize, Default)]
pub(crate) struct AnyValue {
    #[serde(rename = "stringValue", alias = "string_value")]
    string_value: Option<String>,
    #[serde(rename = "boolValue", alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(rename = "intValue", alias = "int_value")]
    int_value: Option<serde_json::Value>,
    #[serde(rename = "doubleValue", alias = "double_value")]
    double_value: Option<serde_json::Value>,
    #[serde(rename = "arrayValue", alias = "array_value")]
    array_value: Option<ArrayValue>,
    #[serde(rename = "kvlistValue", alias = "kvlist_value")]
    kvlist_value: Option<KvList>,
    #[serde(rename = "bytesValue", alias = "bytes_value")]
    bytes_value: Option<String>,
}

/// `{"values": [...]}`, or the bare list some writers emit (the OTLP `events.json` example
/// has `"kvlistValue": [...]`).
#[derive(Deserialize)]
#[serde(untagged)]
enum ArrayValue {
    Wrapped {
        #[serde(default)]
        values: Vec<AnyValue>,
    },
    Bare(Vec<AnyValue>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KvList {
    Wrapped {
        #[serde(default)]
        values: Vec<KeyValue>,
    },
    Bare(Vec<KeyValue>),
}

impl ArrayValue {
    fn values(self) -> Vec<AnyValue> {
        match self {
            ArrayValue::Wrapped { values } | ArrayValue::Bare(values) => values,
        }
    }
}

impl KvList {
    fn values(self) -> Vec<KeyValue> {
        match self {
            KvList::Wrapped { values } | KvList::Bare(values) => values,
        }
    }
}

impl AnyValue {
    /// The value; a number that is not one (a redacted `"xxxxx"`) is kept as its text, and
    /// `notes` says so.
    fn into_attr(self, notes: &mut Vec<String>) -> AttrValue {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(s) = self.string_value {
            return AttrValue::Str(s);
        }
        if let Some(b) = self.bool_value {
            return AttrValue::Bool(b);
        }
        if let Some(v) = self.int_value {
            if let Some(i) = v.as_i64() {
                return AttrValue::Int(i);
            }
            if let serde_json::Value::String(s) = &v
                && let Ok(i) = s.trim().parse()
            {
                return AttrValue::Int(i);
            }
            notes.push(format!(
                "intValue {v} is not a 64-bit integer: kept as text"
            ));
            return AttrValue::Str(text(&v));
        }
        if let Some(v) = self.double_value {
            match &v {
                serde_json::Value::Number(n) => {
                    return AttrValue::Float(n.as_f64().unwrap_or(0.0));
                }
                serde_json::Value::String(s) => {
                    if let Ok(f) = s.trim().parse() {
                        return AttrValue::Float(f);
                    }
                }
                _ => {}
            }
            notes.push(format!("doubleValue {v} is not a number: kept as text"));
            return AttrValue::Str(text(&v));
        }
        if let Some(a) = self.array_value {
            let items: Vec<String> = a
                .values()
                .into_iter()
                .map(|v| v.into_attr(notes).as_str().into_owned())
                .collect();
            return AttrValue::Str(format!("[{}]", items.join(",")));
        }
        if let Some(kv) = self.kvlist_value {
            let values = kv.values();
            let mut parts = Vec::with_capacity(values.len());
            for e in values {
                let v = e.value.unwrap_or_default().into_attr(notes);
                parts.push(format!("{}={}", e.key, v.as_str()));
            }
            return AttrValue::Str(format!("{{{}}}", parts.join(",")));
        }
        if let Some(b) = self.bytes_value {
            return AttrValue::Str(b);
        }
        AttrValue::Str(String::new())
    }
}

/// Attributes as read; a value that could not be read as its type is kept as text, with a
/// note naming the attribute in `notes`.
pub(crate) fn attrs(kvs: Vec<KeyValue>, notes: &mut Vec<String>) -> Attrs {
    kvs.into_iter()
        .map(|kv| {
            let mut own = Vec::new();
            let v = kv.value.unwrap_or_default().into_attr(&mut own);
            notes.extend(
                own.into_iter()
                    .map(|n| format!("attribute \"{}\": {n}", escape_msg(&kv.key))),
            );
            (kv.key, v)
        })
        .collect()
}

#[derive(Deserialize)]
struct OtlpSpan {
    #[serde(rename = "traceId", alias = "trace_id", default)]
    trace_id: Option<String>,
    #[serde(rename = "spanId", alias = "span_id", default)]
    span_id: Option<String>,
    #[serde(rename = "parentSpanId", alias = "parent_span_id", default)]
    parent_span_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<EnumVal>,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano", default)]
    start: Option<Flex64>,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano", default)]
    end: Option<Flex64>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    events: Vec<SpanEvent>,
}

/// A span event; only `exception` events are read (their message explains a failure).
#[derive(Deserialize)]
struct SpanEvent {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct Link {
    #[serde(rename = "traceId", alias = "trace_id", default)]
    trace_id: Option<String>,
    #[serde(rename = "spanId", alias = "span_id", default)]
    span_id: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<EnumVal>,
    #[serde(default)]
    message: Option<String>,
}

fn is_error_status(code: &EnumVal) -> bool {
    match code {
        EnumVal::Num(n) => *n == 2,
        EnumVal::Name(s) => s.eq_ignore_ascii_case("STATUS_CODE_ERROR") || s == "ERROR",
    }
}

/// One span from its JSON text.
fn parse_span(
    raw: &RawValue,
    service: &Arc<str>,
    resource: &Arc<Attrs>,
    path: SpanPath,
    line: u64,
) -> Result<(Span, Option<String>), String> {
    let s: OtlpSpan = serde_json::from_str(raw.get()).map_err(|e| super::json_error(&e))?;
    // Ids that are neither hex nor base64 (redacted `xxxxx`, placeholder words) are read as
    // opaque ids, and the span says so in a note.
    let mut opaque: Vec<(&str, &str)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let trace_id = match s.trace_id.as_deref() {
        None => return Err("traceId is missing".into()),
        Some(t) => {
            let (id, form) = otlp_or_opaque::<16>(t).map_err(|e| format!("traceId {e}"))?;
            if form == IdForm::Opaque {
                opaque.push(("traceId", t));
            }
            id
        }
    };
    let span_id = match s.span_id.as_deref() {
        None => return Err("spanId is missing".into()),
        Some(t) => {
            let (id, form) = otlp_or_opaque::<8>(t).map_err(|e| format!("spanId {e}"))?;
            if form == IdForm::Opaque {
                opaque.push(("spanId", t));
            }
            id
        }
    };
    let parent = match s.parent_span_id.as_deref() {
        None | Some("") => None,
        Some(p) => match otlp_or_opaque::<8>(p) {
            Ok((id, form)) => {
                if form == IdForm::Opaque {
                    opaque.push(("parentSpanId", p));
                }
                Some(id)
            }
            Err(_) => None,
        },
    };
    // A span that names itself as its parent (all ids redacted to one text) has none.
    let parent = parent.filter(|p| *p != span_id);
    let mut links = Vec::with_capacity(s.links.len());
    for (i, l) in s.links.iter().enumerate() {
        let (t, sp) = (
            l.trace_id.as_deref().unwrap_or(""),
            l.span_id.as_deref().unwrap_or(""),
        );
        match (otlp_or_opaque::<16>(t), otlp_or_opaque::<8>(sp)) {
            (Ok((tid, tf)), Ok((sid, sf))) => {
                if tf == IdForm::Opaque || sf == IdForm::Opaque {
                    notes.push(format!(
                        "links[{i}] {}",
                        ids::opaque_note(&[("traceId", t), ("spanId", sp)])
                    ));
                }
                links.push((tid, sid));
            }
            (Err(e), _) => notes.push(format!("links[{i}].traceId {e}: the link is ignored")),
            (_, Err(e)) => notes.push(format!("links[{i}].spanId {e}: the link is ignored")),
        }
    }
    if !opaque.is_empty() {
        notes.insert(0, ids::opaque_note(&opaque));
    }
    let kind = match &s.kind {
        None => SpanKind::Unspecified,
        Some(EnumVal::Num(n)) => {
            SpanKind::from_otlp(*n).ok_or_else(|| format!("kind {n} is not a SpanKind (0-5)"))?
        }
        Some(EnumVal::Name(n)) => SpanKind::parse(n).ok_or_else(|| {
            format!(
                "kind \"{}\" is not a SpanKind",
                super::cloudevents::escape_msg(n)
            )
        })?,
    };
    // No start time (test output with times removed): the span is read without a time; its
    // observations are placed in file order and shown as "no time" (see `place_untimed`).
    let start = match Flex64::of(s.start, "startTimeUnixNano")? {
        None | Some(0) => {
            notes.push("startTimeUnixNano is missing or zero: the span has no time".into());
            0
        }
        Some(n) => {
            nanos_of(n, 1).ok_or_else(|| format!("startTimeUnixNano {n} is out of range"))?
        }
    };
    let end = match Flex64::of(s.end, "endTimeUnixNano")? {
        _ if start == 0 => None,
        None | Some(0) => None,
        Some(n) => {
            let e = nanos_of(n, 1).ok_or_else(|| format!("endTimeUnixNano {n} is out of range"))?;
            if e < start {
                return Err(format!(
                    "endTimeUnixNano {n} is before startTimeUnixNano {start}"
                ));
            }
            Some(e)
        }
    };
    let (error, mut status_message) = match s.status {
        Some(st) => (
            st.code.as_ref().is_some_and(is_error_status),
            st.message.filter(|m| !m.is_empty()),
        ),
        None => (false, None),
    };
    if error && status_message.is_none() {
        status_message = s
            .events
            .into_iter()
            .filter(|e| e.name.as_deref() == Some("exception"))
            .flat_map(|e| e.attributes)
            .find(|kv| kv.key == "exception.message")
            .and_then(|kv| kv.value?.string_value)
            .filter(|m| !m.is_empty());
    }
    let attributes = attrs(s.attributes, &mut notes);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    let span = Span {
        trace_id,
        span_id,
        parent,
        links,
        service: service.clone(),
        kind,
        name: s.name.unwrap_or_default(),
        start,
        end,
        error,
        status_message,
        attrs: attributes,
        resource: resource.clone(),
        remote_service: None,
        line,
        path,
    };
    Ok((span, note))
}

/// A span with a note about how it was read, or `(line, why)` it could not be.
type NotedSpan = Result<(Span, Option<String>), (u64, String)>;

/// Parses one `TracesData` text. `line_of` maps a byte offset in `text` to its line.
fn parse_traces_data(text: &str, line_of: &(dyn Fn(usize) -> u64 + Sync)) -> Parsed {
    let mut out = Parsed::default();
    let data: TracesData = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            out.errors.push((
                line_of(0) + e.line().saturating_sub(1) as u64,
                format!("not an OTLP TracesData object: {}", super::json_error(&e)),
            ));
            return out;
        }
    };
    let mut work = Vec::new();
    for (r, rs) in data.resource_spans.into_iter().enumerate() {
        let mut resource_notes = Vec::new();
        let resource = rs
            .resource
            .map(|r| attrs(r.attributes, &mut resource_notes))
            .unwrap_or_default();
        for n in resource_notes {
            out.notes
                .push((line_of(0), format!("resourceSpans[{r}].resource: {n}")));
        }
        let service: Arc<str> = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown_service".to_string())
            .into();
        let resource = Arc::new(resource);
        let scopes = rs
            .scope_spans
            .into_iter()
            .map(|s| (s, false))
            .chain(rs.library_spans.into_iter().map(|s| (s, true)));
        for (sc, (scope, old_scope_name)) in scopes.enumerate() {
            for (k, raw) in scope.spans.into_iter().enumerate() {
                let path = SpanPath::Otlp {
                    resource: r as u32,
                    scope: sc as u32,
                    span: k as u32,
                    old_scope_name,
                };
                work.push((raw, service.clone(), resource.clone(), path));
            }
        }
    }
    let base = text.as_ptr() as usize;
    let results: Vec<NotedSpan> = work
        .par_iter()
        .with_min_len(64)
        .map(|(raw, service, resource, path)| {
            let line = line_of(raw.get().as_ptr() as usize - base);
            parse_span(raw, service, resource, path.clone(), line)
                .map_err(|e| (line, format!("{path}: {e}")))
        })
        .collect();
    for r in results {
        match r {
            Ok((span, note)) => {
                if let Some(n) = note {
                    out.notes.push((span.line, format!("{}: {n}", span.path)));
                }
                out.spans.push(span);
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// A whole OTLP JSON document (TracesData or ExportTraceServiceRequest).
pub fn parse_document(text: &str) -> Parsed {
    let index = LineIndex::new(text.as_bytes());
    parse_traces_data(text, &|off| index.line(off))
}

/// One line of the collector file exporter's output; `line` is its 1-based number.
pub fn parse_line(text: &str, line: u64) -> Parsed {
    parse_traces_data(text, &|_| line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_enum_names_and_any_values() {
        let text = r#"{"resource_spans": [{
          "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
          "instrumentationLibrarySpans": [{"spans": [{
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
            "parentSpanId": "AAAAAAAAAAA=", "name": "send", "kind": "SPAN_KIND_PRODUCER",
            "startTimeUnixNano": 1700000000000000000, "endTimeUnixNano": "1700000000002000000",
            "attributes": [
              {"key": "n", "value": {"intValue": 3}},
              {"key": "s", "value": {"intValue": "-4"}},
              {"key": "d", "value": {"doubleValue": "1.5"}},
              {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"boolValue": true}]}}},
              {"key": "m", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "1"}}]}}},
              {"key": "empty"}
            ],
            "status": {"code": "STATUS_CODE_ERROR"},
            "events": [{"timeUnixNano": "1700000000001000000", "name": "exception", "attributes": [
              {"key": "exception.type", "value": {"stringValue": "E"}},
              {"key": "exception.message", "value": {"stringValue": "boom"}}]}]
          }]}]
        }]}"#;
        let p = parse_document(text);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let s = &p.spans[0];
        assert_eq!(&*s.service, "svc");
        assert_eq!(s.kind, SpanKind::Producer);
        assert_eq!(s.parent, None);
        assert_eq!(s.end, Some(1_700_000_000_002_000_000));
        assert!(s.error);
        assert_eq!(s.status_message.as_deref(), Some("boom"));
        assert_eq!(s.attr("n"), Some(&AttrValue::Int(3)));
        assert_eq!(s.attr("s"), Some(&AttrValue::Int(-4)));
        assert_eq!(s.attr("d"), Some(&AttrValue::Float(1.5)));
        assert_eq!(s.attr("a"), Some(&AttrValue::Str("[x,true]".into())));
        assert_eq!(s.attr("m"), Some(&AttrValue::Str("{k=1}".into())));
        assert_eq!(s.line, 3);
        assert!(matches!(
            s.path,
            SpanPath::Otlp {
                old_scope_name: true,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_attribute_names_itself_and_the_span_still_loads() {
        let text = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":"1","attributes":[{"key":"n","value":{"intValue":"lots"}}]}]}]}]}"#;
        let p = parse_line(text, 7);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.spans[0].attr("n"), Some(&AttrValue::Str("lots".into())));
        assert_eq!(p.notes.len(), 1);
        assert_eq!(p.notes[0].0, 7);
        assert!(
            p.notes[0]
                .1
                .starts_with("resourceSpans[0].scopeSpans[0].spans[0]: attribute \"n\""),
            "{:?}",
            p.notes
        );
        assert_eq!(&*parse_line(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":"1"}]}]}]}"#, 1).spans[0].service, "unknown_service");
    }

    #[test]
    fn proto_names_mixed_with_camel_case_and_tempo_batches() {
        // Proto field names in one resource, camelCase in the next, enum names and numbers.
        let text = r#"{"resource_spans": [
          {"resource": {"attributes": [{"key": "service.name", "value": {"string_value": "a"}}]},
           "scope_spans": [{"spans": [{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
             "span_id": "00f067aa0ba902b7", "parent_span_id": "", "kind": "SPAN_KIND_PRODUCER",
             "start_time_unix_nano": "1700000000000000000", "end_time_unix_nano": 1700000000001000000,
             "trace_state": "", "dropped_attributes_count": 0,
             "attributes": [{"key": "l", "value": {"array_value": {"values": [{"int_value": "2"}]}}},
                            {"key": "m", "value": {"kvlist_value": {"values": [{"key": "k", "value": {"double_value": 1.5}}]}}}],
             "status": {"code": "STATUS_CODE_ERROR"}}]}]},
          {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "b"}}]},
           "scopeSpans": [{"spans": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
             "spanId": "00f067aa0ba902b8", "parentSpanId": "00f067aa0ba902b7", "kind": 5,
             "startTimeUnixNano": "1700000000002000000", "status": {"code": 2}}]}]}
        ]}"#;
        let p = parse_document(text);
        assert!(p.errors.is_empty() && p.notes.is_empty(), "{p:?}");
        assert_eq!(p.spans.len(), 2);
        let (a, b) = (&p.spans[0], &p.spans[1]);
        assert_eq!(
            (&*a.service, a.kind, a.error),
            ("a", SpanKind::Producer, true)
        );
        assert_eq!(a.end, Some(1_700_000_000_001_000_000));
        assert_eq!(a.attr("l"), Some(&AttrValue::Str("[2]".into())));
        assert_eq!(a.attr("m"), Some(&AttrValue::Str("{k=1.5}".into())));
        assert_eq!(
            (&*b.service, b.kind, b.error),
            ("b", SpanKind::Consumer, true)
        );
        assert_eq!(b.parent, Some(a.span_id));
        // Tempo's shape: `batches`, base64 ids.
        let tempo = r#"{"batches": [{"instrumentationLibrarySpans": [{"spans": [
          {"traceId": "AAAAAAAAAABguiq7RPE+rg==", "spanId": "cmteMBAvwNA=", "kind": "SPAN_KIND_SERVER",
           "startTimeUnixNano": "1627471657255809000"}]}]}]}"#;
        let p = parse_document(tempo);
        assert_eq!(p.spans.len(), 1, "{p:?}");
        assert_eq!(
            super::super::spans::hex(&p.spans[0].trace_id),
            "000000000000000060ba2abb44f13eae"
        );
    }
}
