//! Declared topology: what a broker says is set up for what eventlens reads (JetStream
//! streams and their durable consumers, RabbitMQ queues bound to an exchange, Redis
//! consumer groups), kept beside what was observed. A declared consumer is a handler node
//! with a delivery edge from its channel, marked declared, whether or not anything was seen
//! on it; the broker's own figures (delivered, pending, ...) are kept as of the first and
//! the last time it was asked.

use super::*;
use crate::time::Nanos;

/// The broker's figures for one declared consumer at one time; `None` where the broker
/// does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeclaredFigures {
    /// When the broker was asked.
    #[serde(serialize_with = "ser_time")]
    pub time: Nanos,
    /// Messages delivered to the consumer so far (JetStream: the consumer's delivered
    /// sequence; Redis: the group's entries read; RabbitMQ: the queue's deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    /// Messages waiting for it, not yet delivered (JetStream: pending; Redis: the group's
    /// lag; RabbitMQ: messages ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Delivered and not acknowledged yet (JetStream: ack pending; Redis: the pending
    /// entries list; RabbitMQ: messages unacknowledged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_pending: Option<u64>,
    /// Clients attached (RabbitMQ: the queue's consumers; Redis: the group's consumers;
    /// JetStream: pull requests waiting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<u64>,
}

fn ser_time<S: serde::Serializer>(t: &Nanos, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::format_rfc3339(*t))
}

/// One declared consumer of a channel.
#[derive(Clone, Debug)]
pub struct Declared {
    pub channel: NodeId,
    pub consumer: NodeId,
    /// What the broker calls it: `jetstream-consumer`, `rabbitmq-queue`, `redis-group`.
    pub kind: Sym,
    /// The filter subject or binding key, where there is one.
    pub filter: Sym,
    /// The figures the first and the last time the broker was asked.
    pub first: DeclaredFigures,
    pub last: DeclaredFigures,
    /// Times the broker was asked about it.
    pub snapshots: u32,
    /// How many asks in a row, ending at the last, found more waiting (`pending`) than the
    /// ask before (0: the last ask found no more); `rise_from` is the ask before the first
    /// of them, where the rise began.
    pub rises: u32,
    pub rise_from: DeclaredFigures,
}

/// A declared consumer as a reader sees it, before interning.
#[derive(Clone, Debug, Default)]
pub struct NewDeclared<'a> {
    pub channel: &'a str,
    pub consumer: &'a str,
    pub kind: &'a str,
    pub filter: Option<&'a str>,
    /// The technology (`nats`, `rabbitmq`, `redis`) and the redacted broker URL.
    pub system: Option<&'a str>,
    pub address: Option<&'a str>,
    pub figures: DeclaredFigures,
}

impl Store {
    /// Adds (or updates) a declared consumer: the channel and the handler nodes, and its
    /// figures as of `d.figures.time`.
    pub fn add_declared(&mut self, d: &NewDeclared<'_>) {
        let channel = self.channel_or_dead_letter(d.channel);
        self.describe_node(channel, d.system, d.address);
        let consumer = self.node(NodeClass::Service, d.consumer);
        self.describe_node(consumer, d.system, d.address);
        if let Some(n) = self.nodes.get_mut(consumer.0 as usize)
            && matches!(n.kind, NodeKind::Service | NodeKind::Producer)
        {
            n.kind = NodeKind::Handler;
        }
        let kind = self.intern(d.kind);
        let filter = self.strings.intern_opt(d.filter.filter(|f| !f.is_empty()));
        let figures = d.figures;
        match self
            .declared
            .iter_mut()
            .find(|x| x.channel == channel && x.consumer == consumer)
        {
            Some(x) => {
                x.snapshots = x.snapshots.saturating_add(1);
                // A later ask: does more wait for it than at the ask before? (An ask read
                // twice, or one older than the last, leaves the run as it is.)
                if figures.time > x.last.time {
                    match (x.last.pending, figures.pending) {
                        (Some(before), Some(now)) if now > before => {
                            if x.rises == 0 {
                                x.rise_from = x.last;
                            }
                            x.rises = x.rises.saturating_add(1);
                        }
                        _ => x.rises = 0,
                    }
                }
                if figures.time >= x.last.time {
                    x.last = figures;
                }
                if figures.time < x.first.time {
                    x.first = figures;
                }
                if !filter.is_none() {
                    x.filter = filter;
                }
            }
            None => self.declared.push(Declared {
                channel,
                consumer,
                kind,
                filter,
                first: figures,
                last: figures,
                snapshots: 1,
                rises: 0,
                rise_from: figures,
            }),
        }
    }

    /// The declared consumer of `channel` called `consumer`, if the broker told of one.
    pub fn declared_between(&self, channel: NodeId, consumer: NodeId) -> Option<&Declared> {
        self.declared
            .iter()
            .find(|d| d.channel == channel && d.consumer == consumer)
    }
}
