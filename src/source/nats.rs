//! NATS through `async-nats`: core subjects (lossy: drops are counted) and JetStream
//! streams read through an ephemeral ordered consumer (durable: waits, loses nothing).
//! `tls://` (or `nats+tls://`) requires TLS, with the configuration of [`super::tls`].
//!
//! A JetStream source remembers the last stream sequence it passed on. After any failure
//! (server restart, lost heartbeats, a deleted consumer) it creates a new ordered consumer
//! from the sequence after it, and passes on nothing at or before it: every message exactly
//! once, with its `Nats-Msg-Id` and stream sequence.

use super::url::{BrokerUrl, Endpoint, StreamStart};
use super::{Backoff, BrokerMeta, HeaderValue, Message, Outlet, SourceStatus, System, now_nanos};
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures_util::StreamExt;
use std::time::Duration;

/// Runs the source until the consumer goes away; `Some(reason)` when it cannot go on.
pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let stats = outlet.stats.clone();
    let events = stats.clone();
    let opts = match connect_options(url) {
        Ok(o) => o,
        Err(e) => return Some(e),
    };
    let opts = opts
        .max_reconnects(None)
        .subscription_capacity(1 << 17)
        .reconnect_delay_callback(|attempt| {
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
            (0..attempt.min(16)).for_each(|_| {
                b.next_delay();
            });
            b.next_delay()
        })
        .event_callback(move |event| {
            let stats = events.clone();
            async move {
                match event {
                    async_nats::Event::Connected => stats.set_status(SourceStatus::Connected),
                    async_nats::Event::Disconnected => {
                        stats.set_status(SourceStatus::Reconnecting {
                            attempt: 1,
                            next: std::time::SystemTime::now(),
                            error: "disconnected".into(),
                        })
                    }
                    _ => {}
                }
            }
        });
    let mut backoff = Backoff::default();
    // The client reconnects by itself once connected; this loop covers the first connect
    // and sessions that end (a JetStream consumer that fails).
    let client = loop {
        stats.set_status(SourceStatus::Connecting);
        match opts.clone().connect(url.address()).await {
            Ok(c) => break c,
            Err(e) => {
                if !outlet.retry_after(&mut backoff, e.to_string()).await {
                    return None;
                }
            }
        }
    };
    stats.set_status(SourceStatus::Connected);
    match &url.endpoint {
        Endpoint::NatsCore { subject } => core(client, subject, outlet, &mut backoff).await,
        Endpoint::JetStream {
            stream,
            start,
            filter,
        } => {
            jetstream(
                client,
                stream,
                start,
                filter.as_deref(),
                outlet,
                &mut backoff,
            )
            .await
        }
        _ => Some("not a NATS endpoint".into()),
    }
}

/// Connection options with the URL's credentials (a user and password, or a token) and a
/// connect timeout.
/// How to connect to the URL's server: credentials, and TLS (required) over `tls://` with
/// the configuration of [`super::tls`]. An error when that configuration cannot be made
/// (an unreadable CA file).
pub(crate) fn connect_options(url: &BrokerUrl) -> Result<async_nats::ConnectOptions, String> {
    let mut opts = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5));
    if let Some(tls) = &url.tls {
        // Our configuration as it is (roots, CA file or no verification), TLS required.
        let config = super::tls::client_config(tls)?;
        opts = opts.require_tls(true).tls_client_config((*config).clone());
    }
    Ok(match (&url.user, &url.password) {
        (Some(u), Some(p)) => opts.user_and_password(u.clone(), p.clone()),
        (Some(token), None) if !token.is_empty() => opts.token(token.clone()),
        _ => opts,
    })
}

async fn core(
    client: async_nats::Client,
    subject: &str,
    outlet: &Outlet,
    backoff: &mut Backoff,
) -> Option<String> {
    loop {
        let mut sub = match client.subscribe(subject.to_string()).await {
            Ok(s) => s,
            Err(e) => {
                if !outlet.retry_after(backoff, e.to_string()).await {
                    return None;
                }
                continue;
            }
        };
        backoff.reset();
        outlet.stats.set_status(SourceStatus::Connected);
        loop {
            tokio::select! {
                m = sub.next() => match m {
                    Some(m) => {
                        if !outlet.send_or_drop(message(&m, BrokerMeta::default())) {
                            return None;
                        }
                    }
                    // The client closed the subscription (it resubscribes on reconnect by
                    // itself, so this is a real end): subscribe again.
                    None => break,
                },
                _ = outlet.closed() => return None,
            }
        }
        if !outlet
            .retry_after(backoff, "the subscription ended".into())
            .await
        {
            return None;
        }
    }
}

async fn jetstream(
    client: async_nats::Client,
    stream_name: &str,
    start: &StreamStart,
    filter: Option<&str>,
    outlet: &Outlet,
    backoff: &mut Backoff,
) -> Option<String> {
    let js = async_nats::jetstream::new(client);
    // The last stream sequence passed on: nothing at or before it is passed on again.
    let mut last: Option<u64> = None;
    loop {
        let deliver_policy = match (last, start) {
            (Some(seq), _) => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
            (None, StreamStart::All) => DeliverPolicy::All,
            (None, StreamStart::Sequence(s)) => {
                DeliverPolicy::ByStartSequence { start_sequence: *s }
            }
            (None, StreamStart::Time(t)) => {
                match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(*t)) {
                    Ok(start_time) => DeliverPolicy::ByStartTime { start_time },
                    Err(e) => return Some(format!("since: {e}")),
                }
            }
        };
        let session = async {
            let stream = js
                .get_stream(stream_name)
                .await
                .map_err(|e| format!("stream {stream_name}: {e}"))?;
            let consumer = stream
                .create_consumer(OrderedConfig {
                    deliver_policy,
                    filter_subject: filter.unwrap_or_default().to_string(),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("creating an ordered consumer on {stream_name}: {e}"))?;
            consumer
                .messages()
                .await
                .map_err(|e| format!("reading {stream_name}: {e}"))
        };
        let mut messages = tokio::select! {
            s = session => match s {
                Ok(m) => m,
                Err(e) => {
                    if !outlet.retry_after(backoff, e).await {
                        return None;
                    }
                    continue;
                }
            },
            _ = outlet.closed() => return None,
        };
        backoff.reset();
        outlet.stats.set_status(SourceStatus::Connected);
        let error = loop {
            let next = tokio::select! {
                m = messages.next() => m,
                _ = outlet.closed() => return None,
            };
            match next {
                Some(Ok(m)) => {
                    let Ok(info) = m.info() else {
                        continue;
                    };
                    let seq = info.stream_sequence;
                    if last.is_some_and(|l| seq <= l) {
                        continue;
                    }
                    let meta = BrokerMeta {
                        stream: Some(info.stream.to_string()),
                        sequence: Some(seq),
                        delivery_count: u64::try_from(info.delivered).ok(),
                        redelivered: info.delivered > 1,
                        broker_time: i64::try_from(info.published.unix_timestamp_nanos()).ok(),
                        ..Default::default()
                    };
                    let msg = message(&m.message, meta);
                    if !outlet.send_wait(msg).await {
                        return None;
                    }
                    last = Some(seq);
                }
                Some(Err(e)) => break e.to_string(),
                None => break "the consumer ended".to_string(),
            }
        };
        if !outlet.retry_after(backoff, error).await {
            return None;
        }
    }
}

/// A NATS message as a broker [`Message`]; `Nats-Msg-Id` is the message id.
fn message(m: &async_nats::Message, mut meta: BrokerMeta) -> Message {
    let mut headers = Vec::new();
    if let Some(h) = &m.headers {
        for (name, values) in h.iter() {
            for v in values {
                headers.push((name.to_string(), HeaderValue::Str(v.as_str().to_string())));
            }
        }
        // A HashMap underneath: put them in a stable order.
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        if meta.message_id.is_none() {
            meta.message_id = h.get("Nats-Msg-Id").map(|v| v.as_str().to_string());
        }
    }
    meta.receive_time = now_nanos();
    Message {
        system: System::Nats,
        channel: m.subject.to_string(),
        headers,
        content_type: None,
        key: None,
        payload: m.payload.to_vec(),
        meta,
    }
}
