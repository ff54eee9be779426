//! Zipkin v2 JSON: an array of spans as the Zipkin API, Brave and zipkin-js write them
//! (`traceId`, `id`, `parentId`, `kind`, `name`, `timestamp` and `duration` in microseconds,
//! `localEndpoint.serviceName`, `remoteEndpoint.serviceName`, string `tags`), or one span or
//! array per line. The `error` tag marks a failed span. Each span is parsed on its own: a
//! malformed one is reported with its position and line and skipped.

use super::spans::{
    AttrValue, Flex64, LineIndex, Parsed, Scalar, Span, SpanKind, SpanPath, micros_span,
    parse_hex_id,
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

fn parse_span(raw: &RawValue, path: SpanPath, line: u64) -> Result<Span, String> {
    let s: ZSpan = serde_json::from_str(raw.get()).map_err(|e| super::json_error(&e))?;
    let trace_id = match s.trace_id.as_deref() {
        None => return Err("traceId is missing".into()),
        Some(t) => parse_hex_id::<16>(t).ok_or_else(|| {
            format!(
                "traceId \"{}\" is not 16 or 32 hex digits",
                super::cloudevents::escape_msg(t)
            )
        })?,
    };
    let span_id = match s.id.as_deref() {
        None => return Err("id is missing".into()),
        Some(t) => parse_hex_id::<8>(t).ok_or_else(|| {
            format!(
                "id \"{}\" is not 16 hex digits",
                super::cloudevents::escape_msg(t)
            )
        })?,
    };
    let parent = s.parent_id.as_deref().and_then(parse_hex_id::<8>);
    let kind = match s.kind.as_deref() {
        None => SpanKind::Unspecified,
        Some(k) => SpanKind::parse(k).ok_or_else(|| {
            format!(
                "kind \"{}\" is not CLIENT, SERVER, PRODUCER or CONSUMER",
                super::cloudevents::escape_msg(k)
            )
        })?,
    };
    let (start, end) = micros_span(s.timestamp, s.duration, "timestamp")?;
    let attrs: Vec<(String, AttrValue)> = s
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let tag = |k: &str| attrs.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    // Zipkin: an `error` tag (any value) means the span failed.
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
    let service: Arc<str> = s
        .local_endpoint
        .and_then(|e| e.service_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown_service".into())
        .into();
    Ok(Span {
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
    })
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
    let results: Vec<Result<Span, (u64, String)>> = elements
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
    out.push_results(results);
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
