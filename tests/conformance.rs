//! The CloudEvents JSON-format conformance cases (tests/fixtures/cloudevents-conformance,
//! copied from the public cloudevents/conformance project): every valid case loads with no
//! error or violation; every invalid case is reported with a reason naming the rule it
//! breaks, and the rest of the file still loads.

use eventlens::ingest::{LoadProgress, load_path};
use eventlens::model::{Format, Store};
use serde_json::Value;
use std::path::Path;

fn cases(file: &str) -> Vec<(String, Value)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloudevents-conformance")
        .join(file);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture"))
        .expect("fixture JSON");
    doc["tests"]
        .as_array()
        .expect("tests array")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t.get("event")
                    .or_else(|| t.get("batch"))
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn load(text: &str) -> (Store, Result<u16, String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input");
    std::fs::write(&path, text).expect("write");
    let mut store = Store::new();
    let r = load_path(&mut store, &path, &LoadProgress::default()).map_err(|e| e.to_string());
    store.finalize();
    (store, r)
}

#[test]
fn every_valid_single_event_loads_clean_as_a_document_and_as_a_line() {
    for (id, event) in cases("valid-events.json") {
        for text in [
            serde_json::to_string_pretty(&event).unwrap(),
            serde_json::to_string(&event).unwrap() + "\n",
        ] {
            let (store, r) = load(&text);
            assert!(r.is_ok(), "{id}: {r:?}");
            let input = &store.inputs[0];
            assert_eq!(input.records, 1, "{id}");
            assert!(input.errors.is_empty(), "{id}: {:?}", input.errors);
            assert!(input.violations.is_empty(), "{id}: {:?}", input.violations);
            assert_eq!(store.events.len(), 1, "{id}");
        }
    }
}

#[test]
fn every_valid_batch_loads_clean() {
    for (id, batch) in cases("valid-batches.json") {
        let n = batch.as_array().map_or(0, Vec::len);
        let (store, r) = load(&serde_json::to_string_pretty(&batch).unwrap());
        let input = &store.inputs[0];
        if n == 0 {
            // An empty batch is valid and holds nothing.
            assert_eq!(input.records, 0, "{id}");
            continue;
        }
        assert!(r.is_ok(), "{id}: {r:?}");
        assert_eq!(input.format, Some(Format::CloudeventsBatch), "{id}");
        assert_eq!(input.records, n as u64, "{id}");
        assert!(
            input.errors.is_empty() && input.violations.is_empty(),
            "{id}: {:?} {:?}",
            input.errors,
            input.violations
        );
    }
}

/// The attribute or rule each invalid case must be blamed on.
fn expected_blame(id: &str) -> &'static str {
    match id {
        "invalidNoSpecVersion" | "invalidEmptySpecVersion" | "invalidUnknownSpecVersion" => {
            "specversion"
        }
        "invalidNoId" | "invalidEmptyId" | "invalidNumericId" | "invalidObjectId" => "id:",
        "invalidNoType" | "invalidEmptyType" => "type:",
        "invalidNoSource" | "invalidEmptySource" => "source:",
        "invalidNonRfc2046DataContentType" | "invalidEmptyDataContentType" => "datacontenttype",
        "invalidEmptyDataSchema" => "dataschema",
        "invalidEmptySubject" => "subject",
        "invalidCapitalizedExtension" => "\"MyExtension\"",
        "invalidPunctuatedExtension" => "\"my.extension\"",
        "invalidNonIntegerExtensionValue" => "not an Integer",
        "invalidBothDataAndDataBase64" => "data_base64",
        t if t.starts_with("invalidTime") => "time:",
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn every_invalid_single_event_is_reported_with_its_rule_and_the_rest_of_the_file_loads() {
    let good = r#"{"specversion":"1.0","id":"good-1","source":"https://cloudevents.io","type":"io.cloudevents.test"}"#;
    let good2 = r#"{"specversion":"1.0","id":"good-2","source":"https://cloudevents.io","type":"io.cloudevents.test"}"#;
    for (id, event) in cases("invalid-events.json") {
        let text = format!(
            "{good}\n{}\n{good2}\n",
            serde_json::to_string(&event).unwrap()
        );
        let (store, r) = load(&text);
        assert!(r.is_ok(), "{id}: {r:?}");
        let input = &store.inputs[0];
        let reports: Vec<_> = input.errors.iter().chain(&input.violations).collect();
        assert!(!reports.is_empty(), "{id}: not reported");
        let blame = expected_blame(&id);
        assert!(
            reports.iter().any(|r| r.line == 2
                && r.message.contains(blame)
                && r.message.contains("CloudEvents")),
            "{id}: expected line 2 blaming {blame:?} and naming the rule, got {reports:?}"
        );
        assert!(
            store
                .find_event("https://cloudevents.io", "good-1")
                .is_some(),
            "{id}: line 1 not loaded"
        );
        assert!(
            store
                .find_event("https://cloudevents.io", "good-2")
                .is_some(),
            "{id}: line 3 not loaded"
        );
        // Kept and flagged when there is something to place it by (all these cases have a source or id).
        assert_eq!(
            input.records, 3,
            "{id}: the invalid event should be kept and flagged"
        );
    }
}

#[test]
fn invalid_batches_report_the_bad_element_by_position_and_load_the_others() {
    let expected = [
        ("invalidBatchMixedSpecVersions", 2, "specversion", 2),
        ("invalidBatchContainingInvalidCloudEvent", 1, "id:", 1),
        (
            "invalidBatchContainingNonObject",
            1,
            "not a CloudEvent object",
            1,
        ),
    ];
    let all = cases("invalid-batches.json");
    assert_eq!(all.len(), expected.len());
    for (id, batch) in all {
        let (pos_line, blame, records) = expected
            .iter()
            .find(|e| e.0 == id)
            .map(|e| (e.1, e.2, e.3))
            .expect("known case");
        let (store, _) = load(&serde_json::to_string_pretty(&batch).unwrap());
        let input = &store.inputs[0];
        let reports: Vec<_> = input.errors.iter().chain(&input.violations).collect();
        assert!(
            reports
                .iter()
                .any(|r| r.line == pos_line && r.message.contains(blame)),
            "{id}: {reports:?}"
        );
        assert_eq!(input.records, records, "{id}");
    }
}
