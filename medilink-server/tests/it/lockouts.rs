//! Issue #4: login brute force locks the e-mail, in process and through Redis shared by two
//! server instances (when `MEDILINK_TEST_REDIS_URL` is set); the lock ends with the clock.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_fhir::kv::KeyValue;
use medilink_fhir::kv::RedisKeyValue;
use medilink_server::Limits;
use medilink_server::auth::AuthSettings;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, unlimited};

async fn login(app: &TestApp, password: &str) -> StatusCode {
    let body = json!({"email": "admin@test.local", "password": password});
    app.send_json(
        Method::POST,
        "/api/auth/login",
        &body,
        &[("authorization", "")],
    )
    .await
    .status
}

fn settings() -> AuthSettings {
    let mut settings = AuthSettings::for_tests();
    settings.rate = unlimited();
    settings
}

#[tokio::test]
async fn failed_logins_lock_the_account_until_the_lockout_ends() {
    let app = TestApp::build(
        &SqlOptions::new("sqlite::memory:"),
        Limits::default(),
        settings(),
        None,
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "wrong-password-123").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(login(&app, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(login(&app, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn two_servers_share_the_lockout_through_redis() {
    let Ok(url) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("medilink-test-{}:", uuid::Uuid::new_v4());
    let redis = RedisKeyValue::connect(&url, prefix).await.expect("redis");
    let kv: Arc<dyn KeyValue> = Arc::new(redis.clone());
    let options = SqlOptions::new("sqlite::memory:");
    let first = TestApp::build(&options, Limits::default(), settings(), Some(kv.clone())).await;
    let second = TestApp::build(&options, Limits::default(), settings(), Some(kv)).await;
    for _ in 0..3 {
        assert_eq!(
            login(&first, "wrong-password-123").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..2 {
        assert_eq!(
            login(&second, "wrong-password-123").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Both instances see the lock the failures on both produced.
    assert_eq!(login(&first, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        login(&second, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(redis.clear().await.expect("clear") > 0);
}
