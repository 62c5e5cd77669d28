//! Issue #24: crash consistency of the real server binary. Concurrent writers (creates,
//! transactions of 20–30 entries with `urn:uuid` references, document uploads whose
//! `document.ingest` jobs the in-process worker runs one at a time, so one is leased when the
//! kill comes) run while the server is SIGKILLed at a random moment, three rounds; after a
//! restart every write answered 2xx is there with its version, every transaction is there
//! whole or not at all (answered or not), every answered upload is there with its whole blob
//! and its job runs to exactly one set of Observations (no lost job, no duplicate), no
//! `DocumentReference` lacks its blob, the full-text index finds every answered transaction,
//! the change feed has no gap, and `audit verify` passes; on SQLite and on PostgreSQL when
//! `MEDILINK_TEST_POSTGRES_URL` is set. About 65 s per backend on the loaded 2-core machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, describe, text_report};

#[derive(Default)]
struct Seen {
    /// (id, version) of each answered create.
    created: Vec<(String, String)>,
    /// (tag, entries, answered) of each transaction sent.
    transactions: Vec<(String, usize, bool)>,
    /// (job id, `DocumentReference/{id}`) of each answered upload.
    uploads: Vec<(String, String)>,
}

/// Uploads the report into `patient`'s record again and again, noting each `202`.
async fn uploader(base: String, token: String, patient: String, seen: Arc<Mutex<Seen>>) {
    let client = reqwest::Client::new();
    let (pdf, _) = text_report();
    loop {
        let (content_type, body) = crate::support::multipart(&patient, "report.pdf", &pdf);
        let response = client
            .post(format!("{base}/api/documents"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await;
        let Ok(response) = response else { return };
        if response.status() == reqwest::StatusCode::ACCEPTED {
            let Ok(answer) = response.json::<Value>().await else {
                return;
            };
            let job = answer["job_id"].as_str().unwrap_or_default().to_owned();
            let document = answer["document_reference"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            seen.lock().expect("seen").uploads.push((job, document));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

fn transaction(patient: &str, tag: &str, n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            let subject = if i == 0 {
                format!("Patient/{patient}")
            } else {
                "urn:uuid:7a0c0000-0000-4000-8000-000000000000".to_owned()
            };
            let mut entry = json!({
                "fullUrl": format!("urn:uuid:7a0c0000-0000-4000-8000-{i:012}"),
                "resource": {"resourceType": "Observation", "status": "final",
                    "code": {"text": tag}, "subject": {"reference": format!("Patient/{patient}")},
                    "focus": [{"reference": subject}]},
                "request": {"method": "POST", "url": "Observation"}
            });
            if i == 0 {
                entry["resource"]["focus"] = json!([{"reference": format!("Patient/{patient}")}]);
            }
            entry
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

async fn writer(
    base: String,
    token: String,
    patient: String,
    worker: usize,
    seen: Arc<Mutex<Seen>>,
) {
    let client = reqwest::Client::new();
    for n in 0.. {
        if n % 3 == 0 {
            // One word, so that full text finds it as a term.
            let tag = format!("crash{}w{worker}n{n}", uuid::Uuid::new_v4().simple());
            let size = 20 + (n % 11);
            seen.lock()
                .expect("seen")
                .transactions
                .push((tag.clone(), size, false));
            let response = client
                .post(format!("{base}/fhir/R4"))
                .bearer_auth(&token)
                .json(&transaction(&patient, &tag, size))
                .send()
                .await;
            let Ok(response) = response else { return };
            if response.status().is_success() {
                let mut seen = seen.lock().expect("seen");
                if let Some(last) = seen.transactions.iter_mut().find(|t| t.0 == tag) {
                    last.2 = true;
                }
            }
        } else {
            let body = json!({"resourceType": "Observation", "status": "preliminary",
                "code": {"text": "crash single"},
                "subject": {"reference": format!("Patient/{patient}")}});
            let response = client
                .post(format!("{base}/fhir/R4/Observation"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let Ok(response) = response else { return };
            if response.status() == reqwest::StatusCode::CREATED {
                let Ok(created) = response.json::<Value>().await else {
                    return;
                };
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                let version = created["meta"]["versionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().expect("seen").created.push((id, version));
            }
        }
    }
}

#[tokio::test]
async fn answered_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    crash_rounds(dir.path(), &url).await;
}

#[tokio::test]
async fn answered_writes_survive_sigkill_on_postgres() {
    crate::support::PostgresDatabase::run("crash rounds", |url| async move {
        let dir = tempfile::tempdir().expect("dir");
        crash_rounds(dir.path(), &url).await;
    })
    .await;
}

/// The binary on `data_dir` with the database `url`, its worker running `jobs` at once with
/// 2 s leases (a killed server's lease runs out soon), and no per-minute limit for the patient
/// (on a quiet machine the writers answer more than the default allows, and the checks after
/// each restart then meet 429: this test is about what survives, not about the limiter).
async fn start(data_dir: &std::path::Path, url: &str, jobs: usize) -> Server {
    let url = url.to_owned();
    Server::start_with(
        data_dir,
        crate::support::process::free_port(),
        move |command| {
            command.env("MEDILINK_DATABASE_URL", &url).args([
                "--worker-lease-secs",
                "2",
                "--worker-concurrency",
                &jobs.to_string(),
                "--rate-limit-patient",
                "0",
            ]);
        },
    )
    .await
}

async fn crash_rounds(data_dir: &std::path::Path, url: &str) {
    let dir = data_dir;
    let output = crate::support::process::command(dir)
        .env("MEDILINK_DATABASE_URL", url)
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
    let seen = Arc::new(Mutex::new(Seen::default()));
    for round in 0..3u64 {
        let mut server = start(dir, url, 1).await;
        let token = server.token("pat@test.local", PASSWORD).await;
        let patient = server.get(&token, "/api/auth/me").await["patient_id"]
            .as_str()
            .expect("patient")
            .to_owned();
        let writers: Vec<_> = (0..4)
            .map(|worker| {
                tokio::spawn(writer(
                    server.base.clone(),
                    token.clone(),
                    patient.clone(),
                    worker,
                    seen.clone(),
                ))
            })
            .chain([tokio::spawn(uploader(
                server.base.clone(),
                token.clone(),
                patient.clone(),
                seen.clone(),
            ))])
            .collect();
        // Once this round has answered a create, a transaction and an upload (however loaded
        // the machine is; at most 60 s), a pseudo-random moment 0.2 to 1.7 s later.
        let before = {
            let seen = seen.lock().expect("seen");
            let answered = seen.transactions.iter().filter(|t| t.2).count();
            (seen.created.len(), answered, seen.uploads.len())
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = {
                let seen = seen.lock().expect("seen");
                let answered = seen.transactions.iter().filter(|t| t.2).count();
                (seen.created.len(), answered, seen.uploads.len())
            };
            if (now.0 > before.0 && now.1 > before.1 && now.2 > before.2)
                || std::time::Instant::now() > deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let nanos = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .subsec_nanos(),
        );
        tokio::time::sleep(Duration::from_millis(200 + (nanos + round * 397) % 1500)).await;
        // Then the moment a document job is leased (`processing`; at most 20 s of looking), so
        // that every round kills a running job however fast the machine works through them.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline && !job_leased(&server, &token, &seen).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill();
        for writer in writers {
            let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
        }
    }
    let server = start(dir, url, 4).await;
    let token = server.token("pat@test.local", PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert!(!seen.created.is_empty(), "some creates were answered");
    assert!(
        seen.transactions.iter().any(|t| t.2),
        "some transactions were answered"
    );
    for (id, version) in &seen.created {
        let stored = server
            .get(&token, &format!("/fhir/R4/Observation/{id}"))
            .await;
        assert_eq!(stored["meta"]["versionId"], version.as_str(), "{id}");
    }
    for (tag, size, answered) in &seen.transactions {
        let found = server
            .get(
                &token,
                &format!("/fhir/R4/Observation?code:text={tag}&_summary=count"),
            )
            .await["total"]
            .as_u64()
            .expect("total");
        if *answered {
            assert_eq!(found, *size as u64, "{tag}: answered, so whole");
        } else {
            assert!(
                found == 0 || found == *size as u64,
                "{tag}: {found} of {size}"
            );
        }
    }
    check_uploads(&server, &token, &patient, dir, &seen.uploads).await;
    check_full_text(&server, &token, &seen.transactions).await;
    drop(server);
    // The change feed has no gap, and the audit chain verifies.
    let (store, _platform) = medilink_platform::open_store_and_platform(
        &medilink_fhir::SqlOptions::new(url.to_owned()),
        Arc::new(medilink_fhir::SystemClock),
        Arc::new(medilink_fhir::UuidIdGen),
    )
    .await
    .expect("store");
    let feed = store
        .changes_since(&medilink_fhir::RequestContext::system(), 0, 1_000_000)
        .await
        .expect("feed");
    for (i, change) in feed.iter().enumerate() {
        assert_eq!(change.seq, i as u64 + 1, "the feed is gapless");
    }
    store.close().await.expect("close");
    let verified = crate::support::process::command(dir)
        .env("MEDILINK_DATABASE_URL", url)
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(verified.status.success(), "{}", describe(&verified));
}

/// Whether one of the latest answered uploads' jobs is leased by the server's worker now.
async fn job_leased(server: &Server, token: &str, seen: &Mutex<Seen>) -> bool {
    let jobs: Vec<String> = {
        let seen = seen.lock().expect("seen");
        seen.uploads
            .iter()
            .rev()
            .take(4)
            .map(|(job, _)| job.clone())
            .collect()
    };
    let client = reqwest::Client::new();
    for job in jobs {
        let answer = client
            .get(format!("{}/api/documents/jobs/{job}", server.base))
            .bearer_auth(token)
            .send()
            .await;
        let Ok(answer) = answer else { return false };
        if let Ok(job) = answer.json::<Value>().await
            && job["status"] == "processing"
        {
            return true;
        }
    }
    false
}

/// Every answered upload's job runs to exactly one set of Observations (a job leased at a kill
/// runs again, once), and every `DocumentReference` of the record has its whole blob.
async fn check_uploads(
    server: &Server,
    token: &str,
    patient: &str,
    dir: &std::path::Path,
    uploads: &[(String, String)],
) {
    assert!(!uploads.is_empty(), "some uploads were answered");
    let (pdf, results) = text_report();
    let mut rerun = 0;
    for (job, document) in uploads {
        let done = server
            .wait_for(token, job, &["completed", "needs_review", "failed"])
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["document_reference"], document.as_str(), "{done}");
        assert_eq!(done["counts"]["observations"], results, "{done}");
        if done["attempts"].as_u64() > Some(1) {
            rerun += 1;
        }
        let filed = server
            .get(
                token,
                &format!("/fhir/R4/Observation?derived-from={document}&_summary=count"),
            )
            .await["total"]
            .as_u64();
        assert_eq!(filed, Some(results), "{document}: filed once");
    }
    // The positive control of "runs again": some job was leased when a kill came.
    assert!(rerun > 0, "no job was running at a kill");
    let blobs = medilink_fhir::open_blob_store(&medilink_fhir::BlobOptions::new(format!(
        "fs://{}",
        dir.join("blobs").display()
    )))
    .await
    .expect("blobs");
    let documents = server
        .get(
            token,
            &format!("/fhir/R4/DocumentReference?patient={patient}&_count=1000"),
        )
        .await;
    let entries = documents["entry"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.len() >= uploads.len(),
        "{} documents",
        entries.len()
    );
    for entry in entries {
        let attachment = &entry["resource"]["content"][0]["attachment"];
        let key = attachment["url"].as_str().expect("blob key");
        let bytes = blobs.get(key).await.expect("blob store");
        assert_eq!(
            bytes.as_deref(),
            Some(pdf.as_slice()),
            "{key}: the blob of a visible document is whole"
        );
    }
}

/// The full-text index catches up after the restart: every answered transaction's tag finds
/// all its entries through `_content` within 60 s.
async fn check_full_text(server: &Server, token: &str, transactions: &[(String, usize, bool)]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for (tag, size, _) in transactions.iter().filter(|t| t.2) {
        loop {
            let found = server
                .get(
                    token,
                    &format!("/fhir/R4/Observation?_content={tag}&_summary=count"),
                )
                .await["total"]
                .as_u64()
                .expect("total");
            if found == *size as u64 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{tag}: full text finds {found} of {size}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
