//! Formats at the edges, on files written by other projects (`tests/fixtures/public/`, origins
//! and what each project states in its README and `expected.json`): OTLP with proto field
//! names and Tempo's `batches`, Jaeger test traces with opaque ids, redacted collector
//! output, Event Grid, EventBridge and CDEvents events, OTLP logs and metrics, kcat's own
//! test inputs, Dapr's CloudEvents, the empty batch, events without a time, and lines of any
//! length. Where no public file has the shape, the test derives it from a public one (or
//! writes the few bytes a tool's documented output has); `tests/fixtures/README.md` lists
//! those with the documentation they follow.

use eventlens::analysis::report::Report;
use eventlens::ingest::spans::{Parsed, hex};
use eventlens::ingest::{Layout, LoadProgress, jaeger, load_path, otlp, sniff_or_why, zipkin};
use eventlens::model::{ExtValue, Format, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn public(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/public")
        .join(rel)
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn eventlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens")
}

/// `analyze --json` of some files: exit code, the report (if any), stderr.
fn analyze_json(paths: &[&Path]) -> (Option<i32>, Option<Value>, String) {
    let mut args = vec!["analyze".to_string(), "--json".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = eventlens(&refs);
    let report = serde_json::from_slice(&out.stdout).ok();
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn analyze_text(path: &Path) -> (Option<i32>, String, String) {
    let out = eventlens(&["analyze", &path.display().to_string()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

/// Parses a span file the way eventlens reads it (document or lines, by its content).
fn parse_spans(path: &Path) -> (Format, Parsed) {
    let bytes = std::fs::read(path).expect("read fixture");
    let (format, layout) = sniff_or_why(&bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let parse_document = match format {
        Format::Otlp => otlp::parse_document,
        Format::Jaeger => jaeger::parse_document,
        Format::Zipkin => zipkin::parse_document,
        f => panic!("{path:?}: not a span format: {f:?}"),
    };
    let parse_line = match format {
        Format::Otlp => otlp::parse_line,
        Format::Jaeger => jaeger::parse_line,
        _ => zipkin::parse_line,
    };
    let parsed = match layout {
        Layout::Document => parse_document(text),
        Layout::Lines => {
            let mut all = Parsed::default();
            for (i, line) in text.lines().enumerate() {
                if !line.trim().is_empty() {
                    all.extend(parse_line(line, i as u64 + 1));
                }
            }
            all
        }
    };
    (format, parsed)
}

fn services(p: &Parsed) -> Vec<String> {
    let mut s: Vec<String> = p.spans.iter().map(|s| s.service.to_string()).collect();
    s.sort();
    s.dedup();
    s
}

fn sorted(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    s.sort();
    s
}

fn expected() -> Vec<Value> {
    let text = std::fs::read_to_string(public("expected.json")).expect("expected.json");
    serde_json::from_str::<Value>(&text)
        .expect("expected.json parses")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ext(store: &Store, source: &str, id: &str, name: &str) -> Option<String> {
    let e = store.event(store.find_event(source, id)?);
    store
        .event_extensions(e)
        .iter()
        .find(|(k, _)| store.str(*k) == name)
        .map(|(_, v)| match v {
            ExtValue::Str(s) => store.str(*s).to_string(),
            ExtValue::Int(i) => i.to_string(),
            ExtValue::Bool(b) => b.to_string(),
        })
}

/// Every span file of `expected.json` (OTLP, Tempo, Jaeger, Zipkin v2): the number of spans
/// and the services the source states, read whole (no record rejected for its shape).
#[test]
fn span_files_give_the_spans_and_services_their_projects_state() {
    let mut checked = 0;
    for e in expected() {
        let file = e["file"].as_str().unwrap_or_default();
        let format = e["format"].as_str().unwrap_or_default();
        if !matches!(format, "otlp" | "tempo" | "jaeger" | "zipkin")
            || e["invalid_json"] == true
            || e["zipkin_version"] == 1
        {
            continue;
        }
        let (read_as, parsed) = parse_spans(&public(file));
        let want = match format {
            "otlp" | "tempo" => Format::Otlp,
            "jaeger" => Format::Jaeger,
            _ => Format::Zipkin,
        };
        assert_eq!(read_as, want, "{file}");
        assert!(parsed.errors.is_empty(), "{file}: {:#?}", parsed.errors);
        assert_eq!(
            parsed.spans.len() as u64,
            e["records"].as_u64().unwrap_or(0),
            "{file}"
        );
        // A Zipkin span without localEndpoint (netflix.json's kind-less repeats) names no
        // service: eventlens calls it unknown_service, the source lists none.
        let mut got = services(&parsed);
        got.retain(|s| s != "unknown_service");
        assert_eq!(got, sorted(&e["services"]), "{file}");
        checked += 1;
    }
    assert!(checked >= 27, "only {checked} span files checked");
}

/// Tempo's API shape (`{"batches": [...]}`, `instrumentationLibrarySpans`, base64 ids,
/// `SPAN_KIND_*` names) reads as OTLP. Grafana's Tempo test "should handle json file upload"
/// expects 6 rows whose first traceID is 000000000000000060ba2abb44f13eae.
#[test]
fn tempo_batches_read_as_otlp() {
    let (format, p) = parse_spans(&public("grafana-tempo/mockJsonResponse.json"));
    assert_eq!(format, Format::Otlp);
    assert_eq!(p.spans.len(), 6);
    assert_eq!(
        hex(&p.spans[0].trace_id),
        "000000000000000060ba2abb44f13eae"
    );
    assert!(
        p.spans
            .iter()
            .all(|s| hex(&s.trace_id) == "000000000000000060ba2abb44f13eae")
    );
    // The two links whose ids are the words "spanId"/"traceId" load, noted, not rejected.
    assert!(
        p.notes
            .iter()
            .any(|(_, n)| n.contains("links[0]") && n.contains("\"spanId\"")),
        "{:?}",
        p.notes
    );
    // Tempo's service-graph test trace: the consumer's parent is the producer span.
    let (_, p) = parse_spans(&public(
        "tempo-servicegraphs/trace-with-queue-database.json",
    ));
    let producer = p
        .spans
        .iter()
        .find(|s| s.name == "<default> -> messages send")
        .expect("producer span");
    let consumer = p
        .spans
        .iter()
        .find(|s| s.name == "messages process")
        .expect("consumer span");
    assert_eq!(consumer.parent, Some(producer.span_id));
    assert_eq!(&*producer.service, "mythical-requester");
    assert_eq!(&*consumer.service, "mythical-recorder");
}

/// OTLP with proto field names (`resource_spans`, `scope_spans`, `trace_id`, `string_value`,
/// `SPAN_KIND_*`) reads exactly as the same run with camelCase names, as a document and as
/// collector JSON Lines mixing both spellings.
#[test]
fn otlp_proto_field_names_read_like_camel_case() {
    for (proto, camel) in [
        (
            "instrumented/python-pika-redis-http-proto-names.json",
            "instrumented/python-pika-redis-http.json",
        ),
        (
            "instrumented/python-pika-redis-http-stable-semconv-proto-names.json",
            "instrumented/python-pika-redis-http-stable-semconv.json",
        ),
    ] {
        let text = std::fs::read_to_string(fixture(proto)).expect("fixture");
        assert!(text.contains("\"resource_spans\"") && text.contains("\"string_value\""));
        let (_, a, _) = analyze_json(&[&fixture(proto)]);
        let (_, b, _) = analyze_json(&[&fixture(camel)]);
        let (a, b) = (a.expect("report"), b.expect("report"));
        assert_eq!(a["inputs"][0]["format"], "otlp", "{proto}");
        assert_eq!(a["inputs"][0]["records"], 24, "{proto}");
        assert_eq!(a["inputs"][0]["skipped"], 0, "{proto}");
        assert_eq!(a["summary"], b["summary"], "{proto}");
        assert_eq!(a["topology"], b["topology"], "{proto}");
        assert_eq!(a["findings"], b["findings"], "{proto}");

        // Both spellings in one collector JSON Lines file.
        let dir = tempfile::tempdir().expect("tempdir");
        let one_line = |p: &str| {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(fixture(p)).expect("fixture"))
                    .expect("JSON");
            v.to_string()
        };
        let mixed = dir.path().join("mixed.jsonl");
        std::fs::write(
            &mixed,
            format!("{}\n{}\n", one_line(proto), one_line(camel)),
        )
        .expect("write");
        let (_, r, _) = analyze_json(&[&mixed]);
        let r = r.expect("report");
        assert_eq!(r["inputs"][0]["format"], "otlp");
        assert_eq!(r["inputs"][0]["records"], 48);
        assert_eq!(r["inputs"][0]["skipped"], 0);
    }
}

/// The Go auto-instrumentation end-to-end outputs: ids redacted to "xxxxx" and times removed.
/// verify.bats: 3 spans, all `messaging.system=kafka`, producers (kind 4) to topic1 and topic2,
/// a consumer (kind 5) of topic1. They load, their ids are noted as opaque, and the report
/// says times are missing instead of showing 1970.
#[test]
fn redacted_go_instrumentation_output_loads_without_times() {
    for file in [
        "otel-go-instrumentation/kafka-go-traces-v0.12.json",
        "otel-go-instrumentation/kafka-go-traces-v0.21.json",
    ] {
        let (_, p) = parse_spans(&public(file));
        assert_eq!(p.spans.len(), 3, "{file}");
        assert!(
            p.spans
                .iter()
                .all(|s| s.attr_str("messaging.system").as_deref() == Some("kafka")),
            "{file}"
        );
        let mut producers: Vec<String> = p
            .spans
            .iter()
            .filter(|s| s.kind == eventlens::ingest::spans::SpanKind::Producer)
            .filter_map(|s| {
                s.attr_str("messaging.destination.name")
                    .map(|d| d.into_owned())
            })
            .collect();
        producers.sort();
        assert_eq!(producers, ["topic1", "topic2"], "{file}");
        assert_eq!(
            p.spans
                .iter()
                .filter(|s| s.kind == eventlens::ingest::spans::SpanKind::Consumer)
                .count(),
            1,
            "{file}"
        );
        assert!(
            p.notes.iter().any(|(_, n)| n.contains("\"xxxxx\"")),
            "{file}: {:?}",
            p.notes
        );

        let (code, r, _) = analyze_json(&[&public(file)]);
        assert_eq!(code, Some(0), "{file}");
        let r = r.expect("report");
        assert_eq!(r["inputs"][0]["records"], 3, "{file}");
        assert!(r["summary"]["first"].is_null(), "{file}");
        assert!(r["summary"]["last"].is_null(), "{file}");
        assert_eq!(
            r["summary"]["untimed"], r["summary"]["observations"],
            "{file}"
        );
        assert!(!r.to_string().contains("1970-"), "{file}");
        let (_, text, _) = analyze_text(&public(file));
        assert!(text.contains("times are missing"), "{file}: {text}");
        assert!(!text.contains("1970-"), "{file}: {text}");
    }
}

/// Jaeger UI's TraceGraph test trace uses opaque ids (`trace-123`, `span-2_1`): all 11 spans
/// are read, services service1 and service2, and references still resolve (span-7 FOLLOWS_FROM
/// span-6, span-4 CHILD_OF span-3).
#[test]
fn jaeger_opaque_ids_are_read_and_references_resolve() {
    let (format, p) = parse_spans(&public("jaeger-ui/TraceGraph-testTrace.json"));
    assert_eq!(format, Format::Jaeger);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.spans.len(), 11);
    assert_eq!(services(&p), ["service1", "service2"]);
    let by_name = |kind: &str| {
        p.spans
            .iter()
            .find(|s| s.attr_str("span.kind").as_deref() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} span"))
    };
    let (producer, consumer) = (by_name("producer"), by_name("consumer"));
    assert_eq!(consumer.links, vec![(producer.trace_id, producer.span_id)]);
    let ids: std::collections::HashSet<_> = p.spans.iter().map(|s| s.span_id).collect();
    assert_eq!(ids.len(), 11, "distinct opaque ids stay distinct");
    assert!(p.spans.iter().all(|s| s.trace_id == producer.trace_id));
    // Every CHILD_OF reference resolves to a span of the file (span-1 is the only root).
    let roots = p
        .spans
        .iter()
        .filter(|s| s.parent.is_none_or(|id| !ids.contains(&id)))
        .count();
    assert_eq!(
        roots,
        1 + 1,
        "span-1, and span-7 whose only reference is FOLLOWS_FROM"
    );
    assert_eq!(p.notes.len(), 1, "one note for the trace: {:?}", p.notes);
    assert!(p.notes[0].1.contains("\"trace-123\""), "{:?}", p.notes);
}

/// Zipkin allows a span without `timestamp` for data sent after the fact
/// (zipkin2-api.yaml). Derived from zipkin-ui/messaging.json: late tags for the consumer
/// span merge into it; late data for an id nobody has is skipped with the reason. Neither is
/// an error.
#[test]
fn zipkin_spans_without_timestamp_merge_or_are_noted() {
    let text = std::fs::read_to_string(public("zipkin-ui/messaging.json")).expect("fixture");
    let mut spans: Vec<Value> = serde_json::from_str(&text).expect("JSON");
    let consumer = spans
        .iter()
        .find(|s| s["kind"] == "CONSUMER")
        .cloned()
        .expect("consumer span");
    let late = serde_json::json!({
        "traceId": consumer["traceId"], "id": consumer["id"],
        "localEndpoint": consumer["localEndpoint"],
        "tags": {"late.tag": "after the fact"}
    });
    let orphan = serde_json::json!({
        "traceId": consumer["traceId"], "id": "00000000000000ff", "tags": {"x": "y"}
    });
    spans.push(late);
    spans.push(orphan);
    let doc = serde_json::to_string_pretty(&spans).expect("JSON");
    let p = zipkin::parse_document(&doc);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.spans.len(), 4, "the 4 spans of the file, no more");
    let merged = p
        .spans
        .iter()
        .find(|s| s.attr_str("late.tag").is_some())
        .expect("late tag merged");
    assert_eq!(merged.name, consumer["name"].as_str().unwrap_or_default());
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    assert!(p.notes[0].1.contains("merged into"), "{:?}", p.notes);
    assert!(p.notes[1].1.contains("skipped"), "{:?}", p.notes);

    // Zipkin v1 (messaging-kafka.json) is named, in one sentence.
    let (code, _, err) = analyze_json(&[&public("zipkin-ui/messaging-kafka.json")]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Zipkin v1"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Azure Event Grid: the same BlobCreated event in the Event Grid schema (block 5) and in
/// the CloudEvents schema (block 1) of the Azure docs page. Event Grid is read with
/// source = topic, type = eventType, time = eventTime: both are one event.
#[test]
fn event_grid_schema_is_read_as_the_same_event_as_its_cloudevent() {
    let eg = public("azure-docs-eventgrid/event-schema-blob-storage.block5.json");
    let ce = public("azure-docs-eventgrid/event-schema-blob-storage.block1.json");
    let (store, r) = load(&[&eg]);
    assert_eq!(r.inputs[0].format, Some(Format::Eventgrid));
    assert_eq!(r.inputs[0].records, 1);
    assert!(r.inputs[0].errors.is_empty() && r.inputs[0].violations.is_empty());
    let topic = "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/my-storage-account";
    let id = "831e1650-001e-001b-66ab-eeb76e069631";
    let e = store.event(store.find_event(topic, id).expect("event by topic + id"));
    assert_eq!(store.str(e.ty), "Microsoft.Storage.BlobCreated");
    assert_eq!(
        store.str(e.subject),
        "/blobServices/default/containers/test-container/blobs/new-file.txt"
    );
    assert_eq!(
        r.summary.first.as_deref(),
        Some("2017-06-26T18:41:00.958410300Z")
    );
    assert_eq!(
        ext(&store, topic, id, "metadataversion").as_deref(),
        Some("1")
    );
    let payload = store.payload(e).expect("data is the payload");
    let data: Value = serde_json::from_slice(&payload).expect("JSON payload");
    assert_eq!(data["api"], "PutBlockList");

    let (store, r) = load(&[&ce, &eg]);
    assert_eq!(store.events.len(), 1);
    assert_eq!(r.summary.merged_duplicates, 1);

    // The same event as JSON Lines (payloads then read back from the file by offset).
    let events: Value =
        serde_json::from_str(&std::fs::read_to_string(&eg).expect("fixture")).expect("JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = dir.path().join("eventgrid.jsonl");
    let mut second = events[0].clone();
    second["id"] = "second".into();
    std::fs::write(&lines, format!("{}\n{}\n", events[0], second)).expect("write");
    let (store, r) = load(&[&lines]);
    assert_eq!(r.inputs[0].format, Some(Format::Eventgrid));
    assert_eq!(r.inputs[0].records, 2);
    let e = store.event(store.find_event(topic, "second").expect("second event"));
    let data: Value = serde_json::from_slice(&store.payload(e).expect("payload")).expect("JSON");
    assert_eq!(data, events[0]["data"]);

    let (code, text, _) = analyze_text(&eg);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with(&format!("{}: eventgrid (1 records", eg.display())),
        "{text}"
    );
}

/// aws-lambda-go's EventBridge test events: ecr_test.go states id, detail-type, source,
/// account and region of the ECR event; the autoscaling one has the placeholder time
/// 1970-01-01T00:00:00Z, which is no time, not a date in 1970.
#[test]
fn eventbridge_events_are_read() {
    let ecr = public("aws-lambda-go/ecr-image-push-event.json");
    let (store, r) = load(&[&ecr]);
    assert_eq!(r.inputs[0].format, Some(Format::Eventbridge));
    let id = "13cde686-328b-6117-af20-0e5566167482";
    let e = store.event(store.find_event("aws.ecr", id).expect("event"));
    assert_eq!(store.str(e.ty), "ECR Image Action");
    assert_eq!(
        ext(&store, "aws.ecr", id, "account").as_deref(),
        Some("123456789012")
    );
    assert_eq!(
        ext(&store, "aws.ecr", id, "region").as_deref(),
        Some("us-west-2")
    );
    assert_eq!(r.summary.first.as_deref(), Some("2019-11-16T01:54:34.000Z"));
    assert!(
        r.topology
            .edges
            .iter()
            .any(|e| e.from == "service:aws.ecr" && e.to == "channel:default"),
        "published onto the default event bus: {:?}",
        r.topology.edges
    );
    let detail: Value = serde_json::from_slice(&store.payload(e).expect("detail")).expect("JSON");
    assert_eq!(detail["repository-name"], "my-repository-name");

    let auto = public("aws-lambda-go/autoscaling-event.json");
    let (code, r, _) = analyze_json(&[&auto]);
    assert_eq!(code, Some(0));
    let r = r.expect("report");
    assert_eq!(r["inputs"][0]["format"], "eventbridge");
    assert_eq!(r["summary"]["events"], 1);
    assert!(r["summary"]["first"].is_null());
    assert_eq!(r["summary"]["untimed"], 1);
    assert!(
        r["inputs"][0]["notes"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1970-01-01T00:00:00Z"),
        "{}",
        r["inputs"][0]
    );
    let (_, text, _) = analyze_text(&auto);
    assert!(text.contains("times are missing"), "{text}");
    // The only 1970 in the output is the note quoting the record.
    assert_eq!(text.matches("1970").count(), 1, "{text}");
}

/// cdevents/spec examples: id, source, type and time from `context`, subject = `subject.id`.
#[test]
fn cdevents_are_read() {
    for (file, ty, subject) in [
        (
            "cdevents-spec/artifact_published.v0.2.0.json",
            "dev.cdevents.artifact.published.0.1.1",
            "pkg:golang/mygit.com/myorg/myapp@234fd47e07d1004f0aed9c",
        ),
        (
            "cdevents-spec/artifact_published.v0.5.0-draft.json",
            "dev.cdevents.artifact.published.0.3.0-draft",
            "pkg:golang/mygit.com/myorg/myapp@234fd47e07d1004f0aed9c",
        ),
        (
            "cdevents-spec/pipelinerun_finished.v0.2.0.json",
            "dev.cdevents.pipelinerun.finished.0.1.1",
            "mySubject123",
        ),
    ] {
        let (store, r) = load(&[&public(file)]);
        assert_eq!(r.inputs[0].format, Some(Format::Cdevents), "{file}");
        assert!(
            r.inputs[0].violations.is_empty(),
            "{file}: {:?}",
            r.inputs[0].violations
        );
        let e = store.event(
            store
                .find_event("/event/source/123", "271069a8-fc18-44f1-b38f-9d70a1695819")
                .unwrap_or_else(|| panic!("{file}: event")),
        );
        assert_eq!(store.str(e.ty), ty, "{file}");
        assert_eq!(store.str(e.subject), subject, "{file}");
        assert_eq!(
            r.summary.first.as_deref(),
            Some("2023-03-20T14:27:05.315384Z"),
            "{file}"
        );
        if file.contains("v0.5.0") {
            assert_eq!(store.str(e.dataschema), "https://myorg.com/schema/custom");
        }
        let (_, text, _) = analyze_text(&public(file));
        assert!(text.contains(": cdevents (1 records"), "{file}: {text}");
    }
}

/// What eventlens does not read says what it is, in one sentence, and exits 1: OTLP logs
/// without CloudEvents attributes, OTLP metrics, a Pub/Sub message payload (google-cloudevents
/// testdata: "not an event file").
#[test]
fn unread_files_are_named_in_one_sentence() {
    for (file, says) in [
        ("opentelemetry-proto/logs.json", "an OTLP logs file"),
        ("opentelemetry-proto/events.json", "an OTLP logs file"),
        ("opentelemetry-proto/metrics.json", "an OTLP metrics file"),
        (
            "google-cloudevents/MessagePublishedData-simple.json",
            "not an event or trace file",
        ),
        (
            "jaeger-integration/otlp_span_links.invalid-20b939c.json",
            "does not start with JSON",
        ),
    ] {
        let (code, _, err) = analyze_json(&[&public(file)]);
        assert_eq!(code, Some(1), "{file}");
        assert_eq!(err.trim().lines().count(), 1, "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
        assert!(err.contains(file), "{file}: names the file: {err}");
    }
    let (_, _, err) = analyze_json(&[&public("opentelemetry-proto/logs.json")]);
    assert!(err.contains("cloudevents.*"), "{err}");
}

/// OTLP logs whose records carry the `cloudevents.*` attributes are events. Derived from the
/// opentelemetry-proto logs example (proto field names for one record, camelCase for the
/// other): the record given the attributes is read, the other is noted.
#[test]
fn otlp_log_records_with_cloudevents_attributes_are_events() {
    let text = std::fs::read_to_string(public("opentelemetry-proto/logs.json")).expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("JSON");
    let record = v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0].clone();
    let mut with_ce = record.clone();
    let attrs = with_ce["attributes"].as_array_mut().expect("attributes");
    for (k, val) in [
        ("cloudevents.event_id", "evt-1"),
        ("cloudevents.event_source", "/orders"),
        ("cloudevents.event_type", "com.example.OrderPlaced"),
        ("cloudevents.event_spec_version", "1.0"),
    ] {
        attrs.push(serde_json::json!({"key": k, "value": {"string_value": val}}));
    }
    v["resourceLogs"][0]["scopeLogs"][0]["logRecords"] = Value::Array(vec![with_ce, record]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v).expect("JSON")).expect("write");
    let (store, r) = load(&[&path]);
    assert_eq!(r.inputs[0].format, Some(Format::OtlpLogs));
    assert_eq!(r.inputs[0].records, 1);
    assert_eq!(r.inputs[0].note_count, 1);
    let e = store.event(store.find_event("/orders", "evt-1").expect("event"));
    assert_eq!(store.str(e.ty), "com.example.OrderPlaced");
    // The example's timeUnixNano 1544712660300000000 and its traceId.
    assert_eq!(r.summary.first.as_deref(), Some("2018-12-13T14:51:00.300Z"));
    assert_eq!(store.str(e.trace), "5b8efff798038103d269b633813fc60c");
}

/// kcat's own test script feeds two `-J` records written back to back without a newline, and
/// expects both; a pasted terminal transcript carries kcat's `%` status lines (kcat.c prints
/// them with `KC_INFO`), which are not records and not errors.
#[test]
fn kcat_concatenated_records_and_status_lines() {
    let (store, r) = load(&[&public("kcat/0003-json.input1.json")]);
    assert_eq!(r.inputs[0].format, Some(Format::Kcat));
    assert_eq!(r.inputs[0].records, 1);
    assert_eq!(r.summary.first.as_deref(), Some("2021-02-20T13:14:28.173Z"));
    let e = &store.events[0];
    assert_eq!(store.payload(e).as_deref(), Some(&b"this is payload"[..]));

    let two = public("kcat/0003-json.input2-concatenated.json");
    let (store, r) = load(&[&two]);
    assert_eq!(r.inputs[0].records, 2, "{:?}", r.inputs[0].errors);
    assert!(r.inputs[0].errors.is_empty());
    assert_eq!(r.summary.observations, 2);
    assert_eq!(
        store.payload(&store.events[0]).as_deref(),
        Some(&b"payload1"[..])
    );

    // A transcript: status lines around the public records.
    let one = std::fs::read_to_string(public("kcat/0003-json.input1.json")).expect("fixture");
    let both = std::fs::read_to_string(&two).expect("fixture");
    let transcript = format!(
        "% Auto-selecting Consumer mode (use -P or -C to override)\n{one}\n% Reached end of topic sorted [0] at offset 1\n{both}\n% Reached end of topic sorted [0] at offset 3: exiting\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("transcript.txt");
    std::fs::write(&path, transcript).expect("write");
    let (_, r) = load(&[&path]);
    assert_eq!(r.inputs[0].format, Some(Format::Kcat));
    assert_eq!(r.inputs[0].records, 3);
    assert_eq!(r.inputs[0].skipped, 0, "{:?}", r.inputs[0].errors);
    assert_eq!(r.inputs[0].note_count, 0);
}

/// Dapr's CloudEvent (pubsub-cloudevents.md block 1): `topic`, `pubsubname`, `traceparent`,
/// `traceid`, `tracestate` are kept as extensions, and the trace comes from `traceparent`.
#[test]
fn dapr_extensions_are_kept() {
    let (store, r) = load(&[&public("dapr-docs/pubsub-cloudevents.block1.json")]);
    assert!(
        r.inputs[0].violations.is_empty(),
        "{:?}",
        r.inputs[0].violations
    );
    let (s, id) = ("checkout", "5929aaac-a5e2-4ca1-859c-edfe73f11565");
    assert_eq!(ext(&store, s, id, "topic").as_deref(), Some("orders"));
    assert_eq!(
        ext(&store, s, id, "pubsubname").as_deref(),
        Some("order_pub_sub")
    );
    let tp = "00-113ad9c4e42b27583ae98ba698d54255-e3743e35ff56f219-01";
    assert_eq!(ext(&store, s, id, "traceparent").as_deref(), Some(tp));
    assert_eq!(ext(&store, s, id, "traceid").as_deref(), Some(tp));
    let e = store.event(store.find_event(s, id).expect("event"));
    assert_eq!(store.str(e.trace), "113ad9c4e42b27583ae98ba698d54255");
    assert_eq!(store.str(e.ty), "com.dapr.event.sent");
}

/// The empty batch `[]` (the conformance suite's valid empty batch) is a clean, empty report
/// with exit 0; a file with no bytes at all is "the file is empty", exit 1 (README).
#[test]
fn the_empty_batch_is_an_empty_report() {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("cloudevents-conformance/valid-batches.json"))
            .expect("conformance file"),
    )
    .expect("JSON");
    let empty = cases["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["id"] == "validBatchEmpty")
        .map(|t| t["batch"].clone())
        .expect("the conformance suite's empty batch");
    assert_eq!(empty, serde_json::json!([]));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("batch.json");
    std::fs::write(&path, empty.to_string()).expect("write");
    let (code, r, err) = analyze_json(&[&path]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.expect("report");
    assert_eq!(r["inputs"][0]["format"], "cloudevents-batch");
    assert_eq!(r["inputs"][0]["records"], 0);
    assert_eq!(r["inputs"][0]["skipped"], 0);
    assert_eq!(r["summary"]["events"], 0);
    assert!(r["summary"]["first"].is_null());
    assert_eq!(r["findings"], serde_json::json!([]));
    let (code, text, _) = analyze_text(&path);
    assert_eq!(code, Some(0));
    assert!(text.contains("0 events, 0 observations"), "{text}");

    let nothing = dir.path().join("nothing.jsonl");
    std::fs::write(&nothing, b"").expect("write");
    let (code, _, err) = analyze_json(&[&nothing]);
    assert_eq!(code, Some(1));
    assert!(err.contains("the file is empty"), "{err}");
}

/// Times: an event without one is unknown (never 1970), Go's zero time and years beyond 2115
/// are valid RFC 3339 that give no time (noted), not an overflow; only some missing: those
/// take the time of the record before them. Derived from cloudevents sdk-java's events.
#[test]
fn missing_and_unrepresentable_times_are_unknown_not_1970() {
    let timed: Value = serde_json::from_str(
        &std::fs::read_to_string(public("cloudevents-sdk-java/v1/json_data_with_ext.json"))
            .expect("fixture"),
    )
    .expect("JSON");
    let min: Value = serde_json::from_str(
        &std::fs::read_to_string(public("cloudevents-sdk-java/v1/min.json")).expect("fixture"),
    )
    .expect("JSON");
    let with = |base: &Value, id: &str, time: Option<&str>| {
        let mut v = base.clone();
        v["id"] = id.into();
        if let Some(t) = time {
            v["time"] = t.into();
        }
        v.to_string()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Leading events without a time, then a timed one, then more without.
    let lines = [
        with(&min, "a", None),
        with(&min, "b", Some("0001-01-01T00:00:00Z")),
        with(&timed, "c", None),
        with(&min, "d", Some("9999-12-31T23:59:59Z")),
        with(&min, "e", None),
    ];
    let path = dir.path().join("some.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let (code, r, err) = analyze_json(&[&path]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.expect("report");
    assert_eq!(r["inputs"][0]["records"], 5);
    assert_eq!(r["inputs"][0]["violation_count"], 0, "{}", r["inputs"][0]);
    assert_eq!(r["inputs"][0]["note_count"], 2, "{}", r["inputs"][0]);
    assert_eq!(r["summary"]["untimed"], 4);
    assert_eq!(r["summary"]["first"], "2018-04-26T12:48:09.000Z");
    assert_eq!(r["summary"]["last"], "2018-04-26T12:48:09.000Z");
    let out = r.to_string();
    assert!(
        !out.contains("1970-") && !out.contains("0001-01-01T00:00:00.000Z"),
        "{out}"
    );

    // None has a time: file order, and the summary says so.
    let path = dir.path().join("none.jsonl");
    let none = [
        with(&min, "x", None),
        with(&min, "y", None),
        with(&min, "z", None),
    ];
    std::fs::write(&path, none.join("\n") + "\n").expect("write");
    let (store, rep) = load(&[&path]);
    let order: Vec<&str> = store
        .observations
        .iter()
        .map(|o| store.str(store.event(o.event).id))
        .collect();
    assert_eq!(order, ["x", "y", "z"]);
    assert!(store.observations.iter().all(|o| o.untimed));
    assert_eq!(rep.summary.first, None);
    assert!(
        rep.findings
            .iter()
            .all(|f| f.first.is_none() && f.last.is_none())
    );
    let (_, text, _) = analyze_text(&path);
    assert!(text.contains("times are missing"), "{text}");
    assert!(!text.contains("1970"), "{text}");
}

/// No public file makes eventlens show a time in 1970 (or panic): every readable fixture's
/// `analyze` text and JSON are checked.
#[test]
fn no_public_fixture_shows_1970() {
    for e in expected() {
        let file = public(e["file"].as_str().unwrap_or_default());
        let (code, r, err) = analyze_json(&[&file]);
        assert!(matches!(code, Some(0 | 1)), "{file:?}: {code:?} {err}");
        if let Some(r) = r {
            for key in ["first", "last"] {
                let t = r["summary"][key].as_str().unwrap_or("");
                assert!(!t.starts_with("1970"), "{file:?}: {key} {t}");
            }
            let findings = r["findings"].to_string();
            assert!(!findings.contains("1970-01-01"), "{file:?}");
            let latency = r["latency"].to_string();
            assert!(!latency.contains("1970-01-01"), "{file:?}");
        }
    }
}

/// The collector's file exporter writes one export per line, a line with thousands of spans
/// being megabytes long: derived from the jaeger-ui OTLP JSON Lines fixture, a first line of
/// 2,000 spans (past the sniffing window and the 8 MB read chunk) loads whole.
#[test]
fn collector_lines_of_any_length_load() {
    let text = std::fs::read_to_string(public("jaeger-ui/otlp2jaeger-multi-in.json.txt"))
        .expect("fixture");
    let first: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    let span = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone();
    let mut big = first.clone();
    let spans: Vec<Value> = (0..20_000u64)
        .map(|i| {
            let mut s = span.clone();
            s["spanId"] = format!("{:016x}", i + 1).into();
            s["name"] = format!("{}{}", "padding-".repeat(50), i).into();
            s
        })
        .collect();
    big["resourceSpans"][0]["scopeSpans"][0]["spans"] = Value::Array(spans);
    let big_line = big.to_string();
    assert!(big_line.len() > 8 << 20, "{}", big_line.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("collector.jsonl");
    std::fs::write(&path, format!("{big_line}\n{text}")).expect("write");
    let t = std::time::Instant::now();
    let (_, r) = load(&[&path]);
    eprintln!(
        "{} MB collector file, first line {} MB: loaded in {:?}",
        (big_line.len() + text.len()) >> 20,
        big_line.len() >> 20,
        t.elapsed()
    );
    assert_eq!(r.inputs[0].format, Some(Format::Otlp));
    assert_eq!(r.inputs[0].records + r.inputs[0].skipped, 20_000 + 4);
    assert!(
        r.inputs[0]
            .errors
            .iter()
            .all(|e| !e.message.contains("JSON")),
        "{:?}",
        r.inputs[0].errors
    );
}
