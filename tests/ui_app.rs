//! The real app in egui_kittest: open a capture, select a node, step the replay, filter the
//! table, click a finding.

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
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

#[test]
fn clicking_an_edge_selects_it_and_the_latency_tab_shows_it() {
    let mut h = open(capture());
    h.get_by_label("edge orders → handler-b").click();
    h.run_steps(3);
    let (a, b) = (
        node_named(h.state(), "orders"),
        node_named(h.state(), "handler-b"),
    );
    assert_eq!(h.state().selection(), Selection::Edge(a, b));
    // The tab comes before the table's "Latency" column header.
    h.get_all_by_label("Latency")
        .next()
        .expect("the Latency tab")
        .click();
    h.run_steps(3);
    h.get_by_label_contains("delivery latency");
}

#[test]
fn next_finding_moves_the_cursor_to_it() {
    let mut h = open(capture());
    h.key_press(Key::Home);
    h.run_steps(2);
    h.get_by_label("Finding ▶").click();
    h.run_steps(3);
    let app = h.state();
    let i = app.selected_finding().expect("a finding is selected");
    assert_eq!(app.cursor(), app.findings()[i].first);
    assert!(app.cursor() > app.store().first_time());
}

#[test]
fn clicking_an_analysis_finding_selects_its_edge_and_event() {
    let mut h = open(capture());
    let (i, title, edges) = {
        let f = h.state().findings();
        let i = f
            .iter()
            .position(|f| f.kind == "dead-letter")
            .expect("the sample's dead-letter finding");
        (i, f[i].title.clone(), f[i].edges.clone())
    };
    h.get_by_label(&title).click();
    h.run_steps(3);
    assert_eq!(h.state().selected_finding(), Some(i));
    assert!(matches!(h.state().selection(), Selection::Event(_)));
    assert!(!edges.is_empty());
}

#[test]
fn shift_dragging_on_the_timeline_loops_that_range() {
    let mut h = open(capture());
    let shift = egui::Modifiers::SHIFT;
    let (a, b) = (egui::pos2(400.0, 930.0), egui::pos2(900.0, 930.0));
    let button = |pos, pressed| egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::SHIFT,
    };
    h.event_modifiers(egui::Event::PointerMoved(a), shift);
    h.run_steps(1);
    h.event_modifiers(button(a, true), shift);
    h.run_steps(1);
    for i in 1..=10 {
        let p = a + (b - a) * (i as f32 / 10.0);
        h.event_modifiers(egui::Event::PointerMoved(p), shift);
        h.run_steps(1);
    }
    h.event_modifiers(button(b, false), shift);
    h.run_steps(2);
    let tc = h.state().time_control();
    let (lo, hi) = tc.loop_range.expect("a loop range");
    assert!(hi > lo);
    assert!(tc.is_playing());
    let t = h.state().cursor().expect("cursor");
    assert!(t >= lo && t <= hi, "cursor {t} in {lo}..{hi}");
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropping_a_file_on_the_window_opens_it() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    assert!(h.state().store().observations.is_empty());
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(capture())));
    h.run_steps(2);
    assert!(h.state().is_loading());
    h.state_mut().wait_until_loaded();
    h.run_steps(2);
    assert!(h.state().store().observations.len() > 100);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "read-model");
}

// ---- what the window says when there is nothing to draw ----

fn public_fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/public")
        .join(rel)
}

/// The facts `tests/fixtures/public/expected.json` records for one file.
fn expected_facts(rel: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(public_fixture("expected.json")).expect("expected.json");
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).expect("expected.json parses");
    all.into_iter()
        .find(|e| e["file"] == rel)
        .unwrap_or_else(|| panic!("{rel} in expected.json"))
}

#[test]
fn opening_spans_that_draw_nothing_says_what_was_read_and_why() {
    // jaeger-ui's OTLP JSON Lines fixture: spans of one service, all internal, so neither
    // messaging, calls nor store writes (as the fixture's recorded facts say).
    let rel = "jaeger-ui/otlp2jaeger-multi-in.json.txt";
    let facts = expected_facts(rel);
    assert_eq!(facts["messaging"], serde_json::json!([]));
    assert_eq!(facts["calls"], serde_json::json!([]));
    assert_eq!(facts["db"], serde_json::json!([]));
    let records = facts["records"].as_u64().expect("records");
    assert!(records > 0);

    let mut h = open(public_fixture(rel));
    let app = h.state();
    assert!(app.load_failures().is_empty());
    assert_eq!(app.store().inputs.len(), 1);
    assert_eq!(app.store().inputs[0].records, records);
    assert!(app.store().observations.is_empty());

    // What was read, from where, in which format, and why nothing is drawn.
    h.get_by_label_contains(&format!(
        "{records} spans read from otlp2jaeger-multi-in.json.txt (OTLP JSON); none is a messaging, call or store span."
    ));
    h.get_by_label_contains("From OTLP JSON, eventlens draws producer and consumer spans");
    // Not the first-start invitation, and the findings panel does not wait for more.
    assert!(h.query_by_label_contains("No events yet").is_none());
    assert!(h.query_by_label("No findings yet.").is_none());
    // The analysis says the same as `analyze`: a no-event-flow warning.
    h.get_by_label_contains("no-event-flow");

    // The card points at the Inputs tab.
    let inputs_row = format!("otlp · {records} records · 0 unreadable");
    assert!(h.query_by_label_contains(&inputs_row).is_none());
    h.get_by_label("Show inputs & read errors").click();
    h.run_steps(3);
    h.get_by_label_contains(&inputs_row);
}

#[test]
fn an_empty_batch_says_it_holds_no_events_and_points_to_the_inputs_tab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty-batch.json");
    std::fs::write(&path, "[]\n").expect("write");
    let mut h = open(path);
    assert_eq!(h.state().store().inputs.len(), 1);
    assert_eq!(h.state().store().inputs[0].records, 0);
    // An empty batch is an empty report (as `analyze` exits 0), not a failure.
    assert!(h.state().load_failures().is_empty());
    h.get_by_label("Nothing to read in empty-batch.json (CloudEvents batch): it holds no events.");
    h.get_by_label("Show inputs & read errors").click();
    h.run_steps(3);
    h.get_by_label_contains("cloudevents-batch · 0 records");
    assert!(h.query_by_label_contains("No events yet").is_none());
}

#[test]
fn a_file_that_is_no_trace_at_all_says_nothing_could_be_read() {
    // Stored upstream with a stray backslash before its first brace: not JSON.
    let h = open(public_fixture(
        "jaeger-integration/otlp_span_links.invalid-20b939c.json",
    ));
    assert_eq!(h.state().load_failures().len(), 1);
    h.get_by_label_contains(
        "Nothing could be read from otlp_span_links.invalid-20b939c.json: not a recognised format",
    );
    assert!(h.query_by_label("No findings yet.").is_none());
}

#[test]
fn the_first_start_invites_to_open_a_capture() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(3);
    h.get_by_label("No events yet.");
    h.get_by_label("Start the live demo");
    h.get_by_label("No findings yet.");
}

#[test]
fn a_filter_that_matches_nothing_says_so_and_can_be_cleared() {
    let mut h = open(capture());
    h.state_mut()
        .command(Command::SetFilter("type:NoSuchType".into()));
    h.run_steps(3);
    assert_eq!(h.state().table_rows(), 0);
    let n = h.state().store().observations.len();
    h.get_by_label_contains(&format!(
        "The filter \u{201c}type:NoSuchType\u{201d} matches none of the {} observations.",
        eventlens::ui::fmt_count(n as u64)
    ));
    // The filter box shows the filter however it was set.
    let edit_text = |h: &Harness<'static, EventLensApp>| {
        h.get_by_role(egui::accesskit::Role::TextInput)
            .accesskit_node()
            .value()
            .unwrap_or_default()
    };
    assert_eq!(edit_text(&h), "type:NoSuchType");
    // The graph is still there (dimmed), so this is not the no-events card.
    h.get_by_role_and_label(egui::accesskit::Role::Button, "handler-b");
    h.get_by_label("Clear filter").click();
    h.run_steps(3);
    assert_eq!(h.state().filter_text(), "");
    assert!(h.query_by_label_contains("matches none of").is_none());
    assert_eq!(edit_text(&h), "");
}

/// The app reads the same `eventlens.toml` as `analyze` (next to the first file), so a
/// threshold a team set gives the same findings in both.
#[test]
fn the_app_uses_the_thresholds_of_eventlens_toml() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sample-traces/defects/poison-message.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("poison-message.jsonl");
    std::fs::copy(&src, &file).unwrap();
    let poison = |h: &Harness<'static, EventLensApp>| {
        h.state()
            .findings()
            .iter()
            .filter(|f| f.kind == "poison-message")
            .count()
    };
    let cli = |file: &std::path::Path| -> usize {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
            .args(["analyze", "--json"])
            .arg(file)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "poison-message")
            .count()
    };
    // Defaults: the poisoned message is reported by both.
    let h = open(file.clone());
    assert!(poison(&h) > 0);
    assert_eq!(poison(&h), cli(&file));
    // A team that tolerates many attempts: neither reports it.
    std::fs::write(
        dir.path().join("eventlens.toml"),
        "poison_attempts = 1000\n",
    )
    .unwrap();
    let h = open(file.clone());
    assert_eq!(poison(&h), 0);
    assert_eq!(cli(&file), 0);
}

#[test]
fn hovering_the_timeline_reads_the_burst_from_the_data_not_the_pointer_height() {
    use eventlens::analysis::series::{FlowKind, FlowTimeline, Grouping, fmt_rate};
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/defects/publish-burst.jsonl");
    let mut h = open(path);
    let (expected, x_frac) = {
        let store = h.state().store();
        let tl = FlowTimeline::build(store, None);
        let s = tl
            .series(Grouping::Channel)
            .iter()
            .find(|s| s.name == "orders" && s.kind == FlowKind::Published)
            .expect("orders published");
        let (first, last) = (store.first_time().unwrap(), store.last_time().unwrap());
        (
            format!("orders · published: peak {}", fmt_rate(tl.per_sec(s.peak))),
            (s.peak_at - first) as f32 / (last - first) as f32,
        )
    };
    // The plot spans the whole run; hover where the burst peaks, just above 0/s.
    let rect = h.get_by_label("timeline").rect();
    let pos = egui::pos2(rect.left() + x_frac * rect.width(), rect.bottom() - 4.0);
    h.hover_at(pos);
    h.run_steps(3);
    // The burst's peak (200/s), read from the series, although the pointer is near 0.
    h.get_by_label_contains(&expected);
    assert!(
        expected.contains("200/s") || expected.contains("201/s"),
        "{expected}"
    );
}

#[test]
fn scrolling_on_the_timeline_zooms_around_the_pointer_and_double_click_shows_the_run() {
    let mut h = open(capture());
    let rect = h.get_by_label("timeline").rect();
    let (first, last) = {
        let s = h.state().store();
        (s.first_time().unwrap(), s.last_time().unwrap())
    };
    let span = (last - first) as f64 / 1e9;
    // Events in one frame (the harness gives each queued event a frame of its own, too far
    // apart for a double click).
    let click = |h: &mut Harness<'static, EventLensApp>, pos: egui::Pos2, double: bool| {
        h.input_mut().events.push(egui::Event::PointerMoved(pos));
        for _ in 0..if double { 2 } else { 1 } {
            for pressed in [true, false] {
                h.input_mut().events.push(egui::Event::PointerButton {
                    pos,
                    button: egui::PointerButton::Primary,
                    pressed,
                    modifiers: egui::Modifiers::NONE,
                });
            }
        }
        h.run_steps(3);
    };
    let secs =
        |h: &Harness<'static, EventLensApp>| (h.state().cursor().unwrap() - first) as f64 / 1e9;
    let right = egui::pos2(rect.right() - 3.0, rect.center().y);
    click(&mut h, right, false);
    assert!(
        secs(&h) > span * 0.95,
        "the whole run: {} of {span}",
        secs(&h)
    );
    // Wheel up over the middle: zoom in around it.
    h.hover_at(rect.center());
    h.run_steps(2);
    for _ in 0..8 {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 120.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(2);
    }
    h.run_steps(30);
    click(&mut h, right, false);
    let zoomed = secs(&h);
    assert!(
        zoomed > span * 0.5 && zoomed < span * 0.8,
        "the right edge is now just right of the middle: {zoomed} of {span}"
    );
    // Double-click: the whole run again.
    click(&mut h, rect.center(), true);
    click(&mut h, right, false);
    assert!(secs(&h) > span * 0.95, "{} of {span}", secs(&h));
}
