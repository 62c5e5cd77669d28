//! `GET /metrics`: public, Prometheus text; HTTP counters by route template and status (never a
//! raw path, id or query string), duration buckets, job gauges and rate-limit rejections.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_fhir::jobs::NewJob;
use medilink_server::Limits;
use medilink_server::auth::{AuthSettings, RateLimits};
use medilink_server::config::Dashboards;
use serde_json::json;

use crate::support::{TestApp, patient, unlimited};

/// Distinctive values that must never appear in a scrape.
const PATIENT_ID: &str = "quokka-4711-zebra";
const MISSING_ID: &str = "wombat-0815-missing";
const QUERY_VALUE: &str = "xylophonist";

/// Scrapes `/metrics` without a token.
async fn scrape(app: &TestApp) -> String {
    let response = app
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.text()
}

/// The value of the series `series` (name and labels exactly as rendered), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().expect("a number"))
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        "medilink_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

#[tokio::test]
async fn metrics_answer_without_a_token_in_the_prometheus_text_format() {
    let app = TestApp::new().await;
    // Families without series are left out of a scrape: make one request first.
    app.get("/health").await;
    let response = app
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text();
    assert!(
        text.contains("# TYPE medilink_http_requests_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE medilink_http_request_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE medilink_http_requests_in_flight gauge\n"),
        "{text}"
    );
    let build = format!(
        "medilink_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build), 1.0, "{text}");
    assert_eq!(sample(&text, "medilink_audit_queue_depth"), 0.0, "{text}");
    // Only `GET /metrics` is served (a probe route: no other method, no token read).
    let post = app
        .request(
            Method::POST,
            "/metrics",
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_without_ids_or_queries() {
    let app = TestApp::new().await;
    let mut body = patient();
    body["id"] = json!(PATIENT_ID);
    let created = app
        .put(&format!("/fhir/R4/Patient/{PATIENT_ID}"), &body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let before = scrape(&app).await;

    for _ in 0..3 {
        let read = app.get(&format!("/fhir/R4/Patient/{PATIENT_ID}")).await;
        assert_eq!(read.status, StatusCode::OK);
    }
    for _ in 0..2 {
        let missing = app.get(&format!("/fhir/R4/Patient/{MISSING_ID}")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }
    let search = app
        .get(&format!(
            "/fhir/R4/Patient?family={QUERY_VALUE}&_id={PATIENT_ID}"
        ))
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.text());
    let unknown = app.get(&format!("/no/such/{PATIENT_ID}")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let after = scrape(&app).await;
    let increase = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(increase(&requests("GET", "/fhir/R4/{type}/{id}", 200)), 3.0);
    assert_eq!(increase(&requests("GET", "/fhir/R4/{type}/{id}", 404)), 2.0);
    assert_eq!(increase(&requests("GET", "/fhir/R4/{type}", 200)), 1.0);
    assert_eq!(increase(&requests("GET", "unmatched", 404)), 1.0);
    assert_eq!(
        sample(&after, &requests("PUT", "/fhir/R4/{type}/{id}", 201)),
        1.0
    );
    // The first scrape counted itself once it had answered.
    assert_eq!(increase(&requests("GET", "/metrics", 200)), 1.0);
    let read_durations = "medilink_http_request_duration_seconds_count{method=\"GET\",route=\"/fhir/R4/{type}/{id}\"}";
    assert_eq!(
        sample(&after, read_durations) - sample(&before, read_durations),
        5.0
    );

    for secret in [PATIENT_ID, MISSING_ID, QUERY_VALUE, "family=", "?"] {
        assert!(!after.contains(secret), "{secret} in the scrape:\n{after}");
    }
    // Only the scrape itself is in flight while it renders.
    assert_eq!(sample(&after, "medilink_http_requests_in_flight"), 1.0);
}

#[tokio::test]
async fn durations_have_buckets_from_a_millisecond_to_ten_seconds() {
    let app = TestApp::new().await;
    app.get("/health").await;
    let text = scrape(&app).await;
    let series =
        "medilink_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=";
    let bounds: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series))
        .map(|rest| rest.split('"').nth(1).expect("a bound"))
        .collect();
    assert_eq!(
        bounds,
        [
            "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
            "5", "10", "+Inf"
        ]
    );
    assert_eq!(sample(&text, &format!("{series}\"+Inf\"}}")), 1.0);
    assert_eq!(
        sample(
            &text,
            "medilink_http_request_duration_seconds_count{method=\"GET\",route=\"/health\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn the_job_gauge_follows_enqueued_jobs() {
    let app = TestApp::new().await;
    let pending = "medilink_jobs{status=\"pending\"}";
    let before = sample(&scrape(&app).await, pending);
    for n in 0..3 {
        app.state
            .jobs
            .enqueue(NewJob {
                kind: "test.metrics".to_owned(),
                payload: json!({"n": n}),
                owner: None,
                max_attempts: 1,
                run_at: None,
            })
            .await
            .expect("enqueued");
    }
    let text = scrape(&app).await;
    assert_eq!(sample(&text, pending) - before, 3.0, "{text}");
    assert!(
        text.contains("medilink_jobs{status=\"failed\"} 0\n"),
        "{text}"
    );
}

#[tokio::test]
async fn rate_limit_rejections_are_counted_by_class() {
    let mut settings = AuthSettings::for_tests();
    settings.rate = RateLimits {
        anonymous: 2,
        ..unlimited()
    };
    let app = TestApp::build(
        &SqlOptions::new("sqlite::memory:"),
        Limits::default(),
        settings,
        None,
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .request(
                Method::GET,
                "/fhir/R4/Patient",
                &[("authorization", "")],
                Body::empty(),
            )
            .await;
        statuses.push(response.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    // The scrape is itself an anonymous request past the limit: scrape through the state.
    let text = app.state.metrics.render().expect("renders");
    assert_eq!(
        sample(&text, "medilink_rate_limited_requests_total{class=\"api\"}"),
        2.0,
        "{text}"
    );
    assert_eq!(sample(&text, &requests("GET", "/fhir/R4/{type}", 429)), 2.0);
}

#[tokio::test]
async fn dashboard_files_share_one_route_label() {
    let dist = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dist.path().join("patient")).expect("patient");
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").expect("index");
    std::fs::write(dist.path().join("patient/index.html"), "<!doctype html>").expect("index");
    let base = TestApp::new().await;
    let mut state = base.state.clone();
    state.dashboards = Some(Dashboards::Dir(dist.path().to_path_buf()));
    let app = base.with_state(state);
    for path in ["/", "/patient/", &format!("/patient/records/{PATIENT_ID}")] {
        let response = app
            .request(Method::GET, path, &[("authorization", "")], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, &requests("GET", "dashboards", 200)),
        3.0,
        "{text}"
    );
    assert!(!text.contains(PATIENT_ID), "{text}");
}
