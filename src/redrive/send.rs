//! One sender per transport: it connects on first use, sends one event by the binding of
//! its transport, and says whether a failure is worth a retry. A failed broker connection
//! is dropped, so the next attempt connects again.

use super::encode::{STRUCTURED, binary_attributes, header_value, structured_json};
use super::{Destination, Mode, RedriveEvent, Target};
use crate::source::decode::Attr;
use crate::source::url::BrokerUrl;
use std::time::Duration;

/// How long one send may take (connecting included).
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a send failed, and whether to try again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    pub reason: String,
    pub retry: bool,
}

impl SendError {
    fn retry(reason: impl Into<String>) -> Self {
        SendError {
            reason: reason.into(),
            retry: true,
        }
    }
    fn fatal(reason: impl Into<String>) -> Self {
        SendError {
            reason: reason.into(),
            retry: false,
        }
    }
}

/// The content type of binary-mode data: the event's, else JSON for JSON data.
fn data_content_type(e: &RedriveEvent) -> Option<String> {
    match (&e.datacontenttype, &e.data) {
        (Some(ct), _) => Some(ct.clone()),
        (None, Some(super::Data::Json(_))) => Some("application/json".into()),
        (None, Some(super::Data::Bytes(_))) => Some("application/octet-stream".into()),
        (None, None) => None,
    }
}

pub(super) enum Sender {
    Http(reqwest::Client),
    Nats(Option<async_nats::Client>),
    Mqtt(Option<MqttSession>),
    Amqp(Option<Box<(lapin::Connection, lapin::Channel)>>),
    Redis(Option<redis::aio::MultiplexedConnection>),
    /// The producer, and what the broker said of each topic: there (`None`), or why not.
    Kafka(
        Option<rdkafka::producer::FutureProducer>,
        std::collections::HashMap<String, Option<String>>,
    ),
}

impl Sender {
    pub(super) fn new(target: &Target) -> Result<Sender, String> {
        Ok(match &target.dest {
            Destination::Http { .. } => Sender::Http(
                reqwest::Client::builder()
                    .timeout(SEND_TIMEOUT)
                    .user_agent(concat!("eventlens/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
            ),
            Destination::Nats { .. } => Sender::Nats(None),
            Destination::Mqtt { .. } => Sender::Mqtt(None),
            Destination::Amqp { .. } => Sender::Amqp(None),
            Destination::Redis { .. } => Sender::Redis(None),
            Destination::Kafka { .. } => Sender::Kafka(None, Default::default()),
        })
    }

    /// Sends one event; the target's channel, else the event's.
    pub(super) async fn send(
        &mut self,
        target: &Target,
        e: &RedriveEvent,
        mode: Mode,
    ) -> Result<(), SendError> {
        let channel = target.channel_for(e.channel.as_deref()).map(str::to_string);
        let attempt = async {
            match (self, &target.dest) {
                (Sender::Http(client), Destination::Http { url }) => {
                    http(client, url, e, mode).await
                }
                (Sender::Nats(client), Destination::Nats { broker, .. }) => {
                    let subject = need(channel, "subject")?;
                    let r = nats(client, broker, &subject, e, mode).await;
                    if r.is_err() {
                        *client = None;
                    }
                    r
                }
                (Sender::Mqtt(session), Destination::Mqtt { broker, .. }) => {
                    let topic = need(channel, "topic")?;
                    let r = mqtt(session, broker, &topic, e, mode).await;
                    if r.is_err() {
                        *session = None;
                    }
                    r
                }
                (Sender::Amqp(conn), Destination::Amqp { broker, .. }) => {
                    let key = need(channel, "routing key")?;
                    let r = amqp(conn, broker, &key, e, mode).await;
                    if r.is_err() {
                        *conn = None;
                    }
                    r
                }
                (Sender::Redis(conn), Destination::Redis { broker, pubsub, .. }) => {
                    let key = need(channel, "stream key")?;
                    let r = redis_send(conn, broker, &key, *pubsub, e, mode).await;
                    if r.is_err() {
                        *conn = None;
                    }
                    r
                }
                (Sender::Kafka(producer, topics), Destination::Kafka { broker, .. }) => {
                    let topic = need(channel, "topic")?;
                    let r = kafka(producer, topics, broker, &topic, e, mode).await;
                    if r.is_err() {
                        *producer = None;
                    }
                    r
                }
                _ => Err(SendError::fatal("the sender does not match the target")),
            }
        };
        match tokio::time::timeout(SEND_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(SendError::retry(format!(
                "timed out after {} s",
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }
}

fn need(channel: Option<String>, what: &str) -> Result<String, SendError> {
    channel.ok_or_else(|| {
        SendError::fatal(format!(
            "no {what}: the target names none and the capture does not say where the event was published"
        ))
    })
}

async fn http(
    client: &reqwest::Client,
    url: &str,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    let mut req = client.post(url);
    match mode {
        Mode::Binary => {
            for (k, v) in binary_attributes(e) {
                req = req.header(format!("ce-{k}"), header_value(&v));
            }
            if let Some(ct) = data_content_type(e) {
                req = req.header(reqwest::header::CONTENT_TYPE, ct);
            }
            req = req.body(e.body());
        }
        Mode::Structured => {
            req = req
                .header(reqwest::header::CONTENT_TYPE, STRUCTURED)
                .body(structured_json(e));
        }
    }
    let resp = req.send().await.map_err(|err| {
        // Never the URL (it may hold credentials): the redacted target is in the report.
        let err = err.without_url();
        let mut text = err.to_string();
        let mut src = std::error::Error::source(&err);
        while let Some(s) = src {
            text.push_str(&format!(": {s}"));
            src = s.source();
        }
        SendError::retry(text)
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(200).collect();
    let reason = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    };
    let code = status.as_u16();
    // A client error says the request itself is wrong: sending it again changes nothing,
    // except for a timeout (408) and too many requests (429).
    let retry = !(400..500).contains(&code) || code == 408 || code == 429;
    Err(SendError { reason, retry })
}

async fn nats(
    client: &mut Option<async_nats::Client>,
    url: &BrokerUrl,
    subject: &str,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    if client.is_none() {
        let opts = crate::source::nats::connect_options(url).map_err(SendError::fatal)?;
        let c = opts
            .connect(url.address())
            .await
            .map_err(|err| SendError::retry(format!("connecting: {err}")))?;
        *client = Some(c);
    }
    let Some(c) = client.as_ref() else {
        return Err(SendError::retry("not connected"));
    };
    let mut headers = async_nats::HeaderMap::new();
    let body = match mode {
        Mode::Binary => {
            for (k, v) in binary_attributes(e) {
                headers.insert(format!("ce-{k}").as_str(), header_value(&v).as_str());
            }
            if let Some(ct) = data_content_type(e) {
                headers.insert("content-type", ct.as_str());
            }
            e.body()
        }
        Mode::Structured => {
            headers.insert("content-type", STRUCTURED);
            structured_json(e)
        }
    };
    c.publish_with_headers(subject.to_string(), headers, body.into())
        .await
        .map_err(|err| SendError::retry(format!("publishing on {subject}: {err}")))?;
    // Core NATS has no acknowledgement: a flush at least says the server has it.
    c.flush()
        .await
        .map_err(|err| SendError::retry(format!("flushing: {err}")))
}

/// An MQTT connection: the client and what its event loop reports.
pub(super) struct MqttSession {
    v5: Option<rumqttc::v5::AsyncClient>,
    v4: Option<rumqttc::AsyncClient>,
    events: tokio::sync::mpsc::UnboundedReceiver<MqttEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MqttSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum MqttEvent {
    /// A publish went out (QoS 0) or was acknowledged (QoS 1: PUBACK, 2: PUBCOMP).
    Done,
    Failed(String),
}

fn mqtt_client_id() -> String {
    format!("eventlens-redrive-{}", &super::fresh_id()[..8])
}

fn mqtt_connect(url: &BrokerUrl, v5: bool, qos: u8) -> Result<MqttSession, SendError> {
    let transport = match &url.tls {
        None => rumqttc::Transport::Tcp,
        Some(tls) => {
            let config = crate::source::tls::client_config(tls).map_err(SendError::fatal)?;
            rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config))
        }
    };
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    if v5 {
        use rumqttc::v5::mqttbytes::v5::Packet;
        use rumqttc::v5::{AsyncClient, Event, MqttOptions};
        let mut opts = MqttOptions::new(mqtt_client_id(), url.host.clone(), url.port);
        opts.set_keep_alive(Duration::from_secs(20));
        opts.set_clean_start(true);
        opts.set_transport(transport);
        if let Some(u) = &url.user {
            opts.set_credentials(u.clone(), url.password.clone().unwrap_or_default());
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let task = tokio::spawn(async move {
            loop {
                let msg = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) if qos > 0 => {
                        MqttEvent::Done
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_))) if qos == 0 => {
                        MqttEvent::Done
                    }
                    Ok(_) => continue,
                    Err(e) => MqttEvent::Failed(e.to_string()),
                };
                let failed = matches!(msg, MqttEvent::Failed(_));
                if tx.send(msg).is_err() || failed {
                    return;
                }
            }
        });
        Ok(MqttSession {
            v5: Some(client),
            v4: None,
            events,
            task,
        })
    } else {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
        let mut opts = MqttOptions::new(mqtt_client_id(), url.host.clone(), url.port);
        opts.set_keep_alive(Duration::from_secs(20));
        opts.set_clean_session(true);
        opts.set_transport(transport);
        if let Some(u) = &url.user {
            opts.set_credentials(u.clone(), url.password.clone().unwrap_or_default());
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let task = tokio::spawn(async move {
            loop {
                let msg = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) if qos > 0 => {
                        MqttEvent::Done
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_))) if qos == 0 => {
                        MqttEvent::Done
                    }
                    Ok(_) => continue,
                    Err(e) => MqttEvent::Failed(e.to_string()),
                };
                let failed = matches!(msg, MqttEvent::Failed(_));
                if tx.send(msg).is_err() || failed {
                    return;
                }
            }
        });
        Ok(MqttSession {
            v5: None,
            v4: Some(client),
            events,
            task,
        })
    }
}

async fn mqtt(
    session: &mut Option<MqttSession>,
    url: &BrokerUrl,
    topic: &str,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    let crate::source::url::Endpoint::Mqtt { qos, v5, .. } = url.endpoint else {
        return Err(SendError::fatal("not an MQTT target"));
    };
    if session.is_none() {
        *session = Some(mqtt_connect(url, v5, qos)?);
    }
    let Some(s) = session.as_mut() else {
        return Err(SendError::retry("not connected"));
    };
    let published = if let Some(client) = &s.v5 {
        use rumqttc::v5::mqttbytes::QoS;
        use rumqttc::v5::mqttbytes::v5::PublishProperties;
        let level = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        let (props, body) = match mode {
            // MQTT 5 binary mode: the attributes as user properties, unprefixed; the
            // content type property is `datacontenttype`.
            Mode::Binary => (
                PublishProperties {
                    user_properties: binary_attributes(e),
                    content_type: data_content_type(e),
                    ..Default::default()
                },
                e.body(),
            ),
            Mode::Structured => (
                PublishProperties {
                    content_type: Some(STRUCTURED.into()),
                    ..Default::default()
                },
                structured_json(e),
            ),
        };
        client
            .publish_with_properties(topic, level, false, body, props)
            .await
            .map_err(|err| err.to_string())
    } else if let Some(client) = &s.v4 {
        use rumqttc::QoS;
        let level = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        // MQTT 3.1.1 has no properties: structured mode whatever was asked.
        client
            .publish(topic, level, false, structured_json(e))
            .await
            .map_err(|err| err.to_string())
    } else {
        Err("not connected".to_string())
    };
    published.map_err(|r| SendError::retry(format!("publishing on {topic}: {r}")))?;
    match s.events.recv().await {
        Some(MqttEvent::Done) => Ok(()),
        Some(MqttEvent::Failed(r)) => Err(SendError::retry(r)),
        None => Err(SendError::retry("the connection ended")),
    }
}

fn amqp_value(v: &Attr) -> lapin::types::AMQPValue {
    use lapin::types::AMQPValue;
    match v {
        Attr::Str(s) => AMQPValue::LongString(s.as_str().into()),
        Attr::Int(i) => AMQPValue::LongLongInt(*i),
        Attr::Bool(b) => AMQPValue::Boolean(*b),
    }
}

async fn amqp(
    conn: &mut Option<Box<(lapin::Connection, lapin::Channel)>>,
    url: &BrokerUrl,
    key: &str,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    use lapin::types::{AMQPValue, FieldTable};
    let crate::source::url::Endpoint::Amqp {
        vhost, exchange, ..
    } = &url.endpoint
    else {
        return Err(SendError::fatal("not an AMQP target"));
    };
    if conn.is_none() {
        let uri = crate::source::amqp::connect_uri(url, vhost);
        let c = match &url.tls {
            None => lapin::Connection::connect(&uri, lapin::ConnectionProperties::default())
                .await
                .map_err(|err| SendError::retry(format!("connecting: {err}")))?,
            Some(opts) => {
                let config = crate::source::tls::client_config(opts).map_err(SendError::fatal)?;
                let tls = crate::source::amqp::Tls {
                    connector: lapin::tcp::RustlsConnector::from(config),
                    host: url.host.clone(),
                    port: url.port,
                };
                crate::source::amqp::connect_tls(&uri, &tls)
                    .await
                    .map_err(SendError::retry)?
            }
        };
        let ch = c
            .create_channel()
            .await
            .map_err(|err| SendError::retry(format!("opening a channel: {err}")))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|err| SendError::retry(format!("confirm.select: {err}")))?;
        *conn = Some(Box::new((c, ch)));
    }
    let Some(ch) = conn.as_ref().map(|c| &c.1) else {
        return Err(SendError::retry("not connected"));
    };
    let mut props = lapin::BasicProperties::default().with_delivery_mode(2);
    let body = match mode {
        Mode::Binary => {
            // The AMQP binding: attributes as `cloudEvents:` application properties
            // (headers), typed; the content type is `datacontenttype`.
            let mut table = FieldTable::default();
            for (k, v) in binary_attributes(e) {
                let typed = e
                    .extensions
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map_or_else(
                        || AMQPValue::LongString(v.as_str().into()),
                        |(_, a)| amqp_value(a),
                    );
                table.insert(format!("cloudEvents:{k}").into(), typed);
            }
            props = props.with_headers(table);
            if let Some(ct) = data_content_type(e) {
                props = props.with_content_type(ct.into());
            }
            e.body()
        }
        Mode::Structured => {
            props = props.with_content_type(STRUCTURED.into());
            structured_json(e)
        }
    };
    let confirm = ch
        .basic_publish(
            exchange.as_str().into(),
            key.into(),
            BasicPublishOptions::default(),
            &body,
            props,
        )
        .await
        .map_err(|err| SendError::retry(format!("publishing to {exchange}: {err}")))?
        .await
        .map_err(|err| SendError::retry(format!("waiting for the confirm: {err}")))?;
    if confirm.is_nack() {
        return Err(SendError::retry(format!(
            "the broker refused the message (nack) on exchange {exchange}"
        )));
    }
    Ok(())
}

async fn redis_send(
    conn: &mut Option<redis::aio::MultiplexedConnection>,
    url: &BrokerUrl,
    key: &str,
    pubsub: bool,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    if conn.is_none() {
        let client = redis::Client::open(crate::source::redis::connect_info(url))
            .map_err(|err| SendError::fatal(format!("cannot use this URL: {err}")))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let c = match &url.tls {
            None => client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|err| SendError::retry(format!("connecting: {err}")))?,
            Some(opts) => {
                let tls_config =
                    crate::source::tls::client_config(opts).map_err(SendError::fatal)?;
                let stream = crate::source::tls::connect(&url.host, url.port, tls_config)
                    .await
                    .map_err(SendError::retry)?;
                let info = client.get_connection_info().redis_settings();
                let (c, driver) =
                    redis::aio::MultiplexedConnection::new_with_config(info, stream, config)
                        .await
                        .map_err(|err| SendError::retry(format!("connecting: {err}")))?;
                tokio::spawn(driver);
                c
            }
        };
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Err(SendError::retry("not connected"));
    };
    if pubsub {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(key)
            .arg(structured_json(e))
            .query_async(c)
            .await
            .map_err(|err| SendError::retry(format!("PUBLISH {key}: {err}")))?;
        return Ok(());
    }
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    match mode {
        // The attributes as fields, the data in `data` (as the sources read it).
        Mode::Binary => {
            for (k, v) in binary_attributes(e) {
                cmd.arg(k).arg(v);
            }
            if let Some(ct) = data_content_type(e) {
                cmd.arg("datacontenttype").arg(ct);
            }
            if e.data.is_some() {
                cmd.arg("data").arg(e.body());
            }
        }
        // One field, `event`, holding the structured-mode JSON.
        Mode::Structured => {
            cmd.arg("event").arg(structured_json(e));
        }
    }
    let _: String = cmd
        .query_async(c)
        .await
        .map_err(|err| SendError::retry(format!("XADD {key}: {err}")))?;
    Ok(())
}

/// One record by the CloudEvents Kafka binding: binary mode in `ce_` headers and
/// `content-type`, or structured mode; the event's `partitionkey` is the record key, so
/// records of one key land on one partition, in order.
async fn kafka(
    producer: &mut Option<rdkafka::producer::FutureProducer>,
    topics: &mut std::collections::HashMap<String, Option<String>>,
    url: &BrokerUrl,
    topic: &str,
    e: &RedriveEvent,
    mode: Mode,
) -> Result<(), SendError> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    // A topic found missing stays missing for the run: each of its events fails at once.
    if let Some(Some(why)) = topics.get(topic) {
        return Err(SendError::fatal(why.clone()));
    }
    if producer.is_none() {
        let p: FutureProducer = crate::source::kafka::client_config(url)
            .set("message.timeout.ms", "10000")
            // One in flight: records of a key keep their order through retries.
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .create()
            .map_err(|err| SendError::fatal(format!("a Kafka producer: {err}")))?;
        *producer = Some(p);
    }
    let Some(p) = producer.as_ref() else {
        return Err(SendError::retry("not connected"));
    };
    if !topics.contains_key(topic) {
        // A topic the broker does not have (and does not create): said at once, not after
        // each record's delivery timeout.
        let (client, name) = (p.clone(), topic.to_string());
        let found = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer as _;
            client
                .client()
                .fetch_metadata(Some(&name), Duration::from_secs(5))
                .map(|m| {
                    m.topics()
                        .iter()
                        .find(|t| t.name() == name)
                        .map(|t| (t.error(), t.partitions().len()))
                })
        })
        .await
        .map_err(|err| SendError::retry(format!("asking for topic {topic}: {err}")))?;
        match found {
            Err(err) => {
                return Err(SendError::retry(format!(
                    "asking {} for topic {topic}: {err}",
                    url.address()
                )));
            }
            Ok(Some((None, n))) if n > 0 => {
                topics.insert(topic.to_string(), None);
            }
            Ok(found) => {
                let why = match found {
                    Some((Some(err), _)) => format!(
                        "topic {topic} on {}: {:?} (create the topic first, or let the \
                         broker create topics)",
                        url.address(),
                        rdkafka::error::RDKafkaErrorCode::from(err)
                    ),
                    _ => format!(
                        "topic {topic} does not exist on {} (create it first, or let the \
                         broker create topics)",
                        url.address()
                    ),
                };
                topics.insert(topic.to_string(), Some(why.clone()));
                return Err(SendError::fatal(why));
            }
        }
    }
    let key = e.extensions.iter().find_map(|(k, v)| match v {
        Attr::Str(s) if k == "partitionkey" => Some(s.clone()),
        _ => None,
    });
    let (headers, payload) = match mode {
        Mode::Binary => {
            let mut h: Vec<(String, String)> = binary_attributes(e)
                .into_iter()
                .map(|(k, v)| (format!("ce_{k}"), v))
                .collect();
            if let Some(ct) = data_content_type(e) {
                h.push(("content-type".into(), ct));
            }
            (h, e.body())
        }
        Mode::Structured => (
            vec![("content-type".to_string(), STRUCTURED.to_string())],
            structured_json(e),
        ),
    };
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (k, v) in &headers {
        owned = owned.insert(Header {
            key: k.as_str(),
            value: Some(v.as_str()),
        });
    }
    let mut record = FutureRecord::to(topic).payload(&payload).headers(owned);
    if let Some(k) = &key {
        record = record.key(k);
    }
    p.send(record, Duration::from_secs(5))
        .await
        .map(|_| ())
        .map_err(|(err, _)| SendError::retry(format!("producing to {topic}: {err}")))
}
