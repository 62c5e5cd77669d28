//! Issue #18, the rest of round two: what the first pass left partial (atomic
//! `If-None-Match: *`, the lenient `self` link, versioned canonicals, `$everything` paging and
//! filters, paged system search). Each scenario runs on SQLite and, when
//! `MEDILINK_TEST_POSTGRES_URL` is set, on PostgreSQL.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, patient};

on_both_backends!(if_none_match_star_creates_at_most_once);
on_both_backends!(the_self_link_shows_the_parameters_used);
on_both_backends!(versioned_canonicals_find_that_version);
on_both_backends!(everything_pages_and_filters);
on_both_backends!(system_search_pages_across_types);
on_both_backends!(fhirpath_patch_beside_json_patch);
on_both_backends!(includes_are_shaped_and_totals_estimated);

pub(crate) async fn app_on(url: &str) -> TestApp {
    TestApp::on(&SqlOptions::new(url), Limits::default()).await
}

/// The path of an absolute URL of the test server.
pub(crate) fn local(url: &str) -> &str {
    url.strip_prefix("http://test.local").expect("same origin")
}

/// The URL of a Bundle's link with `relation`.
pub(crate) fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|link| link["relation"] == relation)
        .and_then(|link| link["url"].as_str())
        .map(str::to_owned)
}

/// The `Type/id` of a searchset's entries with a resource, in order.
pub(crate) fn references(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["search"]["mode"] != "outcome")
                .map(|entry| {
                    format!(
                        "{}/{}",
                        entry["resource"]["resourceType"].as_str().unwrap_or(""),
                        entry["resource"]["id"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Creates `body` and returns its `Type/id`.
pub(crate) async fn created(app: &TestApp, body: &Value) -> String {
    let resource_type = body["resourceType"].as_str().expect("type");
    let response = app.post(&format!("/fhir/R4/{resource_type}"), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    format!(
        "{resource_type}/{}",
        response.json()["id"].as_str().expect("id")
    )
}

async fn if_none_match_star_creates_at_most_once(app: &TestApp) {
    let put = |id: &'static str| async move {
        let mut body = patient();
        body["id"] = json!(id);
        let path = format!("/fhir/R4/Patient/{id}");
        app.send_json(Method::PUT, &path, &body, &[("if-none-match", "*")])
            .await
    };
    // Two creates of one new id at once: one wins, the other is 412, one version written.
    let (first, second) = tokio::join!(put("race-18"), put("race-18"));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::PRECONDITION_FAILED],
        "{} / {}",
        first.text(),
        second.text()
    );
    assert_eq!(app.versions_written().await, 1);
    // A deleted resource has no current representation: If-None-Match: * writes it again.
    assert_eq!(
        app.delete("/fhir/R4/Patient/race-18").await.status,
        StatusCode::OK
    );
    let again = put("race-18").await;
    assert!(again.status.is_success(), "{}", again.text());
    assert_eq!(
        app.get("/fhir/R4/Patient/race-18").await.status,
        StatusCode::OK
    );
    // And now that it is live again, 412 with nothing written.
    let written = app.versions_written().await;
    put("race-18")
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    assert_eq!(app.versions_written().await, written);
}

async fn the_self_link_shows_the_parameters_used(app: &TestApp) {
    app.create_patient().await;
    let response = app
        .get("/fhir/R4/Patient?no-such-param=1&gender=male&_count=5")
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let bundle = response.json();
    let own = link(&bundle, "self").expect("self");
    assert!(!own.contains("no-such-param"), "{own}");
    assert!(own.contains("gender=male"), "{own}");
    assert!(own.contains("_count=5"), "{own}");
    // The dropped parameter is reported, so the client can tell.
    assert!(
        response.text().contains("no-such-param"),
        "{}",
        response.text()
    );
    // Under strict handling it is refused instead.
    app.send_json(
        Method::GET,
        "/fhir/R4/Patient?no-such-param=1",
        &Value::Null,
        &[("prefer", "handling=strict")],
    )
    .await
    .assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
}

async fn versioned_canonicals_find_that_version(app: &TestApp) {
    let value_set = |version: &str| {
        json!({"resourceType": "ValueSet", "status": "active",
            "url": "http://example.org/fhir/ValueSet/vs-18", "version": version})
    };
    let old = created(app, &value_set("1.2.3")).await;
    let new = created(app, &value_set("2.0.0")).await;
    created(
        app,
        &json!({"resourceType": "ValueSet", "status": "active",
        "url": "http://example.org/fhir/ValueSet/other", "version": "1.2.3"}),
    )
    .await;
    let search =
        |query: &'static str| async move { app.get(&format!("/fhir/R4/ValueSet?{query}")).await };
    let url = "url=http://example.org/fhir/ValueSet/vs-18";
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    let mut all = references(&search("url=http://example.org/fhir/ValueSet/vs-18").await);
    all.sort();
    assert_eq!(all, both, "{url}");
    assert_eq!(
        references(&search("url=http://example.org/fhir/ValueSet/vs-18%7C1.2.3").await),
        vec![old.clone()]
    );
    assert_eq!(
        references(&search("url=http://example.org/fhir/ValueSet/vs-18%7C2.0.0").await),
        vec![new]
    );
    assert!(references(&search("url=http://example.org/fhir/ValueSet/vs-18%7C9").await).is_empty());
}

async fn everything_pages_and_filters(app: &TestApp) {
    let patient_id = app.create_patient().await;
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": format!("Patient/{patient_id}")}});
    let mut observations = Vec::new();
    for _ in 0..3 {
        observations.push(created(app, &observation).await);
    }
    app.clock.advance(Duration::from_secs(600));
    let condition = json!({"resourceType": "Condition",
        "subject": {"reference": format!("Patient/{patient_id}")}});
    let later = created(app, &condition).await;
    let path = format!("/fhir/R4/Patient/{patient_id}/$everything");
    let whole = references(&app.get(&path).await);
    assert_eq!(whole.len(), 5, "{whole:?}");
    // Pages of two, linked by next, together the whole result.
    let mut paged = Vec::new();
    let mut url = format!("{path}?_count=2");
    let mut pages = 0;
    loop {
        let response = app.get(&url).await;
        let page = references(&response);
        assert!(page.len() <= 2, "{page:?}");
        assert_eq!(response.json()["total"], 5);
        paged.extend(page);
        pages += 1;
        match link(&response.json(), "next") {
            Some(next) => url = local(&next).to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, &paged), (3, &whole));
    // _type keeps those types; _since those updated since.
    let mut only = references(&app.get(&format!("{path}?_type=Observation")).await);
    only.sort();
    observations.sort();
    assert_eq!(only, observations);
    let since = references(
        &app.get(&format!("{path}?_since=2024-01-01T00:05:00Z"))
            .await,
    );
    assert_eq!(since, vec![later.clone()]);
    let both = references(
        &app.get(&format!(
            "{path}?_since=2024-01-01T00:05:00Z&_type=Condition,Patient"
        ))
        .await,
    );
    assert_eq!(both, vec![later]);
    // Bad input is a 400 naming it.
    app.get(&format!("{path}?_since=yesterday"))
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    app.get(&format!("{path}?_type=Nope"))
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
}

async fn system_search_pages_across_types(app: &TestApp) {
    let meta = json!({"tag": [{"system": "urn:test:tag", "code": "p18"}]});
    let mut expected = Vec::new();
    for resource_type in [
        "Organization",
        "Organization",
        "Observation",
        "Practitioner",
        "Practitioner",
    ] {
        let mut body = json!({"resourceType": resource_type, "meta": meta.clone()});
        if resource_type == "Observation" {
            body["status"] = json!("final");
            body["code"] = json!({"text": "x"});
        }
        expected.push(created(app, &body).await);
    }
    expected.sort();
    let mut found = Vec::new();
    let mut url = "/fhir/R4?_tag=urn:test:tag%7Cp18&_count=2".to_owned();
    let mut pages = 0;
    loop {
        let response = app.get(&url).await;
        let page = references(&response);
        assert!(page.len() <= 2 && !page.is_empty(), "{page:?} {url}");
        found.extend(page);
        pages += 1;
        assert!(pages <= 3, "{found:?}");
        match link(&response.json(), "next") {
            Some(next) => url = local(&next).to_owned(),
            None => break,
        }
    }
    found.sort();
    assert_eq!(found, expected);
    app.get("/fhir/R4?_tag=urn:test:tag%7Cp18&_cursor=garbage")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
}

async fn fhirpath_patch_beside_json_patch(app: &TestApp) {
    let mut body = patient();
    body["gender"] = json!("male");
    body["birthDate"] = json!("1970-01-01");
    let reference = created(app, &body).await;
    let path = format!("/fhir/R4/{reference}");
    let operation = |parts: Value| json!({"name": "operation", "part": parts});
    let patch = json!({"resourceType": "Parameters", "parameter": [
        operation(json!([{"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.gender"},
            {"name": "value", "valueCode": "female"}])),
        operation(json!([{"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "identifier"},
            {"name": "value", "valueIdentifier": {"system": "urn:test:mrn", "value": "fp-18"}}])),
        operation(json!([{"name": "type", "valueCode": "delete"},
            {"name": "path", "valueString": "Patient.birthDate"}]))
    ]});
    let send = |body: Value, headers: &'static [(&'static str, &'static str)]| {
        let path = path.clone();
        async move {
            let mut all = vec![("content-type", "application/fhir+json")];
            all.extend_from_slice(headers);
            app.request(Method::PATCH, &path, &all, body.to_string())
                .await
        }
    };
    let response = send(patch.clone(), &[("if-match", "W/\"1\"")]).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("etag"), "W/\"2\"");
    let stored = app.get(&path).await.json();
    assert_eq!(stored["gender"], "female");
    assert_eq!(stored["identifier"][0]["value"], "fp-18");
    assert!(stored.get("birthDate").is_none(), "{stored}");
    // The same patch against a stale version: 412, nothing written.
    send(patch.clone(), &[("if-match", "W/\"1\"")])
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    // A path that selects nothing to replace: 422; an unknown operation type: 400.
    let missing = json!({"resourceType": "Parameters", "parameter": [
        operation(json!([{"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.maritalStatus"},
            {"name": "value", "valueCodeableConcept": {"text": "x"}}]))]});
    send(missing, &[])
        .await
        .assert_outcome(StatusCode::UNPROCESSABLE_ENTITY, "processing");
    let unknown = json!({"resourceType": "Parameters", "parameter": [
        operation(json!([{"name": "type", "valueCode": "upsert"},
            {"name": "path", "valueString": "Patient"}]))]});
    send(unknown, &[])
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    // A result the validator refuses is refused (gender is a required binding).
    let bad = json!({"resourceType": "Parameters", "parameter": [
        operation(json!([{"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.gender"},
            {"name": "value", "valueCode": "none-such"}]))]});
    assert_eq!(send(bad, &[]).await.status, StatusCode::BAD_REQUEST);
    // A partial resource as FHIR JSON: 415 naming both formats.
    let response = send(json!({"resourceType": "Patient", "active": false}), &[]).await;
    response.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
    assert!(
        response.text().contains("FHIRPath Patch"),
        "{}",
        response.text()
    );
    // JSON Patch still works.
    let json_patch = json!([{"op": "replace", "path": "/gender", "value": "other"}]);
    let response = app
        .request(
            Method::PATCH,
            &path,
            &[("content-type", "application/json-patch+json")],
            json_patch.to_string(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(app.get(&path).await.json()["gender"], "other");
    assert_eq!(app.versions_written().await, 3);
}

async fn includes_are_shaped_and_totals_estimated(app: &TestApp) {
    let mut body = patient();
    body["gender"] = json!("female");
    body["birthDate"] = json!("1970-01-01");
    let patient_ref = created(app, &body).await;
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": patient_ref}});
    created(app, &observation).await;
    created(app, &observation).await;
    let included = |query: &'static str| async move {
        let response = app
            .get(&format!(
                "/fhir/R4/Observation?_include=Observation:subject&{query}"
            ))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let bundle = response.json();
        let entry = bundle["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|entry| entry["search"]["mode"] == "include")
            .expect("the included patient")
            .clone();
        (bundle, entry["resource"].clone())
    };
    // _elements keeps only the named elements (and the mandatory ones) of included resources.
    let (_, patient_resource) = included("_elements=status").await;
    assert!(
        patient_resource.get("birthDate").is_none(),
        "{patient_resource}"
    );
    assert!(
        patient_resource.get("gender").is_none(),
        "{patient_resource}"
    );
    assert_eq!(
        patient_resource["meta"]["tag"][0]["code"], "SUBSETTED",
        "{patient_resource}"
    );
    // _summary=true keeps summary elements (gender, birthDate) and tags them as subsetted.
    let (_, patient_resource) = included("_summary=true").await;
    assert_eq!(patient_resource["gender"], "female");
    assert_eq!(
        patient_resource["meta"]["tag"][0]["code"], "SUBSETTED",
        "{patient_resource}"
    );
    // Without either, the include is whole.
    let (_, whole) = included("_count=10").await;
    assert!(whole["meta"].get("tag").is_none(), "{whole}");
    // _total=estimate on a small table is the count.
    let (bundle, _) = included("_total=estimate").await;
    assert_eq!(bundle["total"], 2);
    let response = app
        .get("/fhir/R4/Observation?_total=estimate&_count=1")
        .await;
    assert_eq!(response.json()["total"], 2, "{}", response.text());
    // The CapabilityStatement says what is implemented.
    let metadata = app.get("/fhir/R4/metadata").await.json();
    assert_eq!(
        metadata["patchFormat"],
        json!(["application/json-patch+json", "application/fhir+json"])
    );
    let rest = &metadata["rest"][0];
    assert!(rest["security"]["description"].is_string());
    let resource = |name: &str| {
        rest["resource"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|resource| resource["type"] == name)
            .expect("type")
            .clone()
    };
    let operations = |name: &str| {
        let mut found: Vec<(String, String)> = resource(name)["operation"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|op| {
                (
                    op["name"].as_str().unwrap_or("").to_owned(),
                    op["definition"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        operations("Observation"),
        vec![
            (
                "lastn".to_owned(),
                "http://hl7.org/fhir/OperationDefinition/Observation-lastn".to_owned()
            ),
            (
                "stats".to_owned(),
                "http://hl7.org/fhir/OperationDefinition/Observation-stats".to_owned()
            ),
            (
                "validate".to_owned(),
                "http://hl7.org/fhir/OperationDefinition/Resource-validate".to_owned()
            ),
        ]
    );
    assert!(operations("Patient").contains(&(
        "everything".to_owned(),
        "http://hl7.org/fhir/OperationDefinition/Patient-everything".to_owned()
    )));
    let has_list = |params: &Value| {
        params
            .as_array()
            .into_iter()
            .flatten()
            .any(|param| param["name"] == "_list")
    };
    assert!(has_list(&resource("Observation")["searchParam"]));
    assert!(has_list(&rest["searchParam"]));
}
