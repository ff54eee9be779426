//! Findings on captures written by a small generator of our own in this file (not the
//! simulator): plain CloudEvents capture lines with known bursts, duplicates, loops and
//! schema problems; and `analyze --fail-on` run as a process.

use eventlens::analysis::{AnalysisConfig, Finding, Kind, Severity, analyze};
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2026-01-01T00:00:00Z in milliseconds.
const T0_MS: i64 = 1_767_225_600_000;

fn ts(ms: f64) -> String {
    let total = T0_MS as f64 + ms;
    let secs = (total / 1000.0).floor() as i64;
    let micros = ((total - secs as f64 * 1000.0) * 1000.0).round() as i64;
    let day = secs.rem_euclid(86_400);
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:06}Z",
        day / 3600,
        day / 60 % 60,
        day % 60,
        micros
    )
}

/// A minimal capture writer: one CloudEvent per observation.
struct Gen {
    lines: Vec<String>,
}

impl Gen {
    fn new() -> Self {
        Gen { lines: Vec::new() }
    }

    fn event(id: &str, source: &str, ty: &str, data: Value) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("specversion".into(), json!("1.0"));
        m.insert("id".into(), json!(id));
        m.insert("source".into(), json!(source));
        m.insert("type".into(), json!(ty));
        m.insert("datacontenttype".into(), json!("application/json"));
        m.insert("data".into(), data);
        m
    }

    fn push(&mut self, mut m: serde_json::Map<String, Value>, at_ms: f64, ext: Value) {
        m.insert("recordedtime".into(), json!(ts(at_ms)));
        if let Value::Object(e) = ext {
            m.extend(e);
        }
        self.lines.push(Value::Object(m).to_string());
    }

    fn publish(&mut self, id: &str, source: &str, ty: &str, channel: &str, at: f64, data: Value) {
        let m = Self::event(id, source, ty, data);
        self.push(
            m,
            at,
            json!({"lensstage": "publish", "lenschannel": channel}),
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn handle(
        &mut self,
        id: &str,
        source: &str,
        ty: &str,
        channel: &str,
        handler: &str,
        at: f64,
        attempt: u32,
        outcome: &str,
        dur_us: u64,
    ) {
        let m = Self::event(id, source, ty, json!({}));
        self.push(
            m.clone(),
            at,
            json!({"lensstage": "deliver", "lenschannel": channel, "lenshandler": handler, "lensattempt": attempt}),
        );
        self.push(
            m,
            at,
            json!({"lensstage": "handle", "lenschannel": channel, "lenshandler": handler,
                   "lensattempt": attempt, "lensoutcome": outcome, "lensdurationus": dur_us}),
        );
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let mut lines = self.lines.clone();
        // Captures are in time order; sort on the recorded time (stable).
        lines.sort_by_key(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["recordedtime"].as_str().unwrap().to_string()
        });
        let p = dir.join(name);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p
    }
}

fn run(path: &Path, cfg: &AnalysisConfig) -> Vec<Finding> {
    let mut store = Store::new();
    load_path(&mut store, path, &LoadProgress::default()).unwrap();
    store.finalize();
    analyze(&store, cfg)
}

fn of(f: &[Finding], k: Kind) -> Vec<&Finding> {
    f.iter().filter(|x| x.kind == k).collect()
}

fn on_edge(f: &Finding, from: &str, to: &str) -> bool {
    f.edges.iter().any(|e| e.from == from && e.to == to)
}

/// 10 payments/s for 60 s on `payments` (checkout -> ledger), a burst of 300 extra in the
/// second starting at 30 s, 4 events delivered and processed twice, 2 published twice.
fn payments() -> Gen {
    let mut g = Gen::new();
    let ty = "com.acme.PaymentCaptured";
    let data = |i: usize| json!({"paymentId": format!("p-{i}"), "amount": 10 + i % 7, "currency": "EUR", "card": "visa", "status": "captured"});
    let mut n = 0;
    let one = |g: &mut Gen, at: f64, n: &mut usize| {
        let id = format!("pay-{:05}", *n);
        g.publish(&id, "checkout", ty, "payments", at, data(*n));
        g.handle(
            &id,
            "checkout",
            ty,
            "payments",
            "ledger",
            at + 4.0,
            1,
            "ok",
            2500,
        );
        *n += 1;
        id
    };
    for i in 0..600 {
        let id = one(&mut g, i as f64 * 100.0, &mut n);
        if [50, 150, 250, 450].contains(&i) {
            // The broker delivers it again after a lost ack, and ledger processes it again.
            g.handle(
                &id,
                "checkout",
                ty,
                "payments",
                "ledger",
                i as f64 * 100.0 + 700.0,
                1,
                "ok",
                2500,
            );
        }
        if [100, 500].contains(&i) {
            // The producer publishes it again after a timeout; the broker drops the copy.
            g.publish(
                &id,
                "checkout",
                ty,
                "payments",
                i as f64 * 100.0 + 1.0,
                data(i),
            );
        }
    }
    for k in 0..300 {
        one(&mut g, 30_000.0 + 3.0 + k as f64 * 3.3, &mut n);
    }
    g
}

#[test]
fn independent_capture_with_known_burst_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments().write(dir.path(), "payments.jsonl");
    let f = run(&path, &AnalysisConfig::default());

    let storms = of(&f, Kind::Storm);
    assert_eq!(storms.len(), 1, "{storms:#?}");
    let s = storms[0];
    assert!(on_edge(s, "service:checkout", "channel:payments"));
    // 300 burst events plus the ~10 regular ones of that second.
    assert!((300..=315).contains(&s.count), "storm covers {}", s.count);
    let start = eventlens::time::parse_rfc3339(&ts(30_003.0)).unwrap();
    let end = eventlens::time::parse_rfc3339(&ts(30_003.0 + 299.0 * 3.3)).unwrap();
    assert!((s.first.unwrap() - start).abs() <= 100_000_000);
    assert!((s.last.unwrap() - end).abs() <= 100_000_000);
    let (peak, base) = (
        s.evidence.peak_rate.unwrap(),
        s.evidence.baseline_rate.unwrap(),
    );
    assert!(
        peak >= 300.0 && (9.0..=11.0).contains(&base),
        "{peak} {base}"
    );

    let r = of(&f, Kind::Redelivery);
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].count, 4);
    assert!(on_edge(r[0], "channel:payments", "service:ledger"));
    assert_eq!(r[0].severity, Severity::Warning);
    let ids: Vec<&str> = r[0].examples.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["pay-00050", "pay-00150", "pay-00250", "pay-00450"]);

    let d = of(&f, Kind::DuplicateProcessing);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].count, d[0].severity), (4, Severity::Error));

    let p = of(&f, Kind::DuplicatePublish);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].count, 2);
    assert!(on_edge(p[0], "service:checkout", "channel:payments"));
    let first = eventlens::time::parse_rfc3339(&ts(100.0 * 100.0 + 1.0)).unwrap();
    assert_eq!(p[0].first, Some(first));

    for k in [
        Kind::FeedbackLoop,
        Kind::PoisonMessage,
        Kind::BreakingChange,
    ] {
        assert!(of(&f, k).is_empty(), "{k:?}");
    }
    // Every finding has the documented fields, and they are sorted.
    let json = serde_json::to_value(&f).unwrap();
    for x in json.as_array().unwrap() {
        for key in [
            "kind", "severity", "title", "detail", "count", "first", "last", "nodes", "edges",
            "examples",
        ] {
            assert!(x.get(key).is_some(), "{key} missing in {x}");
        }
        assert!(x["examples"].as_array().unwrap().len() <= 20);
    }
    let rank = |s: &str| {
        ["error", "warning", "info"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    let order: Vec<(usize, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                rank(x["severity"].as_str().unwrap()),
                x["first"].as_str().unwrap_or("~").to_string(),
            )
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
}

/// A handler that republishes into the channel it consumes: a feedback loop, with one
/// event causing a cascade (fan-out), retries at a fixed interval, sequence problems and
/// a handler that writes and publishes in one invocation.
#[test]
fn loops_fan_out_retries_ordering_and_dual_writes() {
    let mut g = Gen::new();
    let ty = "com.acme.Tick";
    // One external event enters `ticks`; `echo` handles each and publishes 2 more into
    // `ticks` (causationid), 150 in all.
    let mut queue = vec![("t-0".to_string(), "clock", 0.0f64)];
    g.publish("t-0", "clock", ty, "ticks", 0.0, json!({"n": 0}));
    let mut made = 1;
    while let Some((id, source, at)) = queue.pop() {
        g.handle(&id, source, ty, "ticks", "echo", at + 1.0, 1, "ok", 500);
        for _ in 0..2 {
            if made >= 151 {
                break;
            }
            let child = format!("t-{made}");
            made += 1;
            let mut m = Gen::event(&child, "echo", ty, json!({"n": made}));
            m.insert("causationid".into(), json!(id));
            g.push(
                m,
                at + 2.0,
                json!({"lensstage": "publish", "lenschannel": "ticks"}),
            );
            queue.push((child, "echo", at + 2.0));
        }
    }
    // Retries of one job every 50 ms, failing 4 times then dead-lettered.
    for a in 0..4 {
        g.handle(
            "job-1",
            "scheduler",
            "com.acme.Job",
            "jobs",
            "worker",
            1000.0 + a as f64 * 50.0,
            a + 1,
            "error",
            1000,
        );
    }
    g.publish(
        "job-1",
        "scheduler",
        "com.acme.Job",
        "jobs",
        999.0,
        json!({"job": 1}),
    );
    let m = Gen::event("job-1", "scheduler", "com.acme.Job", json!({}));
    g.push(m, 1200.0, json!({"lensstage": "deadletter", "lenshandler": "worker", "lensdeadletter": "jobs.dlq", "lensreason": "boom"}));
    // Sequenced stream with a gap (4 missing) and one event out of order.
    for (k, seq) in [1, 2, 3, 8, 4, 9].into_iter().enumerate() {
        let mut m = Gen::event(
            &format!("s-{seq}"),
            "ledger",
            "com.acme.Entry",
            json!({"seq": seq}),
        );
        m.insert("sequence".into(), json!(seq.to_string()));
        m.insert("partitionkey".into(), json!("acct-1"));
        g.push(
            m,
            2000.0 + k as f64,
            json!({"lensstage": "publish", "lenschannel": "entries"}),
        );
    }
    // Dual write: `billing` handles an order, writes its store and publishes during it.
    for i in 0..3 {
        let at = 3000.0 + i as f64 * 100.0;
        let id = format!("o-{i}");
        g.publish(&id, "shop", "com.acme.Order", "orders", at, json!({"o": i}));
        g.handle(
            &id,
            "shop",
            "com.acme.Order",
            "orders",
            "billing",
            at + 1.0,
            1,
            "ok",
            20_000,
        );
        let m = Gen::event(&id, "shop", "com.acme.Order", json!({}));
        g.push(m, at + 12.0, json!({"lensstage": "store", "lenshandler": "billing", "lensstore": "billing-db", "lensdurationus": 5000}));
        let mut inv = Gen::event(
            &format!("inv-{i}"),
            "billing",
            "com.acme.Invoiced",
            json!({"o": i}),
        );
        inv.insert("causationid".into(), json!(id));
        g.push(
            inv,
            at + 5.0,
            json!({"lensstage": "publish", "lenschannel": "invoices"}),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = g.write(dir.path(), "misc.jsonl");
    let f = run(&path, &AnalysisConfig::default());

    let l = of(&f, Kind::FeedbackLoop);
    assert_eq!(l.len(), 1, "{l:#?}");
    assert!(on_edge(l[0], "service:echo", "channel:ticks"));
    assert!(on_edge(l[0], "channel:ticks", "service:echo"));
    assert_eq!(l[0].count, 150);
    assert_eq!(l[0].evidence.amplification, Some(150.0));
    assert_eq!(l[0].severity, Severity::Error);

    let fo = of(&f, Kind::FanOut);
    assert_eq!(fo.len(), 1, "{fo:#?}");
    assert_eq!(fo[0].count, 1);
    assert_eq!(fo[0].examples[0].id, "t-0");
    assert_eq!(fo[0].evidence.max_descendants, Some(150));

    let r = of(&f, Kind::RetryWithoutBackoff);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].evidence.intervals_ms, vec![50.0, 50.0, 50.0]);
    let p = of(&f, Kind::PoisonMessage);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].evidence.max_attempts, Some(4));
    let d = of(&f, Kind::DeadLetter);
    assert_eq!(d[0].evidence.reason.as_deref(), Some("boom"));
    assert!(on_edge(d[0], "service:worker", "dead-letter:jobs.dlq"));

    let gap = of(&f, Kind::SequenceGap);
    assert_eq!(gap.len(), 1);
    assert_eq!(gap[0].evidence.missing, Some(3)); // 5, 6, 7
    let ooo = of(&f, Kind::OutOfOrder);
    assert_eq!(ooo.len(), 1);
    assert_eq!(ooo[0].examples[0].id, "s-4");

    let dw = of(&f, Kind::DualWrite);
    assert_eq!(dw.len(), 1, "{dw:#?}");
    assert_eq!(dw[0].count, 3);
    // Published at +5 ms, the write finished at +17 ms: before the write completed.
    assert_eq!(dw[0].severity, Severity::Error);
    assert!(on_edge(dw[0], "service:billing", "store:billing-db"));
    assert!(on_edge(dw[0], "service:billing", "channel:invoices"));

    let orphans = of(&f, Kind::OrphanChannel);
    let names: Vec<&str> = orphans
        .iter()
        .flat_map(|o| o.nodes.iter().map(String::as_str))
        .collect();
    assert!(names.contains(&"channel:invoices") && names.contains(&"channel:entries"));
    assert!(!names.contains(&"channel:ticks"));
}

#[test]
fn schema_governance_and_conformance() {
    let mut g = Gen::new();
    // v1 by `users`, then v2 drops `email`; `admin` also produces the type.
    for i in 0..10 {
        g.publish(
            &format!("u-{i}"),
            "users",
            "com.acme.UserCreated",
            "users",
            i as f64 * 10.0,
            json!({"id": i, "email": "a@b", "name": "x"}),
        );
    }
    for i in 10..14 {
        g.publish(
            &format!("u-{i}"),
            "users",
            "com.acme.UserCreated",
            "users",
            i as f64 * 10.0,
            json!({"id": i, "name": "x"}),
        );
    }
    g.publish(
        "u-99",
        "admin",
        "com.acme.UserCreated",
        "users",
        200.0,
        json!({"id": 99, "email": "a@b", "name": "x"}),
    );
    // A nonconformant line: specversion 0.3 and a bad time.
    g.lines.push(r#"{"specversion":"0.3","id":"bad-1","source":"legacy","type":"com.acme.Old","time":"yesterday","recordedtime":"2026-01-01T00:00:01Z","lensstage":"publish","lenschannel":"users"}"#.to_string());
    let dir = tempfile::tempdir().unwrap();
    let path = g.write(dir.path(), "schema.jsonl");
    let f = run(&path, &AnalysisConfig::default());
    let b = of(&f, Kind::BreakingChange);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].count, 4);
    assert_eq!(b[0].evidence.fields, vec!["email: removed".to_string()]);
    let own = of(&f, Kind::SharedOwnership);
    assert_eq!(own.len(), 1);
    assert_eq!(
        own[0].evidence.sources,
        vec!["users".to_string(), "admin".to_string()]
    );
    let ms = of(&f, Kind::MissingSchema);
    assert!(
        ms.iter()
            .any(|m| m.evidence.event_type.as_deref() == Some("com.acme.UserCreated"))
    );
    let nc = of(&f, Kind::NonconformantEvent);
    assert_eq!(nc.len(), 2, "{nc:#?}");
    assert!(nc.iter().any(|n| n.title.contains("specversion")));
    assert!(nc.iter().any(|n| n.title.contains("RFC 3339")));
    assert!(nc.iter().all(|n| n.examples[0].id == "bad-1"));
    let style = of(&f, Kind::EventStyle);
    assert!(!style.is_empty());
}

#[test]
fn timeout_risk_uses_the_configured_limit() {
    let mut g = Gen::new();
    for i in 0..50 {
        let id = format!("r-{i}");
        g.publish(
            &id,
            "api",
            "com.acme.Resize",
            "images",
            i as f64 * 100.0,
            json!({"i": i}),
        );
        g.handle(
            &id,
            "api",
            "com.acme.Resize",
            "images",
            "resizer",
            i as f64 * 100.0 + 5.0,
            1,
            "ok",
            850_000 + i * 1000,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = g.write(dir.path(), "resize.jsonl");
    assert!(of(&run(&path, &AnalysisConfig::default()), Kind::TimeoutRisk).is_empty());
    let cfg = AnalysisConfig::from_toml("[timeouts]\nhandlers = { resizer = 1000 }\n").unwrap();
    let f = run(&path, &cfg);
    let t = of(&f, Kind::TimeoutRisk);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].evidence.limit_ms, Some(1000.0));
    assert_eq!(t[0].count, 50);
}

fn eventlens(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fail_on_exits_with_3_when_a_finding_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments().write(dir.path(), "payments.jsonl");
    let p = path.to_str().unwrap();
    let (code, _, err) = eventlens(&["analyze", p, "--fail-on", "duplicate-processing,storm"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--fail-on"));
    assert_eq!(
        eventlens(&["analyze", p, "--fail-on", "feedback-loop"]).0,
        0
    );
    assert_eq!(eventlens(&["analyze", p, "--fail-on", "error"]).0, 3);
    assert_eq!(
        eventlens(&["analyze", p, "--json", "--fail-on", "warning"]).0,
        3
    );
    let (code, _, err) = eventlens(&["analyze", p, "--fail-on", "duplicates"]);
    assert_eq!(code, 2);
    assert!(err.contains("neither a finding kind"), "{err}");
    // A threshold flag turns the storm off; the config file next to the capture too.
    assert_eq!(
        eventlens(&["analyze", p, "--fail-on", "storm", "--storm-ratio", "1000"]).0,
        0
    );
    std::fs::write(
        dir.path().join("eventlens.toml"),
        "[storm]\nmin_ratio = 1000.0\n",
    )
    .unwrap();
    assert_eq!(eventlens(&["analyze", p, "--fail-on", "storm"]).0, 0);
    // --config wins over the file next to the capture.
    let other = dir.path().join("strict.toml");
    std::fs::write(&other, "[storm]\nmin_ratio = 3.0\n").unwrap();
    let o = other.to_str().unwrap();
    assert_eq!(
        eventlens(&["analyze", p, "--fail-on", "storm", "--config", o]).0,
        3
    );
    // The JSON carries the findings with their fields.
    let (code, out, _) = eventlens(&["analyze", p, "--json", "--config", o]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"redelivery") && kinds.contains(&"storm"),
        "{kinds:?}"
    );
    assert!(v["latency"]["series"].as_array().unwrap().len() >= 2);
    // --no-findings: the topology only.
    let (_, out, _) = eventlens(&["analyze", p, "--json", "--no-findings"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["findings"].as_array().unwrap().is_empty());
}

#[test]
fn cold_starts_are_inferred_from_idle_gaps_when_not_marked() {
    let mut g = Gen::new();
    let mut at = 0.0;
    for i in 0..100 {
        if i == 50 {
            at += 600_000.0; // ten idle minutes
        }
        let id = format!("img-{i}");
        let slow = i == 0 || i == 50;
        g.publish(
            &id,
            "uploads",
            "com.acme.Uploaded",
            "uploads",
            at,
            json!({"i": i}),
        );
        let dur = if slow {
            400_000
        } else {
            10_000 + (i % 5) * 1000
        };
        g.handle(
            &id,
            "uploads",
            "com.acme.Uploaded",
            "uploads",
            "thumb",
            at + 3.0,
            1,
            "ok",
            dur,
        );
        at += 100.0;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = g.write(dir.path(), "thumbs.jsonl");
    let f = run(&path, &AnalysisConfig::default());
    let c = of(&f, Kind::ColdStart);
    assert_eq!(c.len(), 1, "{c:#?}");
    // img-0 was slow too, but the first invocation of a capture is not evidence: the
    // capture may have begun in the middle of a warm run.
    assert_eq!(c[0].count, 1);
    assert_eq!(c[0].evidence.inferred, Some(true));
    let ids: Vec<&str> = c[0].examples.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["img-50"]);
    assert_eq!(c[0].severity, Severity::Warning);
    assert!(c[0].evidence.cold_p50_ms.unwrap() > 300.0);
    assert!(c[0].evidence.warm_p50_ms.unwrap() < 20.0);
}

#[test]
fn kafka_partition_offsets_give_gaps_per_partition_whoever_produced() {
    // Two producers share partition 0 of `orders`; offsets 3 and 4 are missing; partition 1
    // is complete.
    let mut lines = Vec::new();
    for (i, (partition, offset, source)) in [
        (0, 0, "svc-a"),
        (0, 1, "svc-b"),
        (0, 2, "svc-a"),
        (0, 5, "svc-b"),
        (0, 6, "svc-a"),
        (1, 0, "svc-a"),
        (1, 1, "svc-a"),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(format!(
            r#"{{"topic":"orders","partition":{partition},"offset":{offset},"tstype":"create","ts":{},"broker":1,"headers":["ce_specversion","1.0","ce_id","m-{i}","ce_source","{source}","ce_type","com.acme.Order","content-type","application/json"],"key":null,"payload":"{{}}"}}"#,
            1_767_225_600_000i64 + i as i64
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kcat.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let f = run(&path, &AnalysisConfig::default());
    let gaps = of(&f, Kind::SequenceGap);
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(gaps[0].evidence.missing, Some(2));
    assert_eq!(gaps[0].evidence.partition_key.as_deref(), Some("orders/0"));
    assert!(of(&f, Kind::OutOfOrder).is_empty());
}
