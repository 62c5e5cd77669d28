//! Issue #4: TOTP over HTTP — enrolment (otpauth URI), partial tokens, login with a code,
//! one-time backup codes, replay refusal, the TOTP lockout (injectable clock) and disabling.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::Clock;
use medilink_platform::Role;
use serde_json::{Value, json};

use crate::support::{
    PASSWORD, TestApp, api_call, signed_in, totp_code, with_demographics, wrong_code,
};

async fn register_patient(app: &TestApp, email: &str) -> String {
    let (status, body) = api_call(
        app,
        Method::POST,
        "/api/auth/register",
        "",
        Some(&with_demographics(
            &json!({"email": email, "password": PASSWORD, "role": "patient"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    login(app, email, None).await.1["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

async fn login(app: &TestApp, email: &str, code: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = code {
        body["totp_code"] = json!(code);
    }
    api_call(app, Method::POST, "/api/auth/login", "", Some(&body)).await
}

/// Runs setup and verify with `token`; the otpauth URI and the verify answer.
async fn enrol(app: &TestApp, token: &str) -> (String, Value) {
    let (status, setup) = api_call(app, Method::POST, "/api/auth/totp/setup", token, None).await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let uri = setup["otpauth_uri"]
        .as_str()
        .expect("otpauth_uri")
        .to_owned();
    assert!(uri.starts_with("otpauth://totp/MediLink:"), "{uri}");
    assert!(uri.contains("secret="), "{uri}");
    assert!(
        setup["qr_svg"]
            .as_str()
            .is_some_and(|qr| qr.starts_with("data:image/svg+xml;base64,")),
        "{setup}"
    );
    // Not enabled before a first valid code.
    let (_, me) = api_call(app, Method::GET, "/api/auth/me", token, None).await;
    assert_eq!(me["totp_enabled"], false, "{me}");
    let code = totp_code(&uri, app.clock.now());
    let (status, verified) = api_call(
        app,
        Method::POST,
        "/api/auth/totp/verify",
        token,
        Some(&json!({"code": code})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    (uri, verified)
}

/// Moves to the next 30-second step, so that a fresh code is due.
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::from_secs(30));
}

#[tokio::test]
async fn enrolment_then_login_needs_the_code_and_partial_tokens_are_refused() {
    let app = TestApp::new().await;
    let email = "mfa-patient@test.local";
    let token = register_patient(&app, email).await;
    // A wrong first code does not enable TOTP.
    let (status, _) = api_call(&app, Method::POST, "/api/auth/totp/setup", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/auth/totp/verify",
        &token,
        Some(&json!({"code": "12345x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (uri, verified) = enrol(&app, &token).await;
    let backup: Vec<String> = verified["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(backup.len(), 10);
    assert!(verified["access_token"].is_string(), "{verified}");
    let (_, me) = api_call(&app, Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!(me["totp_enabled"], true, "{me}");
    let patient_id = me["patient_id"].as_str().expect("patient id").to_owned();

    // Without a code: only a partial token, which every protected route refuses.
    let (status, partial) = login(&app, email, None).await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    assert_eq!(partial["mfa_required"], true, "{partial}");
    assert!(partial.get("access_token").is_none(), "{partial}");
    assert!(partial.get("refresh_token").is_none(), "{partial}");
    let partial = partial["partial_token"].as_str().expect("partial token");
    for (method, path) in [
        (Method::GET, format!("/fhir/R4/Patient/{patient_id}")),
        (Method::GET, "/fhir/R4/Patient".to_owned()),
        (Method::GET, "/api/auth/me".to_owned()),
        (Method::POST, "/api/auth/totp/setup".to_owned()),
        (Method::POST, "/api/auth/logout".to_owned()),
        (Method::GET, "/api/consents".to_owned()),
        (Method::GET, "/api/admin/users".to_owned()),
    ] {
        let (status, body) = api_call(&app, method.clone(), &path, partial, None).await;
        assert!(
            matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "{method} {path} with a partial token: {status} {body}"
        );
    }

    // With a code: full tokens that reach the patient's data.
    next_step(&app);
    let code = totp_code(&uri, app.clock.now());
    let (status, tokens) = login(&app, email, Some(&code)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access token");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let (status, body) = api_call(
        &app,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient_id}"),
        access,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The same code a second time (still within its window) is refused.
    let (status, body) = login(&app, email, Some(&code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "replayed code: {body}");

    // A backup code works once, not twice.
    let (status, body) = login(&app, email, Some(&backup[3])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    let (status, body) = login(&app, email, Some(&backup[3])).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reused backup code: {body}"
    );
    // Typed loosely (upper case, spaces) another one still works.
    let loose = format!(" {} ", backup[4].to_uppercase());
    let (status, body) = login(&app, email, Some(&loose)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn wrong_codes_lock_totp_until_the_lockout_ends() {
    let app = TestApp::new().await;
    let email = "mfa-lock@test.local";
    let token = register_patient(&app, email).await;
    let (uri, verified) = enrol(&app, &token).await;
    let backup = verified["backup_codes"][0]
        .as_str()
        .expect("backup code")
        .to_owned();
    next_step(&app);
    for _ in 0..5 {
        let wrong = wrong_code(&uri, app.clock.now());
        let (status, body) = login(&app, email, Some(&wrong)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // Locked: even the right code (or a backup code) is refused.
    let code = totp_code(&uri, app.clock.now());
    let (status, body) = login(&app, email, Some(&code)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, body) = login(&app, email, Some(&backup)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Still locked a little before the end of the lockout (15 minutes).
    app.clock.advance(Duration::from_secs(14 * 60));
    let code = totp_code(&uri, app.clock.now());
    let (status, body) = login(&app, email, Some(&code)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Unlocked after it.
    app.clock.advance(Duration::from_secs(2 * 60));
    let code = totp_code(&uri, app.clock.now());
    let (status, body) = login(&app, email, Some(&code)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    // The backup code the lock refused was not consumed.
    let (status, body) = login(&app, email, Some(&backup)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn disabling_needs_a_code_and_is_refused_where_mandatory() {
    let app = TestApp::new().await;
    let email = "mfa-off@test.local";
    let token = register_patient(&app, email).await;
    let (uri, _) = enrol(&app, &token).await;
    next_step(&app);
    let disable = |code: Value| {
        let app = app.clone();
        let token = token.clone();
        async move {
            api_call(
                &app,
                Method::POST,
                "/api/auth/totp/disable",
                &token,
                Some(&code),
            )
            .await
        }
    };
    let (status, body) = disable(json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no code: {body}");
    let (status, body) = disable(json!({"code": wrong_code(&uri, app.clock.now())})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong code: {body}");
    let (status, _) = login(&app, email, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, still) = login(&app, email, None).await;
    assert_eq!(still["mfa_required"], true, "still enabled: {still}");
    let (status, body) = disable(json!({"code": totp_code(&uri, app.clock.now())})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, tokens) = login(&app, email, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["access_token"].is_string(), "disabled: {tokens}");

    // Physicians and admins cannot switch it off, even with a valid code.
    let physician = signed_in(&app.state, "doc-mfa@test.local", Role::Physician).await;
    for token in [physician, app.token.clone()] {
        let (uri, verified) = enrol(&app, &token).await;
        let full = verified["access_token"].as_str().expect("access token");
        next_step(&app);
        let (status, body) = api_call(
            &app,
            Method::POST,
            "/api/auth/totp/disable",
            full,
            Some(&json!({"code": totp_code(&uri, app.clock.now())})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (_, me) = api_call(&app, Method::GET, "/api/auth/me", full, None).await;
        assert_eq!(me["totp_enabled"], true, "{me}");
    }
}
