//! The real app in egui_kittest: open a capture, select a node, step the replay, filter the
//! table, click a finding.

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use eventlens::analysis::Kind;
use eventlens::model::NodeId;
use eventlens::replay::TimeCommand;
use eventlens::ui::{Command, EventLensApp, Selection, StartOptions};
use std::path::PathBuf;

/// The reference scenario's sample capture.
fn capture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/capture.jsonl")
}

fn open(path: PathBuf) -> Harness<'static, EventLensApp> {
    open_with(StartOptions {
        files: vec![path],
        ..Default::default()
    })
}

/// The app started as the command line would start it, once its files are loaded.
fn open_with(opts: StartOptions) -> Harness<'static, EventLensApp> {
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
    // The filter is applied on a background thread.
    h.state_mut().wait_until_filtered();
    h.run_steps(1);
    assert!(!h.state().is_filtering());
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

/// A bare word searches payload text too, which the filter reads back from the file on a
/// background thread: the rows are those of the events whose payload holds the word.
#[test]
fn a_bare_word_filter_finds_the_events_whose_payload_holds_it() {
    let mut h = open(capture());
    h.state_mut().command(Command::Time(TimeCommand::End));
    // A customer id: in payloads only, never in an id, type, source or subject.
    h.state_mut().command(Command::SetFilter("C-4020".into()));
    h.run_steps(1);
    h.state_mut().wait_until_filtered();
    h.run_steps(2);
    assert!(!h.state().is_filtering());
    let text = std::fs::read_to_string(capture()).expect("read the capture");
    let mut keys = std::collections::HashSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(
            !line
                .split("\"data\"")
                .next()
                .unwrap_or("")
                .contains("c-4020")
        );
        if v["data"].to_string().contains("c-4020") {
            let key = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            keys.insert((key("source"), key("id")));
        }
    }
    assert!(!keys.is_empty());
    let s = h.state().store();
    let expected = s
        .observations
        .iter()
        .filter(|o| {
            let e = &s.events[o.event.0 as usize];
            keys.contains(&(s.str(e.source).to_string(), s.str(e.id).to_string()))
        })
        .count();
    assert!(expected > 0);
    assert_eq!(h.state().table_rows(), expected);
    assert_eq!(h.state().filter_text(), "C-4020");
}

#[test]
fn clicking_a_finding_selects_its_events_and_time() {
    let path = capture();
    let mut h = open(path);
    let (i, title, first) = {
        let f = h.state().findings();
        let i = f
            .iter()
            .position(|f| f.kind == Kind::PoisonMessage)
            .expect("the sample's poison-message finding");
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
            .position(|f| f.kind == Kind::DeadLetter)
            .expect("the sample's dead-letter finding");
        (i, f[i].title.clone(), f[i].edges.clone())
    };
    // Further down the list than the panel shows: scroll to it first.
    h.get_by_label(&title).scroll_to_me();
    h.run_steps(4);
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
    h.run_steps(1);
    h.state_mut().wait_until_filtered();
    h.run_steps(2);
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
            .filter(|f| f.kind.as_str() == "poison-message")
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

// ---- drill-down ----

/// The event whose id is `id`.
fn event_with_id(app: &EventLensApp, id: &str) -> eventlens::model::EventIdx {
    let s = app.store();
    let sym = s.strings.get(id).expect("the id is interned");
    let i = s
        .events
        .iter()
        .position(|e| e.id == sym)
        .expect("an event with that id");
    eventlens::model::EventIdx(i as u32)
}

/// True when the widget is drawn inside the window's visible area between `top` and
/// `bottom` (a scrolled-away row is laid out, but outside its scroll area).
fn shown_between(node: &egui_kittest::Node<'_>, top: f32, bottom: f32) -> bool {
    let r = node.rect();
    r.center().y > top && r.center().y < bottom
}

#[test]
fn clicking_the_text_of_a_row_selects_its_event() {
    let mut h = open(capture());
    h.run_steps(3);
    // The last rows at the end of the capture; click the text of a cell, not the gap.
    let id = "ord-000600";
    let cell = h.get_all_by_label(id).next().expect("a row of ord-000600");
    cell.click();
    h.run_steps(3);
    let e = event_with_id(h.state(), id);
    assert_eq!(h.state().selection(), Selection::Event(e));
    // Another column's text of another row: the route.
    h.state_mut().command(Command::Select(Selection::None));
    h.run_steps(2);
    let route = h
        .get_all_by_label("handler-b → read-model")
        .last()
        .expect("a store row");
    route.click();
    h.run_steps(3);
    assert!(
        matches!(h.state().selection(), Selection::Event(_)),
        "{:?}",
        h.state().selection()
    );
}

#[test]
fn select_event_moves_the_cursor_to_it_and_scrolls_the_table_to_its_row() {
    let id = "ord-000100";
    // Without --cursor: the cursor goes to the event's first observation.
    let h = open_with(StartOptions {
        files: vec![capture()],
        select: Some(format!("event:{id}")),
        ..Default::default()
    });
    let app = h.state();
    let e = event_with_id(app, id);
    assert_eq!(app.selection(), Selection::Event(e));
    let first = app.store().first_observation(e).expect("observed").time;
    assert_eq!(app.cursor(), Some(first));
    assert!(app.notices().is_empty(), "{:?}", app.notices());

    // With --cursor end the cursor stays at the end, and the table still scrolls up from
    // the last row to the event's.
    let mut h = open_with(StartOptions {
        files: vec![capture()],
        select: Some(format!("event:{id}")),
        cursor: Some("end".into()),
        ..Default::default()
    });
    h.run_steps(4);
    assert_eq!(h.state().cursor(), h.state().store().last_time());
    // Only the rows in view are laid out: the event's row is one of them.
    let row = h
        .get_all_by_label(id)
        .next()
        .expect("the event's row is in view");
    assert!(shown_between(&row, 560.0, 820.0), "{:?}", row.rect());
    assert!(h.query_by_label("ord-000600").is_none());
}

#[test]
fn next_finding_scrolls_the_findings_list_to_it() {
    let mut h = open(capture());
    let last = h.state().findings().len() - 1;
    let title = h.state().findings()[last].title.clone();
    // The findings panel ends above the tabs; the last finding starts out of view.
    let title_node = h.get_by_label(&title);
    assert!(
        !shown_between(&title_node, 60.0, 540.0),
        "{:?}",
        title_node.rect()
    );
    h.state_mut().command(Command::SelectFinding(last));
    h.run_steps(4);
    assert!(shown_between(&h.get_by_label(&title), 60.0, 540.0));
    // Finding ▶ from the start selects the first finding in time, and shows it.
    h.key_press(Key::Home);
    h.run_steps(2);
    h.get_by_label("Finding ▶").click();
    h.run_steps(4);
    let i = h.state().selected_finding().expect("a finding is selected");
    let title = h.state().findings()[i].title.clone();
    assert!(shown_between(&h.get_by_label(&title), 60.0, 540.0));
}

#[test]
fn the_inspector_shows_the_delivery_history_first_in_sections_that_fold() {
    let mut h = open_with(StartOptions {
        files: vec![capture()],
        select: Some("event:ord-000302".into()),
        ..Default::default()
    });
    h.run_steps(2);
    let sections = [
        "Delivery history",
        "Causal chain",
        "CloudEvent attributes",
        "Payload",
    ];
    let ys: Vec<f32> = sections
        .iter()
        .map(|s| h.get_by_label(s).rect().top())
        .collect();
    assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
    // A section folds away.
    assert!(h.query_by_label("specversion").is_some());
    h.get_by_label("CloudEvent attributes").scroll_to_me();
    h.run_steps(4);
    h.get_by_label("CloudEvent attributes").click();
    h.run_steps(6);
    assert!(h.query_by_label("specversion").is_none());
}

#[test]
fn the_edge_colours_have_a_legend_in_both_colourings() {
    let mut h = open(capture());
    h.get_by_label("Failed share so far:");
    h.get_by_label("under 2%");
    h.get_by_label("8% or more, dead letters");
    h.get_by_label("p95 latency").click();
    h.run_steps(3);
    h.get_by_label("p95 latency of the run:");
    h.get_by_label("under 20 ms");
    h.get_by_label("100 ms or more");
    h.get_by_label("selected");
}

// ---- startup ----

#[test]
fn a_missing_file_beside_a_readable_one_opens_the_readable_one_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-capture.jsonl");
    let h = open_with(StartOptions {
        files: vec![capture(), missing.clone()],
        ..Default::default()
    });
    let app = h.state();
    assert!(app.store().observations.len() > 100);
    assert_eq!(app.load_failures().len(), 1, "{:?}", app.load_failures());
    assert!(app.load_failures()[0].contains("no-such-capture.jsonl"));
    // The Inputs tab is shown, with the reason.
    h.get_by_label_contains("no-such-capture.jsonl: No such file");
    // Only what was read is a recent file, and as an absolute path.
    let recent = app.recent_files();
    assert_eq!(recent.len(), 1, "{recent:?}");
    assert!(recent[0].is_absolute());
    assert!(recent[0].ends_with("sample-traces/capture.jsonl"));
}

#[test]
fn recent_files_are_stored_as_absolute_paths() {
    // Tests run in the package root, so this relative path names the sample.
    let h = open(PathBuf::from("sample-traces/capture.jsonl"));
    let recent = h.state().recent_files();
    assert_eq!(recent.len(), 1);
    assert!(recent[0].is_absolute(), "{:?}", recent[0]);
    assert_eq!(recent[0], capture());
}

#[test]
fn startup_options_that_do_not_apply_are_reported_in_the_window() {
    for (select, cursor, says) in [
        (Some("node:nope"), None, "there is no node named \"nope\""),
        (
            Some("finding:99"),
            None,
            "there are 15 findings (finding:0 to finding:14)",
        ),
        (
            Some("edge:orders->read-model"),
            None,
            "there is no edge from orders to read-model",
        ),
        (None, Some("99999"), "--cursor 99999: the input spans"),
    ] {
        let h = open_with(StartOptions {
            files: vec![capture()],
            select: select.map(String::from),
            cursor: cursor.map(String::from),
            ..Default::default()
        });
        let app = h.state();
        assert_eq!(app.notices().len(), 1, "{:?}", app.notices());
        assert!(app.notices()[0].contains(says), "{}", app.notices()[0]);
        assert_eq!(app.selection(), Selection::None);
        // Shown over the graph.
        h.get_by_label_contains(says);
        h.get_by_label("Startup options that do not apply");
    }
    // --select finding:N is findings[N].
    let h = open_with(StartOptions {
        files: vec![capture()],
        select: Some("finding:3".into()),
        ..Default::default()
    });
    assert_eq!(h.state().selected_finding(), Some(3));
    assert!(h.state().notices().is_empty());
}

#[test]
fn the_in_app_open_dialog_lists_a_folder_and_opens_a_file() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    h.state_mut().command(Command::OpenInAppDialog);
    h.run_steps(2);
    assert!(h.state().open_dialog_dir().is_some());
    // Type a folder and press Enter: it is listed.
    let defects = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-traces/defects");
    let start = h
        .state()
        .open_dialog_dir()
        .expect("open")
        .display()
        .to_string();
    let path_field = |h: &Harness<'static, EventLensApp>, value: &str| {
        h.get_all_by_role(egui::accesskit::Role::TextInput)
            .find(|n| n.accesskit_node().value().as_deref() == Some(value))
            .expect("the dialog's path field")
            .accesskit_node()
            .id()
    };
    let id = path_field(&h, &start);
    h.get_by(|n| n.id() == id).focus();
    h.run_steps(1);
    h.get_by(|n| n.id() == id)
        .set_text_value_accesskit(&defects.display().to_string());
    h.run_steps(1);
    h.key_press(Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state().open_dialog_dir(), Some(defects.as_path()));
    // Pick a file in the listing and open it.
    h.get_by_label_contains("clean.jsonl").click();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Open")
        .click();
    h.run_steps(2);
    assert!(h.state().open_dialog_dir().is_none());
    assert!(h.state().is_loading());
    h.state_mut().wait_until_loaded();
    h.run_steps(2);
    assert!(
        h.state().store().observations.len() > 100,
        "{:?} {:?}",
        h.state().load_failures(),
        h.state()
            .store()
            .inputs
            .iter()
            .map(|i| &i.path)
            .collect::<Vec<_>>()
    );
    assert_eq!(h.state().recent_files(), [defects.join("clean.jsonl")]);
}

#[test]
fn spec_violations_are_on_the_inputs_tab_once_and_link_to_their_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("violations.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"specversion":"1.0","id":"a-1","source":"/shop","type":"OrderPlaced","time":"2026-03-02T09:00:00Z"}"#,
            "\n",
            r#"{"specversion":"1.0","id":"a-2","source":"/shop","type":"OrderPlaced","time":"yesterday"}"#,
            "\n",
        ),
    )
    .expect("write");
    let mut h = open(path);
    // The finding is analyze's nonconformant-event; no GUI-only spec-violation beside it.
    let kinds: Vec<Kind> = h.state().findings().iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&Kind::NonconformantEvent), "{kinds:?}");
    assert!(h.query_by_label_contains("spec-violation").is_none());
    h.get_by_label_contains("Inputs & read errors (1)").click();
    h.run_steps(3);
    h.get_by_label_contains("violations.jsonl:2: time: \"yesterday\" is not an RFC 3339")
        .click();
    h.run_steps(3);
    let e = event_with_id(h.state(), "a-2");
    assert_eq!(h.state().selection(), Selection::Event(e));
}

#[test]
fn the_findings_panel_can_be_widened_and_its_titles_rewrap() {
    let mut h = open(capture());
    let title = h.state().findings()[0].title.clone();
    let before = h.get_by_label(&title).rect();
    // Drag the panel's right edge (its default width is 260) to the right.
    let edge_x = 260.0;
    let y = 300.0;
    let button = |x: f32, pressed| egui::Event::PointerButton {
        pos: egui::pos2(x, y),
        button: egui::PointerButton::Primary,
        pressed,
        modifiers: egui::Modifiers::NONE,
    };
    let drag = |h: &mut Harness<'static, EventLensApp>, x: f32| {
        h.event(egui::Event::PointerMoved(egui::pos2(x, y)));
        h.run_steps(1);
        h.event(button(x, true));
        h.run_steps(1);
        for i in 1..=10 {
            h.event(egui::Event::PointerMoved(egui::pos2(
                x + 12.0 * i as f32,
                y,
            )));
            h.run_steps(1);
        }
        h.event(button(x + 120.0, false));
        h.run_steps(3);
    };
    // The edge is within a few points of there.
    for dx in [0.0, -3.0, 3.0, -6.0, 6.0] {
        drag(&mut h, edge_x + dx);
        if h.get_by_label(&title).rect().width() > before.width() + 50.0 {
            break;
        }
    }
    let after = h.get_by_label(&title).rect();
    assert!(
        after.width() > before.width() + 50.0,
        "{before:?} -> {after:?}"
    );
    // Body-size text: the title is as tall as a body line (one or more of them).
    let body = h.ctx.global_style().text_styles[&egui::TextStyle::Body].size;
    assert!(after.height() >= body, "{after:?} vs {body}");
}

#[test]
fn file_open_falls_back_to_the_in_app_dialog_where_no_system_dialog_can_be_shown() {
    // Only where no system dialog can appear: no session bus (so no desktop portal) and no
    // zenity. Elsewhere a real dialog would open and wait for a person.
    let zenity = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("zenity").is_file()));
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() || zenity {
        eprintln!("skipped: a desktop portal or zenity may show a real dialog here");
        return;
    }
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    // The first start's card offers Open… as the File menu does.
    h.get_by_label("File").click();
    h.run_steps(2);
    assert_eq!(h.get_all_by_label("Open…").count(), 2);
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    h.get_by_label("Open…").click();
    // rfd answers "no dialog" on its thread; the app then opens its own.
    let t0 = std::time::Instant::now();
    while h.state().open_dialog_dir().is_none() && t0.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.run_steps(1);
    }
    assert!(h.state().open_dialog_dir().is_some());
    h.run_steps(2);
    h.get_by_label_contains("No system file dialog could be shown");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Cancel")
        .click();
    h.run_steps(2);
    assert!(h.state().open_dialog_dir().is_none());
}

/// Calls (HTTP between services) are drawn beside the event flow, and the Flow toolbar's
/// "calls" toggle hides them: traces of the Python OpenTelemetry SDK (tests/instrumented).
#[test]
fn the_calls_toggle_hides_call_edges() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/instrumented/python-pika-redis-http.json");
    let mut h = open(path);
    assert!(h.state().shows_calls());
    // checkout -> orders-api (call), orders-api -> orders, orders -> fulfillment, and two
    // writes to Redis.
    assert_eq!(h.state().drawn_edges(), 5);
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "calls")
        .click();
    h.run_steps(3);
    assert!(!h.state().shows_calls());
    assert_eq!(h.state().drawn_edges(), 4);
    h.get_by_role_and_label(egui::accesskit::Role::CheckBox, "calls")
        .click();
    h.run_steps(3);
    assert_eq!(h.state().drawn_edges(), 5);
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

/// File > Connect to a broker…: presets fill the fields; a URL that cannot be read is
/// refused in the dialog with the reason, and nothing starts.
#[test]
fn the_connect_dialog_fills_presets_and_says_why_a_url_cannot_be_read() {
    let mut h = open_with(StartOptions::default());
    h.get_by_label("File").click();
    h.run_steps(2);
    // The menu has it; the test opens it as the menu item does.
    h.get_by_label("Connect to a broker…");
    h.key_press(Key::Escape);
    h.state_mut().command(Command::OpenConnect);
    h.run_steps(2);
    h.get_by_label("Broker URL");
    h.get_by_label("RabbitMQ: amq.topic, every key").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_value("amqp://127.0.0.1:5672/%2f?exchange=amq.topic&key=%23")
            .count()
            >= 1
    );
    // The password is in its own field, masked: only the user field shows "guest".
    let shown: Vec<(String, String)> = h
        .query_all(
            egui_kittest::kittest::by()
                .predicate(|n| n.value().is_some_and(|v| v.contains("guest"))),
        )
        .map(|n| {
            (
                format!("{:?}", n.accesskit_node().role()),
                n.value().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("TextInput".to_string(), "guest".to_string()),
            ("TextRun".to_string(), "guest".to_string())
        ],
        "only the user field (and its text run) reads guest"
    );
    h.get_by_label("MQTT: all topics").click();
    h.run_steps(2);
    assert!(h.query_all_by_value("mqtt://127.0.0.1:1883/#").count() >= 1);
    // Replace the URL with one of a scheme eventlens does not read.
    h.get_by_label("Broker URL").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    h.run_steps(1);
    h.get_by_label("Broker URL")
        .type_text("pulsar://127.0.0.1:6650/orders");
    h.run_steps(2);
    h.get_by_label("Connect").click();
    h.run_steps(3);
    h.get_by_label_contains("unknown scheme");
    assert!(h.state().store().inputs.is_empty(), "nothing started");
}
