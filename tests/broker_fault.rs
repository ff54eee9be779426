//! A JetStream source outlives its server: the test starts its own `nats-server` on a free
//! port, kills it mid-stream, starts it again on the same storage, and the source ends
//! with every message exactly once. Run with `cargo test --features broker-tests`.
#![cfg(feature = "broker-tests")]

use eventlens::source::{self, BrokerUrl, SourceStatus};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NATS_SERVER: &str = "/usr/sbin/nats-server";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_server(port: u16, dir: &Path) -> Child {
    let child = Command::new(NATS_SERVER)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Publishes message `i` until the server acknowledges it; `Nats-Msg-Id` makes a retried
/// publish that did land count once.
async fn publish_acked(js: &async_nats::jetstream::Context, i: u32) {
    loop {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("m-{i}").as_str());
        h.insert("content-type", "application/cloudevents+json");
        let body = format!(
            r#"{{"specversion":"1.0","id":"m-{i}","source":"/fault","type":"Tick","data":{{"i":{i}}}}}"#
        );
        if let Ok(ack) = js.publish_with_headers("fault.ticks", h, body.into()).await
            && let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), ack).await
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn jetstream_source_survives_a_server_restart_with_every_message_exactly_once() {
    const TOTAL: u32 = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start_server(port, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let js = rt.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .max_reconnects(None)
            .retry_on_initial_connect()
            .connect(format!("127.0.0.1:{port}"))
            .await
            .expect("connect");
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "FAULT".into(),
            subjects: vec!["fault.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
        js
    });
    let url = BrokerUrl::parse(&format!("nats://127.0.0.1:{port}/stream/FAULT")).expect("URL");
    let mut inbox = source::start(
        std::slice::from_ref(&url),
        rt.handle(),
        source::DEFAULT_BUDGET,
    );
    // The publisher runs all along, across the restart.
    let publisher = {
        let js = js.clone();
        rt.spawn(async move {
            for i in 0..TOTAL {
                publish_acked(&js, i).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let mut seqs = Vec::new();
    let mut ids = Vec::new();
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    while ids.len() < TOTAL as usize {
        assert!(
            Instant::now() < deadline,
            "received {} of {TOTAL}: {}",
            ids.len(),
            inbox.sources[0].summary()
        );
        match inbox.try_recv() {
            Some(e) => {
                seqs.push(e.msg.meta.sequence.expect("a stream sequence"));
                ids.push(e.msg.meta.message_id.clone().expect("Nats-Msg-Id"));
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
        if !restarted && ids.len() >= 100 {
            // Mid-stream: kill the server, wait, start it again on the same storage.
            server.kill().expect("kill nats-server");
            let _ = server.wait();
            let down = Instant::now();
            while !matches!(inbox.sources[0].status(), SourceStatus::Reconnecting { .. })
                && down.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                matches!(inbox.sources[0].status(), SourceStatus::Reconnecting { .. }),
                "the source did not notice: {}",
                inbox.sources[0].summary()
            );
            std::thread::sleep(Duration::from_millis(1500));
            server = start_server(port, dir.path());
            restarted = true;
        }
    }
    rt.block_on(publisher).expect("publisher");
    // Nothing more arrives: no duplicate after the last one either.
    std::thread::sleep(Duration::from_millis(1000));
    while let Some(e) = inbox.try_recv() {
        ids.push(e.msg.meta.message_id.clone().unwrap_or_default());
    }
    assert!(restarted);
    assert_eq!(ids.len(), TOTAL as usize, "duplicates after the restart");
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), TOTAL as usize);
    let want: BTreeSet<String> = (0..TOTAL).map(|i| format!("m-{i}")).collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), want);
    // In stream order, no gap, none twice.
    assert_eq!(seqs, (1..=u64::from(TOTAL)).collect::<Vec<_>>());
    assert!(inbox.sources[0].counters().connects >= 2);
    drop(inbox);
    let _ = server.kill();
    let _ = server.wait();
}
