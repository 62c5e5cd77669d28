//! Job rows as stored before the payloads and results became typed still decode, and encode
//! back to the same JSON: one payload and one result per kind, written as the old code wrote
//! them (its `json!` literals, or the serde structs it already had).

use medilink_consent::export::{BulkExport, ExportLevel};
use medilink_consent::research::ResearchExport;
use medilink_fhir::jobs::{JobKind, NoPayload};
use medilink_ingest::job::DocumentIngest;
use medilink_platform::maintenance::{StaleJobRecovery, Statistics, TokenCleanup};
use serde_json::{Value, json};

/// `payload` and `result` decode as kind `K`'s and encode back to the same JSON.
fn round_trip<K: JobKind>(payload: &Value, result: &Value) -> (K::Payload, K::Result) {
    let decoded_payload: K::Payload =
        serde_json::from_value(payload.clone()).expect("stored payload decodes");
    let decoded_result: K::Result =
        serde_json::from_value(result.clone()).expect("stored result decodes");
    assert_eq!(
        &serde_json::to_value(&decoded_payload).expect("encodes"),
        payload,
        "{} payload",
        K::KIND
    );
    assert_eq!(
        &serde_json::to_value(&decoded_result).expect("encodes"),
        result,
        "{} result",
        K::KIND
    );
    (decoded_payload, decoded_result)
}

#[test]
fn stored_document_ingest_rows_decode() {
    let payload = json!({
        "blob_key": "documents/0001", "patient": "p1", "document_reference": "d1",
        "uploader": "u1", "file_name": "report.pdf", "content_type": "application/pdf",
        "size": 1234,
    });
    let result = json!({
        "counts": {"observations": 2, "unmapped": 1, "needs_review": 0},
        "resources": ["Observation/o1", "Observation/o2", "DiagnosticReport/r1"],
        "reviewed_by": "u2",
    });
    let (payload, result) = round_trip::<DocumentIngest>(&payload, &result);
    assert_eq!(payload.document_reference, "d1");
    assert_eq!(result.counts.observations, 2);
    assert_eq!(result.reviewed_by.as_deref(), Some("u2"));
}

#[test]
fn stored_fhir_export_rows_decode() {
    let payload = json!({
        "run_as": {"user_id": "u1", "role": "patient", "mfa": false, "patient_id": "p1"},
        "request": {
            "level": {"level": "patient", "patient": "p1"},
            "types": ["Observation"],
            "since": null,
            "request_url": "https://example.org/fhir/R4/Patient/p1/$export",
        },
        "transaction_time": "2026-03-14T10:00:00Z",
    });
    // The old handler's `json!({"transactionTime", "request", "output": [{"type", "count"}]})`.
    let result = json!({
        "transactionTime": "2026-03-14T10:00:00Z",
        "request": "https://example.org/fhir/R4/Patient/p1/$export",
        "output": [{"type": "Observation", "count": 3}],
    });
    let (payload, result) = round_trip::<BulkExport>(&payload, &result);
    assert_eq!(payload.request.level, ExportLevel::Patient("p1".into()));
    assert_eq!(payload.run_as.patient_id.as_deref(), Some("p1"));
    assert_eq!(result.output[0].resource_type, "Observation");
    assert_eq!(result.output[0].count, 3);
}

#[test]
fn stored_research_export_rows_decode() {
    let payload = json!({
        "request": {"types": ["Observation", "Patient"], "since": null, "keep_zip3": true},
    });
    // The old handler's `json!({"as_of", "types", "output", "skipped"})`.
    let result = json!({
        "as_of": "2026-03-14T10:00:00Z",
        "types": ["Observation", "Patient"],
        "output": [{"type": "Patient", "count": 2}],
        "skipped": [{"type": "Observation", "reason": "modifier-extension", "count": 1}],
    });
    let (payload, result) = round_trip::<ResearchExport>(&payload, &result);
    assert!(payload.request.keep_zip3);
    assert_eq!(result.skipped[0].reason, "modifier-extension");
    assert_eq!(result.output[0].count, 2);
}

#[test]
fn stored_maintenance_rows_decode() {
    // The periodic scheduler's payload is `{}` for every maintenance kind.
    let empty = json!({});
    let (_, tokens) = round_trip::<TokenCleanup>(&empty, &json!({"deleted": 2}));
    assert_eq!(tokens.deleted, 2);
    let (_, recovered) =
        round_trip::<StaleJobRecovery>(&empty, &json!({"requeued": 1, "failed": 0}));
    assert_eq!(recovered.requeued, 1);
    let (_, statistics) = round_trip::<Statistics>(
        &empty,
        &json!({
            "at": "2026-03-14T10:00:00Z",
            "resources": {"Observation": 5, "Patient": 2},
            "resources_total": 7,
            "jobs": {"completed": 3, "pending": 1},
        }),
    );
    assert_eq!(statistics.resources_total, 7);
    assert_eq!(statistics.jobs.get("pending"), Some(&1));
    let _: NoPayload = serde_json::from_value(empty).expect("empty payload");
}
