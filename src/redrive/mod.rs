//! Re-drive: send captured events again, to a handler under test (an HTTP endpoint) or onto
//! a broker, by the CloudEvents protocol binding of the target.
//!
//! A [`Redrive`] is the plan: the events (attributes and original payload bytes, read from
//! the store once, when the plan is made), where to send them ([`Target`]) and how
//! ([`Options`]: pacing, binary or structured mode, id handling, retries). [`Redrive::start`]
//! runs it on the source runtime and hands back a [`RedriveRun`]: progress (sent, failed,
//! remaining), pause, resume and stop, and the [`Summary`] of what was and was not
//! delivered. The CLI (`eventlens replay --to`) and the app's Re-drive dialog both drive it.
//!
//! Nothing here knows egui; the UI never builds a plan on its own thread (reading payloads
//! is I/O): it asks [`RedriveRun::start_from_store`] to do it on the runner's task.

mod encode;
mod run;
mod send;
mod target;

pub use encode::{header_value, structured_json};
pub use run::{Delivery, Progress, RedriveRun, Summary};
pub use target::{Destination, Target};

use crate::model::{EventIdx, NodeClass, Stage, Store};
use crate::source::decode::Attr;
use crate::time::Nanos;
use std::time::Duration;

/// How the events are spaced in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// The original gaps between the events, divided by `speed` (2.0: twice as fast).
    Original { speed: f64 },
    /// A fixed number of events per second.
    Rate(f64),
    /// One after the other, as fast as the target takes them.
    Asap,
    /// With the app's replay cursor: an event goes once the cursor reaches the time it was
    /// first seen, so the replay panel's play, pause, step and speed pace the sending
    /// ([`RedriveRun::set_clock`](run::RedriveRun::set_clock)). Nothing goes before the
    /// cursor is set.
    Replay,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing::Original { speed: 1.0 }
    }
}

impl Pacing {
    /// `N/s`, `N/m` or a bare number of events per second.
    pub fn parse_rate(s: &str) -> Result<Pacing, String> {
        let t = s.trim();
        let (num, per) = match t.split_once('/') {
            Some((n, "s" | "sec")) => (n, 1.0),
            Some((n, "m" | "min")) => (n, 60.0),
            Some((n, "h")) => (n, 3600.0),
            Some((_, other)) => {
                return Err(format!("--rate {s}: unknown unit {other:?} (s, m, h)"));
            }
            None => (t, 1.0),
        };
        let n: f64 = num
            .trim()
            .parse()
            .map_err(|_| format!("--rate {s}: expected a rate such as 50/s"))?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("--rate {s}: the rate must be above zero"));
        }
        Ok(Pacing::Rate(n / per))
    }

    /// When each event is due, after the start of the run, for events at `times`
    /// (original times, in order).
    pub fn schedule(&self, times: &[Nanos]) -> Vec<Duration> {
        let first = times.first().copied().unwrap_or(0);
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| match *self {
                Pacing::Original { speed } => {
                    let gap = t.saturating_sub(first).max(0) as f64 / 1e9;
                    Duration::try_from_secs_f64(gap / speed.max(1e-9)).unwrap_or(Duration::MAX)
                }
                Pacing::Rate(r) => {
                    Duration::try_from_secs_f64(i as f64 / r.max(1e-9)).unwrap_or(Duration::MAX)
                }
                // Paced by the cursor, not a schedule (`--dry-run` shows the gaps as captured).
                Pacing::Replay => Duration::from_nanos(t.saturating_sub(first).max(0) as u64),
                Pacing::Asap => Duration::ZERO,
            })
            .collect()
    }
}

/// Binary mode (attributes in the transport's headers or properties, the data as the body)
/// or structured mode (the whole event as `application/cloudevents+json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Binary,
    Structured,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "binary" => Ok(Mode::Binary),
            "structured" => Ok(Mode::Structured),
            other => Err(format!("--mode {other}: expected binary or structured")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Binary => "binary",
            Mode::Structured => "structured",
        }
    }
}

/// How a plan is carried out.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub pacing: Pacing,
    pub mode: Mode,
    /// A fresh id for each event, with `causationid` set to the original id.
    pub rewrite_ids: bool,
    /// Attempts after the first one, with exponential backoff.
    pub retries: u32,
    /// The first wait before a retry (doubling, with jitter, up to 10 s).
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pacing: Pacing::default(),
            mode: Mode::Binary,
            rewrite_ids: false,
            retries: 3,
            backoff: Duration::from_millis(100),
        }
    }
}

/// An event's data as captured.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// A JSON value (`data` of a JSON capture), as its text.
    Json(String),
    /// Bytes (`data_base64`, or a payload that is not JSON text).
    Bytes(Vec<u8>),
}

/// One event to send: its CloudEvents attributes, its data and where it was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct RedriveEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    pub ty: String,
    pub subject: Option<String>,
    /// `time` as RFC 3339.
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    /// Extension attributes (`traceparent`, `causationid`, ...), as first seen.
    pub extensions: Vec<(String, Attr)>,
    pub data: Option<Data>,
    /// The broker channel (subject, topic, queue) it was published on, where known: a
    /// broker target without one of its own sends there.
    pub channel: Option<String>,
    /// When it was first seen (the order and the original pacing).
    pub at: Nanos,
}

impl RedriveEvent {
    /// The event as the store holds it; reads its payload back (I/O for file inputs).
    pub fn from_store(store: &Store, e: EventIdx) -> RedriveEvent {
        let ev = store.event(e);
        let text = |s: crate::model::Sym| (!s.is_none()).then(|| store.str(s).to_string());
        let extensions = store
            .event_extensions(ev)
            .iter()
            .map(|(name, v)| {
                let v = match *v {
                    crate::model::ExtValue::Str(s) => Attr::Str(store.str(s).to_string()),
                    crate::model::ExtValue::Int(i) => Attr::Int(i),
                    crate::model::ExtValue::Bool(b) => Attr::Bool(b),
                };
                (store.str(*name).to_string(), v)
            })
            .collect();
        let data = ev.payload.and_then(|p| {
            let bytes = store.payload(ev)?;
            Some(if p.json {
                Data::Json(String::from_utf8_lossy(&bytes).into_owned())
            } else {
                use base64::Engine;
                let b64 = String::from_utf8_lossy(&bytes);
                match base64::engine::general_purpose::STANDARD.decode(b64.trim().trim_matches('"'))
                {
                    Ok(raw) => Data::Bytes(raw),
                    Err(_) => Data::Bytes(bytes),
                }
            })
        });
        let specversion = match store.str(ev.specversion) {
            "" => "1.0".to_string(),
            s => s.to_string(),
        };
        RedriveEvent {
            specversion,
            id: store.str(ev.id).to_string(),
            source: store.str(ev.source).to_string(),
            ty: store.str(ev.ty).to_string(),
            subject: text(ev.subject),
            time: ev.time.map(crate::time::format_rfc3339),
            datacontenttype: text(ev.datacontenttype),
            dataschema: text(ev.dataschema),
            extensions,
            data,
            channel: channel_of(store, e),
            at: first_time(store, e).unwrap_or(0),
        }
    }

    /// The event as sent: with `rewrite`, a fresh id and `causationid` the original id.
    pub fn prepared(&self, rewrite: bool) -> RedriveEvent {
        let mut out = self.clone();
        if rewrite {
            out.id = fresh_id();
            out.extensions.retain(|(k, _)| k != "causationid");
            out.extensions
                .push(("causationid".into(), Attr::Str(self.id.clone())));
        }
        out
    }

    /// The bytes of a binary-mode body: JSON text for JSON data, the string itself for a
    /// JSON string of a non-JSON content type (`text/plain`), the bytes otherwise.
    pub fn body(&self) -> Vec<u8> {
        match &self.data {
            None => Vec::new(),
            Some(Data::Bytes(b)) => b.clone(),
            Some(Data::Json(t)) => {
                if !crate::source::decode::is_json_type(self.datacontenttype.as_deref())
                    && let Ok(serde_json::Value::String(s)) = serde_json::from_str(t)
                {
                    return s.into_bytes();
                }
                t.clone().into_bytes()
            }
        }
    }
}

/// The time of an event's first observation: its place in the order and, with
/// [`Pacing::Replay`], when the replay cursor sends it.
pub fn first_time(store: &Store, e: EventIdx) -> Option<Nanos> {
    store.first_observation(e).map(|o| o.time)
}

/// The channel an event was published on (else the one it was delivered from).
fn channel_of(store: &Store, e: EventIdx) -> Option<String> {
    let is_channel = |n: crate::model::NodeId| {
        store
            .nodes
            .get(n.0 as usize)
            .is_some_and(|node| node.class == NodeClass::Channel)
    };
    let obs = store.observations_of(e);
    let pick = |stage: Stage, publish: bool| {
        obs.iter()
            .filter_map(|&i| store.observations.get(i as usize))
            .filter(|o| o.stage == stage)
            .map(|o| if publish { o.to } else { o.from })
            .find(|&n| !n.is_none() && is_channel(n))
    };
    pick(Stage::Publish, true)
        .or_else(|| pick(Stage::Deliver, false))
        .map(|n| store.node_name(n).to_string())
}

/// A fresh, random UUID (version 4 form) for `--rewrite-ids`.
pub fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = crate::source::now_nanos() as u64;
    let mut s = now ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        // splitmix64
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The distinct events (by `source` + `id`) of some observations, in the order they were
/// first seen; calls (not events) are left out.
pub fn events_of(store: &Store, observations: impl IntoIterator<Item = u32>) -> Vec<EventIdx> {
    let mut seen = rustc_hash::FxHashSet::default();
    let mut out: Vec<EventIdx> = observations
        .into_iter()
        .filter_map(|i| store.observations.get(i as usize))
        .map(|o| o.event)
        .filter(|&e| store.event(e).kind.is_event() && seen.insert(e))
        .collect();
    out.sort_by_key(|&e| (first_time(store, e).unwrap_or(i64::MAX), e.0));
    out
}

/// The plan: events, target and options.
#[derive(Clone, Debug)]
pub struct Redrive {
    pub events: Vec<RedriveEvent>,
    pub target: Target,
    pub options: Options,
}

impl Redrive {
    /// A plan for these events of the store (their payloads are read here).
    pub fn from_store(
        store: &Store,
        events: &[EventIdx],
        target: Target,
        options: Options,
    ) -> Self {
        Redrive {
            events: events
                .iter()
                .map(|&e| RedriveEvent::from_store(store, e))
                .collect(),
            target,
            options,
        }
    }

    /// When each event is due after the start.
    pub fn schedule(&self) -> Vec<Duration> {
        let times: Vec<Nanos> = self.events.iter().map(|e| e.at).collect();
        self.options.pacing.schedule(&times)
    }

    /// What `--dry-run` prints: see [`dry_run_lines`].
    pub fn dry_run_lines(&self) -> Vec<String> {
        dry_run_lines(&self.events, self.options.pacing, Some(&self.target))
    }
}

/// What `--dry-run` prints: per event, its offset in seconds, id, type, source and the
/// target it would go to (credentials redacted); without a target, its channel.
pub fn dry_run_lines(
    events: &[RedriveEvent],
    pacing: Pacing,
    target: Option<&Target>,
) -> Vec<String> {
    let times: Vec<Nanos> = events.iter().map(|e| e.at).collect();
    pacing
        .schedule(&times)
        .iter()
        .zip(events)
        .map(|(due, e)| {
            let to = match target {
                Some(t) => t.describe_for(e.channel.as_deref()),
                None => format!(
                    "(no target; captured on {})",
                    e.channel.as_deref().unwrap_or("an unknown channel")
                ),
            };
            format!(
                "{:>10.3}s  {}  {}  {}  {to}",
                due.as_secs_f64(),
                e.id,
                e.ty,
                e.source
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_scales_the_original_gaps_or_spaces_evenly() {
        let t = [0, 1_000_000_000, 3_000_000_000];
        let ms =
            |p: Pacing| -> Vec<u128> { p.schedule(&t).iter().map(|d| d.as_millis()).collect() };
        assert_eq!(ms(Pacing::Original { speed: 1.0 }), vec![0, 1000, 3000]);
        assert_eq!(ms(Pacing::Original { speed: 2.0 }), vec![0, 500, 1500]);
        assert_eq!(ms(Pacing::Rate(4.0)), vec![0, 250, 500]);
        assert_eq!(ms(Pacing::Asap), vec![0, 0, 0]);
    }

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(Pacing::parse_rate("50/s"), Ok(Pacing::Rate(50.0)));
        assert_eq!(Pacing::parse_rate("120/m"), Ok(Pacing::Rate(2.0)));
        assert_eq!(Pacing::parse_rate("10"), Ok(Pacing::Rate(10.0)));
        assert!(Pacing::parse_rate("0/s").is_err());
        assert!(Pacing::parse_rate("fast").is_err());
        assert!(Pacing::parse_rate("5/d").is_err());
    }

    #[test]
    fn fresh_ids_differ_and_look_like_uuids() {
        let (a, b) = (fresh_id(), fresh_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn a_text_payload_is_sent_as_its_text_and_json_as_json() {
        let mut e = RedriveEvent {
            specversion: "1.0".into(),
            id: "a".into(),
            source: "s".into(),
            ty: "t".into(),
            subject: None,
            time: None,
            datacontenttype: Some("text/plain".into()),
            dataschema: None,
            extensions: vec![],
            data: Some(Data::Json("\"hello\"".into())),
            channel: None,
            at: 0,
        };
        assert_eq!(e.body(), b"hello");
        e.datacontenttype = Some("application/json".into());
        assert_eq!(e.body(), b"\"hello\"");
        let r = e.prepared(true);
        assert_ne!(r.id, "a");
        assert!(
            r.extensions
                .contains(&("causationid".to_string(), Attr::Str("a".into())))
        );
    }
}
