//! Every error status of the FHIR API, as an OperationOutcome, and that failed requests write
//! nothing.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_server::Limits;
use serde_json::json;

use crate::support::{TestApp, patient};

#[tokio::test]
async fn malformed_json_is_400_and_writes_nothing() {
    let app = TestApp::new().await;
    let response = app
        .request(
            Method::POST,
            "/fhir/R4/Patient",
            &[("content-type", "application/fhir+json")],
            "{\"resourceType\": ",
        )
        .await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "structure");
    let not_object = app.post("/fhir/R4/Patient", &json!([1, 2])).await;
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn unknown_resource_types_in_the_url_are_404_and_in_the_body_400() {
    let app = TestApp::new().await;
    app.post("/fhir/R4/Patients", &patient())
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-supported");
    app.get("/fhir/R4/Nope/1")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-supported");
    app.get("/fhir/R4/Nope/_history")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-supported");
    let mut body = patient();
    body["id"] = json!("x");
    body["resourceType"] = json!("Nope");
    app.put("/fhir/R4/Patient/x", &body)
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn body_type_and_id_must_match_the_url() {
    let app = TestApp::new().await;
    let observation =
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    app.post("/fhir/R4/Patient", &observation)
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    let mut body = patient();
    body["id"] = json!("other");
    app.put("/fhir/R4/Patient/p1", &body)
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    app.put("/fhir/R4/Patient/p1", &patient())
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    app.get("/fhir/R4/Patient/bad_id")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn invalid_elements_report_the_validator_issues() {
    let app = TestApp::new().await;
    let body = json!({"resourceType": "Patient", "gender": 42, "unknownElement": true});
    let response = app.post("/fhir/R4/Patient", &body).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    let outcome = response.json();
    let issues = outcome["issue"].as_array().expect("issues");
    assert!(issues.len() >= 2, "{outcome}");
    assert!(
        issues
            .iter()
            .all(|issue| issue["severity"] == "error" && issue["expression"].is_array()),
        "{outcome}"
    );
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::with_limits(Limits {
        max_body_bytes: 256,
    })
    .await;
    let mut body = patient();
    body["name"] = json!([{"text": "x".repeat(1000)}]);
    app.post("/fhir/R4/Patient", &body)
        .await
        .assert_outcome(StatusCode::PAYLOAD_TOO_LARGE, "too-long");
    assert_eq!(app.versions_written().await, 0);
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = TestApp::new().await;
    let body = patient().to_string();
    let plain = app
        .request(
            Method::POST,
            "/fhir/R4/Patient",
            &[("content-type", "text/plain")],
            body.clone(),
        )
        .await;
    plain.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
    let missing = app
        .request(Method::POST, "/fhir/R4/Patient", &[], body.clone())
        .await;
    missing.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
    let json = app
        .request(
            Method::POST,
            "/fhir/R4/Patient",
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
        .await;
    assert_eq!(json.status, StatusCode::CREATED);
    assert_eq!(app.versions_written().await, 1);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::new().await;
    app.get("/nope")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    app.get("/fhir/R4/Patient/1/_history/1/extra")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    let wrong = app.delete("/fhir/R4/metadata").await;
    wrong.assert_outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
    let post_instance = app.post("/fhir/R4/Patient/1", &patient()).await;
    post_instance.assert_outcome(StatusCode::METHOD_NOT_ALLOWED, "not-supported");
    let health = app
        .request(Method::POST, "/health", &[], Body::empty())
        .await;
    assert_eq!(health.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn xml_is_not_acceptable() {
    let app = TestApp::new().await;
    app.get("/fhir/R4/metadata?_format=xml")
        .await
        .assert_outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
    let accept_xml = app
        .request(
            Method::GET,
            "/fhir/R4/metadata",
            &[("accept", "application/fhir+xml")],
            Body::empty(),
        )
        .await;
    accept_xml.assert_outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
    let xml_create = app
        .request(
            Method::POST,
            "/fhir/R4/Patient?_format=xml",
            &[("content-type", "application/fhir+json")],
            patient().to_string(),
        )
        .await;
    xml_create.assert_outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
    assert_eq!(app.versions_written().await, 0);
}
