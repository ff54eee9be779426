//! Declared topology against the real local brokers: JetStream durable consumers, Redis
//! consumer groups and RabbitMQ queues bound to an exchange (through the management API)
//! become declared handler nodes, and the one the test never consumed from is an
//! `idle-consumer` finding. What is expected comes from what each test set up with the
//! broker's own client. Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eventlens");
/// Events each test publishes.
const N: u64 = 5;

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

fn event(i: u64) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"d-{i}","source":"/test/declared","type":"OrderPlaced","data":{{"n":{i}}}}}"#
    )
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

/// `analyze URL --duration 2s --json`.
fn analyze_url(url: &str) -> Value {
    let (json, _) = run_ok(&["analyze", url, "--duration", "2s", "--json"]);
    serde_json::from_str(&json).expect("JSON")
}

/// `record URL -o FILE --duration 2s`, then `analyze FILE --json`: the declared topology
/// is in the recording.
fn record_then_analyze(url: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("declared.jsonl.zst");
    let path = cap.to_str().expect("path");
    let (_, stderr) = run_ok(&["record", url, "-o", path, "--duration", "2s"]);
    assert!(!stderr.contains("guest:guest"), "{stderr}");
    let text = std::fs::read(&cap).expect("capture");
    let text = zstd::stream::decode_all(&text[..]).expect("zstd");
    let text = String::from_utf8(text).expect("UTF-8");
    assert!(text.contains(r#""lensstage":"declared""#), "{text}");
    assert!(!text.contains("guest:guest"));
    let (json, _) = run_ok(&["analyze", path, "--json"]);
    serde_json::from_str(&json).expect("JSON")
}

/// The declared edge channel -> consumer, as `analyze --json` reports it.
fn declared_edge<'a>(r: &'a Value, channel: &str, consumer: &str) -> &'a Value {
    let edges = r["topology"]["edges"].as_array().expect("edges");
    let e = edges
        .iter()
        .find(|e| {
            e["from"] == format!("channel:{channel}") && e["to"] == format!("service:{consumer}")
        })
        .unwrap_or_else(|| panic!("no edge {channel} -> {consumer} in {edges:#?}"));
    assert_eq!(e["declared"], true, "{e}");
    let nodes = r["topology"]["nodes"].as_array().expect("nodes");
    let n = nodes
        .iter()
        .find(|n| n["id"] == format!("service:{consumer}"))
        .unwrap_or_else(|| panic!("no node {consumer} in {nodes:#?}"));
    assert_eq!(n["kind"], "handler", "{n}");
    assert_eq!(n["declared"], true, "{n}");
    e
}

/// The `idle-consumer` findings naming `consumer`.
fn idle_findings<'a>(r: &'a Value, consumer: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["kind"] == "idle-consumer"
                && f["nodes"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| *n == format!("service:{consumer}")))
        })
        .collect()
}

/// Both consumers are declared; the idle one, and only it, is an `idle-consumer` finding
/// with the broker's figures.
fn check(r: &Value, channel: &str, busy: &str, idle: &str, kind: &str) {
    let b = declared_edge(r, channel, busy);
    let i = declared_edge(r, channel, idle);
    assert_eq!(b["declared_kind"], kind);
    assert_eq!(i["declared_kind"], kind);
    assert_eq!(b["broker"]["delivered"], N, "{b}");
    assert_eq!(b["broker"]["pending"], 0, "{b}");
    assert_eq!(i["broker"]["delivered"], 0, "{i}");
    assert_eq!(i["broker"]["pending"], N, "{i}");
    assert!(idle_findings(r, busy).is_empty(), "{:#?}", r["findings"]);
    let f = idle_findings(r, idle);
    assert_eq!(f.len(), 1, "{:#?}", r["findings"]);
    let f = f[0];
    assert_eq!(f["severity"], "warning");
    let title = f["title"].as_str().expect("title");
    assert!(title.contains(idle) && title.contains(channel), "{title}");
    assert!(title.contains(&format!("pending {N}")), "{title}");
    assert_eq!(f["evidence"]["broker_last"]["pending"], N);
    assert_eq!(f["evidence"]["broker_last"]["delivered"], 0);
}

#[test]
fn jetstream_durable_consumers_are_declared_and_the_unread_one_is_idle() {
    use async_nats::jetstream::consumer::pull;
    use futures_util::StreamExt;
    let rt = runtime();
    let stream = unique("ELDECL_");
    let subject = stream.to_lowercase();
    let busy = format!("{subject}-billing");
    let idle = format!("{subject}-audit");
    rt.block_on(async {
        let client = async_nats::connect("127.0.0.1:4222")
            .await
            .expect("connect");
        let js = async_nats::jetstream::new(client);
        let s = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: stream.clone(),
                subjects: vec![format!("{subject}.>")],
                ..Default::default()
            })
            .await
            .expect("stream");
        for name in [&busy, &idle] {
            s.create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: format!("{subject}.orders"),
                ..Default::default()
            })
            .await
            .expect("consumer");
        }
        for i in 0..N {
            js.publish(format!("{subject}.orders"), event(i).into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        // The busy consumer reads and acknowledges everything; the idle one nothing.
        let c: async_nats::jetstream::consumer::PullConsumer =
            s.get_consumer(&busy).await.expect("busy consumer");
        let mut got = 0;
        let mut msgs = c
            .fetch()
            .max_messages(N as usize)
            .expires(Duration::from_secs(5))
            .messages()
            .await
            .expect("fetch");
        while let Some(m) = msgs.next().await {
            m.expect("message").double_ack().await.expect("ack");
            got += 1;
        }
        assert_eq!(got, N);
    });
    let url = format!("nats://127.0.0.1:4222/stream/{stream}");
    for r in [analyze_url(&url), record_then_analyze(&url)] {
        check(&r, &stream, &busy, &idle, "jetstream-consumer");
        assert_eq!(
            declared_edge(&r, &stream, &idle)["filter"],
            format!("{subject}.orders")
        );
    }
    live_path_finds_the_idle_consumer(&url, &stream, &busy, &idle);
    rt.block_on(async {
        let client = async_nats::connect("127.0.0.1:4222")
            .await
            .expect("connect");
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    });
}

/// The app's live path (sources -> batches -> the live worker -> its snapshot): the
/// declared consumers are in the snapshot's topology and the idle one in its findings.
fn live_path_finds_the_idle_consumer(url: &str, channel: &str, busy: &str, idle: &str) {
    use eventlens::analysis::Kind;
    use eventlens::model::NodeClass;
    let url = eventlens::source::BrokerUrl::parse(url).expect("URL");
    let feed = eventlens::live::broker::spawn_brokers(&[url]).expect("sources");
    let worker = eventlens::live::worker::LiveWorker::on_feed(&feed, "live").expect("worker");
    let t0 = Instant::now();
    loop {
        let snap = worker.wait_snapshot(Duration::from_secs(5));
        if let Some(s) = snap {
            let st = &s.store;
            let node = |name: &str| st.find_node(NodeClass::Service, name);
            let declared = |c: &str| {
                st.find_node(NodeClass::Channel, channel)
                    .zip(node(c))
                    .and_then(|(a, b)| st.topology.edge_between(a, b))
                    .is_some_and(|e| e.declared)
            };
            let idle_found: Vec<_> = s
                .findings
                .iter()
                .filter(|f| f.kind == Kind::IdleConsumer)
                .collect();
            if declared(busy) && declared(idle) && !idle_found.is_empty() {
                assert_eq!(idle_found.len(), 1, "{idle_found:#?}");
                assert_eq!(
                    idle_found[0].nodes,
                    vec![format!("channel:{channel}"), format!("service:{idle}")]
                );
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the live worker never showed the declared consumers"
        );
    }
    worker.stop();
}

#[test]
fn redis_consumer_groups_are_declared_and_the_unread_one_is_idle() {
    let rt = runtime();
    let key = unique("eldecl:");
    let busy = format!("{key}-billing");
    let idle = format!("{key}-audit");
    rt.block_on(async {
        let client = redis::Client::open("redis://127.0.0.1:6379/").expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        for i in 0..N {
            let _: String = redis::cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("event")
                .arg(event(i))
                .query_async(&mut con)
                .await
                .expect("XADD");
        }
        for g in [&busy, &idle] {
            let _: () = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(g)
                .arg("0")
                .query_async(&mut con)
                .await
                .expect("XGROUP CREATE");
        }
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&busy)
            .arg("worker-1")
            .arg("COUNT")
            .arg(N)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(&mut con)
            .await
            .expect("XREADGROUP");
        let ids: Vec<String> = reply
            .keys
            .iter()
            .flat_map(|k| k.ids.iter().map(|e| e.id.clone()))
            .collect();
        assert_eq!(ids.len() as u64, N);
        let acked: u64 = redis::cmd("XACK")
            .arg(&key)
            .arg(&busy)
            .arg(&ids)
            .query_async(&mut con)
            .await
            .expect("XACK");
        assert_eq!(acked, N);
    });
    let url = format!("redis://127.0.0.1:6379/stream/{key}");
    let r = analyze_url(&url);
    check(&r, &key, &busy, &idle, "redis-group");
    // The stream is read without a group: what the tap read is on the channel, and the
    // finding says so.
    let f = idle_findings(&r, &idle);
    assert_eq!(f[0]["evidence"]["published"], N);
    let r = record_then_analyze(&url);
    check(&r, &key, &busy, &idle, "redis-group");
    rt.block_on(async {
        let client = redis::Client::open("redis://127.0.0.1:6379/").expect("client");
        if let Ok(mut con) = client.get_multiplexed_async_connection().await {
            let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(&mut con).await;
        }
    });
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Turns the management plugin on when it is off (as `.ci/run` does).
fn management_api() {
    if port_open(15672) {
        return;
    }
    let status = Command::new("rabbitmq-plugins")
        .args(["enable", "rabbitmq_management"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmq-plugins");
    assert!(status.success());
    let t0 = Instant::now();
    while !port_open(15672) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the management API did not open"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A queue's figures from the management API (the test's own check of what the broker
/// reports, not eventlens's).
async fn queue_info(http: &reqwest::Client, queue: &str) -> Value {
    let url = format!("http://127.0.0.1:15672/api/queues/%2F/{queue}");
    match http
        .get(url)
        .basic_auth("guest", Some("guest"))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

#[test]
fn rabbitmq_queues_bound_to_the_exchange_are_declared_and_the_unconsumed_one_is_idle() {
    use futures_util::StreamExt;
    use lapin::options::*;
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
    management_api();
    let rt = runtime();
    let exchange = unique("eldecl.amqp.");
    let busy = format!("{exchange}.billing");
    let idle = format!("{exchange}.audit");
    // The connection stays open while eventlens reads, so the busy queue keeps its consumer.
    let (_conn, ch, _consumer) = rt.block_on(async {
        let conn = Connection::connect(
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            ConnectionProperties::default(),
        )
        .await
        .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
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
        for q in [&busy, &idle] {
            ch.queue_declare(
                q.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue");
            ch.queue_bind(
                q.as_str().into(),
                exchange.as_str().into(),
                "orders.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind");
        }
        for i in 0..N {
            ch.basic_publish(
                exchange.as_str().into(),
                "orders.created".into(),
                BasicPublishOptions::default(),
                event(i).as_bytes(),
                BasicProperties::default().with_content_type("application/cloudevents+json".into()),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        }
        let mut consumer = ch
            .basic_consume(
                busy.as_str().into(),
                "test-billing".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        for _ in 0..N {
            let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("a delivery in time")
                .expect("a delivery")
                .expect("delivery");
            d.ack(BasicAckOptions::default()).await.expect("ack");
        }
        // The management API's figures lag the broker (statistics every 5 s): wait until
        // it shows what the test did.
        let http = reqwest::Client::new();
        let t0 = Instant::now();
        loop {
            let (b, i) = (
                queue_info(&http, &busy).await,
                queue_info(&http, &idle).await,
            );
            if b["message_stats"]["deliver_get"] == N
                && b["messages_ready"] == 0
                && b["consumers"] == 1
                && i["messages_ready"] == N
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the management API never showed the figures: {b} {i}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (conn, ch, consumer)
    });
    let url = format!("amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}&key=orders.%23");
    for r in [analyze_url(&url), record_then_analyze(&url)] {
        check(&r, &exchange, &busy, &idle, "rabbitmq-queue");
        assert_eq!(declared_edge(&r, &exchange, &idle)["filter"], "orders.#");
        assert_eq!(
            declared_edge(&r, &exchange, &busy)["broker"]["consumers"],
            1
        );
        // eventlens's own tap queue is not declared topology.
        let edges = r["topology"]["edges"].as_array().expect("edges");
        assert!(
            !edges
                .iter()
                .any(|e| e["to"].as_str().is_some_and(|t| t.contains("amq.gen-"))),
            "{edges:#?}"
        );
        assert!(!r.to_string().contains("guest:guest"));
    }
    // The idle queue never had a consumer, so auto-delete would never remove it.
    rt.block_on(async {
        for q in [&busy, &idle] {
            let _ = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    });
}

#[test]
fn without_the_management_api_an_amqp_source_says_so_and_still_reads() {
    // A port nothing listens on stands for the plugin being off.
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f?exchange=amq.topic&key=nothing.here&mgmt=1";
    let out = Command::new(BIN)
        .args(["analyze", url, "--duration", "1s", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("runs eventlens");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("declared topology not available")
            && stderr.contains("management API at http://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("guest:guest"), "{stderr}");
}
