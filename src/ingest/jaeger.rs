//! Jaeger JSON traces: the query API / UI "Download JSON" document
//! `{"data":[{"traceID","spans":[...],"processes":{...}}]}` and a bare trace object
//! `{"traceID","spans","processes"}` (also one per line). Span times are microseconds;
//! `references` give the parent (`CHILD_OF`) and links (`FOLLOWS_FROM`, and further
//! `CHILD_OF`s); the `span.kind` and `error` tags give kind and status. Ids are hex; other
//! texts (`trace-123`, `span-2_1`) are read as opaque ids ([`super::ids`]), one note per
//! trace. Each span is parsed on its own: a malformed one is reported with its
//! `data[t].spans[k]` path and line.

use super::ids::{self, IdForm, hex_or_opaque};
use super::spans::{
    AttrValue, Attrs, Flex64, LineIndex, Parsed, Scalar, Span, SpanKind, SpanPath, micros_span,
};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(default, borrow)]
    data: Option<Vec<&'a RawValue>>,
    /// Present in a bare trace object (its own fields are read by [`Trace`]).
    #[serde(default, borrow)]
    spans: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct Trace<'a> {
    #[serde(default, borrow)]
    spans: Vec<&'a RawValue>,
    #[serde(default)]
    processes: FxHashMap<String, Process>,
}

#[derive(Deserialize, Clone)]
struct Process {
    #[serde(rename = "serviceName", default)]
    service_name: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize, Clone)]
struct Tag {
    key: String,
    #[serde(default)]
    value: Option<Scalar>,
}

#[derive(Deserialize)]
struct JSpan {
    #[serde(rename = "traceID", default)]
    trace_id: Option<String>,
    #[serde(rename = "spanID", default)]
    span_id: Option<String>,
    #[serde(rename = "parentSpanID", default)]
    parent_span_id: Option<String>,
    #[serde(rename = "operationName", default)]
    operation_name: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(rename = "startTime", default)]
    start_time: Option<Flex64>,
    #[serde(default)]
    duration: Option<Flex64>,
    #[serde(default)]
    tags: Option<Vec<Tag>>,
    #[serde(rename = "processID", default)]
    process_id: Option<String>,
    #[serde(default)]
    process: Option<Process>,
    #[serde(default)]
    logs: Option<Vec<Log>>,
}

/// A span log; an `event=error` log's message explains a failure (OpenTracing).
#[derive(Deserialize)]
struct Log {
    #[serde(default)]
    fields: Vec<Tag>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "refType", default)]
    ref_type: Option<String>,
    #[serde(rename = "traceID", default)]
    trace_id: Option<String>,
    #[serde(rename = "spanID", default)]
    span_id: Option<String>,
}

fn tags(t: Vec<Tag>) -> Attrs {
    t.into_iter()
        .map(|t| {
            (
                t.key,
                t.value.map_or(AttrValue::Str(String::new()), |v| v.0),
            )
        })
        .collect()
}

/// A span with a note about how it was read, or `(line, why)` it could not be.
type NotedSpan = Result<(Span, Option<String>), (u64, String)>;

struct Resolved {
    service: Arc<str>,
    tags: Arc<Attrs>,
}

fn parse_span(
    raw: &RawValue,
    processes: &FxHashMap<String, Resolved>,
    path: SpanPath,
    line: u64,
) -> Result<(Span, Option<String>), String> {
    let s: JSpan = serde_json::from_str(raw.get()).map_err(|e| super::json_error(&e))?;
    // Ids are hex (leading zeros may be dropped); test traces and some exporters use other
    // texts (`trace-123`, `span-2_1`), read as opaque ids so references still resolve.
    let mut opaque: Vec<(String, String)> = Vec::new();
    let mut id = |name: &str, v: Option<&str>| -> Result<[u8; 8], String> {
        match v.map(hex_or_opaque::<8>) {
            None => Err(format!("{name} is missing")),
            Some(None) => Err(format!("{name} is empty or all zeros")),
            Some(Some((id, form))) => {
                if form == IdForm::Opaque {
                    opaque.push((name.to_string(), v.unwrap_or_default().to_string()));
                }
                Ok(id)
            }
        }
    };
    let span_id = id("spanID", s.span_id.as_deref())?;
    let mut parent = match s.parent_span_id.as_deref() {
        None | Some("") => None,
        Some(p) => id("parentSpanID", Some(p)).ok(),
    };
    let mut refs = Vec::new();
    for (i, r) in s.references.unwrap_or_default().into_iter().enumerate() {
        let rs = id(&format!("references[{i}].spanID"), r.span_id.as_deref())?;
        refs.push((i, r, rs));
    }
    let trace_id = match s.trace_id.as_deref() {
        None => return Err("traceID is missing".into()),
        Some(t) => trace_id_of(t, "traceID", &mut opaque)?,
    };
    let mut links = Vec::new();
    for (i, r, rs) in refs {
        let rt = match r.trace_id.as_deref() {
            None | Some("") => trace_id,
            Some(t) => trace_id_of(t, &format!("references[{i}].traceID"), &mut opaque)?,
        };
        let child_of = r
            .ref_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("CHILD_OF"));
        if child_of && parent.is_none() && rt == trace_id {
            parent = Some(rs);
        } else {
            links.push((rt, rs));
        }
    }
    let note = (!opaque.is_empty()).then(|| {
        let fields: Vec<(&str, &str)> = opaque
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_str()))
            .collect();
        ids::opaque_note(&fields)
    });
    let (start, end) = micros_span(s.start_time, s.duration, "startTime")?;
    let (service, resource) = match (&s.process, s.process_id.as_deref()) {
        (Some(p), _) => (
            Arc::from(p.service_name.as_deref().unwrap_or("unknown_service")),
            Arc::new(tags(p.tags.clone())),
        ),
        (None, Some(pid)) => match processes.get(pid) {
            Some(r) => (r.service.clone(), r.tags.clone()),
            None => {
                return Err(format!(
                    "processID \"{}\" is not in the trace's processes",
                    super::cloudevents::escape_msg(pid)
                ));
            }
        },
        (None, None) => return Err("processID is missing".into()),
    };
    let attrs = tags(s.tags.unwrap_or_default());
    let tag = |k: &str| attrs.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let kind = tag("span.kind")
        .and_then(|k| SpanKind::parse(&k.as_str()))
        .unwrap_or(SpanKind::Unspecified);
    let error = tag("error").is_some_and(AttrValue::as_bool)
        || tag("otel.status_code").is_some_and(|c| c.as_str().eq_ignore_ascii_case("ERROR"));
    let status_message = if error {
        tag("otel.status_description")
            .or_else(|| tag("error.message"))
            .map(|m| m.as_str().into_owned())
            .filter(|m| !m.is_empty())
            .or_else(|| error_log_message(s.logs.unwrap_or_default()))
    } else {
        None
    };
    Ok((
        Span {
            trace_id,
            span_id,
            parent,
            links,
            service,
            kind,
            name: s.operation_name.unwrap_or_default(),
            start,
            end,
            error,
            status_message,
            attrs,
            resource,
            remote_service: None,
            line,
            path,
        },
        note,
    ))
}

/// A trace id: hex of up to 32 digits, else an opaque text.
fn trace_id_of(
    t: &str,
    name: &str,
    opaque: &mut Vec<(String, String)>,
) -> Result<[u8; 16], String> {
    match hex_or_opaque::<16>(t) {
        None => Err(format!("{name} is empty or all zeros")),
        Some((id, form)) => {
            if form == IdForm::Opaque {
                opaque.push((name.to_string(), t.to_string()));
            }
            Ok(id)
        }
    }
}

fn error_log_message(logs: Vec<Log>) -> Option<String> {
    logs.into_iter()
        .map(|l| tags(l.fields))
        .filter(|f| {
            f.iter()
                .any(|(k, v)| k == "event" && v.as_str().eq_ignore_ascii_case("error"))
        })
        .find_map(|f| {
            ["message", "error.object", "exception.message", "error.kind"]
                .iter()
                .find_map(|want| {
                    f.iter()
                        .find(|(k, _)| k == want)
                        .map(|(_, v)| v.as_str().into_owned())
                })
        })
        .filter(|m| !m.is_empty())
}

fn parse_trace(
    raw: &RawValue,
    trace: Option<u32>,
    base: usize,
    line_of: &(dyn Fn(usize) -> u64 + Sync),
    out: &mut Parsed,
) {
    let t: Trace = match serde_json::from_str(raw.get()) {
        Ok(t) => t,
        Err(e) => {
            let at = trace.map_or("the trace".to_string(), |t| format!("data[{t}]"));
            out.errors.push((
                line_of(raw.get().as_ptr() as usize - base),
                format!("{at}: not a Jaeger trace: {}", super::json_error(&e)),
            ));
            return;
        }
    };
    let processes: FxHashMap<String, Resolved> = t
        .processes
        .into_iter()
        .map(|(k, p)| {
            let service: Arc<str> = p
                .service_name
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown_service".into())
                .into();
            (
                k,
                Resolved {
                    service,
                    tags: Arc::new(tags(p.tags)),
                },
            )
        })
        .collect();
    let results: Vec<NotedSpan> = t
        .spans
        .par_iter()
        .with_min_len(64)
        .enumerate()
        .map(|(k, raw)| {
            let line = line_of(raw.get().as_ptr() as usize - base);
            let path = SpanPath::Jaeger {
                trace,
                span: k as u32,
            };
            parse_span(raw, &processes, path.clone(), line)
                .map_err(|e| (line, format!("{path}: {e}")))
        })
        .collect();
    let mut opaque_spans = 0u64;
    let mut first_note = None;
    for r in results {
        match r {
            Ok((span, note)) => {
                if let Some(n) = note {
                    opaque_spans += 1;
                    first_note.get_or_insert((span.line, format!("{}: {n}", span.path)));
                }
                out.spans.push(span);
            }
            Err(e) => out.errors.push(e),
        }
    }
    // One note per trace: its ids are all written the same way.
    if let Some((line, n)) = first_note {
        let more = if opaque_spans > 1 {
            format!(" ({opaque_spans} spans of this trace have such ids)")
        } else {
            String::new()
        };
        out.notes.push((line, format!("{n}{more}")));
    }
}

fn parse_text(text: &str, line_of: &(dyn Fn(usize) -> u64 + Sync)) -> Parsed {
    let mut out = Parsed::default();
    let base = text.as_ptr() as usize;
    let doc: Doc = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            out.errors.push((
                line_of(0) + e.line().saturating_sub(1) as u64,
                format!("not a Jaeger JSON document: {}", super::json_error(&e)),
            ));
            return out;
        }
    };
    match (doc.data, doc.spans) {
        (Some(traces), _) => {
            for (t, raw) in traces.iter().enumerate() {
                parse_trace(raw, Some(t as u32), base, line_of, &mut out);
            }
        }
        (None, Some(_)) => {
            // A bare trace: parse the whole object as one.
            match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) => parse_trace(raw, None, base, line_of, &mut out),
                Err(e) => out.errors.push((line_of(0), super::json_error(&e))),
            }
        }
        (None, None) => out.errors.push((
            line_of(0),
            "a Jaeger document needs \"data\" (a list of traces) or \"spans\" (a trace)".into(),
        )),
    }
    out
}

/// A whole Jaeger JSON document or bare trace.
pub fn parse_document(text: &str) -> Parsed {
    let index = LineIndex::new(text.as_bytes());
    parse_text(text, &|off| index.line(off))
}

/// One line holding a Jaeger document or trace; `line` is its 1-based number.
pub fn parse_line(text: &str, line: u64) -> Parsed {
    parse_text(text, &|_| line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_trace_with_short_ids_and_string_tags() {
        let text = r#"{"traceID": "f2a3", "spans": [
            {"traceID": "f2a3", "spanID": "1", "operationName": "send", "references": [],
             "startTime": "1700000000000000", "duration": 5, "processID": "p1",
             "tags": [{"key": "span.kind", "type": "string", "value": "producer"},
                      {"key": "error", "type": "string", "value": "true"}],
             "logs": [{"timestamp": 1700000000000001, "fields": [
                      {"key": "event", "type": "string", "value": "error"},
                      {"key": "message", "type": "string", "value": "broker unavailable"}]}]},
            {"traceID": "f2a3", "spanID": "2", "operationName": "recv", "processID": "p1",
             "references": [{"refType": "CHILD_OF", "traceID": "f2a3", "spanID": "1"},
                            {"refType": "FOLLOWS_FROM", "traceID": "ab", "spanID": "9"}],
             "startTime": 1700000000000010, "duration": 5}
          ], "processes": {"p1": {"serviceName": "svc", "tags": [{"key": "faas.name", "type": "string", "value": "f"}]}}}"#;
        let p = parse_document(text);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.spans.len(), 2);
        let (a, b) = (&p.spans[0], &p.spans[1]);
        assert_eq!(a.kind, SpanKind::Producer);
        assert!(a.error);
        assert_eq!(a.status_message.as_deref(), Some("broker unavailable"));
        assert_eq!(a.end, Some(1_700_000_000_000_005_000));
        assert_eq!(
            super::super::spans::hex(&a.trace_id),
            "0000000000000000000000000000f2a3"
        );
        assert_eq!(b.parent, Some(a.span_id));
        assert_eq!(b.links.len(), 1);
        assert_eq!(b.attr("faas.name"), Some(&AttrValue::Str("f".into())));
        assert!(matches!(
            b.path,
            SpanPath::Jaeger {
                trace: None,
                span: 1
            }
        ));
        assert_eq!(b.line, 9);
    }
}
