//! The startup options `--select` and `--cursor`: parsed once (a malformed one is a usage
//! error before the window opens), then resolved against what was loaded. One that does not
//! apply to the input (`--select node:nope`, `--select finding:99`, `--cursor` past the end)
//! is reported in one sentence, never ignored.

use super::{Command, Selection};
use crate::analysis::Finding;
use crate::model::{EventIdx, NodeId, Store};
pub use crate::replay::moment::StartCursor;

/// What `--select` names.
#[derive(Clone, Debug, PartialEq)]
pub enum StartSelect {
    Node(String),
    Edge(String, String),
    Event(String),
    Finding(usize),
}

impl StartSelect {
    /// `node:NAME`, `edge:FROM->TO`, `event:ID`, `finding:N`.
    pub fn parse(s: &str) -> Result<StartSelect, String> {
        let usage =
            || format!("--select {s}: expected node:NAME, edge:FROM->TO, event:ID or finding:N");
        let (kind, v) = s.split_once(':').ok_or_else(usage)?;
        if v.trim().is_empty() {
            return Err(usage());
        }
        Ok(match kind {
            "node" => StartSelect::Node(v.trim().to_string()),
            "edge" => {
                let (a, b) = v.split_once("->").ok_or_else(|| {
                    format!("--select {s}: an edge is edge:FROM->TO (node names)")
                })?;
                StartSelect::Edge(a.trim().to_string(), b.trim().to_string())
            }
            "event" => StartSelect::Event(v.to_string()),
            "finding" => StartSelect::Finding(v.trim().parse().map_err(|_| {
                format!("--select {s}: N must be a number (finding:0 is the first finding)")
            })?),
            _ => return Err(usage()),
        })
    }

    /// The command that selects it in `store` with these findings, or why it cannot.
    pub fn resolve(&self, store: &Store, findings: &[Finding]) -> Result<Command, String> {
        Ok(match self {
            StartSelect::Node(name) => {
                Command::Select(Selection::Node(node(store, name, &format!("node:{name}"))?))
            }
            StartSelect::Edge(a, b) => {
                let given = format!("edge:{a}->{b}");
                let (na, nb) = (node(store, a, &given)?, node(store, b, &given)?);
                if store.topology.edge_between(na, nb).is_none() {
                    return Err(format!(
                        "--select edge:{a}->{b}: there is no edge from {a} to {b}"
                    ));
                }
                Command::Select(Selection::Edge(na, nb))
            }
            StartSelect::Event(id) => {
                let e = store
                    .strings
                    .get(id)
                    .and_then(|sym| store.events.iter().position(|e| e.id == sym))
                    .ok_or_else(|| format!("--select event:{id}: no event has the id {id:?}"))?;
                Command::Select(Selection::Event(EventIdx(e as u32)))
            }
            StartSelect::Finding(i) => {
                if *i >= findings.len() {
                    return Err(match findings.len() {
                        0 => format!("--select finding:{i}: there are no findings"),
                        1 => format!("--select finding:{i}: there is 1 finding (finding:0)"),
                        n => format!(
                            "--select finding:{i}: there are {n} findings (finding:0 to finding:{})",
                            n - 1
                        ),
                    });
                }
                Command::SelectFinding(*i)
            }
        })
    }
}

/// A node by its name or its id (`handler-b`, `service:handler-b`); `given` is the
/// `--select` value, for the message.
fn node(store: &Store, name: &str, given: &str) -> Result<NodeId, String> {
    let ids = (0..store.nodes.len() as u32).map(NodeId);
    if let Some(n) = ids
        .clone()
        .find(|&n| store.node_name(n) == name)
        .or_else(|| ids.clone().find(|&n| store.node_key(n) == name))
    {
        return Ok(n);
    }
    let mut names: Vec<&str> = ids
        .filter(|&n| store.topology.node(n).is_some())
        .map(|n| store.node_name(n))
        .collect();
    names.sort_unstable();
    names.dedup();
    let shown = names.len().min(8);
    let more = if names.len() > shown { ", ..." } else { "" };
    Err(format!(
        "--select {given}: there is no node named {name:?} (the nodes are {}{more})",
        names[..shown].join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_parse_and_malformed_ones_say_what_is_expected() {
        assert_eq!(
            StartSelect::parse("node:handler-b"),
            Ok(StartSelect::Node("handler-b".into()))
        );
        assert_eq!(
            StartSelect::parse("edge:orders -> handler-b"),
            Ok(StartSelect::Edge("orders".into(), "handler-b".into()))
        );
        assert_eq!(
            StartSelect::parse("event:ord-1:x"),
            Ok(StartSelect::Event("ord-1:x".into()))
        );
        assert_eq!(StartSelect::parse("finding:3"), Ok(StartSelect::Finding(3)));
        for bad in [
            "handler-b",
            "nodes:x",
            "node:",
            "edge:a",
            "finding:x",
            "finding:-1",
        ] {
            let e = StartSelect::parse(bad).expect_err(bad);
            assert!(e.starts_with(&format!("--select {bad}:")), "{e}");
        }
    }

    #[test]
    fn cursors_parse_and_a_cursor_past_the_end_is_refused() {
        assert_eq!(StartCursor::parse("23"), Ok(StartCursor::Secs(23.0)));
        assert_eq!(StartCursor::parse("2.5s"), Ok(StartCursor::Secs(2.5)));
        assert_eq!(StartCursor::parse("end"), Ok(StartCursor::End));
        assert!(matches!(
            StartCursor::parse("2026-03-02T09:00:10Z"),
            Ok(StartCursor::At(_))
        ));
        assert!(StartCursor::parse("soon").is_err());
        assert!(StartCursor::parse("NaN").is_err());
        let empty = Store::new();
        assert!(StartCursor::End.resolve(&empty, "end").is_err());
    }
}
