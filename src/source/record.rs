//! `eventlens record`: what the sources receive, decoded and written as a capture as it
//! arrives. It records on the source side, before any view could drop anything, and flushes
//! at least every [`RecordOptions::flush_every`], so a killed recorder leaves a readable
//! file.

use super::Inbox;
use super::capture::CaptureWriter;

use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many messages.
    pub count: Option<u64>,
    /// Longest time a written line waits before it is flushed to the file.
    pub flush_every: Duration,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            duration: None,
            count: None,
            flush_every: Duration::from_millis(200),
        }
    }
}

/// What a recording got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub messages: u64,
    /// Capture lines written (a batch message gives several).
    pub events: u64,
    /// Declared-topology records written (see [`super::declared`]).
    pub declared: u64,
}

/// Writes the declared-topology lines the sources have queued.
fn write_declared(
    inbox: &Inbox,
    writer: &mut impl LineSink,
    got: &mut Recorded,
) -> std::io::Result<()> {
    for s in &inbox.sources {
        for l in s.take_declared() {
            writer.write_line(&l)?;
            got.declared += 1;
        }
    }
    Ok(())
}

/// Where recorded lines go: a capture file, or memory (`analyze` of a live source).
pub trait LineSink {
    fn write_line(&mut self, line: &str) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
}

impl LineSink for CaptureWriter {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        CaptureWriter::write_line(self, line)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        CaptureWriter::flush(self)
    }
}

impl LineSink for Vec<String> {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        self.push(line.to_string());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records until the duration or count is reached, or every source has ended.
pub async fn record(
    inbox: &mut Inbox,
    writer: &mut impl LineSink,
    opts: &RecordOptions,
) -> std::io::Result<Recorded> {
    let deadline = opts.duration.map(|d| Instant::now() + d);
    let mut got = Recorded::default();
    let mut lines = Vec::new();
    let mut next_flush = Instant::now() + opts.flush_every;
    loop {
        if opts.count.is_some_and(|n| got.messages >= n) {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        let mut envelope = tokio::select! {
            e = inbox.recv() => match e {
                Some(e) => e,
                None => break,
            },
            _ = tokio::time::sleep_until(next_flush) => {
                write_declared(inbox, writer, &mut got)?;
                writer.flush()?;
                next_flush = Instant::now() + opts.flush_every;
                continue;
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => break,
        };
        got.messages += 1;
        lines.clear();
        if let Some(stats) = inbox.sources.get(envelope.source) {
            envelope.lines(stats, &mut lines);
        }
        for l in &lines {
            writer.write_line(l)?;
            got.events += 1;
        }
    }
    // What the brokers declare is part of the recording: give a source that has not
    // answered yet a moment.
    let wait_until = Instant::now() + DECLARED_WAIT;
    while !inbox.sources.iter().all(|s| s.declared_polled()) && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    write_declared(inbox, writer, &mut got)?;
    writer.flush()?;
    Ok(got)
}

/// The longest a recording waits at its end for the brokers' first declared topology.
const DECLARED_WAIT: Duration = Duration::from_secs(3);
