//! `idle-consumer`: a consumer the broker declares (a JetStream durable consumer, a
//! RabbitMQ queue bound to the exchange, a Redis consumer group) that received nothing
//! while there was something for it.
//!
//! Where the broker gives figures, they decide: the consumer is idle when messages wait for
//! it (pending, lag, messages ready) and its delivered count did not move between the first
//! and the last time the broker was asked (asked once: nothing was ever delivered to it).
//! Without figures, it is idle when events were seen published to its channel and none
//! delivered to it.

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, name, plural};
use crate::model::*;

pub fn idle_consumers(store: &Store, _cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    let topo = &store.topology;
    for d in &store.declared {
        let observed = topo
            .edge_between(d.channel, d.consumer)
            .map_or(0, |e| e.count);
        let published: u64 = topo
            .index
            .get(d.channel.0 as usize)
            .map(|&ix| {
                topo.graph
                    .edges_directed(ix, petgraph::Direction::Incoming)
                    .filter(|e| e.weight().stage == Stage::Publish)
                    .map(|e| e.weight().count)
                    .sum()
            })
            .unwrap_or(0);
        let (first, last) = (&d.first, &d.last);
        let moved = match (first.delivered, last.delivered) {
            (Some(a), Some(b)) => b > a || (d.snapshots <= 1 && b > 0),
            _ => false,
        };
        let idle = if observed > 0 {
            false
        } else {
            match (last.delivered, last.pending) {
                (Some(_), Some(p)) => p > 0 && !moved,
                (Some(_), None) => !moved && published > 0,
                (None, Some(p)) => {
                    p > 0 && (published > 0 || (d.snapshots > 1 && p > first.pending.unwrap_or(0)))
                }
                (None, None) => published > 0,
            }
        };
        if !idle {
            continue;
        }
        let consumer = name(store, d.consumer);
        let channel = name(store, d.channel);
        let kind = store.str(d.kind).to_string();
        let mut figures = Vec::new();
        if let Some(v) = last.delivered {
            if d.snapshots > 1 && first.delivered.is_some() {
                figures.push(format!("delivered {v}, unchanged since it was first asked"));
            } else {
                figures.push(format!("delivered {v}"));
            }
        }
        if let Some(p) = last.pending {
            match first.pending {
                Some(f) if d.snapshots > 1 && f != p => {
                    figures.push(format!("pending {p} (was {f})"))
                }
                _ => figures.push(format!("pending {p}")),
            }
        }
        if let Some(a) = last.ack_pending {
            figures.push(format!("ack pending {a}"));
        }
        if let Some(c) = last.consumers {
            figures.push(format!("consumers {c}"));
        }
        let broker = if figures.is_empty() {
            String::new()
        } else {
            format!("; the broker says {}", figures.join(", "))
        };
        let seen = if published > 0 {
            format!(
                "{} seen published on {channel}, none delivered to it",
                plural(published, "event", "events")
            )
        } else {
            "no delivery to it observed".to_string()
        };
        let mut acc = Acc::default();
        acc.edge(d.channel, d.consumer);
        acc.count = last.pending.unwrap_or(published);
        acc.time(first.time);
        acc.time(last.time);
        let filter = if d.filter.is_none() {
            String::new()
        } else {
            format!(
                " (filter {})",
                crate::analysis::report::clean(store.str(d.filter))
            )
        };
        out.push(acc.finish(
            store,
            Kind::IdleConsumer,
            Severity::Warning,
            format!("{consumer}: a declared consumer of {channel} that received nothing{broker}"),
            format!(
                "The broker declares {kind} {consumer}{filter} on {channel}, but it received \
                 nothing: {seen}{broker}. Its client is not running, is stuck, or reads \
                 somewhere else; if nothing should read here any more, delete it, since \
                 the broker keeps what waits for it."
            ),
            Evidence {
                declared_kind: Some(kind),
                broker_first: Some(*first),
                broker_last: Some(*last),
                published: Some(published),
                delivered: Some(observed),
                ..Evidence::default()
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::lines::add_live_lines;

    fn store_of(lines: &[String]) -> Store {
        let mut store = Store::new();
        let input = store.add_input("test", Some(Format::Capture));
        let (mut n, mut t) = (1, 0);
        add_live_lines(&mut store, input, lines, &mut n, &mut t);
        store.finalize();
        assert!(
            store.inputs[0].violations.is_empty(),
            "{:?}",
            store.inputs[0].violations
        );
        store
    }

    fn declared(consumer: &str, time: &str, figures: &str) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"declared:orders/{consumer}@{time}","source":"redis://h:6379/stream/orders","type":"io.eventlens.declared","recordedtime":"{time}","lensstage":"declared","lenschannel":"orders","lenshandler":"{consumer}","lenssystem":"redis","lensdeclaredkind":"redis-group"{figures}}}"#
        )
    }

    fn publish(i: u32) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"e-{i}","source":"/shop","type":"OrderPlaced","recordedtime":"2024-05-01T10:00:0{i}Z","lensstage":"publish","lenschannel":"orders"}}"#
        )
    }

    fn deliver(i: u32, handler: &str) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"e-{i}","source":"/shop","type":"OrderPlaced","recordedtime":"2024-05-01T10:00:0{i}.5Z","lensstage":"deliver","lenschannel":"orders","lenshandler":"{handler}"}}"#
        )
    }

    fn idle(store: &Store) -> Vec<Finding> {
        let mut out = Vec::new();
        idle_consumers(store, &AnalysisConfig::default(), &mut out);
        out
    }

    #[test]
    fn a_declared_consumer_with_a_backlog_and_no_deliveries_is_idle() {
        let mut lines: Vec<String> = (1..=3).map(publish).collect();
        lines.push(declared(
            "billing",
            "2024-05-01T10:00:05Z",
            r#","lensdelivered":"3","lenspending":"0","lensackpending":"0","lensconsumers":"1""#,
        ));
        lines.push(declared(
            "audit",
            "2024-05-01T10:00:05Z",
            r#","lensdelivered":"0","lenspending":"3","lensackpending":"0","lensconsumers":"0""#,
        ));
        let store = store_of(&lines);
        // Both are handler nodes with a declared edge from the channel.
        let ch = store
            .find_node(NodeClass::Channel, "orders")
            .expect("orders");
        for c in ["billing", "audit"] {
            let n = store.find_node(NodeClass::Service, c).expect(c);
            assert_eq!(store.nodes[n.0 as usize].kind, NodeKind::Handler);
            let e = store.topology.edge_between(ch, n).expect("edge");
            assert!(e.declared && e.count == 0);
        }
        let f = idle(&store);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::IdleConsumer);
        assert_eq!(f[0].nodes, vec!["channel:orders", "service:audit"]);
        assert!(f[0].title.contains("audit") && f[0].title.contains("pending 3"));
        assert_eq!(f[0].count, 3);
        assert_eq!(f[0].evidence.published, Some(3));
        // The report lists the declared nodes and edge, and the finding.
        let report = crate::analysis::report::Report::build(&store);
        let json = serde_json::to_value(&report).expect("JSON");
        let edges = json["topology"]["edges"].as_array().expect("edges");
        assert!(
            edges
                .iter()
                .any(|e| e["to"] == "service:audit" && e["declared"] == true)
        );
        assert!(
            json["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|f| f["kind"] == "idle-consumer")
        );
    }

    #[test]
    fn a_consumer_whose_delivered_count_does_not_move_is_idle_and_one_that_moves_is_not() {
        let lines = vec![
            declared(
                "stuck",
                "2024-05-01T10:00:00Z",
                r#","lensdelivered":"5","lenspending":"2""#,
            ),
            declared(
                "busy",
                "2024-05-01T10:00:00Z",
                r#","lensdelivered":"5","lenspending":"2""#,
            ),
            declared(
                "stuck",
                "2024-05-01T10:00:10Z",
                r#","lensdelivered":"5","lenspending":"9""#,
            ),
            declared(
                "busy",
                "2024-05-01T10:00:10Z",
                r#","lensdelivered":"12","lenspending":"2""#,
            ),
        ];
        let f = idle(&store_of(&lines));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].title.starts_with("stuck:"), "{}", f[0].title);
        assert!(f[0].title.contains("pending 9 (was 2)"), "{}", f[0].title);
    }

    #[test]
    fn without_figures_observed_deliveries_decide() {
        let mut lines: Vec<String> = (1..=2).map(publish).collect();
        lines.push(deliver(1, "seen"));
        for c in ["seen", "unseen"] {
            lines.push(declared(c, "2024-05-01T10:00:05Z", ""));
        }
        let f = idle(&store_of(&lines));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].nodes, vec!["channel:orders", "service:unseen"]);
        // Nothing published: nothing to receive, nothing to report.
        let f = idle(&store_of(&[declared("unseen", "2024-05-01T10:00:05Z", "")]));
        assert!(f.is_empty());
    }
}
