//! The app opened on a broker URL (`eventlens nats://...`) shows what is published there
//! on the flow graph. Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::source::BrokerUrl;
use eventlens::ui::{EventLensApp, StartOptions};
use std::time::{Duration, Instant};

#[test]
fn the_app_connected_to_nats_draws_the_published_events() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = format!("eltest.ui.{}{nanos}", std::process::id());
    let url = BrokerUrl::parse(&format!("nats://127.0.0.1:4222/{base}.>")).expect("URL");
    let opts = StartOptions {
        sources: vec![url],
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    h.run_steps(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt
        .block_on(async_nats::connect("127.0.0.1:4222"))
        .expect("connect");
    let channel = format!("{base}.orders");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    // Core NATS keeps nothing: publish until the source, once subscribed, has seen some.
    while h.state().store().events.len() < 3 {
        assert!(Instant::now() < deadline, "no events reached the window");
        let body = format!(
            r#"{{"specversion":"1.0","id":"ui-{i}","source":"/ui/producer","type":"OrderPlaced","data":{{"n":{i}}}}}"#
        );
        rt.block_on(async {
            client
                .publish(channel.clone(), body.into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        });
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
    }
    h.run_steps(3);
    let app = h.state();
    assert!(
        app.store().find_event("/ui/producer", "ui-0").is_some() || app.store().events.len() >= 3
    );
    assert!(app.store().topology.graph.edge_count() >= 1);
    // The channel is drawn on the graph, named by its subject.
    h.get_by_role_and_label(egui::accesskit::Role::Button, &channel);
}
