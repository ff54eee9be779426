//! Overflows that a file or a flag can reach (issue 11, item 6), run through the real
//! binary, which is built with overflow checks in the test profile: times at and past the
//! ends of the range eventlens reads, in every reader; a capture spanning almost three
//! centuries through every command; analysis windows of zero or of centuries; a cursor far
//! past the end. Each ends in a result or a sentence naming what and where, never a panic or
//! a hang.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs the binary with a deadline: a hang is a failure, not a stuck test.
fn eventlens(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run eventlens");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("eventlens {args:?} ran past 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn no_panic(o: &Output, what: &str) {
    let t = text(o);
    assert!(
        !t.contains("panicked") && !t.contains("overflow"),
        "{what}: {t}"
    );
}

fn ce(id: &str, time: &str) -> String {
    format!(r#"{{"specversion":"1.0","id":"{id}","source":"shop","type":"t","time":"{time}"}}"#)
}

/// The first and last moments eventlens reads (±2^62 ns around 1970), one nanosecond past
/// each, and Go's zero time and year 9999.
#[test]
fn a_capture_spanning_the_whole_range_runs_through_every_command() {
    let d = tempfile::tempdir().expect("tempdir");
    let f = d.path().join("edges.jsonl");
    let lines = [
        ce("first", "1823-11-12T00:06:21.572612096Z"),
        ce("before", "1823-11-12T00:06:21.572612095Z"),
        ce("zero", "0001-01-01T00:00:00Z"),
        ce("mid", "2026-01-01T00:00:00Z"),
        ce("last", "2116-02-20T23:53:38.427387903Z"),
        ce("after", "2116-02-20T23:53:38.427387904Z"),
        ce("far", "9999-12-31T23:59:59Z"),
    ];
    std::fs::write(&f, lines.join("\n") + "\n").expect("write");
    let path = f.to_str().expect("utf-8");
    let o = eventlens(&["analyze", "--json", path]);
    no_panic(&o, "analyze");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["summary"]["events"], 7, "{v}");
    // The first and last moments are read; the four past them have no time, each said on
    // its line.
    assert_eq!(
        v["summary"]["first"], "1823-11-12T00:06:21.572612096Z",
        "{v}"
    );
    assert_eq!(
        v["summary"]["last"], "2116-02-20T23:53:38.427387903Z",
        "{v}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    let plain = eventlens(&["analyze", path]);
    let report = text(&plain);
    for line in [2, 3, 6, 7] {
        assert!(
            report.contains(&format!("line {line}: note: time"))
                && report.contains("outside the years 1824 to 2115"),
            "line {line}: {report}{stderr}"
        );
    }
    assert!(
        report.contains("4 of 7 observations have no time"),
        "{report}"
    );
    for args in [
        vec!["export", path, "--format", "svg", "-o"],
        vec!["export", path, "--format", "png", "-o"],
        vec![
            "export",
            path,
            "--format",
            "dot",
            "--at",
            "9000000000",
            "-o",
        ],
        vec![
            "export", path, "--format", "mermaid", "--window", "1..9e9", "-o",
        ],
    ] {
        let out = d.path().join("out");
        let mut a = args.clone();
        a.push(out.to_str().expect("utf-8"));
        let o = eventlens(&a);
        no_panic(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert!(std::fs::metadata(&out).expect("written").len() > 0);
    }
    // The replay's timing over 292 years, printed, not slept.
    let o = eventlens(&["replay", path, "--to", "http://127.0.0.1:9/x", "--dry-run"]);
    no_panic(&o, "replay");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("7 events would be sent"), "{}", text(&o));
}

/// Numeric times past the range in each reader that has them: the record is an error on
/// its line naming the field, the good records around it load.
#[test]
fn numeric_times_past_the_range_are_errors_on_their_lines_in_every_reader() {
    let d = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, body: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    // 2^62 ns is 4611686018427387904: one past the last moment.
    let span = |id: &str, start: &str| {
        format!(
            r#"{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"{id}","name":"orders publish","kind":4,"startTimeUnixNano":"{start}","endTimeUnixNano":"{start}","attributes":[{{"key":"messaging.system","value":{{"stringValue":"kafka"}}}},{{"key":"messaging.destination.name","value":{{"stringValue":"orders"}}}}]}}"#
        )
    };
    let otlp = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"p"}}}}]}},"scopeSpans":[{{"spans":[{},{}]}}]}}]}}"#,
        span("0102030405060708", "1767225600000000000"),
        span("0102030405060709", "4611686018427387904")
    );
    let kcat = |ts: &str, id: &str| {
        format!(
            r#"{{"topic":"orders","partition":0,"offset":1,"tstype":"create","ts":{ts},"broker":1,"headers":["ce_specversion","1.0","ce_id","{id}","ce_source","s","ce_type","t"],"key":null,"payload":"{{}}"}}"#
        )
    };
    let zipkin = |id: &str, ts: &str, dur: &str| {
        format!(
            r#"{{"traceId":"00000000000000{id}","id":"00000000000000{id}","name":"send","kind":"PRODUCER","timestamp":{ts},"duration":{dur},"localEndpoint":{{"serviceName":"p"}},"remoteEndpoint":{{"serviceName":"kafka"}},"tags":{{"messaging.destination.name":"orders","messaging.system":"kafka"}}}}"#
        )
    };
    let cases = [
        (
            write("otlp.json", &otlp),
            "startTimeUnixNano 4611686018427387904 is out of range",
        ),
        (
            write(
                "kcat.jsonl",
                &format!(
                    "{}\n{}\n",
                    kcat("1767225600000", "k1"),
                    kcat("4611686018428", "k2")
                ),
            ),
            "ts 4611686018428 ms is out of range",
        ),
        (
            write(
                "zipkin.json",
                &format!(
                    "[{},{}]",
                    zipkin("01", "1767225600000000", "10"),
                    // A start in range whose end (start + duration) is not.
                    zipkin("02", "4611686018427387", "1000000")
                ),
            ),
            "duration is out of range",
        ),
    ];
    for (file, expected) in cases {
        let o = eventlens(&["analyze", "--json", file.to_str().expect("utf-8")]);
        no_panic(&o, expected);
        assert_eq!(o.status.code(), Some(0), "{}: {}", file.display(), text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(
            v["summary"]["first"],
            "2026-01-01T00:00:00.000Z",
            "{}: {v}",
            file.display()
        );
        let errors = v["inputs"][0]["errors"].to_string();
        assert!(errors.contains(expected), "{}: {errors}", file.display());
    }
}

/// Analysis windows from eventlens.toml: zero, centuries or NaN are refused naming the key
/// and its range (exit 2), never an endless loop; a window that would make millions of
/// points is widened and says so in the series' `window_ms`.
#[test]
fn analysis_windows_out_of_range_are_refused_naming_the_key() {
    let d = tempfile::tempdir().expect("tempdir");
    let capture = d.path().join("c.jsonl");
    let lines: Vec<String> = (0..50)
        .map(|i| {
            ce(
                &format!("e{i}"),
                &format!("2026-01-{:02}T00:00:00Z", 1 + i % 28),
            )
        })
        .collect();
    std::fs::write(&capture, lines.join("\n") + "\n").expect("write");
    let cases = [
        (
            "[storm]\nwindow_ms = 18446744073709551615\n",
            "storm.window_ms = 18446744073709551615: must be from 1 to 86400000",
        ),
        (
            "[storm]\nwindow_ms = 0\n",
            "storm.window_ms = 0: must be from 1 to 86400000",
        ),
        ("[storm]\nalpha = nan\n", "storm.alpha = NaN"),
        (
            "[latency]\nwindow_ms = 100000000000\n",
            "latency.window_ms = 100000000000: must be from 0 to 86400000",
        ),
        (
            "[cold_start]\nidle_gap_ms = 18446744073709551615\n",
            "cold_start.idle_gap_ms",
        ),
        (
            "[timeouts]\nhandlers = { \"h\" = -1.0 }\n",
            "timeouts.handlers.\"h\" = -1",
        ),
    ];
    for (toml, expected) in cases {
        let cfg = d.path().join("eventlens-test.toml");
        std::fs::write(&cfg, toml).expect("write");
        let o = eventlens(&[
            "analyze",
            "--config",
            cfg.to_str().expect("utf-8"),
            capture.to_str().expect("utf-8"),
        ]);
        no_panic(&o, toml);
        assert_eq!(o.status.code(), Some(2), "{toml}: {}", text(&o));
        assert!(text(&o).contains(expected), "{toml}: {}", text(&o));
    }
    // A 1 ms latency window over four weeks would be 2.4 billion windows: widened.
    let cfg = d.path().join("eventlens-test.toml");
    std::fs::write(&cfg, "[latency]\nwindow_ms = 1\n").expect("write");
    let o = eventlens(&[
        "analyze",
        "--json",
        "--config",
        cfg.to_str().expect("utf-8"),
        capture.to_str().expect("utf-8"),
    ]);
    no_panic(&o, "1 ms window");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let w = v["latency"]["window_ms"].as_u64().unwrap_or(0);
    let span_ms = 27 * 86_400_000u64;
    assert!(
        w > 1 && span_ms / w <= 1_000_000,
        "window {w} ms: {}",
        v["latency"]["window_ms"]
    );
}

/// A cursor or a moment far past the input: one sentence, exit 2.
#[test]
fn a_moment_far_past_the_input_is_one_sentence() {
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redrive/orders.jsonl");
    for at in [
        "1e300",
        "-1e300",
        "9223372036854775807",
        "9999-12-31T23:59:59Z",
    ] {
        let o = eventlens(&[
            "export",
            capture.to_str().expect("utf-8"),
            "--format",
            "dot",
            &format!("--at={at}"),
            "-o",
            "/dev/null",
        ]);
        no_panic(&o, at);
        assert_eq!(o.status.code(), Some(2), "--at {at}: {}", text(&o));
        assert!(text(&o).contains(&format!("--at {at}")), "{}", text(&o));
    }
}
