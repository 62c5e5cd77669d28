//! create, read, vread, update, patch, delete and the response headers.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, patient};

const JSON_PATCH: &str = "application/json-patch+json";

#[tokio::test]
async fn create_assigns_an_id_and_returns_location_etag_and_the_resource() {
    let app = TestApp::new().await;
    let mut body = patient();
    body["id"] = json!("client-chosen");
    let created = app.post("/fhir/R4/Patient", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(
        created.header("location"),
        "http://test.local/fhir/R4/Patient/id-1/_history/1"
    );
    assert_eq!(created.header("etag"), "W/\"1\"");
    assert_eq!(
        created.header("content-type"),
        "application/fhir+json; charset=utf-8"
    );
    assert!(created.header("last-modified").ends_with("GMT"));
    assert!(!created.header("x-request-id").is_empty());
    let resource = created.json();
    assert_eq!(resource["id"], "id-1");
    assert_eq!(resource["meta"]["versionId"], "1");
    assert_eq!(resource["gender"], "other");
}

#[tokio::test]
async fn read_and_vread_serve_the_stored_version_with_its_etag() {
    let app = TestApp::new().await;
    let id = app.create_patient().await;
    let read = app.get(&format!("/fhir/R4/Patient/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.header("etag"), "W/\"1\"");
    assert_eq!(read.json()["meta"]["versionId"], "1");

    let mut update = read.json();
    update["active"] = json!(false);
    let updated = app.put(&format!("/fhir/R4/Patient/{id}"), &update).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.header("etag"), "W/\"2\"");

    let old = app.get(&format!("/fhir/R4/Patient/{id}/_history/1")).await;
    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(old.json()["active"], true);
    assert_eq!(old.header("etag"), "W/\"1\"");
    let current = app.get(&format!("/fhir/R4/Patient/{id}")).await;
    assert_eq!(current.json()["active"], false);

    app.get(&format!("/fhir/R4/Patient/{id}/_history/9"))
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    app.get("/fhir/R4/Patient/missing")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    app.get(&format!("/fhir/R4/Patient/{id}/_history/x"))
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
}

#[tokio::test]
async fn put_to_a_new_id_creates_and_if_match_guards_updates() {
    let app = TestApp::new().await;
    let mut body = patient();
    body["id"] = json!("p1");
    let created = app.put("/fhir/R4/Patient/p1", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(
        created.header("location"),
        "http://test.local/fhir/R4/Patient/p1/_history/1"
    );

    let stale = app
        .send_json(
            Method::PUT,
            "/fhir/R4/Patient/p1",
            &body,
            &[("if-match", "W/\"7\"")],
        )
        .await;
    stale.assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    assert_eq!(app.versions_written().await, 1);

    let malformed = app
        .send_json(
            Method::PUT,
            "/fhir/R4/Patient/p1",
            &body,
            &[("if-match", "seven")],
        )
        .await;
    malformed.assert_outcome(StatusCode::BAD_REQUEST, "value");

    let fresh = app
        .send_json(
            Method::PUT,
            "/fhir/R4/Patient/p1",
            &body,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text());
    assert_eq!(fresh.header("etag"), "W/\"2\"");
    assert_eq!(app.versions_written().await, 2);
}

#[tokio::test]
async fn prefer_return_chooses_the_response_body() {
    let app = TestApp::new().await;
    let minimal = app
        .send_json(
            Method::POST,
            "/fhir/R4/Patient",
            &patient(),
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED);
    assert!(minimal.body.is_empty());
    assert_eq!(minimal.header("etag"), "W/\"1\"");
    assert!(
        minimal
            .header("location")
            .ends_with("/Patient/id-1/_history/1")
    );

    let outcome = app
        .send_json(
            Method::POST,
            "/fhir/R4/Patient",
            &patient(),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    assert_eq!(outcome.status, StatusCode::CREATED);
    assert_eq!(outcome.json()["resourceType"], "OperationOutcome");
    assert_eq!(outcome.json()["issue"][0]["severity"], "information");
}

#[tokio::test]
async fn patch_applies_json_patch_and_honours_if_match() {
    let app = TestApp::new().await;
    let id = app.create_patient().await;
    let uri = format!("/fhir/R4/Patient/{id}");
    let ops = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let patched = app
        .request(
            Method::PATCH,
            &uri,
            &[("content-type", JSON_PATCH)],
            ops.clone(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.header("etag"), "W/\"2\"");
    assert_eq!(patched.json()["active"], false);
    assert_eq!(patched.json()["meta"]["versionId"], "2");

    let stale = app
        .request(
            Method::PATCH,
            &uri,
            &[("content-type", JSON_PATCH), ("if-match", "W/\"1\"")],
            ops.clone(),
        )
        .await;
    stale.assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    let wrong_type = app
        .request(
            Method::PATCH,
            &uri,
            &[("content-type", "application/fhir+json")],
            ops.clone(),
        )
        .await;
    wrong_type.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
    let failing = json!([{"op": "test", "path": "/active", "value": true}]).to_string();
    let failed = app
        .request(
            Method::PATCH,
            &uri,
            &[("content-type", JSON_PATCH)],
            failing,
        )
        .await;
    failed.assert_outcome(StatusCode::UNPROCESSABLE_ENTITY, "processing");
    let invalid = json!([{"op": "add", "path": "/gender", "value": 42}]).to_string();
    let rejected = app
        .request(
            Method::PATCH,
            &uri,
            &[("content-type", JSON_PATCH)],
            invalid,
        )
        .await;
    assert_eq!(
        rejected.status,
        StatusCode::BAD_REQUEST,
        "{}",
        rejected.text()
    );
    let missing = app
        .request(
            Method::PATCH,
            "/fhir/R4/Patient/nope",
            &[("content-type", JSON_PATCH)],
            ops,
        )
        .await;
    missing.assert_outcome(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(app.versions_written().await, 2);
}

#[tokio::test]
async fn delete_tombstones_then_read_is_gone_and_old_versions_stay() {
    let app = TestApp::new().await;
    let id = app.create_patient().await;
    let uri = format!("/fhir/R4/Patient/{id}");
    let stale = app
        .request(
            Method::DELETE,
            &uri,
            &[("if-match", "W/\"3\"")],
            Body::empty(),
        )
        .await;
    stale.assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");

    let deleted = app.delete(&uri).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(deleted.json()["resourceType"], "OperationOutcome");
    assert_eq!(deleted.header("etag"), "W/\"2\"");
    app.get(&uri)
        .await
        .assert_outcome(StatusCode::GONE, "deleted");
    assert_eq!(
        app.get(&format!("{uri}/_history/1")).await.status,
        StatusCode::OK
    );
    app.get(&format!("{uri}/_history/2"))
        .await
        .assert_outcome(StatusCode::GONE, "deleted");

    let again = app.delete(&uri).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    assert_eq!(app.versions_written().await, 2);
    let never = app.delete("/fhir/R4/Patient/never").await;
    assert_eq!(never.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn format_and_pretty_are_honoured() {
    let app = TestApp::new().await;
    let id = app.create_patient().await;
    let pretty = app
        .get(&format!("/fhir/R4/Patient/{id}?_pretty=true&_format=json"))
        .await;
    assert_eq!(pretty.status, StatusCode::OK);
    assert!(pretty.text().contains("\n  \"id\": "), "{}", pretty.text());
    let compact = app
        .get(&format!(
            "/fhir/R4/Patient/{id}?_format=application/fhir%2Bjson"
        ))
        .await;
    assert!(!compact.text().contains('\n'));
    let accepted = app
        .request(
            Method::GET,
            &format!("/fhir/R4/Patient/{id}"),
            &[("accept", "application/json")],
            Body::empty(),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
}

#[tokio::test]
async fn client_request_ids_are_echoed() {
    let app = TestApp::new().await;
    let response = app
        .request(
            Method::GET,
            "/health",
            &[("x-request-id", "abc-123")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.header("x-request-id"), "abc-123");
}
