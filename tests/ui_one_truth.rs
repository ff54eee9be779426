//! The app tells what `analyze --json` tells: the same findings (kinds, order, indexes,
//! counts) on every sample, and the same latency percentiles and cold/warm splits in the
//! Latency tab.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::model::{LatencySummary, NodeId};
use eventlens::ui::{BottomTab, Command, EventLensApp, LatencyFigures, Selection, StartOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `eventlens analyze FILE --json ARGS...`: its exit code, parsed output and errors.
fn run_analyze(file: &Path, args: &[&str]) -> (Option<i32>, Option<Value>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .arg("analyze")
        .arg(file)
        .arg("--json")
        .args(args)
        .output()
        .expect("run eventlens analyze");
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).ok(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `eventlens analyze FILE --json`, parsed.
fn analyze_json(file: &Path) -> Value {
    let (code, json, err) = run_analyze(file, &[]);
    assert_eq!(code, Some(0), "{}: {err}", file.display());
    json.unwrap_or_else(|| panic!("{}: analyze --json does not parse", file.display()))
}

fn open(path: &Path) -> Harness<'static, EventLensApp> {
    open_with(StartOptions {
        files: vec![path.to_path_buf()],
        ..Default::default()
    })
}

fn open_with(opts: StartOptions) -> Harness<'static, EventLensApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    h.state_mut().wait_until_loaded();
    h.run_steps(4);
    h
}

/// Every capture and trace in sample-traces/ and sample-traces/defects/ (not the truth
/// files, which are not inputs).
fn samples() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["sample-traces", "sample-traces/defects"] {
        for e in std::fs::read_dir(root().join(dir)).expect("sample folder") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let input = name.ends_with(".jsonl")
                || (name.ends_with(".json") && !name.ends_with("truth.json"));
            if input && name != "ground-truth.json" {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn the_app_lists_exactly_the_findings_of_analyze_on_every_sample() {
    let files = samples();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let json = analyze_json(&file);
        let cli = json["findings"].as_array().expect("findings");
        let mut h = open(&file);
        let app = h.state();
        let gui = app.findings();
        let name = file.display();
        assert_eq!(gui.len(), cli.len(), "{name}: finding count");
        for (i, (g, c)) in gui.iter().zip(cli).enumerate() {
            assert_eq!(g.kind.as_str(), c["kind"], "{name} finding {i}: kind");
            assert_eq!(g.severity.as_str(), c["severity"], "{name} finding {i}");
            assert_eq!(
                g.title,
                c["title"].as_str().unwrap_or(""),
                "{name} finding {i}"
            );
            assert_eq!(
                Some(g.count),
                c["count"].as_u64(),
                "{name} finding {i}: count"
            );
            let first = g.first.map(eventlens::time::format_rfc3339);
            assert_eq!(first.as_deref(), c["first"].as_str(), "{name} finding {i}");
        }
        // The panel lists them numbered as `--select finding:N` and `findings[N]`.
        for (i, c) in cli.iter().enumerate() {
            let kind = c["kind"].as_str().unwrap_or("");
            h.get_by_label_contains(&format!("#{i} · {kind} · "));
        }
        for gui_only in ["handler-failures", "read-error", "spec-violation"] {
            assert!(
                h.query_by_label_contains(gui_only).is_none(),
                "{name}: {gui_only} is not a finding kind"
            );
        }
        // `--select finding:N` is `findings[N]`.
        if let Some(last) = cli.len().checked_sub(1) {
            h.state_mut().command(Command::SelectFinding(last));
            h.run_steps(2);
            let sel = h.state().selected_finding().expect("selected");
            assert_eq!(
                h.state().findings()[sel].title,
                cli[last]["title"].as_str().unwrap_or("")
            );
        }
    }
}

fn node_by_key(app: &EventLensApp, key: &str) -> NodeId {
    let s = app.store();
    (0..s.nodes.len() as u32)
        .map(NodeId)
        .find(|&n| s.node_key(n) == key)
        .unwrap_or_else(|| panic!("node {key}"))
}

fn summary(v: &Value) -> Option<LatencySummary> {
    Some(LatencySummary {
        p50: v["p50"].as_f64()?,
        p95: v["p95"].as_f64()?,
        p99: v["p99"].as_f64()?,
        max: v["max"].as_f64()?,
    })
}

/// Selects `sel`, shows the Latency tab and returns what it shows.
fn latency_tab(h: &mut Harness<'static, EventLensApp>, sel: Selection) -> LatencyFigures {
    h.state_mut().command(Command::Select(sel));
    h.state_mut()
        .command(Command::SetBottomTab(BottomTab::Latency));
    h.run_steps(2);
    h.state()
        .latency_figures()
        .cloned()
        .unwrap_or_else(|| panic!("the Latency tab shows {sel:?}"))
}

#[test]
fn the_latency_tab_shows_the_percentiles_of_analyze_for_every_edge_and_handler() {
    let file = root().join("sample-traces/capture.jsonl");
    let json = analyze_json(&file);
    let mut h = open(&file);
    let mut edges = 0;
    for e in json["topology"]["edges"].as_array().expect("edges") {
        let Some(expected) = summary(&e["latency_ms"]) else {
            continue;
        };
        let (from, to) = (
            e["from"].as_str().expect("from"),
            e["to"].as_str().expect("to"),
        );
        let sel = Selection::Edge(node_by_key(h.state(), from), node_by_key(h.state(), to));
        let shown = latency_tab(&mut h, sel);
        let overall = shown.overall.expect("figures");
        assert_eq!(overall.p50, expected.p50, "{from} -> {to}: p50");
        assert_eq!(overall.p95, expected.p95, "{from} -> {to}: p95");
        assert_eq!(overall.p99, expected.p99, "{from} -> {to}: p99");
        assert_eq!(shown.samples as u64, e["count"].as_u64().expect("count"));
        // And that is what it prints.
        h.get_by_label_contains(&format!(
            "p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms",
            expected.p50, expected.p95, expected.p99
        ));
        edges += 1;
    }
    assert!(edges >= 5, "{edges} edges with latency");

    // Handlers: processing time as `processing_ms`, cold/warm as the cold-start finding.
    let findings = json["findings"].as_array().expect("findings");
    let mut handlers = 0;
    for n in json["topology"]["nodes"].as_array().expect("nodes") {
        let Some(expected) = summary(&n["processing_ms"]) else {
            continue;
        };
        let key = n["id"].as_str().expect("id");
        let sel = Selection::Node(node_by_key(h.state(), key));
        let shown = latency_tab(&mut h, sel);
        assert_eq!(shown.overall, Some(expected), "{key}: processing");
        let cold = findings
            .iter()
            .find(|f| {
                f["kind"] == "cold-start"
                    && f["nodes"]
                        .as_array()
                        .is_some_and(|v| v.contains(&Value::from(key)))
            })
            .expect("the sample's handlers both have cold starts");
        assert_eq!(shown.cold_count, cold["count"].as_u64().expect("count"));
        assert_eq!(
            shown.cold.map(|c| c.p50),
            cold["evidence"]["cold_p50_ms"].as_f64()
        );
        assert_eq!(
            shown.warm.map(|w| w.p50),
            cold["evidence"]["warm_p50_ms"].as_f64()
        );
        // The tab prints the finding's figures (the finding's title says them too).
        h.get_by_label_contains(&format!(
            "cold starts: cold p50 {:.1} ms · warm p50 {:.1} ms",
            cold["evidence"]["cold_p50_ms"].as_f64().expect("cold p50"),
            cold["evidence"]["warm_p50_ms"].as_f64().expect("warm p50")
        ));
        handlers += 1;
    }
    assert_eq!(handlers, 2);
}

/// `eventlens analyze FILE --json --filter EXPR`.
fn analyze_filtered(file: &Path, filter: &str) -> (Option<i32>, Option<Value>, String) {
    run_analyze(file, &["--filter", filter])
}

fn edge_json<'v>(report: &'v Value, from: &str, to: &str) -> Option<&'v Value> {
    report["topology"]["edges"]
        .as_array()?
        .iter()
        .find(|e| e["from"] == from && e["to"] == to)
}

/// `analyze --filter` analyses what the app's filter keeps, on spans that OpenTelemetry's
/// Python SDK exported (pika over RabbitMQ, Redis, HTTP): the expected flows are the ones
/// the SDK's own spans state (`tests/fixtures/instrumented/*.truth.json`).
#[test]
fn analyze_filter_keeps_what_the_app_filter_keeps_on_instrumented_spans() {
    let dir = root().join("tests/fixtures/instrumented");
    let file = dir.join("python-pika-redis-http.jsonl");
    let truth: Value = serde_json::from_slice(
        &std::fs::read(dir.join("python-pika-redis-http.truth.json")).expect("truth"),
    )
    .expect("truth parses");
    let truth_edge = |from: &str, to: &str| {
        truth["topology_edges"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["from"] == from && e["to"] == to))
            .unwrap_or_else(|| panic!("truth edge {from} -> {to}"))
            .clone()
    };

    // The consumer's view: its deliveries (with the one failure) and its own Redis writes;
    // not the producer's publishes nor the HTTP call into the producer.
    let (code, report, err) = analyze_filtered(&file, "handler:fulfillment");
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no JSON: {err}"));
    assert_eq!(report["filter"], "handler:fulfillment");
    let want = truth_edge("orders", "fulfillment");
    let got =
        edge_json(&report, "channel:orders", "service:fulfillment").expect("delivery edge kept");
    assert_eq!(got["count"], want["count"]);
    assert_eq!(got["errors"], want["errors"]);
    assert!(
        edge_json(&report, "service:orders-api", "channel:orders").is_none(),
        "a publish does not touch the handler: {:#}",
        report["topology"]["edges"]
    );
    assert!(edge_json(&report, "service:checkout", "service:orders-api").is_none());
    let unfiltered = analyze_json(&file);
    assert!(
        report["summary"]["observations"].as_u64() < unfiltered["summary"]["observations"].as_u64()
    );

    // One trace: the order whose fulfilment failed, end to end.
    let failed = truth["error_spans"][0]["trace_id"]
        .as_str()
        .expect("error trace");
    let (_, report, err) = analyze_filtered(&file, &format!("trace:{failed}"));
    let report = report.unwrap_or_else(|| panic!("no JSON: {err}"));
    assert_eq!(report["summary"]["events"], 1, "{:#}", report["summary"]);
    let publish = edge_json(&report, "service:orders-api", "channel:orders").expect("its publish");
    assert_eq!(publish["count"], 1);
    let deliver =
        edge_json(&report, "channel:orders", "service:fulfillment").expect("its delivery");
    assert_eq!(
        (deliver["count"].clone(), deliver["errors"].clone()),
        (1.into(), 1.into())
    );

    // The app, given the same filter, lists the same observations.
    let cli_rows = {
        let (_, r, _) = analyze_filtered(&file, "handler:fulfillment");
        r.and_then(|r| r["summary"]["observations"].as_u64())
            .expect("observations")
    };
    let h = open_with(StartOptions {
        files: vec![file.clone()],
        filter: Some("handler:fulfillment".into()),
        cursor: Some("end".into()),
        ..Default::default()
    });
    assert_eq!(h.state().table_rows() as u64, cli_rows);

    // A term it cannot read is an error that names it, not an unfiltered report.
    let (code, report, err) = analyze_filtered(&file, "stage:nope type:x");
    assert_eq!(code, Some(2));
    assert!(report.is_none());
    assert!(err.contains("stage:nope"), "{err}");
}
