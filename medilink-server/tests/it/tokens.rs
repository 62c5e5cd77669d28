//! Issue #4: access and refresh tokens over HTTP — `alg: none`, wrong key, tampered claims,
//! expired (injectable clock), revoked (logout, password change), partial-MFA, refresh reuse.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, with_demographics};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/json")];
    if !token.is_empty() {
        headers.push(("authorization", bearer.as_str()));
    } else {
        headers.push(("authorization", ""));
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = app.request(method, path, &headers, body).await;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, json)
}

async fn register_and_login(app: &TestApp, email: &str) -> Value {
    let (status, _) = call(
        app,
        Method::POST,
        "/api/auth/register",
        "",
        Some(&with_demographics(
            &json!({"email": email, "password": PASSWORD, "role": "patient", "name": "Test Person"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, tokens) = call(
        app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = TestApp::new().await;
    let (status, _) = call(&app, Method::GET, "/api/auth/me", &app.token, None).await;
    assert_eq!(status, StatusCode::OK);
    let parts: Vec<&str> = app.token.split('.').collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("utf8");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let tampered_claims = URL_SAFE_NO_PAD.encode(claims.replace("\"mfa\":true", "\"mfa\":false"));
    let tampered = format!("{}.{tampered_claims}.{}", parts[0], parts[2]);
    let other_key = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode([0u8; 32])
    );
    for forged in [none, tampered, other_key] {
        let (status, _) = call(&app, Method::GET, "/api/auth/me", &forged, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    }
}

#[tokio::test]
async fn tokens_expire_and_logout_revokes_them() {
    let app = TestApp::new().await;
    let tokens = register_and_login(&app, "pat@test.local").await;
    let access = tokens["access_token"].as_str().expect("access");
    let (status, me) = call(&app, Method::GET, "/api/auth/me", access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "patient");
    assert!(
        me["patient_id"].is_string(),
        "a patient gets a linked Patient"
    );
    // Patients reach the FHIR API scoped to their own compartment (issue #5): the system
    // history holds only their own Patient.
    let (status, history) = call(&app, Method::GET, "/fhir/R4/_history", access, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["total"], 1, "{history}");
    // Logout denylists the access token and revokes the refresh token.
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/logout",
        access,
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, Method::GET, "/api/auth/me", access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Expiry, by the injectable clock.
    let tokens = register_and_login(&app, "pat2@test.local").await;
    let access = tokens["access_token"].as_str().expect("access");
    app.clock.advance(Duration::from_secs(16 * 60));
    let (status, _) = call(&app, Method::GET, "/api/auth/me", access, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    let tokens = register_and_login(&app, "pat@test.local").await;
    let first = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (status, rotated) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": first})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(first, second);
    // Reusing the rotated token revokes the whole family, including the new one.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": first})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": second})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let app = TestApp::new().await;
    let tokens = register_and_login(&app, "pat@test.local").await;
    let other = register_and_login_again(&app, "pat@test.local").await;
    let access = tokens["access_token"].as_str().expect("access");
    let body = json!({"current_password": PASSWORD, "new_password": "another-fine-passphrase"});
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/password",
        access,
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [access, other["access_token"].as_str().expect("access")] {
        let (status, _) = call(&app, Method::GET, "/api/auth/me", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let refresh = other["refresh_token"].as_str().expect("refresh");
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": "pat@test.local", "password": "another-fine-passphrase"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn register_and_login_again(app: &TestApp, email: &str) -> Value {
    let (status, tokens) = call(
        app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokens
}
