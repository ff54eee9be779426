//! `--follow`: a file that another process appends to, rotates and truncates is read as it
//! grows, every record exactly once, by `analyze --follow` and by the window.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::ui::{BottomTab, EventLensApp, StartOptions};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first `n` records of the sample capture, as a file of their own.
fn first_records(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(root().join("sample-traces/capture.jsonl")).expect("sample");
    let mut out = String::new();
    for l in text.lines().take(n) {
        out.push_str(l);
        out.push('\n');
    }
    let path = dir.join("source.jsonl");
    std::fs::write(&path, out).expect("write records");
    path
}

fn analyze(args: &[&str]) -> (Option<i32>, Option<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens");
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).ok(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `eventlens analyze --follow --duration D --json PATH`.
fn follow_json(path: &Path, duration: &str) -> (Option<i32>, Option<Value>, String) {
    analyze(&[
        "analyze",
        "--follow",
        "--duration",
        duration,
        "--json",
        path.to_str().expect("path"),
    ])
}

/// `lines` written to `dst` with `bad` inserted before line `at` (0-based).
fn write_with_inserted<'a>(lines: impl Iterator<Item = &'a str>, at: usize, bad: &str, dst: &Path) {
    let mut body = String::new();
    for (i, l) in lines.enumerate() {
        if i == at {
            body.push_str(bad);
        }
        body.push_str(l);
        body.push('\n');
    }
    std::fs::write(dst, body).expect("write");
}

/// A writer process: appends `src` line by line to `dst`; at record 40 it writes a line in
/// two halves; before record 101 it rotates `dst` (rename, then a new file); before record
/// 201 it truncates the new file. It pauses before rotating and truncating, as a logger
/// does between writes, so that what was written before is read.
fn writer(src: &Path, dst: &Path) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(
            r#"src="$1"; f="$2"; i=0
while IFS= read -r l; do
  i=$((i+1))
  if [ $i -eq 101 ]; then sleep 0.6; mv "$f" "$f.1"; : > "$f"; fi
  if [ $i -eq 201 ]; then sleep 0.6; : > "$f"; fi
  if [ $i -eq 40 ]; then
    half=$(printf '%s' "$l" | cut -c1-50); rest=$(printf '%s' "$l" | cut -c51-)
    printf '%s' "$half" >> "$f"; sleep 0.4; printf '%s\n' "$rest" >> "$f"
  else
    printf '%s\n' "$l" >> "$f"
  fi
  sleep 0.004
done < "$src""#,
        )
        .arg("sh")
        .arg(src)
        .arg(dst)
        .spawn()
        .expect("start the writer")
}

#[test]
fn analyze_follow_reads_every_record_once_through_rotation_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = first_records(dir.path(), 300);
    let followed = dir.path().join("live.jsonl");
    std::fs::write(&followed, "").expect("create");
    let mut w = writer(&src, &followed);
    let (code, report, err) = follow_json(&followed, "7s");
    assert!(w.wait().expect("writer ends").success());
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    // Exactly what was written: the same as reading the 300 records at once.
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report of the records");
    assert_eq!(
        report["inputs"][0]["records"], 300,
        "{:#}",
        report["inputs"]
    );
    assert_eq!(report["inputs"][0]["skipped"], 0, "{:#}", report["inputs"]);
    assert_eq!(report["summary"]["events"], whole["summary"]["events"]);
    assert_eq!(
        report["summary"]["observations"],
        whole["summary"]["observations"]
    );
    assert_eq!(report["topology"]["edges"], whole["topology"]["edges"]);
    assert!(err.contains("rotated"), "{err}");
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn whole_documents_cannot_be_followed_and_say_so() {
    let jaeger = root().join("tests/fixtures/jaeger/ui-download.json");
    let (code, _, err) = analyze(&[
        "analyze",
        "--follow",
        "--duration",
        "1s",
        jaeger.to_str().expect("path"),
    ]);
    assert!(err.contains("cannot be followed"), "{err}");
    assert!(err.contains("ui-download.json"), "{err}");
    // Nothing was read: the report says no events (exit 1 would be "nothing readable").
    assert!(code.is_some(), "{err}");
}

#[test]
fn the_window_follows_a_growing_file_and_its_graph_grows_while_it_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("sample-traces/capture.jsonl")).expect("sample");
    let lines: Vec<String> = text.lines().take(400).map(str::to_string).collect();
    let path = dir.path().join("growing.jsonl");
    std::fs::write(&path, "").expect("create");
    let opts = StartOptions {
        files: vec![path.clone()],
        follow: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open for append");
    // Write in four parts; after each, the window shows what was written so far.
    let mut shown = Vec::new();
    for part in lines.chunks(100) {
        for l in part {
            writeln!(file, "{l}").expect("append");
        }
        file.flush().expect("flush");
        let deadline = Instant::now() + Duration::from_secs(20);
        let written = shown.len() * 100 + part.len();
        while h.state().store().observations.len() < written && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            h.run_steps(1);
        }
        shown.push(h.state().store().observations.len());
    }
    assert_eq!(
        shown,
        vec![100, 200, 300, 400],
        "observations shown after each part"
    );
    assert!(h.state().store().topology.graph.edge_count() >= 3);
    h.state_mut()
        .command(eventlens::ui::Command::SetBottomTab(BottomTab::Inputs));
    h.run_steps(2);
}

/// A writer process that appends `src` to `dst` line by line, `pause` seconds apart, the
/// first line in two halves (a partial line waits for its end).
fn slow_appender(src: &Path, dst: &Path, pause: &str) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"src="$1"; f="$2"; i=0
while IFS= read -r l || [ -n "$l" ]; do
  i=$((i+1))
  if [ $i -eq 1 ]; then
    half=$(printf '%s' "$l" | cut -c1-30); rest=$(printf '%s' "$l" | cut -c31-)
    printf '%s' "$half" >> "$f"; sleep {pause}; printf '%s\n' "$rest" >> "$f"
  else
    printf '%s\n' "$l" >> "$f"
  fi
  sleep {pause}
done < "$src""#
        ))
        .arg("sh")
        .arg(src)
        .arg(dst)
        .spawn()
        .expect("start the writer")
}

/// The non-blank lines of a fixture: what a writer appends, counted from the file itself.
fn records_in(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .expect("fixture")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn analyze_follow_reads_kcat_lines_as_another_process_appends_them() {
    let src = root().join("tests/fixtures/kcat/orders.jsonl");
    let records = records_in(&src);
    let dir = tempfile::tempdir().expect("tempdir");
    let followed = dir.path().join("kcat.jsonl");
    std::fs::write(&followed, "").expect("create");
    let mut w = slow_appender(&src, &followed, "0.2");
    let (code, report, err) = follow_json(&followed, "4s");
    assert!(w.wait().expect("writer ends").success());
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report of the fixture");
    // Every Kafka message is one record and one observation (a publish, or the dead letter).
    assert_eq!(
        report["inputs"][0]["records"], records,
        "{:#}",
        report["inputs"]
    );
    assert_eq!(report["inputs"][0]["skipped"], 0, "{:#}", report["inputs"]);
    assert_eq!(report["summary"]["observations"], records);
    assert_eq!(report["summary"], whole["summary"]);
    assert_eq!(report["topology"], whole["topology"]);
    assert!(!err.contains("cannot be followed"), "{err}");
}

#[test]
fn analyze_follow_joins_collector_json_lines_into_the_same_flows_as_the_file() {
    for fixture in [
        "tests/fixtures/otlp/collector-file-exporter.jsonl",
        "tests/fixtures/instrumented/node-amqplib-http-links.jsonl",
    ] {
        let src = root().join(fixture);
        let dir = tempfile::tempdir().expect("tempdir");
        let followed = dir.path().join("otel.jsonl");
        std::fs::write(&followed, "").expect("create");
        // Lines 0.2 s apart: each trace's spans arrive within the 1.5 s it is held.
        let mut w = slow_appender(&src, &followed, "0.2");
        let (code, report, err) = follow_json(&followed, "4s");
        assert!(w.wait().expect("writer ends").success());
        assert_eq!(code, Some(0), "{fixture}: {err}");
        let report = report.unwrap_or_else(|| panic!("{fixture}: no report: {err}"));
        let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
        let whole = whole.expect("report of the fixture");
        assert_eq!(
            report["inputs"][0]["records"], whole["inputs"][0]["records"],
            "{fixture}: {:#}",
            report["inputs"]
        );
        assert_eq!(report["inputs"][0]["skipped"], 0, "{fixture}");
        assert_eq!(
            report["summary"]["events"], whole["summary"]["events"],
            "{fixture}"
        );
        assert_eq!(
            report["summary"]["observations"], whole["summary"]["observations"],
            "{fixture}"
        );
        assert_eq!(report["topology"], whole["topology"], "{fixture}");
        assert!(!err.contains("late span"), "{fixture}: {err}");
    }
}

#[test]
fn a_span_for_a_trace_already_released_is_mapped_and_said_to_be_late() {
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let text = std::fs::read_to_string(&src).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let followed = dir.path().join("otel.jsonl");
    // The first five batches now; the last one (the producer of evt-1) after its trace was
    // released.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&followed, format!("{}\n", lines[..5].join("\n"))).expect("write");
    let last = lines[5].to_string();
    let path = followed.clone();
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        writeln!(f, "{last}").expect("append");
    });
    let (code, report, err) = follow_json(&followed, "4s");
    late.join().expect("the late writer");
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    // Not dropped: every span is a record.
    assert_eq!(
        report["inputs"][0]["records"],
        whole["inputs"][0]["records"]
    );
    assert!(err.contains("late span"), "{err}");
}

fn eventlens(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn record_follow_writes_a_capture_of_kcat_lines_as_they_are_appended() {
    let src = root().join("tests/fixtures/kcat/orders.jsonl");
    let records = records_in(&src);
    let dir = tempfile::tempdir().expect("tempdir");
    let followed = dir.path().join("kcat.jsonl");
    std::fs::write(&followed, "").expect("create");
    let out = dir.path().join("rec.jsonl.zst");
    let mut w = slow_appender(&src, &followed, "0.2");
    let (code, err) = eventlens(&[
        "record",
        "--follow",
        followed.to_str().expect("path"),
        "-o",
        out.to_str().expect("path"),
        "--duration",
        "4s",
    ]);
    assert!(w.wait().expect("writer ends").success());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("recorded {records} records")),
        "{err}"
    );
    // The capture holds the same events and flows as the kcat lines read directly.
    let (_, rec, rec_err) = analyze(&["analyze", "--json", out.to_str().expect("path")]);
    let rec = rec.unwrap_or_else(|| panic!("no report of the capture: {rec_err}"));
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    assert_eq!(rec["inputs"][0]["format"], "capture", "{:#}", rec["inputs"]);
    assert_eq!(rec["inputs"][0]["records"], records);
    assert_eq!(rec["inputs"][0]["skipped"], 0, "{:#}", rec["inputs"]);
    assert_eq!(rec["summary"]["events"], whole["summary"]["events"]);
    assert_eq!(
        rec["summary"]["observations"],
        whole["summary"]["observations"]
    );
    // The same channels receive; who published is what a broker recording says (a plain
    // message's source is the topic, a dead letter is published onto its topic).
    let receivers = |r: &Value| {
        let mut to: Vec<String> = r["topology"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["to"].as_str().map(str::to_string))
            .collect();
        to.sort();
        to.dedup();
        to
    };
    assert_eq!(receivers(&rec), receivers(&whole));
}

#[test]
fn record_follow_stops_after_count_and_reads_standard_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = first_records(dir.path(), 120);
    let out = dir.path().join("rec.jsonl.gz");
    // A writer process slowly feeding standard input.
    let mut feeder = Command::new("sh")
        .arg("-c")
        .arg(r#"while IFS= read -r l; do printf '%s\n' "$l"; sleep 0.002; done < "$1""#)
        .arg("sh")
        .arg(&src)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the writer");
    let pipe = feeder.stdout.take().expect("stdout");
    let rec = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "--follow", "-", "-o", out.to_str().expect("path")])
        .args(["--count", "100"])
        .stdin(std::process::Stdio::from(pipe))
        .output()
        .expect("record");
    let _ = feeder.wait();
    let err = String::from_utf8_lossy(&rec.stderr);
    assert_eq!(rec.status.code(), Some(0), "{err}");
    let (_, report, rerr) = analyze(&["analyze", "--json", out.to_str().expect("path")]);
    let report = report.unwrap_or_else(|| panic!("{rerr}"));
    assert_eq!(
        report["inputs"][0]["records"], 100,
        "{:#}",
        report["inputs"]
    );
}

#[test]
fn record_follow_refuses_whole_documents_naming_the_file_and_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never.jsonl");
    for (fixture, why) in [
        (
            "tests/fixtures/jaeger/ui-download.json",
            "jaeger is one JSON document",
        ),
        ("tests/fixtures/zipkin/brave-kafka.json", "zipkin"),
        (
            "tests/fixtures/otlp/export-request-base64.json",
            "otlp is one JSON document",
        ),
    ] {
        let path = root().join(fixture);
        let (code, err) = eventlens(&[
            "record",
            "--follow",
            path.to_str().expect("path"),
            "-o",
            out.to_str().expect("path"),
            "--duration",
            "1s",
        ]);
        assert_eq!(code, Some(2), "{fixture}: {err}");
        assert!(
            err.contains(path.to_str().expect("path")),
            "{fixture}: {err}"
        );
        assert!(err.contains(why), "{fixture}: {err}");
    }
}

#[test]
fn bad_collector_lines_are_named_with_file_line_and_why_and_the_rest_loads() {
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let text = std::fs::read_to_string(&src).expect("fixture");
    let lines: Vec<&str> = text.lines().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let followed = dir.path().join("bad.jsonl");
    write_with_inserted(
        lines.iter().copied(),
        2,
        "{\"resourceSpans\": nope\n",
        &followed,
    );
    let (code, report, err) = follow_json(&followed, "1s");
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    let input = &report["inputs"][0];
    assert_eq!(input["records"], whole["inputs"][0]["records"], "{input:#}");
    assert_eq!(input["skipped"], 1, "{input:#}");
    assert_eq!(input["errors"][0]["line"], 3, "{input:#}");
    let msg = input["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("bad.jsonl") && msg.contains("invalid JSON"),
        "{msg}"
    );
}

#[test]
fn analyze_follow_dash_reads_standard_input_for_the_duration() {
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let input = std::fs::File::open(&src).expect("fixture");
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--follow", "--duration", "5s", "--json", "-"])
        .stdin(input)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    assert_eq!(report["summary"]["events"], whole["summary"]["events"]);
    assert_eq!(report["topology"], whole["topology"]);
    assert!(err.contains("the stream ended after"), "{err}");
}

#[test]
fn analyze_follow_dash_maps_spans_still_held_when_the_duration_ends() {
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    // The writer stays open past the duration, so the traces are still held when it ends.
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(r#"cat "$1"; sleep 4"#)
        .arg("sh")
        .arg(&src)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the writer");
    let pipe = writer.stdout.take().expect("stdout");
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--follow", "--duration", "1s", "--json", "-"])
        .stdin(std::process::Stdio::from(pipe))
        .output()
        .expect("run");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "waited for the writer"
    );
    let _ = writer.kill();
    let _ = writer.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    assert_eq!(report["summary"]["events"], whole["summary"]["events"]);
    assert_eq!(report["topology"], whole["topology"]);
}

#[test]
fn a_bad_kcat_line_is_named_by_its_line_in_the_followed_file_and_the_rest_loads() {
    let src = root().join("tests/fixtures/kcat/orders.jsonl");
    let text = std::fs::read_to_string(&src).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let followed = dir.path().join("kcat.jsonl");
    // A blank line, then a record that is not JSON: line 3 of the file.
    write_with_inserted(
        text.lines(),
        1,
        "\n{\"topic\":\"orders\",\"payload\": oops}\n",
        &followed,
    );
    let (code, report, err) = follow_json(&followed, "1s");
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    let input = &report["inputs"][0];
    assert_eq!(input["records"], records_in(&src), "{input:#}");
    assert_eq!(input["skipped"], 1, "{input:#}");
    assert_eq!(input["errors"][0]["line"], 3, "{input:#}");
    assert!(
        input["path"]
            .as_str()
            .unwrap_or_default()
            .contains("kcat.jsonl"),
        "{input:#}"
    );
}

#[test]
fn the_window_follows_a_collector_file_and_shows_each_trace_once_quiet() {
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let (_, whole, _) = analyze(&["analyze", "--json", src.to_str().expect("path")]);
    let whole = whole.expect("report");
    let observations = whole["summary"]["observations"].as_u64().expect("count") as usize;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("otel.jsonl");
    std::fs::write(&path, "").expect("create");
    let opts = StartOptions {
        files: vec![path.clone()],
        follow: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    // Recording while following spans: the recording holds the spans, as OTLP JSON Lines.
    let rec = dir.path().join("rec.jsonl");
    h.state_mut()
        .command(eventlens::ui::Command::StartRecording(rec.clone()));
    h.run_steps(1);
    let mut w = slow_appender(&src, &path, "0.1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.state().store().observations.len() < observations && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(1);
    }
    assert!(w.wait().expect("writer ends").success());
    assert_eq!(h.state().store().observations.len(), observations);
    assert_eq!(
        h.state().store().events.len() as u64,
        whole["summary"]["events"].as_u64().expect("events")
    );
    let spans = whole["inputs"][0]["records"].as_u64().expect("records");
    h.run_steps(2);
    h.get_by_label_contains(&format!("{spans} spans"));
    h.state_mut().command(eventlens::ui::Command::StopRecording);
    h.run_steps(2);
    h.state_mut().command(eventlens::ui::Command::OpenRecord);
    h.run_steps(3);
    h.get_by_label_contains(&format!(
        "Wrote {spans} spans to {} (OTLP JSON Lines)",
        rec.display()
    ));
    // The recording opens as the graph the window showed: the spans came first, so the
    // output holds them, and nothing went beside it.
    let (_, back, err) = analyze(&["analyze", "--json", rec.to_str().expect("path")]);
    let back = back.unwrap_or_else(|| panic!("no report of the recording: {err}"));
    assert_eq!(back["inputs"][0]["format"], "otlp", "{:#}", back["inputs"]);
    assert_eq!(back["inputs"][0]["records"], spans);
    assert_eq!(back["summary"]["events"], whole["summary"]["events"]);
    assert_eq!(back["topology"], whole["topology"]);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
}

#[test]
fn analyze_follow_reads_every_kcat_record_once_through_rotation_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 300 Kafka messages as kcat -C -J prints them, binary-mode CloudEvents.
    let src = dir.path().join("kcat-src.jsonl");
    let mut text = String::new();
    for i in 0..300u64 {
        text.push_str(&format!(
            r#"{{"topic":"orders","partition":0,"offset":{i},"tstype":"create","ts":{},"broker":1,"headers":["ce_specversion","1.0","ce_id","evt-{i}","ce_source","producer-service","ce_type","com.example.OrderPlaced"],"key":"o-{i}","payload":"{{\"n\":{i}}}"}}"#,
            1_700_000_000_000u64 + i * 10
        ));
        text.push('\n');
    }
    std::fs::write(&src, &text).expect("write");
    let followed = dir.path().join("live.jsonl");
    std::fs::write(&followed, "").expect("create");
    let mut w = writer(&src, &followed);
    let (code, report, err) = follow_json(&followed, "7s");
    assert!(w.wait().expect("writer ends").success());
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    assert_eq!(
        report["inputs"][0]["records"], 300,
        "{:#}",
        report["inputs"]
    );
    assert_eq!(report["inputs"][0]["skipped"], 0, "{:#}", report["inputs"]);
    assert_eq!(report["summary"]["events"], 300);
    assert!(err.contains("rotated"), "{err}");
    assert!(err.contains("truncated"), "{err}");
}
