//! kcat `-J` JSON Lines: one Kafka message per line (`topic`, `partition`, `offset`,
//! `tstype`, `ts` in milliseconds, `broker`, `headers` as a flat `[k, v, k, v]` list or a
//! map, `key`, `payload` as a string), or several written back to back on one line (as
//! `kcat -P -J` accepts them). kcat's `%` status lines, found in a pasted terminal transcript,
//! are skipped. Each message is a publish onto the topic at `ts`:
//!
//! - `ce_*` headers are the CloudEvents Kafka binary mode (`content-type` is
//!   `datacontenttype`, the payload is `data`);
//! - a payload with `content-type: application/cloudevents+json` (or a JSON payload with
//!   `specversion` and no `ce_` headers) is structured mode, and
//!   `application/cloudevents-batch+json` a batch;
//! - anything else still becomes an event: id `topic/partition/offset`, source
//!   `kafka://topic`, type the topic, producer unknown.
//!
//! The decoding is the live sources' own ([`crate::source::decode`]): a line becomes a
//! broker message and goes through the same CloudEvents binding code.
//!
//! A message on a dead-letter topic (`orders.dlq`) is a dead-letter observation from the
//! topic the same event was published on, if this input saw it.
//!
//! CloudEvents are checked by [`super::cloudevents::check`], the same rules as every other
//! CloudEvents input. The offset becomes the event's `sequence` and `topic/partition` its
//! partition key when the event has none. Payloads are JSON-escaped inside the line, so
//! this reader keeps the decoded bytes in the input's arena rather than file offsets.

use super::lines::Chunk;
use crate::model::*;
use crate::source::decode::{self, Attr, DecodedEvent};
use crate::source::{self};
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

/// One event of a message, decoded by the shared broker decoder, with the Kafka
/// coordinates it was read at.
struct Message {
    topic: String,
    partition: Option<i64>,
    offset: Option<i64>,
    ts: Option<Nanos>,
    ev: DecodedEvent,
}

/// A kcat record as the broker message it stands for, and its timestamp.
fn to_message(text: &str) -> Result<(source::Message, Option<Nanos>), String> {
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
                .filter(|&t| crate::time::in_range(t))
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
    let msg = source::Message {
        system: source::System::Kafka,
        channel: topic,
        headers: l
            .headers
            .unwrap_or_default()
            .0
            .into_iter()
            .filter_map(|(k, v)| Some((k, source::HeaderValue::Str(v?))))
            .collect(),
        content_type: None,
        key: None,
        payload: payload
            .map(|p| p.into_owned().into_bytes())
            .unwrap_or_default(),
        meta: source::BrokerMeta {
            partition: l.partition,
            offset: l.offset,
            broker_time: ts,
            ..Default::default()
        },
    };
    Ok((msg, ts))
}

/// A kcat line as a broker message, decoded by the CloudEvents Kafka binding (the one
/// decoder every live source uses): one event, or several for a batch.
fn parse_line(text: &str) -> Result<Vec<Message>, String> {
    let (msg, ts) = to_message(text)?;
    let decoded = decode::decode(&msg)?;
    let source::Message { channel, meta, .. } = msg;
    Ok(decoded
        .events
        .into_iter()
        .map(|ev| Message {
            topic: channel.clone(),
            partition: meta.partition,
            offset: meta.offset,
            ts,
            ev,
        })
        .collect())
}

/// The capture lines (`eventlens record`'s format) of one kcat line: each message of it
/// decoded as a broker source's would be, `broker` naming where it came from. A message
/// that claims to be a CloudEvent and is not is kept as a plain message, as `record` does
/// with a broker's; a line that is not a kcat record is the error.
pub fn capture_lines(text: &str, broker: &str) -> Result<Vec<String>, String> {
    let t = text.trim_ascii();
    if t.is_empty() || t.starts_with('%') {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(t).into_iter::<&RawValue>();
    for (i, raw) in stream.by_ref().enumerate() {
        let raw = raw.map_err(|e| super::json_error(&e))?;
        let (msg, _) = to_message(raw.get()).map_err(|e| {
            if i == 0 {
                e
            } else {
                format!("record {} of the line: {e}", i + 1)
            }
        })?;
        let (mode, events) = match decode::decode(&msg) {
            Ok(d) => (d.mode, d.events),
            Err(_) => (decode::Mode::Plain, vec![decode::plain(&msg)]),
        };
        for ev in &events {
            out.push(source::capture::capture_line(ev, &msg, mode, broker));
        }
    }
    Ok(out)
}

/// What reading one kcat input remembers from chunk to chunk.
#[derive(Clone, Default, Debug)]
pub struct KcatState {
    /// Time of the previous message (for messages without a timestamp).
    pub last_time: Nanos,
    /// The topic each event was first published on, so a copy on a dead-letter topic is
    /// drawn from there.
    published_on: rustc_hash::FxHashMap<EventIdx, NodeId>,
}

/// Payloads are JSON-escaped in the file: the input keeps the decoded bytes instead.
fn use_arena(store: &mut Store, input: u16) {
    let p = &mut store.inputs[input as usize].payloads;
    if !matches!(p, PayloadSource::Arena(_)) {
        *p = PayloadSource::Arena(Vec::new());
    }
}

/// The messages of one line; none for a blank line or one of kcat's own status lines
/// (`% Reached end of topic orders [0] at offset 4`, `% Auto-selecting Consumer mode`),
/// which go to stderr and end up in a pasted terminal transcript.
fn records_of(line: &[u8]) -> Vec<Result<Message, String>> {
    let t = line.trim_ascii();
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
}

/// Loads one chunk of kcat `-J` lines.
pub fn load_chunk(store: &mut Store, input: u16, chunk: &Chunk, state: &mut KcatState) {
    use_arena(store, input);
    let lines = chunk.lines();
    let parsed: Vec<Vec<Result<Message, String>>> = lines
        .par_iter()
        .with_min_len(256)
        .map(|(_, _, line)| records_of(line))
        .collect();
    for ((line, _, _), results) in lines.iter().zip(parsed) {
        add_results(store, input, *line, results, state);
    }
}

/// Adds kcat `-J` lines that arrived live (a pipe, a followed file), numbered from
/// `next_line`, with the state of the lines before them: the same decoding as a file's.
pub fn add_lines<S: AsRef<str>>(
    store: &mut Store,
    input: u16,
    lines: &[S],
    next_line: &mut u64,
    state: &mut KcatState,
) {
    use_arena(store, input);
    for line in lines {
        let n = *next_line;
        *next_line += 1;
        let results = records_of(line.as_ref().as_bytes());
        add_results(store, input, n, results, state);
    }
}

fn add_results(
    store: &mut Store,
    input: u16,
    line: u64,
    results: Vec<Result<Message, String>>,
    state: &mut KcatState,
) {
    for result in results {
        match result {
            Ok(m) => add_message(store, input, line, m, state),
            Err(e) => store.inputs[input as usize].error(line, e),
        }
    }
}

/// The messages of one line: `kcat -P -J` accepts records written back to back without a
/// newline (its test `0003-json.sh` produces two that way), so a line may hold several.
fn parse_records(text: &str) -> Vec<Result<Message, String>> {
    let mut out = Vec::with_capacity(1);
    let mut records = 0;
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    loop {
        match stream.next() {
            None => break,
            Some(Ok(raw)) => {
                records += 1;
                match parse_line(raw.get()) {
                    // A batch message gives several events.
                    Ok(events) => out.extend(events.into_iter().map(Ok)),
                    Err(e) if records == 1 => out.push(Err(e)),
                    Err(e) => out.push(Err(format!("record {records} of the line: {e}"))),
                }
            }
            Some(Err(e)) => {
                let msg = super::json_error(&e);
                out.push(Err(if records == 0 {
                    msg
                } else {
                    format!("after {records} record(s) on the line: {msg}")
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
        for v in &m.ev.violations {
            inp.violation(line, v.clone());
        }
        for n in &m.ev.notes {
            inp.note(line, n.clone());
        }
    }
    let ev = &m.ev;
    let payload = ev.data.as_ref().and_then(|d| {
        let (bytes, json) = (&d.bytes, &d.json);
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
    let extensions: Vec<(&str, NewExt)> = ev
        .extensions
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Attr::Str(s) => NewExt::Str(s),
                Attr::Int(i) => NewExt::Int(*i),
                Attr::Bool(b) => NewExt::Bool(*b),
            };
            (k.as_str(), v)
        })
        .collect();
    let event = store.add_event(&NewEvent {
        kind: if ev.cloudevent {
            EventKind::Cloudevent
        } else {
            EventKind::Message
        },
        source: &ev.source,
        id: &ev.id,
        ty: &ev.ty,
        specversion: &ev.specversion,
        subject: ev.subject.as_deref(),
        time: ev.time,
        datacontenttype: ev.datacontenttype.as_deref(),
        dataschema: ev.dataschema.as_deref(),
        extensions,
        payload,
        payload_shape: ev.shape.as_deref(),
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
    let own_time = m.ts.or(ev.time);
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
    } else if ev.cloudevent {
        store.node(NodeClass::Service, &ev.source)
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
