//! Issue #24: a crash between an upload's `DocumentReference` and its `document.ingest` job
//! leaves no document un-ingested. The server binary runs with the hidden test crash point
//! (`--test-crash-before-document-job`: it aborts when the upload's job is about to be
//! queued, after the document was written); after a restart without it the document relay
//! queues the job, which files its results exactly once. On SQLite, on SQLite with the relay's cursor in
//! Redis (when `MEDILINK_TEST_REDIS_URL` is set), and on PostgreSQL (when
//! `MEDILINK_TEST_POSTGRES_URL` is set). Before the relay the document stayed without a job:
//! the wait for its job below timed out.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::PASSWORD;
use crate::support::process::{Server, command, describe, free_port, text_report};

/// `serve` on `dir` with `env`, crashing before the first document job when `crash`.
async fn start(dir: &Path, env: &[(&'static str, String)], crash: bool) -> Server {
    let env = env.to_vec();
    Server::start_with(dir, free_port(), move |command| {
        command.envs(env);
        if crash {
            command.arg("--test-crash-before-document-job");
        }
    })
    .await
}

/// The document jobs of the signed-in user that name `document` (`DocumentReference/{id}`).
async fn jobs_of(server: &Server, token: &str, document: &str) -> Vec<Value> {
    let jobs = server.get(token, "/api/documents/jobs?limit=100").await;
    jobs["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|job| job["document_reference"] == document)
        .cloned()
        .collect()
}

async fn crash_between_document_and_job(dir: &Path, env: &[(&'static str, String)]) {
    let output = command(dir)
        .envs(env.iter().cloned())
        .args([
            "user",
            "add",
            "--email",
            "pat@test.local",
            "--password",
            PASSWORD,
        ])
        .args([
            "--role",
            "patient",
            "--name",
            "Pat Test",
            "--birth-date",
            "1980-01-01",
        ])
        .output()
        .expect("user add");
    assert!(output.status.success(), "{}", describe(&output));
    let (pdf, results) = text_report();

    let mut server = start(dir, env, true).await;
    let token = server.token("pat@test.local", PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let (content_type, body) = crate::support::multipart(&patient, "report.pdf", &pdf);
    let answer = reqwest::Client::new()
        .post(format!("{}/api/documents", server.base))
        .bearer_auth(&token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await;
    assert!(
        answer.is_err(),
        "the upload is cut by the crash: {answer:?}"
    );
    let exited = server.wait_exit(Duration::from_secs(30)).await;
    assert!(exited.is_some(), "the crash point ended the process");
    drop(server);

    let server = start(dir, env, false).await;
    let documents = server
        .get(
            &token,
            &format!("/fhir/R4/DocumentReference?patient={patient}"),
        )
        .await;
    let entries = documents["entry"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries.len(),
        1,
        "the document was written before the crash"
    );
    let document = format!(
        "DocumentReference/{}",
        entries[0]["resource"]["id"].as_str().expect("id")
    );
    // The relay queues its job at start-up (at most 60 s on the loaded machine).
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        if let Some(job) = jobs_of(&server, &token, &document).await.pop() {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "{document} never got its job after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job_id = job["id"].as_str().expect("job id").to_owned();
    let done = server
        .wait_for(&token, &job_id, &["completed", "needs_review", "failed"])
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["counts"]["observations"], results, "{done}");
    let filed = |server: &Server| {
        let path = format!("/fhir/R4/Observation?derived-from={document}&_summary=count");
        let token = token.clone();
        let base = server.base.clone();
        async move {
            reqwest::Client::new()
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("search")
                .json::<Value>()
                .await
                .expect("json")["total"]
                .as_u64()
        }
    };
    assert_eq!(filed(&server).await, Some(results), "filed once");
    let jobs = jobs_of(&server, &token, &document).await;
    assert_eq!(jobs.len(), 1, "one job for the document: {jobs:?}");
}

#[tokio::test]
async fn a_document_cut_from_its_job_by_a_crash_is_ingested_once_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    crash_between_document_and_job(dir.path(), &[("MEDILINK_DATABASE_URL", url)]).await;
}

#[tokio::test]
async fn a_document_cut_from_its_job_by_a_crash_is_ingested_once_with_redis() {
    let Ok(redis) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        eprintln!("skipping: MEDILINK_TEST_REDIS_URL is not set");
        return;
    };
    // The relay's cursor is a key of the shared Redis: another run's cursor would be ahead of
    // this database's feed, so the cursor is cleared first.
    let kv = medilink_fhir::kv::RedisKeyValue::connect(&redis, "medilink:")
        .await
        .expect("redis");
    medilink_fhir::kv::KeyValue::delete(&kv, "documents:relay:cursor")
        .await
        .expect("clear the cursor");
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    crash_between_document_and_job(
        dir.path(),
        &[
            ("MEDILINK_DATABASE_URL", url),
            ("MEDILINK_REDIS_URL", redis),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_document_cut_from_its_job_by_a_crash_is_ingested_once_on_postgres() {
    crate::support::PostgresDatabase::run("document relay", |url| async move {
        let dir = tempfile::tempdir().expect("dir");
        crash_between_document_and_job(dir.path(), &[("MEDILINK_DATABASE_URL", url)]).await;
    })
    .await;
}
