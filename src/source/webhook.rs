//! The CloudEvents webhook listener (`webhook://127.0.0.1:8080/PATH`): an `axum` server on
//! the sources' runtime that takes the CloudEvents HTTP binding in binary mode (`ce-`
//! headers, percent-encoded), structured mode (`application/cloudevents+json`) and batch
//! mode (`application/cloudevents-batch+json`), decodes each request with the shared
//! [`decode`](super::decode) to answer it, and hands the message on as a durable source
//! would: it waits (bounded) for room rather than drop.
//!
//! Answers: 202 accepted; 400 with the reason for a malformed event (which is recorded
//! all the same, as a plain message with the decoder's reason, a violation); 415 for a
//! content type it does not read; 413 past `?max_body=` (default 4 MiB); 401 without the
//! Bearer token when `EVENTLENS_WEBHOOK_TOKEN` is set (an environment variable, never a
//! flag, so it does not show in `ps`); 404 on another path; 405 on another method; 503
//! while the pipeline is full past [`SEND_WAIT`] or shutting down. `OPTIONS` with
//! `WebHook-Request-Origin` is the CloudEvents webhook abuse-protection handshake: 200
//! with `WebHook-Allowed-Origin`. Every answer is counted by its reason in the source's
//! stats.
//!
//! The token and any `Authorization`, `Cookie` header are never recorded, shown or
//! logged.

use super::decode::{self, Decoded, Mode};
use super::url::{BrokerUrl, Endpoint};
use super::{BrokerMeta, HeaderValue, Message, Outlet, SourceStatus, System, now_nanos};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable holding the Bearer token a sender must present, if any.
pub const TOKEN_ENV: &str = "EVENTLENS_WEBHOOK_TOKEN";

/// The longest a request waits for room in the pipeline before it is answered 503.
pub const SEND_WAIT: Duration = Duration::from_secs(10);

/// Why a request was answered as it was: the counters' names.
pub mod reason {
    pub const ACCEPTED: &str = "accepted";
    pub const BAD_EVENT: &str = "bad event";
    pub const BAD_CONTENT_TYPE: &str = "bad content type";
    pub const TOO_LARGE: &str = "too large";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not found";
    pub const BAD_METHOD: &str = "method not allowed";
    pub const HANDSHAKE: &str = "handshake";
    pub const BUSY: &str = "busy";
    pub const SHUTTING_DOWN: &str = "shutting down";
    pub const BODY_ERROR: &str = "body not read";
}

/// One listener's settings and its way into the pipeline.
struct Hook {
    path: String,
    max_body: usize,
    token: Option<String>,
    /// The channel its events are observed on: the path without its leading `/`.
    channel: String,
    outlet: Outlet,
}

/// The source URL for `eventlens listen URL`: `http://HOST:PORT/PATH` (or the source URL
/// `webhook://...` itself) as `webhook://HOST:PORT/PATH`.
pub fn listen_url(url: &str) -> Result<BrokerUrl, String> {
    let shown = super::redact_url(url);
    let rest = match url.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("webhook") => {
            rest
        }
        Some((s, _)) if s.eq_ignore_ascii_case("https") => {
            return Err(format!(
                "{shown}: eventlens listens over plain HTTP (on loopback by default); put a \
                 TLS-terminating proxy in front of it for https"
            ));
        }
        _ => return Err(format!("{shown}: expected http://HOST:PORT/PATH")),
    };
    BrokerUrl::parse(&format!("webhook://{rest}")).map_err(|e| e.to_string())
}

/// Binds, reports `listening on ADDR`, and serves until the consumer goes away.
pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Webhook { path, max_body } = &url.endpoint else {
        return Some("not a webhook endpoint".into());
    };
    let listener = match tokio::net::TcpListener::bind(url.address()).await {
        Ok(l) => l,
        Err(e) => return Some(format!("binding {}: {e}", url.address())),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a.to_string(),
        Err(e) => return Some(format!("the bound address: {e}")),
    };
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let channel = match path.trim_start_matches('/') {
        "" => "webhook".to_string(),
        p => p.to_string(),
    };
    let hook = Arc::new(Hook {
        path: path.clone(),
        max_body: *max_body,
        token,
        channel,
        outlet: outlet.clone(),
    });
    tracing::info!("{}: listening on {addr}", outlet.stats.url);
    outlet.stats.set_status(SourceStatus::Listening(addr));
    let app = axum::Router::new().fallback(handle).with_state(hook);
    let closed = {
        let outlet = outlet.clone();
        async move { outlet.closed().await }
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(closed)
        .await
    {
        Ok(()) => None,
        Err(e) => Some(format!("serving: {e}")),
    }
}

async fn handle(State(hook): State<Arc<Hook>>, req: Request) -> Response {
    let (reason, response) = answer(&hook, req).await;
    hook.outlet.stats.count_answer(reason);
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    body.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Equal without telling, by its timing, how much of the token was right.
pub(super) fn same_secret(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ given.get(i).copied().unwrap_or(!w);
    }
    diff == 0
}

fn authorized(hook: &Hook, headers: &HeaderMap) -> bool {
    let Some(token) = &hook.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes()))
}

/// The media type without parameters, lower case.
pub(super) fn essence(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|c| !c.is_empty())
}

/// A CloudEvents content type in an event format other than JSON (`+avro`, `+protobuf`,
/// `+xml`): not read here.
fn unsupported_format(ct: &str) -> bool {
    let rest = ct
        .strip_prefix("application/cloudevents-batch")
        .or_else(|| ct.strip_prefix("application/cloudevents"));
    matches!(rest, Some(r) if !r.is_empty() && r != "+json")
}

/// Headers that carry credentials: never recorded.
fn secret_header(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::PROXY_AUTHORIZATION || name == header::COOKIE
}

pub(super) enum BodyError {
    TooLarge,
    Read(String),
}

/// A request's body, refused as too large when its `Content-Length` says so (before a byte
/// is read) or when more than `max` bytes come.
pub(super) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The decoder's reasons for a batch some of whose elements could not be read.
fn bad_batch_elements(d: &Decoded) -> Vec<&str> {
    if d.mode != Mode::Batch {
        return Vec::new();
    }
    d.events
        .iter()
        .flat_map(|e| &e.violations)
        .filter(|v| v.starts_with("batch element "))
        .map(String::as_str)
        .collect()
}

async fn answer(hook: &Hook, req: Request) -> (&'static str, Response) {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if path.trim_end_matches('/') != hook.path.trim_end_matches('/') {
        return (
            reason::NOT_FOUND,
            text(
                StatusCode::NOT_FOUND,
                format!("no webhook here: events are taken on {}", hook.path),
            ),
        );
    }
    let allow = [(header::ALLOW, "POST, OPTIONS")];
    if parts.method != Method::POST && parts.method != Method::OPTIONS {
        return (
            reason::BAD_METHOD,
            (
                StatusCode::METHOD_NOT_ALLOWED,
                allow,
                "send events with POST\n",
            )
                .into_response(),
        );
    }
    if !authorized(hook, &parts.headers) {
        return (
            reason::UNAUTHORIZED,
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a Bearer token is required\n",
            )
                .into_response(),
        );
    }
    if parts.method == Method::OPTIONS {
        // The CloudEvents webhook abuse-protection handshake (Web Hooks for Event
        // Delivery, 4.1): the origin is allowed, at any rate.
        let mut response = (StatusCode::OK, allow).into_response();
        let h = response.headers_mut();
        if let Some(origin) = parts.headers.get("webhook-request-origin") {
            h.insert("webhook-allowed-origin", origin.clone());
            if parts.headers.contains_key("webhook-request-rate") {
                h.insert(
                    "webhook-allowed-rate",
                    axum::http::HeaderValue::from_static("*"),
                );
            }
        }
        return (reason::HANDSHAKE, response);
    }
    if hook.outlet.is_closed() {
        return (
            reason::SHUTTING_DOWN,
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "eventlens is shutting down",
            ),
        );
    }
    let ct = essence(&parts.headers);
    if let Some(c) = ct.as_deref().filter(|c| unsupported_format(c)) {
        return (
            reason::BAD_CONTENT_TYPE,
            text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "{c}: eventlens reads the JSON event format (application/cloudevents+json, \
                     application/cloudevents-batch+json) and binary mode"
                ),
            ),
        );
    }
    let too_large = || {
        (
            reason::TOO_LARGE,
            text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", hook.max_body),
            ),
        )
    };
    let payload = match read_body(&parts.headers, body, hook.max_body).await {
        Ok(p) => p,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Read(e)) => {
            return (
                reason::BODY_ERROR,
                text(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
            );
        }
    };
    let msg = Message {
        system: System::Http,
        channel: hook.channel.clone(),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| !secret_header(k))
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    HeaderValue::Str(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                )
            })
            .collect(),
        content_type: None,
        key: None,
        payload,
        meta: BrokerMeta {
            receive_time: now_nanos(),
            ..Default::default()
        },
    };
    let decoded = decode::decode(&msg);
    let (reason, response) = match &decoded {
        Ok(d) if d.mode == Mode::Plain => {
            // Not a CloudEvent by any mode: nothing to record.
            return (
                reason::BAD_CONTENT_TYPE,
                text(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "not a CloudEvent: {} with no ce- headers; send binary mode (ce-specversion, \
                         ce-id, ce-source, ce-type headers), application/cloudevents+json or \
                         application/cloudevents-batch+json",
                        ct.as_deref().unwrap_or("no content type")
                    ),
                ),
            );
        }
        Ok(d) => match bad_batch_elements(d) {
            bad if bad.is_empty() => (reason::ACCEPTED, StatusCode::ACCEPTED.into_response()),
            bad => (
                reason::BAD_EVENT,
                text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{}; the other {} event(s) were recorded",
                        bad.join("; "),
                        d.events.len()
                    ),
                ),
            ),
        },
        Err(e) => (
            reason::BAD_EVENT,
            text(
                StatusCode::BAD_REQUEST,
                format!("{e} (recorded as an undecodable message)"),
            ),
        ),
    };
    // Waits for room rather than drop, as a durable source does, but not forever (the
    // sender is told to come back) and not past the pipeline's end.
    let send = hook.outlet.send_decoded_wait(msg, Some(decoded));
    let sent = tokio::select! {
        sent = tokio::time::timeout(SEND_WAIT, send) => sent,
        () = hook.outlet.closed() => Ok(false),
    };
    match sent {
        Ok(true) => (reason, response),
        Ok(false) => (
            reason::SHUTTING_DOWN,
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "eventlens is shutting down",
            ),
        ),
        Err(_) => (
            reason::BUSY,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "eventlens is behind: try again\n",
            )
                .into_response(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_event_formats_are_read() {
        for ct in [
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
            "application/cloudevents",
            "application/json",
        ] {
            assert!(!unsupported_format(ct), "{ct}");
        }
        for ct in [
            "application/cloudevents+xml",
            "application/cloudevents+protobuf",
            "application/cloudevents-batch+avro",
        ] {
            assert!(unsupported_format(ct), "{ct}");
        }
    }

    #[test]
    fn listen_takes_an_http_url_as_the_webhook_source() {
        let u = listen_url("http://127.0.0.1:0/events").expect("parses");
        assert_eq!(u.to_string(), "webhook://127.0.0.1:0/events");
        assert!(matches!(u.endpoint, Endpoint::Webhook { ref path, .. } if path == "/events"));
        assert!(listen_url("webhook://127.0.0.1:9000/x").is_ok());
        assert!(listen_url("https://127.0.0.1/x").is_err());
        assert!(listen_url("nats://127.0.0.1/x").is_err());
    }

    #[test]
    fn the_token_compares_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3cret!", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }
}
