//! Export from the app: Ctrl+E opens the Export dialog; SVG, a path typed in, Save; the
//! file is written, parses, and the dialog says where it went.

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::ui::{EventLensApp, StartOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn capture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl")
}

fn open(path: PathBuf) -> Harness<'static, EventLensApp> {
    let opts = StartOptions {
        files: vec![path],
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    h.state_mut().wait_until_loaded();
    h.run_steps(4);
    h
}

#[test]
fn ctrl_e_exports_the_flow_as_svg_to_the_path_typed_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("flow.svg");
    let mut h = open(capture());
    // The menu bar has it.
    h.get_by_label("Export").click();
    h.run_steps(2);
    h.get_by_label_contains("Export the flow diagram…");
    h.key_press(Key::Escape);
    h.run_steps(2);

    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::E);
    h.run_steps(3);
    h.get_by_label("Export the flow diagram");
    h.get_by_label("PNG").click();
    h.run_steps(2);
    h.get_by_label("SVG").click();
    h.run_steps(2);
    // Replace the default path with ours.
    h.get_by_label("Export path").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    h.run_steps(1);
    h.get_by_label("Export path")
        .type_text(out.to_str().expect("utf-8 path"));
    h.run_steps(2);
    h.get_by_label("Save").click();
    // The export is written on a thread of its own: wait for the dialog to say so.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.query_by_label_contains("Wrote ").is_none() {
        assert!(Instant::now() < deadline, "the export never finished");
        assert!(
            h.query_by_label_contains("Export failed").is_none()
                && h.query_by_label_contains("Cannot write").is_none(),
            "the export failed"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.run_steps(1);
    }
    let svg = std::fs::read_to_string(&out).expect("the SVG was written");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).expect("usvg parses it");
    // The reference flow: the producer, the channel, both handlers and the read model.
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    for name in [
        "producer-service",
        "orders",
        "handler-a",
        "handler-b",
        "read-model",
    ] {
        assert!(titles.contains(&name), "{name} not in {titles:?}");
    }
}
