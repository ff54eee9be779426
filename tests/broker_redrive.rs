//! Re-drive onto the real local brokers (NATS 4222, RabbitMQ 5672 guest/guest, Mosquitto
//! 1883, Redis 6379): each test subscribes with the broker's own Rust client (not through
//! eventlens's sources), re-drives the fixture capture on names of its own, and checks that
//! exactly its events arrived, in order, with their attributes and data.
//!
//! Run with `cargo test --features broker-tests --test broker_redrive`.
#![cfg(feature = "broker-tests")]

use eventlens::redrive::{Mode, Options, Pacing, Redrive, RedriveRun, Target};
use std::path::PathBuf;
use std::time::Duration;

/// The fixture's events, in time order (see tests/fixtures/redrive/README.md).
const ALL: [&str; 6] = ["ord-1", "ord-2", "note-1", "bin-1", "ord-3", "ord-4"];

/// A name no other test run uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{nanos}", std::process::id())
}

/// The fixture, its channels renamed `{base}{sep}orders` and `{base}{sep}notes`.
fn capture_on(base: &str, sep: &str) -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redrive/orders.jsonl"),
    )
    .expect("fixture");
    let text = text
        .replace(
            "\"lenschannel\":\"orders\"",
            &format!("\"lenschannel\":\"{base}{sep}orders\""),
        )
        .replace(
            "\"lenschannel\":\"notes\"",
            &format!("\"lenschannel\":\"{base}{sep}notes\""),
        );
    let f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("temp file");
    std::fs::write(f.path(), text).expect("write");
    f
}

/// Re-drives a capture to `to` through the library's runner, as fast as possible.
fn redrive(capture: &std::path::Path, to: &str, mode: Mode) -> eventlens::redrive::Summary {
    let mut store = eventlens::model::Store::new();
    let progress = eventlens::ingest::LoadProgress::default();
    eventlens::ingest::load_path(&mut store, capture, &progress).expect("loads");
    store.finalize();
    let events = eventlens::redrive::events_of(&store, 0..store.observations.len() as u32);
    let plan = Redrive::from_store(
        &store,
        &events,
        Target::parse(to).expect("target"),
        Options {
            pacing: Pacing::Asap,
            mode,
            ..Options::default()
        },
    );
    let rt = eventlens::source::runtime().expect("runtime");
    let run = RedriveRun::start(plan, rt.handle(), None);
    let summary = tokio::task::block_in_place(|| run.wait());
    assert!(summary.is_success(), "{}", summary.to_text());
    summary
}

// ---------------------------------------------------------------- NATS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_gets_each_event_on_its_captured_subject_in_binary_mode_from_the_cli() {
    use futures_util::StreamExt;
    let base = unique("elredrive.");
    let capture = capture_on(&base, ".");
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("connect");
    let mut sub = client
        .subscribe(format!("{base}.>"))
        .await
        .expect("subscribe");
    client.flush().await.expect("flush");
    // The real CLI, with no subject in the URL: each event goes where it was captured.
    let out = tokio::task::spawn_blocking({
        let path = capture.path().to_path_buf();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
                .args(["replay"])
                .arg(path)
                .args(["--to", "nats://127.0.0.1:4222", "--asap"])
                .output()
                .expect("eventlens runs")
        }
    })
    .await
    .expect("joins");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Vec::new();
    while got.len() < ALL.len() {
        let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("a message in time")
            .expect("subscription open");
        got.push(m);
    }
    // Exactly those: nothing more comes.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err()
    );
    let header = |m: &async_nats::Message, k: &str| {
        m.headers
            .as_ref()
            .and_then(|h| h.get(k))
            .map(|v| v.as_str().to_string())
    };
    let ids: Vec<_> = got.iter().filter_map(|m| header(m, "ce-id")).collect();
    assert_eq!(ids, ALL);
    assert_eq!(got[0].subject.as_str(), format!("{base}.orders"));
    assert_eq!(got[2].subject.as_str(), format!("{base}.notes"));
    assert_eq!(
        header(&got[0], "ce-type").as_deref(),
        Some("com.example.shop.OrderPlaced")
    );
    assert_eq!(
        header(&got[0], "ce-source").as_deref(),
        Some("producer-service")
    );
    assert_eq!(header(&got[0], "ce-subject").as_deref(), Some("order/1"));
    assert_eq!(
        header(&got[0], "content-type").as_deref(),
        Some("application/json")
    );
    let data: serde_json::Value = serde_json::from_slice(&got[0].payload).expect("JSON");
    assert_eq!(data, serde_json::json!({"orderId": "ord-1", "total": 37.5}));
    assert_eq!(&got[2].payload[..], b"hello world");
    assert_eq!(&got[3].payload[..], [0u8, 1, 2, 3, 0xff]);
    assert_eq!(header(&got[4], "ce-priority").as_deref(), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_gets_structured_events_on_the_subject_the_url_names() {
    use futures_util::StreamExt;
    let base = unique("elredrive.");
    let capture = capture_on(&base, ".");
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("connect");
    let subject = format!("{base}.replayed");
    let mut sub = client.subscribe(subject.clone()).await.expect("subscribe");
    client.flush().await.expect("flush");
    redrive(
        capture.path(),
        &format!("nats://127.0.0.1:4222/{subject}"),
        Mode::Structured,
    );
    let mut ids = Vec::new();
    for _ in 0..ALL.len() {
        let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("in time")
            .expect("open");
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
        if v["id"] == "ord-1" {
            assert_eq!(v["type"], "com.example.shop.OrderPlaced");
            assert_eq!(v["subject"], "order/1");
            assert_eq!(v["data"]["orderId"], "ord-1");
        }
        ids.push(v["id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(ids, ALL);
}

// ---------------------------------------------------------------- MQTT

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_gets_binary_mode_user_properties() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let base = unique("elredrive/");
    let capture = capture_on(&base, "/");
    let mut opts = MqttOptions::new(unique("elredrive-sub-"), "127.0.0.1", 1883);
    opts.set_keep_alive(Duration::from_secs(20));
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    client
        .subscribe(format!("{base}/#"), QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(None);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(Some(p));
                }
                Ok(_) => {}
                Err(e) => panic!("mqtt: {e}"),
            }
        }
    });
    // Subscribed.
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await,
        Ok(Some(None))
    ));
    // No topic in the URL: each event on its captured topic.
    redrive(capture.path(), "mqtt://127.0.0.1:1883", Mode::Binary);
    let mut got = Vec::new();
    while got.len() < ALL.len() {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Some(p))) => got.push(p),
            other => panic!("got {} of {}: {other:?}", got.len(), ALL.len()),
        }
    }
    task.abort();
    let prop = |p: &rumqttc::v5::mqttbytes::v5::Publish, k: &str| {
        p.properties.as_ref().and_then(|pr| {
            pr.user_properties
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        })
    };
    let ids: Vec<_> = got.iter().filter_map(|p| prop(p, "id")).collect();
    assert_eq!(ids, ALL);
    assert_eq!(
        String::from_utf8_lossy(&got[0].topic),
        format!("{base}/orders")
    );
    assert_eq!(
        String::from_utf8_lossy(&got[2].topic),
        format!("{base}/notes")
    );
    assert_eq!(prop(&got[0], "specversion").as_deref(), Some("1.0"));
    assert_eq!(
        prop(&got[0], "type").as_deref(),
        Some("com.example.shop.OrderPlaced")
    );
    assert_eq!(prop(&got[0], "source").as_deref(), Some("producer-service"));
    assert_eq!(prop(&got[0], "subject").as_deref(), Some("order/1"));
    assert_eq!(
        got[0]
            .properties
            .as_ref()
            .and_then(|p| p.content_type.as_deref()),
        Some("application/json")
    );
    assert_eq!(&got[2].payload[..], b"hello world");
    assert_eq!(&got[3].payload[..], [0u8, 1, 2, 3, 0xff]);
}

// ---------------------------------------------------------------- RabbitMQ

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_gets_cloudevents_application_properties_with_each_events_routing_key() {
    use futures_util::StreamExt;
    use lapin::options::*;
    use lapin::types::{AMQPValue, FieldTable};
    use lapin::{Connection, ConnectionProperties, ExchangeKind};
    let exchange = unique("elredrive.amqp.");
    let capture = capture_on("rk", ".");
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
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange");
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    ch.queue_bind(
        q.name().clone(),
        exchange.as_str().into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "redrive-test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    // No key in the URL: each event's captured channel is its routing key.
    let summary = redrive(
        capture.path(),
        &format!("amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}"),
        Mode::Binary,
    );
    assert!(!summary.target.contains("guest"));
    let mut got = Vec::new();
    while got.len() < ALL.len() {
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("delivery");
        got.push(d);
    }
    let header = |d: &lapin::message::Delivery, k: &str| -> Option<String> {
        let h = d.properties.headers().as_ref()?;
        match h.inner().get(k)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::LongLongInt(i) => Some(format!("int:{i}")),
            other => Some(format!("{other:?}")),
        }
    };
    let ids: Vec<_> = got
        .iter()
        .filter_map(|d| header(d, "cloudEvents:id"))
        .collect();
    assert_eq!(ids, ALL);
    assert_eq!(got[0].routing_key.as_str(), "rk.orders");
    assert_eq!(got[2].routing_key.as_str(), "rk.notes");
    assert_eq!(
        header(&got[0], "cloudEvents:type").as_deref(),
        Some("com.example.shop.OrderPlaced")
    );
    assert_eq!(
        header(&got[0], "cloudEvents:source").as_deref(),
        Some("producer-service")
    );
    assert_eq!(
        header(&got[0], "cloudEvents:subject").as_deref(),
        Some("order/1")
    );
    // An integer extension stays an integer.
    assert_eq!(
        header(&got[4], "cloudEvents:priority").as_deref(),
        Some("int:5")
    );
    assert_eq!(
        got[0]
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str()),
        Some("application/json")
    );
    let data: serde_json::Value = serde_json::from_slice(&got[0].data).expect("JSON");
    assert_eq!(data, serde_json::json!({"orderId": "ord-1", "total": 37.5}));
    assert_eq!(&got[3].data[..], [0u8, 1, 2, 3, 0xff]);
    let _ = conn.close(0, "done".into()).await;
}

// ---------------------------------------------------------------- Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stream_gets_attribute_fields_or_one_structured_field() {
    use redis::AsyncCommands;
    let capture = capture_on("unused", ".");
    let client = redis::Client::open("redis://127.0.0.1:6379/").expect("client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    // Binary mode: the attributes as fields, the data in `data`.
    let key = unique("elredrive:stream:");
    redrive(
        capture.path(),
        &format!("redis://127.0.0.1:6379/stream/{key}"),
        Mode::Binary,
    );
    let reply: redis::streams::StreamRangeReply = con.xrange_all(&key).await.expect("XRANGE");
    let field = |e: &redis::streams::StreamId, k: &str| -> Option<Vec<u8>> {
        match e.map.get(k)? {
            redis::Value::BulkString(b) => Some(b.clone()),
            redis::Value::SimpleString(s) => Some(s.clone().into_bytes()),
            _ => None,
        }
    };
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let ids: Vec<_> = reply
        .ids
        .iter()
        .filter_map(|e| text(field(e, "id")))
        .collect();
    assert_eq!(ids, ALL);
    let first = &reply.ids[0];
    assert_eq!(text(field(first, "specversion")).as_deref(), Some("1.0"));
    assert_eq!(
        text(field(first, "type")).as_deref(),
        Some("com.example.shop.OrderPlaced")
    );
    assert_eq!(
        text(field(first, "source")).as_deref(),
        Some("producer-service")
    );
    assert_eq!(text(field(first, "subject")).as_deref(), Some("order/1"));
    assert_eq!(
        text(field(first, "datacontenttype")).as_deref(),
        Some("application/json")
    );
    let data: serde_json::Value =
        serde_json::from_slice(&field(first, "data").unwrap_or_default()).expect("JSON");
    assert_eq!(data, serde_json::json!({"orderId": "ord-1", "total": 37.5}));
    assert_eq!(field(&reply.ids[3], "data"), Some(vec![0u8, 1, 2, 3, 0xff]));
    let _: Result<(), _> = con.del(&key).await;

    // Structured mode: one field, `event`.
    let key = unique("elredrive:stream:");
    redrive(
        capture.path(),
        &format!("redis://127.0.0.1:6379/stream/{key}"),
        Mode::Structured,
    );
    let reply: redis::streams::StreamRangeReply = con.xrange_all(&key).await.expect("XRANGE");
    let ids: Vec<String> = reply
        .ids
        .iter()
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_slice(&field(e, "event").unwrap_or_default()).expect("JSON");
            v["id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(ids, ALL);
    let _: Result<(), _> = con.del(&key).await;
}
