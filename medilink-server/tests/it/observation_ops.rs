//! Issue #18: `Observation/$lastn`, `Observation/$stats` and `_list`, consent-gated like every read (a
//! physician without the patient's consent gets nothing; with it, what the admin gets). Each
//! scenario runs on SQLite and, when `MEDILINK_TEST_POSTGRES_URL` is set, on PostgreSQL.

use axum::http::{Method, StatusCode};
use medilink_platform::Role;
use serde_json::{Value, json};

use crate::conformance_two::{app_on, created};
use crate::support::{TestApp, TestResponse, as_user, signed_in};

on_both_backends!(lastn_and_stats_follow_consent);
on_both_backends!(list_searches_follow_consent);

/// The ids of a searchset's `match` entries, in order.
fn matched(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["search"]["mode"] == "match")
                .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The statistic components of a `$stats` answer: per statistic Observation, `code → value`.
fn statistics(response: &TestResponse) -> Vec<Vec<(String, f64)>> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["resourceType"], "Parameters");
    body["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|parameter| parameter["name"] == "statistic")
        .map(|parameter| {
            parameter["resource"]["component"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|component| {
                    (
                        component["code"]["coding"][0]["code"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                        component["valueQuantity"]["value"]
                            .as_f64()
                            .unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .collect()
}

async fn lastn_and_stats_follow_consent(app: &TestApp) {
    let doctor = signed_in(&app.state, "doc18l@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a18l@test.local", Role::Patient).await;
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
    let observation = |patient: &str, code: &str, category: &str, day: u32, value: f64| {
        json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "effectiveDateTime": format!("2024-02-{day:02}T08:00:00Z"),
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}})
    };
    let id = |reference: String| reference.rsplit('/').next().expect("id").to_owned();
    // Created out of date order: $lastn orders by the effective time, not by creation.
    let x2 = id(created(app, &observation(&a, "2345-7", "laboratory", 2, 2.0)).await);
    let x3 = id(created(app, &observation(&a, "2345-7", "laboratory", 3, 6.0)).await);
    let x1 = id(created(app, &observation(&a, "2345-7", "laboratory", 1, 1.0)).await);
    let y1 = id(created(app, &observation(&a, "8867-4", "vital-signs", 1, 70.0)).await);
    let y2 = id(created(app, &observation(&a, "8867-4", "vital-signs", 5, 80.0)).await);
    created(app, &observation(&b, "2345-7", "laboratory", 9, 9.0)).await;
    let lastn = |token: String, query: String| async move {
        matched(
            &as_user(
                app,
                &token,
                Method::GET,
                &format!("/fhir/R4/Observation/$lastn?{query}"),
                None,
            )
            .await,
        )
    };
    let admin = app.token.clone();
    // Latest two per code, newest first within a code; only patient A's.
    let all = lastn(admin.clone(), format!("patient={a}&max=2")).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let (first, second) = all.split_at(2);
    let mut groups = [first.to_vec(), second.to_vec()];
    groups.sort();
    let mut expected = [vec![x3.clone(), x2.clone()], vec![y2.clone(), y1.clone()]];
    expected.sort();
    assert_eq!(groups, expected);
    assert_eq!(lastn(admin.clone(), format!("patient={a}")).await.len(), 2);
    assert_eq!(
        lastn(admin.clone(), format!("patient={a}&category=laboratory")).await,
        vec![x3.clone()]
    );
    assert_eq!(
        lastn(
            admin.clone(),
            format!("subject=Patient/{a}&code=http://loinc.org%7C8867-4&max=5")
        )
        .await,
        vec![y2.clone(), y1.clone()]
    );
    let _ = &x1;
    // patient or subject is required; max must be positive.
    app.get("/fhir/R4/Observation/$lastn?max=2")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "required");
    app.get(&format!("/fhir/R4/Observation/$lastn?patient={a}&max=0"))
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    app.get(&format!("/fhir/R4/Patient/$lastn?patient={a}"))
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-supported");
    // $stats over A's glucose: count, minimum, maximum, average, median, last.
    let stats_query = format!("subject=Patient/{a}&code=2345-7&system=http://loinc.org");
    let stats = |token: String, query: String| async move {
        statistics(
            &as_user(
                app,
                &token,
                Method::GET,
                &format!("/fhir/R4/Observation/$stats?{query}"),
                None,
            )
            .await,
        )
    };
    let found = stats(admin.clone(), stats_query.clone()).await;
    let expected_stats = vec![vec![
        ("count".to_owned(), 3.0),
        ("minimum".to_owned(), 1.0),
        ("maximum".to_owned(), 6.0),
        ("average".to_owned(), 3.0),
        ("median".to_owned(), 2.0),
        ("last".to_owned(), 6.0),
    ]];
    assert_eq!(found, expected_stats);
    let chosen = stats(
        admin.clone(),
        format!("{stats_query}&statistic=sum,maximum"),
    )
    .await;
    assert_eq!(
        chosen,
        vec![vec![("sum".to_owned(), 9.0), ("maximum".to_owned(), 6.0)]]
    );
    app.get(&format!(
        "/fhir/R4/Observation/$stats?{stats_query}&statistic=mode"
    ))
    .await
    .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    app.get("/fhir/R4/Observation/$stats?code=2345-7")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "required");
    // A physician without consent: nothing of A, by either operation.
    assert!(
        lastn(doctor.clone(), format!("patient={a}&max=5"))
            .await
            .is_empty()
    );
    assert!(stats(doctor.clone(), stats_query.clone()).await.is_empty());
    // With A's consent: what the admin sees.
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = as_user(app, &patient_a, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(
        lastn(doctor.clone(), format!("patient={a}&max=2")).await,
        all
    );
    assert_eq!(
        stats(doctor.clone(), stats_query.clone()).await,
        expected_stats
    );
    // … and still nothing of B.
    assert!(
        lastn(doctor.clone(), format!("patient={b}"))
            .await
            .is_empty()
    );
    // The patient reads their own.
    assert_eq!(
        lastn(patient_a.clone(), format!("patient={a}&max=2")).await,
        all
    );
}

async fn list_searches_follow_consent(app: &TestApp) {
    let doctor = signed_in(&app.state, "doc18list@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a18list@test.local", Role::Patient).await;
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
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": format!("Patient/{a}")}});
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(created(app, &observation).await);
    }
    let entries = |references: &[String]| -> Vec<Value> {
        references
            .iter()
            .map(|r| json!({"item": {"reference": r}}))
            .collect()
    };
    let mut listed = members[..2].to_vec();
    listed.push(format!("Patient/{a}"));
    let of_a = created(
        app,
        &json!({"resourceType": "List", "status": "current", "mode": "working",
        "subject": {"reference": format!("Patient/{a}")}, "entry": entries(&listed)}),
    )
    .await;
    // A List about no patient, naming A's observations.
    let general = created(
        app,
        &json!({"resourceType": "List", "status": "current",
        "mode": "working", "entry": entries(&members[..2])}),
    )
    .await;
    let id = |reference: &str| reference.rsplit('/').next().expect("id").to_owned();
    let (of_a, general) = (id(&of_a), id(&general));
    let mut expected: Vec<String> = members[..2].iter().map(|r| id(r)).collect();
    expected.sort();
    let search = |token: String, uri: String| async move {
        let response = as_user(app, &token, Method::GET, &uri, None).await;
        let mut ids = matched(&response);
        ids.sort();
        ids
    };
    let admin = app.token.clone();
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4/Observation?_list={of_a}")).await,
        expected
    );
    assert_eq!(
        search(
            admin.clone(),
            format!("/fhir/R4/Observation?_list={general}")
        )
        .await,
        expected
    );
    // At the system level, every type of the List's entries.
    let mut everything = expected.clone();
    everything.push(a.clone());
    everything.sort();
    assert_eq!(
        search(admin.clone(), format!("/fhir/R4?_list={of_a}")).await,
        everything
    );
    // Combined with other criteria, and an unknown List: nothing.
    assert!(
        search(
            admin.clone(),
            format!("/fhir/R4/Observation?_list={of_a}&status=amended")
        )
        .await
        .is_empty()
    );
    assert!(
        search(
            admin.clone(),
            "/fhir/R4/Observation?_list=no-such-list".to_owned()
        )
        .await
        .is_empty()
    );
    app.get("/fhir/R4/Observation?_list=$current-allergies")
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "invalid");
    // A physician without consent: neither List gives anything of A.
    assert!(
        search(doctor.clone(), format!("/fhir/R4/Observation?_list={of_a}"))
            .await
            .is_empty()
    );
    assert!(
        search(
            doctor.clone(),
            format!("/fhir/R4/Observation?_list={general}")
        )
        .await
        .is_empty()
    );
    assert!(
        search(doctor.clone(), format!("/fhir/R4?_list={of_a}"))
            .await
            .is_empty()
    );
    // With A's consent: what the admin sees.
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = as_user(app, &patient_a, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(
        search(doctor.clone(), format!("/fhir/R4/Observation?_list={of_a}")).await,
        expected
    );
    // A List about no patient is not a physician's to read (the role sees patients' data
    // only), so it lists nothing for them, consent or not.
    assert!(
        search(
            doctor.clone(),
            format!("/fhir/R4/Observation?_list={general}")
        )
        .await
        .is_empty()
    );
    // The patient reads their own List's entries.
    assert_eq!(
        search(
            patient_a.clone(),
            format!("/fhir/R4/Observation?_list={of_a}")
        )
        .await,
        expected
    );
}
