//! The one transport-neutral decoder: a broker [`Message`] becomes events by the CloudEvents
//! protocol binding of its transport.
//!
//! - **Binary mode**: the attributes are headers with the binding's prefix (`ce-` for HTTP
//!   and NATS, percent-decoded; `ce_` for Kafka; `cloudEvents:` or `cloudEvents_` for AMQP
//!   application properties; unprefixed MQTT 5 user properties or Redis stream fields when
//!   one of them is `specversion`). The content type is `datacontenttype`, the payload is
//!   `data`.
//! - **Structured mode**: content type `application/cloudevents+json`, or (no binary
//!   attributes) a JSON object payload with `specversion`: the payload is the event.
//! - **Batch**: content type `application/cloudevents-batch+json`, a JSON array of events.
//! - Anything else is a **plain message** and still an event: its id is the broker's
//!   message id, else `channel/partition/offset`, else `stream/sequence`, else a hash of the
//!   payload; its source `scheme://channel`; its type the channel (the routing key on AMQP).
//!
//! Every CloudEvent goes through [`cloudevents::check`], the rules every file input uses.
//! Nothing here does I/O or knows the store.

use super::message::{HeaderValue, Message, System};
use super::url::percent_decode;
use crate::ingest::cloudevents::{self, RawEvent};
use crate::ingest::jsonval::{Val, object_shape};
use crate::time::Nanos;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// How a message carried its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Binary,
    Structured,
    Batch,
    /// Not a CloudEvent: the message itself is the event.
    Plain,
}

/// An extension attribute value (CloudEvents String, Integer or Boolean).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// An event's data as bytes, and whether it is JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct Payload {
    pub bytes: Vec<u8>,
    pub json: bool,
}

/// One event decoded from a message, owning everything it needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedEvent {
    /// Read as a CloudEvent (binary, structured or batch mode), not a plain message.
    pub cloudevent: bool,
    /// Empty for a plain message.
    pub specversion: String,
    pub id: String,
    pub source: String,
    pub ty: String,
    pub subject: Option<String>,
    pub time: Option<Nanos>,
    /// `time` as the event wrote it.
    pub time_text: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub extensions: Vec<(String, Attr)>,
    pub data: Option<Payload>,
    /// The JSON object shape of the data (schema drift), when it is a JSON object.
    pub shape: Option<String>,
    /// CloudEvents rules the event breaks (it is kept all the same).
    pub violations: Vec<String>,
    /// What was read differently from what the event says, and why (not violations).
    pub notes: Vec<String>,
}

/// What a message decoded to.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub mode: Mode,
    pub events: Vec<DecodedEvent>,
}

/// Where a binding puts the binary-mode attributes.
enum Binding {
    Prefixed(&'static [&'static str]),
    /// Unprefixed properties, recognised by a `specversion` among them.
    Unprefixed,
}

fn binding(system: System) -> Binding {
    match system {
        // SSE carries no attribute headers: its messages have none to find.
        System::Nats | System::Http | System::Sse => Binding::Prefixed(&["ce-"]),
        System::Kafka => Binding::Prefixed(&["ce_"]),
        System::Amqp => Binding::Prefixed(&["cloudEvents:", "cloudEvents_"]),
        System::Mqtt | System::Redis => Binding::Unprefixed,
    }
}

/// The media type without parameters, lower case.
fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether data of this content type is JSON (no content type: it may be).
pub fn is_json_type(ct: Option<&str>) -> bool {
    ct.is_none_or(|c| {
        let c = essence(c);
        c == "application/json" || c.ends_with("+json") || c == "text/json"
    })
}

/// Decodes a message. An error means it claims to be a CloudEvent (content type or
/// binding headers) but cannot be read as one; [`plain`] still makes it an event.
pub fn decode(msg: &Message) -> Result<Decoded, String> {
    let ct = msg.content_type().map(essence);
    match ct.as_deref() {
        Some(c) if c.starts_with("application/cloudevents-batch") => {
            return batch(msg).map(|events| Decoded {
                mode: Mode::Batch,
                events,
            });
        }
        Some(c) if c.starts_with("application/cloudevents") => {
            return structured(msg).map(|e| Decoded {
                mode: Mode::Structured,
                events: vec![e],
            });
        }
        _ => {}
    }
    let attrs = binary_attrs(msg);
    if !attrs.is_empty() {
        return binary(msg, attrs).map(|e| Decoded {
            mode: Mode::Binary,
            events: vec![e],
        });
    }
    if looks_structured(&msg.payload) {
        return structured(msg).map(|e| Decoded {
            mode: Mode::Structured,
            events: vec![e],
        });
    }
    Ok(Decoded {
        mode: Mode::Plain,
        events: vec![plain(msg)],
    })
}

/// A JSON object payload with `specversion` at its top level.
fn looks_structured(payload: &[u8]) -> bool {
    let trimmed = payload.trim_ascii_start();
    if !trimmed.starts_with(b"{") || memchr::memmem::find(payload, b"\"specversion\"").is_none() {
        return false;
    }
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
        .is_ok_and(|o| o.contains_key("specversion"))
}

/// Binary-mode attributes: lower-case names (prefix removed) and values.
fn binary_attrs(msg: &Message) -> Vec<(String, HeaderValue)> {
    match binding(msg.system) {
        Binding::Prefixed(prefixes) => msg
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let p = prefixes.iter().find(|p| {
                    k.len() > p.len() && k.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p))
                })?;
                let name = k[p.len()..].to_ascii_lowercase();
                let value = match (v, msg.system) {
                    // The HTTP binding (which NATS follows) percent-encodes header values
                    // (HTTP binding 3.1.3.2).
                    (HeaderValue::Str(s), System::Nats | System::Http) => {
                        HeaderValue::Str(percent_decode(s))
                    }
                    _ => v.clone(),
                };
                Some((name, value))
            })
            .collect(),
        Binding::Unprefixed => {
            if !msg
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("specversion"))
            {
                return Vec::new();
            }
            msg.headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect()
        }
    }
}

fn binary(msg: &Message, attrs: Vec<(String, HeaderValue)>) -> Result<DecodedEvent, String> {
    let content_type = msg.content_type();
    let mut raw = RawEvent::default();
    let mut time_text = None;
    for (name, value) in &attrs {
        let v = match value {
            HeaderValue::Str(s) => Val::Str(Cow::Borrowed(s.as_str())),
            HeaderValue::Int(i) => Val::Int(*i),
            HeaderValue::Bool(b) => Val::Bool(*b),
        };
        match name.as_str() {
            "time" => {
                time_text = value.as_str().map(str::to_string);
                raw.time = Some(v);
            }
            // The bindings map datacontenttype to the content type, never to a prefixed
            // header; a stray one counts only when there is no content type.
            "datacontenttype" if content_type.is_some() => {}
            // data travels as the payload; a `data` property would not be an attribute.
            "data" | "data_base64" => {}
            _ => raw.set(Cow::Borrowed(name.as_str()), v),
        }
    }
    if let Some(ct) = content_type {
        raw.datacontenttype = Some(Val::Str(Cow::Borrowed(ct)));
    }
    let prefix = match binding(msg.system) {
        Binding::Prefixed(p) => p.first().copied().unwrap_or(""),
        Binding::Unprefixed => "",
    };
    let c = cloudevents::check(raw, "").map_err(|e| {
        if prefix.is_empty() {
            format!("binary-mode properties: {e}")
        } else {
            format!("{prefix} headers: {e}")
        }
    })?;
    let mut ev = from_checked(msg, &c, time_text);
    if !msg.payload.is_empty() {
        let json = is_json_type(ev.datacontenttype.as_deref())
            && serde_json::from_slice::<serde::de::IgnoredAny>(&msg.payload).is_ok();
        if json && msg.payload.trim_ascii_start().starts_with(b"{") {
            ev.shape = std::str::from_utf8(&msg.payload)
                .ok()
                .and_then(object_shape);
        }
        ev.data = Some(Payload {
            bytes: msg.payload.clone(),
            json,
        });
    }
    Ok(ev)
}

fn structured(msg: &Message) -> Result<DecodedEvent, String> {
    let text = std::str::from_utf8(&msg.payload).map_err(|e| {
        format!(
            "structured-mode CloudEvent in the payload: invalid UTF-8 at byte {}",
            e.valid_up_to() + 1
        )
    })?;
    one_structured(msg, text).map_err(|e| format!("structured-mode CloudEvent in the payload: {e}"))
}

/// One structured event from its JSON text.
fn one_structured(msg: &Message, text: &str) -> Result<DecodedEvent, String> {
    let raw: RawEvent = match crate::ingest::scan::event(text) {
        Some(raw) => raw,
        None => serde_json::from_str(text).map_err(|e| crate::ingest::json_error(&e))?,
    };
    let time_text = raw.time.as_ref().and_then(Val::as_str).map(str::to_string);
    let c = cloudevents::check(raw, text)?;
    let mut ev = from_checked(msg, &c, time_text);
    ev.shape = c.shape.clone();
    if let Some((off, len, json)) = c.payload
        && let Some(slice) = text.get(off..off + len)
    {
        ev.data = Some(if json {
            match serde_json::from_str::<String>(slice) {
                // A JSON string whose content type is not JSON is text (the JSON format
                // writes non-JSON text data as a string).
                Ok(s) if !is_json_type(ev.datacontenttype.as_deref()) => Payload {
                    bytes: s.into_bytes(),
                    json: false,
                },
                _ => Payload {
                    bytes: slice.as_bytes().to_vec(),
                    json: true,
                },
            }
        } else {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(slice.as_bytes())
                .unwrap_or_else(|_| slice.as_bytes().to_vec());
            Payload { bytes, json: false }
        });
    }
    Ok(ev)
}

fn batch(msg: &Message) -> Result<Vec<DecodedEvent>, String> {
    let text = std::str::from_utf8(&msg.payload).map_err(|e| {
        format!(
            "CloudEvents batch: invalid UTF-8 at byte {}",
            e.valid_up_to() + 1
        )
    })?;
    let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        format!(
            "CloudEvents batch: not a JSON array of events: {}",
            crate::ingest::json_error(&e)
        )
    })?;
    let mut events = Vec::with_capacity(elements.len());
    let mut errors = Vec::new();
    for (i, el) in elements.iter().enumerate() {
        let s = el.get();
        let result = if s.starts_with('{') {
            one_structured(msg, s)
        } else {
            Err("not a CloudEvent object".to_string())
        };
        match result {
            Ok(e) => events.push(e),
            Err(e) => errors.push(format!("batch element {}: {e}", i + 1)),
        }
    }
    if events.is_empty() && !errors.is_empty() {
        return Err(format!("CloudEvents batch: {}", errors.join("; ")));
    }
    if let Some(first) = events.first_mut() {
        first.violations.extend(errors);
    }
    Ok(events)
}

fn from_checked(
    msg: &Message,
    c: &cloudevents::Checked<'_>,
    time_text: Option<String>,
) -> DecodedEvent {
    let mut violations = c.violations.clone();
    let id = match &c.id {
        Some(id) => id.to_string(),
        None => {
            violations.push("id: taken from the message (the event has none)".into());
            plain_id(msg)
        }
    };
    let source = match &c.source {
        Some(s) => s.to_string(),
        None => plain_source(msg),
    };
    let mut ev = DecodedEvent {
        cloudevent: true,
        specversion: c.specversion.to_string(),
        id,
        source,
        ty: c.ty.to_string(),
        subject: c.subject.as_deref().map(str::to_string),
        time: c.time,
        time_text: time_text.filter(|_| c.time.is_some()),
        datacontenttype: c.datacontenttype.as_deref().map(str::to_string),
        dataschema: c.dataschema.as_deref().map(str::to_string),
        extensions: c
            .ext
            .iter()
            .filter_map(|(k, v)| {
                let a = match v {
                    Val::Str(s) => Attr::Str(s.to_string()),
                    Val::Int(i) => Attr::Int(*i),
                    Val::Bool(b) => Attr::Bool(*b),
                    _ => return None,
                };
                Some((k.to_string(), a))
            })
            .collect(),
        data: None,
        shape: None,
        violations,
        notes: c.notes.clone(),
    };
    key_extension(msg, &mut ev.extensions);
    ev
}

/// The Kafka binding maps the record key to the `partitionkey` extension (an event's own
/// `partitionkey` stands). A key that is not UTF-8 text is left out.
fn key_extension(msg: &Message, extensions: &mut Vec<(String, Attr)>) {
    if msg.system != System::Kafka || extensions.iter().any(|(k, _)| k == "partitionkey") {
        return;
    }
    if let Some(key) = msg.key_text() {
        extensions.push(("partitionkey".to_string(), Attr::Str(key.to_string())));
    }
}

/// A plain message's id: the broker's message id, `channel/partition/offset`,
/// `stream/sequence`, else a hash of the payload (`sha-` is not claimed: `fnv-`).
pub fn plain_id(msg: &Message) -> String {
    let m = &msg.meta;
    if let Some(id) = m.message_id.as_deref().filter(|i| !i.is_empty()) {
        return id.to_string();
    }
    if m.offset.is_some() || m.partition.is_some() {
        return format!(
            "{}/{}/{}",
            msg.channel,
            m.partition.map_or("-".to_string(), |p| p.to_string()),
            m.offset.map_or("-".to_string(), |o| o.to_string())
        );
    }
    if let Some(seq) = m.sequence {
        return format!("{}/{seq}", m.stream.as_deref().unwrap_or(&msg.channel));
    }
    format!("fnv-{:016x}", fnv1a(&msg.payload))
}

/// A plain message's producer, as far as the message tells: `scheme://channel`.
pub fn plain_source(msg: &Message) -> String {
    format!("{}://{}", msg.system.scheme(), msg.channel)
}

/// A plain message's type: the channel, the routing key on AMQP, the `event:` name on SSE.
pub fn plain_type(msg: &Message) -> String {
    match (msg.system, msg.key_text(), msg.meta.event_name.as_deref()) {
        (System::Amqp, Some(k), _) => k.to_string(),
        (System::Sse, _, Some(name)) if !name.is_empty() => name.to_string(),
        _ => msg.channel.clone(),
    }
}

/// FNV-1a, 64 bits: stable across runs and builds, so a recording and the live view agree.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The message itself as the event (not a CloudEvent, or one that cannot be read).
pub fn plain(msg: &Message) -> DecodedEvent {
    let ct = msg.content_type();
    let mut ev = DecodedEvent {
        cloudevent: false,
        id: plain_id(msg),
        source: plain_source(msg),
        ty: plain_type(msg),
        datacontenttype: ct.map(str::to_string),
        ..Default::default()
    };
    key_extension(msg, &mut ev.extensions);
    if !msg.payload.is_empty() {
        let json = is_json_type(ct)
            && serde_json::from_slice::<serde::de::IgnoredAny>(&msg.payload).is_ok();
        if json && msg.payload.trim_ascii_start().starts_with(b"{") {
            ev.shape = std::str::from_utf8(&msg.payload)
                .ok()
                .and_then(object_shape);
        }
        ev.data = Some(Payload {
            bytes: msg.payload.clone(),
            json,
        });
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::message::BrokerMeta;

    fn with_headers(
        system: System,
        channel: &str,
        headers: &[(&str, &str)],
        payload: &str,
    ) -> Message {
        let mut m = Message::new(system, channel, payload.as_bytes().to_vec());
        m.headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), HeaderValue::from(*v)))
            .collect();
        m
    }

    const STRUCTURED: &str = r#"{"specversion":"1.0","id":"e-1","source":"/orders","type":"OrderPlaced","time":"2024-05-01T10:00:00Z","datacontenttype":"application/json","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","data":{"orderId":"o-1"}}"#;

    #[test]
    fn nats_binary_mode_reads_ce_dash_headers_and_percent_decodes_them() {
        let m = with_headers(
            System::Nats,
            "orders.created",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "e-1"),
                ("ce-source", "/orders"),
                ("ce-type", "OrderPlaced"),
                ("ce-subject", "caf%C3%A9"),
                ("ce-partitionkey", "p-1"),
                ("Content-Type", "application/json"),
            ],
            r#"{"orderId":"o-1"}"#,
        );
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Binary);
        let e = &d.events[0];
        assert!(e.cloudevent);
        assert_eq!(
            (e.id.as_str(), e.source.as_str(), e.ty.as_str()),
            ("e-1", "/orders", "OrderPlaced")
        );
        assert_eq!(e.subject.as_deref(), Some("café"));
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            e.extensions,
            vec![("partitionkey".to_string(), Attr::Str("p-1".into()))]
        );
        let data = e.data.as_ref().expect("data");
        assert!(data.json);
        assert_eq!(data.bytes, br#"{"orderId":"o-1"}"#);
        assert_eq!(e.shape.as_deref(), Some("orderId:string"));
        assert!(e.violations.is_empty(), "{:?}", e.violations);
    }

    #[test]
    fn each_transport_uses_its_own_binding_prefix() {
        let ce = |p: &str| {
            vec![
                (format!("{p}specversion"), "1.0"),
                (format!("{p}id"), "x"),
                (format!("{p}source"), "s"),
                (format!("{p}type"), "T"),
            ]
        };
        for (system, prefix) in [
            (System::Nats, "ce-"),
            (System::Kafka, "ce_"),
            (System::Amqp, "cloudEvents:"),
            (System::Amqp, "cloudEvents_"),
            (System::Mqtt, ""),
            (System::Redis, ""),
        ] {
            let h = ce(prefix);
            let hs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let d = decode(&with_headers(system, "c", &hs, "hi")).expect("decodes");
            assert_eq!(d.mode, Mode::Binary, "{system:?} {prefix}");
            assert_eq!(d.events[0].id, "x");
        }
        // Another binding's prefix is just a header.
        let d = decode(&with_headers(
            System::Kafka,
            "c",
            &[("ce-id", "x"), ("ce-specversion", "1.0")],
            "hi",
        ))
        .expect("decodes");
        assert_eq!(d.mode, Mode::Plain);
    }

    #[test]
    fn amqp_typed_properties_keep_their_types() {
        let mut m = Message::new(System::Amqp, "events", b"{}".to_vec());
        m.content_type = Some("application/json".into());
        m.headers = vec![
            ("cloudEvents:specversion".into(), "1.0".into()),
            ("cloudEvents:id".into(), "a-1".into()),
            ("cloudEvents:source".into(), "/s".into()),
            ("cloudEvents:type".into(), "T".into()),
            ("cloudEvents:priority".into(), HeaderValue::Int(5)),
            ("cloudEvents:urgent".into(), HeaderValue::Bool(true)),
        ];
        let e = &decode(&m).expect("decodes").events[0];
        assert_eq!(
            e.extensions,
            vec![
                ("priority".to_string(), Attr::Int(5)),
                ("urgent".to_string(), Attr::Bool(true))
            ]
        );
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn structured_mode_by_content_type_or_by_a_specversion_in_a_json_payload() {
        let mut m = Message::new(System::Mqtt, "orders", STRUCTURED.as_bytes().to_vec());
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Structured);
        let e = &d.events[0];
        assert_eq!(e.id, "e-1");
        assert_eq!(e.time_text.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(
            e.data.as_ref().map(|d| d.bytes.as_slice()),
            Some(&br#"{"orderId":"o-1"}"#[..])
        );
        assert_eq!(e.extensions[0].0, "traceparent");
        m.content_type = Some("application/cloudevents+json; charset=utf-8".into());
        assert_eq!(decode(&m).expect("decodes").mode, Mode::Structured);
    }

    #[test]
    fn a_batch_gives_every_event_and_reports_bad_elements() {
        let body = format!(
            "[{STRUCTURED},{},42]",
            r#"{"specversion":"1.0","id":"e-2","source":"/orders","type":"T","data_base64":"aGk="}"#
        );
        let mut m = Message::new(System::Nats, "orders", body.into_bytes());
        m.headers = vec![(
            "Content-Type".into(),
            "application/cloudevents-batch+json".into(),
        )];
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Batch);
        assert_eq!(d.events.len(), 2);
        assert_eq!(
            d.events[1].data,
            Some(Payload {
                bytes: b"hi".to_vec(),
                json: false
            })
        );
        assert!(
            d.events[0]
                .violations
                .iter()
                .any(|v| v.starts_with("batch element 3"))
        );
    }

    #[test]
    fn a_message_claiming_to_be_a_cloudevent_that_is_not_is_an_error() {
        let mut m = Message::new(System::Nats, "orders", b"{not json".to_vec());
        m.headers = vec![("content-type".into(), "application/cloudevents+json".into())];
        let e = decode(&m).expect_err("undecodable");
        assert!(
            e.starts_with("structured-mode CloudEvent in the payload: invalid JSON"),
            "{e}"
        );
        let m = with_headers(System::Kafka, "t", &[("ce_type", "T")], "{}");
        let e = decode(&m).expect_err("no id nor source");
        assert!(e.starts_with("ce_ headers: neither source nor id"), "{e}");
    }

    #[test]
    fn a_plain_message_is_an_event_named_by_the_broker() {
        let mut m = Message::new(System::Nats, "sensors.t1", b"21.5".to_vec());
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Plain);
        let e = &d.events[0];
        assert!(!e.cloudevent);
        assert_eq!(e.source, "nats://sensors.t1");
        assert_eq!(e.ty, "sensors.t1");
        assert_eq!(e.id, format!("fnv-{:016x}", fnv1a(b"21.5")));
        assert_eq!(
            e.data,
            Some(Payload {
                bytes: b"21.5".to_vec(),
                json: true
            })
        );
        m.meta = BrokerMeta {
            stream: Some("SENSORS".into()),
            sequence: Some(7),
            ..Default::default()
        };
        assert_eq!(plain_id(&m), "SENSORS/7");
        m.meta.message_id = Some("m-9".into());
        assert_eq!(plain_id(&m), "m-9");
        let mut k = Message::new(System::Kafka, "orders", b"x".to_vec());
        k.meta.partition = Some(1);
        k.meta.offset = Some(8);
        assert_eq!(plain_id(&k), "orders/1/8");
        let mut a = Message::new(System::Amqp, "events", b"x".to_vec());
        a.key = Some(b"orders.created".to_vec());
        assert_eq!(plain(&a).ty, "orders.created");
        assert_eq!(plain(&a).data.map(|d| d.json), Some(false));
    }

    #[test]
    fn a_kafka_record_key_is_the_partitionkey_unless_the_event_has_one() {
        let mut plain_rec = Message::new(System::Kafka, "orders", b"x".to_vec());
        plain_rec.key = Some(b"customer-7".to_vec());
        let ext = |m: &Message| decode(m).expect("decodes").events[0].extensions.clone();
        assert_eq!(
            ext(&plain_rec),
            vec![("partitionkey".to_string(), Attr::Str("customer-7".into()))]
        );
        let mut binary = with_headers(
            System::Kafka,
            "orders",
            &[
                ("ce_specversion", "1.0"),
                ("ce_id", "1"),
                ("ce_source", "/s"),
                ("ce_type", "T"),
            ],
            "{}",
        );
        binary.key = Some(b"k-1".to_vec());
        assert_eq!(
            ext(&binary),
            vec![("partitionkey".to_string(), Attr::Str("k-1".into()))]
        );
        binary
            .headers
            .push(("ce_partitionkey".into(), "own".into()));
        assert_eq!(
            ext(&binary),
            vec![("partitionkey".to_string(), Attr::Str("own".into()))]
        );
        // Not UTF-8, or another transport's key (AMQP's routing key): no partitionkey.
        plain_rec.key = Some(vec![0xff, 0xfe]);
        assert!(ext(&plain_rec).is_empty());
        let mut a = Message::new(System::Amqp, "events", b"x".to_vec());
        a.key = Some(b"orders.created".to_vec());
        assert!(ext(&a).is_empty());
    }
}
