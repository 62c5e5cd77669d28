//! Issue #11: the audit record comes from the access decision, not from the URL — a
//! physician's reads, searches, history, includes, batch reads, `$everything` and `/api/search`
//! of a patient's Observations are in that patient's access log with the resource types; a
//! search's record lists the patients and ids returned; the admin view filters by patient.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{PostgresDatabase, TestApp, api_call, signed_in};

/// `api_call` that must answer 200; its JSON.
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> Value {
    let (status, json) = api_call(app, method, uri, token, body).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {json}");
    json
}

async fn create(app: &TestApp, body: Value) -> String {
    let uri = format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type"));
    let response = app.post(&uri, &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

fn observation(patient: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Zebrafinch rate"},
        "subject": {"reference": format!("Patient/{patient}")}
    })
}

/// The admin's audit records matching `query`, newest first.
async fn admin_audit(app: &TestApp, query: &str) -> Vec<Value> {
    let log = app.get(&format!("/api/admin/audit?{query}")).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    log.json()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn access_log_follows_the_decision(app: TestApp) {
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
    let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
    let me = |token: String| {
        let app = app.clone();
        async move { call(&app, &token, Method::GET, "/api/auth/me", None).await }
    };
    let doctor_id = me(doctor.clone()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a_me = me(patient_a.clone()).await;
    let a = a_me["patient_id"].as_str().expect("pid").to_owned();
    let a_user = a_me["id"].as_str().expect("id").to_owned();
    let b = me(patient_b.clone()).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let obs_a = create(&app, observation(&a)).await;
    let obs_b = create(&app, observation(&b)).await;
    let ref_a = format!("Observation/{obs_a}");
    let search = "/fhir/R4/Observation?code=8867-4";

    // Without consent: nothing found, and the record names no patient.
    let denied = call(&app, &doctor, Method::GET, search, None).await;
    assert_eq!(
        denied["entry"].as_array().map_or(0, Vec::len),
        0,
        "{denied}"
    );
    let records = admin_audit(&app, &format!("actor={doctor_id}&action=search")).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["patients"], json!({}), "{records:?}");
    assert_eq!(records[0]["resource_ids"], json!([]), "{records:?}");

    // A consents; the doctor reads A's Observations every way there is.
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let (status, granted) = api_call(
        &app,
        Method::POST,
        "/api/consents",
        &patient_a,
        Some(&grant),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{granted}");
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": format!("Observation/{obs_a}")}}
    ]});
    let uses = [
        (
            Method::GET,
            format!("/fhir/R4/Observation/{obs_a}"),
            None,
            "read",
        ),
        (Method::GET, search.to_owned(), None, "search"),
        (
            Method::GET,
            "/fhir/R4/Observation?_include=Observation:subject".to_owned(),
            None,
            "search",
        ),
        (
            Method::GET,
            format!("/fhir/R4/Observation/{obs_a}/_history"),
            None,
            "history",
        ),
        (
            Method::GET,
            "/fhir/R4/Observation/_history".to_owned(),
            None,
            "history",
        ),
        (Method::POST, "/fhir/R4".to_owned(), Some(batch), "bundle"),
        (
            Method::GET,
            format!("/fhir/R4/Patient/{a}/$everything"),
            None,
            "search",
        ),
        (
            Method::GET,
            "/api/search?q=zebrafinch".to_owned(),
            None,
            "fulltext-search",
        ),
    ];
    for (method, uri, body, _) in &uses {
        let answer = call(&app, &doctor, method.clone(), uri, body.as_ref()).await;
        assert!(!answer.to_string().contains(&obs_b), "{uri}: {answer}");
    }
    // The patient's own read is not in their log.
    call(
        &app,
        &patient_a,
        Method::GET,
        &format!("/fhir/R4/Observation/{obs_a}"),
        None,
    )
    .await;

    let log = call(
        &app,
        &patient_a,
        Method::GET,
        "/api/consents/access-log",
        None,
    )
    .await;
    let entries: Vec<Value> = log["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry["actor"] == doctor_id.as_str())
        .collect();
    // Newest first: one entry per use, in reverse.
    assert_eq!(entries.len(), uses.len(), "{entries:#?}");
    for (entry, (_, uri, _, action)) in entries.iter().rev().zip(&uses) {
        assert_eq!(entry["action"], *action, "{uri}: {entry}");
        assert!(
            strings(&entry["resource_ids"]).contains(&ref_a),
            "{uri}: {entry}"
        );
        assert!(
            strings(&entry["resource_types"]).contains(&"Observation".to_owned()),
            "{uri}: {entry}"
        );
        assert!(!entry.to_string().contains(&obs_b), "{uri}: {entry}");
        assert!(entry["grant"].is_string(), "{uri}: {entry}");
    }
    // The include brought A's Patient along.
    assert!(
        strings(&entries[uses.len() - 3]["resource_types"]).contains(&"Patient".to_owned()),
        "{entries:#?}"
    );
    assert!(
        log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|entry| entry["actor"] != a_user.as_str()),
        "the patient's own reads are left out: {log}"
    );

    // The consented search's record lists the patient and the ids returned (positive control
    // of the empty record above).
    let searches = admin_audit(&app, &format!("actor={doctor_id}&action=search")).await;
    let consented = searches
        .iter()
        .find(|record| record["resource_ids"] == json!([ref_a]))
        .expect("the consented search");
    assert_eq!(consented["patients"], json!({ a.clone(): [ref_a.clone()] }));
    assert_eq!(consented["resource_types"], json!(["Observation"]));
    // /api/search names what it found.
    let fulltext = admin_audit(&app, &format!("actor={doctor_id}&action=fulltext-search")).await;
    assert_eq!(fulltext.len(), 1);
    assert!(
        strings(&fulltext[0]["resource_ids"]).contains(&ref_a),
        "{fulltext:?}"
    );
    assert!(fulltext[0]["patients"].get(&a).is_some(), "{fulltext:?}");

    // The admin view filters by patient: every use is there for A, none for B.
    let of_a = admin_audit(&app, &format!("patient={a}&actor={doctor_id}")).await;
    assert_eq!(of_a.len(), uses.len(), "{of_a:#?}");
    let of_b = admin_audit(&app, &format!("patient={b}&actor={doctor_id}")).await;
    assert!(of_b.is_empty(), "{of_b:#?}");

    let verification = app.state.audit_log.verify().await.expect("verify");
    assert_eq!(verification.first_broken, None);
}

#[tokio::test]
async fn a_physicians_access_is_in_the_patients_access_log() {
    access_log_follows_the_decision(TestApp::new().await).await;
}

#[tokio::test]
async fn a_physicians_access_is_in_the_patients_access_log_on_postgres() {
    PostgresDatabase::run("the access-log test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        access_log_follows_the_decision(app).await;
    })
    .await;
}
