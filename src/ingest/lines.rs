//! One record per line (CloudEvents JSON Lines, captures, kcat `-J`, the OTLP collector's
//! file exporter): the input is read in chunks of whole lines, each chunk's lines are parsed
//! in parallel (rayon) into borrowed records, then added to the store in order. Memory stays
//! at a few chunks whatever the file size.

use super::LoadProgress;
use super::{cloudevents, envelopes, jaeger, kcat, otlp, otlp_logs, spans, zipkin};
use crate::model::{Format, Store};
use rayon::prelude::*;
use std::io::{self, Read};

const CHUNK: usize = 8 << 20;

/// The longest line read by default (a collector line with thousands of spans is a few
/// MB): a longer one is reported and skipped, so an endless line cannot take all memory.
/// Loads take theirs from [`super::Limits::max_record`] (`--max-record`).
pub const MAX_LINE: usize = 64 << 20;

/// A block of whole lines and where it starts in the stream.
#[derive(Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// 1-based number of the chunk's first line.
    pub first_line: u64,
    /// Byte offset of the chunk in the (decompressed) stream.
    pub offset: u64,
    /// Positions of the newlines in `data`.
    newlines: Vec<usize>,
    /// Lines longer than the limit, left out of `data` (an empty line stands in for each):
    /// `(line number, length in bytes)`.
    pub overlong: Vec<(u64, u64)>,
}

impl Chunk {
    fn view(&self) -> LinesView<'_, '_> {
        LinesView {
            data: &self.data,
            first_line: self.first_line,
            newlines: &self.newlines,
        }
    }

    /// `(line number, offset in chunk, line bytes without the newline)`.
    pub fn lines(&self) -> Vec<(u64, usize, &[u8])> {
        let v = self.view();
        (0..v.line_count()).map(|i| v.line(i)).collect()
    }
}

/// Whole lines in a block of bytes, with the positions of their newlines.
#[derive(Clone, Copy)]
struct LinesView<'d, 'n> {
    data: &'d [u8],
    first_line: u64,
    newlines: &'n [usize],
}

impl<'d> LinesView<'d, '_> {
    /// Number of lines: one per newline, plus a last line without one if it is not empty.
    fn line_count(&self) -> usize {
        let tail = self.newlines.last().map_or(0, |&p| p + 1);
        self.newlines.len() + usize::from(tail < self.data.len())
    }

    /// Line `i`: `(line number, offset in the block, bytes without the newline)`.
    fn line(&self, i: usize) -> (u64, usize, &'d [u8]) {
        let start = if i == 0 { 0 } else { self.newlines[i - 1] + 1 };
        let end = self.newlines.get(i).copied().unwrap_or(self.data.len());
        let mut line = &self.data[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        (self.first_line + i as u64, start, line)
    }
}

/// Splits a stream into chunks of whole lines.
pub struct LineChunks<R> {
    reader: R,
    carry: Vec<u8>,
    /// Chunks already consumed, reused so that every chunk is not fresh memory for the
    /// kernel to zero.
    spare: Vec<Chunk>,
    next_line: u64,
    offset: u64,
    done: bool,
    chunk: usize,
    max_line: usize,
}

impl<R: Read> LineChunks<R> {
    pub fn new(reader: R) -> Self {
        Self::with_limits(reader, CHUNK, MAX_LINE)
    }

    /// Chunks of about `chunk` bytes; lines longer than `max_line` are skipped.
    pub fn with_limits(reader: R, chunk: usize, max_line: usize) -> Self {
        LineChunks {
            reader,
            carry: Vec::new(),
            spare: Vec::new(),
            next_line: 1,
            offset: 0,
            done: false,
            chunk: chunk.max(1),
            max_line: max_line.max(1),
        }
    }

    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = self.spare.pop().unwrap_or_default();
        let mut data = std::mem::take(&mut chunk.data);
        data.clear();
        data.extend_from_slice(&self.carry);
        self.carry.clear();
        data.reserve(self.chunk.saturating_sub(data.len()));
        chunk.overlong.clear();
        while data.len() < self.chunk {
            let before = data.len();
            let n = (&mut self.reader)
                .take((self.chunk - before) as u64)
                .read_to_end(&mut data)?;
            if n == 0 {
                self.done = true;
                break;
            }
        }
        if data.is_empty() {
            return Ok(None);
        }
        let mut skipped_bytes = 0;
        if !self.done {
            match memchr::memrchr(b'\n', &data) {
                Some(last) => {
                    self.carry.extend_from_slice(&data[last + 1..]);
                    data.truncate(last + 1);
                }
                // A single line longer than a chunk: keep reading until it ends, up to
                // `max_line` bytes; a longer one is skipped (and reported) to its end.
                None => {
                    let mut rest = Vec::new();
                    let mut dropped: Option<u64> = None;
                    let mut buf = vec![0u8; 1 << 20];
                    if data.len() > self.max_line {
                        dropped = Some(data.len() as u64);
                        data.clear();
                    }
                    loop {
                        let n = match self.reader.read(&mut buf) {
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        };
                        if n == 0 {
                            self.done = true;
                            break;
                        }
                        let newline = memchr::memchr(b'\n', &buf[..n]);
                        let take = newline.map_or(n, |p| p + 1);
                        if dropped.is_none() && data.len() + take > self.max_line {
                            dropped = Some(data.len() as u64);
                            data.clear();
                        }
                        match &mut dropped {
                            Some(len) => *len += take as u64,
                            None => data.extend_from_slice(&buf[..take]),
                        }
                        if let Some(p) = newline {
                            rest.extend_from_slice(&buf[p + 1..n]);
                            break;
                        }
                    }
                    if let Some(len) = dropped {
                        // An empty line stands in for it, so the numbering goes on (and
                        // the offsets after it stay those of the stream).
                        let len = len - u64::from(!self.done);
                        chunk.overlong.push((self.next_line, len));
                        data.clear();
                        data.push(b'\n');
                        skipped_bytes = len;
                    }
                    self.carry = rest;
                }
            }
        }
        chunk.newlines.clear();
        chunk.newlines.extend(memchr::memchr_iter(b'\n', &data));
        chunk.data = data;
        chunk.first_line = self.next_line;
        chunk.offset = self.offset;
        self.next_line += chunk.newlines.len() as u64;
        self.offset += chunk.data.len() as u64 + skipped_bytes;
        Ok(Some(chunk))
    }

    /// Gives back a consumed chunk for the next one to reuse its memory.
    pub fn recycle(&mut self, chunk: Chunk) {
        if self.spare.len() < 2 {
            self.spare.push(chunk);
        }
    }
}

/// Parsed CloudEvent lines, kept together with the chunk they borrow from so that the
/// next chunk can be parsed while this one is added to the store.
type ParsedLine<'a> = (
    u64,
    usize,
    &'a str,
    Option<Result<cloudevents::Checked<'a>, String>>,
);
type ParsedLines<'a> = Vec<ParsedLine<'a>>;

/// An emptied vector of parsed lines, relabelled to another lifetime so that its memory
/// serves the next chunk (the standard library collects a vector mapped to a type of the
/// same layout in place).
fn reuse<'b>(mut v: ParsedLines<'_>) -> ParsedLines<'b> {
    v.clear();
    v.into_iter().map(|_| unreachable!("emptied")).collect()
}

self_cell::self_cell!(
    struct ParsedChunk {
        owner: Chunk,
        #[covariant]
        dependent: ParsedLines,
    }
);

/// Parses the CloudEvent lines of a block in parallel into `out`.
fn parse_lines<'d>(view: LinesView<'d, '_>, out: &mut ParsedLines<'d>, max_line: usize) {
    let t = std::time::Instant::now();
    // Room to spare, so that the next block, a few lines longer, fits without moving.
    let n = view.line_count();
    if out.capacity() < n {
        out.reserve(n + n / 8);
    }
    (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map(|i| {
            let (n, off, line) = view.line(i);
            if line.len() > max_line {
                return (n, off, "", Some(Err(too_long(line.len() as u64, max_line))));
            }
            if line.trim_ascii().is_empty() {
                return (n, off, "", None);
            }
            match utf8_line(line) {
                Ok(text) => (n, off, text, Some(cloudevents::parse_and_check(text))),
                Err(e) => (n, off, "", Some(Err(e))),
            }
        })
        .collect_into_vec(out);
    add_phase(1, t.elapsed());
}

/// Adds parsed lines (of a block at stream offset `offset`) to the store, in order, and
/// empties `lines`.
fn add_parsed(
    store: &mut Store,
    input: u16,
    lines: &mut ParsedLines<'_>,
    offset: u64,
    last_time: &mut i64,
) {
    let t = std::time::Instant::now();
    for (line_no, off, text, result) in lines.iter_mut() {
        match result {
            None => {}
            Some(Ok(checked)) => cloudevents::add_checked(
                store,
                input,
                *line_no,
                checked,
                text,
                offset + *off as u64,
                last_time,
            ),
            Some(Err(message)) => {
                store.inputs[input as usize].error(*line_no, std::mem::take(message))
            }
        }
    }
    lines.clear();
    add_phase(2, t.elapsed());
}

fn parse_chunk(chunk: Chunk, spare: ParsedLines<'static>, max_line: usize) -> ParsedChunk {
    ParsedChunk::new(chunk, |chunk| {
        let mut parsed = reuse(spare);
        parse_lines(chunk.view(), &mut parsed, max_line);
        parsed
    })
}

/// Adds a parsed chunk to the store; gives back the chunk and the emptied vector for
/// reuse.
fn add_chunk(
    store: &mut Store,
    input: u16,
    mut parsed: ParsedChunk,
    last_time: &mut i64,
    max_line: usize,
) -> (Chunk, ParsedLines<'static>) {
    let offset = parsed.borrow_owner().offset;
    report_overlong(store, input, parsed.borrow_owner(), max_line);
    let spare = parsed.with_dependent_mut(|_, lines| {
        add_parsed(store, input, lines, offset, last_time);
        reuse(std::mem::take(lines))
    });
    (parsed.into_owner(), spare)
}

/// Whether lines of this format are CloudEvents (parsed by the pipelined path).
pub fn is_cloudevent_lines(format: Format) -> bool {
    matches!(
        format,
        Format::Capture | Format::CloudeventsJsonl | Format::Cloudevents
    )
}

/// Reads a line-per-record input of the given format. CloudEvents lines are pipelined:
/// chunk N+1 is read and parsed (in parallel) while chunk N is added to the store.
pub fn load_lines(
    store: &mut Store,
    input: u16,
    format: Format,
    reader: impl Read + Send,
    size_hint: Option<u64>,
    progress: &LoadProgress,
) {
    let max_line = progress.limits.max_record;
    let mut chunks = LineChunks::with_limits(reader, CHUNK, max_line);
    let mut last_time = 0;
    // A read error (a truncated or corrupt compressed stream, a decompression bomb) ends
    // the input where it happened; what was read before it is kept.
    let stopped = |store: &mut Store, line: u64, e: io::Error| {
        store.inputs[input as usize].error(line, format!("reading stopped here: {e}"));
    };
    if !is_cloudevent_lines(format) {
        let mut kcat_state = kcat::KcatState::default();
        // Span formats are mapped once all spans are in: a consumer span may come before the
        // producer span it links to.
        let mut parsed_spans = spans::Parsed::default();
        loop {
            let chunk = match chunks.next_chunk() {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    stopped(store, chunks.next_line, e);
                    break;
                }
            };
            if progress.is_cancelled() {
                break;
            }
            progress.add(chunk.data.len() as u64);
            report_overlong(store, input, &chunk, max_line);
            match format {
                Format::Kcat => kcat::load_chunk(store, input, &chunk, &mut kcat_state),
                Format::OtlpLogs => otlp_logs::load_chunk(store, input, &chunk, &mut last_time),
                Format::Eventgrid | Format::Eventbridge | Format::Cdevents => {
                    envelopes::load_chunk(store, input, format, &chunk, &mut last_time)
                }
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
        return;
    }
    let mut pending: Option<ParsedChunk> = None;
    let mut spare_parsed = Vec::new();
    let mut added = 0u32;
    loop {
        if progress.is_cancelled() {
            break;
        }
        let spare = std::mem::take(&mut spare_parsed);
        let (next, done) = rayon::join(
            || -> Result<Option<ParsedChunk>, (u64, io::Error)> {
                let t = std::time::Instant::now();
                let Some(chunk) = chunks.next_chunk().map_err(|e| (chunks.next_line, e))? else {
                    return Ok(None);
                };
                add_phase(0, t.elapsed());
                progress.add(chunk.data.len() as u64);
                Ok(Some(parse_chunk(chunk, spare, max_line)))
            },
            || {
                pending.take().map(|p| {
                    let bytes = p.borrow_owner().data.len();
                    (bytes, add_chunk(store, input, p, &mut last_time, max_line))
                })
            },
        );
        if let Some((bytes, (chunk, parsed))) = done {
            chunks.recycle(chunk);
            spare_parsed = parsed;
            added += 1;
            // After the first block, size the store for the whole input at once: growing
            // its vectors and maps by doubling copies them, touches twice the memory and
            // has the kernel zero every new page (a third of the load's time measured).
            if added == 1
                && let Some(total) = size_hint
                && bytes > 0
            {
                store.reserve_for(total as f64 / bytes as f64);
            }
        }
        match next {
            Ok(Some(p)) => pending = Some(p),
            Ok(None) => break,
            Err((line, e)) => {
                stopped(store, line, e);
                break;
            }
        }
    }
}

/// Reports the lines of a chunk that were too long to read.
fn report_overlong(store: &mut Store, input: u16, chunk: &Chunk, max_line: usize) {
    for &(line, len) in &chunk.overlong {
        store.inputs[input as usize].error(line, too_long(len, max_line));
    }
}

/// Why a line was skipped for its length.
fn too_long(len: u64, max_line: usize) -> String {
    format!(
        "the line is {len} bytes long, longer than the {} eventlens reads as one record: skipped (--max-record raises the limit)",
        super::fmt_size(max_line as u64)
    )
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
                    errors: vec![(*line_no, e)],
                    ..Default::default()
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

/// Nanoseconds spent reading, parsing (parallel) and adding (sequential), summed over the
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
            Ok(mut checked) => {
                cloudevents::add_checked(store, input, n, &mut checked, text, 0, last_time)
            }
            Err(message) => store.inputs[input as usize].error(n, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &[u8], chunk: usize, max_line: usize) -> Vec<Chunk> {
        let mut c = LineChunks::with_limits(text, chunk, max_line);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap_or_default() {
            out.push(ch);
        }
        out
    }

    #[test]
    fn long_lines_are_read_whole_and_endless_ones_skipped() {
        let long = "x".repeat(100);
        let text = format!("a\n{long}\nb\n");
        // Lines longer than a chunk are read whole.
        let all = chunks(text.as_bytes(), 8, 1000);
        let lines: Vec<(u64, String)> = all
            .iter()
            .flat_map(|c| {
                c.lines()
                    .into_iter()
                    .map(|(n, _, l)| (n, String::from_utf8_lossy(l).into_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            lines,
            vec![(1, "a".into()), (2, long.clone()), (3, "b".into())]
        );
        assert!(all.iter().all(|c| c.overlong.is_empty()));
        // Longer than the limit: skipped (an empty line stands in), reported with its
        // length, and the lines and offsets after it stay right.
        let all = chunks(text.as_bytes(), 8, 50);
        let overlong: Vec<(u64, u64)> = all.iter().flat_map(|c| c.overlong.clone()).collect();
        assert_eq!(overlong, vec![(2, 100)]);
        let last = all
            .iter()
            .flat_map(|c| {
                c.lines()
                    .into_iter()
                    .map(|(n, off, l)| (n, c.offset + off as u64, l.to_vec()))
            })
            .rfind(|(_, _, l)| !l.is_empty());
        assert_eq!(last, Some((3, 103, b"b".to_vec())));
        // An endless line (no newline at all) ends the input with one report.
        let endless = "y".repeat(300);
        let all = chunks(endless.as_bytes(), 8, 50);
        let overlong: Vec<(u64, u64)> = all.iter().flat_map(|c| c.overlong.clone()).collect();
        assert_eq!(overlong, vec![(1, 300)]);
    }
}
