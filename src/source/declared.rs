//! Declared topology: what the broker says is set up for what a source reads, asked right
//! away and then every [`POLL`], on a connection of its own beside the source's:
//!
//! - a JetStream source: the stream's durable consumers (filter subject, delivered,
//!   pending, ack pending, pull requests waiting), through async-nats's JetStream API;
//! - a Redis Streams source: the stream's consumer groups (`XINFO GROUPS`: consumers,
//!   pending entries, entries read, lag);
//! - an AMQP source: the queues bound to its exchange (binding keys, consumers, messages
//!   ready and unacknowledged, deliveries), through RabbitMQ's management HTTP API at the
//!   same host, port 15672 (`?mgmt=PORT` or `?mgmt=http://host:port` overrides), with the
//!   URL's credentials. Queues that eventlens's own taps consume are left out;
//! - a Kafka source: the consumer groups that committed offsets on its topics (members,
//!   committed offsets, lag per partition: log end offset minus committed offset), through
//!   librdkafka's group list, committed-offset and watermark requests.
//!
//! Each answer becomes one declared record per consumer in the capture format
//! ([`declared_line`]), queued on the source's [`SourceStats`] for whoever records or shows
//! it. When the broker cannot tell (core NATS, MQTT, Redis pub/sub, the management plugin
//! off), the source says so in its note; the source itself never fails for it.

use super::url::{BrokerUrl, Endpoint};
use super::{Outlet, SourceStats, now_nanos};
use crate::ingest::cloudevents::ext;
use crate::model::DeclaredFigures;
use crate::time::format_rfc3339;
use futures_util::StreamExt;
use std::time::Duration;

/// How often the broker is asked again, unless the URL says (`?poll=`).
pub const POLL: Duration = Duration::from_secs(5);

/// How often this source's broker is asked: the URL's `?poll=` (`500ms`, `2s`, or a number
/// of seconds), else [`POLL`].
pub fn poll_every(url: &BrokerUrl) -> Duration {
    url.param("poll").and_then(parse_every).unwrap_or(POLL)
}

/// `500ms`, `2s`, `1.5` (seconds): at least 100 ms, at most a day.
pub fn parse_every(s: &str) -> Option<Duration> {
    let s = s.trim();
    let d = match s.strip_suffix("ms") {
        Some(ms) => Duration::from_millis(ms.parse::<u64>().ok()?),
        None => {
            let secs: f64 = s.strip_suffix('s').unwrap_or(s).parse().ok()?;
            if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
                return None;
            }
            Duration::from_secs_f64(secs)
        }
    };
    (Duration::from_millis(100)..=Duration::from_secs(86_400))
        .contains(&d)
        .then_some(d)
}

/// The consumer tag of eventlens's AMQP tap: queues it consumes are not declared topology.
pub const TAP_CONSUMER_TAG: &str = "eventlens-tap";

/// One declared consumer as the broker described it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredConsumer {
    /// The channel it reads: the JetStream stream, the Redis stream key, the AMQP exchange.
    pub channel: String,
    /// The durable consumer, the consumer group, the queue.
    pub consumer: String,
    /// `jetstream-consumer`, `redis-group`, `rabbitmq-queue`.
    pub kind: &'static str,
    /// `nats`, `redis`, `rabbitmq`.
    pub system: &'static str,
    /// The filter subject or the binding keys.
    pub filter: Option<String>,
    pub figures: DeclaredFigures,
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push(',');
    if let Ok(q) = serde_json::to_string(name) {
        out.push_str(&q);
    }
    out.push(':');
    if let Ok(q) = serde_json::to_string(value) {
        out.push_str(&q);
    }
}

/// The capture line of a declared record (see the README's capture format): a valid
/// CloudEvent whose `lensstage` is `declared`, the consumer in `lenshandler`, its channel
/// in `lenschannel` and the broker's figures as decimal strings. `broker` is the redacted
/// URL.
pub fn declared_line(d: &DeclaredConsumer, broker: &str) -> String {
    let time = format_rfc3339(d.figures.time);
    let mut out = String::from("{\"specversion\":\"1.0\"");
    push_field(
        &mut out,
        "id",
        &format!("declared:{}/{}@{time}", d.channel, d.consumer),
    );
    push_field(&mut out, "source", broker);
    push_field(&mut out, "type", "io.eventlens.declared");
    push_field(&mut out, ext::RECORDED_TIME, &time);
    push_field(&mut out, ext::STAGE, ext::DECLARED_STAGE);
    push_field(&mut out, ext::CHANNEL, &d.channel);
    push_field(&mut out, ext::HANDLER, &d.consumer);
    push_field(&mut out, ext::BROKER, broker);
    push_field(&mut out, ext::SYSTEM, d.system);
    push_field(&mut out, ext::DECLARED_KIND, d.kind);
    if let Some(f) = &d.filter {
        push_field(&mut out, ext::FILTER, f);
    }
    let f = &d.figures;
    for (name, v) in [
        (ext::DELIVERED, f.delivered),
        (ext::PENDING, f.pending),
        (ext::ACK_PENDING, f.ack_pending),
        (ext::CONSUMERS, f.consumers),
    ] {
        if let Some(v) = v {
            push_field(&mut out, name, &v.to_string());
        }
    }
    out.push('}');
    out
}

/// Asks the broker every [`poll_every`] until the consumer goes away. Never returns an error:
/// what cannot be told goes into the source's note.
pub async fn poll(url: &BrokerUrl, outlet: &Outlet) {
    let stats = &outlet.stats;
    let mut asker = match Asker::new(url) {
        Ok(a) => a,
        Err(why) => {
            stats.set_note(Some(format!("declared topology: {why}")));
            stats.mark_declared_polled();
            outlet.closed().await;
            return;
        }
    };
    let every = poll_every(url);
    loop {
        match asker.ask(url, stats).await {
            Ok(found) => {
                let broker = stats.url.clone();
                let lines = found.iter().map(|d| declared_line(d, &broker)).collect();
                stats.push_declared(lines);
                stats.set_note(None);
            }
            Err(e) => {
                let e = stats.scrub(&e);
                tracing::info!("{}: declared topology: {e}", stats.url);
                stats.set_note(Some(format!("declared topology not available: {e}")));
            }
        }
        stats.mark_declared_polled();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = outlet.closed() => return,
        }
    }
}

/// The connection a poller keeps between questions.
enum Asker {
    Nats(Option<async_nats::jetstream::Context>),
    Redis(
        Option<redis::aio::MultiplexedConnection>,
        Box<super::redis::Target>,
    ),
    Amqp(reqwest::Client),
    /// Kafka: a client per question, on a blocking thread (librdkafka's requests block).
    Kafka,
}

impl Asker {
    fn new(url: &BrokerUrl) -> Result<Asker, String> {
        Ok(match &url.endpoint {
            Endpoint::JetStream { .. } => Asker::Nats(None),
            // Over TLS for `rediss://`, as the stream reader.
            Endpoint::RedisStream { .. } => {
                Asker::Redis(None, Box::new(super::redis::Target::of(url)?))
            }
            Endpoint::Amqp { .. } => Asker::Amqp(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| format!("an HTTP client: {e}"))?,
            ),
            Endpoint::NatsCore { .. } => {
                return Err("core NATS subjects declare no consumers (a JetStream stream does: nats://host:port/stream/NAME)".into());
            }
            Endpoint::Mqtt { .. } => {
                return Err("MQTT does not tell its subscriptions".into());
            }
            Endpoint::RedisChannel { .. } => {
                return Err("Redis pub/sub has no consumer groups (a stream does: redis://host:port/stream/KEY)".into());
            }
            Endpoint::Webhook { .. } => {
                return Err("a webhook listener declares no consumers".into());
            }
            Endpoint::Sse { .. } => {
                return Err("an SSE stream declares no consumers".into());
            }
            Endpoint::Otlp { .. } => {
                return Err("an OTLP receiver declares no consumers".into());
            }
            Endpoint::Kafka { .. } => Asker::Kafka,
        })
    }

    async fn ask(
        &mut self,
        url: &BrokerUrl,
        stats: &SourceStats,
    ) -> Result<Vec<DeclaredConsumer>, String> {
        match (self, &url.endpoint) {
            (Asker::Nats(js), Endpoint::JetStream { stream, .. }) => {
                if js.is_none() {
                    let client = super::nats::connect_options(url)?
                        .connect(url.address())
                        .await
                        .map_err(|e| format!("connecting: {e}"))?;
                    *js = Some(async_nats::jetstream::new(client));
                }
                let Some(ctx) = js.as_ref() else {
                    return Err("not connected".into());
                };
                let r = jetstream(ctx, stream).await;
                if r.is_err() {
                    *js = None;
                }
                r
            }
            (Asker::Redis(con, target), Endpoint::RedisStream { key, .. }) => {
                if con.is_none() {
                    let config = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(Duration::from_secs(5)))
                        .set_response_timeout(Some(Duration::from_secs(5)));
                    *con = Some(target.multiplexed(&config).await?);
                }
                let Some(c) = con.as_mut() else {
                    return Err("not connected".into());
                };
                let r = redis_groups(c, key).await;
                if r.is_err() {
                    *con = None;
                }
                r
            }
            (
                Asker::Amqp(http),
                Endpoint::Amqp {
                    vhost, exchange, ..
                },
            ) => rabbitmq(http, url, stats, vhost, exchange).await,
            (Asker::Kafka, Endpoint::Kafka { topics, .. }) => kafka_groups(url, topics).await,
            _ => Err("this source declares nothing".into()),
        }
    }
}

/// The stream's durable consumers (ephemeral ones, such as eventlens's own ordered
/// consumer, are not declared topology).
async fn jetstream(
    js: &async_nats::jetstream::Context,
    stream_name: &str,
) -> Result<Vec<DeclaredConsumer>, String> {
    let stream = js
        .get_stream(stream_name)
        .await
        .map_err(|e| format!("stream {stream_name}: {e}"))?;
    let time = now_nanos();
    let mut out = Vec::new();
    let mut consumers = stream.consumers();
    while let Some(info) = consumers.next().await {
        let info = info.map_err(|e| format!("consumers of {stream_name}: {e}"))?;
        let Some(durable) = info.config.durable_name.clone() else {
            continue;
        };
        let filter = Some(info.config.filter_subject.clone()).filter(|f| !f.is_empty());
        out.push(DeclaredConsumer {
            channel: stream_name.to_string(),
            consumer: durable,
            kind: "jetstream-consumer",
            system: "nats",
            filter,
            figures: DeclaredFigures {
                time,
                delivered: Some(info.delivered.consumer_sequence),
                pending: Some(info.num_pending),
                ack_pending: Some(info.num_ack_pending as u64),
                consumers: Some(info.num_waiting as u64),
            },
        });
    }
    out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    Ok(out)
}

/// A RESP map or flat key/value array as pairs.
fn pairs(v: redis::Value) -> Vec<(String, redis::Value)> {
    match v {
        redis::Value::Map(m) => m
            .into_iter()
            .filter_map(|(k, v)| Some((text(&k)?, v)))
            .collect(),
        redis::Value::Array(a) => {
            let mut out = Vec::new();
            let mut it = a.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Some(k) = text(&k) {
                    out.push((k, v));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::VerbatimString { text, .. } => Some(text.clone()),
        redis::Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn number(v: &redis::Value) -> Option<u64> {
    match v {
        redis::Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// `XINFO GROUPS key`: the stream's consumer groups.
async fn redis_groups(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Result<Vec<DeclaredConsumer>, String> {
    let reply: redis::Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query_async(con)
        .await
        .map_err(|e| format!("XINFO GROUPS {key}: {e}"))?;
    let time = now_nanos();
    let groups = match reply {
        redis::Value::Array(a) | redis::Value::Set(a) => a,
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for g in groups {
        let fields = pairs(g);
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(name) = get("name").and_then(text) else {
            continue;
        };
        let last_delivered = get("last-delivered-id").and_then(text);
        // Entries read is nil until the group has read (or when Redis lost count).
        let delivered = get("entries-read")
            .and_then(number)
            .or_else(|| matches!(last_delivered.as_deref(), Some("0-0" | "0")).then_some(0));
        out.push(DeclaredConsumer {
            channel: key.to_string(),
            consumer: name,
            kind: "redis-group",
            system: "redis",
            filter: None,
            figures: DeclaredFigures {
                time,
                delivered,
                pending: get("lag").and_then(number),
                ack_pending: get("pending").and_then(number),
                consumers: get("consumers").and_then(number),
            },
        });
    }
    out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    Ok(out)
}

/// The consumer groups that committed offsets on the topics: one declared consumer per
/// group and topic, its lag (log end offset minus committed offset, summed over the
/// partitions) as `pending`, its committed offsets as `delivered`, its members as
/// `consumers`, and the lag of each partition in `filter`.
async fn kafka_groups(url: &BrokerUrl, topics: &[String]) -> Result<Vec<DeclaredConsumer>, String> {
    let (url, topics) = (url.clone(), topics.to_vec());
    let lags = tokio::task::spawn_blocking(move || super::kafka::group_lags(&url, &topics))
        .await
        .map_err(|e| format!("consumer groups: {e}"))??;
    let time = now_nanos();
    Ok(lags
        .into_iter()
        .map(|g| DeclaredConsumer {
            filter: Some(g.per_partition()),
            figures: DeclaredFigures {
                time,
                delivered: Some(g.committed()),
                pending: Some(g.lag()),
                ack_pending: None,
                consumers: Some(g.members),
            },
            channel: g.topic,
            consumer: g.group,
            kind: "kafka-group",
            system: "kafka",
        })
        .collect())
}

// One path segment of the management API.
use super::url::percent_encode as segment;

/// The management API's base URL (no credentials): `?mgmt=` as a port or a URL, else the
/// broker's host on port 15672.
pub fn management_base(url: &BrokerUrl) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    match url.param("mgmt") {
        Some(m) if m.contains("://") => m.trim_end_matches('/').to_string(),
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("http://{host}:{port}")
        }
        _ => format!("http://{host}:15672"),
    }
}

/// An error with its causes (`error sending request: ... Connection refused`).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The queues bound to the exchange, through the management API.
async fn rabbitmq(
    http: &reqwest::Client,
    url: &BrokerUrl,
    stats: &SourceStats,
    vhost: &str,
    exchange: &str,
) -> Result<Vec<DeclaredConsumer>, String> {
    let base = super::redact_url(&management_base(url));
    let base = base.as_str();
    let get = |path: String| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(user) = &url.user {
            req = req.basic_auth(user, url.password.as_deref());
        }
        async move {
            let resp = req.send().await.map_err(|e| {
                format!(
                    "the RabbitMQ management API at {base} did not answer ({}); \
                     `rabbitmq-plugins enable rabbitmq_management` turns it on",
                    error_chain(&e.without_url())
                )
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!(
                    "the RabbitMQ management API at {base}: HTTP {status}"
                ));
            }
            resp.json::<serde_json::Value>()
                .await
                .map_err(|e| format!("the RabbitMQ management API at {base}: {}", e.without_url()))
        }
    };
    let bindings = get(format!(
        "/api/exchanges/{}/{}/bindings/source",
        segment(vhost),
        segment(exchange)
    ))
    .await?;
    let time = now_nanos();
    // Queue -> binding keys, in the order the API gives them.
    let mut queues: Vec<(String, Vec<String>)> = Vec::new();
    for b in bindings.as_array().map(Vec::as_slice).unwrap_or_default() {
        if b["destination_type"].as_str() != Some("queue") {
            continue;
        }
        let Some(q) = b["destination"].as_str() else {
            continue;
        };
        // The source's own tap queue.
        if stats.is_own(q) {
            continue;
        }
        let key = b["routing_key"].as_str().unwrap_or_default().to_string();
        match queues.iter_mut().find(|(n, _)| n == q) {
            Some((_, keys)) => {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            None => queues.push((q.to_string(), vec![key])),
        }
    }
    let mut out = Vec::new();
    for (queue, keys) in queues {
        let info = match get(format!(
            "/api/queues/{}/{}",
            segment(vhost),
            segment(&queue)
        ))
        .await
        {
            Ok(i) => i,
            // Gone between the two questions (an auto-delete queue): not declared any more.
            Err(e) if e.contains("HTTP 404") => continue,
            Err(e) => return Err(e),
        };
        let tapped = info["consumer_details"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["consumer_tag"].as_str() == Some(TAP_CONSUMER_TAG))
        });
        if tapped {
            continue;
        }
        let n = |v: &serde_json::Value| v.as_u64();
        out.push(DeclaredConsumer {
            channel: exchange.to_string(),
            consumer: queue,
            kind: "rabbitmq-queue",
            system: "rabbitmq",
            filter: Some(keys.join(", ")),
            figures: DeclaredFigures {
                time,
                // No deliveries yet: the queue's stats have none to show.
                delivered: n(&info["message_stats"]["deliver_get"]).or(Some(0)),
                pending: n(&info["messages_ready"]),
                ack_pending: n(&info["messages_unacknowledged"]),
                consumers: n(&info["consumers"]),
            },
        });
    }
    out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_often_the_broker_is_asked_comes_from_the_url() {
        let url = |u: &str| BrokerUrl::parse(u).expect("parses");
        assert_eq!(
            poll_every(&url("kafka://h:9092/t?poll=500ms")),
            Duration::from_millis(500)
        );
        assert_eq!(poll_every(&url("kafka://h:9092/t")), POLL);
        assert_eq!(parse_every("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_every("1.5"), Some(Duration::from_millis(1500)));
        for bad in ["0", "50ms", "soon", "-1s", "inf", "2d", ""] {
            assert!(parse_every(bad).is_none(), "{bad}");
        }
        let e = BrokerUrl::parse("nats://h/stream/S?poll=soon").expect_err("refused");
        assert!(e.to_string().contains("poll=soon"), "{e}");
    }

    #[test]
    fn a_declared_line_reads_back_as_a_declared_consumer_not_an_event() {
        let d = DeclaredConsumer {
            channel: "ORDERS".into(),
            consumer: "billing".into(),
            kind: "jetstream-consumer",
            system: "nats",
            filter: Some("orders.>".into()),
            figures: DeclaredFigures {
                time: 1_714_557_600_000_000_000,
                delivered: Some(0),
                pending: Some(5_000_000_000),
                ack_pending: Some(0),
                consumers: None,
            },
        };
        let line = declared_line(&d, "nats://127.0.0.1:4222/stream/ORDERS");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["lensstage"], "declared");
        assert_eq!(v["lenspending"], "5000000000");
        let mut store = crate::model::Store::new();
        let input = store.add_input("test", Some(crate::model::Format::Live));
        let (mut n, mut t) = (1, 0);
        crate::ingest::lines::add_live_lines(&mut store, input, &[line], &mut n, &mut t);
        store.finalize();
        assert!(store.events.is_empty());
        assert!(store.inputs[input as usize].violations.is_empty());
        let ch = store
            .find_node(crate::model::NodeClass::Channel, "ORDERS")
            .expect("channel");
        let c = store
            .find_node(crate::model::NodeClass::Service, "billing")
            .expect("consumer");
        let decl = store.declared_between(ch, c).expect("declared");
        assert_eq!(decl.last.pending, Some(5_000_000_000));
        assert_eq!(store.str(decl.filter), "orders.>");
        assert!(store.topology.edge_between(ch, c).expect("edge").declared);
    }

    #[test]
    fn a_declared_record_without_its_consumer_is_a_violation_and_adds_nothing() {
        let line = r#"{"specversion":"1.0","id":"declared:orders/x","source":"redis://h/stream/orders","type":"io.eventlens.declared","recordedtime":"2024-05-01T10:00:05Z","lensstage":"declared","lenschannel":"orders","lenspending":"3"}"#;
        let mut store = crate::model::Store::new();
        let input = store.add_input("test", Some(crate::model::Format::Live));
        let (mut n, mut t) = (1, 0);
        crate::ingest::lines::add_live_lines(&mut store, input, &[line], &mut n, &mut t);
        store.finalize();
        assert!(store.events.is_empty() && store.declared.is_empty());
        assert_eq!(store.inputs[0].violations.len(), 1);
        assert!(
            store.inputs[0].violations[0]
                .message
                .contains("lenshandler")
        );
    }

    #[test]
    fn the_management_api_is_on_the_broker_host_unless_the_url_says() {
        let u = BrokerUrl::parse("amqp://guest:guest@mq:5672/%2f?exchange=e").expect("URL");
        assert_eq!(management_base(&u), "http://mq:15672");
        let u = BrokerUrl::parse("amqp://mq/%2f?exchange=e&mgmt=15673").expect("URL");
        assert_eq!(management_base(&u), "http://mq:15673");
        let u = BrokerUrl::parse("amqp://mq/%2f?exchange=e&mgmt=https://admin.example:443/")
            .expect("URL");
        assert_eq!(management_base(&u), "https://admin.example:443");
        assert_eq!(segment("/"), "%2F");
    }
}
