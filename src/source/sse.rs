//! Server-Sent Events (`sse+http://host:port/PATH`, `sse+https://...`): a GET with
//! `reqwest`, the `text/event-stream` parsed by `eventsource-stream`, each event a
//! [`Message`] on the path's channel.
//!
//! An event's `data` is a structured-mode CloudEvent (a JSON object with `specversion`) or
//! a batch (a JSON array of them); anything else is a plain message, which still becomes an
//! event: its id is the SSE `id:` (else a hash of the data), its type the SSE `event:` name
//! (else the path). Data that claims to be a CloudEvent (`"specversion"` in a JSON object or
//! array) but cannot be read as one is counted undecodable and kept as a plain message. The
//! SSE `id:` and `event:` are the message's metadata ([`BrokerMeta::message_id`],
//! [`BrokerMeta::event_name`]).
//!
//! After a lost connection it reconnects with [`Backoff`], never sooner than the server's
//! `retry:` asks, and sends `Last-Event-ID` with the last id seen, so that a server that
//! honours it resumes where the stream broke. A `204 No Content` answer ends the source, as
//! the EventSource specification says. Like a durable broker source it waits for room in
//! the pipeline rather than drop (the server's stream waits meanwhile).
//!
//! The URL's user and password go in a Basic `Authorization` header; a Bearer token can be
//! given in `EVENTLENS_SSE_TOKEN` (an environment variable, never a flag, so it does not
//! show in `ps`). Neither, nor the URL's query, is ever shown or logged.

use super::url::{BrokerUrl, Endpoint, percent_decode};
use super::{Backoff, BrokerMeta, Message, Outlet, SourceStatus, System, now_nanos};
use eventsource_stream::{Event, Eventsource};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The environment variable holding a Bearer token to send, if any.
pub const TOKEN_ENV: &str = "EVENTLENS_SSE_TOKEN";

/// The longest reconnection time a server's `retry:` can ask for.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

/// The content type of data that claims to be one structured-mode CloudEvent.
const STRUCTURED: &str = "application/cloudevents+json";
/// The content type of data that claims to be a batch of CloudEvents.
const BATCH: &str = "application/cloudevents-batch+json";

/// What a stream learnt that outlives a connection.
#[derive(Debug, Default)]
struct Resume {
    /// The last event id (the `Last-Event-ID` of the next request); empty: none.
    last_id: String,
    /// The server's reconnection time (`retry:`).
    retry: Option<Duration>,
}

/// How one connection ended.
enum SessionEnd {
    /// The consumer went away.
    Gone,
    /// Lost or refused: reconnect. `true` when events came on it (the backoff starts over;
    /// a server that closes every connection at once is not asked again at full speed).
    Lost(String, bool),
    /// The server said the stream is over (204).
    Over(String),
}

/// Runs the source until the consumer goes away; `Some(reason)` when it cannot go on.
pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Sse { path } = &url.endpoint else {
        return Some("not an SSE endpoint".into());
    };
    let client = match client(url) {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    let channel = match percent_decode(path.trim_matches('/')) {
        p if p.is_empty() => "sse".to_string(),
        p => p,
    };
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let mut resume = Resume::default();
    let mut backoff = Backoff::default();
    loop {
        outlet.stats.set_status(SourceStatus::Connecting);
        let end = tokio::select! {
            end = session(url, &client, token.as_deref(), &channel, &mut resume, outlet) => end,
            () = outlet.closed() => SessionEnd::Gone,
        };
        let (error, got_events) = match end {
            SessionEnd::Gone => return None,
            SessionEnd::Over(reason) => return Some(reason),
            SessionEnd::Lost(error, got_events) => (error, got_events),
        };
        if got_events {
            backoff.reset();
        }
        let wait = backoff.next_delay();
        let delay = resume.retry.map_or(wait, |r| r.max(wait));
        if !outlet.retry_in(backoff.attempt(), delay, error).await {
            return None;
        }
    }
}

/// The HTTP client: the sources' TLS configuration over `sse+https` (`?ca=`, `?insecure=`),
/// a connect timeout, and no overall timeout (a stream is long).
fn client(url: &BrokerUrl) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_keepalive(Duration::from_secs(30))
        .user_agent(concat!("eventlens/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = &url.tls {
        let config = super::tls::client_config(tls)?;
        b = b.use_preconfigured_tls((*config).clone());
    }
    b.build()
        .map_err(|e| format!("an HTTP client: {}", error_text(&e)))
}

/// An error and its causes on one line, without the URL (its query may hold a secret).
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

fn reqwest_error(e: reqwest::Error) -> String {
    error_text(&e.without_url())
}

/// One connection: the request, then events until the stream ends or breaks.
async fn session(
    url: &BrokerUrl,
    client: &reqwest::Client,
    token: Option<&str>,
    channel: &str,
    resume: &mut Resume,
    outlet: &Outlet,
) -> SessionEnd {
    let mut req = client
        .get(url.http_url())
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache");
    if !resume.last_id.is_empty()
        && let Ok(v) = HeaderValue::from_str(&resume.last_id)
    {
        req = req.header("last-event-id", v);
    }
    req = match (token, &url.user) {
        (Some(t), _) => req.bearer_auth(t),
        (None, Some(user)) => req.basic_auth(user, url.password.as_deref()),
        (None, None) => req,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return SessionEnd::Lost(reqwest_error(e), false),
    };
    let status = resp.status();
    if status == StatusCode::NO_CONTENT {
        return SessionEnd::Over("the server answered 204 No Content: the stream is over".into());
    }
    if !status.is_success() {
        return SessionEnd::Lost(format!("the server answered {status}"), false);
    }
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase());
    if !ct
        .as_deref()
        .is_some_and(|c| c.trim_start().starts_with("text/event-stream"))
    {
        return SessionEnd::Lost(
            format!(
                "not an event stream: the server answered {}",
                ct.as_deref().unwrap_or("with no content type")
            ),
            false,
        );
    }
    outlet.stats.set_status(SourceStatus::Connected);
    tracing::info!("{}: connected", outlet.stats.url);
    // The parser passes `retry:` on only with an event's data: a reconnection time sent in
    // a block of its own is seen in the bytes on their way to it.
    let seen_retry = Arc::new(AtomicU64::new(NO_RETRY));
    let mut scanner = RetryScanner::default();
    let seen = seen_retry.clone();
    let bytes = resp.bytes_stream().map(move |chunk| {
        if let Ok(b) = &chunk
            && let Some(ms) = scanner.scan(b)
        {
            seen.store(ms, Ordering::Relaxed);
        }
        chunk
    });
    let take_retry = |resume: &mut Resume| {
        let ms = seen_retry.swap(NO_RETRY, Ordering::Relaxed);
        if ms != NO_RETRY {
            resume.retry = Some(Duration::from_millis(ms).min(MAX_RETRY));
        }
    };
    let mut events = bytes.eventsource();
    // The parser carries an id over to the events after it that give none: only an id that
    // changed is an event's own.
    let mut previous_id = String::new();
    let mut got_any = false;
    loop {
        let next = events.next().await;
        take_retry(resume);
        match next {
            Some(Ok(ev)) => {
                if let Some(r) = ev.retry {
                    resume.retry = Some(r.min(MAX_RETRY));
                }
                let own_id = (!ev.id.is_empty() && ev.id != previous_id).then(|| ev.id.clone());
                previous_id.clone_from(&ev.id);
                resume.last_id.clone_from(&ev.id);
                if !outlet.send_wait(message(channel, ev, own_id)).await {
                    return SessionEnd::Gone;
                }
                got_any = true;
            }
            // A parser error leaves its input unread: only a new connection gets past it.
            Some(Err(e)) => {
                let e = match e {
                    eventsource_stream::EventStreamError::Transport(e) => reqwest_error(e),
                    other => format!("reading the event stream: {other}"),
                };
                return SessionEnd::Lost(e, got_any);
            }
            None => return SessionEnd::Lost("the server closed the stream".into(), got_any),
        }
    }
}

/// No `retry:` seen.
const NO_RETRY: u64 = u64::MAX;

/// Finds `retry:` fields in an event stream's bytes, whatever block they are in.
#[derive(Debug, Default)]
struct RetryScanner {
    /// The start of the current line (a `retry:` line is short; a longer one is not it).
    line: Vec<u8>,
    overlong: bool,
}

impl RetryScanner {
    /// The last reconnection time (ms) the bytes set, if any.
    fn scan(&mut self, bytes: &[u8]) -> Option<u64> {
        let mut found = None;
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                if !self.overlong {
                    found = retry_field(&self.line).or(found);
                }
                self.line.clear();
                self.overlong = false;
            } else if self.line.len() < 32 {
                self.line.push(b);
            } else {
                self.overlong = true;
            }
        }
        found
    }
}

/// The value of a `retry:` line: ASCII digits only, as the EventSource spec says.
fn retry_field(line: &[u8]) -> Option<u64> {
    let v = line.strip_prefix(b"retry:")?;
    let v = v.strip_prefix(b" ").unwrap_or(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// What an event's data claims to be: a structured CloudEvent, a batch, or nothing (a plain
/// message). Data with `"specversion"` that is not JSON claims to be one, and is then
/// undecodable.
fn claimed_type(data: &str) -> Option<&'static str> {
    memchr::memmem::find(data.as_bytes(), b"\"specversion\"")?;
    let t = data.trim_start();
    let claimed = if t.starts_with('[') {
        BATCH
    } else if t.starts_with('{') {
        STRUCTURED
    } else {
        return None;
    };
    match serde_json::from_str::<serde_json::Value>(t) {
        Err(_) => Some(claimed),
        Ok(serde_json::Value::Object(o)) => o.contains_key("specversion").then_some(STRUCTURED),
        Ok(serde_json::Value::Array(a)) => a
            .iter()
            .any(|e| e.get("specversion").is_some())
            .then_some(BATCH),
        Ok(_) => None,
    }
}

/// The message an SSE event makes. `own_id` is the event's own `id:`, if it gave one.
fn message(channel: &str, ev: Event, own_id: Option<String>) -> Message {
    let content_type = claimed_type(&ev.data).map(str::to_string);
    Message {
        system: System::Sse,
        channel: channel.to_string(),
        headers: Vec::new(),
        content_type,
        key: None,
        payload: ev.data.into_bytes(),
        meta: BrokerMeta {
            message_id: own_id,
            event_name: (!ev.event.is_empty() && ev.event != "message").then_some(ev.event),
            receive_time: now_nanos(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::{self, Mode};

    fn event(name: &str, id: &str, data: &str) -> Event {
        Event {
            event: name.into(),
            data: data.into(),
            id: id.into(),
            retry: None,
        }
    }

    #[test]
    fn a_retry_line_is_seen_in_any_block_and_across_chunks() {
        let mut s = RetryScanner::default();
        assert_eq!(s.scan(b": hello\n\nretry: 25"), None);
        assert_eq!(s.scan(b"00\r\n\n"), Some(2500));
        assert_eq!(s.scan(b"data: retry: 5\nretry: soon\nretry:7\n"), Some(7));
        let long = format!("data: {}retry: 9\n", "x".repeat(100));
        assert_eq!(s.scan(long.as_bytes()), None);
    }

    #[test]
    fn data_is_a_cloudevent_a_batch_or_a_plain_message() {
        let ce = r#"{"specversion":"1.0","id":"e-1","source":"/s","type":"T","data":{"a":1}}"#;
        let d = decode::decode(&message(
            "events",
            event("message", "7", ce),
            Some("7".into()),
        ))
        .expect("decodes");
        assert_eq!((d.mode, d.events[0].id.as_str()), (Mode::Structured, "e-1"));
        let batch = format!("[{ce}, {}]", ce.replace("e-1", "e-2"));
        let d = decode::decode(&message("events", event("message", "", &batch), None))
            .expect("decodes");
        assert_eq!(d.mode, Mode::Batch);
        assert_eq!(d.events.len(), 2);
        // Not a CloudEvent: the SSE id and event name make the event.
        let m = message(
            "feed/x",
            event("price", "42", r#"{"p":1}"#),
            Some("42".into()),
        );
        let d = decode::decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Plain);
        let e = &d.events[0];
        assert_eq!(
            (e.id.as_str(), e.ty.as_str(), e.source.as_str()),
            ("42", "price", "sse://feed/x")
        );
        // No id and the default event name: a hash and the path.
        let d =
            decode::decode(&message("feed", event("message", "", "tick"), None)).expect("decodes");
        assert!(d.events[0].id.starts_with("fnv-"));
        assert_eq!(d.events[0].ty, "feed");
        // Claims to be a CloudEvent and is not: undecodable.
        for bad in [
            r#"{"specversion":"1.0","id":"x", oops}"#,
            r#"[{"specversion":"1.0"#,
        ] {
            let m = message("events", event("message", "", bad), None);
            assert!(decode::decode(&m).is_err(), "{bad}");
        }
        // specversion only nested, or in text: plain.
        for plain in [
            r#"{"inner":{"specversion":"1.0"}}"#,
            r#"say "specversion" twice"#,
        ] {
            assert_eq!(claimed_type(plain), None, "{plain}");
        }
    }
}
