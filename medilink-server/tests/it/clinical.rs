//! Issue #13: drug-interaction and allergy checks under consent, acknowledgements as
//! `DetectedIssue`s, the prescription gate on every write path (409 until acknowledged, then
//! accepted with the acknowledgement referenced; again 409 once it expired), the per-patient
//! history, and CDS Hooks discovery and calls — on SQLite and PostgreSQL. Each refusal has a
//! positive control.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{PostgresDatabase, TestApp, api_call, signed_in};

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn prescription(patient: &str, code: &str, name: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": format!("Patient/{patient}")},
        "authoredOn": "2024-01-01",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": name}],
            "text": name
        }
    })
}

fn penicillin_allergy(patient: &str) -> Value {
    json!({
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
        "category": ["medication"],
        "criticality": "high",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}], "text": "Penicillin"},
        "patient": {"reference": format!("Patient/{patient}")}
    })
}

async fn fhir(
    app: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let response = app
        .send_json(method, uri, body, &[("authorization", bearer.as_str())])
        .await;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, json)
}

async fn check(
    app: &TestApp,
    token: &str,
    patient: Option<&str>,
    code: &str,
    text: &str,
) -> (StatusCode, Value) {
    let body = json!({
        "patient": patient,
        "medications": [{"system": RXNORM, "code": code, "text": text}]
    });
    api_call(
        app,
        Method::POST,
        "/api/clinical/drug-interactions",
        token,
        Some(&body),
    )
    .await
}

fn finding<'a>(report: &'a Value, key_part: &str) -> Option<&'a Value> {
    report["findings"].as_array()?.iter().find(|finding| {
        finding["key"]
            .as_str()
            .is_some_and(|key| key.contains(key_part))
    })
}

fn diagnostics(outcome: &Value) -> String {
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn prescribing_is_checked(app: TestApp) {
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
    let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
    let me = |token: &str| {
        let (app, token) = (app.clone(), token.to_owned());
        async move {
            api_call(&app, Method::GET, "/api/auth/me", &token, None)
                .await
                .1
        }
    };
    let doctor_id = me(&doctor).await["id"].as_str().expect("id").to_owned();
    let a = me(&patient_a).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let b = me(&patient_b).await["patient_id"]
        .as_str()
        .expect("pid")
        .to_owned();
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let (status, granted) = api_call(
        &app,
        Method::POST,
        "/api/consents",
        &patient_a,
        Some(&grant),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{granted}");
    // Both patients take clarithromycin and are allergic to penicillin (written by the admin).
    for patient in [&a, &b] {
        for body in [
            prescription(patient, "21212", "Clarithromycin 500 MG Oral Tablet"),
            penicillin_allergy(patient),
        ] {
            let response = app
                .post(
                    &format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type")),
                    &body,
                )
                .await;
            assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        }
    }

    // The check: simvastatin with clarithromycin is contraindicated and blocks.
    let (status, report) = check(&app, &doctor, Some(&a), "36567", "simvastatin").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let found = finding(&report, "simvastatin").expect("the interaction is found");
    assert_eq!(found["severity"], "contraindicated", "{report}");
    assert_eq!(found["kind"], "interaction");
    assert_eq!(report["blocking"], true);
    assert_eq!(report["active_medications"], 1);
    assert_eq!(report["allergies"], 1);
    let key = found["key"].as_str().expect("key").to_owned();
    // Penicillin allergy: amoxicillin is flagged; metformin has no finding (controls).
    let (_, amoxicillin) = check(&app, &doctor, Some(&a), "723", "amoxicillin").await;
    assert_eq!(
        finding(&amoxicillin, "allergy").expect("allergy")["kind"],
        "allergy",
        "{amoxicillin}"
    );
    let (_, metformin) = check(&app, &doctor, Some(&a), "6809", "metformin").await;
    assert_eq!(metformin["findings"], json!([]), "{metformin}");
    assert_eq!(metformin["blocking"], false);

    // Without consent the physician learns nothing about B: 404, as for a read of B.
    let (status, denied) = check(&app, &doctor, Some(&b), "36567", "simvastatin").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{denied}");
    let (status, _) = check(
        &app,
        &doctor,
        Some("no-such-patient"),
        "36567",
        "simvastatin",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api_call(
        &app,
        Method::GET,
        &format!("/api/clinical/history?patient={b}"),
        &doctor,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A "what if" check needs no patient.
    let what_if = json!({"medications": [{"text": "Coumadin 5 MG"}, {"text": "aspirin 81 mg"}]});
    let (status, report) = api_call(
        &app,
        Method::POST,
        "/api/clinical/drug-interactions",
        &doctor,
        Some(&what_if),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(finding(&report, "warfarin").is_some(), "{report}");
    // Bad input: 400.
    for body in [
        json!({"medications": []}),
        json!({"medications": [{}]}),
        json!({"patient": "a/b", "medications": [{"text": "x"}]}),
    ] {
        let (status, outcome) = api_call(
            &app,
            Method::POST,
            "/api/clinical/drug-interactions",
            &doctor,
            Some(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {outcome}");
    }

    // Prescribing simvastatin is refused on every write path, naming the finding.
    let simvastatin = prescription(&a, "36567", "Simvastatin 20 MG Oral Tablet");
    let (status, outcome) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &simvastatin,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    assert_eq!(outcome["issue"][0]["code"], "business-rule");
    assert!(diagnostics(&outcome).contains(&key), "{outcome}");
    let bundle = |kind: &str| {
        json!({"resourceType": "Bundle", "type": kind, "entry": [
            {"fullUrl": "urn:uuid:6f3c1a52-0000-4000-8000-000000000001", "resource": simvastatin, "request": {"method": "POST", "url": "MedicationRequest"}}
        ]})
    };
    let (status, outcome) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4",
        &bundle("transaction"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    let (status, batch) = fhir(&app, &doctor, Method::POST, "/fhir/R4", &bundle("batch")).await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert!(
        batch["entry"][0]["response"]["status"]
            .as_str()
            .expect("status")
            .starts_with("409"),
        "{batch}"
    );
    // An update that makes a stopped prescription active again is checked too.
    let mut stopped = simvastatin.clone();
    stopped["status"] = json!("stopped");
    let (status, created) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &stopped,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a stopped prescription harms nobody: {created}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let mut revived = created.clone();
    revived["status"] = json!("active");
    let (status, _) = fhir(
        &app,
        &doctor,
        Method::PUT,
        &format!("/fhir/R4/MedicationRequest/{id}"),
        &revived,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Acknowledgement: a physician's, with a reason of 10+ characters.
    let ack = |reason: &str| json!({"patient": a, "finding": key, "reason": reason});
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/clinical/acknowledgements",
        &doctor,
        Some(&ack("short")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/clinical/acknowledgements",
        &patient_a,
        Some(&ack("I know the risk well")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let unknown = json!({"patient": a, "finding": "interaction:metformin+simvastatin", "reason": "no such finding here"});
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/clinical/acknowledgements",
        &doctor,
        Some(&unknown),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // It counts for 10 minutes (the fixed clock starts at 2024-01-01T00:00Z).
    let mut body = ack("Clarithromycin stops tomorrow; statin paused until then");
    body["expires_at"] = json!("2024-01-01T00:10:00Z");
    let (status, acknowledged) = api_call(
        &app,
        Method::POST,
        "/api/clinical/acknowledgements",
        &doctor,
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{acknowledged}");
    assert_eq!(acknowledged["active"], true);
    let issue = acknowledged["detected_issue"]
        .as_str()
        .expect("reference")
        .to_owned();
    let detected = app.get(&format!("/fhir/R4/{issue}")).await;
    assert_eq!(detected.status, StatusCode::OK);
    let detected = detected.json();
    assert_eq!(detected["status"], "final");
    assert_eq!(detected["patient"]["reference"], format!("Patient/{a}"));
    assert_eq!(
        detected["mitigation"][0]["action"]["text"],
        "Clarithromycin stops tomorrow; statin paused until then"
    );
    // The check now reports the acknowledgement and does not block.
    let (_, report) = check(&app, &doctor, Some(&a), "36567", "simvastatin").await;
    assert_eq!(report["blocking"], false, "{report}");
    assert_eq!(
        finding(&report, "simvastatin").expect("finding")["acknowledgement"]["id"],
        acknowledged["id"]
    );
    // The prescription is accepted and references the acknowledgement.
    let (status, accepted) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &simvastatin,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    assert_eq!(accepted["detectedIssue"][0]["reference"], issue.as_str());

    // An allergy finding blocks the same way and is acknowledged the same way.
    let amoxicillin_key = finding(&amoxicillin, "allergy").expect("allergy")["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let amoxicillin_order = prescription(&a, "723", "Amoxicillin 250 MG Oral Capsule");
    let (status, outcome) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &amoxicillin_order,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    assert!(
        diagnostics(&outcome).contains(&amoxicillin_key),
        "{outcome}"
    );
    let body = json!({"patient": a, "finding": amoxicillin_key, "reason": "Tolerated amoxicillin in 2023 under observation"});
    let (status, allergy_ack) = api_call(
        &app,
        Method::POST,
        "/api/clinical/acknowledgements",
        &doctor,
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{allergy_ack}");
    let (status, accepted) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &amoxicillin_order,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    assert_eq!(
        accepted["detectedIssue"][0]["reference"],
        allergy_ack["detected_issue"]
    );

    // History: the checks and the acknowledgements; the patient sees their own.
    let (status, history) = api_call(
        &app,
        Method::GET,
        &format!("/api/clinical/history?patient={a}"),
        &patient_a,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(
        history["checks"].as_array().expect("checks").len() >= 4,
        "{history}"
    );
    assert_eq!(history["checks"][0]["checked_by"], doctor_id.as_str());
    assert_eq!(history["checks"][0]["checked_by_name"], "Test Physician");
    assert_eq!(
        history["acknowledgements"][0]["acknowledged_by_name"],
        "Test Physician"
    );
    let acknowledged: Vec<&str> = history["acknowledgements"]
        .as_array()
        .expect("acknowledgements")
        .iter()
        .filter_map(|ack| ack["finding"].as_str())
        .collect();
    assert!(acknowledged.contains(&key.as_str()), "{history}");

    // CDS Hooks: discovery is public; a call with draftOrders answers a critical card.
    let (status, discovery) = api_call(&app, Method::GET, "/cds-services", "", None).await;
    assert_eq!(status, StatusCode::OK, "{discovery}");
    let services = discovery["services"].as_array().expect("services");
    let select = services
        .iter()
        .find(|s| s["hook"] == "order-select")
        .expect("order-select");
    let service = select["id"].as_str().expect("id").to_owned();
    let mut draft = prescription(&b, "36567", "Simvastatin 20 MG Oral Tablet");
    draft["id"] = json!("draft-1");
    draft["status"] = json!("draft");
    let hook = |patient: &str| {
        let mut draft = draft.clone();
        draft["subject"]["reference"] = json!(format!("Patient/{patient}"));
        json!({
            "hook": "order-select",
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {
                "userId": format!("Practitioner/{doctor_id}"),
                "patientId": patient,
                "selections": ["MedicationRequest/draft-1"],
                "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
            }
        })
    };
    let uri = format!("/cds-services/{service}");
    // The acknowledgement does not silence the card: a card informs, the gate decides.
    let (status, cards) = api_call(&app, Method::POST, &uri, &doctor, Some(&hook(&a))).await;
    assert_eq!(status, StatusCode::OK, "{cards}");
    let card = &cards["cards"][0];
    assert_eq!(card["indicator"], "critical", "{cards}");
    assert!(card["summary"].as_str().expect("summary").len() <= 140);
    let (status, _) = api_call(&app, Method::POST, &uri, &doctor, Some(&hook(&b))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no consent: B is unknown to this physician"
    );
    // With the record in the prefetch (an EHR's own data), the store is not read: a card
    // for the EHR's patient, from what the EHR sent only.
    let mut prefetched = hook(&b);
    let clarithromycin = prescription("ehr-patient", "21212", "Clarithromycin 500 MG");
    prefetched["prefetch"] = json!({
        "medications": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": clarithromycin}]},
        "allergies": {"resourceType": "Bundle", "type": "searchset"}
    });
    let (status, cards) = api_call(&app, Method::POST, &uri, &doctor, Some(&prefetched)).await;
    assert_eq!(status, StatusCode::OK, "{cards}");
    assert_eq!(cards["cards"][0]["indicator"], "critical", "{cards}");
    prefetched["prefetch"]["medications"]["entry"] = json!([]);
    let (status, cards) = api_call(&app, Method::POST, &uri, &doctor, Some(&prefetched)).await;
    assert_eq!(status, StatusCode::OK, "{cards}");
    assert_eq!(
        cards["cards"],
        json!([]),
        "nothing in the prefetch, nothing found"
    );
    let (status, _) = api_call(&app, Method::POST, &uri, "", Some(&hook(&a))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/cds-services/no-such-service",
        &doctor,
        Some(&hook(&a)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The audit record of a check names the patient whose record was read.
    let log = app
        .get(&format!(
            "/api/admin/audit?actor={doctor_id}&action=drug-check"
        ))
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text());
    let records = log.json()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        records
            .iter()
            .any(|record| record["patients"].get(&a).is_some()),
        "{records:?}"
    );

    // Once the acknowledgement expires, the same prescription is refused again.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let (status, outcome) = fhir(
        &app,
        &doctor,
        Method::POST,
        "/fhir/R4/MedicationRequest",
        &simvastatin,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{outcome}");
    let (_, history) = api_call(
        &app,
        Method::GET,
        &format!("/api/clinical/history?patient={a}"),
        &doctor,
        None,
    )
    .await;
    let simvastatin_ack = history["acknowledgements"]
        .as_array()
        .expect("acknowledgements")
        .iter()
        .find(|ack| ack["finding"] == key.as_str())
        .expect("the acknowledgement is kept");
    assert_eq!(simvastatin_ack["active"], false, "{history}");
}

#[tokio::test]
async fn prescriptions_are_checked_acknowledged_and_gated() {
    prescribing_is_checked(TestApp::new().await).await;
}

#[tokio::test]
async fn prescriptions_are_checked_acknowledged_and_gated_on_postgres() {
    PostgresDatabase::run("the clinical test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        prescribing_is_checked(app).await;
    })
    .await;
}
