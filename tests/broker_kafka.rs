//! Kafka: eventlens's live source, `record` and `analyze` against a Kafka-protocol broker
//! (tansu) the test starts on a free port. Known CloudEvents in binary and structured mode
//! and plain records, with keys, on several partitions of two topics, produced with
//! rdkafka; eventlens must receive exactly those, with their topics, partitions, offsets,
//! keys and attributes. Run with `cargo test --features broker-tests --test broker_kafka`.
#![cfg(feature = "broker-tests")]

#[path = "common/tansu.rs"]
mod tansu;

use eventlens::source::decode::{Attr, Mode, decode};
use eventlens::source::{self, BrokerUrl, Envelope, Inbox, SourceStatus};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tansu::Tansu;

const BIN: &str = env!("CARGO_BIN_EXE_eventlens");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const PARTITIONS: i32 = 3;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Creates the topics, each with [`PARTITIONS`] partitions.
async fn create_topics(address: &str, topics: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

fn producer(address: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("message.timeout.ms", "10000")
        .create()
        .expect("producer")
}

/// One record the test produced, and where the broker put it.
#[derive(Clone, Debug)]
struct Sent {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<String>,
    /// The event id eventlens must give it.
    id: String,
    mode: Mode,
}

/// Produces one record to a chosen partition; returns where it landed.
#[allow(clippy::too_many_arguments)]
async fn produce(
    p: &FutureProducer,
    topic: &str,
    partition: i32,
    key: Option<&str>,
    headers: &[(&str, &str)],
    payload: &str,
    id: &str,
    mode: Mode,
) -> Sent {
    let mut h = OwnedHeaders::new();
    for (k, v) in headers {
        h = h.insert(Header {
            key: k,
            value: Some(*v),
        });
    }
    let mut record = FutureRecord::to(topic)
        .partition(partition)
        .payload(payload)
        .headers(h);
    if let Some(k) = key {
        record = record.key(k);
    }
    let d = p
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("delivered");
    assert_eq!(d.partition, partition);
    Sent {
        topic: topic.into(),
        partition,
        offset: d.offset,
        key: key.map(str::to_string),
        id: id.to_string(),
        mode,
    }
}

fn structured(id: &str, n: usize) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test/kafka","type":"com.example.Structured","subject":"order-{n}","time":"2024-05-01T10:00:00Z","traceparent":"{TRACEPARENT}","datacontenttype":"application/json","data":{{"n":{n}}}}}"#
    )
}

/// Known records on two topics and all their partitions: binary mode (with a key), binary
/// mode with its own `partitionkey`, structured mode (with and without a key), and plain
/// records (with a key, and without).
async fn produce_known(address: &str, orders: &str, payments: &str) -> Vec<Sent> {
    let p = producer(address);
    let mut sent = Vec::new();
    for n in 0..6usize {
        let partition = (n % PARTITIONS as usize) as i32;
        let id = format!("bin-{n}");
        let ty = format!("com.example.Binary{n}");
        sent.push(
            produce(
                &p,
                orders,
                partition,
                Some(&format!("customer-{n}")),
                &[
                    ("ce_specversion", "1.0"),
                    ("ce_id", &id),
                    ("ce_source", "/test/kafka"),
                    ("ce_type", &ty),
                    ("ce_traceparent", TRACEPARENT),
                    ("content-type", "application/json"),
                ],
                &format!(r#"{{"orderId":"o-{n}"}}"#),
                &id,
                Mode::Binary,
            )
            .await,
        );
    }
    sent.push(
        produce(
            &p,
            orders,
            2,
            Some("the-key"),
            &[
                ("ce_specversion", "1.0"),
                ("ce_id", "bin-own-pk"),
                ("ce_source", "/test/kafka"),
                ("ce_type", "com.example.OwnKey"),
                ("ce_partitionkey", "own-key"),
                ("content-type", "application/json"),
            ],
            "{}",
            "bin-own-pk",
            Mode::Binary,
        )
        .await,
    );
    for n in 0..4usize {
        let partition = (n % PARTITIONS as usize) as i32;
        let id = format!("st-{n}");
        let key = format!("account-{n}");
        sent.push(
            produce(
                &p,
                payments,
                partition,
                (n % 2 == 0).then_some(key.as_str()),
                &[("content-type", "application/cloudevents+json")],
                &structured(&id, n),
                &id,
                Mode::Structured,
            )
            .await,
        );
    }
    for n in 0..3usize {
        let partition = ((n + 1) % PARTITIONS as usize) as i32;
        let key = format!("plain-{n}");
        let mut s = produce(
            &p,
            payments,
            partition,
            (n != 1).then_some(key.as_str()),
            &[],
            &format!("plain record {n}"),
            "",
            Mode::Plain,
        )
        .await;
        s.id = format!("{payments}/{}/{}", s.partition, s.offset);
        sent.push(s);
    }
    sent
}

/// Starts the Kafka source and waits until it is connected.
async fn start(url: &str) -> Inbox {
    let url = BrokerUrl::parse(url).expect("URL");
    let inbox = source::start(
        &[url],
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while inbox.sources[0].status() != SourceStatus::Connected {
        assert!(
            Instant::now() < deadline,
            "the source did not connect: {}",
            inbox.sources[0].summary()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    inbox
}

/// Receives `n` messages, and checks that no more come within a while.
async fn receive(inbox: &mut Inbox, n: usize) -> Vec<Envelope> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(e)) => got.push(e),
            _ => panic!(
                "received {} of {n} records: {}",
                got.len(),
                inbox.sources[0].summary()
            ),
        }
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(1500), inbox.recv()).await {
        panic!("an unexpected extra record: {:?}", extra.msg);
    }
    got
}

/// What eventlens received is exactly what was produced: each record once, on its topic,
/// partition and offset, with its key, decoded by the Kafka binding.
fn check_received(got: &[Envelope], sent: &[Sent]) {
    let mut by_place: BTreeMap<(String, i32, i64), &Envelope> = BTreeMap::new();
    for e in got {
        let m = &e.msg;
        let place = (
            m.channel.clone(),
            m.meta.partition.expect("partition") as i32,
            m.meta.offset.expect("offset"),
        );
        assert!(
            by_place.insert(place, e).is_none(),
            "a record received twice"
        );
    }
    assert_eq!(by_place.len(), sent.len());
    for s in sent {
        let e = by_place
            .get(&(s.topic.clone(), s.partition, s.offset))
            .unwrap_or_else(|| panic!("not received: {s:?}"));
        let m = &e.msg;
        assert_eq!(m.key_text(), s.key.as_deref(), "{s:?}");
        assert!(m.meta.broker_time.is_some(), "{s:?}");
        let d = decode(m).expect("decodes");
        assert_eq!(d.mode, s.mode, "{s:?}");
        assert_eq!(d.events.len(), 1);
        let ev = &d.events[0];
        assert_eq!(ev.id, s.id);
        let pk = ev
            .extensions
            .iter()
            .find(|(k, _)| k == "partitionkey")
            .map(|(_, v)| v.clone());
        match s.mode {
            Mode::Binary if s.id == "bin-own-pk" => {
                assert_eq!(pk, Some(Attr::Str("own-key".into())));
                assert_eq!(ev.ty, "com.example.OwnKey");
            }
            Mode::Binary => {
                let n = &s.id["bin-".len()..];
                assert!(ev.cloudevent);
                assert_eq!(ev.source, "/test/kafka");
                assert_eq!(ev.ty, format!("com.example.Binary{n}"));
                assert_eq!(ev.datacontenttype.as_deref(), Some("application/json"));
                assert!(
                    ev.extensions
                        .contains(&("traceparent".into(), Attr::Str(TRACEPARENT.into())))
                );
                assert_eq!(pk, Some(Attr::Str(format!("customer-{n}"))));
                let data = ev.data.as_ref().expect("data");
                assert_eq!(data.bytes, format!(r#"{{"orderId":"o-{n}"}}"#).as_bytes());
                assert!(ev.violations.is_empty(), "{:?}", ev.violations);
            }
            Mode::Structured => {
                let n: usize = s.id["st-".len()..].parse().expect("n");
                assert!(ev.cloudevent);
                assert_eq!(ev.source, "/test/kafka");
                assert_eq!(ev.ty, "com.example.Structured");
                assert_eq!(ev.subject.as_deref(), Some(format!("order-{n}").as_str()));
                assert_eq!(ev.time_text.as_deref(), Some("2024-05-01T10:00:00Z"));
                assert_eq!(pk, s.key.clone().map(Attr::Str));
                assert_eq!(
                    ev.data.as_ref().map(|d| d.bytes.clone()),
                    Some(format!(r#"{{"n":{n}}}"#).into_bytes())
                );
                assert!(ev.violations.is_empty(), "{:?}", ev.violations);
            }
            _ => {
                assert!(!ev.cloudevent);
                assert_eq!(ev.source, format!("kafka://{}", s.topic));
                assert_eq!(ev.ty, s.topic);
                assert_eq!(pk, s.key.clone().map(Attr::Str));
                assert!(
                    ev.data
                        .as_ref()
                        .is_some_and(|d| d.bytes.starts_with(b"plain record "))
                );
            }
        }
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[test]
fn the_kafka_source_reads_every_partition_of_its_topics_exactly_once() {
    let broker = Tansu::start();
    let address = broker.address();
    let (orders, payments) = (unique("orders"), unique("payments"));
    let rt = runtime();
    rt.block_on(async {
        create_topics(&address, &[&orders, &payments]).await;
        let sent = produce_known(&address, &orders, &payments).await;
        assert_eq!(sent.len(), 14);
        // Records on every partition of both topics.
        for t in [&orders, &payments] {
            for p in 0..PARTITIONS {
                assert!(sent.iter().any(|s| &s.topic == t && s.partition == p));
            }
        }
        let mut inbox = start(&format!("kafka://{address}/{orders},{payments}")).await;
        let got = receive(&mut inbox, sent.len()).await;
        check_received(&got, &sent);
        let c = inbox.sources[0].counters();
        assert_eq!(c.received, sent.len() as u64);
        assert_eq!(c.dropped, 0);

        // Live: a record produced now arrives too, once.
        let p = producer(&address);
        let late = produce(
            &p,
            &orders,
            1,
            Some("late"),
            &[],
            "late record",
            "",
            Mode::Plain,
        )
        .await;
        let got = receive(&mut inbox, 1).await;
        assert_eq!(got[0].msg.meta.offset, Some(late.offset));
        assert_eq!(got[0].msg.meta.partition, Some(1));
        drop(inbox);

        // ?from=end: only what is produced after the source started.
        let mut tail = start(&format!("kafka://{address}/{orders}?from=end")).await;
        // The assignment reaches the fetcher just after the status says connected.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = produce(&p, &orders, 0, None, &[], "after", "", Mode::Plain).await;
        let got = receive(&mut tail, 1).await;
        assert_eq!(
            (got[0].msg.meta.partition, got[0].msg.meta.offset),
            (Some(0), Some(after.offset))
        );
        drop(tail);

        // ?from=OFFSET: that offset in every partition (the third record of each: `after`,
        // `late` and bin-own-pk).
        let mut from = start(&format!("kafka://{address}/{orders}?from=2")).await;
        let mut expected: Vec<(i64, i64)> = sent
            .iter()
            .filter(|s| s.topic == orders && s.offset >= 2)
            .map(|s| (i64::from(s.partition), s.offset))
            .chain([(1, late.offset), (0, after.offset)])
            .collect();
        expected.sort();
        let got = receive(&mut from, expected.len()).await;
        let mut places: Vec<(i64, i64)> = got
            .iter()
            .map(|e| {
                (
                    e.msg.meta.partition.unwrap_or(-1),
                    e.msg.meta.offset.unwrap_or(-1),
                )
            })
            .collect();
        places.sort();
        assert_eq!(places, expected);
    });
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
fn record_and_analyze_read_a_kafka_url() {
    let broker = Tansu::start();
    let address = broker.address();
    let (orders, payments) = (unique("rec-orders"), unique("rec-payments"));
    let rt = runtime();
    let sent = rt.block_on(async {
        create_topics(&address, &[&orders, &payments]).await;
        produce_known(&address, &orders, &payments).await
    });
    // The password never reaches the capture or the output (tansu takes no SASL here: the
    // URL without a user is the one read).
    let url = format!("kafka://{address}/{orders},{payments}");
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = dir.path().join("kafka.jsonl");
    let (_, stderr) = run_ok(&[
        "record",
        &url,
        "-o",
        cap.to_str().expect("path"),
        "--count",
        &sent.len().to_string(),
    ]);
    assert!(
        stderr.contains(&format!(
            "recorded {} messages ({} events)",
            sent.len(),
            sent.len()
        )),
        "{stderr}"
    );
    // Each capture line: the event, its topic as the channel, partition and offset.
    let text = std::fs::read_to_string(&cap).expect("capture");
    let mut lines: BTreeMap<(String, String, String), serde_json::Value> = BTreeMap::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
        if v["lensstage"] == "declared" {
            continue;
        }
        let key = (
            v["lenschannel"].as_str().unwrap_or_default().to_string(),
            v["lenspartition"].as_str().unwrap_or_default().to_string(),
            v["lensoffset"].as_str().unwrap_or_default().to_string(),
        );
        assert!(lines.insert(key, v).is_none(), "a record recorded twice");
    }
    assert_eq!(lines.len(), sent.len());
    for s in &sent {
        let v = lines
            .get(&(
                s.topic.clone(),
                s.partition.to_string(),
                s.offset.to_string(),
            ))
            .unwrap_or_else(|| panic!("not recorded: {s:?}"));
        assert_eq!(v["id"], s.id.as_str(), "{v}");
        let want_pk = match (s.id.as_str(), &s.key) {
            ("bin-own-pk", _) => Some("own-key".to_string()),
            (_, k) => k.clone(),
        };
        assert_eq!(
            v["partitionkey"].as_str().map(str::to_string),
            want_pk,
            "{v}"
        );
        assert_eq!(v["lensbroker"].as_str(), Some(url.as_str()));
        assert_eq!(
            v["lensmode"].as_str(),
            Some(match s.mode {
                Mode::Binary => "binary",
                Mode::Structured => "structured",
                _ => "plain",
            })
        );
    }

    // A consumer group with committed offsets on `orders` (partitions 0, 1, 2 hold 2, 2
    // and 3 records): committed 1, 2 and 0, so its lag is 1 + 0 + 3.
    let group = unique("lagging");
    rt.block_on(commit_offsets(
        &address,
        &group,
        &orders,
        &[(0, 1), (1, 2), (2, 0)],
    ));

    // analyze straight from the URL for a while: the same records, as a report, and the
    // group as a declared handler of the topic with its lag.
    let (json, _) = run_ok(&["analyze", &url, "--duration", "6s", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(r["summary"]["events"], sent.len(), "{}", r["summary"]);
    // The input's records: the events, and the group's declared records (one a poll).
    let inputs = r["inputs"].as_array().expect("inputs");
    assert!(
        inputs[0]["records"]
            .as_u64()
            .is_some_and(|n| n > sent.len() as u64),
        "{}",
        inputs[0]
    );
    let edges = r["topology"]["edges"].as_array().expect("edges");
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "service:/test/kafka" && e["to"] == format!("channel:{orders}")),
        "{edges:?}"
    );
    let lag = edges
        .iter()
        .find(|e| e["from"] == format!("channel:{orders}") && e["to"] == format!("service:{group}"))
        .unwrap_or_else(|| panic!("no declared edge {orders} -> {group}: {edges:#?}"));
    assert_eq!(lag["declared"], true, "{lag}");
    assert_eq!(lag["declared_kind"], "kafka-group", "{lag}");
    assert_eq!(lag["broker"]["pending"], 4, "{lag}");
    assert_eq!(lag["broker"]["delivered"], 3, "{lag}");
    assert_eq!(lag["filter"], "p0 lag 1, p1 lag 0, p2 lag 3", "{lag}");
    // Re-drive the capture into a topic of its own: every event once, its partitionkey as
    // the record key (one key, one partition), in the capture's order within a partition.
    let replayed = unique("replayed");
    rt.block_on(create_topics(&address, &[&replayed]));
    run_ok(&[
        "replay",
        cap.to_str().expect("path"),
        "--to",
        &format!("kafka://{address}/{replayed}"),
        "--asap",
    ]);
    let got = rt.block_on(async {
        let mut inbox = start(&format!("kafka://{address}/{replayed}")).await;
        receive(&mut inbox, sent.len()).await
    });
    let mut by_id = BTreeMap::new();
    let mut partition_of_key: BTreeMap<String, i64> = BTreeMap::new();
    for e in &got {
        let d = decode(&e.msg).expect("decodes");
        let ev = &d.events[0];
        assert!(ev.cloudevent, "{ev:?}");
        if let Some(k) = e.msg.key_text() {
            let p = e.msg.meta.partition.expect("partition");
            assert_eq!(*partition_of_key.entry(k.to_string()).or_insert(p), p);
        }
        assert!(by_id.insert(ev.id.clone(), e).is_none(), "replayed twice");
    }
    for s in &sent {
        let e = by_id
            .get(&s.id)
            .unwrap_or_else(|| panic!("not replayed: {s:?}"));
        let want_key = match (s.id.as_str(), &s.key) {
            ("bin-own-pk", _) => Some("own-key"),
            (_, k) => k.as_deref(),
        };
        assert_eq!(e.msg.key_text(), want_key, "{s:?}");
    }
    // Into a topic the broker does not have: said at once, naming the topic, and the run
    // fails; not a delivery timeout per record.
    let missing = unique("missing");
    let t = std::time::Instant::now();
    let out = Command::new(BIN)
        .args(["replay", cap.to_str().expect("path"), "--to"])
        .arg(format!("kafka://{address}/{missing}"))
        .arg("--asap")
        .stdin(Stdio::null())
        .output()
        .expect("runs eventlens");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("0 delivered, {} not delivered", sent.len())),
        "{report}"
    );
    assert!(report.contains(&format!("topic {missing}")), "{report}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}: {report}",
        t.elapsed()
    );

    // No group committed on `payments`: nothing declared there.
    assert!(
        !edges
            .iter()
            .any(|e| e["from"] == format!("channel:{payments}") && e["declared"] == true),
        "{edges:?}"
    );
}

/// Commits offsets for a consumer group, as a consumer of that group would after reading.
async fn commit_offsets(address: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .expect("offset");
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// A consumer group that takes fewer records than arrive, ask after ask, is a
/// `growing-lag` finding: its lag rose at every ask while its committed offsets moved (it
/// is not idle). Records are produced and offsets committed by rdkafka clients, as a real
/// producer and a slow consumer of the group would.
#[test]
fn a_group_falling_behind_is_a_growing_lag_finding() {
    let broker = Tansu::start();
    let address = broker.address();
    let topic = unique("behind");
    let group = unique("slow-group");
    let rt = runtime();
    rt.block_on(async {
        create_topics(&address, &[&topic]).await;
        let p = producer(&address);
        produce(&p, &topic, 0, None, &[], "first", "", Mode::Plain).await;
        commit_offsets(&address, &group, &topic, &[(0, 1)]).await;
    });
    // Meanwhile, every 250 ms: six records in, two taken (committed).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeding = {
        let (address, topic, group, stop) =
            (address.clone(), topic.clone(), group.clone(), stop.clone());
        rt.spawn(async move {
            let p = producer(&address);
            let mut committed = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for i in 0..6 {
                    produce(&p, &topic, 0, None, &[], &format!("r{i}"), "", Mode::Plain).await;
                }
                committed += 2;
                commit_offsets(&address, &group, &topic, &[(0, committed)]).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            committed
        })
    };
    let url = format!("kafka://{address}/{topic}?poll=500ms");
    let (json, _) = run_ok(&["analyze", &url, "--duration", "5s", "--json"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let committed = rt.block_on(feeding).expect("feeder");
    let r: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let findings = r["findings"].as_array().expect("findings");
    let of_group: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| {
            f["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| *n == format!("service:{group}")))
        })
        .collect();
    assert_eq!(of_group.len(), 1, "{of_group:#?}");
    let f = of_group[0];
    assert_eq!(f["kind"], "growing-lag", "{f:#}");
    assert_eq!(f["evidence"]["declared_kind"], "kafka-group", "{f:#}");
    let (first, last) = (
        &f["evidence"]["broker_first"],
        &f["evidence"]["broker_last"],
    );
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("a number: {f:#}"));
    // Four more waiting and two more committed per round: both moved.
    assert!(n(&last["pending"]) > n(&first["pending"]), "{f:#}");
    assert!(n(&last["delivered"]) > n(&first["delivered"]), "{f:#}");
    assert!(n(&last["delivered"]) <= committed as u64, "{f:#}");
    assert!(
        f["title"]
            .as_str()
            .is_some_and(|t| t.contains(&group) && t.contains("grew at each of the last")),
        "{f:#}"
    );
}

#[test]
fn a_bad_kafka_url_is_refused_with_a_clear_error() {
    for (url, says) in [
        ("kafka://127.0.0.1:1/", "no topic"),
        ("kafka://127.0.0.1:1/t?from=soon", "from=\"soon\""),
        ("kafka://127.0.0.1:1/a b", "a Kafka topic is"),
    ] {
        let out = Command::new(BIN)
            .args(["analyze", url, "--duration", "1s"])
            .stdin(Stdio::null())
            .output()
            .expect("runs eventlens");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The Connect dialog's Kafka preset fills in a Kafka URL; pointed at the test's broker, the
/// window shows every record produced there, on the topics as channels.
#[test]
fn the_connect_dialog_reads_kafka_from_its_preset() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use eventlens::ui::{EventLensApp, StartOptions};
    let broker = Tansu::start();
    let address = broker.address();
    let (orders, payments) = (unique("ui-orders"), unique("ui-payments"));
    let rt = runtime();
    let sent = rt.block_on(async {
        create_topics(&address, &[&orders, &payments]).await;
        produce_known(&address, &orders, &payments).await
    });
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    h.state_mut().command(eventlens::ui::Command::OpenConnect);
    h.run_steps(2);
    h.get_by_label_contains("Kafka: topic events").click();
    h.run_steps(2);
    assert_eq!(
        h.get_by_label("Broker URL").value().as_deref(),
        Some("kafka://127.0.0.1:9092/events?from=beginning")
    );
    h.get_by_label("Broker URL").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Broker URL").type_text(&format!(
        "kafka://{address}/{orders},{payments}?from=beginning"
    ));
    h.run_steps(1);
    h.get_by_label("Connect").click();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.state().store().events.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} records reached the window",
            h.state().store().events.len(),
            sent.len()
        );
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
    }
    h.run_steps(3);
    assert_eq!(h.state().store().events.len(), sent.len());
    assert!(
        h.state()
            .store()
            .find_event("/test/kafka", "bin-0")
            .is_some()
    );
    h.get_by_role_and_label(egui::accesskit::Role::Button, &orders);
    h.get_by_role_and_label(egui::accesskit::Role::Button, &payments);
    assert!(h.query_all_by_label("connected").count() > 0);
}
