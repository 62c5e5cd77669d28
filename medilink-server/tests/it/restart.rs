//! Issue #11: the security state of the embedded default (SQLite file, no Redis) survives a
//! restart of the server binary: a token revoked by logout or by a password change stays
//! refused, a login lockout stays in force and the break-glass limit keeps counting. Each
//! server is SIGKILLed, as a crash would end it; each case has a positive control.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, describe, user_add};

const NEW_PASSWORD: &str = "amber-pelican-train-93";

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn added(dir: &Path, email: &str, role: &str) {
    let output = user_add(dir, email, PASSWORD, role);
    assert!(output.status.success(), "{}", describe(&output));
}

/// The SIGKILLed `server` replaced by a new process on the same data directory.
async fn restart(mut server: Server, dir: &Path) -> Server {
    server.kill();
    drop(server);
    Server::start(dir).await
}

/// `method path` with `token` and an optional JSON body: the status and the JSON answer.
async fn call(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(server: &Server, token: &str) -> StatusCode {
    call(server, token, reqwest::Method::GET, "/api/auth/me", None)
        .await
        .0
}

#[tokio::test]
async fn a_token_revoked_by_logout_stays_refused_after_a_restart() {
    let dir = temp_dir();
    added(dir.path(), "pat@test.local", "patient");
    let server = Server::start(dir.path()).await;
    let revoked = server.token("pat@test.local", PASSWORD).await;
    let kept = server.token("pat@test.local", PASSWORD).await;
    // Used before its logout: the server has seen its token state absent (issue #19 caches
    // that absence in process on SQLite), and must still refuse it at once after the logout.
    assert_eq!(me(&server, &revoked).await, StatusCode::OK, "before logout");
    assert_eq!(me(&server, &revoked).await, StatusCode::OK, "before logout");
    let (status, body) = call(
        &server,
        &revoked,
        reqwest::Method::POST,
        "/api/auth/logout",
        Some(&json!({})),
    )
    .await;
    assert!(status.is_success(), "logout: {status} {body}");
    assert_eq!(me(&server, &revoked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &kept).await, StatusCode::OK, "other session");

    let server = restart(server, dir.path()).await;
    assert_eq!(
        me(&server, &revoked).await,
        StatusCode::UNAUTHORIZED,
        "still denylisted after the restart"
    );
    assert_eq!(me(&server, &kept).await, StatusCode::OK, "not revoked");
}

#[tokio::test]
async fn a_token_issued_before_a_password_change_stays_refused_after_a_restart() {
    let dir = temp_dir();
    added(dir.path(), "pat@test.local", "patient");
    added(dir.path(), "other@test.local", "patient");
    let server = Server::start(dir.path()).await;
    let old = server.token("pat@test.local", PASSWORD).await;
    let other = server.token("other@test.local", PASSWORD).await;
    assert_eq!(me(&server, &old).await, StatusCode::OK, "before the change");
    let (status, body) = call(
        &server,
        &old,
        reqwest::Method::POST,
        "/api/auth/password",
        Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert!(status.is_success(), "password change: {status} {body}");
    assert_eq!(me(&server, &old).await, StatusCode::UNAUTHORIZED);

    let server = restart(server, dir.path()).await;
    assert_eq!(
        me(&server, &old).await,
        StatusCode::UNAUTHORIZED,
        "issued before the change: still refused after the restart"
    );
    assert_eq!(
        me(&server, &other).await,
        StatusCode::OK,
        "another user's token"
    );
    let fresh = server.token("pat@test.local", NEW_PASSWORD).await;
    assert_eq!(
        me(&server, &fresh).await,
        StatusCode::OK,
        "issued after the change"
    );
}

#[tokio::test]
async fn a_login_lockout_stays_in_force_after_a_restart() {
    let dir = temp_dir();
    added(dir.path(), "pat@test.local", "patient");
    added(dir.path(), "other@test.local", "patient");
    let server = Server::start(dir.path()).await;
    for _ in 0..5 {
        let (status, body) = server.login("pat@test.local", "wrong-password-0").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = server.login("pat@test.local", PASSWORD).await;
    assert_eq!(status, 429, "locked out: {body}");

    let server = restart(server, dir.path()).await;
    let (status, body) = server.login("pat@test.local", PASSWORD).await;
    assert_eq!(status, 429, "still locked out after the restart: {body}");
    let (status, body) = server.login("other@test.local", PASSWORD).await;
    assert_eq!(status, 200, "another account logs in: {body}");
}

/// A physician's full session: TOTP enrolled with `setup`/`verify`; the backup codes.
pub(crate) async fn enrolled_physician(server: &Server, email: &str) -> (String, Vec<String>) {
    let first = server.token(email, PASSWORD).await;
    let (status, setup) = call(
        server,
        &first,
        reqwest::Method::POST,
        "/api/auth/totp/setup",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let uri = setup["otpauth_uri"].as_str().expect("otpauth_uri");
    let code = crate::support::totp_code(uri, time::OffsetDateTime::now_utc());
    let (status, verified) = call(
        server,
        &first,
        reqwest::Method::POST,
        "/api/auth/totp/verify",
        Some(&json!({"code": code})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    let backup: Vec<String> = verified["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    with_backup_code(server, email, backup).await
}

/// Logs in with the first backup code (a full session); the rest of the codes.
async fn with_backup_code(
    server: &Server,
    email: &str,
    mut backup: Vec<String>,
) -> (String, Vec<String>) {
    let code = backup.remove(0);
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"email": email, "password": PASSWORD, "totp_code": code}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let token = body["access_token"].as_str().expect("access token");
    (token.to_owned(), backup)
}

async fn break_glass(server: &Server, token: &str, patient: &str) -> (StatusCode, Value) {
    let body = json!({"patient": patient, "reason": "patient unconscious in the emergency room"});
    call(
        server,
        token,
        reqwest::Method::POST,
        "/api/consents/break-glass",
        Some(&body),
    )
    .await
}

#[tokio::test]
async fn the_break_glass_limit_counts_across_a_restart() {
    let dir = temp_dir();
    added(dir.path(), "pat@test.local", "patient");
    added(dir.path(), "doc@test.local", "physician");
    let server = Server::start(dir.path()).await;
    let patient_token = server.token("pat@test.local", PASSWORD).await;
    let (_, me) = call(
        &server,
        &patient_token,
        reqwest::Method::GET,
        "/api/auth/me",
        None,
    )
    .await;
    let patient = me["patient_id"].as_str().expect("patient id").to_owned();
    let (doctor, backup) = enrolled_physician(&server, "doc@test.local").await;
    let read = format!("/fhir/R4/Patient/{patient}");
    let (status, _) = call(&server, &doctor, reqwest::Method::GET, &read, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no grant yet");
    for n in 1..=2 {
        let (status, body) = break_glass(&server, &doctor, &patient).await;
        assert_eq!(status, StatusCode::CREATED, "break-glass {n}: {body}");
    }

    let server = restart(server, dir.path()).await;
    let (doctor, _) = with_backup_code(&server, "doc@test.local", backup).await;
    let (status, body) = break_glass(&server, &doctor, &patient).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the third of the window: {body}"
    );
    let (status, body) = break_glass(&server, &doctor, &patient).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth in the window, counting those before the restart: {body}"
    );
}
