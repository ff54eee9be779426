//! The trace-format readers (OTLP JSON, Jaeger JSON, Zipkin v2, kcat -J) end to end: the
//! topology a user sees from the reference-scenario fixtures (see tests/fixtures/README.md),
//! compressed inputs, malformed records, merging with a CloudEvents capture, and the binary.

use eventlens::analysis::report::{EdgeReport, NodeReport, Report};
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::{Format, NodeKind, Stage, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn load(paths: &[&Path]) -> (Store, Report) {
    let mut store = Store::new();
    let progress = LoadProgress::default();
    for p in paths {
        load_path(&mut store, p, &progress).unwrap_or_else(|e| panic!("loading {p:?}: {e}"));
    }
    store.finalize();
    let report = Report::build(&store);
    (store, report)
}

fn node<'r>(r: &'r Report, id: &str) -> &'r NodeReport {
    r.topology
        .nodes
        .iter()
        .find(|n| n.id == id)
        .unwrap_or_else(|| panic!("no node {id} in {:#?}", r.topology.nodes))
}

fn edge<'r>(r: &'r Report, from: &str, to: &str) -> &'r EdgeReport {
    r.topology
        .edges
        .iter()
        .find(|e| e.from == from && e.to == to)
        .unwrap_or_else(|| panic!("no edge {from} -> {to} in {:#?}", r.topology.edges))
}

/// Milliseconds as the HDR histograms report them (three significant digits).
fn ms(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn node_ids(r: &Report) -> Vec<(String, NodeKind)> {
    r.topology
        .nodes
        .iter()
        .map(|n| (n.id.clone(), n.kind))
        .collect()
}

/// The reference scenario as every span format must show it.
fn assert_reference_topology(r: &Report, ty: &str) {
    assert_eq!(
        node_ids(r),
        vec![
            ("channel:orders".to_string(), NodeKind::Channel),
            ("service:handler-a".to_string(), NodeKind::Handler),
            ("service:handler-b".to_string(), NodeKind::Handler),
            ("service:producer-service".to_string(), NodeKind::Producer),
            ("store:read-model".to_string(), NodeKind::Store),
        ]
    );
    assert_eq!(r.topology.edges.len(), 5, "{:#?}", r.topology.edges);
    assert_eq!(r.summary.events, 2);

    let publish = edge(r, "service:producer-service", "channel:orders");
    assert_eq!(
        (publish.stage, publish.count, publish.errors),
        (Stage::Publish, 2, 0)
    );
    assert_eq!(publish.types, vec![ty.to_string()]);

    // Delivery latency = handler start - publish: handler-a 15 and 10 ms, handler-b 25 and 35.
    let a = edge(r, "channel:orders", "service:handler-a");
    assert_eq!((a.stage, a.count, a.errors), (Stage::Deliver, 2, 0));
    let la = a.latency_ms.expect("latency orders -> handler-a");
    assert_eq!((ms(la.p50), ms(la.max)), (10.0, 15.0));
    let b = edge(r, "channel:orders", "service:handler-b");
    assert_eq!((b.stage, b.count, b.errors), (Stage::Deliver, 2, 1));
    let lb = b.latency_ms.expect("latency orders -> handler-b");
    assert_eq!((ms(lb.p50), ms(lb.max)), (25.0, 35.0));

    let wa = edge(r, "service:handler-a", "store:read-model");
    assert_eq!((wa.stage, wa.count, wa.errors), (Stage::Store, 2, 0));
    let wb = edge(r, "service:handler-b", "store:read-model");
    assert_eq!((wb.stage, wb.count, wb.errors), (Stage::Store, 2, 1));

    let ha = node(r, "service:handler-a");
    let hb = node(r, "service:handler-b");
    assert_eq!((ha.handled, ha.failures), (2, 0));
    assert_eq!((hb.handled, hb.failures), (2, 1));
    // Processing time = end - start: handler-a 25 and 20 ms, handler-b 35 and 35 ms.
    let pa = ha.processing_ms.expect("handler-a processing time");
    assert_eq!((ms(pa.p50), ms(pa.max)), (20.0, 25.0));
    let pb = hb.processing_ms.expect("handler-b processing time");
    assert_eq!(ms(pb.max), 35.0);
}

fn assert_clean_input(r: &Report, format: Format, records: u64) {
    let i = &r.inputs[0];
    assert_eq!(i.format, Some(format));
    assert!(i.errors.is_empty(), "{:#?}", i.errors);
    assert_eq!((i.records, i.skipped), (records, 0));
}

#[test]
fn otlp_collector_file_exporter_lines() {
    let (store, r) = load(&[&fixture("otlp/collector-file-exporter.jsonl")]);
    assert_clean_input(&r, Format::Otlp, 10);
    assert_reference_topology(&r, "com.example.OrderPlaced");
    assert_eq!(node(&r, "service:handler-a").cold_starts, 1);
    assert_eq!(node(&r, "service:handler-b").cold_starts, 0);
    // Events are the CloudEvents the spans carry, and keep the producer's trace id.
    let e = store
        .find_event("producer-service", "evt-2")
        .expect("evt-2 by its CloudEvents identity");
    let ev = store.event(e);
    assert_eq!(store.str(ev.trace), "5b8efff798038103d269b633813fc60c");
    assert_eq!(store.str(ev.specversion), "1.0");
    // handler-a's consumer starts a new trace (linked): its observations keep their own.
    assert!(
        store
            .by_trace
            .keys()
            .any(|t| store.str(*t) == "1af7651916cd43dd8448eb211c80319d")
    );
}

#[test]
fn otlp_export_request_with_base64_ids_and_numeric_enums() {
    let (_, r) = load(&[&fixture("otlp/export-request-base64.json")]);
    assert_clean_input(&r, Format::Otlp, 10);
    assert_reference_topology(&r, "com.example.OrderPlaced");
    assert_eq!(node(&r, "service:handler-a").cold_starts, 1);
}

#[test]
fn jaeger_ui_download() {
    let (_, r) = load(&[&fixture("jaeger/ui-download.json")]);
    assert_clean_input(&r, Format::Jaeger, 10);
    assert_reference_topology(&r, "com.example.OrderPlaced");
    assert_eq!(node(&r, "service:handler-a").cold_starts, 1);
}

#[test]
fn zipkin_brave_array() {
    let (_, r) = load(&[&fixture("zipkin/brave-kafka.json")]);
    assert_clean_input(&r, Format::Zipkin, 14);
    // Brave's spans carry no event type: the topic names it.
    assert_reference_topology(&r, "orders");
}

#[test]
fn kcat_binary_structured_and_plain_messages() {
    let (store, r) = load(&[&fixture("kcat/orders.jsonl")]);
    assert_clean_input(&r, Format::Kcat, 5);
    assert_eq!(
        r.inputs[0].violation_count, 0,
        "{:#?}",
        r.inputs[0].violations
    );
    assert_eq!(
        node_ids(&r),
        vec![
            ("channel:orders".to_string(), NodeKind::Channel),
            ("dead-letter:orders.dlq".to_string(), NodeKind::DeadLetter),
            ("service:producer-service".to_string(), NodeKind::Producer),
        ]
    );
    // evt-1 (flat headers), evt-2 (header map), evt-3 (structured); the plain message has
    // no known producer, so it is on the channel but on no edge.
    let p = edge(&r, "service:producer-service", "channel:orders");
    assert_eq!((p.stage, p.count), (Stage::Publish, 3));
    // Four messages on orders, and evt-2 leaving it for the dead-letter topic.
    assert_eq!(node(&r, "channel:orders").observations, 5);
    // evt-2 reached the dead-letter topic 100 ms after it was published on orders.
    let d = edge(&r, "channel:orders", "dead-letter:orders.dlq");
    assert_eq!((d.stage, d.count), (Stage::DeadLetter, 1));
    assert_eq!(d.latency_ms.map(|l| ms(l.max)), Some(100.0));
    assert_eq!(r.summary.events, 4);

    // Binary mode: attributes from ce_ headers, content-type is datacontenttype, the
    // payload is the data, the offset the sequence, topic/partition the partition key.
    let e1 = store.event(
        store
            .find_event("producer-service", "evt-1")
            .expect("evt-1"),
    );
    assert_eq!(store.str(e1.ty), "com.example.OrderPlaced");
    assert_eq!(store.str(e1.datacontenttype), "application/json");
    assert_eq!(store.str(e1.trace), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(e1.sequence, Some(41));
    assert_eq!(store.str(e1.partition_key), "orders/0");
    assert_eq!(
        store.payload(e1).as_deref(),
        Some(&br#"{"orderId": "o-1", "total": 12.5}"#[..])
    );
    assert_eq!(store.str(e1.payload_shape), "orderId:string,total:number");
    // Structured mode: the payload is the CloudEvent; its data is the payload.
    let e3 = store.event(
        store
            .find_event("producer-service", "evt-3")
            .expect("evt-3"),
    );
    assert_eq!(e3.sequence, Some(7));
    assert_eq!(
        store.payload(e3).as_deref(),
        Some(&br#"{"orderId": "o-3", "total": 7}"#[..])
    );
    // A plain message is still an event.
    let e4 = store.event(
        store
            .find_event("kafka://orders", "orders/1/8")
            .expect("plain"),
    );
    assert_eq!(store.str(e4.ty), "orders");
    assert_eq!(store.payload(e4).as_deref(), Some(&b"legacy order o-4"[..]));
    assert!(!e4.payload.is_some_and(|p| p.json));
}

#[test]
fn kcat_cloudevents_violations_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad-ce.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"topic":"orders","partition":0,"offset":1,"tstype":"create","ts":1700000000000,"broker":1,"headers":["ce_specversion","0.3","ce_id","x-1","ce_source","svc","ce_type","T","ce_time","yesterday","content-type","json"],"key":null,"payload":"{}"}"#,
            "\n",
            r#"{"topic":"orders","partition":0,"offset":2,"tstype":"create","ts":1700000000001,"broker":1,"headers":["ce_type","T"],"key":null,"payload":"{}"}"#,
            "\n",
        ),
    )
    .expect("write");
    let (_, r) = load(&[&path]);
    let i = &r.inputs[0];
    assert_eq!(i.format, Some(Format::Kcat));
    assert_eq!(i.records, 1);
    let msgs: Vec<String> = i
        .violations
        .iter()
        .map(|v| format!("{}: {}", v.line, v.message))
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("1: specversion: \"0.3\"")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with("1: time: \"yesterday\"")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("1: datacontenttype: \"json\"")),
        "{msgs:#?}"
    );
    // Neither id nor source: nothing to identify the event by, so it is an error.
    assert_eq!(i.errors.len(), 1, "{:#?}", i.errors);
    assert_eq!(i.errors[0].line, 2);
    assert!(i.errors[0].message.contains("neither source nor id"));
}

fn report_core(r: &Report) -> String {
    let v = serde_json::json!({
        "records": r.inputs.iter().map(|i| (i.format, i.records, i.skipped)).collect::<Vec<_>>(),
        "summary": serde_json::to_value(&r.summary).ok(),
        "topology": serde_json::to_value(&r.topology).ok(),
    });
    v.to_string()
}

#[test]
fn compressed_inputs_load_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    for rel in [
        "otlp/collector-file-exporter.jsonl",
        "otlp/export-request-base64.json",
        "jaeger/ui-download.json",
        "zipkin/brave-kafka.json",
        "kcat/orders.jsonl",
    ] {
        let src = fixture(rel);
        let bytes = std::fs::read(&src).expect("fixture");
        let stem = rel.replace('/', "-");
        let gz = dir.path().join(format!("{stem}.data"));
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::default(),
        );
        enc.write_all(&bytes).expect("gzip");
        enc.finish().expect("gzip");
        let zst = dir.path().join(format!("{stem}.bin"));
        std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).expect("zstd")).expect("write");

        let (plain_store, plain) = load(&[&src]);
        let (gz_store, gz_r) = load(&[&gz]);
        let (zst_store, zst_r) = load(&[&zst]);
        assert_eq!(report_core(&plain), report_core(&gz_r), "{rel} gzip");
        assert_eq!(report_core(&plain), report_core(&zst_r), "{rel} zstd");
        // Payloads read back the same whether from file offsets or the arena.
        for (a, b, c) in plain_store
            .events
            .iter()
            .zip(&gz_store.events)
            .zip(&zst_store.events)
            .map(|((a, b), c)| (a, b, c))
        {
            assert_eq!(plain_store.payload(a), gz_store.payload(b), "{rel}");
            assert_eq!(plain_store.payload(a), zst_store.payload(c), "{rel}");
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn issues(r: &Report) -> Vec<(u64, String)> {
    r.inputs[0]
        .errors
        .iter()
        .map(|e| (e.line, e.message.clone()))
        .collect()
}

fn has_issue(r: &Report, line: u64, fragments: &[&str]) {
    let all = issues(r);
    assert!(
        all.iter()
            .any(|(l, m)| *l == line && fragments.iter().all(|f| m.contains(f))),
        "no error on line {line} with {fragments:?} in {all:#?}"
    );
}

fn has_note(r: &Report, line: u64, fragments: &[&str]) {
    let all: Vec<(u64, String)> = r.inputs[0]
        .notes
        .iter()
        .map(|e| (e.line, e.message.clone()))
        .collect();
    assert!(
        all.iter()
            .any(|(l, m)| *l == line && fragments.iter().all(|f| m.contains(f))),
        "no note on line {line} with {fragments:?} in {all:#?}"
    );
}

#[test]
fn otlp_lines_with_garbage_load_the_good_spans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good =
        std::fs::read_to_string(fixture("otlp/collector-file-exporter.jsonl")).expect("fixture");
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    // A line cut short, binary junk, and one record whose spans are partly broken.
    lines.insert(0, r#"{"resourceSpans":[{"resource":{"#.to_string());
    lines.insert(3, "\u{1}\u{2}garbage".to_string());
    lines.push(
        concat!(
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"handler-c"}}]},"scopeSpans":[{"spans":["#,
            r#"{"spanId":"1111111111111111","name":"a","kind":5,"startTimeUnixNano":"1"},"#,
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"2222222222222222","kind":5,"startTimeUnixNano":"x"},"#,
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"3333333333333333","kind":"SPAN_KIND_BOGUS","startTimeUnixNano":"5"},"#,
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"4444444444444444","kind":5,"startTimeUnixNano":"9","endTimeUnixNano":"3"},"#,
            r#"{"traceId":"nothex","spanId":"5555555555555555","kind":5,"startTimeUnixNano":"9"},"#,
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"6666666666666666","kind":5,"startTimeUnixNano":"1700000000030000000","endTimeUnixNano":"1700000000031000000","attributes":[{"key":"messaging.destination.name","value":{"stringValue":"orders"}}],"links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}]},"#,
            r#"42]}]}]}"#
        )
        .to_string(),
    );
    let path = write(dir.path(), "mixed.jsonl", &(lines.join("\n") + "\n"));
    let (_, r) = load(&[&path]);
    assert_eq!(r.inputs[0].format, Some(Format::Otlp));
    has_issue(&r, 1, &["truncated JSON"]);
    has_issue(&r, 4, &["invalid JSON"]);
    let last = lines.len() as u64;
    let sp = "resourceSpans[0].scopeSpans[0].spans";
    has_issue(&r, last, &[&format!("{sp}[0]"), "traceId is missing"]);
    has_issue(&r, last, &[&format!("{sp}[1]"), "startTimeUnixNano"]);
    has_issue(
        &r,
        last,
        &[&format!("{sp}[2]"), "SPAN_KIND_BOGUS", "not a SpanKind"],
    );
    has_issue(&r, last, &[&format!("{sp}[3]"), "before startTimeUnixNano"]);
    // An id that is neither hex nor base64 is read as an opaque id, and noted.
    has_note(
        &r,
        last,
        &[&format!("{sp}[4]"), "traceId", "nothex", "opaque"],
    );
    has_issue(&r, last, &[&format!("{sp}[6]")]);
    assert_eq!(r.inputs[0].skipped, 8, "{:#?}", issues(&r));
    // The good spans all loaded, and the good consumer span of handler-c joined evt-1.
    assert_eq!(r.inputs[0].records, 11);
    let c = edge(&r, "channel:orders", "service:handler-c");
    assert_eq!(c.count, 1);
    assert_eq!(c.latency_ms.map(|l| ms(l.max)), Some(30.0));
    assert_eq!(edge(&r, "channel:orders", "service:handler-a").count, 2);
}

#[test]
fn jaeger_zipkin_kcat_with_garbage_load_the_good_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Jaeger: a span with an unknown process, one without a start, one with a bad id.
    let jaeger = r#"{
  "data": [
    {
      "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
      "spans": [
        {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7", "operationName": "send", "references": [], "startTime": 1700000000000000, "duration": 2000, "tags": [{"key": "span.kind", "type": "string", "value": "producer"}, {"key": "messaging.destination.name", "type": "string", "value": "orders"}], "processID": "p1"},
        {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "b7ad6b7169203331", "operationName": "process", "references": [{"refType": "FOLLOWS_FROM", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7"}], "startTime": 1700000000015000, "duration": 1000, "tags": [{"key": "span.kind", "type": "string", "value": "consumer"}], "processID": "p9"},
        {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "c7ad6b7169203331", "operationName": "process", "references": [], "duration": 1000, "tags": [], "processID": "p1"},
        {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "zz", "operationName": "x", "startTime": 1700000000015000, "processID": "p1"},
        {"traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "d7ad6b7169203331", "operationName": "process", "references": [{"refType": "CHILD_OF", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7"}], "startTime": 1700000000020000, "duration": 1000, "tags": [{"key": "span.kind", "type": "string", "value": "consumer"}], "processID": "p2"}
      ],
      "processes": {"p1": {"serviceName": "producer-service", "tags": []}, "p2": {"serviceName": "handler-b", "tags": []}}
    },
    "not a trace"
  ]
}
"#;
    let (_, r) = load(&[&write(dir.path(), "j.json", jaeger)]);
    assert_eq!(r.inputs[0].format, Some(Format::Jaeger));
    has_issue(&r, 7, &["data[0].spans[1]", "processID \"p9\""]);
    has_issue(&r, 8, &["data[0].spans[2]", "startTime is missing"]);
    has_note(&r, 9, &["data[0].spans[3]", "spanID \"zz\"", "opaque"]);
    has_issue(&r, 14, &["data[1]", "not a Jaeger trace"]);
    assert_eq!(r.inputs[0].records, 3);
    assert_eq!(
        edge(&r, "channel:orders", "service:handler-b")
            .latency_ms
            .map(|l| ms(l.max)),
        Some(20.0)
    );

    // Zipkin: a number, a span without timestamp, a bad kind, and a good pair.
    let zipkin = r#"[
  {"traceId": "a3ce929d0e0e4736", "id": "00f067aa0ba902b7", "kind": "PRODUCER", "name": "send", "timestamp": 1700000000000000, "duration": 2000, "localEndpoint": {"serviceName": "producer-service"}, "remoteEndpoint": {"serviceName": "kafka"}, "tags": {"kafka.topic": "orders"}},
  12,
  {"traceId": "a3ce929d0e0e4736", "id": "00f067aa0ba902b8", "kind": "CONSUMER", "name": "poll", "localEndpoint": {"serviceName": "handler-a"}},
  {"traceId": "a3ce929d0e0e4736", "id": "00f067aa0ba902b9", "kind": "BROKER", "name": "poll", "timestamp": 1700000000005000, "localEndpoint": {"serviceName": "handler-a"}},
  {"traceId": "a3ce929d0e0e4736", "parentId": "00f067aa0ba902b7", "id": "00f067aa0ba902ba", "kind": "CONSUMER", "name": "poll", "timestamp": 1700000000005000, "duration": 100, "localEndpoint": {"serviceName": "handler-a"}, "remoteEndpoint": {"serviceName": "kafka"}}
]"#;
    let (_, r) = load(&[&write(dir.path(), "z.json", zipkin)]);
    assert_eq!(r.inputs[0].format, Some(Format::Zipkin));
    has_issue(&r, 3, &["element 2", "not a span object"]);
    // No timestamp and no timed span with its id to merge into: skipped, with the reason.
    has_note(&r, 4, &["element 3", "no timestamp", "skipped"]);
    has_issue(&r, 5, &["element 4", "kind \"BROKER\""]);
    assert_eq!(r.inputs[0].records, 2);
    // The consumer names no topic: it takes its producer's.
    assert_eq!(
        edge(&r, "channel:orders", "service:handler-a")
            .latency_ms
            .map(|l| ms(l.max)),
        Some(5.0)
    );

    // kcat: garbage, a message without topic, wrong types, then good lines.
    let good = std::fs::read_to_string(fixture("kcat/orders.jsonl")).expect("fixture");
    let kcat = format!(
        "garbage line\n{{\"partition\":0,\"offset\":1,\"ts\":1}}\n{{\"topic\":\"orders\",\"partition\":\"zero\",\"offset\":1}}\n\n{good}{{\"topic\":\"orders\",\"headers\":[\"ce_id\"],\"offset\":9,\"partition\":0}}\n"
    );
    let (_, r) = load(&[&write(dir.path(), "k.jsonl", &kcat)]);
    assert_eq!(r.inputs[0].format, Some(Format::Kcat));
    has_issue(&r, 1, &["invalid JSON"]);
    has_issue(&r, 2, &["topic is missing"]);
    has_issue(&r, 3, &["invalid type", "\"zero\""]);
    has_issue(&r, 10, &["headers list has a key without a value"]);
    assert_eq!(r.inputs[0].records, 5);
    assert_eq!(
        edge(&r, "service:producer-service", "channel:orders").count,
        3
    );
}

#[test]
fn unreadable_span_documents_fail_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::new();
    let progress = LoadProgress::default();
    let p = write(
        dir.path(),
        "t.json",
        "{\n  \"resourceSpans\": [\n    {\"scopeSpans\": [{\"spans\": [{\"spanId\": 5}]}]}\n  ]\n}\n",
    );
    let err = load_path(&mut store, &p, &progress).expect_err("nothing readable");
    let msg = err.to_string();
    assert!(msg.contains("line 3"), "{msg}");
    assert!(
        msg.contains("resourceSpans[0].scopeSpans[0].spans[0]"),
        "{msg}"
    );
    // Truncated documents are documents, not lines, and say so.
    let p = write(
        dir.path(),
        "cut.json",
        "{\n  \"data\": [\n    {\"traceID\": \"ab\", \"spans\": [",
    );
    let mut store = Store::new();
    let err = load_path(&mut store, &p, &progress).expect_err("truncated");
    assert_eq!(store.inputs[0].format, Some(Format::Jaeger));
    assert!(err.to_string().contains("truncated JSON"), "{err}");
}

#[test]
fn otlp_and_cloudevents_capture_of_one_run_merge_into_one_graph() {
    let (_, otlp_only) = load(&[&fixture("otlp/collector-file-exporter.jsonl")]);
    let (store, r) = load(&[
        &fixture("otlp/collector-file-exporter.jsonl"),
        &fixture("otlp/capture-same-run.jsonl"),
    ]);
    assert_eq!(r.inputs[1].format, Some(Format::Capture));
    assert_eq!(node_ids(&r), node_ids(&otlp_only));
    assert_reference_topology(&r, "com.example.OrderPlaced");
    // The capture's 2 publishes and 4 deliveries are the spans' own: merged, not doubled.
    assert_eq!(store.merged_duplicates, 6);
    assert_eq!(r.summary.observations, otlp_only.summary.observations);
    // The capture filled in what spans do not carry (the payload).
    let e = store.event(
        store
            .find_event("producer-service", "evt-1")
            .expect("evt-1"),
    );
    assert_eq!(
        store.payload(e).as_deref(),
        Some(&br#"{"orderId":"o-1"}"#[..])
    );
}

fn run_analyze(path: &Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--json"])
        .arg(path)
        .output()
        .expect("run eventlens");
    assert!(
        out.status.success(),
        "eventlens analyze failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analysis JSON")
}

#[test]
fn binary_analyze_json_for_each_format() {
    for (rel, format, edges) in [
        ("otlp/collector-file-exporter.jsonl", "otlp", 5),
        ("otlp/export-request-base64.json", "otlp", 5),
        ("jaeger/ui-download.json", "jaeger", 5),
        ("zipkin/brave-kafka.json", "zipkin", 5),
        ("kcat/orders.jsonl", "kcat", 2),
    ] {
        let v = run_analyze(&fixture(rel));
        assert_eq!(v["schema"], "eventlens.analysis/v1", "{rel}");
        assert_eq!(v["inputs"][0]["format"], format, "{rel}");
        assert_eq!(v["inputs"][0]["skipped"], 0, "{rel}");
        let e = v["topology"]["edges"].as_array().map_or(0, Vec::len);
        assert_eq!(e, edges, "{rel}");
        let names: Vec<&str> = v["topology"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str())
            .collect();
        assert!(names.contains(&"orders"), "{rel}: {names:?}");
        assert!(names.contains(&"producer-service"), "{rel}: {names:?}");
        if edges == 5 {
            let b = v["topology"]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["to"] == "service:handler-b")
                .cloned()
                .unwrap_or_default();
            assert_eq!(b["errors"], 1, "{rel}");
            assert_eq!(b["latency_ms"]["max"].as_f64().map(ms), Some(35.0), "{rel}");
        }
    }
}

/// Truncations and byte flips of every fixture: each loads or fails with a reason, and
/// nothing panics.
#[test]
fn mangled_inputs_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let progress = LoadProgress::default();
    for rel in [
        "otlp/collector-file-exporter.jsonl",
        "otlp/export-request-base64.json",
        "jaeger/ui-download.json",
        "zipkin/brave-kafka.json",
        "kcat/orders.jsonl",
    ] {
        let bytes = std::fs::read(fixture(rel)).expect("fixture");
        for round in 0..60 {
            let mut b = bytes.clone();
            match round % 3 {
                0 => b.truncate((next() as usize) % b.len()),
                1 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() as usize) % b.len();
                        b[i] = b"{}[]\",:0123456789-eE.ntfa\n\\ \x00\xff"[(next() % 30) as usize];
                    }
                }
                _ => {
                    // Swap two slices: values land in the wrong fields.
                    let a = (next() as usize) % b.len();
                    let c = (next() as usize) % b.len();
                    let (lo, hi) = (a.min(c), a.max(c));
                    b[lo..hi].reverse();
                }
            }
            let p = dir.path().join(format!("m{round}"));
            std::fs::write(&p, &b).expect("write");
            let mut store = Store::new();
            if load_path(&mut store, &p, &progress).is_ok() {
                store.finalize();
                let _ = Report::build(&store).to_text();
            }
        }
    }
}

/// The sniffing changes keep CloudEvents inputs on their reader.
#[test]
fn cloudevents_inputs_still_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ce = |id: &str| {
        format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"producer-service","type":"com.example.OrderPlaced","time":"2023-11-14T22:13:20Z","data":{{"orderId":"o-1"}}}}"#
        )
    };
    let cases = [
        ("lines", format!("{}\n{}\n", ce("1"), ce("2")), Format::CloudeventsJsonl, 2),
        ("batch", format!("[\n  {},\n  {}\n]\n", ce("1"), ce("2")), Format::CloudeventsBatch, 2),
        ("compact-batch", format!("[{},{}]", ce("1"), ce("2")), Format::CloudeventsBatch, 2),
        (
            "single",
            "{\n  \"specversion\": \"1.0\",\n  \"id\": \"1\",\n  \"source\": \"s\",\n  \"type\": \"t\",\n  \"data\": {\"a\": 1}\n}\n".to_string(),
            Format::Cloudevents,
            1,
        ),
    ];
    for (name, text, format, records) in cases {
        let (store, r) = load(&[&write(dir.path(), name, &text)]);
        assert_eq!(r.inputs[0].format, Some(format), "{name}");
        assert_eq!(r.inputs[0].records, records, "{name}");
        assert!(
            r.inputs[0].errors.is_empty(),
            "{name}: {:?}",
            r.inputs[0].errors
        );
        assert!(store.events.iter().all(|e| e.payload.is_some()), "{name}");
    }
}
