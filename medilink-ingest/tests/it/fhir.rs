//! The transaction Bundle written to a real store (SQLite): accepted as is, and a re-run of the
//! same job writes new versions of the same resources, never duplicates.

use medilink_fhir::store::{HistoryQuery, HistoryScope};
use medilink_fhir::testsuite::sqlite_harness;
use medilink_fhir::{RequestContext, ResourceId, ResourceType, SeqIdGen, VersionId};
use medilink_ingest::DocumentKind;
use medilink_ingest::extract::RuleExtractor;
use medilink_ingest::fhir::{
    FhirContext, diagnostic_report_id, observation_id, transaction_bundle,
};
use medilink_ingest::pipeline::{Analysis, map_result};
use medilink_ingest::text::TextOrigin;
use serde_json::{Value, json};
use uuid::Uuid;

const REPORT: &str = "\
Collected: 2026-03-14
Test            Result   Units     Reference Range   Flag
Hemoglobin      13.5     g/dL      13.0 - 17.0
WBC             11.8     x10^9/L   4.0 - 10.0        H
Sodium          139      mEq/L     136 - 145
Troponin I      <0.01    ng/mL     0.00 - 0.04
Zonulin factor  42       ng/mL     10 - 50
";

fn analysis() -> Analysis {
    let report = RuleExtractor::default().extract_text(REPORT);
    Analysis {
        kind: DocumentKind::Pdf,
        origin: TextOrigin::TextLayer,
        report_date: report.report_date,
        issued: None,
        results: report
            .results
            .into_iter()
            .map(|result| map_result(result, 0.75))
            .collect(),
    }
}

async fn count_versions(
    store: &dyn medilink_fhir::ResourceStore,
    resource_type: ResourceType,
) -> u64 {
    store
        .history(
            &RequestContext::system(),
            &HistoryQuery {
                scope: HistoryScope::Type(resource_type),
                since: None,
                at: None,
                count: 100,
                before_seq: None,
            },
        )
        .await
        .expect("history")
        .total
}

#[tokio::test]
async fn the_bundle_is_accepted_and_a_rerun_never_duplicates() {
    let Some(harness) = sqlite_harness().await else {
        return;
    };
    let store = harness.store.clone();
    let ctx = RequestContext::system();
    let ids = SeqIdGen::new("t");
    for (resource_type, id) in [("Patient", "pat-1"), ("DocumentReference", "doc-1")] {
        let resource = match resource_type {
            "Patient" => json!({"resourceType": "Patient", "id": id, "active": true}),
            _ => json!({"resourceType": "DocumentReference", "id": id, "status": "current",
                        "content": [{"attachment": {"contentType": "application/pdf"}}]}),
        };
        store
            .update(
                &ctx,
                resource_type.parse().expect("type"),
                &ResourceId::new(id).expect("id"),
                resource,
                None,
            )
            .await
            .expect("seed");
    }
    let analysis = analysis();
    assert_eq!(analysis.results.len(), 5);
    let job_id = Uuid::from_u128(0x6a0b);
    let context = FhirContext {
        patient: ResourceId::new("pat-1").expect("id"),
        document: ResourceId::new("doc-1").expect("id"),
        job_id,
        issued: time::macros::datetime!(2026-03-15 10:00 UTC),
    };
    for run in 1..=2u64 {
        let bundle = transaction_bundle(&analysis, &context).expect("bundle");
        let outcome = medilink_fhir::bundle::process(store.as_ref(), &ctx, &ids, bundle)
            .await
            .expect("transaction accepted");
        assert_eq!(outcome.entries.len(), 6);
        assert!(outcome.entries.iter().all(Result::is_ok));
        assert_eq!(
            count_versions(store.as_ref(), ResourceType::Observation).await,
            5 * run
        );
        assert_eq!(
            count_versions(store.as_ref(), ResourceType::DiagnosticReport).await,
            run
        );
    }
    let report_id = ResourceId::new(diagnostic_report_id(job_id)).expect("id");
    let stored = store
        .read(&ctx, ResourceType::DiagnosticReport, &report_id)
        .await
        .expect("report");
    assert_eq!(stored.version_id, VersionId(2));
    let report: Value = serde_json::from_str(stored.json.as_deref().expect("live")).expect("json");
    assert_eq!(report["result"].as_array().map(Vec::len), Some(5));
    for index in 0..5 {
        let id = ResourceId::new(observation_id(job_id, index)).expect("id");
        let observation = store
            .read(&ctx, ResourceType::Observation, &id)
            .await
            .expect("observation");
        assert_eq!(observation.version_id, VersionId(2));
    }
    drop(store);
    drop(harness);
}
