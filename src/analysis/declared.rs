//! `idle-consumer`: a consumer the broker declares (a JetStream durable consumer, a
//! RabbitMQ queue bound to the exchange, a Redis consumer group) that received nothing
//! while there was something for it.
//!
//! Where the broker gives figures, they decide: the consumer is idle when messages wait for
//! it (pending, lag, messages ready) and its delivered count did not move between the first
//! and the last time the broker was asked (asked once: nothing was ever delivered to it).
//! Without figures, it is idle when events were seen published to its channel and none
//! delivered to it.
//!
//! `growing-lag`: a declared consumer that is not idle, but has more waiting for it
//! (JetStream pending, a Kafka group's lag, a Redis group's lag, a RabbitMQ queue's ready
//! messages) at each of the last [`RISES`] asks: it consumes more slowly than its channel
//! is produced to, and falls further behind for as long as that lasts.

use super::config::AnalysisConfig;
use super::findings::{Acc, Evidence, Finding, Kind, Severity, name, plural};
use crate::model::*;

/// What decides whether a declared consumer is idle: deliveries to it observed, events
/// observed published to its channel, and whether it is idle by those and the broker's
/// figures.
struct Idleness {
    observed: u64,
    published: u64,
    idle: bool,
}

fn idleness(store: &Store, d: &Declared) -> Idleness {
    let topo = &store.topology;
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
    Idleness {
        observed,
        published,
        idle,
    }
}

pub fn idle_consumers(store: &Store, _cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    for d in &store.declared {
        let Idleness {
            observed,
            published,
            idle,
        } = idleness(store, d);
        if !idle {
            continue;
        }
        let (first, last) = (&d.first, &d.last);
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

/// Asks in a row that must each find more waiting than the one before for a
/// `growing-lag` finding: with the source's poll every 5 s, 15 s of growth.
pub const RISES: u32 = 3;

pub fn growing_lags(store: &Store, _cfg: &AnalysisConfig, out: &mut Vec<Finding>) {
    for d in &store.declared {
        let (from, last) = (&d.rise_from, &d.last);
        let (Some(before), Some(now)) = (from.pending, last.pending) else {
            continue;
        };
        if d.rises < RISES || now <= before {
            continue;
        }
        // Receiving nothing at all says more: `idle-consumer` speaks for it.
        if idleness(store, d).idle {
            continue;
        }
        let consumer = name(store, d.consumer);
        let channel = name(store, d.channel);
        let kind = store.str(d.kind).to_string();
        let secs = (last.time - from.time) as f64 / 1e9;
        let rate = if secs > 0.0 {
            format!(
                ", {}",
                crate::analysis::series::fmt_rate((now - before) as f64 / secs)
            )
        } else {
            String::new()
        };
        let delivered = match (from.delivered, last.delivered) {
            (Some(a), Some(b)) if b != a => format!("; meanwhile it took {} more", b - a),
            (Some(a), Some(_)) => format!("; meanwhile it took nothing (delivered {a})"),
            _ => String::new(),
        };
        let filter = if d.filter.is_none() {
            String::new()
        } else {
            format!(
                " (now {})",
                crate::analysis::report::clean(store.str(d.filter))
            )
        };
        let mut acc = Acc::default();
        acc.edge(d.channel, d.consumer);
        acc.count = now - before;
        acc.time(from.time);
        acc.time(last.time);
        out.push(acc.finish(
            store,
            Kind::GrowingLag,
            Severity::Warning,
            format!(
                "{consumer}: its lag on {channel} grew at each of the last {} asks, from {before} to {now}",
                d.rises
            ),
            format!(
                "The broker declares {kind} {consumer} on {channel}. What waits for it grew \
                 at each of the last {} times the broker was asked, from {before} to \
                 {now}{filter} over {secs:.0} s{rate}{delivered}. It consumes more slowly \
                 than {channel} is produced to, and falls further behind for as long as \
                 this lasts. Give it more consumers (for a Kafka topic, more partitions \
                 too), make its handler faster, or look for retries and errors in it.",
                d.rises
            ),
            Evidence {
                declared_kind: Some(kind),
                broker_first: Some(*from),
                broker_last: Some(*last),
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

    fn growing(lines: &[String]) -> Vec<Finding> {
        let mut out = Vec::new();
        growing_lags(&store_of(lines), &AnalysisConfig::default(), &mut out);
        out
    }

    /// Asks 5 s apart with these (delivered, pending) figures.
    fn asks(consumer: &str, figures: &[(u64, u64)]) -> Vec<String> {
        figures
            .iter()
            .enumerate()
            .map(|(i, (delivered, pending))| {
                declared(
                    consumer,
                    &format!("2024-05-01T10:00:{:02}Z", i * 5),
                    &format!(r#","lensdelivered":"{delivered}","lenspending":"{pending}""#),
                )
            })
            .collect()
    }

    #[test]
    fn a_consumer_whose_lag_grows_at_every_ask_is_growing_lag() {
        // Consuming (delivered moves), but less than arrives: 10, 40, 70, 100 waiting.
        let lines = asks("slow", &[(0, 5), (10, 10), (20, 40), (30, 70), (40, 100)]);
        let f = growing(&lines);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::GrowingLag);
        assert_eq!(f[0].nodes, vec!["channel:orders", "service:slow"]);
        // The run began at the second ask (5 to 10 was a rise too): four rises, 5 to 100.
        assert!(
            f[0].title
                .contains("grew at each of the last 4 asks, from 5 to 100"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].detail.contains("over 20 s, 4.8/s;") && f[0].detail.contains("took 40 more"),
            "{}",
            f[0].detail
        );
        assert_eq!(f[0].count, 95);
        // In the JSON report, with the broker's figures where the rise began and at the end.
        let report = crate::analysis::report::Report::build(&store_of(&lines));
        // The text report counts what the broker says waits, not events.
        let text = report.to_text();
        assert!(text.contains("from 5 to 100  [95 more waiting"), "{text}");
        let json = serde_json::to_value(&report).expect("JSON");
        let g = json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["kind"] == "growing-lag")
            .cloned()
            .expect("a growing-lag finding");
        assert_eq!(g["evidence"]["broker_first"]["pending"], 5, "{g}");
        assert_eq!(g["evidence"]["broker_last"]["pending"], 100, "{g}");
    }

    #[test]
    fn a_lag_that_stops_growing_or_grew_too_few_times_is_not_reported() {
        // Grew three times, then fell: caught up, nothing to say.
        assert!(growing(&asks("a", &[(0, 1), (1, 2), (2, 3), (3, 4), (9, 0)])).is_empty());
        // Grew twice only.
        assert!(growing(&asks("b", &[(0, 1), (1, 2), (2, 3)])).is_empty());
        // Level between two asks breaks the run: only the last two rises count.
        assert!(
            growing(&asks(
                "c",
                &[(0, 1), (1, 2), (2, 3), (3, 3), (4, 5), (5, 9)]
            ))
            .is_empty()
        );
        // The same ask read twice (two copies of one recording) neither rises nor breaks.
        let mut lines = asks("d", &[(0, 1), (1, 2), (2, 3), (3, 4)]);
        lines.insert(2, lines[1].clone());
        assert_eq!(growing(&lines).len(), 1);
        // A consumer that took nothing while its lag grew is idle, and only that.
        let lines = asks("e", &[(7, 1), (7, 2), (7, 3), (7, 4)]);
        assert!(growing(&lines).is_empty());
        assert_eq!(idle(&store_of(&lines)).len(), 1);
    }
}
