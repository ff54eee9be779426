//! Live-source plumbing shared by every source (the built-in demo, broker sources):
//! a bounded channel of [`LiveBatch`]es whose sender wakes the UI through a [`Waker`] the UI
//! installs (`ctx.request_repaint()`), counted drops when the consumer falls behind, and
//! [`LiveInput`], which appends batches to a [`Store`]. The [`worker`] thread owns the live
//! store: it receives the batches, finalizes and analyses, and publishes snapshots the UI
//! swaps in. Also the background file [`loader`]. Nothing here knows about a GUI.

pub mod broker;
pub mod demo;
pub mod follow;
pub mod loader;
pub mod worker;

use crate::model::{Format, Store};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Called by a producer thread after it sends something; the UI sets it to
/// `ctx.request_repaint()`.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Batches waiting for the UI before new ones are dropped (and counted).
pub const DEFAULT_CAPACITY: usize = 256;

/// Records that arrived together: CloudEvents or capture JSON lines.
#[derive(Clone, Debug, Default)]
pub struct LiveBatch {
    pub lines: Vec<String>,
    /// What the source has to say about itself (a followed file rotated or truncated),
    /// kept as notes of the live input (the Inputs tab).
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Shared {
    waker: Mutex<Option<Waker>>,
    stop: AtomicBool,
    dropped_records: AtomicU64,
    sent_records: AtomicU64,
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
    /// Sends a batch without blocking; a full channel drops it and counts its records.
    /// Returns `false` once the consumer has stopped the feed (the source should end).
    pub fn send(&self, batch: LiveBatch) -> bool {
        if self.is_stopped() {
            return false;
        }
        let n = batch.lines.len() as u64;
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.shared.sent_records.fetch_add(n, Ordering::Relaxed);
                self.shared.wake();
                true
            }
            Err(TrySendError::Full(_)) => {
                self.shared.dropped_records.fetch_add(n, Ordering::Relaxed);
                self.shared.wake();
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
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

/// A bounded live channel.
pub fn channel(name: impl Into<String>, capacity: usize) -> (LiveSender, LiveFeed) {
    let (tx, rx) = bounded(capacity.max(1));
    let shared = Arc::new(Shared::default());
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
    pub fn try_recv(&self) -> Option<LiveBatch> {
        match self.rx.try_recv() {
            Ok(b) => Some(b),
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
            Ok(b) => Received::Batch(b),
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
}

impl LiveInput {
    pub fn new(store: &mut Store, name: &str) -> LiveInput {
        let input = store.add_input(name, Some(Format::Live));
        LiveInput {
            input,
            next_line: 1,
            last_time: 0,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_instead_of_blocking() {
        let (tx, feed) = channel("test", 2);
        let woken = Arc::new(AtomicU64::new(0));
        let w = woken.clone();
        feed.set_waker(Arc::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        for _ in 0..5 {
            assert!(tx.send(LiveBatch {
                lines: vec!["{}".into(); 3],
                ..Default::default()
            }));
        }
        assert_eq!(feed.pending(), 2);
        assert_eq!(feed.dropped(), 9);
        assert_eq!(woken.load(Ordering::Relaxed), 5);
        assert!(feed.try_recv().is_some());
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
