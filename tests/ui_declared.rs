//! The app opened on a capture holding declared topology (as `eventlens record` writes it
//! from a broker): the declared consumers are drawn on the graph, with a declared edge from
//! their channel, and the idle one is in the findings panel.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use eventlens::analysis::Kind;
use eventlens::ui::{EventLensApp, StartOptions};

fn declared(consumer: &str, figures: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"declared:orders/{consumer}@t","source":"nats://127.0.0.1:4222/stream/orders","type":"io.eventlens.declared","recordedtime":"2024-05-01T10:00:05Z","lensstage":"declared","lenschannel":"orders","lenshandler":"{consumer}","lenssystem":"nats","lensdeclaredkind":"jetstream-consumer"{figures}}}"#
    )
}

#[test]
fn declared_consumers_are_drawn_and_the_idle_one_is_a_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("declared.jsonl");
    let mut lines: Vec<String> = (1..=3)
        .map(|i| {
            format!(
                r#"{{"specversion":"1.0","id":"e-{i}","source":"/shop","type":"OrderPlaced","recordedtime":"2024-05-01T10:00:0{i}Z","lensstage":"publish","lenschannel":"orders"}}"#
            )
        })
        .collect();
    lines.push(declared(
        "billing",
        r#","lensdelivered":"3","lenspending":"0""#,
    ));
    lines.push(declared(
        "audit",
        r#","lensdelivered":"0","lenspending":"3""#,
    ));
    std::fs::write(&path, lines.join("\n")).expect("write");
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(move |cc| {
            EventLensApp::new(
                cc,
                StartOptions {
                    files: vec![path],
                    ..Default::default()
                },
            )
        });
    h.state_mut().wait_until_loaded();
    h.run_steps(4);
    // Graph nodes are buttons named after the node: the declared consumers are drawn.
    for name in ["orders", "billing", "audit"] {
        h.get_by_role_and_label(egui::accesskit::Role::Button, name);
    }
    let store = h.state().store();
    let declared_edges = store
        .topology
        .graph
        .edge_weights()
        .filter(|e| e.declared)
        .count();
    assert_eq!(declared_edges, 2);
    let idle: Vec<_> = h
        .state()
        .findings()
        .iter()
        .filter(|f| f.kind == Kind::IdleConsumer)
        .map(|f| f.title.clone())
        .collect();
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert!(idle[0].starts_with("audit:"), "{idle:?}");
    // The findings panel lists it.
    h.get_by_label(&idle[0]);
}
