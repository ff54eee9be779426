//! The Re-drive dialog in the real app (egui_kittest): open a capture, File > Re-drive
//! events…, target an in-process HTTP receiver, confirm, and see the events arrive and the
//! dialog's summary.

mod common;

use common::receiver::Receiver;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::ui::{Command, EventLensApp, StartOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redrive/orders.jsonl")
}

fn open(filter: Option<&str>) -> Harness<'static, EventLensApp> {
    let opts = StartOptions {
        files: vec![fixture()],
        filter: filter.map(str::to_string),
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    h.state_mut().wait_until_loaded();
    h.run_steps(4);
    h
}

/// Steps the UI until the run is finished.
fn run_until_done(h: &mut Harness<'static, EventLensApp>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.state().redrive_summary().is_none() {
        assert!(Instant::now() < deadline, "the re-drive never finished");
        std::thread::sleep(Duration::from_millis(20));
        h.run_steps(1);
    }
    h.run_steps(2);
}

#[test]
fn the_redrive_dialog_sends_the_filters_matches_and_shows_the_summary() {
    let rx = Receiver::start();
    let mut h = open(Some("type:OrderPlaced"));
    // The File menu offers it...
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Re-drive events…");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    // ...and so does the inspector, for the selected event.
    let e = h
        .state()
        .store()
        .find_event("producer-service", "ord-1")
        .expect("ord-1");
    h.state_mut()
        .command(Command::Select(eventlens::ui::Selection::Event(e)));
    h.run_steps(2);
    h.get_by_label("Re-drive…").click();
    // The click, then the window's sizing pass, then the window.
    h.run_steps(4);
    // The selected event is the default scope; the filter's matches are asked for here.
    h.get_by_label("The filter's matches (type:OrderPlaced)")
        .click();
    h.run_steps(1);
    h.get_by_label("Target URL").click();
    h.run_steps(1);
    h.get_by_label("Target URL").type_text(&rx.url);
    h.run_steps(1);
    h.get_by_label("As fast as possible").click();
    h.run_steps(1);
    h.get_by_label("Next…").click();
    h.run_steps(2);
    // The confirmation names the target and the count; nothing is sent before it.
    h.get_by_label(&format!("Send 3 events to {}?", rx.url));
    assert!(rx.received().is_empty());
    h.get_by_label("Send").click();
    h.run_steps(1);
    run_until_done(&mut h);
    let got = rx.wait_for(3, Duration::from_secs(5));
    let ids: Vec<_> = got.iter().filter_map(|r| r.header("ce-id")).collect();
    assert_eq!(ids, ["ord-1", "ord-2", "ord-4"]);
    let s = h.state().redrive_summary().cloned().expect("a summary");
    assert_eq!(s.delivered(), 3);
    assert!(s.is_success());
    h.get_by_label(&format!("Delivered 3 of 3 to {}", rx.url));
}

#[test]
fn the_dialog_reports_what_was_not_delivered_and_never_shows_a_password() {
    let rx = Receiver::answering(&[400]);
    let mut h = open(None);
    // From the File menu.
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Re-drive events…").click();
    h.run_steps(4);
    // With credentials in their own fields: they are used, never shown.
    h.get_by_label("Target URL").click();
    h.run_steps(1);
    h.get_by_label("Target URL").type_text(&rx.url);
    h.run_steps(1);
    h.get_by_label("User").click();
    h.run_steps(1);
    h.get_by_label("User").type_text("bob");
    h.run_steps(1);
    h.get_by_label("Password").click();
    h.run_steps(1);
    h.get_by_label("Password").type_text("pa55word");
    h.run_steps(1);
    h.get_by_label("Fixed rate").click();
    h.get_by_label("Next…").click();
    h.run_steps(2);
    h.get_by_label(&format!("Send 6 events to {}?", rx.url));
    h.get_by_label("Send").click();
    h.run_steps(1);
    run_until_done(&mut h);
    assert_eq!(rx.received().len(), 6);
    let auth = rx.received()[0]
        .header("authorization")
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        auth.starts_with("Basic "),
        "the credentials are used: {auth:?}"
    );
    h.get_by_label(&format!("Delivered 5 of 6 to {}", rx.url));
    h.get_by_label("1 not delivered:");
    h.get_by_label_contains("ord-1: HTTP 400");
    let leaks = h
        .query_all(egui_kittest::kittest::by().predicate(|n| {
            n.label().is_some_and(|l| l.contains("pa55word"))
                || n.value().is_some_and(|v| v.contains("pa55word"))
        }))
        .count();
    assert_eq!(leaks, 0, "the password shows in the window");
}

/// Clicks the first events-table row showing this event id.
fn click_row(h: &mut Harness<'static, EventLensApp>, id: &str, modifiers: egui::Modifiers) {
    h.get_all_by_label(id)
        .next()
        .unwrap_or_else(|| panic!("no row shows {id}"))
        .click_modifiers(modifiers);
    h.run_steps(2);
}

/// Opens File > Re-drive events… with the receiver as the target.
fn open_redrive_to(h: &mut Harness<'static, EventLensApp>, url: &str) {
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Re-drive events…").click();
    h.run_steps(4);
    h.get_by_label("Target URL").click();
    h.run_steps(1);
    h.get_by_label("Target URL").type_text(url);
    h.run_steps(1);
}

fn received_ids(rx: &Receiver) -> Vec<String> {
    rx.received()
        .iter()
        .filter_map(|r| r.header("ce-id").map(str::to_string))
        .collect()
}

#[test]
fn ctrl_and_shift_clicks_in_the_table_choose_the_events_to_redrive() {
    let rx = Receiver::start();
    let mut h = open(None);
    let ctrl = egui::Modifiers::COMMAND;
    click_row(&mut h, "ord-2", egui::Modifiers::NONE);
    click_row(&mut h, "ord-4", ctrl);
    h.get_by_label("2 events selected");
    // Shift+click: every event from the last clicked row (ord-4) back to note-1's row, in
    // the table's time order: note-1, bin-1, ord-3 (two rows) and ord-4.
    click_row(&mut h, "note-1", egui::Modifiers::SHIFT);
    h.get_by_label("4 events selected");
    // Ctrl+click on a selected one takes it out.
    click_row(&mut h, "bin-1", ctrl);
    h.get_by_label("3 events selected");
    open_redrive_to(&mut h, &rx.url);
    // The selected events are the scope it opens with.
    h.get_by_label("The 3 selected events");
    h.get_by_label("As fast as possible").click();
    h.run_steps(1);
    h.get_by_label("Next…").click();
    h.run_steps(2);
    h.get_by_label(&format!("Send 3 events to {}?", rx.url));
    h.get_by_label("Send").click();
    h.run_steps(1);
    run_until_done(&mut h);
    assert_eq!(received_ids(&rx), ["note-1", "ord-3", "ord-4"]);
    // Closed, a plain click selects one event again.
    h.get_by_label("Close window").click();
    h.run_steps(2);
    click_row(&mut h, "ord-2", egui::Modifiers::NONE);
    assert!(h.query_by_label_contains("events selected").is_none());
}

/// Steps frames until the replay cursor reaches `t`; fails, saying where things stand, if
/// it does not within 300 frames.
fn step_until(h: &mut Harness<'static, EventLensApp>, t: i64, rx: &Receiver) {
    for _ in 0..300 {
        if h.state().time_control().time.unwrap_or(0) >= t {
            return;
        }
        h.run_steps(1);
    }
    panic!(
        "the replay never reached {t}: playing {}, at {:?}, received {:?}",
        h.state().time_control().is_playing(),
        h.state().time_control().time,
        received_ids(rx)
    );
}

/// Re-drive paced by the replay: the replay panel's clock sends each event when the cursor
/// reaches the time it was first seen; pausing the replay holds the rest, moving the cursor
/// sends what it passed, and the replay's speed scales the gaps. (In the harness each frame
/// advances the replay by 0.1 s times its speed; the fixture's events were first seen at
/// 0, 0.5, 1.0, 1.5, 3.0 and 4.0 s.)
#[test]
fn the_replay_panel_paces_the_redrive() {
    use eventlens::replay::TimeCommand;
    let rx = Receiver::start();
    let mut h = open(None);
    open_redrive_to(&mut h, &rx.url);
    h.get_by_label("Every event (no filter)").click();
    h.get_by_label("With the replay (its play, pause, step and speed)")
        .click();
    h.run_steps(1);
    h.get_by_label("Next…").click();
    h.run_steps(2);
    h.get_by_label(&format!("Send 6 events to {}?", rx.url));
    h.get_by_label("Send").click();
    // The replay starts playing at the first event: it goes at once.
    h.run_steps(1);
    rx.wait_for(1, Duration::from_secs(5));
    // The dialog's Pause is the replay's own (one frame shows the running dialog and moves
    // the replay 0.1 s, short of the next event).
    h.run_steps(1);
    h.get_by_label("Pause").click();
    h.run_steps(2);
    assert!(!h.state().time_control().is_playing(), "the replay paused");
    // Paused: nothing more goes, however long one waits.
    for _ in 0..20 {
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(received_ids(&rx), ["ord-1"]);
    h.get_by_label_contains("The next event goes when the replay reaches 0.500 s");
    // Moving the cursor to 1.0 s sends what it passed.
    let origin = h.state().store().first_time().expect("a time");
    h.state_mut()
        .command(Command::Time(TimeCommand::SetTime(origin + 1_000_000_000)));
    h.run_steps(2);
    rx.wait_for(3, Duration::from_secs(5));
    assert_eq!(received_ids(&rx), ["ord-1", "ord-2", "note-1"]);
    // Playing at twice the speed, 0.2 s of replay a frame, to just past 1.5 s: bin-1
    // (1.5 s) goes, ord-3 (3.0 s) not yet.
    h.state_mut()
        .command(Command::Time(TimeCommand::SetSpeed(2.0)));
    h.run_steps(1);
    h.get_by_label("Resume").click();
    h.run_steps(1);
    let cursor = |h: &Harness<'static, EventLensApp>| h.state().time_control().time.unwrap_or(0);
    step_until(&mut h, origin + 1_500_000_000, &rx);
    assert!(
        cursor(&h) <= origin + 1_700_000_000,
        "a frame moves the replay 0.2 s at speed 2"
    );
    rx.wait_for(4, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received_ids(&rx), ["ord-1", "ord-2", "note-1", "bin-1"]);
    // On to 3.0 s: ord-3 goes.
    step_until(&mut h, origin + 3_000_000_000, &rx);
    rx.wait_for(5, Duration::from_secs(5));
    run_until_done(&mut h);
    assert_eq!(
        received_ids(&rx),
        ["ord-1", "ord-2", "note-1", "bin-1", "ord-3", "ord-4"]
    );
    let s = h.state().redrive_summary().cloned().expect("a summary");
    assert_eq!(s.delivered(), 6);
}
