//! The CapabilityStatement and the health endpoints.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn capability_statement_lists_exactly_what_is_implemented() {
    let app = TestApp::new().await;
    let response = app.get("/fhir/R4/metadata").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        "application/fhir+json; charset=utf-8"
    );
    let statement = response.json();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["kind"], "instance");
    let rest = &statement["rest"][0];
    let resources = rest["resource"].as_array().expect("resources");
    assert_eq!(resources.len(), 147);
    let patient = resources
        .iter()
        .find(|r| r["type"] == "Patient")
        .expect("Patient");
    let codes: Vec<&str> = patient["interaction"]
        .as_array()
        .expect("interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create"
        ]
    );
    assert_eq!(patient["updateCreate"], true);
    assert_eq!(patient["versioning"], "versioned-update");
    assert!(patient.get("searchParam").is_none());
    assert_eq!(
        rest["interaction"],
        json!([{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}])
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    let live = app.get("/health").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "ok");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
}
