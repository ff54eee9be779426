//! `cargo bench --bench spans`: `eventlens analyze --json` on OpenTelemetry collector JSON
//! Lines (the file exporter's shape: one export request per line, 1,000 spans a line) of
//! 1,000,000 spans (override with EVENTLENS_BENCH_SPANS), against `jq` reading every span's
//! name from the same file in the same run. Each message is five spans, as instrumented
//! services write them: an HTTP CLIENT call and its SERVER span, a PRODUCER span
//! (RabbitMQ, default exchange), the CONSUMER span that is its child, and a Redis write
//! inside it. Prints spans/s, the ratio to jq, and eventlens's peak RSS against the file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPANS_PER_MESSAGE: u64 = 5;
const MESSAGES_PER_LINE: u64 = 200;

fn attr(key: &str, value: &str) -> String {
    format!(r#"{{"key":"{key}","value":{{"stringValue":"{value}"}}}}"#)
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: &str,
    id: u64,
    parent: Option<u64>,
    name: &str,
    kind: u8,
    start: u64,
    dur: u64,
    attrs: &[String],
) -> String {
    let parent = parent.map_or(String::new(), |p| format!(r#""parentSpanId":"{p:016x}","#));
    format!(
        r#"{{"traceId":"{trace}","spanId":"{id:016x}",{parent}"name":"{name}","kind":{kind},"startTimeUnixNano":"{start}","endTimeUnixNano":"{}","attributes":[{}],"status":{{}}}}"#,
        start + dur,
        attrs.join(",")
    )
}

fn resource(service: &str, spans: &[String]) -> String {
    format!(
        r#"{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"bench"}},"spans":[{}]}}]}}"#,
        attr("service.name", service),
        spans.join(",")
    )
}

fn bench_file(spans: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let path = dir.join(format!("collector-{spans}.jsonl"));
    if path.exists() {
        return path;
    }
    eprintln!("generating {} ...", path.display());
    let tmp = path.with_extension("tmp");
    let mut w = BufWriter::new(std::fs::File::create(&tmp).expect("create"));
    let messages = spans / SPANS_PER_MESSAGE;
    let t0: u64 = 1_772_442_000_000_000_000;
    let mut m = 0;
    while m < messages {
        let (mut checkout, mut api, mut worker) = (Vec::new(), Vec::new(), Vec::new());
        for k in m..(m + MESSAGES_PER_LINE).min(messages) {
            let trace = format!("{:032x}", k + 1);
            let at = t0 + k * 5_000_000;
            let id = |n: u64| k * 8 + n + 1;
            checkout.push(span(
                &trace,
                id(0),
                None,
                "POST",
                3,
                at,
                20_000_000,
                &[
                    attr("http.request.method", "POST"),
                    attr("url.full", "http://orders-api:8080/orders"),
                ],
            ));
            api.push(span(
                &trace,
                id(1),
                Some(id(0)),
                "POST /orders",
                2,
                at + 1_000_000,
                15_000_000,
                &[
                    attr("http.request.method", "POST"),
                    attr("http.route", "/orders"),
                ],
            ));
            api.push(span(
                &trace,
                id(2),
                Some(id(1)),
                "orders publish",
                4,
                at + 2_000_000,
                1_000_000,
                &[
                    attr("messaging.system", "rabbitmq"),
                    attr("messaging.operation.type", "publish"),
                    attr("messaging.destination.name", ""),
                    attr("messaging.rabbitmq.destination.routing_key", "orders"),
                    attr("messaging.message.id", &format!("order-{k}")),
                ],
            ));
            worker.push(span(
                &trace,
                id(3),
                Some(id(2)),
                "orders process",
                5,
                at + 4_000_000 + (k % 7) * 300_000,
                6_000_000,
                &[
                    attr("messaging.system", "rabbitmq"),
                    attr("messaging.operation.type", "process"),
                    attr("messaging.destination.name", "orders"),
                ],
            ));
            worker.push(span(
                &trace,
                id(4),
                Some(id(3)),
                "HSET",
                3,
                at + 5_000_000,
                1_000_000,
                &[
                    attr("db.system", "redis"),
                    attr("db.query.text", "HSET order ?"),
                ],
            ));
        }
        writeln!(
            w,
            r#"{{"resourceSpans":[{},{},{}]}}"#,
            resource("checkout", &checkout),
            resource("orders-api", &api),
            resource("fulfillment", &worker)
        )
        .expect("write");
        m += MESSAGES_PER_LINE;
    }
    w.flush().expect("flush");
    drop(w);
    std::fs::rename(&tmp, &path).expect("rename");
    path
}

/// Runs a command and returns its wall time and (where /usr/bin/time is there) its
/// peak RSS in bytes.
fn timed(cmd: &mut Command) -> (Duration, Option<u64>) {
    let t = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes):")
                .map(str::trim)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    (took, rss)
}

fn main() {
    let spans: u64 = std::env::var("EVENTLENS_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let file = bench_file(spans);
    let size = std::fs::metadata(&file).expect("stat").len();
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/eventlens");
    assert!(
        exe.exists(),
        "build the release binary first: cargo build --release"
    );
    let time_bin = Path::new("/usr/bin/time").exists();
    let mut ours = if time_bin {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    ours.args(["analyze", "--json"]).arg(&file);
    let (t_ours, rss) = timed(&mut ours);
    let (t_jq, _) = timed(
        Command::new("jq")
            .arg("-c")
            .arg(".resourceSpans[].scopeSpans[].spans[].name")
            .arg(&file),
    );
    println!(
        "spans: {spans} spans, {:.0} MB: eventlens analyze --json {:.2} s ({:.0} spans/s), jq {:.2} s; eventlens/jq time ratio {:.2} ({:.1}x faster)",
        size as f64 / 1e6,
        t_ours.as_secs_f64(),
        spans as f64 / t_ours.as_secs_f64(),
        t_jq.as_secs_f64(),
        t_ours.as_secs_f64() / t_jq.as_secs_f64(),
        t_jq.as_secs_f64() / t_ours.as_secs_f64()
    );
    if let Some(r) = rss {
        println!(
            "spans: peak RSS {:.0} MB = {:.2}x the file",
            r as f64 / 1e6,
            r as f64 / size as f64
        );
    }
}
