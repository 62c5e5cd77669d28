//! Issue #14: the notifications API (`/api/notifications*`): the caller's own inbox only,
//! another's notice is not found, the unread count, read and read-all, preferences round trip
//! and their `400`s; the account and consent events wired in the server reach their user
//! and nobody else — on SQLite and PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::notifications::{Event, NotificationKind, Notify, Recipient};
use medilink_platform::{AccountStatus, Role, UserId};
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{PASSWORD, PostgresDatabase, TestApp, api_call};

/// An active user of `role`: its id and a full session's token.
async fn user(app: &TestApp, email: &str, role: Role) -> (UserId, String) {
    let name = (role == Role::Physician).then_some("Test Physician");
    let user = app
        .state
        .auth
        .create_account(email, PASSWORD, name, role, Some(AccountStatus::Active))
        .await
        .expect("account");
    let token = app
        .state
        .auth
        .issue_session(&user, true)
        .await
        .expect("session")
        .access_token;
    (user.id, token)
}

async fn tell(app: &TestApp, user: &UserId, event: Event) {
    let told = app
        .state
        .notifications
        .notify(&[Recipient::User(user.clone())], &event)
        .await
        .expect("notify");
    assert_eq!(told, 1);
}

async fn inbox(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = api_call(
        app,
        Method::GET,
        &format!("/api/notifications{query}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|notice| notice["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn the_inbox_is_the_callers_own(app: TestApp) {
    let (patient, patient_token) = user(&app, "patient@test.local", Role::Patient).await;
    let (doctor, doctor_token) = user(&app, "doctor@test.local", Role::Physician).await;
    tell(
        &app,
        &patient,
        Event::new(NotificationKind::ConsentRequested),
    )
    .await;
    app.clock.advance(std::time::Duration::from_secs(1));
    tell(
        &app,
        &patient,
        Event::new(NotificationKind::BreakGlass).with("at", "2024-01-01T00:00:01Z"),
    )
    .await;
    app.clock.advance(std::time::Duration::from_secs(1));
    tell(&app, &patient, Event::new(NotificationKind::ResultsFiled)).await;
    tell(&app, &doctor, Event::new(NotificationKind::ConsentGranted)).await;

    // The patient's three, newest first, rendered.
    let page = inbox(&app, &patient_token, "").await;
    assert_eq!(page["unread"], 3, "{page}");
    assert_eq!(page["next"], Value::Null);
    let notices = page["notifications"].as_array().expect("notifications");
    let kinds: Vec<&str> = notices
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["results.filed", "security.break_glass", "consent.requested"]
    );
    let requested = &notices[2];
    assert_eq!(
        requested["title"],
        "A physician asks for access to your records"
    );
    assert!(
        requested["body"]
            .as_str()
            .is_some_and(|body| body.starts_with("A physician has asked for access")),
        "{requested}"
    );
    assert_eq!(requested["link"], "/patient/consents");
    let created = requested["created_at"].as_str().unwrap_or("");
    assert!(created.starts_with("2024-01-01T00:00:00."), "{created}");
    assert_eq!(requested["read_at"], Value::Null);
    assert_eq!(requested["mandatory"], false);
    assert_eq!(notices[1]["mandatory"], true);
    assert!(
        notices[1]["body"]
            .as_str()
            .is_some_and(|body| body.contains("2024-01-01T00:00:01Z")),
        "{}",
        notices[1]
    );

    // Paging: two, then the rest.
    let first = inbox(&app, &patient_token, "?limit=2").await;
    assert_eq!(ids(&first).len(), 2);
    let next = first["next"].as_str().expect("a cursor").to_owned();
    let second = inbox(&app, &patient_token, &format!("?limit=2&before={next}")).await;
    assert_eq!(ids(&second), ids(&page)[2..].to_vec());
    assert_eq!(second["next"], Value::Null);
    for bad in ["?limit=0", "?limit=101", "?limit=x", "?before=x"] {
        let (status, body) = api_call(
            &app,
            Method::GET,
            &format!("/api/notifications{bad}"),
            &patient_token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // The physician sees only theirs.
    let theirs = inbox(&app, &doctor_token, "").await;
    assert_eq!(theirs["unread"], 1);
    let doctors_notice = ids(&theirs).remove(0);
    assert!(!ids(&page).contains(&doctors_notice));

    // Another's notice, or none: 404, and nothing changes.
    for id in [doctors_notice.as_str(), "no-such-notice"] {
        let (status, body) = api_call(
            &app,
            Method::POST,
            &format!("/api/notifications/{id}/read"),
            &patient_token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    assert_eq!(inbox(&app, &doctor_token, "").await["unread"], 1);

    // Read one, then all.
    app.clock.advance(std::time::Duration::from_secs(60));
    let oldest = ids(&page)[2].clone();
    let (status, _) = api_call(
        &app,
        Method::POST,
        &format!("/api/notifications/{oldest}/read"),
        &patient_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = inbox(&app, &patient_token, "").await;
    assert_eq!(after["unread"], 2);
    let read_at = after["notifications"][2]["read_at"].as_str().unwrap_or("");
    assert!(read_at.starts_with("2024-01-01T00:01:02."), "{read_at}");
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/notifications/read-all",
        &patient_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(inbox(&app, &patient_token, "").await["unread"], 0);
    assert_eq!(inbox(&app, &doctor_token, "").await["unread"], 1);

    // Without a token: 401.
    let (status, _) = api_call(&app, Method::GET, "/api/notifications", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn preferences_round_trip(app: TestApp) {
    let (_, token) = user(&app, "prefs@test.local", Role::Patient).await;
    let path = "/api/notifications/preferences";
    let (status, defaults) = api_call(&app, Method::GET, path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{defaults}");
    assert_eq!(defaults["language"], "en");
    assert_eq!(defaults["quiet_hours"], Value::Null);
    let kinds = defaults["kinds"].as_object().expect("kinds");
    assert_eq!(kinds.len(), NotificationKind::ALL.len());
    assert_eq!(
        kinds["consent.requested"],
        json!({"in_app": true, "email": true, "mandatory": false})
    );
    assert_eq!(
        kinds["security.new_sign_in"],
        json!({"in_app": true, "email": true, "mandatory": true})
    );

    let wanted = json!({
        "language": "hi",
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "+05:30"},
        "kinds": {
            "results.filed": {"in_app": true, "email": false},
            "security.password_changed": {"in_app": true, "email": true, "mandatory": false},
        },
    });
    let (status, stored) = api_call(&app, Method::PUT, path, &token, Some(&wanted)).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["language"], "hi");
    assert_eq!(
        stored["quiet_hours"],
        json!({"start": "22:00", "end": "07:00", "timezone": "+05:30"})
    );
    assert_eq!(
        stored["kinds"]["results.filed"],
        json!({"in_app": true, "email": false, "mandatory": false})
    );
    assert_eq!(
        stored["kinds"]["security.password_changed"]["mandatory"],
        true
    );
    let (_, read) = api_call(&app, Method::GET, path, &token, None).await;
    assert_eq!(read, stored);

    // Refused, each naming the problem; nothing stored.
    let refused = [
        (
            json!({"language": "fr", "quiet_hours": null, "kinds": {}}),
            "fr",
        ),
        (
            json!({"language": "en", "quiet_hours": null,
                   "kinds": {"security.break_glass": {"in_app": true, "email": false}}}),
            "security.break_glass",
        ),
        (
            json!({"language": "en", "quiet_hours": null,
                   "kinds": {"no.such_kind": {"in_app": true, "email": true}}}),
            "no.such_kind",
        ),
        (
            json!({"language": "en", "quiet_hours": null,
                   "kinds": {"results.filed": {"in_app": false, "email": true}}}),
            "results.filed",
        ),
        (
            json!({"language": "en",
                   "quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "UTC"}}),
            "25:00",
        ),
        (
            json!({"language": "en",
                   "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}}),
            "quiet hours",
        ),
    ];
    for (body, named) in refused {
        let (status, outcome) = api_call(&app, Method::PUT, path, &token, Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {outcome}");
        let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap_or("");
        assert!(diagnostics.contains(named), "{named}: {outcome}");
    }
    let (_, still) = api_call(&app, Method::GET, path, &token, None).await;
    assert_eq!(still, stored);
}

async fn titles_follow_the_language(app: TestApp) {
    let (me, token) = user(&app, "lang@test.local", Role::Patient).await;
    tell(&app, &me, Event::new(NotificationKind::ConsentRequested)).await;
    let english = inbox(&app, &token, "").await["notifications"][0]["title"].clone();
    let spanish = json!({"language": "es", "quiet_hours": null, "kinds": {}});
    let (status, _) = api_call(
        &app,
        Method::PUT,
        "/api/notifications/preferences",
        &token,
        Some(&spanish),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let title = inbox(&app, &token, "").await["notifications"][0]["title"].clone();
    assert_ne!(title, english);
    assert!(title.as_str().is_some_and(|title| !title.is_empty()));
}

#[tokio::test]
async fn the_inbox_shows_the_callers_own_notices() {
    the_inbox_is_the_callers_own(TestApp::new().await).await;
}

#[tokio::test]
async fn the_inbox_shows_the_callers_own_notices_on_postgres() {
    PostgresDatabase::run("the inbox test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        the_inbox_is_the_callers_own(app).await;
    })
    .await;
}

#[tokio::test]
async fn preferences_round_trip_and_refuse_what_cannot_be() {
    preferences_round_trip(TestApp::new().await).await;
}

#[tokio::test]
async fn preferences_round_trip_and_refuse_what_cannot_be_on_postgres() {
    PostgresDatabase::run("the preferences test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        preferences_round_trip(app).await;
    })
    .await;
}

#[tokio::test]
async fn titles_are_in_the_users_language() {
    titles_follow_the_language(TestApp::new().await).await;
}

#[tokio::test]
async fn titles_are_in_the_users_language_on_postgres() {
    PostgresDatabase::run("the language test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        titles_follow_the_language(app).await;
    })
    .await;
}

/// The kinds in the inbox of `token`, newest first.
async fn kinds(app: &TestApp, token: &str) -> Vec<String> {
    inbox(app, token, "").await["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|notice| notice["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn login(app: &TestApp, email: &str, password: &str, agent: &str) -> String {
    let body = json!({"email": email, "password": password}).to_string();
    let response = app
        .request(
            Method::POST,
            "/api/auth/login",
            &[
                ("content-type", "application/json"),
                ("authorization", ""),
                ("user-agent", agent),
            ],
            body,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn account_events_reach_their_user_only(app: TestApp) {
    let (_, other) = user(&app, "bystander@test.local", Role::Patient).await;
    let (_, _) = user(&app, "me@test.local", Role::Patient).await;
    // The first sign-in is remembered, a second from the same client is known: no notice.
    let token = login(&app, "me@test.local", PASSWORD, "Browser/1").await;
    let _ = login(&app, "me@test.local", PASSWORD, "Browser/1").await;
    assert!(kinds(&app, &token).await.is_empty());
    // A new device: told.
    let token = login(&app, "me@test.local", PASSWORD, "Phone/2").await;
    assert_eq!(kinds(&app, &token).await, ["security.new_sign_in"]);
    let notice = &inbox(&app, &token, "").await["notifications"][0];
    assert!(
        notice["body"]
            .as_str()
            .is_some_and(|body| body.contains("Phone/2")),
        "{notice}"
    );
    assert_eq!(notice["mandatory"], true);

    // A password change.
    let change = json!({"current_password": PASSWORD, "new_password": "amber-lighthouse-93"});
    let (status, body) = api_call(
        &app,
        Method::POST,
        "/api/auth/password",
        &token,
        Some(&change),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let token = login(&app, "me@test.local", "amber-lighthouse-93", "Phone/2").await;
    assert_eq!(
        kinds(&app, &token).await,
        ["security.password_changed", "security.new_sign_in"]
    );

    // An admin approves a pending physician: that physician is told, nobody else.
    let pending = app
        .state
        .auth
        .create_account(
            "newdoc@test.local",
            PASSWORD,
            Some("New Doctor"),
            Role::Physician,
            Some(AccountStatus::Pending),
        )
        .await
        .expect("pending physician");
    let approve = format!("/api/admin/users/{}/approve", pending.id);
    let (status, body) = api_call(&app, Method::POST, &approve, &app.token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doctor = app
        .state
        .auth
        .issue_session(&pending, true)
        .await
        .expect("session")
        .access_token;
    assert_eq!(kinds(&app, &doctor).await, ["account.approved"]);
    assert!(kinds(&app, &other).await.is_empty());
    assert!(kinds(&app, &app.token).await.is_empty());
}

#[tokio::test]
async fn account_events_are_told_to_their_user_only() {
    account_events_reach_their_user_only(TestApp::new().await).await;
}

#[tokio::test]
async fn account_events_are_told_to_their_user_only_on_postgres() {
    PostgresDatabase::run("the account events test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        account_events_reach_their_user_only(app).await;
    })
    .await;
}

async fn consent_events_reach_the_other_party_only(app: TestApp) {
    let (_, patient) = user(&app, "pat@test.local", Role::Patient).await;
    let (_, bystander) = user(&app, "other-pat@test.local", Role::Patient).await;
    let (doctor_id, doctor) = user(&app, "doc@test.local", Role::Physician).await;
    let (_, other_doctor) = user(&app, "other-doc@test.local", Role::Physician).await;
    let grant = json!({"grantee": doctor_id.as_str(), "scope": ["*"], "purpose": "TREAT"});
    let (status, body) =
        api_call(&app, Method::POST, "/api/consents", &patient, Some(&grant)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(kinds(&app, &doctor).await, ["consent.granted"]);
    let id = body["id"].as_str().expect("id").to_owned();
    let (status, body) = api_call(
        &app,
        Method::DELETE,
        &format!("/api/consents/{id}"),
        &patient,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        kinds(&app, &doctor).await,
        ["consent.revoked", "consent.granted"]
    );
    assert!(kinds(&app, &patient).await.is_empty());
    assert!(kinds(&app, &bystander).await.is_empty());
    assert!(kinds(&app, &other_doctor).await.is_empty());
}

#[tokio::test]
async fn consent_events_are_told_to_the_other_party_only() {
    consent_events_reach_the_other_party_only(TestApp::new().await).await;
}

#[tokio::test]
async fn consent_events_are_told_to_the_other_party_only_on_postgres() {
    PostgresDatabase::run("the consent events test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        consent_events_reach_the_other_party_only(app).await;
    })
    .await;
}

async fn fhir_post(app: &TestApp, token: &str, uri: &str, body: &Value) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let response = app
        .send_json(
            Method::POST,
            uri,
            body,
            &[("authorization", bearer.as_str())],
        )
        .await;
    (response.status, response.json())
}

fn result(patient: &str, status: &str) -> Value {
    json!({
        "resourceType": "Observation", "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}], "text": "Glucose"},
        "subject": {"reference": format!("Patient/{patient}")},
        "valueQuantity": {"value": 95, "unit": "mg/dL"}
    })
}

/// A physician's write of final results tells the patient once per request; preliminary
/// results, the patient's own writes and a physician without consent tell nobody.
async fn results_a_physician_files_reach_the_patient(app: TestApp) {
    let (_, patient) = user(&app, "pat@test.local", Role::Patient).await;
    let (_, bystander) = user(&app, "other-pat@test.local", Role::Patient).await;
    let (doctor_id, doctor) = user(&app, "doc@test.local", Role::Physician).await;
    let (_, other_doctor) = user(&app, "other-doc@test.local", Role::Physician).await;
    let (_, me) = api_call(&app, Method::GET, "/api/auth/me", &patient, None).await;
    let pid = me["patient_id"].as_str().expect("patient id").to_owned();
    let grant = json!({"grantee": doctor_id.as_str(), "scope": ["*"], "purpose": "TREAT"});
    let (status, body) =
        api_call(&app, Method::POST, "/api/consents", &patient, Some(&grant)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let results = |patient: &str| {
        let app = app.clone();
        let token = patient.to_owned();
        async move {
            kinds(&app, &token)
                .await
                .into_iter()
                .filter(|kind| kind == "results.filed")
                .count()
        }
    };
    // A preliminary result and a physician without consent: nothing.
    let (status, _) = fhir_post(
        &app,
        &doctor,
        "/fhir/R4/Observation",
        &result(&pid, "preliminary"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = fhir_post(
        &app,
        &other_doctor,
        "/fhir/R4/Observation",
        &result(&pid, "final"),
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(results(&patient).await, 0);
    // A final result by the consented physician: one notice.
    let (status, _) = fhir_post(
        &app,
        &doctor,
        "/fhir/R4/Observation",
        &result(&pid, "final"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(results(&patient).await, 1);
    // A transaction of two results: one more notice, not two.
    let entry = |n: u32| {
        json!({"fullUrl": format!("urn:uuid:6f3c1a52-0000-4000-8000-00000000000{n}"),
        "resource": result(&pid, "final"), "request": {"method": "POST", "url": "Observation"}})
    };
    let bundle =
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [entry(1), entry(2)]});
    let (status, body) = fhir_post(&app, &doctor, "/fhir/R4", &bundle).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(results(&patient).await, 2);
    // The patient's own write tells nobody; nobody else heard anything.
    let (status, _) = fhir_post(
        &app,
        &patient,
        "/fhir/R4/Observation",
        &result(&pid, "final"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(results(&patient).await, 2);
    assert_eq!(results(&bystander).await, 0);
    assert_eq!(results(&doctor).await, 0);
}

#[tokio::test]
async fn results_a_physician_files_are_told_to_the_patient() {
    results_a_physician_files_reach_the_patient(TestApp::new().await).await;
}

#[tokio::test]
async fn results_a_physician_files_are_told_to_the_patient_on_postgres() {
    PostgresDatabase::run("the results notices test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        results_a_physician_files_reach_the_patient(app).await;
    })
    .await;
}
