//! `analyze --json` on each sample trace matches the ground truth the simulator wrote beside
//! it, and regenerating the samples gives the same bytes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces")
}

fn analyze(files: &[&Path]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .arg("analyze")
        .args(files)
        .arg("--json")
        .output()
        .expect("run eventlens");
    assert!(
        out.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analyze --json prints JSON")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
}

fn close(a: f64, b: f64) -> bool {
    // HDR histograms keep three significant digits.
    (a - b).abs() <= b.abs() * 0.002 + 0.002
}

/// Checks a report against a ground truth: counts exactly, latencies to HDR precision.
fn check(report: &Value, truth: &Value, what: &str) {
    assert_eq!(report["schema"], "eventlens.analysis/v1");
    let s = &report["summary"];
    assert_eq!(s["events"], truth["events"], "{what}: events");
    assert_eq!(s["first"], truth["first"], "{what}: first");
    assert_eq!(s["last"], truth["last"], "{what}: last");
    let nodes = report["topology"]["nodes"].as_array().expect("nodes");
    let truth_nodes = truth["nodes"].as_object().expect("truth nodes");
    assert_eq!(
        nodes.len(),
        truth_nodes.len(),
        "{what}: node count {nodes:#?}"
    );
    for n in nodes {
        let id = n["id"].as_str().unwrap_or_default();
        assert_eq!(truth_nodes.get(id), Some(&n["kind"]), "{what}: node {id}");
    }
    let edges = report["topology"]["edges"].as_array().expect("edges");
    let truth_edges = truth["edges"].as_object().expect("truth edges");
    assert_eq!(edges.len(), truth_edges.len(), "{what}: edge count");
    for e in edges {
        let key = format!(
            "{} -> {}",
            e["from"].as_str().unwrap_or_default(),
            e["to"].as_str().unwrap_or_default()
        );
        let t = truth_edges
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: unexpected edge {key}"));
        assert_eq!(e["count"], t["count"], "{what}: {key} count");
        assert_eq!(e["errors"], t["errors"], "{what}: {key} errors");
        match (&e["latency_ms"], &t["latency_ms"]) {
            (Value::Null, Value::Null) => {}
            (l, tl) => {
                for q in ["p50", "p95", "p99", "max"] {
                    let (a, b) = (
                        l[q].as_f64().unwrap_or(f64::NAN),
                        tl[q].as_f64().unwrap_or(f64::NAN),
                    );
                    assert!(close(a, b), "{what}: {key} latency {q}: {a} vs truth {b}");
                }
            }
        }
    }
    for n in nodes.iter().filter(|n| n["kind"] == "handler") {
        let id = n["id"].as_str().unwrap_or_default();
        let (p, t) = (&n["processing_ms"], &truth["processing_ms"][id]);
        for q in ["p50", "p99", "max"] {
            assert!(
                close(
                    p[q].as_f64().unwrap_or(f64::NAN),
                    t[q].as_f64().unwrap_or(f64::NAN)
                ),
                "{what}: {id} processing {q}: {p} vs {t}"
            );
        }
        let cold = truth["cold_starts"][id.trim_start_matches("service:")]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(
            n["cold_starts"].as_u64().unwrap_or(0),
            cold as u64,
            "{what}: {id} cold starts"
        );
    }
}

#[test]
fn the_reference_capture_matches_its_ground_truth() {
    let dir = samples();
    let report = analyze(&[&dir.join("capture.jsonl")]);
    let truth = read_json(&dir.join("ground-truth.json"));
    check(&report, &truth, "capture.jsonl");
    assert_eq!(report["summary"]["observations"], truth["observations"]);
    assert_eq!(report["inputs"][0]["format"], "capture");
    assert_eq!(report["inputs"][0]["skipped"], 0);
    assert_eq!(
        report["inputs"][0]["violations"].as_array().map(Vec::len),
        Some(0)
    );
}

#[test]
fn the_otlp_and_jaeger_versions_of_the_run_match_the_same_ground_truth() {
    let dir = samples();
    let truth = read_json(&dir.join("ground-truth.json"));
    for (file, format) in [("otlp.json", "otlp"), ("jaeger.json", "jaeger")] {
        let report = analyze(&[&dir.join(file)]);
        assert_eq!(report["inputs"][0]["format"], format);
        assert_eq!(report["inputs"][0]["skipped"], 0, "{file}");
        check(&report, &truth, file);
        assert_eq!(
            report["summary"]["observations"], truth["observations"],
            "{file}"
        );
    }
}

#[test]
fn a_capture_and_an_otlp_export_of_the_same_run_merge_into_one_graph() {
    let dir = samples();
    let truth = read_json(&dir.join("ground-truth.json"));
    let report = analyze(&[&dir.join("capture.jsonl"), &dir.join("otlp.json")]);
    check(&report, &truth, "capture + otlp");
    assert_eq!(
        report["summary"]["observations"], truth["observations"],
        "each observation counted once"
    );
    assert_eq!(
        report["summary"]["merged_duplicates"], truth["observations"],
        "every OTLP observation merged into the capture's"
    );
}

#[test]
fn every_per_defect_run_matches_its_ground_truth() {
    let dir = samples().join("defects");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("defects dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(stem) = name.strip_suffix(".jsonl") {
            let truth = read_json(&dir.join(format!("{stem}.truth.json")));
            check(&analyze(&[&path]), &truth, &name);
            n += 1;
        }
    }
    assert_eq!(n, 8, "clean run plus seven single-defect runs");
}

#[test]
fn regenerating_the_samples_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["demo", "--samples"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut compared = 0;
    for rel in [
        "capture.jsonl",
        "otlp.json",
        "jaeger.json",
        "ground-truth.json",
        "README.md",
        "defects/clean.jsonl",
        "defects/retry-storm.truth.json",
    ] {
        let a = std::fs::read(samples().join(rel)).expect("committed sample");
        let b = std::fs::read(tmp.path().join(rel)).expect("regenerated sample");
        assert!(
            a == b,
            "{rel} differs from a fresh `eventlens demo --samples`: regenerate sample-traces/"
        );
        compared += 1;
    }
    assert_eq!(compared, 7);
}
