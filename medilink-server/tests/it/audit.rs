//! Issue #4: FHIR requests leave hash-chained audit records, readable by admins.

use axum::http::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn fhir_requests_are_audited_and_the_chain_verifies() {
    let app = TestApp::new().await;
    let id = app.create_patient().await;
    let read = app.get(&format!("/fhir/R4/Patient/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    let log = app.get("/api/admin/audit?resource_type=Patient").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    let records = log.json()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["action"], "read");
    // Issue #11: the patient comes from what was returned, as `Type/id`.
    assert_eq!(
        records[0]["patients"],
        serde_json::json!({ id.as_str(): [format!("Patient/{id}")] })
    );
    assert_eq!(
        records[0]["resource_ids"],
        serde_json::json!([format!("Patient/{id}")])
    );
    assert_eq!(records[1]["action"], "create");
    let verification = app.state.audit_log.verify().await.expect("verify");
    assert_eq!(verification.first_broken, None);
    assert_eq!(verification.records, 2);
}
