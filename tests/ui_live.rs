//! With no file, the app opens on the built-in live demo and events arrive by themselves.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::replay::PlayState;
use eventlens::ui::{EventLensApp, StartOptions};
use std::time::{Duration, Instant};

/// The window as `eventlens` with no arguments opens it: on the live demo.
fn demo_window() -> Harness<'static, EventLensApp> {
    let opts = StartOptions {
        demo: true,
        ..Default::default()
    };
    Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts))
}

#[test]
fn the_demo_streams_events_into_the_window_and_follows_them() {
    let mut h = demo_window();
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

/// The live store is the worker's: the window's store grows snapshot by snapshot, each one
/// finalized and analysed on the worker's thread, never on the UI's (the harness draws the
/// app on this thread).
#[test]
fn the_window_shows_the_workers_snapshots_as_the_demo_runs() {
    let mut h = demo_window();
    let ui_thread = std::thread::current().id();
    // (snapshot, observations shown, records the worker appended)
    let mut seen: Vec<(u64, usize, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
        let app = h.state();
        let Some(stats) = app.live_stats() else {
            continue;
        };
        if seen.last().is_some_and(|&(g, _, _)| g == stats.generation) {
            continue;
        }
        assert_ne!(stats.built_on, ui_thread, "finalized on the UI thread");
        // One finalize per snapshot, all of them the worker's.
        assert_eq!(stats.finalizes, stats.generation);
        seen.push((
            stats.generation,
            app.store().observations.len(),
            stats.records,
        ));
    }
    assert!(seen.len() >= 4, "snapshots seen: {seen:?}");
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2),
        "{seen:?}"
    );
    let (first, last) = (seen[0], seen[seen.len() - 1]);
    assert!(last.1 > first.1, "the store did not grow: {seen:?}");
}
