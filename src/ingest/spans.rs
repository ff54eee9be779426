//! The span model shared by the OTLP, Jaeger and Zipkin readers: [`Span`], ids, attribute
//! values and the number forms the formats use. Readers parse their format into spans (in
//! parallel where they can) and hand all spans of an input to [`add_spans`]
//! (`span_flow`), which maps them to events and observations through the conventions in
//! `conventions`.

use crate::time::Nanos;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A W3C trace id (16 bytes).
pub type TraceId = [u8; 16];
/// A span id (8 bytes).
pub type SpanId = [u8; 8];

/// The role a span plays in its trace, as OpenTelemetry, Jaeger and Zipkin name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpanKind {
    /// No kind given.
    #[default]
    Unspecified,
    /// Work inside a service.
    Internal,
    /// Handling a synchronous request (also a FaaS invocation).
    Server,
    /// A synchronous outgoing call (a database write).
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Receiving or processing a message from a broker.
    Consumer,
}

impl SpanKind {
    /// Parses `PRODUCER`, `producer`, `SPAN_KIND_PRODUCER` and the like.
    pub fn parse(s: &str) -> Option<SpanKind> {
        let s = s.strip_prefix("SPAN_KIND_").unwrap_or(s);
        Some(match s.to_ascii_lowercase().as_str() {
            "unspecified" | "" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// The OTLP enum number (`SPAN_KIND_INTERNAL` = 1 ... `SPAN_KIND_CONSUMER` = 5).
    pub fn from_otlp(n: u64) -> Option<SpanKind> {
        Some(match n {
            0 => SpanKind::Unspecified,
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => return None,
        })
    }
}

/// An attribute (tag) value. Arrays and maps are kept as their JSON text.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text (also arrays and maps, as their text).
    Str(String),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl AttrValue {
    /// The value as text (numbers and booleans formatted).
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Str(s) => Cow::Borrowed(s),
            AttrValue::Int(i) => Cow::Owned(i.to_string()),
            AttrValue::Float(f) => Cow::Owned(f.to_string()),
            AttrValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    /// The value as a whole number, also from a numeric string.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a boolean: `true`, `"true"` (any case), or a non-zero number.
    pub fn as_bool(&self) -> bool {
        match self {
            AttrValue::Bool(b) => *b,
            AttrValue::Str(s) => s.eq_ignore_ascii_case("true"),
            AttrValue::Int(i) => *i != 0,
            AttrValue::Float(f) => *f != 0.0,
        }
    }
}

/// Key/value attributes in the order the format listed them.
pub type Attrs = Vec<(String, AttrValue)>;

/// Where a span was found, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanPath {
    /// `resourceSpans[r].scopeSpans[s].spans[k]` (or `instrumentationLibrarySpans`).
    Otlp {
        /// Index in `resourceSpans`.
        resource: u32,
        /// Index in `scopeSpans` (or `instrumentationLibrarySpans`).
        scope: u32,
        /// Index in `spans`.
        span: u32,
        /// The pre-1.0 name `instrumentationLibrarySpans` was used.
        old_scope_name: bool,
    },
    /// `data[t].spans[k]` (`t` is `None` for a bare trace object).
    Jaeger {
        /// Index in `data`.
        trace: Option<u32>,
        /// Index in the trace's `spans`.
        span: u32,
    },
    /// Position in a Zipkin v2 array (0-based).
    Zipkin {
        /// 0-based position.
        index: u32,
    },
}

impl fmt::Display for SpanPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpanPath::Otlp {
                resource,
                scope,
                span,
                old_scope_name,
            } => {
                let scope_name = if old_scope_name {
                    "instrumentationLibrarySpans"
                } else {
                    "scopeSpans"
                };
                write!(
                    f,
                    "resourceSpans[{resource}].{scope_name}[{scope}].spans[{span}]"
                )
            }
            SpanPath::Jaeger {
                trace: Some(t),
                span,
            } => write!(f, "data[{t}].spans[{span}]"),
            SpanPath::Jaeger { trace: None, span } => write!(f, "spans[{span}]"),
            SpanPath::Zipkin { index } => write!(f, "span [{index}] (element {})", index + 1),
        }
    }
}

/// One span in the common model.
#[derive(Clone, Debug)]
pub struct Span {
    /// The trace the span belongs to (64-bit ids left-padded with zeros).
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// The parent span in the same trace.
    pub parent: Option<SpanId>,
    /// Span links and Jaeger FOLLOWS_FROM references (to the producer span, for consumers).
    pub links: Vec<(TraceId, SpanId)>,
    /// `service.name`, the Jaeger process `serviceName`, the Zipkin local endpoint.
    pub service: Arc<str>,
    /// PRODUCER, CONSUMER, CLIENT, SERVER or INTERNAL.
    pub kind: SpanKind,
    /// Span name (Jaeger `operationName`).
    pub name: String,
    /// Start, nanoseconds since the epoch.
    pub start: Nanos,
    /// `None` when the format did not say how long the span took.
    pub end: Option<Nanos>,
    /// The span failed (OTLP status ERROR, Jaeger `error=true`, Zipkin `error` tag).
    pub error: bool,
    /// Status message or error description.
    pub status_message: Option<String>,
    /// Span attributes (Jaeger tags, Zipkin tags).
    pub attrs: Attrs,
    /// Resource attributes (OTLP) or process tags (Jaeger), shared by many spans.
    pub resource: Arc<Attrs>,
    /// Zipkin `remoteEndpoint.serviceName` (the broker or database).
    pub remote_service: Option<String>,
    /// 1-based line of the span in its input.
    pub line: u64,
    /// Where in the input the span is, for messages.
    pub path: SpanPath,
}

impl Span {
    /// The span's attribute of that name, else the resource's.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs
            .iter()
            .chain(self.resource.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// A non-empty text attribute.
    pub fn attr_str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attr(key)
            .map(AttrValue::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Duration in nanoseconds, -1 if unknown.
    pub fn duration(&self) -> i64 {
        self.end.map_or(-1, |e| (e - self.start).max(0))
    }
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A hex id of up to `2 * N` digits, left-padded with zeros (Jaeger drops leading zeros and
/// Zipkin allows 64-bit trace ids). `None` for empty, non-hex, too long or all-zero ids.
pub fn parse_hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.is_empty() || s.len() > 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    let digits = s.as_bytes();
    let pad = 2 * N - digits.len();
    for i in 0..2 * N {
        let d = if i < pad {
            0
        } else {
            (digits[i - pad] as char).to_digit(16).unwrap_or(0) as u8
        };
        out[i / 2] |= if i % 2 == 0 { d << 4 } else { d };
    }
    (out != [0u8; N]).then_some(out)
}

/// An OTLP id: `2 * N` hex digits (the OTLP/JSON spec), or base64 of `N` bytes (what
/// protobuf JSON mappers emit). Errors say why.
pub fn parse_otlp_id<const N: usize>(s: &str) -> Result<[u8; N], String> {
    use base64::Engine;
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() == 2 * N && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_hex_id::<N>(s).ok_or_else(|| "is all zeros (an invalid id)".to_string());
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for e in engines {
        if let Ok(bytes) = e.decode(s.as_bytes()) {
            return match <[u8; N]>::try_from(bytes.as_slice()) {
                Ok(a) if a == [0u8; N] => Err("is all zeros (an invalid id)".into()),
                Ok(a) => Ok(a),
                Err(_) => Err(format!(
                    "\"{}\" is base64 of {} bytes, expected {N}",
                    super::cloudevents::escape_msg(s),
                    bytes.len()
                )),
            };
        }
    }
    Err(format!(
        "\"{}\" is neither {} hex digits nor base64 of {N} bytes",
        super::cloudevents::escape_msg(s),
        2 * N
    ))
}

/// Maps byte offsets of a document to 1-based line numbers.
pub struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    /// Indexes the newlines of `text`.
    pub fn new(text: &[u8]) -> Self {
        LineIndex {
            newlines: memchr::memchr_iter(b'\n', text).collect(),
        }
    }

    /// The line of byte `offset`.
    pub fn line(&self, offset: usize) -> u64 {
        self.newlines.partition_point(|&n| n < offset) as u64 + 1
    }
}

/// Spans parsed from (part of) an input, and the records that could not be read.
#[derive(Default, Debug)]
pub struct Parsed {
    /// The spans read.
    pub spans: Vec<Span>,
    /// `(line, message)`; the message starts with the span's path.
    pub errors: Vec<(u64, String)>,
    /// `(line, message)` for spans left out or read in part on purpose (not errors).
    pub notes: Vec<(u64, String)>,
}

impl Parsed {
    /// Collects per-span results: spans read, and `(line, message)` for those that were not.
    pub fn push_results(&mut self, results: Vec<Result<Span, (u64, String)>>) {
        for r in results {
            match r {
                Ok(s) => self.spans.push(s),
                Err(e) => self.errors.push(e),
            }
        }
    }

    /// Appends another part.
    pub fn extend(&mut self, other: Parsed) {
        self.spans.extend(other.spans);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
    }
}

pub use super::span_flow::add_spans;

/// A 64-bit unsigned number written as a JSON number or a decimal string (proto3 JSON
/// writes 64-bit integers as strings). A value of another kind is kept as the reason it is
/// not a number, so the reader can name the field in its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flex64(pub Result<u64, String>);

impl Flex64 {
    /// The number of an optional field, or `field: why it is not one`.
    pub fn of(v: Option<Flex64>, field: &str) -> Result<Option<u64>, String> {
        v.map(|f| f.0.map_err(|e| format!("{field}: {e}")))
            .transpose()
    }
}

impl<'de> serde::Deserialize<'de> for Flex64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        let bad = |v: &serde_json::Value| {
            let t = v.to_string();
            Err(format!(
                "{} is not a non-negative integer",
                super::cloudevents::escape_msg(&t)
            ))
        };
        Ok(Flex64(match &v {
            serde_json::Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Ok(u),
                (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
                _ => bad(&v),
            },
            serde_json::Value::String(s) => s.trim().parse().or_else(|_| bad(&v)),
            _ => bad(&v),
        }))
    }
}

/// An enum written as its number or its name (`4` or `"SPAN_KIND_PRODUCER"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnumVal {
    /// The enum's number.
    Num(u64),
    /// The enum's name.
    Name(String),
}

impl<'de> serde::Deserialize<'de> for EnumVal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EnumVal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum number or name")
            }
            fn visit_u64<E>(self, v: u64) -> Result<EnumVal, E> {
                Ok(EnumVal::Num(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EnumVal, E> {
                u64::try_from(v)
                    .map(EnumVal::Num)
                    .map_err(|_| E::custom(format!("{v} is not an enum value")))
            }
            fn visit_str<E>(self, v: &str) -> Result<EnumVal, E> {
                Ok(match v.parse() {
                    Ok(n) => EnumVal::Num(n),
                    Err(_) => EnumVal::Name(v.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON scalar as an [`AttrValue`] (Jaeger tag values, Zipkin tags); arrays and objects
/// are kept as their JSON text, null as an empty string.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar(pub AttrValue);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: serde_json::Value = serde::Deserialize::deserialize(d)?;
        Ok(Scalar(match v {
            serde_json::Value::Null => AttrValue::Str(String::new()),
            serde_json::Value::Bool(b) => AttrValue::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => AttrValue::Int(i),
                None => AttrValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => AttrValue::Str(s),
            other => AttrValue::Str(other.to_string()),
        }))
    }
}

/// Nanoseconds from a count of `unit_ns`-long units, if it fits.
/// Start and end of a span given in microseconds as a start time and a duration (Jaeger,
/// Zipkin); `start_field` names the start field in errors.
pub fn micros_span(
    start: Option<Flex64>,
    duration: Option<Flex64>,
    start_field: &str,
) -> Result<(Nanos, Option<Nanos>), String> {
    let start = match Flex64::of(start, start_field)? {
        None | Some(0) => return Err(format!("{start_field} is missing or zero")),
        Some(us) => {
            nanos_of(us, 1000).ok_or_else(|| format!("{start_field} {us} µs is out of range"))?
        }
    };
    let end = match Flex64::of(duration, "duration")? {
        None => None,
        Some(us) => Some(
            nanos_of(us, 1000)
                .and_then(|d| start.checked_add(d))
                .filter(|&t| crate::time::in_range(t))
                .ok_or_else(|| format!("duration {us} µs is out of range"))?,
        ),
    };
    Ok((start, end))
}

pub fn nanos_of(count: u64, unit_ns: u64) -> Option<Nanos> {
    count
        .checked_mul(unit_ns)
        .and_then(|n| i64::try_from(n).ok())
        .filter(|&n| n <= crate::time::MAX_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hex_and_base64() {
        let hex32 = "5b8efff798038103d269b633813fc60c";
        let t = parse_otlp_id::<16>(hex32).unwrap_or_default();
        assert_eq!(hex(&t), hex32);
        // The same id as base64 (what protobuf JSON mappers emit).
        let t2 = parse_otlp_id::<16>("W47/95gDgQPSabYzgT/GDA==").unwrap_or_default();
        assert_eq!(t, t2);
        let s = parse_otlp_id::<8>("7rsv2NxhKfM=").unwrap_or_default();
        assert_eq!(hex(&s), "eebb2fd8dc6129f3");
        assert!(parse_otlp_id::<8>("zz").is_err());
        assert!(parse_otlp_id::<8>("0000000000000000").is_err());
        assert_eq!(
            parse_hex_id::<16>("abc").map(|a| hex(&a)).as_deref(),
            Some("00000000000000000000000000000abc")
        );
        assert_eq!(parse_hex_id::<8>(""), None);
    }

    #[test]
    fn kinds() {
        assert_eq!(
            SpanKind::parse("SPAN_KIND_PRODUCER"),
            Some(SpanKind::Producer)
        );
        assert_eq!(SpanKind::parse("consumer"), Some(SpanKind::Consumer));
        assert_eq!(SpanKind::from_otlp(3), Some(SpanKind::Client));
        assert_eq!(SpanKind::from_otlp(9), None);
    }

    #[test]
    fn line_index() {
        let li = LineIndex::new(b"a\nb\nc");
        assert_eq!(li.line(0), 1);
        assert_eq!(li.line(2), 2);
        assert_eq!(li.line(4), 3);
    }
}
