//! Hostile and broken inputs end with an error naming where, in bounded memory, with the
//! good records around them read: a gzip bomb, a 400 MB line (plain and gzipped), NUL
//! bytes, 200,000-deep nesting, a document past `--max-record`. Each runs `eventlens
//! analyze --json` as a child process and measures its peak resident memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the hostile cases may cost at most.
const PEAK_LIMIT: u64 = 2 << 30;

fn good(i: usize) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"e-{i}","source":"shop/orders","type":"com.example.OrderPlaced","time":"2026-01-01T00:00:{:02}Z","data":{{"n":{i}}}}}"#,
        i % 60
    )
}

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
    /// Peak resident set of the child, in bytes.
    peak: u64,
}

/// The peak resident set of a running process's memory (`VmHWM`), if it still has one.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs eventlens and measures the child's peak RSS: `VmHWM` of its own memory, read until
/// it exits (`wait4`'s `ru_maxrss` would count the test process's memory, which the child
/// shares until it executes eventlens).
fn eventlens(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eventlens starts");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(h) = vm_hwm(pid) {
            peak = peak.max(h);
        }
        match child.try_wait().expect("try_wait") {
            Some(st) => break st,
            None => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    };
    Run {
        status: status.code().unwrap_or(-1),
        stdout: o.join().expect("stdout thread"),
        stderr: e.join().expect("stderr thread"),
        peak,
    }
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "analyze --json printed no JSON ({e}); status {}; stderr: {}",
            run.status, run.stderr
        )
    })
}

/// The events read and the errors of the one input, as `analyze --json` reports them.
fn events_and_errors(run: &Run) -> (u64, Vec<(u64, String)>) {
    let v = json(run);
    let events = v["summary"]["events"].as_u64().expect("summary.events");
    let input = &v["inputs"][0];
    let errors = input["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["line"].as_u64().unwrap_or(0),
                        e["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (events, errors)
}

fn write_lines(path: &Path, parts: &[&[u8]]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for p in parts {
        f.write_all(p).expect("write");
    }
    f.flush().expect("flush");
}

fn shell(script: &str) {
    let st = Command::new("sh")
        .args(["-c", script])
        .status()
        .expect("sh runs");
    assert!(st.success(), "{script}");
}

fn check_peak(what: &str, run: &Run) {
    assert!(
        run.peak < PEAK_LIMIT,
        "{what}: peak RSS {} MiB, over {} MiB",
        run.peak >> 20,
        PEAK_LIMIT >> 20
    );
    eprintln!("{what}: peak RSS {} MiB", run.peak >> 20);
}

#[test]
fn a_3_gb_gzip_line_is_skipped_and_a_zstd_bomb_stops_with_a_clear_error() {
    let d = dir();
    let (a, b) = (good(1), good(2));
    // Three gzip members, as `cat a.gz b.gz` makes: a good record, a line of 3 GB of zero
    // bytes (gzip -1 packs them about 230 to 1), another good record. The line is
    // skipped without being held, and the record after it is read.
    let gz = d.path().join("zeros.jsonl.gz");
    shell(&format!(
        "{{ printf '%s\\n' '{a}' | gzip; {{ head -c 3000000000 /dev/zero; echo; }} | gzip -1; printf '%s\\n' '{b}' | gzip; }} > {}",
        gz.display()
    ));
    let run = eventlens(&["analyze", "--json", gz.to_str().expect("utf-8 path")]);
    check_peak("3 GB gzip line", &run);
    let (events, errors) = events_and_errors(&run);
    assert_eq!(events, 2, "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 2);
    assert!(errors[0].1.contains("3000000000 bytes long"), "{errors:?}");
    // The same in zstd frames expands about 30,000 to 1: a bomb. Reading stops past the
    // first GiB with the reason; the record before it is kept.
    let zst = d.path().join("bomb.jsonl.zst");
    shell(&format!(
        "{{ printf '%s\\n' '{a}' | zstd -q -c; {{ head -c 3000000000 /dev/zero; echo; }} | zstd -q -1 -c; printf '%s\\n' '{b}' | zstd -q -c; }} > {}",
        zst.display()
    ));
    let run = eventlens(&["analyze", "--json", zst.to_str().expect("utf-8 path")]);
    check_peak("zstd bomb", &run);
    let (events, errors) = events_and_errors(&run);
    assert_eq!(events, 1, "the record before the bomb is read: {errors:?}");
    assert!(
        errors.iter().any(|(line, m)| *line == 2
            && m.contains("decompression bomb")
            && m.contains("more than 500 times")
            && m.contains("--max-expansion")),
        "{errors:?}"
    );
}

#[test]
fn a_400_mb_line_is_skipped_naming_its_line_plain_and_gzipped() {
    let d = dir();
    let plain = d.path().join("long.jsonl");
    let long = vec![b'x'; 400 << 20];
    write_lines(
        &plain,
        &[
            good(1).as_bytes(),
            b"\n",
            &long,
            b"\n",
            good(2).as_bytes(),
            b"\n",
        ],
    );
    drop(long);
    let gz = d.path().join("long.jsonl.gz");
    shell(&format!(
        "gzip -1 -c {} > {}",
        plain.display(),
        gz.display()
    ));
    for (what, path) in [("plain", &plain), ("gzipped", &gz)] {
        let run = eventlens(&["analyze", "--json", path.to_str().expect("utf-8 path")]);
        check_peak(what, &run);
        let (events, errors) = events_and_errors(&run);
        assert_eq!(events, 2, "{what}: both good records: {errors:?}");
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert_eq!(errors[0].0, 2, "{what}: the long line is line 2");
        assert!(
            errors[0].1.contains("419430400 bytes long")
                && errors[0].1.contains("64 MiB")
                && errors[0].1.contains("--max-record"),
            "{what}: {errors:?}"
        );
    }
    // Raised, the limit lets the line be read (it is not JSON: a parse error, not a skip).
    let run = eventlens(&[
        "analyze",
        "--json",
        "--max-record",
        "512MiB",
        plain.to_str().expect("utf-8 path"),
    ]);
    let (events, errors) = events_and_errors(&run);
    assert_eq!(events, 2);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(!errors[0].1.contains("--max-record"), "{errors:?}");
}

#[test]
fn nul_bytes_and_deep_nesting_are_errors_on_their_lines() {
    let d = dir();
    let path = d.path().join("odd.jsonl");
    let nul = vec![0u8; 1 << 20];
    let deep = "[".repeat(200_000);
    write_lines(
        &path,
        &[
            good(1).as_bytes(),
            b"\n",
            &nul,
            b"\n",
            deep.as_bytes(),
            b"\n",
            good(2).as_bytes(),
            b"\n",
        ],
    );
    let run = eventlens(&["analyze", "--json", path.to_str().expect("utf-8 path")]);
    check_peak("NUL and nesting", &run);
    let (events, errors) = events_and_errors(&run);
    assert_eq!(events, 2, "{errors:?}");
    let lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, vec![2, 3], "{errors:?}");
    // A deep document: an error, not a stack overflow.
    let doc = d.path().join("deep.json");
    std::fs::write(&doc, format!("{{\"resourceSpans\":{deep}")).expect("write");
    let run = eventlens(&["analyze", "--json", doc.to_str().expect("utf-8 path")]);
    assert!(run.status == 0 || run.status == 1, "{}", run.stderr);
    assert!(!run.stderr.contains("overflow"), "{}", run.stderr);
}

#[test]
fn a_document_past_max_record_is_not_read_and_says_how_to_raise_it() {
    let fixture: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/otlp/export-request-base64.json",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&fixture).expect("the OTLP fixture");
    let d = dir();
    // The same document, padded with whitespace (valid JSON) to 2 MB.
    let padded = d.path().join("padded.json");
    let end = text.rfind('}').expect("a JSON object");
    let mut big = text[..end].to_string();
    big.push_str(&" ".repeat(2_000_000));
    big.push_str(&text[end..]);
    std::fs::write(&padded, &big).expect("write");
    let full = eventlens(&["analyze", "--json", padded.to_str().expect("utf-8 path")]);
    let spans_read = json(&full)["summary"]["observations"]
        .as_u64()
        .expect("observations");
    assert!(spans_read > 0, "the padded document reads: {}", full.stderr);
    let capped = eventlens(&[
        "analyze",
        "--json",
        "--max-record",
        "1MiB",
        padded.to_str().expect("utf-8 path"),
    ]);
    // Its one record not read, the file has nothing readable: exit 1, saying why.
    assert_eq!(capped.status, 1, "{}", capped.stderr);
    assert!(
        capped.stderr.contains("padded.json")
            && capped
                .stderr
                .contains("line 1: the document is larger than the 1 MiB")
            && capped.stderr.contains("--max-record"),
        "{}",
        capped.stderr
    );
    // A bad size is refused with the reason.
    let bad = eventlens(&[
        "analyze",
        "--max-record",
        "lots",
        padded.to_str().expect("path"),
    ]);
    assert_eq!(bad.status, 2);
    assert!(bad.stderr.contains("expected a size"), "{}", bad.stderr);
}

/// Another process truncates the file while it loads: the input says it was cut short,
/// what was read is kept, and the process does not fault (a mapped file would raise
/// SIGBUS at the first page past the new end).
#[test]
fn a_file_truncated_while_it_loads_is_an_error_not_a_crash() {
    let d = dir();
    let path = d.path().join("shrinking.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        for i in 0..600_000 {
            writeln!(f, "{}", good(i)).expect("write");
        }
    }
    let size = std::fs::metadata(&path).expect("size").len();
    let keep = 2 << 20;
    let progress = std::sync::Arc::new(eventlens::ingest::LoadProgress::default());
    let (p, loading) = (progress.clone(), path.clone());
    let load = std::thread::spawn(move || {
        let mut store = eventlens::model::Store::new();
        let r = eventlens::ingest::load_path(&mut store, &loading, &p);
        (r.is_ok(), store)
    });
    // Truncate once the load is under way, past the part that will be kept.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while progress
        .bytes_read
        .load(std::sync::atomic::Ordering::Relaxed)
        < keep + (1 << 20)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not start"
        );
        std::thread::yield_now();
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(keep)
        .expect("truncate");
    let (ok, store) = load.join().expect("the load does not panic");
    assert!(ok);
    let input = &store.inputs[0];
    let read = progress
        .bytes_read
        .load(std::sync::atomic::Ordering::Relaxed);
    if read >= size {
        // The whole file was read before the truncation: nothing to report.
        eprintln!("read {read} of {size} bytes before the truncation; not exercised");
        return;
    }
    assert!(
        input
            .errors
            .iter()
            .any(|e| e.message.contains("the file shrank while it was read")
                && e.message.contains(&size.to_string())),
        "{:?}",
        input.errors
    );
    assert!(input.records > 10_000, "{} records kept", input.records);
}

/// An observation names its input in 16 bits: past 65,536 inputs (say a glob over a
/// directory of per-request files) the next one is refused in one sentence that names it and
/// how many followed, instead of its events being filed under another input.
#[test]
fn inputs_past_what_an_observation_can_name_are_refused_in_one_sentence() {
    use eventlens::ingest::{LoadProgress, load_paths};
    use eventlens::model::Store;
    let d = dir();
    let total = Store::MAX_INPUTS + 3;
    let paths: Vec<PathBuf> = (0..total)
        .map(|i| {
            let p = d.path().join(format!("req-{i}.jsonl"));
            std::fs::write(&p, format!("{}\n", good(i))).expect("write");
            p
        })
        .collect();
    let mut store = Store::new();
    let (loaded, failures) = load_paths(&mut store, &paths, &LoadProgress::default(), |_, _, _| {});
    assert_eq!(loaded, 65_536);
    assert_eq!(store.inputs.len(), 65_536);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("req-65536.jsonl: not read: eventlens reads at most 65536 inputs")
            && failures[0].ends_with("nor were the 2 inputs after it"),
        "{}",
        failures[0]
    );
    // The last input read has its own events under its own name.
    store.finalize();
    let last = store.inputs.len() - 1;
    assert!(store.inputs[last].path.ends_with("req-65535.jsonl"));
    assert_eq!(store.inputs[last].records, 1);
    let mine: Vec<_> = store
        .observations
        .iter()
        .filter(|o| o.loc.input as usize == last)
        .collect();
    assert_eq!(mine.len(), 1);
    // Its payload reads back, though past the handles kept open its file is opened per read.
    let e = store.event(mine[0].event);
    assert_eq!(store.payload(e).as_deref(), Some(&br#"{"n":65535}"#[..]));
}
