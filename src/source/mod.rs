//! Where data comes from. Every command-line input is classified once into a
//! [`DataSource`]: a file, or a broker URL. Broker sources run on one tokio runtime
//! ([`runtime`]) with each broker's maintained client, one module per transport, and emit
//! [`Message`]s into an [`Inbox`] bounded in bytes; [`decode`] turns messages into events
//! and [`capture`] writes them in the capture format.
//!
//! Back-pressure by kind: durable sources (JetStream, Redis Streams, AMQP with acks, MQTT
//! QoS 1/2, Kafka) wait for room and lose nothing; lossy ones (core NATS, MQTT QoS 0, Redis
//! pub/sub) drop and count. A source reconnects with exponential backoff and jitter and
//! reports its [`SourceStatus`] and counters in [`SourceStats`].
//!
//! Nothing here knows a GUI, and no URL is shown, logged or written other than through
//! [`url::redact_url`].

pub mod amqp;
pub mod bench;
pub mod capture;
pub mod declared;
pub mod decode;
pub mod kafka;
pub mod kafka_bench;
pub mod message;
pub mod mqtt;
pub mod nats;
pub mod otlp;
pub mod otlp_bench;
pub mod record;
pub mod redis;
pub mod sse;
pub mod tls;
pub mod url;
pub mod webhook;
pub mod webhook_bench;

pub use message::{BrokerMeta, HeaderValue, Message, System};
pub use url::{BrokerUrl, Endpoint, redact_url};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// One input, classified once from a command-line argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    File(PathBuf),
    Broker(Box<BrokerUrl>),
}

impl DataSource {
    /// A broker URL (`nats://`, `mqtt://`, `amqp://`, `redis://`, `kafka://`, or over TLS
    /// `tls://`, `mqtts://`, `amqps://`, `rediss://`, `kafka+ssl://`), a listener (`webhook://`), a Server-Sent
    /// Events stream (`sse+http://`, `sse+https://`), or else a file path.
    pub fn from_arg(arg: &str) -> Result<DataSource, url::UrlError> {
        if url::is_broker_url(arg) {
            BrokerUrl::parse(arg).map(|b| DataSource::Broker(Box::new(b)))
        } else {
            Ok(DataSource::File(PathBuf::from(arg)))
        }
    }
}

/// Splits arguments into files and broker URLs.
pub fn classify(args: &[String]) -> Result<(Vec<PathBuf>, Vec<BrokerUrl>), url::UrlError> {
    let mut files = Vec::new();
    let mut brokers = Vec::new();
    for a in args {
        match DataSource::from_arg(a)? {
            DataSource::File(f) => files.push(f),
            DataSource::Broker(b) => brokers.push(*b),
        }
    }
    Ok((files, brokers))
}

/// Where a source stands.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceStatus {
    Connecting,
    Connected,
    /// A listener (the webhook) is bound to this address and takes requests.
    Listening(String),
    /// The last attempt failed (or the connection was lost): the next one is at `next`.
    Reconnecting {
        attempt: u32,
        next: SystemTime,
        error: String,
    },
    /// The consumer went away, or the source cannot go on (the reason).
    Ended(Option<String>),
}

impl std::fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceStatus::Connecting => f.write_str("connecting"),
            SourceStatus::Connected => f.write_str("connected"),
            SourceStatus::Listening(addr) => write!(f, "listening on {addr}"),
            SourceStatus::Reconnecting {
                attempt,
                next,
                error,
            } => {
                let wait = next
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .as_secs_f64();
                write!(
                    f,
                    "reconnecting (attempt {attempt} in {wait:.1} s): {error}"
                )
            }
            SourceStatus::Ended(None) => f.write_str("ended"),
            SourceStatus::Ended(Some(e)) => write!(f, "ended: {e}"),
        }
    }
}

/// A source's status and counters, shared between the source task and whoever shows it.
#[derive(Debug)]
pub struct SourceStats {
    /// The redacted URL.
    pub url: String,
    /// Messages the broker delivered.
    pub received: AtomicU64,
    /// Messages decoded into events (CloudEvents or plain messages).
    pub decoded: AtomicU64,
    /// Messages that claimed to be CloudEvents but could not be read (kept as plain).
    pub undecodable: AtomicU64,
    /// Messages dropped because the consumer fell behind (lossy sources only).
    pub dropped: AtomicU64,
    /// Times the connection was (re)established.
    pub connects: AtomicU64,
    status: Mutex<SourceStatus>,
    /// The URL's password, masked wherever a client's error message might repeat it.
    secret: Option<String>,
    /// What the source has to say beside its status (the declared topology is not
    /// available, and why).
    note: Mutex<Option<String>>,
    /// Declared-topology capture lines not yet taken (see [`declared`]).
    declared: Mutex<Vec<String>>,
    /// The broker has been asked about its declared topology at least once (or cannot be).
    declared_polled: std::sync::atomic::AtomicBool,
    /// What the source itself declared on the broker (the AMQP tap's queue): not declared
    /// topology.
    own: Mutex<Vec<String>>,
    /// `Some` over TLS: `TLS`, or the warning that the certificate is not verified.
    pub tls_note: Option<&'static str>,
    /// A listener's answers by reason (`accepted`, `bad event`, `too large`...), in the
    /// order first given.
    answers: Mutex<Vec<(&'static str, u64)>>,
    /// Asked to hand on what it holds now (the OTLP receiver's spans waiting for their
    /// trace to be quiet), because reading is about to end.
    flush: std::sync::atomic::AtomicBool,
}

/// A copy of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub decoded: u64,
    pub undecodable: u64,
    pub dropped: u64,
    pub connects: u64,
}

impl SourceStats {
    pub fn new(url: &str) -> Self {
        SourceStats {
            secret: None,
            tls_note: None,
            url: redact_url(url),
            received: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            status: Mutex::new(SourceStatus::Connecting),
            note: Mutex::new(None),
            declared: Mutex::new(Vec::new()),
            declared_polled: std::sync::atomic::AtomicBool::new(false),
            own: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
            flush: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Asks the source to hand on what it holds now (reading is about to end).
    pub fn request_flush(&self) {
        self.flush.store(true, Ordering::Release);
    }

    /// Whether a flush was asked for since the last call.
    pub fn take_flush(&self) -> bool {
        self.flush.swap(false, Ordering::AcqRel)
    }

    /// Counts one answer a listener gave, by its reason.
    pub fn count_answer(&self, reason: &'static str) {
        if let Ok(mut a) = self.answers.lock() {
            match a.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => a.push((reason, 1)),
            }
        }
    }

    /// A listener's answers so far, by reason.
    pub fn answers(&self) -> Vec<(&'static str, u64)> {
        self.answers.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// How many answers were given for `reason`.
    pub fn answered(&self, reason: &str) -> u64 {
        self.answers()
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// The answers as one line: `answered: 12 accepted, 1 bad event`, or `None` before any.
    pub fn answers_text(&self) -> Option<String> {
        let a = self.answers();
        (!a.is_empty()).then(|| {
            let parts: Vec<String> = a.iter().map(|(r, n)| format!("{n} {r}")).collect();
            format!("answered: {}", parts.join(", "))
        })
    }

    pub fn status(&self) -> SourceStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SourceStatus::Ended(Some("status lock poisoned".into())))
    }

    /// Stats for a parsed URL: its password is masked in any error text shown.
    pub fn for_url(url: &BrokerUrl) -> Self {
        SourceStats {
            secret: url.password.clone().filter(|p| p.len() >= 3),
            tls_note: url.tls.as_ref().map(tls::TlsOptions::note),
            ..SourceStats::new(url.redacted())
        }
    }

    /// The status as shown: over TLS, `connected (TLS)`; without certificate verification,
    /// the warning whatever the status.
    pub fn status_text(&self) -> String {
        let status = self.status();
        match self.tls_note {
            Some(note) if note == tls::INSECURE_NOTE || status == SourceStatus::Connected => {
                format!("{status} ({note})")
            }
            _ => status.to_string(),
        }
    }

    /// The text with the URL's password (if any) masked.
    pub fn scrub(&self, text: &str) -> String {
        match &self.secret {
            Some(p) => text.replace(p.as_str(), "***"),
            None => text.to_string(),
        }
    }

    pub fn set_status(&self, s: SourceStatus) {
        let s = match s {
            SourceStatus::Reconnecting {
                attempt,
                next,
                error,
            } => SourceStatus::Reconnecting {
                attempt,
                next,
                error: self.scrub(&error),
            },
            SourceStatus::Ended(Some(e)) => SourceStatus::Ended(Some(self.scrub(&e))),
            other => other,
        };
        if s == SourceStatus::Connected {
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut st) = self.status.lock() {
            *st = s;
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            received: self.received.load(Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
            undecodable: self.undecodable.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
        }
    }

    /// What the source has to say beside its status, if anything.
    pub fn note(&self) -> Option<String> {
        self.note.lock().ok().and_then(|n| n.clone())
    }

    pub fn set_note(&self, note: Option<String>) {
        let note = note.map(|n| self.scrub(&n));
        if let Ok(mut n) = self.note.lock() {
            *n = note;
        }
    }

    /// Queues declared-topology capture lines for whoever records or shows the source.
    pub fn push_declared(&self, lines: Vec<String>) {
        if let Ok(mut d) = self.declared.lock() {
            // Nobody took the last answer: the new one supersedes it (no growth without a
            // reader).
            if d.len() > 10_000 {
                d.clear();
            }
            d.extend(lines);
        }
    }

    /// Takes the declared-topology lines queued so far.
    pub fn take_declared(&self) -> Vec<String> {
        self.declared
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    /// Notes a name the source itself declared (its tap queue).
    pub fn add_own(&self, name: &str) {
        if let Ok(mut o) = self.own.lock() {
            if o.len() >= 64 {
                o.remove(0);
            }
            o.push(name.to_string());
        }
    }

    /// A name the source itself declared.
    pub fn is_own(&self, name: &str) -> bool {
        self.own.lock().is_ok_and(|o| o.iter().any(|n| n == name))
    }

    pub fn mark_declared_polled(&self) {
        self.declared_polled.store(true, Ordering::Relaxed);
    }

    /// The broker has been asked about its declared topology at least once.
    pub fn declared_polled(&self) -> bool {
        self.declared_polled.load(Ordering::Relaxed)
    }

    /// One line for a status bar or a log: `nats://host/x: connected, 10 received, ...`.
    pub fn summary(&self) -> String {
        let c = self.counters();
        let mut s = format!(
            "{}: {}; {} received, {} decoded, {} undecodable, {} dropped",
            self.url,
            self.status_text(),
            c.received,
            c.decoded,
            c.undecodable,
            c.dropped
        );
        if let Some(a) = self.answers_text() {
            s.push_str("; ");
            s.push_str(&a);
        }
        if let Some(n) = self.note() {
            s.push_str("; ");
            s.push_str(&n);
        }
        s
    }
}

/// Takes the declared-topology capture lines every source has queued.
pub fn take_declared(sources: &[Arc<SourceStats>]) -> Vec<String> {
    sources.iter().flat_map(|s| s.take_declared()).collect()
}

/// Exponential backoff with jitter: 100 ms doubling up to 10 s, each wait drawn between
/// half and all of it so that many clients do not come back at once.
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    max: Duration,
    seed: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Backoff {
            attempt: 0,
            base,
            max,
            seed,
        }
    }

    /// Failed attempts since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: enough randomness for jitter, no dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = (self.seed >> 11) as f64 / (1u64 << 53) as f64;
        exp.mul_f64(0.5 + 0.5 * frac)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A message on its way from a source to the consumer, holding its share of the byte
/// budget until it is dropped.
#[derive(Debug)]
pub struct Envelope {
    /// Index of the source in [`Inbox::sources`].
    pub source: usize,
    pub msg: Message,
    /// What the source already decoded the message to (the webhook decodes to answer the
    /// request), so that it is not decoded twice.
    pub decoded: Option<Result<decode::Decoded, String>>,
    /// Spans of whole traces (the OTLP receiver's, released by its span joiner): the
    /// envelope carries these and no message (`msg` is empty).
    pub spans: Vec<crate::ingest::spans::Span>,
    _permit: OwnedSemaphorePermit,
}

impl Envelope {
    /// The message's capture lines (see [`capture::message_lines`]), decoded once. An
    /// envelope of spans has none (the spans are mapped as a trace file's are).
    pub fn lines(&mut self, stats: &SourceStats, out: &mut Vec<String>) {
        if !self.spans.is_empty() {
            return;
        }
        match self.decoded.take() {
            Some(d) => capture::decoded_lines(&self.msg, d, stats, out),
            None => capture::message_lines(&self.msg, stats, out),
        }
    }
}

/// The sending end a source task owns.
#[derive(Clone, Debug)]
pub struct Outlet {
    tx: mpsc::UnboundedSender<Envelope>,
    budget: Arc<Semaphore>,
    budget_bytes: u32,
    source: usize,
    pub stats: Arc<SourceStats>,
}

impl Outlet {
    fn permits(&self, msg: &Message) -> u32 {
        (msg.size().min(u32::MAX as usize) as u32).clamp(1, self.budget_bytes)
    }

    /// Durable sources: waits until the consumer has room, loses nothing. `false` once the
    /// consumer is gone (the source should end).
    pub async fn send_wait(&self, msg: Message) -> bool {
        self.send_decoded_wait(msg, None).await
    }

    /// As [`Outlet::send_wait`], with what the source already decoded the message to.
    pub async fn send_decoded_wait(
        &self,
        msg: Message,
        decoded: Option<Result<decode::Decoded, String>>,
    ) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let n = self.permits(&msg);
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        self.tx
            .send(Envelope {
                source: self.source,
                msg,
                decoded,
                spans: Vec::new(),
                _permit: permit,
            })
            .is_ok()
    }

    /// Spans of whole traces (a receiver's span joiner released them): waits for room as a
    /// durable source does. `false` once the consumer is gone.
    pub async fn send_spans_wait(&self, spans: Vec<crate::ingest::spans::Span>) -> bool {
        if spans.is_empty() {
            return !self.is_closed();
        }
        let bytes: usize = spans.iter().map(|s| 256 + s.name.len()).sum();
        let n = (bytes.min(u32::MAX as usize) as u32).clamp(1, self.budget_bytes);
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        self.tx
            .send(Envelope {
                source: self.source,
                msg: Message::new(System::Http, "otlp", Vec::new()),
                decoded: None,
                spans,
                _permit: permit,
            })
            .is_ok()
    }

    /// Lossy sources: drops (and counts) the message when the consumer is behind. `false`
    /// once the consumer is gone.
    pub fn send_or_drop(&self, msg: Message) -> bool {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let n = self.permits(&msg);
        match self.budget.clone().try_acquire_many_owned(n) {
            Ok(permit) => self
                .tx
                .send(Envelope {
                    source: self.source,
                    msg,
                    decoded: None,
                    spans: Vec::new(),
                    _permit: permit,
                })
                .is_ok(),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                !self.tx.is_closed()
            }
            Err(tokio::sync::TryAcquireError::Closed) => false,
        }
    }

    /// Resolves when the consumer has gone away.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// After a failed session: reports the error and waits the backoff. `false` when the
    /// consumer went away meanwhile.
    pub async fn retry_after(&self, backoff: &mut Backoff, error: String) -> bool {
        let delay = backoff.next_delay();
        self.retry_in(backoff.attempt(), delay, error).await
    }

    /// As [`Outlet::retry_after`], with a wait the caller chose (a server's own reconnection
    /// time, as SSE's `retry:`).
    pub async fn retry_in(&self, attempt: u32, delay: Duration, error: String) -> bool {
        let mut error = self.stats.scrub(&error);
        if self.stats.tls_note.is_some() {
            error = tls::explain(error);
        }
        tracing::warn!(
            "{}: {error}; reconnecting in {:.1} s",
            self.stats.url,
            delay.as_secs_f64()
        );
        self.stats.set_status(SourceStatus::Reconnecting {
            attempt,
            next: SystemTime::now() + delay,
            error,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => !self.is_closed(),
            _ = self.closed() => false,
        }
    }
}

/// The receiving end: messages from every source started with it, bounded in bytes.
/// Dropping it stops the sources.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Envelope>,
    pub sources: Vec<Arc<SourceStats>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<Envelope> {
        self.rx.recv().await
    }

    /// Waits on a plain thread (not inside the runtime).
    pub fn blocking_recv(&mut self) -> Option<Envelope> {
        self.rx.blocking_recv()
    }

    pub fn try_recv(&mut self) -> Option<Envelope> {
        self.rx.try_recv().ok()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Stops every source now.
    pub fn stop(&mut self) {
        self.rx.close();
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Stops as [`Inbox::stop`] does, but first lets each webhook listener answer the
    /// requests it is serving (its graceful shutdown, at most `grace`): a sender whose
    /// event was taken gets its 202, not a dropped connection, when `record --count` ends.
    pub async fn close(&mut self, grace: std::time::Duration) {
        self.rx.close();
        let deadline = tokio::time::Instant::now() + grace;
        for (s, t) in self.sources.iter().zip(self.tasks.iter_mut()) {
            if is_listener(&s.url) {
                let _ = tokio::time::timeout_at(deadline, t).await;
            }
        }
        self.stop();
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a source (by its redacted URL) is a listener: the webhook or an OTLP receiver.
pub fn is_listener(url: &str) -> bool {
    ["webhook://", "otlp://", "otlp+http://", "otlp+grpc://"]
        .iter()
        .any(|s| url.starts_with(s))
}

/// The default byte budget of an [`Inbox`]: 64 MB of messages in flight.
pub const DEFAULT_BUDGET: usize = 64 << 20;

/// The runtime sources run on: two worker threads, started on first use.
pub fn runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    // Built once, by the first caller; others wait for it. (Building one per racing caller
    // and dropping the losers' panics when a loser is on an async thread.)
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("eventlens-source")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| std::io::Error::other(format!("the source runtime: {e}")))
}

/// Starts one task per URL on `rt` and returns the inbox they all feed.
pub fn start(urls: &[BrokerUrl], rt: &tokio::runtime::Handle, budget: usize) -> Inbox {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget_bytes = budget.clamp(1 << 16, u32::MAX as usize) as u32;
    let sem = Arc::new(Semaphore::new(budget_bytes as usize));
    let mut sources = Vec::new();
    let mut tasks = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if url.tls.as_ref().is_some_and(|t| t.insecure) {
            tracing::warn!("{url}: {}", tls::INSECURE_NOTE);
        }
        let stats = Arc::new(SourceStats::for_url(url));
        let outlet = Outlet {
            tx: tx.clone(),
            budget: sem.clone(),
            budget_bytes,
            source: i,
            stats: stats.clone(),
        };
        sources.push(stats);
        tasks.push(rt.spawn(run(url.clone(), outlet)));
    }
    Inbox { rx, sources, tasks }
}

async fn run(url: BrokerUrl, outlet: Outlet) {
    let stats = outlet.stats.clone();
    if let Endpoint::Webhook { .. } | Endpoint::Sse { .. } | Endpoint::Otlp { .. } = url.endpoint {
        // A listener or an HTTP stream declares no topology: nothing to ask beside it.
        stats.mark_declared_polled();
        let end = match url.endpoint {
            Endpoint::Sse { .. } => sse::run(&url, &outlet).await,
            Endpoint::Otlp { .. } => otlp::run(&url, &outlet).await,
            _ => webhook::run(&url, &outlet).await,
        };
        stats.set_status(SourceStatus::Ended(end));
        return;
    }
    let source = async {
        match &url.endpoint {
            Endpoint::NatsCore { .. } | Endpoint::JetStream { .. } => {
                nats::run(&url, &outlet).await
            }
            Endpoint::Mqtt { .. } => mqtt::run(&url, &outlet).await,
            Endpoint::Amqp { .. } => amqp::run(&url, &outlet).await,
            Endpoint::RedisStream { .. } | Endpoint::RedisChannel { .. } => {
                redis::run(&url, &outlet).await
            }
            Endpoint::Webhook { .. } => webhook::run(&url, &outlet).await,
            Endpoint::Sse { .. } => sse::run(&url, &outlet).await,
            Endpoint::Otlp { .. } => otlp::run(&url, &outlet).await,
            Endpoint::Kafka { .. } => kafka::run(&url, &outlet).await,
        }
    };
    // The declared topology is asked for beside the source, on a connection of its own; it
    // ends with the source.
    let end = tokio::select! {
        end = source => end,
        () = async {
            declared::poll(&url, &outlet).await;
            std::future::pending::<()>().await
        } => None,
    };
    stats.set_status(SourceStatus::Ended(end));
}

/// Now, as nanoseconds since the epoch.
pub fn now_nanos() -> crate::time::Nanos {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as crate::time::Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let waits: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, w) in waits.iter().enumerate() {
            let full = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(2));
            assert!(
                *w >= full / 2 && *w <= full,
                "attempt {i}: {w:?} vs {full:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn arguments_are_classified_once_into_files_and_brokers() {
        let (files, brokers) = classify(&[
            "capture.jsonl".into(),
            "nats://127.0.0.1:4222/orders.>".into(),
            "amqp://guest:guest@127.0.0.1/%2f?exchange=events".into(),
        ])
        .expect("classifies");
        assert_eq!(files, vec![PathBuf::from("capture.jsonl")]);
        assert_eq!(brokers.len(), 2);
        assert_eq!(
            brokers[1].to_string(),
            "amqp://127.0.0.1/%2f?exchange=events"
        );
        assert!(classify(&["nats://127.0.0.1".into()]).is_err());
    }

    #[test]
    fn a_lossy_source_drops_and_counts_when_the_budget_is_spent() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let outlet = Outlet {
            tx,
            budget: Arc::new(Semaphore::new(1000)),
            budget_bytes: 1000,
            source: 0,
            stats: Arc::new(SourceStats::new("nats://u:p@h/x")),
        };
        let msg = Message::new(System::Nats, "x", vec![0u8; 300]);
        for _ in 0..5 {
            assert!(outlet.send_or_drop(msg.clone()));
        }
        let c = outlet.stats.counters();
        assert_eq!((c.received, c.dropped), (5, 3));
        assert_eq!(outlet.stats.url, "nats://h/x");
        let stats =
            SourceStats::for_url(&BrokerUrl::parse("redis://:s3cret@h/channel/x").expect("URL"));
        stats.set_status(SourceStatus::Ended(Some("auth failed for s3cret".into())));
        assert_eq!(
            stats.status(),
            SourceStatus::Ended(Some("auth failed for ***".into()))
        );
        // Taking one out frees its bytes; a durable send then gets through.
        drop(rx.try_recv().expect("first"));
        assert!(rt.block_on(outlet.send_wait(msg)));
    }
}
