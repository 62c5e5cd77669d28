//! The query budget over HTTP (issue #11): each limit answers `400` with an OperationOutcome
//! naming it (a positive control just under it runs), hostile strings never answer 5xx, and a
//! transaction entry whose resource disagrees with its url is refused — on SQLite, and on
//! PostgreSQL when `MEDILINK_TEST_POSTGRES_URL` is set.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_server::Limits;
use serde_json::json;

use crate::support::PostgresDatabase;
use crate::support::TestApp;

fn list(n: usize, item: impl Fn(usize) -> String) -> String {
    (0..n).map(item).collect::<Vec<_>>().join(",")
}

/// `POST _search` with a form body.
async fn post_search(app: &TestApp, ty: &str, form: &str) -> crate::support::TestResponse {
    app.request(
        Method::POST,
        &format!("/fhir/R4/{ty}/_search"),
        &[("content-type", "application/x-www-form-urlencoded")],
        form.to_owned(),
    )
    .await
}

fn assert_refused(response: &crate::support::TestResponse, limit: &str) {
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    let outcome = response.json();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let text = outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains(limit), "{text} names {limit}");
    assert_eq!(outcome["issue"][0]["code"], "too-costly");
}

async fn budget(app: &TestApp) {
    let started = Instant::now();
    // Chains through Any-typed references.
    let chain = app
        .get("/fhir/R4/PlanDefinition?composed-of.composed-of.composed-of._id=x")
        .await;
    assert_refused(&chain, "chain fan-out");
    assert!(chain.text().contains("composed-of:"), "{}", chain.text());
    let typed = app
        .get("/fhir/R4/PlanDefinition?composed-of:PlanDefinition.composed-of:PlanDefinition.composed-of._id=x")
        .await;
    assert_eq!(typed.status, StatusCode::OK, "{}", typed.text());
    // Sort keys.
    let sort = |n| {
        format!(
            "/fhir/R4/Patient?_sort={}",
            list(n, |_| "birthdate".to_owned())
        )
    };
    assert_eq!(app.get(&sort(8)).await.status, StatusCode::OK);
    assert_refused(&app.get(&sort(3000)).await, "_sort keys");
    // 70,000 `_id` values and OR-ed codes through POST _search.
    let ids = |n| format!("_id={}", list(n, |i| format!("x{i}")));
    assert_eq!(
        post_search(app, "Patient", &ids(1000)).await.status,
        StatusCode::OK
    );
    assert_refused(
        &post_search(app, "Patient", &ids(70_000)).await,
        "values of one parameter",
    );
    let codes = format!("code={}", list(70_000, |i| format!("urn:x%7C{i}")));
    assert_refused(
        &post_search(app, "Observation", &codes).await,
        "values of one parameter",
    );
    // 20,000 AND-ed criteria.
    let anded = list(20_000, |i| format!("family=f{i}")).replace(',', "&");
    assert_refused(
        &post_search(app, "Patient", &anded).await,
        "search criteria",
    );
    let hundred = list(100, |i| format!("family=f{i}")).replace(',', "&");
    assert_eq!(
        post_search(app, "Patient", &hundred).await.status,
        StatusCode::OK
    );
    // `_has` nested 60 deep.
    let has = |n: usize| format!("/fhir/R4/Patient?{}_id=x", "_has:Patient:link:".repeat(n));
    assert_eq!(app.get(&has(4)).await.status, StatusCode::OK);
    assert_refused(&app.get(&has(60)).await, "_has depth");
    // Includes.
    let includes = |n| {
        format!(
            "/fhir/R4/Patient?{}",
            list(n, |_| "_include=Patient:organization".to_owned()).replace(',', "&")
        )
    };
    assert_eq!(app.get(&includes(16)).await.status, StatusCode::OK);
    assert_refused(&app.get(&includes(17)).await, "_include");
    // If-None-Exist with 5,000 criteria.
    let criteria = list(5000, |i| format!("family=f{i}")).replace(',', "&");
    let conditional = app
        .send_json(
            Method::POST,
            "/fhir/R4/Patient",
            &json!({"resourceType": "Patient"}),
            &[("if-none-exist", criteria.as_str())],
        )
        .await;
    assert_refused(&conditional, "conditional operation");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "refusals and the largest accepted searches finish quickly"
    );
}

async fn strings_and_bundles(app: &TestApp) {
    // NUL: refused on create and in searches.
    let nul = app
        .post(
            "/fhir/R4/Patient",
            &json!({"resourceType": "Patient", "name": [{"family": "a\u{0}b"}]}),
        )
        .await;
    assert_eq!(nul.status, StatusCode::BAD_REQUEST, "{}", nul.text());
    let nul_search = app.get("/fhir/R4/Patient?family=a%00b").await;
    assert_eq!(
        nul_search.status,
        StatusCode::BAD_REQUEST,
        "{}",
        nul_search.text()
    );
    // A 1,000,000-character family name is stored and found.
    let long = format!("Budget{}", "z".repeat(1_000_000));
    let created = app
        .post(
            "/fhir/R4/Patient",
            &json!({"resourceType": "Patient", "name": [{"family": long}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let found = app.get("/fhir/R4/Patient?family=budgetzz").await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json()["total"], 1, "{}", found.text());
    // Transactions: the resource must match its request url.
    let mismatched = app
        .post(
            "/fhir/R4",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
                {"resource": {"resourceType": "Observation", "status": "final",
                    "code": {"text": "x"}}, "request": {"method": "POST", "url": "Patient"}}
            ]}),
        )
        .await;
    assert_eq!(
        mismatched.status,
        StatusCode::BAD_REQUEST,
        "{}",
        mismatched.text()
    );
    assert!(
        mismatched.text().contains("bundle entry 1"),
        "{}",
        mismatched.text()
    );
    let wrong_id = app
        .post(
            "/fhir/R4",
            &json!({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"resource": {"resourceType": "Patient", "id": "a"}, "request": {"method": "PUT", "url": "Patient/b"}}
            ]}),
        )
        .await;
    assert_eq!(
        wrong_id.status,
        StatusCode::BAD_REQUEST,
        "{}",
        wrong_id.text()
    );
    let entries = |n: usize| {
        json!({"resourceType": "Bundle", "type": "batch", "entry":
            (0..n).map(|_| json!({"request": {"method": "GET", "url": "Patient/x"}})).collect::<Vec<_>>()})
    };
    assert_refused(
        &app.post("/fhir/R4", &entries(5001)).await,
        "Bundle entries",
    );
}

#[tokio::test]
async fn limits_on_sqlite() {
    let app = TestApp::new().await;
    budget(&app).await;
    strings_and_bundles(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_on_postgres() {
    PostgresDatabase::run("the limits test", |url| async move {
        let mut options = SqlOptions::new(url);
        // The searches must finish or be refused well within a tight statement time limit.
        options.statement_timeout = Some(Duration::from_secs(5));
        let app = TestApp::on(&options, Limits::default()).await;
        budget(&app).await;
        strings_and_bundles(&app).await;
    })
    .await;
}
