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

/// Reads a line-per-record input of the given format.
pub fn load_lines(
    store: &mut Store,
    input: u16,
    format: Format,
    reader: impl Read,
    progress: &LoadProgress,
) -> io::Result<()> {
    let mut chunks = LineChunks::new(reader);
    let mut last_time = 0;
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
            Format::Capture | Format::CloudeventsJsonl | Format::Cloudevents => {
                cloudevent_lines(store, input, &chunk, &mut last_time)
            }
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

fn cloudevent_lines(store: &mut Store, input: u16, chunk: &Chunk, last_time: &mut i64) {
    let lines = chunk.lines();
    let parsed: Vec<Option<Result<cloudevents::Checked<'_>, String>>> = lines
        .par_iter()
        .with_min_len(256)
        .map(|(_, _, line)| {
            if line.trim_ascii().is_empty() {
                return None;
            }
            Some(utf8_line(line).and_then(cloudevents::parse_and_check))
        })
        .collect();
    for ((line_no, off, line), result) in lines.iter().zip(parsed) {
        match result {
            None => {}
            Some(Ok(checked)) => {
                // utf8_line succeeded for this line, so this cannot fail.
                let text = std::str::from_utf8(line).unwrap_or_default();
                cloudevents::add_checked(
                    store,
                    input,
                    *line_no,
                    checked,
                    text,
                    chunk.offset + *off as u64,
                    last_time,
                );
            }
            Some(Err(message)) => store.inputs[input as usize].error(*line_no, message),
        }
    }
}
