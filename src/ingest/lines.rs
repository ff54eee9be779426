//! One record per line (CloudEvents JSON Lines, captures, kcat `-J`, the OTLP collector's
//! file exporter): the input is read in chunks of whole lines, each chunk's lines are parsed
//! in parallel (rayon) into borrowed records, then added to the store in order. Memory stays
//! at a few chunks whatever the file size.

use super::LoadProgress;
use super::{cloudevents, jaeger, kcat, otlp, spans, zipkin};
use crate::model::{Format, Store};
use rayon::prelude::*;
use std::io::{self, Read};

const CHUNK: usize = 8 << 20;

/// A block of whole lines and where it starts in the stream.
pub struct Chunk {
    pub data: Vec<u8>,
    /// 1-based number of the chunk's first line.
    pub first_line: u64,
    /// Byte offset of the chunk in the (decompressed) stream.
    pub offset: u64,
}

impl Chunk {
    /// `(line number, offset in chunk, line bytes without the newline)`.
    pub fn lines(&self) -> Vec<(u64, usize, &[u8])> {
        let mut out = Vec::with_capacity(self.data.len() / 256 + 1);
        let mut start = 0;
        let mut n = self.first_line;
        for end in memchr::memchr_iter(b'\n', &self.data).chain(std::iter::once(self.data.len())) {
            if end < start {
                continue;
            }
            let mut line = &self.data[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if end != self.data.len() || !line.is_empty() {
                out.push((n, start, line));
            }
            n += 1;
            start = end + 1;
        }
        out
    }
}

/// Splits a stream into chunks of whole lines.
pub struct LineChunks<R> {
    reader: R,
    carry: Vec<u8>,
    next_line: u64,
    offset: u64,
    done: bool,
}

impl<R: Read> LineChunks<R> {
    pub fn new(reader: R) -> Self {
        LineChunks {
            reader,
            carry: Vec::new(),
            next_line: 1,
            offset: 0,
            done: false,
        }
    }

    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.reserve(CHUNK.saturating_sub(data.len()));
        while data.len() < CHUNK {
            let before = data.len();
            let n = (&mut self.reader)
                .take((CHUNK - before) as u64)
                .read_to_end(&mut data)?;
            if n == 0 {
                self.done = true;
                break;
            }
        }
        if data.is_empty() {
            return Ok(None);
        }
        if !self.done {
            match memchr::memrchr(b'\n', &data) {
                Some(last) => self.carry = data.split_off(last + 1),
                // A single line longer than a chunk: keep reading until it ends.
                None => {
                    let mut rest = Vec::new();
                    loop {
                        let mut buf = [0u8; 65536];
                        let n = self.reader.read(&mut buf)?;
                        if n == 0 {
                            self.done = true;
                            break;
                        }
                        if let Some(p) = memchr::memchr(b'\n', &buf[..n]) {
                            data.extend_from_slice(&buf[..=p]);
                            rest.extend_from_slice(&buf[p + 1..n]);
                            break;
                        }
                        data.extend_from_slice(&buf[..n]);
                    }
                    self.carry = rest;
                }
            }
        }
        let lines = memchr::memchr_iter(b'\n', &data).count() as u64;
        let chunk = Chunk {
            data,
            first_line: self.next_line,
            offset: self.offset,
        };
        self.next_line += lines;
        self.offset += chunk.data.len() as u64;
        Ok(Some(chunk))
    }
}

/// Parsed CloudEvent lines, kept together with the chunk they borrow from so that the
/// next chunk can be parsed while this one is added to the store.
type ParsedLines<'a> = Vec<(
    u64,
    usize,
    &'a str,
    Option<Result<cloudevents::Checked<'a>, String>>,
)>;

self_cell::self_cell!(
    struct ParsedChunk {
        owner: Chunk,
        #[covariant]
        dependent: ParsedLines,
    }
);

fn parse_chunk(chunk: Chunk) -> ParsedChunk {
    ParsedChunk::new(chunk, |chunk| {
        let t0 = std::time::Instant::now();
        let lines = chunk.lines();
        let t1 = std::time::Instant::now();
        let parsed = lines
            .into_par_iter()
            .with_min_len(256)
            .map(|(n, off, line)| {
                if line.trim_ascii().is_empty() {
                    return (n, off, "", None);
                }
                match utf8_line(line) {
                    Ok(text) => (n, off, text, Some(cloudevents::parse_and_check(text))),
                    Err(e) => (n, off, "", Some(Err(e))),
                }
            })
            .collect();
        add_phase(0, t1 - t0);
        add_phase(1, t1.elapsed());
        parsed
    })
}

fn add_chunk(
    store: &mut Store,
    input: u16,
    mut parsed: ParsedChunk,
    last_time: &mut i64,
) -> std::time::Duration {
    let t = std::time::Instant::now();
    let offset = parsed.borrow_owner().offset;
    parsed.with_dependent_mut(|_, lines| {
        for (line_no, off, text, result) in lines.drain(..) {
            match result {
                None => {}
                Some(Ok(checked)) => cloudevents::add_checked(
                    store,
                    input,
                    line_no,
                    checked,
                    text,
                    offset + off as u64,
                    last_time,
                ),
                Some(Err(message)) => store.inputs[input as usize].error(line_no, message),
            }
        }
    });
    t.elapsed()
}

/// Reads a line-per-record input of the given format. CloudEvents lines are pipelined:
/// chunk N+1 is read and parsed (in parallel) while chunk N is added to the store.
pub fn load_lines(
    store: &mut Store,
    input: u16,
    format: Format,
    reader: impl Read + Send,
    progress: &LoadProgress,
) -> io::Result<()> {
    let mut chunks = LineChunks::new(reader);
    let mut last_time = 0;
    if !matches!(
        format,
        Format::Capture | Format::CloudeventsJsonl | Format::Cloudevents
    ) {
        let mut kcat_state = kcat::KcatState::default();
        // Span formats are mapped once all spans are in: a consumer span may come before the
        // producer span it links to.
        let mut parsed_spans = spans::Parsed::default();
        while let Some(chunk) = chunks.next_chunk()? {
            if progress.is_cancelled() {
                break;
            }
            progress.add(chunk.data.len() as u64);
            match format {
                Format::Kcat => kcat::load_chunk(store, input, &chunk, &mut kcat_state),
                Format::Otlp => parsed_spans.extend(span_lines(&chunk, otlp::parse_line)),
                Format::Jaeger => parsed_spans.extend(span_lines(&chunk, jaeger::parse_line)),
                Format::Zipkin => parsed_spans.extend(span_lines(&chunk, zipkin::parse_line)),
                other => {
                    for (line, _, _) in chunk.lines() {
                        store.inputs[input as usize].error(
                            line,
                            format!("{} records in JSON Lines are not supported", other.as_str()),
                        );
                    }
                }
            }
        }
        if matches!(format, Format::Otlp | Format::Jaeger | Format::Zipkin) {
            super::add_parsed_spans(store, input, parsed_spans);
        }
        return Ok(());
    }
    let mut pending: Option<ParsedChunk> = None;
    loop {
        if progress.is_cancelled() {
            break;
        }
        let (next, add_time) = rayon::join(
            || -> io::Result<Option<ParsedChunk>> {
                let Some(chunk) = chunks.next_chunk()? else {
                    return Ok(None);
                };
                progress.add(chunk.data.len() as u64);
                Ok(Some(parse_chunk(chunk)))
            },
            || {
                pending
                    .take()
                    .map(|p| add_chunk(store, input, p, &mut last_time))
            },
        );
        if let Some(t) = add_time {
            add_phase(2, t);
        }
        match next? {
            Some(p) => pending = Some(p),
            None => break,
        }
    }
    Ok(())
}

/// Parses the lines of a chunk of a span format in parallel.
fn span_lines(chunk: &Chunk, parse: fn(&str, u64) -> spans::Parsed) -> spans::Parsed {
    let lines = chunk.lines();
    let parts: Vec<spans::Parsed> = lines
        .par_iter()
        .map(|(line_no, _, line)| {
            if line.trim_ascii().is_empty() {
                return spans::Parsed::default();
            }
            match utf8_line(line) {
                Ok(text) => parse(text, *line_no),
                Err(e) => spans::Parsed {
                    spans: Vec::new(),
                    errors: vec![(*line_no, e)],
                },
            }
        })
        .collect();
    let mut out = spans::Parsed::default();
    for p in parts {
        out.extend(p);
    }
    out
}

fn utf8_line(line: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(line)
        .map_err(|e| format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1))
}

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Nanoseconds spent splitting, parsing (parallel) and adding (sequential), summed over the
/// process, for `EVENTLENS_PROFILE`.
static PHASES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn add_phase(i: usize, d: std::time::Duration) {
    PHASES[i].fetch_add(d.as_nanos() as u64, Relaxed);
}

pub fn phase_times() -> [std::time::Duration; 3] {
    [0, 1, 2].map(|i| std::time::Duration::from_nanos(PHASES[i].load(Relaxed)))
}

/// Adds CloudEvents or capture JSON lines that arrived from a live source (a broker, a
/// webhook, the demo). Payloads are copied into the input's arena, since the message
/// buffers do not outlive the call. `next_line` numbers the records for error reports.
pub fn add_live_lines<S: AsRef<str>>(
    store: &mut Store,
    input: u16,
    lines: &[S],
    next_line: &mut u64,
    last_time: &mut i64,
) {
    if !matches!(
        store.inputs[input as usize].payloads,
        crate::model::PayloadSource::Arena(_)
    ) {
        store.inputs[input as usize].payloads = crate::model::PayloadSource::Arena(Vec::new());
    }
    for line in lines {
        let text = line.as_ref();
        let n = *next_line;
        *next_line += 1;
        match cloudevents::parse_and_check(text) {
            Ok(checked) => cloudevents::add_checked(store, input, n, checked, text, 0, last_time),
            Err(message) => store.inputs[input as usize].error(n, message),
        }
    }
}
