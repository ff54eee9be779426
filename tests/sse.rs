//! Server-Sent Events sources (`sse+http://...`) against a real SSE server: axum's `Sse`,
//! in this process on 127.0.0.1:0, serving known CloudEvents (the ones tests/webhook.rs
//! sends, so the same events arrive over either). The server can drop a connection halfway
//! (abruptly, or by ending the stream), and logs each request's `Last-Event-ID`, so the
//! tests check that the client resumes where it broke and loses or repeats nothing.
//! Malformed data is counted undecodable and still recorded. `eventlens record` reads the
//! stream as a child process, and the app's Connect dialog connects to it.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use eventlens::source::decode::{self, DecodedEvent, Mode};
use eventlens::source::{self, BrokerUrl, Inbox, SourceStatus};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/sent_events.rs"]
mod sent_events;
use sent_events::{check_sdk_event, sdk_event, structured_json};

/// One event the server serves.
#[derive(Clone, Default)]
struct Served {
    id: String,
    name: Option<String>,
    data: String,
    retry: Option<Duration>,
}

impl Served {
    fn new(id: &str, data: impl Into<String>) -> Self {
        Served {
            id: id.into(),
            data: data.into(),
            ..Default::default()
        }
    }

    fn sse(&self) -> Event {
        let mut e = Event::default().id(&self.id).data(&self.data);
        if let Some(n) = &self.name {
            e = e.event(n);
        }
        if let Some(r) = self.retry {
            e = e.retry(r);
        }
        e
    }
}

/// How a connection ends after the events it was given.
#[derive(Clone, Copy)]
enum Ending {
    /// The connection breaks (the body fails: no clean end).
    Abort,
    /// The stream ends cleanly.
    Close,
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    last_event_id: Option<String>,
    authorization: Option<String>,
    query: Option<String>,
    accept: Option<String>,
    at: Instant,
}

struct Server {
    events: Vec<Served>,
    /// Connection `i` sends at most `plan[i].0` events, then ends so; later ones send the
    /// rest and stay open.
    plan: Vec<(usize, Ending)>,
    /// Sent alone (no data) at the start of the first connection: `retry: N`.
    retry_first: Option<Duration>,
    requests: Mutex<Vec<Seen>>,
    /// When each planned ending happened.
    ended: Mutex<Vec<Instant>>,
}

async fn serve(State(s): State<Arc<Server>>, uri: Uri, headers: HeaderMap) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let last = h("last-event-id");
    let conn = {
        let mut r = s.requests.lock().expect("log");
        r.push(Seen {
            last_event_id: last.clone(),
            authorization: h("authorization"),
            query: uri.query().map(str::to_string),
            accept: h("accept"),
            at: Instant::now(),
        });
        r.len() - 1
    };
    let start = match &last {
        Some(id) => s
            .events
            .iter()
            .position(|e| &e.id == id)
            .map_or(0, |p| p + 1),
        None => 0,
    };
    let plan = s.plan.get(conn).copied();
    let end = match plan {
        Some((n, _)) => (start + n).min(s.events.len()),
        None => s.events.len(),
    };
    let retry = s.retry_first.filter(|_| conn == 0);
    let events: Vec<Result<Event, std::io::Error>> = retry
        .map(|r| Ok(Event::default().retry(r)))
        .into_iter()
        .chain(s.events[start..end].iter().map(|e| Ok(e.sse())))
        .collect();
    let server = s.clone();
    let note_end = move || server.ended.lock().expect("log").push(Instant::now());
    let tail: BoxStream<'static, Result<Event, std::io::Error>> = match plan {
        Some((_, Ending::Abort)) => stream::once(async move {
            // The events before it are on the wire first.
            tokio::time::sleep(Duration::from_millis(100)).await;
            note_end();
            Err(std::io::Error::other("the server drops the connection"))
        })
        .boxed(),
        Some((_, Ending::Close)) => stream::once(async move { note_end() })
            .filter_map(|()| async { None })
            .boxed(),
        None => stream::pending().boxed(),
    };
    Sse::new(stream::iter(events).chain(tail)).into_response()
}

/// Serves `events` on `http://127.0.0.1:PORT/events` (and `/ui-stream`); returns the server
/// and the port.
async fn start_server(events: Vec<Served>, plan: Vec<(usize, Ending)>) -> (Arc<Server>, u16) {
    serve_with(Server {
        events,
        plan,
        retry_first: None,
        requests: Mutex::new(Vec::new()),
        ended: Mutex::new(Vec::new()),
    })
    .await
}

async fn serve_with(server: Server) -> (Arc<Server>, u16) {
    let server = Arc::new(server);
    let app = axum::Router::new()
        .route("/events", axum::routing::get(serve))
        .route("/ui-stream", axum::routing::get(serve))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, port)
}

fn start_source(url: &str) -> Inbox {
    let url = BrokerUrl::parse(url).expect("URL");
    source::start(
        std::slice::from_ref(&url),
        &tokio::runtime::Handle::current(),
        source::DEFAULT_BUDGET,
    )
}

/// The next `n` messages: their events, as decoded, with the mode; and their capture lines
/// (which count them decoded or undecodable).
async fn receive(inbox: &mut Inbox, n: usize) -> (Vec<(DecodedEvent, Mode)>, Vec<String>) {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for i in 0..n {
        let mut e = tokio::time::timeout(Duration::from_secs(15), inbox.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "message {} of {n} did not arrive: {}",
                    i + 1,
                    inbox.sources[0].summary()
                )
            })
            .expect("the source is running");
        if let Ok(d) = decode::decode(&e.msg) {
            events.extend(d.events.into_iter().map(|ev| (ev, d.mode)));
        }
        e.lines(&inbox.sources[0], &mut lines);
    }
    (events, lines)
}

fn by_id<'a>(events: &'a [(DecodedEvent, Mode)], id: &str) -> &'a (DecodedEvent, Mode) {
    events
        .iter()
        .find(|(e, _)| e.id == id)
        .unwrap_or_else(|| panic!("no event {id}"))
}

/// The events tests/webhook.rs sends, served over SSE: the SDK's event, curl's structured
/// event and batch, and an SSE event that is no CloudEvent.
fn webhook_events() -> Vec<Served> {
    let batch = format!(
        "[{},{}]",
        structured_json("curl-batch-1"),
        structured_json("curl-batch-2")
    );
    vec![
        Served::new(
            "1",
            serde_json::to_string(&sdk_event("sdk-structured")).expect("JSON"),
        ),
        Served::new("2", structured_json("curl-structured")),
        Served::new("3", batch),
        Served {
            name: Some("greeting".into()),
            ..Served::new("4", "hello over SSE")
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_arrive_over_sse_as_over_the_webhook() {
    let (server, port) = start_server(webhook_events(), Vec::new()).await;
    let mut inbox = start_source(&format!(
        "sse+http://me:s3cret@127.0.0.1:{port}/events?token=t0k3n&from=start"
    ));
    let (events, lines) = receive(&mut inbox, 4).await;
    // Exactly those: ids, types and sources.
    let mut got: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|(e, _)| (e.id.as_str(), e.ty.as_str(), e.source.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("4", "greeting", "sse://events"),
            ("curl-batch-1", "com.example.Curl", "/test/curl"),
            ("curl-batch-2", "com.example.Curl", "/test/curl"),
            ("curl-structured", "com.example.Curl", "/test/curl"),
            ("sdk-structured", "com.example.OrderPlaced", "/test/sdk"),
        ]
    );
    // And their data.
    let (sdk, mode) = by_id(&events, "sdk-structured");
    assert_eq!(*mode, Mode::Structured);
    check_sdk_event(sdk);
    let (s, _) = by_id(&events, "curl-structured");
    assert_eq!(
        s.data.as_ref().map(|d| d.bytes.as_slice()),
        Some(&br#"{"n":1}"#[..])
    );
    for id in ["curl-batch-1", "curl-batch-2"] {
        assert_eq!(by_id(&events, id).1, Mode::Batch);
    }
    let (plain, mode) = by_id(&events, "4");
    assert_eq!(*mode, Mode::Plain);
    assert!(!plain.cloudevent);
    assert_eq!(
        plain.data.as_ref().map(|d| d.bytes.as_slice()),
        Some(&b"hello over SSE"[..])
    );
    // The capture lines: the path's channel, the redacted URL, the SSE id and event name.
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("capture line"))
        .collect();
    assert_eq!(parsed.len(), 5);
    for l in &parsed {
        assert_eq!(l["lenschannel"], "events");
        assert_eq!(
            l["lensbroker"],
            format!("sse+http://127.0.0.1:{port}/events?token=***&from=start")
        );
    }
    assert_eq!(parsed[0]["lensmsgid"], "1");
    assert_eq!(parsed[4]["lenseventname"], "greeting");
    assert_eq!(parsed[4]["type"], "greeting");
    // The server got its query, Basic auth and the event-stream Accept; the password and
    // the token are never shown.
    let seen = server.requests.lock().expect("log").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query.as_deref(), Some("token=t0k3n&from=start"));
    assert_eq!(seen[0].accept.as_deref(), Some("text/event-stream"));
    assert_eq!(seen[0].last_event_id, None);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("me:s3cret");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    let stats = &inbox.sources[0];
    let c = stats.counters();
    assert_eq!(
        (c.received, c.decoded, c.undecodable, c.connects),
        (4, 4, 0, 1)
    );
    assert_eq!(stats.status(), SourceStatus::Connected);
    let summary = stats.summary();
    assert!(
        !summary.contains("s3cret") && !summary.contains("t0k3n") && !summary.contains("me:"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_from_the_last_event_id_and_loses_or_repeats_nothing() {
    let events: Vec<Served> = (1..=10)
        .map(|i| Served::new(&i.to_string(), structured_json(&format!("ev-{i}"))))
        .collect();
    // Four events, then the connection breaks; three more, then the stream ends; the rest.
    // The server asks first (in a block of its own) for 400 ms between a lost connection
    // and the next.
    let (server, port) = serve_with(Server {
        events,
        plan: vec![(4, Ending::Abort), (3, Ending::Close)],
        retry_first: Some(Duration::from_millis(400)),
        requests: Mutex::new(Vec::new()),
        ended: Mutex::new(Vec::new()),
    })
    .await;
    let mut inbox = start_source(&format!("sse+http://127.0.0.1:{port}/events"));
    let (first, _) = receive(&mut inbox, 4).await;
    // Between the two connections the status says when the next attempt is, and why.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let s = inbox.sources[0].status();
        if matches!(s, SourceStatus::Reconnecting { .. }) {
            break inbox.sources[0].status_text();
        }
        assert!(Instant::now() < deadline, "never reconnecting: {s}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        status.starts_with("reconnecting (attempt 1 in "),
        "{status}"
    );
    let (rest, _) = receive(&mut inbox, 6).await;
    let ids: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|(e, _)| e.id.clone())
        .collect();
    let want: Vec<String> = (1..=10).map(|i| format!("ev-{i}")).collect();
    assert_eq!(ids, want);
    // Nothing more comes (no event twice).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(inbox.try_recv().is_none(), "an event arrived twice");
    let seen = server.requests.lock().expect("log").clone();
    let last_ids: Vec<Option<&str>> = seen.iter().map(|s| s.last_event_id.as_deref()).collect();
    assert_eq!(last_ids, vec![None, Some("4"), Some("7")]);
    // The server's retry: is honoured after both endings.
    let ended = server.ended.lock().expect("log").clone();
    assert_eq!(ended.len(), 2);
    for (end, next) in ended.iter().zip(&seen[1..]) {
        let gap = next.at.duration_since(*end);
        assert!(
            gap >= Duration::from_millis(380),
            "reconnected after {gap:?}"
        );
    }
    let c = inbox.sources[0].counters();
    assert_eq!((c.received, c.decoded, c.connects), (10, 10, 3));
    assert_eq!(inbox.sources[0].status(), SourceStatus::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_data_is_counted_undecodable_and_still_recorded() {
    let events = vec![
        Served::new("1", structured_json("m-1")),
        Served::new("2", r#"{"specversion":"1.0","id":"bad", not json}"#),
        Served::new(
            "3",
            format!(r#"[{}, {{"specversion":"1.0""#, structured_json("m-3")),
        ),
        Served::new("4", "plain text is no CloudEvent and no error"),
        Served::new("5", structured_json("m-5")),
    ];
    let (_server, port) = start_server(events, Vec::new()).await;
    let mut inbox = start_source(&format!("sse+http://127.0.0.1:{port}/events"));
    let (events, lines) = receive(&mut inbox, 5).await;
    let ids: Vec<&str> = events.iter().map(|(e, _)| e.id.as_str()).collect();
    assert_eq!(ids, vec!["m-1", "4", "m-5"]);
    let c = inbox.sources[0].counters();
    assert_eq!((c.received, c.decoded, c.undecodable), (5, 3, 2));
    // Each undecodable message is kept as a plain event with its SSE id and the reason.
    assert_eq!(lines.len(), 5);
    let bad: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("line"))
        .filter(|l| l.get("lensundecodable").is_some())
        .collect();
    assert_eq!(bad.len(), 2);
    assert_eq!(bad[0]["id"], "2");
    assert_eq!(bad[1]["id"], "3");
    assert!(
        bad[0]["lensundecodable"]
            .as_str()
            .is_some_and(|r| r.contains("invalid JSON")),
        "{}",
        bad[0]
    );
    let mut store = eventlens::model::Store::new();
    let mut input = eventlens::live::LiveInput::new(&mut store, "sse");
    input.add(&mut store, &lines);
    assert_eq!(store.inputs[0].violations.len(), 2);
    assert_eq!(inbox.sources[0].status(), SourceStatus::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_the_stream_with_the_bearer_token_from_the_environment() {
    let (server, port) = start_server(webhook_events(), Vec::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("sse.jsonl");
    let url = format!("sse+http://127.0.0.1:{port}/events");
    let output = {
        let out = out.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_eventlens"))
                .args(["record", &url, "--count", "4", "-o"])
                .arg(&out)
                .env("EVENTLENS_SSE_TOKEN", "t0k3n")
                .output()
                .expect("eventlens runs")
        })
        .await
        .expect("task")
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("t0k3n"), "{stderr}");
    let text = std::fs::read_to_string(&out).expect("capture");
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("line");
            v["id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(
        ids,
        vec![
            "sdk-structured",
            "curl-structured",
            "curl-batch-1",
            "curl-batch-2",
            "4"
        ]
    );
    let seen = server.requests.lock().expect("log").clone();
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer t0k3n"));
}

/// The app's Connect dialog: the SSE preset fills the URL field; an SSE URL connects,
/// shows `connected`, and what the server sends is drawn.
#[test]
fn the_connect_dialog_reads_an_sse_stream_and_draws_what_arrives() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use eventlens::ui::{EventLensApp, StartOptions};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (_server, port) = rt.block_on(start_server(webhook_events(), Vec::new()));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|cc| EventLensApp::new(cc, StartOptions::default()));
    h.run_steps(2);
    h.state_mut().command(eventlens::ui::Command::OpenConnect);
    h.run_steps(2);
    h.get_by_label_contains("SSE: an event stream").click();
    h.run_steps(2);
    assert_eq!(
        h.get_by_label("Broker URL").value().as_deref(),
        Some("sse+http://127.0.0.1:8080/events")
    );
    h.get_by_label("Broker URL").click();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_label("Broker URL")
        .type_text(&format!("sse+http://127.0.0.1:{port}/ui-stream"));
    h.run_steps(1);
    h.get_by_label("Connect").click();
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.state().store().events.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "the events never reach the window"
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(3);
    assert!(h.query_all_by_label("connected").count() > 0);
    h.get_by_role_and_label(egui::accesskit::Role::Button, "ui-stream");
}

/// A listener that speaks TLS with a certificate from a test CA; handshakes that fail (a
/// client that does not trust it) are dropped and the next connection is taken.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves the webhook's events over HTTPS with a certificate for 127.0.0.1 and localhost
/// from a CA made here; returns the port and the CA's PEM file (in `dir`).
async fn start_tls_server(dir: &std::path::Path) -> (u16, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).expect("write the CA");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .expect("server configuration");
    let server = Arc::new(Server {
        events: webhook_events(),
        plan: Vec::new(),
        retry_first: None,
        requests: Mutex::new(Vec::new()),
        ended: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/events", axum::routing::get(serve))
        .with_state(server);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = tcp.local_addr().expect("address").port();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, ca_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_over_https_verifies_the_server_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, ca) = start_tls_server(dir.path()).await;
    let base = format!("sse+https://127.0.0.1:{port}/events");
    // Trusting the test CA: the events arrive, and the status says TLS.
    let mut inbox = start_source(&format!("{base}?ca={}", ca.display()));
    let (events, _) = receive(&mut inbox, 4).await;
    assert_eq!(events.len(), 5);
    assert_eq!(inbox.sources[0].status_text(), "connected (TLS)");
    drop(inbox);
    // Without it the certificate is refused, and the status says so.
    let inbox = start_source(&base);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let SourceStatus::Reconnecting { error, .. } = inbox.sources[0].status() {
            assert!(error.contains("certificate"), "{error}");
            break;
        }
        assert!(Instant::now() < deadline, "{}", inbox.sources[0].summary());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(inbox.sources[0].counters().received, 0);
    drop(inbox);
    // Not verifying: it reads, and says that the server is not authenticated.
    let mut inbox = start_source(&format!("{base}?insecure=1"));
    receive(&mut inbox, 4).await;
    assert!(
        inbox.sources[0].status_text().contains("verification OFF"),
        "{}",
        inbox.sources[0].status_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_no_event_stream_is_retried_and_204_ends_the_source() {
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/busy",
            axum::routing::get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "later") }),
        )
        .route("/page", axum::routing::get(|| async { "<html></html>" }))
        .route(
            "/over",
            axum::routing::get(|| async { StatusCode::NO_CONTENT }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let status_of = |path: &'static str| async move {
        let inbox = start_source(&format!("sse+http://127.0.0.1:{port}/{path}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match inbox.sources[0].status() {
                s @ (SourceStatus::Reconnecting { .. } | SourceStatus::Ended(_)) => break s,
                s => assert!(Instant::now() < deadline, "{path}: still {s}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match status_of("busy").await {
        SourceStatus::Reconnecting { error, .. } => {
            assert!(error.contains("503"), "{error}")
        }
        other => panic!("busy: {other}"),
    }
    match status_of("page").await {
        SourceStatus::Reconnecting { error, .. } => {
            assert!(error.contains("not an event stream"), "{error}")
        }
        other => panic!("page: {other}"),
    }
    match status_of("over").await {
        SourceStatus::Ended(Some(why)) => assert!(why.contains("204"), "{why}"),
        other => panic!("over: {other}"),
    }
}
