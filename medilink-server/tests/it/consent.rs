//! Issue #5: consent-gated access over HTTP — the authorization matrix (role × consent state ×
//! interaction, every cell asserted) and the leak hunt (nothing reveals a resource the caller
//! may not see, or its existence).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::Clock;
use medilink_fhir::clock::format_instant;
use medilink_platform::Role;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::{TestApp, TestResponse, signed_in};

/// A caller's token.
#[derive(Debug, Clone)]
struct Who(String);

struct World {
    app: TestApp,
    doctor: Who,
    doctor_id: String,
    patient_a: Who,
    a: String,
    b: String,
    researcher: Who,
    obs_a: String,
    obs_b: String,
}

async fn call(
    app: &TestApp,
    who: &Who,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> TestResponse {
    let bearer = format!("Bearer {}", who.0);
    let mut headers = vec![("authorization", bearer.as_str())];
    let body = match body {
        Some(body) => {
            headers.push(("content-type", "application/fhir+json"));
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.request(method, uri, &headers, body).await
}

async fn me(app: &TestApp, who: &Who) -> Value {
    let response = call(app, who, Method::GET, "/api/auth/me", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

fn observation(patient: &str, identifier: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:test", "value": identifier}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")}
    })
}

async fn admin_create(app: &TestApp, body: &Value) -> String {
    let response = app
        .post(
            &format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type")),
            body,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

async fn world() -> World {
    let app = TestApp::new().await;
    let doctor = Who(signed_in(&app.state, "doc@test.local", Role::Physician).await);
    let patient_a = Who(signed_in(&app.state, "a@test.local", Role::Patient).await);
    let patient_b = Who(signed_in(&app.state, "b@test.local", Role::Patient).await);
    let researcher = Who(signed_in(&app.state, "r@test.local", Role::Researcher).await);
    let doctor_id = me(&app, &doctor).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a = me(&app, &patient_a).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let b = me(&app, &patient_b).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let obs_a = admin_create(&app, &observation(&a, "obs-a")).await;
    let obs_b = admin_create(&app, &observation(&b, "obs-b")).await;
    World {
        app,
        doctor,
        doctor_id,
        patient_a,
        a,
        b,
        researcher,
        obs_a,
        obs_b,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    None,
    Active,
    Expired,
    Revoked,
    OtherTypes,
    BreakGlass,
}

const STATES: [Consent; 6] = [
    Consent::None,
    Consent::Active,
    Consent::Expired,
    Consent::Revoked,
    Consent::OtherTypes,
    Consent::BreakGlass,
];

/// Puts the doctor's access to patient A in `state`.
async fn arrange(w: &World, state: Consent) {
    let grant = |scope: Value, end: Option<String>| json!({"grantee": w.doctor_id, "scope": scope, "purpose": "TREAT", "end": end});
    let post = |body: Value| async move {
        let response = call(
            &w.app,
            &w.patient_a,
            Method::POST,
            "/api/consents",
            Some(&body),
        )
        .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().expect("id").to_owned()
    };
    match state {
        Consent::None => {}
        Consent::Active => {
            post(grant(json!(["*"]), None)).await;
        }
        Consent::OtherTypes => {
            post(grant(json!(["Condition"]), None)).await;
        }
        Consent::Expired => {
            let end = format_instant(w.app.clock.now() + time::Duration::seconds(60));
            post(grant(json!([]), Some(end))).await;
            w.app.clock.advance(Duration::from_secs(120));
        }
        Consent::Revoked => {
            let id = post(grant(json!([]), None)).await;
            let uri = format!("/api/consents/{id}");
            let revoked = call(&w.app, &w.patient_a, Method::DELETE, &uri, None).await;
            assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
            assert_eq!(revoked.json()["status"], "revoked");
        }
        Consent::BreakGlass => {
            let body =
                json!({"patient": w.a, "reason": "patient unconscious in the emergency room"});
            let response = call(
                &w.app,
                &w.doctor,
                Method::POST,
                "/api/consents/break-glass",
                Some(&body),
            )
            .await;
            assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
            assert_eq!(response.json()["break_glass"], true);
        }
    }
}

/// Asserts that none of `foreign` ids appears in the response.
fn assert_no_foreign(response: &TestResponse, foreign: &[&str], cell: &str) {
    let text = response.text();
    for id in foreign {
        assert!(
            !text.contains(&format!("\"{id}\"")) && !text.contains(&format!("/{id}\"")),
            "{cell}: foreign id {id} in {text}"
        );
    }
}

/// Search cells: strict once search is served; `501` is accepted until the planner lands.
fn search_served(response: &TestResponse) -> bool {
    response.status != StatusCode::NOT_IMPLEMENTED
}

async fn matrix_cells(w: &World, who: &Who, role: &str, state: Consent) {
    let cell = |what: &str| format!("{role} × {state:?} × {what}");
    // What this caller may see of patient A's Observations.
    let sees_a = match role {
        "admin" | "patient" => true,
        "physician" => matches!(state, Consent::Active | Consent::BreakGlass),
        _ => false,
    };
    let sees_b = role == "admin";
    let foreign: Vec<&str> = match (sees_a, sees_b) {
        (_, true) => vec![],
        (true, false) => vec![w.obs_b.as_str(), w.b.as_str()],
        (false, false) => vec![w.obs_a.as_str(), w.obs_b.as_str(), w.b.as_str()],
    };
    for (id, sees) in [(&w.obs_a, sees_a), (&w.obs_b, sees_b)] {
        let expected = if sees {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        let read = call(
            &w.app,
            who,
            Method::GET,
            &format!("/fhir/R4/Observation/{id}"),
            None,
        )
        .await;
        assert_eq!(read.status, expected, "{}: {}", cell("read"), read.text());
        assert_no_foreign(&read, &foreign, &cell("read"));
        let vread = call(
            &w.app,
            who,
            Method::GET,
            &format!("/fhir/R4/Observation/{id}/_history/1"),
            None,
        )
        .await;
        assert_eq!(
            vread.status,
            expected,
            "{}: {}",
            cell("vread"),
            vread.text()
        );
        assert_no_foreign(&vread, &foreign, &cell("vread"));
        let history = call(
            &w.app,
            who,
            Method::GET,
            &format!("/fhir/R4/Observation/{id}/_history"),
            None,
        )
        .await;
        let expected_history = match (sees, role) {
            (true, _) => StatusCode::OK,
            (false, "researcher") => StatusCode::FORBIDDEN,
            (false, _) => StatusCode::NOT_FOUND,
        };
        assert_eq!(
            history.status,
            expected_history,
            "{}: {}",
            cell("history"),
            history.text()
        );
        assert_no_foreign(&history, &foreign, &cell("history"));
    }
    // Type history: total counts only what the caller may see.
    let type_history = call(
        &w.app,
        who,
        Method::GET,
        "/fhir/R4/Observation/_history",
        None,
    )
    .await;
    if role == "researcher" {
        assert_eq!(
            type_history.status,
            StatusCode::FORBIDDEN,
            "{}",
            cell("type history")
        );
    } else {
        assert_eq!(
            type_history.status,
            StatusCode::OK,
            "{}",
            cell("type history")
        );
        let expected = u64::from(sees_a) + u64::from(sees_b);
        assert_eq!(
            type_history.json()["total"],
            expected,
            "{}",
            cell("type history")
        );
        assert_no_foreign(&type_history, &foreign, &cell("type history"));
    }
    // Search: restricted in the query, so totals reveal nothing.
    let search = call(
        &w.app,
        who,
        Method::GET,
        "/fhir/R4/Observation?_total=accurate",
        None,
    )
    .await;
    if search_served(&search) {
        if role == "researcher" {
            assert_eq!(search.status, StatusCode::FORBIDDEN, "{}", cell("search"));
        } else {
            assert_eq!(
                search.status,
                StatusCode::OK,
                "{}: {}",
                cell("search"),
                search.text()
            );
            let expected = u64::from(sees_a) + u64::from(sees_b);
            assert_eq!(search.json()["total"], expected, "{}", cell("search"));
            assert_no_foreign(&search, &foreign, &cell("search"));
        }
    }
    // Writes: into A's compartment only with the right to write there; B's is invisible.
    let mut update = observation(&w.a, "obs-a");
    update["id"] = json!(w.obs_a);
    let put = call(
        &w.app,
        who,
        Method::PUT,
        &format!("/fhir/R4/Observation/{}", w.obs_a),
        Some(&update),
    )
    .await;
    let expected = if sees_a {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    assert_eq!(put.status, expected, "{}: {}", cell("update"), put.text());
    assert_no_foreign(&put, &foreign, &cell("update"));
    let create = call(
        &w.app,
        who,
        Method::POST,
        "/fhir/R4/Observation",
        Some(&observation(&w.a, "new-a")),
    )
    .await;
    let expected = if sees_a {
        StatusCode::CREATED
    } else {
        StatusCode::FORBIDDEN
    };
    assert_eq!(
        create.status,
        expected,
        "{}: {}",
        cell("create"),
        create.text()
    );
    let delete_b = call(
        &w.app,
        who,
        Method::DELETE,
        &format!("/fhir/R4/Observation/{}", w.obs_b),
        None,
    )
    .await;
    let expected = if sees_b {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    };
    if sees_b {
        assert!(
            delete_b.status.is_success(),
            "{}: {}",
            cell("delete"),
            delete_b.text()
        );
    } else {
        assert_eq!(
            delete_b.status,
            expected,
            "{}: {}",
            cell("delete"),
            delete_b.text()
        );
    }
    assert_no_foreign(&delete_b, &foreign, &cell("delete"));
}

#[tokio::test]
async fn authorization_matrix_physician_by_consent_state() {
    for state in STATES {
        let w = world().await;
        arrange(&w, state).await;
        matrix_cells(&w, &w.doctor.clone(), "physician", state).await;
    }
}

#[tokio::test]
async fn authorization_matrix_other_roles() {
    for (role, state) in [
        ("patient", Consent::None),
        ("researcher", Consent::None),
        ("admin", Consent::None),
        ("patient", Consent::Active),
        ("researcher", Consent::Active),
    ] {
        let w = world().await;
        arrange(&w, state).await;
        let who = match role {
            "patient" => w.patient_a.clone(),
            "researcher" => w.researcher.clone(),
            _ => Who(w.app.token.clone()),
        };
        matrix_cells(&w, &who, role, state).await;
    }
}

#[tokio::test]
async fn directory_resources_are_readable_by_every_signed_in_user() {
    let w = world().await;
    let practitioner = admin_create(
        &w.app,
        &json!({"resourceType": "Practitioner", "active": true}),
    )
    .await;
    for who in [&w.doctor, &w.patient_a, &w.researcher] {
        let read = call(
            &w.app,
            who,
            Method::GET,
            &format!("/fhir/R4/Practitioner/{practitioner}"),
            None,
        )
        .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    }
    let write = call(
        &w.app,
        &w.patient_a,
        Method::POST,
        "/fhir/R4/Practitioner",
        Some(&json!({"resourceType": "Practitioner"})),
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn leak_hunt_errors_look_like_missing_resources() {
    let w = world().await;
    let hidden = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}", w.obs_b),
        None,
    )
    .await;
    let missing = call(
        &w.app,
        &w.doctor,
        Method::GET,
        "/fhir/R4/Observation/no-such-id",
        None,
    )
    .await;
    assert_eq!(hidden.status, missing.status);
    assert_eq!(
        hidden.text().replace(&w.obs_b, "X"),
        missing.text().replace("no-such-id", "X"),
        "a hidden resource answers exactly like a missing one"
    );
    // Unknown versions and deleted resources too.
    let hidden = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}/_history/9", w.obs_b),
        None,
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert!(!hidden.text().contains("version"), "{}", hidden.text());
    assert!(
        w.app
            .delete(&format!("/fhir/R4/Observation/{}", w.obs_b))
            .await
            .status
            .is_success()
    );
    let gone = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}", w.obs_b),
        None,
    )
    .await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "deleted and hidden is not 410"
    );
    // System history and the change feed.
    let system = call(&w.app, &w.doctor, Method::GET, "/fhir/R4/_history", None).await;
    assert_eq!(system.status, StatusCode::OK);
    assert_no_foreign(&system, &[&w.obs_a, &w.obs_b, &w.a, &w.b], "system history");
}

#[tokio::test]
async fn leak_hunt_conditional_create_does_not_probe_other_patients() {
    let w = world().await;
    arrange(&w, Consent::Active).await;
    // `identifier=obs-b` matches B's Observation, which the doctor may not see: the
    // conditional create must behave as if nothing matched.
    let bearer = format!("Bearer {}", w.doctor.0);
    let body = observation(&w.a, "obs-b").to_string();
    let response = w
        .app
        .request(
            Method::POST,
            "/fhir/R4/Observation",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/fhir+json"),
                ("if-none-exist", "identifier=urn:test|obs-b"),
            ],
            body,
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_no_foreign(&response, &[&w.obs_b, &w.b], "conditional create");
}

#[tokio::test]
async fn leak_hunt_search_paths() {
    let w = world().await;
    arrange(&w, Consent::Active).await;
    let foreign = [w.obs_b.as_str(), w.b.as_str()];
    for uri in [
        "/fhir/R4/Observation?_total=accurate".to_owned(),
        "/fhir/R4/Observation?_include=Observation:subject".to_owned(),
        "/fhir/R4/Patient?_revinclude=Observation:subject".to_owned(),
        "/fhir/R4/Observation?subject.active=true".to_owned(),
        "/fhir/R4/Patient?_has:Observation:subject:code=8867-4".to_owned(),
        format!("/fhir/R4/Observation?subject=Patient/{}", w.b),
        "/fhir/R4/Observation?identifier=obs-b&_total=accurate".to_owned(),
    ] {
        let response = call(&w.app, &w.doctor, Method::GET, &uri, None).await;
        if !search_served(&response) {
            continue;
        }
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{uri}: {}",
            response.text()
        );
        assert_no_foreign(&response, &foreign, &uri);
        if uri.contains("identifier=obs-b") || uri.contains(&w.b) {
            assert_eq!(response.json()["total"], 0, "{uri}");
        }
    }
}

#[tokio::test]
async fn consent_lifecycle_over_http() {
    let w = world().await;
    let request = json!({"patient": w.a, "scope": ["Observation"], "purpose": "TREAT"});
    let proposed = call(
        &w.app,
        &w.doctor,
        Method::POST,
        "/api/consents",
        Some(&request),
    )
    .await;
    assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.text());
    assert_eq!(proposed.json()["status"], "proposed");
    let id = proposed.json()["id"].as_str().expect("id").to_owned();
    let before = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}", w.obs_a),
        None,
    )
    .await;
    assert_eq!(
        before.status,
        StatusCode::NOT_FOUND,
        "a request grants nothing"
    );
    let accepted = call(
        &w.app,
        &w.patient_a,
        Method::POST,
        &format!("/api/consents/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text());
    assert_eq!(accepted.json()["status"], "active");
    let after = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}", w.obs_a),
        None,
    )
    .await;
    assert_eq!(after.status, StatusCode::OK);
    // The grant is a FHIR Consent, readable by the patient.
    let consent = call(
        &w.app,
        &w.patient_a,
        Method::GET,
        &format!("/fhir/R4/Consent/{id}"),
        None,
    )
    .await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.text());
    assert_eq!(
        consent.json()["scope"]["coding"][0]["code"],
        "patient-privacy"
    );
    // Consents change only through this API.
    let forged = call(
        &w.app,
        &w.doctor,
        Method::PUT,
        &format!("/fhir/R4/Consent/{id}"),
        Some(&consent.json()),
    )
    .await;
    assert!(
        matches!(forged.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        forged.text()
    );
    let listed = call(&w.app, &w.doctor, Method::GET, "/api/consents", None).await;
    assert_eq!(listed.json()["consents"].as_array().map(Vec::len), Some(1));
    // Self-consent and unknown scopes are rejected.
    let me_id = me(&w.app, &w.patient_a).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let to_self = json!({"grantee": me_id});
    let response = call(
        &w.app,
        &w.patient_a,
        Method::POST,
        "/api/consents",
        Some(&to_self),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let unknown = json!({"grantee": w.doctor_id, "scope": ["Nope"]});
    let response = call(
        &w.app,
        &w.patient_a,
        Method::POST,
        "/api/consents",
        Some(&unknown),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    // Revoke is immediate, twice is harmless.
    for _ in 0..2 {
        let revoked = call(
            &w.app,
            &w.patient_a,
            Method::DELETE,
            &format!("/api/consents/{id}"),
            None,
        )
        .await;
        assert_eq!(revoked.status, StatusCode::OK);
    }
    let revoked = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{}", w.obs_a),
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn break_glass_is_limited_and_shows_in_the_access_log() {
    let w = world().await;
    let short = json!({"patient": w.a, "reason": "urgent"});
    let response = call(
        &w.app,
        &w.doctor,
        Method::POST,
        "/api/consents/break-glass",
        Some(&short),
    )
    .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let body = json!({"patient": w.a, "reason": "patient unconscious in the emergency room"});
    for _ in 0..3 {
        let response = call(
            &w.app,
            &w.doctor,
            Method::POST,
            "/api/consents/break-glass",
            Some(&body),
        )
        .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    }
    let fourth = call(
        &w.app,
        &w.doctor,
        Method::POST,
        "/api/consents/break-glass",
        Some(&body),
    )
    .await;
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS);
    let read = call(
        &w.app,
        &w.doctor,
        Method::GET,
        &format!("/fhir/R4/Patient/{}", w.a),
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    let log = call(
        &w.app,
        &w.patient_a,
        Method::GET,
        "/api/consents/access-log",
        None,
    )
    .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    let entries = log.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "break-glass" && e["break_glass"] == true)
    );
    assert!(
        entries.iter().any(|e| e["action"] == "read"
            && e["break_glass"] == true
            && e["actor"] == w.doctor_id.as_str()),
        "{entries:?}"
    );
    let doctor_log = call(
        &w.app,
        &w.doctor,
        Method::GET,
        "/api/consents/access-log",
        None,
    )
    .await;
    assert_eq!(doctor_log.status, StatusCode::FORBIDDEN);
}

async fn grant(w: &World, body: &Value) -> String {
    let response = call(
        &w.app,
        &w.patient_a,
        Method::POST,
        "/api/consents",
        Some(body),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

/// The doctor reads patient A (the reads the access log lists carry the patient's id).
async fn read_patient_a(w: &World) {
    let uri = format!("/fhir/R4/Patient/{}", w.a);
    let response = call(&w.app, &w.doctor, Method::GET, &uri, None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

/// The access log credits a read to a grant in force at its instant: a read after a revocation
/// is not credited to the revoked consent, and break-glass wins when both apply.
#[tokio::test]
async fn the_access_log_credits_reads_to_the_grant_in_force_then() {
    let w = world().await;
    let step = || w.app.clock.advance(Duration::from_secs(60));
    let grant_body = json!({"grantee": w.doctor_id, "purpose": "TREAT"});
    let consent = grant(&w, &grant_body).await;
    step();
    read_patient_a(&w).await;
    step();
    let revoked = call(
        &w.app,
        &w.patient_a,
        Method::DELETE,
        &format!("/api/consents/{consent}"),
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    // The revoked consent's period ends at the revocation (the test clock ticks per reading).
    let end = revoked.json()["end"].as_str().map(str::to_owned);
    let end = end.and_then(|end| OffsetDateTime::parse(&end, &Rfc3339).ok());
    let now = w.app.clock.now();
    assert!(
        end.is_some_and(|end| end <= now && now - end < time::Duration::SECOND),
        "{}",
        revoked.text()
    );
    assert_eq!(revoked.json()["status"], "revoked");
    step();
    let body = json!({"patient": w.a, "reason": "patient unconscious in the emergency room"});
    let response = call(
        &w.app,
        &w.doctor,
        Method::POST,
        "/api/consents/break-glass",
        Some(&body),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let emergency = response.json()["id"].as_str().expect("id").to_owned();
    step();
    read_patient_a(&w).await;
    // A new ordinary consent while the break-glass grant is in force: break-glass still wins.
    step();
    let second = grant(&w, &grant_body).await;
    step();
    read_patient_a(&w).await;

    let log = call(
        &w.app,
        &w.patient_a,
        Method::GET,
        "/api/consents/access-log",
        None,
    )
    .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    let mut reads: Vec<Value> = log.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] == "read" && e["actor"] == w.doctor_id.as_str())
        .collect();
    reads.sort_by_key(|e| e["seq"].as_u64());
    assert_eq!(reads.len(), 3, "{reads:?} {}", log.text());
    assert_eq!(reads[0]["grant"], consent.as_str(), "{reads:?}");
    assert_eq!(reads[0]["break_glass"], false, "{reads:?}");
    assert_eq!(reads[1]["grant"], emergency.as_str(), "{reads:?}");
    assert_eq!(reads[1]["break_glass"], true, "{reads:?}");
    assert_eq!(reads[2]["grant"], emergency.as_str(), "{reads:?}");
    assert_eq!(reads[2]["break_glass"], true, "{reads:?}");
    assert_ne!(second, emergency);
}
