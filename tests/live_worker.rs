//! The live worker driven directly, without a window: the snapshot it publishes after
//! taking a source's batches one by one holds the same events and the same findings as
//! `analyze`'s report on the same lines loaded at once.

use eventlens::analysis::report::Report;
use eventlens::live::worker::{LiveWorker, Snapshot};
use eventlens::live::{LiveBatch, LiveInput, channel};
use eventlens::model::Store;
use eventlens::sim::{SimConfig, Simulator};
use std::path::PathBuf;
use std::time::Duration;

/// Sends `lines` to a worker in batches of `batch` lines, paced like a live source so that
/// it publishes several times (finalizing incrementally), and returns its last snapshot
/// (the one published when the source ended).
fn through_the_worker(lines: &[String], batch: usize) -> Snapshot {
    let batches = lines.len().div_ceil(batch);
    let (tx, feed) = channel("test", batches.max(1));
    let worker = LiveWorker::on_feed(&feed, "test").expect("the worker starts");
    for chunk in lines.chunks(batch) {
        assert!(tx.send(LiveBatch {
            lines: chunk.to_vec(),
            ..Default::default()
        }));
        std::thread::sleep(Duration::from_millis(5));
    }
    // The source ends: the worker publishes what it has and returns.
    drop(tx);
    let mut last = None;
    while let Some(s) = worker.wait_snapshot(Duration::from_secs(60)) {
        last = Some(s);
    }
    assert!(worker.is_finished(), "the worker ends with its source");
    assert_eq!(feed.dropped(), 0);
    last.expect("a snapshot")
}

/// `analyze`'s report on the lines appended as one batch.
fn at_once(lines: &[String]) -> (Store, Report) {
    let mut store = Store::new();
    let mut input = LiveInput::new(&mut store, "test");
    input.add(&mut store, lines);
    store.finalize();
    let report = Report::build(&store);
    (store, report)
}

fn assert_same(lines: &[String], batch: usize) {
    let snap = through_the_worker(lines, batch);
    let (store, report) = at_once(lines);
    assert_eq!(snap.stats.records, lines.len() as u64);
    assert_eq!(snap.stats.finalizes, snap.stats.generation);
    assert!(
        snap.stats.generation >= 2,
        "published {} times",
        snap.stats.generation
    );
    assert_ne!(snap.stats.built_on, std::thread::current().id());
    assert_eq!(snap.store.events.len(), store.events.len());
    assert_eq!(
        snap.store.events.len() as u64 - snap.store.call_events,
        report.summary.events
    );
    assert_eq!(
        snap.store.observations.len() as u64,
        report.summary.observations
    );
    assert!(!report.findings.is_empty(), "the lines hold defects");
    let json = |f: &[eventlens::analysis::Finding]| serde_json::to_value(f).expect("findings");
    assert_eq!(json(&snap.findings), json(&report.findings));
}

#[test]
fn the_demo_through_the_worker_gives_analyzes_findings() {
    // The demo's own generator, run for two minutes of simulated time.
    let start = 1_800_000_000_000_000_000;
    let mut sim = Simulator::new(SimConfig::live_demo(start));
    let lines: Vec<String> = sim
        .until(start + 120_000_000_000)
        .into_iter()
        .map(|r| r.line)
        .collect();
    assert!(lines.len() > 1000, "{} lines", lines.len());
    assert_same(&lines, 97);
}

#[test]
fn a_capture_through_the_worker_gives_analyzes_findings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl");
    let text = std::fs::read_to_string(path).expect("the sample capture");
    let lines: Vec<String> = text.lines().map(String::from).collect();
    assert_same(&lines, 50);
}
