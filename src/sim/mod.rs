//! A deterministic simulator of the reference scenario:
//!
//! ```text
//! producer-service --OrderPlaced--> orders --> handler-a --> read-model
//!                                          \-> handler-b --> read-model
//! ```
//!
//! It drives the built-in live demo, writes the sample traces (the same run as an eventlens
//! capture, OTLP JSON and Jaeger JSON) with their ground truth, and generates large files
//! for benchmarks. Defects are injected at known places so tests can check that analysis
//! finds them. Same seed, same run, byte for byte.

mod rng;
pub mod samples;
pub mod truth;
pub mod write;

use crate::model::{Outcome, Stage};
use crate::time::{NANOS_PER_MS, NANOS_PER_SEC, Nanos};
use rng::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

pub const PRODUCER: &str = "producer-service";
pub const CHANNEL: &str = "orders";
pub const HANDLERS: [&str; 2] = ["handler-a", "handler-b"];
pub const STORE: &str = "read-model";
pub const DEAD_LETTER: &str = "orders.dlq";
pub const EVENT_TYPE: &str = "com.example.shop.OrderPlaced";
pub const SCHEMA_V1: &str = "https://schemas.example.com/shop/order-placed/v1.json";
pub const SCHEMA_V2: &str = "https://schemas.example.com/shop/order-placed/v2.json";

/// Which defects to inject. Positions are fractions of the run (of each cycle of
/// `orders` when the run is endless), so a defect lands in the same place for any length.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize)]
pub struct Defects {
    /// Orders the producer publishes twice (same source + id) after an ack timeout; the
    /// broker delivers the copy to both handlers again.
    pub duplicate_publishes: u32,
    /// Orders the broker delivers twice to handler-a (redelivery after a lost ack); both
    /// deliveries are processed successfully.
    pub duplicate_deliveries: u32,
    /// handler-b's store is down for 2 s; every delivery in that window fails and is
    /// retried every 100 ms with no backoff.
    pub retry_storm: bool,
    /// The producer replays 200 orders within one second (an event storm on `orders`).
    pub publish_burst: bool,
    /// A 6 s lull after which both handlers start cold (plus the first invocation of each).
    pub cold_starts: bool,
    /// One order with `total: null` fails 3 attempts at handler-a and is dead-lettered.
    pub poison_message: bool,
    /// From 60% of the run on, OrderPlaced v2: `total` becomes a string and `currency` is
    /// removed (a breaking change).
    pub schema_change: bool,
}

impl Defects {
    pub fn none() -> Self {
        Defects {
            duplicate_publishes: 0,
            duplicate_deliveries: 0,
            retry_storm: false,
            publish_burst: false,
            cold_starts: false,
            poison_message: false,
            schema_change: false,
        }
    }

    pub fn all() -> Self {
        Defects {
            duplicate_publishes: 2,
            duplicate_deliveries: 3,
            retry_storm: true,
            publish_burst: true,
            cold_starts: true,
            poison_message: true,
            schema_change: true,
        }
    }

    /// Each defect on its own, by name (for the per-defect sample runs).
    pub fn each() -> Vec<(&'static str, Defects)> {
        let n = Defects::none;
        vec![
            (
                "duplicate-publish",
                Defects {
                    duplicate_publishes: 2,
                    ..n()
                },
            ),
            (
                "duplicate-delivery",
                Defects {
                    duplicate_deliveries: 3,
                    ..n()
                },
            ),
            (
                "retry-storm",
                Defects {
                    retry_storm: true,
                    ..n()
                },
            ),
            (
                "publish-burst",
                Defects {
                    publish_burst: true,
                    ..n()
                },
            ),
            (
                "cold-starts",
                Defects {
                    cold_starts: true,
                    ..n()
                },
            ),
            (
                "poison-message",
                Defects {
                    poison_message: true,
                    ..n()
                },
            ),
            (
                "schema-change",
                Defects {
                    schema_change: true,
                    ..n()
                },
            ),
        ]
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SimConfig {
    pub seed: u64,
    /// Orders to publish (not counting burst orders); `usize::MAX` runs forever, repeating
    /// the defect pattern every `cycle` orders.
    pub orders: usize,
    /// Length of one defect cycle in orders.
    pub cycle: usize,
    /// Time of the first order.
    pub start: Nanos,
    pub orders_per_sec: f64,
    pub defects: Defects,
}

impl SimConfig {
    /// The run behind `sample-traces/`.
    pub fn reference() -> SimConfig {
        SimConfig {
            seed: 42,
            orders: 600,
            cycle: 600,
            // 2026-03-02T09:00:00Z
            start: 1_772_442_000 * NANOS_PER_SEC,
            orders_per_sec: 20.0,
            defects: Defects::all(),
        }
    }

    /// The same run with no defects.
    pub fn clean() -> SimConfig {
        SimConfig {
            defects: Defects::none(),
            ..SimConfig::reference()
        }
    }

    /// The endless real-time run of the GUI's built-in demo.
    pub fn live_demo(start: Nanos) -> SimConfig {
        SimConfig {
            seed: 7,
            orders: usize::MAX,
            cycle: 600,
            start,
            orders_per_sec: 8.0,
            defects: Defects::all(),
        }
    }
}

/// One order's event.
#[derive(Debug)]
pub struct SimEvent {
    pub index: u64,
    pub id: String,
    pub time: Nanos,
    pub schema_v2: bool,
    pub poison: bool,
    pub trace_id: String,
    /// The `data` JSON.
    pub data: String,
}

/// One observation, in the simulator's terms; the writers render it as a capture line or
/// as a span.
#[derive(Clone, Debug)]
pub struct SimObservation {
    pub time: Nanos,
    pub stage: Stage,
    /// Index into the handler list for deliver/handle/store/dead-letter.
    pub handler: Option<usize>,
    pub attempt: u16,
    pub outcome: Outcome,
    /// Processing time (handle), write time (store), publish call time (publish).
    pub duration: Nanos,
    pub cold_start: bool,
    pub reason: Option<&'static str>,
    /// Span of this observation (deliver and handle of one attempt share the consumer span).
    pub span_id: u64,
    pub parent_span: Option<u64>,
}

/// A capture line with its time.
#[derive(Clone, Debug)]
pub struct SimRecord {
    pub time: Nanos,
    pub line: String,
}

struct Pending {
    obs: SimObservation,
    event: Rc<SimEvent>,
}

/// Generates the run in time order, lazily, so an endless run works in constant memory.
pub struct Simulator {
    cfg: SimConfig,
    rng: Rng,
    next_order: u64,
    burst_emitted: u64,
    next_arrival: Nanos,
    heap: BinaryHeap<Reverse<(Nanos, u64)>>,
    pending: rustc_hash::FxHashMap<u64, Pending>,
    seq: u64,
    next_span: u64,
    last_invocation: [Nanos; 2],
    pub truth: truth::GroundTruth,
}

const LULL: Nanos = 6 * NANOS_PER_SEC;
const OUTAGE: Nanos = 2 * NANOS_PER_SEC;
const RETRY_INTERVAL: Nanos = 100 * NANOS_PER_MS;
const BURST_ORDERS: u64 = 200;

fn us(t: f64) -> Nanos {
    // Round every time to the microsecond so Jaeger and Zipkin (µs) agree with the capture.
    ((t / 1000.0).round() as Nanos) * 1000
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Simulator {
        let rng = Rng::new(cfg.seed);
        let start = cfg.start;
        Simulator {
            truth: truth::GroundTruth::new(&cfg),
            cfg,
            rng,
            next_order: 0,
            burst_emitted: 0,
            next_arrival: start,
            heap: BinaryHeap::new(),
            pending: Default::default(),
            seq: 0,
            next_span: 1,
            last_invocation: [Nanos::MIN; 2],
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    fn span(&mut self) -> u64 {
        self.next_span += 1;
        self.next_span ^ (self.cfg.seed << 40)
    }

    fn push(&mut self, event: &Rc<SimEvent>, obs: SimObservation) {
        self.seq += 1;
        self.truth.observe(event, &obs);
        self.heap.push(Reverse((obs.time, self.seq)));
        self.pending.insert(
            self.seq,
            Pending {
                obs,
                event: event.clone(),
            },
        );
    }

    fn cycle_position(&self, order: u64) -> (u64, f64) {
        let cycle = self.cfg.cycle.max(1) as u64;
        let i = order % cycle;
        (i, i as f64 / cycle as f64)
    }

    fn finished(&self) -> bool {
        self.cfg.orders != usize::MAX && self.next_order >= self.cfg.orders as u64
    }

    fn burst_total(&self) -> u64 {
        if self.cfg.defects.publish_burst {
            BURST_ORDERS
        } else {
            0
        }
    }

    /// Generates the next order (or burst order) and schedules all its observations.
    fn generate_order(&mut self) {
        let d = self.cfg.defects.clone();
        let cycle = self.cfg.cycle.max(1) as u64;
        let (pos, frac) = self.cycle_position(self.next_order);
        let t0 = self.next_arrival;
        // A burst replays BURST_ORDERS orders within one second at 30% of each cycle.
        let in_burst = d.publish_burst
            && pos == (cycle * 3 / 10)
            && self.burst_emitted < self.burst_total() * (self.next_order / cycle + 1);
        let index;
        if in_burst {
            index = self.next_order * 1000 + self.burst_emitted;
            self.burst_emitted += 1;
            self.next_arrival = t0 + us(1e9 / BURST_ORDERS as f64);
            if self.burst_emitted == 1 {
                self.truth.burst_started(t0);
            }
            if self.burst_emitted.is_multiple_of(BURST_ORDERS) {
                self.truth.burst_ended(t0);
            }
        } else {
            index = self.next_order * 1000 + 999;
            self.next_order += 1;
            let mut gap = self.rng.exp(1e9 / self.cfg.orders_per_sec);
            if d.cold_starts && pos == cycle / 2 {
                gap += LULL as f64;
            }
            self.next_arrival = t0 + us(gap.max(1000.0));
        }
        let schema_v2 = d.schema_change && frac >= 0.6;
        let poison = d.poison_message && !in_burst && pos == cycle * 45 / 100;
        let id = if in_burst {
            format!(
                "ord-{:06}-r{:03}",
                self.next_order,
                self.burst_emitted % BURST_ORDERS
            )
        } else {
            format!("ord-{:06}", self.next_order)
        };
        let customer = self.rng.below(5000);
        let items = 1 + self.rng.below(4);
        let total_cents = 500 + self.rng.below(20_000);
        let data = if poison {
            format!(
                r#"{{"orderId":"{id}","customerId":"c-{customer:04}","total":null,"currency":"EUR","items":{items}}}"#
            )
        } else if schema_v2 {
            format!(
                r#"{{"orderId":"{id}","customerId":"c-{customer:04}","total":"{}.{:02}","items":{items}}}"#,
                total_cents / 100,
                total_cents % 100
            )
        } else {
            format!(
                r#"{{"orderId":"{id}","customerId":"c-{customer:04}","total":{}.{:02},"currency":"EUR","items":{items}}}"#,
                total_cents / 100,
                total_cents % 100
            )
        };
        let event = Rc::new(SimEvent {
            index,
            id,
            time: t0,
            schema_v2,
            poison,
            trace_id: self.rng.hex(16),
            data,
        });
        self.truth.event(&event);

        // Publish (and a duplicate publish after an ack timeout).
        let dup_publish = !in_burst
            && d.duplicate_publishes > 0
            && (0..d.duplicate_publishes as u64).any(|k| pos == cycle / 5 + k * 37);
        let mut publishes = vec![t0];
        if dup_publish {
            publishes.push(t0 + us(500e6 + self.rng.f64() * 100e6));
        }
        let redeliver = !in_burst
            && d.duplicate_deliveries > 0
            && (0..d.duplicate_deliveries as u64).any(|k| pos == cycle / 4 + k * 41);
        for (p, &tp) in publishes.iter().enumerate() {
            let pub_span = self.span();
            let pub_dur = us(300e3 + self.rng.f64() * 700e3);
            self.push(
                &event,
                SimObservation {
                    time: tp,
                    stage: Stage::Publish,
                    handler: None,
                    attempt: 0,
                    outcome: Outcome::Ok,
                    duration: pub_dur,
                    cold_start: false,
                    reason: None,
                    span_id: pub_span,
                    parent_span: None,
                },
            );
            for h in 0..HANDLERS.len() {
                let mut deliveries = 1;
                if h == 0 && redeliver && p == 0 {
                    deliveries = 2;
                }
                for copy in 0..deliveries {
                    let base = if copy == 0 {
                        tp
                    } else {
                        tp + us(1.2e9 + self.rng.f64() * 0.3e9)
                    };
                    self.deliver(&event, h, base, pub_span, poison && h == 0);
                }
            }
        }
    }

    /// Delivers the event to handler `h` (with retries) starting from publish time `tp`.
    fn deliver(&mut self, event: &Rc<SimEvent>, h: usize, tp: Nanos, pub_span: u64, poison: bool) {
        let d = self.cfg.defects.clone();
        let median = if h == 0 { 12e6 } else { 25e6 };
        let mut t = tp + us(self.rng.lognormal(median, 0.45));
        let cycle_start = self.cycle_start_of(event);
        let cycle_len_guess = (self.cfg.cycle as f64 / self.cfg.orders_per_sec * 1e9) as Nanos;
        let outage = (
            cycle_start + cycle_len_guess * 7 / 10,
            cycle_start + cycle_len_guess * 7 / 10 + OUTAGE,
        );
        let mut attempt: u16 = 1;
        loop {
            let span = self.span();
            let idle = t.saturating_sub(self.last_invocation[h]);
            let cold = self.last_invocation[h] == Nanos::MIN
                || (d.cold_starts && idle > 3 * NANOS_PER_SEC);
            self.last_invocation[h] = t;
            let mut processing = us(self.rng.lognormal(if h == 0 { 8e6 } else { 15e6 }, 0.35));
            if cold {
                processing += us(300e6 + self.rng.f64() * 300e6);
            }
            let in_outage = h == 1 && d.retry_storm && t >= outage.0 && t < outage.1;
            let failed_poison = poison && attempt <= 3;
            let (outcome, reason) = if failed_poison {
                (
                    Outcome::Error,
                    Some("ValidationError: total must be a number"),
                )
            } else if in_outage {
                processing = us(2e6 + self.rng.f64() * 2e6);
                (
                    Outcome::Error,
                    Some("ConnectionRefused: read-model unavailable"),
                )
            } else {
                (Outcome::Ok, None)
            };
            let base = SimObservation {
                time: t,
                stage: Stage::Deliver,
                handler: Some(h),
                attempt,
                outcome: Outcome::Unknown,
                duration: 0,
                cold_start: false,
                reason: None,
                span_id: span,
                parent_span: Some(pub_span),
            };
            self.push(event, base.clone());
            self.push(
                event,
                SimObservation {
                    stage: Stage::Handle,
                    outcome,
                    duration: processing,
                    cold_start: cold,
                    reason,
                    ..base.clone()
                },
            );
            if in_outage {
                self.truth.storm_retry(t, attempt);
            }
            if outcome == Outcome::Ok {
                let write = us(1e6 + self.rng.f64() * 3e6);
                let span_w = self.span();
                self.push(
                    event,
                    SimObservation {
                        time: t + us((processing * 6 / 10) as f64),
                        stage: Stage::Store,
                        duration: write,
                        outcome: Outcome::Ok,
                        span_id: span_w,
                        parent_span: Some(span),
                        ..base
                    },
                );
                return;
            }
            if failed_poison && attempt == 3 {
                let span_d = self.span();
                self.push(
                    event,
                    SimObservation {
                        time: t + processing + us(1e6),
                        stage: Stage::DeadLetter,
                        duration: 0,
                        outcome: Outcome::Error,
                        reason,
                        span_id: span_d,
                        parent_span: Some(span),
                        ..base
                    },
                );
                return;
            }
            // Poison retries back off (100 ms, 400 ms); storm retries do not.
            t += if failed_poison {
                us(100e6 * 4f64.powi(attempt as i32 - 1))
            } else {
                RETRY_INTERVAL
            };
            attempt += 1;
            if attempt > 200 {
                return;
            }
        }
    }

    fn cycle_start_of(&self, event: &SimEvent) -> Nanos {
        // Defect windows are placed relative to the run start of the current cycle.
        let cycle = self.cfg.cycle.max(1) as u64;
        let k = (event.index / 1000) / cycle;
        self.cfg.start + (k as f64 * cycle as f64 / self.cfg.orders_per_sec * 1e9) as Nanos
    }

    /// The next observation in time order, with its event.
    pub fn next_observation(&mut self) -> Option<(SimObservation, Rc<SimEvent>)> {
        loop {
            let next_ready = self.heap.peek().map(|Reverse((t, _))| *t);
            match next_ready {
                Some(t) if self.finished() || t <= self.next_arrival => {
                    let Reverse((_, seq)) = self.heap.pop()?;
                    let p = self.pending.remove(&seq)?;
                    return Some((p.obs, p.event));
                }
                _ if self.finished() => return None,
                _ => self.generate_order(),
            }
        }
    }

    /// Every record with `time <= t`, in time order (for real-time playback).
    pub fn until(&mut self, t: Nanos) -> Vec<SimRecord> {
        let mut out = Vec::new();
        loop {
            while !self.finished()
                && self
                    .heap
                    .peek()
                    .is_none_or(|Reverse((h, _))| *h > self.next_arrival)
                && self.next_arrival <= t
            {
                self.generate_order();
            }
            match self.heap.peek() {
                Some(Reverse((h, _)))
                    if *h <= t && (*h <= self.next_arrival || self.finished()) =>
                {
                    if let Some((obs, ev)) = self.next_observation() {
                        out.push(SimRecord {
                            time: obs.time,
                            line: write::capture_line(&obs, &ev),
                        });
                    }
                }
                _ => return out,
            }
        }
    }

    /// Runs a finite configuration to the end, keeping every observation.
    pub fn run(mut self) -> SimRun {
        let mut observations = Vec::new();
        let mut events: Vec<Rc<SimEvent>> = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        while let Some((obs, ev)) = self.next_observation() {
            if seen.insert(ev.index) {
                events.push(ev.clone());
            }
            observations.push((obs, ev));
        }
        let truth = self.truth.finish();
        SimRun {
            config: self.cfg,
            events,
            observations,
            truth,
        }
    }
}

impl Iterator for Simulator {
    type Item = SimRecord;
    fn next(&mut self) -> Option<SimRecord> {
        let (obs, ev) = self.next_observation()?;
        Some(SimRecord {
            time: obs.time,
            line: write::capture_line(&obs, &ev),
        })
    }
}

/// A finished run: everything the writers need.
pub struct SimRun {
    pub config: SimConfig,
    pub events: Vec<Rc<SimEvent>>,
    pub observations: Vec<(SimObservation, Rc<SimEvent>)>,
    pub truth: truth::GroundTruth,
}
