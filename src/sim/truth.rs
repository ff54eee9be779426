//! The ground truth of a simulated run, kept by the simulator's own bookkeeping (not by
//! the analysis code it is meant to check): what happened, where, how often, and which
//! defects were injected.

use super::*;
use crate::time::format_rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize)]
pub struct EdgeTruth {
    pub count: u64,
    pub errors: u64,
    /// Exact percentiles of the edge's latency in ms (delivery latency for deliveries: receive
    /// time minus the event's first publish).
    pub latency_ms: Option<Percentiles>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Window {
    pub first: String,
    pub last: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct GroundTruth {
    pub seed: u64,
    pub events: u64,
    pub observations: u64,
    pub first: String,
    pub last: String,
    /// Node id -> kind.
    pub nodes: BTreeMap<String, String>,
    /// "from -> to" -> counts.
    pub edges: BTreeMap<String, EdgeTruth>,
    /// Handler -> processing-time percentiles (ms).
    pub processing_ms: BTreeMap<String, Percentiles>,
    pub defects: Defects,
    /// Events published more than once (same source + id).
    pub duplicate_publish: Vec<String>,
    /// Handler -> events delivered to it more than once.
    pub redelivered: BTreeMap<String, Vec<String>>,
    /// Handler -> events it processed successfully more than once.
    pub processed_twice: BTreeMap<String, Vec<String>>,
    /// Failed deliveries during handler-b's outage, and their window.
    pub storm_failed_deliveries: u64,
    pub storm_events: u64,
    pub storm_window: Option<Window>,
    pub burst_window: Option<Window>,
    pub burst_orders: u64,
    /// Handler -> times of cold starts.
    pub cold_starts: BTreeMap<String, Vec<String>>,
    /// The dead-lettered poison message: id, failed attempts, reason.
    pub poison: Option<(String, u16, String)>,
    pub schema_v1_events: u64,
    pub schema_v2_events: u64,
    pub schema_v2_first: Option<String>,

    #[serde(skip)]
    first_publish: rustc_hash::FxHashMap<u64, Nanos>,
    #[serde(skip)]
    publishes: rustc_hash::FxHashMap<u64, (String, u32)>,
    #[serde(skip)]
    deliveries: BTreeMap<(u64, usize), (String, u32, u32)>,
    #[serde(skip)]
    latencies: BTreeMap<String, Vec<Nanos>>,
    #[serde(skip)]
    processing: BTreeMap<String, Vec<Nanos>>,
    #[serde(skip)]
    storm_event_set: rustc_hash::FxHashSet<u64>,
    #[serde(skip)]
    times: (Nanos, Nanos),
}

fn edge(from: &str, to: &str) -> String {
    format!("{from} -> {to}")
}

fn pct(mut v: Vec<Nanos>) -> Option<Percentiles> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1e6
    };
    Some(Percentiles {
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
    })
}

impl GroundTruth {
    pub fn new(cfg: &SimConfig) -> Self {
        GroundTruth {
            seed: cfg.seed,
            defects: cfg.defects.clone(),
            times: (Nanos::MAX, Nanos::MIN),
            ..Default::default()
        }
    }

    pub(super) fn event(&mut self, e: &SimEvent) {
        self.events += 1;
        if e.schema_v2 {
            self.schema_v2_events += 1;
            if self.schema_v2_first.is_none() {
                self.schema_v2_first = Some(format_rfc3339(e.time));
            }
        } else {
            self.schema_v1_events += 1;
        }
    }

    pub(super) fn burst_started(&mut self, t: Nanos) {
        self.burst_window = Some(Window {
            first: format_rfc3339(t),
            last: format_rfc3339(t),
        });
    }

    pub(super) fn burst_ended(&mut self, t: Nanos) {
        if let Some(w) = &mut self.burst_window {
            w.last = format_rfc3339(t);
        }
        self.burst_orders += super::BURST_ORDERS;
    }

    pub(super) fn storm_retry(&mut self, t: Nanos, _attempt: u16) {
        self.storm_failed_deliveries += 1;
        let ts = format_rfc3339(t);
        match &mut self.storm_window {
            None => {
                self.storm_window = Some(Window {
                    first: ts.clone(),
                    last: ts,
                })
            }
            Some(w) => {
                if ts < w.first {
                    w.first = ts.clone();
                }
                if ts > w.last {
                    w.last = ts;
                }
            }
        }
    }

    pub(super) fn observe(&mut self, e: &SimEvent, o: &SimObservation) {
        self.observations += 1;
        self.times.0 = self.times.0.min(o.time);
        self.times.1 = self.times.1.max(o.time);
        let producer = format!("service:{PRODUCER}");
        let channel = format!("channel:{CHANNEL}");
        let store = format!("store:{STORE}");
        let handler = o.handler.map(|h| format!("service:{}", HANDLERS[h]));
        self.nodes.insert(producer.clone(), "producer".into());
        self.nodes.insert(channel.clone(), "channel".into());
        match o.stage {
            Stage::Publish => {
                let p = self.publishes.entry(e.index).or_insert((e.id.clone(), 0));
                p.1 += 1;
                self.first_publish.entry(e.index).or_insert(o.time);
                self.edges
                    .entry(edge(&producer, &channel))
                    .or_default()
                    .count += 1;
            }
            Stage::Deliver => {
                let (Some(h), Some(hk)) = (o.handler, handler) else {
                    return;
                };
                self.nodes.insert(hk.clone(), "handler".into());
                let key = edge(&channel, &hk);
                self.edges.entry(key.clone()).or_default().count += 1;
                if let Some(p) = self.first_publish.get(&e.index) {
                    self.latencies.entry(key).or_default().push(o.time - p);
                }
                self.deliveries
                    .entry((e.index, h))
                    .or_insert((e.id.clone(), 0, 0))
                    .1 += 1;
            }
            Stage::Handle => {
                let (Some(h), Some(hk)) = (o.handler, handler) else {
                    return;
                };
                self.processing
                    .entry(hk.clone())
                    .or_default()
                    .push(o.duration);
                if o.outcome.is_failure() {
                    self.edges.entry(edge(&channel, &hk)).or_default().errors += 1;
                    if o.reason.is_some_and(|r| r.starts_with("ConnectionRefused")) {
                        self.storm_event_set.insert(e.index);
                    }
                } else {
                    self.deliveries
                        .entry((e.index, h))
                        .or_insert((e.id.clone(), 0, 0))
                        .2 += 1;
                }
                if o.cold_start {
                    self.cold_starts
                        .entry(HANDLERS[h].to_string())
                        .or_default()
                        .push(format_rfc3339(o.time));
                }
            }
            Stage::Store => {
                let Some(hk) = handler else { return };
                self.nodes.insert(store.clone(), "store".into());
                let key = edge(&hk, &store);
                self.edges.entry(key.clone()).or_default().count += 1;
                self.latencies.entry(key).or_default().push(o.duration);
            }
            Stage::DeadLetter => {
                let Some(hk) = handler else { return };
                let dlq = format!("dead-letter:{DEAD_LETTER}");
                self.nodes.insert(dlq.clone(), "dead-letter".into());
                let key = edge(&hk, &dlq);
                self.edges.entry(key.clone()).or_default().count += 1;
                if let Some(p) = self.first_publish.get(&e.index) {
                    self.latencies.entry(key).or_default().push(o.time - p);
                }
                self.poison = Some((
                    e.id.clone(),
                    o.attempt,
                    o.reason.unwrap_or_default().to_string(),
                ));
            }
            // The simulator models event flow only.
            Stage::Call => {}
        }
    }

    /// Turns the bookkeeping into the published figures.
    pub fn finish(mut self) -> GroundTruth {
        for (key, lat) in std::mem::take(&mut self.latencies) {
            self.edges.entry(key).or_default().latency_ms = pct(lat);
        }
        for (key, p) in std::mem::take(&mut self.processing) {
            if let Some(p) = pct(p) {
                self.processing_ms.insert(key, p);
            }
        }
        let mut dup: Vec<String> = self
            .publishes
            .values()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id.clone())
            .collect();
        dup.sort();
        self.duplicate_publish = dup;
        for ((_, h), (id, delivered, processed)) in &self.deliveries {
            if *delivered > 1 {
                self.redelivered
                    .entry(HANDLERS[*h].to_string())
                    .or_default()
                    .push(id.clone());
            }
            if *processed > 1 {
                self.processed_twice
                    .entry(HANDLERS[*h].to_string())
                    .or_default()
                    .push(id.clone());
            }
        }
        self.storm_events = self.storm_event_set.len() as u64;
        if self.times.0 <= self.times.1 {
            self.first = format_rfc3339(self.times.0);
            self.last = format_rfc3339(self.times.1);
        }
        self
    }

    /// The ground truth as Markdown, for `sample-traces/README.md`.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "| | |\n|---|---|");
        let _ = writeln!(s, "| seed | {} |", self.seed);
        let _ = writeln!(s, "| events (distinct source + id) | {} |", self.events);
        let _ = writeln!(
            s,
            "| observations (capture lines) | {} |",
            self.observations
        );
        let _ = writeln!(s, "| first / last | {} / {} |", self.first, self.last);
        let _ = writeln!(s, "\n**Nodes**\n\n| id | kind |\n|---|---|");
        for (n, k) in &self.nodes {
            let _ = writeln!(s, "| `{n}` | {k} |");
        }
        let _ = writeln!(
            s,
            "\n**Edges** (latency: delivery latency on channel -> handler, write time on handler -> store, publish to dead-letter on -> dead-letter)\n\n| edge | count | errors | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|"
        );
        for (e, t) in &self.edges {
            let l = t.latency_ms.map_or("| - | - | - | -".to_string(), |p| {
                format!(
                    "| {:.3} | {:.3} | {:.3} | {:.3}",
                    p.p50, p.p95, p.p99, p.max
                )
            });
            let _ = writeln!(s, "| `{e}` | {} | {} {l} |", t.count, t.errors);
        }
        let _ = writeln!(
            s,
            "\n**Processing time** (handler end minus start)\n\n| handler | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|"
        );
        for (h, p) in &self.processing_ms {
            let _ = writeln!(
                s,
                "| `{h}` | {:.3} | {:.3} | {:.3} | {:.3} |",
                p.p50, p.p95, p.p99, p.max
            );
        }
        let _ = writeln!(s, "\n**Injected defects**\n");
        let _ = writeln!(
            s,
            "- duplicate publishes (same source + id published twice): {} events: {}",
            self.duplicate_publish.len(),
            self.duplicate_publish.join(", ")
        );
        for (h, ids) in &self.redelivered {
            let _ = writeln!(
                s,
                "- redelivered to {h}: {} events: {}",
                ids.len(),
                ids.join(", ")
            );
        }
        for (h, ids) in &self.processed_twice {
            let _ = writeln!(
                s,
                "- processed successfully more than once by {h} (idempotency violation): {} events",
                ids.len()
            );
        }
        if let Some(w) = &self.storm_window {
            let _ = writeln!(
                s,
                "- retry storm: handler-b's store down; {} failed deliveries of {} events retried every 100 ms with no backoff, {} .. {}",
                self.storm_failed_deliveries, self.storm_events, w.first, w.last
            );
        }
        if let Some(w) = &self.burst_window {
            let _ = writeln!(
                s,
                "- publish burst (event storm on `orders`): {} orders replayed within one second, {} .. {}",
                self.burst_orders, w.first, w.last
            );
        }
        for (h, times) in &self.cold_starts {
            let _ = writeln!(
                s,
                "- cold starts of {h}: {} at {}",
                times.len(),
                times.join(", ")
            );
        }
        if let Some((id, attempts, reason)) = &self.poison {
            let _ = writeln!(
                s,
                "- poison message {id}: failed {attempts} attempts at handler-a (\"{reason}\"), then dead-lettered to `{DEAD_LETTER}`"
            );
        }
        if let Some(t) = &self.schema_v2_first {
            let _ = writeln!(
                s,
                "- schema change: {} v1 events ({SCHEMA_V1}), then from {t} {} v2 events ({SCHEMA_V2}): `total` retyped number -> string, `currency` removed (breaking)",
                self.schema_v1_events, self.schema_v2_events
            );
        }
        s
    }
}
