//! Standard input beside followed files, and what `record --follow` refuses: real writer
//! processes feed a pipe and append to files while eventlens reads them.
//!
//! - `record --follow` writes followed spans as OTLP JSON Lines: the output itself, or
//!   beside a capture of the events.
//! - With several followed files, each error names its file.
//! - `-` beside files is read as it arrives, merged with them, never holding them back.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first `n` records of the sample capture.
fn sample_lines(skip: usize, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("sample-traces/capture.jsonl")).expect("sample");
    text.lines()
        .skip(skip)
        .take(n)
        .map(str::to_string)
        .collect()
}

/// A shell that writes `file`'s lines to its standard output, `pause` s apart, then stays
/// open `linger` s more.
fn piping(file: &Path, pause: &str, linger: &str) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; sleep {pause}; done < \"$1\"; sleep {linger}"
        ))
        .arg("sh")
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer")
}

/// A shell that appends `src`'s lines to `dst`, `pause` s apart.
fn appending(src: &Path, dst: &Path, pause: &str) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\" >> \"$2\"; sleep {pause}; done < \"$1\""
        ))
        .arg("sh")
        .arg(src)
        .arg(dst)
        .spawn()
        .expect("start the appender")
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write");
}

fn analyze(args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .arg("analyze")
        .arg("--json")
        .args(args)
        .output()
        .expect("run");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Spans in an OTLP JSON Lines file, counted with serde_json.
fn spans_in(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON");
            let mut n = 0;
            for rs in v["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    n += ss["spans"].as_array().map_or(0, Vec::len) as u64;
                }
            }
            n
        })
        .sum()
}

#[test]
fn record_follow_of_piped_spans_writes_them_as_otlp_lines_with_the_traces_still_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("spans.jsonl");
    let src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    // The writer stays open long after its lines: the duration ends with the traces still
    // held (not yet quiet), and they are written, not lost.
    let mut w = piping(&src, "0", "8");
    let pipe = w.stdout.take().expect("stdout");
    let t = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "--follow", "-", "--duration", "1s", "-o"])
        .arg(&out)
        .stdin(Stdio::from(pipe))
        .output()
        .expect("run");
    let took = t.elapsed();
    let _ = w.kill();
    let _ = w.wait();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(
        took < Duration::from_secs(6),
        "waited for the writer: {took:?}"
    );
    let spans = spans_in(&src);
    assert!(
        err.contains(&format!("recorded {spans} spans into")),
        "{err}"
    );
    // Standard input gave spans first: the output holds them, and nothing went beside it.
    assert_eq!(spans_in(&out), spans);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    let back = analyze(&[out.as_os_str()]);
    let whole = analyze(&[src.as_os_str()]);
    assert_eq!(back["inputs"][0]["format"], "otlp", "{:#}", back["inputs"]);
    assert_eq!(back["inputs"][0]["skipped"], 0, "{:#}", back["inputs"]);
    assert_eq!(back["summary"], whole["summary"]);
    assert_eq!(back["topology"], whole["topology"]);
}

#[test]
fn record_follow_of_events_and_spans_writes_each_to_its_own_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("events.jsonl");
    write_lines(&capture, &sample_lines(0, 40));
    let spans_src = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let followed_spans = dir.path().join("otel.jsonl");
    std::fs::copy(&spans_src, &followed_spans).expect("copy");
    let out = dir.path().join("rec.jsonl.zst");
    let run = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "--follow"])
        .arg(&capture)
        .arg(&followed_spans)
        .args(["--duration", "2s", "-o"])
        .arg(&out)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    // The events are the output; the spans go beside it, compressed the same way.
    let beside = dir.path().join("rec.otlp.jsonl.zst");
    assert!(err.contains("recorded 40 records"), "{err}");
    assert!(
        err.contains(&format!(
            "open both together: eventlens {} {}",
            out.display(),
            beside.display()
        )),
        "{err}"
    );
    let rec_events = analyze(&[out.as_os_str()]);
    assert_eq!(rec_events["inputs"][0]["records"], 40);
    let rec_spans = analyze(&[beside.as_os_str()]);
    assert_eq!(rec_spans["inputs"][0]["format"], "otlp");
    assert_eq!(rec_spans["inputs"][0]["records"], spans_in(&spans_src));
    // Both together are the graph of the two inputs read directly.
    let back = analyze(&[out.as_os_str(), beside.as_os_str()]);
    let direct = analyze(&[capture.as_os_str(), spans_src.as_os_str()]);
    assert_eq!(back["summary"]["events"], direct["summary"]["events"]);
    assert_eq!(
        back["summary"]["observations"],
        direct["summary"]["observations"]
    );
    let spans_only = analyze(&[spans_src.as_os_str()]);
    assert_eq!(rec_spans["topology"], spans_only["topology"]);
}

#[test]
fn each_error_of_several_followed_files_names_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two sources whose bad line is at a different place in each.
    let mut a = sample_lines(0, 6);
    a.insert(2, r#"{"specversion": oops"#.into());
    let mut b = sample_lines(6, 6);
    b.insert(4, r#"{"not": "an event"#.into());
    let (a_src, b_src) = (dir.path().join("a.src"), dir.path().join("b.src"));
    write_lines(&a_src, &a);
    write_lines(&b_src, &b);
    let (fa, fb) = (
        dir.path().join("alpha.jsonl"),
        dir.path().join("beta.jsonl"),
    );
    std::fs::write(&fa, "").expect("create");
    std::fs::write(&fb, "").expect("create");
    let mut wa = appending(&a_src, &fa, "0.05");
    let mut wb = appending(&b_src, &fb, "0.05");
    let run = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--follow", "--duration", "3s", "--json"])
        .arg(&fa)
        .arg(&fb)
        .output()
        .expect("run");
    assert!(wa.wait().expect("writer").success());
    assert!(wb.wait().expect("writer").success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_slice(&run.stdout).expect("report");
    let input = &report["inputs"][0];
    assert_eq!(input["records"], 12, "{input:#}");
    let errors = input["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{input:#}");
    let named = |file: &str, line: u64| {
        errors.iter().any(|e| {
            e["line"] == line
                && e["message"].as_str().is_some_and(|m| {
                    m.starts_with(&format!("{}: ", dir.path().join(file).display()))
                })
        })
    };
    assert!(named("alpha.jsonl", 3), "{input:#}");
    assert!(named("beta.jsonl", 5), "{input:#}");
}

#[test]
fn standard_input_beside_files_is_read_as_it_arrives_and_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let piped = sample_lines(0, 20);
    let appended = sample_lines(20, 20);
    let (p_src, a_src) = (
        dir.path().join("piped.src"),
        dir.path().join("appended.src"),
    );
    write_lines(&p_src, &piped);
    write_lines(&a_src, &appended);
    let followed = dir.path().join("followed.jsonl");
    std::fs::write(&followed, "").expect("create");
    // The pipe stays open well past the recording: the file must not wait for it.
    let mut pipe_writer = piping(&p_src, "0.02", "20");
    let mut appender = appending(&a_src, &followed, "0.02");
    let out = dir.path().join("merged.jsonl");
    let t = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "--follow", "--duration", "4s", "-o"])
        .arg(&out)
        .arg("-")
        .arg(&followed)
        .stdin(Stdio::from(pipe_writer.stdout.take().expect("stdout")))
        .output()
        .expect("run");
    assert!(t.elapsed() < Duration::from_secs(10), "waited for the pipe");
    let _ = pipe_writer.kill();
    let _ = pipe_writer.wait();
    assert!(appender.wait().expect("appender").success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    // CloudEvents lines are recorded as they are: each names its input by itself.
    let recorded: Vec<String> = std::fs::read_to_string(&out)
        .expect("capture")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(recorded.len(), 40, "{err}");
    // Every record of each, once, each input's in its own order.
    for (want, from) in [(&piped, "standard input"), (&appended, "the file")] {
        let got: Vec<&String> = recorded.iter().filter(|l| want.contains(l)).collect();
        assert_eq!(got, want.iter().collect::<Vec<_>>(), "{from}");
    }
    // Merged: the file's records are not all after the pipe's.
    let first_file = recorded
        .iter()
        .position(|l| appended.contains(l))
        .expect("a file record");
    let last_piped = recorded
        .iter()
        .rposition(|l| piped.contains(l))
        .expect("a piped record");
    assert!(first_file < last_piped, "the file waited for the pipe");

    // analyze --follow: the same, into one report.
    let mut pipe_writer = piping(&p_src, "0", "20");
    let run = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "--follow", "--duration", "2s", "--json", "-"])
        .arg(&followed)
        .stdin(Stdio::from(pipe_writer.stdout.take().expect("stdout")))
        .output()
        .expect("run");
    let _ = pipe_writer.kill();
    let _ = pipe_writer.wait();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{err}");
    let report: Value = serde_json::from_slice(&run.stdout).expect("report");
    assert_eq!(report["inputs"][0]["records"], 40, "{:#}", report["inputs"]);
    assert_eq!(
        report["inputs"][0]["path"],
        format!("following standard input, {}", followed.display())
    );
}
