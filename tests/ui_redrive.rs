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
