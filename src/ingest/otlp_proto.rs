//! OTLP traces in protobuf (an `ExportTraceServiceRequest` as the OTLP receiver takes it
//! over HTTP or gRPC) into [`Span`]s, read as the JSON reader ([`super::otlp`]) reads the
//! same request in JSON: the resource's `service.name` (else `unknown_service`), ids as
//! bytes (a trace id of 16, span ids of 8; a parent or link of another length is left out),
//! the kind (a number outside 0-5 rejects the span), a zero start time as a span without a
//! time, an end before the start rejects the span, status ERROR with its message or else
//! the `exception.message` of an `exception` event, attributes with arrays as `[a,b]`, maps
//! as `{k=v}` and bytes as base64. Each span is read on its own: one that cannot be is
//! reported with its `resourceSpans[i].scopeSpans[j].spans[k]` path and the rest are kept.

use super::spans::{AttrValue, Attrs, Parsed, Span, SpanKind, SpanPath, nanos_of};
use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1 as pb;
use std::sync::Arc;

fn value(v: Option<AnyValue>) -> AttrValue {
    match v.and_then(|v| v.value) {
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(i),
        Some(any_value::Value::DoubleValue(f)) => AttrValue::Float(f),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a
                .values
                .into_iter()
                .map(|v| value(Some(v)).as_str().into_owned())
                .collect();
            AttrValue::Str(format!("[{}]", items.join(",")))
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let parts: Vec<String> = kv
                .values
                .into_iter()
                .map(|e| format!("{}={}", e.key, value(e.value).as_str()))
                .collect();
            AttrValue::Str(format!("{{{}}}", parts.join(",")))
        }
        Some(any_value::Value::BytesValue(b)) => {
            // As OTLP/JSON writes bytes: base64.
            AttrValue::Str(base64::engine::general_purpose::STANDARD.encode(b))
        }
        #[allow(unreachable_patterns)]
        Some(_) | None => AttrValue::Str(String::new()),
    }
}

fn attrs(kvs: Vec<KeyValue>) -> Attrs {
    kvs.into_iter()
        .map(|kv| (kv.key, value(kv.value)))
        .collect()
}

fn id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// One span; `Err` says why it cannot be read.
fn span(
    s: pb::Span,
    service: &Arc<str>,
    resource: &Arc<Attrs>,
    path: SpanPath,
    line: u64,
) -> Result<(Span, Vec<String>), String> {
    let mut notes = Vec::new();
    let trace_id = match s.trace_id.len() {
        0 => return Err("traceId is missing".into()),
        n => id::<16>(&s.trace_id).ok_or_else(|| format!("traceId has {n} bytes, not 16"))?,
    };
    let span_id = match s.span_id.len() {
        0 => return Err("spanId is missing".into()),
        n => id::<8>(&s.span_id).ok_or_else(|| format!("spanId has {n} bytes, not 8"))?,
    };
    let parent = id::<8>(&s.parent_span_id).filter(|p| *p != span_id);
    let mut links = Vec::with_capacity(s.links.len());
    for (i, l) in s.links.iter().enumerate() {
        match (id::<16>(&l.trace_id), id::<8>(&l.span_id)) {
            (Some(t), Some(sp)) => links.push((t, sp)),
            (None, _) => notes.push(format!(
                "links[{i}].traceId has {} bytes, not 16: the link is ignored",
                l.trace_id.len()
            )),
            (_, None) => notes.push(format!(
                "links[{i}].spanId has {} bytes, not 8: the link is ignored",
                l.span_id.len()
            )),
        }
    }
    let kind = u64::try_from(s.kind)
        .ok()
        .and_then(SpanKind::from_otlp)
        .ok_or_else(|| format!("kind {} is not a SpanKind (0-5)", s.kind))?;
    let start = match s.start_time_unix_nano {
        0 => {
            notes.push("startTimeUnixNano is missing or zero: the span has no time".into());
            0
        }
        n => nanos_of(n, 1).ok_or_else(|| format!("startTimeUnixNano {n} is out of range"))?,
    };
    let end = match s.end_time_unix_nano {
        _ if start == 0 => None,
        0 => None,
        n => {
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
        Some(st) => (st.code == 2, Some(st.message).filter(|m| !m.is_empty())),
        None => (false, None),
    };
    if error && status_message.is_none() {
        status_message = s
            .events
            .into_iter()
            .filter(|e| e.name == "exception")
            .flat_map(|e| e.attributes)
            .find(|kv| kv.key == "exception.message")
            .and_then(|kv| match kv.value?.value? {
                any_value::Value::StringValue(m) => Some(m),
                _ => None,
            })
            .filter(|m| !m.is_empty());
    }
    let span = Span {
        trace_id,
        span_id,
        parent,
        links,
        service: service.clone(),
        kind,
        name: s.name,
        start,
        end,
        error,
        status_message,
        attrs: attrs(s.attributes),
        resource: resource.clone(),
        remote_service: None,
        line,
        path,
    };
    Ok((span, notes))
}

/// The spans of a request; `line` (the request's number) is each span's line.
pub fn parse_request(req: ExportTraceServiceRequest, line: u64) -> Parsed {
    let mut out = Parsed::default();
    for (r, rs) in req.resource_spans.into_iter().enumerate() {
        let resource = rs.resource.map(|r| attrs(r.attributes)).unwrap_or_default();
        let service: Arc<str> = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str().into_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown_service".to_string())
            .into();
        let resource = Arc::new(resource);
        for (sc, scope) in rs.scope_spans.into_iter().enumerate() {
            for (k, s) in scope.spans.into_iter().enumerate() {
                let path = SpanPath::Otlp {
                    resource: r as u32,
                    scope: sc as u32,
                    span: k as u32,
                    old_scope_name: false,
                };
                match span(s, &service, &resource, path.clone(), line) {
                    Ok((span, notes)) => {
                        if !notes.is_empty() {
                            out.notes
                                .push((line, format!("{path}: {}", notes.join("; "))));
                        }
                        out.spans.push(span);
                    }
                    Err(e) => out.errors.push((line, format!("{path}: {e}"))),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(k: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    /// The same request in protobuf and in OTLP/JSON reads to the same spans.
    #[test]
    fn protobuf_reads_as_the_json_reader_reads() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![pb::ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue("svc".into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![pb::ScopeSpans {
                    spans: vec![
                        pb::Span {
                            trace_id: vec![0x4b; 16],
                            span_id: vec![1; 8],
                            parent_span_id: vec![2; 8],
                            name: "orders publish".into(),
                            kind: 4,
                            start_time_unix_nano: 1_700_000_000_000_000_000,
                            end_time_unix_nano: 1_700_000_000_002_000_000,
                            attributes: vec![
                                kv("n", any_value::Value::IntValue(3)),
                                kv("d", any_value::Value::DoubleValue(1.5)),
                                kv("b", any_value::Value::BoolValue(true)),
                                kv("x", any_value::Value::BytesValue(vec![1, 2, 3])),
                            ],
                            links: vec![pb::span::Link {
                                trace_id: vec![9; 16],
                                span_id: vec![8; 8],
                                ..Default::default()
                            }],
                            status: Some(pb::Status {
                                code: 2,
                                message: "boom".into(),
                            }),
                            ..Default::default()
                        },
                        pb::Span {
                            trace_id: vec![1; 3],
                            span_id: vec![1; 8],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
          "scopeSpans":[{"spans":[{"traceId":"4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b","spanId":"0101010101010101",
          "parentSpanId":"0202020202020202","name":"orders publish","kind":4,
          "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000002000000",
          "attributes":[{"key":"n","value":{"intValue":"3"}},{"key":"d","value":{"doubleValue":1.5}},
          {"key":"b","value":{"boolValue":true}},{"key":"x","value":{"bytesValue":"AQID"}}],
          "links":[{"traceId":"09090909090909090909090909090909","spanId":"0808080808080808"}],
          "status":{"code":2,"message":"boom"}}]}]}]}"#;
        let p = parse_request(req, 1);
        let j = super::super::otlp::parse_document(json);
        assert_eq!(p.spans.len(), 1);
        assert_eq!(j.spans.len(), 1);
        let (a, b) = (&p.spans[0], &j.spans[0]);
        assert_eq!(a.trace_id, b.trace_id);
        assert_eq!(a.span_id, b.span_id);
        assert_eq!(a.parent, b.parent);
        assert_eq!(a.links, b.links);
        assert_eq!(&*a.service, &*b.service);
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.name, b.name);
        assert_eq!((a.start, a.end), (b.start, b.end));
        assert_eq!((a.error, &a.status_message), (b.error, &b.status_message));
        assert_eq!(format!("{:?}", a.attrs), format!("{:?}", b.attrs));
        assert_eq!(a.path, b.path);
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(p.errors[0].1.contains("spans[1]: traceId has 3 bytes"));
    }
}
