//! What real instrumentation and real projects wrote, read as a user would: the topology
//! each source states (its own tests, docs or the spans its SDK exported), never our own
//! output. Fixtures and their origins: tests/fixtures/README.md and
//! tests/fixtures/public/README.md.

use eventlens::analysis::findings::Kind;
use eventlens::analysis::report::{EdgeReport, Report};
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::{NodeKind, Stage, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(paths: &[PathBuf]) -> (Store, Report) {
    let mut store = Store::new();
    let progress = LoadProgress::default();
    for p in paths {
        load_path(&mut store, p, &progress).unwrap_or_else(|e| panic!("loading {p:?}: {e}"));
    }
    store.finalize();
    let report = Report::build(&store);
    (store, report)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn edges<'r>(r: &'r Report, from: &str, to: &str) -> Vec<&'r EdgeReport> {
    r.topology
        .edges
        .iter()
        .filter(|e| e.from == from && e.to == to)
        .collect()
}

fn edge<'r>(r: &'r Report, from: &str, to: &str, what: &str) -> &'r EdgeReport {
    edges(r, from, to).into_iter().next().unwrap_or_else(|| {
        panic!(
            "{what}: no edge {from} -> {to} in {:#?}",
            r.topology
                .edges
                .iter()
                .map(|e| format!("{} -> {} {:?} {}", e.from, e.to, e.stage, e.count))
                .collect::<Vec<_>>()
        )
    })
}

/// Findings a clean system must never get: the false alarms this suite guards against.
const FALSE_ALARMS: [Kind; 7] = [
    Kind::FeedbackLoop,
    Kind::ColdStart,
    Kind::DuplicatePublish,
    Kind::DuplicateProcessing,
    Kind::Redelivery,
    Kind::Storm,
    Kind::BreakingChange,
];

fn assert_no_false_alarms(r: &Report, what: &str) {
    let bad: Vec<String> = r
        .findings
        .iter()
        .filter(|f| FALSE_ALARMS.contains(&f.kind))
        .map(|f| format!("{}: {}", f.kind.as_str(), f.title))
        .collect();
    assert!(bad.is_empty(), "{what}: {bad:#?}");
}

/// The traces the OpenTelemetry SDKs of Python (pika, redis, requests, wsgi) and Node
/// (amqplib, http, redis) wrote against the local RabbitMQ and Redis: the services, the
/// queue, the calls and the stores as they were, with delivery latency within 1 ms of the
/// spans. Expected values are in each `*.truth.json`, computed from the SDK's finished
/// spans (tests/instrumented/ground_truth.py).
#[test]
fn instrumented_traces_draw_what_happened() {
    let checked = check_instrumented(&fixtures().join("instrumented"));
    assert!(checked >= 8, "{checked} fixtures checked");
}

/// The same, on traces made now: `regenerate.sh` installs the SDKs from PyPI and npm, runs
/// the scenarios against the local RabbitMQ and Redis, and computes the truth from the
/// spans the SDK finished; then eventlens reads what the SDK's encoder wrote.
#[cfg(feature = "broker-tests")]
#[test]
fn instrumented_traces_made_now_against_the_local_brokers() {
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root.join("tests/instrumented/regenerate.sh"))
        .env("INSTR_OUT", out.path());
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        cmd.env("SKIP_NODE", "1");
    }
    let status = cmd.status().expect("running regenerate.sh");
    assert!(status.success(), "regenerate.sh failed: {status}");
    let checked = check_instrumented(out.path());
    assert!(checked >= 6, "{checked} fixtures checked");
}

fn check_instrumented(dir: &Path) -> usize {
    let mut checked = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .collect();
    names.sort();
    for truth_path in names {
        let truth = json(&truth_path);
        for f in truth["meta"]["fixtures"].as_array().unwrap() {
            let file = f.as_str().unwrap();
            let (store, r) = load(&[dir.join(file)]);
            let what = file;
            assert!(
                r.inputs[0].errors.is_empty(),
                "{what}: {:#?}",
                r.inputs[0].errors
            );
            for e in truth["topology_edges"].as_array().unwrap() {
                let (from, to) = (e["from"].as_str().unwrap(), e["to"].as_str().unwrap());
                let (count, errors) = (e["count"].as_u64().unwrap(), e["errors"].as_u64().unwrap());
                match e["type"].as_str().unwrap() {
                    "http" => {
                        let x = edge(
                            &r,
                            &format!("service:{from}"),
                            &format!("service:{to}"),
                            what,
                        );
                        assert_eq!(
                            (x.stage, x.count, x.errors),
                            (Stage::Call, count, errors),
                            "{what}"
                        );
                    }
                    "publish" => {
                        let x = edge(
                            &r,
                            &format!("service:{from}"),
                            &format!("channel:{to}"),
                            what,
                        );
                        assert_eq!(
                            (x.stage, x.count, x.errors),
                            (Stage::Publish, count, errors),
                            "{what}"
                        );
                    }
                    "consume" => {
                        let x = edge(
                            &r,
                            &format!("channel:{from}"),
                            &format!("service:{to}"),
                            what,
                        );
                        assert_eq!((x.stage, x.count), (Stage::Deliver, count), "{what}");
                        let h = r
                            .topology
                            .nodes
                            .iter()
                            .find(|n| n.id == format!("service:{to}"))
                            .unwrap();
                        assert_eq!(h.kind, NodeKind::Handler, "{what}");
                        assert_eq!((h.handled, h.failures), (count, errors), "{what}");
                    }
                    "database" => {
                        // The store is the Redis server the spans name.
                        let system = to.split('@').next().unwrap();
                        let x: Vec<&EdgeReport> = r
                            .topology
                            .edges
                            .iter()
                            .filter(|x| {
                                x.from == format!("service:{from}") && x.stage == Stage::Store
                            })
                            .collect();
                        assert_eq!(x.len(), 1, "{what}: {x:#?}");
                        assert_eq!((x[0].count, x[0].errors), (count, errors), "{what}");
                        let store_node = r.topology.nodes.iter().find(|n| n.id == x[0].to).unwrap();
                        assert_eq!(store_node.kind, NodeKind::Store);
                        assert_eq!(store_node.system.as_deref(), Some(system), "{what}");
                    }
                    other => panic!("unknown edge type {other}"),
                }
            }
            // The broker is described: RabbitMQ, where it runs.
            let queue = r
                .topology
                .nodes
                .iter()
                .find(|n| n.kind == NodeKind::Channel)
                .unwrap();
            assert_eq!(queue.system.as_deref(), Some("rabbitmq"), "{what}");
            // Delivery latency per message within 1 ms of the spans.
            for m in truth["messaging"]["messages"].as_array().unwrap() {
                let producer = m["producer_service"].as_str().unwrap();
                let id = m["message_id"].as_str().unwrap();
                let e = store
                    .find_event(producer, id)
                    .unwrap_or_else(|| panic!("{what}: no event {producer}/{id}"));
                let lat: Vec<i64> = store
                    .observations_of(e)
                    .iter()
                    .map(|&i| &store.observations[i as usize])
                    .filter(|o| o.stage == Stage::Deliver)
                    .map(|o| o.latency)
                    .collect();
                assert_eq!(lat.len(), 1, "{what} {id}");
                let want = m["delivery_latency_ns"].as_i64().unwrap();
                eprintln!(
                    "{what} {id}: delivery latency {} ns, spans say {want} ns (diff {} ns)",
                    lat[0],
                    lat[0] - want
                );
                assert!(
                    (lat[0] - want).abs() <= 1_000_000,
                    "{what} {id}: {} vs {want}",
                    lat[0]
                );
            }
            // Three messages, each handled once: no event counted twice, calls apart.
            assert_eq!(r.summary.events, 3, "{what}");
            assert!(r.summary.calls >= 3, "{what}: {:?}", r.summary);
            assert_no_false_alarms(&r, what);
            assert!(
                r.findings.iter().all(|f| f.kind != Kind::MissingSchema),
                "{what}: dataschema is not a span attribute"
            );
            checked += 1;
        }
    }
    checked
}

/// The public corpus (tests/fixtures/public/expected.json): each file's messaging, calls
/// and database accesses as the source project's tests or docs state them.
#[test]
fn public_traces_show_the_topology_their_projects_state() {
    let dir = fixtures().join("public");
    let expected = json(&dir.join("expected.json"));
    let mut checked = 0;
    for x in expected.as_array().unwrap() {
        let fmt = x["format"].as_str().unwrap();
        if !matches!(fmt, "otlp" | "jaeger" | "zipkin" | "tempo") {
            continue;
        }
        let file = x["file"].as_str().unwrap();
        if x.get("invalid_json").is_some() {
            continue;
        }
        // Its consumer is linked to a span in another file (filter-cart_get.json) and names
        // no destination: spans are joined within one input, so alone it is a clear
        // per-line error (asserted in files_without_event_flow_say_so's neighbour below).
        if file == "jaeger-integration/filter-worker.json" {
            continue;
        }
        // Zipkin v1 is named, not read (tests/formats_public.rs).
        if x.get("zipkin_version")
            .is_some_and(|v| v.to_string().contains('1'))
        {
            continue;
        }
        let (_, r) = load(&[dir.join(file)]);
        let what = file;
        let redacted = x.get("ids_redacted").is_some();
        for m in x["messaging"].as_array().unwrap() {
            let producer = m["producer"].as_str().map(|p| format!("service:{p}"));
            let consumer = m["consumer"].as_str().map(|c| format!("service:{c}"));
            match m["destination"].as_str() {
                Some(d) => {
                    let ch = format!("channel:{d}");
                    if let Some(p) = &producer {
                        assert_eq!(edge(&r, p, &ch, what).stage, Stage::Publish, "{what}");
                    }
                    if let Some(c) = &consumer {
                        assert_eq!(edge(&r, &ch, c, what).stage, Stage::Deliver, "{what}");
                    }
                }
                None => {
                    // The source names no destination: producer and consumer meet on one
                    // channel all the same.
                    if redacted {
                        continue;
                    }
                    let (Some(p), Some(c)) = (&producer, &consumer) else {
                        continue;
                    };
                    let via = r.topology.edges.iter().any(|a| {
                        a.from == *p
                            && a.stage == Stage::Publish
                            && r.topology
                                .edges
                                .iter()
                                .any(|b| b.from == a.to && b.to == *c && b.stage == Stage::Deliver)
                    });
                    assert!(
                        via,
                        "{what}: no {p} -> channel -> {c} in {:#?}",
                        r.topology.edges
                    );
                }
            }
        }
        // Tempo's service graph draws an edge for every call: so do we (a call, or a
        // store access where the callee is a database).
        // Redacted ids (`xxxxx`) cannot pair a client with its server.
        for c in x["calls"].as_array().unwrap().iter().filter(|_| !redacted) {
            let (from, to) = (c["from"].as_str().unwrap(), c["to"].as_str().unwrap());
            let from_id = format!("service:{from}");
            let found = r.topology.edges.iter().any(|e| {
                e.from == from_id
                    && (e.to == format!("service:{to}") && e.stage == Stage::Call
                        || e.to == format!("store:{to}") && e.stage == Stage::Store)
            });
            assert!(
                found,
                "{what}: no call {from} -> {to} in {:#?}",
                r.topology.edges
            );
        }
        for d in x["db"].as_array().unwrap() {
            let from_id = format!("service:{}", d["from"].as_str().unwrap());
            let found = r.topology.edges.iter().any(|e| {
                e.from == from_id
                    && e.stage == Stage::Store
                    && d["store"]
                        .as_str()
                        .is_none_or(|s| e.to == format!("store:{s}"))
            });
            assert!(
                found,
                "{what}: no store access {d} in {:#?}",
                r.topology.edges
            );
        }
        // Brave's Kafka example shows one round of a loop (see
        // kafka_traces_raise_no_false_alarms); anything else is a false alarm.
        let bad: Vec<String> = r
            .findings
            .iter()
            .filter(|f| FALSE_ALARMS.contains(&f.kind))
            .filter(|f| {
                !(file.starts_with("zipkin-ui/messaging-kafka")
                    && f.kind == Kind::FeedbackLoop
                    && f.title.contains("up to 1 round"))
            })
            .map(|f| format!("{}: {}", f.kind.as_str(), f.title))
            .collect();
        assert!(bad.is_empty(), "{what}: {bad:#?}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} files checked");
}

/// Zipkin/Brave: the producer only knows the broker, the consumer names the queue; both
/// are one channel, and no "orphan channel" is reported for the broker (zipkin-ui's
/// messaging.json, RabbitMQ default exchange, routing key `backend`).
#[test]
fn brave_rabbitmq_producer_and_consumer_share_the_queue() {
    let (_, r) = load(&[fixtures().join("public/zipkin-ui/messaging.json")]);
    let channels: Vec<&str> = r
        .topology
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Channel)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(channels, ["channel:backend"]);
    assert!(
        r.findings.iter().all(|f| f.kind != Kind::OrphanChannel),
        "{:#?}",
        r.findings
    );
}

/// Tempo's service-graph test trace: requester -> server (HTTP), server -> postgres, and
/// the RabbitMQ queue between requester and recorder that Tempo's graph lacks.
#[test]
fn tempo_service_graph_edges_plus_the_queue() {
    let (_, r) =
        load(&[fixtures().join("public/tempo-servicegraphs/trace-with-queue-database.json")]);
    let w = "tempo";
    assert_eq!(
        edge(
            &r,
            "service:mythical-requester",
            "service:mythical-server",
            w
        )
        .stage,
        Stage::Call
    );
    assert_eq!(
        edge(&r, "service:mythical-server", "store:postgres", w).stage,
        Stage::Store
    );
    assert_eq!(
        edge(&r, "service:mythical-requester", "channel:messages", w).stage,
        Stage::Publish
    );
    assert_eq!(
        edge(&r, "channel:messages", "service:mythical-recorder", w).stage,
        Stage::Deliver
    );
    let q = r
        .topology
        .nodes
        .iter()
        .find(|n| n.id == "channel:messages")
        .unwrap();
    assert_eq!(q.system.as_deref(), Some("rabbitmq"));
    assert!(
        q.address
            .as_deref()
            .is_some_and(|a| a.contains("mythical-queue")),
        "{q:?}"
    );
}

/// A trace of HTTP calls only is not "nothing": the calls are drawn. A file whose spans
/// are neither messaging, calls nor stores gets a `no-event-flow` warning that says what
/// was read, and `--fail-on warning` catches it.
#[test]
fn files_without_event_flow_say_so() {
    let (_, r) = load(&[fixtures().join("public/zipkin-lens/skew.json")]);
    assert!(r.summary.calls > 0);
    assert!(r.findings.iter().all(|f| f.kind != Kind::NoEventFlow));

    let (_, r) = load(&[fixtures().join("public/opentelemetry-proto/trace.json")]);
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == Kind::NoEventFlow)
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert!(
        f[0].title.contains("1 span read from trace.json"),
        "{}",
        f[0].title
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--fail-on", "warning"])
        .arg(fixtures().join("public/opentelemetry-proto/trace.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

/// Kafka through Brave (zipkin-ui's messaging-kafka v2): servicea polls `messages`, and
/// while handling that record sends to `messages` again; it then polls what it sent (poll
/// e0473dc3 is a child of send 2e22a056) and the chain ends. That is one round of a loop,
/// which the file shows: a warning that says one round, not an error. The first poll is
/// no cold start.
#[test]
fn kafka_traces_raise_no_false_alarms() {
    let (_, r) = load(&[fixtures().join("public/zipkin-ui/messaging-kafka.v2.json")]);
    let loops: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == Kind::FeedbackLoop)
        .collect();
    assert_eq!(loops.len(), 1, "{loops:#?}");
    assert_eq!(
        loops[0].severity,
        eventlens::analysis::findings::Severity::Warning
    );
    assert!(
        loops[0].title.contains("up to 1 round"),
        "{}",
        loops[0].title
    );
    let rest: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind != Kind::FeedbackLoop && FALSE_ALARMS.contains(&f.kind))
        .map(|f| f.title.clone())
        .collect();
    assert!(rest.is_empty(), "{rest:#?}");
    let publish = edge(&r, "service:servicea", "channel:messages", "kafka");
    assert_eq!(publish.count, 3);
    assert_eq!(
        edge(&r, "channel:messages", "service:serviceb", "kafka").count,
        3
    );
}

/// The simulator's clean run with every channel folded into one shared bus, as a system
/// on a single event bus looks: handlers publish onto the bus they consume from, so the
/// topology has cycles, yet no event ever comes back. Also as plain CloudEvents (no
/// capture extensions: everything on the default bus). Neither raises a false alarm.
#[test]
fn a_clean_run_on_one_shared_bus_raises_no_false_alarms() {
    let clean = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces/defects/clean.jsonl"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut shared = String::new();
    let mut plain = String::new();
    let mut seen = std::collections::HashSet::new();
    for line in clean.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if v.get("lenschannel").is_some() {
            v["lenschannel"] = Value::from("bus");
        }
        shared.push_str(&serde_json::to_string(&v).unwrap());
        shared.push('\n');
        // A choreography on the same bus: handler-a answers each order it handles with a
        // PaymentRequested (causationid), which handler-b handles.
        if v["lensstage"] == "handle" && v["lenshandler"] == "handler-a" {
            let id = v["id"].as_str().unwrap().to_string();
            let mut pay = v.clone();
            pay["id"] = Value::from(format!("pay-{id}"));
            pay["source"] = Value::from("handler-a");
            pay["type"] = Value::from("com.example.shop.PaymentRequested");
            pay["causationid"] = Value::from(id);
            pay.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.starts_with("lens") || k == "lenschannel");
            for stage in ["publish", "deliver", "handle"] {
                pay["lensstage"] = Value::from(stage);
                if stage != "publish" {
                    pay["lenshandler"] = Value::from("handler-b");
                }
                shared.push_str(&serde_json::to_string(&pay).unwrap());
                shared.push('\n');
            }
        }
        let o = v.as_object_mut().unwrap();
        let key = (o["source"].to_string(), o["id"].to_string());
        o.retain(|k, _| !k.starts_with("lens") && k != "recordedtime");
        if seen.insert(key) {
            plain.push_str(&serde_json::to_string(&v).unwrap());
            plain.push('\n');
        }
    }
    for (name, text) in [("shared-bus.jsonl", shared), ("plain.jsonl", plain)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (_, r) = load(&[path]);
        assert!(r.summary.events > 500, "{name}: {:?}", r.summary);
        // The cycle is there in the topology (handler-a -> bus -> handler-a) ...
        if name == "shared-bus.jsonl" {
            edge(&r, "service:handler-a", "channel:bus", name);
            edge(&r, "channel:bus", "service:handler-a", name);
        }
        // ... and no alarm. (The simulator marks its real cold starts, `lenscoldstart`:
        // those are reported where the capture keeps the mark, and never inferred.)
        let bad: Vec<String> = r
            .findings
            .iter()
            .filter(|f| FALSE_ALARMS.contains(&f.kind))
            .filter(|f| !(f.kind == Kind::ColdStart && f.evidence.inferred != Some(true)))
            .map(|f| format!("{}: {}", f.kind.as_str(), f.title))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:#?}");
    }
}

/// Dapr's pub/sub CloudEvents (docs.dapr.io): `topic` is the channel, `pubsubname` the
/// component it went through; two services both sending the framework's default type
/// `com.dapr.event.sent` do not share ownership of anything.
#[test]
fn dapr_topics_are_channels_and_the_default_type_is_no_claim() {
    let d = fixtures().join("public/dapr-docs");
    let (_, r) = load(&[
        d.join("pubsub-cloudevents.block1.json"),
        d.join("pubsub-cloudevents.block3.json"),
    ]);
    edge(&r, "service:checkout", "channel:orders", "dapr");
    edge(&r, "service:payment", "channel:orders", "dapr");
    let ch = r
        .topology
        .nodes
        .iter()
        .find(|n| n.id == "channel:orders")
        .unwrap();
    assert_eq!(
        (ch.system.as_deref(), ch.address.as_deref()),
        (Some("dapr"), Some("order_pub_sub"))
    );
    assert!(
        r.findings.iter().all(|f| f.kind != Kind::SharedOwnership),
        "{:#?}",
        r.findings
    );
}

/// Reading the same file twice counts nothing twice: no violation, no finding.
#[test]
fn the_same_file_twice_counts_nothing_twice() {
    for f in [
        fixtures().join("public/cloudevents-sdk-java/v1/fail_numeric_decimal.json"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces/defects/duplicate-publish.jsonl"),
    ] {
        let (_, once) = load(std::slice::from_ref(&f));
        let (_, twice) = load(&[f.clone(), f.clone()]);
        let counts = |r: &Report| {
            let mut v: Vec<(String, u64)> = r
                .findings
                .iter()
                .map(|x| (x.kind.as_str().to_string(), x.count))
                .collect();
            v.sort();
            v
        };
        assert!(!once.findings.is_empty());
        assert_eq!(counts(&once), counts(&twice), "{f:?}");
        assert_eq!(once.summary.events, twice.summary.events);
    }
}

/// A CloudEvent and the span that published it (OpenTelemetry's `cloudevents.*` span
/// attributes name the event) are one producer: the span's service, on the span's
/// channel, not a second node named after the event's `source` on the default bus.
#[test]
fn a_cloudevent_and_its_span_are_one_producer() {
    let dir = tempfile::tempdir().unwrap();
    let ce = dir.path().join("events.jsonl");
    std::fs::write(
        &ce,
        concat!(
            r#"{"specversion":"1.0","id":"A-1","source":"/shop/orders","type":"com.example.OrderPlaced","time":"2026-03-02T09:00:00.001Z","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","data":{"n":1}}"#,
            "\n"
        ),
    )
    .unwrap();
    // As the OpenTelemetry SDK's OTLP JSON encoder writes it (lowerCamelCase, enum numbers,
    // int64 as strings), a PRODUCER span with the CloudEvents semantic conventions.
    let otlp = dir.path().join("spans.json");
    std::fs::write(
        &otlp,
        r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders-api"}}]},
  "scopeSpans":[{"scope":{"name":"app"},"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",
  "name":"orders publish","kind":4,"startTimeUnixNano":"1772442000001000000","endTimeUnixNano":"1772442000002000000",
  "attributes":[{"key":"messaging.system","value":{"stringValue":"rabbitmq"}},
    {"key":"messaging.destination.name","value":{"stringValue":"orders"}},
    {"key":"cloudevents.event_id","value":{"stringValue":"A-1"}},
    {"key":"cloudevents.event_source","value":{"stringValue":"/shop/orders"}},
    {"key":"cloudevents.event_type","value":{"stringValue":"com.example.OrderPlaced"}}],"status":{}}]}]}]}"#,
    )
    .unwrap();
    let (_, r) = load(&[ce, otlp]);
    let ids: Vec<&str> = r.topology.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        ["channel:orders", "service:orders-api"],
        "{:#?}",
        r.topology
    );
    let e = edge(&r, "service:orders-api", "channel:orders", "one producer");
    assert_eq!(e.count, 1);
    assert_eq!(e.types, ["com.example.OrderPlaced"]);
    assert_eq!(r.summary.events, 1);
}

/// A consumer span that names no destination and whose producer is in another file is
/// reported with its file, line and reason, not drawn on a made-up channel.
#[test]
fn an_unjoinable_consumer_is_a_clear_error() {
    let f = fixtures().join("public/jaeger-integration/filter-worker.json");
    let mut store = Store::new();
    let err = load_path(&mut store, &f, &LoadProgress::default())
        .expect_err("nothing in it can be placed")
        .to_string();
    assert!(err.contains("filter-worker.json"), "{err}");
    assert!(err.contains("line 28"), "{err}");
    assert!(err.contains("names no destination"), "{err}");
}

/// `[services]` in `eventlens.toml` names producers that nothing in the inputs links to
/// their traced service: the CloudEvent's `source` is drawn as the service it names.
#[test]
fn services_table_names_a_source_as_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let ce = dir.path().join("events.jsonl");
    std::fs::write(
        &ce,
        concat!(
            r#"{"specversion":"1.0","id":"A-1","source":"/shop/orders","type":"com.example.OrderPlaced","time":"2026-03-02T09:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let run = || -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
            .args(["analyze", "--json"])
            .arg(&ce)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let nodes = |v: &Value| -> Vec<String> {
        v["topology"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(nodes(&run()).contains(&"service:/shop/orders".to_string()));
    std::fs::write(
        dir.path().join("eventlens.toml"),
        "[services]\n\"/shop/orders\" = \"orders-api\"\n",
    )
    .unwrap();
    let v = run();
    assert!(nodes(&v).contains(&"service:orders-api".to_string()), "{v}");
    assert!(
        !nodes(&v).contains(&"service:/shop/orders".to_string()),
        "{v}"
    );
}
