//! The OTLP trace receiver (`otlp://127.0.0.1:0`, `otlp+grpc://127.0.0.1:0`) with real
//! clients: `reqwest` for OTLP/HTTP (protobuf, JSON, gzip), the `tonic` TraceService client
//! of the `opentelemetry-proto` crate for OTLP/gRPC, and (with `broker-tests`) the
//! OpenTelemetry Python SDK's own OTLP exporters, over HTTP and over gRPC, from an
//! instrumented pika producer and consumer against the local RabbitMQ. Malformed input
//! gets its status code and its counter, and the receiver goes on serving after each.

use eventlens::analysis::report::Report;
use eventlens::ingest::spans::Span;
use eventlens::live::{LiveBatch, LiveInput};
use eventlens::model::{Stage, Store};
use eventlens::source::otlp::reason;
use eventlens::source::{self, BrokerUrl, Inbox, SourceStatus};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use prost::Message as _;
use std::io::Write;
use std::time::Duration;

/// Starts an OTLP receiver on a free port; returns its inbox and `ADDR`.
async fn listen(url: &str) -> (Inbox, String) {
    let url = BrokerUrl::parse(url).expect("URL");
    let inbox = source::start(
        std::slice::from_ref(&url),
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match inbox.sources[0].status() {
            SourceStatus::Listening(addr) => return (inbox, addr),
            SourceStatus::Connecting if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("not listening: {other}"),
        }
    }
}

/// Spans handed on until `n` arrived (each trace once it is quiet).
async fn spans(inbox: &mut Inbox, n: usize, within: Duration) -> Vec<Span> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(mut e)) => out.append(&mut e.spans),
            Ok(None) => panic!("the receiver ended"),
            Err(_) => panic!("{} of {n} spans arrived", out.len()),
        }
    }
    out
}

/// The spans mapped as the window maps them, and the report.
fn report(spans: Vec<Span>) -> (Store, Report) {
    let mut store = Store::new();
    let mut input = LiveInput::new(&mut store, "otlp");
    input.add_batch(
        &mut store,
        &LiveBatch {
            spans,
            ..Default::default()
        },
    );
    store.finalize();
    let r = Report::build(&store);
    (store, r)
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request(service: &str, spans: Vec<pb::Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![pb::ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![pb::ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

const T0: u64 = 1_750_000_000_000_000_000;

/// Message `n`'s producer span (sent at `T0 + n s`) and its consumer span (a child of it,
/// `latency_ms` later), on queue `orders`.
fn pair(n: u8, latency_ms: u64) -> (pb::Span, pb::Span) {
    let start = T0 + u64::from(n) * 1_000_000_000;
    let attrs = |op: &str| {
        vec![
            kv("messaging.system", "rabbitmq"),
            kv("messaging.destination.name", "orders"),
            kv("messaging.operation", op),
            kv("messaging.message.id", &format!("m-{n}")),
        ]
    };
    let producer = pb::Span {
        trace_id: vec![n; 16],
        span_id: vec![n, 1, 1, 1, 1, 1, 1, 1],
        name: "orders publish".into(),
        kind: 4,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        attributes: attrs("publish"),
        ..Default::default()
    };
    let consumer = pb::Span {
        trace_id: vec![n; 16],
        span_id: vec![n, 2, 2, 2, 2, 2, 2, 2],
        parent_span_id: producer.span_id.clone(),
        name: "orders process".into(),
        kind: 5,
        start_time_unix_nano: start + latency_ms * 1_000_000,
        end_time_unix_nano: start + latency_ms * 1_000_000 + 500_000,
        attributes: attrs("process"),
        ..Default::default()
    };
    (producer, consumer)
}

/// The request in OTLP/JSON (hex ids, as the OTLP/JSON encoding says).
fn json(req: &ExportTraceServiceRequest) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rs: Vec<serde_json::Value> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let attrs = |kvs: &[KeyValue]| -> Vec<serde_json::Value> {
                kvs.iter()
                    .map(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => {
                            serde_json::json!({"key": kv.key, "value": {"stringValue": s}})
                        }
                        _ => serde_json::json!({"key": kv.key}),
                    })
                    .collect()
            };
            let spans: Vec<serde_json::Value> = rs.scope_spans[0]
                .spans
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "traceId": hex(&s.trace_id), "spanId": hex(&s.span_id),
                        "parentSpanId": hex(&s.parent_span_id), "name": s.name, "kind": s.kind,
                        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "attributes": attrs(&s.attributes),
                    })
                })
                .collect();
            serde_json::json!({
                "resource": {"attributes": attrs(&rs.resource.as_ref().expect("resource").attributes)},
                "scopeSpans": [{"spans": spans}],
            })
        })
        .collect();
    serde_json::json!({ "resourceSpans": rs }).to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

async fn post(
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let mut r = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type);
    if let Some(e) = encoding {
        r = r.header("content-encoding", e);
    }
    let resp = r.body(body).send().await.expect("sent");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.bytes().await.expect("body").to_vec())
}

/// Each transport's spans arrive, and are joined across them: a consumer span sent before
/// its producer (over another transport) still joins it, with the latency the spans say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_json_gzip_and_grpc_spans_arrive_and_join_across_requests() {
    let (mut inbox, addr) = listen("otlp://127.0.0.1:0").await;
    let traces = format!("http://{addr}/v1/traces");
    let (p1, c1) = pair(1, 40);
    let (p2, c2) = pair(2, 60);
    let (p3, c3) = pair(3, 80);
    let (p4, c4) = pair(4, 100);

    // 1: the consumer first over JSON, its producer after over protobuf.
    let (status, ct, body) = post(
        &traces,
        "application/json",
        None,
        json(&request("shipping", vec![c1])).into_bytes(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).expect("JSON"),
        serde_json::json!({})
    );
    let (status, ct, body) = post(
        &traces,
        "application/x-protobuf",
        None,
        request("checkout", vec![p1]).encode_to_vec(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/x-protobuf"));
    let answer = ExportTraceServiceResponse::decode(body.as_slice()).expect("a response");
    assert_eq!(answer.partial_success, None);

    // 2: gzip, protobuf and JSON.
    let both = |p: pb::Span, c: pb::Span| {
        let mut r = request("checkout", vec![p]);
        r.resource_spans
            .extend(request("shipping", vec![c]).resource_spans);
        r
    };
    let (status, _, _) = post(
        &traces,
        "application/x-protobuf",
        Some("gzip"),
        gzip(&both(p2, c2).encode_to_vec()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post(
        &traces,
        "application/json",
        Some("gzip"),
        gzip(json(&both(p3, c3)).as_bytes()),
    )
    .await;
    assert_eq!(status, 200);

    // 3: gRPC (h2c on the same port), with a span it cannot read: partial success.
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("gRPC connects");
    let mut req = both(p4, c4);
    req.resource_spans[0].scope_spans[0].spans.push(pb::Span {
        trace_id: vec![7; 5],
        span_id: vec![7; 8],
        name: "bad id".into(),
        ..Default::default()
    });
    let answer = client.export(req).await.expect("exported").into_inner();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("traceId has 5 bytes"),
        "{}",
        partial.error_message
    );

    let got = spans(&mut inbox, 8, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 8);
    let stats = inbox.sources[0].clone();
    assert_eq!(stats.answered(reason::ACCEPTED), 4, "{:?}", stats.answers());
    assert_eq!(stats.answered(reason::PARTIAL), 1, "{:?}", stats.answers());
    let c = stats.counters();
    assert_eq!((c.received, c.decoded, c.undecodable), (9, 8, 1));

    let (store, r) = report(got);
    let edge = |from: &str, to: &str| {
        r.topology
            .edges
            .iter()
            .find(|e| e.from == from && e.to == to)
            .unwrap_or_else(|| panic!("no edge {from} -> {to}: {:#?}", r.topology.edges))
    };
    let publish = edge("service:checkout", "channel:orders");
    assert_eq!((publish.stage, publish.count), (Stage::Publish, 4));
    let deliver = edge("channel:orders", "service:shipping");
    assert_eq!((deliver.stage, deliver.count), (Stage::Deliver, 4));
    for (n, want_ms) in [(1, 40), (2, 60), (3, 80), (4, 100)] {
        let e = store
            .find_event("checkout", &format!("m-{n}"))
            .unwrap_or_else(|| panic!("no event m-{n}"));
        let lat: Vec<i64> = store
            .observations_of(e)
            .iter()
            .map(|&i| &store.observations[i as usize])
            .filter(|o| o.stage == Stage::Deliver)
            .map(|o| o.latency)
            .collect();
        assert_eq!(lat, vec![want_ms * 1_000_000], "m-{n}");
    }
}

/// Oversized, wrong content type or encoding, invalid JSON, truncated protobuf, bad gzip,
/// logs and metrics, over HTTP and gRPC: each its answer and counter, and the receiver
/// goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_their_status_and_counter_and_serving_goes_on() {
    let (mut inbox, addr) = listen("otlp+grpc://127.0.0.1:0?max_body=4KiB").await;
    let stats = inbox.sources[0].clone();
    let base = format!("http://{addr}");
    let traces = format!("{base}/v1/traces");
    let good = || {
        let (p, c) = pair(9, 5);
        let mut r = request("checkout", vec![p]);
        r.resource_spans
            .extend(request("shipping", vec![c]).resource_spans);
        r
    };
    let good_proto = good().encode_to_vec();
    let mut accepted = 0;
    let mut still_serving = async || {
        let (status, _, _) =
            post(&traces, "application/x-protobuf", None, good_proto.clone()).await;
        assert_eq!(status, 200);
        accepted += 1;
    };

    // Too large: 413 (the declared length, and a gzip body that inflates past the limit).
    let big = vec![b' '; 8 << 10];
    let (status, ct, body) = post(&traces, "application/x-protobuf", None, big.clone()).await;
    assert_eq!((status, ct.as_str()), (413, "application/x-protobuf"));
    let message = String::from_utf8_lossy(&body);
    assert!(message.contains("larger than 4096 bytes"), "{message}");
    let (status, _, _) = post(&traces, "application/json", Some("gzip"), gzip(&big)).await;
    assert_eq!(status, 413);
    assert_eq!(stats.answered(reason::TOO_LARGE), 2);
    still_serving().await;

    // Content type and encoding: 415.
    let (status, _, body) = post(&traces, "text/plain", None, good_proto.clone()).await;
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    assert_eq!(stats.answered(reason::BAD_CONTENT_TYPE), 1);
    let (status, _, _) = post(
        &traces,
        "application/x-protobuf",
        Some("br"),
        good_proto.clone(),
    )
    .await;
    assert_eq!(status, 415);
    assert_eq!(stats.answered(reason::BAD_ENCODING), 1);
    still_serving().await;

    // Invalid JSON, and JSON that is not a TracesData: 400, a google.rpc.Status in JSON.
    for body in [&b"{\"resourceSpans\": [{"[..], &b"[1, 2]"[..]] {
        let (status, ct, answer) = post(&traces, "application/json", None, body.to_vec()).await;
        assert_eq!((status, ct.as_str()), (400, "application/json"));
        let v: serde_json::Value = serde_json::from_slice(&answer).expect("a Status");
        assert_eq!(v["code"], 3, "{v}");
    }
    assert_eq!(stats.answered(reason::BAD_JSON), 2);
    still_serving().await;

    // Truncated protobuf, and a gzip body that is not gzip: 400.
    let truncated = good_proto[..good_proto.len() - 7].to_vec();
    let (status, _, _) = post(&traces, "application/x-protobuf", None, truncated.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(stats.answered(reason::BAD_PROTOBUF), 1);
    let (status, _, _) = post(
        &traces,
        "application/x-protobuf",
        Some("gzip"),
        good_proto.clone(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(stats.answered(reason::BAD_GZIP), 1);
    still_serving().await;

    // Logs and metrics: a clear "not read", counted; another path: 404.
    for (path, r) in [
        ("/v1/logs", reason::LOGS_NOT_READ),
        ("/v1/metrics", reason::METRICS_NOT_READ),
    ] {
        let (status, _, body) = post(
            &format!("{base}{path}"),
            "application/json",
            None,
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(status, 501);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("a Status");
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("not read")),
            "{v}"
        );
        assert_eq!(stats.answered(r), 1);
    }
    let (status, _, _) = post(
        &format!("{base}/v2/traces"),
        "application/json",
        None,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    still_serving().await;

    // gRPC: a message past the limit is refused (OUT_OF_RANGE, as tonic says it), counted; then a good
    // one is taken.
    let mut client = TraceServiceClient::connect(base.clone())
        .await
        .expect("gRPC connects");
    let mut huge = good();
    huge.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(8 << 10);
    let err = client.export(huge).await.expect_err("too large");
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err}");
    assert_eq!(stats.answered(reason::TOO_LARGE), 3);
    client.export(good()).await.expect("a good request after");
    still_serving().await;

    // gRPC compressed with gzip, as exporters send when asked
    // (OTEL_EXPORTER_OTLP_COMPRESSION=gzip): taken, and the limit holds for the message as
    // decompressed (8 KiB of one letter is a small body).
    let mut gz = TraceServiceClient::connect(base.clone())
        .await
        .expect("gRPC connects")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut bomb = good();
    bomb.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(8 << 10);
    let err = gz
        .export(bomb)
        .await
        .expect_err("too large once decompressed");
    // tonic says RESOURCE_EXHAUSTED when decompressing goes past the limit.
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("4096 bytes"), "{err}");
    assert_eq!(stats.answered(reason::TOO_LARGE), 4);
    gz.export(good())
        .await
        .expect("a compressed request is taken");
    still_serving().await;

    assert_eq!(stats.answered(reason::ACCEPTED), accepted + 2);
    // The spans of the good requests arrive (one trace, sent again each time: all kept).
    let got = spans(
        &mut inbox,
        2 * (accepted as usize + 2),
        Duration::from_secs(15),
    )
    .await;
    assert!(got.iter().all(|s| s.trace_id == [9; 16]));
}

/// The Bearer token comes from EVENTLENS_OTLP_TOKEN (an environment variable, set in the
/// child only): refused without it over HTTP and gRPC, taken with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_requires_the_bearer_token_from_the_environment() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args([
            "listen",
            "otlp://127.0.0.1:0",
            "--duration",
            "20s",
            "--json",
        ])
        .env("EVENTLENS_OTLP_TOKEN", "s3cret-token")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eventlens runs");
    let addr = listening_addr(child.stderr.take().expect("stderr")).await;
    let traces = format!("http://{addr}/v1/traces");
    let (p, c) = pair(5, 10);
    let mut req = request("checkout", vec![p]);
    req.resource_spans
        .extend(request("shipping", vec![c]).resource_spans);
    let body = req.encode_to_vec();
    let client = reqwest::Client::new();
    for auth in [None, Some("Bearer wrong"), Some("Basic czNjcmV0LXRva2Vu")] {
        let mut r = client
            .post(&traces)
            .header("content-type", "application/x-protobuf")
            .body(body.clone());
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        assert_eq!(r.send().await.expect("sent").status(), 401, "{auth:?}");
    }
    let mut grpc = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("gRPC connects");
    let err = grpc.export(req.clone()).await.expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let ok = client
        .post(&traces)
        .header("content-type", "application/x-protobuf")
        .header("authorization", "Bearer s3cret-token")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(ok.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// The spans of a recording, loaded as `eventlens FILE...` loads them, and the report.
fn load_recording(paths: &[&std::path::Path]) -> (Store, Report) {
    let mut store = Store::new();
    for p in paths {
        eventlens::ingest::load_path(&mut store, p, &Default::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    store.finalize();
    let r = Report::build(&store);
    (store, r)
}

/// The deliveries onto `channel` and their latencies (ms), by message id.
fn delivery_latencies(store: &Store, service: &str, ids: &[String]) -> Vec<f64> {
    ids.iter()
        .map(|id| {
            let e = store
                .find_event(service, id)
                .unwrap_or_else(|| panic!("no event {service}/{id}"));
            let lat: Vec<i64> = store
                .observations_of(e)
                .iter()
                .map(|&i| &store.observations[i as usize])
                .filter(|o| o.stage == Stage::Deliver)
                .map(|o| o.latency)
                .collect();
            assert_eq!(lat.len(), 1, "{id}: {lat:?}");
            lat[0] as f64 / 1e6
        })
        .collect()
}

/// `eventlens record otlp://...`: the spans the receiver took are the recording, as OTLP
/// JSON Lines, and it opens as the same flows, with the same latencies, as the live view.
/// A consumer span sent before its producer is still recorded and joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_of_the_receiver_writes_its_spans_and_they_open_as_the_same_flows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("spans.jsonl.gz");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "otlp://127.0.0.1:0", "--duration", "4s", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eventlens runs");
    let stderr = child.stderr.take().expect("stderr");
    let (addr, rest) = listening_addr_and_rest(stderr).await;
    let traces = format!("http://{addr}/v1/traces");
    // Messages 1..=4, latencies 15, 30, 45, 60 ms; message 4's consumer span comes first.
    let pairs: Vec<_> = (1..=4u8).map(|n| pair(n, 15 * u64::from(n))).collect();
    let (p4, c4) = pairs[3].clone();
    let mut bodies = vec![request("shipping", vec![c4]).encode_to_vec()];
    for (p, c) in &pairs[..3] {
        let mut req = request("checkout", vec![p.clone()]);
        req.resource_spans
            .extend(request("shipping", vec![c.clone()]).resource_spans);
        bodies.push(req.encode_to_vec());
    }
    bodies.push(request("checkout", vec![p4]).encode_to_vec());
    for b in bodies {
        let (status, _, _) = post(&traces, "application/x-protobuf", None, b).await;
        assert_eq!(status, 200);
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("eventlens ends");
    let err = rest.await.expect("stderr").join("\n");
    assert!(status.success(), "{err}");
    assert!(err.contains("recorded 8 spans into"), "{err}");
    assert!(err.contains("OTLP JSON Lines"), "{err}");
    // No capture of events beside it: the receiver gives only spans.
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    let (store, r) = load_recording(&[&out]);
    assert_eq!(
        r.inputs[0].format,
        Some(eventlens::model::Format::Otlp),
        "{:?}",
        r.inputs
    );
    assert_eq!(r.inputs[0].skipped, 0);
    let edge = |from: &str, to: &str| {
        r.topology
            .edges
            .iter()
            .find(|e| e.from == from && e.to == to)
            .map(|e| (e.stage, e.count))
    };
    assert_eq!(
        edge("service:checkout", "channel:orders"),
        Some((Stage::Publish, 4))
    );
    assert_eq!(
        edge("channel:orders", "service:shipping"),
        Some((Stage::Deliver, 4))
    );
    let ids: Vec<String> = (1..=4).map(|n| format!("m-{n}")).collect();
    assert_eq!(
        delivery_latencies(&store, "checkout", &ids),
        [15.0, 30.0, 45.0, 60.0]
    );
}

/// [`listening_addr`], and the rest of standard error once the process ends.
async fn listening_addr_and_rest(
    stderr: std::process::ChildStderr,
) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rest = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        let mut tx = Some(tx);
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, a)) = l.split_once("listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(a.trim().to_string());
            }
            seen.push(l);
        }
        seen
    });
    let addr = rx.await.expect("listening on ADDR");
    (addr, rest)
}

async fn listening_addr(stderr: std::process::ChildStderr) -> String {
    use std::io::BufRead;
    tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on ")
                    .map(|(_, a)| a.trim().to_string())
            })
            .expect("listening on ADDR");
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        addr
    })
    .await
    .expect("reader")
}

/// The OpenTelemetry Python SDK's OTLP exporters (HTTP protobuf and gRPC), from a pika
/// producer and consumer in processes of their own against the local RabbitMQ: the
/// services, the queue and each message's delivery latency as the scripts measured them.
#[cfg(feature = "broker-tests")]
mod python {
    use super::*;
    use std::path::Path;

    /// The venv with the SDK and both exporters (tests/instrumented/otlp-requirements.txt),
    /// installed from PyPI into target/ when missing or changed.
    fn venv() -> std::path::PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = std::process::Command::new("bash")
            .arg(root.join("tests/instrumented/otlp-venv.sh"))
            .status()
            .expect("running otlp-venv.sh");
        assert!(status.success(), "otlp-venv.sh: {status}");
        root.join("target/otlp-venv/bin/python")
    }

    fn run_role(
        python: &Path,
        role: &str,
        protocol: &str,
        queue: &str,
        endpoint: &str,
        delay: &str,
    ) -> std::process::Child {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::process::Command::new(python)
            .arg(root.join("tests/instrumented/otlp_scenario.py"))
            .args(["--role", role, "--protocol", protocol, "--queue", queue])
            .args(["--delay", delay])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs")
    }

    fn report_of(child: std::process::Child) -> serde_json::Value {
        let out = child.wait_with_output().expect("python ends");
        assert!(out.status.success(), "{:?}", out.status);
        serde_json::from_slice(&out.stdout).expect("the script's JSON")
    }

    /// The instrumented consumer and producer, exporting to `endpoint`: what each script
    /// reported.
    async fn run_pair(
        python: &Path,
        protocol: &str,
        queue: &str,
        endpoint: &str,
    ) -> (serde_json::Value, serde_json::Value) {
        // The consumer subscribes late (0.7 s after it starts, the producer starts 0.3 s
        // after it) so that messages wait in the queue a while: the delivery latency is
        // what the scripts measured.
        let (py, q, ep, proto) = (
            python.to_path_buf(),
            queue.to_string(),
            endpoint.to_string(),
            protocol.to_string(),
        );
        let consumer = tokio::task::spawn_blocking(move || {
            report_of(run_role(&py, "consumer", &proto, &q, &ep, "0.7"))
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (py, q, ep) = (
            python.to_path_buf(),
            queue.to_string(),
            endpoint.to_string(),
        );
        let proto = protocol.to_string();
        let producer = tokio::task::spawn_blocking(move || {
            report_of(run_role(&py, "producer", &proto, &q, &ep, "0"))
        });
        let producer = producer.await.expect("producer");
        let consumer = consumer.await.expect("consumer");
        (producer, consumer)
    }

    /// The services, the queue's edges and each message's delivery latency, against what
    /// the scripts reported.
    fn check_flows(
        store: &Store,
        r: &Report,
        queue: &str,
        (producer, consumer): (serde_json::Value, serde_json::Value),
        protocol: &str,
    ) {
        let services: Vec<&str> = r
            .topology
            .nodes
            .iter()
            .filter(|n| n.id.starts_with("service:"))
            .map(|n| n.id.as_str())
            .collect();
        assert!(services.contains(&"service:otlp-producer"), "{services:?}");
        assert!(services.contains(&"service:otlp-consumer"), "{services:?}");
        let channel = format!("channel:{queue}");
        let edge = |from: &str, to: &str| {
            r.topology
                .edges
                .iter()
                .find(|e| e.from == from && e.to == to)
                .unwrap_or_else(|| {
                    panic!(
                        "no edge {from} -> {to}: {:?}",
                        r.topology
                            .edges
                            .iter()
                            .map(|e| format!("{} -> {} {:?} {}", e.from, e.to, e.stage, e.count))
                            .collect::<Vec<_>>()
                    )
                })
        };
        let publish = edge("service:otlp-producer", &channel);
        assert_eq!((publish.stage, publish.count), (Stage::Publish, 3));
        let deliver = edge(&channel, "service:otlp-consumer");
        assert_eq!((deliver.stage, deliver.count), (Stage::Deliver, 3));
        let handled = consumer["messages"].as_array().expect("messages");
        assert_eq!(handled.len(), 3, "{consumer}");
        assert_eq!(producer["messages"].as_array().map(Vec::len), Some(3));
        let ids: Vec<String> = handled
            .iter()
            .map(|m| m["message_id"].as_str().expect("id").to_string())
            .collect();
        let got = delivery_latencies(store, "otlp-producer", &ids);
        for (m, lat) in handled.iter().zip(got) {
            let want = (m["handled_ns"].as_i64().expect("handled")
                - m["published_ns"].as_i64().expect("published")) as f64
                / 1e6;
            eprintln!(
                "{protocol} {}: eventlens {lat} ms, the scripts measured {want} ms",
                m["message_id"]
            );
            assert!(want > 0.0, "handled before it was published? {m}");
            assert!((lat - want).abs() < 10.0, "{m}: {lat} ms vs {want} ms");
        }
    }

    async fn scenario(url: &str, protocol: &str) {
        let python = tokio::task::spawn_blocking(venv).await.expect("venv");
        let (mut inbox, addr) = listen(url).await;
        let queue = format!("otlp-{protocol}-{}", std::process::id());
        let scripts = run_pair(&python, protocol, &queue, &format!("http://{addr}")).await;
        // 3 publish spans and 3 process spans (pika also traces nothing else here).
        let got = spans(&mut inbox, 6, Duration::from_secs(20)).await;
        let stats = inbox.sources[0].clone();
        assert!(
            stats.answered(reason::ACCEPTED) >= 1,
            "{:?}",
            stats.answers()
        );
        let (store, r) = report(got);
        check_flows(&store, &r, &queue, scripts, protocol);
    }

    /// `eventlens record otlp://...` of the same services, ended with Ctrl-C (SIGINT) as a
    /// user ends it: the traces it still held are written, and the file gives the same
    /// flows and latencies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_python_sdk_exports_into_record_and_ctrl_c_completes_the_file() {
        let python = tokio::task::spawn_blocking(venv).await.expect("venv");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("spans.jsonl.zst");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
            .args(["record", "otlp://127.0.0.1:0", "-o"])
            .arg(&out)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("eventlens runs");
        let (addr, rest) = listening_addr_and_rest(child.stderr.take().expect("stderr")).await;
        let queue = format!("otlp-record-{}", std::process::id());
        let scripts = run_pair(&python, "http", &queue, &format!("http://{addr}")).await;
        // At once: the last traces are still held (quiet only 1.5 s after their last span).
        let int = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(int.success());
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("eventlens ends");
        let err = rest.await.expect("stderr").join("\n");
        assert!(status.success(), "{status:?}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        assert!(err.contains("recorded 6 spans into"), "{err}");
        let (store, r) = load_recording(&[&out]);
        check_flows(&store, &r, &queue, scripts, "record");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_python_sdk_exports_over_http_to_the_receiver() {
        scenario("otlp://127.0.0.1:0", "http").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_python_sdk_exports_over_grpc_to_the_receiver() {
        scenario("otlp+grpc://127.0.0.1:0", "grpc").await;
    }
}
