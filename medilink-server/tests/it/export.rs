//! FHIR Bulk Data `$export` over HTTP, on a real socket (127.0.0.1, random port), the SQL job
//! queue and the filesystem blob store, with the server's worker driven step by step:
//! kick-off errors, the flow to the manifest, NDJSON files matching it, `_type` and `_since`,
//! consent (a physician's export holds only consented patients' data of the granted types, a
//! patient's only their own, researchers are refused), requester-only status and files, and
//! `DELETE` (cancel, files gone).

use std::collections::BTreeMap;
use std::time::Duration;

use medilink_consent::export::KIND;
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_platform::worker::Step;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::PostgresDatabase;
use crate::support::signed_in;
use crate::support::socket::SocketWorld;

/// The application on a real socket (see [`SocketWorld`]) and a researcher.
struct World {
    world: SocketWorld,
    researcher: String,
}

impl std::ops::Deref for World {
    type Target = SocketWorld;

    fn deref(&self) -> &SocketWorld {
        &self.world
    }
}

/// A response: status, headers and body text.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn assert_outcome(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
        assert_eq!(body["issue"][0]["code"], code, "{body}");
    }
}

async fn world() -> World {
    world_on(&SqlOptions::new("sqlite::memory:")).await
}

async fn world_on(options: &SqlOptions) -> World {
    let world = SocketWorld::start(options, medilink_server::state::default_pipeline(), None).await;
    let researcher = signed_in(&world.app.state, "res@test.local", Role::Researcher).await;
    World { world, researcher }
}

impl World {
    async fn send(
        &self,
        token: &str,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        let mut request = self.client.request(method, url);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    async fn get(&self, token: &str, url: &str) -> Reply {
        self.send(token, reqwest::Method::GET, url, &[], None).await
    }

    /// The patient grants the doctor `scope`.
    async fn grant(&self, patient_token: &str, scope: &[&str]) {
        let body = json!({"grantee": self.doctor_id, "scope": scope, "purpose": "TREAT"});
        let reply = self
            .send(
                patient_token,
                reqwest::Method::POST,
                "/api/consents",
                &[],
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }

    /// Creates `resource` as the admin; its id.
    async fn create(&self, resource: Value) -> String {
        let resource_type = resource["resourceType"].as_str().expect("type").to_owned();
        let reply = self
            .send(
                &self.admin,
                reqwest::Method::POST,
                &format!("/fhir/R4/{resource_type}"),
                &[],
                Some(resource),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()["id"].as_str().expect("id").to_owned()
    }

    async fn observation(&self, patient: &str) -> String {
        self.create(json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "synthetic"},
            "subject": {"reference": format!("Patient/{patient}")},
        }))
        .await
    }

    /// Kick-off with `Prefer: respond-async`; the reply.
    async fn kick_off(&self, token: &str, path: &str) -> Reply {
        let headers = [
            ("prefer", "respond-async"),
            ("accept", "application/fhir+json"),
        ];
        self.send(token, reqwest::Method::GET, path, &headers, None)
            .await
    }

    /// Kick-off that must be accepted; the status URL.
    async fn start(&self, token: &str, path: &str) -> String {
        let reply = self.kick_off(token, path).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        assert_eq!(reply.json()["resourceType"], "OperationOutcome");
        let location = reply.header("content-location").to_owned();
        assert!(
            location.starts_with(&format!("{}/fhir/R4/$export-poll-status/", self.base)),
            "{location}"
        );
        location
    }

    /// Runs one queued export with the server's worker (and the e-mails of notices queued
    /// before it: consent grants are told, issue #14).
    async fn work_once(&self) {
        loop {
            match self.worker.run_once().await.expect("queue") {
                Step::Ran { kind, .. } if kind == medilink_platform::notifications::DELIVER => {}
                Step::Ran { kind, .. } => return assert_eq!(kind, KIND),
                other => panic!("expected an export to run, got {other:?}"),
            }
        }
    }

    /// Starts an export, runs it and returns the manifest.
    async fn export(&self, token: &str, path: &str) -> Value {
        let status_url = self.start(token, path).await;
        self.work_once().await;
        let reply = self.get(token, &status_url).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()
    }

    /// Every file of `manifest`, fetched as `token`, parsed: resources by type; the counts
    /// must match the manifest.
    async fn files(&self, token: &str, manifest: &Value) -> BTreeMap<String, Vec<Value>> {
        let mut by_type = BTreeMap::new();
        for file in manifest["output"].as_array().expect("output") {
            let reply = self.get(token, file["url"].as_str().expect("url")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            assert_eq!(reply.header("content-type"), "application/fhir+ndjson");
            let type_name = file["type"].as_str().expect("type").to_owned();
            let resources: Vec<Value> = reply
                .text
                .lines()
                .map(|line| serde_json::from_str(line).expect("each line is JSON"))
                .collect();
            assert!(reply.text.ends_with('\n'));
            assert_eq!(
                resources.len() as u64,
                file["count"].as_u64().expect("count")
            );
            for resource in &resources {
                assert_eq!(resource["resourceType"], type_name.as_str());
            }
            by_type.insert(type_name, resources);
        }
        by_type
    }
}

fn ids(resources: Option<&Vec<Value>>) -> Vec<String> {
    let mut ids: Vec<String> = resources
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|resource| resource["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn kick_off_errors_are_operation_outcomes() {
    let w = world().await;
    let no_prefer = w.get(&w.admin, "/fhir/R4/$export").await;
    no_prefer.assert_outcome(StatusCode::BAD_REQUEST, "required");
    for (path, code) in [
        ("/fhir/R4/$export?_outputFormat=text/csv", "value"),
        ("/fhir/R4/$export?_type=Patient,NoSuchType", "value"),
        ("/fhir/R4/$export?_since=last-tuesday", "value"),
        (
            "/fhir/R4/$export?_typeFilter=Observation%3Fstatus%3Dfinal",
            "not-supported",
        ),
        ("/fhir/R4/$export?_elements=id", "not-supported"),
        (
            "/fhir/R4/Patient/$export?includeAssociatedData=x",
            "not-supported",
        ),
    ] {
        w.kick_off(&w.admin, path)
            .await
            .assert_outcome(StatusCode::BAD_REQUEST, code);
    }
    w.kick_off(&w.admin, "/fhir/R4/Group/$export")
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-supported");
    let xml = w
        .send(
            &w.admin,
            reqwest::Method::GET,
            "/fhir/R4/$export",
            &[
                ("prefer", "respond-async"),
                ("accept", "application/fhir+xml"),
            ],
            None,
        )
        .await;
    assert_eq!(xml.status, StatusCode::NOT_ACCEPTABLE);
    let anonymous = w.kick_off("", "/fhir/R4/$export").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // Nothing was queued by any of them.
    assert!(matches!(
        w.worker.run_once().await.expect("queue"),
        Step::Idle
    ));
}

#[tokio::test]
async fn an_export_runs_to_a_manifest_whose_files_match_it() {
    let w = world().await;
    let obs_a = w.observation(&w.a).await;
    let obs_b = w.observation(&w.b).await;
    let gone = w.observation(&w.a).await;
    let deleted = w
        .send(
            &w.admin,
            reqwest::Method::DELETE,
            &format!("/fhir/R4/Observation/{gone}"),
            &[],
            None,
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text);
    let org = w
        .create(json!({"resourceType": "Organization", "name": "Synthetic Clinic"}))
        .await;

    let status_url = w
        .start(
            &w.admin,
            "/fhir/R4/$export?_outputFormat=application%2Ffhir%2Bndjson",
        )
        .await;
    let pending = w.get(&w.admin, &status_url).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED);
    assert!(!pending.header("x-progress").is_empty());
    assert_eq!(pending.header("retry-after"), "2");
    w.work_once().await;
    let reply = w.get(&w.admin, &status_url).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let manifest = reply.json();
    assert_eq!(manifest["requiresAccessToken"], true);
    assert_eq!(manifest["error"], json!([]));
    assert!(
        manifest["transactionTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        manifest["request"].as_str().is_some_and(
            |r| r.ends_with("/fhir/R4/$export?_outputFormat=application%2Ffhir%2Bndjson")
        ),
        "{manifest}"
    );
    let files = w.files(&w.admin, &manifest).await;
    // Current versions only: the deleted Observation is in no file.
    assert_eq!(ids(files.get("Observation")), sorted(vec![obs_a, obs_b]));
    assert_eq!(
        ids(files.get("Patient")),
        sorted(vec![w.a.clone(), w.b.clone()])
    );
    assert_eq!(ids(files.get("Organization")), vec![org]);
    // No empty files are listed.
    assert!(
        manifest["output"]
            .as_array()
            .expect("output")
            .iter()
            .all(|file| file["count"].as_u64() > Some(0))
    );
    // Files need the bearer token.
    let url = manifest["output"][0]["url"].as_str().expect("url");
    assert_eq!(w.get("", url).await.status, StatusCode::UNAUTHORIZED);
    // A file the manifest does not list does not exist.
    let job = status_url.rsplit('/').next().expect("job id");
    let unlisted = w
        .get(
            &w.admin,
            &format!("/fhir/R4/$export-file/{job}/Encounter.ndjson"),
        )
        .await;
    assert_eq!(unlisted.status, StatusCode::NOT_FOUND);
    // Downloads are audited like reads.
    let audit = w.get(&w.admin, "/api/admin/audit?action=export-file").await;
    let records = audit.json()["records"].clone();
    assert!(
        records.as_array().is_some_and(|records| records
            .iter()
            .any(|r| r["resource_type"] == "Observation" && r["outcome"] == 200)),
        "{records}"
    );
}

#[tokio::test]
async fn type_and_since_filter_the_export() {
    let w = world().await;
    let early = w.observation(&w.a).await;
    w.app.clock.advance(Duration::from_secs(120));
    let late = w.observation(&w.b).await;
    let manifest = w
        .export(&w.admin, "/fhir/R4/$export?_type=Observation")
        .await;
    let files = w.files(&w.admin, &manifest).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation"]);
    assert_eq!(
        ids(files.get("Observation")),
        sorted(vec![early, late.clone()])
    );

    // Resources updated after 2024-01-01T00:01Z: the late Observation only (the patients
    // were created at the start).
    let manifest = w
        .export(&w.admin, "/fhir/R4/$export?_since=2024-01-01T00:01:00Z")
        .await;
    let files = w.files(&w.admin, &manifest).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation"]);
    assert_eq!(ids(files.get("Observation")), vec![late]);
}

#[tokio::test]
async fn a_physician_exports_only_consented_patients_data_of_granted_types() {
    physician_export(&world().await).await;
}

#[tokio::test]
async fn a_physician_exports_only_consented_patients_data_on_postgres() {
    PostgresDatabase::run("the export test", |url| async move {
        physician_export(&world_on(&SqlOptions::new(url)).await).await;
    })
    .await;
}

/// A grants Observations only, B nothing: the doctor's exports hold A's Observations only.
async fn physician_export(w: &World) {
    let obs_a = w.observation(&w.a).await;
    let obs_b = w.observation(&w.b).await;
    w.create(json!({
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": format!("Patient/{}", w.a)},
    }))
    .await;
    // A grants Observations only; B grants nothing.
    w.grant(&w.patient_a, &["Observation"]).await;
    for path in ["/fhir/R4/$export", "/fhir/R4/Patient/$export"] {
        let manifest = w.export(&w.doctor, path).await;
        let files = w.files(&w.doctor, &manifest).await;
        assert_eq!(ids(files.get("Observation")), vec![obs_a.clone()], "{path}");
        // Neither A's other types nor anything of B's.
        assert!(!files.contains_key("AllergyIntolerance"), "{path}");
        assert!(!files.contains_key("Patient"), "{path}");
        for resources in files.values() {
            let text = serde_json::to_string(resources).expect("json");
            assert!(!text.contains(&w.b), "{path}: B's data exported");
            assert!(!text.contains(&obs_b), "{path}: B's data exported");
        }
    }
    // One patient: A's (granted types) yes; B is not found at kick-off.
    let manifest = w
        .export(&w.doctor, &format!("/fhir/R4/Patient/{}/$export", w.a))
        .await;
    let files = w.files(&w.doctor, &manifest).await;
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Observation"]);
    assert_eq!(ids(files.get("Observation")), vec![obs_a]);
    w.kick_off(&w.doctor, &format!("/fhir/R4/Patient/{}/$export", w.b))
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
    // Issue #11: each finished run leaves one record naming the patients exported: A only.
    let runs = w
        .app
        .state
        .audit_log
        .list(&medilink_platform::AuditFilter {
            action: Some(medilink_platform::Action::ExportJob),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(runs.len(), 3, "{runs:?}");
    for run in &runs {
        assert_eq!(run.entry.actor.as_deref(), Some(w.doctor_id.as_str()));
        assert_eq!(run.entry.patients.keys().collect::<Vec<_>>(), [&w.a]);
        assert_eq!(run.entry.resource_types, ["Observation"]);
    }
}

#[tokio::test]
async fn a_patient_exports_only_their_own_compartment() {
    let w = world().await;
    let obs_a = w.observation(&w.a).await;
    w.observation(&w.b).await;
    for path in ["/fhir/R4/$export", "/fhir/R4/Patient/$export"] {
        let manifest = w.export(&w.patient_a, path).await;
        let files = w.files(&w.patient_a, &manifest).await;
        assert_eq!(ids(files.get("Observation")), vec![obs_a.clone()], "{path}");
        assert_eq!(ids(files.get("Patient")), vec![w.a.clone()], "{path}");
        for resources in files.values() {
            let text = serde_json::to_string(resources).expect("json");
            assert!(
                !text.contains(&w.b),
                "{path}: another patient's data exported"
            );
        }
    }
    let own = format!("/fhir/R4/Patient/{}/$export", w.a);
    let manifest = w.export(&w.patient_a, &own).await;
    let files = w.files(&w.patient_a, &manifest).await;
    assert_eq!(ids(files.get("Observation")), vec![obs_a]);
    assert_eq!(ids(files.get("Patient")), vec![w.a.clone()]);
    w.kick_off(&w.patient_a, &format!("/fhir/R4/Patient/{}/$export", w.b))
        .await
        .assert_outcome(StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn researchers_are_refused_at_kick_off() {
    let w = world().await;
    w.observation(&w.a).await;
    for path in ["/fhir/R4/$export", "/fhir/R4/Patient/$export"] {
        w.kick_off(&w.researcher, path)
            .await
            .assert_outcome(StatusCode::FORBIDDEN, "forbidden");
    }
    assert!(matches!(
        w.worker.run_once().await.expect("queue"),
        Step::Idle
    ));
}

#[tokio::test]
async fn only_the_requester_and_admins_see_an_export() {
    let w = world().await;
    w.observation(&w.a).await;
    let status_url = w.start(&w.patient_a, "/fhir/R4/$export").await;
    // Before and after it ran, another user's poll is 404.
    let other = w.get(&w.patient_b, &status_url).await;
    other.assert_outcome(StatusCode::NOT_FOUND, "not-found");
    w.work_once().await;
    let manifest = w.get(&w.patient_a, &status_url).await.json();
    for token in [&w.patient_b, &w.doctor] {
        w.get(token, &status_url)
            .await
            .assert_outcome(StatusCode::NOT_FOUND, "not-found");
        let url = manifest["output"][0]["url"].as_str().expect("url");
        assert_eq!(w.get(token, url).await.status, StatusCode::NOT_FOUND);
        let cancel = w
            .send(token, reqwest::Method::DELETE, &status_url, &[], None)
            .await;
        assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(w.get(&w.admin, &status_url).await.status, StatusCode::OK);
    let job = status_url.rsplit('/').next().expect("job id");
    let garbage = w
        .get(&w.patient_a, &status_url.replace(job, "not-a-job-id"))
        .await;
    assert_eq!(garbage.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_cancels_and_the_files_are_gone() {
    let w = world().await;
    w.observation(&w.a).await;
    // A completed export: its files go.
    let status_url = w.start(&w.admin, "/fhir/R4/$export").await;
    w.work_once().await;
    let manifest = w.get(&w.admin, &status_url).await.json();
    let urls: Vec<String> = manifest["output"]
        .as_array()
        .expect("output")
        .iter()
        .map(|file| file["url"].as_str().expect("url").to_owned())
        .collect();
    assert!(!urls.is_empty());
    let cancel = w
        .send(&w.admin, reqwest::Method::DELETE, &status_url, &[], None)
        .await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", cancel.text);
    assert_eq!(
        w.get(&w.admin, &status_url).await.status,
        StatusCode::NOT_FOUND
    );
    for url in &urls {
        assert_eq!(w.get(&w.admin, url).await.status, StatusCode::NOT_FOUND);
    }
    let job = status_url.rsplit('/').next().expect("job id");
    let blob = w
        .app
        .state
        .blobs
        .size(&format!("exports/{job}/Observation.ndjson"))
        .await
        .expect("blob store");
    assert_eq!(blob, None, "the file was deleted");
    // A pending export: cancelled before it runs, it never runs.
    let status_url = w.start(&w.admin, "/fhir/R4/$export").await;
    let cancel = w
        .send(&w.admin, reqwest::Method::DELETE, &status_url, &[], None)
        .await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED);
    assert!(matches!(
        w.worker.run_once().await.expect("queue"),
        Step::Idle
    ));
    assert_eq!(
        w.get(&w.admin, &status_url).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_capability_statement_declares_the_export_operations() {
    let w = world().await;
    let statement = w.get("", "/fhir/R4/metadata").await.json();
    let rest = &statement["rest"][0];
    assert_eq!(rest["operation"][0]["name"], "export");
    let patient = rest["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|entry| entry["type"] == "Patient")
        .expect("Patient");
    assert_eq!(patient["operation"][0]["name"], "export");
    assert!(
        patient["operation"][0]["definition"]
            .as_str()
            .is_some_and(|d| d.ends_with("patient-export"))
    );
}

#[tokio::test]
async fn an_export_pages_through_more_resources_than_one_page_holds() {
    let w = world().await;
    let entries: Vec<Value> = (0..1100)
        .map(|n| {
            json!({
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": format!("synthetic {n}")},
                    "subject": {"reference": format!("Patient/{}", w.a)},
                },
                "request": {"method": "POST", "url": "Observation"},
            })
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let reply = w
        .send(
            &w.admin,
            reqwest::Method::POST,
            "/fhir/R4",
            &[],
            Some(bundle),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let manifest = w
        .export(&w.patient_a, "/fhir/R4/Patient/$export?_type=Observation")
        .await;
    let files = w.files(&w.patient_a, &manifest).await;
    let exported = ids(files.get("Observation"));
    assert_eq!(exported.len(), 1100);
    let mut unique = exported.clone();
    unique.dedup();
    assert_eq!(unique.len(), 1100, "no resource twice across pages");
}

#[tokio::test]
async fn a_failed_export_answers_500_with_an_outcome() {
    let w = world().await;
    // A job whose payload no handler can read fails permanently on its first attempt.
    let mut job = medilink_fhir::jobs::NewJob::new(KIND, json!({"nonsense": true}));
    job.owner = Some(w.me(&w.admin).await["id"].as_str().expect("id").to_owned());
    let job = w.app.state.jobs.enqueue(job).await.expect("enqueue");
    w.work_once().await;
    let reply = w
        .get(
            &w.admin,
            &format!("/fhir/R4/$export-poll-status/{}", job.id),
        )
        .await;
    reply.assert_outcome(StatusCode::INTERNAL_SERVER_ERROR, "exception");
    assert!(
        reply.text.contains("invalid export payload"),
        "{}",
        reply.text
    );
}

// Issue #15: `transactionTime` is the instant the data was read (the run), not the kick-off;
// each patient's access log shows the physician's bulk export with the types of theirs.
#[tokio::test]
async fn a_physicians_export_is_in_each_patients_access_log() {
    export_in_access_logs(&world().await).await;
}

#[tokio::test]
async fn a_physicians_export_is_in_each_patients_access_log_on_postgres() {
    PostgresDatabase::run("the export access-log test", |url| async move {
        export_in_access_logs(&world_on(&SqlOptions::new(url)).await).await;
    })
    .await;
}

/// The access-log entries of `token` recording export runs.
async fn export_entries(w: &World, token: &str) -> Vec<Value> {
    let reply = w.get(token, "/api/consents/access-log").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry["action"] == "export-job")
        .collect()
}

async fn export_in_access_logs(w: &World) {
    use medilink_fhir::Clock;
    w.observation(&w.a).await;
    w.observation(&w.b).await;
    w.create(json!({
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": format!("Patient/{}", w.b)},
    }))
    .await;
    w.grant(&w.patient_a, &["Observation"]).await;
    w.grant(&w.patient_b, &["Observation", "AllergyIntolerance"])
        .await;
    let kicked_off = w.app.clock.now();
    let status_url = w.start(&w.doctor, "/fhir/R4/$export").await;
    // The job waits in the queue for 90 s: the data is read then.
    w.app.clock.advance(Duration::from_secs(90));
    w.work_once().await;
    let manifest = w.get(&w.doctor, &status_url).await.json();
    let transaction_time = time::OffsetDateTime::parse(
        manifest["transactionTime"]
            .as_str()
            .expect("transactionTime"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an instant");
    // Read after the wait (not at the kick-off), before the manifest was asked for.
    assert!(
        transaction_time >= kicked_off + time::Duration::seconds(90),
        "{manifest}"
    );
    assert!(transaction_time < w.app.clock.now(), "{manifest}");

    // Each patient sees the export, at the run's instant, with the types of theirs.
    let a = export_entries(w, &w.patient_a).await;
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0]["actor"], w.doctor_id.as_str());
    assert_eq!(a[0]["resource_types"], json!(["Observation"]));
    assert_eq!(a[0]["resource_ids"], json!([]));
    assert!(a[0]["grant"].is_string(), "{}", a[0]);
    let b = export_entries(w, &w.patient_b).await;
    assert_eq!(b.len(), 1, "{b:#?}");
    assert_eq!(
        b[0]["resource_types"],
        json!(["AllergyIntolerance", "Observation"])
    );
    assert_eq!(a[0]["seq"], b[0]["seq"], "one record names both");

    // A one-patient export of A is in A's log only.
    w.export(&w.doctor, &format!("/fhir/R4/Patient/{}/$export", w.a))
        .await;
    assert_eq!(export_entries(w, &w.patient_a).await.len(), 2);
    assert_eq!(export_entries(w, &w.patient_b).await.len(), 1);
}
