//! Search over HTTP (issue #3): GET and POST `_search`, strict and lenient handling, paging
//! links, `_summary`, `_elements`, full text, and the conditional interactions' 0/1/many
//! outcomes.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse};

const BASE: &str = "http://test.local";

fn patient_with(identifier: &str, gender: &str) -> Value {
    json!({"resourceType": "Patient", "active": true, "gender": gender, "birthDate": "1980-05-05",
        "identifier": [{"system": "urn:test", "value": identifier}]})
}

async fn create(app: &TestApp, resource: &Value) -> String {
    let response = app.post("/fhir/R4/Patient", resource).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

/// The ids of the `match` entries of a searchset Bundle, in order.
fn match_ids(bundle: &Value) -> Vec<String> {
    assert_eq!(bundle["type"], "searchset", "{bundle}");
    bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn link<'b>(bundle: &'b Value, relation: &str) -> Option<&'b str> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
}

async fn search(app: &TestApp, uri: &str) -> Value {
    let response = app.get(uri).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{uri}: {}",
        response.text()
    );
    response.json()
}

async fn post_form(app: &TestApp, uri: &str, form: &str) -> TestResponse {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    app.request(Method::POST, uri, &headers, form.to_owned())
        .await
}

#[tokio::test]
async fn get_and_post_search_give_the_same_result() {
    let app = TestApp::new().await;
    let female = create(&app, &patient_with("g1", "female")).await;
    create(&app, &patient_with("g2", "male")).await;
    let second_female = create(&app, &patient_with("g3", "female")).await;
    let get = search(&app, "/fhir/R4/Patient?gender=female&_sort=_id").await;
    let mut expected = vec![female, second_female];
    expected.sort();
    assert_eq!(match_ids(&get), expected);
    // Form parameters are merged with URL parameters.
    let post = post_form(&app, "/fhir/R4/Patient/_search?gender=female", "_sort=_id").await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text());
    assert_eq!(match_ids(&post.json()), expected);
    assert_eq!(post.json()["total"], get["total"]);
    let wrong_type = app
        .request(
            Method::POST,
            "/fhir/R4/Patient/_search",
            &[("content-type", "application/json")],
            Body::from("{}"),
        )
        .await;
    wrong_type.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
}

#[tokio::test]
async fn repeated_parameters_are_anded() {
    let app = TestApp::new().await;
    let a = create(&app, &patient_with("r1", "female")).await;
    let b = create(&app, &patient_with("r2", "female")).await;
    let both = search(&app, &format!("/fhir/R4/Patient?_id={a},{b}&_id={a}")).await;
    assert_eq!(match_ids(&both), vec![a]);
}

#[tokio::test]
async fn unknown_parameters_are_listed_or_refused() {
    let app = TestApp::new().await;
    create(&app, &patient_with("u1", "female")).await;
    let lenient = search(&app, "/fhir/R4/Patient?nonsense=1&gender=female").await;
    assert_eq!(match_ids(&lenient).len(), 1);
    let outcome = lenient["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an outcome entry");
    assert_eq!(outcome["resource"]["resourceType"], "OperationOutcome");
    assert_eq!(outcome["resource"]["issue"][0]["expression"][0], "nonsense");
    let strict = app
        .request(
            Method::GET,
            "/fhir/R4/Patient?nonsense=1",
            &[("prefer", "handling=strict")],
            Body::empty(),
        )
        .await;
    strict.assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    assert_eq!(strict.json()["issue"][0]["expression"][0], "nonsense");
}

#[tokio::test]
async fn a_malformed_value_is_a_400_naming_parameter_and_value() {
    let app = TestApp::new().await;
    let response = app.get("/fhir/R4/Patient?birthdate=ge1980-13-45").await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    let issue = &response.json()["issue"][0];
    assert_eq!(issue["expression"][0], "birthdate");
    let diagnostics = issue["diagnostics"].as_str().expect("diagnostics");
    assert!(diagnostics.contains("1980-13-45"), "{diagnostics}");
}

#[tokio::test]
async fn paging_links_visit_every_match_once() {
    let app = TestApp::new().await;
    let mut created = HashSet::new();
    for n in 0..7 {
        created.insert(create(&app, &patient_with(&format!("p{n}"), "other")).await);
    }
    let first = search(&app, "/fhir/R4/Patient?gender=other&_count=3").await;
    assert_eq!(first["total"], 7);
    assert_eq!(
        link(&first, "self"),
        Some(format!("{BASE}/fhir/R4/Patient?gender=other&_count=3").as_str())
    );
    let mut seen = Vec::new();
    let mut page = first;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 4, "too many pages");
        let ids = match_ids(&page);
        assert!(ids.len() <= 3);
        seen.extend(ids);
        let Some(next) = link(&page, "next") else {
            break;
        };
        assert!(next.contains("_cursor="), "{next}");
        assert!(next.contains("gender=other"), "{next}");
        let next = next.strip_prefix(BASE).expect("same base").to_owned();
        page = search(&app, &next).await;
        assert!(link(&page, "self").expect("self").contains("_cursor="));
        assert!(link(&page, "previous").is_some(), "a later page links back");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn summary_count_and_elements_shape_the_result() {
    let app = TestApp::new().await;
    for n in 0..3 {
        create(&app, &patient_with(&format!("s{n}"), "unknown")).await;
    }
    let count = search(&app, "/fhir/R4/Patient?gender=unknown&_summary=count").await;
    assert_eq!(count["total"], 3);
    assert!(count.get("entry").is_none(), "{count}");
    let shaped = search(&app, "/fhir/R4/Patient?gender=unknown&_elements=gender").await;
    let resource = &shaped["entry"][0]["resource"];
    assert_eq!(resource["gender"], "unknown");
    assert!(resource.get("birthDate").is_none(), "{resource}");
    assert!(resource["id"].is_string());
    assert_eq!(resource["meta"]["tag"][0]["code"], "SUBSETTED");
    let summary = search(&app, "/fhir/R4/Patient?gender=unknown&_summary=true").await;
    let resource = &summary["entry"][0]["resource"];
    assert!(resource.get("birthDate").is_some() && resource.get("identifier").is_some());
}

#[tokio::test]
async fn full_text_sees_a_resource_right_after_its_create() {
    let app = TestApp::new().await;
    let mut narrated = patient_with("t1", "female");
    narrated["text"] = json!({"status": "generated",
        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Synthetic zebrafinch marker</div>"});
    let id = create(&app, &narrated).await;
    create(&app, &patient_with("t2", "female")).await;
    let text = search(&app, "/fhir/R4/Patient?_text=zebrafinch").await;
    assert_eq!(match_ids(&text), vec![id.clone()]);
    let content = search(&app, "/fhir/R4/Patient?_content=zebrafinch&gender=female").await;
    assert_eq!(match_ids(&content), vec![id]);
    let none = search(&app, "/fhir/R4/Patient?_text=okapi").await;
    assert!(match_ids(&none).is_empty());
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn conditional_create_zero_one_many() {
    let app = TestApp::new().await;
    let condition = [("if-none-exist", "identifier=urn:test|c1")];
    let body = patient_with("c1", "male");
    let created = app
        .send_json(Method::POST, "/fhir/R4/Patient", &body, &condition)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let again = app
        .send_json(Method::POST, "/fhir/R4/Patient", &body, &condition)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["id"], created.json()["id"]);
    create(&app, &body).await;
    let many = app
        .send_json(Method::POST, "/fhir/R4/Patient", &body, &condition)
        .await;
    many.assert_outcome(StatusCode::PRECONDITION_FAILED, "processing");
    let unknown = app
        .send_json(
            Method::POST,
            "/fhir/R4/Patient",
            &body,
            &[("if-none-exist", "nonsense=1")],
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown.text()
    );
}

#[tokio::test]
async fn conditional_update_zero_one_many() {
    let app = TestApp::new().await;
    let uri = "/fhir/R4/Patient?identifier=urn:test|u1";
    let created = app.put(uri, &patient_with("u1", "male")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let updated = app.put(uri, &patient_with("u1", "female")).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.json()["id"], created.json()["id"]);
    assert_eq!(updated.json()["meta"]["versionId"], "2");
    create(&app, &patient_with("u1", "other")).await;
    app.put(uri, &patient_with("u1", "male"))
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "processing");
}

#[tokio::test]
async fn conditional_delete_zero_one_many() {
    let app = TestApp::new().await;
    let nothing = app
        .delete("/fhir/R4/Patient?identifier=urn:test|none")
        .await;
    assert_eq!(nothing.status, StatusCode::NO_CONTENT, "{}", nothing.text());
    let id = create(&app, &patient_with("d1", "male")).await;
    let one = app.delete("/fhir/R4/Patient?identifier=urn:test|d1").await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text());
    assert_eq!(
        app.get(&format!("/fhir/R4/Patient/{id}")).await.status,
        StatusCode::GONE
    );
    create(&app, &patient_with("d2", "male")).await;
    create(&app, &patient_with("d2", "male")).await;
    app.delete("/fhir/R4/Patient?identifier=urn:test|d2")
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "processing");
}

#[tokio::test]
async fn includes_are_marked_and_search_needs_a_token() {
    let app = TestApp::new().await;
    let patient = create(&app, &patient_with("i1", "female")).await;
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "synthetic"}, "subject": {"reference": format!("Patient/{patient}")}});
    let created = app.post("/fhir/R4/Observation", &observation).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let bundle = search(&app, "/fhir/R4/Observation?_include=Observation:subject").await;
    let modes: Vec<(&str, &str)> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["search"]["mode"].as_str().expect("mode"),
                e["resource"]["resourceType"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(modes, [("match", "Observation"), ("include", "Patient")]);
    let empty_form = post_form(&app, "/fhir/R4/Patient/_search", "").await;
    assert_eq!(empty_form.status, StatusCode::OK);
    let anonymous = app
        .request(
            Method::POST,
            "/fhir/R4/Patient/_search",
            &[
                ("authorization", ""),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reindex_rebuilds_the_index_offline() {
    use clap::Parser;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let mut all = vec!["medilink-server"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", data_dir]);
        medilink_server::serve::run(medilink_server::config::Cli::parse_from(all))
    };
    run(&["migrate"]).await.expect("migrate");
    run(&["reindex"]).await.expect("reindex");
    run(&["reindex"]).await.expect("reindex twice");
    assert!(dir.path().join("fulltext").is_dir());
}
