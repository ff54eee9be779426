//! The CloudEvents the HTTP-in tests send (the webhook) and serve (SSE), and what each
//! must read as on arrival: so "the same events" arrive over either.

use cloudevents::{EventBuilder, EventBuilderV10};
use eventlens::source::decode::{Attr, DecodedEvent};

/// An event made by the official SDK: attributes, an extension, a non-ASCII subject and
/// JSON data.
pub fn sdk_event(id: &str) -> cloudevents::Event {
    EventBuilderV10::new()
        .id(id)
        .source("/test/sdk")
        .ty("com.example.OrderPlaced")
        .subject("order 1/é")
        .time("2024-05-01T10:00:00Z")
        .extension(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .data(
            "application/json",
            serde_json::json!({"orderId": "o-1", "total": 12.5}),
        )
        .build()
        .expect("a valid event")
}

/// An [`sdk_event`] as it must arrive.
pub fn check_sdk_event(ev: &DecodedEvent) {
    assert!(ev.cloudevent);
    assert_eq!(ev.source, "/test/sdk");
    assert_eq!(ev.ty, "com.example.OrderPlaced");
    assert_eq!(ev.subject.as_deref(), Some("order 1/é"));
    assert_eq!(
        ev.time,
        Some(eventlens::time::parse_rfc3339("2024-05-01T10:00:00Z").expect("time"))
    );
    assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(
        ev.extensions,
        vec![(
            "traceparent".to_string(),
            Attr::Str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into())
        )]
    );
    let data = ev.data.as_ref().expect("data");
    assert!(data.json);
    let v: serde_json::Value = serde_json::from_slice(&data.bytes).expect("JSON data");
    assert_eq!(v, serde_json::json!({"orderId": "o-1", "total": 12.5}));
    assert!(ev.violations.is_empty(), "{:?}", ev.violations);
}

/// A structured-mode event as curl sends it: data `{"n":1}`.
pub fn structured_json(id: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test/curl","type":"com.example.Curl","datacontenttype":"application/json","data":{{"n":1}}}}"#
    )
}
