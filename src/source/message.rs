//! The broker message: what every live source emits, whatever its transport. A message is
//! not yet an event: [`super::decode`] turns it into one (or several, for a batch).

use crate::time::Nanos;

/// The messaging system a message came from. It picks the CloudEvents protocol binding the
/// decoder applies, and names the channel's `system` in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum System {
    /// NATS core or JetStream: binary mode in `ce-` headers (as HTTP).
    Nats,
    /// Kafka (kcat captures): binary mode in `ce_` headers.
    Kafka,
    /// AMQP 0-9-1 (RabbitMQ): binary mode in `cloudEvents:` (or `cloudEvents_`)
    /// application properties (headers).
    Amqp,
    /// MQTT: binary mode in MQTT 5 user properties, unprefixed; 3.1.1 has structured mode
    /// only.
    Mqtt,
    /// Redis Streams and pub/sub: no official binding; a stream entry may hold the
    /// attributes as fields, unprefixed.
    Redis,
    /// HTTP (the webhook listener): the CloudEvents HTTP binding, binary mode in `ce-`
    /// headers, percent-encoded.
    Http,
    /// Server-Sent Events: no binding; an event's `data` is a structured-mode CloudEvent
    /// (or a batch), else a plain message.
    Sse,
}

impl System {
    /// The name used in the model (`messaging.system` values).
    pub fn as_str(self) -> &'static str {
        match self {
            System::Nats => "nats",
            System::Kafka => "kafka",
            System::Amqp => "rabbitmq",
            System::Mqtt => "mqtt",
            System::Redis => "redis",
            System::Http => "http",
            System::Sse => "sse",
        }
    }

    /// The URL scheme that names a plain message's producer (`nats://orders`).
    pub fn scheme(self) -> &'static str {
        match self {
            System::Nats => "nats",
            System::Kafka => "kafka",
            System::Amqp => "amqp",
            System::Mqtt => "mqtt",
            System::Redis => "redis",
            System::Http => "http",
            System::Sse => "sse",
        }
    }
}

/// A header, user property or application property value. Most transports only carry
/// strings; AMQP carries typed values, which CloudEvents extensions keep.
#[derive(Clone, Debug, PartialEq)]
pub enum HeaderValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl HeaderValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as text, whatever its type.
    pub fn to_text(&self) -> String {
        match self {
            HeaderValue::Str(s) => s.clone(),
            HeaderValue::Int(i) => i.to_string(),
            HeaderValue::Bool(b) => b.to_string(),
        }
    }
}

impl From<&str> for HeaderValue {
    fn from(s: &str) -> Self {
        HeaderValue::Str(s.to_string())
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue::Str(s)
    }
}

/// What the broker itself says about a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerMeta {
    /// The stream it was read from (JetStream stream, Redis stream key).
    pub stream: Option<String>,
    /// The stream sequence (JetStream).
    pub sequence: Option<u64>,
    /// Kafka partition.
    pub partition: Option<i64>,
    /// Kafka offset.
    pub offset: Option<i64>,
    /// How many times the broker delivered it (JetStream, Redis consumer groups).
    pub delivery_count: Option<u64>,
    /// The broker says it delivered this before (AMQP `redelivered`, MQTT `dup`).
    pub redelivered: bool,
    /// The broker's or the publisher's message id (`Nats-Msg-Id`, AMQP `message_id`,
    /// Redis stream entry id).
    pub message_id: Option<String>,
    /// When the broker stored it (JetStream, Redis stream id, Kafka timestamp).
    pub broker_time: Option<Nanos>,
    /// The SSE `event:` name, when the server gave one (not the default `message`).
    pub event_name: Option<String>,
    /// When this process received it.
    pub receive_time: Nanos,
}

/// One message as a broker delivered it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub system: System,
    /// Where it was published: NATS subject, MQTT topic, AMQP exchange (the routing key
    /// for the default exchange), Redis stream key or pub/sub channel, Kafka topic.
    pub channel: String,
    /// Headers, user properties or application properties, in the order received.
    pub headers: Vec<(String, HeaderValue)>,
    /// The transport's own content type (AMQP and MQTT 5 properties); NATS and Kafka carry
    /// it as a `content-type` header instead.
    pub content_type: Option<String>,
    /// Kafka key, AMQP routing key.
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub meta: BrokerMeta,
}

impl Message {
    /// A message with no headers or metadata (tests, simple transports).
    pub fn new(system: System, channel: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            system,
            channel: channel.into(),
            headers: Vec::new(),
            content_type: None,
            key: None,
            payload: payload.into(),
            meta: BrokerMeta::default(),
        }
    }

    /// The first header of that name, compared without case.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The content type: the transport's property, else a `content-type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type
            .as_deref()
            .or_else(|| self.header("content-type").and_then(HeaderValue::as_str))
            .filter(|c| !c.is_empty())
    }

    /// The key as text, when it is UTF-8 and not empty.
    pub fn key_text(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
            .filter(|k| !k.is_empty())
    }

    /// Bytes this message holds (what the bounded channel counts).
    pub fn size(&self) -> usize {
        self.channel.len()
            + self.payload.len()
            + self.key.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(8, str::len))
                .sum::<usize>()
            + 128
    }
}
