//! The window records what its live source delivers (File > Record live source…): the
//! capture it writes holds exactly the records that arrived while it recorded, and reads
//! back as any capture does.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::analysis::report::Report;
use eventlens::live::{DEFAULT_CAPACITY, LiveBatch, LiveInput, channel};
use eventlens::model::Store;
use eventlens::sim::{SimConfig, Simulator};
use eventlens::ui::{Command, EventLensApp, StartOptions, fmt_count};
use std::time::{Duration, Instant};

fn wait_records(h: &mut Harness<'static, EventLensApp>, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().live_stats().is_none_or(|s| s.records < n) {
        assert!(
            Instant::now() < deadline,
            "the worker did not take {n} records"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.run_steps(1);
    }
}

#[test]
fn the_window_records_what_arrives_while_it_records() {
    let start = 1_800_000_000_000_000_000;
    let mut sim = Simulator::new(SimConfig::live_demo(start));
    let lines: Vec<String> = sim
        .until(start + 60_000_000_000)
        .into_iter()
        .map(|r| r.line)
        .collect();
    assert!(lines.len() > 600);
    let (before, during) = lines.split_at(200);
    let (during, after) = during.split_at(during.len() - 100);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("window.jsonl.zst");
    let (tx, feed) = channel("demo", DEFAULT_CAPACITY);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| {
            EventLensApp::from_feed(&cc.egui_ctx, feed, "demo", StartOptions::default())
        });
    let send = |lines: &[String]| {
        for chunk in lines.chunks(50) {
            assert!(tx.send_wait(LiveBatch {
                lines: chunk.to_vec(),
                ..Default::default()
            }));
        }
    };
    // What arrived before the recording started is not in it.
    send(before);
    wait_records(&mut h, before.len() as u64);
    h.get_by_label("File").click();
    h.run_steps(2);
    // The menu has it; the test opens it as the menu item does.
    h.get_by_label("Record live source…");
    h.key_press(egui::Key::Escape);
    h.state_mut().command(Command::OpenRecord);
    h.run_steps(2);
    h.get_by_label("Start recording");
    h.state_mut().command(Command::StartRecording(path.clone()));
    h.run_steps(2);
    send(during);
    wait_records(&mut h, (before.len() + during.len()) as u64);
    h.run_steps(2);
    // The menu bar says it records, and how much.
    h.get_by_label_contains(&format!("REC {}", fmt_count(during.len() as u64)));
    h.get_by_label("Stop recording").click();
    h.run_steps(2);
    h.get_by_label_contains(&format!("Wrote {} records", fmt_count(during.len() as u64)));
    // Nor is what arrived after it stopped.
    send(after);
    wait_records(&mut h, lines.len() as u64);

    let mut recorded = Store::new();
    eventlens::ingest::load_path(
        &mut recorded,
        &path,
        &eventlens::ingest::LoadProgress::default(),
    )
    .expect("the recording reads back");
    recorded.finalize();
    let mut expected = Store::new();
    let mut input = LiveInput::new(&mut expected, "demo");
    input.add(&mut expected, during);
    expected.finalize();
    assert_eq!(recorded.inputs[0].records, during.len() as u64);
    assert_eq!(recorded.inputs[0].skipped, 0);
    let (a, b) = (Report::build(&recorded), Report::build(&expected));
    assert_eq!(a.summary.events, b.summary.events);
    assert_eq!(a.summary.observations, b.summary.observations);
    assert_eq!(
        serde_json::to_value(&a.topology).expect("json"),
        serde_json::to_value(&b.topology).expect("json")
    );
}
