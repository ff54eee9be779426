//! `eventlens export`: DOT, Mermaid, PlantUML and JSON, checked by the real tools (Graphviz's
//! `dot`, PlantUML, Mermaid's own parser in Node), on names that try to break out of their
//! strings, and on the numbers of a capture counted here from its records.
//!
//! The tools are installed by `.ci/run` (apt: graphviz, plantuml; npm: mermaid and jsdom,
//! pinned in tests/mermaid/package.json). Where one is missing the check says so and is
//! skipped, unless `EVENTLENS_REQUIRE_TOOLS=1` (CI), which makes it a failure.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names an event may carry that mean something in SVG/XML, DOT, Mermaid or PlantUML.
const HOSTILE: [&str; 10] = [
    "</text><script>alert(1)</script>",
    "a\"]; evil -> x [label=\"",
    "two\nlines",
    "{braces} }",
    "@enduml",
    "`backtick` $HOME",
    "Grüße 東京 ✓",
    "back\\slash \\n",
    "#quot; &amp; |pipe|",
    "<U+0041> ~tilde **bold**",
];

/// How a name reads in a diagram: on one line (line breaks become spaces).
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn eventlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens")
}

/// One CloudEvent per hostile name: the name is its source (a producer node), and the next
/// name is its type (an edge label).
fn hostile_file(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.jsonl");
    let mut text = String::new();
    for (i, name) in HOSTILE.iter().enumerate() {
        let ev = serde_json::json!({
            "specversion": "1.0",
            "id": format!("e{i}"),
            "source": name,
            "type": HOSTILE[(i + 1) % HOSTILE.len()],
            "time": format!("2024-01-01T00:00:0{i}Z"),
        });
        text.push_str(&ev.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write hostile events");
    path
}

fn export(file: &Path, format: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        file.to_str().expect("utf-8 path"),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    let out = eventlens(&args);
    assert!(
        out.status.success(),
        "export --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 export")
}

fn require_tools() -> bool {
    std::env::var("EVENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Whether `tool` runs here; a missing tool fails under `EVENTLENS_REQUIRE_TOOLS=1`.
fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !require_tools(),
            "{tool} is needed (EVENTLENS_REQUIRE_TOOLS=1)"
        );
        eprintln!("{tool} is not installed: its check is skipped");
    }
    ok
}

/// Runs `tool args` with `input` on standard input; its standard output.
fn pipe(tool: &str, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let owned = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(owned.as_bytes()));
    let out = child.wait_with_output().expect("tool ends");
    writer.join().expect("writer").expect("written");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} rejected the export: {}\n{stdout}\n{input}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The text lines of an SVG (`<text>` contents, XML entities decoded).
fn svg_texts(svg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        rest = &rest[i..];
        let Some(gt) = rest.find('>') else { break };
        let Some(end) = rest.find("</text>") else {
            break;
        };
        out.push(xml_unescape(&rest[gt + 1..end]));
        rest = &rest[end..];
    }
    out
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';') else { break };
        let ent = &rest[1..semi];
        let c = match ent {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn dot_export_of_hostile_names_renders_them_literally_in_graphviz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = hostile_file(dir.path());
    let dot = export(&file, "dot", &[]);
    if !have("dot", &["-V"]) {
        return;
    }
    let svg = pipe("dot", &["-Tsvg"], &dot);
    let texts = svg_texts(&svg);
    for name in HOSTILE {
        assert!(
            texts.contains(&shown(name)),
            "{name:?} is not shown literally by Graphviz: {texts:?}"
        );
    }
    // One node per producer and the bus, one edge per event: nothing was injected.
    let json: Value = serde_json::from_str(&pipe("dot", &["-Tjson"], &dot)).expect("dot json");
    assert_eq!(
        json["objects"].as_array().map(Vec::len),
        Some(HOSTILE.len() + 1)
    );
    assert_eq!(json["edges"].as_array().map(Vec::len), Some(HOSTILE.len()));
}

#[test]
fn plantuml_export_of_hostile_names_renders_them_literally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = hostile_file(dir.path());
    let puml = export(&file, "plantuml", &[]);
    assert!(puml.starts_with("@startuml\n") && puml.ends_with("@enduml\n"));
    assert_eq!(puml.matches("@enduml").count(), 1, "{puml}");
    if !have("plantuml", &["-version"]) {
        return;
    }
    let svg = pipe("plantuml", &["-tsvg", "-pipe"], &puml);
    assert!(
        !svg.contains("An error has occured") && !svg.contains("Syntax Error"),
        "{svg}"
    );
    let texts = svg_texts(&svg);
    for name in HOSTILE {
        assert!(
            texts.contains(&shown(name)),
            "{name:?} is not shown literally by PlantUML: {texts:?}"
        );
    }
}

/// Mermaid's parser (the `mermaid` package in Node, with jsdom for its DOM), installed once
/// into target/mermaid-check from tests/mermaid/package.json.
fn mermaid_checker() -> Option<PathBuf> {
    if !have("node", &["--version"]) || !have("npm", &["--version"]) {
        return None;
    }
    let dir = root().join("target/mermaid-check");
    std::fs::create_dir_all(&dir).expect("mermaid-check dir");
    for f in ["package.json", "check.mjs"] {
        std::fs::copy(root().join("tests/mermaid").join(f), dir.join(f)).expect("copy checker");
    }
    if !dir.join("node_modules/mermaid").exists() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("npm install");
        if !st.success() {
            assert!(!require_tools(), "npm install of mermaid failed");
            eprintln!("mermaid could not be installed: its check is skipped");
            return None;
        }
    }
    Some(dir)
}

#[test]
fn mermaid_export_of_hostile_names_parses_with_mermaid_and_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = hostile_file(dir.path());
    let mmd = export(&file, "mermaid", &[]);
    let mmd_path = dir.path().join("flow.mmd");
    std::fs::write(&mmd_path, &mmd).expect("write mmd");
    let Some(checker) = mermaid_checker() else {
        return;
    };
    let out = Command::new("node")
        .arg(checker.join("check.mjs"))
        .arg(&mmd_path)
        .current_dir(&checker)
        .output()
        .expect("run the mermaid parser");
    assert!(
        out.status.success(),
        "mermaid rejected the export: {}\n{mmd}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("checker output");
    let vertices = parsed["vertices"].as_object().expect("vertices");
    assert_eq!(vertices.len(), HOSTILE.len() + 1, "{parsed:#}");
    let labels: Vec<&str> = vertices.values().filter_map(Value::as_str).collect();
    for name in HOSTILE {
        assert!(
            labels.contains(&shown(name).as_str()),
            "{name:?} not kept by Mermaid: {labels:?}"
        );
    }
    let edges = parsed["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), HOSTILE.len());
    for name in HOSTILE {
        let first_line = format!("{}<br>", shown(name));
        assert!(
            edges.iter().any(|e| e["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&first_line))),
            "type {name:?} not on an edge: {edges:?}"
        );
    }
}

/// Seconds after the first record of an RFC 3339 time with milliseconds (the capture's).
fn secs(t: &str) -> f64 {
    // 2026-03-02T09:00:12.345Z: hours, minutes, seconds of one day are enough here.
    let hms = &t[11..t.len() - 1];
    let mut it = hms.split(':');
    let h: f64 = it.next().and_then(|x| x.parse().ok()).expect("hours");
    let m: f64 = it.next().and_then(|x| x.parse().ok()).expect("minutes");
    let s: f64 = it.next().and_then(|x| x.parse().ok()).expect("seconds");
    h * 3600.0 + m * 60.0 + s
}

#[test]
fn export_counts_are_the_records_of_the_capture_in_the_window() {
    let file = root().join("sample-traces/capture.jsonl");
    // Count the deliveries per handler straight from the capture's records.
    let text = std::fs::read_to_string(&file).expect("sample");
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("capture record"))
        .collect();
    let t0 = records
        .iter()
        .filter_map(|r| r["recordedtime"].as_str())
        .map(secs)
        .fold(f64::INFINITY, f64::min);
    let deliveries = |handler: &str, lo: f64, hi: f64| {
        records
            .iter()
            .filter(|r| r["lensstage"] == "deliver" && r["lenshandler"] == handler)
            .filter_map(|r| r["recordedtime"].as_str())
            .map(|t| secs(t) - t0)
            .filter(|&s| s >= lo - 1e-9 && s <= hi + 1e-9)
            .count() as u64
    };
    let edge = |topo: &Value, to: &str| {
        topo["topology"]["edges"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|e| e["from"] == "channel:orders" && e["to"] == to)
            })
            .and_then(|e| e["count"].as_u64())
            .unwrap_or(0)
    };

    let whole: Value = serde_json::from_str(&export(&file, "json", &[])).expect("json");
    assert_eq!(
        edge(&whole, "service:handler-a"),
        deliveries("handler-a", 0.0, 1e9)
    );
    let window: Value =
        serde_json::from_str(&export(&file, "json", &["--window", "10..20"])).expect("json");
    assert_eq!(window["window"], "10..20");
    for h in ["handler-a", "handler-b"] {
        let want = deliveries(h, 10.0, 20.0);
        assert!(want > 0);
        assert_eq!(
            edge(&window, &format!("service:{h}")),
            want,
            "{h} in 10..20 s"
        );
    }
    let at: Value = serde_json::from_str(&export(&file, "json", &["--at", "15"])).expect("json");
    assert_eq!(
        edge(&at, "service:handler-b"),
        deliveries("handler-b", 0.0, 15.0)
    );
    // The same topology as `analyze --json`, by default.
    let analyzed = eventlens(&["analyze", file.to_str().expect("path"), "--json"]);
    let analyzed: Value = serde_json::from_slice(&analyzed.stdout).expect("analyze json");
    assert_eq!(whole["topology"], analyzed["topology"]);

    // Bad moments and formats are usage errors that say why.
    let out = eventlens(&["export", file.to_str().expect("path"), "--format", "svgz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("svgz"));
    let out = eventlens(&[
        "export",
        file.to_str().expect("path"),
        "--format",
        "dot",
        "--at",
        "99999",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--at 99999"));
}
