//! Live-source plumbing shared by every source (the built-in demo, broker sources):
//! a channel of [`LiveBatch`]es bounded in bytes whose sender wakes the UI through a
//! [`Waker`] the UI installs (`ctx.request_repaint()`). When the consumer falls behind, a
//! lossy sender drops and counts ([`LiveSender::send`]) and a durable one waits for room
//! ([`LiveSender::send_wait`], [`LiveSender::send_async`]), so that what is behind it (a
//! broker's durable stream, a followed file) pauses and loses nothing. Also
//! [`LiveInput`], which appends batches to a [`Store`]. The [`worker`] thread owns the live
//! store: it receives the batches, finalizes and analyses, and publishes snapshots the UI
//! swaps in. Also the background file [`loader`]. Nothing here knows about a GUI.

pub mod broker;
pub mod demo;
pub mod follow;
pub mod loader;
pub mod worker;

use crate::model::{Format, Store};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Called by a producer thread after it sends something; the UI sets it to
/// `ctx.request_repaint()`.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Bytes of batches waiting for the worker before a lossy source's new ones are dropped
/// (and counted) and a durable source waits.
pub const DEFAULT_CAPACITY: usize = 64 << 20;
/// How often a durable sender looks again for room.
const ROOM_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// How the lines of a [`LiveBatch`] are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineFormat {
    /// CloudEvents or capture JSON lines (what brokers, the demo and `record` give).
    #[default]
    Cloudevents,
    /// kcat `-J` lines: one Kafka message each, decoded as the kcat file reader does.
    Kcat,
}

/// Records that arrived together: lines in one [`LineFormat`], and spans of whole traces.
#[derive(Clone, Debug, Default)]
pub struct LiveBatch {
    pub lines: Vec<String>,
    /// How `lines` are read.
    pub format: LineFormat,
    /// The line number of each of `lines` in its file, when the source knows it (a
    /// followed file, a pipe); empty: the input counts them.
    pub line_numbers: Vec<u64>,
    /// Spans of traces the span joiner released ([`crate::ingest::span_join`]): mapped
    /// together, as the spans of a trace file are.
    pub spans: Vec<crate::ingest::spans::Span>,
    /// Records that could not be read: `(line, why)`, kept as errors of the live input.
    pub errors: Vec<(u64, String)>,
    /// What the source has to say about itself (a followed file rotated or truncated),
    /// kept as notes of the live input (the Inputs tab).
    pub notes: Vec<String>,
    /// Why the source stopped reading an input it cannot read as it grows (a whole
    /// document, a compressed file), naming it; kept as a note too.
    pub refused: Option<String>,
    /// The input the batch was read from (a followed file, `standard input`), when a feed
    /// reads several: the errors of its lines name it.
    pub origin: Option<String>,
    /// OTLP lines read into the span joiner: their spans come later, in `spans`, once
    /// their trace is quiet (`record` refuses spans as soon as it sees these).
    pub span_lines: usize,
}

impl LiveBatch {
    /// What the batch holds, as the channel counts it.
    pub fn bytes(&self) -> u64 {
        let text: usize = self.lines.iter().chain(&self.notes).map(String::len).sum();
        let spans: usize = self.spans.iter().map(|s| 256 + s.name.len()).sum();
        let errors: usize = self.errors.iter().map(|(_, e)| 32 + e.len()).sum();
        (text + spans + errors + 24 * (self.lines.len() + self.notes.len())) as u64
    }

    /// Records the batch holds (lines and spans).
    pub fn records(&self) -> usize {
        self.lines.len() + self.spans.len()
    }

    /// The batch's lines in the capture format (`eventlens record`'s): CloudEvents and
    /// capture lines as they are, kcat lines decoded as a broker source's messages are
    /// (`broker` names where they came from); and why a line could not be. Spans are not
    /// in it.
    pub fn capture_lines(&self, broker: &str) -> (std::borrow::Cow<'_, [String]>, Vec<String>) {
        match self.format {
            LineFormat::Cloudevents => (std::borrow::Cow::Borrowed(&self.lines), Vec::new()),
            LineFormat::Kcat => {
                let (mut out, mut bad) = (Vec::new(), Vec::new());
                for l in &self.lines {
                    match crate::ingest::kcat::capture_lines(l, broker) {
                        Ok(lines) => out.extend(lines),
                        Err(why) => bad.push(why),
                    }
                }
                (std::borrow::Cow::Owned(out), bad)
            }
        }
    }

    /// Nothing to say and nothing to add.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
            && self.spans.is_empty()
            && self.errors.is_empty()
            && self.notes.is_empty()
            && self.refused.is_none()
    }
}

#[derive(Default)]
struct Shared {
    waker: Mutex<Option<Waker>>,
    stop: AtomicBool,
    dropped_records: AtomicU64,
    sent_records: AtomicU64,
    /// Bytes sent and not yet received, against `capacity`.
    queued_bytes: AtomicU64,
    capacity: u64,
    /// Every sender is gone and the channel is empty: the source ended.
    ended: AtomicBool,
}

impl Shared {
    fn wake(&self) {
        let w = self.waker.lock().ok().and_then(|w| w.clone());
        if let Some(w) = w {
            w();
        }
    }
}

/// The producing end, owned by a source's thread.
#[derive(Clone)]
pub struct LiveSender {
    tx: Sender<LiveBatch>,
    shared: Arc<Shared>,
}

impl LiveSender {
    /// Sends a batch without blocking; when the batches waiting already hold the channel's
    /// capacity in bytes, it is dropped and its records counted (lossy sources).
    /// Returns `false` once the consumer has stopped the feed (the source should end).
    pub fn send(&self, batch: LiveBatch) -> bool {
        if self.is_stopped() {
            return false;
        }
        if !self.has_room(batch.bytes()) {
            let n = batch.lines.len() as u64;
            self.shared.dropped_records.fetch_add(n, Ordering::Relaxed);
            self.shared.wake();
            return true;
        }
        self.put(batch)
    }

    /// Sends a batch, waiting (on this thread) while the channel is full, so that nothing
    /// is lost (durable sources: a followed file, a stream). Returns `false` once the
    /// consumer has stopped the feed.
    pub fn send_wait(&self, batch: LiveBatch) -> bool {
        let bytes = batch.bytes();
        while !self.has_room(bytes) {
            if self.is_stopped() {
                return false;
            }
            std::thread::sleep(ROOM_POLL);
        }
        !self.is_stopped() && self.put(batch)
    }

    /// [`send_wait`](Self::send_wait) for a task on the sources' tokio runtime: it waits
    /// without holding the runtime's thread.
    pub async fn send_async(&self, batch: LiveBatch) -> bool {
        let bytes = batch.bytes();
        while !self.has_room(bytes) {
            if self.is_stopped() {
                return false;
            }
            tokio::time::sleep(ROOM_POLL).await;
        }
        !self.is_stopped() && self.put(batch)
    }

    /// Whether `bytes` more fit. An empty channel takes any batch, however large.
    fn has_room(&self, bytes: u64) -> bool {
        let queued = self.shared.queued_bytes.load(Ordering::Acquire);
        queued == 0 || queued.saturating_add(bytes) <= self.shared.capacity
    }

    fn put(&self, batch: LiveBatch) -> bool {
        let (n, bytes) = (batch.lines.len() as u64, batch.bytes());
        self.shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if self.tx.send(batch).is_err() {
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        self.shared.sent_records.fetch_add(n, Ordering::Relaxed);
        self.shared.wake();
        true
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }
}

/// The consuming end, owned by the UI. Dropping it stops the source.
pub struct LiveFeed {
    /// What the user sees as the source's name (`demo`, `nats://...`).
    pub name: String,
    rx: Receiver<LiveBatch>,
    shared: Arc<Shared>,
    /// Status and counters of the broker sources behind this feed (none for the demo).
    pub sources: Vec<Arc<crate::source::SourceStats>>,
}

/// A live channel that holds at most `capacity` bytes of batches (and any one batch).
pub fn channel(name: impl Into<String>, capacity: usize) -> (LiveSender, LiveFeed) {
    let (tx, rx) = unbounded();
    let shared = Arc::new(Shared {
        capacity: capacity.max(1) as u64,
        ..Default::default()
    });
    (
        LiveSender {
            tx,
            shared: shared.clone(),
        },
        LiveFeed {
            name: name.into(),
            rx,
            shared,
            sources: Vec::new(),
        },
    )
}

impl LiveFeed {
    /// Installs the callback that wakes the consumer when data arrives.
    pub fn set_waker(&self, waker: Waker) {
        if let Ok(mut w) = self.shared.waker.lock() {
            *w = Some(waker);
        }
    }

    pub fn try_recv(&self) -> Option<LiveBatch> {
        self.receiver().try_recv()
    }

    /// Another receiving end of the same channel, for the thread that consumes the batches
    /// (the [`worker`]) while this feed stays with the UI for status and counters.
    pub fn receiver(&self) -> LiveReceiver {
        LiveReceiver {
            rx: self.rx.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Batches waiting.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }

    /// Bytes of the batches waiting.
    pub fn pending_bytes(&self) -> u64 {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }

    /// Records dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_records.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the source still produces (its thread holds a sender).
    pub fn is_connected(&self) -> bool {
        !self.shared.stop.load(Ordering::Relaxed) && !self.shared.ended.load(Ordering::Relaxed)
    }
}

/// What a live channel's consumer receives through (a [`LiveFeed`] keeps the status).
/// Dropping it does not stop the source: dropping the feed does.
#[derive(Clone)]
pub struct LiveReceiver {
    rx: Receiver<LiveBatch>,
    shared: Arc<Shared>,
}

/// What [`LiveReceiver::recv_timeout`] got.
#[derive(Debug)]
pub enum Received {
    Batch(LiveBatch),
    /// Nothing arrived in time.
    Nothing,
    /// Every sender is gone and the channel is empty: the source ended.
    Ended,
}

impl LiveReceiver {
    /// Counts a received batch's bytes out of the channel.
    fn took(&self, b: LiveBatch) -> LiveBatch {
        self.shared
            .queued_bytes
            .fetch_sub(b.bytes(), Ordering::AcqRel);
        b
    }

    pub fn try_recv(&self) -> Option<LiveBatch> {
        match self.rx.try_recv() {
            Ok(b) => Some(self.took(b)),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.shared.ended.store(true, Ordering::Relaxed);
                None
            }
            Err(crossbeam_channel::TryRecvError::Empty) => None,
        }
    }

    /// Waits up to `timeout` for a batch.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(b) => Received::Batch(self.took(b)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Received::Nothing,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                self.shared.ended.store(true, Ordering::Relaxed);
                Received::Ended
            }
        }
    }

    /// Whether the consumer has stopped the feed (the [`LiveFeed`] was dropped or stopped).
    pub fn is_stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Records dropped because the consumer fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped_records.load(Ordering::Relaxed)
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Appends a live source's batches to a store as one input.
#[derive(Clone, Debug)]
pub struct LiveInput {
    pub input: u16,
    next_line: u64,
    last_time: i64,
    kcat: crate::ingest::kcat::KcatState,
}

impl LiveInput {
    pub fn new(store: &mut Store, name: &str) -> LiveInput {
        let input = store.add_input(name, Some(Format::Live));
        LiveInput {
            input,
            next_line: 1,
            last_time: 0,
            kcat: Default::default(),
        }
    }

    /// Adds the lines (call [`Store::finalize`] after the last batch of a frame).
    pub fn add(&mut self, store: &mut Store, lines: &[String]) {
        crate::ingest::lines::add_live_lines(
            store,
            self.input,
            lines,
            &mut self.next_line,
            &mut self.last_time,
        );
    }

    /// Adds a batch: its lines as its format says, its spans through the span mapping,
    /// its errors and notes to the input (call [`Store::finalize`] after the last batch of
    /// a frame).
    pub fn add_batch(&mut self, store: &mut Store, batch: &LiveBatch) {
        // Lines numbered by their source are added one at a time at their own numbers.
        let numbered = !batch.lines.is_empty() && batch.line_numbers.len() == batch.lines.len();
        let runs: Vec<(Option<u64>, &[String])> = if numbered {
            batch
                .line_numbers
                .iter()
                .zip(&batch.lines)
                .map(|(n, l)| (Some(*n), std::slice::from_ref(l)))
                .collect()
        } else {
            vec![(None, &batch.lines[..])]
        };
        let issues_before = store
            .inputs
            .get(self.input as usize)
            .map_or((0, 0), |i| (i.errors.len(), i.violations.len()));
        for (number, lines) in runs {
            if let Some(n) = number {
                self.next_line = n;
            }
            match batch.format {
                LineFormat::Cloudevents => self.add(store, lines),
                LineFormat::Kcat => crate::ingest::kcat::add_lines(
                    store,
                    self.input,
                    lines,
                    &mut self.next_line,
                    &mut self.kcat,
                ),
            }
        }
        if !batch.spans.is_empty() {
            let from = store.observations.len();
            crate::ingest::spans::add_spans(store, self.input, &batch.spans);
            crate::ingest::place_untimed(store, from);
        }
        if let Some(inp) = store.inputs.get_mut(self.input as usize) {
            // Several inputs feed one live input: each of its lines' errors names its own.
            if let Some(origin) = &batch.origin {
                let (errors, violations) = issues_before;
                let prefix = format!("{origin}: ");
                for issue in inp
                    .errors
                    .iter_mut()
                    .skip(errors)
                    .chain(inp.violations.iter_mut().skip(violations))
                {
                    if !issue.message.starts_with(&prefix) {
                        issue.message.insert_str(0, &prefix);
                    }
                }
            }
            for (line, why) in &batch.errors {
                inp.error(*line, why.clone());
            }
            for n in batch.notes.iter().chain(&batch.refused) {
                inp.note(0, n.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_instead_of_blocking() {
        let batch = || LiveBatch {
            lines: vec!["{}".into(); 3],
            ..Default::default()
        };
        // Room for two batches, in bytes.
        let (tx, feed) = channel("test", 2 * batch().bytes() as usize);
        let woken = Arc::new(AtomicU64::new(0));
        let w = woken.clone();
        feed.set_waker(Arc::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        for _ in 0..5 {
            assert!(tx.send(batch()));
        }
        assert_eq!(feed.pending(), 2);
        assert_eq!(feed.pending_bytes(), 2 * batch().bytes());
        assert_eq!(feed.dropped(), 9);
        assert_eq!(woken.load(Ordering::Relaxed), 5);
        assert!(feed.try_recv().is_some());
        // Taking one makes room for one.
        assert!(tx.send(batch()));
        assert_eq!(feed.pending(), 2);
        assert_eq!(feed.dropped(), 9);
    }

    #[test]
    fn a_durable_sender_waits_for_room_and_loses_nothing() {
        let batch = |i: usize| LiveBatch {
            lines: vec![format!("{i:04}"); 10],
            ..Default::default()
        };
        let (tx, feed) = channel("test", 3 * batch(0).bytes() as usize);
        let writer = std::thread::spawn(move || (0..50).all(|i| tx.send_wait(batch(i))));
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while got.len() < 50 && std::time::Instant::now() < deadline {
            // Never more than the capacity waiting.
            assert!(feed.pending() <= 3, "{} waiting", feed.pending());
            match feed.try_recv() {
                Some(b) => got.push(b.lines[0].clone()),
                None => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        assert!(writer.join().expect("the writer"));
        assert_eq!(got, (0..50).map(|i| format!("{i:04}")).collect::<Vec<_>>());
        assert_eq!(feed.dropped(), 0);
        assert_eq!(feed.pending_bytes(), 0);
    }

    #[test]
    fn a_durable_sender_stops_waiting_when_the_feed_is_dropped() {
        let (tx, feed) = channel("test", 1);
        assert!(tx.send_wait(LiveBatch {
            lines: vec!["first".into()],
            ..Default::default()
        }));
        let writer = std::thread::spawn(move || {
            tx.send_wait(LiveBatch {
                lines: vec!["second".into()],
                ..Default::default()
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(feed);
        assert!(!writer.join().expect("the writer"));
    }

    #[test]
    fn dropping_the_feed_stops_the_source() {
        let (tx, feed) = channel("test", 2);
        assert!(feed.is_connected());
        drop(feed);
        assert!(!tx.send(LiveBatch::default()));
    }

    #[test]
    fn the_feed_notices_when_its_source_ends() {
        let (tx, feed) = channel("test", 2);
        drop(tx);
        assert!(feed.try_recv().is_none());
        assert!(!feed.is_connected());
    }
}
