//! Research exports (`/api/research/exports`): a researcher's de-identified export over
//! patients with names, addresses, identifiers, narratives and full dates holds none of them
//! (the leak hunt of `medilink-consent`'s tests); references between the exported Patient and
//! Observations still match; pseudonyms are stable across exports and change with the key;
//! `keep_zip3` keeps ZIP3 only; other roles get 403, another researcher 404; unknown types
//! 400; refusals are counted; kick-offs and downloads are audited; `DELETE` cancels.
//! Issue #15 (on SQLite and PostgreSQL): a purpose is required and kept (in the export and
//! its audit record), k is checked, a researcher lists their own exports, the file URLs the
//! server hands out work (they are followed, never rebuilt), k-anonymity over generated
//! patients with known group sizes, and exports expire (gone, then deleted with their files).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_consent::research::KIND;
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_platform::worker::{Step, Worker};
use medilink_server::Limits;
use medilink_server::config::WorkerSettings;
use serde_json::{Value, json};

use crate::support::schema::assert_documented;
use crate::support::{PostgresDatabase, TestApp, api_call, signed_in};

/// A purpose long enough.
const PURPOSE: &str = "Resting heart rate trends in adults, 2020-2024";

/// `body` with [`PURPOSE`] unless it states one.
fn with_purpose(mut body: Value) -> Value {
    if body.get("purpose").is_none() {
        body["purpose"] = json!(PURPOSE);
    }
    body
}

#[path = "../../../medilink-consent/tests/it/support/leaks.rs"]
mod leaks;

fn identified_patient() -> Value {
    json!({
        "resourceType": "Patient",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane Q. Smithington</div>"},
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-12-3456"}],
        "name": [{"family": "Smithington", "given": ["Janette"]}],
        "telecom": [{"system": "phone", "value": "555-0199-1234"}],
        "gender": "female",
        "birthDate": "1961-04-17",
        "address": [{"line": ["42 Wallaby Way"], "city": "Springfield", "state": "MA", "postalCode": "01103"}],
    })
}

fn identified_observation(patient: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate of Janette"},
        "subject": {"reference": format!("Patient/{patient}"), "display": "Janette Smithington"},
        "effectiveDateTime": "2023-06-01T10:20:30Z",
        "note": [{"text": "Patient Smithington called from 555-0199-1234"}],
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    })
}

struct Research {
    app: TestApp,
    worker: Worker,
    researcher: String,
    /// The served OpenAPI document: every answer here must validate against it.
    openapi: Value,
}

async fn research(app: TestApp, email: &str) -> Research {
    let settings = WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
    };
    let worker = medilink_server::serve::worker(&app.state, settings);
    let researcher = signed_in(&app.state, email, Role::Researcher).await;
    let openapi = app.get("/api/openapi.json").await.json();
    Research {
        app,
        worker,
        researcher,
        openapi,
    }
}

impl Research {
    /// `api_call`, with the answer checked against the documented schema of `template`.
    async fn call(
        &self,
        method: Method,
        template: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let (status, answer) = api_call(&self.app, method.clone(), path, token, body).await;
        if status != StatusCode::NO_CONTENT {
            assert_documented(&self.openapi, method.as_str(), template, status, &answer);
        }
        (status, answer)
    }

    async fn create(&self, resource: Value) -> String {
        let path = format!(
            "/fhir/R4/{}",
            resource["resourceType"].as_str().expect("type")
        );
        let response = self.app.post(&path, &resource).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().expect("id").to_owned()
    }

    /// Kicks off as `token`, runs the job; the completed status.
    async fn export(&self, token: &str, body: Value) -> Value {
        let body = with_purpose(body);
        let exports = "/api/research/exports";
        let (status, accepted) = self
            .call(Method::POST, exports, exports, token, Some(&body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        assert_eq!(accepted["status"], "pending");
        let id = accepted["id"].as_str().expect("id").to_owned();
        let path = format!("/api/research/exports/{id}");
        let template = "/api/research/exports/{id}";
        let (status, view) = self.call(Method::GET, template, &path, token, None).await;
        assert_eq!(
            (status, &view["status"]),
            (StatusCode::OK, &json!("pending"))
        );
        // A previous export's notice (issue #14) queued its e-mail first: run past it.
        loop {
            match self.worker.run_once().await.expect("queue") {
                Step::Ran { kind, .. } if kind == medilink_platform::notifications::DELIVER => {}
                Step::Ran { kind, .. } => break assert_eq!(kind, KIND),
                other => panic!("expected a research export, got {other:?}"),
            }
        }
        let (status, view) = self.call(Method::GET, template, &path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["status"], "completed", "{view}");
        view
    }

    /// The lines of the export's file of `type_name`, fetched as `token` at the URL the
    /// view hands out (issue #15: it read `/fhir/R4/api/…` and answered 404).
    async fn file(&self, token: &str, view: &Value, type_name: &str) -> Vec<Value> {
        let files = view["output"].as_array().expect("output");
        let file = files
            .iter()
            .find(|file| file["type"] == type_name)
            .unwrap_or_else(|| panic!("no {type_name} file in {view}"));
        let url = file["url"].as_str().expect("url");
        let expected = format!(
            "http://test.local/api/research/exports/{}/files/{type_name}.ndjson",
            view["id"].as_str().expect("id")
        );
        assert_eq!(url, expected);
        let path = url.strip_prefix("http://test.local").expect("the origin");
        let bearer = format!("Bearer {token}");
        let response = self
            .app
            .request(
                Method::GET,
                path,
                &[("authorization", &bearer)],
                Body::empty(),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.header("content-type"), "application/fhir+ndjson");
        let lines: Vec<Value> = response
            .text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(Some(lines.len() as u64), file["count"].as_u64());
        lines
    }
}

/// The kinds in the inbox of `token`, newest first.
async fn export_notices(world: &Research, token: &str) -> Vec<String> {
    let (status, page) = api_call(&world.app, Method::GET, "/api/notifications", token, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|notice| notice["kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_research_export_is_de_identified_linked_and_private() {
    let world = research(TestApp::new().await, "res@test.local").await;
    let patient = identified_patient();
    let patient_id = world.create(patient.clone()).await;
    let observation = identified_observation(&patient_id);
    world.create(observation.clone()).await;
    world.create(observation.clone()).await;
    // A resource the de-identifier refuses: a modifier extension.
    let mut refused = identified_observation(&patient_id);
    refused["modifierExtension"] = json!([{"url": "http://example.org/x", "valueBoolean": true}]);
    world.create(refused).await;

    let body = json!({"types": ["Patient", "Observation"], "purpose": PURPOSE});
    let view = world.export(&world.researcher, body.clone()).await;
    assert!(view["as_of"].is_string(), "{view}");
    let counts: Vec<(String, u64)> = view["output"]
        .as_array()
        .expect("output")
        .iter()
        .map(|file| {
            (
                file["type"].as_str().expect("type").to_owned(),
                file["count"].as_u64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("Patient".to_owned(), 1), ("Observation".to_owned(), 2)]
    );
    assert_eq!(
        view["skipped"],
        json!([{"type": "Observation", "reason": "modifier-extension", "count": 1}])
    );

    // The leak hunt: nothing identifying survives, references still match.
    let patients = world.file(&world.researcher, &view, "Patient").await;
    let observations = world.file(&world.researcher, &view, "Observation").await;
    assert_eq!((patients.len(), observations.len()), (1, 2));
    leaks::assert_no_leak("Patient", &patient, &patients[0]);
    assert_eq!(patients[0]["birthDate"], "1961");
    assert_ne!(patients[0]["id"], json!(patient_id));
    for exported in &observations {
        leaks::assert_no_leak("Observation", &observation, exported);
        assert_eq!(
            exported["subject"]["reference"],
            json!(format!(
                "Patient/{}",
                patients[0]["id"].as_str().expect("id")
            ))
        );
    }

    // The same patient, the same pseudonym in a second export.
    // With `keep_zip3`, the first three ZIP digits stay (and nothing else of the address).
    let again = world
        .export(
            &world.researcher,
            json!({"types": ["Patient"], "keep_zip3": true}),
        )
        .await;
    let patients_again = world.file(&world.researcher, &again, "Patient").await;
    assert_eq!(patients_again[0]["id"], patients[0]["id"]);
    assert_eq!(patients[0]["address"][0].get("postalCode"), None);
    assert_eq!(patients_again[0]["address"][0]["postalCode"], "011");
    leaks::assert_no_leak("Patient", &patient, &patients_again[0]);

    // Other roles: 403; another researcher: 404 on the status and the files.
    let physician = signed_in(&world.app.state, "doc@test.local", Role::Physician).await;
    let patient_user = signed_in(&world.app.state, "pat@test.local", Role::Patient).await;
    for token in [&physician, &patient_user, &world.app.token] {
        let (status, outcome) = api_call(
            &world.app,
            Method::POST,
            "/api/research/exports",
            token,
            Some(&body),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
    let other = signed_in(&world.app.state, "res2@test.local", Role::Researcher).await;
    // Issue #14: each finished export was told to the researcher who asked, nobody else.
    assert_eq!(
        export_notices(&world, &world.researcher).await,
        ["research.export_ready", "research.export_ready"]
    );
    for token in [&other, &physician, &patient_user] {
        assert!(export_notices(&world, token).await.is_empty());
    }
    let id = view["id"].as_str().expect("id");
    for (template, path) in [
        (
            "/api/research/exports/{id}",
            format!("/api/research/exports/{id}"),
        ),
        (
            "/api/research/exports/{id}/files/{file}",
            format!("/api/research/exports/{id}/files/Patient.ndjson"),
        ),
    ] {
        for token in [&other, &physician] {
            let (status, _) = world.call(Method::GET, template, &path, token, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    // Unknown and non-exportable types, bad instants: 400.
    for bad in [
        json!({"types": ["Nonsense"]}),
        json!({"types": ["Practitioner"]}),
        json!({"since": "yesterday"}),
        json!({"typo": true}),
    ]
    .map(with_purpose)
    {
        let (status, outcome) = api_call(
            &world.app,
            Method::POST,
            "/api/research/exports",
            &world.researcher,
            Some(&bad),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }

    // The kick-offs and downloads are audited.
    let (status, audit) = api_call(
        &world.app,
        Method::GET,
        "/api/admin/audit?action=research-export",
        &world.app.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let records = audit["records"].as_array().cloned().unwrap_or_default();
    assert!(
        records
            .iter()
            .all(|record| record["action"] == "research-export"),
        "{audit}"
    );
    // The refused kick-offs of the physician, the patient and the admin.
    let refused = records
        .iter()
        .filter(|record| record["outcome"] == 403)
        .count();
    assert_eq!(refused, 3, "{audit}");
    let kick_off = records.iter().find(|record| {
        record["resource_type"] == "Patient,Observation" && record["outcome"] == 202
    });
    assert!(kick_off.is_some(), "{audit}");
    let download = records.iter().find(|record| {
        record["resource_type"] == "Observation" && record["resource_ids"] == json!([id])
    });
    assert!(
        download.is_some_and(|record| record["outcome"] == 200),
        "{audit}"
    );

    // Cancel: the export and its files are gone.
    let (status, _) = api_call(
        &world.app,
        Method::DELETE,
        &format!("/api/research/exports/{id}"),
        &world.researcher,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api_call(
        &world.app,
        Method::GET,
        &format!("/api/research/exports/{id}"),
        &world.researcher,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_research_key_gives_other_pseudonyms() {
    let first = research(TestApp::new().await, "res@test.local").await;
    let patient_id = first.create(identified_patient()).await;
    let view = first
        .export(&first.researcher, json!({"types": ["Patient"]}))
        .await;
    let one = first.file(&first.researcher, &view, "Patient").await;
    let state = first.app.state.clone().with_research_key([9; 32]);
    let second = research(first.app.with_state(state), "res2@test.local").await;
    let view = second
        .export(&second.researcher, json!({"types": ["Patient"]}))
        .await;
    let other = second.file(&second.researcher, &view, "Patient").await;
    assert_ne!(one[0]["id"], other[0]["id"]);
    assert_ne!(one[0]["id"], json!(patient_id));
    assert_eq!(other.len(), 1);
}

/// `n` synthetic patients born in `year` of `gender`, each with one Observation.
async fn generated(world: &Research, n: usize, year: i32, gender: &str) {
    for _ in 0..n {
        let patient = json!({
            "resourceType": "Patient", "gender": gender, "birthDate": format!("{year}-03-09"),
        });
        let id = world.create(patient).await;
        world.create(identified_observation(&id)).await;
    }
}

// Issue #15: purpose, k, listing, working file URLs, k-anonymity, expiry.
#[tokio::test]
async fn exports_state_a_purpose_are_listed_anonymised_and_expire() {
    purpose_list_anonymity_expiry(TestApp::new().await).await;
}

#[tokio::test]
async fn exports_state_a_purpose_are_listed_anonymised_and_expire_on_postgres() {
    PostgresDatabase::run("the research export test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        purpose_list_anonymity_expiry(app).await;
    })
    .await;
}

async fn purpose_list_anonymity_expiry(app: TestApp) {
    let world = research(app, "res@test.local").await;
    let exports = "/api/research/exports";
    // No purpose, a short one, k out of range: 400, nothing queued.
    for (bad, element) in [
        (json!({"types": ["Patient"]}), "purpose"),
        (json!({"purpose": "   too short      "}), "purpose"),
        (json!({"purpose": PURPOSE, "k": 1}), "k"),
        (json!({"purpose": PURPOSE, "k": 101}), "k"),
    ] {
        let (status, outcome) = world
            .call(
                Method::POST,
                exports,
                exports,
                &world.researcher,
                Some(&bad),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {outcome}");
        assert_eq!(outcome["issue"][0]["expression"][0], element, "{outcome}");
    }
    let (status, listed) = world
        .call(Method::GET, exports, exports, &world.researcher, None)
        .await;
    assert_eq!((status, listed), (StatusCode::OK, json!({"exports": []})));

    // Generated patients with known group sizes: 6 women born 1980, 1 born 1982 (joins them
    // in the 5-year band), 1 man born 1950 (alone at every level): with k = 5 the band is
    // taken and the man is suppressed with his Observation.
    generated(&world, 6, 1980, "female").await;
    generated(&world, 1, 1982, "female").await;
    generated(&world, 1, 1950, "male").await;
    let body = json!({
        "types": ["Patient", "Observation"], "k": 5, "until": "2030-01-01T00:00:00Z",
        "purpose": format!("  {PURPOSE}  "),
    });
    let view = world.export(&world.researcher, body).await;
    assert_eq!(view["purpose"], PURPOSE, "{view}");
    assert_eq!(
        (view["k"].clone(), view["since"].clone()),
        (json!(5), Value::Null)
    );
    assert_eq!(view["until"], "2030-01-01T00:00:00Z");
    let instant = |value: &Value| {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("not an instant: {value}"));
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .expect("an instant")
    };
    let created = instant(&view["created_at"]);
    assert_eq!(created.date(), time::macros::date!(2024 - 01 - 01));
    assert_eq!(
        instant(&view["expires_at"]) - created,
        time::Duration::hours(168)
    );
    assert_eq!(view["progress"], Value::Null);
    assert_eq!(
        view["anonymity"],
        json!({
            "k": 5,
            "quasi_identifiers": ["birth-year", "gender"],
            "generalisation": ["event-dates:year", "birth-year:5-year-band"],
            "suppressed": {"Observation": 1, "Patient": 1},
        })
    );
    let patients = world.file(&world.researcher, &view, "Patient").await;
    assert_eq!(patients.len(), 7);
    assert!(
        patients
            .iter()
            .all(|p| p["birthDate"] == "1980" && p["gender"] == "female")
    );
    let observations = world.file(&world.researcher, &view, "Observation").await;
    assert_eq!(observations.len(), 7);
    let id = view["id"].as_str().expect("id").to_owned();

    // The purpose is in the kick-off's audit record, whose chain still verifies.
    let records = world
        .app
        .state
        .audit_log
        .list(&medilink_platform::AuditFilter {
            action: Some(medilink_platform::Action::ResearchExport),
            ..Default::default()
        })
        .await
        .expect("audit");
    let kick_off = records
        .iter()
        .find(|record| record.entry.outcome == 202)
        .expect("the kick-off's record");
    assert_eq!(kick_off.entry.detail.as_deref(), Some(PURPOSE));
    assert_eq!(kick_off.entry.resource_ids, vec![id.clone()]);
    assert!(
        records
            .iter()
            .filter(|r| r.entry.outcome != 202)
            .all(|r| r.entry.detail.is_none())
    );
    let verified = world.app.state.audit_log.verify().await.expect("verify");
    assert_eq!(verified.first_broken, None);

    // A second export a minute later; the list is the researcher's own, newest first.
    world.app.clock.advance(Duration::from_secs(60));
    let second = world
        .export(&world.researcher, json!({"types": ["Patient"]}))
        .await;
    assert_eq!(second["anonymity"], Value::Null);
    let second_created = instant(&second["created_at"]);
    assert!(second_created - created >= time::Duration::minutes(1));
    assert_eq!(
        instant(&second["expires_at"]) - second_created,
        time::Duration::hours(168)
    );
    let (status, listed) = world
        .call(Method::GET, exports, exports, &world.researcher, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let listed_ids: Vec<&str> = listed["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .map(|export| export["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        listed_ids,
        [second["id"].as_str().expect("id"), id.as_str()]
    );
    assert_eq!(listed["exports"][1], view);
    let other = signed_in(&world.app.state, "res2@test.local", Role::Researcher).await;
    let (status, theirs) = world
        .call(Method::GET, exports, exports, &other, None)
        .await;
    assert_eq!((status, theirs), (StatusCode::OK, json!({"exports": []})));
    let physician = signed_in(&world.app.state, "doc@test.local", Role::Physician).await;
    let (status, _) = world
        .call(Method::GET, exports, exports, &physician, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // 168 hours after the first kick-off it is gone for its researcher, the second is not
    // (it has a minute left). A week on, the researcher signs in afresh.
    let expiry = instant(&view["expires_at"]);
    let left = expiry - instant(&second["created_at"]) + time::Duration::seconds(1);
    world.app.clock.advance(Duration::from_secs(
        u64::try_from(left.whole_seconds()).expect("ahead"),
    ));
    let body = json!({"email": "res@test.local", "password": crate::support::PASSWORD});
    let (status, tokens) =
        api_call(&world.app, Method::POST, "/api/auth/login", "", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let researcher = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let status_path = format!("{exports}/{id}");
    let template = "/api/research/exports/{id}";
    let (status, _) = world
        .call(Method::GET, template, &status_path, &researcher, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let file_path = format!("{status_path}/files/Patient.ndjson");
    let (status, _) = api_call(&world.app, Method::GET, &file_path, &researcher, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = world
        .call(Method::GET, exports, exports, &researcher, None)
        .await;
    assert_eq!(listed["exports"].as_array().map(Vec::len), Some(1));
    // The expiry job (registered in both hosts) deletes its files and its job.
    let key = format!("exports/{id}/Patient.ndjson");
    assert!(
        world
            .app
            .state
            .blobs
            .size(&key)
            .await
            .expect("size")
            .is_some()
    );
    let deleted = world
        .app
        .state
        .research
        .delete_expired()
        .await
        .expect("sweep");
    assert_eq!(deleted, 1);
    assert_eq!(world.app.state.blobs.size(&key).await.expect("size"), None);
    let job = uuid::Uuid::parse_str(&id).expect("uuid");
    assert!(world.app.state.jobs.get(job).await.expect("get").is_none());
}
