//! Live broker sources feeding the existing live path: messages from the sources'
//! [`Inbox`](crate::source::Inbox) are decoded on the source runtime and sent to the
//! consumer as [`LiveBatch`]es of capture lines, the same lines `eventlens record` writes.
//! The [`worker`](super::worker) thread parses them, finalizes and analyses; the UI only
//! swaps in its snapshots.

use super::{LiveBatch, LiveFeed, channel};
use crate::source::{self, BrokerUrl};
use std::time::Duration;

/// Messages decoded into one batch at most.
const MAX_BATCH: usize = 4096;

/// Starts the sources and the task that turns their messages into batches.
pub fn spawn_brokers(urls: &[BrokerUrl]) -> std::io::Result<LiveFeed> {
    let rt = source::runtime()?;
    let mut inbox = source::start(urls, rt.handle(), source::DEFAULT_BUDGET);
    let name = urls
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (tx, mut feed) = channel(name, super::DEFAULT_CAPACITY);
    feed.sources = inbox.sources.clone();
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let first = tokio::select! {
                e = inbox.recv() => match e {
                    Some(e) => e,
                    None => break,
                },
                _ = tick.tick() => {
                    if tx.is_stopped() {
                        break;
                    }
                    // What the brokers declare (see `source::declared`): capture lines too.
                    let lines = source::take_declared(&inbox.sources);
                    if !lines.is_empty() && !tx.send(LiveBatch { lines, ..Default::default() }) {
                        break;
                    }
                    continue;
                }
            };
            let mut lines = Vec::new();
            let mut spans = Vec::new();
            let mut envelope = Some(first);
            let mut n = 0;
            while let Some(mut e) = envelope.take() {
                if let Some(stats) = inbox.sources.get(e.source) {
                    e.lines(stats, &mut lines);
                }
                // An OTLP receiver's spans, of whole traces: mapped as a followed OTLP
                // file's are.
                spans.append(&mut e.spans);
                n += 1;
                if n < MAX_BATCH {
                    envelope = inbox.try_recv();
                }
            }
            // Waits while the worker is behind: the inbox then fills, and past its budget
            // durable sources pause and lossy ones drop and count, each by its kind.
            if !tx
                .send_async(LiveBatch {
                    lines,
                    spans,
                    ..Default::default()
                })
                .await
            {
                break;
            }
        }
        // Dropping the inbox stops the sources.
        inbox.stop();
    });
    Ok(feed)
}
