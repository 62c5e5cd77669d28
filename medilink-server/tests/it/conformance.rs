//! Issue #18: FHIR conformance, round two — what real clients (fhirpy, HAPI's client) send.
//! Each scenario runs on SQLite and, when `MEDILINK_TEST_POSTGRES_URL` is set, on PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{TestApp, TestResponse, as_user, patient, signed_in};

on_both_backends!(the_base_with_a_trailing_slash_takes_bundles);
on_both_backends!(relative_references_resolve_against_absolute_full_urls);
on_both_backends!(etag_preconditions_follow_rfc_9110);
on_both_backends!(criteria_in_the_create_url_make_a_conditional_create);
on_both_backends!(a_partial_resource_patch_names_the_supported_format);
on_both_backends!(searches_and_metadata_run_inside_bundles);
on_both_backends!(binaries_are_served_and_taken_in_their_native_form);
on_both_backends!(compartment_searches_answer_like_the_type_search);
on_both_backends!(system_search_spans_the_types);

async fn app_on(url: &str) -> TestApp {
    TestApp::on(&SqlOptions::new(url), Limits::default()).await
}

/// The path of an absolute URL of the test server.
fn local(url: &str) -> &str {
    url.strip_prefix("http://test.local").expect("same origin")
}

async fn the_base_with_a_trailing_slash_takes_bundles(app: &TestApp) {
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8f3c3a4e-0000-4000-8000-000000000009", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}}
    ]});
    let response = app.post("/fhir/R4/", &bundle).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["type"], "transaction-response");
    assert_eq!(body["entry"][0]["response"]["status"], "201 Created");
    let mut batch = bundle.clone();
    batch["type"] = json!("batch");
    let response = app.post("/fhir/R4/", &batch).await;
    assert_eq!(response.json()["type"], "batch-response");
    // Anything but a batch or transaction is refused there as at the base without a slash.
    app.post("/fhir/R4/", &patient())
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    // GET answers as on the base without the slash.
    let without = app.get("/fhir/R4").await;
    let with = app.get("/fhir/R4/").await;
    assert_eq!(with.status, without.status, "{}", with.text());
    assert_eq!(app.versions_written().await, 2);
}

async fn relative_references_resolve_against_absolute_full_urls(app: &TestApp) {
    // As fhirpy and the R4 examples write transactions: absolute fullUrls, relative references.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "http://example.com/fhir/Observation/1", "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/0"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "http://example.com/fhir/Patient/0", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "http://example.com/fhir/Observation/2", "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "http://example.com/fhir/Patient/0"}},
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let response = app.post("/fhir/R4", &bundle).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let entries = response.json()["entry"].clone();
    let patient_url = entries[1]["fullUrl"].as_str().expect("fullUrl");
    let patient_ref = patient_url
        .strip_prefix("http://test.local/fhir/R4/")
        .expect("base");
    assert_ne!(patient_ref, "Patient/0");
    for index in [0, 2] {
        let location = entries[index]["response"]["location"]
            .as_str()
            .expect("location");
        let observation = app.get(local(location)).await.json();
        assert_eq!(observation["subject"]["reference"], patient_ref, "{index}");
    }
    // A relative reference naming no entry stays as written (and must then exist).
    let unknown: Value = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "http://example.com/fhir/Observation/3", "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": patient_ref}},
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let response = app
        .send_json(
            Method::POST,
            "/fhir/R4",
            &unknown,
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json()["entry"][0]["resource"]["subject"]["reference"],
        patient_ref
    );
}

async fn etag_preconditions_follow_rfc_9110(app: &TestApp) {
    let id = app.create_patient().await;
    let path = format!("/fhir/R4/Patient/{id}");
    let mut body = patient();
    body["id"] = json!(id);
    let put = |headers: &'static [(&'static str, &'static str)], body: Value| {
        let path = path.clone();
        async move { app.send_json(Method::PUT, &path, &body, headers).await }
    };
    // If-None-Match: * on an existing resource: 412, nothing written.
    put(&[("if-none-match", "*")], body.clone())
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    assert_eq!(app.versions_written().await, 1);
    // … and on a new id: created.
    let mut fresh = patient();
    fresh["id"] = json!("fresh-one");
    let response = app
        .send_json(
            Method::PUT,
            "/fhir/R4/Patient/fresh-one",
            &fresh,
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    // Conditional read: the current version is 304 without a body, another version 200.
    let read = app
        .request(
            Method::GET,
            &path,
            &[("if-none-match", "W/\"1\"")],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(read.status, StatusCode::NOT_MODIFIED, "{}", read.text());
    assert!(read.body.is_empty());
    assert_eq!(read.header("etag"), "W/\"1\"");
    let read = app
        .request(
            Method::GET,
            &path,
            &[("if-none-match", "W/\"7\"")],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["id"], id.as_str());
    // If-Match: * and lists are accepted.
    let response = put(&[("if-match", "*")], body.clone()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("etag"), "W/\"2\"");
    let response = put(&[("if-match", "W/\"1\", W/\"2\"")], body.clone()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("etag"), "W/\"3\"");
    // A list without the current version, or * on nothing: 412.
    put(&[("if-match", "W/\"1\", W/\"2\"")], body.clone())
        .await
        .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    let mut missing = patient();
    missing["id"] = json!("not-there");
    app.send_json(
        Method::PUT,
        "/fhir/R4/Patient/not-there",
        &missing,
        &[("if-match", "*")],
    )
    .await
    .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    // The CapabilityStatement says so.
    let metadata = app.get("/fhir/R4/metadata").await.json();
    assert_eq!(
        metadata["rest"][0]["resource"][0]["conditionalRead"],
        "not-match"
    );
    // Delete honours lists too; garbage is still 400.
    app.request(
        Method::DELETE,
        &path,
        &[("if-match", "W/\"9\"")],
        axum::body::Body::empty(),
    )
    .await
    .assert_outcome(StatusCode::PRECONDITION_FAILED, "conflict");
    put(&[("if-match", "three")], body.clone())
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "value");
    let response = app
        .request(
            Method::DELETE,
            &path,
            &[("if-match", "W/\"2\", W/\"3\"")],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

async fn criteria_in_the_create_url_make_a_conditional_create(app: &TestApp) {
    let mut body = patient();
    body["identifier"] = json!([{"system": "urn:test:mrn", "value": "c-18"}]);
    let url = "/fhir/R4/Patient?identifier=urn:test:mrn%7Cc-18";
    let first = app.post(url, &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let second = app.post(url, &body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(second.json()["id"], first.json()["id"]);
    assert_eq!(app.versions_written().await, 1);
    // The query string and a different If-None-Exist: refused, not guessed.
    app.send_json(
        Method::POST,
        url,
        &body,
        &[("if-none-exist", "identifier=urn:test:mrn|other")],
    )
    .await
    .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    // _format alone is no condition.
    let response = app.post("/fhir/R4/Patient?_format=json", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
}

async fn a_partial_resource_patch_names_the_supported_format(app: &TestApp) {
    let id = app.create_patient().await;
    // What fhirpy's `patch()` sends.
    let response = app
        .request(
            Method::PATCH,
            &format!("/fhir/R4/Patient/{id}"),
            &[("content-type", "application/json")],
            json!({"active": false}).to_string(),
        )
        .await;
    response.assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
    let text = response.json()["issue"][0]["diagnostics"].to_string();
    assert!(text.contains("application/json-patch+json"), "{text}");
    assert!(text.contains("not application/json"), "{text}");
    assert!(text.contains("FHIRPath Patch"), "{text}");
    assert_eq!(app.versions_written().await, 1);
}

async fn searches_and_metadata_run_inside_bundles(app: &TestApp) {
    let mut body = patient();
    body["identifier"] = json!([{"system": "urn:test:mrn", "value": "s-18"}]);
    let created = app.post("/fhir/R4/Patient", &body).await.json();
    app.create_patient().await;
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?identifier=urn:test:mrn%7Cs-18"}},
        {"request": {"method": "GET", "url": "metadata"}},
        {"request": {"method": "GET", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient?no-such-param=1"}}
    ]});
    let response = app
        .send_json(
            Method::POST,
            "/fhir/R4",
            &batch,
            &[("prefer", "handling=lenient")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let entries = response.json()["entry"].clone();
    assert_eq!(entries[0]["response"]["status"], "200 OK", "{entries}");
    let found = &entries[0]["resource"];
    assert_eq!(found["type"], "searchset");
    assert_eq!(found["entry"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["entry"][0]["resource"]["id"], created["id"]);
    assert_eq!(
        entries[1]["resource"]["resourceType"],
        "CapabilityStatement"
    );
    let all = entries[2]["resource"]["entry"].as_array().expect("entries");
    assert_eq!(all.len(), 2);
    // An unknown parameter is ignored with a warning, as in a plain search.
    assert_eq!(entries[3]["response"]["status"], "200 OK", "{entries}");
    // In a transaction, the search runs after the writes and sees them.
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient?identifier=urn:test:mrn%7Ct-18"}},
        {"fullUrl": "urn:uuid:8f3c3a4e-0000-4000-8000-000000000018", "resource": {
            "resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": "t-18"}]},
         "request": {"method": "POST", "url": "Patient"}}
    ]});
    let response = app.post("/fhir/R4", &transaction).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let entries = response.json()["entry"].clone();
    assert_eq!(entries[0]["resource"]["type"], "searchset", "{entries}");
    assert_eq!(
        entries[0]["resource"]["entry"][0]["resource"]["id"],
        entries[1]["fullUrl"]
            .as_str()
            .and_then(|url| url.rsplit('/').next())
            .expect("id"),
        "{entries}"
    );
    assert_eq!(entries[1]["response"]["status"], "201 Created");
    assert_eq!(app.versions_written().await, 3);
}

async fn binaries_are_served_and_taken_in_their_native_form(app: &TestApp) {
    let pdf: &[u8] = b"%PDF-1.4 synthetic test bytes \x00\x01\x02";
    let created = app
        .request(
            Method::POST,
            "/fhir/R4/Binary",
            &[("content-type", "application/pdf")],
            pdf.to_vec(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let binary = created.json();
    assert_eq!(binary["resourceType"], "Binary");
    assert_eq!(binary["contentType"], "application/pdf");
    let id = binary["id"].as_str().expect("id").to_owned();
    let path = format!("/fhir/R4/Binary/{id}");
    let native = |accept: &'static str, path: String| async move {
        app.request(
            Method::GET,
            &path,
            &[("accept", accept)],
            axum::body::Body::empty(),
        )
        .await
    };
    let raw = native("application/pdf", path.clone()).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.text());
    assert_eq!(raw.header("content-type"), "application/pdf");
    assert_eq!(raw.body, pdf);
    // FHIR JSON stays the default, with the data as base64.
    let json_read = app.get(&path).await;
    assert_eq!(json_read.json()["contentType"], "application/pdf");
    assert!(json_read.json()["data"].is_string());
    // A type the Binary is not: 406; an unknown id: 404, not 406.
    native("image/png", path.clone())
        .await
        .assert_outcome(StatusCode::NOT_ACCEPTABLE, "not-supported");
    native("application/pdf", "/fhir/R4/Binary/nope".to_owned())
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    // PUT with a raw body: a new version with that contentType.
    let updated = app
        .request(
            Method::PUT,
            &path,
            &[("content-type", "application/octet-stream")],
            vec![1_u8, 2, 3],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.json()["contentType"], "application/octet-stream");
    let raw = native("application/octet-stream", path.clone()).await;
    assert_eq!(raw.body, vec![1_u8, 2, 3]);
    let old = native("application/pdf", format!("{path}/_history/1")).await;
    assert_eq!(old.body, pdf);
    // Other types still take FHIR JSON only.
    app.request(
        Method::POST,
        "/fhir/R4/Patient",
        &[("content-type", "application/pdf")],
        pdf.to_vec(),
    )
    .await
    .assert_outcome(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported");
}

/// The ids of a searchset's `match` entries, sorted.
fn matched_ids(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let mut ids: Vec<String> = response.json()["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["search"]["mode"] == "match")
                .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn compartment_searches_answer_like_the_type_search(app: &TestApp) {
    let doctor = signed_in(&app.state, "doc18@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a18@test.local", Role::Patient).await;
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
    let b = app.create_patient().await;
    let observation = |patient: &str, code: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{patient}")}})
    };
    let mut ids = Vec::new();
    for (patient, code) in [(&a, "8867-4"), (&a, "29463-7"), (&b, "8867-4")] {
        let response = app
            .post("/fhir/R4/Observation", &observation(patient, code))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        ids.push(response.json()["id"].as_str().expect("id").to_owned());
    }
    let compare = |token: String, query: &'static str, patient: String| async move {
        let compartment = as_user(
            app,
            &token,
            Method::GET,
            &format!("/fhir/R4/Patient/{patient}/Observation{query}"),
            None,
        )
        .await;
        let separator = if query.is_empty() { "?" } else { "&" };
        let by_type = as_user(
            app,
            &token,
            Method::GET,
            &format!("/fhir/R4/Observation{query}{separator}patient={patient}"),
            None,
        )
        .await;
        let found = matched_ids(&compartment);
        assert_eq!(found, matched_ids(&by_type), "{query}");
        found
    };
    // The admin sees everything: the compartment narrows to the patient and the criteria.
    let mut of_a = vec![ids[0].clone(), ids[1].clone()];
    of_a.sort();
    assert_eq!(compare(app.token.clone(), "", a.clone()).await, of_a);
    assert_eq!(
        compare(app.token.clone(), "?code=29463-7", a.clone()).await,
        vec![ids[1].clone()]
    );
    assert_eq!(
        compare(app.token.clone(), "", b.clone()).await,
        vec![ids[2].clone()]
    );
    // A physician without consent sees nothing of A either way; with A's consent, A's data.
    assert!(compare(doctor.clone(), "", a.clone()).await.is_empty());
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = as_user(app, &patient_a, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(compare(doctor.clone(), "", a.clone()).await, of_a);
    assert!(compare(doctor.clone(), "", b.clone()).await.is_empty());
    // The patient sees their own compartment.
    assert_eq!(compare(patient_a.clone(), "", a.clone()).await, of_a);
    // Only the R4 compartments (the others are in `conformance_three`), only types in them.
    let response = app.get(&format!("/fhir/R4/Patient/{a}/Organization")).await;
    response.assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    let response = app
        .get(&format!("/fhir/R4/Organization/{a}/Observation"))
        .await;
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{}",
        response.text()
    );
}

async fn system_search_spans_the_types(app: &TestApp) {
    let patient_id = app.create_patient().await;
    let tagged = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "meta": {"tag": [{"system": "urn:test:tag", "code": "t18"}]},
        "subject": {"reference": format!("Patient/{patient_id}")}});
    let observation = app.post("/fhir/R4/Observation", &tagged).await.json();
    let observation_id = observation["id"].as_str().expect("id").to_owned();
    let mut org = json!({"resourceType": "Organization", "name": "Synthetic Org"});
    org["meta"] = tagged["meta"].clone();
    let org_id = app.post("/fhir/R4/Organization", &org).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ids = |response: &TestResponse| {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json()["type"], "searchset");
        matched_ids(response)
    };
    let mut both = vec![observation_id.clone(), org_id.clone()];
    both.sort();
    assert_eq!(
        ids(&app.get("/fhir/R4?_tag=urn:test:tag%7Ct18").await),
        both
    );
    assert_eq!(
        ids(&app.get("/fhir/R4/?_tag=urn:test:tag%7Ct18").await),
        both
    );
    assert_eq!(
        ids(&app.get(&format!("/fhir/R4?_id={patient_id}")).await),
        vec![patient_id.clone()]
    );
    assert_eq!(
        ids(&app
            .get("/fhir/R4?_tag=urn:test:tag%7Ct18&_type=Organization")
            .await),
        vec![org_id.clone()]
    );
    let all = ids(&app.get("/fhir/R4?_lastUpdated=ge2024-01-01").await);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(ids(&app.get("/fhir/R4?_lastUpdated=lt2023-01-01").await).is_empty());
    // A page that is full links to the next one.
    let page = app.get("/fhir/R4?_lastUpdated=ge2024-01-01&_count=2").await;
    assert_eq!(ids(&page).len(), 2);
    assert!(page.text().contains("\"next\""), "{}", page.text());
    // Type-specific parameters are refused, not ignored.
    app.get("/fhir/R4?name=x")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "not-supported");
    // Consent applies type by type: a physician without consent finds nothing of the patient's.
    let doctor = signed_in(&app.state, "doc18s@test.local", Role::Physician).await;
    let response = as_user(
        app,
        &doctor,
        Method::GET,
        "/fhir/R4?_tag=urn:test:tag%7Ct18",
        None,
    )
    .await;
    assert!(!ids(&response).contains(&observation_id));
}
