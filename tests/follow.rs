//! `--follow`: a file that another process appends to, rotates and truncates is read as it
//! grows, every record exactly once, by `analyze --follow` and by the window.

use egui_kittest::Harness;
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
    let (code, report, err) = analyze(&[
        "analyze",
        "--follow",
        "--duration",
        "7s",
        "--json",
        followed.to_str().expect("path"),
    ]);
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
fn span_files_cannot_be_followed_and_say_so() {
    let otlp = root().join("sample-traces/otlp.json");
    let (code, _, err) = analyze(&[
        "analyze",
        "--follow",
        "--duration",
        "1s",
        otlp.to_str().expect("path"),
    ]);
    assert!(err.contains("cannot be followed"), "{err}");
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
