//! The live worker: one plain thread that owns the live store. It receives a source's
//! batches (the demo's, the brokers'), appends them with [`LiveInput`], finalizes the
//! store, runs `analyze`'s analysis on it and publishes an immutable [`Snapshot`] (a copy
//! of the store and its findings) that the UI swaps in at the start of a frame. The UI
//! thread never parses, finalizes or analyses live data.
//!
//! Publishing copies the store, so it is throttled: at most every [`PUBLISH_EVERY`], and
//! never more often than ten times the cost of the last finalize + analysis + copy, so a
//! long session spends at most about a tenth of the worker on them. The first batch is
//! published at once, so the window shows data immediately.

use super::{LiveBatch, LiveInput, LiveReceiver, Received, Waker};
use crate::analysis::{AnalysisConfig, Finding};
use crate::model::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Snapshots are published at most this often.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// How long the worker waits for a batch when it has nothing to publish (it checks
/// whether it was stopped in between).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Time spent appending waiting batches before looking at the publishing clock again.
const APPEND_SLICE: Duration = Duration::from_millis(50);

/// The live data as of one publish: immutable, shared with the UI.
#[derive(Clone)]
pub struct Snapshot {
    /// A finalized copy of the worker's store.
    pub store: Arc<Store>,
    /// `analyze`'s findings on it, in its order.
    pub findings: Arc<Vec<Finding>>,
    pub stats: WorkerStats,
}

/// Counters of the worker as of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerStats {
    /// Snapshots published so far, this one included (1 for the first).
    pub generation: u64,
    /// Records (lines) appended so far.
    pub records: u64,
    /// Batches received so far.
    pub batches: u64,
    /// Times the worker finalized its store.
    pub finalizes: u64,
    /// What this snapshot cost: finalize, analysis and the copy of the store.
    pub cost: Duration,
    /// The thread that built it (the worker's, never the UI's).
    pub built_on: ThreadId,
}

#[derive(Default)]
struct Slot {
    /// The latest snapshot not yet taken: a newer one replaces it (latest wins).
    latest: Mutex<Option<Snapshot>>,
    published: Condvar,
    stop: AtomicBool,
    /// The worker thread has returned.
    done: AtomicBool,
    /// Stores the UI no longer shows, freed on the worker's thread: freeing a large store
    /// takes time the UI thread does not have.
    retired: Mutex<Vec<Arc<Store>>>,
}

impl Slot {
    fn publish(&self, snap: Snapshot) {
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(snap);
        }
        self.published.notify_all();
    }

    /// Marks the worker done. Under the lock, so that a waiter that just found it running
    /// is already waiting when told.
    fn finish(&self) {
        let guard = self.latest.lock();
        self.done.store(true, Ordering::Relaxed);
        drop(guard);
        self.published.notify_all();
    }
}

/// The UI's handle on the worker. Dropping it stops the worker (after what it is doing).
pub struct LiveWorker {
    slot: Arc<Slot>,
}

impl LiveWorker {
    /// Starts the worker on `store` (which holds `input`), analysing with `config`;
    /// `waker` is called after each publish.
    pub fn spawn(
        rx: LiveReceiver,
        store: Store,
        input: LiveInput,
        config: AnalysisConfig,
        waker: Option<Waker>,
    ) -> std::io::Result<LiveWorker> {
        let slot = Arc::new(Slot::default());
        let s = slot.clone();
        std::thread::Builder::new()
            .name("eventlens-live".into())
            .spawn(move || {
                let mut w = Worker {
                    rx,
                    store,
                    input,
                    config,
                    waker,
                    slot: s.clone(),
                    stats: WorkerStats {
                        generation: 0,
                        records: 0,
                        batches: 0,
                        finalizes: 0,
                        cost: Duration::ZERO,
                        built_on: std::thread::current().id(),
                    },
                };
                w.run();
                s.finish();
                w.wake();
            })?;
        Ok(LiveWorker { slot })
    }

    /// A worker on a new store holding one live input named `name`, fed by `feed`, with the
    /// default thresholds and no waker (tests and tools).
    pub fn on_feed(feed: &super::LiveFeed, name: &str) -> std::io::Result<LiveWorker> {
        let mut store = Store::new();
        let input = LiveInput::new(&mut store, name);
        LiveWorker::spawn(
            feed.receiver(),
            store,
            input,
            AnalysisConfig::default(),
            None,
        )
    }

    /// The latest snapshot published since the last call, if any.
    pub fn take_snapshot(&self) -> Option<Snapshot> {
        self.slot.latest.lock().ok().and_then(|mut l| l.take())
    }

    /// Blocks until a snapshot is published (or was, and is not taken yet), the worker
    /// ends, or `timeout` passes (tests).
    pub fn wait_snapshot(&self, timeout: Duration) -> Option<Snapshot> {
        let deadline = Instant::now() + timeout;
        let mut l = self.slot.latest.lock().ok()?;
        loop {
            if let Some(s) = l.take() {
                return Some(s);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if self.is_finished() {
                return None;
            }
            l = self.slot.published.wait_timeout(l, left).ok()?.0;
        }
    }

    /// Hands a store the UI no longer shows to the worker, which frees it (unless another
    /// thread still holds it) instead of the UI thread.
    pub fn retire(&self, store: Arc<Store>) {
        if self.is_finished() {
            return;
        }
        if let Ok(mut r) = self.slot.retired.lock() {
            r.push(store);
        }
    }

    /// Whether the worker thread has ended (its source ended or it was stopped).
    pub fn is_finished(&self) -> bool {
        self.slot.done.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.slot.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for LiveWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    rx: LiveReceiver,
    store: Store,
    input: LiveInput,
    config: AnalysisConfig,
    waker: Option<Waker>,
    slot: Arc<Slot>,
    stats: WorkerStats,
}

impl Worker {
    fn wake(&self) {
        if let Some(w) = &self.waker {
            w();
        }
    }

    fn stopped(&self) -> bool {
        self.slot.stop.load(Ordering::Relaxed) || self.rx.is_stopped()
    }

    fn append(&mut self, batch: &LiveBatch) {
        self.input.add(&mut self.store, &batch.lines);
        if let Some(input) = self.store.inputs.get_mut(self.input.input as usize) {
            for n in &batch.notes {
                input.note(0, n.clone());
            }
        }
        self.stats.records += batch.lines.len() as u64;
        self.stats.batches += 1;
    }

    fn run(&mut self) {
        let mut dirty = false;
        let mut last_publish = Instant::now();
        let mut every = PUBLISH_EVERY;
        let mut dropped = self.rx.dropped();
        loop {
            if self.stopped() {
                return;
            }
            let retired = self
                .slot
                .retired
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default();
            drop(retired);
            let wait = if dirty {
                every.saturating_sub(last_publish.elapsed())
            } else {
                IDLE_WAIT
            };
            let mut ended = false;
            match self.rx.recv_timeout(wait) {
                Received::Batch(b) => {
                    self.append(&b);
                    dirty = true;
                    // Take what else is waiting, within a slice of time so that a publish
                    // that is due is not held back by a flood.
                    let t0 = Instant::now();
                    while t0.elapsed() < APPEND_SLICE {
                        let Some(b) = self.rx.try_recv() else { break };
                        self.append(&b);
                    }
                }
                Received::Nothing => {}
                Received::Ended => ended = true,
            }
            let first = self.stats.generation == 0;
            if dirty && (first || ended || last_publish.elapsed() >= every) {
                if self.stopped() {
                    return;
                }
                let cost = self.publish();
                // Ten times the cost of a publish, so copies never take more than about a
                // tenth of the worker.
                every = PUBLISH_EVERY.max(cost.saturating_mul(10));
                last_publish = Instant::now();
                dirty = false;
                dropped = self.rx.dropped();
                self.wake();
            } else if self.rx.dropped() != dropped {
                // The counter the status bar shows moved.
                dropped = self.rx.dropped();
                self.wake();
            }
            if ended {
                return;
            }
        }
    }

    /// Finalizes, analyses, copies and publishes; returns what it cost.
    fn publish(&mut self) -> Duration {
        let t0 = Instant::now();
        self.store.finalize();
        self.stats.finalizes += 1;
        // One truth: the same engine function as `analyze` and the file loader.
        let findings = crate::analysis::analyze(&self.store, &self.config);
        let store = Arc::new(self.store.clone());
        let cost = t0.elapsed();
        self.stats.generation += 1;
        self.stats.cost = cost;
        self.slot.publish(Snapshot {
            store,
            findings: Arc::new(findings),
            stats: self.stats,
        });
        cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::channel;

    fn event(i: usize) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"e-{i}","source":"/test/producer","type":"OrderPlaced","time":"2026-01-01T00:00:{:02}Z","data":{{"n":{i}}}}}"#,
            i % 60
        )
    }

    #[test]
    fn the_first_batch_is_published_at_once_and_the_worker_ends_with_its_source() {
        let (tx, feed) = channel("test", 8);
        let worker = LiveWorker::on_feed(&feed, "test").expect("spawn");
        assert!(tx.send(LiveBatch {
            lines: (0..5).map(event).collect(),
            ..Default::default()
        }));
        let snap = worker
            .wait_snapshot(Duration::from_secs(10))
            .expect("a snapshot");
        assert_eq!(snap.stats.generation, 1);
        assert_eq!(snap.stats.records, 5);
        assert_eq!(snap.store.events.len(), 5);
        assert_ne!(snap.stats.built_on, std::thread::current().id());
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !worker.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(worker.is_finished());
        assert!(!feed.is_connected());
    }

    #[test]
    fn a_retired_store_is_freed_by_the_worker() {
        let (tx, feed) = channel("test", 8);
        let worker = LiveWorker::on_feed(&feed, "test").expect("spawn");
        let shown = Arc::new(Store::new());
        let weak = Arc::downgrade(&shown);
        worker.retire(shown);
        assert!(tx.send(LiveBatch {
            lines: vec![event(1)],
            ..Default::default()
        }));
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.upgrade().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn dropping_the_feed_stops_the_worker() {
        let (_tx, feed) = channel("test", 8);
        let worker = LiveWorker::on_feed(&feed, "test").expect("spawn");
        drop(feed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !worker.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(worker.is_finished());
    }
}
