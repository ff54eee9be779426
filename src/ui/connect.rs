//! The Connect dialog (File > Connect to a broker…): broker URLs, presets for the local
//! brokers, credentials in their own fields (the password masked, so it never shows in the
//! window or a screenshot), and each source's status and counters once connected. The same
//! status table is on the Inputs tab.

use super::{Command, ViewCtx, fmt_count};
use crate::source::{BrokerUrl, SourceStats, SourceStatus};
use egui::RichText;
use std::sync::Arc;

/// Presets: (button, URL, user, password).
const PRESETS: [(&str, &str, &str, &str); 11] = [
    ("NATS: all subjects", "nats://127.0.0.1:4222/>", "", ""),
    (
        "NATS JetStream: stream ORDERS",
        "nats://127.0.0.1:4222/stream/ORDERS",
        "",
        "",
    ),
    ("MQTT: all topics", "mqtt://127.0.0.1:1883/#", "", ""),
    (
        "RabbitMQ: amq.topic, every key",
        "amqp://127.0.0.1:5672/%2f?exchange=amq.topic&key=%23",
        "guest",
        "guest",
    ),
    (
        "Redis: pub/sub, every channel",
        "redis://127.0.0.1:6379/channel/*",
        "",
        "",
    ),
    (
        "Redis: stream events",
        "redis://127.0.0.1:6379/stream/events",
        "",
        "",
    ),
    (
        "Kafka: topic events, from the beginning",
        "kafka://127.0.0.1:9092/events?from=beginning",
        "",
        "",
    ),
    (
        "Webhook: CloudEvents over HTTP on :8080/events",
        "webhook://127.0.0.1:8080/events",
        "",
        "",
    ),
    (
        "SSE: an event stream at :8080/events",
        "sse+http://127.0.0.1:8080/events",
        "",
        "",
    ),
    (
        "OTLP/HTTP: traces on :4318",
        "otlp://127.0.0.1:4318",
        "",
        "",
    ),
    (
        "OTLP/gRPC: traces on :4317",
        "otlp+grpc://127.0.0.1:4317",
        "",
        "",
    ),
];

/// The dialog's state (never persisted: credentials live only here, in memory).
#[derive(Default)]
pub struct ConnectDialog {
    pub open: bool,
    pub urls: String,
    pub user: String,
    pub password: String,
    pub error: Option<String>,
    /// The URLs as typed, by the redacted form the field shows once they are connected
    /// (`?token=***`): connecting again with the field unchanged uses what was typed, not
    /// the mask. In memory only.
    typed: Vec<(String, String)>,
}

impl ConnectDialog {
    /// The URLs of the field (separated by spaces or lines), with the user and password
    /// fields applied where a URL names none; or why one cannot be read.
    pub fn parse(&self) -> Result<Vec<BrokerUrl>, String> {
        let mut out = Vec::new();
        for text in self.urls.split_whitespace() {
            let text = self
                .typed
                .iter()
                .find(|(shown, _)| shown == text)
                .map_or(text, |(_, typed)| typed.as_str());
            let mut url = BrokerUrl::parse(text).map_err(|e| e.to_string())?;
            if url.user.is_none() && !self.user.trim().is_empty() {
                url.user = Some(self.user.trim().to_string());
            }
            if url.password.is_none() && !self.password.is_empty() {
                url.password = Some(self.password.clone());
            }
            out.push(url);
        }
        if out.is_empty() {
            return Err(
                "give a broker URL (nats://, mqtt://, amqp://, redis:// or kafka://; over TLS \
                 tls://, mqtts://, amqps://, rediss:// or kafka+ssl://), a webhook to listen on (webhook://), \
                 an event stream to read (sse+http://, sse+https://) or an OTLP receiver \
                 (otlp://, otlp+grpc://)"
                    .into(),
            );
        }
        Ok(out)
    }

    /// The Connect button: the URLs to connect to. Secrets leave the field: a password typed
    /// into the URL moves to the masked field, and the field shows each URL redacted from
    /// now on, remembering what was typed behind it.
    pub fn connect(&mut self) -> Result<Vec<BrokerUrl>, String> {
        let urls = self.parse()?;
        if let Some(p) = urls.iter().find_map(|u| u.password.clone()) {
            self.password = p;
        }
        if let Some(u) = urls.iter().find_map(|u| u.user.clone()) {
            self.user = u;
        }
        let typed: Vec<(String, String)> = self
            .urls
            .split_whitespace()
            .map(|text| {
                let behind = self
                    .typed
                    .iter()
                    .find(|(shown, _)| shown == text)
                    .map_or(text, |(_, typed)| typed.as_str());
                (crate::source::redact_url(behind), behind.to_string())
            })
            .collect();
        self.urls = typed
            .iter()
            .map(|(shown, _)| shown.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        self.typed = typed;
        self.error = None;
        Ok(urls)
    }

    pub fn show(&mut self, ctx: &egui::Context, cx: &ViewCtx<'_>, cmds: &mut Vec<Command>) {
        let mut open = self.open;
        egui::Window::new("Connect to a broker")
            .open(&mut open)
            .collapsible(false)
            .resizable(true)
            .default_width(620.0)
            .show(ctx, |ui| {
                ui.label(
                    RichText::new(
                        "One or more URLs, separated by spaces: nats://host:port/SUBJECT, \
                         nats://…/stream/NAME, mqtt://host:port/FILTER, \
                         amqp://host:port/vhost?exchange=X&key=PATTERN, \
                         redis://host:port/stream/KEY or /channel/PATTERN, \
                         kafka://host:port/TOPIC[,TOPIC…]?from=beginning|end|OFFSET|TIME. Over \
                         TLS: tls://, mqtts://, amqps://, rediss://, kafka+ssl:// (?ca=FILE trusts a private CA, \
                         ?insecure=1 skips certificate verification). Listen for CloudEvents \
                         over HTTP: webhook://127.0.0.1:8080/PATH (Bearer token from \
                         EVENTLENS_WEBHOOK_TOKEN). Read a Server-Sent Events stream: \
                         sse+http://host:port/PATH or sse+https://… (the user and password \
                         as Basic auth, or a Bearer token from EVENTLENS_SSE_TOKEN). Receive \
                         OpenTelemetry traces: otlp://127.0.0.1:4318 (OTLP/HTTP) or \
                         otlp+grpc://127.0.0.1:4317 (OTLP/gRPC) (Bearer token from \
                         EVENTLENS_OTLP_TOKEN)",
                    )
                    .color(cx.theme.text_weak),
                );
                ui.horizontal_wrapped(|ui| {
                    ui.label("Local:");
                    for (label, url, user, password) in PRESETS {
                        if ui.small_button(label).clicked() {
                            self.urls = url.to_string();
                            self.typed.clear();
                            self.user = user.to_string();
                            self.password = password.to_string();
                            self.error = None;
                        }
                    }
                });
                egui::Grid::new("connect-fields")
                    .num_columns(2)
                    .show(ui, |ui| {
                        let label = ui.label("Broker URL");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.urls)
                                .desired_width(460.0)
                                .hint_text("nats://127.0.0.1:4222/orders.>"),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("User");
                        ui.add(egui::TextEdit::singleline(&mut self.user).desired_width(200.0))
                            .labelled_by(label.id);
                        ui.end_row();
                        let label = ui.label("Password");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.password)
                                .password(true)
                                .desired_width(200.0),
                        )
                        .labelled_by(label.id);
                        ui.end_row();
                    });
                ui.horizontal(|ui| {
                    if ui.button("Connect").clicked() {
                        match self.connect() {
                            Ok(urls) => cmds.push(Command::Connect(urls)),
                            Err(e) => self.error = Some(e),
                        }
                    }
                    ui.label(
                        RichText::new("replaces the live source shown now")
                            .color(cx.theme.text_weak),
                    );
                });
                if let Some(e) = &self.error {
                    ui.label(RichText::new(e).color(cx.theme.error));
                }
                if !cx.sources.is_empty() {
                    ui.separator();
                    sources_table(ui, cx);
                }
            });
        self.open = open;
    }
}

/// Each live source: its URL (without credentials), status and counters.
pub fn sources_table(ui: &mut egui::Ui, cx: &ViewCtx<'_>) {
    egui::Grid::new("sources")
        .num_columns(6)
        .min_col_width(64.0)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "source",
                "status",
                "received",
                "decoded",
                "undecodable",
                "dropped",
            ] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for s in cx.sources {
                source_row(ui, cx, s);
                ui.end_row();
            }
        });
    // Errors in full, under the table (they are long: the broker's own words).
    for s in cx.sources {
        let error = match s.status() {
            SourceStatus::Reconnecting { error, .. } => Some(error),
            SourceStatus::Ended(e) => e,
            _ => None,
        };
        if let Some(e) = error {
            ui.add(
                egui::Label::new(
                    RichText::new(format!("{}: {}", s.url, s.scrub(&e))).color(cx.theme.warn),
                )
                .wrap(),
            );
        }
        // A listener's answers by reason (accepted, bad event, too large...).
        if let Some(a) = s.answers_text() {
            ui.label(RichText::new(format!("{}: {a}", s.url)).color(cx.theme.text_weak));
        }
        // What the source says beside its status (the declared topology is not available).
        if let Some(n) = s.note() {
            ui.add(
                egui::Label::new(
                    RichText::new(format!("{}: {}", s.url, s.scrub(&n))).color(cx.theme.text_weak),
                )
                .wrap(),
            );
        }
    }
}

fn source_row(ui: &mut egui::Ui, cx: &ViewCtx<'_>, s: &Arc<SourceStats>) {
    let status = s.status();
    let color = match status {
        SourceStatus::Connected | SourceStatus::Listening(_) => cx.theme.ok,
        SourceStatus::Connecting => cx.theme.text_weak,
        SourceStatus::Reconnecting { .. } => cx.theme.warn,
        SourceStatus::Ended(Some(_)) => cx.theme.error,
        SourceStatus::Ended(None) => cx.theme.text_weak,
    };
    let c = s.counters();
    ui.label(RichText::new(&s.url).monospace());
    let text = match &status {
        SourceStatus::Reconnecting { attempt, next, .. } => {
            let wait = next
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
                .as_secs_f64();
            format!("reconnecting (attempt {attempt} in {wait:.1} s)")
        }
        SourceStatus::Ended(Some(_)) => "ended (see below)".to_string(),
        _ => s.status_text(),
    };
    // Without certificate verification the status says so, in the warning colour.
    let color = if s.tls_note == Some(crate::source::tls::INSECURE_NOTE) {
        cx.theme.warn
    } else {
        color
    };
    ui.label(RichText::new(text).color(color));
    ui.label(fmt_count(c.received));
    ui.label(fmt_count(c.decoded));
    ui.label(fmt_count(c.undecodable));
    let dropped = RichText::new(fmt_count(c.dropped));
    ui.label(if c.dropped > 0 {
        dropped.color(cx.theme.warn)
    } else {
        dropped
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_urls_are_accepted_with_their_options_and_unknown_schemes_refused() {
        let d = ConnectDialog {
            urls: "tls://127.0.0.1:4222/orders.> mqtts://u:pw1@h/a/#?ca=/etc/ca.pem \
                   amqps://h/%2f?exchange=events rediss://h/channel/x?insecure=1"
                .into(),
            password: "typed".into(),
            ..Default::default()
        };
        let urls = d.parse().expect("parses");
        let tls: Vec<(bool, bool)> = urls
            .iter()
            .map(|u| {
                let t = u.tls.clone().expect("TLS");
                (t.ca_file.is_some(), t.insecure)
            })
            .collect();
        assert_eq!(
            tls,
            [(false, false), (true, false), (false, false), (false, true)]
        );
        // The URL's own password wins; the field's fills the others.
        assert_eq!(urls[1].password.as_deref(), Some("pw1"));
        assert_eq!(urls[0].password.as_deref(), Some("typed"));
        assert!(urls.iter().all(|u| !u.redacted().contains("pw1")));
        let e = ConnectDialog {
            urls: "pulsar://127.0.0.1:6650/orders".into(),
            ..Default::default()
        }
        .parse()
        .expect_err("unknown scheme");
        assert!(
            e.contains("unknown scheme") && e.contains("mqtts://") && e.contains("kafka://"),
            "{e}"
        );
    }

    #[test]
    fn connecting_again_uses_the_secrets_typed_not_the_masks_shown() {
        let mut d = ConnectDialog {
            urls: "sse+https://feed.example/events?token=t0ps3cret&since=1 \
                   amqp://app:pw2@mq/%2f?exchange=events"
                .into(),
            ..Default::default()
        };
        let first = d.connect().expect("parses");
        // The field shows no secret from now on.
        assert!(
            !d.urls.contains("t0ps3cret") && !d.urls.contains("pw2"),
            "{}",
            d.urls
        );
        assert!(d.urls.contains("token=***"), "{}", d.urls);
        assert_eq!(d.password, "pw2");
        // Connect again, the field untouched: the same URLs as typed, not `***`.
        let again = d.connect().expect("parses");
        assert_eq!(again[0].param("token"), Some("t0ps3cret"));
        assert_eq!(again[0].param("since"), Some("1"));
        assert_eq!(again[1].password.as_deref(), Some("pw2"));
        assert_eq!(
            first
                .iter()
                .map(|u| u.redacted().to_string())
                .collect::<Vec<_>>(),
            again
                .iter()
                .map(|u| u.redacted().to_string())
                .collect::<Vec<_>>()
        );
        // A URL edited in the field is read as it now stands.
        d.urls = d.urls.replace("since=1", "since=2");
        let edited = d.connect().expect("parses");
        assert_eq!(edited[0].param("token"), Some("***"));
    }
}
