//! OTLP JSON logs (`LogsData` / `ExportLogsServiceRequest`, a document or the collector file
//! exporter's JSON Lines, camelCase or proto field names). eventlens reads traces; of a logs
//! file it reads the log records that name a CloudEvent through the `cloudevents.*`
//! attributes (`cloudevents.event_id` and `cloudevents.event_source`, with
//! `cloudevents.event_type`, `cloudevents.event_spec_version`, `cloudevents.event_subject`):
//! each is a publish of that event by its source onto the `event-bus` channel, at the
//! record's time (`timeUnixNano`, else `observedTimeUnixNano`), in the record's trace. Every
//! other log record is counted as a note ("not an event"); a file with no such record is
//! refused with one sentence (see [`super::load_path`]).

use super::otlp::{KeyValue, Resource, attrs};
use super::spans::{Flex64, LineIndex, nanos_of};
use crate::model::*;
use crate::time::Nanos;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct LogsData<'a> {
    #[serde(rename = "resourceLogs", alias = "resource_logs", default, borrow)]
    resource_logs: Vec<ResourceLogs<'a>>,
}

#[derive(Deserialize)]
struct ResourceLogs<'a> {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(rename = "scopeLogs", alias = "scope_logs", default, borrow)]
    scope_logs: Vec<ScopeLogs<'a>>,
    #[serde(
        rename = "instrumentationLibraryLogs",
        alias = "instrumentation_library_logs",
        default,
        borrow
    )]
    library_logs: Vec<ScopeLogs<'a>>,
}

#[derive(Deserialize)]
struct ScopeLogs<'a> {
    #[serde(rename = "logRecords", alias = "log_records", default, borrow)]
    log_records: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct LogRecord {
    #[serde(rename = "timeUnixNano", alias = "time_unix_nano", default)]
    time: Option<Flex64>,
    #[serde(
        rename = "observedTimeUnixNano",
        alias = "observed_time_unix_nano",
        default
    )]
    observed: Option<Flex64>,
    #[serde(rename = "traceId", alias = "trace_id", default)]
    trace_id: Option<String>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

/// One log record, read.
enum Record {
    Event {
        source: String,
        id: String,
        ty: String,
        specversion: String,
        subject: Option<String>,
        time: Option<Nanos>,
        trace: Option<String>,
    },
    /// Not an event (no `cloudevents.event_id` / `cloudevents.event_source`).
    Other,
}

fn parse_record(raw: &RawValue) -> Result<Record, String> {
    let r: LogRecord = serde_json::from_str(raw.get()).map_err(|e| super::json_error(&e))?;
    let a = attrs(r.attributes, &mut Vec::new());
    let get = |k: &str| {
        a.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str().into_owned())
            .filter(|v| !v.is_empty())
    };
    let (Some(id), Some(source)) = (get("cloudevents.event_id"), get("cloudevents.event_source"))
    else {
        return Ok(Record::Other);
    };
    let nanos = |v: Option<Flex64>, field: &str| -> Result<Option<Nanos>, String> {
        match Flex64::of(v, field)? {
            None | Some(0) => Ok(None),
            Some(n) => nanos_of(n, 1)
                .map(Some)
                .ok_or_else(|| format!("{field} {n} is out of range")),
        }
    };
    let time = match nanos(r.time, "timeUnixNano")? {
        Some(t) => Some(t),
        None => nanos(r.observed, "observedTimeUnixNano")?,
    };
    let trace = r
        .trace_id
        .as_deref()
        .and_then(|t| super::spans::parse_otlp_id::<16>(t).ok())
        .map(|t| super::spans::hex(&t));
    Ok(Record::Event {
        source,
        id,
        ty: get("cloudevents.event_type").unwrap_or_default(),
        specversion: get("cloudevents.event_spec_version")
            .or_else(|| get("cloudevents.event_specversion"))
            .unwrap_or_default(),
        subject: get("cloudevents.event_subject"),
        time,
        trace,
    })
}

type Results = Vec<(u64, String, Result<Record, String>)>;

/// Parses one `LogsData` text. `line_of` maps a byte offset in `text` to its line.
fn parse_logs_data(
    text: &str,
    line_of: &(dyn Fn(usize) -> u64 + Sync),
) -> Result<Results, (u64, String)> {
    let data: LogsData = serde_json::from_str(text).map_err(|e| {
        (
            line_of(0) + e.line().saturating_sub(1) as u64,
            format!("not an OTLP LogsData object: {}", super::json_error(&e)),
        )
    })?;
    let mut work = Vec::new();
    for (r, rl) in data.resource_logs.into_iter().enumerate() {
        // The resource is not needed for the event.
        let _ = rl.resource;
        let scopes = rl.scope_logs.into_iter().map(|s| (s, "scopeLogs")).chain(
            rl.library_logs
                .into_iter()
                .map(|s| (s, "instrumentationLibraryLogs")),
        );
        for (sc, (scope, name)) in scopes.enumerate() {
            for (k, raw) in scope.log_records.into_iter().enumerate() {
                work.push((
                    raw,
                    format!("resourceLogs[{r}].{name}[{sc}].logRecords[{k}]"),
                ));
            }
        }
    }
    let base = text.as_ptr() as usize;
    Ok(work
        .par_iter()
        .with_min_len(64)
        .map(|(raw, path)| {
            let line = line_of(raw.get().as_ptr() as usize - base);
            (line, path.clone(), parse_record(raw))
        })
        .collect())
}

fn add(store: &mut Store, input: u16, results: Results, last_time: &mut Nanos) {
    for (line, path, r) in results {
        match r {
            Err(e) => store.inputs[input as usize].error(line, format!("{path}: {e}")),
            Ok(Record::Other) => store.inputs[input as usize].note(
                line,
                format!(
                    "{path}: a log record without cloudevents.event_id and cloudevents.event_source attributes: not an event"
                ),
            ),
            Ok(Record::Event {
                source,
                id,
                ty,
                specversion,
                subject,
                time,
                trace,
            }) => {
                let loc = RecordLoc {
                    input,
                    line: line.min(u32::MAX as u64) as u32,
                };
                store.inputs[input as usize].records += 1;
                let event = store.add_event(&NewEvent {
                    source: &source,
                    id: &id,
                    ty: &ty,
                    specversion: &specversion,
                    subject: subject.as_deref(),
                    time,
                    trace: trace.as_deref(),
                    loc,
                    ..Default::default()
                });
                let t = time.unwrap_or(*last_time);
                *last_time = t;
                let from = store.node(NodeClass::Service, &source);
                let to = store.channel_or_dead_letter(super::cloudevents::DEFAULT_BUS);
                let mut o = Observation::new(Stage::Publish, t, event, from, to);
                o.loc = loc;
                o.untimed = time.is_none();
                store.add_observation(o);
            }
        }
    }
}

/// A whole OTLP JSON logs document.
pub fn load_document(store: &mut Store, input: u16, text: &str) {
    let index = LineIndex::new(text.as_bytes());
    let mut last = 0;
    match parse_logs_data(text, &|off| index.line(off)) {
        Ok(results) => add(store, input, results, &mut last),
        Err((line, e)) => store.inputs[input as usize].error(line, e),
    }
}

/// One chunk of the collector file exporter's logs output (one `LogsData` per line).
pub fn load_chunk(store: &mut Store, input: u16, chunk: &super::lines::Chunk, last: &mut Nanos) {
    let lines = chunk.lines();
    let parsed: Vec<Result<Results, (u64, String)>> = lines
        .par_iter()
        .map(|(line_no, _, line)| {
            if line.trim_ascii().is_empty() {
                return Ok(Vec::new());
            }
            let text = std::str::from_utf8(line).map_err(|e| {
                (
                    *line_no,
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
                )
            })?;
            parse_logs_data(text, &|_| *line_no)
        })
        .collect();
    for p in parsed {
        match p {
            Ok(results) => add(store, input, results, last),
            Err((line, e)) => store.inputs[input as usize].error(line, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_records_with_cloudevents_attributes_are_events() {
        let text = r#"{"resource_logs":[{"scope_logs":[{"log_records":[
          {"time_unix_nano":"1700000000000000000","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",
           "attributes":[{"key":"cloudevents.event_id","value":{"string_value":"e1"}},
                         {"key":"cloudevents.event_source","value":{"string_value":"/orders"}},
                         {"key":"cloudevents.event_type","value":{"string_value":"OrderPlaced"}}]},
          {"timeUnixNano":"1700000000000000001","body":{"stringValue":"hello"}}
        ]}]}]}"#;
        let mut store = Store::new();
        let input = store.add_input("t", Some(Format::OtlpLogs));
        load_document(&mut store, input, text);
        let inp = &store.inputs[0];
        assert_eq!((inp.records, inp.skipped, inp.note_count), (1, 0, 1));
        let ev = &store.events[0];
        assert_eq!(store.str(ev.ty), "OrderPlaced");
        assert_eq!(ev.time, Some(1_700_000_000_000_000_000));
        assert_eq!(store.str(ev.trace), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
