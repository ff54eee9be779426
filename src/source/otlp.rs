//! The OTLP trace receiver (`otlp://127.0.0.1:4318`, `otlp+grpc://127.0.0.1:4317`): what an
//! OpenTelemetry SDK's exporter is pointed at (`OTEL_EXPORTER_OTLP_ENDPOINT`). One `axum`
//! server on the sources' runtime takes both protocols on its port: OTLP/HTTP `POST
//! /v1/traces` in protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip
//! or not, over HTTP/1.1; and OTLP/gRPC `TraceService/Export` (h2c) served by `tonic` from
//! the `opentelemetry-proto` crate. The scheme only picks the default port.
//!
//! Spans are read as the OTLP file readers read them (protobuf by
//! [`crate::ingest::otlp_proto`], JSON by [`crate::ingest::otlp`]), held by a
//! [`SpanJoiner`] until their trace is quiet (so a consumer span that arrives before its
//! producer is joined when the producer comes), then handed on as spans of whole traces,
//! which the live path maps as it maps a followed OTLP file's.
//!
//! Answers, per the OTLP specification: 200 with an `ExportTraceServiceResponse`
//! (`partial_success` names the spans rejected and why), in the request's encoding; 400
//! for invalid JSON, a truncated or malformed protobuf or gzip body; 413 (gRPC OUT_OF_RANGE) past
//! `?max_body=` (default 4 MiB, the decompressed size too, gzip over gRPC as well); 415 for another content type or encoding;
//! 401 without the Bearer token when `EVENTLENS_OTLP_TOKEN` is set (an environment
//! variable, never a flag); 501 for `/v1/logs` and `/v1/metrics` (and gRPC UNIMPLEMENTED
//! for the logs and metrics services): eventlens reads traces only, and says so; 503 (gRPC
//! UNAVAILABLE), which exporters retry, while too many spans are waiting. Error bodies are
//! a `google.rpc.Status` (protobuf or JSON). Every answer is counted by its reason in the
//! source's stats; spans as received, decoded (taken) and undecodable (rejected).

use super::url::{BrokerUrl, Endpoint};
use super::webhook::{BodyError, essence, read_body, same_secret};
use super::{Outlet, SourceStatus};
use crate::ingest::span_join::SpanJoiner;
use crate::ingest::spans::{Parsed, Span};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable holding the Bearer token a sender must present, if any.
pub const TOKEN_ENV: &str = "EVENTLENS_OTLP_TOKEN";

/// Spans held (waiting for their trace to be quiet, or for room in the pipeline) past
/// which requests are answered 503 / UNAVAILABLE, which exporters retry.
pub const MAX_HELD: usize = 2_000_000;

/// How often traces that are due are released.
const RELEASE_EVERY: Duration = Duration::from_millis(100);

/// The gRPC method of the trace service.
pub const GRPC_TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Why a request was answered as it was: the counters' names.
pub mod reason {
    pub const ACCEPTED: &str = "accepted";
    pub const PARTIAL: &str = "partly rejected";
    pub const BAD_PROTOBUF: &str = "bad protobuf";
    pub const BAD_JSON: &str = "bad JSON";
    pub const BAD_GZIP: &str = "bad gzip";
    pub const BAD_CONTENT_TYPE: &str = "bad content type";
    pub const BAD_ENCODING: &str = "bad content encoding";
    pub const TOO_LARGE: &str = "too large";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not found";
    pub const BAD_METHOD: &str = "method not allowed";
    pub const LOGS_NOT_READ: &str = "logs not read";
    pub const METRICS_NOT_READ: &str = "metrics not read";
    pub const NOT_READ: &str = "not read";
    pub const BUSY: &str = "busy";
    pub const SHUTTING_DOWN: &str = "shutting down";
    pub const BODY_ERROR: &str = "body not read";
    pub const GRPC_ERROR: &str = "gRPC error";
}

/// Spans waiting for their trace to be quiet.
struct Held {
    joiner: SpanJoiner,
    held: usize,
}

/// One receiver's settings, its joiner and its way into the pipeline.
struct Receiver {
    max_body: usize,
    token: Option<String>,
    outlet: Outlet,
    held: Mutex<Held>,
    /// Requests taken so far: each request's spans have its number as their line.
    requests: AtomicU64,
}

/// What became of a request's spans.
struct Taken {
    rejected: u64,
    message: String,
}

enum Refused {
    Busy,
    ShuttingDown,
}

impl Receiver {
    /// Hands the spans read to the joiner; counts them.
    fn take(&self, parsed: Parsed) -> Result<Taken, Refused> {
        if self.outlet.is_closed() {
            return Err(Refused::ShuttingDown);
        }
        let stats = &self.outlet.stats;
        let (ok, rejected) = (parsed.spans.len() as u64, parsed.errors.len() as u64);
        {
            let Ok(mut h) = self.held.lock() else {
                return Err(Refused::ShuttingDown);
            };
            if h.held >= MAX_HELD {
                return Err(Refused::Busy);
            }
            h.held += parsed.spans.len();
            let pushed = h.joiner.push(parsed.spans, Instant::now());
            if let Some((_, late)) = pushed.late.last() {
                stats.set_note(Some(format!(
                    "{} late spans so far; the last: {late}",
                    h.joiner.late_spans
                )));
            }
        }
        stats.received.fetch_add(ok + rejected, Ordering::Relaxed);
        stats.decoded.fetch_add(ok, Ordering::Relaxed);
        stats.undecodable.fetch_add(rejected, Ordering::Relaxed);
        let mut message: Vec<&str> = parsed
            .errors
            .iter()
            .take(5)
            .map(|(_, e)| e.as_str())
            .collect();
        let more = format!("and {} more", parsed.errors.len().saturating_sub(5));
        if parsed.errors.len() > 5 {
            message.push(&more);
        }
        Ok(Taken {
            rejected,
            message: message.join("; "),
        })
    }

    fn authorized(&self, value: Option<&[u8]>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        value
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            })
            .is_some_and(|given| same_secret(given.as_bytes(), token.as_bytes()))
    }

    /// The traces due now (or every one held), handed on; `false` once the consumer is
    /// gone.
    async fn release(&self, all: bool) -> bool {
        let spans: Vec<Span> = match self.held.lock() {
            Ok(mut h) => {
                let s = if all {
                    h.joiner.release_all()
                } else {
                    h.joiner.release(Instant::now())
                };
                h.held = h.held.saturating_sub(s.len());
                s
            }
            Err(_) => return false,
        };
        self.outlet.send_spans_wait(spans).await
    }
}

/// Binds, reports `listening on ADDR`, and serves until the consumer goes away.
pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Otlp { max_body, .. } = &url.endpoint else {
        return Some("not an OTLP endpoint".into());
    };
    let listener = match tokio::net::TcpListener::bind(url.address()).await {
        Ok(l) => l,
        Err(e) => return Some(format!("binding {}: {e}", url.address())),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a.to_string(),
        Err(e) => return Some(format!("the bound address: {e}")),
    };
    let rx = Arc::new(Receiver {
        max_body: *max_body,
        token: std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()),
        outlet: outlet.clone(),
        held: Mutex::new(Held {
            joiner: SpanJoiner::default(),
            held: 0,
        }),
        requests: AtomicU64::new(0),
    });
    tracing::info!("{}: listening on {addr}", outlet.stats.url);
    outlet.stats.set_status(SourceStatus::Listening(addr));
    let app = router(rx.clone());
    let closed = {
        let outlet = outlet.clone();
        async move { outlet.closed().await }
    };
    let releasing = {
        let rx = rx.clone();
        async move {
            loop {
                tokio::time::sleep(RELEASE_EVERY).await;
                let all = rx.outlet.stats.take_flush();
                if !rx.release(all).await {
                    break;
                }
            }
        }
    };
    let serving = std::future::IntoFuture::into_future(
        axum::serve(listener, app).with_graceful_shutdown(closed),
    );
    let end = tokio::select! {
        r = serving => match r {
            Ok(()) => None,
            Err(e) => Some(format!("serving: {e}")),
        },
        () = releasing => None,
    };
    rx.release(true).await;
    end
}

fn router(rx: Arc<Receiver>) -> axum::Router {
    // Exporters compress with gzip when asked (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`); the
    // size limit holds for the message as decompressed.
    let grpc = TraceServiceServer::new(Grpc(rx.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(rx.max_body)
        .max_encoding_message_size(usize::MAX);
    axum::Router::new()
        .route_service(GRPC_TRACES, grpc)
        .layer(axum::middleware::from_fn_with_state(rx.clone(), count_grpc))
        .fallback(handle)
        .with_state(rx)
}

/// Counts the gRPC answers that tonic gives on its own (a message too large, one it cannot
/// decode, a compression it does not take) and the service's refusals, by their status.
async fn count_grpc(State(rx): State<Arc<Receiver>>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    let reason = match code {
        None | Some(0) => None,
        // tonic says OUT_OF_RANGE for a message past the limit.
        Some(8 | 11) => Some(reason::TOO_LARGE),
        Some(3 | 13) => Some(reason::BAD_PROTOBUF),
        Some(12) => Some(reason::BAD_ENCODING),
        Some(14) => Some(reason::BUSY),
        Some(16) => Some(reason::UNAUTHORIZED),
        Some(_) => Some(reason::GRPC_ERROR),
    };
    if let Some(r) = reason {
        rx.outlet.stats.count_answer(r);
    }
    response
}

#[derive(Clone)]
struct Grpc(Arc<Receiver>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let rx = &self.0;
        let auth = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        if !rx.authorized(auth) {
            return Err(tonic::Status::unauthenticated("a Bearer token is required"));
        }
        let n = rx.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let parsed = crate::ingest::otlp_proto::parse_request(request.into_inner(), n);
        match rx.take(parsed) {
            Ok(t) => {
                rx.outlet.stats.count_answer(if t.rejected == 0 {
                    reason::ACCEPTED
                } else {
                    reason::PARTIAL
                });
                Ok(tonic::Response::new(response_message(&t)))
            }
            Err(Refused::Busy) => Err(tonic::Status::unavailable("eventlens is behind: try again")),
            Err(Refused::ShuttingDown) => {
                Err(tonic::Status::unavailable("eventlens is shutting down"))
            }
        }
    }
}

fn response_message(t: &Taken) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (t.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: t.rejected as i64,
            error_message: t.message.clone(),
        }),
    }
}

/// How a request's body (and so its answer) is encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
    /// Not known (the answer is plain text).
    Other,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Encoding {
        match essence(headers).as_deref() {
            Some("application/x-protobuf" | "application/protobuf") => Encoding::Protobuf,
            Some("application/json") => Encoding::Json,
            _ => Encoding::Other,
        }
    }
}

/// An error answer: a `google.rpc.Status` in the request's encoding (OTLP/HTTP says so),
/// else text.
fn status(enc: Encoding, code: StatusCode, grpc_code: i32, message: impl Into<String>) -> Response {
    let message = message.into();
    match enc {
        Encoding::Protobuf => {
            let mut buf = Vec::with_capacity(message.len() + 8);
            prost::encoding::int32::encode(1, &grpc_code, &mut buf);
            prost::encoding::string::encode(2, &message, &mut buf);
            (
                code,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                buf,
            )
                .into_response()
        }
        Encoding::Json => (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": grpc_code, "message": message}).to_string(),
        )
            .into_response(),
        Encoding::Other => (
            code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response(),
    }
}

async fn handle(State(rx): State<Arc<Receiver>>, req: Request) -> Response {
    let (reason, response) = answer(&rx, req).await;
    rx.outlet.stats.count_answer(reason);
    response
}

/// A gRPC answer with only a status (trailers-only).
fn grpc_status(code: i32, message: &str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE.as_str(), "application/grpc"),
            ("grpc-status", &code.to_string()),
            ("grpc-message", message),
        ],
    )
        .into_response()
}

async fn answer(rx: &Receiver, req: Request) -> (&'static str, Response) {
    let (parts, body) = req.into_parts();
    let enc = Encoding::of(&parts.headers);
    let path = parts.uri.path().trim_end_matches('/');
    let not_read = match path {
        "/v1/traces" => None,
        "/v1/logs" => Some((reason::LOGS_NOT_READ, "logs")),
        "/v1/metrics" => Some((reason::METRICS_NOT_READ, "metrics")),
        p if p.starts_with("/opentelemetry.proto.collector.") => {
            // Another gRPC service (logs, metrics, profiles): UNIMPLEMENTED, said.
            let (r, what) = if p.contains(".logs.") {
                (reason::LOGS_NOT_READ, "logs")
            } else if p.contains(".metrics.") {
                (reason::METRICS_NOT_READ, "metrics")
            } else {
                (reason::NOT_READ, "this signal")
            };
            return (
                r,
                grpc_status(
                    12,
                    &format!("eventlens reads traces only: {what} are not read"),
                ),
            );
        }
        _ => {
            return (
                reason::NOT_FOUND,
                status(
                    enc,
                    StatusCode::NOT_FOUND,
                    5,
                    "no OTLP endpoint here: traces are taken on POST /v1/traces (and gRPC TraceService/Export)",
                ),
            );
        }
    };
    if parts.method != Method::POST {
        return (
            reason::BAD_METHOD,
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST")],
                "send OTLP with POST\n",
            )
                .into_response(),
        );
    }
    if !rx.authorized(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    ) {
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
    if let Some((reason, what)) = not_read {
        return (
            reason,
            status(
                enc,
                StatusCode::NOT_IMPLEMENTED,
                12,
                format!("eventlens reads traces only (/v1/traces): {what} are not read"),
            ),
        );
    }
    if enc == Encoding::Other {
        return (
            reason::BAD_CONTENT_TYPE,
            status(
                enc,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                format!(
                    "{}: OTLP/HTTP traces are application/x-protobuf or application/json",
                    essence(&parts.headers).unwrap_or_else(|| "no content type".into())
                ),
            ),
        );
    }
    let gzip = match parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .as_deref()
    {
        None | Some("" | "identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(other) => {
            return (
                reason::BAD_ENCODING,
                status(
                    enc,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    3,
                    format!("Content-Encoding {other}: eventlens reads gzip or none"),
                ),
            );
        }
    };
    let too_large = || {
        (
            reason::TOO_LARGE,
            status(
                enc,
                StatusCode::PAYLOAD_TOO_LARGE,
                8,
                format!("the body is larger than {} bytes", rx.max_body),
            ),
        )
    };
    let mut payload = match read_body(&parts.headers, body, rx.max_body).await {
        Ok(p) => p,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Read(e)) => {
            return (
                reason::BODY_ERROR,
                status(
                    enc,
                    StatusCode::BAD_REQUEST,
                    3,
                    format!("reading the body: {e}"),
                ),
            );
        }
    };
    if gzip {
        let mut out = Vec::with_capacity(payload.len() * 4);
        let read = flate2::read::GzDecoder::new(payload.as_slice())
            .take(rx.max_body as u64 + 1)
            .read_to_end(&mut out);
        match read {
            Ok(_) if out.len() > rx.max_body => return too_large(),
            Ok(_) => payload = out,
            Err(e) => {
                return (
                    reason::BAD_GZIP,
                    status(
                        enc,
                        StatusCode::BAD_REQUEST,
                        3,
                        format!("the gzip body: {e}"),
                    ),
                );
            }
        }
    }
    let n = rx.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let parsed = match enc {
        Encoding::Protobuf => match ExportTraceServiceRequest::decode(payload.as_slice()) {
            Ok(req) => crate::ingest::otlp_proto::parse_request(req, n),
            Err(e) => {
                return (
                    reason::BAD_PROTOBUF,
                    status(
                        enc,
                        StatusCode::BAD_REQUEST,
                        3,
                        format!("not an ExportTraceServiceRequest: {e}"),
                    ),
                );
            }
        },
        _ => match json_request(&payload) {
            Ok(p) => p,
            Err(why) => {
                return (
                    reason::BAD_JSON,
                    status(enc, StatusCode::BAD_REQUEST, 3, why),
                );
            }
        },
    };
    match rx.take(parsed) {
        Ok(t) => {
            let reason = if t.rejected == 0 {
                reason::ACCEPTED
            } else {
                reason::PARTIAL
            };
            let response = match enc {
                Encoding::Protobuf => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    response_message(&t).encode_to_vec(),
                )
                    .into_response(),
                _ => {
                    let body = if t.rejected == 0 {
                        serde_json::json!({})
                    } else {
                        serde_json::json!({"partialSuccess": {
                            "rejectedSpans": t.rejected.to_string(),
                            "errorMessage": t.message,
                        }})
                    };
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        body.to_string(),
                    )
                        .into_response()
                }
            };
            (reason, response)
        }
        Err(Refused::Busy) => (
            reason::BUSY,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "eventlens is behind: try again\n",
            )
                .into_response(),
        ),
        Err(Refused::ShuttingDown) => (
            reason::SHUTTING_DOWN,
            status(
                enc,
                StatusCode::SERVICE_UNAVAILABLE,
                14,
                "eventlens is shutting down",
            ),
        ),
    }
}

/// An OTLP/JSON request read as the OTLP JSON file reader reads a document; `Err` when
/// it is not JSON, or not a TracesData object.
fn json_request(payload: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(payload).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| format!("invalid JSON: {}", crate::ingest::json_error(&e)))?;
    let parsed = crate::ingest::otlp::parse_document(text);
    if parsed.spans.is_empty()
        && let Some((_, e)) = parsed
            .errors
            .iter()
            .find(|(_, e)| e.starts_with("not an OTLP TracesData object"))
    {
        return Err(e.clone());
    }
    Ok(parsed)
}
