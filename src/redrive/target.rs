//! Where a re-drive sends: an HTTP endpoint, or a broker through the URL forms of the
//! sources (`src/source/url.rs`), whose subject, topic, routing key or stream key may be
//! left out to send each event to the channel it was captured on.

use crate::source::url::{BrokerUrl, Endpoint, redact_url};
use std::fmt;

/// A parsed re-drive target. [`fmt::Display`] is the redacted URL.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub dest: Destination,
    /// The URL as given, redacted.
    shown: String,
}

/// The transport and what the URL names.
#[derive(Clone, PartialEq)]
pub enum Destination {
    /// `http://` or `https://`: the CloudEvents HTTP binding (a POST per event).
    Http { url: String },
    /// `nats://host:port[/SUBJECT]`: core publish.
    Nats {
        broker: Box<BrokerUrl>,
        subject: Option<String>,
    },
    /// `mqtt://host:port[/TOPIC]` (`?v=3` for MQTT 3.1.1, `?qos=`).
    Mqtt {
        broker: Box<BrokerUrl>,
        topic: Option<String>,
    },
    /// `amqp://user:pass@host:port/vhost?exchange=X[&key=ROUTINGKEY]`.
    Amqp {
        broker: Box<BrokerUrl>,
        key: Option<String>,
    },
    /// `redis://host:port/stream[/KEY]` (XADD) or `redis://host:port/channel/NAME`
    /// (PUBLISH, structured mode).
    Redis {
        broker: Box<BrokerUrl>,
        key: Option<String>,
        pubsub: bool,
    },
    /// `kafka://host:port[/TOPIC]` (or `kafka+ssl://`): a record per event, its
    /// `partitionkey` as the record key (so partitioning holds).
    Kafka {
        broker: Box<BrokerUrl>,
        topic: Option<String>,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `scheme://authority`, the path (without its `/`), and `?query` (with its `?`, or empty).
fn split(url: &str) -> (&str, &str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let auth_end = after_scheme + rest.find(['/', '?']).unwrap_or(rest.len());
    let (head, tail) = url.split_at(auth_end);
    let (path, query) = match tail.find('?') {
        Some(q) => tail.split_at(q),
        None => (tail, ""),
    };
    (head, path.strip_prefix('/').unwrap_or(path), query)
}

/// A placeholder path for the parser when the target leaves the channel out.
const ANY: &str = "_";

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url.trim();
        let dest = Destination::parse(url)?;
        Ok(Target {
            dest,
            shown: redact_url(url),
        })
    }

    /// The subject, topic, routing key or stream key the target names, else the event's
    /// channel.
    pub fn channel_for<'a>(&'a self, channel: Option<&'a str>) -> Option<&'a str> {
        match &self.dest {
            Destination::Http { .. } => None,
            Destination::Nats { subject: c, .. }
            | Destination::Mqtt { topic: c, .. }
            | Destination::Amqp { key: c, .. }
            | Destination::Redis { key: c, .. }
            | Destination::Kafka { topic: c, .. } => c.as_deref().or(channel),
        }
    }

    /// The target for one event, as shown: the redacted URL, and where the URL leaves the
    /// channel out, the event's own.
    pub fn describe_for(&self, channel: Option<&str>) -> String {
        if !self.uses_event_channel() {
            return self.shown.clone();
        }
        let (head, _, query) = split(&self.shown);
        let ch = channel.unwrap_or("(no channel known)");
        match &self.dest {
            Destination::Amqp { .. } => format!("{} key={ch}", self.shown),
            Destination::Redis { .. } => format!("{head}/stream/{ch}{query}"),
            _ => format!("{head}/{ch}{query}"),
        }
    }

    /// Whether the URL leaves the channel to each event.
    pub fn uses_event_channel(&self) -> bool {
        !matches!(self.dest, Destination::Http { .. }) && self.channel_for(None).is_none()
    }
}

impl Destination {
    fn parse(url: &str) -> Result<Destination, String> {
        let redacted = redact_url(url);
        let scheme = url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "{redacted}: not a URL (http://, https://, nats://, mqtt://, amqp://, redis://)"
                )
            })?;
        if scheme == "http" || scheme == "https" {
            let (head, _, _) = split(url);
            if head.len() <= scheme.len() + 3 {
                return Err(format!("{redacted}: no host"));
            }
            return Ok(Destination::Http {
                url: url.to_string(),
            });
        }
        if !crate::source::url::is_broker_url(url) {
            return Err(format!(
                "{redacted}: unknown scheme {scheme:?}: re-drive sends to http://, https://, \
                 nats://, mqtt://, amqp://, redis:// and kafka:// (over TLS tls://, mqtts://, \
                 amqps://, rediss://, kafka+ssl://)"
            ));
        }
        let (head, path, query) = split(url);
        let with_path = |p: &str| format!("{head}/{p}{query}");
        let parse = |u: &str| BrokerUrl::parse(u).map_err(|e| e.to_string());
        let redis = scheme.starts_with("redis");
        let probe_path = match path {
            "" | "stream" | "stream/" if redis => "stream/_",
            "" => ANY,
            p => p,
        };
        let probe = parse(&with_path(probe_path))?;
        match probe.endpoint.clone() {
            Endpoint::NatsCore { subject } => {
                if path.is_empty() {
                    return Ok(Destination::Nats {
                        broker: Box::new(parse(&with_path(ANY))?),
                        subject: None,
                    });
                }
                if subject.split('.').any(|t| t == "*" || t == ">") {
                    return Err(format!(
                        "{redacted}: a subject to publish on has no wildcards"
                    ));
                }
                Ok(Destination::Nats {
                    broker: Box::new(probe),
                    subject: Some(subject),
                })
            }
            Endpoint::JetStream { stream, .. } => Err(format!(
                "{redacted}: re-drive publishes on a subject (nats://host:port/SUBJECT); stream \
                 {stream} stores what is published on its subjects"
            )),
            Endpoint::Mqtt { filter, .. } => {
                if filter.contains(['+', '#']) {
                    return Err(format!(
                        "{redacted}: a topic to publish on has no wildcards"
                    ));
                }
                Ok(Destination::Mqtt {
                    topic: (!path.is_empty()).then_some(filter),
                    broker: Box::new(probe),
                })
            }
            Endpoint::Amqp { .. } => Ok(Destination::Amqp {
                key: probe
                    .param("key")
                    .filter(|k| !k.is_empty())
                    .map(str::to_string),
                broker: Box::new(probe),
            }),
            Endpoint::Webhook { .. } => Err(format!(
                "{redacted}: webhook:// is eventlens's own listener; re-drive to an HTTP \
                 handler with http://host:port/path"
            )),
            Endpoint::Sse { .. } => Err(format!(
                "{redacted}: an SSE stream is read, not sent to; re-drive to an HTTP \
                 handler with http://host:port/path"
            )),
            Endpoint::Otlp { .. } => Err(format!(
                "{redacted}: an OTLP receiver is eventlens's own listener, not a target"
            )),
            Endpoint::Kafka { topics, .. } => {
                if path.is_empty() {
                    return Ok(Destination::Kafka {
                        broker: Box::new(probe),
                        topic: None,
                    });
                }
                match <[String; 1]>::try_from(topics) {
                    Ok([topic]) => Ok(Destination::Kafka {
                        broker: Box::new(probe),
                        topic: Some(topic),
                    }),
                    Err(_) => Err(format!(
                        "{redacted}: re-drive produces to one topic (kafka://host:port/TOPIC)"
                    )),
                }
            }
            Endpoint::RedisStream { .. } | Endpoint::RedisChannel { .. } => {
                match path.split_once('/').unwrap_or((path, "")) {
                    ("stream" | "", key) => Ok(Destination::Redis {
                        broker: Box::new(probe),
                        key: (!key.is_empty()).then(|| crate::source::url::percent_decode(key)),
                        pubsub: false,
                    }),
                    ("channel", name) if !name.is_empty() && !name.contains(['*', '?', '[']) => {
                        Ok(Destination::Redis {
                            broker: Box::new(probe),
                            key: Some(crate::source::url::percent_decode(name)),
                            pubsub: true,
                        })
                    }
                    _ => Err(format!(
                        "{redacted}: expected redis://host:port/stream/KEY (or /stream: each \
                         event's own channel) or redis://host:port/channel/NAME"
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_classified_and_channels_left_out_come_from_the_events() {
        let t = Target::parse("http://127.0.0.1:8080/events").expect("http");
        assert!(matches!(t.dest, Destination::Http { .. }));
        let t = Target::parse("nats://127.0.0.1:4222/orders.replay").expect("nats");
        assert_eq!(t.channel_for(Some("orders")), Some("orders.replay"));
        let t = Target::parse("nats://127.0.0.1:4222").expect("nats, no subject");
        assert_eq!(t.channel_for(Some("orders")), Some("orders"));
        assert!(t.uses_event_channel());
        let t = Target::parse("mqtt://127.0.0.1:1883/").expect("mqtt, no topic");
        assert_eq!(t.channel_for(Some("orders")), Some("orders"));
        let t = Target::parse("amqp://guest:guest@127.0.0.1:5672/%2f?exchange=amq.topic&key=k")
            .expect("amqp");
        assert_eq!(t.channel_for(Some("orders")), Some("k"));
        assert_eq!(
            t.to_string(),
            "amqp://127.0.0.1:5672/%2f?exchange=amq.topic&key=k"
        );
        let t = Target::parse("amqp://guest:guest@127.0.0.1:5672/%2f?exchange=amq.topic")
            .expect("amqp, no key");
        assert_eq!(t.channel_for(Some("orders")), Some("orders"));
        let t = Target::parse("redis://127.0.0.1:6379/stream/replayed").expect("redis");
        assert_eq!(t.channel_for(Some("orders")), Some("replayed"));
        let t = Target::parse("redis://127.0.0.1:6379/stream").expect("redis, no key");
        assert_eq!(t.channel_for(Some("orders")), Some("orders"));
        assert_eq!(
            t.describe_for(Some("orders")),
            "redis://127.0.0.1:6379/stream/orders"
        );
        for bad in [
            "ftp://x/y",
            "nats://127.0.0.1:4222/orders.>",
            "mqtt://127.0.0.1:1883/a/#",
            "nats://127.0.0.1:4222/stream/ORDERS",
            "redis://127.0.0.1:6379/channel/a*",
            "orders",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_password_in_a_target_is_never_shown() {
        let t = Target::parse("https://user:hunter2@example.com/hook").expect("https");
        assert_eq!(t.to_string(), "https://example.com/hook");
        let err = Target::parse("amqp://u:hunter2@h:5672/%2f")
            .err()
            .unwrap_or_default();
        assert!(!err.contains("hunter2"), "{err}");
        let t = Target::parse("nats://u:hunter2@127.0.0.1:4222").expect("nats");
        assert!(!t.describe_for(Some("orders")).contains("hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
