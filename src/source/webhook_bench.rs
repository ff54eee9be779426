//! The webhook benchmark (`eventlens bench-webhook`): CloudEvents in binary mode over HTTP
//! on loopback, sent by `reqwest` with a fixed number of requests in flight for a fixed
//! time. The same run measures a bare `axum` handler that only reads the body and counts,
//! then the eventlens pipeline as the window runs it (the webhook listener, decode, the
//! inbox, batches and the live worker: store, finalize, analysis, snapshots). The figure
//! is the ratio of their throughputs.

use crate::live::LiveInput;
use crate::live::worker::LiveWorker;
use crate::model::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One receiver's result.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    /// Requests answered 2xx.
    pub accepted: u64,
    /// Requests answered otherwise, or failed.
    pub failed: u64,
    /// Events the receiver handled (counted, or stored by the live worker).
    pub processed: u64,
    /// From the first request to the last event handled.
    pub elapsed: Duration,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.processed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Debug, Default)]
pub struct WebhookBench {
    pub seconds: u64,
    pub concurrency: usize,
    pub bare: Phase,
    pub pipeline: Phase,
}

impl WebhookBench {
    /// Pipeline throughput over the bare handler's.
    pub fn ratio(&self) -> f64 {
        self.pipeline.rate() / self.bare.rate().max(1e-9)
    }

    pub fn report(&self) -> String {
        let line = |name: &str, p: &Phase| {
            format!(
                "  {name:<34} {:>8} events in {:.2} s = {:>8.0} events/s ({} accepted, {} failed)\n",
                p.processed,
                p.elapsed.as_secs_f64(),
                p.rate(),
                p.accepted,
                p.failed
            )
        };
        format!(
            "bench-webhook: binary-mode CloudEvents over HTTP/1.1 on loopback, {} requests in flight, {} s per phase\n{}{}  ratio pipeline / bare handler: {:.2}\n",
            self.concurrency,
            self.seconds,
            line("bare axum handler (counts)", &self.bare),
            line("eventlens webhook + live worker", &self.pipeline),
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

/// Builds the `i`th request of a run on a POST to the receiver.
pub(super) type Build = fn(reqwest::RequestBuilder, u64) -> reqwest::RequestBuilder;

fn webhook_request(r: reqwest::RequestBuilder, i: u64) -> reqwest::RequestBuilder {
    r.header("ce-specversion", "1.0")
        .header("ce-id", format!("bench-{i}"))
        .header("ce-source", "/bench/producer")
        .header("ce-type", "com.example.OrderPlaced")
        .header("ce-time", "2024-05-01T10:00:00Z")
        .header("content-type", "application/json")
        .body(payload(i))
}

/// Sends `build`'s requests for `seconds` with `concurrency` in flight; (accepted, failed,
/// when the sending started).
pub(super) async fn send(
    url: &str,
    seconds: u64,
    concurrency: usize,
    build: Build,
) -> std::io::Result<(u64, u64, Instant)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), next.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match build(client.post(&url), i).send().await {
                    Ok(r) if r.status().is_success() => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.map_err(|e| std::io::Error::other(e.to_string()))?;
        ok += o;
        failed += f;
    }
    Ok((ok, failed, start))
}

/// The baseline: the same requests for `seconds` to a bare axum handler that reads the
/// body, counts and answers `status`. `processed` is the requests it counted.
pub(super) async fn bare(
    path: &str,
    status: axum::http::StatusCode,
    seconds: u64,
    concurrency: usize,
    build: Build,
) -> std::io::Result<Phase> {
    let counted = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = {
        let counted = counted.clone();
        axum::Router::new().fallback(move |_body: axum::body::Bytes| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                status
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let (accepted, failed, start) =
        send(&format!("http://{addr}{path}"), seconds, concurrency, build).await?;
    let elapsed = start.elapsed();
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(Phase {
        accepted,
        failed,
        processed: counted.load(Ordering::Relaxed),
        elapsed,
    })
}

/// The receiver at `url` feeding a live worker, as the window runs it: requests built by
/// `build` are sent to its `path` for `seconds`, and the phase ends when the worker has
/// appended the last of the `records_per_request` records each accepted request carried.
pub(super) async fn pipeline(
    url: &str,
    path: &str,
    seconds: u64,
    concurrency: usize,
    build: Build,
    records_per_request: u64,
) -> std::io::Result<Phase> {
    let io = std::io::Error::other;
    let url = super::BrokerUrl::parse(url).map_err(|e| io(e.to_string()))?;
    let feed = crate::live::broker::spawn_brokers(std::slice::from_ref(&url))?;
    let stats = feed
        .sources
        .first()
        .cloned()
        .ok_or_else(|| io("no source".to_string()))?;
    let ready = Instant::now();
    let addr = loop {
        match stats.status() {
            super::SourceStatus::Listening(a) => break a,
            super::SourceStatus::Connecting if ready.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => return Err(io(format!("{url}: {other}"))),
        }
    };
    let mut store = Store::new();
    let input = LiveInput::new(&mut store, "bench");
    let worker = LiveWorker::spawn(
        feed.receiver(),
        store,
        input,
        crate::analysis::AnalysisConfig::default(),
        None,
        None,
    )?;
    // When the worker appended its last record: watched from before the first request.
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let watch = {
        let target = target.clone();
        tokio::task::spawn_blocking(move || {
            let (mut n, mut last) = (0u64, Instant::now());
            loop {
                let now = worker.records();
                if now != n {
                    n = now;
                    last = Instant::now();
                }
                let want = target.load(Ordering::Relaxed);
                if n >= want || (want != u64::MAX && last.elapsed() > Duration::from_secs(10)) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            (n, last)
        })
    };
    let (accepted, failed, start) =
        send(&format!("http://{addr}{path}"), seconds, concurrency, build).await?;
    target.store(accepted * records_per_request, Ordering::Relaxed);
    let (processed, last) = watch.await.map_err(|e| io(e.to_string()))?;
    drop(feed);
    Ok(Phase {
        accepted,
        failed,
        processed,
        elapsed: last.max(start + Duration::from_millis(1)) - start,
    })
}

pub async fn run(seconds: u64, concurrency: usize) -> std::io::Result<WebhookBench> {
    let concurrency = concurrency.max(1);
    Ok(WebhookBench {
        seconds,
        concurrency,
        bare: bare(
            "/bench",
            axum::http::StatusCode::ACCEPTED,
            seconds,
            concurrency,
            webhook_request,
        )
        .await?,
        pipeline: pipeline(
            "webhook://127.0.0.1:0/bench",
            "/bench",
            seconds,
            concurrency,
            webhook_request,
            1,
        )
        .await?,
    })
}
