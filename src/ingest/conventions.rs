//! The span conventions as data: which attributes each instrumentation family uses to say
//! what a span did (published or consumed a message, called a service, queried a store),
//! where (destination, broker, peer, database) and with what (message id, Kafka partition
//! and offset). One table per concern, each listing every convention in use, newest
//! first; [`read`] reads one span through all of them.
//!
//! Families covered:
//! - OpenTelemetry semantic conventions, every messaging version in use: the current
//!   `messaging.destination.name` / `messaging.operation.type`, the pre-1.17
//!   `messaging.destination` / `messaging.destination_kind` / `messaging.operation`, the
//!   system-specific `messaging.rabbitmq.*`, `rabbitmq.*` and `messaging.kafka.*`; HTTP,
//!   RPC and database attributes in their old (`net.peer.name`, `http.method`,
//!   `db.name`) and stable (`server.address`, `http.request.method`, `db.namespace`)
//!   spellings; `faas.*`; `cloudevents.*`.
//! - Zipkin/Brave tags: `kafka.topic`, `rabbit.exchange`, `rabbit.routing_key`,
//!   `rabbit.queue`, `sql.query`, and the `remoteEndpoint` (the broker, callee or database).
//! - OpenTracing (Jaeger clients): `message_bus.destination`, `peer.service`, `db.type`,
//!   `db.instance`.
//!
//! Nothing here touches the store: it only reads spans.

use super::spans::{Span, SpanKind};
use std::borrow::Cow;

/// What a span did, as far as the flow is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sent a message to a broker.
    Publish,
    /// Received or processed a message (also a FaaS invocation triggered by pub/sub).
    Consume,
    /// Called another service (HTTP, gRPC, any CLIENT span that is not a database call).
    CallOut,
    /// Served a call (a SERVER span).
    Serve,
    /// Queried or wrote a database or cache.
    Db,
    /// Work inside a service, or a messaging span that moves no message (ack, settle).
    Internal,
}

/// How a channel name was found: named by an attribute, or guessed from the span name or
/// the remote endpoint (the broker's name). A named channel wins over a guessed one when a
/// producer and its consumer disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// The remote endpoint: the broker rather than the destination.
    Broker,
    /// Parsed from the span name (`orders publish`, `<default> -> orders send`).
    SpanName,
    /// Named by a destination attribute.
    Attribute,
}

/// Operation attributes, newest first. Their values are matched by [`operation_role`].
const OPERATION: &[&str] = &[
    "messaging.operation.type", // OTel 1.26+
    "messaging.operation",      // OTel < 1.26 (and the generic name until 1.27)
    "messaging.operation.name", // OTel 1.27+: system-specific (`send`, `ack`, `poll`)
];

/// Destination attributes of every system but RabbitMQ, strongest first.
const DESTINATION: &[&str] = &[
    "messaging.destination.name", // OTel 1.17+
    "messaging.destination",      // OTel < 1.17
    "message_bus.destination",    // OpenTracing
    "kafka.topic",                // Brave kafka-clients
    "messaging.kafka.topic",      // some pre-1.0 Kafka instrumentations
    "messaging.destination.template",
    "rabbit.queue", // Brave, consumers only
];

/// RabbitMQ names a destination by exchange and routing key: the exchange (empty for the
/// default exchange), then the routing key, then the queue.
const RABBIT_EXCHANGE: &[&str] = &[
    "messaging.destination.name",
    "messaging.destination",
    "rabbit.exchange",
    "messaging.rabbitmq.exchange",
];
const RABBIT_ROUTING_KEY: &[&str] = &[
    "rabbitmq.destination.routing_key",           // OTel 1.3x
    "messaging.rabbitmq.destination.routing_key", // OTel 1.17 .. 1.2x
    "messaging.rabbitmq.routing_key",             // OTel < 1.17
    "rabbit.routing_key",                         // Brave
];
const RABBIT_QUEUE: &[&str] = &[
    "rabbit.queue",                            // Brave
    "messaging.destination.subscription.name", // OTel 1.2x consumers
    "messaging.rabbitmq.queue",
];

/// Names RabbitMQ's default exchange goes by.
fn is_default_exchange(name: &str) -> bool {
    matches!(
        name.trim(),
        "" | "amq.default" | "<default>" | "(default)" | "default"
    )
}

/// Message id attributes.
const MESSAGE_ID: &[&str] = &[
    "messaging.message.id", // OTel 1.17+
    "messaging.message_id", // OTel < 1.17
    "message_bus.message_id",
];

/// The broker's address.
const BROKER: &[&str] = &[
    "messaging.url", // OTel < 1.17
    "server.address",
    "net.peer.name",
    "network.peer.address",
    "peer.service",
    "peer.hostname",
];

/// Kafka partition, offset, consumer group and message key.
const KAFKA_PARTITION: &[&str] = &[
    "messaging.destination.partition.id",
    "messaging.kafka.destination.partition",
    "messaging.kafka.partition",
    "kafka.partition",
];
const KAFKA_OFFSET: &[&str] = &[
    "messaging.kafka.offset",
    "messaging.kafka.message.offset",
    "kafka.offset",
];
const KAFKA_GROUP: &[&str] = &[
    "messaging.consumer.group.name",
    "messaging.kafka.consumer.group",
    "messaging.kafka.consumer_group",
    "kafka.group.id",
];
const KAFKA_KEY: &[&str] = &[
    "messaging.kafka.message.key",
    "messaging.kafka.message_key",
    "kafka.key",
];

/// Database system attributes (their presence makes a CLIENT span a database call).
const DB_SYSTEM: &[&str] = &["db.system.name", "db.system", "db.type"];
/// The database (namespace) a call goes to.
const DB_NAME: &[&str] = &[
    "db.namespace",
    "db.name",
    "db.instance",
    "db.redis.database_index",
];
/// What a database call did.
const DB_OPERATION: &[&str] = &["db.operation.name", "db.operation", "db.query.summary"];
/// Brave's JDBC/p6spy spans carry the query but no system.
const DB_QUERY: &[&str] = &["sql.query", "jdbc.query", "db.statement", "db.query.text"];

/// The service or host a call goes to, best first.
const PEER: &[&str] = &[
    "peer.service",
    "server.address",
    "net.peer.name",
    "http.host",
    "rpc.service",
];

/// URL attributes whose host names the callee when nothing else does.
const URL: &[&str] = &["url.full", "http.url"];

/// HTTP and RPC attributes that name a call.
const HTTP_METHOD: &[&str] = &["http.request.method", "http.method"];
const HTTP_ROUTE: &[&str] = &["http.route"];

fn first<'s>(s: &'s Span, keys: &[&str]) -> Option<Cow<'s, str>> {
    keys.iter().find_map(|k| s.attr_str(k))
}

/// The first of `keys` present, even when its value is empty (RabbitMQ's default exchange
/// is the empty string).
fn first_present<'s>(s: &'s Span, keys: &[&str]) -> Option<Cow<'s, str>> {
    keys.iter()
        .find_map(|k| s.attr(k))
        .map(super::spans::AttrValue::as_str)
}

/// What the operation attribute says: publish or consume, or a messaging operation that
/// moves no message.
fn operation_role(op: &str) -> Option<Role> {
    Some(match op.to_ascii_lowercase().as_str() {
        "publish" | "send" | "create" | "produce" => Role::Publish,
        "receive" | "process" | "deliver" | "consume" | "poll" | "basic.consume" | "basic.get"
        | "basic.deliver" => Role::Consume,
        "settle" | "ack" | "nack" | "reject" | "complete" | "abandon" | "defer" | "dead_letter"
        | "modacknowledge" | "acknowledge" => Role::Internal,
        _ => return None,
    })
}

/// The messaging system (`rabbitmq`, `kafka`), also when only Brave's tags say it.
pub fn system<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    if let Some(sys) = first(s, &["messaging.system"]) {
        return Some(sys);
    }
    let has_prefix = |p: &str| s.attrs.iter().any(|(k, _)| k.starts_with(p));
    if has_prefix("rabbit.") || has_prefix("messaging.rabbitmq.") || has_prefix("rabbitmq.") {
        Some(Cow::Borrowed("rabbitmq"))
    } else if has_prefix("kafka.") || has_prefix("messaging.kafka.") {
        Some(Cow::Borrowed("kafka"))
    } else {
        None
    }
}

/// What the span did.
pub fn role(s: &Span) -> Role {
    let op = first(s, OPERATION).and_then(|o| operation_role(&o));
    let faas_pubsub = s
        .attr_str("faas.trigger")
        .is_some_and(|t| t.eq_ignore_ascii_case("pubsub"))
        && matches!(s.kind, SpanKind::Server | SpanKind::Consumer);
    match (s.kind, op) {
        (SpanKind::Producer, _) => return Role::Publish,
        (SpanKind::Consumer, Some(Role::Internal)) => return Role::Internal,
        (SpanKind::Consumer, _) => return Role::Consume,
        (_, Some(Role::Publish)) => return Role::Publish,
        (_, Some(Role::Consume)) => return Role::Consume,
        _ if faas_pubsub => return Role::Consume,
        _ => {}
    }
    let messaging = op.is_some() || first(s, &["messaging.system"]).is_some();
    match s.kind {
        SpanKind::Client if first(s, DB_SYSTEM).is_some() => Role::Db,
        // A query without a system (older or minimal instrumentation): still a database.
        SpanKind::Client
            if first(s, DB_QUERY).is_some() && !messaging && first(s, HTTP_METHOD).is_none() =>
        {
            Role::Db
        }
        // A messaging client call that moves no message (ack, settle, a channel setup).
        SpanKind::Client if messaging => Role::Internal,
        SpanKind::Client => Role::CallOut,
        SpanKind::Server => Role::Serve,
        // OpenTracing without `span.kind`: a span tagged with the database it queries.
        _ if first(s, DB_SYSTEM).is_some() && !messaging => Role::Db,
        _ => Role::Internal,
    }
}

/// The channel a messaging span names, and how it was found.
pub fn channel<'s>(s: &'s Span) -> Option<(Cow<'s, str>, Strength)> {
    if system(s).is_some_and(|sys| sys.eq_ignore_ascii_case("rabbitmq")) {
        if let Some(c) = rabbit_channel(s) {
            return Some((c, Strength::Attribute));
        }
    } else if let Some(d) = first(s, DESTINATION) {
        return Some((d, Strength::Attribute));
    }
    if let Some(d) = channel_from_name(&s.name) {
        return Some((Cow::Owned(d), Strength::SpanName));
    }
    s.remote_service
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(|r| (Cow::Borrowed(r), Strength::Broker))
}

/// RabbitMQ: the exchange, unless it is the default exchange, whose routing key is the
/// queue's name; else the queue. A Brave consumer span names the queue it read
/// (`rabbit.queue`): that is where its messages come from.
fn rabbit_channel<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    if s.kind == SpanKind::Consumer
        && let Some(q) = first(s, &["rabbit.queue"])
    {
        return Some(q);
    }
    if let Some(ex) = first_present(s, RABBIT_EXCHANGE) {
        // OTel 1.2x consumers may write `exchange:routing key:queue`.
        let ex_part = match ex.split_once(':') {
            Some((e, _)) => Cow::Owned(e.to_string()),
            None => ex.clone(),
        };
        if !is_default_exchange(&ex_part) {
            return Some(ex_part);
        }
        if ex.contains(':') {
            // `:orders:orders` or `amq.default:orders`: the routing key follows.
            if let Some(rk) = ex.split(':').nth(1).filter(|k| !k.is_empty()) {
                return Some(Cow::Owned(rk.to_string()));
            }
        }
    }
    first(s, RABBIT_ROUTING_KEY).or_else(|| first(s, RABBIT_QUEUE))
}

/// The destination in a span name: OpenTelemetry writes `{destination} {operation}`
/// (`orders publish`, older `orders send`) or `{operation} {destination}` (`publish
/// orders`); the OpenTelemetry Java and JS agents wrote RabbitMQ names as `exchange ->
/// routing key` (`<default> -> orders send`).
pub fn channel_from_name(name: &str) -> Option<String> {
    let words: Vec<&str> = name.split_whitespace().collect();
    let (op_at, _) = words
        .iter()
        .enumerate()
        .find(|(_, w)| operation_role(w).is_some())?;
    let rest: Vec<&str> = if op_at == 0 {
        words[1..].to_vec()
    } else {
        words[..op_at].to_vec()
    };
    let dest = rest.join(" ");
    let dest = match dest.split_once("->") {
        Some((ex, rk)) => {
            let (ex, rk) = (ex.trim(), rk.trim());
            if is_default_exchange(ex) { rk } else { ex }.to_string()
        }
        None => dest,
    };
    let dest = dest.trim();
    let anonymous = dest.is_empty()
        || dest.starts_with('(') && dest.ends_with(')')
        || dest.starts_with('<') && dest.ends_with('>');
    (!anonymous).then(|| dest.to_string())
}

/// The message id a messaging span carries.
pub fn message_id<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    first(s, MESSAGE_ID)
}

/// Kafka's coordinates of a message: (partition, offset).
pub fn kafka_position(s: &Span) -> Option<(i64, i64)> {
    let p = KAFKA_PARTITION
        .iter()
        .find_map(|k| s.attr(k))
        .and_then(|v| v.as_int())?;
    let o = KAFKA_OFFSET
        .iter()
        .find_map(|k| s.attr(k))
        .and_then(|v| v.as_int())?;
    Some((p, o))
}

/// The Kafka consumer group of a consumer span.
pub fn consumer_group<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    first(s, KAFKA_GROUP)
}

/// The message key (Kafka) of a messaging span.
pub fn message_key<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    first(s, KAFKA_KEY)
}

/// Where the broker is: its URL or host, with any credentials removed.
pub fn broker(s: &Span) -> Option<String> {
    let raw = first(s, BROKER).or_else(|| {
        s.remote_service
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Cow::Borrowed)
    })?;
    Some(strip_credentials(&raw))
}

/// A URL without its `user:password@` part.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// The database a database span talks to: its namespace (`db.name`), else the service
/// name the instrumentation gave it, else the system (`postgresql`, `redis`).
pub fn db_store<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    let system = first(s, DB_SYSTEM);
    let name = first(s, DB_NAME).filter(|n| {
        // A Redis database index alone ("0") names nothing a user would recognise.
        !(s.attr("db.redis.database_index").is_some() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    name.or_else(|| first(s, &["peer.service"]))
        .or(system)
        .or_else(|| {
            s.remote_service
                .as_deref()
                .filter(|r| !r.is_empty())
                .map(Cow::Borrowed)
        })
        .or_else(|| first(s, &["server.address", "net.peer.name"]))
        // A query that names nothing it went to still went to a database.
        .or(Some(Cow::Borrowed("database")))
}

/// The database system (`postgresql`, `redis`).
pub fn db_system<'s>(s: &'s Span) -> Option<Cow<'s, str>> {
    first(s, DB_SYSTEM)
}

/// What a database call did: its operation, else the span name.
pub fn db_operation(s: &Span) -> String {
    first(s, DB_OPERATION)
        .map(|o| o.into_owned())
        .unwrap_or_else(|| s.name.trim().to_string())
}

/// The service or host a CLIENT span calls: `peer.service`, Zipkin's remote endpoint,
/// `server.address`, `net.peer.name`, the URL's host.
pub fn peer(s: &Span) -> Option<String> {
    if let Some(p) = first(s, &PEER[..1]) {
        return Some(p.into_owned());
    }
    if let Some(r) = s.remote_service.as_deref().filter(|r| !r.is_empty()) {
        return Some(r.to_string());
    }
    if let Some(p) = first(s, &PEER[1..]) {
        return Some(p.into_owned());
    }
    let url = first(s, URL)?;
    let rest = url.split_once("://").map_or(&*url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// The name of a call, low in cardinality as span names are meant to be: RPC
/// `service/method`, HTTP `METHOD route`, else the span name.
pub fn call_name(s: &Span) -> String {
    if let (Some(svc), Some(m)) = (s.attr_str("rpc.service"), s.attr_str("rpc.method")) {
        return format!("{svc}/{m}");
    }
    if let (Some(m), Some(r)) = (first(s, HTTP_METHOD), first(s, HTTP_ROUTE)) {
        return format!("{m} {r}");
    }
    let name = s.name.trim();
    if name.is_empty() {
        first(s, HTTP_METHOD).map_or_else(|| "call".to_string(), |m| m.into_owned())
    } else {
        name.to_string()
    }
}

/// A FaaS function (`faas.*` on a span that is not a call out).
pub fn is_faas(s: &Span) -> bool {
    s.kind != SpanKind::Client
        && ["faas.trigger", "faas.name", "faas.invoked_name"]
            .iter()
            .any(|k| s.attr(k).is_some())
}

/// The delivery attempt, from any system's delivery-count attribute.
pub fn attempt(s: &Span) -> u16 {
    const SUFFIXES: &[&str] = &[
        ".delivery_count",
        ".delivery_attempt",
        ".retry_count",
        ".retry",
        "retry.count",
    ];
    s.attrs
        .iter()
        .find(|(k, _)| SUFFIXES.iter().any(|suf| k.ends_with(suf)))
        .and_then(|(_, v)| v.as_int())
        .map_or(0, |n| n.clamp(0, u16::MAX as i64) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_in_span_names() {
        for (name, want) in [
            ("orders publish", Some("orders")),
            ("publish orders", Some("orders")),
            ("orders send", Some("orders")),
            ("<default> -> orders send", Some("orders")),
            ("shop -> order.created send", Some("shop")),
            ("billing process", Some("billing")),
            ("(temporary) receive", None),
            ("send", None),
            ("GET /orders", None),
            ("on-message", None),
        ] {
            assert_eq!(channel_from_name(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn credentials_are_removed() {
        assert_eq!(
            strip_credentials("amqp://guest:secret@mq:5672/vhost"),
            "amqp://mq:5672/vhost"
        );
        assert_eq!(strip_credentials("amqp://mq"), "amqp://mq");
        assert_eq!(strip_credentials("mq:5672"), "mq:5672");
    }
}
