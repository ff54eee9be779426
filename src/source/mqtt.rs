//! MQTT through `rumqttc`: MQTT 5 by default (user properties carry CloudEvents binary
//! mode, the content type property is `datacontenttype`), 3.1.1 with `?v=3` (structured
//! mode only). A clean session under a fresh client id: nothing is left on the broker.
//! QoS 0 is lossy (drops are counted); QoS 1 and 2 wait for room. `mqtts://` connects
//! over TLS with the configuration of [`super::tls`].

use super::url::{BrokerUrl, Endpoint};
use super::{Backoff, BrokerMeta, HeaderValue, Message, Outlet, SourceStatus, System, now_nanos};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn client_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "eventlens-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        now_nanos() % 1_000_000
    )
}

pub async fn run(url: &BrokerUrl, outlet: &Outlet) -> Option<String> {
    let Endpoint::Mqtt { filter, qos, v5 } = &url.endpoint else {
        return Some("not an MQTT endpoint".into());
    };
    let transport = match &url.tls {
        None => rumqttc::Transport::Tcp,
        Some(tls) => match super::tls::client_config(tls) {
            Ok(config) => {
                rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config))
            }
            Err(e) => return Some(e),
        },
    };
    if *v5 {
        run_v5(url, transport, filter, *qos, outlet).await
    } else {
        run_v4(url, transport, filter, *qos, outlet).await
    }
}

async fn deliver(outlet: &Outlet, qos: u8, msg: Message) -> bool {
    if qos == 0 {
        outlet.send_or_drop(msg)
    } else {
        outlet.send_wait(msg).await
    }
}

async fn run_v5(
    url: &BrokerUrl,
    transport: rumqttc::Transport,
    filter: &str,
    qos: u8,
    outlet: &Outlet,
) -> Option<String> {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut opts = MqttOptions::new(client_id(), url.host.clone(), url.port);
    opts.set_keep_alive(Duration::from_secs(20));
    opts.set_clean_start(true);
    opts.set_max_packet_size(Some(64 << 20));
    opts.set_transport(transport);
    if let Some(u) = &url.user {
        opts.set_credentials(u.clone(), url.password.clone().unwrap_or_default());
    }
    let qos_level = match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut backoff = Backoff::default();
    outlet.stats.set_status(SourceStatus::Connecting);
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = outlet.closed() => {
                let _ = client.disconnect().await;
                return None;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                outlet.stats.set_status(SourceStatus::Connected);
                // A clean session forgets subscriptions: subscribe on every connect.
                if let Err(e) = client.subscribe(filter.to_string(), qos_level).await {
                    return Some(format!("subscribing to {filter}: {e}"));
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let mut headers = Vec::new();
                let mut content_type = None;
                if let Some(props) = p.properties {
                    headers = props
                        .user_properties
                        .into_iter()
                        .map(|(k, v)| (k, HeaderValue::Str(v)))
                        .collect();
                    content_type = props.content_type;
                }
                let msg = Message {
                    system: System::Mqtt,
                    channel: String::from_utf8_lossy(&p.topic).into_owned(),
                    headers,
                    content_type,
                    key: None,
                    payload: p.payload.to_vec(),
                    meta: BrokerMeta {
                        redelivered: p.dup,
                        receive_time: now_nanos(),
                        ..Default::default()
                    },
                };
                if !deliver(outlet, qos, msg).await {
                    return None;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode;
                if let Some(code) = ack
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                {
                    return Some(format!(
                        "the broker refused the subscription to {filter}: {code:?}"
                    ));
                }
            }
            Ok(_) => {}
            Err(e) => {
                // The next poll reconnects; wait the backoff first.
                if !outlet.retry_after(&mut backoff, e.to_string()).await {
                    return None;
                }
            }
        }
    }
}

async fn run_v4(
    url: &BrokerUrl,
    transport: rumqttc::Transport,
    filter: &str,
    qos: u8,
    outlet: &Outlet,
) -> Option<String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(client_id(), url.host.clone(), url.port);
    opts.set_keep_alive(Duration::from_secs(20));
    opts.set_clean_session(true);
    opts.set_max_packet_size(64 << 20, 64 << 20);
    opts.set_transport(transport);
    if let Some(u) = &url.user {
        opts.set_credentials(u.clone(), url.password.clone().unwrap_or_default());
    }
    let qos_level = match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut backoff = Backoff::default();
    outlet.stats.set_status(SourceStatus::Connecting);
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = outlet.closed() => {
                let _ = client.disconnect().await;
                return None;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                outlet.stats.set_status(SourceStatus::Connected);
                if let Err(e) = client.subscribe(filter.to_string(), qos_level).await {
                    return Some(format!("subscribing to {filter}: {e}"));
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = Message {
                    system: System::Mqtt,
                    channel: p.topic.clone(),
                    headers: Vec::new(),
                    content_type: None,
                    key: None,
                    payload: p.payload.to_vec(),
                    meta: BrokerMeta {
                        redelivered: p.dup,
                        receive_time: now_nanos(),
                        ..Default::default()
                    },
                };
                if !deliver(outlet, qos, msg).await {
                    return None;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if !outlet.retry_after(&mut backoff, e.to_string()).await {
                    return None;
                }
            }
        }
    }
}
