//! Live sources against the real local brokers (NATS with JetStream on 4222, RabbitMQ on
//! 5672, Mosquitto on 1883, Redis on 6379; `.ci/run` starts whichever is down). Each test
//! publishes known events with the broker's own Rust client (CloudEvents in structured and
//! binary mode, and plain messages) on names of its own, and checks that eventlens received
//! exactly those: ids, types, channels, attributes and payloads.
//!
//! Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use eventlens::source::decode::{Attr, DecodedEvent, Mode, decode};
use eventlens::source::{self, BrokerUrl, Envelope, Inbox, SourceStatus};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}{nanos}", std::process::id())
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn structured_event(id: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test/structured","type":"com.example.Structured","subject":"order-1","time":"2024-05-01T10:00:00Z","datacontenttype":"application/json","traceparent":"{TRACEPARENT}","data":{{"orderId":"o-1","total":12.5}}}}"#
    )
}

const BINARY_DATA: &str = r#"{"orderId":"o-2","total":7}"#;
const PLAIN: &str = "plain text, not an event";

/// Starts sources and waits until every one is connected.
async fn start(urls: &[&str]) -> Inbox {
    let urls: Vec<BrokerUrl> = urls
        .iter()
        .map(|u| BrokerUrl::parse(u).expect("URL"))
        .collect();
    let inbox = source::start(
        &urls,
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while inbox
        .sources
        .iter()
        .any(|s| s.status() != SourceStatus::Connected)
    {
        assert!(
            Instant::now() < deadline,
            "sources did not connect: {:?}",
            inbox
                .sources
                .iter()
                .map(|s| s.summary())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The subscription reaches the broker just after the connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    inbox
}

/// Receives `n` messages (and checks that no more come within a short while).
async fn receive(inbox: &mut Inbox, n: usize) -> Vec<Envelope> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(e)) => got.push(e),
            _ => panic!(
                "received {} of {n} messages: {:?}",
                got.len(),
                inbox
                    .sources
                    .iter()
                    .map(|s| s.summary())
                    .collect::<Vec<_>>()
            ),
        }
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(500), inbox.recv()).await {
        panic!("an unexpected extra message: {:?}", extra.msg);
    }
    got
}

/// Every event decoded from the messages, by id, with the message's channel and the mode.
fn events(envelopes: &[Envelope]) -> BTreeMap<String, (DecodedEvent, String, Mode)> {
    let mut out = BTreeMap::new();
    for e in envelopes {
        let d = decode(&e.msg).expect("decodes");
        for ev in d.events {
            let prev = out.insert(ev.id.clone(), (ev, e.msg.channel.clone(), d.mode));
            assert!(prev.is_none(), "an event received twice");
        }
    }
    out
}

fn check_structured(ev: &DecodedEvent, mode: Mode) {
    assert_eq!(mode, Mode::Structured);
    assert!(ev.cloudevent);
    assert_eq!(ev.source, "/test/structured");
    assert_eq!(ev.ty, "com.example.Structured");
    assert_eq!(ev.subject.as_deref(), Some("order-1"));
    assert_eq!(ev.time_text.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(
        ev.extensions,
        vec![("traceparent".to_string(), Attr::Str(TRACEPARENT.into()))]
    );
    let data = ev.data.as_ref().expect("data");
    assert!(data.json);
    assert_eq!(data.bytes, br#"{"orderId":"o-1","total":12.5}"#);
    assert!(ev.violations.is_empty(), "{:?}", ev.violations);
}

fn check_binary(ev: &DecodedEvent, mode: Mode, extensions: &[(&str, Attr)]) {
    assert_eq!(mode, Mode::Binary);
    assert!(ev.cloudevent);
    assert_eq!(ev.source, "/test/binary");
    assert_eq!(ev.ty, "com.example.Binary");
    assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
    let mut got = ev.extensions.clone();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, Attr)> = extensions
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(got, want);
    let data = ev.data.as_ref().expect("data");
    assert_eq!(
        (data.bytes.as_slice(), data.json),
        (BINARY_DATA.as_bytes(), true)
    );
    assert!(ev.violations.is_empty(), "{:?}", ev.violations);
}

fn check_plain(ev: &DecodedEvent, mode: Mode, source: &str, ty: &str) {
    assert_eq!(mode, Mode::Plain);
    assert!(!ev.cloudevent);
    assert_eq!((ev.source.as_str(), ev.ty.as_str()), (source, ty));
    let data = ev.data.as_ref().expect("data");
    assert_eq!(
        (data.bytes.as_slice(), data.json),
        (PLAIN.as_bytes(), false)
    );
}

// ---------------------------------------------------------------- NATS

fn nats_headers(pairs: &[(&str, &str)]) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, *v);
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_core_receives_structured_binary_batch_and_plain_messages_on_a_wildcard() {
    let base = unique("eltest.core.");
    let mut inbox = start(&[&format!("nats://127.0.0.1:4222/{base}.>")]).await;
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("connect");
    let orders = format!("{base}.orders");
    client
        .publish_with_headers(
            orders.clone(),
            nats_headers(&[("content-type", "application/cloudevents+json")]),
            structured_event("s-1").into(),
        )
        .await
        .expect("publish");
    client
        .publish_with_headers(
            orders.clone(),
            nats_headers(&[
                ("ce-specversion", "1.0"),
                ("ce-id", "b-1"),
                ("ce-source", "/test/binary"),
                ("ce-type", "com.example.Binary"),
                ("ce-partitionkey", "pk%201"),
                ("content-type", "application/json"),
            ]),
            BINARY_DATA.into(),
        )
        .await
        .expect("publish");
    let batch = format!("[{},{}]", structured_event("s-2"), structured_event("s-3"));
    client
        .publish_with_headers(
            format!("{base}.batch"),
            nats_headers(&[("content-type", "application/cloudevents-batch+json")]),
            batch.into(),
        )
        .await
        .expect("publish");
    client
        .publish(format!("{base}.plain"), PLAIN.into())
        .await
        .expect("publish");
    client
        .publish_with_headers(
            format!("{base}.plain"),
            nats_headers(&[("Nats-Msg-Id", "plain-with-id")]),
            PLAIN.into(),
        )
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    let got = receive(&mut inbox, 5).await;
    let ev = events(&got);
    let ids: Vec<&str> = ev.keys().map(String::as_str).collect();
    let hash_id = ids
        .iter()
        .find(|i| i.starts_with("fnv-"))
        .copied()
        .expect("the plain message without an id");
    assert_eq!(ids, {
        let mut want = vec!["b-1", hash_id, "plain-with-id", "s-1", "s-2", "s-3"];
        want.sort();
        want
    });
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev["s-1"].1, orders);
    check_binary(
        &ev["b-1"].0,
        ev["b-1"].2,
        &[("partitionkey", Attr::Str("pk 1".into()))],
    );
    assert_eq!(ev["s-2"].2, Mode::Batch);
    assert_eq!(ev["s-3"].1, format!("{base}.batch"));
    let plain_source = format!("nats://{base}.plain");
    let plain_type = format!("{base}.plain");
    check_plain(&ev[hash_id].0, ev[hash_id].2, &plain_source, &plain_type);
    check_plain(
        &ev["plain-with-id"].0,
        Mode::Plain,
        &plain_source,
        &plain_type,
    );
    let c = inbox.sources[0].counters();
    assert_eq!((c.received, c.dropped), (5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_replays_the_stream_from_the_start_with_msg_ids_and_sequences() {
    let name = unique("ELTEST_JS_");
    let subject = name.to_lowercase();
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    let _ = js.delete_stream(&name).await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("{subject}.>")],
        ..Default::default()
    })
    .await
    .expect("stream");
    let publish = |subj: String, headers: async_nats::HeaderMap, body: String| {
        let js = js.clone();
        async move {
            js.publish_with_headers(subj, headers, body.into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
    };
    // Published before the source starts: replayed from the start.
    publish(
        format!("{subject}.orders"),
        nats_headers(&[
            ("content-type", "application/cloudevents+json"),
            ("Nats-Msg-Id", "s-1"),
        ]),
        structured_event("s-1"),
    )
    .await;
    publish(
        format!("{subject}.orders"),
        nats_headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/test/binary"),
            ("ce-type", "com.example.Binary"),
            ("ce-partitionkey", "pk-1"),
            ("content-type", "application/json"),
        ]),
        BINARY_DATA.into(),
    )
    .await;
    let mut inbox = start(&[&format!("nats://127.0.0.1:4222/stream/{name}")]).await;
    // Published while it runs.
    publish(
        format!("{subject}.plain"),
        nats_headers(&[("Nats-Msg-Id", "plain-1")]),
        PLAIN.into(),
    )
    .await;
    publish(
        format!("{subject}.plain"),
        async_nats::HeaderMap::new(),
        PLAIN.into(),
    )
    .await;
    let got = receive(&mut inbox, 4).await;
    let seqs: Vec<Option<u64>> = got.iter().map(|e| e.msg.meta.sequence).collect();
    assert_eq!(seqs, vec![Some(1), Some(2), Some(3), Some(4)]);
    assert!(
        got.iter()
            .all(|e| e.msg.meta.stream.as_deref() == Some(name.as_str()))
    );
    assert_eq!(got[0].msg.meta.message_id.as_deref(), Some("s-1"));
    let ev = events(&got);
    let ids: Vec<&str> = ev.keys().map(String::as_str).collect();
    let by_seq = format!("{name}/4");
    let mut want = vec!["b-1", "plain-1", "s-1", by_seq.as_str()];
    want.sort();
    assert_eq!(ids, want);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    check_binary(
        &ev["b-1"].0,
        ev["b-1"].2,
        &[("partitionkey", Attr::Str("pk-1".into()))],
    );
    let plain_source = format!("nats://{subject}.plain");
    let plain_type = format!("{subject}.plain");
    check_plain(
        &ev["plain-1"].0,
        ev["plain-1"].2,
        &plain_source,
        &plain_type,
    );
    check_plain(&ev[&by_seq].0, Mode::Plain, &plain_source, &plain_type);
    drop(inbox);
    let _ = js.delete_stream(&name).await;
}

// ---------------------------------------------------------------- MQTT

async fn mqtt_publisher() -> (rumqttc::v5::AsyncClient, tokio::task::JoinHandle<()>) {
    let mut opts = rumqttc::v5::MqttOptions::new(unique("eltest-pub-"), "127.0.0.1", 1883);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(opts, 64);
    let task = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    (client, task)
}

fn mqtt_props(
    content_type: Option<&str>,
    user: &[(&str, &str)],
) -> rumqttc::v5::mqttbytes::v5::PublishProperties {
    rumqttc::v5::mqttbytes::v5::PublishProperties {
        content_type: content_type.map(str::to_string),
        user_properties: user
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_reads_user_properties_as_binary_mode_and_structured_and_plain_messages() {
    use rumqttc::v5::mqttbytes::QoS;
    let base = unique("eltest/mqtt/");
    let mut inbox = start(&[&format!("mqtt://127.0.0.1:1883/{base}/#")]).await;
    let (client, task) = mqtt_publisher().await;
    client
        .publish_with_properties(
            format!("{base}/orders"),
            QoS::AtLeastOnce,
            false,
            structured_event("s-1"),
            mqtt_props(Some("application/cloudevents+json"), &[]),
        )
        .await
        .expect("publish");
    client
        .publish_with_properties(
            format!("{base}/orders"),
            QoS::AtLeastOnce,
            false,
            BINARY_DATA,
            mqtt_props(
                Some("application/json"),
                &[
                    ("specversion", "1.0"),
                    ("id", "b-1"),
                    ("source", "/test/binary"),
                    ("type", "com.example.Binary"),
                    ("partitionkey", "pk-1"),
                ],
            ),
        )
        .await
        .expect("publish");
    client
        .publish(format!("{base}/plain"), QoS::AtLeastOnce, false, PLAIN)
        .await
        .expect("publish");
    let got = receive(&mut inbox, 3).await;
    let ev = events(&got);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev["s-1"].1, format!("{base}/orders"));
    check_binary(
        &ev["b-1"].0,
        ev["b-1"].2,
        &[("partitionkey", Attr::Str("pk-1".into()))],
    );
    let plain = ev
        .values()
        .find(|(e, _, _)| !e.cloudevent)
        .expect("the plain message");
    check_plain(
        &plain.0,
        plain.2,
        &format!("mqtt://{base}/plain"),
        &format!("{base}/plain"),
    );
    assert!(plain.0.id.starts_with("fnv-"));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt311_reads_structured_mode_from_the_payload() {
    use rumqttc::v5::mqttbytes::QoS;
    let base = unique("eltest/mqtt3/");
    let mut inbox = start(&[&format!("mqtt://127.0.0.1:1883/{base}/+?v=3&qos=0")]).await;
    let (client, task) = mqtt_publisher().await;
    client
        .publish(
            format!("{base}/orders"),
            QoS::AtLeastOnce,
            false,
            structured_event("s-1"),
        )
        .await
        .expect("publish");
    client
        .publish(format!("{base}/plain"), QoS::AtLeastOnce, false, PLAIN)
        .await
        .expect("publish");
    let got = receive(&mut inbox, 2).await;
    let ev = events(&got);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev.len(), 2);
    task.abort();
}

// ---------------------------------------------------------------- RabbitMQ

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_taps_an_exchange_without_taking_from_real_consumers() {
    use lapin::options::*;
    use lapin::types::{AMQPValue, FieldTable, ShortString};
    use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
    let exchange = unique("eltest.amqp.");
    let conn = Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        ConnectionProperties::default(),
    )
    .await
    .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            auto_delete: false,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange");
    // A real consumer's queue: the tap must not take its messages.
    let real = format!("{exchange}.real");
    ch.queue_declare(
        real.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("queue");
    ch.queue_bind(
        real.as_str().into(),
        exchange.as_str().into(),
        "orders.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let mut inbox = start(&[&format!(
        "amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}&key=orders.%23"
    )])
    .await;
    assert!(!inbox.sources[0].url.contains("guest"));
    let publish = |key: &str, body: String, props: BasicProperties| {
        let ch = ch.clone();
        let (exchange, key) = (exchange.clone(), key.to_string());
        async move {
            ch.basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                props,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        }
    };
    publish(
        "orders.created",
        structured_event("s-1"),
        BasicProperties::default().with_content_type("application/cloudevents+json".into()),
    )
    .await;
    let mut headers = FieldTable::default();
    for (k, v) in [
        ("cloudEvents:specversion", "1.0"),
        ("cloudEvents:id", "b-1"),
        ("cloudEvents:source", "/test/binary"),
        ("cloudEvents:type", "com.example.Binary"),
        ("cloudEvents:partitionkey", "pk-1"),
    ] {
        headers.insert(ShortString::from(k), AMQPValue::LongString(v.into()));
    }
    headers.insert("cloudEvents:priority".into(), AMQPValue::LongInt(5));
    headers.insert("cloudEvents:urgent".into(), AMQPValue::Boolean(true));
    publish(
        "orders.created",
        BINARY_DATA.to_string(),
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers),
    )
    .await;
    publish(
        "orders.plain",
        PLAIN.to_string(),
        BasicProperties::default().with_message_id("amqp-plain-1".into()),
    )
    .await;
    // Not matched by the key pattern: the tap does not see it.
    publish(
        "invoices.created",
        PLAIN.to_string(),
        BasicProperties::default(),
    )
    .await;
    let got = receive(&mut inbox, 3).await;
    let ev = events(&got);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev["s-1"].1, exchange);
    check_binary(
        &ev["b-1"].0,
        ev["b-1"].2,
        &[
            ("partitionkey", Attr::Str("pk-1".into())),
            ("priority", Attr::Int(5)),
            ("urgent", Attr::Bool(true)),
        ],
    );
    check_plain(
        &ev["amqp-plain-1"].0,
        ev["amqp-plain-1"].2,
        &format!("amqp://{exchange}"),
        "orders.plain",
    );
    // The real consumer's queue still holds all three.
    let mut real_count = 0;
    while let Some(m) = ch
        .basic_get(real.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
    {
        drop(m);
        real_count += 1;
    }
    assert_eq!(real_count, 3);
    drop(inbox);
    let _ = ch
        .queue_delete(real.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = ch
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await;
}

// ---------------------------------------------------------------- Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stream_reads_attribute_fields_structured_fields_and_plain_entries_from_the_start() {
    use redis::AsyncCommands;
    let key = unique("eltest:stream:");
    let client = redis::Client::open("redis://127.0.0.1:6379/").expect("client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let s1: String = con
        .xadd(&key, "*", &[("event", structured_event("s-1"))])
        .await
        .expect("xadd");
    let _: String = con
        .xadd(
            &key,
            "*",
            &[
                ("specversion", "1.0"),
                ("id", "b-1"),
                ("source", "/test/binary"),
                ("type", "com.example.Binary"),
                ("partitionkey", "pk-1"),
                ("datacontenttype", "application/json"),
                ("data", BINARY_DATA),
            ],
        )
        .await
        .expect("xadd");
    let mut inbox = start(&[&format!("redis://127.0.0.1:6379/stream/{key}")]).await;
    let plain_id: String = con.xadd(&key, "*", &[("body", PLAIN)]).await.expect("xadd");
    let got = receive(&mut inbox, 3).await;
    assert_eq!(got[0].msg.meta.message_id.as_deref(), Some(s1.as_str()));
    let ev = events(&got);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev["s-1"].1, key);
    check_binary(
        &ev["b-1"].0,
        ev["b-1"].2,
        &[("partitionkey", Attr::Str("pk-1".into()))],
    );
    check_plain(
        &ev[&plain_id].0,
        ev[&plain_id].2,
        &format!("redis://{key}"),
        &key,
    );
    drop(inbox);
    let _: Result<(), _> = con.del(&key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_pubsub_reads_a_channel_pattern() {
    use redis::AsyncCommands;
    let base = unique("eltest.pubsub.");
    let mut inbox = start(&[&format!("redis://127.0.0.1:6379/channel/{base}.*")]).await;
    let client = redis::Client::open("redis://127.0.0.1:6379/").expect("client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: i64 = con
        .publish(format!("{base}.orders"), structured_event("s-1"))
        .await
        .expect("publish");
    let _: i64 = con
        .publish(format!("{base}.plain"), PLAIN)
        .await
        .expect("publish");
    let got = receive(&mut inbox, 2).await;
    let ev = events(&got);
    check_structured(&ev["s-1"].0, ev["s-1"].2);
    assert_eq!(ev["s-1"].1, format!("{base}.orders"));
    let plain = ev.values().find(|(e, _, _)| !e.cloudevent).expect("plain");
    check_plain(
        &plain.0,
        plain.2,
        &format!("redis://{base}.plain"),
        &format!("{base}.plain"),
    );
}
