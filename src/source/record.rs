//! `eventlens record`: what the sources receive, decoded and written as a capture as it
//! arrives. It records on the source side, before any view could drop anything, and flushes
//! at least every [`RecordOptions::flush_every`], so a killed recorder leaves a readable
//! file.

use super::capture::RecordWriter;
use super::{Envelope, Inbox};
use crate::ingest::spans::Span;

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
    /// Ctrl-C ends the recording as its duration would: what is held is written and the
    /// files are completed (a second Ctrl-C exits at once). For the command line.
    pub until_interrupted: bool,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            duration: None,
            count: None,
            flush_every: Duration::from_millis(200),
            until_interrupted: false,
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
    /// Spans received (an OTLP receiver's).
    pub spans: u64,
    /// Spans the sink could not keep (a sink of lines alone).
    pub spans_not_recorded: u64,
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
    /// Takes spans of whole traces; `false` when the sink cannot keep spans.
    fn write_spans(&mut self, _spans: Vec<Span>) -> std::io::Result<bool> {
        Ok(false)
    }
}

/// Lines and spans kept in memory (`analyze` and `listen` of a live source).
#[derive(Default)]
pub struct Collected {
    pub lines: Vec<String>,
    pub spans: Vec<Span>,
}

impl LineSink for Collected {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        self.lines.push(line.to_string());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn write_spans(&mut self, spans: Vec<Span>) -> std::io::Result<bool> {
        self.spans.extend(spans);
        Ok(true)
    }
}

/// Writes one envelope's lines (or hands on its spans).
fn take(
    inbox: &Inbox,
    mut envelope: Envelope,
    writer: &mut impl LineSink,
    got: &mut Recorded,
    lines: &mut Vec<String>,
) -> std::io::Result<()> {
    if !envelope.spans.is_empty() {
        let spans = std::mem::take(&mut envelope.spans);
        let n = spans.len() as u64;
        got.spans += n;
        if !writer.write_spans(spans)? {
            got.spans_not_recorded += n;
        }
        return Ok(());
    }
    got.messages += 1;
    lines.clear();
    if let Some(stats) = inbox.sources.get(envelope.source) {
        envelope.lines(stats, lines);
    }
    for l in lines.iter() {
        writer.write_line(l)?;
        got.events += 1;
    }
    Ok(())
}

/// A recording's files: events to the capture, spans to OTLP JSON Lines.
impl LineSink for RecordWriter {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        RecordWriter::write_line(self, line)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        RecordWriter::flush(self)
    }
    fn write_spans(&mut self, spans: Vec<Span>) -> std::io::Result<bool> {
        RecordWriter::write_spans(self, &spans)?;
        Ok(true)
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
    let interrupted = async {
        if !opts.until_interrupted || tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(interrupted);
    loop {
        if opts.count.is_some_and(|n| got.messages >= n) {
            break;
        }
        let far = Instant::now() + Duration::from_secs(3600);
        let envelope = tokio::select! {
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
            () = &mut interrupted => {
                eprintln!("eventlens: interrupted: finishing (Ctrl-C again to stop at once)");
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                });
                break;
            }
        };
        take(inbox, envelope, writer, &mut got, &mut lines)?;
    }
    // A listener holding spans (waiting for their trace to be quiet) hands them on now.
    if inbox.sources.iter().any(|s| s.url.starts_with("otlp")) {
        for s in &inbox.sources {
            s.request_flush();
        }
        let until = Instant::now() + FLUSH_WAIT;
        loop {
            tokio::select! {
                e = inbox.recv() => match e {
                    Some(e) => {
                        let spans = !e.spans.is_empty();
                        take(inbox, e, writer, &mut got, &mut lines)?;
                        if spans {
                            break;
                        }
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
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

/// The longest a recording waits at its end for a receiver's held spans.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// The longest a recording waits at its end for the brokers' first declared topology.
const DECLARED_WAIT: Duration = Duration::from_secs(3);
