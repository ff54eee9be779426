//! Reading captures into the [`Store`]: gzip/zstd decompression, format sniffing by content
//! (never by file extension), and one module per format. Every reader loads every record it
//! can, reports each bad one with its line and the reason, and never panics.

pub mod cloudevents;
pub mod conventions;
pub mod jaeger;
pub mod jsonval;
pub mod kcat;
pub mod lines;
pub mod otlp;
pub mod scan;
pub mod span_flow;
pub mod spans;
pub mod zipkin;

use crate::model::{Format, PayloadSource, Store};
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Why an input could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: {message}")]
    Unrecognised { path: String, message: String },
    #[error("{path}: nothing readable: {message}")]
    NothingReadable { path: String, message: String },
    #[error("{path}: loading cancelled")]
    Cancelled { path: String },
}

/// How the bytes are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Whole documents vs one record per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Lines,
    Document,
}

/// Progress and cancellation shared with whoever started a load (the GUI's progress bar).
#[derive(Default, Debug)]
pub struct LoadProgress {
    pub bytes_read: std::sync::atomic::AtomicU64,
    pub cancelled: std::sync::atomic::AtomicBool,
}

impl LoadProgress {
    pub fn add(&self, n: u64) {
        self.bytes_read
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What a record's keys say it is.
pub fn classify_record(keys: &[&str]) -> Option<Format> {
    let has = |k: &str| keys.contains(&k);
    if has("resourceSpans") {
        Some(Format::Otlp)
    } else if has("topic") && (has("offset") || has("partition")) {
        Some(Format::Kcat)
    } else if has("traceID") && has("spans")
        || has("data")
            && !["specversion", "id", "source", "type"]
                .iter()
                .any(|k| has(k))
    {
        Some(Format::Jaeger)
    } else if has("traceId") && (has("localEndpoint") || has("kind") || has("timestamp")) {
        Some(Format::Zipkin)
    } else if has("specversion")
        || has("id") && (has("source") || has("type"))
        || has("source") && has("type")
    {
        if has("recordedtime") || keys.iter().any(|k| k.starts_with("lens")) {
            Some(Format::Capture)
        } else {
            Some(Format::Cloudevents)
        }
    } else {
        None
    }
}

fn object_keys(bytes: &[u8]) -> Option<Vec<String>> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes).ok()?;
    Some(v.keys().cloned().collect())
}

fn classify_bytes(bytes: &[u8]) -> Option<Format> {
    let keys = object_keys(bytes)?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    classify_record(&refs)
}

/// The keys of a top-level JSON object, as far as `text` goes: a document cut off by the
/// sniffing window still names the keys before the cut.
fn leading_keys(text: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    struct Keys<'k>(&'k mut Vec<String>);
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                self.0.push(k);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Keys<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(text);
    let _ = Keys(&mut keys).deserialize(&mut de);
    keys
}

/// The keys of the first element of a JSON array, as far as `text` goes.
fn first_element_keys(text: &[u8]) -> Vec<String> {
    let Some(open) = text.iter().position(|&b| b == b'[') else {
        return Vec::new();
    };
    let rest = &text[open + 1..];
    match rest.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) if rest[i] == b'{' => leading_keys(&rest[i..]),
        _ => Vec::new(),
    }
}

fn classify_keys(keys: &[String]) -> Option<Format> {
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    classify_record(&refs)
}

/// Decides the format and layout from the first bytes (decompressed).
///
/// A first JSON value that ends on its first line means one record per line (a leading
/// garbage line is skipped over: the first lines that parse as complete objects decide);
/// a value spanning lines, or cut off by the window, is a whole document, classified by its
/// top-level keys (a `[` array by its first element: `traceId` is Zipkin, anything else a
/// CloudEvents batch).
pub fn sniff(head: &[u8]) -> Option<(Format, Layout)> {
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = &text[start..];
    let first = text[0];
    let mut stream =
        serde_json::Deserializer::from_slice(text).into_iter::<serde::de::IgnoredAny>();
    let first_value = stream.next();
    let end = stream.byte_offset();
    let one_line_value = matches!(first_value, Some(Ok(_))) && !text[..end].contains(&b'\n');
    let whole_document = match first_value {
        Some(Ok(_)) => !one_line_value,
        Some(Err(e)) => e.is_eof(),
        None => false,
    };
    if !whole_document {
        // One record per line: the first lines that parse as a complete object say what it is.
        for line in text.split(|&b| b == b'\n').take(64) {
            let t = line.trim_ascii();
            if t.first() == Some(&b'[') && first_element_keys(t).iter().any(|k| k == "traceId") {
                // Zipkin span arrays, one per line.
                return Some((Format::Zipkin, Layout::Lines));
            }
            if t.first() != Some(&b'{') {
                continue;
            }
            if let Some(f) = classify_bytes(t) {
                let f = match f {
                    Format::Cloudevents => Format::CloudeventsJsonl,
                    f => f,
                };
                return Some((f, Layout::Lines));
            }
        }
    }
    match first {
        b'[' => {
            let keys = first_element_keys(text);
            if keys.iter().any(|k| k == "traceId") {
                Some((Format::Zipkin, Layout::Document))
            } else {
                Some((Format::CloudeventsBatch, Layout::Document))
            }
        }
        b'{' => match classify_keys(&leading_keys(text)) {
            Some(f @ (Format::Otlp | Format::Jaeger | Format::Zipkin)) => {
                Some((f, Layout::Document))
            }
            _ => Some((Format::Cloudevents, Layout::Document)),
        },
        _ => None,
    }
}

const HEAD: usize = 256 * 1024;

fn open_decoded(path: &Path) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic)?;
    let compression = Compression::sniff(&magic[..n]);
    let raw = io::Cursor::new(magic[..n].to_vec()).chain(f);
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw)?),
    };
    Ok((reader, compression))
}

/// The file mapped in memory, if it is a regular file that can be mapped.
///
/// A mapped file must not be truncated by another process while it is read (the read would
/// fault); captures are appended to, not truncated, and anything that is not a regular file
/// (a pipe, a device) is read instead.
fn map_file(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: see above; the map is only read, and only while the file is loaded.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Loads one file into the store (call [`Store::finalize`] after the last one).
/// Returns the input's index; per-record problems are in `store.inputs[i]`.
pub fn load_path(
    store: &mut Store,
    path: &Path,
    progress: &LoadProgress,
) -> Result<u16, LoadError> {
    let shown = path.display().to_string();
    let io_err = |source| LoadError::Io {
        path: shown.clone(),
        source,
    };
    let (mut reader, compression) = open_decoded(path).map_err(io_err)?;
    let mut head = vec![0u8; HEAD];
    let n = read_up_to(&mut reader, &mut head).map_err(|e| LoadError::Io {
        path: shown.clone(),
        source: io::Error::new(e.kind(), format!("reading {compression:?} data: {e}")),
    })?;
    head.truncate(n);
    let Some((format, layout)) = sniff(&head) else {
        let message = if head.iter().all(u8::is_ascii_whitespace) {
            "the file is empty".to_string()
        } else {
            "not a recognised format: no JSON record (CloudEvents, OTLP, Jaeger, Zipkin or kcat) in the first 256 KiB".to_string()
        };
        return Err(LoadError::Unrecognised {
            path: shown,
            message,
        });
    };
    let input = store.add_input(shown.clone(), Some(format));
    // Plain line files are read back by offset; anything else keeps its payloads in an arena.
    store.inputs[input as usize].payloads = match (compression, layout) {
        (Compression::None, Layout::Lines) => PayloadSource::File(
            path.to_path_buf(),
            std::fs::File::open(path).ok().map(std::sync::Arc::new),
        ),
        _ => PayloadSource::Arena(Vec::new()),
    };
    let reader = io::Cursor::new(head).chain(reader);
    match layout {
        Layout::Lines if compression == Compression::None && lines::is_cloudevent_lines(format) => {
            match map_file(path) {
                Some(map) => lines::load_mapped_cloudevents(store, input, &map, progress),
                None => {
                    lines::load_lines(store, input, format, reader, progress).map_err(io_err)?
                }
            }
        }
        Layout::Lines => {
            lines::load_lines(store, input, format, reader, progress).map_err(io_err)?
        }
        Layout::Document => {
            let mut bytes = Vec::new();
            let mut reader = reader;
            reader.read_to_end(&mut bytes).map_err(io_err)?;
            progress.add(bytes.len() as u64);
            load_document(store, input, &bytes);
        }
    }
    if progress.is_cancelled() {
        return Err(LoadError::Cancelled { path: shown });
    }
    let inp = &store.inputs[input as usize];
    if inp.records == 0 && inp.skipped > 0 {
        let first = inp
            .errors
            .first()
            .map(|e| format!(" (line {}: {})", e.line, e.message))
            .unwrap_or_default();
        return Err(LoadError::NothingReadable {
            path: shown,
            message: format!("none of its {} records could be read{first}", inp.skipped),
        });
    }
    Ok(input)
}

/// A whole JSON document: a single CloudEvent, a batch, OTLP, Jaeger or Zipkin.
fn load_document(store: &mut Store, input: u16, bytes: &[u8]) {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let format = store.inputs[input as usize].format;
    if let Some(parse) = span_document_parser(format) {
        let text = match std::str::from_utf8(text) {
            Ok(t) => t,
            Err(e) => {
                let line = spans::LineIndex::new(text).line(e.valid_up_to());
                store.inputs[input as usize].error(
                    line,
                    format!(
                        "invalid UTF-8 at byte {}: the document cannot be read",
                        e.valid_up_to()
                    ),
                );
                return;
            }
        };
        let parsed = parse(text);
        add_parsed_spans(store, input, parsed);
        return;
    }
    let trimmed = text.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        cloudevents::load_array(store, input, text);
        return;
    }
    match classify_bytes(text) {
        Some(Format::Cloudevents | Format::Capture) | None
            if format == Some(Format::Cloudevents) =>
        {
            cloudevents::load_single(store, input, text);
        }
        Some(f) => {
            store.inputs[input as usize].format = Some(f);
            cloudevents::load_single(store, input, text);
        }
        None => cloudevents::load_single(store, input, text),
    }
}

type DocumentParser = fn(&str) -> spans::Parsed;

fn span_document_parser(format: Option<Format>) -> Option<DocumentParser> {
    match format? {
        Format::Otlp => Some(otlp::parse_document),
        Format::Jaeger => Some(jaeger::parse_document),
        Format::Zipkin => Some(zipkin::parse_document),
        _ => None,
    }
}

/// Reports the records that could not be read, then maps the spans.
pub(crate) fn add_parsed_spans(store: &mut Store, input: u16, parsed: spans::Parsed) {
    let mut errors = parsed.errors;
    errors.sort_by_key(|(line, _)| *line);
    for (line, message) in errors {
        store.inputs[input as usize].error(line, message);
    }
    spans::add_spans(store, input, &parsed.spans);
}

/// Human-readable reason for a serde_json error, with the line/column it points at.
pub fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON value",
        serde_json::error::Category::Io => "read error",
    };
    let msg = e.to_string();
    let detail = msg.split(" at line ").next().unwrap_or(&msg);
    format!("{what}: {detail} (column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(text: &str) -> Option<(Format, Layout)> {
        sniff(text.as_bytes())
    }

    #[test]
    fn span_formats_by_content() {
        use Format::*;
        use Layout::*;
        let otlp_line = r#"{"resourceSpans":[{"scopeSpans":[]}]}"#;
        assert_eq!(
            sniffed(&format!("{otlp_line}\n{otlp_line}\n")),
            Some((Otlp, Lines))
        );
        assert_eq!(
            sniffed("{\n  \"resourceSpans\": [\n    {\"scopeSpans\": []}\n  ]\n}\n"),
            Some((Otlp, Document))
        );
        // Pretty-printed Jaeger whose nested lines are complete objects of other shapes.
        let jaeger = "{\n  \"data\": [\n    {\n      \"traceID\": \"ab\",\n      \"spans\": [\n        {\"key\": \"span.kind\", \"type\": \"string\", \"value\": \"producer\"}\n      ]\n    }\n  ]\n}";
        assert_eq!(sniffed(jaeger), Some((Jaeger, Document)));
        // Cut off by the sniffing window: the leading keys still say what it is.
        assert_eq!(
            sniffed("{\n \"data\": [{\"traceID\": \"ab\", \"spans\": ["),
            Some((Jaeger, Document))
        );
        assert_eq!(
            sniffed("{\"traceID\": \"ab\",\n \"spans\": [],\n \"processes\": {}}"),
            Some((Jaeger, Document))
        );
        assert_eq!(
            sniffed("[\n  {\"traceId\": \"ab\", \"id\": \"cd\", \"kind\": \"PRODUCER\"}\n]"),
            Some((Zipkin, Document))
        );
        assert_eq!(
            sniffed(
                "[{\"traceId\": \"ab\", \"id\": \"cd\"}]\n[{\"traceId\": \"ab\", \"id\": \"ce\"}]\n"
            ),
            Some((Zipkin, Lines))
        );
        assert_eq!(
            sniffed("junk\n{\"topic\":\"t\",\"partition\":0,\"offset\":1,\"payload\":null}\n"),
            Some((Kcat, Lines))
        );
    }

    #[test]
    fn cloudevents_layouts_unchanged() {
        use Format::*;
        use Layout::*;
        let ce = r#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#;
        assert_eq!(
            sniffed(&format!("{ce}\n{ce}\n")),
            Some((CloudeventsJsonl, Lines))
        );
        assert_eq!(
            sniffed(&format!("[{ce},{ce}]")),
            Some((CloudeventsBatch, Document))
        );
        // A pretty batch with one event per line is a batch, not JSON Lines.
        assert_eq!(
            sniffed(&format!("[\n  {ce},\n  {ce}\n]\n")),
            Some((CloudeventsBatch, Document))
        );
        assert_eq!(
            sniffed("{\n  \"specversion\": \"1.0\",\n  \"id\": \"1\",\n  \"data\": {\"a\": 1}\n}"),
            Some((Cloudevents, Document))
        );
        // A CloudEvent missing its id and specversion is still a CloudEvent, not Jaeger.
        assert_eq!(
            sniffed("{\"source\":\"s\",\"type\":\"t\",\"data\":{}}\n"),
            Some((CloudeventsJsonl, Lines))
        );
        assert_eq!(sniffed("   \n"), None);
        assert_eq!(sniffed("hello"), None);
    }
}
