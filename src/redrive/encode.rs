//! An event in the two CloudEvents modes: its attributes as name/value pairs (binary mode;
//! each transport adds its prefix) and the whole event as JSON (structured mode).

use super::{Data, RedriveEvent};
use crate::source::decode::Attr;

/// The attributes of binary mode, unprefixed, in the spec's order, extensions last; not
/// `datacontenttype`, which each binding carries as its content type.
pub fn binary_attributes(e: &RedriveEvent) -> Vec<(String, String)> {
    let mut out = vec![
        ("specversion".to_string(), e.specversion.clone()),
        ("id".to_string(), e.id.clone()),
        ("source".to_string(), e.source.clone()),
        ("type".to_string(), e.ty.clone()),
    ];
    for (k, v) in [
        ("subject", &e.subject),
        ("time", &e.time),
        ("dataschema", &e.dataschema),
    ] {
        if let Some(v) = v {
            out.push((k.to_string(), v.clone()));
        }
    }
    for (k, v) in &e.extensions {
        let v = match v {
            Attr::Str(s) => s.clone(),
            Attr::Int(i) => i.to_string(),
            Attr::Bool(b) => b.to_string(),
        };
        out.push((k.clone(), v));
    }
    out
}

/// A header value as the HTTP binding writes it: space, `"`, `%` and everything outside
/// printable ASCII percent-encoded (UTF-8 bytes).
pub fn header_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The event in structured mode (`application/cloudevents+json`): `data` for JSON data,
/// `data_base64` for bytes; extensions keep their types.
pub fn structured_json(e: &RedriveEvent) -> Vec<u8> {
    use serde_json::{Map, Value};
    let mut m = Map::new();
    m.insert("specversion".into(), Value::String(e.specversion.clone()));
    m.insert("id".into(), Value::String(e.id.clone()));
    m.insert("source".into(), Value::String(e.source.clone()));
    m.insert("type".into(), Value::String(e.ty.clone()));
    for (k, v) in [
        ("subject", &e.subject),
        ("time", &e.time),
        ("datacontenttype", &e.datacontenttype),
        ("dataschema", &e.dataschema),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    for (k, v) in &e.extensions {
        let v = match v {
            Attr::Str(s) => Value::String(s.clone()),
            Attr::Int(i) => Value::from(*i),
            Attr::Bool(b) => Value::Bool(*b),
        };
        m.insert(k.clone(), v);
    }
    match &e.data {
        None => {}
        Some(Data::Json(t)) => {
            let v = serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()));
            m.insert("data".into(), v);
        }
        Some(Data::Bytes(b)) => {
            use base64::Engine;
            let s = base64::engine::general_purpose::STANDARD.encode(b);
            m.insert("data_base64".into(), Value::String(s));
        }
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

/// The content type of structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_percent_encoded_where_the_binding_says() {
        assert_eq!(header_value("ord-1"), "ord-1");
        assert_eq!(header_value("a b"), "a%20b");
        assert_eq!(header_value("50%"), "50%25");
        assert_eq!(header_value("é"), "%C3%A9");
    }
}
