//! `cargo bench --bench analyze`: the benchmark matrix. Each input format, 1,000,000
//! records (events or spans; `EVENTLENS_BENCH_RECORDS` changes it), goes through the
//! release binary's `eventlens analyze --json`, beside `jq` reading one field of every
//! record of the same file in the same run. Prints a Markdown table (also written to
//! `target/bench/matrix.md`) with the best and worst of `EVENTLENS_BENCH_RUNS` runs
//! (default 3), records/s, peak RSS against the file size (for gzip, the size of the
//! data it holds), what the analysis adds over
//! `--no-findings`, and the ratio to jq. `EVENTLENS_BENCH_FORMATS=capture,plain` runs a
//! subset; `EVENTLENS_BENCH_JQ=0` skips jq.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to completion; its wall time and peak RSS in bytes (0 where GNU time is not
/// installed). The peak comes from `/usr/bin/time`: a child forked from this process
/// inherits its resident size as the start of its own peak (Linux keeps it across exec),
/// and this process holds what it generated.
fn run(cmd: &mut Command) -> (Duration, u64) {
    let rss_file = std::env::temp_dir().join(format!("eventlens-bench-rss-{}", std::process::id()));
    let timed = Path::new("/usr/bin/time").exists();
    let mut wrapped = if timed {
        let mut w = Command::new("/usr/bin/time");
        w.arg("-f").arg("%M").arg("-o").arg(&rss_file);
        w.arg(cmd.get_program()).args(cmd.get_args());
        w
    } else {
        let mut w = Command::new(cmd.get_program());
        w.args(cmd.get_args());
        w
    };
    let t = Instant::now();
    let out = wrapped
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss_kib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse::<u64>().ok()))
        .unwrap_or(0);
    let _ = std::fs::remove_file(&rss_file);
    (took, rss_kib * 1024)
}

struct Format {
    name: &'static str,
    key: &'static str,
    file: PathBuf,
    /// jq's filter: one field of every record.
    jq: &'static str,
    gz: bool,
    /// Whole documents need a record cap above the file's size.
    document: bool,
}

struct Row {
    name: &'static str,
    size: u64,
    /// What memory is compared with: the file, or for gzip the data it holds.
    expanded: u64,
    best: Duration,
    worst: Duration,
    no_findings: Duration,
    rss: u64,
    jq: Option<Duration>,
}

fn main() {
    let records: u64 = std::env::var("EVENTLENS_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs: usize = std::env::var("EVENTLENS_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let only: Option<Vec<String>> = std::env::var("EVENTLENS_BENCH_FORMATS")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    let with_jq = std::env::var("EVENTLENS_BENCH_JQ").map_or(true, |v| v != "0")
        && Command::new("jq").arg("--version").output().is_ok();
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/eventlens");
    assert!(
        exe.exists(),
        "build the release binary first: cargo build --release"
    );

    let want = |key: &str| only.as_ref().is_none_or(|o| o.iter().any(|k| k == key));
    type Make = fn(u64) -> PathBuf;
    let all: [(&str, &str, Make, &str, bool, bool); 8] = [
        (
            "capture (eventlens record)",
            "capture",
            common::capture,
            ".type",
            false,
            false,
        ),
        (
            "plain CloudEvents JSON Lines",
            "plain",
            common::plain_cloudevents,
            ".type",
            false,
            false,
        ),
        (
            "plain CloudEvents, gzip",
            "gzip",
            common::plain_cloudevents_gz,
            ".type",
            true,
            false,
        ),
        (
            "kcat -J (binary-mode CloudEvents)",
            "kcat",
            common::kcat,
            ".topic",
            false,
            false,
        ),
        (
            "OTLP collector JSON Lines (spans)",
            "otlp-lines",
            common::otlp_lines,
            ".resourceSpans[].scopeSpans[].spans[].name",
            false,
            false,
        ),
        (
            "OTLP JSON document (spans)",
            "otlp-doc",
            common::otlp_document,
            ".resourceSpans[].scopeSpans[].spans[].name",
            false,
            true,
        ),
        (
            "Jaeger JSON document (spans)",
            "jaeger",
            common::jaeger,
            ".data[].spans[].operationName",
            false,
            true,
        ),
        (
            "Zipkin v2 JSON array (spans)",
            "zipkin",
            common::zipkin,
            ".[].name",
            false,
            true,
        ),
    ];
    let formats: Vec<Format> = all
        .into_iter()
        .filter(|f| want(f.1))
        .map(|(name, key, make, jq, gz, document)| Format {
            name,
            key,
            file: make(records),
            jq,
            gz,
            document,
        })
        .collect();

    let mut rows = Vec::new();
    for f in &formats {
        let size = std::fs::metadata(&f.file).expect("stat").len();
        let analyze = |extra: &[&str]| {
            let mut c = Command::new(&exe);
            c.arg("analyze").arg(&f.file).arg("--json").args(extra);
            if f.document {
                c.args(["--max-record", "4GiB"]);
            }
            run(&mut c)
        };
        let mut times = Vec::new();
        let mut rss = 0;
        for _ in 0..runs {
            let (t, r) = analyze(&[]);
            times.push(t);
            rss = rss.max(r);
        }
        let no_findings = (0..runs)
            .map(|_| analyze(&["--no-findings"]).0)
            .min()
            .unwrap_or_default();
        let jq = with_jq.then(|| {
            let mut c = if f.gz {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("gzip -dc \"$0\" | jq -c '{}'", f.jq))
                    .arg(&f.file);
                c
            } else {
                let mut c = Command::new("jq");
                c.arg("-c").arg(f.jq).arg(&f.file);
                c
            };
            run(&mut c).0
        });
        let expanded = if f.gz {
            std::fs::metadata(common::plain_cloudevents(records)).map_or(size, |m| m.len())
        } else {
            size
        };
        let row = Row {
            name: f.name,
            size,
            expanded,
            best: times.iter().copied().min().unwrap_or_default(),
            worst: times.iter().copied().max().unwrap_or_default(),
            no_findings,
            rss,
            jq,
        };
        eprintln!("{}: {}", f.key, line(&row, records));
        rows.push(row);
    }

    let mut table = String::from(
        "| input, 1M records | file | eventlens analyze --json, best–worst | records/s | peak RSS | analysis adds | jq | eventlens vs jq |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&line(r, records));
        table.push('\n');
    }
    println!(
        "{runs} runs each; jq once; release build of {}\n\n{table}",
        exe.display()
    );
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/matrix.md");
    std::fs::write(&out, &table).expect("write matrix.md");
    eprintln!("written to {}", out.display());
}

fn line(r: &Row, records: u64) -> String {
    let s = |d: Duration| d.as_secs_f64();
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "| {} | {:.0} MB | {:.2}–{:.2} s | {:.0}k | {:.0} MB ({:.2}x) | {:+.0}% | {} | {} |",
        r.name,
        mb(r.size),
        s(r.best),
        s(r.worst),
        records as f64 / s(r.best) / 1000.0,
        mb(r.rss),
        r.rss as f64 / r.expanded as f64,
        (s(r.best) / s(r.no_findings) - 1.0) * 100.0,
        r.jq.map_or("not run".into(), |j| format!("{:.1} s", s(j))),
        r.jq.map_or("".into(), |j| format!("{:.1}x faster", s(j) / s(r.best))),
    )
}
