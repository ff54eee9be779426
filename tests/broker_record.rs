//! `eventlens record` and `eventlens analyze URL` against the real local brokers; the app
//! opened on a broker URL; a JetStream source that outlives its server. Run with
//! `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use eventlens::model::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eventlens");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}{nanos}", std::process::id())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn structured(id: &str, ty: &str, n: u32) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test/producer","type":"{ty}","datacontenttype":"application/json","traceparent":"{TRACEPARENT}","data":{{"n":{n}}}}}"#
    )
}

/// A JetStream stream with the known events on `subject.orders` and one plain message on
/// `subject.plain`: structured, binary and plain. Returns (stream, subject).
async fn stream_with_events(n_structured: u32) -> (String, String, async_nats::jetstream::Context) {
    let name = unique("ELREC_");
    let subject = name.to_lowercase();
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("connect");
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("{subject}.>")],
        ..Default::default()
    })
    .await
    .expect("stream");
    for i in 0..n_structured {
        let mut h = async_nats::HeaderMap::new();
        h.insert("content-type", "application/cloudevents+json");
        let ty = if i % 2 == 0 {
            "OrderPlaced"
        } else {
            "OrderPaid"
        };
        js.publish_with_headers(
            format!("{subject}.orders"),
            h,
            structured(&format!("s-{i}"), ty, i).into(),
        )
        .await
        .expect("publish")
        .await
        .expect("ack");
    }
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "b-1"),
        ("ce-source", "/test/producer"),
        ("ce-type", "OrderShipped"),
        ("ce-traceparent", TRACEPARENT),
        ("content-type", "application/json"),
    ] {
        h.insert(k, v);
    }
    js.publish_with_headers(format!("{subject}.orders"), h, r#"{"shipped":true}"#.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", "plain-1");
    js.publish_with_headers(format!("{subject}.plain"), h, "plain text".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    (name, subject, js)
}

fn load(path: &Path) -> Store {
    let mut store = Store::new();
    eventlens::ingest::load_path(
        &mut store,
        path,
        &eventlens::ingest::LoadProgress::default(),
    )
    .expect("loads");
    store.finalize();
    store
}

fn run_ok(args: &[&str]) -> (String, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs eventlens");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "eventlens {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn record_then_analyze_reproduces_what_was_published() {
    let rt = runtime();
    let (name, subject, js) = rt.block_on(stream_with_events(4));
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("run.jsonl.zst");
    let url = format!("nats://127.0.0.1:4222/stream/{name}");
    let (_, stderr) = run_ok(&[
        "record",
        &url,
        "-o",
        cap.to_str().expect("path"),
        "--count",
        "6",
    ]);
    assert!(
        stderr.contains("recorded 6 messages (6 events)"),
        "{stderr}"
    );

    // The capture, read back by the engine: the same events on the same channels.
    let store = load(&cap);
    assert_eq!(store.inputs[0].format.map(|f| f.as_str()), Some("capture"));
    assert!(
        store.inputs[0].violations.is_empty(),
        "{:?}",
        store.inputs[0].violations
    );
    assert_eq!(store.events.len(), 6);
    for i in 0..4u32 {
        let e = store.event(
            store
                .find_event("/test/producer", &format!("s-{i}"))
                .expect("event"),
        );
        let ty = if i % 2 == 0 {
            "OrderPlaced"
        } else {
            "OrderPaid"
        };
        assert_eq!(store.str(e.ty), ty);
        assert_eq!(store.str(e.trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            store.payload(e).as_deref(),
            Some(format!(r#"{{"n":{i}}}"#).as_bytes())
        );
    }
    let b = store.event(store.find_event("/test/producer", "b-1").expect("binary"));
    assert_eq!(store.str(b.ty), "OrderShipped");
    assert_eq!(
        store.payload(b).as_deref(),
        Some(&br#"{"shipped":true}"#[..])
    );
    let p = store.event(
        store
            .find_event(&format!("nats://{subject}.plain"), "plain-1")
            .expect("plain"),
    );
    assert_eq!(store.str(p.ty), format!("{subject}.plain"));
    // Text that is not JSON is written as a JSON string (the CloudEvents JSON format), and
    // the capture reader keeps `data` as the JSON text it is.
    assert_eq!(store.payload(p).as_deref(), Some(&br#""plain text""#[..]));

    // analyze --json: the producer publishes onto the subject it was published on.
    let (json, _) = run_ok(&["analyze", cap.to_str().expect("path"), "--json"]);
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(r["summary"]["events"], 6);
    let edges = r["topology"]["edges"].as_array().expect("edges");
    let orders = edges
        .iter()
        .find(|e| {
            e["from"] == "service:/test/producer" && e["to"] == format!("channel:{subject}.orders")
        })
        .expect("producer -> orders edge");
    assert_eq!(orders["count"], 5);
    assert_eq!(orders["stage"], "publish");
    let mut types: Vec<&str> = orders["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    types.sort();
    assert_eq!(types, vec!["OrderPaid", "OrderPlaced", "OrderShipped"]);

    // analyze straight from the broker URL, beside a file: the same six, one input more.
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl");
    let (json, _) = run_ok(&[
        "analyze",
        sample.to_str().expect("path"),
        &url,
        "--count",
        "6",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let inputs = r["inputs"].as_array().expect("inputs");
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[1]["path"], url.as_str());
    assert_eq!(inputs[1]["records"], 6);
    rt.block_on(async {
        let _ = js.delete_stream(&name).await;
    });
}

#[test]
fn a_killed_recorder_leaves_a_readable_capture() {
    let rt = runtime();
    let (name, _, js) = rt.block_on(stream_with_events(40));
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("killed.jsonl.gz");
    let url = format!("nats://127.0.0.1:4222/stream/{name}");
    let mut child = Command::new(BIN)
        .args(["record", &url, "-o", cap.to_str().expect("path")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the recorder");
    // Everything is in the file while the recorder still runs...
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = std::fs::metadata(&cap)
            .ok()
            .filter(|m| m.len() > 0)
            .map_or(0, |_| load(&cap).events.len());
        if n == 42 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of 42 events in the file"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // ...and stays readable after SIGKILL.
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(load(&cap).events.len(), 42);
    rt.block_on(async {
        let _ = js.delete_stream(&name).await;
    });
}

#[test]
fn recording_an_amqp_tap_never_writes_its_credentials() {
    use lapin::options::*;
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
    let rt = runtime();
    let exchange = unique("elrec.amqp.");
    let ch = rt.block_on(async {
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
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange");
        std::mem::forget(conn);
        ch
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("amqp.jsonl");
    let url = format!("amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}&key=%23");
    let child = Command::new(BIN)
        .args([
            "record",
            &url,
            "-o",
            cap.to_str().expect("path"),
            "--duration",
            "5s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the recorder");
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        for i in 0..10 {
            ch.basic_publish(
                exchange.as_str().into(),
                "orders.created".into(),
                BasicPublishOptions::default(),
                structured(&format!("a-{i}"), "OrderPlaced", i).as_bytes(),
                BasicProperties::default().with_content_type("application/cloudevents+json".into()),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let out = child.wait_with_output().expect("recorder ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&cap).expect("capture");
    assert_eq!(text.lines().count(), 10, "{stderr}");
    for shown in [
        text.as_str(),
        &stderr,
        &String::from_utf8_lossy(&out.stdout),
    ] {
        assert!(!shown.contains("guest"), "credentials written: {shown}");
    }
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or_default()).expect("JSON");
    assert_eq!(
        first["lensbroker"],
        format!("amqp://127.0.0.1:5672/%2f?exchange={exchange}&key=%23")
    );
    assert_eq!(first["lenschannel"], exchange.as_str());
    rt.block_on(async {
        let _ = ch
            .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    });
}
