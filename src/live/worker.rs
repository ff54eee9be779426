//! The live worker: one plain thread that owns the live store. It receives a source's
//! batches (the demo's, the brokers'), appends them with [`LiveInput`], finalizes the
//! store, runs `analyze`'s analysis on it and publishes an immutable [`Snapshot`] (a copy
//! of the store and its findings) that the UI swaps in at the start of a frame. The UI
//! thread never parses, finalizes or analyses live data.
//!
//! Publishing does not copy the store (a copy of 100k events took 80–160 ms, and grew with
//! the session). The worker keeps two stores, left-right: the one it publishes is handed
//! to the UI whole, and the one the UI gives back when it takes the next snapshot is
//! brought up to date by appending again the batches it missed, which it keeps in a log
//! until then. Only when no store came back (a test or a filter thread still holds it)
//! is the store copied. Publishing is throttled: at most every [`PUBLISH_EVERY`], and
//! never more often than ten times the cost of the last finalize + analysis + catch-up,
//! so a long session spends at most about a tenth of the worker on them. The first batch
//! is published at once, so the window shows data immediately.

use super::{LiveBatch, LiveInput, LiveReceiver, Received, Waker};
use crate::analysis::series::FlowViews;
use crate::analysis::{AnalysisConfig, Finding};
use crate::model::Store;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
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
    /// The timeline's series and the edges' rate indexes of all of it, built here so that
    /// the window only swaps them in.
    pub views: Arc<FlowViews>,
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
    /// What this snapshot cost: finalize, analysis, the views, and bringing the next store
    /// up to date.
    pub cost: Duration,
    /// What the parts of the last publish took: finalize, the analysis, the views, and
    /// bringing the next store up to date (or copying it).
    pub parts: PublishParts,
    /// Publishes that had to copy the store, because no published store had come back.
    pub copies: u64,
    /// Publishes that reused a store the UI gave back, brought up to date from the log.
    pub reuses: u64,
    /// Times retention folded the oldest events out of the store (`--max-events`), and
    /// the events folded so far.
    pub folds: u64,
    pub folded_events: u64,
    /// The longest publish that folded (finalize, fold, analysis, views, next store).
    pub fold_max: Duration,
    /// The thread that built it (the worker's, never the UI's).
    pub built_on: ThreadId,
}

/// How the worker gets its next live store after a publish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NextStore {
    /// Whichever costs less by the rates measured: bringing a store given back up to date,
    /// or a copy.
    #[default]
    Cheaper,
    /// A store given back whenever there is one (tests of the catch-up).
    Reuse,
}

/// What the parts of one publish took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishParts {
    pub finalize: Duration,
    pub analysis: Duration,
    pub views: Duration,
    /// Bringing the next live store up to date from the log, or copying it.
    pub next_store: Duration,
    /// Folding the oldest events out (retention), when this publish did.
    pub fold: Duration,
    /// Whether the finalize processed only what arrived (`false`: a full rebuild, e.g.
    /// for out-of-order times or causation links).
    pub incremental: bool,
}

#[derive(Default)]
struct Slot {
    /// The latest snapshot not yet taken: a newer one replaces it (latest wins).
    latest: Mutex<Option<Snapshot>>,
    published: Condvar,
    stop: AtomicBool,
    /// The worker thread has returned.
    done: AtomicBool,
    /// Records appended so far (published or not).
    appended: AtomicU64,
    /// Why the worker stopped, when it failed (a panic: a bug).
    failure: Mutex<Option<String>>,
    /// Stores the UI no longer shows, freed on the worker's thread: freeing a large store
    /// takes time the UI thread does not have.
    retired: Mutex<Vec<Arc<Store>>>,
    /// The capture the window records what it is shown into, while it records.
    recording: Mutex<Option<Recording>>,
}

/// The window recording its live source: every batch the worker takes from now on is
/// written, as received, to a capture file (`.zst`/`.gz` compressed by extension), its
/// spans to OTLP JSON Lines (the output itself if spans come first, else beside it: see
/// [`crate::source::capture::RecordWriter`]), flushed at least every [`RECORD_FLUSH`] so
/// that the files are readable while they grow.
struct Recording {
    writer: crate::source::capture::RecordWriter,
    status: RecordingStatus,
    flushed: Instant,
}

/// Where the window records to and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingStatus {
    pub path: std::path::PathBuf,
    /// Records (capture lines) written.
    pub records: u64,
    /// Spans written, as OTLP JSON Lines.
    pub spans: u64,
    /// Where the records go (beside the output, if spans came first).
    pub events_path: std::path::PathBuf,
    /// Where the spans go (the output itself, if spans came first).
    pub spans_path: std::path::PathBuf,
    /// Why writing stopped, if it failed (nothing more is written then).
    pub error: Option<String>,
}

const RECORD_FLUSH: Duration = Duration::from_millis(200);

impl RecordingStatus {
    /// What was written where: `N records to PATH`, `N spans to PATH (OTLP JSON Lines)`, or
    /// both.
    pub fn describe(&self) -> String {
        let records = format!(
            "{} records to {}",
            crate::export::scene::fmt_count(self.records),
            self.events_path.display()
        );
        let spans = format!(
            "{} spans to {} (OTLP JSON Lines)",
            crate::export::scene::fmt_count(self.spans),
            self.spans_path.display()
        );
        match (self.records, self.spans) {
            (_, 0) => records,
            (0, _) => spans,
            _ => format!("{records} and {spans}"),
        }
    }
}

impl Recording {
    fn write(&mut self, lines: &[String], spans: &[crate::ingest::spans::Span]) {
        if self.status.error.is_some() {
            return;
        }
        for l in lines {
            if let Err(e) = self.writer.write_line(l) {
                self.status.error = Some(format!(
                    "writing {}: {e}",
                    self.writer.events_path().display()
                ));
                return;
            }
            self.status.records += 1;
        }
        if let Err(e) = self.writer.write_spans(spans) {
            self.status.error = Some(format!(
                "writing {}: {e}",
                self.writer.spans_path().display()
            ));
            return;
        }
        self.status.spans += spans.len() as u64;
        if self.status.spans_path != self.writer.spans_path() {
            self.status.spans_path = self.writer.spans_path().to_path_buf();
            self.status.events_path = self.writer.events_path().to_path_buf();
        }
    }

    fn flush_if_due(&mut self) {
        if self.status.error.is_none() && self.flushed.elapsed() >= RECORD_FLUSH {
            if let Err(e) = self.writer.flush() {
                self.status.error = Some(format!("writing {}: {e}", self.status.path.display()));
            }
            self.flushed = Instant::now();
        }
    }

    fn finish(self) -> RecordingStatus {
        let mut status = self.status;
        if let Err(e) = self.writer.finish()
            && status.error.is_none()
        {
            status.error = Some(format!("writing {}: {e}", status.path.display()));
        }
        status
    }
}

impl Slot {
    /// Publishes `snap`; returns the snapshot it replaces, which nobody took.
    fn publish(&self, snap: Snapshot) -> Option<Snapshot> {
        let replaced = match self.latest.lock() {
            Ok(mut l) => l.replace(snap),
            Err(_) => None,
        };
        self.published.notify_all();
        replaced
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
    /// `max_events` is the retention budget: past it, the oldest events are folded into
    /// the figures (see [`crate::model::Folded`]).
    pub fn spawn(
        rx: LiveReceiver,
        store: Store,
        input: LiveInput,
        config: AnalysisConfig,
        max_events: Option<usize>,
        waker: Option<Waker>,
    ) -> std::io::Result<LiveWorker> {
        LiveWorker::start(
            rx,
            store,
            input,
            config,
            max_events,
            waker,
            NextStore::Cheaper,
        )
    }

    fn start(
        rx: LiveReceiver,
        store: Store,
        input: LiveInput,
        config: AnalysisConfig,
        max_events: Option<usize>,
        waker: Option<Waker>,
        next: NextStore,
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
                        parts: PublishParts::default(),
                        copies: 0,
                        reuses: 0,
                        folds: 0,
                        folded_events: 0,
                        fold_max: Duration::ZERO,
                        built_on: std::thread::current().id(),
                    },
                    log: ChangeLog::default(),
                    outstanding: VecDeque::new(),
                    spare: None,
                    cost: NextStoreCost::default(),
                    next,
                    max_events,
                };
                let waker = w.waker.clone();
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || w.run()));
                if let Err(payload) = run
                    && let Ok(mut f) = s.failure.lock()
                {
                    *f = Some(format!(
                        "the live worker stopped: {} (this is a bug in eventlens; please \
                         report it)",
                        super::panic_message(payload.as_ref())
                    ));
                }
                s.finish();
                if let Some(w) = waker {
                    w();
                }
            })?;
        Ok(LiveWorker { slot })
    }

    /// A worker on a new store holding one live input named `name`, fed by `feed`, with the
    /// default thresholds and no waker (tests and tools).
    pub fn on_feed(feed: &super::LiveFeed, name: &str) -> std::io::Result<LiveWorker> {
        LiveWorker::on_feed_with(feed, name, NextStore::Cheaper)
    }

    /// [`on_feed`](Self::on_feed), choosing how the next live store is made.
    pub fn on_feed_with(
        feed: &super::LiveFeed,
        name: &str,
        next: NextStore,
    ) -> std::io::Result<LiveWorker> {
        LiveWorker::on_feed_retaining(feed, name, next, None)
    }

    /// [`on_feed_with`](Self::on_feed_with), with a retention budget.
    pub fn on_feed_retaining(
        feed: &super::LiveFeed,
        name: &str,
        next: NextStore,
        max_events: Option<usize>,
    ) -> std::io::Result<LiveWorker> {
        let mut store = Store::new();
        let input = LiveInput::new(&mut store, name);
        LiveWorker::start(
            feed.receiver(),
            store,
            input,
            AnalysisConfig::default(),
            max_events,
            None,
            next,
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

    /// Hands a store the UI no longer shows back to the worker, which reuses it as its next
    /// live store, or frees it, instead of the UI thread (unless another thread still
    /// holds it).
    pub fn retire(&self, store: Arc<Store>) {
        if self.is_finished() {
            return;
        }
        if let Ok(mut r) = self.slot.retired.lock() {
            r.push(store);
        }
    }

    /// Records the worker has appended to its live store so far, published or not.
    pub fn records(&self) -> u64 {
        self.slot.appended.load(Ordering::Relaxed)
    }

    /// Why the worker stopped, if it failed.
    pub fn failure(&self) -> Option<String> {
        self.slot.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Records every batch the worker takes from now on into a capture at `path` (what
    /// `eventlens record` would write of the same source). Replaces a recording under way,
    /// which is finished first.
    pub fn start_recording(&self, path: &std::path::Path) -> std::io::Result<()> {
        use crate::source::capture::{Holds, RecordWriter};
        let writer = RecordWriter::create(path, Holds::FirstWritten)?;
        let new = Recording {
            status: RecordingStatus {
                path: path.to_path_buf(),
                records: 0,
                spans: 0,
                spans_path: writer.spans_path().to_path_buf(),
                events_path: path.to_path_buf(),
                error: None,
            },
            writer,
            flushed: Instant::now(),
        };
        let old = self
            .slot
            .recording
            .lock()
            .map_err(|_| std::io::Error::other("the recording lock is poisoned"))?
            .replace(new);
        if let Some(old) = old {
            old.finish();
        }
        Ok(())
    }

    /// Ends the recording (the file is complete when this returns): what it wrote.
    pub fn stop_recording(&self) -> Option<RecordingStatus> {
        let r = self.slot.recording.lock().ok()?.take()?;
        Some(r.finish())
    }

    /// The recording under way, if any.
    pub fn recording(&self) -> Option<RecordingStatus> {
        let r = self.slot.recording.lock().ok()?;
        r.as_ref().map(|r| r.status.clone())
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
        // A recording under way is completed (a compressed capture needs its end).
        self.stop_recording();
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
    /// What was appended and published since the oldest published store that may still
    /// come back, to bring it up to date.
    log: ChangeLog,
    /// Published stores that may come back, oldest first.
    outstanding: VecDeque<Outstanding>,
    /// A store that came back, with its input's state and the generation it shows.
    spare: Option<(u64, Store, LiveInput)>,
    /// What bringing a store up to date and copying one cost, as measured.
    cost: NextStoreCost,
    next: NextStore,
    /// The retention budget, in events.
    max_events: Option<usize>,
}

/// Nanoseconds per record appended again, and per observation copied.
struct NextStoreCost {
    replay_ns: f64,
    copy_ns: f64,
}

impl Default for NextStoreCost {
    fn default() -> Self {
        // Measured on the development machine; replaced by this machine's figures as soon
        // as each has been done once.
        NextStoreCost {
            replay_ns: 2500.0,
            copy_ns: 600.0,
        }
    }
}

fn ewma(old: f64, new: f64) -> f64 {
    if new.is_finite() {
        0.7 * old + 0.3 * new
    } else {
        old
    }
}

/// A published store that may come back: its generation and its input's state then.
struct Outstanding {
    generation: u64,
    store: Weak<Store>,
    input: LiveInput,
}

/// One change to the live store, in order.
enum Change {
    Batch(LiveBatch),
    /// The store was finalized and published as this generation.
    Published(u64),
}

/// The changes since generation `base` was published, and their size.
#[derive(Default)]
struct ChangeLog {
    base: u64,
    changes: VecDeque<Change>,
    records: usize,
}

/// The log is dropped (and the stores it would bring up to date are not reused) past
/// this many records: a store held that long is cheaper copied than caught up.
const LOG_RECORDS: usize = 2_000_000;

impl ChangeLog {
    fn push(&mut self, c: Change) {
        if let Change::Batch(b) = &c {
            self.records += b.records();
        }
        self.changes.push_back(c);
    }

    /// Forgets what came before generation `generation` was published.
    fn trim_to(&mut self, generation: u64) {
        while self.base < generation {
            match self.changes.pop_front() {
                Some(Change::Batch(b)) => self.records -= b.records(),
                Some(Change::Published(g)) => self.base = g,
                None => {
                    self.base = generation;
                    break;
                }
            }
        }
    }

    /// Records appended after generation `generation` was published, if the log holds
    /// them all.
    fn records_after(&self, generation: u64) -> Option<usize> {
        if generation < self.base {
            return None;
        }
        let mut seen = generation == self.base;
        let mut n = 0;
        for c in &self.changes {
            match c {
                Change::Published(g) if !seen => seen = *g == generation,
                Change::Batch(b) if seen => n += b.records(),
                _ => {}
            }
        }
        seen.then_some(n)
    }

    /// Brings a store that shows generation `generation` up to date: what was appended
    /// after it, finalized where the live store was.
    fn replay(&self, generation: u64, store: &mut Store, input: &mut LiveInput) -> bool {
        if generation < self.base {
            return false;
        }
        let mut seen = generation == self.base;
        for c in &self.changes {
            match c {
                Change::Published(g) if !seen => seen = *g == generation,
                _ if !seen => {}
                Change::Batch(b) => apply(store, input, b),
                Change::Published(_) => {
                    store.finalize();
                }
            }
        }
        seen
    }
}

/// Appends one batch: the only way anything reaches a live store, so that two stores fed
/// the same batches and finalized at the same points are the same.
fn apply(store: &mut Store, input: &mut LiveInput, batch: &LiveBatch) {
    input.add_batch(store, batch);
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

    fn append(&mut self, batch: LiveBatch) {
        if let Ok(mut r) = self.slot.recording.lock()
            && let Some(r) = r.as_mut()
        {
            // kcat lines are written as the capture lines of their messages; spans as OTLP
            // JSON Lines.
            let (lines, _) = batch.capture_lines("kcat");
            r.write(&lines, &batch.spans);
            r.flush_if_due();
        }
        apply(&mut self.store, &mut self.input, &batch);
        self.stats.records += batch.records() as u64;
        self.stats.batches += 1;
        self.slot
            .appended
            .store(self.stats.records, Ordering::Relaxed);
        self.log.push(Change::Batch(batch));
        if self.log.records > LOG_RECORDS {
            // Nothing came back for too long: those stores will be freed, not reused.
            self.outstanding.clear();
            self.spare = None;
            self.log = ChangeLog {
                base: self.stats.generation,
                ..Default::default()
            };
        }
    }

    /// Takes back the stores the UI no longer shows (and snapshots nobody took): the
    /// newest that nobody else holds becomes the spare; the rest are freed here.
    fn take_back(&mut self, returned: Vec<Arc<Store>>) {
        for arc in returned {
            let ptr = Arc::as_ptr(&arc);
            let Some(at) = self
                .outstanding
                .iter()
                .position(|o| o.store.as_ptr() == ptr)
            else {
                continue;
            };
            let Some(o) = self.outstanding.remove(at) else {
                continue;
            };
            // Another holder (a filter thread) frees it instead; it is not reused.
            let Ok(store) = Arc::try_unwrap(arc) else {
                continue;
            };
            if self.spare.as_ref().is_none_or(|(g, ..)| *g < o.generation) {
                self.spare = Some((o.generation, store, o.input));
            }
        }
        // Stores freed elsewhere will not come back.
        self.outstanding.retain(|o| o.store.strong_count() > 0);
        let oldest = self
            .outstanding
            .iter()
            .map(|o| o.generation)
            .chain(self.spare.as_ref().map(|(g, ..)| *g))
            .min()
            .unwrap_or(self.stats.generation);
        self.log.trim_to(oldest);
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
            self.take_back(retired);
            let wait = if dirty {
                every.saturating_sub(last_publish.elapsed())
            } else {
                IDLE_WAIT
            };
            let mut ended = false;
            match self.rx.recv_timeout(wait) {
                Received::Batch(b) => {
                    self.append(b);
                    dirty = true;
                    // Take what else is waiting, within a slice of time so that a publish
                    // that is due is not held back by a flood.
                    let t0 = Instant::now();
                    while t0.elapsed() < APPEND_SLICE {
                        let Some(b) = self.rx.try_recv() else { break };
                        self.append(b);
                    }
                }
                Received::Nothing => {}
                Received::Ended => ended = true,
            }
            if let Ok(mut r) = self.slot.recording.lock()
                && let Some(r) = r.as_mut()
            {
                r.flush_if_due();
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

    /// Folds the oldest events out of the (finalized) live store when it holds more than
    /// the retention budget, and finalizes it again; returns what that took (zero when
    /// within budget). The stores published before no longer match the live one: none is
    /// brought up to date, the next is a copy.
    fn fold(&mut self) -> Duration {
        let t0 = Instant::now();
        let Some(plan) = self.max_events.and_then(|m| self.store.plan_fold(m)) else {
            return Duration::ZERO;
        };
        let gone = self.store.subset(&plan.folded_obs);
        // The folded events' findings are kept with the folded figures: about single
        // events, the detectors' on the folded part alone; about patterns across events,
        // those of the whole store before the fold that began in the folded part.
        let (in_gone, in_whole) = rayon::join(
            || crate::analysis::detect(&gone, &self.config),
            || crate::analysis::detect(&self.store, &self.config),
        );
        let cut = gone.last_time().unwrap_or(i64::MIN);
        let findings = crate::model::fold_findings(in_gone, in_whole, cut);
        self.store.fold(&plan, &gone, findings);
        drop(gone);
        self.store.finalize();
        self.stats.folds += 1;
        self.stats.folded_events += plan.events as u64;
        self.outstanding.clear();
        self.spare = None;
        self.log = ChangeLog {
            base: self.stats.generation,
            ..Default::default()
        };
        t0.elapsed().max(Duration::from_nanos(1))
    }

    /// Finalizes, analyses and publishes the live store, and goes on with another one
    /// that shows the same: a store that came back, brought up to date, or else a copy.
    /// Returns what it cost.
    fn publish(&mut self) -> Duration {
        let t0 = Instant::now();
        let mut incremental = self.store.finalize();
        self.stats.finalizes += 1;
        let fold = self.fold();
        if !fold.is_zero() {
            incremental = false;
        }
        let t1 = Instant::now();
        // One truth: the same engine function as `analyze` and the file loader.
        let findings = crate::analysis::analyze(&self.store, &self.config);
        let t2 = Instant::now();
        let views = FlowViews::build(&self.store, None);
        let t3 = Instant::now();
        let generation = self.stats.generation + 1;
        self.log.push(Change::Published(generation));
        // Bringing a store given back up to date costs what arrived since it was
        // published; a copy costs the whole store. Whichever is cheaper by the rates
        // measured so far (early in a session, while the store is small, a copy).
        let size = self.store.observations.len().max(1) as f64;
        let spare = self.spare.take().filter(|(g, ..)| {
            self.log.records_after(*g).is_some_and(|n| {
                self.next == NextStore::Reuse
                    || (n as f64 * self.cost.replay_ns) < size * self.cost.copy_ns
            })
        });
        let t4 = Instant::now();
        let next = spare.and_then(|(g, mut store, mut input)| {
            let n = self.log.records_after(g).unwrap_or(0);
            self.log
                .replay(g, &mut store, &mut input)
                .then_some((store, input, n))
        });
        let (next, next_input) = match next {
            Some((store, input, n)) => {
                self.stats.reuses += 1;
                self.cost.replay_ns = ewma(
                    self.cost.replay_ns,
                    t4.elapsed().as_nanos() as f64 / n.max(1) as f64,
                );
                (store, input)
            }
            None => {
                self.stats.copies += 1;
                let copy = (self.store.clone(), self.input.clone());
                self.cost.copy_ns = ewma(self.cost.copy_ns, t4.elapsed().as_nanos() as f64 / size);
                copy
            }
        };
        let shown = Arc::new(std::mem::replace(&mut self.store, next));
        let input = std::mem::replace(&mut self.input, next_input);
        self.outstanding.push_back(Outstanding {
            generation,
            store: Arc::downgrade(&shown),
            input,
        });
        let oldest = self
            .outstanding
            .front()
            .map_or(generation, |o| o.generation);
        self.log.trim_to(oldest);
        let cost = t0.elapsed();
        self.stats.parts = PublishParts {
            finalize: t1 - t0,
            analysis: t2 - t1,
            views: t3 - t2,
            next_store: t3.elapsed(),
            fold,
            incremental,
        };
        self.stats.generation = generation;
        self.stats.cost = cost;
        if !fold.is_zero() {
            self.stats.fold_max = self.stats.fold_max.max(cost);
        }
        let replaced = self.slot.publish(Snapshot {
            store: shown,
            findings: Arc::new(findings),
            views: Arc::new(views),
            stats: self.stats,
        });
        if let Some(r) = replaced {
            self.take_back(vec![r.store]);
        }
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
