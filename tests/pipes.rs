//! `-` reads standard input, as kcat, jq, nats and mosquitto_sub users expect: a real pipe
//! from a child process that writes slowly, compressed input, and kcat's own test records.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `eventlens analyze - --json` with its standard input from `feeder`'s standard output
/// (a real pipe between two processes): exit code, report, stderr.
fn analyze_piped(mut feeder: Command) -> (Option<i32>, Option<Value>, String) {
    let mut feed = feeder
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let pipe = feed.stdout.take().expect("writer's stdout");
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "-", "--json"])
        .stdin(Stdio::from(pipe))
        .output()
        .expect("run eventlens analyze -");
    assert!(feed.wait().expect("writer ends").success());
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).ok(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Feeds `reader` to a live worker named `name` and waits until it has read everything:
/// the last snapshot.
fn read_live(
    name: &str,
    reader: impl std::io::Read + Send + 'static,
) -> eventlens::live::worker::Snapshot {
    let feed = eventlens::live::follow::spawn_reader(name, reader);
    let worker =
        eventlens::live::worker::LiveWorker::on_feed(&feed, name).expect("the worker starts");
    let mut last = None;
    while let Some(s) = worker.wait_snapshot(std::time::Duration::from_secs(20)) {
        last = Some(s);
    }
    last.expect("a snapshot")
}

/// Pipes `file` through a slow writer process (`delay` s a line) into a live worker: the
/// first events must arrive while the writer is still running. The last snapshot.
fn piped_while_written(file: &Path, delay: &str, name: &str) -> eventlens::live::worker::Snapshot {
    use std::time::Duration;
    let mut writer = slow_writer(file, delay)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let pipe = writer.stdout.take().expect("writer's stdout");
    let feed = eventlens::live::follow::spawn_reader(name, pipe);
    let worker =
        eventlens::live::worker::LiveWorker::on_feed(&feed, name).expect("the worker starts");
    let first = worker
        .wait_snapshot(Duration::from_secs(20))
        .expect("a first snapshot");
    assert!(!first.store.observations.is_empty());
    assert!(
        writer.try_wait().expect("writer state").is_none(),
        "the first events arrived only after the writer ended"
    );
    let mut last = first;
    while let Some(s) = worker.wait_snapshot(Duration::from_secs(20)) {
        last = s;
    }
    assert!(writer.wait().expect("writer ends").success());
    last
}

/// `eventlens analyze FILE --json`, parsed.
fn analyze_file(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .arg("analyze")
        .arg(file)
        .arg("--json")
        .output()
        .expect("analyze the file");
    serde_json::from_slice(&out.stdout).expect("report")
}

/// A shell that writes `file` line by line, pausing between lines.
fn slow_writer(file: &Path, pause: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; sleep {pause}; done < \"$1\""
        ))
        .arg("sh")
        .arg(file);
    c
}

#[test]
fn kcat_output_piped_slowly_into_analyze_dash_arrives_whole() {
    let file = root().join("tests/fixtures/kcat/orders.jsonl");
    // One Kafka record per line (see tests/fixtures/README.md: binary and structured
    // CloudEvents, a plain message, a dead letter).
    let text = std::fs::read_to_string(&file).expect("fixture");
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(lines, 5);
    let direct = analyze_file(&file);

    let (code, report, err) = analyze_piped(slow_writer(&file, "0.15"));
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    assert_eq!(report["inputs"][0]["path"], "standard input");
    assert_eq!(report["inputs"][0]["format"], "kcat");
    assert_eq!(report["inputs"][0]["records"], lines);
    assert_eq!(report["inputs"][0]["skipped"], 0);
    // Every record arrived: the same events, flows and findings as the file read directly.
    assert_eq!(report["summary"], direct["summary"]);
    assert_eq!(report["topology"], direct["topology"]);
    assert_eq!(report["findings"], direct["findings"]);
    assert!(
        report["topology"]["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["name"] == "orders")),
        "the topic is a channel: {:#}",
        report["topology"]["nodes"]
    );
    assert!(
        err.contains("standard input ended after 5 records"),
        "the end of the input is reported: {err}"
    );
}

#[test]
fn kcat_test_records_concatenated_without_newline_read_from_stdin() {
    // edenhill/kcat tests/0003-json.sh feeds these two -J records, concatenated with no
    // separator, to `kcat -P -J`, and expects both back (tests/fixtures/public/README.md).
    let file = root().join("tests/fixtures/public/kcat/0003-json.input2-concatenated.json");
    let mut cat = Command::new("cat");
    cat.arg(&file);
    let (code, report, err) = analyze_piped(cat);
    assert_eq!(code, Some(0), "{err}");
    let report = report.unwrap_or_else(|| panic!("no report: {err}"));
    assert_eq!(report["inputs"][0]["records"], 2, "{:#}", report["inputs"]);
}

#[test]
fn compressed_standard_input_is_detected_and_read_like_the_file() {
    let file = root().join("sample-traces/capture.jsonl");
    let direct = analyze_file(&file);
    // Compress in-process and feed it through a pipe.
    let raw = std::fs::read(&file).expect("sample");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["analyze", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run eventlens analyze -");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&gz));
    let out = child.wait_with_output().expect("analyze ends");
    writer.join().expect("writer").expect("written");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let piped: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(piped["summary"], direct["summary"]);
    assert_eq!(piped["topology"], direct["topology"]);
    assert_eq!(
        piped["findings"].as_array().map(Vec::len),
        direct["findings"].as_array().map(Vec::len)
    );
}

/// In the window a pipe is a live source: its lines reach the live worker (and so the
/// graph) while the writer is still writing, every one of them, and the end is said.
#[test]
fn a_pipe_is_live_its_lines_arrive_while_the_writer_still_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("sample-traces/capture.jsonl")).expect("sample");
    let src = dir.path().join("sixty.jsonl");
    std::fs::write(
        &src,
        text.lines()
            .take(60)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write");
    let last = piped_while_written(&src, "0.05", "test pipe");
    assert_eq!(last.store.observations.len(), 60);
    let notes = &last.store.inputs[0].notes;
    assert!(
        notes
            .iter()
            .any(|n| n.message.contains("ended after 60 records")),
        "{notes:?}"
    );
}

/// `eventlens -` in the window: kcat lines piped slowly reach the live worker as they are
/// written, decoded as the kcat file reader decodes them.
#[test]
fn kcat_lines_piped_into_the_live_path_arrive_whole_while_written() {
    let file = root().join("tests/fixtures/kcat/orders.jsonl");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let records = text.lines().filter(|l| !l.trim().is_empty()).count();
    let last = piped_while_written(&file, "0.3", "kcat pipe");
    let input = &last.store.inputs[0];
    assert_eq!(input.records, records as u64, "{:?}", input.errors);
    assert_eq!(input.skipped, 0, "{:?}", input.errors);
    // One observation a Kafka message: the publishes and the dead letter.
    assert_eq!(last.store.observations.len(), records);
    let direct = analyze_file(&file);
    assert_eq!(
        direct["summary"]["events"].as_u64(),
        Some(last.store.events.len() as u64)
    );
}

/// A collector's JSON Lines piped in: spans are held until their trace is quiet, then
/// mapped as the file's are.
#[test]
fn collector_json_lines_piped_into_the_live_path_give_the_files_flows() {
    let file = root().join("tests/fixtures/otlp/collector-file-exporter.jsonl");
    let direct = analyze_file(&file);
    let mut writer = slow_writer(&file, "0.1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let pipe = writer.stdout.take().expect("writer's stdout");
    let last = read_live("otel pipe", pipe);
    assert!(writer.wait().expect("writer ends").success());
    let input = &last.store.inputs[0];
    assert_eq!(
        Some(input.records),
        direct["inputs"][0]["records"].as_u64(),
        "{:?}",
        input.errors
    );
    assert_eq!(
        direct["summary"]["events"].as_u64(),
        Some(last.store.events.len() as u64)
    );
    assert_eq!(
        direct["summary"]["observations"].as_u64(),
        Some(last.store.observations.len() as u64)
    );
}

/// A stream that ends inside its first line (no line break at all) is still sniffed and
/// read.
#[test]
fn a_stream_ending_inside_its_first_line_is_sniffed_and_read() {
    let file = root().join("tests/fixtures/kcat/orders.jsonl");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let first = text.lines().next().expect("a line").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let one = dir.path().join("one.json");
    std::fs::write(&one, &first).expect("write");
    let last = read_live("one line", std::fs::File::open(&one).expect("open"));
    let input = &last.store.inputs[0];
    assert_eq!(input.records, 1, "{:?}", input.errors);
    assert_eq!(input.skipped, 0, "{:?}", input.errors);
}

/// A compressed pipe in the window: decompressed as it arrives, then read as any pipe.
#[test]
fn a_compressed_pipe_is_live_too() {
    let file = root().join("tests/fixtures/kcat/orders.jsonl");
    let text = std::fs::read_to_string(&file).expect("fixture");
    let records = text.lines().filter(|l| !l.trim().is_empty()).count();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let last = read_live("gzip pipe", std::io::Cursor::new(gz));
    let input = &last.store.inputs[0];
    assert_eq!(
        input.records, records as u64,
        "{:?} {:?}",
        input.errors, input.notes
    );
    assert_eq!(input.skipped, 0, "{:?}", input.errors);
}
