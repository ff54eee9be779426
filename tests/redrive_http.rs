//! Re-drive to an HTTP endpoint: the real `eventlens replay --to` binary (and the library's
//! runner) sending the re-drive fixture to an in-process receiver, which checks what
//! arrived: which events, in which order, with which attributes and data, how paced, and
//! what happens when the receiver fails.

mod common;

use common::receiver::{Received, Receiver};
use eventlens::redrive::{Mode, Options, Pacing, RedriveRun, Target};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/redrive/orders.jsonl")
}

/// The fixture's events, in time order (see tests/fixtures/redrive/README.md).
const ALL: [&str; 6] = ["ord-1", "ord-2", "note-1", "bin-1", "ord-3", "ord-4"];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn replay(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .arg("replay")
        .arg(fixture())
        .args(args)
        .output()
        .expect("eventlens runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.header("ce-id").unwrap_or("(none)").to_string())
        .collect()
}

fn structured_ids(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["id"].as_str().unwrap_or("(none)").to_string())
        .collect()
}

#[test]
fn binary_mode_delivers_each_event_once_in_order_with_its_attributes_and_data() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--asap"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    // ord-1 and ord-2 were delivered twice and three times in the capture: one each here.
    assert_eq!(ids(&got), ALL);
    assert!(
        got.iter()
            .all(|r| r.method == "POST" && r.path == "/events")
    );
    let ord1 = &got[0];
    assert_eq!(ord1.header("ce-specversion"), Some("1.0"));
    assert_eq!(ord1.header("ce-type"), Some("com.example.shop.OrderPlaced"));
    assert_eq!(ord1.header("ce-source"), Some("producer-service"));
    assert_eq!(ord1.header("ce-subject"), Some("order/1"));
    assert_eq!(ord1.header("ce-time"), Some("2026-03-02T09:00:00.000Z"));
    assert_eq!(
        ord1.header("ce-traceparent"),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(ord1.header("content-type"), Some("application/json"));
    assert_eq!(
        ord1.json(),
        serde_json::json!({"orderId": "ord-1", "total": 37.5})
    );
    assert_eq!(got[1].header("ce-correlationid"), Some("cart-7"));
    // Text data goes as the text, with its content type; the capture's JSON string quotes
    // are not part of it.
    let note = &got[2];
    assert_eq!(note.header("ce-source"), Some("notes-service"));
    assert_eq!(note.header("content-type"), Some("text/plain"));
    assert_eq!(note.body, b"hello world");
    // data_base64 goes as the bytes it encodes.
    let blob = &got[3];
    assert_eq!(
        blob.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(blob.body, [0u8, 1, 2, 3, 0xff]);
    assert_eq!(got[4].header("ce-priority"), Some("5"));
    assert_eq!(
        got[4].header("ce-type"),
        Some("com.example.shop.OrderCancelled")
    );
    // Captures' own observation attributes are not event attributes.
    assert!(
        got.iter()
            .all(|r| r.header("ce-lensstage").is_none() && r.header("ce-recordedtime").is_none())
    );
    assert!(
        run.stdout.contains("6 delivered, 0 not delivered"),
        "{}",
        run.stdout
    );
}

#[test]
fn structured_mode_sends_the_whole_event_as_cloudevents_json() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--asap", "--mode", "structured"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    assert_eq!(structured_ids(&got), ALL);
    assert!(
        got.iter()
            .all(|r| r.header("content-type") == Some("application/cloudevents+json"))
    );
    let ord1 = got[0].json();
    assert_eq!(ord1["specversion"], "1.0");
    assert_eq!(ord1["type"], "com.example.shop.OrderPlaced");
    assert_eq!(ord1["source"], "producer-service");
    assert_eq!(ord1["subject"], "order/1");
    assert_eq!(ord1["datacontenttype"], "application/json");
    assert_eq!(
        ord1["data"],
        serde_json::json!({"orderId": "ord-1", "total": 37.5})
    );
    assert!(ord1.get("lensstage").is_none() && ord1.get("recordedtime").is_none());
    assert_eq!(got[2].json()["data"], "hello world");
    assert_eq!(got[3].json()["data_base64"], "AAECA/8=");
    // Extensions keep their JSON types.
    assert_eq!(got[4].json()["priority"], 5);
}

#[test]
fn filter_and_window_choose_the_events() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--asap", "--filter", "type:OrderPlaced"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert_eq!(ids(&rx.received()), ["ord-1", "ord-2", "ord-4"]);

    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--asap", "--window", "0.4..1.2"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert_eq!(ids(&rx.received()), ["ord-2", "note-1"]);
}

#[test]
fn rewritten_ids_are_fresh_and_point_at_the_originals() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--asap", "--rewrite-ids"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    assert_eq!(got.len(), ALL.len());
    let new_ids = ids(&got);
    let mut unique = new_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ALL.len(),
        "fresh ids are distinct: {new_ids:?}"
    );
    for (r, original) in got.iter().zip(ALL) {
        assert_ne!(r.header("ce-id"), Some(original));
        assert_eq!(r.header("ce-causationid"), Some(original));
    }
    // Structured mode too.
    let rx = Receiver::start();
    let run = replay(&[
        "--to",
        &rx.url,
        "--asap",
        "--rewrite-ids",
        "--mode",
        "structured",
    ]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    for (r, original) in rx.received().iter().zip(ALL) {
        let j = r.json();
        assert_ne!(j["id"], original);
        assert_eq!(j["causationid"], original);
    }
}

#[test]
fn speed_scales_the_original_timing() {
    // The fixture spans 4 s; at --speed 2 the run lasts 2 s, the events 0, 0.25, 0.5,
    // 0.75, 1.5 and 2 s after the first.
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--speed", "2"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    assert_eq!(ids(&got), ALL);
    let expected = [0.25, 0.25, 0.25, 0.75, 0.5];
    let gaps: Vec<f64> = got
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    let total = (got[5].at - got[0].at).as_secs_f64();
    eprintln!(
        "pacing at --speed 2: gaps {gaps:.3?} s (expected {expected:?}), total {total:.3} s (expected 2.000)"
    );
    for (g, e) in gaps.iter().zip(expected) {
        assert!(
            (g - e).abs() <= 0.2 * e,
            "gap {g:.3} s, expected {e} s ±20%"
        );
    }
    assert!((total - 2.0).abs() <= 0.2 * 2.0, "total {total:.3} s");
}

#[test]
fn a_fixed_rate_spaces_the_events_evenly() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--rate", "10/s"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    assert_eq!(got.len(), 6);
    let gaps: Vec<f64> = got
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    eprintln!("pacing at --rate 10/s: gaps {gaps:.3?} s (expected 0.100 each)");
    for g in gaps {
        assert!((g - 0.1).abs() <= 0.02, "gap {g:.3} s, expected 0.1 s ±20%");
    }
}

#[test]
fn a_receiver_failing_twice_gets_the_event_after_retries() {
    let rx = Receiver::answering(&[500, 500]);
    let run = replay(&["--to", &rx.url, "--asap", "--filter", "id:ord-1"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let got = rx.received();
    assert_eq!(ids(&got), ["ord-1", "ord-1", "ord-1"]);
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    // The backoff waited between the attempts.
    assert!(got[1].at - got[0].at >= Duration::from_millis(50));
    assert!(
        run.stdout.contains("1 delivered, 0 not delivered"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_receiver_answering_400_makes_the_cli_fail_naming_the_undelivered_ids() {
    let rx = Receiver::answering(&[400, 400, 400]);
    let run = replay(&["--to", &rx.url, "--asap", "--filter", "type:OrderPlaced"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    // A client error is not retried: one attempt per event.
    assert_eq!(ids(&rx.received()), ["ord-1", "ord-2", "ord-4"]);
    for id in ["ord-1", "ord-2", "ord-4"] {
        assert!(
            run.stdout.contains(&format!("not delivered: {id} ")),
            "{id} named: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("HTTP 400"), "{}", run.stdout);
    assert!(
        run.stdout.contains("0 delivered, 3 not delivered"),
        "{}",
        run.stdout
    );
}

#[test]
fn too_many_requests_is_retried_but_a_persistent_failure_is_reported() {
    let rx = Receiver::answering(&[429, 503, 503, 503]);
    let run = replay(&[
        "--to",
        &rx.url,
        "--asap",
        "--filter",
        "id:ord-1",
        "--retries",
        "2",
    ]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_eq!(rx.received().len(), 3, "the first attempt and two retries");
    assert!(
        run.stdout.contains("not delivered: ord-1"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("503"), "{}", run.stdout);
}

#[test]
fn credentials_in_the_target_are_never_printed() {
    // Nothing listens on this port: a connection error, reported with the redacted URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://alice:s3cr3t-pw@127.0.0.1:{port}/hook");
    let run = replay(&[
        "--to",
        &url,
        "--asap",
        "--retries",
        "0",
        "--filter",
        "id:ord-1",
    ]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("not delivered: ord-1"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("127.0.0.1:{port}/hook")));
    assert!(!run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"));
    assert!(!run.stdout.contains("alice") && !run.stderr.contains("alice"));

    let run = replay(&["--to", &url, "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"));
}

#[test]
fn dry_run_prints_what_would_be_sent_and_sends_nothing() {
    let rx = Receiver::start();
    let run = replay(&["--to", &rx.url, "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(lines[0].contains("0.000s") && lines[0].contains("ord-1"));
    assert!(lines[2].contains("1.000s") && lines[2].contains("note-1"));
    assert!(lines[2].contains("com.example.Note") && lines[2].contains("notes-service"));
    assert!(lines.iter().all(|l| l.ends_with(&rx.url)));
    std::thread::sleep(Duration::from_millis(100));
    assert!(rx.received().is_empty());
    // Without a target: the channel each event was captured on.
    let run = replay(&["--dry-run", "--speed", "4"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .nth(5)
            .is_some_and(|l| l.contains("1.000s"))
    );
    assert!(run.stdout.contains("captured on notes"), "{}", run.stdout);
    // And no target without --dry-run is a usage error.
    let run = replay(&[]);
    assert_ne!(run.code, Some(0));
}

#[test]
fn a_broker_target_without_a_channel_names_each_events_own() {
    let run = replay(&["--to", "nats://127.0.0.1:4222", "--dry-run"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("note-1") && run.stdout.contains("nats://127.0.0.1:4222/notes"));
    assert!(run.stdout.contains("nats://127.0.0.1:4222/orders"));
}

/// The runner as the app uses it: progress, pause, resume and stop.
#[test]
fn the_runner_pauses_resumes_and_stops() {
    let rx = Receiver::start();
    let mut store = eventlens::model::Store::new();
    let progress = eventlens::ingest::LoadProgress::default();
    eventlens::ingest::load_path(&mut store, &fixture(), &progress).expect("loads");
    store.finalize();
    let events = eventlens::redrive::events_of(&store, 0..store.observations.len() as u32);
    assert_eq!(events.len(), 6);
    let target = Target::parse(&rx.url).expect("target");
    let plan = eventlens::redrive::Redrive::from_store(
        &store,
        &events,
        target,
        Options {
            pacing: Pacing::Rate(10.0),
            mode: Mode::Binary,
            ..Options::default()
        },
    );
    let rt = eventlens::source::runtime().expect("runtime");
    let run = RedriveRun::start(plan, rt.handle(), None);
    rx.wait_for(2, Duration::from_secs(5));
    run.pause();
    std::thread::sleep(Duration::from_millis(100));
    let at_pause = rx.received().len();
    assert!(run.progress().paused || run.progress().sent >= at_pause);
    std::thread::sleep(Duration::from_millis(400));
    // Nothing more while paused (one send may have been in flight when it was asked).
    assert_eq!(rx.received().len(), at_pause);
    assert!(run.progress().paused);
    run.resume();
    rx.wait_for(at_pause + 1, Duration::from_secs(5));
    run.stop();
    let summary = run.wait();
    assert!(summary.stopped);
    let delivered = summary.delivered();
    assert_eq!(delivered, rx.received().len());
    assert!(delivered < 6, "stopped before the end");
    assert_eq!(summary.deliveries.len(), 6);
    assert!(
        summary
            .undelivered()
            .all(|d| d.error.as_deref() == Some("not sent: stopped") && d.attempts == 0)
    );
    assert!(!summary.is_success());
    let p = run.progress();
    assert!(p.finished);
    assert_eq!(p.sent, delivered);
}

/// The official CloudEvents SDK (`cloudevents-sdk`) is the judge: it reads every request
/// the re-drive sent, in binary and in structured mode, as the same event it reads from the
/// capture's own line (the capture's `lens*` and `recordedtime` observation attributes
/// aside, which are not event attributes).
#[test]
fn the_official_sdk_reads_each_request_as_the_captured_event() {
    use cloudevents::{AttributesReader, Event};
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let mut captured: Vec<Event> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let e: Event = serde_json::from_str(line).expect("the SDK reads the fixture");
        if !captured
            .iter()
            .any(|c| c.id() == e.id() && c.source() == e.source())
        {
            captured.push(e);
        }
    }
    let event_extensions = |e: &Event| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = e
            .iter_extensions()
            .filter(|(k, _)| !k.starts_with("lens") && *k != "recordedtime")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    };
    for mode in ["binary", "structured"] {
        let rx = Receiver::start();
        let run = replay(&["--to", &rx.url, "--asap", "--mode", mode]);
        assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
        let got = rx.received();
        assert_eq!(got.len(), captured.len(), "{mode}");
        for (r, want) in got.iter().zip(&captured) {
            let mut headers = reqwest::header::HeaderMap::new();
            for (k, v) in &r.headers {
                headers.append(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                    reqwest::header::HeaderValue::from_str(v).expect("a header value"),
                );
            }
            let e = cloudevents::binding::http::to_event(&headers, r.body.clone())
                .unwrap_or_else(|err| panic!("{mode}: the SDK cannot read {r:?}: {err}"));
            let what = format!("{mode} {}", want.id());
            assert_eq!(e.specversion(), want.specversion(), "{what}");
            assert_eq!(e.id(), want.id(), "{what}");
            assert_eq!(e.source(), want.source(), "{what}");
            assert_eq!(e.ty(), want.ty(), "{what}");
            assert_eq!(e.subject(), want.subject(), "{what}");
            assert_eq!(e.time(), want.time(), "{what}");
            assert_eq!(e.dataschema(), want.dataschema(), "{what}");
            assert_eq!(event_extensions(&e), event_extensions(want), "{what}");
            // Data compares as what it means: JSON as JSON, text as text, bytes as bytes.
            let data = |e: &Event| match e.data() {
                Some(cloudevents::Data::Json(v)) => Some(v.clone()),
                Some(cloudevents::Data::String(s)) => Some(serde_json::Value::String(s.clone())),
                Some(cloudevents::Data::Binary(b)) => serde_json::from_slice(b)
                    .ok()
                    .or_else(|| {
                        std::str::from_utf8(b)
                            .ok()
                            .map(|s| serde_json::Value::String(s.into()))
                    })
                    .or_else(|| Some(serde_json::json!(b))),
                None => None,
            };
            assert_eq!(data(&e), data(want), "{what}");
        }
    }
}
