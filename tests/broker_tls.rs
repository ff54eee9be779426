//! TLS sources (`tls://` and `nats+tls://`, `mqtts://`, `amqps://`, `rediss://`) against
//! real brokers the tests start themselves, with TLS listeners on free ports: a private CA
//! and a server certificate for `localhost` and `127.0.0.1` are made at test time (rcgen).
//!
//! For each broker: with `?ca=` the test CA the source connects, says it is on TLS and
//! receives exactly the events published (structured and binary CloudEvents and a plain
//! message); without it the connection fails on the certificate, the status says what to do
//! and never shows the password of the URL; with `?insecure=1` it connects and its status
//! says that the certificate is not verified.
//!
//! Run with `cargo test --features broker-tests --test broker_tls`.
#![cfg(feature = "broker-tests")]

use eventlens::source::decode::{Mode, decode};
use eventlens::source::tls::{TlsOptions, client_config};
use eventlens::source::{self, BrokerUrl, Envelope, Inbox, SourceStatus};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// In the URLs that must fail: it must never show.
const PASSWORD: &str = "s3cret-tls-pw";
const BINARY_DATA: &str = r#"{"orderId":"o-2","total":7}"#;
const PLAIN: &str = "plain text over TLS";

fn structured_event(id: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"/test/tls","type":"com.example.Structured","datacontenttype":"application/json","data":{{"orderId":"o-1","total":12.5}}}}"#
    )
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}{nanos}", std::process::id())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private CA and a server certificate it signed, as PEM files in a directory of their own
/// (which the servers also use for their state and logs).
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        Pki::for_names(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for these names (DNS names or IP addresses).
    fn for_names(names: &[&str]) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "eventlens test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut server = CertificateParams::new(names).expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &issuer).expect("server certificate");
        let write = |name: &str, text: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server.key", key.serialize_pem()),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The client configuration that trusts the test CA (for the publishers).
    fn client(&self) -> std::sync::Arc<rustls::ClientConfig> {
        client_config(&TlsOptions {
            ca_file: Some(self.ca.clone()),
            insecure: false,
        })
        .expect("client configuration")
    }
}

/// A broker of the test's own, in a process group of its own; stopped when dropped.
struct Server {
    child: Child,
}

impl Server {
    /// Starts the command (output into `log`) and waits until `port` accepts connections.
    fn start(cmd: &mut Command, port: u16, log: &Path, timeout: Duration) -> Server {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starts the broker");
        let mut server = Server { child };
        let deadline = Instant::now() + timeout;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "the broker did not listen on {port} ({exited:?}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: a signal to the process group this test started.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
        let _ = self.child.wait();
    }
}

/// Starts one source.
fn start(url: &str) -> Inbox {
    let url = BrokerUrl::parse(url).expect("URL");
    source::start(
        std::slice::from_ref(&url),
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    )
}

/// Starts one source and waits until it is connected.
async fn connected(url: &str) -> Inbox {
    let inbox = start(url);
    let deadline = Instant::now() + Duration::from_secs(20);
    while inbox.sources[0].status() != SourceStatus::Connected {
        assert!(
            Instant::now() < deadline,
            "did not connect: {}",
            inbox.sources[0].summary()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The subscription reaches the broker just after the connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    inbox
}

/// Receives `n` messages, and checks that no more come within a short while.
async fn receive(inbox: &mut Inbox, n: usize) -> Vec<Envelope> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(e)) => got.push(e),
            _ => panic!(
                "received {} of {n} messages: {}",
                got.len(),
                inbox.sources[0].summary()
            ),
        }
    }
    if let Ok(Some(extra)) = tokio::time::timeout(Duration::from_millis(500), inbox.recv()).await {
        panic!("an unexpected extra message: {:?}", extra.msg);
    }
    got
}

/// Every event received: id, type, mode and data.
fn events(got: &[Envelope]) -> BTreeMap<String, (String, Mode, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in got {
        let d = decode(&e.msg).expect("decodes");
        for ev in d.events {
            let data = ev.data.map(|d| d.bytes).unwrap_or_default();
            let prev = out.insert(ev.id.clone(), (ev.ty.clone(), d.mode, data));
            assert!(prev.is_none(), "an event received twice");
        }
    }
    out
}

/// The three published events: `s-1` structured, `b-1` binary, and the plain message (its
/// id is the broker's or a hash).
fn check_three(got: &[Envelope]) {
    let ev = events(got);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(
        ev["s-1"],
        (
            "com.example.Structured".to_string(),
            Mode::Structured,
            br#"{"orderId":"o-1","total":12.5}"#.to_vec()
        )
    );
    assert_eq!(
        ev["b-1"],
        (
            "com.example.Binary".to_string(),
            Mode::Binary,
            BINARY_DATA.as_bytes().to_vec()
        )
    );
    let plain: Vec<_> = ev.values().filter(|(_, m, _)| *m == Mode::Plain).collect();
    assert_eq!(plain.len(), 1, "{ev:?}");
    assert_eq!(plain[0].2, PLAIN.as_bytes());
}

/// A source whose URL does not trust the test CA: it does not connect, its status names the
/// certificate and what to do, and the password of the URL shows nowhere.
async fn refused_without_the_ca(url: &str) {
    assert!(url.contains(PASSWORD));
    let inbox = start(url);
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        match inbox.sources[0].status() {
            SourceStatus::Reconnecting { error, .. } => break error,
            SourceStatus::Ended(Some(error)) => break error,
            SourceStatus::Connected => panic!("connected without trusting the CA: {url}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no error: {}",
            inbox.sources[0].summary()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("{}: {error}", inbox.sources[0].url);
    let lower = error.to_ascii_lowercase();
    assert!(
        lower.contains("certificate") && lower.contains("unknownissuer"),
        "not a certificate error: {error}"
    );
    assert!(
        error.contains("?ca=FILE") && error.contains("?insecure=1"),
        "{error}"
    );
    let summary = inbox.sources[0].summary();
    for shown in [&error, &summary, &inbox.sources[0].url] {
        assert!(!shown.contains(PASSWORD), "the password shows: {shown}");
    }
    assert_ne!(inbox.sources[0].status(), SourceStatus::Connected);
}

/// A connected source over TLS says so; with `insecure=1`, that nothing is verified.
fn assert_tls_status(inbox: &Inbox, insecure: bool) {
    let summary = inbox.sources[0].summary();
    if insecure {
        assert!(
            summary.contains("connected (TLS, certificate verification OFF"),
            "{summary}"
        );
    } else {
        assert!(summary.contains("connected (TLS);"), "{summary}");
    }
}

// ---------------------------------------------------------------- NATS

fn nats_headers(pairs: &[(&str, &str)]) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, *v);
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_over_tls_verifies_the_server_certificate() {
    let pki = Pki::new();
    let port = free_port();
    let _server = Server::start(
        Command::new("/usr/sbin/nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .arg("--tlscert")
            .arg(&pki.cert)
            .arg("--tlskey")
            .arg(&pki.key),
        port,
        &pki.path("nats.log"),
        Duration::from_secs(10),
    );
    let ca = pki.ca.display();
    let mut inbox = connected(&format!("tls://127.0.0.1:{port}/tls.>?ca={ca}")).await;
    assert_tls_status(&inbox, false);
    let client = async_nats::ConnectOptions::new()
        .require_tls(true)
        .tls_client_config((*pki.client()).clone())
        .connect(format!("127.0.0.1:{port}"))
        .await
        .expect("a publisher over TLS");
    client
        .publish_with_headers(
            "tls.orders",
            nats_headers(&[("content-type", "application/cloudevents+json")]),
            structured_event("s-1").into(),
        )
        .await
        .expect("publish");
    client
        .publish_with_headers(
            "tls.orders",
            nats_headers(&[
                ("ce-specversion", "1.0"),
                ("ce-id", "b-1"),
                ("ce-source", "/test/binary"),
                ("ce-type", "com.example.Binary"),
                ("content-type", "application/json"),
            ]),
            BINARY_DATA.into(),
        )
        .await
        .expect("publish");
    client
        .publish("tls.plain", PLAIN.into())
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    check_three(&receive(&mut inbox, 3).await);
    drop(inbox);

    refused_without_the_ca(&format!("tls://alice:{PASSWORD}@127.0.0.1:{port}/tls.>")).await;

    let mut inbox = connected(&format!("nats+tls://127.0.0.1:{port}/tls.>?insecure=1")).await;
    assert_tls_status(&inbox, true);
    client
        .publish_with_headers(
            "tls.orders",
            nats_headers(&[("content-type", "application/cloudevents+json")]),
            structured_event("i-1").into(),
        )
        .await
        .expect("publish");
    client.flush().await.expect("flush");
    let ev = events(&receive(&mut inbox, 1).await);
    assert_eq!(ev.keys().collect::<Vec<_>>(), ["i-1"]);
}

// ---------------------------------------------------------------- MQTT

fn mqtt_props(
    content_type: &str,
    user: &[(&str, &str)],
) -> rumqttc::v5::mqttbytes::v5::PublishProperties {
    rumqttc::v5::mqttbytes::v5::PublishProperties {
        content_type: Some(content_type.to_string()),
        user_properties: user
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_verifies_the_server_certificate() {
    use rumqttc::v5::mqttbytes::QoS;
    let pki = Pki::new();
    let port = free_port();
    let conf = pki.path("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "user root\nallow_anonymous true\nlistener {port} 127.0.0.1\ncafile {}\n\
             certfile {}\nkeyfile {}\n",
            pki.ca.display(),
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .expect("mosquitto.conf");
    let _server = Server::start(
        Command::new("/usr/sbin/mosquitto").arg("-c").arg(&conf),
        port,
        &pki.path("mosquitto.log"),
        Duration::from_secs(10),
    );
    let ca = pki.ca.display();
    let mut inbox = connected(&format!("mqtts://127.0.0.1:{port}/tls/#?ca={ca}")).await;
    assert_tls_status(&inbox, false);
    let mut opts = rumqttc::v5::MqttOptions::new(unique("eltls-pub-"), "127.0.0.1", port);
    opts.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(pki.client()),
    ));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(opts, 64);
    let task = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    client
        .publish_with_properties(
            "tls/orders",
            QoS::AtLeastOnce,
            false,
            structured_event("s-1"),
            mqtt_props("application/cloudevents+json", &[]),
        )
        .await
        .expect("publish");
    client
        .publish_with_properties(
            "tls/orders",
            QoS::AtLeastOnce,
            false,
            BINARY_DATA,
            mqtt_props(
                "application/json",
                &[
                    ("specversion", "1.0"),
                    ("id", "b-1"),
                    ("source", "/test/binary"),
                    ("type", "com.example.Binary"),
                ],
            ),
        )
        .await
        .expect("publish");
    client
        .publish("tls/plain", QoS::AtLeastOnce, false, PLAIN)
        .await
        .expect("publish");
    check_three(&receive(&mut inbox, 3).await);
    drop(inbox);

    refused_without_the_ca(&format!("mqtts://bob:{PASSWORD}@127.0.0.1:{port}/tls/#")).await;

    // MQTT 3.1.1 this time.
    let mut inbox = connected(&format!("mqtts://127.0.0.1:{port}/tls/#?v=3&insecure=1")).await;
    assert_tls_status(&inbox, true);
    client
        .publish(
            "tls/orders",
            QoS::AtLeastOnce,
            false,
            structured_event("i-1"),
        )
        .await
        .expect("publish");
    let ev = events(&receive(&mut inbox, 1).await);
    assert_eq!(ev.keys().collect::<Vec<_>>(), ["i-1"]);
    task.abort();
}

// ---------------------------------------------------------------- Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_verifies_the_server_certificate() {
    use redis::AsyncCommands;
    let pki = Pki::new();
    let port = free_port();
    let _server = Server::start(
        Command::new("/usr/bin/redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port"])
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&pki.cert)
            .arg("--tls-key-file")
            .arg(&pki.key)
            .arg("--tls-ca-cert-file")
            .arg(&pki.ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(pki.dir.path()),
        port,
        &pki.path("redis.log"),
        Duration::from_secs(10),
    );
    // A publisher over TLS, through the same stream eventlens uses.
    let stream = source::tls::connect("127.0.0.1", port, pki.client())
        .await
        .expect("TLS to redis");
    let (mut con, driver) = redis::aio::MultiplexedConnection::new_with_config(
        &redis::RedisConnectionInfo::default(),
        stream,
        redis::AsyncConnectionConfig::new(),
    )
    .await
    .expect("a publisher over TLS");
    tokio::spawn(driver);
    let key = unique("eltls:stream:");
    let _: String = con
        .xadd(&key, "*", &[("event", structured_event("s-1"))])
        .await
        .expect("xadd");
    let _: String = con
        .xadd(
            &key,
            "*",
            &[
                ("specversion", "1.0"),
                ("id", "b-1"),
                ("source", "/test/binary"),
                ("type", "com.example.Binary"),
                ("datacontenttype", "application/json"),
                ("data", BINARY_DATA),
            ],
        )
        .await
        .expect("xadd");
    let _: String = con.xadd(&key, "*", &[("body", PLAIN)]).await.expect("xadd");
    // A consumer group, which the declared-topology poller must see over TLS too.
    let group = unique("tlsgroup");
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg(&group)
        .arg("0")
        .query_async(&mut con)
        .await
        .expect("XGROUP CREATE");
    let ca = pki.ca.display();
    let mut inbox = connected(&format!("rediss://127.0.0.1:{port}/stream/{key}?ca={ca}")).await;
    assert_tls_status(&inbox, false);
    check_three(&receive(&mut inbox, 3).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut declared = Vec::new();
    while !declared.iter().any(|l: &String| l.contains(&group)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the group was not declared over TLS: {declared:?}"
        );
        declared.extend(inbox.sources[0].take_declared());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(inbox);

    refused_without_the_ca(&format!(
        "rediss://:{PASSWORD}@127.0.0.1:{port}/stream/{key}"
    ))
    .await;

    // Pub/sub this time.
    let mut inbox = connected(&format!(
        "rediss://127.0.0.1:{port}/channel/tls.*?insecure=1"
    ))
    .await;
    assert_tls_status(&inbox, true);
    let _: i64 = con
        .publish("tls.orders", structured_event("i-1"))
        .await
        .expect("publish");
    let ev = events(&receive(&mut inbox, 1).await);
    assert_eq!(ev.keys().collect::<Vec<_>>(), ["i-1"]);
}

// ---------------------------------------------------------------- RabbitMQ

/// A second RabbitMQ node of the test's own: a plain listener (for the publisher) and a TLS
/// one, its own node name, distribution port, home (Erlang cookie) and storage.
fn rabbitmq(pki: &Pki) -> (Server, u16, u16) {
    let (plain, tls, dist) = (free_port(), free_port(), free_port());
    let dir = pki.dir.path();
    let conf = pki.path("rabbitmq.conf");
    std::fs::write(
        &conf,
        format!(
            "listeners.tcp.default = {plain}\nlisteners.ssl.default = {tls}\n\
             ssl_options.cacertfile = {}\nssl_options.certfile = {}\n\
             ssl_options.keyfile = {}\nssl_options.verify = verify_none\n\
             ssl_options.fail_if_no_peer_cert = false\n",
            pki.ca.display(),
            pki.cert.display(),
            pki.key.display()
        ),
    )
    .expect("rabbitmq.conf");
    std::fs::write(pki.path("enabled_plugins"), "[].\n").expect("enabled_plugins");
    let server = Server::start(
        Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .env("HOME", dir)
            .env(
                "RABBITMQ_NODENAME",
                format!("{}@localhost", unique("eltls")),
            )
            .env("RABBITMQ_NODE_PORT", plain.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", &conf)
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", pki.path("advanced.config"))
            .env("RABBITMQ_MNESIA_BASE", pki.path("mnesia"))
            .env("RABBITMQ_LOG_BASE", pki.path("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", pki.path("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", pki.path("rabbitmq.pid")),
        tls,
        &pki.path("rabbitmq.out"),
        Duration::from_secs(120),
    );
    // The TLS listener opens last, but wait for the plain one too.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", plain)).is_err() {
        assert!(Instant::now() < deadline, "RabbitMQ: no plain listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, plain, tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_verifies_the_server_certificate() {
    use lapin::options::*;
    use lapin::types::{AMQPValue, FieldTable, ShortString};
    use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
    let pki = Pki::new();
    let (_server, plain, tls) = rabbitmq(&pki);
    let conn = Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{plain}/%2f"),
        ConnectionProperties::default(),
    )
    .await
    .expect("a publisher");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    ch.exchange_declare(
        "events".into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("exchange");
    let publish = |key: &'static str, body: String, props: BasicProperties| {
        let ch = ch.clone();
        async move {
            ch.basic_publish(
                "events".into(),
                key.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                props,
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        }
    };
    let ca = pki.ca.display();
    let mut inbox = connected(&format!(
        "amqps://guest:guest@127.0.0.1:{tls}/%2f?exchange=events&key=orders.%23&ca={ca}"
    ))
    .await;
    assert_tls_status(&inbox, false);
    publish(
        "orders.created",
        structured_event("s-1"),
        BasicProperties::default().with_content_type("application/cloudevents+json".into()),
    )
    .await;
    let mut headers = FieldTable::default();
    for (k, v) in [
        ("cloudEvents:specversion", "1.0"),
        ("cloudEvents:id", "b-1"),
        ("cloudEvents:source", "/test/binary"),
        ("cloudEvents:type", "com.example.Binary"),
    ] {
        headers.insert(ShortString::from(k), AMQPValue::LongString(v.into()));
    }
    publish(
        "orders.created",
        BINARY_DATA.to_string(),
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers),
    )
    .await;
    publish(
        "orders.plain",
        PLAIN.to_string(),
        BasicProperties::default(),
    )
    .await;
    check_three(&receive(&mut inbox, 3).await);
    drop(inbox);

    refused_without_the_ca(&format!(
        "amqps://guest:{PASSWORD}@127.0.0.1:{tls}/%2f?exchange=events"
    ))
    .await;

    let mut inbox = connected(&format!(
        "amqps://guest:guest@127.0.0.1:{tls}/%2f?exchange=events&key=orders.%23&insecure=1"
    ))
    .await;
    assert_tls_status(&inbox, true);
    publish(
        "orders.created",
        structured_event("i-1"),
        BasicProperties::default().with_content_type("application/cloudevents+json".into()),
    )
    .await;
    let ev = events(&receive(&mut inbox, 1).await);
    assert_eq!(ev.keys().collect::<Vec<_>>(), ["i-1"]);
    drop(inbox);
    let _ = conn.close(200, "done".into()).await;
}

// ---------------------------------------------------------------- names

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused_even_with_the_ca() {
    // A certificate for `localhost` only, reached as 127.0.0.1.
    let pki = Pki::for_names(&["localhost"]);
    let port = free_port();
    let _server = Server::start(
        Command::new("/usr/sbin/nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .arg("--tlscert")
            .arg(&pki.cert)
            .arg("--tlskey")
            .arg(&pki.key),
        port,
        &pki.path("nats.log"),
        Duration::from_secs(10),
    );
    let inbox = start(&format!("tls://127.0.0.1:{port}/x?ca={}", pki.ca.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match inbox.sources[0].status() {
            SourceStatus::Reconnecting { error, .. } => {
                assert!(error.contains("not valid for name"), "{error}");
                break;
            }
            SourceStatus::Connected => panic!("connected to a certificate for another name"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "{}", inbox.sources[0].summary());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
