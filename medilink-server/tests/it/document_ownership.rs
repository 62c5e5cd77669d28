//! A document job belongs to its uploader only while the platform says so and consent allows:
//!
//! - the extensions of an uploaded `DocumentReference` that only the server writes (its
//!   uploader, whom the document relay queues the job for, and its ingest status) cannot be
//!   forged on any FHIR write path — POST, PUT (as create and as update), conditional create,
//!   JSON Patch, FHIRPath Patch, transaction and batch entries: 422 naming the extension,
//!   nothing stored, no job queued for the named user, no notice to them (before the fix a
//!   consented writer could name another physician, who was then told of the document and
//!   shown its analysis without any consent); the same document without them is accepted, and
//!   a real upload's `DocumentReference` read and written back (as is, edited, or without the
//!   extensions) keeps them;
//! - an uploader whose consent was revoked no longer sees, lists or cancels the job (404 as
//!   for an unknown job; before the fix they kept reading its analysis); the patient still sees
//!   their own, an admin every job.
//!
//! On SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::SqlOptions;
use medilink_ingest::Pipeline;
use medilink_platform::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::documents::{FixtureExtractor, FixtureText, World, report, uncertain_report, world_at};
use crate::support::{PostgresDatabase, signed_in};

const UPLOADER: &str = "https://medilink.dev/fhir/StructureDefinition/uploaded-by";
const INGEST: &str = "https://medilink.example/fhir/StructureDefinition/document-ingest-status";
const JSON_PATCH: &str = "application/json-patch+json";
const FHIR_JSON: &str = "application/fhir+json";

async fn world(options: &SqlOptions) -> World {
    let pipeline = Pipeline::new(
        Arc::new(FixtureText {
            delay: Duration::ZERO,
        }),
        Arc::new(FixtureExtractor),
    );
    world_at(options, 20 * 1024 * 1024, pipeline).await
}

/// `method path` with `body` sent as `content_type`, as `token`: status and JSON body.
async fn send(
    w: &World,
    token: &str,
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = w
        .client
        .request(method, format!("{}{path}", w.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a refusal: 422 with an OperationOutcome naming `url`.
fn assert_refused(what: &str, (status, body): &(StatusCode, Value), url: &str) {
    assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{what}: {body}");
    let diagnostics = body["issue"][0]["diagnostics"].as_str().unwrap_or_default();
    assert!(diagnostics.contains(url), "{what}: {body}");
}

/// The ids of the document jobs `token` lists.
async fn listed(w: &World, token: &str) -> Vec<String> {
    let (status, body) = w
        .call(token, Method::GET, "/api/documents/jobs?limit=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| job["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The status of `GET /api/documents/jobs/{id}` as `token`, and the body.
async fn job(w: &World, token: &str, id: &str) -> (StatusCode, Value) {
    w.call(
        token,
        Method::GET,
        &format!("/api/documents/jobs/{id}"),
        None,
    )
    .await
}

/// The patient of `patient_token` grants the doctor access to everything; the consent id.
async fn grant(w: &World, patient_token: &str) -> String {
    let body = json!({"grantee": w.doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let (status, body) = w
        .call(patient_token, Method::POST, "/api/consents", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("consent id").to_owned()
}

/// The `DocumentReference` of the upload whose job is `job_id`, as `token` reads it.
async fn document_of(w: &World, token: &str, job_id: &str) -> (String, Value) {
    let (status, body) = job(w, token, job_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reference = body["document_reference"]
        .as_str()
        .expect("document reference")
        .to_owned();
    let (status, document) = w
        .call(token, Method::GET, &format!("/fhir/R4/{reference}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    (reference, document)
}

async fn server_owned_extensions_cannot_be_forged(w: World) {
    let stranger = signed_in(&w.app.state, "doc2@test.local", Role::Physician).await;
    let stranger_id = w.me(&stranger).await["id"].as_str().expect("id").to_owned();
    grant(&w, &w.patient_a).await;
    // A real upload by the consented doctor: its blob key is what a forger would reuse.
    let clear = report(&["Hemoglobin;13.5;g/dL;0.99", "Glucose;95;mg/dL;0.99"]);
    let upload = w.submit(&w.doctor, &w.a, &clear).await;
    let (reference, uploaded) = document_of(&w, &w.doctor, &upload).await;
    let path = format!("/fhir/R4/{reference}");
    let attachment = uploaded["content"][0]["attachment"].clone();
    assert!(
        attachment["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("documents/")),
        "{uploaded}"
    );
    let plain = json!({
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": format!("Patient/{}", w.a)},
        "content": [{"attachment": attachment}],
    });
    let naming_the_stranger = json!({"url": UPLOADER, "valueString": stranger_id});
    let pending = json!({"url": INGEST, "valueCode": "pending"});
    let mut forged = plain.clone();
    forged["extension"] = json!([naming_the_stranger, pending]);
    let mut status_only = plain.clone();
    status_only["extension"] = json!([{"url": INGEST, "valueCode": "completed"}]);

    // A document of the doctor's own, to update and patch.
    let (status, own) = w
        .call(
            &w.doctor,
            Method::POST,
            "/fhir/R4/DocumentReference",
            Some(plain.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "positive control: {own}");
    let own_path = format!(
        "/fhir/R4/DocumentReference/{}",
        own["id"].as_str().expect("id")
    );
    let versions = w.app.versions_written().await;

    // Create: POST, conditional POST, PUT as create.
    let doctor = w.doctor.as_str();
    let create = "/fhir/R4/DocumentReference";
    let posted = send(&w, doctor, Method::POST, create, FHIR_JSON, &forged).await;
    assert_refused("POST", &posted, UPLOADER);
    let posted = send(&w, doctor, Method::POST, create, FHIR_JSON, &status_only).await;
    assert_refused("POST of the status alone", &posted, INGEST);
    let conditional = w
        .client
        .post(format!("{}{create}", w.base))
        .bearer_auth(doctor)
        .header("content-type", FHIR_JSON)
        .header("if-none-exist", "identifier=urn:test|forged-1")
        .body(forged.to_string())
        .send()
        .await
        .expect("conditional create");
    let status = conditional.status();
    let body: Value = conditional.json().await.unwrap_or(Value::Null);
    assert_refused("conditional POST", &(status, body), UPLOADER);
    let mut with_id = forged.clone();
    with_id["id"] = json!("forged-1");
    // Update as create is the platform's and admins' (a physician gets 404 from consent);
    // an admin is a client too.
    let put = "/fhir/R4/DocumentReference/forged-1";
    let created = send(&w, &w.admin, Method::PUT, put, FHIR_JSON, &with_id).await;
    assert_refused("PUT as create", &created, UPLOADER);

    // Update: PUT, JSON Patch, FHIRPath Patch on the doctor's own document; the upload's
    // uploader changed.
    let mut updated = own.clone();
    updated["extension"] = json!([naming_the_stranger]);
    let put = send(&w, doctor, Method::PUT, &own_path, FHIR_JSON, &updated).await;
    assert_refused("PUT", &put, UPLOADER);
    let patch = json!([{"op": "add", "path": "/extension", "value": [naming_the_stranger]}]);
    let patched = send(&w, doctor, Method::PATCH, &own_path, JSON_PATCH, &patch).await;
    assert_refused("JSON Patch", &patched, UPLOADER);
    let fhirpath = json!({"resourceType": "Parameters", "parameter": [{"name": "operation",
        "part": [{"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "DocumentReference"},
            {"name": "name", "valueString": "extension"},
            {"name": "value", "valueExtension": naming_the_stranger}]}]});
    let patched = send(&w, doctor, Method::PATCH, &own_path, FHIR_JSON, &fhirpath).await;
    assert_refused("FHIRPath Patch", &patched, UPLOADER);
    let mut taken_over = uploaded.clone();
    taken_over["extension"] = json!([pending, naming_the_stranger]);
    let put = send(&w, doctor, Method::PUT, &path, FHIR_JSON, &taken_over).await;
    assert_refused("PUT changing the uploader", &put, UPLOADER);
    let replace = json!([{"op": "replace", "path": "/extension/1/valueString",
        "value": stranger_id}]);
    let patched = send(&w, doctor, Method::PATCH, &path, JSON_PATCH, &replace).await;
    assert_refused("JSON Patch of the uploader", &patched, UPLOADER);

    // Bundles: a transaction entry fails the transaction, a batch entry fails alone.
    let bundle = |kind: &str| {
        json!({"resourceType": "Bundle", "type": kind, "entry": [
            {"fullUrl": "urn:uuid:0b8c7f2e-4b7e-4d0c-9d1e-2f1a3c4d5e6f", "resource": forged,
             "request": {"method": "POST", "url": "DocumentReference"}},
            {"resource": status_only,
             "request": {"method": "POST", "url": "DocumentReference"}}]})
    };
    let base = "/fhir/R4";
    let transaction = bundle("transaction");
    let (status, body) = send(&w, doctor, Method::POST, base, FHIR_JSON, &transaction).await;
    assert!(status.is_client_error(), "transaction: {status} {body}");
    assert!(body.to_string().contains(UPLOADER), "transaction: {body}");
    let put_entry = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": with_id, "request": {"method": "PUT", "url": "DocumentReference/forged-1"}}]});
    let (status, body) = send(&w, &w.admin, Method::POST, base, FHIR_JSON, &put_entry).await;
    assert!(status.is_client_error(), "transaction PUT: {status} {body}");
    assert!(
        body.to_string().contains(UPLOADER),
        "transaction PUT: {body}"
    );
    let (status, body) = send(&w, doctor, Method::POST, base, FHIR_JSON, &bundle("batch")).await;
    assert_eq!(status, StatusCode::OK, "batch: {body}");
    for entry in body["entry"].as_array().expect("entries") {
        let entry_status = entry["response"]["status"].as_str().unwrap_or_default();
        assert!(entry_status.starts_with("422"), "batch entry: {entry}");
    }

    assert_eq!(w.app.versions_written().await, versions, "nothing stored");
    let (status, _) = w
        .call(
            doctor,
            Method::GET,
            "/fhir/R4/DocumentReference/forged-1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same document without the extensions is accepted (positive control, also by the
    // transaction), and a real upload's document written back keeps them.
    let (status, body) = send(&w, doctor, Method::POST, create, FHIR_JSON, &plain).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let clean = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": plain, "request": {"method": "POST", "url": "DocumentReference"}}]});
    let (status, body) = send(&w, doctor, Method::POST, "/fhir/R4", FHIR_JSON, &clean).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&w, doctor, Method::PUT, &path, FHIR_JSON, &uploaded).await;
    assert_eq!(status, StatusCode::OK, "round trip unchanged: {body}");
    let mut edited = body.clone();
    edited["description"] = json!("lab report, reviewed copy");
    let (status, body) = send(&w, doctor, Method::PUT, &path, FHIR_JSON, &edited).await;
    assert_eq!(status, StatusCode::OK, "round trip edited: {body}");
    assert_eq!(body["description"], "lab report, reviewed copy");
    let mut dropped = body.clone();
    dropped.as_object_mut().expect("object").remove("extension");
    let (status, body) = send(&w, doctor, Method::PUT, &path, FHIR_JSON, &dropped).await;
    assert_eq!(status, StatusCode::OK, "without the extensions: {body}");
    let mut kept: Vec<String> = body["extension"]
        .as_array()
        .expect("kept")
        .iter()
        .map(Value::to_string)
        .collect();
    let mut before: Vec<String> = uploaded["extension"]
        .as_array()
        .expect("uploaded")
        .iter()
        .map(Value::to_string)
        .collect();
    kept.sort();
    before.sort();
    assert_eq!(kept, before, "the server's extensions stay as they were");
    let note = json!([{"op": "add", "path": "/description", "value": "patched"}]);
    let (status, body) = send(&w, doctor, Method::PATCH, &path, JSON_PATCH, &note).await;
    assert_eq!(status, StatusCode::OK, "patch of another element: {body}");

    // No job for the stranger, whatever the relay finds; no notice either.
    w.app
        .state
        .job_deps
        .document_relay()
        .follow()
        .await
        .expect("relay");
    while w.work_once().await {}
    assert!(
        listed(&w, &stranger).await.is_empty(),
        "no job for the stranger"
    );
    assert_eq!(listed(&w, &w.admin).await, vec![upload.clone()], "one job");
    let (status, inbox) = w
        .call(&stranger, Method::GET, "/api/notifications", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    assert_eq!(inbox["unread"], 0, "{inbox}");
    let (status, inbox) = w
        .call(doctor, Method::GET, "/api/notifications", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    assert!(
        inbox["unread"].as_u64().unwrap_or(0) > 0,
        "positive control: {inbox}"
    );
}

async fn a_revoked_uploader_loses_the_job(w: World) {
    let consent = grant(&w, &w.patient_a).await;
    let doctors = w.submit(&w.doctor, &w.a, &uncertain_report()).await;
    let patients = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    while w.work_once().await {}
    // Positive control: the uploader sees the analysis awaiting review and lists the job.
    let (status, body) = job(&w, &w.doctor, &doctors).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "needs_review", "{body}");
    assert!(listed(&w, &w.doctor).await.contains(&doctors));

    let (status, body) = w
        .call(
            &w.patient_a,
            Method::DELETE,
            &format!("/api/consents/{consent}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "revoke: {body}");

    // Now the job does not exist for the doctor: not read, listed, cancelled nor accepted.
    let (status, body) = job(&w, &w.doctor, &doctors).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["issue"][0]["code"], "not-found", "{body}");
    assert!(!listed(&w, &w.doctor).await.contains(&doctors));
    let cancel = format!("/api/documents/jobs/{doctors}");
    let (status, body) = w.call(&w.doctor, Method::DELETE, &cancel, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "cancel: {body}");
    let accept = format!("/api/documents/jobs/{doctors}/accept");
    let (status, body) = w.call(&w.doctor, Method::POST, &accept, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "accept: {body}");
    // The patient still sees their own; an admin every job, the doctor's still waiting.
    let (status, body) = job(&w, &w.patient_a, &patients).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(listed(&w, &w.patient_a).await, vec![patients.clone()]);
    let (status, body) = job(&w, &w.admin, &doctors).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "needs_review", "{body}");
}

#[tokio::test]
async fn server_owned_extensions_cannot_be_forged_on_sqlite() {
    server_owned_extensions_cannot_be_forged(world(&SqlOptions::new("sqlite::memory:")).await)
        .await;
}

#[tokio::test]
async fn server_owned_extensions_cannot_be_forged_on_postgres() {
    PostgresDatabase::run("the forged document extensions test", |url| async move {
        server_owned_extensions_cannot_be_forged(world(&SqlOptions::new(url)).await).await;
    })
    .await;
}

#[tokio::test]
async fn a_revoked_uploader_loses_the_job_on_sqlite() {
    a_revoked_uploader_loses_the_job(world(&SqlOptions::new("sqlite::memory:")).await).await;
}

#[tokio::test]
async fn a_revoked_uploader_loses_the_job_on_postgres() {
    PostgresDatabase::run("the revoked uploader test", |url| async move {
        a_revoked_uploader_loses_the_job(world(&SqlOptions::new(url)).await).await;
    })
    .await;
}
