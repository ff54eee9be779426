//! CloudEvents 1.0 JSON (single event, batch array, JSON Lines) and eventlens captures
//! (CloudEvents JSON Lines whose `lens*` extensions and `recordedtime` carry the
//! observation). Each event is checked against the spec; an event with a `source` or an `id`
//! to place it by is kept and its violations reported, anything else is an error.

use super::jsonval::{Key, Val, object_shape};
use crate::model::*;
use crate::time::{Nanos, no_time_reason, parse_rfc3339};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The channel used when a CloudEvent says nothing about where it was published.
pub const DEFAULT_BUS: &str = "event-bus";

/// Dapr's pub/sub extensions: the `topic` an event was published to and the `pubsubname`
/// of the component (the bus) it went through.
fn dapr_topic<'c>(ext: &'c [(Cow<'_, str>, Val<'_>)]) -> Option<(&'c str, &'c str)> {
    let get = |name: &str| {
        ext.iter().find_map(|(k, v)| match v {
            Val::Str(s) if k == name && !s.is_empty() => Some(s.as_ref()),
            _ => None,
        })
    };
    Some((get("topic")?, get("pubsubname")?))
}

/// Extension names of the eventlens capture format (see README, "Capture format").
pub mod ext {
    pub const RECORDED_TIME: &str = "recordedtime";
    pub const STAGE: &str = "lensstage";
    pub const CHANNEL: &str = "lenschannel";
    pub const HANDLER: &str = "lenshandler";
    pub const STORE: &str = "lensstore";
    pub const DEAD_LETTER: &str = "lensdeadletter";
    pub const ATTEMPT: &str = "lensattempt";
    pub const OUTCOME: &str = "lensoutcome";
    pub const DURATION_US: &str = "lensdurationus";
    pub const COLD_START: &str = "lenscoldstart";
    pub const REASON: &str = "lensreason";
    pub const BROKER: &str = "lensbroker";
    /// Why a live message that claimed to be a CloudEvent could not be read as one (it was
    /// kept as a plain message): a violation of the record that carries it.
    pub const UNDECODABLE: &str = "lensundecodable";
    /// `lensstage` of a declared-topology record (see [`DeclaredObs`]).
    pub const DECLARED_STAGE: &str = "declared";
    /// Declared records: what the broker calls the consumer (`jetstream-consumer`,
    /// `rabbitmq-queue`, `redis-group`).
    pub const DECLARED_KIND: &str = "lensdeclaredkind";
    /// Declared records: the technology (`nats`, `rabbitmq`, `redis`).
    pub const SYSTEM: &str = "lenssystem";
    /// Declared records: the filter subject or binding key.
    pub const FILTER: &str = "lensfilter";
    /// Declared records: the broker's figures (decimal strings or integers).
    pub const DELIVERED: &str = "lensdelivered";
    pub const PENDING: &str = "lenspending";
    pub const ACK_PENDING: &str = "lensackpending";
    pub const CONSUMERS: &str = "lensconsumers";
}

/// A CloudEvent as it appears in JSON, attributes borrowed from the input.
#[derive(Default, Debug, PartialEq)]
pub struct RawEvent<'a> {
    pub specversion: Option<Val<'a>>,
    pub id: Option<Val<'a>>,
    pub source: Option<Val<'a>>,
    pub ty: Option<Val<'a>>,
    pub subject: Option<Val<'a>>,
    pub time: Option<Val<'a>>,
    pub datacontenttype: Option<Val<'a>>,
    pub dataschema: Option<Val<'a>>,
    /// The JSON text of `data` (absent when `null`).
    pub data: Option<&'a str>,
    pub data_base64: Option<Val<'a>>,
    pub ext: Vec<(Cow<'a, str>, Val<'a>)>,
}

impl<'a> RawEvent<'a> {
    /// Sets an attribute read from JSON (a later duplicate wins, as with any JSON object).
    #[inline]
    pub fn set(&mut self, name: Cow<'a, str>, v: Val<'a>) {
        // By length first: most keys are settled by one integer compare.
        let k = name.as_bytes();
        let slot = match k.len() {
            2 if k == b"id" => &mut self.id,
            4 if k == b"type" => &mut self.ty,
            4 if k == b"time" => &mut self.time,
            6 if k == b"source" => &mut self.source,
            7 if k == b"subject" => &mut self.subject,
            10 if k == b"dataschema" => &mut self.dataschema,
            11 if k == b"specversion" => &mut self.specversion,
            11 if k == b"data_base64" => &mut self.data_base64,
            15 if k == b"datacontenttype" => &mut self.datacontenttype,
            _ => {
                self.ext.push((name, v));
                return;
            }
        };
        *slot = (!matches!(v, Val::Null)).then_some(v);
    }

    /// Sets `data` from its JSON text.
    pub fn set_data(&mut self, json: &'a str) {
        self.data = (json != "null").then_some(json);
    }
}

struct RawEventVisitor;

impl<'de> Visitor<'de> for RawEventVisitor {
    type Value = RawEvent<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudEvent (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEvent<'de>, A::Error> {
        let mut ev = RawEvent::default();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if k == "data" {
                let raw: &'de RawValue = map.next_value()?;
                ev.set_data(raw.get());
            } else {
                let v: Val<'de> = map.next_value()?;
                ev.set(k, v);
            }
        }
        Ok(ev)
    }
}

impl<'de> de::Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawEventVisitor)
    }
}

/// The observation a capture line carries.
#[derive(Debug, Default)]
pub struct CaptureObs<'a> {
    pub recorded: Option<Nanos>,
    pub stage: Option<Stage>,
    pub channel: Option<Cow<'a, str>>,
    pub handler: Option<Cow<'a, str>>,
    pub store: Option<Cow<'a, str>>,
    pub dead_letter: Option<Cow<'a, str>>,
    pub attempt: u16,
    pub outcome: Outcome,
    pub duration_us: Option<i64>,
    pub cold_start: bool,
    pub reason: Option<Cow<'a, str>>,
    pub broker: Option<Cow<'a, str>>,
    /// `lensstage: "declared"`: the line is a declared-topology record, not an
    /// observation.
    pub declared: Option<DeclaredObs<'a>>,
    pub declared_record: bool,
}

/// A declared-topology record: the broker told of a consumer (`lenshandler`) of a channel
/// (`lenschannel`), with its figures as of `recordedtime`.
#[derive(Debug, Default)]
pub struct DeclaredObs<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub system: Option<Cow<'a, str>>,
    pub filter: Option<Cow<'a, str>>,
    pub delivered: Option<u64>,
    pub pending: Option<u64>,
    pub ack_pending: Option<u64>,
    pub consumers: Option<u64>,
}

/// An event after checking: attributes, violations, and where its payload is in the line.
#[derive(Debug, Default)]
pub struct Checked<'a> {
    pub specversion: Cow<'a, str>,
    pub id: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub ty: Cow<'a, str>,
    pub subject: Option<Cow<'a, str>>,
    pub time: Option<Nanos>,
    pub datacontenttype: Option<Cow<'a, str>>,
    pub dataschema: Option<Cow<'a, str>>,
    pub ext: Vec<(Cow<'a, str>, Val<'a>)>,
    /// Byte range of `data` (JSON) or the `data_base64` string within the parsed text.
    pub payload: Option<(usize, usize, bool)>,
    pub shape: Option<String>,
    pub capture: Option<CaptureObs<'a>>,
    pub violations: Vec<String>,
    /// What was read differently from what the record says, and why (not violations): a
    /// placeholder time taken as no time.
    pub notes: Vec<String>,
    /// [`event_key_hash`] of `source` + `id`, or 0.
    pub key_hash: u64,
}

fn valid_attr_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// RFC 2045 token characters: visible ASCII except tspecials.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = !matches!(
            b as u8,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        );
        b += 1;
    }
    t
};

/// RFC 2046 `type/subtype` with token characters, parameters allowed.
fn valid_media_type(s: &str) -> bool {
    if s == "application/json" {
        return true;
    }
    let essence = s.split(';').next().unwrap_or("").trim();
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| TOKEN[b as usize]);
    match essence.split_once('/') {
        Some((t, st)) => token(t) && token(st),
        None => false,
    }
}

fn string_attr<'a>(
    name: &str,
    v: Option<Val<'a>>,
    required: bool,
    violations: &mut Vec<String>,
) -> Option<Cow<'a, str>> {
    match v {
        None if required => {
            violations.push(format!(
                "{name}: required attribute is missing (CloudEvents 1.0: REQUIRED attribute)"
            ));
            None
        }
        None => None,
        Some(Val::Str(s)) if s.is_empty() => {
            let rule = if required {
                "REQUIRED attributes must be non-empty strings"
            } else {
                "if present, MUST be a non-empty string"
            };
            violations.push(format!(
                "{name}: is an empty string (CloudEvents 1.0: {rule})"
            ));
            None
        }
        Some(Val::Str(s)) => Some(s),
        Some(other) => {
            violations.push(format!(
                "{name}: must be a String, got {} (CloudEvents 1.0: attribute type String)",
                other.kind()
            ));
            match other {
                Val::Int(i) => Some(Cow::Owned(i.to_string())),
                Val::Bool(b) => Some(Cow::Owned(b.to_string())),
                _ => None,
            }
        }
    }
}

/// Checks a parsed event against the CloudEvents 1.0 spec and splits off capture fields.
/// `base` is the text the event was parsed from (payload offsets are relative to it).
pub fn check<'a>(raw: RawEvent<'a>, base: &'a str) -> Result<Checked<'a>, String> {
    let mut v = Vec::new();
    let specversion = match raw.specversion {
        None => {
            v.push(
                "specversion: required attribute is missing (CloudEvents 1.0: REQUIRED attribute)"
                    .to_string(),
            );
            Cow::Borrowed("")
        }
        Some(Val::Str(s)) if s == "1.0" => s,
        Some(Val::Str(s)) if s.is_empty() => {
            v.push("specversion: is an empty string (CloudEvents 1.0: REQUIRED attributes must be non-empty strings)".into());
            s
        }
        Some(Val::Str(s)) => {
            v.push(format!("specversion: \"{}\" is not supported (CloudEvents 1.0: specversion MUST be \"1.0\")", escape_msg(&s)));
            s
        }
        Some(o) => {
            v.push(format!(
                "specversion: must be a String, got {} (CloudEvents 1.0: attribute type String)",
                o.kind()
            ));
            Cow::Borrowed("")
        }
    };
    let id = string_attr("id", raw.id, true, &mut v);
    let source = string_attr("source", raw.source, true, &mut v);
    let ty = string_attr("type", raw.ty, true, &mut v).unwrap_or(Cow::Borrowed(""));
    let subject = string_attr("subject", raw.subject, false, &mut v);
    let dataschema = string_attr("dataschema", raw.dataschema, false, &mut v);
    let datacontenttype = string_attr("datacontenttype", raw.datacontenttype, false, &mut v);
    if let Some(ct) = &datacontenttype
        && !valid_media_type(ct)
    {
        v.push(format!(
            "datacontenttype: \"{}\" is not an RFC 2046 media type (CloudEvents 1.0: datacontenttype MUST adhere to RFC 2046, type/subtype)",
            escape_msg(ct)
        ));
    }
    let mut notes = Vec::new();
    let time = match string_attr("time", raw.time, false, &mut v) {
        Some(t) => match parse_rfc3339(&t) {
            r if no_time_reason(&r).is_some() => {
                notes.push(format!(
                    "time \"{}\" {}",
                    escape_msg(&t),
                    no_time_reason(&r).unwrap_or_default()
                ));
                None
            }
            Ok(n) => Some(n),
            Err(e) => {
                v.push(format!(
                    "time: \"{}\" is {e} (CloudEvents 1.0: time MUST adhere to RFC 3339)",
                    escape_msg(&t)
                ));
                None
            }
        },
        None => None,
    };
    if source.is_none() && id.is_none() {
        let mut msg = "neither source nor id: nothing to identify the event by".to_string();
        if let Some(first) = v.first() {
            msg.push_str("; ");
            msg.push_str(first);
        }
        return Err(msg);
    }
    let offset_of = |s: &str| s.as_ptr() as usize - base.as_ptr() as usize;
    let mut payload = None;
    let mut shape = None;
    if let Some(s) = raw.data {
        payload = Some((offset_of(s), s.len(), true));
    }
    match raw.data_base64 {
        None => {}
        Some(Val::Str(b)) => {
            if payload.is_some() {
                v.push("data, data_base64: both present (CloudEvents JSON format: data and data_base64 are mutually exclusive)".into());
            } else {
                use base64::Engine;
                if base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .is_err()
                {
                    v.push("data_base64: is not valid base64 (CloudEvents JSON format: data_base64 carries Base64-encoded binary data)".into());
                }
                if let Cow::Borrowed(bs) = b {
                    payload = Some((offset_of(bs), bs.len(), false));
                }
            }
        }
        Some(o) => v.push(format!(
            "data_base64: must be a String, got {} (CloudEvents JSON format)",
            o.kind()
        )),
    }
    let mut capture: Option<CaptureObs<'a>> = None;
    let mut ext = raw.ext;
    // Filtered in place: what is left are the event's own extensions.
    ext.retain_mut(|(name, value)| {
        let field = CaptureField::of(name);
        // The capture's own names are valid; only others need the check.
        if field.is_none() && !valid_attr_name(name) {
            v.push(format!(
                "extension \"{}\": invalid attribute name (CloudEvents 1.0: names MUST consist of lower-case letters a-z or digits 0-9)",
                escape_msg(name)
            ));
        }
        match &*value {
            Val::Null => return false,
            Val::Float(f) => v.push(format!(
                "extension \"{}\": {f} is not an Integer (CloudEvents 1.0: extension values are String, Integer or Boolean; Integer is a whole 32-bit number)",
                escape_msg(name)
            )),
            Val::Int(i) if i32::try_from(*i).is_err() => v.push(format!(
                "extension \"{}\": {i} is outside the 32-bit Integer range (CloudEvents 1.0: Integer)",
                escape_msg(name)
            )),
            Val::Object | Val::Array => v.push(format!(
                "extension \"{}\": a JSON {} is not a valid attribute value (CloudEvents 1.0: String, Integer or Boolean)",
                escape_msg(name),
                value.kind()
            )),
            _ => {}
        }
        if field.is_none() && !name.starts_with("lens") {
            return true;
        }
        let c = capture.get_or_insert_with(CaptureObs::default);
        if let Some(f) = field {
            capture_field(c, f, std::mem::replace(value, Val::Null), &mut v, &mut notes);
        }
        false
    });
    // The shape is kept from an event's first sighting, which is its publish: skip the work
    // on the other observations of a capture.
    let first_sighting = capture
        .as_ref()
        .is_none_or(|c| matches!(c.stage, None | Some(Stage::Publish)));
    if first_sighting
        && let Some(d) = raw.data
        && d.starts_with('{')
    {
        shape = object_shape(d);
    }
    let key_hash = match (&source, &id) {
        (Some(s), Some(i)) => event_key_hash(s, i),
        _ => 0,
    };
    Ok(Checked {
        key_hash,
        specversion,
        id,
        source,
        ty,
        subject,
        time,
        datacontenttype,
        dataschema,
        ext,
        payload,
        shape,
        capture,
        violations: v,
        notes,
    })
}

/// A capture extension (see [`ext`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CaptureField {
    RecordedTime,
    Stage,
    Channel,
    Handler,
    Store,
    DeadLetter,
    Attempt,
    Outcome,
    DurationUs,
    ColdStart,
    Reason,
    Broker,
    Undecodable,
    DeclaredKind,
    System,
    Filter,
    Delivered,
    Pending,
    AckPending,
    Consumers,
}

impl CaptureField {
    fn of(name: &str) -> Option<Self> {
        if !name.starts_with("lens") && name != ext::RECORDED_TIME {
            return None;
        }
        Some(match name {
            ext::RECORDED_TIME => Self::RecordedTime,
            ext::STAGE => Self::Stage,
            ext::CHANNEL => Self::Channel,
            ext::HANDLER => Self::Handler,
            ext::STORE => Self::Store,
            ext::DEAD_LETTER => Self::DeadLetter,
            ext::ATTEMPT => Self::Attempt,
            ext::OUTCOME => Self::Outcome,
            ext::DURATION_US => Self::DurationUs,
            ext::COLD_START => Self::ColdStart,
            ext::REASON => Self::Reason,
            ext::BROKER => Self::Broker,
            ext::UNDECODABLE => Self::Undecodable,
            ext::DECLARED_KIND => Self::DeclaredKind,
            ext::SYSTEM => Self::System,
            ext::FILTER => Self::Filter,
            ext::DELIVERED => Self::Delivered,
            ext::PENDING => Self::Pending,
            ext::ACK_PENDING => Self::AckPending,
            ext::CONSUMERS => Self::Consumers,
            _ => return None,
        })
    }
}

fn capture_field<'a>(
    c: &mut CaptureObs<'a>,
    field: CaptureField,
    value: Val<'a>,
    v: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let as_int = |value: &Val<'a>| match value {
        Val::Int(i) => Some(*i),
        Val::Str(s) => s.parse().ok(),
        _ => None,
    };
    match field {
        CaptureField::RecordedTime => match value.as_str().map(parse_rfc3339) {
            Some(r) if no_time_reason(&r).is_some() => notes.push(format!(
                "recordedtime \"{}\" {}",
                escape_msg(value.as_str().unwrap_or_default()),
                no_time_reason(&r).unwrap_or_default()
            )),
            Some(Ok(t)) => c.recorded = Some(t),
            Some(Err(e)) => v.push(format!("recordedtime: is {e} (CloudEvents recordedtime extension: RFC 3339 Timestamp)")),
            None => v.push(format!("recordedtime: must be a Timestamp string, got {}", value.kind())),
        },
        CaptureField::Stage if value.as_str() == Some(ext::DECLARED_STAGE) => {
            c.declared_record = true;
        }
        CaptureField::Stage => match value.as_str().and_then(Stage::parse) {
            Some(s) => c.stage = Some(s),
            None => v.push(format!(
                "lensstage: \"{}\" is not a stage (eventlens capture: publish, deliver, handle, store or deadletter)",
                escape_msg(value.as_str().unwrap_or(value.kind()))
            )),
        },
        CaptureField::Channel => c.channel = string_val(value),
        CaptureField::Handler => c.handler = string_val(value),
        CaptureField::Store => c.store = string_val(value),
        CaptureField::DeadLetter => c.dead_letter = string_val(value),
        CaptureField::Reason => c.reason = string_val(value),
        CaptureField::Attempt => c.attempt = as_int(&value).unwrap_or(0).clamp(0, u16::MAX as i64) as u16,
        CaptureField::DurationUs => c.duration_us = as_int(&value),
        CaptureField::ColdStart => c.cold_start = matches!(value, Val::Bool(true)) || value.as_str() == Some("true"),
        CaptureField::Outcome => match value.as_str().and_then(Outcome::parse) {
            Some(o) => c.outcome = o,
            None => v.push(format!(
                "lensoutcome: \"{}\" is not an outcome (eventlens capture: ok, error, timeout)",
                escape_msg(value.as_str().unwrap_or(value.kind()))
            )),
        },
        CaptureField::Broker => c.broker = string_val(value),
        CaptureField::Undecodable => v.push(format!(
            "not read as the CloudEvent it claims to be (kept as a plain message): {}",
            value.as_str().unwrap_or(value.kind())
        )),
        CaptureField::DeclaredKind => c.declared.get_or_insert_with(DeclaredObs::default).kind = string_val(value),
        CaptureField::System => c.declared.get_or_insert_with(DeclaredObs::default).system = string_val(value),
        CaptureField::Filter => c.declared.get_or_insert_with(DeclaredObs::default).filter = string_val(value),
        CaptureField::Delivered => c.declared.get_or_insert_with(DeclaredObs::default).delivered = as_int(&value).and_then(|i| u64::try_from(i).ok()),
        CaptureField::Pending => c.declared.get_or_insert_with(DeclaredObs::default).pending = as_int(&value).and_then(|i| u64::try_from(i).ok()),
        CaptureField::AckPending => c.declared.get_or_insert_with(DeclaredObs::default).ack_pending = as_int(&value).and_then(|i| u64::try_from(i).ok()),
        CaptureField::Consumers => c.declared.get_or_insert_with(DeclaredObs::default).consumers = as_int(&value).and_then(|i| u64::try_from(i).ok()),
    }
}

fn string_val(v: Val<'_>) -> Option<Cow<'_, str>> {
    match v {
        Val::Str(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Shortens and escapes an untrusted value for an error message (no control characters).
pub fn escape_msg(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses one JSON text as a CloudEvent and checks it.
pub fn parse_and_check(text: &str) -> Result<Checked<'_>, String> {
    let raw: RawEvent = match super::scan::event(text) {
        Some(raw) => raw,
        None => serde_json::from_str(text).map_err(|e| super::json_error(&e))?,
    };
    check(raw, text)
}

/// Counts one record read on `line` of `input`, with its spec violations and notes;
/// returns where it was read.
pub(crate) fn count_record(
    store: &mut Store,
    input: u16,
    line: u64,
    violations: &[String],
    notes: &[String],
) -> RecordLoc {
    let inp = &mut store.inputs[input as usize];
    inp.records += 1;
    for msg in violations {
        inp.violation(line, msg.clone());
    }
    for msg in notes {
        inp.note(line, msg.clone());
    }
    RecordLoc {
        input,
        line: line.min(u32::MAX as u64) as u32,
    }
}

/// Adds a checked event and its observation to the store. `payload_base` is the stream
/// offset of the text the event was parsed from; `text` is that text.
pub fn add_checked(
    store: &mut Store,
    input: u16,
    line: u64,
    c: &mut Checked<'_>,
    text: &str,
    payload_base: u64,
    last_time: &mut Nanos,
) {
    let loc = count_record(store, input, line, &c.violations, &c.notes);
    if c.capture.as_ref().is_some_and(|cap| cap.declared_record) {
        add_declared(store, input, line, c, last_time);
        return;
    }
    let payload = c.payload.and_then(|(off, len, json)| {
        let offset = match &mut store.inputs[input as usize].payloads {
            PayloadSource::File(..) => payload_base + off as u64,
            PayloadSource::Arena(arena) => {
                let at = arena.len() as u64;
                arena.extend_from_slice(text.as_bytes().get(off..off + len)?);
                at
            }
            PayloadSource::None => return None,
        };
        Some(PayloadRef {
            input,
            offset,
            len: len as u32,
            json,
        })
    });
    let missing_id;
    let id = match &c.id {
        Some(id) => id.as_ref(),
        None => {
            missing_id = format!("(no id: line {line})");
            &missing_id
        }
    };
    let source = c.source.as_deref().unwrap_or("(no source)");
    // Most lines of a capture are later sightings of a known event: skip building it again.
    let event = match store.existing_event_hashed(source, id, c.key_hash) {
        Some(e) => {
            let ev = &mut store.events[e.0 as usize];
            if ev.payload.is_none() && payload.is_some() {
                ev.payload = payload;
                ev.payload_shape = store.strings.intern_opt(c.shape.as_deref());
            }
            e
        }
        None => {
            let extensions: Vec<(&str, NewExt)> = c
                .ext
                .iter()
                .filter_map(|(k, v)| {
                    let e = match v {
                        Val::Str(s) => NewExt::Str(s),
                        Val::Int(i) => NewExt::Int(*i),
                        Val::Bool(b) => NewExt::Bool(*b),
                        _ => return None,
                    };
                    Some((k.as_ref(), e))
                })
                .collect();
            let e = store.add_event(&NewEvent {
                kind: EventKind::Cloudevent,
                source,
                id,
                ty: &c.ty,
                specversion: &c.specversion,
                subject: c.subject.as_deref(),
                time: c.time,
                datacontenttype: c.datacontenttype.as_deref(),
                dataschema: c.dataschema.as_deref(),
                extensions,
                payload,
                payload_shape: c.shape.as_deref(),
                trace: None,
                loc,
            });
            store.note_recent(c.key_hash, e);
            e
        }
    };
    let cap = c.capture.take().unwrap_or_default();
    let own_time = cap.recorded.or(c.time);
    let time = own_time.unwrap_or(*last_time);
    *last_time = time;
    let stage = cap.stage.unwrap_or(Stage::Publish);
    let channel = cap.channel.as_deref();
    let handler = cap.handler.as_deref();
    let (from, to) = match stage {
        Stage::Publish => {
            let from = store.node(NodeClass::Service, source);
            let to = match (channel, dapr_topic(&c.ext)) {
                (Some(ch), _) => store.channel_or_dead_letter(ch),
                // Dapr names the topic and the pub/sub component it went through.
                (None, Some((topic, pubsub))) => {
                    let n = store.channel_or_dead_letter(topic);
                    store.describe_node(n, Some("dapr"), Some(pubsub));
                    n
                }
                (None, None) => store.channel_or_dead_letter(DEFAULT_BUS),
            };
            (from, to)
        }
        Stage::Deliver | Stage::Handle => {
            let Some(h) = handler else {
                store.inputs[input as usize].violation(
                    line,
                    format!(
                        "lenshandler: missing on a {} observation (eventlens capture)",
                        stage.as_str()
                    ),
                );
                return;
            };
            let from = match channel {
                Some(ch) => store.channel_or_dead_letter(ch),
                None if stage == Stage::Deliver => store.node(NodeClass::Channel, DEFAULT_BUS),
                None => NodeId::NONE,
            };
            (from, store.node(NodeClass::Service, h))
        }
        Stage::Store => {
            let (Some(h), Some(s)) = (handler, cap.store.as_deref()) else {
                store.inputs[input as usize].violation(line, "lenshandler, lensstore: both required on a store observation (eventlens capture)");
                return;
            };
            (
                store.node(NodeClass::Service, h),
                store.node(NodeClass::Store, s),
            )
        }
        Stage::DeadLetter => {
            let from = match (channel, handler) {
                (Some(ch), _) => store.node(NodeClass::Channel, ch),
                (None, Some(h)) => store.node(NodeClass::Service, h),
                (None, None) => store.node(NodeClass::Channel, DEFAULT_BUS),
            };
            let dlq = match (&cap.dead_letter, channel) {
                (Some(d), _) => d.to_string(),
                (None, Some(ch)) => format!("{ch}.dlq"),
                (None, None) => format!("{DEFAULT_BUS}.dlq"),
            };
            (from, store.node(NodeClass::DeadLetter, &dlq))
        }
        Stage::Call => {
            store.inputs[input as usize].violation(
                line,
                "lensstage: \"call\" is not a capture stage (publish, deliver, handle, store, deadletter)",
            );
            return;
        }
    };
    let mut obs = Observation::new(stage, time, event, from, to);
    obs.attempt = cap.attempt;
    obs.outcome = cap.outcome;
    obs.duration = cap.duration_us.map_or(-1, |us| us.saturating_mul(1000));
    obs.cold_start = cap.cold_start;
    obs.reason = cap.reason.as_deref().map_or(Sym::NONE, |r| store.intern(r));
    obs.loc = loc;
    obs.untimed = own_time.is_none();
    store.add_observation(obs);
}

/// A declared-topology record (`lensstage: "declared"`): the consumer `lenshandler` of
/// `lenschannel`, with the broker's figures as of `recordedtime`. Not an event.
fn add_declared(store: &mut Store, input: u16, line: u64, c: &mut Checked<'_>, last_time: &Nanos) {
    let cap = c.capture.take().unwrap_or_default();
    let d = cap.declared.unwrap_or_default();
    let (Some(channel), Some(consumer)) = (cap.channel.as_deref(), cap.handler.as_deref()) else {
        store.inputs[input as usize].violation(
            line,
            "lenschannel, lenshandler: both required on a declared record (eventlens capture)",
        );
        return;
    };
    // Not an observation: the time of the records around it is left alone.
    let time = cap.recorded.or(c.time).unwrap_or(*last_time);
    store.add_declared(&NewDeclared {
        channel,
        consumer,
        kind: d.kind.as_deref().unwrap_or("consumer"),
        filter: d.filter.as_deref(),
        system: d.system.as_deref(),
        address: cap.broker.as_deref(),
        figures: DeclaredFigures {
            time,
            delivered: d.delivered,
            pending: d.pending,
            ack_pending: d.ack_pending,
            consumers: d.consumers,
        },
    });
}

/// A single event in a whole document.
pub fn load_single(store: &mut Store, input: u16, bytes: &[u8]) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            store.inputs[input as usize]
                .error(1, format!("invalid UTF-8 at byte {}", e.valid_up_to()));
            return;
        }
    };
    let mut last = 0;
    match parse_and_check(text) {
        Ok(mut c) => add_checked(store, input, 1, &mut c, text, 0, &mut last),
        Err(e) => store.inputs[input as usize].error(1, e),
    }
}

/// A JSON array of CloudEvents (`application/cloudevents-batch+json`); `line` is the
/// element's 1-based position in the array.
pub fn load_array(store: &mut Store, input: u16, bytes: &[u8]) {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            store.inputs[input as usize].error(
                1,
                format!(
                    "invalid UTF-8 at byte {}: the batch cannot be read",
                    e.valid_up_to()
                ),
            );
            return;
        }
    };
    let elements: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            store.inputs[input as usize].error(
                e.line() as u64,
                format!("the batch array cannot be read: {}", super::json_error(&e)),
            );
            return;
        }
    };
    let mut last = 0;
    for (i, el) in elements.iter().enumerate() {
        let pos = i as u64 + 1;
        let s = el.get();
        if !s.starts_with('{') {
            let kind = serde_json::from_str::<Val>(s)
                .map(|v| v.kind())
                .unwrap_or("value");
            store.inputs[input as usize].error(
                pos,
                format!("batch element {pos} is a {kind}, not a CloudEvent object"),
            );
            continue;
        }
        let base = s.as_ptr() as usize - text.as_ptr() as usize;
        match parse_and_check(s) {
            Ok(mut c) => add_checked(store, input, pos, &mut c, s, base as u64, &mut last),
            Err(e) => store.inputs[input as usize].error(pos, e),
        }
    }
}
