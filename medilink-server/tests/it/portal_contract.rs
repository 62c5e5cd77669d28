//! What the patient and physician portals rely on (issue #16): a grant names its grantee
//! (`grantee_name`, so that no portal shows a clinician's id) in every answer of
//! `/api/consents`, and a patient may list their own document jobs and download their whole
//! record (`$everything`); on SQLite and PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{PostgresDatabase, TestApp, api_call, signed_in};

async fn ok(app: &TestApp, token: &str, method: Method, uri: &str, body: Option<&Value>) -> Value {
    let (status, json) = api_call(app, method, uri, token, body).await;
    assert!(status.is_success(), "{uri}: {status} {json}");
    json
}

async fn portals_get_names_and_the_patients_own_data(app: TestApp) {
    // `signed_in` names physicians "Test Physician".
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let patient = signed_in(&app.state, "pat@test.local", Role::Patient).await;
    let other = signed_in(&app.state, "other@test.local", Role::Patient).await;
    let doctor_id = ok(&app, &doctor, Method::GET, "/api/auth/me", None).await["id"].clone();
    let patient_id = ok(&app, &patient, Method::GET, "/api/auth/me", None).await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();

    let (status, created) = api_call(
        &app,
        Method::POST,
        "/api/consents",
        &patient,
        Some(&json!({"grantee": doctor_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["grantee_name"], "Test Physician");
    for token in [&patient, &doctor] {
        let listed = ok(&app, token, Method::GET, "/api/consents", None).await;
        assert_eq!(listed["consents"][0]["grantee"], doctor_id);
        assert_eq!(listed["consents"][0]["grantee_name"], "Test Physician");
    }
    let id = created["id"].as_str().expect("id");
    let revoked = ok(
        &app,
        &patient,
        Method::DELETE,
        &format!("/api/consents/{id}"),
        None,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["grantee_name"], "Test Physician");
    // The other patient sees none of it.
    let theirs = ok(&app, &other, Method::GET, "/api/consents", None).await;
    assert_eq!(theirs["consents"], json!([]));

    // The patient's own uploads (none yet) and whole record.
    let jobs = ok(&app, &patient, Method::GET, "/api/documents/jobs", None).await;
    assert_eq!(jobs["jobs"], json!([]));
    let everything = ok(
        &app,
        &patient,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient_id}/$everything"),
        None,
    )
    .await;
    assert_eq!(everything["resourceType"], "Bundle");
    let types: Vec<&str> = everything["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["resource"]["resourceType"].as_str())
        .collect();
    assert!(types.contains(&"Patient"), "{types:?}");
    // Another patient's record does not exist for them.
    let (status, _) = api_call(
        &app,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient_id}/$everything"),
        &other,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn portals_get_names_and_the_patients_own_data_on_sqlite() {
    portals_get_names_and_the_patients_own_data(TestApp::new().await).await;
}

#[tokio::test]
async fn portals_get_names_and_the_patients_own_data_on_postgres() {
    PostgresDatabase::run("the portal contract test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        portals_get_names_and_the_patients_own_data(app).await;
    })
    .await;
}
