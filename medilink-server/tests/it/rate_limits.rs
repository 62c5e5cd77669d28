//! Issue #4: rate limits per route class (login, API) and per role answer `429` past the
//! configured limit, and the one-minute window resets with the (injectable) clock.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use medilink_server::auth::{AuthSettings, RateLimits};
use serde_json::json;

use crate::support::{PASSWORD, TestApp, api_call, signed_in, unlimited};

async fn app_with(rate: RateLimits) -> TestApp {
    let mut settings = AuthSettings::for_tests();
    settings.rate = rate;
    TestApp::build(
        &SqlOptions::new("sqlite::memory:"),
        Limits::default(),
        settings,
        None,
    )
    .await
}

async fn login_status(app: &TestApp, password: &str) -> StatusCode {
    let body = json!({"email": "admin@test.local", "password": password});
    api_call(app, Method::POST, "/api/auth/login", "", Some(&body))
        .await
        .0
}

#[tokio::test]
async fn the_login_class_is_limited_and_the_window_resets() {
    let app = app_with(RateLimits {
        login: 3,
        ..unlimited()
    })
    .await;
    assert_eq!(login_status(&app, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login_status(&app, "wrong-password-123").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login_status(&app, PASSWORD).await, StatusCode::OK);
    // Past the limit, even good credentials get 429 — and so do register and refresh.
    assert_eq!(
        login_status(&app, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/auth/refresh",
        "",
        Some(&json!({"refresh_token": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other classes are not affected.
    let (status, _) = api_call(&app, Method::GET, "/api/auth/me", &app.token, None).await;
    assert_eq!(status, StatusCode::OK);
    // A new window.
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(login_status(&app, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn the_api_class_is_limited_per_role_and_user() {
    let app = app_with(RateLimits {
        patient: 3,
        researcher: 5,
        ..unlimited()
    })
    .await;
    let patient = signed_in(&app.state, "p@test.local", Role::Patient).await;
    let other_patient = signed_in(&app.state, "p2@test.local", Role::Patient).await;
    let researcher = signed_in(&app.state, "r@test.local", Role::Researcher).await;
    let me = |token: String| {
        let app = app.clone();
        async move {
            api_call(&app, Method::GET, "/api/auth/me", &token, None)
                .await
                .0
        }
    };
    for _ in 0..3 {
        assert_eq!(me(patient.clone()).await, StatusCode::OK);
    }
    assert_eq!(me(patient.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    // FHIR routes are in the same class.
    let (status, _) = api_call(&app, Method::GET, "/fhir/R4/Patient", &patient, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Per user: another patient has a budget of its own.
    assert_eq!(me(other_patient.clone()).await, StatusCode::OK);
    // Per role: researchers have a larger one.
    for _ in 0..5 {
        assert_eq!(me(researcher.clone()).await, StatusCode::OK);
    }
    assert_eq!(me(researcher.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    // Admins (unlimited here) are not affected.
    for _ in 0..10 {
        assert_eq!(me(app.token.clone()).await, StatusCode::OK);
    }
    // The window resets with the clock.
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(me(patient.clone()).await, StatusCode::OK);
    assert_eq!(me(researcher).await, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_and_totp_classes_are_limited() {
    let app = app_with(RateLimits {
        anonymous: 2,
        totp: 2,
        ..unlimited()
    })
    .await;
    for _ in 0..2 {
        let (status, _) = api_call(&app, Method::GET, "/fhir/R4/Patient", "", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = api_call(&app, Method::GET, "/fhir/R4/Patient", "", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..2 {
        let (status, _) =
            api_call(&app, Method::POST, "/api/auth/totp/setup", &app.token, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = api_call(&app, Method::POST, "/api/auth/totp/setup", &app.token, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::from_secs(61));
    let (status, _) = api_call(&app, Method::POST, "/api/auth/totp/setup", &app.token, None).await;
    assert_eq!(status, StatusCode::OK);
}
