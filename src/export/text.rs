//! Text diagram formats of the flow graph: Graphviz DOT, a Mermaid flowchart and a PlantUML
//! diagram (shapes by kind, as in PlantUML's EDA diagrams), written from the engine's
//! topology report, so an export shows the numbers `analyze` prints.
//!
//! Names come from untrusted events (types, sources, subjects): every writer refers to
//! nodes by generated ids (`n0`, `n1`, ...) and escapes every name and label for its own
//! syntax, so no name can end a string, a statement or the diagram.

use crate::analysis::report::{EdgeReport, NodeReport, TopologyReport};
use crate::model::{NodeKind, Stage};
use rustc_hash::FxHashMap;
use std::fmt::Write;

/// A diagram format written as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    Dot,
    Mermaid,
    PlantUml,
}

/// Writes the topology in `format`.
pub fn write(topology: &TopologyReport, format: TextFormat) -> String {
    let d = Diagram::of(topology);
    match format {
        TextFormat::Dot => dot(&d),
        TextFormat::Mermaid => mermaid(&d),
        TextFormat::PlantUml => plantuml(&d),
    }
}

/// The nodes with generated ids (`n0`, `n1`, ...), and the edges between them by index.
struct Diagram<'t> {
    nodes: Vec<(String, &'t NodeReport)>,
    edges: Vec<(usize, usize, &'t EdgeReport)>,
}

impl<'t> Diagram<'t> {
    fn of(t: &'t TopologyReport) -> Diagram<'t> {
        let index: FxHashMap<&str, usize> = t
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let nodes = t
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("n{i}"), n))
            .collect();
        let edges = t
            .edges
            .iter()
            .filter_map(|e| Some((*index.get(e.from.as_str())?, *index.get(e.to.as_str())?, e)))
            .collect();
        Diagram { nodes, edges }
    }

    fn id(&self, i: usize) -> &str {
        &self.nodes[i].0
    }
}

/// The lines of an edge's label: its event types (or call names), then its count, failures
/// and p95 latency, as the app's graph labels them.
fn edge_lines(e: &EdgeReport) -> Vec<String> {
    let first: Vec<&str> = e.types.iter().take(3).map(String::as_str).collect();
    let more = e.types.len().saturating_sub(3);
    let mut line1 = first.join(", ");
    if more > 0 {
        line1.push_str(&format!(" +{more}"));
    }
    if first.is_empty() {
        line1 = e.stage.as_str().to_string();
    }
    let mut line2 = format!("{}", e.count);
    if e.errors > 0 {
        line2.push_str(&format!(" · {} failed", e.errors));
    }
    if let Some(l) = &e.latency_ms {
        line2.push_str(&format!(" · p95 {}", fmt_ms(l.p95)));
    }
    vec![line1, line2]
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A name on one line: line breaks and other control characters become spaces (a diagram
/// label is no place for them, and each syntax treats them differently).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Graphviz DOT

/// A DOT double-quoted string's content: backslash and quote escaped (a name's own `\n` or
/// `\l` stays text), `&` as `&amp;` (Graphviz decodes entities such as `&amp;` in every
/// string); lines joined with `\n`, which DOT draws as a line break.
fn dot_str(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| {
            one_line(l)
                .replace('&', "&amp;")
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        })
        .collect::<Vec<_>>()
        .join("\\n")
}

fn dot(d: &Diagram) -> String {
    let mut s = String::from(
        "digraph eventlens {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11, style=filled, fillcolor=\"#f7f7f9\"];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (id, n) in &d.nodes {
        let (shape, color) = match n.kind {
            NodeKind::Service => ("box", "#5b6b7f"),
            NodeKind::Producer => ("box", "#3b82f6"),
            NodeKind::Channel => ("cds", "#c026d3"),
            NodeKind::Handler => ("component", "#14b8a6"),
            NodeKind::Store => ("cylinder", "#d97706"),
            NodeKind::DeadLetter => ("cds", "#dc2626"),
        };
        let label = dot_str(&[n.name.clone(), n.kind.as_str().to_string()]);
        let _ = writeln!(
            s,
            "  {id} [label=\"{label}\", shape={shape}, color=\"{color}\"];"
        );
    }
    for &(a, b, e) in &d.edges {
        let (a, b) = (d.id(a), d.id(b));
        let label = dot_str(&edge_lines(e));
        let mut attrs = format!("label=\"{label}\"");
        if e.stage == Stage::Call {
            attrs.push_str(", style=dashed, color=\"#64748b\"");
        } else if e.stage == Stage::DeadLetter || e.errors > 0 {
            attrs.push_str(", color=\"#dc2626\"");
        }
        let _ = writeln!(s, "  {a} -> {b} [{attrs}];");
    }
    s.push_str("}\n");
    s
}

// ---------------------------------------------------------------------------------------
// Mermaid

/// A Mermaid quoted label's content: every character that Mermaid reads as syntax inside or
/// around a label (`"`, `#`, `<`, `>`, `&`, `|`, backtick, brackets, braces) as an entity
/// code (`#quot;`, `#35;`, ...); lines joined with `<br/>`.
fn mermaid_str(lines: &[String]) -> String {
    encode_lines(
        lines,
        |c| {
            matches!(
                c,
                '#' | '<' | '>' | '&' | '|' | '`' | '[' | ']' | '{' | '}' | '(' | ')' | ';' | '\\'
            )
        },
        |out, c| {
            if c == '"' {
                out.push_str("#quot;");
            } else {
                let _ = write!(out, "#{};", c as u32);
            }
        },
        "<br/>",
    )
}

/// Each line on one line, the characters `special` picks (and `"`) written by `encode`,
/// the lines joined with `join`.
fn encode_lines(
    lines: &[String],
    special: impl Fn(char) -> bool,
    encode: impl Fn(&mut String, char),
    join: &str,
) -> String {
    lines
        .iter()
        .map(|l| {
            let mut out = String::with_capacity(l.len());
            for c in one_line(l).chars() {
                if c == '"' || special(c) {
                    encode(&mut out, c);
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(join)
}

fn mermaid(d: &Diagram) -> String {
    let mut s = String::from("flowchart LR\n");
    for (id, n) in &d.nodes {
        let label = mermaid_str(std::slice::from_ref(&n.name));
        let shape = match n.kind {
            NodeKind::Service | NodeKind::Producer => format!("[\"{label}\"]"),
            NodeKind::Channel => format!("([\"{label}\"])"),
            NodeKind::Handler => format!("[[\"{label}\"]]"),
            NodeKind::Store => format!("[(\"{label}\")]"),
            NodeKind::DeadLetter => format!("{{{{\"{label}\"}}}}"),
        };
        let _ = writeln!(s, "  {id}{shape}");
    }
    for &(a, b, e) in &d.edges {
        let (a, b) = (d.id(a), d.id(b));
        let label = mermaid_str(&edge_lines(e));
        let arrow = if e.stage == Stage::Call {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(s, "  {a} {arrow}|\"{label}\"| {b}");
    }
    for (id, n) in &d.nodes {
        let _ = writeln!(s, "  class {id} {}", n.kind.as_str().replace('-', "_"));
    }
    s.push_str(
        "  classDef producer fill:#eff6ff,stroke:#3b82f6\n  classDef service fill:#f1f5f9,stroke:#5b6b7f\n  classDef channel fill:#fdf4ff,stroke:#c026d3\n  classDef handler fill:#f0fdfa,stroke:#14b8a6\n  classDef store fill:#fffbeb,stroke:#d97706\n  classDef dead_letter fill:#fef2f2,stroke:#dc2626\n",
    );
    s
}

// ---------------------------------------------------------------------------------------
// PlantUML

/// PlantUML text: characters it reads as syntax in a quoted name or a label (`"`, `\`, `@`,
/// `<`, `>`, `&`, `*`, `_`, `~`, `/`, `-`, `=`, `#`, `[`, `]`, `{`, `}`, `:`, backtick)
/// as PlantUML's Unicode escapes (`<U+0022>`), which it draws as the character (its
/// `&#92;` form breaks PlantUML on `\` and `$`); lines joined with `\n`, its line break.
fn plantuml_str(lines: &[String]) -> String {
    encode_lines(
        lines,
        |c| {
            matches!(
                c,
                '\\' | '@'
                    | '<'
                    | '>'
                    | '&'
                    | '*'
                    | '_'
                    | '~'
                    | '/'
                    | '-'
                    | '='
                    | '#'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | ':'
                    | '`'
                    | '\''
                    | '|'
                    | '^'
                    | '$'
            )
        },
        |out, c| {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        },
        "\\n",
    )
}

fn plantuml(d: &Diagram) -> String {
    let mut s = String::from(
        "@startuml\nleft to right direction\nskinparam shadowing false\nskinparam defaultFontName Helvetica\n",
    );
    for (id, n) in &d.nodes {
        let label = plantuml_str(std::slice::from_ref(&n.name));
        let (element, color) = match n.kind {
            NodeKind::Service => ("rectangle", "#f1f5f9"),
            NodeKind::Producer => ("rectangle", "#eff6ff"),
            NodeKind::Channel => ("queue", "#fdf4ff"),
            NodeKind::Handler => ("component", "#f0fdfa"),
            NodeKind::Store => ("database", "#fffbeb"),
            NodeKind::DeadLetter => ("queue", "#fef2f2"),
        };
        let _ = writeln!(
            s,
            "{element} \"{label}\" <<{}>> as {id} {color}",
            n.kind.as_str()
        );
    }
    for &(a, b, e) in &d.edges {
        let (a, b) = (d.id(a), d.id(b));
        let label = plantuml_str(&edge_lines(e));
        let arrow = if e.stage == Stage::Call { "..>" } else { "-->" };
        let _ = writeln!(s, "{a} {arrow} {b} : {label}");
    }
    s.push_str("@enduml\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_their_strings() {
        let evil = [
            "a\"]; evil -> x [label=\"".to_string(),
            "two\nlines".to_string(),
        ];
        let d = dot_str(&evil);
        // Every quote is escaped: the string cannot end early.
        let b = d.as_bytes();
        assert!(
            (0..b.len()).all(|i| b[i] != b'"' || (i > 0 && b[i - 1] == b'\\')),
            "{d}"
        );
        assert!(d.contains("\\\"]; evil"));
        assert!(!d.contains('\n'));
        let m = mermaid_str(&evil);
        assert!(!m.contains('"') && !m.contains(']'), "{m}");
        let p = plantuml_str(&["@enduml \"x\"".to_string()]);
        assert!(!p.contains('@') && !p.contains('"'), "{p}");
    }
}
