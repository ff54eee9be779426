//! Retention (`--max-events`): a live store past its budget folds its oldest events into
//! the figures. The store stays within the budget, in bounded memory, while every count,
//! histogram and finding stays what it is when nothing is folded.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::analysis::report::Report;
use eventlens::analysis::{Finding, Kind};
use eventlens::live::worker::{LiveWorker, NextStore, Snapshot};
use eventlens::live::{DEFAULT_CAPACITY, LiveBatch, LiveInput, channel};
use eventlens::model::Store;
use eventlens::sim::{SimConfig, Simulator};
use eventlens::ui::{EventLensApp, StartOptions};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The reference run (every defect the simulator makes), as a live source's lines.
fn reference_lines() -> Vec<String> {
    let mut sim = Simulator::new(SimConfig::reference());
    sim.until(i64::MAX).into_iter().map(|r| r.line).collect()
}

/// The demo's endless run, `seconds` of it.
fn demo_lines(seconds: i64) -> Vec<String> {
    let start = 1_800_000_000_000_000_000;
    let mut sim = Simulator::new(SimConfig::live_demo(start));
    sim.until(start + seconds * 1_000_000_000)
        .into_iter()
        .map(|r| r.line)
        .collect()
}

/// `lines` through a worker that keeps `budget` events, in batches, paced so that it
/// publishes (and folds) many times; returns its last snapshot and the most events any
/// snapshot held.
fn through_the_worker(
    lines: &[String],
    batch: usize,
    pause: Duration,
    budget: usize,
) -> (Snapshot, usize) {
    let (tx, feed) = channel("test", DEFAULT_CAPACITY);
    let worker = LiveWorker::on_feed_retaining(&feed, "test", NextStore::Cheaper, Some(budget))
        .expect("the worker starts");
    let mut most = 0;
    let mut last = None;
    for chunk in lines.chunks(batch) {
        assert!(tx.send_wait(LiveBatch {
            lines: chunk.to_vec(),
            ..Default::default()
        }));
        std::thread::sleep(pause);
        if let Some(s) = worker.take_snapshot() {
            most = most.max(s.store.events.len());
            last = Some(s);
        }
    }
    drop(tx);
    while let Some(s) = worker.wait_snapshot(Duration::from_secs(60)) {
        most = most.max(s.store.events.len());
        last = Some(s);
    }
    assert_eq!(feed.dropped(), 0);
    (last.expect("a snapshot"), most)
}

fn at_once(lines: &[String]) -> Store {
    let mut store = Store::new();
    let mut input = LiveInput::new(&mut store, "test");
    input.add(&mut store, lines);
    store.finalize();
    store
}

/// Per edge: count, errors, types with counts, latency samples and p50/p95/p99 (µs).
type EdgeFigures = BTreeMap<String, (u64, u64, Vec<(String, u64)>, u64, [u64; 3])>;

fn edge_figures(store: &Store) -> EdgeFigures {
    store
        .topology
        .graph
        .edge_weights()
        .map(|e| {
            let lat = e.latency.as_ref().map_or((0, [0; 3]), |h| {
                (
                    h.len(),
                    [
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.95),
                        h.value_at_quantile(0.99),
                    ],
                )
            });
            (
                format!("{} -> {}", store.node_key(e.from), store.node_key(e.to)),
                (
                    e.count,
                    e.errors,
                    e.types
                        .iter()
                        .map(|(t, n)| (store.str(*t).to_string(), *n))
                        .collect(),
                    lat.0,
                    lat.1,
                ),
            )
        })
        .collect()
}

/// Per node: observations, handled, failures, cold starts, processing samples and p95.
fn node_figures(store: &Store) -> BTreeMap<String, (u64, u64, u64, u64, u64, u64)> {
    store
        .topology
        .graph
        .node_weights()
        .filter(|n| n.observations > 0)
        .map(|n| {
            (
                store.node_key(n.id),
                (
                    n.observations,
                    n.handled,
                    n.failures,
                    n.cold_starts,
                    n.processing.len(),
                    n.processing.value_at_quantile(0.95),
                ),
            )
        })
        .collect()
}

/// Events each kind of finding covers, over all findings of that kind.
fn covered(findings: &[Finding]) -> BTreeMap<Kind, u64> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry(f.kind).or_default() += f.count;
    }
    m
}

#[test]
fn folding_keeps_every_count_histogram_and_per_event_finding_of_the_reference_run() {
    let lines = reference_lines();
    let full = at_once(&lines);
    let full_findings = eventlens::analysis::analyze(&full, &Default::default());
    let events = full.events.len();
    assert!(events > 500, "{events} events");
    let budget = events / 8;
    let (snap, most) = through_the_worker(&lines, 20, Duration::from_millis(40), budget);
    // Within the budget all along, after folding several times.
    assert!(
        most <= budget,
        "a snapshot held {most} events, budget {budget}"
    );
    assert!(snap.stats.folds >= 4, "folded {} times", snap.stats.folds);
    let folded = snap.store.folded.as_deref().expect("folded figures");
    assert_eq!(
        folded.events as usize + snap.store.events.len(),
        events,
        "every event is kept or folded"
    );
    // The same figures as with nothing folded.
    assert_eq!(edge_figures(&snap.store), edge_figures(&full));
    // And as of the live cursor (the newest time), what the graph's edge labels say.
    let now = snap.store.last_time().expect("times");
    for e in snap.store.topology.graph.edge_weights() {
        let whole = full
            .topology
            .edge_between(e.from, e.to)
            .expect("the same edge");
        assert_eq!(e.count_until(now), whole.count, "{:?}", (e.from, e.to));
        assert_eq!(e.errors_until(now), whole.errors, "{:?}", (e.from, e.to));
    }
    assert_eq!(node_figures(&snap.store), node_figures(&full));
    let (a, b) = (Report::build(&snap.store), Report::build(&full));
    assert_eq!(a.summary.events, b.summary.events);
    assert_eq!(a.summary.calls, b.summary.calls);
    assert_eq!(a.summary.observations, b.summary.observations);
    assert_eq!(a.summary.first, b.summary.first);
    assert_eq!(a.summary.last, b.summary.last);
    assert_eq!(
        serde_json::to_value(&a.topology).expect("json"),
        serde_json::to_value(&b.topology).expect("json")
    );
    // Findings about single events (an event is folded whole, with all its deliveries
    // and attempts) cover exactly the events they cover with nothing folded.
    let (kept, whole) = (covered(&snap.findings), covered(&full_findings));
    for kind in [
        Kind::DuplicatePublish,
        Kind::Redelivery,
        Kind::DuplicateProcessing,
        Kind::DeadLetter,
        Kind::PoisonMessage,
        Kind::RetryWithoutBackoff,
    ] {
        assert_eq!(kept.get(&kind), whole.get(&kind), "{kind:?}");
    }
    // And every kind found with nothing folded is still reported.
    for kind in whole.keys() {
        assert!(kept.contains_key(kind), "{kind:?} lost: {kept:?}");
    }
    assert!(
        snap.findings.iter().any(|f| f.title.ends_with("(folded)")),
        "folded findings are marked"
    );
}

#[test]
fn a_long_session_stays_within_its_budget_in_bounded_memory() {
    // Ten minutes of the demo: about 30 times the budget.
    let lines = demo_lines(600);
    let budget = 1000;
    assert!(lines.len() > 25 * budget, "{} lines", lines.len());
    let (snap, most) = through_the_worker(&lines, 100, Duration::from_millis(2), budget);
    assert!(most <= budget, "a snapshot held {most} events");
    let store = &snap.store;
    // Strings and payload bytes of folded events are freed: what is left is of the kept
    // events (a handful of strings each) and the nodes.
    let full = at_once(&lines);
    assert!(
        store.strings.len() < 4 * budget && store.strings.len() * 5 < full.strings.len(),
        "strings: {} kept, {} with nothing folded",
        store.strings.len(),
        full.strings.len()
    );
    let arena = |s: &Store| match &s.inputs[0].payloads {
        eventlens::model::PayloadSource::Arena(b) => b.len(),
        _ => 0,
    };
    // Per kept event, about what an event's payload takes in the whole run (a store that
    // kept the folded events' bytes would hold some 30 times that).
    let per_event = |s: &Store| arena(s) as f64 / s.events.len().max(1) as f64;
    assert!(
        per_event(store) < 3.0 * per_event(&full),
        "payload bytes: {} kept for {} events, {} for {} with nothing folded",
        arena(store),
        store.events.len(),
        arena(&full),
        full.events.len()
    );
    // The kept events' payloads still read back.
    let last = store.events.last().expect("events");
    let full_last = full
        .find_event(store.str(last.source), store.str(last.id))
        .expect("in the full store");
    assert_eq!(store.payload(last), full.payload(full.event(full_last)));
    assert_eq!(edge_figures(store), edge_figures(&full));
}

/// The window says what it folded, and its totals count it.
#[test]
fn the_window_counts_folded_events_in_its_totals() {
    let lines = demo_lines(120);
    let (tx, feed) = channel("test", DEFAULT_CAPACITY);
    let opts = StartOptions {
        max_events: Some(300),
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::from_feed(&cc.egui_ctx, feed, "test", opts));
    let n = lines.len();
    for chunk in lines.chunks(200) {
        assert!(tx.send_wait(LiveBatch {
            lines: chunk.to_vec(),
            ..Default::default()
        }));
    }
    drop(tx);
    let full = at_once(&lines);
    let total = full.events.len() as u64 - full.call_events;
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().live_stats().is_none_or(|s| s.records < n as u64) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(3);
    let store = h.state().store();
    assert!(store.events.len() <= 300);
    let folded = store.folded.as_deref().expect("folded").events;
    h.get_by_label_contains(&format!("{} events", eventlens::ui::fmt_count(total)));
    h.get_by_label_contains(&format!("{} folded", eventlens::ui::fmt_count(folded)));
}
