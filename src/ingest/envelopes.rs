//! Events in other published schemas, read by mapping them onto CloudEvents attributes (a
//! single event, a JSON array of them, or one per line):
//!
//! - **Azure Event Grid event schema** (`id`, `topic`, `subject`, `eventType`, `eventTime`,
//!   `data`, `dataVersion`, `metadataVersion`): source = `topic`, type = `eventType`, time =
//!   `eventTime`, subject = `subject`: the attributes Azure itself gives the same event in
//!   its CloudEvents schema, so one event delivered in both schemas is one event here.
//!   `dataVersion` and `metadataVersion` are kept as extensions.
//! - **Amazon EventBridge** (`version`, `id`, `detail-type`, `source`, `account`, `time`,
//!   `region`, `resources`, `detail`): type = `detail-type`, the channel is the event bus
//!   (`event-bus-name` if present, else `default`), `account` and `region` are extensions,
//!   `detail` is the payload.
//! - **CDEvents** (`context` with `id`, `source`, `type`, `timestamp`; `subject`): id, source,
//!   type and time from `context`, subject = `subject.id`, `context.schemaUri` is the
//!   dataschema; the whole CDEvent is the payload (as in its CloudEvents binding).
//!
//! The producer is the source; Event Grid and CDEvents events are published onto the single
//! `event-bus` channel, as plain CloudEvents are. A record without an id is an error; a
//! missing attribute the schema requires is a violation naming the schema.

use super::cloudevents::{DEFAULT_BUS, escape_msg};
use super::jsonval::object_shape;
use super::lines::Chunk;
use crate::model::*;
use crate::time::{Nanos, no_time_reason, parse_rfc3339};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// One record mapped onto CloudEvents attributes.
#[derive(Debug, Default)]
struct Mapped<'a> {
    source: String,
    id: String,
    ty: String,
    subject: Option<String>,
    time: Option<Nanos>,
    channel: Cow<'static, str>,
    dataschema: Option<String>,
    ext: Vec<(&'static str, String)>,
    /// The JSON text of the payload, borrowed from the record.
    data: Option<&'a str>,
    violations: Vec<String>,
    notes: Vec<String>,
}

/// A string attribute: `Ok(None)` when absent or null.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Str(String),
    Other(serde_json::Value),
}

fn text(name: &str, v: Option<Text>, out: &mut Mapped<'_>, schema: &str) -> Option<String> {
    match v {
        None => None,
        Some(Text::Str(s)) => Some(s),
        Some(Text::Other(serde_json::Value::Null)) => None,
        Some(Text::Other(o)) => {
            out.violations.push(format!(
                "{name}: must be a string, got {} ({schema})",
                match o {
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Array(_) => "an array",
                    _ => "an object",
                }
            ));
            match o {
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
    }
}

fn required(name: &str, v: Option<String>, out: &mut Mapped<'_>, schema: &str) -> String {
    match v {
        Some(s) if s.is_empty() => {
            out.violations
                .push(format!("{name}: is an empty string ({schema})"));
            s
        }
        Some(s) => s,
        None => {
            out.violations
                .push(format!("{name}: required attribute is missing ({schema})"));
            String::new()
        }
    }
}

/// An optional attribute: empty means absent (Event Grid's own examples have
/// `"dataVersion": ""`).
fn optional(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn time_of(name: &str, v: Option<String>, out: &mut Mapped<'_>, schema: &str) -> Option<Nanos> {
    let t = v?;
    let r = parse_rfc3339(&t);
    if let Some(why) = no_time_reason(&r) {
        out.notes
            .push(format!("{name} \"{}\" {why}", escape_msg(&t)));
        return None;
    }
    match r {
        Ok(n) => Some(n),
        Err(e) => {
            out.violations.push(format!(
                "{name}: \"{}\" is {e} ({schema}: an RFC 3339 time)",
                escape_msg(&t)
            ));
            None
        }
    }
}

fn data_of(raw: Option<&RawValue>) -> Option<&str> {
    raw.map(RawValue::get).filter(|d| *d != "null")
}

const EVENT_GRID: &str = "Azure Event Grid event schema";

#[derive(Deserialize)]
struct EventGrid<'a> {
    id: Option<Text>,
    topic: Option<Text>,
    subject: Option<Text>,
    #[serde(rename = "eventType")]
    event_type: Option<Text>,
    #[serde(rename = "eventTime")]
    event_time: Option<Text>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(rename = "dataVersion")]
    data_version: Option<Text>,
    #[serde(rename = "metadataVersion")]
    metadata_version: Option<Text>,
}

fn event_grid(text_: &str) -> Result<Mapped<'_>, String> {
    let e: EventGrid = serde_json::from_str(text_).map_err(|e| super::json_error(&e))?;
    let mut m = Mapped::default();
    let s = EVENT_GRID;
    m.id = optional(text("id", e.id, &mut m, s))
        .ok_or("id is missing or empty: nothing to identify the event by")?;
    m.source = match optional(text("topic", e.topic, &mut m, s)) {
        Some(t) => t,
        None => {
            m.notes.push(
                "topic is missing (Event Grid fills it in on delivery): the source is \"(no topic)\""
                    .into(),
            );
            "(no topic)".into()
        }
    };
    let subject = text("subject", e.subject, &mut m, s);
    m.subject = Some(required("subject", subject, &mut m, s)).filter(|x| !x.is_empty());
    let ty = text("eventType", e.event_type, &mut m, s);
    m.ty = required("eventType", ty, &mut m, s);
    let time = text("eventTime", e.event_time, &mut m, s);
    if time.is_none() {
        m.violations
            .push(format!("eventTime: required attribute is missing ({s})"));
    }
    m.time = time_of("eventTime", time, &mut m, s);
    m.data = data_of(e.data);
    if let Some(v) = optional(text("dataVersion", e.data_version, &mut m, s)) {
        m.ext.push(("dataversion", v));
    }
    if let Some(v) = optional(text("metadataVersion", e.metadata_version, &mut m, s)) {
        m.ext.push(("metadataversion", v));
    }
    m.channel = Cow::Borrowed(DEFAULT_BUS);
    Ok(m)
}

const EVENTBRIDGE: &str = "Amazon EventBridge event";

#[derive(Deserialize)]
struct EventBridge<'a> {
    id: Option<Text>,
    source: Option<Text>,
    #[serde(rename = "detail-type")]
    detail_type: Option<Text>,
    time: Option<Text>,
    account: Option<Text>,
    region: Option<Text>,
    #[serde(rename = "event-bus-name")]
    event_bus_name: Option<Text>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
}

fn eventbridge(text_: &str) -> Result<Mapped<'_>, String> {
    let e: EventBridge = serde_json::from_str(text_).map_err(|e| super::json_error(&e))?;
    let mut m = Mapped::default();
    let s = EVENTBRIDGE;
    m.id = optional(text("id", e.id, &mut m, s))
        .ok_or("id is missing or empty: nothing to identify the event by")?;
    let source = text("source", e.source, &mut m, s);
    m.source = required("source", source, &mut m, s);
    let ty = text("detail-type", e.detail_type, &mut m, s);
    m.ty = required("detail-type", ty, &mut m, s);
    let time = text("time", e.time, &mut m, s);
    m.time = time_of("time", time, &mut m, s);
    if let Some(a) = optional(text("account", e.account, &mut m, s)) {
        m.ext.push(("account", a));
    }
    if let Some(r) = optional(text("region", e.region, &mut m, s)) {
        m.ext.push(("region", r));
    }
    m.channel = Cow::Owned(
        optional(text("event-bus-name", e.event_bus_name, &mut m, s))
            .unwrap_or_else(|| "default".into()),
    );
    m.data = data_of(e.detail);
    Ok(m)
}

const CDEVENTS: &str = "CDEvents context";

#[derive(Deserialize)]
struct CdEvent {
    context: Option<CdContext>,
    subject: Option<CdSubject>,
}

#[derive(Deserialize)]
struct CdContext {
    id: Option<Text>,
    source: Option<Text>,
    #[serde(rename = "type")]
    ty: Option<Text>,
    timestamp: Option<Text>,
    #[serde(rename = "schemaUri")]
    schema_uri: Option<Text>,
}

#[derive(Deserialize)]
struct CdSubject {
    id: Option<Text>,
}

fn cdevent(text_: &str) -> Result<Mapped<'_>, String> {
    let e: CdEvent = serde_json::from_str(text_).map_err(|e| super::json_error(&e))?;
    let mut m = Mapped::default();
    let s = CDEVENTS;
    let c = e.context.ok_or("context is missing: not a CDEvent")?;
    m.id = optional(text("context.id", c.id, &mut m, s))
        .ok_or("context.id is missing or empty: nothing to identify the event by")?;
    let source = text("context.source", c.source, &mut m, s);
    m.source = required("context.source", source, &mut m, s);
    let ty = text("context.type", c.ty, &mut m, s);
    m.ty = required("context.type", ty, &mut m, s);
    let time = text("context.timestamp", c.timestamp, &mut m, s);
    if time.is_none() {
        m.violations.push(format!(
            "context.timestamp: required attribute is missing ({s})"
        ));
    }
    m.time = time_of("context.timestamp", time, &mut m, s);
    m.dataschema = optional(text("context.schemaUri", c.schema_uri, &mut m, s));
    match e.subject {
        Some(sub) => {
            let id = text("subject.id", sub.id, &mut m, s);
            m.subject = Some(required("subject.id", id, &mut m, "CDEvents subject"))
                .filter(|x| !x.is_empty());
        }
        None => m
            .violations
            .push("subject: required attribute is missing (CDEvents)".into()),
    }
    m.channel = Cow::Borrowed(DEFAULT_BUS);
    m.data = Some(text_.trim_ascii());
    Ok(m)
}

fn parse(format: Format, text: &str) -> Result<Mapped<'_>, String> {
    match format {
        Format::Eventgrid => event_grid(text),
        Format::Eventbridge => eventbridge(text),
        _ => cdevent(text),
    }
}

/// Adds a mapped record: the event and its publish. `base` is the stream offset of `text`
/// (for payloads read back from the file).
fn add(
    store: &mut Store,
    input: u16,
    line: u64,
    m: Mapped<'_>,
    text: &str,
    base: u64,
    last_time: &mut Nanos,
) {
    let loc = super::cloudevents::count_record(store, input, line, &m.violations, &m.notes);
    let payload = m.data.and_then(|d| {
        let off = (d.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let offset = match &mut store.inputs[input as usize].payloads {
            PayloadSource::File(..) => base + off as u64,
            PayloadSource::Arena(arena) => {
                let at = arena.len() as u64;
                arena.extend_from_slice(d.as_bytes());
                at
            }
            PayloadSource::None => return None,
        };
        Some(PayloadRef {
            input,
            offset,
            len: d.len().min(u32::MAX as usize) as u32,
            json: true,
        })
    });
    let shape = m.data.filter(|d| d.starts_with('{')).and_then(object_shape);
    let extensions: Vec<(&str, NewExt)> = m
        .ext
        .iter()
        .map(|(k, v)| (*k, NewExt::Str(v.as_str())))
        .collect();
    let event = store.add_event(&NewEvent {
        source: &m.source,
        id: &m.id,
        ty: &m.ty,
        specversion: "",
        subject: m.subject.as_deref(),
        time: m.time,
        dataschema: m.dataschema.as_deref(),
        extensions,
        payload,
        payload_shape: shape.as_deref(),
        loc,
        ..Default::default()
    });
    let time = m.time.unwrap_or(*last_time);
    *last_time = time;
    let from = store.node(NodeClass::Service, &m.source);
    let to = store.channel_or_dead_letter(&m.channel);
    let mut o = Observation::new(Stage::Publish, time, event, from, to);
    o.loc = loc;
    o.untimed = m.time.is_none();
    store.add_observation(o);
}

/// A whole document: one record, or a JSON array of them (`line` is then the 1-based
/// position in the array).
pub fn load_document(store: &mut Store, input: u16, format: Format, bytes: &[u8]) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            store.inputs[input as usize].error(
                super::spans::LineIndex::new(bytes).line(e.valid_up_to()),
                format!(
                    "invalid UTF-8 at byte {}: the document cannot be read",
                    e.valid_up_to()
                ),
            );
            return;
        }
    };
    let mut last = 0;
    if text.trim_start().starts_with('[') {
        let elements: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                store.inputs[input as usize].error(
                    e.line() as u64,
                    format!("the array cannot be read: {}", super::json_error(&e)),
                );
                return;
            }
        };
        for (i, el) in elements.iter().enumerate() {
            let pos = i as u64 + 1;
            let s = el.get();
            let base = (s.as_ptr() as usize - text.as_ptr() as usize) as u64;
            match parse(format, s) {
                Ok(m) => add(store, input, pos, m, s, base, &mut last),
                Err(e) => store.inputs[input as usize].error(pos, format!("element {pos}: {e}")),
            }
        }
        return;
    }
    // One record, or several written one after another (each takes the line it starts on).
    let index = super::spans::LineIndex::new(text.as_bytes());
    let stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    for next in stream {
        match next {
            Ok(raw) => {
                let s = raw.get();
                let base = s.as_ptr() as usize - text.as_ptr() as usize;
                let line = index.line(base);
                match parse(format, s) {
                    Ok(m) => add(store, input, line, m, s, base as u64, &mut last),
                    Err(e) => store.inputs[input as usize].error(line, e),
                }
            }
            Err(e) => {
                store.inputs[input as usize].error(
                    e.line() as u64,
                    format!("the document cannot be read: {}", super::json_error(&e)),
                );
                break;
            }
        }
    }
}

/// Loads one chunk of records, one per line.
pub fn load_chunk(
    store: &mut Store,
    input: u16,
    format: Format,
    chunk: &Chunk,
    last_time: &mut Nanos,
) {
    use rayon::prelude::*;
    let lines = chunk.lines();
    let texts: Vec<Option<Result<&str, String>>> = lines
        .par_iter()
        .map(|(_, _, line)| {
            (!line.trim_ascii().is_empty()).then(|| {
                std::str::from_utf8(line).map_err(|e| {
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1)
                })
            })
        })
        .collect();
    for ((line, off, _), t) in lines.iter().zip(texts) {
        match t {
            None => {}
            Some(Err(e)) => store.inputs[input as usize].error(*line, e),
            Some(Ok(text)) => match parse(format, text) {
                Ok(m) => add(
                    store,
                    input,
                    *line,
                    m,
                    text,
                    chunk.offset + *off as u64,
                    last_time,
                ),
                Err(e) => store.inputs[input as usize].error(*line, e),
            },
        }
    }
}
