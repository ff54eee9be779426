//! Loading files on a background thread: progress and cancellation through
//! [`LoadProgress`], the finished [`Store`] through a bounded channel, and a [`Waker`] so
//! the UI repaints when it is ready.

use super::Waker;
use crate::ingest::LoadProgress;
use crate::model::Store;
use crossbeam_channel::{Receiver, bounded};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What a load produced: the finalized store and the files that could not be read at all.
pub struct Loaded {
    /// Inputs that loaded (an empty one too, as `analyze` counts them).
    pub loaded: usize,
    pub store: Store,
    pub paths: Vec<PathBuf>,
    pub failures: Vec<String>,
    /// The analysis findings, computed on the loading thread too.
    pub findings: Vec<crate::analysis::Finding>,
    /// The thresholds they were computed with: `eventlens.toml` next to the first file,
    /// as `analyze` finds it, else the defaults.
    pub config: crate::analysis::AnalysisConfig,
}

/// Runs a load; a panic in it (a bug) becomes a failure that names the files and says
/// what happened, instead of a window that shows "Loading" forever.
fn guarded(paths: Vec<PathBuf>, load: impl FnOnce() -> Loaded) -> Loaded {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)) {
        Ok(l) => l,
        Err(payload) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            Loaded {
                loaded: 0,
                store: Store::new(),
                failures: vec![format!(
                    "eventlens stopped loading {}: {} (this is a bug in eventlens; please \
                     report it with the file)",
                    names.join(", "),
                    super::panic_message(payload.as_ref())
                )],
                paths,
                findings: Vec::new(),
                config: crate::analysis::AnalysisConfig::default(),
            }
        }
    }
}

/// A load in progress.
pub struct Loading {
    pub paths: Vec<PathBuf>,
    pub progress: Arc<LoadProgress>,
    /// Sum of the file sizes (compressed files report decompressed bytes, so the fraction
    /// can pass 1 and is clamped).
    pub total_bytes: u64,
    rx: Receiver<Loaded>,
}

impl Loading {
    /// Starts loading `paths` into a new store on a thread.
    pub fn start(paths: Vec<PathBuf>, waker: Option<Waker>) -> Loading {
        let progress = Arc::new(LoadProgress::default());
        let total_bytes = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let (tx, rx) = bounded(1);
        let (p, thread_paths) = (progress.clone(), paths.clone());
        let spawned = std::thread::Builder::new()
            .name("eventlens-load".into())
            .spawn(move || {
                let paths_shown = thread_paths.clone();
                let loaded = guarded(paths_shown, move || {
                    let mut store = Store::new();
                    let mut failures = Vec::new();
                    let config = match crate::analysis::AnalysisConfig::discover(
                        None,
                        thread_paths.first().map(PathBuf::as_path),
                    ) {
                        Ok((c, _)) => c,
                        Err(e) => {
                            failures.push(e.to_string());
                            crate::analysis::AnalysisConfig::default()
                        }
                    };
                    store.set_service_names(
                        config
                            .services
                            .iter()
                            .map(|(a, b)| (a.as_str(), b.as_str())),
                    );
                    let (loaded, more) =
                        crate::ingest::load_paths(&mut store, &thread_paths, &p, |_, _, _| {});
                    failures.extend(more);
                    let mut findings = Vec::new();
                    if !p.is_cancelled() {
                        store.finalize();
                        findings = crate::analysis::analyze(&store, &config);
                    }
                    Loaded {
                        loaded,
                        store,
                        paths: thread_paths,
                        failures,
                        findings,
                        config,
                    }
                });
                let _ = tx.send(loaded);
                if let Some(w) = waker {
                    w();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the loader thread: {e}");
        }
        Loading {
            paths,
            progress,
            total_bytes,
            rx,
        }
    }

    /// 0..=1.
    pub fn fraction(&self) -> f32 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        (self.progress.bytes_read.load(Ordering::Relaxed) as f64 / self.total_bytes as f64)
            .clamp(0.0, 1.0) as f32
    }

    /// What is being loaded and how far it got, as the object of "waiting for":
    /// `big.jsonl to load (40% of 12.3 MB read)`.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        let read = self.progress.bytes_read.load(Ordering::Relaxed);
        let progress = if read == 0 {
            "nothing read yet".to_string()
        } else if self.total_bytes == 0 {
            // A pipe or a special file: no size to compare with.
            format!("{:.1} MB read", read as f64 / 1e6)
        } else {
            format!(
                "{:.0}% of {:.1} MB read",
                self.fraction() * 100.0,
                self.total_bytes as f64 / 1e6
            )
        };
        format!("{} to load ({progress})", names.join(", "))
    }

    pub fn cancel(&self) {
        self.progress.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.progress.is_cancelled()
    }

    /// The result, once the thread is done.
    pub fn try_finish(&self) -> Option<Loaded> {
        self.rx.try_recv().ok()
    }

    /// Blocks until done (CLI, tests, `--screenshot`).
    pub fn wait(self) -> Option<Loaded> {
        self.rx.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_loading_becomes_a_failure_naming_the_file() {
        let got = guarded(vec![PathBuf::from("big.jsonl")], || {
            panic!("an index the reader should have found")
        });
        assert_eq!(got.loaded, 0);
        assert_eq!(got.paths, vec![PathBuf::from("big.jsonl")]);
        assert_eq!(got.failures.len(), 1);
        let f = &got.failures[0];
        assert!(f.contains("big.jsonl"), "{f}");
        assert!(f.contains("an index the reader should have found"), "{f}");
    }
}
