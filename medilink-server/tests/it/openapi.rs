//! The OpenAPI document is generated (`medilink_server::openapi_document`): the checked-in
//! copy and the served one are it; it lists exactly the `/api` routes of the route table, with
//! no security requirement exactly on the public ones; and real answers of the handlers validate
//! against the types the document declares for them.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_platform::Role;
use medilink_server::route_meta::Access;
use serde_json::{Value, json};

use crate::support::schema::{assert_documented, refs, resolve};
use crate::support::{TestApp, api_call, multipart};

const REGENERATE: &str = "cargo run -p medilink-server -- openapi > medilink-server/openapi.json";

fn generated() -> Value {
    serde_json::from_str(&medilink_server::openapi_document()).expect("the document is JSON")
}

/// Every `(METHOD, path template)` the document describes, with whether it needs a token.
fn operations(document: &Value) -> BTreeSet<(String, String, bool)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.iter().map(|(method, operation)| {
                let secured = operation["security"] != json!([]);
                (method.to_uppercase(), path.clone(), secured)
            })
        })
        .collect()
}

#[test]
fn the_checked_in_document_is_the_generated_one() {
    let checked_in = include_str!("../../openapi.json");
    assert!(
        checked_in == medilink_server::openapi_document(),
        "medilink-server/openapi.json is stale: regenerate it with `{REGENERATE}` \
         (and the dashboards' types with `cd dashboards && npm run gen:api`)"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_public() {
    let app = TestApp::new().await;
    let headers = [("authorization", "")];
    let response = app
        .request(Method::GET, "/api/openapi.json", &headers, Body::empty())
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .starts_with("application/json")
    );
    assert_eq!(response.json(), generated());
}

#[test]
fn the_document_lists_exactly_the_api_routes_with_their_access() {
    let document = generated();
    let routes: BTreeSet<_> = medilink_server::route_table()
        .routes()
        .filter(|(_, template, _)| template.starts_with("/api/"))
        .map(|(method, template, meta)| {
            let secured = meta.access != Access::Public;
            (method.to_string(), template.to_owned(), secured)
        })
        .collect();
    assert_eq!(operations(&document), routes);
    let ids: Vec<&str> = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .flat_map(|item| item.as_object().into_iter().flat_map(|item| item.values()))
        .map(|operation| operation["operationId"].as_str().expect("an operationId"))
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds repeat: {ids:?}");
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    let unresolved: Vec<_> = targets
        .into_iter()
        .filter(|target| resolve(&document, target).is_none())
        .collect();
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
}

#[test]
fn the_public_routes_are_exactly_the_unsecured_operations() {
    let unsecured: BTreeSet<_> = operations(&generated())
        .into_iter()
        .filter(|(_, _, secured)| !secured)
        .map(|(method, path, _)| (method, path))
        .collect();
    let public: BTreeSet<_> = medilink_server::route_table()
        .routes()
        .filter(|(_, template, meta)| {
            template.starts_with("/api/") && meta.access == Access::Public
        })
        .map(|(method, template, _)| (method.to_string(), template.to_owned()))
        .collect();
    assert_eq!(unsecured, public);
}

#[tokio::test]
async fn real_answers_validate_against_their_declared_types() {
    let app = TestApp::new().await;
    let document = generated();
    let check = |method: &str, template: &str, (status, body): &(StatusCode, Value)| {
        assert!(status.is_success(), "{method} {template}: {status} {body}");
        assert_documented(&document, method, template, *status, body);
    };

    let account = json!({"email": "pat@test.local", "password": "a long enough passphrase 42",
        "role": "patient", "given": ["Pat"], "family": "Example", "birth_date": "1970-01-01",
        "gender": "other", "phone": null});
    let answer = api_call(&app, Method::POST, "/api/auth/register", "", Some(&account)).await;
    check("POST", "/api/auth/register", &answer);
    let answer = api_call(&app, Method::POST, "/api/auth/login", "", Some(&account)).await;
    check("POST", "/api/auth/login", &answer);
    let patient = answer.1["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let answer = api_call(&app, Method::GET, "/api/auth/me", &patient, None).await;
    check("GET", "/api/auth/me", &answer);
    let patient_id = answer.1["patient_id"]
        .as_str()
        .expect("a patient")
        .to_owned();
    let answer = api_call(
        &app,
        Method::GET,
        "/api/account/demographics",
        &patient,
        None,
    )
    .await;
    check("GET", "/api/account/demographics", &answer);
    let answer = api_call(
        &app,
        Method::PUT,
        "/api/account/demographics",
        &patient,
        Some(&answer.1),
    )
    .await;
    check("PUT", "/api/account/demographics", &answer);
    let wrong = json!({"email": "pat@test.local", "password": "not the password"});
    let (status, body) = api_call(&app, Method::POST, "/api/auth/login", "", Some(&wrong)).await;
    assert_documented(&document, "POST", "/api/auth/login", status, &body);

    let physician = app
        .state
        .auth
        .create_account(
            "doc@test.local",
            "a long enough passphrase 42",
            Some("Dana Doctor"),
            Role::Physician,
            Some(medilink_platform::AccountStatus::Active),
        )
        .await
        .expect("physician");
    let grant = json!({"grantee": physician.id.0, "scope": ["Observation"]});
    let answer = api_call(&app, Method::POST, "/api/consents", &patient, Some(&grant)).await;
    check("POST", "/api/consents", &answer);
    let answer = api_call(&app, Method::GET, "/api/consents", &patient, None).await;
    assert_eq!(answer.1["consents"].as_array().map(Vec::len), Some(1));
    check("GET", "/api/consents", &answer);

    // A document uploaded for the patient by the admin: its job, and the patient's access log.
    let (content_type, upload) = multipart(
        &format!("Patient/{patient_id}"),
        "report.pdf",
        b"%PDF-1.4\nHemoglobin 13.5 g/dL",
    );
    let headers = [("content-type", content_type.as_str())];
    let response = app
        .request(Method::POST, "/api/documents", &headers, upload)
        .await;
    let submitted = (response.status, response.json());
    check("POST", "/api/documents", &submitted);
    let job = format!(
        "/api/documents/jobs/{}",
        submitted.1["job_id"].as_str().expect("a job")
    );
    let answer = api_call(&app, Method::GET, &job, &app.token, None).await;
    check("GET", "/api/documents/jobs/{id}", &answer);
    let answer = api_call(
        &app,
        Method::GET,
        "/api/consents/access-log",
        &patient,
        None,
    )
    .await;
    assert!(
        !answer.1["entries"].as_array().expect("entries").is_empty(),
        "{}",
        answer.1
    );
    check("GET", "/api/consents/access-log", &answer);
}
