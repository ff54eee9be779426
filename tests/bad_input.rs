//! Bad input: every good record loads, every bad one is reported with its line and the
//! reason, nothing panics, and a file with nothing readable fails with one clear sentence.

use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn good(i: usize) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"e-{i}","source":"shop/orders","type":"com.example.OrderPlaced","time":"2026-01-01T00:00:{:02}Z","data":{{"n":{i}}}}}"#,
        i % 60
    )
}

fn eventlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens")
}

#[test]
fn garbage_lines_are_reported_by_line_and_the_good_ones_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{}", good(1)).unwrap();
    writeln!(f, r#"{{"specversion":"1.0","id":"e-trunc","source":"shop"#).unwrap(); // line 2: truncated
    f.write_all(b"\x00\x01\x02\xff\xfe binary\n").unwrap(); // line 3: binary
    writeln!(f, "{}", good(4)).unwrap();
    writeln!(f, r#"[1, 2, 3]"#).unwrap(); // line 5: wrong type
    f.write_all(b"{\"specversion\":\"1.0\",\"id\":\"e-\xff\",\"source\":\"s\",\"type\":\"t\"}\n")
        .unwrap(); // line 6: invalid UTF-8
    writeln!(
        f,
        r#"{{"specversion":"1.0","id":7,"source":"shop/orders","type":"t"}}"#
    )
    .unwrap(); // line 7: id is a number (kept, flagged)
    writeln!(f).unwrap(); // line 8: blank, ignored
    writeln!(f, "{}", good(9)).unwrap();
    drop(f);

    let out = eventlens(&["analyze", path.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "exit 0 when something loaded: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = &v["inputs"][0];
    assert_eq!(input["records"], 4, "three good lines and the flagged one");
    assert_eq!(input["skipped"], 4);
    let errors: Vec<(u64, String)> = input["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![2, 3, 5, 6], "{errors:?}");
    assert!(errors[0].1.contains("truncated"), "{errors:?}");
    assert!(
        errors[2].1.contains("CloudEvent"),
        "a JSON array is not an event: {errors:?}"
    );
    assert!(errors[3].1.contains("UTF-8"), "{errors:?}");
    let violations = input["violations"].as_array().unwrap();
    assert!(
        violations.iter().any(|x| x["line"] == 7
            && x["message"]
                .as_str()
                .unwrap()
                .contains("id: must be a String")),
        "{violations:?}"
    );
    assert_eq!(v["summary"]["events"], 4);
}

#[test]
fn a_file_with_nothing_readable_fails_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "garbage.jsonl",
            b"{\"truncated\": \n\x00\x01\xff\n".to_vec(),
        ),
        ("empty.json", Vec::new()),
        ("text.txt", b"hello world\nthis is not JSON\n".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = eventlens(&["analyze", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{name}: one sentence, got {err}"
        );
        assert!(err.contains(name), "{name}: names the file: {err}");
    }
}

#[test]
fn gzip_and_zstd_captures_load_like_the_plain_one() {
    let plain =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces/defects/poison-message.jsonl");
    let bytes = std::fs::read(&plain).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("capture.gz.data");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&bytes).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("capture.zst.data");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();

    let report = |p: &Path| {
        let mut store = Store::new();
        load_path(&mut store, p, &LoadProgress::default()).unwrap();
        store.finalize();
        let mut r =
            serde_json::to_value(eventlens::analysis::report::Report::build(&store)).unwrap();
        r["inputs"][0]["path"] = serde_json::Value::Null;
        // Payloads of compressed inputs come back from the arena, of plain ones from the file.
        let truth: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("sample-traces/defects/poison-message.truth.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let poison_id = truth["poison"][0].as_str().unwrap();
        let e = store.find_event("producer-service", poison_id).unwrap();
        let payload = store.payload(store.event(e)).unwrap();
        (r, payload)
    };
    let (a, pa) = report(&plain);
    let (b, pb) = report(&gz);
    let (c, pc) = report(&zst);
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(
        String::from_utf8_lossy(&pa).contains("\"total\":null"),
        "the poison order's payload"
    );
    assert_eq!(pa, pb);
    assert_eq!(pa, pc);
}

/// Corrupts real capture lines in many deterministic ways; loading must never panic and
/// must account for every non-blank line as loaded or reported.
#[test]
fn corrupted_input_never_panics_and_every_line_is_accounted_for() {
    let src =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl"))
            .unwrap();
    let lines: Vec<&[u8]> = src
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(300)
        .collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let mut out = Vec::new();
        for l in &lines {
            let mut l = l.to_vec();
            match next() % 6 {
                0 => l.truncate((next() % l.len() as u64) as usize),
                1 => {
                    let i = (next() % l.len() as u64) as usize;
                    l[i] = (next() & 0xff) as u8;
                }
                2 => l.retain(|&b| b != b'"' || next() % 50 != 0),
                _ => {}
            }
            l.retain(|&b| b != b'\n');
            out.extend_from_slice(&l);
            out.push(b'\n');
        }
        let path = dir.path().join(format!("round{round}.jsonl"));
        std::fs::write(&path, &out).unwrap();
        let mut store = Store::new();
        let _ = load_path(&mut store, &path, &LoadProgress::default());
        store.finalize();
        let _ = eventlens::analysis::report::Report::build(&store);
        if let Some(input) = store.inputs.first() {
            let nonblank = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .count() as u64;
            assert_eq!(
                input.records + input.skipped,
                nonblank,
                "round {round}: every line loaded or reported"
            );
        }
    }
}

/// A port nothing listens on, for a source that can only fail to connect.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

#[test]
fn rust_log_shows_a_sources_retries_without_its_password_and_is_quiet_by_default() {
    let port = closed_port();
    let url = format!("amqp://guest:hunter2secret@127.0.0.1:{port}/%2f?exchange=events");
    let run = |rust_log: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eventlens"));
        c.args(["analyze", &url, "--duration", "5s"]);
        c.env_remove("RUST_LOG");
        if let Some(v) = rust_log {
            c.env("RUST_LOG", v);
        }
        c.output().expect("eventlens runs")
    };
    let logged = run(Some("warn"));
    let err = String::from_utf8_lossy(&logged.stderr);
    assert!(err.contains("reconnecting in"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
    let quiet = run(None);
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(!err.contains("reconnecting in"), "{err}");
    assert!(!err.contains("hunter2secret"), "{err}");
}
