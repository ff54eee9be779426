//! `eventlens export --format svg|png`: the SVG parses with usvg (resvg's parser) and with
//! an XML parser, has one node and one edge per node and edge of the topology, shows the
//! names that try to break out of their text literally and injects nothing, routes no edge
//! through a node it does not connect, and its PNG decodes at the size of the SVG and shows
//! the diagram (not a blank canvas).

use eventlens::export::scene::{self, Colouring};
use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names of tests/export_text.rs: each means something in SVG/XML, DOT, Mermaid or
/// PlantUML.
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

/// How a name reads in a diagram: on one line.
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
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

/// The inputs exported here: the reference capture, the same run as OTLP and Jaeger, a
/// capture with dead letters, and real instrumentation with calls and stores.
fn samples() -> Vec<PathBuf> {
    [
        "sample-traces/capture.jsonl",
        "sample-traces/otlp.json",
        "sample-traces/jaeger.json",
        "sample-traces/defects/poison-message.jsonl",
        "tests/fixtures/instrumented/python-pika-redis-http.json",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect()
}

fn eventlens(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_eventlens"))
        .args(args)
        .output()
        .expect("run eventlens")
}

fn export(file: &Path, format: &str) -> Vec<u8> {
    let out = eventlens(&[
        "export",
        file.to_str().expect("utf-8 path"),
        "--format",
        format,
    ]);
    assert!(
        out.status.success(),
        "export --format {format} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Node and edge counts of the topology, as `export --format json` writes it.
fn topology_counts(file: &Path) -> (usize, usize) {
    let v: Value = serde_json::from_slice(&export(file, "json")).expect("json");
    let n = v["topology"]["nodes"].as_array().map_or(0, Vec::len);
    let e = v["topology"]["edges"].as_array().map_or(0, Vec::len);
    (n, e)
}

/// The groups of a class (`node`, `edge`) in a parsed SVG.
fn groups<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("g"))
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').next() == Some(class))
        })
        .collect()
}

fn texts_of(node: roxmltree::Node<'_, '_>, tag: &str) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name(tag))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

fn usvg_parses(svg: &str) -> resvg::usvg::Tree {
    resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default())
        .unwrap_or_else(|e| panic!("usvg rejects the SVG: {e}\n{svg}"))
}

fn load(file: &Path) -> Store {
    let mut store = Store::new();
    load_path(&mut store, file, &LoadProgress::default()).expect("sample loads");
    store.finalize();
    store
}

#[test]
fn svg_of_each_sample_has_the_topologys_nodes_and_edges_and_parses() {
    for file in samples() {
        let svg = String::from_utf8(export(&file, "svg")).expect("utf-8 svg");
        let tree = usvg_parses(&svg);
        assert!(tree.size().width() > 200.0 && tree.size().height() > 100.0);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let (nodes, edges) = topology_counts(&file);
        assert!(nodes >= 3, "{}", file.display());
        assert_eq!(groups(&doc, "node").len(), nodes, "{}", file.display());
        assert_eq!(groups(&doc, "edge").len(), edges, "{}", file.display());
        // Every edge is labelled; every node shows its name (elided when long).
        assert_eq!(groups(&doc, "edge-label").len(), edges);
        for g in groups(&doc, "node") {
            let title = texts_of(g, "title").concat();
            let name = texts_of(g, "text")[1].clone();
            let stem = name.trim_end_matches('…');
            assert!(title.starts_with(stem), "{name:?} is not {title:?}");
        }
        // Self-contained: no reference out of the document, no script, no style sheet.
        for bad in [
            "href",
            "<script",
            "<style",
            "url(",
            "<image",
            "<foreignObject",
        ] {
            assert!(!svg.contains(bad), "{bad} in {}", file.display());
        }
    }
}

#[test]
fn no_edge_passes_through_a_node_it_does_not_connect_and_labels_cover_no_node() {
    for file in samples() {
        let store = load(&file);
        let scene = scene::of_store(&store, Colouring::Errors, true);
        assert!(!scene.edges.is_empty());
        assert_eq!(
            scene::crossings(&scene, 400),
            vec![],
            "{}: an edge crosses a node",
            file.display()
        );
        let labels: Vec<scene::Rect> = scene
            .edges
            .iter()
            .filter_map(|e| e.label.as_ref().map(|l| l.rect))
            .collect();
        for (i, l) in labels.iter().enumerate() {
            for n in &scene.nodes {
                assert_eq!(
                    l.overlap(&n.rect),
                    0.0,
                    "{}: a label covers a node",
                    file.display()
                );
            }
            for o in &labels[i + 1..] {
                assert_eq!(l.overlap(o), 0.0, "{}: labels overlap", file.display());
            }
            // The measured text fits its box.
        }
        for e in &scene.edges {
            if let Some(l) = &e.label {
                for line in &l.lines {
                    assert!(line.rect.min.x >= l.rect.min.x && line.rect.max.x <= l.rect.max.x);
                }
            }
        }
        // Every node's name fits its box.
        for n in &scene.nodes {
            assert!(n.name.rect.min.x >= n.rect.min.x && n.name.rect.max.x <= n.rect.max.x);
        }
    }
}

#[test]
fn hostile_names_show_literally_and_inject_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = hostile_file(dir.path());
    let svg = String::from_utf8(export(&file, "svg")).expect("utf-8 svg");
    usvg_parses(&svg);
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    // Only the elements the writer makes: nothing a name could have added.
    let tags: BTreeSet<&str> = doc
        .descendants()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    let allowed: BTreeSet<&str> = [
        "svg", "rect", "g", "title", "path", "polygon", "line", "ellipse", "text",
    ]
    .into_iter()
    .collect();
    assert!(tags.is_subset(&allowed), "{tags:?}");
    // One producer per name and the bus; one edge per event.
    assert_eq!(groups(&doc, "node").len(), HOSTILE.len() + 1);
    assert_eq!(groups(&doc, "edge").len(), HOSTILE.len());
    let node_titles: Vec<String> = groups(&doc, "node")
        .into_iter()
        .flat_map(|g| texts_of(g, "title"))
        .collect();
    let edge_titles = groups(&doc, "edge")
        .into_iter()
        .flat_map(|g| texts_of(g, "title"))
        .collect::<Vec<_>>()
        .join("\n");
    let all_text: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect();
    for name in HOSTILE {
        let s = shown(name);
        assert!(
            node_titles.contains(&s),
            "{name:?} not a node: {node_titles:?}"
        );
        assert!(
            edge_titles.contains(&s),
            "{name:?} not on an edge: {edge_titles}"
        );
        // Drawn: whole, or its beginning with an ellipsis.
        assert!(
            all_text
                .iter()
                .any(|t| t == &s || (t.ends_with('…') && s.starts_with(t.trim_end_matches('…')))),
            "{name:?} not drawn: {all_text:?}"
        );
    }
    // The short ones are drawn whole.
    for name in ["@enduml", "two\nlines", "Grüße 東京 ✓", "{braces} }"] {
        assert!(all_text.contains(&shown(name)), "{name:?}: {all_text:?}");
    }
}

#[test]
fn png_decodes_at_the_svgs_size_and_shows_the_diagram() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = root().join("sample-traces/capture.jsonl");
    let svg = String::from_utf8(export(&file, "svg")).expect("utf-8 svg");
    let tree = usvg_parses(&svg);
    // By extension.
    let out = dir.path().join("flow.png");
    let run = eventlens(&[
        "export",
        file.to_str().expect("path"),
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let img = image::open(&out).expect("the PNG decodes").to_rgba8();
    // Rendered at 2x.
    assert_eq!(img.width(), (tree.size().width() * 2.0).ceil() as u32);
    assert_eq!(img.height(), (tree.size().height() * 2.0).ceil() as u32);
    let colours: BTreeSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 50, "{} colours", colours.len());
    // Mostly the app's dark canvas, with the kind colours of nodes on it.
    let canvas = [22, 24, 29, 255];
    let on_canvas = img.pixels().filter(|p| p.0 == canvas).count();
    assert!(on_canvas > (img.width() * img.height()) as usize / 3);
    let channel = [197, 134, 192, 255];
    let handler = [78, 201, 176, 255];
    for c in [channel, handler] {
        assert!(
            img.pixels()
                .any(|p| p.0.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 6)),
            "{c:?} not drawn"
        );
    }
    // Text was drawn: light pixels of the text colour.
    assert!(
        img.pixels()
            .any(|p| p.0[0] > 200 && p.0[1] > 200 && p.0[2] > 200)
    );
}

#[test]
fn svg_export_honours_the_window_and_names_bad_formats() {
    let file = root().join("sample-traces/capture.jsonl");
    let whole = String::from_utf8(export(&file, "svg")).expect("svg");
    let out = eventlens(&[
        "export",
        file.to_str().expect("path"),
        "--format",
        "svg",
        "--window",
        "10..20",
    ]);
    assert!(out.status.success());
    let window = String::from_utf8(out.stdout).expect("svg");
    assert_ne!(whole, window, "the window changes the counts");
    let json: Value = serde_json::from_slice(&{
        let o = eventlens(&[
            "export",
            file.to_str().expect("path"),
            "--format",
            "json",
            "--window",
            "10..20",
        ]);
        o.stdout
    })
    .expect("json");
    // The labels say the window's counts.
    let doc = roxmltree::Document::parse(&window).expect("xml");
    let labels: Vec<String> = groups(&doc, "edge-label")
        .into_iter()
        .flat_map(|g| texts_of(g, "text"))
        .collect();
    for e in json["topology"]["edges"].as_array().expect("edges") {
        let count = e["count"].as_u64().expect("count");
        let noun = if count == 1 { "event" } else { "events" };
        let want = format!("{} {noun}", scene::fmt_count(count));
        assert!(labels.contains(&want), "{want} not in {labels:?}");
    }
    let out = eventlens(&["export", file.to_str().expect("path"), "-o", "x.svgz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".svg"));
}
