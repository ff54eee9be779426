//! The fuzz targets' seed corpus (`fuzz/seeds`) and every input a fuzzer once found
//! (`fuzz/regressions`), replayed as the targets run them: sniffed and decompressed, and
//! forced through each reader, then finalized and analysed. Nothing may panic. The fuzzers
//! themselves run with `cargo fuzz` (see `fuzz/README.md`); this keeps what they found fixed.

use eventlens::analysis::{AnalysisConfig, analyze};
use eventlens::ingest::{LoadProgress, READERS, load_bytes};
use eventlens::model::Store;
use std::path::Path;

fn run(data: &[u8], format: Option<(eventlens::model::Format, eventlens::ingest::Layout)>) {
    let mut store = Store::new();
    let _ = load_bytes(
        &mut store,
        "fuzz",
        data.to_vec(),
        format,
        &LoadProgress::default(),
    );
    store.finalize();
    let _ = analyze(&store, &AnalysisConfig::default());
}

fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (!name.starts_with('.') && name != "README.md")
                .then(|| std::fs::read(e.path()).ok().map(|b| (name, b)))
                .flatten()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_and_every_regression_runs_through_every_reader_without_a_panic() {
    let seeds = inputs("fuzz/seeds");
    assert!(
        seeds.len() > 50,
        "the seed corpus is checked in: {}",
        seeds.len()
    );
    let regressions = inputs("fuzz/regressions");
    for (name, bytes) in seeds.iter().chain(&regressions) {
        run(bytes, None);
        for &(reader, format, layout) in READERS {
            let r = std::panic::catch_unwind(|| run(bytes, Some((format, layout))));
            assert!(r.is_ok(), "{name} read as {reader} panicked");
        }
    }
}
