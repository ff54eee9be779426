//! With no file, the app opens on the built-in live demo and events arrive by themselves.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::replay::PlayState;
use eventlens::ui::{EventLensApp, StartOptions};
use std::time::{Duration, Instant};

#[test]
fn the_demo_streams_events_into_the_window_and_follows_them() {
    let opts = StartOptions {
        demo: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.state().store().topology.graph.edge_count() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
    }
    h.run_steps(2);
    let app = h.state();
    assert!(app.store().observations.len() > 3, "no live events arrived");
    assert_eq!(app.time_control().state, PlayState::Following);
    assert_eq!(app.cursor(), app.store().last_time());
    h.get_by_label("● Follow live");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "orders");
}
