//! History at instance, type and system level, with `_since`, `_at`, `_count` and paging.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, patient};

/// Creates a patient, updates it twice and deletes it: four versions.
async fn four_versions(app: &TestApp) -> String {
    let id = app.create_patient().await;
    let uri = format!("/fhir/R4/Patient/{id}");
    for active in [false, true] {
        let mut body = patient();
        body["id"] = json!(id);
        body["active"] = json!(active);
        assert_eq!(app.put(&uri, &body).await.status, StatusCode::OK);
    }
    assert_eq!(app.delete(&uri).await.status, StatusCode::OK);
    id
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|link| link["relation"] == relation)
        .and_then(|link| link["url"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn instance_history_lists_versions_newest_first() {
    let app = TestApp::new().await;
    let id = four_versions(&app).await;
    let response = app.get(&format!("/fhir/R4/Patient/{id}/_history")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let bundle = response.json();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "history");
    assert_eq!(bundle["total"], 4);
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    let deleted = &entries[0];
    assert_eq!(
        deleted["fullUrl"],
        format!("http://test.local/fhir/R4/Patient/{id}")
    );
    assert!(deleted.get("resource").is_none());
    assert_eq!(deleted["request"]["method"], "DELETE");
    assert_eq!(deleted["response"]["etag"], "W/\"4\"");
    assert_eq!(entries[1]["resource"]["meta"]["versionId"], "3");
    assert_eq!(
        entries[1]["request"],
        json!({"method": "PUT", "url": format!("Patient/{id}")})
    );
    assert_eq!(
        entries[3]["request"],
        json!({"method": "POST", "url": "Patient"})
    );
    assert_eq!(entries[3]["response"]["status"], "201 Created");
    assert!(
        entries[3]["response"]["lastModified"]
            .as_str()
            .is_some_and(|at| at.starts_with("2024-01-01T"))
    );
    assert_eq!(
        link(&bundle, "self").as_deref(),
        Some(format!("http://test.local/fhir/R4/Patient/{id}/_history").as_str())
    );
    assert!(link(&bundle, "next").is_none());

    app.get("/fhir/R4/Patient/unknown/_history")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn type_and_system_history_page_with_a_cursor() {
    let app = TestApp::new().await;
    four_versions(&app).await;
    let observation =
        json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    assert_eq!(
        app.post("/fhir/R4/Observation", &observation).await.status,
        StatusCode::CREATED
    );

    let patients = app.get("/fhir/R4/Patient/_history").await.json();
    assert_eq!(patients["total"], 4);
    let system = app.get("/fhir/R4/_history?_count=2").await;
    assert_eq!(system.status, StatusCode::OK);
    let first = system.json();
    assert_eq!(first["total"], 5);
    assert_eq!(first["entry"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["entry"][0]["resource"]["resourceType"], "Observation");

    let mut seen = 2;
    let mut next = link(&first, "next");
    while let Some(url) = next {
        assert!(
            url.contains("_count=2") && url.contains("_cursor="),
            "{url}"
        );
        let path = url.strip_prefix("http://test.local").expect("same origin");
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        assert_eq!(page["total"], 5);
        seen += page["entry"].as_array().map_or(0, Vec::len);
        next = link(&page, "next");
    }
    assert_eq!(seen, 5);
}

#[tokio::test]
async fn since_at_and_count_are_validated_and_applied() {
    let app = TestApp::new().await;
    let id = four_versions(&app).await;
    let all = app
        .get(&format!(
            "/fhir/R4/Patient/{id}/_history?_since=2024-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(all.json()["total"], 4);
    let none = app
        .get(&format!("/fhir/R4/Patient/{id}/_history?_since=2025"))
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["total"], 0);
    let at = app.get("/fhir/R4/_history?_at=2030-01-01").await;
    assert_eq!(at.status, StatusCode::OK, "{}", at.text());
    let huge = app.get("/fhir/R4/_history?_count=5000").await;
    assert_eq!(huge.status, StatusCode::OK);
    let zero = app.get("/fhir/R4/_history?_count=0").await.json();
    assert_eq!(zero["total"], 4);
    assert_eq!(zero["entry"], json!([]));

    app.get("/fhir/R4/_history?_since=yesterday")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
    app.get("/fhir/R4/_history?_at=2024-01-01T10:00")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
    app.get("/fhir/R4/_history?_count=-1")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
    app.get("/fhir/R4/_history?_cursor=abc")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
}
