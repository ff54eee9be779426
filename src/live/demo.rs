//! The built-in demo source: the simulator of the reference scenario (`crate::sim`) run in
//! real time on a thread, its records sent as batches, so a newcomer sees events flow at
//! once.

use super::{LiveBatch, LiveFeed, channel};
use crate::sim::{SimConfig, Simulator};
use crate::time::Nanos;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the demo thread sends what happened since the last batch.
const TICK: Duration = Duration::from_millis(50);

/// Now, as nanoseconds since the epoch.
pub fn now_nanos() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as Nanos)
}

/// Starts the demo: `SimConfig::live_demo` from now, in real time.
pub fn spawn_demo() -> LiveFeed {
    let (tx, feed) = channel("demo", super::DEFAULT_CAPACITY);
    let start = now_nanos();
    let spawned = std::thread::Builder::new()
        .name("eventlens-demo".into())
        .spawn(move || {
            // The simulator is not Send: it lives on this thread only.
            let mut sim = Simulator::new(SimConfig::live_demo(start));
            loop {
                std::thread::sleep(TICK);
                if tx.is_stopped() {
                    break;
                }
                let lines: Vec<String> =
                    sim.until(now_nanos()).into_iter().map(|r| r.line).collect();
                if !lines.is_empty()
                    && !tx.send(LiveBatch {
                        lines,
                        ..Default::default()
                    })
                {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the demo thread: {e}");
    }
    feed
}
