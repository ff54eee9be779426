//! What every fuzz target does: load the bytes as one input (sniffed and decompressed, or
//! as the reader named), then finalize the model and run the whole analysis. Any panic,
//! overflow (debug assertions are on in fuzz builds) or hang is a finding.

use eventlens::analysis::{AnalysisConfig, analyze};
use eventlens::ingest::{Layout, LoadProgress, load_bytes};
use eventlens::model::{Format, Store};

/// Loads `data` (as `format` when given) and analyses what loaded.
pub fn run(data: &[u8], format: Option<(Format, Layout)>) {
    let mut store = Store::new();
    let progress = LoadProgress::default();
    // An error is a result (a sentence for the user), not a finding.
    let _ = load_bytes(&mut store, "fuzz", data.to_vec(), format, &progress);
    store.finalize();
    let _ = analyze(&store, &AnalysisConfig::default());
}

/// The reader a target drives, by its name (`eventlens::ingest::READERS`).
pub fn reader(name: &str) -> Option<(Format, Layout)> {
    eventlens::ingest::READERS
        .iter()
        .find(|r| r.0 == name)
        .map(|r| (r.1, r.2))
}
