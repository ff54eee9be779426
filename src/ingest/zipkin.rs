//! Zipkin v2 JSON: an array of spans as the Zipkin API, Brave and zipkin-js write them
//! (`traceId`, `id`, `parentId`, `kind`, `name`, `timestamp` and `duration` in microseconds,
//! `localEndpoint.serviceName`, `remoteEndpoint.serviceName`, string `tags`), or one span or
//! array per line. The `error` tag marks a failed span. Each span is parsed on its own: a
//! malformed one is reported with its position and line and skipped. A span without
//! `timestamp` is late data about a span (Zipkin's API allows it): it is merged into the timed
//! span with the same trace and span id, or skipped, with a note either way. (Zipkin v1 is
//! refused when sniffing.)

use super::ids::{self, IdForm, hex_or_opaque};
use super::spans::{
    AttrValue, Flex64, LineIndex, Parsed, Scalar, Span, SpanKind, SpanPath, nanos_of,
};
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Deserialize)]
struct ZSpan {
    #[serde(rename = "traceId", default)]
    trace_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "parentId", default)]
    parent_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timestamp: Option<Flex64>,
    #[serde(default)]
    duration: Option<Flex64>,
    #[serde(rename = "localEndpoint", default)]
    local_endpoint: Option<Endpoint>,
    #[serde(rename = "remoteEndpoint", default)]
    remote_endpoint: Option<Endpoint>,
    #[serde(default)]
    tags: Option<BTreeMap<String, Scalar>>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "serviceName", default)]
    service_name: Option<String>,
}

/// A span as read: with its start, or late data without a timestamp (to merge).
enum Item {
    Timed(Span, Option<String>),
    /// No `timestamp`: Zipkin's API allows this for data about a span sent after the fact
    /// (tags, the remote endpoint, the duration); `duration` in nanoseconds if given.
    Late(Span, Option<i64>),
}

fn parse_span(raw: &RawValue, path: SpanPath, line: u64) -> Result<Item, String> {
    let s: ZSpan = serde_json::from_str(raw.get()).map_err(|e| super::json_error(&e))?;
    let mut opaque: Vec<(&str, &str)> = Vec::new();
    let trace_id = match s.trace_id.as_deref() {
        None => return Err("traceId is missing".into()),
        Some(t) => match hex_or_opaque::<16>(t) {
            None => return Err("traceId is empty or all zeros".into()),
            Some((id, form)) => {
                if form == IdForm::Opaque {
                    opaque.push(("traceId", t));
                }
                id
            }
        },
    };
    let span_id = match s.id.as_deref() {
        None => return Err("id is missing".into()),
        Some(t) => match hex_or_opaque::<8>(t) {
            None => return Err("id is empty or all zeros".into()),
            Some((id, form)) => {
                if form == IdForm::Opaque {
                    opaque.push(("id", t));
                }
                id
            }
        },
    };
    let parent = s.parent_id.as_deref().and_then(|p| {
        let (id, form) = hex_or_opaque::<8>(p)?;
        if form == IdForm::Opaque {
            opaque.push(("parentId", p));
        }
        Some(id)
    });
    let kind = match s.kind.as_deref() {
        None => SpanKind::Unspecified,
        Some(k) => SpanKind::parse(k).ok_or_else(|| {
            format!(
                "kind \"{}\" is not CLIENT, SERVER, PRODUCER or CONSUMER",
                super::cloudevents::escape_msg(k)
            )
        })?,
    };
    let timestamp = Flex64::of(s.timestamp, "timestamp")?;
    let duration = Flex64::of(s.duration, "duration")?
        .map(|us| nanos_of(us, 1000).ok_or_else(|| format!("duration {us} µs is out of range")))
        .transpose()?;
    let late = matches!(timestamp, None | Some(0));
    let (start, end) = match timestamp {
        None | Some(0) => (0, None),
        Some(us) => {
            let start =
                nanos_of(us, 1000).ok_or_else(|| format!("timestamp {us} µs is out of range"))?;
            let end = duration
                .map(|d| {
                    start
                        .checked_add(d)
                        .filter(|&t| crate::time::in_range(t))
                        .ok_or_else(|| "duration is out of range".to_string())
                })
                .transpose()?;
            (start, end)
        }
    };
    let attrs: Vec<(String, AttrValue)> = s
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let (error, status_message) = error_of(&attrs);
    let service: Arc<str> = s
        .local_endpoint
        .and_then(|e| e.service_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown_service".into())
        .into();
    let note = (!opaque.is_empty()).then(|| ids::opaque_note(&opaque));
    let span = Span {
        trace_id,
        span_id,
        parent,
        links: Vec::new(),
        service,
        kind,
        name: s.name.unwrap_or_default(),
        start,
        end,
        error,
        status_message,
        attrs,
        resource: Arc::default(),
        remote_service: s
            .remote_endpoint
            .and_then(|e| e.service_name)
            .filter(|n| !n.is_empty()),
        line,
        path,
    };
    Ok(if late {
        Item::Late(span, duration)
    } else {
        Item::Timed(span, note)
    })
}

/// Zipkin: an `error` tag (any value but "false") means the span failed; its value is the
/// message unless it is just "true".
fn error_of(attrs: &[(String, AttrValue)]) -> (bool, Option<String>) {
    let tag = |k: &str| attrs.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let error_tag = tag("error").map(|v| v.as_str().into_owned());
    let error = error_tag
        .as_deref()
        .is_some_and(|v| !v.eq_ignore_ascii_case("false"))
        || tag("otel.status_code").is_some_and(|c| c.as_str().eq_ignore_ascii_case("ERROR"));
    let status_message = if error {
        error_tag.filter(|m| !m.is_empty() && m != "true")
    } else {
        None
    };
    (error, status_message)
}

/// Merges late data (a span without a timestamp) into the timed span with the same trace
/// and span id (and the same service and kind, where the late data names them), as Zipkin
/// merges a span reported in parts. Returns the index of the span merged into, if any.
fn merge_late(spans: &mut [Span], late: Span, duration: Option<i64>) -> Option<usize> {
    let same_id = |s: &&mut Span| s.trace_id == late.trace_id && s.span_id == late.span_id;
    let named = |s: &Span| &*late.service == "unknown_service" || s.service == late.service;
    let kinded = |s: &Span| late.kind == SpanKind::Unspecified || s.kind == late.kind;
    let (i, target) = spans
        .iter_mut()
        .enumerate()
        .filter(|(_, s)| same_id(s) && named(s) && kinded(s))
        .min_by_key(|(_, s)| s.kind != late.kind)?;
    for (k, v) in late.attrs {
        if !target.attrs.iter().any(|(t, _)| *t == k) {
            target.attrs.push((k, v));
        }
    }
    if target.remote_service.is_none() {
        target.remote_service = late.remote_service;
    }
    if target.name.is_empty() {
        target.name = late.name;
    }
    if target.kind == SpanKind::Unspecified {
        target.kind = late.kind;
    }
    if target.parent.is_none() {
        target.parent = late.parent;
    }
    if target.end.is_none() {
        target.end = duration.and_then(|d| target.start.checked_add(d));
    }
    let (error, message) = error_of(&target.attrs);
    target.error |= error;
    if target.status_message.is_none() {
        target.status_message = message;
    }
    Some(i)
}

fn parse_text(text: &str, line_of: &(dyn Fn(usize) -> u64 + Sync)) -> Parsed {
    let mut out = Parsed::default();
    let base = text.as_ptr() as usize;
    let trimmed = text.trim_start();
    let elements: Vec<&RawValue> = if trimmed.starts_with('[') {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.errors.push((
                    line_of(0) + e.line().saturating_sub(1) as u64,
                    format!(
                        "the Zipkin span array cannot be read: {}",
                        super::json_error(&e)
                    ),
                ));
                return out;
            }
        }
    } else {
        match serde_json::from_str(text) {
            Ok(v) => vec![v],
            Err(e) => {
                out.errors.push((
                    line_of(0),
                    format!("not a Zipkin span: {}", super::json_error(&e)),
                ));
                return out;
            }
        }
    };
    let results: Vec<Result<Item, (u64, String)>> = elements
        .par_iter()
        .with_min_len(64)
        .enumerate()
        .map(|(i, raw)| {
            let line = line_of(raw.get().as_ptr() as usize - base);
            let path = SpanPath::Zipkin { index: i as u32 };
            if !raw.get().starts_with('{') {
                return Err((line, format!("{path}: is not a span object")));
            }
            parse_span(raw, path.clone(), line).map_err(|e| (line, format!("{path}: {e}")))
        })
        .collect();
    let mut late = Vec::new();
    for r in results {
        match r {
            Ok(Item::Timed(span, note)) => {
                if let Some(n) = note {
                    out.notes.push((span.line, format!("{}: {n}", span.path)));
                }
                out.spans.push(span);
            }
            Ok(Item::Late(span, duration)) => late.push((span, duration)),
            Err(e) => out.errors.push(e),
        }
    }
    for (span, duration) in late {
        let (line, path) = (span.line, span.path.clone());
        match merge_late(&mut out.spans, span, duration) {
            Some(i) => out.notes.push((
                line,
                format!(
                    "{path}: no timestamp (late data about a span): merged into {}, the span with the same traceId and id",
                    out.spans[i].path
                ),
            )),
            None => out.notes.push((
                line,
                format!(
                    "{path}: no timestamp, and no span with the same traceId and id has one to merge it into (Zipkin reports late data about a span this way): skipped"
                ),
            )),
        }
    }
    out
}

/// A whole Zipkin v2 span array.
pub fn parse_document(text: &str) -> Parsed {
    let index = LineIndex::new(text.as_bytes());
    parse_text(text, &|off| index.line(off))
}

/// One line holding a Zipkin span or span array; `line` is its 1-based number.
pub fn parse_line(text: &str, line: u64) -> Parsed {
    parse_text(text, &|_| line)
}
