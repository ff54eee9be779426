//! Frame CPU time of the GUI with 1,000,000 simulated records, playing and scrubbing,
//! driven headless (the same as `eventlens bench-ui`). `cargo bench --bench ui_frame`.

fn main() {
    let records = std::env::var("EVENTLENS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let r = eventlens::ui::bench::run(records, 300, 100_000);
    println!("{r:#?}");
    println!(
        "p95 frame: playing {:.2} ms, scrubbing {:.2} ms, live at 100k records/s {:.2} ms, empty-frame baseline {:.2} ms",
        r.playing.1, r.scrubbing.1, r.live.1, r.baseline.1
    );
}
