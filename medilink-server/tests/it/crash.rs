//! Issue #24: crash consistency of the real server binary. Concurrent writers (creates and
//! transactions of 20–30 entries with `urn:uuid` references) run while the server is
//! SIGKILLed at a random moment, three rounds; after a restart every write answered 2xx is
//! there with its version, every transaction is there whole or not at all (answered or not),
//! the change feed has no gap, and `audit verify` passes; on SQLite and on PostgreSQL when
//! `MEDILINK_TEST_POSTGRES_URL` is set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, describe};

#[derive(Default)]
struct Seen {
    /// (id, version) of each answered create.
    created: Vec<(String, String)>,
    /// (tag, entries, answered) of each transaction sent.
    transactions: Vec<(String, usize, bool)>,
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
            let tag = format!("crash-{}-{worker}-{n}", uuid::Uuid::new_v4().simple());
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

/// The binary on `data_dir` with the database `url`.
async fn start(data_dir: &std::path::Path, url: &str) -> Server {
    let url = url.to_owned();
    Server::start_with(
        data_dir,
        crate::support::process::free_port(),
        move |command| {
            command.env("MEDILINK_DATABASE_URL", &url);
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
        let mut server = start(dir, url).await;
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
            .collect();
        // A pseudo-random moment between 0.7 and 2.2 s.
        let nanos = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .subsec_nanos(),
        );
        tokio::time::sleep(Duration::from_millis(700 + (nanos + round * 397) % 1500)).await;
        server.kill();
        for writer in writers {
            let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
        }
    }
    let server = start(dir, url).await;
    let token = server.token("pat@test.local", PASSWORD).await;
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
