//! The frame-time benchmark (`eventlens bench-ui`): the real app driven headless
//! (`egui::Context::run_ui` + tessellation, no window) over simulated records, playing and
//! scrubbing, against an empty-frame baseline measured in the same run.

use super::{Command, EventLensApp, StartOptions};
use crate::live::LiveInput;
use crate::model::Store;
use crate::replay::TimeCommand;
use crate::sim::{SimConfig, Simulator};
use std::time::Instant;

/// Frame times in milliseconds.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub records: usize,
    pub observations: usize,
    pub load_secs: f64,
    pub playing: (f64, f64),
    pub scrubbing: (f64, f64),
    /// The app with no data: the cost of the panels themselves.
    pub baseline: (f64, f64),
    /// Frames at 60 Hz while the live worker ingests the simulator's records at
    /// `live_rate` a second.
    pub live: (f64, f64),
    pub live_rate: u64,
    /// Records the worker appended, snapshots the window swapped in, and seconds, in
    /// that phase.
    pub live_records: u64,
    pub live_snapshots: u64,
    pub live_secs: f64,
    /// The worker at the end of the live phase: its last publish's cost, how many
    /// publishes reused a store given back and how many copied, the events shown; and
    /// what a copy of that store costs, timed in the same run (the way the worker
    /// published before it kept two stores).
    pub live_worker: Option<crate::live::worker::WorkerStats>,
    pub live_events: usize,
    pub live_copy_ms: f64,
}

fn p50_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |q: f64| {
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (q(0.5), q(0.95))
}

/// A store of `records` simulated capture records.
pub fn simulated_store(records: usize) -> Store {
    let mut store = Store::new();
    let mut input = LiveInput::new(&mut store, "bench (simulator)");
    let mut cfg = SimConfig::reference();
    cfg.orders = usize::MAX;
    let mut sim = Simulator::new(cfg).take(records);
    loop {
        let lines: Vec<String> = sim.by_ref().take(50_000).map(|r| r.line).collect();
        if lines.is_empty() {
            break;
        }
        input.add(&mut store, &lines);
    }
    store.finalize();
    store
}

fn raw_input(t: f64) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1600.0, 1000.0),
        )),
        time: Some(t),
        predicted_dt: 1.0 / 60.0,
        ..Default::default()
    }
}

/// CPU time of this thread in milliseconds (wall time where unavailable): other processes
/// on a shared machine do not inflate it.
fn cpu_ms() -> f64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6;
        }
    }
    thread_local!(static START: Instant = Instant::now());
    START.with(|s| s.elapsed().as_secs_f64() * 1000.0)
}

/// One frame: egui pass (layout) and tessellation; returns its CPU time in ms.
fn timed(ctx: &egui::Context, t: f64, mut f: impl FnMut(&mut egui::Ui)) -> f64 {
    let start = cpu_ms();
    let mut out = ctx.run_ui(raw_input(t), |ui| f(ui));
    let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
    let ms = cpu_ms() - start;
    // No painter uploads the font textures here (a debug build asserts they are handled).
    out.textures_delta.clear();
    ms
}

/// Frames of the app on a live feed that a thread fills with the simulator's records at
/// `rate` a second (paced every 10 ms, waiting rather than dropping), for `frames` frames
/// at 60 Hz. Returns the frame times, the records appended, the snapshots swapped in and
/// the seconds it took.
struct LivePhase {
    frames: Vec<f64>,
    records: u64,
    snapshots: u64,
    secs: f64,
    worker: Option<crate::live::worker::WorkerStats>,
    events: usize,
    copy_ms: f64,
}

fn live_frames(rate: u64, frames: usize) -> LivePhase {
    let (tx, feed) = crate::live::channel("bench", crate::live::DEFAULT_CAPACITY);
    let ctx = egui::Context::default();
    let mut app = EventLensApp::from_feed(&ctx, feed, "bench (simulator)", StartOptions::default());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut cfg = SimConfig::reference();
        cfg.orders = usize::MAX;
        let mut sim = Simulator::new(cfg);
        let per_tick = (rate / 100).max(1) as usize;
        let tick = std::time::Duration::from_millis(10);
        let mut next = Instant::now();
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            let lines: Vec<String> = sim.by_ref().take(per_tick).map(|r| r.line).collect();
            if lines.is_empty()
                || !tx.send_wait(crate::live::LiveBatch {
                    lines,
                    ..Default::default()
                })
            {
                break;
            }
            next += tick;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    });
    let start = Instant::now();
    let mut times = Vec::with_capacity(frames);
    let mut clock = 0.0;
    let mut generation = app.live_stats().map_or(0, |s| s.generation);
    let mut swapped = 0;
    for i in 0..frames {
        clock += 1.0 / 60.0;
        let ms = timed(&ctx, clock, |ui| app.frame(ui));
        let g = app.live_stats().map_or(0, |s| s.generation);
        if g != generation {
            swapped += 1;
            generation = g;
        }
        if std::env::var_os("EVENTLENS_BENCH_TRACE").is_some() {
            eprintln!("frame {i}: {ms:.2} ms (generation {g})");
        }
        times.push(ms);
        let due = start + std::time::Duration::from_secs_f64((i + 1) as f64 / 60.0);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let worker = app.live_stats();
    let records = worker.map_or(0, |s| s.records);
    let t = Instant::now();
    let copy = app.store().clone();
    let copy_ms = t.elapsed().as_secs_f64() * 1000.0;
    let events = copy.events.len();
    drop(copy);
    drop(app);
    let _ = writer.join();
    LivePhase {
        frames: times,
        records,
        snapshots: swapped,
        secs,
        worker,
        events,
        copy_ms,
    }
}

pub fn run(records: usize, frames: usize, live_rate: u64) -> BenchReport {
    let load = Instant::now();
    let store = simulated_store(records);
    let load_secs = load.elapsed().as_secs_f64();
    let observations = store.observations.len();
    let (first, last) = (
        store.first_time().unwrap_or(0),
        store.last_time().unwrap_or(0),
    );
    let ctx = egui::Context::default();
    let mut app = EventLensApp::from_store(&ctx, store, "bench", StartOptions::default());
    let mut clock = 0.0;
    for _ in 0..30 {
        clock += 1.0 / 60.0;
        timed(&ctx, clock, |ui| app.frame(ui));
    }
    app.command(Command::Time(TimeCommand::SetSpeed(10.0)));
    app.command(Command::Time(TimeCommand::Play));
    let mut playing = Vec::with_capacity(frames);
    for _ in 0..frames {
        clock += 1.0 / 60.0;
        playing.push(timed(&ctx, clock, |ui| app.frame(ui)));
    }
    app.command(Command::Time(TimeCommand::Pause));
    let mut scrubbing = Vec::with_capacity(frames);
    let mut x: u64 = 12345;
    for _ in 0..frames {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let t = first + ((x >> 11) as f64 / (1u64 << 53) as f64 * (last - first) as f64) as i64;
        app.command(Command::Time(TimeCommand::SetTime(t)));
        clock += 1.0 / 60.0;
        scrubbing.push(timed(&ctx, clock, |ui| app.frame(ui)));
    }
    // Baseline: the same app and panels with no data loaded, in the same run.
    let base_ctx = egui::Context::default();
    let mut empty =
        EventLensApp::from_store(&base_ctx, Store::new(), "empty", StartOptions::default());
    let mut baseline = Vec::with_capacity(frames);
    for i in 0..frames + 30 {
        clock += 1.0 / 60.0;
        let ms = timed(&base_ctx, clock, |ui| empty.frame(ui));
        if i >= 30 {
            baseline.push(ms);
        }
    }
    let live = live_frames(live_rate, frames);
    BenchReport {
        records,
        observations,
        load_secs,
        playing: p50_p95(playing),
        scrubbing: p50_p95(scrubbing),
        baseline: p50_p95(baseline),
        live: p50_p95(live.frames),
        live_rate,
        live_records: live.records,
        live_snapshots: live.snapshots,
        live_secs: live.secs,
        live_worker: live.worker,
        live_events: live.events,
        live_copy_ms: live.copy_ms,
    }
}
