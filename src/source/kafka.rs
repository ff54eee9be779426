//! Kafka through `rdkafka` (librdkafka): every partition of the URL's topics, assigned by
//! hand. No consumer group is joined and no offset is committed, so the source takes
//! nothing from the topics' real consumers. Durable: when the consumer is behind, the
//! source stops taking records from librdkafka, whose bounded queue then stops fetching;
//! nothing is lost.
//!
//! The source remembers the last offset it passed on in each partition. After a failed
//! session (the broker gone, a topic not there yet) it assigns again from the offset after
//! it, so each record is passed on once, with its topic, partition, offset, key, headers and
//! timestamp. librdkafka reconnects to brokers by itself; its errors show as the status.

use super::url::{BrokerUrl, Endpoint, KafkaStart};
use super::{Backoff, BrokerMeta, HeaderValue, Message, Outlet, SourceStats, SourceStatus, System};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The prefix of the tap's own `group.id` (never joined, never committed under).
pub const TAP_GROUP_PREFIX: &str = "eventlens-tap-";

/// How long a metadata or offset request may take before the session is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The client's context: librdkafka's errors become the source's status, its log lines go
/// to `tracing` with the URL's password masked.
pub(crate) struct Context {
    stats: Arc<SourceStats>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let text = self.stats.scrub(log_message);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!("{}: librdkafka {fac}: {text}", self.stats.url)
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!("{}: librdkafka {fac}: {text}", self.stats.url)
            }
            _ => tracing::debug!("{}: librdkafka {fac}: {text}", self.stats.url),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka retries by itself: the status says why nothing arrives meanwhile, and
        // the next record sets it back to connected.
        self.stats.set_status(SourceStatus::Reconnecting {
            attempt: 1,
            next: SystemTime::now(),
            error: format!("{error}: {reason}"),
        });
    }
}

impl ConsumerContext for Context {}

/// The client configuration for the URL: its brokers, TLS over `kafka+ssl://` (`?ca=FILE`,
/// `?insecure=1`), SASL when it has a user (`?mechanism=`, PLAIN unless told). Holds the
/// password: never shown, logged or written.
pub(crate) fn client_config(url: &BrokerUrl) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", url.address())
        .set("client.id", "eventlens")
        .set("socket.timeout.ms", "10000");
    let sasl = url.user.as_deref().is_some_and(|u| !u.is_empty());
    c.set(
        "security.protocol",
        match (url.tls.is_some(), sasl) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        },
    );
    if let Some(tls) = &url.tls {
        if let Some(ca) = &tls.ca_file {
            c.set("ssl.ca.location", ca.to_string_lossy().as_ref());
        }
        if tls.insecure {
            c.set("enable.ssl.certificate.verification", "false");
        }
    }
    if sasl {
        c.set("sasl.mechanisms", url.param("mechanism").unwrap_or("PLAIN"))
            .set("sasl.username", url.user.as_deref().unwrap_or_default())
            .set("sasl.password", url.password.as_deref().unwrap_or_default());
    }
    c
}

/// A consumer that joins no group: librdkafka's consumer wants a `group.id` to take an
/// assignment, so it gets a name of its own (`eventlens-tap-PID-NANOS`) that it never
/// subscribes with and never commits under: the brokers never see it as a group member,
/// and no real group loses a partition.
fn consumer(url: &BrokerUrl, stats: &Arc<SourceStats>) -> Result<StreamConsumer<Context>, String> {
    let mut c = client_config(url);
    c.set(
        "group.id",
        format!(
            "{TAP_GROUP_PREFIX}{}-{}",
            std::process::id(),
            super::now_nanos()
        ),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    // An offset past a partition's end, or one already deleted: start at its end (as a
    // tail would), never fail.
    .set("auto.offset.reset", "latest")
    .set("enable.partition.eof", "false")
    // Fetch in bigger batches: the source's throughput is the pipeline's, not the
    // fetch round trip's.
    .set("fetch.wait.max.ms", "100")
    .set("queued.min.messages", "20000");
    c.create_with_context(Context {
        stats: stats.clone(),
    })
    .map_err(|e| stats.scrub(&format!("creating the Kafka client: {e}")))
}

/// Runs the source until the consumer goes away; `Some(reason)` when it cannot go on.
pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Kafka { topics, start } = &url.endpoint else {
        return Some("not a Kafka endpoint".into());
    };
    let stats = outlet.stats.clone();
    let mut backoff = Backoff::default();
    // The last offset passed on, per (topic, partition): nothing at or before it again.
    let mut last: HashMap<(String, i32), i64> = HashMap::new();
    loop {
        stats.set_status(SourceStatus::Connecting);
        let consumer = match consumer(url, &stats) {
            Ok(c) => Arc::new(c),
            // A configuration librdkafka refuses does not get better by waiting.
            Err(e) => return Some(e),
        };
        let assigned = tokio::select! {
            a = assign(&consumer, topics, start, &last) => a,
            _ = outlet.closed() => return None,
        };
        if let Err(e) = assigned {
            if !outlet.retry_after(&mut backoff, e).await {
                return None;
            }
            continue;
        }
        backoff.reset();
        stats.set_status(SourceStatus::Connected);
        let error = loop {
            let next = tokio::select! {
                m = consumer.recv() => m,
                _ = outlet.closed() => return None,
            };
            match next {
                Ok(m) => {
                    let key = (m.topic().to_string(), m.partition());
                    let offset = m.offset();
                    if last.get(&key).is_some_and(|l| offset <= *l) {
                        continue;
                    }
                    let msg = message(&m);
                    drop(m);
                    if !matches!(stats.status(), SourceStatus::Connected) {
                        stats.set_status(SourceStatus::Connected);
                    }
                    if !outlet.send_wait(msg).await {
                        return None;
                    }
                    last.insert(key, offset);
                }
                // A partition's error (the topic deleted, the leader gone for good): assign
                // again from where each partition stands.
                Err(e) => break e.to_string(),
            }
        };
        if !outlet.retry_after(&mut backoff, error).await {
            return None;
        }
    }
}

/// Asks the brokers for the topics' partitions and assigns every one of them, from the
/// offset after the last one passed on, else from `start`.
async fn assign(
    consumer: &Arc<StreamConsumer<Context>>,
    topics: &[String],
    start: &KafkaStart,
    last: &HashMap<(String, i32), i64>,
) -> Result<(), String> {
    let c = consumer.clone();
    let topics = topics.to_vec();
    let start = start.clone();
    let last = last.clone();
    // librdkafka's requests block: off the runtime's threads.
    tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        let mut by_time = TopicPartitionList::new();
        for topic in &topics {
            let md = c
                .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
                .map_err(|e| format!("metadata of topic {topic}: {e}"))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Err(format!("topic {topic}: not in the brokers' metadata"));
            };
            if let Some(e) = t.error() {
                return Err(format!("topic {topic}: {e:?}"));
            }
            if t.partitions().is_empty() {
                return Err(format!("topic {topic}: no partitions (does it exist?)"));
            }
            for p in t.partitions() {
                let offset = match (last.get(&(topic.clone(), p.id())), &start) {
                    (Some(l), _) => Offset::Offset(l.saturating_add(1)),
                    (None, KafkaStart::Beginning) => Offset::Beginning,
                    (None, KafkaStart::End) => Offset::End,
                    (None, KafkaStart::Offset(o)) => Offset::Offset(*o),
                    (None, KafkaStart::Time(t)) => {
                        by_time
                            .add_partition_offset(topic, p.id(), Offset::Offset(t / 1_000_000))
                            .map_err(|e| e.to_string())?;
                        continue;
                    }
                };
                tpl.add_partition_offset(topic, p.id(), offset)
                    .map_err(|e| e.to_string())?;
            }
        }
        if by_time.count() > 0 {
            // The first offset at or after the time (the end where there is none).
            let found = c
                .offsets_for_times(by_time, REQUEST_TIMEOUT)
                .map_err(|e| format!("offsets for the start time: {e}"))?;
            for e in found.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                    _ => Offset::End,
                };
                tpl.add_partition_offset(e.topic(), e.partition(), offset)
                    .map_err(|e| e.to_string())?;
            }
        }
        c.assign(&tpl)
            .map_err(|e| format!("assigning partitions: {e}"))
    })
    .await
    .map_err(|e| format!("assigning partitions: {e}"))?
}

/// A Kafka record as a broker [`Message`]: the topic is the channel; the partition, offset
/// and timestamp go to its metadata; headers as text (bytes that are not UTF-8 are
/// replaced).
pub(crate) fn message(m: &BorrowedMessage<'_>) -> Message {
    let mut headers = Vec::new();
    if let Some(h) = m.headers() {
        for hd in h.iter() {
            let value = hd
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            headers.push((hd.key.to_string(), HeaderValue::Str(value)));
        }
    }
    let broker_time = m
        .timestamp()
        .to_millis()
        .filter(|ms| *ms > 0)
        .and_then(|ms| ms.checked_mul(1_000_000));
    Message {
        system: System::Kafka,
        channel: m.topic().to_string(),
        headers,
        content_type: None,
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        meta: BrokerMeta {
            partition: Some(i64::from(m.partition())),
            offset: Some(m.offset()),
            broker_time,
            receive_time: super::now_nanos(),
            ..Default::default()
        },
    }
}

/// One consumer group's standing on one topic, from the brokers' metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    /// Members of the group now.
    pub members: u64,
    /// Per partition with a committed offset: (partition, committed, log end offset).
    pub partitions: Vec<(i32, i64, i64)>,
}

impl GroupLag {
    /// Records not yet consumed: log end offset minus committed offset, summed.
    pub fn lag(&self) -> u64 {
        self.partitions
            .iter()
            .map(|(_, committed, end)| end.saturating_sub(*committed).max(0) as u64)
            .sum()
    }

    /// Offsets committed, summed (what the group has consumed).
    pub fn committed(&self) -> u64 {
        self.partitions
            .iter()
            .map(|(_, c, _)| (*c).max(0) as u64)
            .sum()
    }

    /// `p0 lag 3, p1 lag 0`: the lag of each partition.
    pub fn per_partition(&self) -> String {
        self.partitions
            .iter()
            .map(|(p, c, e)| format!("p{p} lag {}", e.saturating_sub(*c).max(0)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The consumer groups that committed offsets on the topics, with their lag per partition
/// (log end offset minus committed offset). Blocking: librdkafka's requests.
pub fn group_lags(url: &BrokerUrl, topics: &[String]) -> Result<Vec<GroupLag>, String> {
    use rdkafka::consumer::BaseConsumer;
    let meta: BaseConsumer = client_config(url)
        .set("client.id", "eventlens-lag")
        .create()
        .map_err(|e| format!("a Kafka client: {e}"))?;
    let groups = meta
        .fetch_group_list(None, REQUEST_TIMEOUT)
        .map_err(|e| format!("listing consumer groups: {e}"))?;
    // Each topic's partitions and their log end offsets.
    let mut ends: Vec<(String, Vec<(i32, i64)>)> = Vec::new();
    for topic in topics {
        let md = meta
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .map_err(|e| format!("metadata of topic {topic}: {e}"))?;
        let mut parts = Vec::new();
        for t in md.topics().iter().filter(|t| t.name() == topic) {
            for p in t.partitions() {
                let (_, high) = meta
                    .fetch_watermarks(topic, p.id(), REQUEST_TIMEOUT)
                    .map_err(|e| format!("offsets of {topic}/{}: {e}", p.id()))?;
                parts.push((p.id(), high));
            }
        }
        ends.push((topic.clone(), parts));
    }
    let mut out = Vec::new();
    for g in groups.groups() {
        if g.name().is_empty()
            || g.name().starts_with(TAP_GROUP_PREFIX)
            || !matches!(g.protocol_type(), "consumer" | "")
        {
            continue;
        }
        // A client of the group's name asks for its committed offsets; it never subscribes,
        // so it never joins the group.
        let mut c = client_config(url);
        c.set("client.id", "eventlens-lag")
            .set("group.id", g.name())
            .set("enable.auto.commit", "false");
        let asker: BaseConsumer = c
            .create()
            .map_err(|e| format!("a Kafka client for group {}: {e}", g.name()))?;
        for (topic, parts) in &ends {
            let mut tpl = TopicPartitionList::new();
            for (p, _) in parts {
                tpl.add_partition(topic, *p);
            }
            let committed = asker
                .committed_offsets(tpl, REQUEST_TIMEOUT)
                .map_err(|e| format!("committed offsets of group {}: {e}", g.name()))?;
            let mut partitions = Vec::new();
            for e in committed.elements() {
                if let Offset::Offset(o) = e.offset()
                    && let Some((_, end)) = parts.iter().find(|(p, _)| *p == e.partition())
                {
                    partitions.push((e.partition(), o, *end));
                }
            }
            if partitions.is_empty() {
                continue;
            }
            partitions.sort_unstable();
            out.push(GroupLag {
                group: g.name().to_string(),
                topic: topic.clone(),
                members: g.members().len() as u64,
                partitions,
            });
        }
    }
    out.sort_by(|a, b| (&a.topic, &a.group).cmp(&(&b.topic, &b.group)));
    Ok(out)
}
