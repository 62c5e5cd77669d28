//! Issue #14: the notifications API (`/api/notifications*`): the caller's own inbox only,
//! another's notice is not found, the unread count, read and read-all, preferences round trip
//! and their `400`s — on SQLite and PostgreSQL.

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
