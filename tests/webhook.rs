//! The CloudEvents webhook listener (`webhook://127.0.0.1:0/PATH`) with real clients: the
//! official `cloudevents-sdk` crate's reqwest binding (binary and structured mode) and
//! `curl` as a child process (binary, structured and batch). Malformed input gets its status
//! code and its counter, and the listener goes on serving after each. The Bearer token is
//! checked through `eventlens listen` in a child process (the token is an environment
//! variable, which a test must not set in its own process).

use cloudevents::binding::reqwest::{RequestBuilderExt, RequestSerializer};
use cloudevents::message::StructuredDeserializer;
use eventlens::source::decode::{Attr, DecodedEvent, Mode};
use eventlens::source::webhook::reason;
use eventlens::source::{self, BrokerUrl, Inbox, SourceStatus};
use std::time::Duration;

#[path = "common/sent_events.rs"]
mod sent_events;
use sent_events::{check_sdk_event, sdk_event, structured_json};

/// Starts a webhook source on a free port; returns its inbox and `http://ADDR/PATH`.
async fn listen(url: &str) -> (Inbox, String) {
    let url = BrokerUrl::parse(url).expect("URL");
    let path = match &url.endpoint {
        source::url::Endpoint::Webhook { path, .. } => path.clone(),
        other => panic!("not a webhook: {other:?}"),
    };
    let inbox = source::start(
        std::slice::from_ref(&url),
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match inbox.sources[0].status() {
            SourceStatus::Listening(addr) => return (inbox, format!("http://{addr}{path}")),
            SourceStatus::Connecting if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!("not listening: {other}"),
        }
    }
}

/// The next `n` messages' events, with their mode, as the pipeline decoded them; and
/// their capture lines.
async fn receive(inbox: &mut Inbox, n: usize) -> (Vec<(DecodedEvent, Mode)>, Vec<String>) {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for i in 0..n {
        let mut e = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .unwrap_or_else(|_| panic!("message {} of {n} did not arrive", i + 1))
            .expect("the source is running");
        let decoded = e.decoded.clone().expect("the webhook decodes each request");
        if let Ok(d) = decoded {
            events.extend(d.events.into_iter().map(|ev| (ev, d.mode)));
        }
        e.lines(&inbox.sources[0], &mut lines);
    }
    (events, lines)
}

fn by_id<'a>(events: &'a [(DecodedEvent, Mode)], id: &str) -> &'a (DecodedEvent, Mode) {
    events
        .iter()
        .find(|(e, _)| e.id == id)
        .unwrap_or_else(|| panic!("no event {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sends_binary_and_structured_events_that_arrive_with_attributes_and_data() {
    let (mut inbox, url) = listen("webhook://127.0.0.1:0/events").await;
    let client = reqwest::Client::new();
    let binary = client
        .post(&url)
        .event(sdk_event("sdk-binary"))
        .expect("binary mode")
        .send()
        .await
        .expect("sent");
    assert_eq!(binary.status(), 202);
    let structured = StructuredDeserializer::deserialize_structured(
        sdk_event("sdk-structured"),
        RequestSerializer::new(client.post(&url)),
    )
    .expect("structured mode")
    .send()
    .await
    .expect("sent");
    assert_eq!(structured.status(), 202);
    let (events, lines) = receive(&mut inbox, 2).await;
    let (b, mode) = by_id(&events, "sdk-binary");
    assert_eq!(*mode, Mode::Binary);
    check_sdk_event(b);
    let (s, mode) = by_id(&events, "sdk-structured");
    assert_eq!(*mode, Mode::Structured);
    check_sdk_event(s);
    // Observed on the path's channel, from this listener.
    let line: serde_json::Value = serde_json::from_str(&lines[0]).expect("capture line");
    assert_eq!(line["lenschannel"], "events");
    assert_eq!(line["lensbroker"], "webhook://127.0.0.1:0/events");
    let stats = &inbox.sources[0];
    assert_eq!(stats.answered(reason::ACCEPTED), 2);
    assert_eq!(stats.counters().received, 2);
    assert!(stats.status_text().starts_with("listening on 127.0.0.1:"));
}

/// `curl` with these arguments; its status code and body.
async fn curl(args: Vec<String>) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-s", "-S", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        match code.trim().parse() {
            Ok(c) if c != 0 => (c, body.to_string()),
            // No answer: what curl said is the body.
            _ => (0, String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    })
    .await
    .expect("curl task")
}

fn post(url: &str, headers: &[&str], body: &str) -> Vec<String> {
    let mut a = vec!["-X".to_string(), "POST".to_string(), url.to_string()];
    for h in headers {
        a.push("-H".into());
        a.push(h.to_string());
    }
    a.push("--data-binary".into());
    a.push(body.to_string());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_sends_binary_structured_and_batch_mode() {
    let (mut inbox, url) = listen("webhook://127.0.0.1:0/hooks/ce").await;
    let (code, _) = curl(post(
        &url,
        &[
            "ce-specversion: 1.0",
            "ce-id: curl-binary",
            "ce-source: /test/curl",
            "ce-type: com.example.Curl",
            // Percent-encoded as the HTTP binding says (3.1.3.2).
            "ce-subject: caf%C3%A9 %25 done",
            "ce-partitionkey: p-1",
            "content-type: text/plain",
        ],
        "hello over HTTP",
    ))
    .await;
    assert_eq!(code, 202);
    let (code, _) = curl(post(
        &url,
        &["content-type: application/cloudevents+json; charset=utf-8"],
        &structured_json("curl-structured"),
    ))
    .await;
    assert_eq!(code, 202);
    let batch = format!(
        "[{},{}]",
        structured_json("curl-batch-1"),
        structured_json("curl-batch-2")
    );
    let (code, _) = curl(post(
        &url,
        &["content-type: application/cloudevents-batch+json"],
        &batch,
    ))
    .await;
    assert_eq!(code, 202);
    let (events, lines) = receive(&mut inbox, 3).await;
    assert_eq!(events.len(), 4);
    assert_eq!(lines.len(), 4);
    let (b, mode) = by_id(&events, "curl-binary");
    assert_eq!(*mode, Mode::Binary);
    assert_eq!(b.subject.as_deref(), Some("café % done"));
    assert_eq!(b.datacontenttype.as_deref(), Some("text/plain"));
    assert_eq!(
        b.extensions,
        vec![("partitionkey".to_string(), Attr::Str("p-1".into()))]
    );
    assert_eq!(
        b.data.as_ref().map(|d| d.bytes.as_slice()),
        Some(&b"hello over HTTP"[..])
    );
    let (s, mode) = by_id(&events, "curl-structured");
    assert_eq!(*mode, Mode::Structured);
    assert_eq!(
        s.data.as_ref().map(|d| d.bytes.as_slice()),
        Some(&br#"{"n":1}"#[..])
    );
    for id in ["curl-batch-1", "curl-batch-2"] {
        let (e, mode) = by_id(&events, id);
        assert_eq!(*mode, Mode::Batch);
        assert_eq!(e.ty, "com.example.Curl");
    }
    assert_eq!(inbox.sources[0].answered(reason::ACCEPTED), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_its_status_and_counter_and_the_listener_goes_on_serving() {
    let (mut inbox, url) = listen("webhook://127.0.0.1:0/in?max_body=1KiB").await;
    let good = |id: &str| {
        post(
            &url,
            &["content-type: application/cloudevents+json"],
            &structured_json(id),
        )
    };
    let big = format!(
        r#"{{"specversion":"1.0","id":"big","source":"/s","type":"T","data":"{}"}}"#,
        "x".repeat(2000)
    );
    let cases: Vec<(&str, Vec<String>, u16, &str)> = vec![
        (
            "oversized",
            post(&url, &["content-type: application/cloudevents+json"], &big),
            413,
            reason::TOO_LARGE,
        ),
        (
            "not a CloudEvent",
            post(&url, &["content-type: text/plain"], "hello"),
            415,
            reason::BAD_CONTENT_TYPE,
        ),
        (
            "another event format",
            post(&url, &["content-type: application/cloudevents+xml"], "<e/>"),
            415,
            reason::BAD_CONTENT_TYPE,
        ),
        (
            "invalid JSON",
            post(
                &url,
                &["content-type: application/cloudevents+json"],
                r#"{"specversion":"1.0","id":"x", not json}"#,
            ),
            400,
            reason::BAD_EVENT,
        ),
        (
            "another path",
            post(&format!("{url}/elsewhere"), &[], "{}"),
            404,
            reason::NOT_FOUND,
        ),
        ("GET", vec![url.clone()], 405, reason::BAD_METHOD),
    ];
    for (i, (what, args, status, why)) in cases.into_iter().enumerate() {
        let before = inbox.sources[0].answered(why);
        let (code, body) = curl(args).await;
        assert_eq!(code, status, "{what}: {body}");
        assert_eq!(inbox.sources[0].answered(why), before + 1, "{what}");
        if status == 400 {
            assert!(body.contains("invalid JSON"), "{what}: {body}");
            // Recorded all the same: the undecodable message, then the good one.
            let (_, lines) = receive(&mut inbox, 1).await;
            let line: serde_json::Value = serde_json::from_str(&lines[0]).expect("line");
            assert!(
                line["lensundecodable"]
                    .as_str()
                    .is_some_and(|r| r.contains("invalid JSON")),
                "{line}"
            );
            let mut store = eventlens::model::Store::new();
            let mut input = eventlens::live::LiveInput::new(&mut store, "webhook");
            input.add(&mut store, &lines);
            let violations = &store.inputs[0].violations;
            assert_eq!(violations.len(), 1, "{violations:?}");
            assert!(violations[0].message.contains("invalid JSON"));
        }
        // The listener goes on serving.
        let (code, body) = curl(good(&format!("after-{i}"))).await;
        assert_eq!(code, 202, "after {what}: {body}");
        let (events, _) = receive(&mut inbox, 1).await;
        assert_eq!(events[0].0.id, format!("after-{i}"));
    }
    let stats = &inbox.sources[0];
    assert_eq!(stats.counters().undecodable, 1);
    assert_eq!(stats.answered(reason::ACCEPTED), 6);
    // The abuse-protection handshake.
    let (code, headers) = curl(vec![
        "-X".into(),
        "OPTIONS".into(),
        "-D".into(),
        "-".into(),
        "-o".into(),
        "/dev/null".into(),
        "-H".into(),
        "WebHook-Request-Origin: eventemitter.example.com".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(code, 200);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("webhook-allowed-origin: eventemitter.example.com"),
        "{headers}"
    );
}

/// `eventlens listen` in a child process with a token: a request without it or with
/// another one is refused, the right one is taken, and the report shows the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_requires_the_bearer_token_from_the_environment() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args([
            "listen",
            "http://127.0.0.1:0/secure",
            "--count",
            "1",
            "--json",
        ])
        .env("EVENTLENS_WEBHOOK_TOKEN", "s3cret-token")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eventlens runs");
    let addr = listening_addr(child.stderr.take().expect("stderr")).await;
    let url = format!("http://{addr}/secure");
    let event = |id: &str| {
        vec![
            "-H".to_string(),
            "content-type: application/cloudevents+json".to_string(),
            "--data-binary".to_string(),
            structured_json(id),
            url.clone(),
        ]
    };
    for auth in [None, Some("Bearer wrong"), Some("Basic czNjcmV0LXRva2Vu")] {
        let mut args = event("refused");
        if let Some(a) = auth {
            args.extend(["-H".to_string(), format!("Authorization: {a}")]);
        }
        let (code, _) = curl(args).await;
        assert_eq!(code, 401, "{auth:?}");
    }
    let mut args = event("with-token");
    args.extend([
        "-H".to_string(),
        "Authorization: Bearer s3cret-token".to_string(),
    ]);
    let (code, body) = curl(args).await;
    assert_eq!(code, 202, "{body}");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("wait")
        .expect("eventlens ends after --count 1");
    assert!(out.status.success(), "{:?}", out.status);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("/test/curl"), "{report}");
    assert!(!report.contains("s3cret-token"));
}

/// The address a child `eventlens` says it listens on (`listening on ADDR` on standard
/// error); the rest of its standard error is read to its end so it never blocks on it.
async fn listening_addr(stderr: std::process::ChildStderr) -> String {
    use std::io::BufRead;
    tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on ")
                    .map(|(_, a)| a.trim().to_string())
            })
            .expect("listening on ADDR");
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        addr
    })
    .await
    .expect("reader")
}

/// `eventlens record` with a webhook URL writes what arrives as a capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_what_the_webhook_receives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("hooks.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(["record", "webhook://127.0.0.1:0/rec", "--count", "2", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("eventlens runs");
    let addr = listening_addr(child.stderr.take().expect("stderr")).await;
    let url = format!("http://{addr}/rec");
    for id in ["rec-1", "rec-2"] {
        let (code, body) = curl(post(
            &url,
            &["content-type: application/cloudevents+json"],
            &structured_json(id),
        ))
        .await;
        assert_eq!(code, 202, "{body}");
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("wait")
        .expect("eventlens ends after --count 2");
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).expect("the capture");
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            assert_eq!(v["lenschannel"], "rec");
            assert_eq!(v["lensmode"], "structured");
            v["id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(ids, ["rec-1", "rec-2"]);
}

/// When the pipeline is full, a request waits for room rather than being dropped, and is
/// answered once the consumer has taken what was ahead of it; a request still waiting when
/// the pipeline shuts down is answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pipeline_makes_the_sender_wait_and_loses_nothing() {
    let url = BrokerUrl::parse("webhook://127.0.0.1:0/slow").expect("URL");
    // The smallest byte budget (64 KiB): two 40 KB events do not fit at once.
    let mut inbox = source::start(
        std::slice::from_ref(&url),
        &tokio::runtime::Handle::current(),
        1 << 16,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let addr = loop {
        match inbox.sources[0].status() {
            SourceStatus::Listening(addr) => break addr,
            _ => {
                assert!(tokio::time::Instant::now() < deadline, "not listening");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let event = |id: &str| {
        format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"/s","type":"T","data":"{}"}}"#,
            "x".repeat(40_000)
        )
    };
    let client = reqwest::Client::new();
    let send = |id: &str| {
        client
            .post(format!("http://{addr}/slow"))
            .header("content-type", "application/cloudevents+json")
            .body(event(id))
            .send()
    };
    assert_eq!(send("first").await.expect("sent").status(), 202);
    let second = tokio::spawn(send("second"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the second request was not held back"
    );
    let first = inbox.recv().await.expect("the first message");
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("answered once there is room")
        .expect("task")
        .expect("sent");
    assert_eq!(answer.status(), 202);
    // The second now holds the budget: a third waits, until the pipeline shuts down,
    // and is told so.
    let third = tokio::spawn(send("third"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "the third request was not held back");
    inbox.stop();
    let answer = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("answered at shutdown")
        .expect("task")
        .expect("sent");
    assert_eq!(answer.status(), 503);
    assert_eq!(
        answer.text().await.expect("body").trim(),
        "eventlens is shutting down"
    );
    let stats = &inbox.sources[0];
    assert_eq!(stats.answered(reason::SHUTTING_DOWN), 1);
    assert_eq!(stats.answered(reason::ACCEPTED), 2);
    assert_eq!(stats.counters().dropped, 0);
    let second = inbox
        .try_recv()
        .expect("the second message, taken before shutdown");
    assert!(
        matches!(&second.decoded, Some(Ok(d)) if d.events[0].id == "second"),
        "{:?}",
        second.msg.meta
    );
}

/// The app's Connect dialog: the webhook preset fills the URL field; a webhook URL
/// connects, shows `listening on ADDR` and its answers, and what curl sends is drawn.
#[test]
fn the_connect_dialog_listens_and_draws_what_arrives() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};
    use eventlens::ui::{EventLensApp, StartOptions};
    use std::time::Instant;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    h.state_mut().command(eventlens::ui::Command::OpenConnect);
    h.run_steps(2);
    h.get_by_label_contains("Webhook: CloudEvents over HTTP")
        .click();
    h.run_steps(2);
    assert_eq!(
        h.get_by_label("Broker URL").value().as_deref(),
        Some("webhook://127.0.0.1:8080/events")
    );
    // Port 0 rather than the preset's 8080, which something else may hold.
    h.get_by_label("Broker URL").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Broker URL")
        .type_text("webhook://127.0.0.1:0/ui-hook");
    h.run_steps(1);
    h.get_by_label("Connect").click();
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        h.run_steps(1);
        if let Some(n) = h.query_by_label_contains("listening on ") {
            // A label's text is its accessible value.
            let label = n.accesskit_node().value().unwrap_or_default();
            break label
                .split_once("listening on ")
                .map(|(_, a)| a.trim().to_string())
                .unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "the listener never shows");
        std::thread::sleep(Duration::from_millis(50));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for i in 0..3 {
        let (code, body) = rt.block_on(curl(post(
            &format!("http://{addr}/ui-hook"),
            &["content-type: application/cloudevents+json"],
            &structured_json(&format!("ui-{i}")),
        )));
        assert_eq!(code, 202, "{addr}: {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.state().store().events.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the events never reach the window"
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(3);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "ui-hook");
    h.get_by_label_contains("answered: 3 accepted");
}
