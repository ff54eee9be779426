//! Writing decoded broker messages in the engine's capture format: one CloudEvents JSON
//! line per event, a `publish` observation onto the message's channel (`lensstage`,
//! `lenschannel`, `recordedtime`, `lensbroker` with the redacted URL), plus the broker's own
//! metadata as informational `lens*` extensions the reader passes over (`lensmsgid`,
//! `lenssequence`, `lenspartition`, `lensoffset`, `lensdeliverycount`, `lensredelivered`,
//! `lensmode`), and `lensundecodable`, why a message that claimed to be a CloudEvent was
//! kept as a plain one, which the reader counts as a violation.
//!
//! [`CaptureWriter`] writes a file, compressed by its extension (`.gz`, `.zst`), and
//! [`CaptureWriter::flush`] makes everything written so far readable: a compressed file is
//! a series of complete gzip members or zstd frames, so a recorder killed at any moment
//! leaves a file whose every flushed line can be read.

use super::decode::{Attr, DecodedEvent, Mode, Payload};
use super::message::Message;
use crate::ingest::cloudevents::ext;
use crate::time::format_rfc3339;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Informational capture extensions (broker metadata), written but not read.
pub mod meta_ext {
    pub const MESSAGE_ID: &str = "lensmsgid";
    pub const SEQUENCE: &str = "lenssequence";
    pub const PARTITION: &str = "lenspartition";
    pub const OFFSET: &str = "lensoffset";
    pub const DELIVERY_COUNT: &str = "lensdeliverycount";
    pub const REDELIVERED: &str = "lensredelivered";
    /// The SSE `event:` name (when not the default `message`).
    pub const EVENT_NAME: &str = "lenseventname";
    /// `binary`, `structured`, `batch` or `plain`: how the message carried the event.
    pub const MODE: &str = "lensmode";
    /// Why a message that claimed to be a CloudEvent could not be read as one (it is kept
    /// as a plain message); read back as a violation.
    pub use crate::ingest::cloudevents::ext::UNDECODABLE;
}

fn push_str(out: &mut String, s: &str) {
    // serde_json's string escaping; writing into a String cannot fail.
    if let Ok(q) = serde_json::to_string(s) {
        out.push_str(&q);
    }
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push(',');
    push_str(out, name);
    out.push(':');
    push_str(out, value);
}

fn raw_field(out: &mut String, name: &str, raw: &str) {
    out.push(',');
    push_str(out, name);
    out.push(':');
    out.push_str(raw);
}

/// The observation time: when the broker stored the message if it says, else when it was
/// received.
pub fn observed_at(msg: &Message) -> crate::time::Nanos {
    msg.meta.broker_time.unwrap_or(msg.meta.receive_time)
}

/// One capture line (no newline) for an event decoded from `msg`. `broker` is the
/// source's redacted URL.
pub fn capture_line(ev: &DecodedEvent, msg: &Message, mode: Mode, broker: &str) -> String {
    let mut out = String::with_capacity(256 + ev.data.as_ref().map_or(0, |d| d.bytes.len()));
    out.push_str("{\"specversion\":");
    push_str(
        &mut out,
        if ev.specversion.is_empty() {
            "1.0"
        } else {
            &ev.specversion
        },
    );
    field(&mut out, "id", &ev.id);
    field(&mut out, "source", &ev.source);
    if !ev.ty.is_empty() {
        field(&mut out, "type", &ev.ty);
    }
    if let Some(s) = &ev.subject {
        field(&mut out, "subject", s);
    }
    match (&ev.time_text, ev.time) {
        (Some(t), _) => field(&mut out, "time", t),
        (None, Some(t)) => field(&mut out, "time", &format_rfc3339(t)),
        _ => {}
    }
    if let Some(c) = &ev.datacontenttype {
        field(&mut out, "datacontenttype", c);
    }
    if let Some(s) = &ev.dataschema {
        field(&mut out, "dataschema", s);
    }
    for (name, value) in &ev.extensions {
        // The observation is ours to describe: an event's own capture extensions would
        // contradict it.
        if name.starts_with("lens") || name == ext::RECORDED_TIME {
            continue;
        }
        match value {
            Attr::Str(s) => field(&mut out, name, s),
            Attr::Int(i) => raw_field(&mut out, name, &i.to_string()),
            Attr::Bool(b) => raw_field(&mut out, name, if *b { "true" } else { "false" }),
        }
    }
    field(
        &mut out,
        ext::RECORDED_TIME,
        &format_rfc3339(observed_at(msg)),
    );
    field(&mut out, ext::STAGE, "publish");
    field(&mut out, ext::CHANNEL, &msg.channel);
    field(&mut out, ext::BROKER, broker);
    let m = &msg.meta;
    if let Some(id) = &m.message_id {
        field(&mut out, meta_ext::MESSAGE_ID, id);
    }
    // Integers beyond the CloudEvents 32-bit range: written as strings.
    if let Some(s) = m.sequence {
        field(&mut out, meta_ext::SEQUENCE, &s.to_string());
    }
    if let Some(p) = m.partition {
        field(&mut out, meta_ext::PARTITION, &p.to_string());
    }
    if let Some(o) = m.offset {
        field(&mut out, meta_ext::OFFSET, &o.to_string());
    }
    if let Some(d) = m.delivery_count {
        field(&mut out, meta_ext::DELIVERY_COUNT, &d.to_string());
    }
    if m.redelivered {
        raw_field(&mut out, meta_ext::REDELIVERED, "true");
    }
    if let Some(name) = &m.event_name {
        field(&mut out, meta_ext::EVENT_NAME, name);
    }
    // What the reader cannot find again in the line: why a message was kept as a plain
    // one, and a batch's elements that could not be read.
    let lost: Vec<&str> = ev
        .violations
        .iter()
        .filter(|v| !ev.cloudevent || v.starts_with("batch element "))
        .map(String::as_str)
        .collect();
    if !lost.is_empty() {
        field(&mut out, meta_ext::UNDECODABLE, &lost.join("; "));
    }
    field(
        &mut out,
        meta_ext::MODE,
        match mode {
            Mode::Binary => "binary",
            Mode::Structured => "structured",
            Mode::Batch => "batch",
            Mode::Plain => "plain",
        },
    );
    if let Some(Payload { bytes, json }) = &ev.data {
        match (json, std::str::from_utf8(bytes)) {
            (true, Ok(text)) => raw_field(&mut out, "data", text.trim()),
            // Text that is not JSON: the JSON format writes it as a string.
            (false, Ok(text)) => field(&mut out, "data", text),
            _ => {
                use base64::Engine;
                field(
                    &mut out,
                    "data_base64",
                    &base64::engine::general_purpose::STANDARD.encode(bytes),
                );
            }
        }
    }
    out.push('}');
    out
}

/// Decodes a message and formats its capture lines, counting it in `stats` as decoded or
/// undecodable. An undecodable message (it claims to be a CloudEvent and is not) is kept as
/// a plain message, so nothing received is lost from the capture.
pub fn message_lines(msg: &Message, stats: &super::SourceStats, out: &mut Vec<String>) {
    decoded_lines(msg, super::decode::decode(msg), stats, out);
}

/// As [`message_lines`], for a message already decoded. The plain event an undecodable
/// message becomes carries why as [`meta_ext::UNDECODABLE`], which the reader counts as a
/// violation.
pub fn decoded_lines(
    msg: &Message,
    decoded: Result<super::decode::Decoded, String>,
    stats: &super::SourceStats,
    out: &mut Vec<String>,
) {
    use std::sync::atomic::Ordering;
    let (mode, events) = match decoded {
        Ok(d) => {
            stats.decoded.fetch_add(1, Ordering::Relaxed);
            (d.mode, d.events)
        }
        Err(e) => {
            stats.undecodable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{}: a message on {}: {e}", stats.url, msg.channel);
            let mut ev = super::decode::plain(msg);
            ev.violations.push(e);
            (Mode::Plain, vec![ev])
        }
    };
    for ev in &events {
        out.push(capture_line(ev, msg, mode, &stats.url));
    }
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(Option<flate2::write::GzEncoder<BufWriter<File>>>),
    Zstd(Option<zstd::stream::write::Encoder<'static, BufWriter<File>>>),
}

/// A capture file being written.
pub struct CaptureWriter {
    path: PathBuf,
    sink: Sink,
    /// Lines written since the last flush.
    unflushed: usize,
    /// Lines written in all.
    pub lines: u64,
}

fn new_gzip(w: BufWriter<File>) -> flate2::write::GzEncoder<BufWriter<File>> {
    flate2::write::GzEncoder::new(w, flate2::Compression::default())
}

fn new_zstd(
    w: BufWriter<File>,
) -> io::Result<zstd::stream::write::Encoder<'static, BufWriter<File>>> {
    zstd::stream::write::Encoder::new(w, 3)
}

impl CaptureWriter {
    /// Creates (truncates) the file; `.gz` and `.zst` compress.
    pub fn create(path: &Path) -> io::Result<CaptureWriter> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let sink = if name.ends_with(".gz") {
            Sink::Gzip(Some(new_gzip(file)))
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Sink::Zstd(Some(new_zstd(file)?))
        } else {
            Sink::Plain(file)
        };
        Ok(CaptureWriter {
            path: path.to_path_buf(),
            sink,
            unflushed: 0,
            lines: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let w: &mut dyn Write = match &mut self.sink {
            Sink::Plain(w) => w,
            Sink::Gzip(Some(w)) => w,
            Sink::Zstd(Some(w)) => w,
            _ => return Err(io::Error::other("the capture writer is closed")),
        };
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        self.unflushed += 1;
        self.lines += 1;
        Ok(())
    }

    /// Makes every line written so far readable from the file, even if the process is
    /// killed right after: compressed files end their gzip member or zstd frame here and
    /// start a new one.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.unflushed == 0 {
            return Ok(());
        }
        self.unflushed = 0;
        match &mut self.sink {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(slot) => {
                let enc = slot
                    .take()
                    .ok_or_else(|| io::Error::other("the capture writer is closed"))?;
                let mut file = enc.finish()?;
                file.flush()?;
                *slot = Some(new_gzip(file));
                Ok(())
            }
            Sink::Zstd(slot) => {
                let enc = slot
                    .take()
                    .ok_or_else(|| io::Error::other("the capture writer is closed"))?;
                let mut file = enc.finish()?;
                file.flush()?;
                *slot = Some(new_zstd(file)?);
                Ok(())
            }
        }
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> io::Result<u64> {
        self.flush()?;
        match &mut self.sink {
            Sink::Plain(w) => w.flush()?,
            // An empty last member or frame: harmless, both formats allow it.
            Sink::Gzip(slot) => {
                if let Some(enc) = slot.take() {
                    enc.finish()?.flush()?;
                }
            }
            Sink::Zstd(slot) => {
                if let Some(enc) = slot.take() {
                    enc.finish()?.flush()?;
                }
            }
        }
        Ok(self.lines)
    }
}

/// Where a recording's spans go when its events go to `output`: beside it, `.otlp`
/// before the extension (`run.jsonl` → `run.otlp.jsonl`, `run.jsonl.zst` →
/// `run.otlp.jsonl.zst`), compressed the same way.
pub fn spans_path(output: &Path) -> PathBuf {
    sibling(output, "otlp")
}

/// `output` with `.tag` put before its `.jsonl`/`.json` (and `.gz`/`.zst`) extension.
fn sibling(output: &Path, tag: &str) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let comp = [".gz", ".zst", ".zstd"]
        .into_iter()
        .find(|c| lower.ends_with(c))
        .unwrap_or("");
    let rest = &name[..name.len() - comp.len()];
    let rest_lower = &lower[..lower.len() - comp.len()];
    let (stem, ext) = match [".jsonl", ".ndjson", ".json"]
        .into_iter()
        .find(|e| rest_lower.ends_with(e) && rest_lower.len() > e.len())
    {
        Some(e) => (&rest[..rest.len() - e.len()], &rest[rest.len() - e.len()..]),
        None => (rest, ".jsonl"),
    };
    output.with_file_name(format!(
        "{stem}.{tag}{ext}{}",
        &name[name.len() - comp.len()..]
    ))
}

/// A file of a recording, created when it is first needed.
struct Part {
    path: PathBuf,
    writer: Option<CaptureWriter>,
    /// Lines (events) or spans written.
    written: u64,
}

impl Part {
    fn new(path: PathBuf) -> Part {
        Part {
            path,
            writer: None,
            written: 0,
        }
    }

    fn open(&mut self) -> io::Result<&mut CaptureWriter> {
        if self.writer.is_none() {
            self.writer = Some(CaptureWriter::create(&self.path)?);
        }
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the capture writer is closed"))
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<Option<(PathBuf, u64)>> {
        match self.writer.take() {
            Some(w) => {
                w.finish()?;
                Ok(Some((self.path.clone(), self.written)))
            }
            None => Ok(None),
        }
    }
}

/// What a recording wrote, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedFiles {
    /// The capture of events and its lines, if one was written.
    pub events: Option<(PathBuf, u64)>,
    /// The OTLP JSON Lines file of spans and how many spans it holds, if one was written.
    pub spans: Option<(PathBuf, u64)>,
}

/// Which kind of record a recording's output file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Events (and declared topology): spans go beside it.
    Events,
    /// Spans (every source gives only spans): events, if any, go beside it.
    Spans,
    /// Whichever kind is written first (a window recording whatever its live source
    /// gives); the other goes beside it.
    FirstWritten,
}

/// A recording's files. Events (and declared topology) go to a capture; spans go to OTLP
/// JSON Lines, one `TracesData` per batch of whole traces (see
/// [`crate::ingest::otlp_write`]), which eventlens and every OTLP tool read back. The output
/// holds one kind ([`Holds`]); the other goes beside it, events to `NAME.events.jsonl`,
/// spans to [`spans_path`]. The output is created at once (an empty recording is an empty
/// file); the other file only if something goes there.
pub struct RecordWriter {
    events: Part,
    spans: Part,
    /// The output, created before anything decided what it holds ([`Holds::FirstWritten`]).
    pending: Option<CaptureWriter>,
}

impl RecordWriter {
    /// Creates `output`.
    pub fn create(output: &Path, holds: Holds) -> io::Result<RecordWriter> {
        let mut w = RecordWriter {
            events: Part::new(output.to_path_buf()),
            spans: Part::new(spans_path(output)),
            pending: None,
        };
        match holds {
            Holds::Events => {
                w.events.open()?;
            }
            Holds::Spans => {
                w.hold_spans();
                w.spans.open()?;
            }
            Holds::FirstWritten => w.pending = Some(CaptureWriter::create(output)?),
        }
        Ok(w)
    }

    /// Makes the output the spans' file, and puts events beside it.
    fn hold_spans(&mut self) {
        let output = std::mem::take(&mut self.events.path);
        self.events.path = sibling(&output, "events");
        self.spans.path = output;
    }

    /// Settles what the output holds, at the first write of `spans` or not.
    fn settle(&mut self, spans: bool) {
        if let Some(w) = self.pending.take() {
            if spans {
                self.hold_spans();
                self.spans.writer = Some(w);
            } else {
                self.events.writer = Some(w);
            }
        }
    }

    /// Where the events go.
    pub fn events_path(&self) -> &Path {
        &self.events.path
    }

    /// Where the spans go.
    pub fn spans_path(&self) -> &Path {
        &self.spans.path
    }

    /// Appends one capture line.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.settle(false);
        self.events.open()?.write_line(line)?;
        self.events.written += 1;
        Ok(())
    }

    /// Appends spans as one OTLP JSON line.
    pub fn write_spans(&mut self, spans: &[crate::ingest::spans::Span]) -> io::Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        self.settle(true);
        let line = crate::ingest::otlp_write::otlp_json_line(spans);
        self.spans.open()?.write_line(&line)?;
        self.spans.written += spans.len() as u64;
        Ok(())
    }

    /// Capture lines written so far.
    pub fn events_written(&self) -> u64 {
        self.events.written
    }

    /// Spans written so far.
    pub fn spans_written(&self) -> u64 {
        self.spans.written
    }

    /// Makes everything written so far readable (see [`CaptureWriter::flush`]).
    pub fn flush(&mut self) -> io::Result<()> {
        self.events.flush()?;
        self.spans.flush()
    }

    /// Flushes and closes both files: what each holds.
    pub fn finish(mut self) -> io::Result<RecordedFiles> {
        // Nothing was written: the output stays, an empty capture.
        self.settle(false);
        Ok(RecordedFiles {
            events: self.events.finish()?,
            spans: self.spans.finish()?,
        })
    }
}

impl RecordedFiles {
    /// What went where, for the user: `N spans into PATH (OTLP JSON Lines)`, and how to
    /// open both files together when there are two.
    pub fn describe_spans(&self) -> String {
        let Some((spans, n)) = &self.spans else {
            return String::new();
        };
        let mut text = format!("{n} spans into {} (OTLP JSON Lines)", spans.display());
        if let Some((events, _)) = &self.events {
            text.push_str(&format!(
                "; open both together: eventlens {} {}",
                events.display(),
                spans.display()
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::decode;
    use crate::source::message::{HeaderValue, System};

    fn binary_message() -> Message {
        let mut m = Message::new(
            System::Nats,
            "orders.created",
            br#"{"orderId":"o-1"}"#.to_vec(),
        );
        m.headers = vec![
            ("ce-specversion".into(), "1.0".into()),
            ("ce-id".into(), "e-1".into()),
            ("ce-source".into(), "/orders".into()),
            ("ce-type".into(), "OrderPlaced".into()),
            ("ce-time".into(), "2024-05-01T10:00:00.5Z".into()),
            ("ce-priority".into(), HeaderValue::Int(3)),
            ("content-type".into(), "application/json".into()),
        ];
        m.meta.message_id = Some("e-1".into());
        m.meta.receive_time = 1_714_557_600_600_000_000;
        m
    }

    #[test]
    fn a_capture_line_is_the_event_plus_its_publish_observation() {
        let m = binary_message();
        let d = decode(&m).expect("decodes");
        let line = capture_line(&d.events[0], &m, d.mode, "nats://127.0.0.1:4222/orders.>");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["id"], "e-1");
        assert_eq!(v["type"], "OrderPlaced");
        assert_eq!(v["time"], "2024-05-01T10:00:00.5Z");
        assert_eq!(v["priority"], 3);
        assert_eq!(v["data"]["orderId"], "o-1");
        assert_eq!(v["lensstage"], "publish");
        assert_eq!(v["lenschannel"], "orders.created");
        assert_eq!(v["lensmode"], "binary");
        assert_eq!(v["recordedtime"], "2024-05-01T10:00:00.600Z");
        // The engine reads it back as the same event.
        let mut store = crate::model::Store::new();
        let input = store.add_input("test", Some(crate::model::Format::Live));
        let (mut n, mut t) = (1, 0);
        crate::ingest::lines::add_live_lines(&mut store, input, &[line], &mut n, &mut t);
        store.finalize();
        let e = store.event(store.find_event("/orders", "e-1").expect("event"));
        assert_eq!(store.str(e.ty), "OrderPlaced");
        assert_eq!(
            store.payload(e).as_deref(),
            Some(&br#"{"orderId":"o-1"}"#[..])
        );
        assert!(store.inputs[input as usize].violations.is_empty());
    }

    #[test]
    fn binary_payloads_are_base64_and_text_is_a_string() {
        let mut m = Message::new(System::Mqtt, "raw", vec![0xff, 0x00, 0x10]);
        let d = decode(&m).expect("decodes");
        let v: serde_json::Value =
            serde_json::from_str(&capture_line(&d.events[0], &m, d.mode, "mqtt://h/#"))
                .expect("JSON");
        assert_eq!(v["data_base64"], "/wAQ");
        assert_eq!(v["lensmode"], "plain");
        m.payload = b"hello there".to_vec();
        let d = decode(&m).expect("decodes");
        let v: serde_json::Value =
            serde_json::from_str(&capture_line(&d.events[0], &m, d.mode, "mqtt://h/#"))
                .expect("JSON");
        assert_eq!(v["data"], "hello there");
    }

    #[test]
    fn a_compressed_capture_is_readable_after_every_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["c.jsonl.gz", "c.jsonl.zst", "c.jsonl"] {
            let path = dir.path().join(name);
            let mut w = CaptureWriter::create(&path).expect("create");
            let m = binary_message();
            let d = decode(&m).expect("decodes");
            for i in 0..3 {
                let mut e = d.events[0].clone();
                e.id = format!("e-{i}");
                w.write_line(&capture_line(&e, &m, d.mode, "nats://h/x"))
                    .expect("write");
                w.flush().expect("flush");
            }
            // Not finished: as if the recorder had been killed here.
            let mut store = crate::model::Store::new();
            let progress = crate::ingest::LoadProgress::default();
            crate::ingest::load_path(&mut store, &path, &progress).expect("loads");
            store.finalize();
            assert_eq!(store.events.len(), 3, "{name}");
            std::mem::forget(w);
        }
    }

    #[test]
    fn spans_go_beside_the_output_compressed_the_same_way() {
        for (out, beside) in [
            ("/r/run.jsonl", "/r/run.otlp.jsonl"),
            ("/r/run.jsonl.zst", "/r/run.otlp.jsonl.zst"),
            ("/r/run.JSON.gz", "/r/run.otlp.JSON.gz"),
            ("/r/run", "/r/run.otlp.jsonl"),
            ("/r/.jsonl", "/r/.jsonl.otlp.jsonl"),
        ] {
            assert_eq!(spans_path(Path::new(out)), Path::new(beside), "{out}");
        }
    }

    #[test]
    fn the_output_holds_whichever_kind_comes_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let span = crate::ingest::otlp::parse_line(
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"x","kind":4,"startTimeUnixNano":"1700000000000000000"}]}]}]}"#,
            1,
        )
        .spans;
        // Spans first: the output holds spans, the events go beside it.
        let out = dir.path().join("a.jsonl");
        let mut w = RecordWriter::create(&out, Holds::FirstWritten).expect("create");
        assert!(out.exists(), "the output is made at once");
        w.write_spans(&span).expect("spans");
        w.write_line(r#"{"specversion":"1.0"}"#).expect("line");
        let files = w.finish().expect("finish");
        assert_eq!(files.spans, Some((out.clone(), 1)));
        assert_eq!(files.events, Some((dir.path().join("a.events.jsonl"), 1)));
        let text = std::fs::read_to_string(&out).expect("read");
        assert!(text.starts_with(r#"{"resourceSpans":"#), "{text}");
        // Nothing written: an empty capture.
        let out = dir.path().join("b.jsonl");
        let files = RecordWriter::create(&out, Holds::FirstWritten)
            .expect("create")
            .finish()
            .expect("finish");
        assert_eq!((files.events, files.spans), (Some((out.clone(), 0)), None));
        assert_eq!(std::fs::read(&out).expect("read").len(), 0);
    }
}
