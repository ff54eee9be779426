//! The real app in egui_kittest: open a capture, select a node, step the replay, filter the
//! table, click a finding.

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::model::NodeId;
use eventlens::replay::TimeCommand;
use eventlens::ui::{Command, EventLensApp, Selection, StartOptions};
use std::path::PathBuf;

/// The reference scenario's sample capture.
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

fn node_named(app: &EventLensApp, name: &str) -> NodeId {
    let s = app.store();
    (0..s.nodes.len() as u32)
        .map(NodeId)
        .find(|&n| s.node_name(n) == name)
        .expect("node exists")
}

#[test]
fn opening_a_capture_draws_the_reference_flow() {
    let path = capture();
    let h = open(path);
    assert!(h.state().store().observations.len() > 100);
    assert!(h.state().load_failures().is_empty());
    for name in [
        "producer-service",
        "orders",
        "handler-a",
        "handler-b",
        "read-model",
    ] {
        // Graph nodes are buttons named after the node.
        h.get_by_role_and_label(egui::accesskit::Role::Button, name);
    }
}

#[test]
fn clicking_a_node_selects_it_and_the_inspector_shows_it() {
    let path = capture();
    let mut h = open(path);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "handler-a")
        .click();
    h.run_steps(3);
    let id = node_named(h.state(), "handler-a");
    assert_eq!(h.state().selection(), Selection::Node(id));
    h.get_by_label("cold starts");
}

#[test]
fn stepping_the_replay_changes_the_counts() {
    let path = capture();
    let mut h = open(path);
    h.state_mut().command(Command::Time(TimeCommand::Home));
    h.run_steps(2);
    let at_start = h.state().table_rows();
    h.get_by_label("Step ▶").click();
    h.run_steps(2);
    h.get_by_label("Step ▶").click();
    h.run_steps(2);
    let after_two = h.state().table_rows();
    assert!(after_two > at_start, "{after_two} > {at_start}");
    h.key_press(Key::ArrowRight);
    h.run_steps(2);
    assert!(h.state().table_rows() > after_two);
    h.key_press(Key::ArrowLeft);
    h.run_steps(2);
    assert_eq!(h.state().table_rows(), after_two);
    h.key_press(Key::End);
    h.run_steps(2);
    assert_eq!(h.state().table_rows(), h.state().store().observations.len());
}

#[test]
fn playing_moves_the_cursor() {
    let path = capture();
    let mut h = open(path);
    // A file opens at its end; Home rewinds, Play replays.
    h.key_press(Key::Home);
    h.run_steps(2);
    let before = h.state().cursor();
    assert_eq!(before, h.state().store().first_time());
    h.get_by_label("▶ Play").click();
    h.run_steps(20);
    assert!(h.state().time_control().is_playing());
    assert!(h.state().cursor() > before);
    h.key_press(Key::Space);
    h.run_steps(2);
    assert!(!h.state().time_control().is_playing());
}

#[test]
fn filtering_the_table_keeps_only_matching_events() {
    let path = capture();
    let mut h = open(path);
    h.state_mut().command(Command::Time(TimeCommand::End));
    h.run_steps(2);
    let all = h.state().table_rows();
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.run_steps(1);
    h.get_by_role(egui::accesskit::Role::TextInput)
        .type_text("outcome:error");
    h.run_steps(3);
    assert_eq!(h.state().filter_text(), "outcome:error");
    let failing = h.state().table_rows();
    assert!(failing > 0 && failing < all, "{failing} of {all}");
    let s = h.state().store();
    let expected = s
        .observations
        .iter()
        .filter(|o| o.outcome == eventlens::model::Outcome::Error)
        .count();
    assert_eq!(failing, expected);
}

#[test]
fn clicking_a_finding_selects_its_events_and_time() {
    let path = capture();
    let mut h = open(path);
    let (i, title, first) = {
        let f = h.state().findings();
        let i = f
            .iter()
            .position(|f| f.kind == "handler-failures")
            .expect("a handler-failures finding");
        (i, f[i].title.clone(), f[i].first)
    };
    h.get_by_label(&title).click();
    h.run_steps(3);
    assert_eq!(h.state().selected_finding(), Some(i));
    assert!(matches!(h.state().selection(), Selection::Event(_)));
    assert_eq!(h.state().cursor(), first);
}
