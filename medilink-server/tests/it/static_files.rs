//! Issue #7: the dashboards are served from `--dashboards-dir` with the caching rules (hashed
//! assets immutable, HTML `no-cache`), the SPA fallback per portal, and without shadowing the
//! APIs. The directory is a temporary fake build, so this runs without npm.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_server::config::Dashboards;

use crate::support::TestApp;

const PHYSICIAN: &str = "<!doctype html><title>physician portal</title>";
const PATIENT: &str = "<!doctype html><title>patient portal</title>";

/// A fake `dashboards/dist` and the app serving it.
async fn app_with_dashboards() -> (TestApp, tempfile::TempDir) {
    let dist = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dist.path().join("assets")).expect("assets");
    std::fs::create_dir_all(dist.path().join("patient")).expect("patient");
    std::fs::write(dist.path().join("index.html"), PHYSICIAN).expect("index");
    std::fs::write(dist.path().join("patient/index.html"), PATIENT).expect("patient index");
    std::fs::write(dist.path().join("assets/main-AbC123.js"), "console.log(1)").expect("js");
    std::fs::write(dist.path().join("assets/main-AbC123.css"), "body{}").expect("css");
    let base = TestApp::new().await;
    let mut state = base.state.clone();
    state.dashboards = Some(Dashboards::Dir(dist.path().to_path_buf()));
    (base.with_state(state), dist)
}

async fn anonymous(app: &TestApp, method: Method, path: &str) -> crate::support::TestResponse {
    app.request(method, path, &[("authorization", "")], Body::empty())
        .await
}

#[tokio::test]
async fn portals_and_assets_are_served_with_their_cache_rules() {
    let (app, _dist) = app_with_dashboards().await;
    let index = anonymous(&app, Method::GET, "/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.text(), PHYSICIAN);
    assert_eq!(index.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(index.header("cache-control"), "no-cache");
    assert!(
        index
            .header("content-security-policy")
            .contains("img-src 'self' data:")
    );
    let patient = anonymous(&app, Method::GET, "/patient/").await;
    assert_eq!(patient.text(), PATIENT);
    assert_eq!(patient.header("cache-control"), "no-cache");
    let redirect = anonymous(&app, Method::GET, "/patient").await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.header("location"), "/patient/");

    let script = anonymous(&app, Method::GET, "/assets/main-AbC123.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.text(), "console.log(1)");
    assert_eq!(
        script.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let style = anonymous(&app, Method::GET, "/assets/main-AbC123.css").await;
    assert_eq!(style.header("content-type"), "text/css; charset=utf-8");

    // HEAD has the headers and no body; a matching ETag revalidates to 304.
    let head = anonymous(&app, Method::HEAD, "/").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    let etag = index.header("etag").to_owned();
    assert!(etag.starts_with('"'));
    let revalidated = app
        .request(
            Method::GET,
            "/",
            &[("authorization", ""), ("if-none-match", etag.as_str())],
            Body::empty(),
        )
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
}

#[tokio::test]
async fn client_routes_fall_back_to_their_portal_and_missing_assets_are_404() {
    let (app, _dist) = app_with_dashboards().await;
    for path in [
        "/patients/p1",
        "/patients/id.with.dots",
        "/settings",
        "/login",
    ] {
        let page = anonymous(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.text(), PHYSICIAN, "{path}");
        assert_eq!(page.header("cache-control"), "no-cache", "{path}");
    }
    for path in ["/patient/records", "/patient/consents/c1"] {
        let page = anonymous(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.text(), PATIENT, "{path}");
    }
    for path in [
        "/assets/gone-123.js",
        "/favicon.ico",
        "/assets/../index.html",
    ] {
        let missing = anonymous(&app, Method::GET, path).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!missing.text().contains("portal"), "{path}");
    }
    // Nothing outside the directory is reachable.
    let escape = anonymous(&app, Method::GET, "/..%2f..%2fetc/passwd").await;
    assert_eq!(escape.status, StatusCode::OK);
    assert_eq!(escape.text(), PHYSICIAN);
}

#[tokio::test]
async fn the_apis_are_not_shadowed() {
    let (app, _dist) = app_with_dashboards().await;
    let me = anonymous(&app, Method::GET, "/api/auth/me").await;
    me.assert_outcome(StatusCode::UNAUTHORIZED, "login");
    let fhir = anonymous(&app, Method::GET, "/fhir/R4/Patient").await;
    assert_eq!(fhir.status, StatusCode::UNAUTHORIZED);
    let unknown_api = app.get("/api/nope").await;
    unknown_api.assert_outcome(StatusCode::NOT_FOUND, "not-found");
    let metadata = anonymous(&app, Method::GET, "/fhir/R4/metadata").await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert_eq!(metadata.json()["resourceType"], "CapabilityStatement");
    let health = anonymous(&app, Method::GET, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(!health.text().contains("portal"));
    let metrics = anonymous(&app, Method::GET, "/metrics").await;
    assert!(!metrics.text().contains("portal"));
    // Writes to a page path are not the dashboards' business.
    let post = app.post("/settings", &serde_json::json!({})).await;
    assert_ne!(post.status, StatusCode::OK);
    assert!(!post.text().contains("portal"));
}

#[tokio::test]
async fn without_a_build_the_portals_say_how_to_build_them() {
    let empty = tempfile::tempdir().expect("temp dir");
    let base = TestApp::new().await;
    let mut state = base.state.clone();
    state.dashboards = Some(Dashboards::Dir(empty.path().to_path_buf()));
    let app = base.with_state(state);
    for path in ["/", "/patient/", "/patients/p1"] {
        let page = anonymous(&app, Method::GET, path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.text().contains("dashboards are not built"), "{path}");
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    }
    // Without dashboards configured, unknown routes stay the API's 404.
    TestApp::new()
        .await
        .get("/nope")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
}
