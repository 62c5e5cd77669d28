//! Issue #6: document upload and ingest jobs over HTTP, on a real socket (127.0.0.1, random
//! port), the SQL job queue and the filesystem blob store: types by content (415), the size
//! limit (413), consent at upload, the job life cycle (pending → needs_review → accepted →
//! completed, cancel, 409 once completed), own jobs only, and re-runs that never duplicate.
//!
//! The pipeline's stages here are fixture doubles (`FixtureText`, `FixtureExtractor`) so each
//! test decides what a document contains; the LOINC mapping and review decision are the real
//! pipeline's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::SqlOptions;
use medilink_fhir::jobs::JobStatus;
use medilink_ingest::extract::{ExtractedReport, ExtractedResult, Extractor};
use medilink_ingest::job::KIND;
use medilink_ingest::text::{DocumentText, TextExtractor, TextOrigin};
use medilink_ingest::{DocumentKind, IngestResult, Pipeline};
use medilink_platform::worker::{JobHandler, Step};
use medilink_server::config::WorkerSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::support::PostgresDatabase;
use crate::support::process::{Server, free_port, user_add};
use crate::support::socket::SocketWorld;
use crate::support::{self, multipart};

/// Text stage double: the document's text is its bytes after the first line.
#[derive(Debug)]
pub(crate) struct FixtureText {
    pub(crate) delay: Duration,
}

#[async_trait]
impl TextExtractor for FixtureText {
    async fn text(&self, bytes: &[u8], _: DocumentKind) -> IngestResult<DocumentText> {
        tokio::time::sleep(self.delay).await;
        let text = String::from_utf8_lossy(bytes);
        let body = text.split_once('\n').map_or("", |(_, rest)| rest);
        Ok(DocumentText {
            pages: vec![body.to_owned()],
            origin: TextOrigin::TextLayer,
            words: Vec::new(),
        })
    }
}

/// Extraction double: one result per `name;value;unit;confidence` line.
#[derive(Debug)]
pub(crate) struct FixtureExtractor;

#[async_trait]
impl Extractor for FixtureExtractor {
    async fn extract(&self, text: &DocumentText) -> IngestResult<ExtractedReport> {
        let results = text
            .pages
            .iter()
            .flat_map(|page| page.lines())
            .filter_map(|line| {
                let parts: Vec<&str> = line.split(';').collect();
                let [name, value, unit, confidence] = parts[..] else {
                    return None;
                };
                Some(ExtractedResult {
                    name: name.to_owned(),
                    value_text: value.to_owned(),
                    value: value.parse().ok(),
                    comparator: None,
                    unit: Some(unit.to_owned()).filter(|u| !u.is_empty()),
                    range_low: None,
                    range_high: None,
                    range_text: None,
                    flag: None,
                    confidence: confidence.parse().unwrap_or(0.0),
                    calculated: false,
                })
            })
            .collect();
        Ok(ExtractedReport {
            report_date: Some("2026-03-14".to_owned()),
            issued: None,
            results,
        })
    }
}

/// A "PDF" the fixture stages read: `%PDF-1.4` then result lines.
pub(crate) fn report(lines: &[&str]) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend_from_slice(lines.join("\n").as_bytes());
    bytes
}

/// Three results, the last one read with low confidence.
pub(crate) fn uncertain_report() -> Vec<u8> {
    report(&[
        "Hemoglobin;13.5;g/dL;0.99",
        "Glucose;95;mg/dL;0.99",
        "Potassium;4.1;mmol/L;0.2",
    ])
}

/// The application on a real socket (see [`SocketWorld`]).
pub(crate) type World = SocketWorld;

async fn world_with(max_document_bytes: usize, delay: Duration) -> World {
    let pipeline = Pipeline::new(Arc::new(FixtureText { delay }), Arc::new(FixtureExtractor));
    world_on(max_document_bytes, pipeline).await
}

async fn world_on(max_document_bytes: usize, pipeline: Pipeline) -> World {
    world_at(
        &SqlOptions::new("sqlite::memory:"),
        max_document_bytes,
        pipeline,
    )
    .await
}

pub(crate) async fn world_at(
    options: &SqlOptions,
    max_document_bytes: usize,
    pipeline: Pipeline,
) -> World {
    SocketWorld::start(options, pipeline, Some(max_document_bytes)).await
}

async fn world() -> World {
    world_with(20 * 1024 * 1024, Duration::ZERO).await
}

impl World {
    pub(crate) async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Uploads `bytes` as `file_name` for `patient`; status, body and `Location`.
    async fn upload(
        &self,
        token: &str,
        patient: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> (StatusCode, Value, Option<String>) {
        let (content_type, body) = multipart(patient, file_name, bytes);
        let response = self
            .client
            .post(format!("{}/api/documents", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("upload");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            location,
        )
    }

    /// Uploads and expects `202`; the job id.
    pub(crate) async fn submit(&self, token: &str, patient: &str, bytes: &[u8]) -> String {
        let (status, body, location) = self.upload(token, patient, "report.pdf", bytes).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "pending", "{body}");
        let id = body["job_id"].as_str().expect("job id").to_owned();
        assert_eq!(
            location.as_deref(),
            Some(format!("/api/documents/jobs/{id}").as_str())
        );
        id
    }

    async fn job(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.call(
            token,
            reqwest::Method::GET,
            &format!("/api/documents/jobs/{id}"),
            None,
        )
        .await
    }

    /// The patient grants the doctor access to everything.
    pub(crate) async fn grant(&self, patient_token: &str) {
        let body = json!({"grantee": self.doctor_id, "scope": ["*"], "purpose": "TREAT"});
        let (status, body) = self
            .call(
                patient_token,
                reqwest::Method::POST,
                "/api/consents",
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Runs one pending job with the server's worker; `false` when none was pending.
    /// Notices' e-mails (consent grants are told, issue #14) run first when queued first.
    pub(crate) async fn work_once(&self) -> bool {
        loop {
            match self.worker.run_once().await.expect("queue") {
                Step::Idle => return false,
                Step::Ran { kind, .. } if kind == medilink_platform::notifications::DELIVER => {}
                Step::Ran { kind, .. } => {
                    assert_eq!(kind, KIND);
                    return true;
                }
                Step::LostLease { .. } => panic!("the lease cannot be lost here"),
            }
        }
    }

    /// Polls the job until `done` holds for it (at most 20 s).
    async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..400 {
            let (status, job) = self.job(&self.admin, id).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if done(&job) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not reach the expected state");
    }

    /// `Observation`s of `patient` as `token` sees them (search total).
    async fn observations(&self, token: &str, patient: &str) -> u64 {
        let response = self
            .client
            .get(format!(
                "{}/fhir/R4/Observation?patient={patient}&_total=accurate",
                self.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("search");
        assert_eq!(response.status(), StatusCode::OK);
        let bundle: Value = response.json().await.expect("bundle");
        bundle["total"].as_u64().expect("total")
    }

    /// Versions ever written (system history total, admin).
    async fn versions(&self) -> u64 {
        self.app.versions_written().await
    }
}

#[tokio::test]
async fn review_then_accept_publishes_the_results_once() {
    let w = world().await;
    w.grant(&w.patient_a).await;
    let id = w
        .submit(
            &w.patient_a,
            &format!("Patient/{}", w.a),
            &uncertain_report(),
        )
        .await;
    let (status, job) = w.job(&w.patient_a, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "pending");
    assert_eq!(job["file_name"], "report.pdf");
    assert_eq!(job["patient"], format!("Patient/{}", w.a));
    assert_eq!(job["attempts"], 0);
    // The DocumentReference describes the file (type by content, SHA-1, size).
    let document = job["document_reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let (status, resource) = w
        .call(
            &w.patient_a,
            reqwest::Method::GET,
            &format!("/fhir/R4/{document}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resource}");
    let attachment = &resource["content"][0]["attachment"];
    assert_eq!(attachment["contentType"], "application/pdf");
    assert_eq!(attachment["size"], uncertain_report().len());
    assert_eq!(attachment["title"], "report.pdf");
    assert_eq!(attachment["hash"].as_str().map(str::len), Some(28));

    assert!(w.work_once().await);
    let (_, job) = w.job(&w.patient_a, &id).await;
    assert_eq!(job["status"], "needs_review", "{job}");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["counts"]["observations"], 3, "{job}");
    assert!(job["counts"]["needs_review"].as_u64() >= Some(1), "{job}");
    let results = job["review"]["results"]
        .as_array()
        .expect("results to review");
    assert_eq!(results.len(), 3);
    assert_eq!(results[2]["index"], 2);
    // Nothing is published before the review.
    assert_eq!(w.observations(&w.doctor, &w.a).await, 0);

    // Corrections that do not fit are 400s, and publish nothing.
    let accept = format!("/api/documents/jobs/{id}/accept");
    for bad in [
        json!({"corrections": [{"index": 9}]}),
        json!({"corrections": [{"index": "first"}]}),
        json!({"corrections": [{"index": 0, "loinc": "x; DROP"}]}),
    ] {
        let (status, body) = w
            .call(&w.patient_a, reqwest::Method::POST, &accept, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }
    assert_eq!(w.observations(&w.doctor, &w.a).await, 0);
    let corrections = json!({"corrections": [
        {"index": 2, "loinc": "2823-3", "display": "Potassium [Moles/volume] in Serum or Plasma", "value": 4.2}
    ]});
    let (status, job) = w
        .call(
            &w.patient_a,
            reqwest::Method::POST,
            &accept,
            Some(corrections.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["counts"]["observations"], 3);
    assert_eq!(job["counts"]["needs_review"], 0);
    assert!(job.get("review").is_none());
    assert_eq!(w.observations(&w.doctor, &w.a).await, 3);
    let versions = w.versions().await;
    // Accepting twice publishes nothing more.
    let (status, again) = w
        .call(
            &w.patient_a,
            reqwest::Method::POST,
            &accept,
            Some(corrections),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["resourceType"], "OperationOutcome");
    assert_eq!(again["issue"][0]["code"], "conflict");
    assert_eq!(w.versions().await, versions);
    assert_eq!(w.observations(&w.doctor, &w.a).await, 3);
    // The corrected value is the published one.
    let response = w
        .client
        .get(format!(
            "{}/fhir/R4/Observation?patient={}&code=2823-3",
            w.base, w.a
        ))
        .bearer_auth(&w.doctor)
        .send()
        .await
        .expect("search");
    let bundle: Value = response.json().await.expect("bundle");
    assert_eq!(
        bundle["entry"][0]["resource"]["valueQuantity"]["value"].as_f64(),
        Some(4.2),
        "{bundle}"
    );
}

/// Two reviewers accept the same job at once with different corrections: one wins (200), the
/// other gets 409, and the published Observation carries the winner's value, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_publish_exactly_one_review() {
    let w = world().await;
    w.grant(&w.patient_a).await;
    for round in 0..4 {
        let id = w
            .submit(
                &w.patient_a,
                &format!("Patient/{}", w.a),
                &uncertain_report(),
            )
            .await;
        assert!(w.work_once().await);
        let (_, job) = w.job(&w.patient_a, &id).await;
        assert_eq!(job["status"], "needs_review", "{job}");
        let accept = format!("/api/documents/jobs/{id}/accept");
        let correction =
            |value: f64| json!({"corrections": [{"index": 2, "loinc": "2823-3", "value": value}]});
        let (first, second) = tokio::join!(
            w.call(
                &w.patient_a,
                reqwest::Method::POST,
                &accept,
                Some(correction(4.1))
            ),
            w.call(
                &w.admin,
                reqwest::Method::POST,
                &accept,
                Some(correction(5.3))
            ),
        );
        let winner = match (first.0, second.0) {
            (StatusCode::OK, StatusCode::CONFLICT) => 4.1,
            (StatusCode::CONFLICT, StatusCode::OK) => 5.3,
            other => panic!("round {round}: {other:?} {} {}", first.1, second.1),
        };
        let (_, job) = w.job(&w.patient_a, &id).await;
        assert_eq!(job["status"], "completed", "{job}");
        let potassium = job["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(Value::as_str)
            .filter(|reference| reference.starts_with("Observation/"))
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert_eq!(potassium.len(), 3, "{job}");
        let mut values = Vec::new();
        for reference in &potassium {
            let (status, observation) = w
                .call(
                    &w.doctor,
                    reqwest::Method::GET,
                    &format!("/fhir/R4/{reference}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{observation}");
            if observation["code"]["coding"][0]["code"] == "2823-3" {
                values.push(observation["valueQuantity"]["value"].as_f64());
                // Written once: the loser published nothing.
                assert_eq!(observation["meta"]["versionId"], "1", "{observation}");
            }
        }
        assert_eq!(values, vec![Some(winner)], "round {round}");
    }
}

/// An accept that claimed a job and died before publishing leaves it `completed` with the
/// claimed analysis; accepting it again publishes that analysis, but only once the claim is
/// stale (a live accept may still be publishing).
#[tokio::test]
async fn an_accept_that_died_after_its_claim_is_finished_by_the_next() {
    let w = world().await;
    w.grant(&w.patient_a).await;
    let id = w
        .submit(
            &w.patient_a,
            &format!("Patient/{}", w.a),
            &uncertain_report(),
        )
        .await;
    assert!(w.work_once().await);
    let jobs = &w.app.state.jobs;
    let uuid = id.parse().expect("job id");
    let job = jobs.get(uuid).await.expect("get").expect("job");
    let mut claim = job.result.clone().expect("analysis to review");
    claim["reviewed_by"] = json!("reviewer-who-died");
    assert!(
        jobs.transition(
            uuid,
            &[JobStatus::NeedsReview],
            JobStatus::Completed,
            Some(claim)
        )
        .await
        .expect("claim")
    );
    let accept = format!("/api/documents/jobs/{id}/accept");
    let (status, body) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a fresh claim is left alone: {body}"
    );
    assert_eq!(w.observations(&w.doctor, &w.a).await, 0);

    w.app.clock.advance(Duration::from_secs(121));
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["reviewed_by"], "reviewer-who-died");
    assert_eq!(job["resources"].as_array().map(Vec::len), Some(4), "{job}");
    assert_eq!(w.observations(&w.doctor, &w.a).await, 3);
    // Published now: a further accept is a conflict again and writes nothing.
    let versions = w.versions().await;
    w.app.clock.advance(Duration::from_secs(121));
    let (status, _) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(w.versions().await, versions);
}

#[tokio::test]
async fn content_decides_the_type_not_the_name() {
    let w = world().await;
    let versions = w.versions().await;
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00fake zip archive";
    let (status, body, _) = w.upload(&w.patient_a, &w.a, "report.pdf", zip).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], "not-supported");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let (status, body, _) = w.upload(&w.patient_a, &w.a, "scan.txt", png).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, body) = w
        .job(&w.patient_a, body["job_id"].as_str().expect("id"))
        .await;
    assert_eq!(body["content_type"], "image/png");
    // Only the PNG wrote anything (its DocumentReference).
    assert_eq!(w.versions().await, versions + 1);
}

#[tokio::test]
async fn the_size_limit_is_413_and_applies_to_this_route_only() {
    let w = world_with(1000, Duration::ZERO).await;
    let mut big = report(&["Hemoglobin;13.5;g/dL;0.99"]);
    big.resize(1001, b' ');
    let (status, body, _) = w.upload(&w.patient_a, &w.a, "big.pdf", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["issue"][0]["code"], "too-long");
    big.truncate(1000);
    let (status, body, _) = w.upload(&w.patient_a, &w.a, "fits.pdf", &big).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // The default: 20 MB documents pass although other bodies stop at 16 MB.
    let w = world().await;
    let mut large = report(&["Hemoglobin;13.5;g/dL;0.99"]);
    large.resize(18 * 1024 * 1024, b' ');
    let (status, body, _) = w.upload(&w.patient_a, &w.a, "large.pdf", &large).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    large.resize(20 * 1024 * 1024 + 1, b' ');
    let (status, _, _) = w.upload(&w.patient_a, &w.a, "huge.pdf", &large).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let response = w
        .client
        .post(format!("{}/fhir/R4/Binary", w.base))
        .bearer_auth(&w.admin)
        .header("content-type", "application/fhir+json")
        .body(vec![b' '; 18 * 1024 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn uploads_need_the_right_to_write_into_the_patients_record() {
    let w = world().await;
    let bytes = uncertain_report();
    let versions = w.versions().await;
    // A physician without consent gets what an unknown patient gets: 404.
    let (unknown, body, _) = w
        .upload(&w.doctor, "Patient/no-such-patient", "r.pdf", &bytes)
        .await;
    assert_eq!(unknown, StatusCode::NOT_FOUND, "{body}");
    let (no_consent, body, _) = w.upload(&w.doctor, &w.a, "r.pdf", &bytes).await;
    assert_eq!(no_consent, unknown, "{body}");
    assert_eq!(body["issue"][0]["code"], "not-found");
    // A patient only for themselves.
    let (status, body, _) = w.upload(&w.patient_b, &w.a, "r.pdf", &bytes).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        w.versions().await,
        versions,
        "refused uploads write nothing"
    );
    w.submit(&w.patient_b, &w.b, &bytes).await;
    // With consent, the physician may.
    w.grant(&w.patient_a).await;
    w.submit(&w.doctor, &format!("Patient/{}", w.a), &bytes)
        .await;
    // Malformed forms are 400s.
    let (status, body, _) = w
        .upload(&w.doctor, "Patient/bad id!", "r.pdf", &bytes)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let response = w
        .client
        .post(format!("{}/api/documents", w.base))
        .bearer_auth(&w.doctor)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn jobs_are_visible_to_their_owner_and_admins_only() {
    let w = world().await;
    w.grant(&w.patient_a).await;
    let mine = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    let doctors = w.submit(&w.doctor, &w.a, &uncertain_report()).await;
    let theirs = w.submit(&w.patient_b, &w.b, &uncertain_report()).await;
    let list = |token: String| {
        let w = &w;
        async move {
            let (status, body) = w
                .call(&token, reqwest::Method::GET, "/api/documents/jobs", None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let mut ids: Vec<String> = body["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .map(|job| job["id"].as_str().expect("id").to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(list(w.patient_a.clone()).await, vec![mine.clone()]);
    assert_eq!(list(w.doctor.clone()).await, vec![doctors.clone()]);
    let mut all = vec![mine.clone(), doctors.clone(), theirs.clone()];
    all.sort();
    assert_eq!(list(w.admin.clone()).await, all);
    // Someone else's job does not exist for them.
    assert_eq!(w.job(&w.patient_b, &mine).await.0, StatusCode::NOT_FOUND);
    assert_eq!(w.job(&w.doctor, &mine).await.0, StatusCode::NOT_FOUND);
    assert_eq!(w.job(&w.admin, &mine).await.0, StatusCode::OK);
    assert_eq!(
        w.job(&w.patient_a, "not-a-uuid").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = w
        .call(
            &w.patient_b,
            reqwest::Method::DELETE,
            &format!("/api/documents/jobs/{mine}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w
        .call(
            &w.patient_a,
            reqwest::Method::GET,
            "/api/documents/jobs?status=pending",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn pending_jobs_cancel_and_completed_ones_do_not() {
    let w = world().await;
    let first = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    let path = format!("/api/documents/jobs/{first}");
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "cancelled");
    // A cancelled job is never run; cancelling again changes nothing.
    assert!(!w.work_once().await);
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );

    let second = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    assert!(w.work_once().await);
    let accept = format!("/api/documents/jobs/{second}/accept");
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::OK, &json!("completed")),
        "{job}"
    );
    let path = format!("/api/documents/jobs/{second}");
    let (status, body) = w
        .call(&w.patient_a, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], "conflict");
    assert!(
        body["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|text| text.contains("completed")),
        "{body}"
    );
    // A job to review can be cancelled: nothing is published.
    let third = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    assert!(w.work_once().await);
    let path = format!("/api/documents/jobs/{third}");
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
    let (status, _) = w
        .call(
            &w.patient_a,
            reqwest::Method::POST,
            &format!("{path}/accept"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 3);
}

#[tokio::test]
async fn a_job_run_twice_writes_its_results_once() {
    let w = world().await;
    let id = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    let job_id: uuid::Uuid = id.parse().expect("uuid");
    // A worker leases the job and dies before completing it (lease lost, nothing recorded).
    let state = &w.app.state;
    let lost = state
        .jobs
        .lease("dead-worker", &[KIND], Duration::from_secs(1))
        .await
        .expect("lease")
        .expect("the job");
    assert_eq!(lost.id, job_id);
    state.documents.ingest(&lost).await.expect("runs");
    w.app.clock.advance(Duration::from_secs(5));
    // Another worker gets it once the lease ran out, and finishes it.
    assert!(w.work_once().await);
    let (_, job) = w.job(&w.patient_a, &id).await;
    assert_eq!(job["status"], "needs_review");
    assert_eq!(job["attempts"], 2);
    let review = state
        .jobs
        .get(job_id)
        .await
        .expect("get")
        .expect("job")
        .result;
    let accept = format!("/api/documents/jobs/{id}/accept");
    let (status, _) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 3);
    let versions = w.versions().await;
    // Publishing the same job again (a forced second run) adds versions, never resources.
    assert!(
        state
            .jobs
            .transition(
                job_id,
                &[JobStatus::Completed],
                JobStatus::NeedsReview,
                review
            )
            .await
            .expect("transition")
    );
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::POST, &accept, None)
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::OK, &json!("completed")),
        "{job}"
    );
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 3);
    assert_eq!(
        w.versions().await,
        versions + 4,
        "3 Observations and the report, again"
    );
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_the_next_one_which_completes_it_once() {
    let w = world_with(20 * 1024 * 1024, Duration::from_millis(1500)).await;
    let id = w.submit(&w.patient_a, &w.a, &uncertain_report()).await;
    // One step of the loop (lease, heartbeat, handler) in a task, aborted mid-handler.
    let worker = w.worker.clone();
    let first = tokio::spawn(async move { worker.run_once().await });
    let job = w.wait_for(&id, |job| job["status"] == "processing").await;
    assert_eq!(job["attempts"], 1);
    // Killed: no release, no outcome; the lease is still held.
    first.abort();
    assert!(first.await.is_err_and(|err| err.is_cancelled()));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, job) = w.job(&w.patient_a, &id).await;
    assert_eq!(job["status"], "processing", "{job}");
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 0);
    // Once the lease has run out, a new worker takes the job up and finishes it.
    w.app.clock.advance(Duration::from_secs(61));
    let settings = WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
    };
    let second = medilink_server::serve::worker(&w.app.state, settings);
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(second.run(async {
        let _ = stopped.await;
    }));
    let job = w
        .wait_for(&id, |job| {
            job["status"] == "needs_review" || job["status"] == "completed"
        })
        .await;
    assert_eq!(job["attempts"], 2, "{job}");
    let _ = stop.send(());
    // It also ran the periodic maintenance jobs it scheduled.
    let report = running.await.expect("worker");
    assert!(report.ran > 1, "{report:?}");
    if job["status"] == "needs_review" {
        let accept = format!("/api/documents/jobs/{id}/accept");
        let (status, job) = w
            .call(&w.patient_a, reqwest::Method::POST, &accept, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
    }
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 3);
}

/// A fixture of the ingest crate (synthetic lab reports with their ground truth).
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../medilink-ingest/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[tokio::test]
async fn a_text_pdf_becomes_observations_a_consented_physician_finds() {
    let w = world_on(20 * 1024 * 1024, medilink_server::state::default_pipeline()).await;
    text_pdf_to_observations(&w).await;
}

#[tokio::test]
async fn a_text_pdf_becomes_observations_on_postgres() {
    PostgresDatabase::run("the document test", |url| async move {
        let w = world_at(
            &SqlOptions::new(url),
            20 * 1024 * 1024,
            medilink_server::state::default_pipeline(),
        )
        .await;
        text_pdf_to_observations(&w).await;
    })
    .await;
}

/// A consented physician uploads a text PDF fixture; the job completes; the Observations are
/// searchable; a forced second run writes new versions only.
async fn text_pdf_to_observations(w: &World) {
    w.grant(&w.patient_a).await;
    let truth: Value =
        serde_json::from_slice(&fixture("report-text-a-001.json")).expect("ground truth");
    let expected = truth["results"].as_array().expect("results").len() as u64;
    let id = w
        .submit(&w.doctor, &w.a, &fixture("report-text-a-001.pdf"))
        .await;
    assert!(w.work_once().await);
    let (_, job) = w.job(&w.doctor, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["observations"], expected, "{job}");
    assert_eq!(job["counts"]["needs_review"], 0, "{job}");
    assert_eq!(job["error"], Value::Null);
    assert_eq!(w.observations(&w.doctor, &w.a).await, expected);
    // The first result of the ground truth, by its LOINC code, with its value.
    let first = &truth["results"][0];
    let response = w
        .client
        .get(format!(
            "{}/fhir/R4/Observation?patient=Patient/{}&code=http://loinc.org|{}",
            w.base,
            w.a,
            first["loinc"].as_str().expect("loinc")
        ))
        .bearer_auth(&w.doctor)
        .send()
        .await
        .expect("search");
    let bundle: Value = response.json().await.expect("bundle");
    assert_eq!(bundle["total"], 1, "{bundle}");
    let observation = &bundle["entry"][0]["resource"];
    assert_eq!(
        observation["valueQuantity"]["value"].as_f64(),
        first["value"].as_f64(),
        "{observation}"
    );
    assert_eq!(
        observation["derivedFrom"][0]["reference"],
        job["document_reference"]
    );
    // The DiagnosticReport lists them all.
    let response = w
        .client
        .get(format!(
            "{}/fhir/R4/DiagnosticReport?patient={}",
            w.base, w.a
        ))
        .bearer_auth(&w.doctor)
        .send()
        .await
        .expect("search");
    let bundle: Value = response.json().await.expect("bundle");
    assert_eq!(bundle["total"], 1, "{bundle}");
    let listed = bundle["entry"][0]["resource"]["result"]
        .as_array()
        .map(Vec::len);
    assert_eq!(listed, Some(expected as usize));
    // Someone without consent finds nothing.
    assert_eq!(w.observations(&w.patient_b, &w.a).await, 0);
    // The patient's access log shows what was filed into their record (issue #11).
    let response = w
        .client
        .get(format!("{}/api/consents/access-log", w.base))
        .bearer_auth(&w.patient_a)
        .send()
        .await
        .expect("access log");
    let log: Value = response.json().await.expect("log");
    let published = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|entry| entry["action"] == "document-publish")
        .unwrap_or_else(|| panic!("no document-publish record: {log}"));
    let filed = published["resource_ids"].as_array().expect("ids");
    assert_eq!(filed.len() as u64, expected + 1, "{published}");
    assert!(
        filed.iter().any(|id| id
            .as_str()
            .is_some_and(|id| id.starts_with("DiagnosticReport/"))),
        "{published}"
    );

    // Forced second run of the same job (as after a lost completion): same resources.
    let versions = w.versions().await;
    let job_id: uuid::Uuid = id.parse().expect("uuid");
    let job = w
        .app
        .state
        .jobs
        .get(job_id)
        .await
        .expect("get")
        .expect("job");
    let outcome = JobHandler::run(w.app.state.documents.as_ref(), &job)
        .await
        .expect("runs again");
    assert_eq!(outcome.status, JobStatus::Completed);
    assert_eq!(w.observations(&w.doctor, &w.a).await, expected);
    assert_eq!(
        w.versions().await,
        versions + expected + 1,
        "new versions only"
    );
}

#[tokio::test]
async fn unreadable_documents_fail_with_a_readable_reason() {
    let w = world_on(20 * 1024 * 1024, medilink_server::state::default_pipeline()).await;
    let id = w
        .submit(&w.patient_a, &w.a, &fixture("poison/truncated.pdf"))
        .await;
    assert!(w.work_once().await);
    let (_, job) = w.job(&w.patient_a, &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["attempts"], 1,
        "a permanent error is not retried: {job}"
    );
    let error = job["error"].as_str().expect("a reason");
    assert!(error.contains("cannot be read"), "{error}");
    assert_eq!(w.observations(&w.patient_a, &w.a).await, 0);
    // A failed job can be cancelled (dismissed).
    let path = format!("/api/documents/jobs/{id}");
    let (status, job) = w
        .call(&w.patient_a, reqwest::Method::DELETE, &path, None)
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::OK, &json!("cancelled"))
    );
}

/// `serve` on `data_dir` with the in-process worker, one job at a time and 2 s leases (so a
/// killed server's lease expires soon).
async fn serve_with_short_leases(data_dir: &std::path::Path, port: u16) -> Server {
    Server::start_with(data_dir, port, |command| {
        command.args(["--worker-lease-secs", "2", "--worker-concurrency", "1"]);
    })
    .await
}

#[tokio::test]
async fn a_server_killed_mid_job_completes_it_once_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = user_add(dir.path(), "p@test.local", support::PASSWORD, "patient");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let port = free_port();
    let mut server = serve_with_short_leases(dir.path(), port).await;
    let token = server.token("p@test.local", support::PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();
    // A scanned report: OCR takes long enough to kill the server in the middle of it.
    let id = server
        .upload(&token, &patient, &fixture("report-scan-b-002.pdf"))
        .await;
    let job = server.wait_for(&token, &id, &["processing"]).await;
    assert_eq!(job["attempts"], 1);
    server.kill();

    let server = serve_with_short_leases(dir.path(), port).await;
    let done = ["completed", "needs_review", "failed"];
    let job = server.wait_for(&token, &id, &done).await;
    assert_eq!(job["attempts"], 2, "{job}");
    if job["status"] == "needs_review" {
        let response = reqwest::Client::new()
            .post(format!("{}/api/documents/jobs/{id}/accept", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("accept");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let job = server
        .get(&token, &format!("/api/documents/jobs/{id}"))
        .await;
    assert_eq!(job["status"], "completed", "{job}");
    let expected = job["counts"]["observations"].as_u64().expect("count");
    assert!(expected > 0, "{job}");
    let path = format!("/fhir/R4/Observation?patient={patient}&_count=200");
    assert_eq!(server.get(&token, &path).await["total"], expected);
    let path = format!("/fhir/R4/DiagnosticReport?patient={patient}");
    assert_eq!(server.get(&token, &path).await["total"], 1);
}
