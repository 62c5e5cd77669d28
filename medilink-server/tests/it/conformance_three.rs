//! Issue #18, third pass: compartments other than Patient (`Encounter/{id}/Observation`, …)
//! and `$validate` with profiles stored in the server (`meta.profile` checked on write). Each
//! scenario runs on SQLite and, when `MEDILINK_TEST_POSTGRES_URL` is set, on PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_platform::Role;
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, as_user, signed_in};

on_both_backends!(other_compartments_search_through_the_consent_guard);
on_both_backends!(validate_checks_base_definitions_and_stored_profiles);
on_both_backends!(meta_profile_is_enforced_on_write);
on_both_backends!(instance_validate_reads_through_the_consent_guard);

pub(crate) use crate::conformance_two::app_on;

/// The `Type/id` of a searchset's `match` entries, sorted.
fn matched(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let mut found: Vec<String> = response.json()["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["search"]["mode"] == "match")
                .map(|entry| {
                    format!(
                        "{}/{}",
                        entry["resource"]["resourceType"].as_str().unwrap_or(""),
                        entry["resource"]["id"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Creates `body` as the admin and returns its `Type/id`.
async fn created(app: &TestApp, body: &Value) -> String {
    let resource_type = body["resourceType"].as_str().expect("type");
    let response = app.post(&format!("/fhir/R4/{resource_type}"), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    format!(
        "{resource_type}/{}",
        response.json()["id"].as_str().expect("id")
    )
}

async fn other_compartments_search_through_the_consent_guard(app: &TestApp) {
    let doctor = signed_in(&app.state, "doc18c@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a18c@test.local", Role::Patient).await;
    let me = |token: String| async move {
        as_user(app, &token, Method::GET, "/api/auth/me", None)
            .await
            .json()
    };
    let doctor_id = me(doctor.clone()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a = me(patient_a.clone()).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let practitioner = created(
        app,
        &json!({"resourceType": "Practitioner", "active": true}),
    )
    .await;
    let related = created(
        app,
        &json!({"resourceType": "RelatedPerson", "patient": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    let device = created(app, &json!({"resourceType": "Device", "status": "active"})).await;
    let encounter = created(
        app,
        &json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{a}")},
            "participant": [{"individual": {"reference": practitioner}}]}),
    )
    .await;
    let other_encounter = created(
        app,
        &json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    let observation = |code: &str, encounter: &str, performer: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{a}")},
            "encounter": {"reference": encounter},
            "performer": [{"reference": performer}],
            "device": {"reference": device}})
    };
    let first = created(app, &observation("8867-4", &encounter, &practitioner)).await;
    let second = created(app, &observation("29463-7", &encounter, &related)).await;
    let third = created(app, &observation("8867-4", &other_encounter, &practitioner)).await;
    let search = |token: String, path: String| async move {
        matched(&as_user(app, &token, Method::GET, &path, None).await)
    };
    let sorted = |mut items: Vec<String>| {
        items.sort();
        items
    };
    let admin = app.token.clone();
    // Each compartment by its own CompartmentDefinition's parameters, criteria applied.
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4/{encounter}/Observation")).await,
        sorted(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        search(
            admin.clone(),
            format!("/fhir/R4/{encounter}/Observation?code=29463-7")
        )
        .await,
        vec![second.clone()]
    );
    assert_eq!(
        search(
            admin.clone(),
            format!("/fhir/R4/{practitioner}/Observation")
        )
        .await,
        sorted(vec![first.clone(), third.clone()])
    );
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4/{practitioner}/Encounter")).await,
        vec![encounter.clone()]
    );
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4/{related}/Observation")).await,
        vec![second.clone()]
    );
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4/{device}/Observation")).await,
        sorted(vec![first.clone(), second.clone(), third.clone()])
    );
    let response = as_user(
        app,
        &admin,
        Method::GET,
        &format!("/fhir/R4/{encounter}/Observation"),
        None,
    )
    .await;
    let self_link = response.json()["link"][0]["url"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        self_link.contains(&format!("/{encounter}/Observation")),
        "{self_link}"
    );
    // A physician without the patient's consent sees nothing of the patient's encounter...
    let of_encounter = format!("/fhir/R4/{encounter}/Observation");
    assert!(
        search(doctor.clone(), of_encounter.clone())
            .await
            .is_empty()
    );
    let of_practitioner = format!("/fhir/R4/{practitioner}/Observation");
    assert!(
        search(doctor.clone(), of_practitioner.clone())
            .await
            .is_empty()
    );
    // ... and with it (positive control), the same as the admin.
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = as_user(app, &patient_a, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(
        search(doctor.clone(), of_encounter).await,
        sorted(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        search(doctor.clone(), of_practitioner).await,
        sorted(vec![first, third])
    );
    // Types outside a compartment, and compartments R4 does not define.
    let response = app.get(&format!("/fhir/R4/{encounter}/Organization")).await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    let response = app.get(&format!("/fhir/R4/{encounter}/Encounter")).await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    let response = app.get("/fhir/R4/Organization/x/Observation").await;
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{}",
        response.text()
    );
}

const PROFILE: &str = "http://example.org/fhir/StructureDefinition/vitals";
const CODES: &str = "http://example.org/fhir/ValueSet/vital-codes";
const FILTERED: &str = "http://example.org/fhir/ValueSet/filtered";

/// A small constraint profile shaped like US Core's vital signs (category sliced by pattern,
/// a required binding, a fixed code, a prohibited element, an identifier sliced by system, a
/// choice slice) and the value sets it binds to.
async fn store_profile(app: &TestApp) {
    let value_set = json!({"resourceType": "ValueSet", "url": CODES, "status": "active",
        "compose": {"include": [{"system": "http://loinc.org",
            "concept": [{"code": "8867-4"}, {"code": "29463-7"}]}]}});
    created(app, &value_set).await;
    let filtered = json!({"resourceType": "ValueSet", "url": FILTERED, "status": "active",
        "compose": {"include": [{"system": "http://snomed.info/sct",
            "filter": [{"property": "concept", "op": "is-a", "value": "272391002"}]}]}});
    created(app, &filtered).await;
    let element = |id: &str, extra: Value| {
        let path: String = id
            .split('.')
            .map(|segment| segment.split(':').next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(".");
        let mut element = json!({"id": id, "path": path});
        if let (Some(element), Value::Object(extra)) = (element.as_object_mut(), extra) {
            element.extend(extra);
        }
        element
    };
    let definition = json!({
        "resourceType": "StructureDefinition", "url": PROFILE, "version": "1.0",
        "name": "TestVitals", "status": "active", "kind": "resource", "abstract": false,
        "type": "Observation", "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "differential": {"element": [
            element("Observation", json!({})),
            element("Observation.identifier", json!({"slicing": {"rules": "open",
                "discriminator": [{"type": "value", "path": "system"}]}})),
            element("Observation.identifier:mrn", json!({"sliceName": "mrn", "min": 1, "max": "1"})),
            element("Observation.identifier:mrn.system", json!({"min": 1,
                "fixedUri": "urn:example:mrn"})),
            element("Observation.status", json!({"fixedCode": "final"})),
            element("Observation.category", json!({"min": 1, "slicing": {"rules": "open",
                "discriminator": [{"type": "pattern", "path": "$this"}]}})),
            element("Observation.category:VSCat", json!({"sliceName": "VSCat", "min": 1,
                "max": "1", "patternCodeableConcept": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs"}]}})),
            element("Observation.code", json!({"binding": {"strength": "required",
                "valueSet": CODES}})),
            element("Observation.subject", json!({"min": 1})),
            element("Observation.issued", json!({"max": "0"})),
            element("Observation.method", json!({"binding": {"strength": "required",
                "valueSet": FILTERED}})),
            element("Observation.value[x]", json!({"slicing": {"rules": "open",
                "discriminator": [{"type": "type", "path": "$this"}]}})),
            element("Observation.value[x]:valueQuantity", json!({"sliceName": "valueQuantity"})),
            element("Observation.value[x]:valueQuantity.system", json!({
                "fixedUri": "http://unitsofmeasure.org"})),
        ]},
    });
    created(app, &definition).await;
}

fn conforming(patient: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "meta": {"profile": [PROFILE]},
        "identifier": [{"system": "urn:other", "value": "x"},
            {"system": "urn:example:mrn", "value": "1"}],
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
            "code": "/min"}})
}

/// The same Observation breaking each constraint of the profile once.
fn nonconforming(patient: &str) -> Value {
    let mut bad = conforming(patient);
    bad["status"] = json!("preliminary");
    bad["identifier"] = json!([{"system": "urn:other", "value": "x"}]);
    bad["category"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "laboratory"}]}]);
    bad["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "2339-0"}]});
    bad["issued"] = json!("2024-01-01T00:00:00Z");
    bad["valueQuantity"]["system"] = json!("urn:not-ucum");
    bad
}

/// `(severity, code, expression)` of each issue of an OperationOutcome answered with 200.
fn issues(response: &TestResponse) -> Vec<(String, String, String)> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|issue| {
            (
                issue["severity"].as_str().unwrap_or("").to_owned(),
                issue["code"].as_str().unwrap_or("").to_owned(),
                issue["expression"][0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn errors(found: &[(String, String, String)]) -> Vec<(String, String)> {
    let mut errors: Vec<(String, String)> = found
        .iter()
        .filter(|(severity, _, _)| severity == "error")
        .map(|(_, code, expression)| (code.clone(), expression.clone()))
        .collect();
    errors.sort();
    errors
}

fn pair(code: &str, expression: &str) -> (String, String) {
    (code.to_owned(), expression.to_owned())
}

async fn validate_checks_base_definitions_and_stored_profiles(app: &TestApp) {
    store_profile(app).await;
    let patient = app.create_patient().await;
    let parameters = |resource: Value, profile: Option<&str>| {
        let mut parameter = vec![json!({"name": "resource", "resource": resource})];
        if let Some(profile) = profile {
            parameter.push(json!({"name": "profile", "valueUri": profile}));
        }
        parameter.push(json!({"name": "mode", "valueCode": "create"}));
        json!({"resourceType": "Parameters", "parameter": parameter})
    };
    let before = app.versions_written().await;
    // A conforming resource: no error, one informational issue at least.
    let plain = {
        let mut plain = conforming(&patient);
        plain.as_object_mut().expect("object").remove("meta");
        plain
    };
    let ok = app
        .post(
            "/fhir/R4/Observation/$validate",
            &parameters(plain.clone(), Some(PROFILE)),
        )
        .await;
    let found = issues(&ok);
    assert!(errors(&found).is_empty(), "{found:?}");
    assert!(
        found
            .iter()
            .any(|(severity, _, _)| severity == "information")
    );
    // The resource as the body, its meta.profile naming the profile (also `url|version`).
    let ok = app
        .post("/fhir/R4/Observation/$validate", &conforming(&patient))
        .await;
    assert!(errors(&issues(&ok)).is_empty(), "{}", ok.text());
    let mut versioned = conforming(&patient);
    versioned["meta"]["profile"] = json!([format!("{PROFILE}|1.0")]);
    let ok = app.post("/fhir/R4/Observation/$validate", &versioned).await;
    assert!(errors(&issues(&ok)).is_empty(), "{}", ok.text());
    // Each profile constraint broken once: each reported where it is.
    let response = app
        .post(
            "/fhir/R4/Observation/$validate",
            &parameters(nonconforming(&patient), Some(PROFILE)),
        )
        .await;
    let found = issues(&response);
    assert_eq!(
        errors(&found),
        vec![
            pair("code-invalid", "Observation.code"),
            pair("required", "Observation.category"),
            pair("required", "Observation.identifier"),
            pair("structure", "Observation.issued"),
            pair("value", "Observation.status"),
            pair("value", "Observation.valueQuantity.system"),
        ],
        "{}",
        response.text()
    );
    let body = response.json();
    assert_eq!(body["issue"][0]["location"], body["issue"][0]["expression"]);
    // A value set that cannot be enumerated is said so, not failed.
    let mut with_method = conforming(&patient);
    with_method["method"] = json!({"coding": [{"system": "http://snomed.info/sct", "code": "1"}]});
    let found = issues(
        &app.post("/fhir/R4/Observation/$validate", &with_method)
            .await,
    );
    assert!(errors(&found).is_empty(), "{found:?}");
    assert!(
        found.contains(&(
            "warning".to_owned(),
            "not-supported".to_owned(),
            "Observation.method".to_owned()
        )),
        "{found:?}"
    );
    // The base definitions: an unknown element, a wrong primitive.
    let mut broken = plain.clone();
    broken["favouriteColour"] = json!("blue");
    broken["status"] = json!(7);
    let found = issues(&app.post("/fhir/R4/Observation/$validate", &broken).await);
    let expressions: Vec<String> = errors(&found).into_iter().map(|(_, e)| e).collect();
    assert!(
        expressions.iter().any(|e| e.contains("favouriteColour")),
        "{found:?}"
    );
    assert!(
        expressions.iter().any(|e| e.contains("status")),
        "{found:?}"
    );
    // A profile asked for that the server does not hold: validation ran, and says so.
    let found = issues(
        &app.post(
            "/fhir/R4/Observation/$validate",
            &parameters(plain.clone(), Some("http://example.org/none")),
        )
        .await,
    );
    assert_eq!(errors(&found), vec![pair("not-found", "")], "{found:?}");
    // Malformed requests are 4xx.
    let response = app
        .request(
            Method::POST,
            "/fhir/R4/Observation/$validate",
            &[("content-type", "application/fhir+json")],
            "{not json",
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    let response = app
        .post("/fhir/R4/Observation/$validate?mode=bogus", &plain)
        .await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    let response = app.post("/fhir/R4/Patient/$validate", &plain).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    let empty = json!({"resourceType": "Parameters", "parameter": []});
    let response = app.post("/fhir/R4/Observation/$validate", &empty).await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    let response = app
        .post("/fhir/R4/Observation/$validate?mode=delete", &plain)
        .await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    // Validation writes nothing.
    assert_eq!(app.versions_written().await, before);
}

async fn meta_profile_is_enforced_on_write(app: &TestApp) {
    store_profile(app).await;
    let patient = app.create_patient().await;
    // Conforming: created; not conforming: 422 with the profile's issues, nothing stored.
    let id = created(app, &conforming(&patient)).await;
    let response = app
        .post("/fhir/R4/Observation", &nonconforming(&patient))
        .await;
    response.assert_outcome(StatusCode::UNPROCESSABLE_ENTITY, "required");
    let body = response.json();
    let expressions: Vec<&str> = body["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|issue| issue["expression"][0].as_str())
        .collect();
    assert!(expressions.contains(&"Observation.issued"), "{body}");
    let mut versioned = nonconforming(&patient);
    versioned["meta"]["profile"] = json!([format!("{PROFILE}|1.0")]);
    let response = app.post("/fhir/R4/Observation", &versioned).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text()
    );
    // An update is checked the same way.
    let mut update = nonconforming(&patient);
    update["id"] = json!(id.trim_start_matches("Observation/"));
    let response = app.put(&format!("/fhir/R4/{id}"), &update).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text()
    );
    // And inside a transaction.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": nonconforming(&patient),
        "request": {"method": "POST", "url": "Observation"}}]});
    let response = app.post("/fhir/R4", &bundle).await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.text()
    );
    // Without meta.profile, or naming a profile the server does not hold: accepted.
    let mut untagged = nonconforming(&patient);
    untagged.as_object_mut().expect("object").remove("meta");
    created(app, &untagged).await;
    let mut unknown = nonconforming(&patient);
    unknown["meta"]["profile"] = json!(["http://example.org/fhir/StructureDefinition/elsewhere"]);
    created(app, &unknown).await;
    let search = app
        .get(&format!(
            "/fhir/R4/Observation?subject=Patient/{patient}&_summary=count"
        ))
        .await;
    assert_eq!(search.json()["total"], 3, "{}", search.text());
}

async fn instance_validate_reads_through_the_consent_guard(app: &TestApp) {
    store_profile(app).await;
    let doctor = signed_in(&app.state, "doc18v@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a18v@test.local", Role::Patient).await;
    let me = |token: String| async move {
        as_user(app, &token, Method::GET, "/api/auth/me", None)
            .await
            .json()
    };
    let doctor_id = me(doctor.clone()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a = me(patient_a.clone()).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let reference = created(app, &conforming(&a)).await;
    let id = reference.trim_start_matches("Observation/").to_owned();
    let mut update = conforming(&a);
    update["id"] = json!(id);
    let path = format!("/fhir/R4/{reference}/$validate?mode=update");
    // Without consent: exactly what a read answers (nothing about the instance).
    let read = as_user(
        app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/{reference}"),
        None,
    )
    .await;
    assert!(
        [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&read.status),
        "{}",
        read.text()
    );
    let denied = as_user(app, &doctor, Method::POST, &path, Some(&update)).await;
    assert_eq!(denied.status, read.status, "{}", denied.text());
    assert!(!denied.text().contains(&a), "{}", denied.text());
    // With consent (positive control): validated.
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = as_user(app, &patient_a, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let allowed = as_user(app, &doctor, Method::POST, &path, Some(&update)).await;
    assert!(errors(&issues(&allowed)).is_empty(), "{}", allowed.text());
    // Update mode: the body's id must be the instance's.
    let mut other = update.clone();
    other["id"] = json!("someone-else");
    let found = issues(&app.post(&path, &other).await);
    assert_eq!(
        errors(&found),
        vec![pair("invalid", "Observation.id")],
        "{found:?}"
    );
    // Delete mode: no body; the instance must exist.
    let response = app
        .request(
            Method::POST,
            &format!("/fhir/R4/{reference}/$validate?mode=delete"),
            &[],
            axum::body::Body::empty(),
        )
        .await;
    let found = issues(&response);
    assert!(errors(&found).is_empty(), "{found:?}");
    let response = app
        .request(
            Method::POST,
            "/fhir/R4/Observation/missing/$validate?mode=delete",
            &[],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{}",
        response.text()
    );
}
