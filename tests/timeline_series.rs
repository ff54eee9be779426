//! The timeline's series as the engine computes them: a one-second burst in a one-day
//! capture keeps its height at full zoom-out and at every zoom in between; deliveries,
//! failures, retries and dead letters have series of their own; latency percentiles break
//! where nothing was measured.

use eventlens::analysis::AnalysisConfig;
use eventlens::analysis::latency::{window_ns, windows};
use eventlens::analysis::series::{FlowKind, FlowSeries, FlowTimeline, Grouping, contiguous_runs};
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::{Stage, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// 2026-01-01T00:00:00Z in milliseconds.
const T0_MS: i64 = 1_767_225_600_000;
const HOUR_MS: f64 = 3_600_000.0;

fn ts(ms: f64) -> String {
    let total = T0_MS as f64 + ms;
    let secs = (total / 1000.0).floor() as i64;
    let micros = ((total - secs as f64 * 1000.0) * 1000.0).round() as i64;
    let day = secs.rem_euclid(86_400);
    let date = if secs - T0_MS / 1000 >= 86_400 {
        "2026-01-02"
    } else {
        "2026-01-01"
    };
    format!(
        "{date}T{:02}:{:02}:{:02}.{:06}Z",
        day / 3600,
        day / 60 % 60,
        day % 60,
        micros
    )
}

/// Capture lines, one per observation, kept with their time for sorting.
#[derive(Default)]
struct Capture {
    lines: Vec<(f64, String)>,
}

impl Capture {
    fn obs(&mut self, id: &str, at: f64, ext: Value) {
        let mut m = json!({
            "specversion": "1.0", "id": id, "source": "shop", "type": "com.acme.OrderPlaced",
            "datacontenttype": "application/json", "data": {"n": 1},
            "recordedtime": ts(at),
        });
        if let (Some(m), Value::Object(e)) = (m.as_object_mut(), ext) {
            m.extend(e);
        }
        self.lines.push((at, m.to_string()));
    }

    fn publish(&mut self, id: &str, at: f64) {
        self.obs(
            id,
            at,
            json!({"lensstage": "publish", "lenschannel": "orders"}),
        );
    }

    fn deliver(&mut self, id: &str, at: f64, attempt: u32, outcome: &str) {
        self.obs(
            id,
            at,
            json!({"lensstage": "deliver", "lenschannel": "orders", "lenshandler": "billing",
                   "lensattempt": attempt}),
        );
        self.obs(
            id,
            at + 1.0,
            json!({"lensstage": "handle", "lenschannel": "orders", "lenshandler": "billing",
                   "lensattempt": attempt, "lensoutcome": outcome, "lensdurationus": 4000}),
        );
    }

    fn dead_letter(&mut self, id: &str, at: f64) {
        self.obs(
            id,
            at,
            json!({"lensstage": "deadletter", "lenschannel": "orders", "lensreason": "gave up"}),
        );
    }

    fn write(mut self, dir: &Path) -> PathBuf {
        self.lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        let text: Vec<String> = self.lines.into_iter().map(|l| l.1).collect();
        let p = dir.join("day.jsonl");
        std::fs::write(&p, text.join("\n") + "\n").expect("write capture");
        p
    }
}

/// 24 hours of one order a minute; at 13:00:00.250 a burst of 300 publishes within one
/// second; at 18:00 a delivery storm: 350 redeliveries in one second, all failing, 40 of
/// them dead-lettered.
fn one_day() -> Capture {
    let mut c = Capture::default();
    for i in 0..1440 {
        let at = i as f64 * 60_000.0 + 7.0;
        let id = format!("o-{i}");
        c.publish(&id, at);
        c.deliver(&id, at + 5.0, 1, "ok");
    }
    for i in 0..300 {
        c.publish(
            &format!("burst-{i}"),
            13.0 * HOUR_MS + 250.0 + i as f64 * (1000.0 / 300.0),
        );
    }
    for i in 0..350 {
        let at = 18.0 * HOUR_MS + i as f64 * (1000.0 / 350.0);
        let id = format!("storm-{}", i % 50);
        c.deliver(&id, at, 2 + (i / 50) as u32, "error");
        if i < 40 {
            c.dead_letter(&format!("storm-{i}"), at + 2.0);
        }
    }
    c
}

fn load(path: &Path) -> Store {
    let mut store = Store::new();
    load_path(&mut store, path, &LoadProgress::default()).expect("loads");
    store.finalize();
    store
}

fn series<'a>(tl: &'a FlowTimeline, g: Grouping, name: &str, kind: FlowKind) -> &'a FlowSeries {
    tl.series(g)
        .iter()
        .find(|s| s.name == name && s.kind == kind)
        .unwrap_or_else(|| panic!("a {name} {kind:?} series"))
}

/// The highest rate of any bin and the bin's time range, over `bins` bins of [from, to).
fn peak_of(tl: &FlowTimeline, s: &FlowSeries, from: i64, to: i64, bins: usize) -> (f64, i64, i64) {
    tl.decimate(s, from, to, bins)
        .into_iter()
        .flatten()
        .map(|b| (tl.per_sec(b.peak), b.from, b.to))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("bins with data")
}

#[test]
fn a_one_second_burst_keeps_its_peak_on_a_one_day_capture_at_full_zoom_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = load(&one_day().write(dir.path()));
    let tl = FlowTimeline::build(&store, None);
    assert_eq!(tl.window, 1_000_000_000, "rates over 1 s windows");
    let span = tl.end - tl.start;
    assert!(span > 86_000 * 1_000_000_000, "a day: {span}");
    let published = series(&tl, Grouping::Channel, "orders", FlowKind::Published);
    assert_eq!(
        published.peak, 300,
        "the burst's 300 in one second, wherever it falls"
    );

    // Full zoom-out: 1,600 bins of 54 s each.
    let bins = tl.decimate(published, tl.start, tl.end + 1, 1600);
    assert_eq!(bins.len(), 1600);
    assert!(
        bins.iter().all(Option::is_some),
        "every bin of the day has data"
    );
    let (rate, from, to) = peak_of(&tl, published, tl.start, tl.end + 1, 1600);
    assert!(rate >= 300.0, "peak {rate}/s at 1,600 bins");
    let burst = store.first_time().expect("times") + (13.0 * HOUR_MS) as i64 * 1_000_000;
    assert!(
        from <= burst + 250_000_000 && to >= burst,
        "the peak is at 13:00"
    );
    // Everything else is one a minute: the burst towers over it.
    let others = bins
        .iter()
        .flatten()
        .filter(|b| b.to <= burst || b.from > burst + 2_000_000_000)
        .map(|b| b.peak)
        .max();
    assert_eq!(others, Some(1));
    // The events add up across bins.
    let events: u64 = bins.iter().flatten().map(|b| b.events).sum();
    assert_eq!(events, published.total);

    // And at every zoom around it, down to a few seconds.
    let mut width = span;
    while width > 4_000_000_000 {
        let from = (burst - width / 3).max(tl.start);
        let (rate, _, _) = peak_of(&tl, published, from, from + width, 1600);
        assert!(
            rate >= 300.0,
            "peak {rate}/s over {} s",
            width / 1_000_000_000
        );
        width /= 3;
    }
}

#[test]
fn deliveries_failures_retries_and_dead_letters_have_series_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = load(&one_day().write(dir.path()));
    let tl = FlowTimeline::build(&store, None);
    let (from, to) = (tl.start, tl.end + 1);
    let delivered = series(&tl, Grouping::Channel, "orders", FlowKind::Delivered);
    assert_eq!(delivered.total, 1440 + 350);
    assert!(
        peak_of(&tl, delivered, from, to, 1600).0 >= 350.0,
        "the delivery storm shows"
    );
    let retried = series(&tl, Grouping::Channel, "orders", FlowKind::Retried);
    assert_eq!((retried.total, retried.peak), (350, 350));
    let failed = series(&tl, Grouping::Channel, "orders", FlowKind::Failed);
    assert_eq!((failed.total, failed.peak), (350, 350));
    let dead = series(&tl, Grouping::Channel, "orders.dlq", FlowKind::DeadLettered);
    assert_eq!((dead.total, dead.peak), (40, 40));
    // Per handler: what billing received and what failed there.
    let billing = series(&tl, Grouping::Handler, "billing", FlowKind::Delivered);
    assert_eq!(billing.total, delivered.total);
    let billing_failed = series(&tl, Grouping::Handler, "billing", FlowKind::Failed);
    assert_eq!(billing_failed.peak, 350);
    // A filter's subset: only the failing handlings.
    let failing: Vec<u32> = store
        .observations
        .iter()
        .enumerate()
        .filter(|(_, o)| o.stage == Stage::Handle && o.outcome.is_failure())
        .map(|(i, _)| i as u32)
        .collect();
    let only = FlowTimeline::build(&store, Some(&failing));
    assert!(
        only.series(Grouping::Channel)
            .iter()
            .all(|s| s.kind == FlowKind::Failed)
    );
}

#[test]
fn latency_percentiles_have_no_window_across_an_idle_gap() {
    // The reference capture is idle from about 16 s to 21 s.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl");
    let store = load(&path);
    let w = window_ns(&store, &AnalysisConfig::default());
    let handler = store
        .observations
        .iter()
        .filter(|o| o.stage == Stage::Handle && o.duration >= 0);
    let points = windows(handler.map(|o| (o.time, o.duration)), w);
    let starts: Vec<i64> = points.iter().map(|p| p.start).collect();
    let runs = contiguous_runs(&starts, w);
    assert!(runs.len() >= 2, "the idle gap splits the series: {runs:?}");
    let first = store.first_time().expect("times");
    let mut idle_windows = 0;
    for pair in starts.windows(2) {
        if pair[1] - pair[0] > w {
            idle_windows += (pair[1] - pair[0]) / w - 1;
        }
    }
    assert!(idle_windows >= 5, "{idle_windows} idle windows");
    for r in &runs {
        // Within a run, every window starts where the one before ended: a line drawn
        // through a run never crosses a window without samples.
        for pair in starts[r.clone()].windows(2) {
            assert_eq!(pair[1] - pair[0], w);
        }
        for p in &points[r.clone()] {
            assert!(
                p.count > 0,
                "a window at {} s without samples",
                (p.start - first) / w
            );
        }
    }
}
