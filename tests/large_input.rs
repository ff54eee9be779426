//! A capture larger than the loader's 8 MB blocks, with bad lines scattered through it, read
//! two ways: a plain file, and streamed through the decompressor (the same file gzipped). Both must give the same model, the same line numbers for every bad line, and
//! payloads that read back as the bytes of the file.

use eventlens::analysis::report::Report;
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use eventlens::sim::{SimConfig, Simulator};
use std::io::Write;

const RECORDS: usize = 50_000;

/// Bad lines, at fixed line numbers (1-based), each with what the report must say.
const BAD: &[(usize, &str, &str)] = &[
    (
        1_000,
        "{\"specversion\":\"1.0\",\"id\":\"x\",",
        "EOF while parsing",
    ),
    (17_777, "%% not json", "expected value"),
    (
        25_001,
        "{\"specversion\":\"1.0\",\"data\":1}",
        "neither source nor id",
    ),
    (39_999, "[1,2,3]", "CloudEvent"),
];

fn write_capture(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<String>) {
    let mut cfg = SimConfig::reference();
    cfg.orders = usize::MAX;
    let mut lines: Vec<String> = Simulator::new(cfg).take(RECORDS).map(|r| r.line).collect();
    for &(at, bad, _) in BAD {
        lines.insert(at - 1, bad.to_string());
    }
    let text = lines.join("\n") + "\n";
    let plain = dir.join("big.jsonl");
    std::fs::write(&plain, &text).expect("write capture");
    let gz = dir.join("big.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create gz"),
        flate2::Compression::fast(),
    );
    enc.write_all(text.as_bytes()).expect("gzip");
    enc.finish().expect("gzip");
    (plain, gz, lines)
}

fn load(path: &std::path::Path) -> Store {
    let mut store = Store::new();
    load_path(&mut store, path, &LoadProgress::default()).expect("load");
    store.finalize();
    store
}

#[test]
fn a_plain_file_and_a_gzipped_one_give_the_same_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (plain, gz, lines) = write_capture(dir.path());
    assert!(
        std::fs::metadata(&plain).expect("size").len() > 3 * (8 << 20),
        "the capture must span several blocks"
    );
    let plain_store = load(&plain);
    let streamed = load(&gz);

    let input = &plain_store.inputs[0];
    assert_eq!(input.records as usize, RECORDS);
    assert_eq!(input.skipped as usize, BAD.len());
    for &(at, _, why) in BAD {
        let said = input
            .errors
            .iter()
            .chain(&input.violations)
            .find(|e| e.line == at as u64)
            .unwrap_or_else(|| panic!("line {at} is not reported"));
        assert!(said.message.contains(why), "line {at}: {}", said.message);
    }

    let json = |s: &Store| {
        let mut v = serde_json::to_value(Report::build(s)).expect("json");
        v["inputs"][0]["path"] = serde_json::Value::Null;
        v
    };
    assert_eq!(json(&plain_store), json(&streamed));
    assert_eq!(plain_store.observations.len(), streamed.observations.len());

    // Payloads point into the file: they read back as the `data` of their line.
    for e in plain_store.events.iter().step_by(997) {
        let payload = plain_store.payload(e).expect("payload");
        let line = &lines[e.loc.line as usize - 1];
        let data = line.split("\"data\":").nth(1).expect("data");
        assert!(data.starts_with(std::str::from_utf8(&payload).expect("utf-8")));
    }
    for i in (0..plain_store.events.len()).step_by(4999) {
        assert_eq!(
            plain_store.payload(&plain_store.events[i]),
            streamed.payload(&streamed.events[i]),
            "event {i}"
        );
    }
}
