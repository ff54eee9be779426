//! Redis through the `redis` crate: Streams read with XREAD (no consumer group: nothing is
//! acknowledged or claimed) from an id, remembering the last id so a reconnect neither
//! skips nor repeats an entry; and pub/sub channels through PSUBSCRIBE (lossy: drops are
//! counted).
//!
//! A stream entry is a CloudEvent when its fields are the attributes (`specversion`, `id`,
//! ...; `data` or `data_base64` is the data), or when one field holds a structured-mode
//! CloudEvent. Anything else is a plain message: one field is the payload, several are a
//! JSON object of them.
//!
//! `rediss://` connects over TLS with the configuration of [`super::tls`]: the TLS stream is
//! made here and handed to the client's connection.

use super::url::{BrokerUrl, Endpoint};
use super::{Backoff, BrokerMeta, HeaderValue, Message, Outlet, SourceStatus, System, now_nanos};
use futures_util::StreamExt;
use redis::streams::{StreamReadOptions, StreamReadReply};
use std::time::Duration;

/// How long one XREAD blocks waiting for entries.
const BLOCK_MS: usize = 1000;
/// Entries per XREAD.
const COUNT: usize = 1000;

/// The URL the client connects to: host, port and credentials only (never shown).
pub(crate) fn connect_info(url: &BrokerUrl) -> String {
    let enc = super::url::percent_encode;
    let auth = match (&url.user, &url.password) {
        (Some(u), Some(p)) => format!("{}:{}@", enc(u), enc(p)),
        (None, Some(p)) => format!(":{}@", enc(p)),
        _ => String::new(),
    };
    format!("redis://{auth}{}/", url.address())
}

/// Where and how a connection is made: the client (host, port, credentials), and over
/// TLS the configuration.
pub(crate) struct Target {
    client: redis::Client,
    tls: Option<(std::sync::Arc<rustls::ClientConfig>, String, u16)>,
}

impl Target {
    /// The client and TLS configuration of a `redis://` or `rediss://` URL.
    pub(crate) fn of(url: &BrokerUrl) -> Result<Target, String> {
        let client = redis::Client::open(connect_info(url))
            .map_err(|e| format!("cannot use this URL: {e}"))?;
        let tls = match &url.tls {
            None => None,
            Some(opts) => Some((super::tls::client_config(opts)?, url.host.clone(), url.port)),
        };
        Ok(Target { client, tls })
    }

    /// A multiplexed connection, over TLS when the URL says so.
    pub(crate) async fn multiplexed(
        &self,
        config: &redis::AsyncConnectionConfig,
    ) -> Result<redis::aio::MultiplexedConnection, String> {
        match self.tls_stream().await? {
            None => self
                .client
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map_err(|e| format!("connecting: {e}")),
            Some(tls) => {
                let info = self.client.get_connection_info().redis_settings();
                let (con, driver) =
                    redis::aio::MultiplexedConnection::new_with_config(info, tls, config.clone())
                        .await
                        .map_err(|e| format!("connecting: {e}"))?;
                // The connection's I/O; it ends when the connection is dropped.
                tokio::spawn(driver);
                Ok(con)
            }
        }
    }

    async fn tls_stream(
        &self,
    ) -> Result<Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>, String> {
        let Some((config, host, port)) = &self.tls else {
            return Ok(None);
        };
        tokio::time::timeout(
            Duration::from_secs(5),
            super::tls::connect(host, *port, config.clone()),
        )
        .await
        .map_err(|_| "connecting: timed out".to_string())?
        .map(Some)
    }
}

pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let target = match Target::of(url) {
        Ok(t) => t,
        Err(e) => return Some(e),
    };
    let mut backoff = Backoff::default();
    // Where the stream source goes on from: the last id passed on.
    let mut last_id = match &url.endpoint {
        Endpoint::RedisStream { from, .. } => from.clone(),
        _ => String::new(),
    };
    loop {
        outlet.stats.set_status(SourceStatus::Connecting);
        let result = tokio::select! {
            r = async {
                match &url.endpoint {
                    Endpoint::RedisStream { key, .. } => {
                        stream(&target, key, &mut last_id, outlet, &mut backoff).await
                    }
                    Endpoint::RedisChannel { pattern } => {
                        channel(&target, pattern, outlet, &mut backoff).await
                    }
                    _ => Ok(()),
                }
            } => r,
            _ = outlet.closed() => return None,
        };
        match result {
            Ok(()) => return None,
            Err(e) => {
                if !outlet.retry_after(&mut backoff, e).await {
                    return None;
                }
            }
        }
    }
}

async fn stream(
    target: &Target,
    key: &str,
    last_id: &mut String,
    outlet: &Outlet,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_millis(BLOCK_MS as u64 + 5000)));
    let mut con = target.multiplexed(&config).await?;
    backoff.reset();
    outlet.stats.set_status(SourceStatus::Connected);
    let opts = StreamReadOptions::default().block(BLOCK_MS).count(COUNT);
    loop {
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg(&opts)
            .arg("STREAMS")
            .arg(key)
            .arg(last_id.as_str())
            .query_async(&mut con)
            .await
            .map_err(|e| format!("XREAD {key}: {e}"))?;
        let Some(reply) = reply else { continue };
        for k in reply.keys {
            for entry in k.ids {
                let fields: Vec<(String, Vec<u8>)> = entry
                    .map
                    .into_iter()
                    .map(|(f, v)| (f, value_bytes(v)))
                    .collect();
                let msg = entry_message(&k.key, &entry.id, fields);
                if !outlet.send_wait(msg).await {
                    return Ok(());
                }
                *last_id = entry.id;
            }
        }
    }
}

async fn channel(
    target: &Target,
    pattern: &str,
    outlet: &Outlet,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let mut pubsub = match target.tls_stream().await? {
        None => target.client.get_async_pubsub().await,
        Some(tls) => {
            let info = target.client.get_connection_info().redis_settings();
            redis::aio::PubSub::new(info, tls).await
        }
    }
    .map_err(|e| format!("connecting: {e}"))?;
    pubsub
        .psubscribe(pattern)
        .await
        .map_err(|e| format!("PSUBSCRIBE {pattern}: {e}"))?;
    backoff.reset();
    outlet.stats.set_status(SourceStatus::Connected);
    let mut messages = pubsub.on_message();
    while let Some(m) = messages.next().await {
        let msg = Message {
            system: System::Redis,
            channel: m.get_channel_name().to_string(),
            headers: Vec::new(),
            content_type: None,
            key: None,
            payload: m.get_payload_bytes().to_vec(),
            meta: BrokerMeta {
                receive_time: now_nanos(),
                ..Default::default()
            },
        };
        if !outlet.send_or_drop(msg) {
            return Ok(());
        }
    }
    Err("the connection closed".into())
}

fn value_bytes(v: redis::Value) -> Vec<u8> {
    match v {
        redis::Value::BulkString(b) => b,
        redis::Value::SimpleString(s) => s.into_bytes(),
        redis::Value::Int(i) => i.to_string().into_bytes(),
        redis::Value::Double(d) => d.to_string().into_bytes(),
        redis::Value::Boolean(b) => b.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// A stream entry as a broker message (see the module doc for how fields map).
pub fn entry_message(key: &str, id: &str, mut fields: Vec<(String, Vec<u8>)>) -> Message {
    // Redis keeps field order, but the client hands them over in a hash map.
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let is_attrs = fields.iter().any(|(f, _)| f == "specversion");
    let mut headers = Vec::new();
    let mut content_type = None;
    let payload;
    if is_attrs {
        let mut data = Vec::new();
        for (f, v) in fields {
            match f.as_str() {
                "data" => data = v,
                "data_base64" => {
                    use base64::Engine;
                    data = base64::engine::general_purpose::STANDARD
                        .decode(&v)
                        .unwrap_or(v);
                }
                "datacontenttype" => content_type = Some(text(&v)),
                _ => headers.push((f, HeaderValue::Str(text(&v)))),
            }
        }
        payload = data;
    } else if fields.len() == 1 {
        payload = fields.pop().map(|(_, v)| v).unwrap_or_default();
    } else if let Some(i) = fields.iter().position(|(_, v)| {
        v.trim_ascii_start().starts_with(b"{")
            && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(v)
                .is_ok_and(|o| o.contains_key("specversion"))
    }) {
        // One field holds a structured CloudEvent; the others are kept as headers.
        let (_, v) = fields.remove(i);
        payload = v;
        content_type = Some("application/cloudevents+json".into());
        headers = fields
            .into_iter()
            .map(|(f, v)| (f, HeaderValue::Str(text(&v))))
            .collect();
    } else {
        let obj: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(f, v)| (f, serde_json::Value::String(text(&v))))
            .collect();
        payload = serde_json::to_vec(&obj).unwrap_or_default();
        content_type = Some("application/json".into());
    }
    let broker_time = id
        .split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
        .and_then(|ms| ms.checked_mul(1_000_000));
    Message {
        system: System::Redis,
        channel: key.to_string(),
        headers,
        content_type,
        key: None,
        payload,
        meta: BrokerMeta {
            stream: Some(key.to_string()),
            message_id: Some(id.to_string()),
            broker_time,
            receive_time: now_nanos(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::{Mode, decode};

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_stream_entry_with_attribute_fields_is_a_binary_mode_cloudevent() {
        let m = entry_message(
            "orders",
            "1700000000000-0",
            f(&[
                ("specversion", "1.0"),
                ("id", "r-1"),
                ("source", "/orders"),
                ("type", "OrderPlaced"),
                ("datacontenttype", "application/json"),
                ("data", r#"{"orderId":"o-1"}"#),
            ]),
        );
        assert_eq!(m.meta.broker_time, Some(1_700_000_000_000_000_000));
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Binary);
        let e = &d.events[0];
        assert_eq!((e.id.as_str(), e.ty.as_str()), ("r-1", "OrderPlaced"));
        assert_eq!(e.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            e.data.as_ref().map(|d| d.bytes.as_slice()),
            Some(&br#"{"orderId":"o-1"}"#[..])
        );
    }

    #[test]
    fn a_field_holding_a_structured_event_or_plain_fields() {
        let ce = r#"{"specversion":"1.0","id":"r-2","source":"/s","type":"T"}"#;
        let m = entry_message("orders", "1-0", f(&[("event", ce), ("origin", "test")]));
        let d = decode(&m).expect("decodes");
        assert_eq!((d.mode, d.events[0].id.as_str()), (Mode::Structured, "r-2"));
        let m = entry_message("orders", "1-1", f(&[("sku", "a"), ("qty", "2")]));
        let d = decode(&m).expect("decodes");
        assert_eq!(d.mode, Mode::Plain);
        assert_eq!(d.events[0].id, "1-1");
        assert_eq!(
            d.events[0].data.as_ref().map(|d| d.bytes.as_slice()),
            Some(&br#"{"qty":"2","sku":"a"}"#[..])
        );
    }

    #[test]
    fn the_connect_url_keeps_only_host_and_credentials() {
        let u = BrokerUrl::parse("redis://:s3cret@127.0.0.1:6379/stream/orders?from=$")
            .expect("parses");
        assert_eq!(connect_info(&u), "redis://:s3cret@127.0.0.1:6379/");
        assert!(!u.to_string().contains("s3cret"));
    }
}
