//! The CapabilityStatement and the health endpoints.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn capability_statement_lists_exactly_what_is_implemented() {
    let app = TestApp::new().await;
    let response = app.get("/fhir/R4/metadata").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("content-type"),
        "application/fhir+json; charset=utf-8"
    );
    let statement = response.json();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["kind"], "instance");
    let rest = &statement["rest"][0];
    let resources = rest["resource"].as_array().expect("resources");
    assert_eq!(resources.len(), 147);
    let patient = resources
        .iter()
        .find(|r| r["type"] == "Patient")
        .expect("Patient");
    let codes: Vec<&str> = patient["interaction"]
        .as_array()
        .expect("interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
            "search-type"
        ]
    );
    assert_eq!(patient["updateCreate"], true);
    assert_eq!(patient["versioning"], "versioned-update");
    let params = patient["searchParam"].as_array().expect("searchParam");
    let birthdate = params
        .iter()
        .find(|p| p["name"] == "birthdate")
        .expect("birthdate");
    assert_eq!(birthdate["type"], "date");
    assert_eq!(
        birthdate["definition"],
        "http://hl7.org/fhir/SearchParameter/individual-birthdate"
    );
    assert!(
        params
            .iter()
            // `_list` is the one special parameter served (issue #18).
            .all(|p| (p["type"] != "special" || p["name"] == "_list") && p["name"] != "_query")
    );
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["conditionalUpdate"], true);
    assert_eq!(patient["conditionalDelete"], "single");
    let includes = patient["searchInclude"].as_array().expect("searchInclude");
    assert!(includes.contains(&json!("Patient:general-practitioner")));
    let rev = patient["searchRevInclude"]
        .as_array()
        .expect("searchRevInclude");
    assert!(rev.contains(&json!("Observation:subject")));
    let system_params: Vec<&str> = rest["searchParam"]
        .as_array()
        .expect("system searchParam")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        system_params,
        [
            "_text",
            "_content",
            "_id",
            "_lastUpdated",
            "_tag",
            "_profile",
            "_security",
            "_list"
        ]
    );
    assert_eq!(
        rest["interaction"],
        json!([{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"},
            {"code": "search-system"}])
    );
    assert_eq!(
        rest["compartment"],
        json!([
            "http://hl7.org/fhir/CompartmentDefinition/patient",
            "http://hl7.org/fhir/CompartmentDefinition/encounter",
            "http://hl7.org/fhir/CompartmentDefinition/relatedPerson",
            "http://hl7.org/fhir/CompartmentDefinition/practitioner",
            "http://hl7.org/fhir/CompartmentDefinition/device"
        ])
    );
    // `$validate` (issue #18) on every type but Subscription.
    let validate = json!({"name": "validate",
        "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"});
    for entry in rest["resource"].as_array().expect("resources") {
        let operations = entry["operation"].as_array().expect("operations");
        assert_eq!(
            operations.contains(&validate),
            entry["type"] != "Subscription",
            "{}",
            entry["type"]
        );
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    let live = app.get("/health").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json()["status"], "ok");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
}
