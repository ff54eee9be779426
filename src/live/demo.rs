//! The built-in demo source: the reference scenario (a producer publishes `OrderPlaced` on
//! an event bus, two FaaS handlers consume it and write a read model) generated in real time
//! on a thread, so a newcomer sees events flow at once. [`DemoScenario`] is also the record
//! generator used by the UI benchmark and the tests.

use super::{LiveBatch, LiveFeed, channel};
use crate::time::{NANOS_PER_MS, NANOS_PER_SEC, Nanos, format_rfc3339};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, as nanoseconds since the epoch.
pub fn now_nanos() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as Nanos)
}

/// A deterministic generator of capture lines for the reference scenario.
pub struct DemoScenario {
    rng: u64,
    next_order: u64,
    next_start: Nanos,
    orders_left: u64,
    per_sec: f64,
    seq: u64,
    pending: BinaryHeap<Reverse<(Nanos, u64, String)>>,
}

const PRODUCER: &str = "order-service";
const BUS: &str = "event-bus";
const HANDLERS: [&str; 2] = ["handler-a", "handler-b"];
const READ_MODEL: &str = "read-model";
const DLQ: &str = "event-bus.dlq";

impl DemoScenario {
    /// `orders` orders (`u64::MAX` for endless) at `per_sec`, starting at `start`.
    pub fn new(seed: u64, start: Nanos, orders: u64, per_sec: f64) -> DemoScenario {
        DemoScenario {
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            next_order: 1,
            next_start: start,
            orders_left: orders,
            per_sec: per_sec.max(0.001),
            seq: 0,
            pending: BinaryHeap::new(),
        }
    }

    fn rand(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn ms(&mut self, lo: f64, hi: f64) -> Nanos {
        ((lo + (hi - lo) * self.rand()) * NANOS_PER_MS as f64) as Nanos
    }

    fn push(&mut self, time: Nanos, line: String) {
        self.seq += 1;
        self.pending.push(Reverse((time, self.seq, line)));
    }

    fn gen_order(&mut self) {
        let k = self.next_order;
        self.next_order += 1;
        self.orders_left = self.orders_left.saturating_sub(1);
        let t0 = self.next_start;
        let gap = NANOS_PER_SEC as f64 / self.per_sec;
        self.next_start += (gap * (0.5 + self.rand())) as Nanos;
        let trace = format!("{:016x}{:016x}", self.rng, k.wrapping_mul(0x9E37_79B9));
        let id = format!("ord-{k}");
        let amount = (self.rand() * 50_000.0).round() / 100.0;
        let base = format!(
            r#""specversion":"1.0","id":"{id}","source":"{PRODUCER}","type":"OrderPlaced","time":"{}","datacontenttype":"application/json","traceparent":"00-{trace}-{:016x}-01","partitionkey":"customer-{}""#,
            format_rfc3339(t0),
            k,
            k % 17
        );
        let data = format!(r#""data":{{"orderId":{k},"amount":{amount},"currency":"EUR"}}"#);
        let publish = format!(
            r#"{{{base},"recordedtime":"{}","lensstage":"publish","lenschannel":"{BUS}",{data}}}"#,
            format_rfc3339(t0)
        );
        self.push(t0, publish.clone());
        // A rare duplicate publish (at-least-once producers retry).
        if self.rand() < 0.01 {
            let t = t0 + self.ms(5.0, 30.0);
            self.push(t, publish.replace(&format_rfc3339(t0), &format_rfc3339(t)));
        }
        for h in HANDLERS {
            let mut t = t0 + self.ms(2.0, 14.0);
            if self.rand() < 0.03 {
                t += self.ms(60.0, 180.0);
            }
            for attempt in 1..=3u16 {
                self.push(
                    t,
                    format!(
                        r#"{{{base},"recordedtime":"{}","lensstage":"deliver","lenschannel":"{BUS}","lenshandler":"{h}","lensattempt":{attempt}}}"#,
                        format_rfc3339(t)
                    ),
                );
                let cold = self.rand() < 0.02;
                let mut dur = self.ms(4.0, 35.0);
                if cold {
                    dur += self.ms(250.0, 450.0);
                }
                let fails = self.rand() < if h == "handler-b" { 0.06 } else { 0.015 };
                let outcome = if fails { "error" } else { "ok" };
                let reason = if fails {
                    r#","lensreason":"read model conflict""#
                } else {
                    ""
                };
                self.push(
                    t,
                    format!(
                        r#"{{{base},"recordedtime":"{}","lensstage":"handle","lenschannel":"{BUS}","lenshandler":"{h}","lensattempt":{attempt},"lensoutcome":"{outcome}","lensdurationus":{},"lenscoldstart":{cold}{reason}}}"#,
                        format_rfc3339(t),
                        dur / 1000
                    ),
                );
                if !fails {
                    let ts = t + dur - self.ms(1.0, 3.0).min(dur);
                    let w = self.ms(0.5, 3.0);
                    self.push(
                        ts,
                        format!(
                            r#"{{{base},"recordedtime":"{}","lensstage":"store","lenshandler":"{h}","lensstore":"{READ_MODEL}","lensoutcome":"ok","lensdurationus":{}}}"#,
                            format_rfc3339(ts),
                            w / 1000
                        ),
                    );
                    break;
                }
                t += dur + self.ms(100.0, 200.0) * i64::from(attempt);
                if attempt == 3 {
                    self.push(
                        t,
                        format!(
                            r#"{{{base},"recordedtime":"{}","lensstage":"deadletter","lenschannel":"{BUS}","lensdeadletter":"{DLQ}","lenshandler":"{h}","lensreason":"retries exhausted"}}"#,
                            format_rfc3339(t)
                        ),
                    );
                }
            }
        }
    }

    /// Every record with time <= `t`, in time order.
    pub fn until(&mut self, t: Nanos) -> Vec<String> {
        while self.orders_left > 0 && self.next_start <= t {
            self.gen_order();
        }
        let mut out = Vec::new();
        while let Some(Reverse((time, _, _))) = self.pending.peek() {
            if *time > t {
                break;
            }
            if let Some(Reverse((_, _, line))) = self.pending.pop() {
                out.push(line);
            }
        }
        out
    }

    /// All records of a finite run.
    pub fn all(mut self) -> Vec<String> {
        self.until(Nanos::MAX)
    }
}

/// Starts the demo: records produced in real time, sent every `tick`.
pub fn spawn_demo() -> LiveFeed {
    let (tx, feed) = channel("demo", super::DEFAULT_CAPACITY);
    let start = now_nanos();
    let mut scenario = DemoScenario::new(start as u64, start, u64::MAX, 12.0);
    let spawned = std::thread::Builder::new()
        .name("eventlens-demo".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let lines = scenario.until(now_nanos());
                if lines.is_empty() {
                    if tx.is_stopped() {
                        break;
                    }
                    continue;
                }
                if !tx.send(LiveBatch { lines }) {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the demo thread: {e}");
    }
    feed
}
