//! The app opened on a broker URL (`eventlens nats://...`) shows what is published there
//! on the flow graph. Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::source::BrokerUrl;
use eventlens::ui::{EventLensApp, StartOptions};
use std::time::{Duration, Instant};

/// A subject of this run's own.
fn unique_base(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("eltest.{what}.{}{nanos}", std::process::id())
}

/// Publishes CloudEvents to `channel` on the local NATS until the window holds three
/// events (core NATS keeps nothing: what is published before the source subscribed is
/// gone).
fn publish_until_shown(
    h: &mut Harness<'static, EventLensApp>,
    channel: &str,
    prefix: &str,
    source: &str,
    ty: &str,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt
        .block_on(async_nats::connect("127.0.0.1:4222"))
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while h.state().store().events.len() < 3 {
        assert!(Instant::now() < deadline, "no events reached the window");
        let body = format!(
            r#"{{"specversion":"1.0","id":"{prefix}-{i}","source":"{source}","type":"{ty}","data":{{"n":{i}}}}}"#
        );
        rt.block_on(async {
            client
                .publish(channel.to_string(), body.into())
                .await
                .expect("publish");
            client.flush().await.expect("flush");
        });
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
    }
}

#[test]
fn the_app_connected_to_nats_draws_the_published_events() {
    let base = unique_base("ui");
    let url = BrokerUrl::parse(&format!("nats://127.0.0.1:4222/{base}.>")).expect("URL");
    let opts = StartOptions {
        sources: vec![url],
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| EventLensApp::new(cc, opts));
    h.run_steps(2);
    let channel = format!("{base}.orders");
    publish_until_shown(&mut h, &channel, "ui", "/ui/producer", "OrderPlaced");
    h.run_steps(3);
    let app = h.state();
    assert!(
        app.store().find_event("/ui/producer", "ui-0").is_some() || app.store().events.len() >= 3
    );
    assert!(app.store().topology.graph.edge_count() >= 1);
    // The channel is drawn on the graph, named by its subject.
    h.get_by_role_and_label(egui::accesskit::Role::Button, &channel);
}

/// The Connect dialog: a URL typed in, Connect, and the published events on the graph, with
/// the source's status and counters in the dialog. A password typed into a URL is never
/// shown afterwards, not even in the error the broker answers with.
#[test]
fn the_connect_dialog_connects_to_nats_and_shows_status_and_counters() {
    let base = unique_base("dialog");
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    h.state_mut().command(eventlens::ui::Command::OpenConnect);
    h.run_steps(2);
    h.get_by_label("Broker URL").click();
    h.run_steps(1);
    h.get_by_label("Broker URL")
        .type_text(&format!("nats://127.0.0.1:4222/{base}.>"));
    h.run_steps(1);
    h.get_by_label("Connect").click();
    h.run_steps(2);
    let channel = format!("{base}.payments");
    publish_until_shown(&mut h, &channel, "dlg", "/dialog/producer", "PaymentTaken");
    h.run_steps(3);
    h.get_by_role_and_label(egui::accesskit::Role::Button, &channel);
    // The status table: connected, and counting.
    h.get_by_label("connected");
    h.get_by_label(&format!("nats://127.0.0.1:4222/{base}.>"));

    // Wrong credentials for RabbitMQ: the broker refuses, the status says so, and the
    // password appears nowhere in the window.
    let secret = "s3cretPW";
    let field = h.get_by_label("Broker URL");
    field.click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Broker URL").type_text(&format!(
        "amqp://nobody:{secret}@127.0.0.1:5672/%2f?exchange=amq.topic&key=%23"
    ));
    h.run_steps(1);
    h.get_by_label("Connect").click();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        h.run_steps(1);
        if h.query_by_label_contains("reconnecting").is_some()
            || h.query_by_label_contains("ended").is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the refusal is never shown");
    }
    let leaks = h
        .query_all(egui_kittest::kittest::by().predicate(|n| {
            n.label().is_some_and(|l| l.contains(secret))
                || n.value().is_some_and(|v| v.contains(secret))
        }))
        .count();
    assert_eq!(leaks, 0, "the password shows in the window");
}
