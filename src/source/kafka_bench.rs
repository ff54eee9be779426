//! The Kafka benchmark (`eventlens bench-kafka --broker HOST:PORT`): a topic of its own is
//! filled with binary-mode CloudEvents (keys spread over its partitions) before anything is
//! timed; then, in the same run, a bare rdkafka consumer that only counts reads it from the
//! beginning, and the eventlens pipeline as the window runs it (the Kafka source, the inbox,
//! decode into batches, and the live worker: store, finalize, analysis, snapshots) reads it
//! from the beginning too. Kafka keeps what was produced, so both read the same records at
//! whatever speed they can: the figure is each one's records/s and their ratio.

use super::bench::Phase;
use crate::live::LiveInput;
use crate::live::worker::LiveWorker;
use crate::model::Store;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// The partitions of the benchmark's topic.
const PARTITIONS: i32 = 3;

#[derive(Clone, Debug, Default)]
pub struct KafkaBenchResult {
    pub records: u64,
    pub produce_rate: f64,
    pub bare: Phase,
    pub pipeline: Phase,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

impl KafkaBenchResult {
    /// Pipeline throughput over the bare consumer's.
    pub fn ratio(&self) -> f64 {
        self.pipeline.rate() / self.bare.rate().max(1e-9)
    }

    pub fn report(&self) -> String {
        let line = |name: &str, p: &Phase| {
            format!(
                "  {name:<34} {:>9} of {} records in {:.2} s = {:>9.0} records/s\n",
                p.processed,
                self.records,
                p.elapsed.as_secs_f64(),
                p.rate(),
            )
        };
        format!(
            "bench-kafka: {} binary-mode CloudEvents on {PARTITIONS} partitions (produced at {:.0} records/s), each read from the beginning\n{}{}  pipeline stored {} events\n  memory: {:.0} MB resident at the end, {:.0} MB peak\n  ratio pipeline / bare consumer: {:.2}\n",
            self.records,
            self.produce_rate,
            line("bare rdkafka consumer", &self.bare),
            line("eventlens source + live worker", &self.pipeline),
            self.pipeline.stored,
            self.rss_mb,
            self.peak_rss_mb,
            self.ratio()
        )
    }
}

fn payload(i: u64) -> String {
    format!(
        r#"{{"orderId":"o-{i}","customer":"c-{}","items":[{{"sku":"sku-{}","qty":{}}}],"total":{}.5,"currency":"EUR"}}"#,
        i % 997,
        i % 31,
        i % 5 + 1,
        i % 300
    )
}

/// Fills the topic with `records` records; returns the achieved rate.
fn produce(broker: &str, topic: &str, records: u64) -> Result<f64, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .map_err(|e| format!("producer: {e}"))?;
    let start = Instant::now();
    for i in 0..records {
        let id = format!("bench-{i}");
        let key = format!("customer-{}", i % 997);
        let body = payload(i);
        let headers = OwnedHeaders::new_with_capacity(6)
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_id",
                value: Some(id.as_str()),
            })
            .insert(Header {
                key: "ce_source",
                value: Some("/bench/producer"),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("com.example.OrderPlaced"),
            })
            .insert(Header {
                key: "ce_time",
                value: Some("2024-05-01T10:00:00Z"),
            })
            .insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(&body)
            .headers(headers);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("producing: {e}")),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| format!("flushing: {e}"))?;
    Ok(records as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// How long a consumer may see nothing before it stops.
const IDLE: Duration = Duration::from_secs(5);

/// A bare consumer: every partition from the beginning, counting.
async fn bare(broker: &str, topic: &str, records: u64) -> Result<Phase, String> {
    use futures_util::StreamExt;
    // A group name only because librdkafka's consumer wants one to take an assignment: it
    // never subscribes nor commits, as the source's tap.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set(
            "group.id",
            format!(
                "{}bench-{}",
                super::kafka::TAP_GROUP_PREFIX,
                std::process::id()
            ),
        )
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("queued.min.messages", "20000")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut n, mut last) = (0u64, start);
    let mut stream = consumer.stream();
    while n < records {
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(_))) => {
                n += 1;
                last = Instant::now();
            }
            Ok(Some(Err(e))) => return Err(format!("bare consumer: {e}")),
            _ => break,
        }
    }
    Ok(Phase {
        processed: n,
        elapsed: last - start,
        ..Default::default()
    })
}

pub async fn run(broker: &str, records: u64) -> std::io::Result<KafkaBenchResult> {
    let io = std::io::Error::other;
    let topic = format!("eventlens-bench-{}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .map_err(|e| io(format!("{broker}: {e}")))?;
    let created = admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| io(format!("creating {topic}: {e}")))?;
    for r in created {
        r.map_err(|(t, e)| io(format!("creating {t}: {e}")))?;
    }
    tracing::debug!("bench-kafka: topic {topic} created");
    let mut result = KafkaBenchResult {
        records,
        ..Default::default()
    };
    let (b, t) = (broker.to_string(), topic.clone());
    result.produce_rate = tokio::task::spawn_blocking(move || produce(&b, &t, records))
        .await
        .map_err(|e| io(e.to_string()))?
        .map_err(io)?;

    tracing::debug!("bench-kafka: {records} records produced");
    // 1. The bare consumer: counts, nothing else.
    result.bare = bare(broker, &topic, records).await.map_err(io)?;

    // 2. The eventlens pipeline on the same records, as the window runs it.
    let url = super::BrokerUrl::parse(&format!("kafka://{broker}/{topic}"))
        .map_err(|e| io(e.to_string()))?;
    let mut store = Store::new();
    let input = LiveInput::new(&mut store, "bench");
    let start = Instant::now();
    let feed = crate::live::broker::spawn_brokers(std::slice::from_ref(&url))?;
    let worker = LiveWorker::spawn(
        feed.receiver(),
        store,
        input,
        crate::analysis::AnalysisConfig::default(),
        None,
        None,
    )?;
    let watch = tokio::task::spawn_blocking(move || {
        let (mut n, mut last) = (0u64, start);
        let mut idle_since = Instant::now();
        while n < records {
            let now = worker.records();
            if now != n {
                n = now;
                last = Instant::now();
                idle_since = last;
            } else if idle_since.elapsed() > IDLE {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let mut stored = 0;
        let until = Instant::now() + Duration::from_secs(60);
        while let Some(s) = worker.wait_snapshot(until.saturating_duration_since(Instant::now())) {
            stored = s.store.events.len() as u64;
            if s.stats.records >= n {
                break;
            }
        }
        (n, stored, last - start, worker)
    });
    let (n, stored, elapsed, worker) = watch.await.map_err(|e| io(e.to_string()))?;
    (result.rss_mb, result.peak_rss_mb) = super::bench::memory_mb();
    drop(worker);
    drop(feed);
    result.pipeline = Phase {
        processed: n,
        stored,
        elapsed,
        ..Default::default()
    };
    // The topic is left on the broker: deleting it while librdkafka's destroyed consumer
    // may still refresh its metadata crashed librdkafka 2.12 against tansu (a metadata
    // answer for the deleted topic without a name; see the notes of issue 14).
    Ok(result)
}
