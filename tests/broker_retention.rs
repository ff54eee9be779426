//! Retention against a real broker: a JetStream stream holds more events than the live
//! store may keep. eventlens keeps its budget and still counts every event and every
//! duplicate the publisher sent.
//!
//! Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use eventlens::analysis::Kind;
use eventlens::analysis::report::Report;
use eventlens::live::worker::{LiveWorker, NextStore};
use std::time::{Duration, Instant};

#[test]
fn a_jetstream_replay_larger_than_the_budget_keeps_every_count() {
    let tag = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let stream = format!("RETAIN{tag}");
    let subject = format!("retain{tag}.orders");
    let (events, twice) = (3000u64, 300u64);
    let rt = eventlens::source::runtime().expect("runtime");
    rt.block_on(async {
        let client = async_nats::connect("127.0.0.1:4222")
            .await
            .expect("NATS on 4222");
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("stream");
        let mut acks = Vec::new();
        for i in 0..events {
            // Every tenth event is published twice, with the same CloudEvents id (a
            // producer's retry): a duplicate publish the broker does not de-duplicate.
            for copy in 0..if i % 10 == 0 { 2 } else { 1 } {
                let mut h = async_nats::HeaderMap::new();
                h.insert("ce-specversion", "1.0");
                h.insert("ce-id", format!("order-{i}").as_str());
                h.insert("ce-source", "/test/retention");
                h.insert("ce-type", "com.example.OrderPlaced");
                h.insert("content-type", "application/json");
                h.insert("Nats-Msg-Id", format!("{i}-{copy}").as_str());
                let body = format!(r#"{{"order":{i},"copy":{copy}}}"#);
                acks.push(
                    js.publish_with_headers(subject.clone(), h, body.into())
                        .await
                        .expect("publish"),
                );
            }
        }
        for a in acks {
            a.await.expect("ack");
        }
    });
    let url =
        eventlens::source::BrokerUrl::parse(&format!("nats://127.0.0.1:4222/stream/{stream}"))
            .expect("URL");
    let feed = eventlens::live::broker::spawn_brokers(&[url]).expect("sources");
    let budget = 500;
    let worker = LiveWorker::on_feed_retaining(&feed, "live", NextStore::Cheaper, Some(budget))
        .expect("worker");
    let messages = events + twice;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    let snap = loop {
        assert!(Instant::now() < deadline, "not all messages arrived");
        if let Some(s) = worker.wait_snapshot(Duration::from_secs(5)) {
            most = most.max(s.store.events.len());
            if s.stats.records >= messages {
                break s;
            }
        }
    };
    assert!(most <= budget, "a snapshot held {most} events");
    assert!(snap.stats.folds > 0);
    let report = Report::build(&snap.store);
    assert_eq!(report.summary.events, events);
    assert_eq!(report.summary.observations, messages);
    let dup: u64 = snap
        .findings
        .iter()
        .filter(|f| f.kind == Kind::DuplicatePublish)
        .map(|f| f.count)
        .sum();
    assert_eq!(dup, twice, "{:#?}", snap.findings);
    let edge = report
        .topology
        .edges
        .iter()
        .find(|e| e.to == format!("channel:{subject}"))
        .expect("the publish edge");
    assert_eq!(edge.count, messages);
    drop(worker);
    drop(feed);
    rt.block_on(async {
        if let Ok(client) = async_nats::connect("127.0.0.1:4222").await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&stream)
                .await;
        }
    });
}
