//! kcat `-J` JSON Lines: one Kafka message per line (`topic`, `partition`, `offset`,
//! `tstype`, `ts` in milliseconds, `broker`, `headers` as a flat `[k, v, k, v]` list or a
//! map, `key`, `payload` as a string), or several written back to back on one line (as
//! `kcat -P -J` accepts them). kcat's `%` status lines, found in a pasted terminal transcript,
//! are skipped. Each message is a publish onto the topic at `ts`:
//!
//! - `ce_*` headers are the CloudEvents Kafka binary mode (`content-type` is
//!   `datacontenttype`, the payload is `data`);
//! - a payload with `content-type: application/cloudevents+json` (or a JSON payload with
//!   `specversion` and no `ce_` headers) is structured mode;
//! - anything else still becomes an event: id `topic/partition/offset`, source
//!   `kafka://topic`, type the topic, producer unknown.
//!
//! A message on a dead-letter topic (`orders.dlq`) is a dead-letter observation from the
//! topic the same event was published on, if this input saw it.
//!
//! CloudEvents are checked by [`cloudevents::check`], the same rules as every other
//! CloudEvents input. The offset becomes the event's `sequence` and `topic/partition` its
//! partition key when the event has none. Payloads are JSON-escaped inside the line, so
//! this reader keeps the decoded bytes in the input's arena rather than file offsets.

use super::cloudevents::{self, RawEvent};
use super::jsonval::{Val, object_shape};
use super::lines::Chunk;
use crate::model::*;
use crate::time::{NANOS_PER_MS, Nanos};
use rayon::prelude::*;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    partition: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    tstype: Option<String>,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
}

/// kcat prints headers as a flat list `[k1, v1, k2, v2]`; other tools as a map.
#[derive(Default)]
struct Headers(Vec<(String, Option<String>)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("headers as a [key, value, ...] list or a {key: value} map")
            }
            fn visit_unit<E>(self) -> Result<Headers, E> {
                Ok(Headers::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = seq.next_element::<Option<String>>()? {
                    let v = seq.next_element::<Option<String>>()?.ok_or_else(|| {
                        de::Error::custom("headers list has a key without a value")
                    })?;
                    out.push((k.unwrap_or_default(), v));
                }
                Ok(Headers(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<String>>()? {
                    out.push((k, v));
                }
                Ok(Headers(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One message, parsed and checked, owning everything it needs.
struct Message {
    topic: String,
    partition: Option<i64>,
    offset: Option<i64>,
    ts: Option<Nanos>,
    /// Source, id, type, specversion (empty for non-CloudEvents).
    source: String,
    id: String,
    ty: String,
    specversion: String,
    subject: Option<String>,
    time: Option<Nanos>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    ext: Vec<(String, OwnedExt)>,
    payload: Option<(Vec<u8>, bool)>,
    shape: Option<String>,
    cloudevent: bool,
    violations: Vec<String>,
    notes: Vec<String>,
}

enum OwnedExt {
    Str(String),
    Int(i64),
    Bool(bool),
}

fn owned_ext(v: &Val<'_>) -> Option<OwnedExt> {
    Some(match v {
        Val::Str(s) => OwnedExt::Str(s.to_string()),
        Val::Int(i) => OwnedExt::Int(*i),
        Val::Bool(b) => OwnedExt::Bool(*b),
        _ => return None,
    })
}

fn is_json_type(ct: Option<&str>) -> bool {
    ct.is_none_or(|c| {
        let c = c
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        c == "application/json" || c.ends_with("+json") || c == "text/json"
    })
}

fn payload_info(bytes: &str, ct: Option<&str>) -> (bool, Option<String>) {
    let json = is_json_type(ct) && serde_json::from_str::<de::IgnoredAny>(bytes).is_ok();
    let shape = (json && bytes.trim_start().starts_with('{'))
        .then(|| object_shape(bytes))
        .flatten();
    (json, shape)
}

fn parse_line(text: &str) -> Result<Message, String> {
    let l: Line = serde_json::from_str(text).map_err(|e| super::json_error(&e))?;
    let topic = l
        .topic
        .filter(|t| !t.is_empty())
        .ok_or("topic is missing: not a kcat -J message")?;
    let ts = match (l.ts, l.tstype.as_deref()) {
        (_, Some("none")) | (None, _) => None,
        (Some(ms), _) if ms <= 0 => None,
        (Some(ms), _) => Some(
            ms.checked_mul(NANOS_PER_MS)
                .ok_or_else(|| format!("ts {ms} ms is out of range"))?,
        ),
    };
    let payload: Option<Cow<str>> = match l.payload {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if raw.get().starts_with('"') => Some(Cow::Owned(
            serde_json::from_str::<String>(raw.get()).map_err(|e| super::json_error(&e))?,
        )),
        // Some tools embed JSON payloads unquoted.
        Some(raw) => Some(Cow::Borrowed(raw.get())),
    };
    let headers = l.headers.unwrap_or_default().0;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    };
    let content_type = header("content-type");
    let ce_headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let name = k.get(..3).filter(|p| p.eq_ignore_ascii_case("ce_"))?;
            let _ = name;
            Some((&k[3..], v.as_deref().unwrap_or("")))
        })
        .collect();
    let mut m = Message {
        topic,
        partition: l.partition,
        offset: l.offset,
        ts,
        source: String::new(),
        id: String::new(),
        ty: String::new(),
        specversion: String::new(),
        subject: None,
        time: None,
        datacontenttype: content_type.map(str::to_string),
        dataschema: None,
        ext: Vec::new(),
        payload: None,
        shape: None,
        cloudevent: false,
        violations: Vec::new(),
        notes: Vec::new(),
    };
    let structured = ce_headers.is_empty()
        && payload.as_deref().is_some_and(|p| {
            let ct = content_type.map(str::to_ascii_lowercase);
            match ct.as_deref() {
                Some(c) if c.starts_with("application/cloudevents-batch") => false,
                Some(c) if c.starts_with("application/cloudevents") => true,
                _ => {
                    p.trim_start().starts_with('{')
                        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(p)
                            .is_ok_and(|o| o.contains_key("specversion"))
                }
            }
        });
    if !ce_headers.is_empty() {
        // Binary mode: attributes from the headers, data is the payload.
        let mut raw = RawEvent::default();
        for (name, value) in &ce_headers {
            let v = Val::Str(Cow::Borrowed(value));
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "specversion" => raw.specversion = Some(v),
                "id" => raw.id = Some(v),
                "source" => raw.source = Some(v),
                "type" => raw.ty = Some(v),
                "subject" => raw.subject = Some(v),
                "time" => raw.time = Some(v),
                "dataschema" => raw.dataschema = Some(v),
                "datacontenttype" if content_type.is_none() => raw.datacontenttype = Some(v),
                // The binding maps datacontenttype to `content-type`, never `ce_`.
                _ => raw.ext.push((Cow::Owned(lower), v)),
            }
        }
        if let Some(ct) = content_type {
            raw.datacontenttype = Some(Val::Str(Cow::Borrowed(ct)));
        }
        let c = cloudevents::check(raw, "").map_err(|e| format!("ce_ headers: {e}"))?;
        fill_checked(&mut m, &c);
        if let Some(p) = payload.as_deref() {
            let (json, shape) = payload_info(p, c.datacontenttype.as_deref());
            m.payload = Some((p.as_bytes().to_vec(), json));
            m.shape = shape;
        }
    } else if structured {
        let text = payload.as_deref().unwrap_or_default();
        let c = cloudevents::parse_and_check(text)
            .map_err(|e| format!("structured-mode CloudEvent in the payload: {e}"))?;
        fill_checked(&mut m, &c);
        if let Some((off, len, json)) = c.payload {
            m.payload = text
                .as_bytes()
                .get(off..off + len)
                .map(|b| (b.to_vec(), json));
        }
        m.shape = c.shape.clone();
    } else {
        // Not a CloudEvent: the message itself is the event.
        m.id = format!(
            "{}/{}/{}",
            m.topic,
            m.partition.map_or("-".to_string(), |p| p.to_string()),
            m.offset.map_or("-".to_string(), |o| o.to_string())
        );
        m.source = format!("kafka://{}", m.topic);
        m.ty = m.topic.clone();
        if let Some(p) = payload.as_deref() {
            let (json, shape) = payload_info(p, content_type);
            m.payload = Some((p.as_bytes().to_vec(), json));
            m.shape = shape;
        }
    }
    Ok(m)
}

fn fill_checked(m: &mut Message, c: &cloudevents::Checked<'_>) {
    m.cloudevent = true;
    m.source = c.source.as_deref().unwrap_or("(no source)").to_string();
    m.id = match &c.id {
        Some(id) => id.to_string(),
        None => format!(
            "(no id: {}/{}/{})",
            m.topic,
            m.partition.unwrap_or(-1),
            m.offset.unwrap_or(-1)
        ),
    };
    m.ty = c.ty.to_string();
    m.specversion = c.specversion.to_string();
    m.subject = c.subject.as_deref().map(str::to_string);
    m.time = c.time;
    m.datacontenttype = c.datacontenttype.as_deref().map(str::to_string);
    m.dataschema = c.dataschema.as_deref().map(str::to_string);
    m.ext = c
        .ext
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), owned_ext(v)?)))
        .collect();
    m.violations = c.violations.clone();
    m.notes = c.notes.clone();
}

/// What reading one kcat input remembers from chunk to chunk.
#[derive(Default, Debug)]
pub struct KcatState {
    /// Time of the previous message (for messages without a timestamp).
    pub last_time: Nanos,
    /// The topic each event was first published on, so a copy on a dead-letter topic is
    /// drawn from there.
    published_on: rustc_hash::FxHashMap<EventIdx, NodeId>,
}

/// Loads one chunk of kcat `-J` lines.
pub fn load_chunk(store: &mut Store, input: u16, chunk: &Chunk, state: &mut KcatState) {
    {
        // Payloads are JSON-escaped in the file: keep the decoded bytes instead.
        let p = &mut store.inputs[input as usize].payloads;
        if !matches!(p, PayloadSource::Arena(_)) {
            *p = PayloadSource::Arena(Vec::new());
        }
    }
    let lines = chunk.lines();
    let parsed: Vec<Vec<Result<Message, String>>> = lines
        .par_iter()
        .with_min_len(256)
        .map(|(_, _, line)| {
            let t = line.trim_ascii();
            // kcat's own status lines (`% Reached end of topic orders [0] at offset 4`,
            // `% Auto-selecting Consumer mode`) go to stderr, and end up in a pasted
            // terminal transcript: they are not messages.
            if t.is_empty() || t.first() == Some(&b'%') {
                return Vec::new();
            }
            match std::str::from_utf8(line) {
                Ok(text) => parse_records(text),
                Err(e) => vec![Err(format!(
                    "invalid UTF-8 at byte {} of the line",
                    e.valid_up_to() + 1
                ))],
            }
        })
        .collect();
    for ((line, _, _), results) in lines.iter().zip(parsed) {
        for result in results {
            match result {
                Ok(m) => add_message(store, input, *line, m, state),
                Err(e) => store.inputs[input as usize].error(*line, e),
            }
        }
    }
}

/// The messages of one line: `kcat -P -J` accepts records written back to back without a
/// newline (its test `0003-json.sh` produces two that way), so a line may hold several.
fn parse_records(text: &str) -> Vec<Result<Message, String>> {
    let mut out = Vec::with_capacity(1);
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    loop {
        match stream.next() {
            None => break,
            Some(Ok(raw)) => {
                let r = parse_line(raw.get());
                out.push(if out.is_empty() {
                    r
                } else {
                    r.map_err(|e| format!("record {} of the line: {e}", out.len() + 1))
                });
            }
            Some(Err(e)) => {
                let msg = super::json_error(&e);
                out.push(Err(if out.is_empty() {
                    msg
                } else {
                    format!("after {} record(s) on the line: {msg}", out.len())
                }));
                break;
            }
        }
    }
    out
}

fn add_message(store: &mut Store, input: u16, line: u64, m: Message, state: &mut KcatState) {
    let loc = RecordLoc {
        input,
        line: line.min(u32::MAX as u64) as u32,
    };
    {
        let inp = &mut store.inputs[input as usize];
        inp.records += 1;
        for v in &m.violations {
            inp.violation(line, v.clone());
        }
        for n in &m.notes {
            inp.note(line, n.clone());
        }
    }
    let payload = m.payload.as_ref().and_then(|(bytes, json)| {
        let PayloadSource::Arena(arena) = &mut store.inputs[input as usize].payloads else {
            return None;
        };
        let offset = arena.len() as u64;
        arena.extend_from_slice(bytes);
        Some(PayloadRef {
            input,
            offset,
            len: bytes.len().min(u32::MAX as usize) as u32,
            json: *json,
        })
    });
    let extensions: Vec<(&str, NewExt)> = m
        .ext
        .iter()
        .map(|(k, v)| {
            let v = match v {
                OwnedExt::Str(s) => NewExt::Str(s),
                OwnedExt::Int(i) => NewExt::Int(*i),
                OwnedExt::Bool(b) => NewExt::Bool(*b),
            };
            (k.as_str(), v)
        })
        .collect();
    let event = store.add_event(&NewEvent {
        kind: if m.specversion.is_empty() {
            EventKind::Message
        } else {
            EventKind::Cloudevent
        },
        source: &m.source,
        id: &m.id,
        ty: &m.ty,
        specversion: &m.specversion,
        subject: m.subject.as_deref(),
        time: m.time,
        datacontenttype: m.datacontenttype.as_deref(),
        dataschema: m.dataschema.as_deref(),
        extensions,
        payload,
        payload_shape: m.shape.as_deref(),
        trace: None,
        loc,
    });
    let partition_key = m.partition.map(|p| format!("{}/{p}", m.topic));
    {
        let pk = partition_key.as_deref().map(|k| store.intern(k));
        let ev = &mut store.events[event.0 as usize];
        if ev.sequence.is_none() {
            ev.sequence = m.offset;
        }
        if ev.partition_key.is_none()
            && let Some(pk) = pk
        {
            ev.partition_key = pk;
        }
    }
    let own_time = m.ts.or(m.time);
    let time = own_time.unwrap_or(state.last_time);
    state.last_time = time;
    let to = store.channel_or_dead_letter(&m.topic);
    let dead_letter = store.nodes[to.0 as usize].class == NodeClass::DeadLetter;
    let from = if dead_letter {
        // A copy on a dead-letter topic came from the topic the event was published on.
        state
            .published_on
            .get(&event)
            .copied()
            .unwrap_or(NodeId::NONE)
    } else if m.cloudevent {
        store.node(NodeClass::Service, &m.source)
    } else {
        // A plain Kafka message does not say who produced it.
        NodeId::NONE
    };
    if !dead_letter {
        state.published_on.entry(event).or_insert(to);
    }
    let stage = if dead_letter {
        Stage::DeadLetter
    } else {
        Stage::Publish
    };
    let mut o = Observation::new(stage, time, event, from, to);
    o.loc = loc;
    o.untimed = own_time.is_none();
    store.add_observation(o);
}
