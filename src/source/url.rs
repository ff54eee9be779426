//! Broker URLs: parsing them into what to connect to and what to read, and
//! [`redact_url`], the only form of a URL that is ever shown, logged or written.
//!
//! Parsed by hand, not by a generic URL parser: an MQTT filter's `#` and a NATS subject's
//! `>` are part of the path here, not a fragment.

use super::tls::TlsOptions;
use std::fmt;

/// What to read from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `nats://host:port/SUBJECT` (wildcards `*` and `>` allowed).
    NatsCore { subject: String },
    /// `nats://host:port/stream/NAME`: JetStream, an ephemeral ordered consumer from the
    /// start (or `?seq=N`, `?since=RFC3339`); `?subject=` filters.
    JetStream {
        stream: String,
        start: StreamStart,
        filter: Option<String>,
    },
    /// `mqtt://host:port/FILTER` (`+` and `#` allowed); `?qos=0|1|2`, `?v=3` for MQTT 3.1.1.
    Mqtt { filter: String, qos: u8, v5: bool },
    /// `amqp://user:pass@host:port/vhost?exchange=X&key=PATTERN`.
    Amqp {
        vhost: String,
        exchange: String,
        key: String,
    },
    /// `redis://host:port/stream/KEY` (`?from=ID`, default `0`: the whole stream).
    RedisStream { key: String, from: String },
    /// `redis://host:port/channel/PATTERN` (PSUBSCRIBE).
    RedisChannel { pattern: String },
    /// `webhook://127.0.0.1:8080/PATH`: a listener for the CloudEvents HTTP binding on that
    /// address (loopback unless another is given; port 0 picks one) and path;
    /// `?max_body=BYTES` limits a request body (default [`DEFAULT_MAX_BODY`]).
    Webhook { path: String, max_body: usize },
    /// `sse+http://host:port/PATH` or `sse+https://...`: a Server-Sent Events stream read
    /// with GET. `path` is as written (still percent-encoded); the query goes to the server
    /// as written too, less the TLS options (`ca=`, `insecure=`), but is never shown.
    Sse { path: String },
    /// `otlp://127.0.0.1:4318` (OTLP/HTTP) or `otlp+grpc://127.0.0.1:4317` (OTLP/gRPC): an
    /// OpenTelemetry trace receiver on that address (loopback unless another is given; port
    /// 0 picks one). Either takes both protocols on its port (HTTP/1.1 and h2c); the scheme
    /// picks the default port. `?max_body=BYTES` limits a request (default
    /// [`DEFAULT_MAX_BODY`]).
    Otlp { grpc: bool, max_body: usize },
    /// `kafka://host:port/TOPIC[,TOPIC...]` (or `kafka+ssl://`): every partition of each
    /// topic, assigned by hand (no consumer group, nothing committed), from
    /// `?from=beginning` (the default), `end`, an offset or an RFC 3339 time.
    Kafka {
        topics: Vec<String>,
        start: KafkaStart,
    },
}

/// Where a Kafka source starts, in every partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaStart {
    /// The oldest record each partition still holds.
    Beginning,
    /// Only records produced from now on.
    End,
    /// This offset in every partition (a partition that does not reach it yet starts at
    /// its end, by librdkafka's `auto.offset.reset`).
    Offset(i64),
    /// The first record at or after this time (nanoseconds since the epoch).
    Time(i64),
}

impl KafkaStart {
    /// `?from=`: `beginning` (or `earliest`), `end` (or `latest`), an offset, or an RFC
    /// 3339 time.
    pub fn parse(text: &str) -> Result<KafkaStart, String> {
        match text.trim() {
            "" | "beginning" | "earliest" | "start" => Ok(KafkaStart::Beginning),
            "end" | "latest" => Ok(KafkaStart::End),
            t if t.bytes().all(|b| b.is_ascii_digit()) => t
                .parse()
                .map(KafkaStart::Offset)
                .map_err(|_| format!("from={t:?}: the offset is too large")),
            t => crate::time::parse_rfc3339(t)
                .map(KafkaStart::Time)
                .map_err(|e| {
                    format!(
                        "from={t:?}: expected beginning, end, an offset or an RFC 3339 time \
                         ({e})"
                    )
                }),
        }
    }
}

/// The largest request body a webhook reads unless `?max_body=` says otherwise: 4 MiB.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// Where a JetStream source starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamStart {
    All,
    Sequence(u64),
    /// Nanoseconds since the epoch.
    Time(i64),
}

/// A parsed broker URL. [`fmt::Display`] is the redacted URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub endpoint: Endpoint,
    /// `Some` for the TLS schemes (`tls://`, `nats+tls://`, `mqtts://`, `amqps://`,
    /// `rediss://`): how the server's certificate is checked (`?ca=FILE`, `?insecure=1`).
    pub tls: Option<TlsOptions>,
    redacted: String,
    /// The query parameters, decoded (never shown: they may hold secrets).
    params: Vec<(String, String)>,
    /// The query as written, for a server that is asked with it (SSE); never shown.
    forward_query: String,
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, not even in a debug print.
        f.debug_struct("BrokerUrl")
            .field("url", &self.redacted)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "token",
    "secret",
    "auth",
    "auth_token",
    "access_token",
    "api_key",
    "apikey",
    "nkey",
    "jwt",
    "creds",
];

/// The URL without its `user:password@` part and with secret query values masked: the
/// only form in which a URL is shown, logged or written. Works on any text (a file path
/// comes back unchanged).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let tail = match tail.split_once('?') {
        None => tail.to_string(),
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                        format!("{k}=***")
                    }
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
    };
    format!("{scheme}://{host}{tail}")
}

/// A scheme's transport (`nats`, `mqtt`, `amqp` or `redis`), whether it is TLS, and its
/// default port.
fn scheme_info(scheme: &str) -> Option<(&'static str, bool, u16)> {
    Some(match scheme {
        "nats" => ("nats", false, 4222),
        "tls" | "nats+tls" => ("nats", true, 4222),
        "mqtt" => ("mqtt", false, 1883),
        "mqtts" => ("mqtt", true, 8883),
        "amqp" => ("amqp", false, 5672),
        "amqps" => ("amqp", true, 5671),
        "redis" => ("redis", false, 6379),
        "rediss" => ("redis", true, 6379),
        "webhook" => ("webhook", false, 8080),
        "sse+http" => ("sse", false, 80),
        "sse+https" => ("sse", true, 443),
        "otlp" | "otlp+http" => ("otlp", false, 4318),
        "otlp+grpc" => ("otlp", false, 4317),
        "kafka" => ("kafka", false, 9092),
        "kafka+ssl" => ("kafka", true, 9093),
        _ => return None,
    })
}

/// Whether a command-line argument names a broker (not a file).
pub fn is_broker_url(arg: &str) -> bool {
    matches!(
        arg.split_once("://").map(|(s, _)| s.to_ascii_lowercase()),
        Some(s) if scheme_info(&s).is_some()
    )
}

/// Why a URL could not be used (the message never contains the password).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{url}: {message}")]
pub struct UrlError {
    pub url: String,
    pub message: String,
}

/// `%XX` for every byte but the unreserved characters (`A-Z a-z 0-9 - . _ ~`): one URL
/// component (a user, a password, a vhost, a path segment).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` sequences decoded; the text unchanged when they do not make UTF-8.
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<BrokerUrl, UrlError> {
        let redacted = redact_url(url);
        let err = |message: String| UrlError {
            url: redacted.clone(),
            message,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("not a URL (scheme://host:port/...)".into()))?;
        let scheme = scheme.to_ascii_lowercase();
        let Some((transport, is_tls, default_port)) = scheme_info(&scheme) else {
            return Err(err(format!(
                "unknown scheme {scheme:?}: eventlens reads nats://, mqtt://, amqp://, \
                 redis:// and kafka://, over TLS tls:// (or nats+tls://), mqtts://, amqps://, \
                 rediss:// and kafka+ssl://, \
                 Server-Sent Events with sse+http:// and sse+https://, and listens with \
                 webhook://, otlp:// and otlp+grpc://"
            )));
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(u)), None),
            },
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [IPv6]:port
            let (h, after) = h
                .split_once(']')
                .ok_or_else(|| err("unclosed [ in the host".into()))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| err(format!("port {p:?} is not a number")))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| err(format!("port {p:?} is not a number")))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        // A listener binds to loopback unless told otherwise.
        let listener = transport == "webhook" || transport == "otlp";
        let host = if host.is_empty() && listener {
            "127.0.0.1".to_string()
        } else {
            host
        };
        if host.is_empty() {
            return Err(err("no host".into()));
        }
        if listener && userinfo.is_some() {
            return Err(err(format!(
                "a listener takes no user or password in its URL: set {} to require a Bearer \
                 token",
                if transport == "otlp" {
                    "EVENTLENS_OTLP_TOKEN"
                } else {
                    "EVENTLENS_WEBHOOK_TOKEN"
                }
            )));
        }
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, q),
            None => (tail, ""),
        };
        let path = path.strip_prefix('/').unwrap_or(path);
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let tls = match (is_tls, param("ca"), param("insecure")) {
            (true, ca, insecure) => Some(TlsOptions {
                ca_file: ca.filter(|c| !c.is_empty()).map(std::path::PathBuf::from),
                insecure: match insecure {
                    None | Some("0" | "false" | "no") => false,
                    Some("" | "1" | "true" | "yes") => true,
                    Some(other) => {
                        return Err(err(format!("insecure={other:?}: expected 1 or 0")));
                    }
                },
            }),
            (false, None, None) => None,
            (false, _, _) => {
                return Err(err(format!(
                    "ca= and insecure= are TLS options: use {}",
                    match transport {
                        "nats" => "tls://",
                        "mqtt" => "mqtts://",
                        "amqp" => "amqps://",
                        "webhook" | "otlp" => "a reverse proxy in front of the listener",
                        "sse" => "sse+https://",
                        "kafka" => "kafka+ssl://",
                        _ => "rediss://",
                    }
                )));
            }
        };
        let endpoint = match transport {
            "nats" => match path.split_once('/') {
                Some(("stream", name)) if !name.is_empty() => {
                    let start = match (param("seq"), param("since")) {
                        (Some(s), _) => StreamStart::Sequence(
                            s.parse()
                                .map_err(|_| err(format!("seq={s:?} is not a sequence number")))?,
                        ),
                        (None, Some(t)) => StreamStart::Time(
                            crate::time::parse_rfc3339(t)
                                .map_err(|e| err(format!("since={t:?}: {e}")))?,
                        ),
                        (None, None) => StreamStart::All,
                    };
                    Endpoint::JetStream {
                        stream: percent_decode(name),
                        start,
                        filter: param("subject").map(str::to_string),
                    }
                }
                _ if path.is_empty() => {
                    return Err(err(
                        "no subject: nats://host:port/SUBJECT or nats://host:port/stream/NAME"
                            .into(),
                    ));
                }
                _ => Endpoint::NatsCore {
                    subject: percent_decode(path),
                },
            },
            "mqtt" => {
                if path.is_empty() {
                    return Err(err(
                        "no topic filter: mqtt://host:port/FILTER (# for all)".into()
                    ));
                }
                let qos = match param("qos") {
                    None => 1,
                    Some(q) => q
                        .parse::<u8>()
                        .ok()
                        .filter(|q| *q <= 2)
                        .ok_or_else(|| err(format!("qos={q:?}: expected 0, 1 or 2")))?,
                };
                let v5 = !matches!(param("v"), Some("3" | "3.1.1" | "4"));
                Endpoint::Mqtt {
                    filter: percent_decode(path),
                    qos,
                    v5,
                }
            }
            "amqp" => {
                let exchange = param("exchange").filter(|e| !e.is_empty()).ok_or_else(|| {
                    err(
                        "no exchange: amqp://user:pass@host:port/vhost?exchange=X&key=PATTERN"
                            .into(),
                    )
                })?;
                Endpoint::Amqp {
                    vhost: if path.is_empty() {
                        "/".to_string()
                    } else {
                        percent_decode(path)
                    },
                    exchange: exchange.to_string(),
                    key: param("key").unwrap_or("#").to_string(),
                }
            }
            "webhook" => Endpoint::Webhook {
                path: format!("/{}", path.trim_end_matches('/')),
                max_body: match param("max_body") {
                    None => DEFAULT_MAX_BODY,
                    Some(b) => crate::ingest::Limits::parse_size(b)
                        .map_err(|e| err(format!("max_body: {e}")))?,
                },
            },
            "sse" => Endpoint::Sse {
                path: format!("/{path}"),
            },
            "otlp" => {
                if !path.is_empty() && !matches!(path.trim_end_matches('/'), "v1/traces" | "") {
                    return Err(err(format!(
                        "an OTLP receiver takes no path ({path:?}): traces are taken on \
                         /v1/traces over HTTP and on the TraceService over gRPC"
                    )));
                }
                Endpoint::Otlp {
                    grpc: scheme == "otlp+grpc",
                    max_body: match param("max_body") {
                        None => DEFAULT_MAX_BODY,
                        Some(b) => crate::ingest::Limits::parse_size(b)
                            .map_err(|e| err(format!("max_body: {e}")))?,
                    },
                }
            }
            "kafka" => {
                let topics: Vec<String> = path
                    .trim_end_matches('/')
                    .split(',')
                    .map(|t| percent_decode(t.trim()))
                    .filter(|t| !t.is_empty())
                    .collect();
                if topics.is_empty() {
                    return Err(err("no topic: kafka://host:port/TOPIC[,TOPIC...]".into()));
                }
                // Kafka's own rule for a topic name (the broker refuses any other).
                if let Some(bad) = topics.iter().find(|t| {
                    t.len() > 249
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                }) {
                    return Err(err(format!(
                        "topic {bad:?}: a Kafka topic is at most 249 of a-z A-Z 0-9 . _ -"
                    )));
                }
                Endpoint::Kafka {
                    topics,
                    start: KafkaStart::parse(param("from").unwrap_or("beginning")).map_err(err)?,
                }
            }
            _ => match path.split_once('/') {
                Some(("stream", key)) if !key.is_empty() => Endpoint::RedisStream {
                    key: percent_decode(key),
                    from: param("from").unwrap_or("0").to_string(),
                },
                Some(("channel", pattern)) if !pattern.is_empty() => Endpoint::RedisChannel {
                    pattern: percent_decode(pattern),
                },
                _ => {
                    return Err(err(
                        "expected redis://host:port/stream/KEY or redis://host:port/channel/PATTERN"
                            .into(),
                    ));
                }
            },
        };
        if let Some(p) = param("poll")
            && super::declared::parse_every(p).is_none()
        {
            return Err(err(format!(
                "poll={p}: how often the declared topology is asked for, as 500ms, 2s or \
                 a number of seconds (at least 100 ms)"
            )));
        }
        // The TLS options are ours; everything else in the query is the server's.
        let forward_query = if transport == "sse" {
            query
                .split('&')
                .filter(|p| {
                    let key = percent_decode(p.split_once('=').map_or(*p, |(k, _)| k));
                    !p.is_empty() && key != "ca" && key != "insecure"
                })
                .collect::<Vec<_>>()
                .join("&")
        } else {
            String::new()
        };
        Ok(BrokerUrl {
            forward_query,
            scheme,
            user,
            password,
            host,
            port,
            endpoint,
            tls,
            redacted,
            params,
        })
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A query parameter's decoded value (`?mgmt=15672`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The HTTP URL an SSE source asks (`http(s)://host:port/path?query`), without the
    /// user and password (sent as a header) and the TLS options. Holds the query's
    /// secrets, if any: never shown, logged or written.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let path = match &self.endpoint {
            Endpoint::Sse { path } => path.as_str(),
            _ => "/",
        };
        if self.forward_query.is_empty() {
            format!("{scheme}://{}{path}", self.address())
        } else {
            format!("{scheme}://{}{path}?{}", self.address(), self.forward_query)
        }
    }

    /// The redacted URL (as [`fmt::Display`]).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_removes_user_and_password_and_masks_secret_parameters() {
        for (url, shown) in [
            (
                "amqp://guest:s3cret@mq:5672/%2f?exchange=events&key=orders.*",
                "amqp://mq:5672/%2f?exchange=events&key=orders.*",
            ),
            ("amqp://guest:s3cret@mq?exchange=x", "amqp://mq?exchange=x"),
            (
                "nats://token@127.0.0.1:4222/orders.>",
                "nats://127.0.0.1:4222/orders.>",
            ),
            (
                "redis://:p%40ss@localhost/stream/orders",
                "redis://localhost/stream/orders",
            ),
            (
                "mqtt://host/a/#?password=hunter2&qos=1&Token=t",
                "mqtt://host/a/#?password=***&qos=1&Token=***",
            ),
            (
                "nats://127.0.0.1:4222/orders",
                "nats://127.0.0.1:4222/orders",
            ),
            ("captures/run.jsonl", "captures/run.jsonl"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("s3cret"));
        }
    }

    #[test]
    fn a_parsed_url_never_shows_its_password() {
        let u = BrokerUrl::parse(
            "amqp://guest:s3cret@127.0.0.1:5672/%2f?exchange=events&key=orders.%23",
        )
        .expect("parses");
        assert_eq!(u.user.as_deref(), Some("guest"));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(
            u.endpoint,
            Endpoint::Amqp {
                vhost: "/".into(),
                exchange: "events".into(),
                key: "orders.#".into()
            }
        );
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(!shown.contains("guest"), "{shown}");
        }
        let e = BrokerUrl::parse("amqp://guest:s3cret@127.0.0.1:notaport/").expect_err("bad port");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn each_scheme_parses_to_its_endpoint() {
        let ep = |u: &str| BrokerUrl::parse(u).map(|b| (b.address(), b.endpoint));
        assert_eq!(
            ep("nats://127.0.0.1:4222/orders.*"),
            Ok((
                "127.0.0.1:4222".into(),
                Endpoint::NatsCore {
                    subject: "orders.*".into()
                }
            ))
        );
        assert_eq!(
            ep("nats://localhost/stream/ORDERS?seq=5").map(|e| e.1),
            Ok(Endpoint::JetStream {
                stream: "ORDERS".into(),
                start: StreamStart::Sequence(5),
                filter: None
            })
        );
        assert_eq!(
            ep("mqtt://localhost/sensors/+/temp/#").map(|e| e.1),
            Ok(Endpoint::Mqtt {
                filter: "sensors/+/temp/#".into(),
                qos: 1,
                v5: true
            })
        );
        assert_eq!(
            ep("mqtt://localhost:1884/a?v=3&qos=0"),
            Ok((
                "localhost:1884".into(),
                Endpoint::Mqtt {
                    filter: "a".into(),
                    qos: 0,
                    v5: false
                }
            ))
        );
        assert_eq!(
            ep("redis://localhost/stream/orders").map(|e| e.1),
            Ok(Endpoint::RedisStream {
                key: "orders".into(),
                from: "0".into()
            })
        );
        assert_eq!(
            ep("redis://localhost/channel/orders.*").map(|e| e.1),
            Ok(Endpoint::RedisChannel {
                pattern: "orders.*".into()
            })
        );
        for bad in [
            "nats://localhost",
            "amqp://localhost/",
            "redis://localhost/orders",
            "kafka://localhost/",
            "kafka://localhost/orders?from=yesterday",
            "kafka://localhost/a/b",
            "mqtt://localhost/a?qos=3",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_broker_url("nats://x/y") && is_broker_url("AMQP://x"));
        assert!(!is_broker_url("capture.jsonl") && !is_broker_url("http://x"));
    }

    #[test]
    fn a_kafka_url_names_its_topics_and_where_to_start() {
        let u = BrokerUrl::parse("kafka://u:s3cret@127.0.0.1:19092/orders,payments?from=end")
            .expect("parses");
        assert_eq!(u.address(), "127.0.0.1:19092");
        assert_eq!(u.tls, None);
        assert_eq!(
            u.endpoint,
            Endpoint::Kafka {
                topics: vec!["orders".into(), "payments".into()],
                start: KafkaStart::End
            }
        );
        assert!(!u.to_string().contains("s3cret"));
        let start = |q: &str| match BrokerUrl::parse(&format!("kafka://h/t{q}")).map(|u| u.endpoint)
        {
            Ok(Endpoint::Kafka { start, .. }) => Ok(start),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.message),
        };
        assert_eq!(start(""), Ok(KafkaStart::Beginning));
        assert_eq!(start("?from=earliest"), Ok(KafkaStart::Beginning));
        assert_eq!(start("?from=42"), Ok(KafkaStart::Offset(42)));
        assert_eq!(
            start("?from=2026-01-02T03:04:05Z"),
            Ok(KafkaStart::Time(1_767_323_045_000_000_000))
        );
        assert!(start("?from=-1").is_err());
        assert!(start("?from=99999999999999999999").is_err());
        let u = BrokerUrl::parse("kafka+ssl://broker/t?ca=/ca.pem").expect("parses");
        assert_eq!(u.address(), "broker:9093");
        assert_eq!(
            u.tls,
            Some(TlsOptions {
                ca_file: Some("/ca.pem".into()),
                insecure: false
            })
        );
        assert_eq!(
            BrokerUrl::parse("kafka://h").expect_err("no topic").message,
            "no topic: kafka://host:port/TOPIC[,TOPIC...]"
        );
        assert!(BrokerUrl::parse("kafka://h/t?insecure=1").is_err());
        assert!(is_broker_url("kafka://h/t") && is_broker_url("KAFKA+SSL://h/t"));
    }

    #[test]
    fn a_webhook_url_is_a_loopback_listener_with_a_path_and_a_body_limit() {
        let u = BrokerUrl::parse("webhook://127.0.0.1:0/events/").expect("parses");
        assert_eq!(u.address(), "127.0.0.1:0");
        assert_eq!(
            u.endpoint,
            Endpoint::Webhook {
                path: "/events".into(),
                max_body: DEFAULT_MAX_BODY
            }
        );
        let u = BrokerUrl::parse("webhook://:9000?max_body=1KiB").expect("parses");
        assert_eq!(u.address(), "127.0.0.1:9000");
        assert_eq!(
            u.endpoint,
            Endpoint::Webhook {
                path: "/".into(),
                max_body: 1024
            }
        );
        assert_eq!(
            BrokerUrl::parse("webhook://0.0.0.0/hook")
                .expect("parses")
                .address(),
            "0.0.0.0:8080"
        );
        assert!(is_broker_url("webhook://127.0.0.1:8080/x"));
        assert!(BrokerUrl::parse("webhook://u:secret@127.0.0.1/x").is_err());
        assert!(BrokerUrl::parse("webhook://127.0.0.1/x?max_body=lots").is_err());
    }

    #[test]
    fn an_sse_url_asks_its_server_over_http_or_https_and_shows_no_secret() {
        let u =
            BrokerUrl::parse("sse+http://127.0.0.1:9000/events/orders?since=5").expect("parses");
        assert_eq!(
            u.endpoint,
            Endpoint::Sse {
                path: "/events/orders".into()
            }
        );
        assert_eq!(u.tls, None);
        assert_eq!(u.http_url(), "http://127.0.0.1:9000/events/orders?since=5");
        let u = BrokerUrl::parse(
            "SSE+HTTPS://me:s3cret@example.com/stream?access_token=t0k3n&ca=/ca.pem&insecure=1&x=%2F",
        )
        .expect("parses");
        assert_eq!(u.address(), "example.com:443");
        assert_eq!(
            u.tls,
            Some(TlsOptions {
                ca_file: Some("/ca.pem".into()),
                insecure: true
            })
        );
        // The server gets its own query (TLS options removed), never the password.
        assert_eq!(
            u.http_url(),
            "https://example.com:443/stream?access_token=t0k3n&x=%2F"
        );
        for shown in [u.to_string(), format!("{u:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("t0k3n"),
                "{shown}"
            );
        }
        assert_eq!(
            BrokerUrl::parse("sse+http://h/").expect("parses").address(),
            "h:80"
        );
        assert!(is_broker_url("sse+https://h/x") && !is_broker_url("https://h/x"));
        let e = BrokerUrl::parse("sse+http://h/x?insecure=1").expect_err("not TLS");
        assert!(e.message.contains("sse+https://"), "{e}");
    }

    #[test]
    fn an_otlp_url_is_a_loopback_receiver_on_the_otlp_ports() {
        let u = BrokerUrl::parse("otlp://").expect("parses");
        assert_eq!(u.address(), "127.0.0.1:4318");
        assert_eq!(
            u.endpoint,
            Endpoint::Otlp {
                grpc: false,
                max_body: DEFAULT_MAX_BODY
            }
        );
        let u = BrokerUrl::parse("otlp+grpc://127.0.0.1?max_body=1KiB").expect("parses");
        assert_eq!(u.address(), "127.0.0.1:4317");
        assert_eq!(
            u.endpoint,
            Endpoint::Otlp {
                grpc: true,
                max_body: 1024
            }
        );
        assert!(BrokerUrl::parse("otlp://127.0.0.1:0/v1/traces").is_ok());
        assert!(BrokerUrl::parse("otlp://127.0.0.1:0/elsewhere").is_err());
        assert!(BrokerUrl::parse("otlp://u:p@127.0.0.1:4318").is_err());
        assert!(is_broker_url("otlp+grpc://127.0.0.1:4317"));
    }

    #[test]
    fn tls_schemes_take_their_default_ports_and_the_same_options() {
        for (url, address) in [
            ("tls://localhost/orders.>", "localhost:4222"),
            ("nats+tls://localhost/stream/ORDERS", "localhost:4222"),
            ("mqtts://localhost/a/#", "localhost:8883"),
            ("amqps://localhost/%2f?exchange=events", "localhost:5671"),
            ("rediss://localhost/stream/orders", "localhost:6379"),
        ] {
            let u = BrokerUrl::parse(url).expect(url);
            assert_eq!(u.address(), address, "{url}");
            assert_eq!(u.tls, Some(TlsOptions::default()), "{url}");
            assert!(is_broker_url(url), "{url}");
        }
        let u = BrokerUrl::parse("mqtts://u:s3cret@h:8884/a?ca=/etc/ca%20x.pem&qos=0&insecure=1")
            .expect("parses");
        assert_eq!(
            u.tls,
            Some(TlsOptions {
                ca_file: Some("/etc/ca x.pem".into()),
                insecure: true
            })
        );
        assert_eq!(
            u.endpoint,
            Endpoint::Mqtt {
                filter: "a".into(),
                qos: 0,
                v5: true
            }
        );
        assert!(!u.to_string().contains("s3cret"));
        assert_eq!(
            BrokerUrl::parse("rediss://h/channel/x?insecure=0")
                .expect("parses")
                .tls,
            Some(TlsOptions::default())
        );
        assert_eq!(
            BrokerUrl::parse("redis://h/channel/x").expect("parses").tls,
            None
        );
        // TLS options on a plain scheme, or an unreadable flag, are refused.
        let e = BrokerUrl::parse("nats://h/x?ca=/ca.pem").expect_err("not TLS");
        assert!(e.message.contains("tls://"), "{e}");
        assert!(BrokerUrl::parse("amqp://h/%2f?exchange=x&insecure=1").is_err());
        assert!(BrokerUrl::parse("rediss://h/channel/x?insecure=maybe").is_err());
        let e = BrokerUrl::parse("kafkas://h/x").expect_err("unknown");
        assert!(e.message.contains("kafka+ssl://"), "{e}");
        assert!(e.message.contains("rediss://"), "{e}");
    }
}
