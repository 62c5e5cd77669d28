//! Issue #4: the admin endpoints — list/search users, approve a pending physician, suspend
//! (tokens stop working at once), unlock — and their refusal of every non-admin caller.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::Clock;
use medilink_platform::{AccountStatus, Role};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, api_call, signed_in, totp_code, with_demographics};

async fn register(app: &TestApp, email: &str, role: &str) -> Value {
    let (status, body) = api_call(
        app,
        Method::POST,
        "/api/auth/register",
        "",
        Some(&with_demographics(
            &json!({"email": email, "password": PASSWORD, "role": role, "name": "Test Person"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    api_call(
        app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

async fn admin(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    api_call(app, method, path, &app.token, None).await
}

fn emails(list: &Value) -> Vec<String> {
    let mut emails: Vec<String> = list["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users: {list}"))
        .iter()
        .map(|user| user["email"].as_str().expect("email").to_owned())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn admins_list_and_search_users() {
    let app = TestApp::new().await;
    register(&app, "pat@test.local", "patient").await;
    register(&app, "doc@test.local", "physician").await;
    register(&app, "res@test.local", "researcher").await;
    let (status, all) = admin(&app, Method::GET, "/api/admin/users").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(
        emails(&all),
        [
            "admin@test.local",
            "doc@test.local",
            "pat@test.local",
            "res@test.local"
        ]
    );
    // No password hashes, TOTP secrets or backup codes in the answer.
    let text = all.to_string();
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.contains("backup"), "{text}");
    let (status, pending) = admin(
        &app,
        Method::GET,
        "/api/admin/users?role=physician&status=pending",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pending}");
    assert_eq!(emails(&pending), ["doc@test.local"]);
    assert_eq!(pending["users"][0]["status"], "pending");
    let (status, found) = admin(&app, Method::GET, "/api/admin/users?email=PAT@test.local").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(emails(&found), ["pat@test.local"]);
    let (_, none) = admin(
        &app,
        Method::GET,
        "/api/admin/users?email=nobody@test.local",
    )
    .await;
    assert_eq!(emails(&none), Vec::<String>::new());
    let (_, paged) = admin(&app, Method::GET, "/api/admin/users?limit=2").await;
    assert_eq!(emails(&paged).len(), 2);
    let (_, rest) = admin(&app, Method::GET, "/api/admin/users?limit=2&offset=2").await;
    let mut both = emails(&paged);
    both.extend(emails(&rest));
    both.sort();
    assert_eq!(both, emails(&all));
    let (status, _) = admin(&app, Method::GET, "/api/admin/users?role=wizard").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin(&app, Method::GET, "/api/admin/users?status=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_approved_physician_reaches_the_fhir_api_and_a_pending_one_does_not() {
    let app = TestApp::new().await;
    let doc = register(&app, "doc@test.local", "physician").await;
    assert_eq!(doc["status"], "pending", "{doc}");
    let id = doc["id"].as_str().expect("id").to_owned();
    // Pending: no session at all, so no FHIR access.
    let (status, body) = login(&app, "doc@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    // Unknown user and unknown action.
    let (status, _) = admin(&app, Method::POST, "/api/admin/users/nobody/approve").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin(
        &app,
        Method::POST,
        &format!("/api/admin/users/{id}/promote"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, approved) = admin(
        &app,
        Method::POST,
        &format!("/api/admin/users/{id}/approve"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "active", "{approved}");
    let (status, tokens) = login(&app, "doc@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access token");
    // Approved but without TOTP yet: still no patient data.
    let (status, _) = api_call(&app, Method::GET, "/fhir/R4/Patient", access, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Enrolled: the FHIR API answers.
    let (_, setup) = api_call(&app, Method::POST, "/api/auth/totp/setup", access, None).await;
    let uri = setup["otpauth_uri"].as_str().expect("uri");
    let (status, verified) = api_call(
        &app,
        Method::POST,
        "/api/auth/totp/verify",
        access,
        Some(&json!({"code": totp_code(uri, app.clock.now())})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let full = verified["access_token"].as_str().expect("access token");
    let (status, body) = api_call(&app, Method::GET, "/fhir/R4/Patient", full, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resourceType"], "Bundle", "{body}");
}

#[tokio::test]
async fn suspension_ends_sessions_at_once() {
    let app = TestApp::new().await;
    let pat = register(&app, "pat@test.local", "patient").await;
    let id = pat["id"].as_str().expect("id").to_owned();
    let patient_id = pat["patient_id"].as_str().expect("patient id").to_owned();
    let (_, tokens) = login(&app, "pat@test.local", PASSWORD).await;
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let read = format!("/fhir/R4/Patient/{patient_id}");
    let (status, _) = api_call(&app, Method::GET, &read, access, None).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::from_secs(1));
    let (status, suspended) = admin(
        &app,
        Method::POST,
        &format!("/api/admin/users/{id}/suspend"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    let (status, _) = api_call(&app, Method::GET, &read, access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api_call(&app, Method::GET, "/api/auth/me", access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = login(&app, "pat@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Still refused long after the suspension (after the revocation marker could expire).
    app.clock.advance(Duration::from_secs(3600));
    let (status, _) = login(&app, "pat@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unlock_clears_a_login_lockout() {
    let app = TestApp::new().await;
    let pat = register(&app, "pat@test.local", "patient").await;
    let id = pat["id"].as_str().expect("id").to_owned();
    for _ in 0..5 {
        let (status, _) = login(&app, "pat@test.local", "wrong-password-123").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login(&app, "pat@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = admin(&app, Method::POST, &format!("/api/admin/users/{id}/unlock")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login(&app, "pat@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_admin_route_refuses_non_admins_and_incomplete_admin_logins() {
    let app = TestApp::new().await;
    let target = register(&app, "doc@test.local", "physician").await;
    let id = target["id"].as_str().expect("id").to_owned();
    let routes = [
        (Method::GET, "/api/admin/users".to_owned()),
        (Method::GET, "/api/admin/users?role=physician".to_owned()),
        (Method::POST, format!("/api/admin/users/{id}/approve")),
        (Method::POST, format!("/api/admin/users/{id}/suspend")),
        (Method::POST, format!("/api/admin/users/{id}/unlock")),
        (Method::GET, "/api/admin/audit".to_owned()),
        // Issue #15.
        (
            Method::GET,
            "/api/admin/users?q=doc&pending=true".to_owned(),
        ),
        (Method::GET, format!("/api/admin/users/{id}")),
        (Method::POST, format!("/api/admin/users/{id}/reinstate")),
        (Method::PUT, format!("/api/admin/users/{id}/role")),
        (Method::GET, "/api/admin/invitations".to_owned()),
        (Method::POST, "/api/admin/invitations".to_owned()),
        (Method::DELETE, "/api/admin/invitations/i1".to_owned()),
        (Method::GET, "/api/admin/stats".to_owned()),
        (Method::GET, "/api/admin/health".to_owned()),
        (Method::POST, "/api/admin/reindex".to_owned()),
        (Method::GET, "/api/admin/jobs/j1".to_owned()),
        (Method::POST, "/api/admin/audit/verify".to_owned()),
        (Method::GET, "/api/admin/audit/verify".to_owned()),
        (Method::GET, "/api/admin/audit?break_glass=true".to_owned()),
    ];
    let patient = signed_in(&app.state, "p@test.local", Role::Patient).await;
    let physician = signed_in(&app.state, "d@test.local", Role::Physician).await;
    let researcher = signed_in(&app.state, "r@test.local", Role::Researcher).await;
    // An admin who has not passed TOTP (enrolment pending): a session without `mfa`.
    let admin_user = app
        .state
        .auth
        .create_account(
            "admin2@test.local",
            PASSWORD,
            None,
            Role::Admin,
            Some(AccountStatus::Active),
        )
        .await
        .expect("account");
    let no_mfa = app
        .state
        .auth
        .issue_session(&admin_user, false)
        .await
        .expect("session")
        .access_token;
    for token in [&patient, &physician, &researcher, &no_mfa] {
        for (method, path) in &routes {
            let (status, body) = api_call(&app, method.clone(), path, token, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        }
    }
    // An admin with TOTP enabled who logged in without the code holds a partial token.
    let (_, setup) = api_call(&app, Method::POST, "/api/auth/totp/setup", &app.token, None).await;
    let uri = setup["otpauth_uri"].as_str().expect("uri");
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/auth/totp/verify",
        &app.token,
        Some(&json!({"code": totp_code(uri, app.clock.now())})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, partial) = login(&app, "admin@test.local", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(partial["mfa_required"], true, "{partial}");
    let partial = partial["partial_token"].as_str().expect("partial token");
    for (method, path) in &routes {
        let (status, body) = api_call(&app, method.clone(), path, partial, None).await;
        assert!(
            matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "{method} {path} with a partial token: {status} {body}"
        );
    }
    // None of the refused actions happened.
    let (status, list) = admin(&app, Method::GET, "/api/admin/users?email=doc@test.local").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["users"][0]["status"], "pending", "{list}");
    assert_eq!(list["users"][0]["role"], "physician", "{list}");
    let (_, invitations) = admin(&app, Method::GET, "/api/admin/invitations").await;
    assert_eq!(invitations["invitations"], json!([]), "{invitations}");
    let queued = app.state.jobs.summary().await.expect("counts").counts;
    assert!(
        queued
            .iter()
            .all(|(kind, _, _)| kind.starts_with("notification.")),
        "no admin job was queued: {queued:?}"
    );
}

/// Malformed query parameters of the `/api` endpoints are `400` OperationOutcomes naming the
/// problem (not a plain-text rejection); well-formed ones are the positive control.
#[tokio::test]
async fn malformed_api_query_parameters_are_operation_outcomes() {
    let app = TestApp::new().await;
    for path in [
        "/api/admin/audit?action=no-such-action",
        "/api/admin/audit?before=abc",
        "/api/admin/users?limit=-1",
    ] {
        let (status, body) = admin(&app, Method::GET, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}: {body}");
        assert_eq!(body["issue"][0]["code"], "invalid", "{path}: {body}");
    }
    for path in [
        "/api/admin/audit?action=read&before=100",
        "/api/admin/users?limit=5",
    ] {
        let (status, body) = admin(&app, Method::GET, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
}
