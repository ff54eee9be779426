//! Following a file that another process appends to, as `tail -F` does: an OpenTelemetry
//! collector's file exporter, an `eventlens record` still running, a service's CloudEvents
//! log. What is appended is read as it comes, a partial last line only once it is complete;
//! a file renamed away (rotated) is read to its end and the new file at the path from its
//! start; a file truncated is read again from its start. Each of these is said in the
//! source's notes.
//!
//! The format is sniffed from the first complete line (or what the input held when it
//! ended inside its first line), and again after a rotation or truncation. CloudEvents and
//! capture lines and kcat `-J` lines go to the live path as [`LiveBatch`]es of lines; OTLP
//! JSON Lines (the collector's file exporter: one `ExportTraceServiceRequest` a line) are
//! parsed here and held by the [`SpanJoiner`] until their trace is quiet, then sent as
//! spans. Whole-document formats (Jaeger JSON, Zipkin arrays, a pretty-printed OTLP
//! document) and compressed files are refused with the reason.

use super::{LineFormat, LiveBatch, LiveFeed, channel};
use crate::ingest::span_join::SpanJoiner;
use crate::model::Format;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the file is looked at for more.
pub const POLL: Duration = Duration::from_millis(100);
/// The longest line kept waiting for its end; past it the line is skipped (and said).
const MAX_PARTIAL: usize = 256 << 20;

/// What a stream that can be read as it grows holds, as sniffed from its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// Lines read on the live path as they are.
    Lines(LineFormat),
    /// OTLP JSON Lines: spans, joined into traces before they are mapped.
    OtlpLines,
}

/// What one look at the file found.
#[derive(Debug, Default)]
pub struct Read1 {
    pub lines: Vec<String>,
    /// The 1-based line number of each of `lines` in its file.
    pub numbers: Vec<u64>,
    /// The format of `lines` (none before the first line is complete).
    pub format: Option<StreamFormat>,
    /// Rotation, truncation and skipped-line notices, in order.
    pub notes: Vec<String>,
}

/// One followed file.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// Identity of the open file (device, inode), to notice a rotation.
    id: Option<(u64, u64)>,
    offset: u64,
    lines: Lines,
}

/// Bytes in, complete lines out: a partial line waits for its end, an overlong one is
/// skipped (and said), and the first bytes are checked to be a format that can be read
/// as it grows.
pub struct Lines {
    /// Named in notes and errors.
    name: String,
    partial: Vec<u8>,
    /// Skipping the rest of an overlong line until its end.
    skipping: bool,
    /// Sniffed from the first complete line; none before it (and after a rotation).
    format: Option<StreamFormat>,
    /// Lines so far (the number of the last one).
    line: u64,
}

impl Lines {
    pub fn new(name: impl Into<String>) -> Lines {
        Lines {
            name: name.into(),
            partial: Vec::new(),
            skipping: false,
            format: None,
            line: 0,
        }
    }

    /// Forgets a partial line (the file was truncated under it).
    fn reset(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }

    /// Starts a new file: a partial line is forgotten and the format sniffed again.
    fn restart(&mut self) {
        self.reset();
        self.format = None;
        self.line = 0;
    }

    /// Takes the next bytes; the error is a format that cannot be read as a stream.
    pub fn push(&mut self, buf: &[u8], out: &mut Read1) -> Result<(), String> {
        if self.format.is_none() {
            // Compressed bytes have no lines to wait for: said at once.
            let mut start: Vec<u8> = self.partial.iter().take(4).copied().collect();
            start.extend_from_slice(&buf[..buf.len().min(4)]);
            if start.len() >= 4 || buf.is_empty() {
                refuse_compressed(&start).map_err(|why| format!("{}: {why}", self.name))?;
            }
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let mut head = std::mem::take(&mut self.partial);
                let keep = head.len();
                head.extend_from_slice(&buf[..buf.len().min(nl + 1 + HEAD)]);
                // Blank lines before the first record say nothing: its own end is waited for.
                if head.trim_ascii_start().contains(&b'\n') {
                    let f = decide(&head, false).map_err(|why| format!("{}: {why}", self.name))?;
                    self.format = Some(f);
                }
                head.truncate(keep);
                self.partial = head;
            }
        }
        out.format = self.format;
        self.split(buf, out);
        Ok(())
    }

    /// Complete lines out; the rest waits for its end.
    fn split(&mut self, mut buf: &[u8], out: &mut Read1) {
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            self.line += 1;
            if self.skipping {
                self.skipping = false;
            } else {
                self.partial.extend_from_slice(&buf[..nl]);
                self.emit(out);
            }
            buf = &buf[nl + 1..];
        }
        if self.skipping {
            return;
        }
        self.partial.extend_from_slice(buf);
        if self.partial.len() > MAX_PARTIAL {
            out.notes.push(format!(
                "{}: a line longer than {} MiB: skipped",
                self.name,
                MAX_PARTIAL >> 20
            ));
            self.partial.clear();
            self.skipping = true;
        }
    }

    /// The last line of input that will not grow any more (ended, or rotated away), even
    /// without its line break. An input that ended inside its first line is sniffed from
    /// what it held.
    pub fn finish(&mut self, out: &mut Read1) -> Result<(), String> {
        if !self.partial.is_empty() && !self.skipping {
            if self.format.is_none() && self.partial.iter().any(|b| !b.is_ascii_whitespace()) {
                refuse_compressed(&self.partial).map_err(|why| format!("{}: {why}", self.name))?;
                let f =
                    decide(&self.partial, true).map_err(|why| format!("{}: {why}", self.name))?;
                self.format = Some(f);
            }
            out.format = self.format;
            self.line += 1;
            self.emit(out);
        }
        self.reset();
        Ok(())
    }

    fn emit(&mut self, out: &mut Read1) {
        let line = std::mem::take(&mut self.partial);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.lines.push(String::from_utf8_lossy(line).into_owned());
        out.numbers.push(self.line);
    }
}

/// How much past the first line is looked at to name a whole document.
const HEAD: usize = 256 * 1024;

fn refuse_compressed(head: &[u8]) -> Result<(), String> {
    if crate::ingest::Compression::sniff(head) != crate::ingest::Compression::None {
        return Err(
            "a compressed file cannot be followed (its end is not a record boundary)".into(),
        );
    }
    Ok(())
}

/// The format of a stream from its first bytes, which hold its first complete line (or the
/// whole input, `ended`). A first line that is not a whole JSON value is the start of a
/// document over many lines, which can only be read once complete.
fn decide(head: &[u8], ended: bool) -> Result<StreamFormat, String> {
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut values =
        serde_json::Deserializer::from_slice(first).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => match crate::ingest::sniff(first) {
            Some((f, _)) => streamed(f),
            // Not a record eventlens knows: the CloudEvents reader says why, line by line.
            None => Ok(StreamFormat::Lines(LineFormat::Cloudevents)),
        },
        Some(Err(e)) if e.is_eof() && !ended => {
            let what = crate::ingest::sniff(text)
                .map(|(f, _)| f.as_str())
                .unwrap_or("a JSON document");
            Err(format!(
                "{what} is one JSON document over many lines, read whole once it is complete: it cannot be followed or read as it arrives (open it without --follow, or give it to `eventlens analyze`, which reads `-` whole)"
            ))
        }
        _ => Ok(StreamFormat::Lines(LineFormat::Cloudevents)),
    }
}

/// How a format sniffed from one line is read as it grows, or why it cannot be.
fn streamed(f: Format) -> Result<StreamFormat, String> {
    match f {
        Format::Cloudevents | Format::CloudeventsJsonl | Format::Capture | Format::Live => {
            Ok(StreamFormat::Lines(LineFormat::Cloudevents))
        }
        Format::Kcat => Ok(StreamFormat::Lines(LineFormat::Kcat)),
        Format::Otlp => Ok(StreamFormat::OtlpLines),
        other => Err(format!(
            "{} cannot be followed yet: --follow and `-` read CloudEvents, capture, kcat -J and OTLP (collector file exporter) JSON Lines",
            other.as_str()
        )),
    }
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl Follower {
    pub fn new(path: impl Into<PathBuf>) -> Follower {
        let path = path.into();
        Follower {
            lines: Lines::new(path.display().to_string()),
            path,
            file: None,
            id: None,
            offset: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format of a file's first bytes as it would be followed: `Ok(None)` while its
    /// first line is not complete; the reason if it cannot be followed.
    pub fn check_format(head: &[u8]) -> Result<Option<StreamFormat>, String> {
        refuse_compressed(head)?;
        let text = head.trim_ascii_start();
        if !text.contains(&b'\n') {
            return Ok(None);
        }
        decide(head, false).map(Some)
    }

    /// Reads what was appended since the last call. An error is one the follower cannot go
    /// on from (the format cannot be followed); a file that does not exist yet is waited for.
    pub fn poll(&mut self) -> Result<Read1, String> {
        let mut out = Read1::default();
        let at_path = std::fs::metadata(&self.path).ok();
        if self.file.is_none() {
            let Ok(f) = File::open(&self.path) else {
                return Ok(out);
            };
            self.id = f.metadata().ok().as_ref().and_then(file_id);
            self.file = Some(f);
            self.offset = 0;
        }
        // Rotated: another file is at the path now. Read the old one to its end first.
        let rotated = match (&at_path, self.id) {
            (Some(m), Some(id)) => file_id(m).is_some_and(|now| now != id),
            _ => false,
        };
        self.read_more(&mut out)?;
        if rotated {
            self.lines.finish(&mut out)?;
            out.notes.push(format!(
                "{} was rotated: the new file is read from its start (its format sniffed again)",
                self.path.display()
            ));
            // The new file is opened by the next look, so that what one look returns is
            // in one format.
            self.file = None;
            self.id = None;
            self.offset = 0;
            self.lines.restart();
        }
        Ok(out)
    }

    fn read_more(&mut self, out: &mut Read1) -> Result<(), String> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(self.offset);
        if len < self.offset {
            out.notes.push(format!(
                "{} was truncated: it is read again from its start",
                self.path.display()
            ));
            self.offset = 0;
            self.lines.restart();
        }
        if len == self.offset {
            return Ok(());
        }
        let mut buf = Vec::new();
        let read = f
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| f.take(len - self.offset).read_to_end(&mut buf));
        if let Err(e) = read {
            out.notes.push(format!("{}: {e}", self.path.display()));
            return Ok(());
        }
        self.offset += buf.len() as u64;
        self.lines.push(&buf, out)
    }
}

/// Turns what a source read into [`LiveBatch`]es: lines as they are, OTLP lines parsed
/// into spans that the [`SpanJoiner`] holds until their trace is quiet.
pub struct StreamDecoder {
    name: String,
    joiner: SpanJoiner,
}

impl StreamDecoder {
    /// `name` (the file, `standard input`) is named in the errors of lines it parses.
    pub fn new(name: impl Into<String>) -> StreamDecoder {
        StreamDecoder {
            name: name.into(),
            joiner: SpanJoiner::default(),
        }
    }

    /// Spans held, waiting for their trace to be quiet.
    pub fn held(&self) -> usize {
        self.joiner.held()
    }

    /// `r` as a batch, with the traces that are due at `now`.
    pub fn decode(&mut self, r: Read1, now: Instant) -> LiveBatch {
        let mut batch = LiveBatch {
            notes: r.notes,
            ..Default::default()
        };
        match r.format {
            Some(StreamFormat::OtlpLines) => {
                batch.span_lines = r.lines.len();
                for (text, line) in r.lines.iter().zip(r.numbers) {
                    let parsed = crate::ingest::otlp::parse_line(text, line);
                    for (l, why) in parsed.errors {
                        batch.errors.push((l, format!("{}: {why}", self.name)));
                    }
                    for (l, n) in parsed.notes {
                        batch.notes.push(format!("{} line {l}: {n}", self.name));
                    }
                    let pushed = self.joiner.push(parsed.spans, now);
                    for (l, n) in pushed.late {
                        batch.notes.push(format!("{} line {l}: {n}", self.name));
                    }
                }
            }
            Some(StreamFormat::Lines(f)) => {
                batch.lines = r.lines;
                batch.line_numbers = r.numbers;
                batch.format = f;
            }
            None => batch.lines = r.lines,
        }
        batch.spans = self.joiner.release(now);
        batch
    }

    /// Every span still held (the input ended, or reading stops).
    pub fn finish(&mut self) -> LiveBatch {
        LiveBatch {
            spans: self.joiner.release_all(),
            ..Default::default()
        }
    }
}

/// One followed file and what decodes it.
struct Followed {
    follower: Follower,
    decoder: StreamDecoder,
}

impl Followed {
    fn new(path: PathBuf) -> Followed {
        Followed {
            decoder: StreamDecoder::new(path.display().to_string()),
            follower: Follower::new(path),
        }
    }

    /// What one look found, and whether it was the last (the file cannot be followed: the
    /// batch says why).
    fn poll(&mut self, now: Instant) -> (LiveBatch, bool) {
        let (mut batch, last) = match self.follower.poll() {
            Ok(r) => (self.decoder.decode(r, now), false),
            Err(why) => {
                let mut last = self.decoder.finish();
                last.refused = Some(why);
                (last, true)
            }
        };
        batch.origin = Some(self.follower.path().display().to_string());
        (batch, last)
    }

    /// Every span still held, from this file.
    fn finish(&mut self) -> LiveBatch {
        LiveBatch {
            origin: Some(self.follower.path().display().to_string()),
            ..self.decoder.finish()
        }
    }
}

/// What standard input is called in notes, errors and input names.
pub const STDIN_NAME: &str = "standard input";

/// Standard input read beside followed files: its batches, as they come, named.
struct Piped {
    feed: LiveFeed,
}

impl Piped {
    /// `-` among `paths`: read as a stream on its own thread (until `until`, if given).
    fn start(paths: &[PathBuf], until: Option<Instant>) -> Option<Piped> {
        paths
            .iter()
            .any(|p| crate::ingest::is_stdin(p))
            .then(|| Piped {
                feed: spawn_stream(STDIN_NAME, std::io::stdin(), until),
            })
    }

    /// The batches waiting now, and whether the stream has ended.
    fn take(&mut self) -> (Vec<LiveBatch>, bool) {
        let rx = self.feed.receiver();
        let mut out = Vec::new();
        loop {
            match rx.recv_timeout(Duration::ZERO) {
                super::Received::Batch(mut b) => {
                    b.origin = Some(STDIN_NAME.to_string());
                    out.push(b);
                }
                super::Received::Nothing => return (out, false),
                super::Received::Ended => return (out, true),
            }
        }
    }
}

/// The files among `paths` (not `-`), each followed.
fn followed_files(paths: &[PathBuf]) -> Vec<Option<Followed>> {
    paths
        .iter()
        .filter(|p| !crate::ingest::is_stdin(p))
        .map(|p| Some(Followed::new(p.clone())))
        .collect()
}

/// Follows `paths` on a thread until the feed is dropped, or until `until`: then the spans
/// still held are sent and the feed ends. Notes (rotation, truncation, a
/// format that cannot be followed) travel with the lines, as the live input's notes. `-`
/// among them is standard input, read as it arrives beside the files (merged, never
/// holding them back); each batch names the input it came from.
pub fn spawn_follow(paths: Vec<PathBuf>, until: Option<Instant>) -> LiveFeed {
    let name = paths
        .iter()
        .map(|p| {
            if crate::ingest::is_stdin(p) {
                STDIN_NAME.to_string()
            } else {
                p.display().to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let (tx, feed) = channel(format!("following {name}"), super::DEFAULT_CAPACITY);
    let spawned = std::thread::Builder::new()
        .name("eventlens-follow".into())
        .spawn(move || {
            let mut piped = Piped::start(&paths, until);
            let mut followed = followed_files(&paths);
            let due = || until.is_some_and(|u| Instant::now() >= u);
            'reading: while !tx.is_stopped() {
                if let Some(p) = piped.as_mut() {
                    let (batches, ended) = p.take();
                    for b in batches {
                        if !tx.send_wait(b) {
                            break 'reading;
                        }
                    }
                    if ended {
                        piped = None;
                    }
                }
                if followed.iter().all(Option::is_none) && piped.is_none() {
                    break;
                }
                if due() {
                    // Standard input ends by its own deadline: what it held is on its way.
                    if piped.is_none() {
                        break;
                    }
                    std::thread::sleep(POLL / 4);
                    continue;
                }
                let now = Instant::now();
                // One batch per file: each is in its own format.
                for slot in followed.iter_mut() {
                    let Some(f) = slot else { continue };
                    let (batch, last) = f.poll(now);
                    if last {
                        *slot = None;
                    }
                    if !batch.is_empty() && !tx.send_wait(batch) {
                        break 'reading;
                    }
                }
                std::thread::sleep(POLL);
            }
            // Reading ended by its deadline: the spans still held (their trace not yet
            // quiet) are sent, not lost.
            if !tx.is_stopped() {
                for f in followed.iter_mut().flatten() {
                    let batch = f.finish();
                    if !batch.is_empty() && !tx.send_wait(batch) {
                        break;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start following: {e}");
    }
    feed
}

/// Reads a stream (standard input, a pipe) as a live source: lines are sent as they
/// complete (spans once their trace is quiet), and the feed ends with the stream, saying
/// how many records came.
pub fn spawn_reader(name: &str, reader: impl Read + Send + 'static) -> LiveFeed {
    spawn_stream(name, reader, None)
}

/// [`spawn_reader`], reading until `until` at the latest: then what is held (spans waiting
/// for their trace to be quiet) is sent, a partial last line is not, and the feed ends.
fn spawn_stream(
    name: &str,
    reader: impl Read + Send + 'static,
    until: Option<Instant>,
) -> LiveFeed {
    let (tx, feed) = channel(name.to_string(), super::DEFAULT_CAPACITY);
    let mut lines = Lines::new(name);
    let mut decoder = StreamDecoder::new(name);
    let name = name.to_string();
    // The reading blocks: it has a thread of its own, so that held traces are released
    // while the writer is quiet.
    let (bytes_tx, bytes_rx) = crossbeam_channel::bounded::<std::io::Result<Vec<u8>>>(4);
    let reading = std::thread::Builder::new()
        .name("eventlens-stream-read".into())
        .spawn(move || {
            // A compressed stream is read as it is decompressed.
            let mut reader =
                match crate::ingest::decoded_reader(Box::new(reader), Default::default()) {
                    Ok((r, _)) => r,
                    Err(e) => {
                        let _ = bytes_tx.send(Err(e));
                        return;
                    }
                };
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(n) => {
                        if bytes_tx.send(Ok(buf[..n].to_vec())).is_err() || n == 0 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = bytes_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
    if let Err(e) = reading {
        tracing::error!("cannot start reading {e}");
        return feed;
    }
    let spawned = std::thread::Builder::new()
        .name("eventlens-stream".into())
        .spawn(move || {
            let mut records = 0u64;
            loop {
                let mut out = Read1::default();
                let wait = until.map_or(POLL, |u| {
                    POLL.min(u.saturating_duration_since(Instant::now()))
                });
                if until.is_some_and(|u| Instant::now() >= u) {
                    // Time is up: what is held goes; the stream is left as it is.
                    let last = decoder.finish();
                    if !last.is_empty() {
                        let _ = tx.send_wait(last);
                    }
                    break;
                }
                let got = bytes_rx.recv_timeout(wait);
                let ended = match got {
                    Ok(Ok(bytes)) if !bytes.is_empty() => {
                        if let Err(why) = lines.push(&bytes, &mut out) {
                            let mut last = decoder.finish();
                            last.refused = Some(why);
                            let _ = tx.send_wait(last);
                            break;
                        }
                        false
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => false,
                    Ok(Ok(_)) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => true,
                    Ok(Err(e)) => {
                        out.notes.push(format!("{name}: {e}"));
                        true
                    }
                };
                let mut refused = None;
                if ended && let Err(why) = lines.finish(&mut out) {
                    refused = Some(why);
                    out.lines.clear();
                }
                let mut batch = decoder.decode(out, Instant::now());
                batch.refused = refused;
                if ended {
                    let rest = decoder.finish();
                    batch.spans.extend(rest.spans);
                }
                records += batch.records() as u64;
                if ended {
                    batch
                        .notes
                        .push(format!("the stream ended after {records} records"));
                }
                // A pipe waits for the window rather than lose lines: the writer is held
                // back by the pipe, as with any slow reader.
                if !batch.is_empty() && !tx.send_wait(batch) {
                    break;
                }
                if ended || tx.is_stopped() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start reading {e}");
    }
    feed
}

/// Follows `paths` for `duration`, in the calling thread: every record appended in that
/// time (and what the files held already) as batches, one file's at a time, the notes in
/// them. Spans still held at the end are released. `-` is standard input, read for the
/// same time beside the files (until it ends, if sooner).
pub fn follow_for(paths: &[PathBuf], duration: Duration) -> Vec<LiveBatch> {
    let end = Instant::now() + duration;
    let mut piped = Piped::start(paths, Some(end));
    let mut followed = followed_files(paths);
    let mut batches = Vec::new();
    loop {
        if let Some(p) = piped.as_mut() {
            let (got, ended) = p.take();
            batches.extend(got);
            if ended {
                piped = None;
            }
        }
        let now = Instant::now();
        if now < end {
            for slot in followed.iter_mut() {
                let Some(f) = slot else { continue };
                let (batch, last) = f.poll(now);
                batches.push(batch);
                if last {
                    *slot = None;
                }
            }
        }
        let now = Instant::now();
        let files_done = now >= end || followed.iter().all(Option::is_none);
        if files_done && piped.is_none() {
            break;
        }
        // Past the end, standard input ends by its own deadline (what it held is on its way).
        std::thread::sleep(if now < end {
            POLL.min(end - now)
        } else {
            POLL / 4
        });
    }
    for f in followed.iter_mut().flatten() {
        batches.push(f.finish());
    }
    batches.retain(|b| !b.is_empty());
    batches
}

/// Reads a stream for at most `duration` (until it ends, if sooner), in the calling thread:
/// its records as batches, the notes in them.
pub fn read_for(
    name: &str,
    reader: impl Read + Send + 'static,
    duration: Duration,
) -> Vec<LiveBatch> {
    let feed = spawn_stream(name, reader, Some(Instant::now() + duration));
    let rx = feed.receiver();
    let mut batches = Vec::new();
    loop {
        match rx.recv_timeout(POLL) {
            super::Received::Batch(b) => batches.push(b),
            super::Received::Nothing => {}
            super::Received::Ended => break,
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_partial_line_is_read_once_complete_and_truncation_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.jsonl");
        let mut f = Follower::new(&path);
        assert!(f.poll().expect("no file yet").lines.is_empty());
        let mut w = File::create(&path).expect("create");
        w.write_all(b"{\"a\":1}\n{\"b\":").expect("write");
        w.flush().expect("flush");
        assert_eq!(f.poll().expect("poll").lines, vec!["{\"a\":1}"]);
        w.write_all(b"2}\n").expect("write");
        assert_eq!(f.poll().expect("poll").lines, vec!["{\"b\":2}"]);
        assert!(f.poll().expect("poll").lines.is_empty());
        w.set_len(0).expect("truncate");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("reopen");
        w.write_all(b"{\"c\":3}\n").expect("write");
        let r = f.poll().expect("poll");
        assert_eq!(r.lines, vec!["{\"c\":3}"]);
        assert!(
            r.notes.iter().any(|n| n.contains("truncated")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn whole_documents_are_refused_with_the_reason_and_json_lines_are_sniffed() {
        let why = Follower::check_format(b"{\n  \"data\": [{\"traceID\": \"ab\", \"spans\": [")
            .expect_err("a Jaeger document");
        assert!(why.contains("jaeger is one JSON document"), "{why}");
        assert!(why.contains("cannot be followed"), "{why}");
        assert!(Follower::check_format(&[0x1f, 0x8b, 8, 0]).is_err());
        // Nothing to tell from until the first line is complete.
        assert_eq!(Follower::check_format(br#"{"topic":"orders","#), Ok(None));
        assert_eq!(
            Follower::check_format(
                b"{\"topic\":\"orders\",\"partition\":0,\"offset\":1,\"payload\":\"x\"}\n"
            ),
            Ok(Some(StreamFormat::Lines(LineFormat::Kcat)))
        );
        assert_eq!(
            Follower::check_format(b"{\"resourceSpans\":[]}\n"),
            Ok(Some(StreamFormat::OtlpLines))
        );
    }

    #[test]
    fn a_rotated_file_is_sniffed_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.jsonl");
        std::fs::write(
            &path,
            "{\"topic\":\"orders\",\"partition\":0,\"offset\":1,\"payload\":\"x\"}\n",
        )
        .expect("write");
        let mut f = Follower::new(&path);
        let r = f.poll().expect("poll");
        assert_eq!(r.format, Some(StreamFormat::Lines(LineFormat::Kcat)));
        assert_eq!(r.lines.len(), 1);
        std::fs::rename(&path, dir.path().join("f.jsonl.1")).expect("rotate");
        std::fs::write(&path, "{\"resourceSpans\":[]}\n").expect("new file");
        let r = f.poll().expect("poll");
        assert!(
            r.notes.iter().any(|n| n.contains("rotated")),
            "{:?}",
            r.notes
        );
        let r = f.poll().expect("poll");
        assert_eq!(r.format, Some(StreamFormat::OtlpLines));
        assert_eq!(r.numbers, vec![1]);
    }

    #[test]
    fn blank_lines_before_a_partial_first_record_wait_for_its_end() {
        let mut lines = Lines::new("stdin");
        let mut out = Read1::default();
        lines
            .push(b"\n\n{\"topic\":\"orders\",", &mut out)
            .expect("not a document: the record is not complete yet");
        assert!(out.format.is_none());
        lines
            .push(b"\"partition\":0,\"offset\":1}\n", &mut out)
            .expect("push");
        assert_eq!(out.format, Some(StreamFormat::Lines(LineFormat::Kcat)));
        assert_eq!(out.numbers, vec![3]);
    }

    #[test]
    fn an_input_ending_inside_its_first_line_is_sniffed_from_what_it_held() {
        let mut lines = Lines::new("stdin");
        let mut out = Read1::default();
        lines
            .push(br#"{"topic":"orders","partition":0,"offset":1}"#, &mut out)
            .expect("push");
        assert!(out.lines.is_empty() && out.format.is_none());
        lines.finish(&mut out).expect("finish");
        assert_eq!(out.format, Some(StreamFormat::Lines(LineFormat::Kcat)));
        assert_eq!(out.lines.len(), 1);
    }
}
