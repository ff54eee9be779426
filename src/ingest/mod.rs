//! Reading captures into the [`Store`]: gzip/zstd decompression, format sniffing by content
//! (never by file extension), and one module per format. Every reader loads every record it
//! can, reports each bad one with its line and the reason, and never panics.

pub mod cloudevents;
pub mod conventions;
pub mod jaeger;
pub mod jsonval;
pub mod kcat;
// Formats at the edges: opaque ids, other event schemas, OTLP logs.
pub mod envelopes;
pub mod ids;
pub mod lines;
pub mod otlp;
pub mod otlp_logs;
pub mod otlp_proto;
pub mod otlp_write;
pub mod scan;
pub mod span_flow;
pub mod span_join;
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
    #[error(
        "{path}: not read: eventlens reads at most {max} inputs at once",
        max = crate::model::Store::MAX_INPUTS
    )]
    TooManyInputs { path: String },
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
    /// What one input may make eventlens hold.
    pub limits: Limits,
}

/// Bounds on what one input may make eventlens hold, so a hostile or broken file ends
/// with an error naming where, not with the machine's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest record read: a line, or a whole-document file. A longer line is
    /// skipped with an error naming it, without being held, and reading goes on after it;
    /// a longer document is not read.
    pub max_record: usize,
    /// Compressed input may expand at most this many times (after the first
    /// [`Limits::EXPANSION_FREE`] bytes): more is a decompression bomb, and reading stops
    /// there with an error, keeping what was read.
    pub max_expansion: u64,
}

impl Limits {
    /// Output below this is never a bomb, whatever the ratio.
    pub const EXPANSION_FREE: u64 = 1 << 30;

    /// `64MiB`, `512MB`, `1GiB`, `4096` (bytes).
    pub fn parse_size(s: &str) -> Result<usize, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?}: expected a size such as 64MiB, 512MB or 1GiB"))?;
        let mul: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "kib" => 1024.0,
            "m" | "mb" => 1e6,
            "mib" => 1048576.0,
            "g" | "gb" => 1e9,
            "gib" => 1073741824.0,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (B, KB, KiB, MB, MiB, GB, GiB)"
                ));
            }
        };
        let bytes = n * mul;
        if !(1.0..=(1u64 << 40) as f64).contains(&bytes) {
            return Err(format!("{s:?}: a record limit is between 1 byte and 1 TiB"));
        }
        Ok(bytes as usize)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record: 64 << 20,
            max_expansion: 500,
        }
    }
}

/// A size for people: `64 MiB`, `1.5 GiB`, `700 bytes`.
pub fn fmt_size(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64)
    } else if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

impl LoadProgress {
    /// Progress of a load bounded by `limits`.
    pub fn with_limits(limits: Limits) -> LoadProgress {
        LoadProgress {
            limits,
            ..Default::default()
        }
    }

    pub fn add(&self, n: u64) {
        self.bytes_read
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The JSON kind of a field's value, as far as sniffing needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    /// A number, boolean or null.
    Scalar,
    /// Cut off by the sniffing window.
    Unknown,
}

/// A top-level field of a record: its key and the kind of its value.
pub type Field = (String, Kind);

/// The CloudEvents context attributes: a record with none of them is never a CloudEvent.
const CE_ATTRIBUTES: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data_base64",
];

/// What a record's fields say it is.
#[derive(Clone, Debug, PartialEq)]
enum Class {
    /// A format eventlens reads. `strong` is false for an object that only has some
    /// CloudEvents attribute (a weak sign, enough for a whole document but not for
    /// deciding a line format).
    Read {
        format: Format,
        strong: bool,
    },
    /// Recognised, and not read: the sentence says what it is.
    Refuse(String),
    Unknown,
}

/// Classifies one record by its top-level fields.
fn classify_fields(fields: &[Field]) -> Class {
    let has = |k: &str| fields.iter().any(|(f, _)| f == k);
    let kind = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, t)| *t);
    let read = |format| Class::Read {
        format,
        strong: true,
    };
    if has("resourceSpans") || has("resource_spans") {
        return read(Format::Otlp);
    }
    if has("batches") && matches!(kind("batches"), Some(Kind::Array | Kind::Unknown)) {
        // Tempo's trace-by-id API and Grafana downloads: resourceSpans under another name.
        return read(Format::Otlp);
    }
    if has("resourceLogs") || has("resource_logs") {
        return read(Format::OtlpLogs);
    }
    if has("resourceMetrics") || has("resource_metrics") {
        return Class::Refuse(
            "an OTLP metrics file (resourceMetrics): eventlens reads traces (and log records with cloudevents.* attributes), not metrics".into(),
        );
    }
    if has("specversion") {
        return read(ce_or_capture(fields));
    }
    if has("topic") && (has("offset") || has("partition")) {
        return read(Format::Kcat);
    }
    if has("traceID") && has("spans")
        || has("data")
            && matches!(kind("data"), Some(Kind::Array | Kind::Unknown))
            && !["id", "source", "type"].iter().any(|k| has(k))
    {
        return read(Format::Jaeger);
    }
    if has("traceId") && (has("localEndpoint") || has("kind") || has("timestamp")) {
        return read(Format::Zipkin);
    }
    if has("detail-type") && has("source") {
        return read(Format::Eventbridge);
    }
    if has("eventType") && (has("eventTime") || has("dataVersion") || has("metadataVersion")) {
        return read(Format::Eventgrid);
    }
    if has("context")
        && matches!(kind("context"), Some(Kind::Object | Kind::Unknown))
        && has("subject")
    {
        return read(Format::Cdevents);
    }
    if has("id") && (has("source") || has("type")) || has("source") && has("type") {
        return read(ce_or_capture(fields));
    }
    if CE_ATTRIBUTES.iter().any(|k| has(k)) {
        return Class::Read {
            format: ce_or_capture(fields),
            strong: false,
        };
    }
    Class::Unknown
}

fn ce_or_capture(fields: &[Field]) -> Format {
    if fields
        .iter()
        .any(|(k, _)| k == "recordedtime" || k.starts_with("lens"))
    {
        Format::Capture
    } else {
        Format::Cloudevents
    }
}

/// What a record's keys say it is (the line formats; a weak CloudEvents sign is not enough).
pub fn classify_record(keys: &[&str]) -> Option<Format> {
    let fields: Vec<Field> = keys
        .iter()
        .map(|k| (k.to_string(), Kind::Unknown))
        .collect();
    match classify_fields(&fields) {
        Class::Read {
            format,
            strong: true,
        } => Some(format),
        _ => None,
    }
}

fn kind_of(v: &serde_json::Value) -> Kind {
    match v {
        serde_json::Value::Object(_) => Kind::Object,
        serde_json::Value::Array(_) => Kind::Array,
        serde_json::Value::String(_) => Kind::String,
        _ => Kind::Scalar,
    }
}

/// The fields of a complete JSON object.
fn object_fields(bytes: &[u8]) -> Option<Vec<Field>> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes).ok()?;
    Some(v.iter().map(|(k, v)| (k.clone(), kind_of(v))).collect())
}

fn classify_bytes(bytes: &[u8]) -> Option<Format> {
    match classify_fields(&object_fields(bytes)?) {
        Class::Read { format, .. } => Some(format),
        _ => None,
    }
}

/// The fields of a top-level JSON object, as far as `text` goes: a document cut off by the
/// sniffing window still names the fields before the cut.
fn leading_fields(text: &[u8]) -> Vec<Field> {
    use serde::de::{DeserializeSeed, MapAccess, Visitor};
    struct Fields<'k>(&'k mut Vec<Field>);
    impl<'de> Visitor<'de> for Fields<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                self.0.push((k, Kind::Unknown));
                let v = map.next_value::<jsonval::Val>()?;
                if let Some(last) = self.0.last_mut() {
                    last.1 = match v {
                        jsonval::Val::Object => Kind::Object,
                        jsonval::Val::Array => Kind::Array,
                        jsonval::Val::Str(_) => Kind::String,
                        _ => Kind::Scalar,
                    };
                }
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Fields<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    let mut fields = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(text);
    let _ = Fields(&mut fields).deserialize(&mut de);
    fields
}

/// The first elements of a JSON array, as far as `text` goes (at most 64): the fields of
/// each object element (`None` for other values), and whether the array ended in `text`.
fn array_elements(text: &[u8]) -> (Vec<Option<Vec<Field>>>, bool) {
    let mut out = Vec::new();
    let Some(open) = text.iter().position(|&b| b == b'[') else {
        return (out, false);
    };
    let mut rest = &text[open + 1..];
    loop {
        let Some(i) = rest.iter().position(|b| !b.is_ascii_whitespace()) else {
            return (out, false);
        };
        rest = &rest[i..];
        match rest[0] {
            b']' => return (out, true),
            b',' if !out.is_empty() => {
                rest = &rest[1..];
                continue;
            }
            _ => {}
        }
        if out.len() >= 64 {
            return (out, false);
        }
        let mut stream =
            serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                let value = &rest[..end];
                out.push((value.first() == Some(&b'{')).then(|| leading_fields(value)));
                rest = &rest[end..];
            }
            _ => {
                // Cut off by the window (or broken): what it starts with still counts.
                if rest[0] == b'{' {
                    out.push(Some(leading_fields(rest)));
                }
                return (out, false);
            }
        }
    }
}

/// A Zipkin v1 span (annotations with endpoints, `binaryAnnotations`), which the v2 reader
/// would misread.
fn zipkin_v1(fields: &[Field]) -> bool {
    let has = |k: &str| fields.iter().any(|(f, _)| f == k);
    has("binaryAnnotations") && !has("localEndpoint") && !has("kind")
}

const ZIPKIN_V1: &str = "a Zipkin v1 span array (annotations with endpoints, binaryAnnotations): eventlens reads Zipkin v2 (what /api/v2/spans and Brave's JSON v2 encoder write)";

fn field_list(fields: &[Field]) -> String {
    let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).take(8).collect();
    if fields.len() > 8 {
        keys.push("...");
    }
    keys.iter()
        .map(|k| cloudevents::escape_msg(k))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Classifies a JSON array by its first elements.
fn sniff_array(text: &[u8]) -> Result<Format, String> {
    let (elements, complete) = array_elements(text);
    if elements.is_empty() {
        return if complete {
            // `[]`: an empty CloudEvents batch is valid and holds nothing.
            Ok(Format::CloudeventsBatch)
        } else {
            Err(
                "a JSON array whose first element is not a JSON object: not an event or trace file"
                    .into(),
            )
        };
    }
    let objects: Vec<&Vec<Field>> = elements.iter().flatten().collect();
    let Some(first) = objects.first() else {
        return Err(
            "a JSON array of values that are not objects: not an event or trace file".into(),
        );
    };
    if first.iter().any(|(k, _)| k == "traceId") {
        if zipkin_v1(first) {
            return Err(ZIPKIN_V1.into());
        }
        return Ok(Format::Zipkin);
    }
    match classify_fields(first) {
        Class::Read {
            format: f @ (Format::Eventgrid | Format::Eventbridge | Format::Cdevents),
            ..
        } => return Ok(f),
        Class::Refuse(why) => return Err(why),
        _ => {}
    }
    let carries_ce = |f: &&Vec<Field>| f.iter().any(|(k, _)| CE_ATTRIBUTES.contains(&k.as_str()));
    if objects.iter().any(carries_ce) {
        Ok(Format::CloudeventsBatch)
    } else {
        Err(format!(
            "a JSON array of objects none of which has a CloudEvents attribute (specversion, id, source, type): not a CloudEvents batch (the first has {})",
            field_list(first)
        ))
    }
}

/// Decides the format and layout from the first bytes (decompressed).
///
/// A first JSON value that ends on its first line means one record per line (a leading
/// garbage line is skipped over: the first lines that parse as complete objects decide);
/// a value spanning lines is a whole document, classified by its top-level keys (a `[`
/// array by its first elements). A first value cut off by the window with no newline
/// before the cut is one long line: span formats read it as JSON Lines, so a collector
/// line of any length loads.
pub fn sniff(head: &[u8]) -> Option<(Format, Layout)> {
    sniff_or_why(head).ok()
}

/// [`sniff`], or one sentence saying what the bytes are when eventlens does not read them.
pub fn sniff_or_why(head: &[u8]) -> Result<(Format, Layout), String> {
    const NOT_RECOGNISED: &str = "not a recognised format: no JSON record (CloudEvents, OTLP, Jaeger, Zipkin, kcat, Event Grid, EventBridge or CDEvents) in the first 256 KiB";
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let Some(start) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err("the file is empty".into());
    };
    let text = &text[start..];
    let first = text[0];
    let mut stream =
        serde_json::Deserializer::from_slice(text).into_iter::<serde::de::IgnoredAny>();
    let first_value = stream.next();
    let end = stream.byte_offset();
    let one_line_value = matches!(first_value, Some(Ok(_))) && !text[..end].contains(&b'\n');
    let cut_off = matches!(&first_value, Some(Err(e)) if e.is_eof());
    let not_json = match &first_value {
        Some(Err(e)) if !e.is_eof() => format!(
            "not a recognised format: the file does not start with JSON (invalid at line {}, column {}), and no line in the first 256 KiB is a record eventlens reads (CloudEvents, OTLP, Jaeger, Zipkin, kcat, Event Grid, EventBridge or CDEvents)",
            e.line(),
            e.column()
        ),
        _ => NOT_RECOGNISED.to_string(),
    };
    let whole_document = match first_value {
        Some(Ok(_)) => !one_line_value,
        Some(Err(_)) => cut_off,
        None => false,
    };
    // Cut off by the window without a newline: one line longer than the window.
    let long_line = cut_off && !text.contains(&b'\n');
    if !whole_document {
        // One record per line: the first lines that parse as a complete object say what it is.
        for line in text.split(|&b| b == b'\n').take(64) {
            let t = line.trim_ascii();
            if t.first() == Some(&b'[') {
                let (elements, _) = array_elements(t);
                if let Some(Some(f)) = elements.first()
                    && f.iter().any(|(k, _)| k == "traceId")
                {
                    if zipkin_v1(f) {
                        return Err(ZIPKIN_V1.into());
                    }
                    // Zipkin span arrays, one per line.
                    return Ok((Format::Zipkin, Layout::Lines));
                }
            }
            if t.first() != Some(&b'{') {
                continue;
            }
            let Some(fields) = object_fields(t) else {
                continue;
            };
            match classify_fields(&fields) {
                Class::Read {
                    format,
                    strong: true,
                } => {
                    let f = match format {
                        Format::Cloudevents => Format::CloudeventsJsonl,
                        f => f,
                    };
                    return Ok((f, Layout::Lines));
                }
                Class::Refuse(why) => return Err(why),
                _ => {}
            }
        }
    }
    match first {
        b'[' => {
            let format = sniff_array(text)?;
            let layout = if long_line && format == Format::Zipkin {
                Layout::Lines
            } else {
                Layout::Document
            };
            Ok((format, layout))
        }
        b'{' => {
            let fields = leading_fields(text);
            match classify_fields(&fields) {
                Class::Read { format, .. } => match format {
                    Format::Otlp | Format::Jaeger | Format::Zipkin | Format::OtlpLogs
                        if long_line =>
                    {
                        Ok((format, Layout::Lines))
                    }
                    Format::Otlp
                    | Format::Jaeger
                    | Format::Zipkin
                    | Format::OtlpLogs
                    | Format::Eventgrid
                    | Format::Eventbridge
                    | Format::Cdevents => Ok((format, Layout::Document)),
                    Format::Kcat if !whole_document => Ok((Format::Kcat, Layout::Lines)),
                    _ if !whole_document && one_line_value => {
                        Ok((Format::CloudeventsJsonl, Layout::Lines))
                    }
                    _ => Ok((Format::Cloudevents, Layout::Document)),
                },
                Class::Refuse(why) => Err(why),
                Class::Unknown if fields.is_empty() => Err(NOT_RECOGNISED.into()),
                Class::Unknown => Err(format!(
                    "a JSON object with {}: not an event or trace file (no CloudEvents attribute such as specversion, id, source or type)",
                    field_list(&fields)
                )),
            }
        }
        _ => Err(not_json),
    }
}

const HEAD: usize = 256 * 1024;

/// `-`: standard input, as every command-line tool beside this one reads it.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How an input is named in reports and the window.
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

fn open_raw(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    Ok(if is_stdin(path) {
        Box::new(io::stdin())
    } else {
        let file = std::fs::File::open(path)?;
        match file.metadata() {
            Ok(m) if m.is_file() => Box::new(Shrinking {
                inner: file,
                size: m.len(),
                read: 0,
            }),
            _ => Box::new(file),
        }
    })
}

/// `f` decompressed when its first bytes say gzip or zstd (within `limits`), and which
/// compression that was: for a file, bytes in memory, and a stream read as it arrives.
pub fn decoded_reader(
    mut f: Box<dyn Read + Send>,
    limits: Limits,
) -> io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut f, &mut magic)?;
    let compression = Compression::sniff(&magic[..n]);
    let raw = io::Cursor::new(magic[..n].to_vec()).chain(f);
    let compressed_in = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Counted {
        inner: raw,
        n: compressed_in.clone(),
    };
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(counted.inner),
        Compression::Gzip => Box::new(Expansion::new(
            flate2::read::MultiGzDecoder::new(BufReader::new(counted)),
            compressed_in,
            limits.max_expansion,
            "gzip",
        )),
        Compression::Zstd => Box::new(Expansion::new(
            zstd::stream::read::Decoder::new(counted)?,
            compressed_in,
            limits.max_expansion,
            "zstd",
        )),
    };
    Ok((reader, compression))
}

/// A regular file that another process may truncate while it is read: its end coming
/// before the size it had when opened is an error naming both, so that the input says it
/// was cut short (and what was read before is kept). Files are read, never mapped, so a
/// truncation cannot fault the process.
struct Shrinking<R> {
    inner: R,
    size: u64,
    read: u64,
}

impl<R: Read> Read for Shrinking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.read += k as u64;
        if k == 0 && !buf.is_empty() && self.read < self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file shrank while it was read: it had {} bytes when opened and ended after {}",
                    self.size, self.read
                ),
            ));
        }
        Ok(k)
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n
            .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }
}

/// A decompressor's output, stopped with an error once it passes
/// [`Limits::EXPANSION_FREE`] and `max` times the compressed bytes read: a decompression
/// bomb (a few MB of gzip that expand to terabytes of zeros) ends there.
struct Expansion<R> {
    inner: R,
    compressed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    out: u64,
    max: u64,
    what: &'static str,
}

impl<R> Expansion<R> {
    fn new(
        inner: R,
        compressed: std::sync::Arc<std::sync::atomic::AtomicU64>,
        max: u64,
        what: &'static str,
    ) -> Self {
        Expansion {
            inner,
            compressed,
            out: 0,
            max: max.max(1),
            what,
        }
    }
}

impl<R: Read> Read for Expansion<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.out += k as u64;
        if self.out > Limits::EXPANSION_FREE {
            let input = self
                .compressed
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1);
            if self.out / input > self.max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} of {} data expanded to {}, more than {} times: this looks like a decompression bomb, so reading stopped here (--max-expansion allows more)",
                        fmt_size(input),
                        self.what,
                        fmt_size(self.out),
                        self.max
                    ),
                ));
            }
        }
        Ok(k)
    }
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
/// Loads `paths` in order, each through [`load_path`], until `progress` is cancelled:
/// how many loaded, and why the others did not (one sentence each; past
/// [`crate::model::Store::MAX_INPUTS`] one sentence names the first input not read and how
/// many followed it). `loaded` hears of each input that loaded.
pub fn load_paths(
    store: &mut crate::model::Store,
    paths: &[std::path::PathBuf],
    progress: &LoadProgress,
    mut loaded: impl FnMut(&crate::model::Store, u16, &Path),
) -> (usize, Vec<String>) {
    let mut count = 0usize;
    let mut failures = Vec::new();
    for (k, path) in paths.iter().enumerate() {
        if progress.is_cancelled() {
            break;
        }
        match load_path(store, path, progress) {
            Ok(i) => {
                count += 1;
                loaded(store, i, path);
            }
            Err(e @ LoadError::TooManyInputs { .. }) => {
                let rest = paths.len() - k - 1;
                failures.push(if rest == 0 {
                    e.to_string()
                } else {
                    format!("{e}; nor were the {rest} inputs after it")
                });
                break;
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    (count, failures)
}

pub fn load_path(
    store: &mut Store,
    path: &Path,
    progress: &LoadProgress,
) -> Result<u16, LoadError> {
    let shown = input_name(path);
    if !store.has_room_for_input() {
        return Err(LoadError::TooManyInputs { path: shown });
    }
    let raw = open_raw(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    let file = (!is_stdin(path)).then_some(path);
    load_from(store, shown, file, raw, None, progress)
}

/// How many inputs keep their file open for reading payloads back; later ones open it per
/// read (a glob over thousands of files must not run out of descriptors).
pub const KEEP_OPEN: usize = 256;

/// Every reader with the layout it reads, by a short name: what the fuzz targets (`fuzz/`)
/// and the seed replay test force instead of sniffing.
pub const READERS: &[(&str, Format, Layout)] = &[
    ("cloudevents_jsonl", Format::CloudeventsJsonl, Layout::Lines),
    (
        "cloudevents_document",
        Format::Cloudevents,
        Layout::Document,
    ),
    (
        "cloudevents_batch",
        Format::CloudeventsBatch,
        Layout::Document,
    ),
    ("capture", Format::Capture, Layout::Lines),
    ("otlp_document", Format::Otlp, Layout::Document),
    ("otlp_lines", Format::Otlp, Layout::Lines),
    ("otlp_logs", Format::OtlpLogs, Layout::Document),
    ("jaeger", Format::Jaeger, Layout::Document),
    ("zipkin", Format::Zipkin, Layout::Document),
    ("zipkin_lines", Format::Zipkin, Layout::Lines),
    ("kcat", Format::Kcat, Layout::Lines),
    ("eventgrid", Format::Eventgrid, Layout::Document),
    ("eventbridge", Format::Eventbridge, Layout::Document),
    ("cdevents", Format::Cdevents, Layout::Document),
];

/// Loads bytes held in memory as an input named `name`, exactly as a file of those bytes
/// (decompression, sniffing, every reader), or as `format` when it is given. What the
/// fuzz targets drive (`fuzz/`).
pub fn load_bytes(
    store: &mut Store,
    name: &str,
    bytes: Vec<u8>,
    format: Option<(Format, Layout)>,
    progress: &LoadProgress,
) -> Result<u16, LoadError> {
    if !store.has_room_for_input() {
        return Err(LoadError::TooManyInputs { path: name.into() });
    }
    load_from(
        store,
        name.into(),
        None,
        Box::new(io::Cursor::new(bytes)),
        format,
        progress,
    )
}

/// The reading shared by [`load_path`] and [`load_bytes`]: `file` is the path of a regular
/// file, whose plain lines' payloads are read back by offset.
fn load_from(
    store: &mut Store,
    shown: String,
    file: Option<&Path>,
    raw: Box<dyn Read + Send>,
    forced: Option<(Format, Layout)>,
    progress: &LoadProgress,
) -> Result<u16, LoadError> {
    let io_err = |source| LoadError::Io {
        path: shown.clone(),
        source,
    };
    let limits = progress.limits;
    let (mut reader, compression) = decoded_reader(raw, limits).map_err(io_err)?;
    let mut head = vec![0u8; HEAD];
    let n = read_up_to(&mut reader, &mut head).map_err(|e| LoadError::Io {
        path: shown.clone(),
        source: io::Error::new(e.kind(), format!("reading {compression:?} data: {e}")),
    })?;
    head.truncate(n);
    let (format, layout) = match forced {
        Some(f) => f,
        None => sniff_or_why(&head).map_err(|message| LoadError::Unrecognised {
            path: shown.clone(),
            message,
        })?,
    };
    let observations_before = store.observations.len();
    let input = store.add_input(shown.clone(), Some(format));
    // Plain line files are read back by offset; anything else keeps its payloads in an arena.
    store.inputs[input as usize].payloads = match (compression, layout, file) {
        (Compression::None, Layout::Lines, Some(path)) => PayloadSource::File(
            path.to_path_buf(),
            (usize::from(input) < KEEP_OPEN)
                .then(|| std::fs::File::open(path).ok().map(std::sync::Arc::new))
                .flatten(),
        ),
        _ => PayloadSource::Arena(Vec::new()),
    };
    let reader = io::Cursor::new(head).chain(reader);
    match layout {
        // Read, never mapped: a file another process truncates meanwhile must end with an
        // error, not fault the process (see `Shrinking`).
        Layout::Lines => {
            // An uncompressed file's size sizes the store up front (see `load_lines`).
            let size_hint = (compression == Compression::None)
                .then(|| {
                    file.and_then(|p| std::fs::metadata(p).ok())
                        .map(|m| m.len())
                })
                .flatten();
            lines::load_lines(store, input, format, reader, size_hint, progress)
        }
        Layout::Document => {
            // At most one byte past the limit is read, to know that it was passed.
            let mut bytes = Vec::new();
            let mut bounded = reader.take(limits.max_record as u64 + 1);
            match bounded.read_to_end(&mut bytes) {
                Ok(_) if bytes.len() > limits.max_record => {
                    progress.add(bytes.len() as u64);
                    drop(bytes);
                    store.inputs[input as usize].error(
                        1,
                        format!(
                            "the document is larger than the {} eventlens reads as one record: not read (--max-record raises the limit)",
                            fmt_size(limits.max_record as u64)
                        ),
                    );
                }
                Ok(_) => {
                    progress.add(bytes.len() as u64);
                    load_document(store, input, &bytes);
                }
                // Nothing of a document that cannot be read to its end is used.
                Err(e) => store.inputs[input as usize]
                    .error(1, format!("the document could not be read to its end: {e}")),
            }
        }
    }
    if progress.is_cancelled() {
        return Err(LoadError::Cancelled { path: shown });
    }
    place_untimed(store, observations_before);
    let inp = &store.inputs[input as usize];
    if inp.format == Some(Format::OtlpLogs) && inp.records == 0 && inp.skipped == 0 {
        return Err(LoadError::Unrecognised {
            path: shown,
            message: format!(
                "an OTLP logs file ({} log records, none with cloudevents.event_id and cloudevents.event_source attributes): eventlens reads traces (and log records with cloudevents.* attributes)",
                inp.note_count
            ),
        });
    }
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

/// Gives the observations an input added without a time of their own a place in time. A
/// reader marks them (and places each at the time of the record before it); a span without a
/// start time gives observations at 0, the Unix epoch, which no real record has: those are
/// marked here. Each takes the time of the timed observation before it (the first one for
/// leading ones), so file order is kept; an input without any time keeps 0 and file order.
pub(crate) fn place_untimed(store: &mut Store, from: usize) {
    let added = store.observations.get_mut(from..).unwrap_or_default();
    for o in added.iter_mut() {
        if o.time == 0 {
            o.untimed = true;
        }
    }
    let Some(first) = added.iter().find(|o| !o.untimed).map(|o| o.time) else {
        return;
    };
    let mut last = first;
    for o in added.iter_mut() {
        if o.untimed {
            o.time = last;
        } else {
            last = o.time;
        }
    }
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
    match format {
        Some(Format::OtlpLogs) => {
            let text = match std::str::from_utf8(text) {
                Ok(t) => t,
                Err(e) => {
                    store.inputs[input as usize].error(
                        spans::LineIndex::new(text).line(e.valid_up_to()),
                        format!(
                            "invalid UTF-8 at byte {}: the document cannot be read",
                            e.valid_up_to()
                        ),
                    );
                    return;
                }
            };
            otlp_logs::load_document(store, input, text);
            return;
        }
        Some(f @ (Format::Eventgrid | Format::Eventbridge | Format::Cdevents)) => {
            envelopes::load_document(store, input, f, text);
            return;
        }
        _ => {}
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
    let mut notes = parsed.notes;
    notes.sort_by_key(|(line, _)| *line);
    for (line, message) in notes {
        store.inputs[input as usize].note(line, message);
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

    #[test]
    fn formats_at_the_edges() {
        use Format::*;
        use Layout::*;
        // Proto field names, in a document and in lines; Tempo's `batches`.
        assert_eq!(
            sniffed("{\n  \"resource_spans\": [\n    {\"scope_spans\": []}\n  ]\n}\n"),
            Some((Otlp, Document))
        );
        let line = r#"{"resource_spans":[{"scope_spans":[]}]}"#;
        assert_eq!(sniffed(&format!("{line}\n{line}\n")), Some((Otlp, Lines)));
        assert_eq!(
            sniffed("{\n  \"batches\": [\n    {\"instrumentationLibrarySpans\": []}\n  ]\n}"),
            Some((Otlp, Document))
        );
        // One line longer than the window is a line, not a document.
        let long = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}"#,
            r#"{"name":"x"},"#.repeat(50_000)
        );
        assert_eq!(sniff(&long.as_bytes()[..HEAD]), Some((Otlp, Lines)));
        // Other schemas.
        assert_eq!(
            sniffed(
                r#"[{"topic":"t","subject":"s","eventType":"E","eventTime":"2017-06-26T18:41:00Z","id":"1","data":{},"dataVersion":""}]"#
            ),
            Some((Eventgrid, Document))
        );
        assert_eq!(
            sniffed(
                "{\n \"version\": \"0\", \"id\": \"1\", \"detail-type\": \"D\", \"source\": \"aws.ecr\", \"detail\": {}\n}"
            ),
            Some((Eventbridge, Document))
        );
        assert_eq!(
            sniffed("{\n \"context\": {\"id\": \"1\"},\n \"subject\": {\"id\": \"s\"}\n}"),
            Some((Cdevents, Document))
        );
        assert_eq!(
            sniffed("{\n \"resourceLogs\": []\n}"),
            Some((OtlpLogs, Document))
        );
        let why = sniff_or_why(b"{\n \"resourceMetrics\": []\n}").unwrap_err();
        assert!(why.contains("OTLP metrics"), "{why}");
        // Not CloudEvents: objects without any CloudEvents attribute.
        let why = sniff_or_why(br#"[{"name": "a"}, {"name": "b"}]"#).unwrap_err();
        assert!(why.contains("not a CloudEvents batch"), "{why}");
        let why = sniff_or_why(b"{\n \"data\": \"SGk=\",\n \"messageId\": \"1\"\n}").unwrap_err();
        assert!(why.contains("data, messageId"), "{why}");
        // The empty batch is a batch.
        assert_eq!(sniffed("[]"), Some((CloudeventsBatch, Document)));
        assert_eq!(sniffed(" [ ]\n"), Some((CloudeventsBatch, Document)));
        // kcat status lines before the messages.
        assert_eq!(
            sniffed(
                "% Auto-selecting Consumer mode (use -P or -C to override)\n{\"topic\":\"t\",\"partition\":0,\"offset\":1,\"payload\":null}\n"
            ),
            Some((Kcat, Lines))
        );
        // Zipkin v1 says so.
        let why =
            sniff_or_why(br#"[{"traceId":"a","id":"b","annotations":[],"binaryAnnotations":[]}]"#)
                .unwrap_err();
        assert!(why.contains("Zipkin v1"), "{why}");
    }
}
