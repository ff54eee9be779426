//! AMQP 0-9-1 (RabbitMQ) through `lapin`: a non-destructive tap. An exclusive, auto-delete,
//! server-named queue is bound to the exchange with the key pattern, so the tap receives a
//! copy of what is routed there and takes nothing from real consumers; the queue goes away
//! with the connection. `cloudEvents:` (or `cloudEvents_`) application properties carry
//! binary mode; typed values (integers, booleans) keep their type. Deliveries are acked
//! once handed on, with a bounded prefetch: the tap waits for room and loses nothing.
//! `amqps://` connects over TLS with the configuration of [`super::tls`], through lapin's
//! rustls stream.

use super::url::{BrokerUrl, Endpoint};
use super::{Backoff, BrokerMeta, HeaderValue, Message, Outlet, SourceStatus, System, now_nanos};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};

/// Unacknowledged deliveries in flight.
const PREFETCH: u16 = 1000;

/// The URL lapin connects to: ours without eventlens's own query parameters. It holds the
/// credentials: never shown or logged.
pub(crate) fn connect_uri(url: &BrokerUrl, vhost: &str) -> String {
    let enc = super::url::percent_encode;
    let auth = match (&url.user, &url.password) {
        (Some(u), Some(p)) => format!("{}:{}@", enc(u), enc(p)),
        (Some(u), None) => format!("{}@", enc(u)),
        _ => String::new(),
    };
    format!("amqp://{auth}{}/{}", url.address(), enc(vhost))
}

pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Amqp {
        vhost,
        exchange,
        key,
    } = &url.endpoint
    else {
        return Some("not an AMQP endpoint".into());
    };
    let uri = connect_uri(url, vhost);
    let tls = match &url.tls {
        None => None,
        Some(opts) => match super::tls::client_config(opts) {
            Ok(config) => Some(Tls {
                connector: lapin::tcp::RustlsConnector::from(config),
                host: url.host.clone(),
                port: url.port,
            }),
            Err(e) => return Some(e),
        },
    };
    let mut backoff = Backoff::default();
    loop {
        outlet.stats.set_status(SourceStatus::Connecting);
        let error = tokio::select! {
            e = session(&uri, tls.as_ref(), exchange, key, outlet, &mut backoff) => match e {
                Ok(()) => return None,
                Err(e) => e,
            },
            _ = outlet.closed() => return None,
        };
        if !outlet.retry_after(&mut backoff, error).await {
            return None;
        }
    }
}

/// Where an `amqps://` source connects, and how.
pub(crate) struct Tls {
    pub(crate) connector: lapin::tcp::RustlsConnector,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// A connection over TLS: TCP to the host, the TLS handshake (verifying the server's name
/// against the URL's host), then AMQP.
pub(crate) async fn connect_tls(uri: &str, tls: &Tls) -> Result<Connection, String> {
    let uri: lapin::uri::AMQPUri = uri.parse().map_err(|e| format!("the URL: {e}"))?;
    let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
    let (connector, host, port) = (tls.connector.clone(), tls.host.clone(), tls.port);
    let connect = async move |_uri: lapin::uri::AMQPUri, runtime| {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .collect();
        let tcp = lapin::tcp::AsyncTcpStream::connect(&runtime, addrs).await?;
        Ok(tcp.into_rustls(&connector, &host).await?)
    };
    Connection::connector(uri, runtime, connect, ConnectionProperties::default())
        .await
        .map_err(|e| format!("connecting: {e}"))
}

/// One connection; `Ok` when the consumer went away, `Err` to reconnect.
async fn session(
    uri: &str,
    tls: Option<&Tls>,
    exchange: &str,
    key: &str,
    outlet: &Outlet,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let conn = match tls {
        None => Connection::connect(uri, ConnectionProperties::default())
            .await
            .map_err(|e| format!("connecting: {e}"))?,
        Some(tls) => connect_tls(uri, tls).await?,
    };
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| format!("opening a channel: {e}"))?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .map_err(|e| format!("basic.qos: {e}"))?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                durable: false,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("declaring the tap queue: {e}"))?;
    let qname = queue.name().clone();
    outlet.stats.add_own(qname.as_str());
    channel
        .queue_bind(
            qname.clone(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("binding to exchange {exchange:?} with key {key:?}: {e}"))?;
    let mut consumer = channel
        .basic_consume(
            qname,
            super::declared::TAP_CONSUMER_TAG.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("consuming: {e}"))?;
    backoff.reset();
    outlet.stats.set_status(SourceStatus::Connected);
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery.map_err(|e| e.to_string())?;
        let msg = message(&delivery);
        if !outlet.send_wait(msg).await {
            let _ = conn.close(200, "eventlens stopped".into()).await;
            return Ok(());
        }
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| format!("ack: {e}"))?;
    }
    Err("the broker cancelled the consumer".into())
}

fn header_value(v: &AMQPValue) -> Option<HeaderValue> {
    Some(match v {
        AMQPValue::Boolean(b) => HeaderValue::Bool(*b),
        AMQPValue::ShortShortInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::ShortUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongUInt(i) => HeaderValue::Int(i64::from(*i)),
        AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
        AMQPValue::ShortString(s) => HeaderValue::Str(s.as_str().to_string()),
        AMQPValue::LongString(s) => {
            HeaderValue::Str(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::Timestamp(t) => HeaderValue::Int(i64::try_from(*t).ok()?),
        AMQPValue::Float(f) => HeaderValue::Str(f.to_string()),
        AMQPValue::Double(f) => HeaderValue::Str(f.to_string()),
        _ => return None,
    })
}

fn message(d: &lapin::message::Delivery) -> Message {
    let p = &d.properties;
    let headers = p
        .headers()
        .as_ref()
        .map(|t| {
            t.inner()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), header_value(v)?)))
                .collect()
        })
        .unwrap_or_default();
    let exchange = d.exchange.as_str();
    let routing_key = d.routing_key.as_str();
    Message {
        system: System::Amqp,
        // The default exchange routes straight to the queue the key names.
        channel: if exchange.is_empty() {
            routing_key.to_string()
        } else {
            exchange.to_string()
        },
        headers,
        content_type: p.content_type().as_ref().map(|c| c.as_str().to_string()),
        key: Some(routing_key.as_bytes().to_vec()),
        payload: d.data.clone(),
        meta: BrokerMeta {
            redelivered: d.redelivered,
            message_id: p.message_id().as_ref().map(|m| m.as_str().to_string()),
            // The AMQP timestamp is the publisher's, in whole seconds: too coarse to order
            // observations by, so the receive time stands.
            receive_time: now_nanos(),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_uri_keeps_the_credentials_and_drops_eventlens_parameters() {
        let u =
            BrokerUrl::parse("amqp://guest:p%40ss@127.0.0.1:5672/%2f?exchange=events&key=orders.*")
                .expect("parses");
        assert_eq!(
            connect_uri(&u, "/"),
            "amqp://guest:p%40ss@127.0.0.1:5672/%2F"
        );
        assert_eq!(
            u.to_string(),
            "amqp://127.0.0.1:5672/%2f?exchange=events&key=orders.*"
        );
    }
}
