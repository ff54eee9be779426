//! The live worker driven directly, without a window: the snapshot it publishes after
//! taking a source's batches one by one holds the same events and the same findings as
//! `analyze`'s report on the same lines loaded at once.

use eventlens::analysis::Finding;
use eventlens::analysis::report::Report;
use eventlens::live::worker::{LiveWorker, NextStore, Snapshot, WorkerStats};
use eventlens::live::{DEFAULT_CAPACITY, LiveBatch, LiveInput, channel};
use eventlens::model::Store;
use eventlens::sim::{SimConfig, Simulator};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Sends `lines` to a worker in batches of `batch` lines, paced like a live source so that
/// it publishes several times (finalizing incrementally), and returns its last snapshot
/// (the one published when the source ended).
fn through_the_worker(lines: &[String], batch: usize) -> Snapshot {
    let (tx, feed) = channel("test", DEFAULT_CAPACITY);
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

/// The window's part, played by the test: it takes each snapshot as it comes and gives the
/// one it showed before back to the worker, as the app does. Every snapshot must equal
/// `analyze` on the lines appended so far, though the worker built most of them by
/// bringing a store the "window" gave back up to date instead of copying one.
#[test]
fn stores_given_back_are_reused_and_every_snapshot_equals_analyze_on_its_lines() {
    let start = 1_800_000_000_000_000_000;
    let mut sim = Simulator::new(SimConfig::live_demo(start));
    let lines: Vec<String> = sim
        .until(start + 120_000_000_000)
        .into_iter()
        .map(|r| r.line)
        .collect();
    let (tx, feed) = channel("test", DEFAULT_CAPACITY);
    let worker =
        LiveWorker::on_feed_with(&feed, "test", NextStore::Reuse).expect("the worker starts");
    type Seen = (WorkerStats, usize, usize, Arc<Vec<Finding>>);
    let mut shown: Option<Snapshot> = None;
    let mut seen: Vec<Seen> = Vec::new();
    let take = |shown: &mut Option<Snapshot>, seen: &mut Vec<Seen>, wait: bool| {
        let snap = if wait {
            worker.wait_snapshot(Duration::from_secs(60))
        } else {
            worker.take_snapshot()
        };
        if let Some(s) = snap {
            // Kept as figures only: holding the store would keep it from coming back.
            seen.push((
                s.stats,
                s.store.events.len(),
                s.store.observations.len(),
                s.findings.clone(),
            ));
            if let Some(old) = shown.replace(s) {
                worker.retire(old.store);
            }
        }
    };
    for chunk in lines.chunks(40) {
        assert!(tx.send(LiveBatch {
            lines: chunk.to_vec(),
            ..Default::default()
        }));
        std::thread::sleep(Duration::from_millis(8));
        take(&mut shown, &mut seen, false);
    }
    drop(tx);
    loop {
        let before = seen.len();
        take(&mut shown, &mut seen, true);
        if seen.len() == before {
            break;
        }
    }
    let last = shown.expect("a snapshot");
    assert_eq!(last.stats.records, lines.len() as u64);
    assert!(last.stats.generation >= 4, "{:?}", last.stats);
    assert!(
        last.stats.reuses >= last.stats.generation / 2,
        "most publishes reuse a store given back: {:?}",
        last.stats
    );
    assert_eq!(last.stats.reuses + last.stats.copies, last.stats.generation);
    // The last snapshot, whole; the earlier ones by their figures.
    let (store, report) = at_once(&lines);
    assert_eq!(last.store.events.len(), store.events.len());
    assert_eq!(last.store.observations.len(), store.observations.len());
    let json = |f: &[eventlens::analysis::Finding]| serde_json::to_value(f).expect("findings");
    assert_eq!(json(&last.findings), json(&report.findings));
    for (stats, events, observations, findings) in &seen {
        let (st, r) = at_once(&lines[..stats.records as usize]);
        let what = format!("snapshot {} ({} records)", stats.generation, stats.records);
        assert_eq!(*events, st.events.len(), "{what}");
        assert_eq!(*observations, st.observations.len(), "{what}");
        assert_eq!(json(findings), json(&r.findings), "{what}");
    }
}

/// A live batch whose records are out of order among themselves (several producers), all
/// after what is finalized, is finalized incrementally, into exactly the store a full load
/// of the same lines gives.
#[test]
fn a_batch_out_of_order_among_itself_is_finalized_incrementally_and_exactly() {
    let line = |i: usize, s: u32| {
        format!(
            r#"{{"specversion":"1.0","id":"e-{i}","source":"/p/{}","type":"OrderPlaced","time":"2026-01-01T00:00:{s:02}Z","lensstage":"publish","lenschannel":"orders","recordedtime":"2026-01-01T00:00:{s:02}Z"}}"#,
            i % 3
        )
    };
    let first: Vec<String> = vec![line(1, 10), line(2, 11)];
    let second: Vec<String> = vec![line(3, 14), line(4, 12), line(5, 13), line(6, 12)];
    let mut live = Store::new();
    let mut input = LiveInput::new(&mut live, "test");
    input.add(&mut live, &first);
    live.finalize();
    input.add(&mut live, &second);
    assert!(
        live.finalize(),
        "the second batch is finalized incrementally"
    );
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let (whole, report) = at_once(&all);
    let times = |s: &Store| s.observations.iter().map(|o| o.time).collect::<Vec<_>>();
    assert_eq!(times(&live), times(&whole));
    assert!(times(&live).windows(2).all(|w| w[0] <= w[1]));
    let json = |r: &Report| serde_json::to_value(r).expect("report");
    assert_eq!(json(&Report::build(&live)), json(&report));
    // One reaching back before what is finalized still gives the same store (a rebuild).
    input.add(&mut live, &[line(7, 11)]);
    assert!(!live.finalize());
    let all: Vec<String> = all.into_iter().chain([line(7, 11)]).collect();
    let (whole, report) = at_once(&all);
    assert_eq!(times(&live), times(&whole));
    assert_eq!(json(&Report::build(&live)), json(&report));
}
