//! The live-source benchmark (`eventlens bench-live`): core NATS on loopback. A publisher
//! sends binary-mode CloudEvents at a set rate; the same run measures a bare `async-nats`
//! subscriber that only counts, then the eventlens pipeline as the window runs it (the NATS
//! source, the inbox, decode into batches, and the live worker: store, finalize, analysis,
//! snapshots) on the same load. The figure is the ratio of their throughputs.

use crate::live::LiveInput;
use crate::live::worker::LiveWorker;
use crate::model::Store;
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// One consumer's result.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Messages it handled (counted, or decoded and stored).
    pub processed: u64,
    /// Events in the store at the end (pipeline only).
    pub stored: u64,
    /// Messages eventlens dropped itself (its byte budget), pipeline only.
    pub dropped: u64,
    /// Events retention folded out of the store (`--max-events`), and in how many folds.
    pub folded: u64,
    pub folds: u64,
    /// The longest publish that folded.
    pub fold_max: Duration,
    /// From the first publish to the last message handled.
    pub elapsed: Duration,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.processed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Debug, Default)]
pub struct BenchResult {
    pub target_rate: u64,
    pub seconds: u64,
    pub published: u64,
    /// The publisher's achieved rate in the pipeline phase.
    pub publish_rate: f64,
    pub bare: Phase,
    pub pipeline: Phase,
    /// The retention budget of the pipeline's store.
    pub max_events: Option<usize>,
    /// The process's resident memory at the end, and its peak (Linux; 0 elsewhere).
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

impl BenchResult {
    /// Pipeline throughput over the bare subscriber's.
    pub fn ratio(&self) -> f64 {
        self.pipeline.rate() / self.bare.rate().max(1e-9)
    }

    pub fn report(&self) -> String {
        let line = |name: &str, p: &Phase| {
            format!(
                "  {name:<34} {:>9} of {} messages in {:.2} s = {:>9.0} msg/s (lost {})\n",
                p.processed,
                self.published,
                p.elapsed.as_secs_f64(),
                p.rate(),
                self.published.saturating_sub(p.processed)
            )
        };
        let retention = match self.max_events {
            Some(m) => format!(
                "  retention {m} events: folded {} events in {} folds (longest publish with a fold {:.0} ms)\n",
                self.pipeline.folded,
                self.pipeline.folds,
                self.pipeline.fold_max.as_secs_f64() * 1e3
            ),
            None => "  retention: none (all events kept)\n".to_string(),
        };
        format!(
            "bench-live: core NATS on loopback, {} msg/s for {} s ({} binary-mode CloudEvents, published at {:.0} msg/s)\n{}{}  pipeline stored {} events, dropped {} itself\n{retention}  memory: {:.0} MB resident at the end, {:.0} MB peak\n  ratio pipeline / bare subscriber: {:.2}\n",
            self.target_rate,
            self.seconds,
            self.published,
            self.publish_rate,
            line("bare async-nats subscriber", &self.bare),
            line("eventlens source + live worker", &self.pipeline),
            self.pipeline.stored,
            self.pipeline.dropped,
            self.rss_mb,
            self.peak_rss_mb,
            self.ratio()
        )
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!(
        r#"{{"orderId":"o-{i}","customer":"c-{}","items":[{{"sku":"sku-{}","qty":{}}}],"total":{}.5,"currency":"EUR"}}"#,
        i % 997,
        i % 31,
        i % 5 + 1,
        i % 300
    )
    .into_bytes()
}

/// Publishes `rate` messages a second for `seconds` onto `subject`; returns how many and
/// the achieved rate.
async fn publish(
    client: &async_nats::Client,
    subject: &str,
    rate: u64,
    seconds: u64,
) -> Result<(u64, f64), String> {
    let total = rate * seconds;
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next = tokio::time::Instant::now();
    while sent < total {
        for _ in 0..per_tick.min(total - sent) {
            let mut h = async_nats::HeaderMap::new();
            h.insert("ce-specversion", "1.0");
            h.insert("ce-id", format!("bench-{sent}").as_str());
            h.insert("ce-source", "/bench/producer");
            h.insert("ce-type", "com.example.OrderPlaced");
            h.insert("ce-time", "2024-05-01T10:00:00Z");
            h.insert("content-type", "application/json");
            client
                .publish_with_headers(subject.to_string(), h, payload(sent).into())
                .await
                .map_err(|e| format!("publishing: {e}"))?;
            sent += 1;
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    client.flush().await.map_err(|e| format!("flushing: {e}"))?;
    Ok((sent, sent as f64 / start.elapsed().as_secs_f64().max(1e-9)))
}

/// How long a consumer may see nothing, after the publisher is done, before it stops.
const IDLE: Duration = Duration::from_secs(3);

pub async fn run(
    server: &str,
    rate: u64,
    seconds: u64,
    max_events: Option<usize>,
) -> std::io::Result<BenchResult> {
    let io = std::io::Error::other;
    let publisher = async_nats::connect(server)
        .await
        .map_err(|e| io(format!("{server}: {e}")))?;
    let expected = rate * seconds;
    let mut result = BenchResult {
        target_rate: rate,
        seconds,
        published: expected,
        ..Default::default()
    };

    // 1. The bare subscriber: counts, nothing else.
    let subject = format!("eventlens.bench.{}.bare", std::process::id());
    let counter = async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 17)
        .connect(server)
        .await
        .map_err(|e| io(format!("{server}: {e}")))?;
    let mut sub = counter
        .subscribe(subject.clone())
        .await
        .map_err(|e| io(e.to_string()))?;
    counter.flush().await.map_err(|e| io(e.to_string()))?;
    let start = Instant::now();
    let count_task = tokio::spawn(async move {
        let mut n = 0u64;
        let mut last = start;
        while n < expected {
            match tokio::time::timeout(IDLE, sub.next()).await {
                Ok(Some(_)) => {
                    n += 1;
                    last = Instant::now();
                }
                _ => break,
            }
        }
        (n, last - start)
    });
    publish(&publisher, &subject, rate, seconds)
        .await
        .map_err(io)?;
    let (n, elapsed) = count_task.await.map_err(|e| io(e.to_string()))?;
    result.bare = Phase {
        processed: n,
        elapsed,
        ..Default::default()
    };
    drop(counter);

    // 2. The eventlens pipeline on the same load, as the window runs it: the NATS source,
    // the inbox, the bridge that decodes messages into batches, and the live worker that
    // appends them to its store, finalizes, analyses and publishes snapshots.
    let subject = format!("eventlens.bench.{}.pipeline", std::process::id());
    let url = super::BrokerUrl::parse(&format!("nats://{server}/{subject}"))
        .map_err(|e| io(e.to_string()))?;
    let feed = crate::live::broker::spawn_brokers(std::slice::from_ref(&url))?;
    let stats = feed
        .sources
        .first()
        .cloned()
        .ok_or_else(|| io("no source".to_string()))?;
    // Wait until the source has subscribed.
    let ready = Instant::now();
    while stats.status() != super::SourceStatus::Connected {
        if ready.elapsed() > Duration::from_secs(10) {
            return Err(io(format!("{url}: {}", stats.status())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut store = Store::new();
    let input = LiveInput::new(&mut store, "bench");
    let worker = LiveWorker::spawn(
        feed.receiver(),
        store,
        input,
        crate::analysis::AnalysisConfig::default(),
        max_events,
        None,
    )?;
    let start = Instant::now();
    let watch = tokio::task::spawn_blocking(move || {
        // When the worker had appended its last record.
        let (mut n, mut last) = (0u64, start);
        let mut idle_since = Instant::now();
        while n < expected {
            let now = worker.records();
            if now != n {
                n = now;
                last = Instant::now();
                idle_since = last;
            } else if idle_since.elapsed() > IDLE && start.elapsed() > Duration::from_secs(seconds)
            {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        // The snapshot that holds them all.
        let mut stored = 0;
        let mut stats = None;
        let until = Instant::now() + Duration::from_secs(60);
        while let Some(s) = worker.wait_snapshot(until.saturating_duration_since(Instant::now())) {
            stored = s.store.events.len() as u64;
            stats = Some(s.stats);
            if s.stats.records >= n {
                break;
            }
        }
        (n, stored, last - start, worker, stats)
    });
    let (published, publish_rate) = publish(&publisher, &subject, rate, seconds)
        .await
        .map_err(io)?;
    result.published = published;
    result.publish_rate = publish_rate;
    let (n, stored, elapsed, worker, worker_stats) = watch.await.map_err(|e| io(e.to_string()))?;
    (result.rss_mb, result.peak_rss_mb) = memory_mb();
    result.max_events = max_events;
    let dropped = stats.counters().dropped + feed.dropped();
    drop(worker);
    drop(feed);
    result.pipeline = Phase {
        processed: n,
        stored,
        dropped,
        elapsed,
        folded: worker_stats.map_or(0, |s| s.folded_events),
        folds: worker_stats.map_or(0, |s| s.folds),
        fold_max: worker_stats.map_or(Duration::ZERO, |s| s.fold_max),
    };
    Ok(result)
}

/// Resident and peak resident memory of this process in MB (`/proc/self/status`).
pub(crate) fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
