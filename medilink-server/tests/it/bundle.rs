//! Batch and transaction Bundles at `POST /fhir/R4`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, patient};

fn transaction(kind: &str, observation_status: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": "urn:uuid:8f3c3a4e-0000-4000-8000-000000000001",
                "resource": patient(),
                "request": {"method": "POST", "url": "Patient"}
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": observation_status,
                    "code": {"text": "x"},
                    "subject": {"reference": "urn:uuid:8f3c3a4e-0000-4000-8000-000000000001"}
                },
                "request": {"method": "POST", "url": "Observation"}
            }
        ]
    })
}

#[tokio::test]
async fn a_transaction_commits_and_renders_a_transaction_response() {
    let app = TestApp::new().await;
    let response = app
        .post("/fhir/R4", &transaction("transaction", "final"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let bundle = response.json();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction-response");
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(entry["response"]["status"], "201 Created", "{entry}");
        assert_eq!(entry["response"]["etag"], "W/\"1\"");
        assert!(
            entry["response"]["location"]
                .as_str()
                .is_some_and(|l| l.ends_with("/_history/1"))
        );
        assert!(entry.get("resource").is_none(), "minimal by default");
    }
    let location = entries[1]["response"]["location"]
        .as_str()
        .expect("location");
    let path = location
        .strip_prefix("http://test.local")
        .expect("same origin");
    let observation = app.get(path).await.json();
    let patient_ref = entries[0]["fullUrl"]
        .as_str()
        .expect("fullUrl")
        .strip_prefix("http://test.local/fhir/R4/")
        .expect("base");
    assert_eq!(observation["subject"]["reference"], patient_ref);
    assert_eq!(app.versions_written().await, 2);
}

#[tokio::test]
async fn a_failing_transaction_writes_nothing() {
    let app = TestApp::new().await;
    let response = app
        .post("/fhir/R4", &transaction("transaction", "not-a-status"))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(response.json()["resourceType"], "OperationOutcome");
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn batch_entries_fail_independently_and_prefer_representation_returns_resources() {
    let app = TestApp::new().await;
    let mut bundle = transaction("batch", "not-a-status");
    bundle["entry"][1]["resource"]["subject"] = json!({"reference": "Patient/whatever"});
    let response = app
        .send_json(
            Method::POST,
            "/fhir/R4",
            &bundle,
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "batch-response");
    assert_eq!(body["entry"][0]["response"]["status"], "201 Created");
    assert_eq!(body["entry"][0]["resource"]["resourceType"], "Patient");
    assert_eq!(body["entry"][1]["response"]["status"], "400 Bad Request");
    assert_eq!(
        body["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(app.versions_written().await, 1);
}

#[tokio::test]
async fn only_bundles_can_be_posted_to_the_base() {
    let app = TestApp::new().await;
    app.post("/fhir/R4", &patient())
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    let collection = json!({"resourceType": "Bundle", "type": "collection"});
    let response = app.post("/fhir/R4", &collection).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(app.versions_written().await, 0);
}
