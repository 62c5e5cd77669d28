//! Issue #4: FHIR requests leave hash-chained audit records, readable by admins.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_platform::AuditFilter;

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

/// Issue #12: the metadata a route is registered with decides whether and as what a request is
/// audited: a search by `POST` is a search, a method a FHIR route lacks (`405`) and a FHIR
/// path no route matches are `other`, and `metadata` and the account routes leave nothing.
#[tokio::test]
async fn the_route_metadata_names_the_audit_action() {
    let app = TestApp::new().await;
    let cases = [
        (Method::POST, "/fhir/R4/Patient/_search", Some("search")),
        (Method::POST, "/fhir/R4/_history", Some("other")),
        (Method::GET, "/fhir/R4/Patient/p1/x/y/z", Some("other")),
        (Method::GET, "/fhir/R4/metadata", None),
        (Method::GET, "/api/auth/me", None),
    ];
    for (method, uri, action) in cases {
        let before = app
            .state
            .audit_log
            .list(&AuditFilter::default())
            .await
            .expect("audit");
        let response = app.request(method.clone(), uri, &[], Body::empty()).await;
        let after = app
            .state
            .audit_log
            .list(&AuditFilter::default())
            .await
            .expect("audit");
        match action {
            Some(action) => {
                assert_eq!(after.len(), before.len() + 1, "{method} {uri}");
                assert_eq!(after[0].entry.action, action, "{method} {uri}");
                assert_eq!(after[0].entry.outcome, response.status.as_u16());
            }
            None => assert_eq!(after.len(), before.len(), "{method} {uri}"),
        }
    }
}
