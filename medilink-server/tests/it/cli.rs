//! Issue #4, against the compiled binary: `user add` bootstraps an account that can log in
//! and refuses weak passwords; `audit verify` proves the chain and names the first record an
//! attacker with file access rewrote; a server killed with SIGKILL under load has the audit
//! record of every request it answered; production refuses development keys.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use crate::support::PASSWORD;
use crate::support::process::{Server, command, describe, free_port, run, user_add};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[tokio::test]
async fn user_add_bootstraps_an_admin_that_can_log_in() {
    let dir = temp_dir();
    let added = user_add(dir.path(), "root@test.local", PASSWORD, "admin");
    assert!(added.status.success(), "{}", describe(&added));
    // The e-mail is taken now.
    let again = user_add(dir.path(), "root@test.local", PASSWORD, "admin");
    assert!(!again.status.success(), "{}", describe(&again));
    let server = Server::start(dir.path()).await;
    let (status, tokens) = server.login("root@test.local", PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access token");
    let me: Value = reqwest::Client::new()
        .get(format!("{}/api/auth/me", server.base))
        .bearer_auth(access)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["role"], "admin", "{me}");
    assert_eq!(me["status"], "active", "{me}");
    let (status, _) = server.login("root@test.local", "not-the-password-1").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn user_add_refuses_weak_passwords_and_unknown_roles_clearly() {
    let dir = temp_dir();
    for (password, message) in [
        ("password1234", "common password"),
        ("short-1", "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("Password#2024", "common password"),
    ] {
        let output = user_add(dir.path(), "root@test.local", password, "admin");
        assert!(
            !output.status.success(),
            "{password}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(message),
            "{password}: {}",
            describe(&output)
        );
    }
    let output = user_add(dir.path(), "root@test.local", PASSWORD, "wizard");
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--role"),
        "{}",
        describe(&output)
    );
    // Nothing was created: the address is still free.
    let output = user_add(dir.path(), "root@test.local", PASSWORD, "admin");
    assert!(output.status.success(), "{}", describe(&output));
}

async fn sqlite(data_dir: &Path) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}/medilink.db", data_dir.display());
    sqlx::SqliteConnection::connect(&url)
        .await
        .expect("the database opens")
}

/// Runs a load of patient reads, SIGKILLs the server while requests are still in flight,
/// and returns the request ids of every read that was answered `200`.
async fn reads_then_sigkill(server: &mut Server, token: &str, patient_id: &str) -> Vec<String> {
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let url = format!("{}/fhir/R4/Patient/{patient_id}", server.base);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (answered, stop, client, url) =
            (answered.clone(), stop.clone(), client.clone(), url.clone());
        let token = token.to_owned();
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Ok(response) = client.get(&url).bearer_auth(&token).send().await else {
                    break;
                };
                let status = response.status();
                let id = response
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                // Only a response received in full counts as completed.
                if response.bytes().await.is_ok() && status == reqwest::StatusCode::OK {
                    answered
                        .lock()
                        .expect("lock")
                        .push(id.expect("x-request-id"));
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().expect("lock").len() < 150 {
        assert!(Instant::now() < deadline, "the load did not progress");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    answered.lock().expect("lock").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_audit_record_and_verify_detects_tampering() {
    let dir = temp_dir();
    let added = user_add(dir.path(), "pat@test.local", PASSWORD, "patient");
    assert!(added.status.success(), "{}", describe(&added));
    let mut server = Server::start(dir.path()).await;
    let (status, tokens) = server.login("pat@test.local", PASSWORD).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["access_token"].as_str().expect("access").to_owned();
    let me: Value = reqwest::Client::new()
        .get(format!("{}/api/auth/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let patient_id = me["patient_id"].as_str().expect("patient id").to_owned();
    let answered = reads_then_sigkill(&mut server, &token, &patient_id).await;
    assert!(answered.len() >= 150, "{}", answered.len());

    // The chain verifies, and holds a record of every answered request.
    let verified = run(dir.path(), &["audit", "verify"]);
    assert!(verified.status.success(), "{}", describe(&verified));
    let mut db = sqlite(dir.path()).await;
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT seq, request_id, action, outcome FROM audit_log ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .expect("audit rows");
    let recorded: HashSet<&str> = rows
        .iter()
        .filter(|(_, _, action, outcome)| action == "read" && *outcome == 200)
        .map(|(_, request_id, _, _)| request_id.as_str())
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no audit record: {missing:?}",
        missing.len(),
        answered.len()
    );
    let distinct: HashSet<&String> = answered.iter().collect();
    assert_eq!(distinct.len(), answered.len(), "request ids are unique");

    // An attacker with file access drops the append-only trigger and rewrites a record.
    let target = rows[rows.len() / 2].0;
    sqlx::raw_sql("DROP TRIGGER audit_log_no_update")
        .execute(&mut db)
        .await
        .expect("drop trigger");
    let changed = sqlx::query("UPDATE audit_log SET outcome = 404 WHERE seq = ?")
        .bind(target)
        .execute(&mut db)
        .await
        .expect("tamper");
    assert_eq!(changed.rows_affected(), 1);
    db.close().await.expect("close");
    let broken = run(dir.path(), &["audit", "verify"]);
    assert!(!broken.status.success(), "{}", describe(&broken));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains(&format!("broken at record {target} ")),
        "names record {target}: {}",
        describe(&broken)
    );
}

#[tokio::test]
async fn audit_verify_detects_a_deleted_record() {
    let dir = temp_dir();
    let added = user_add(dir.path(), "pat@test.local", PASSWORD, "patient");
    assert!(added.status.success(), "{}", describe(&added));
    {
        let server = Server::start(dir.path()).await;
        let (_, tokens) = server.login("pat@test.local", PASSWORD).await;
        let token = tokens["access_token"].as_str().expect("access");
        let client = reqwest::Client::new();
        for _ in 0..5 {
            let response = client
                .get(format!("{}/fhir/R4/Patient", server.base))
                .bearer_auth(token)
                .send()
                .await
                .expect("search");
            assert_eq!(response.status(), 200);
        }
    }
    let verified = run(dir.path(), &["audit", "verify"]);
    assert!(verified.status.success(), "{}", describe(&verified));
    let mut db = sqlite(dir.path()).await;
    sqlx::raw_sql("DROP TRIGGER audit_log_no_delete")
        .execute(&mut db)
        .await
        .expect("drop trigger");
    let deleted = sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(&mut db)
        .await
        .expect("delete");
    assert_eq!(deleted.rows_affected(), 1);
    db.close().await.expect("close");
    let broken = run(dir.path(), &["audit", "verify"]);
    assert!(!broken.status.success(), "{}", describe(&broken));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("broken at record"),
        "{}",
        describe(&broken)
    );
}

#[tokio::test]
async fn production_refuses_generated_keys_and_starts_with_configured_ones() {
    let dir = temp_dir();
    let output = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("runs");
    assert!(!output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MEDILINK_AUTH_JWT_KEY") && stderr.contains("production"),
        "{}",
        describe(&output)
    );
    // No generated development key is left behind for a later start to pick up.
    assert!(
        !dir.path().join("keys/jwt.key").exists(),
        "generated key left in the data dir"
    );
    let key = |byte: u8| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    };
    // Without the research key, production refuses to generate one.
    let output = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .env("MEDILINK_AUTH_JWT_KEY", key(7))
        .env("MEDILINK_AUTH_ENCRYPTION_KEY", key(8))
        .env("MEDILINK_AUTH_LOOKUP_KEY", key(9))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("runs");
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MEDILINK_RESEARCH_KEY"),
        "{}",
        describe(&output)
    );
    assert!(!dir.path().join("keys/research.key").exists());
    // Issue #17: without the SMART signing key, production refuses to generate one.
    let output = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .env("MEDILINK_AUTH_JWT_KEY", key(7))
        .env("MEDILINK_AUTH_ENCRYPTION_KEY", key(8))
        .env("MEDILINK_AUTH_LOOKUP_KEY", key(9))
        .env("MEDILINK_RESEARCH_KEY", key(10))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("runs");
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MEDILINK_SMART_SIGNING_KEY"),
        "{}",
        describe(&output)
    );
    assert!(!dir.path().join("keys/smart-signing.pem").exists());
    let signing = temp_dir();
    let pem = josekit::jws::RS256
        .generate_key_pair(2048)
        .expect("rsa")
        .to_pem_private_key();
    std::fs::write(signing.path().join("smart.pem"), pem).expect("pem");
    // With the five keys configured, production starts.
    let port = free_port();
    let mut child = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .env("MEDILINK_AUTH_JWT_KEY", key(7))
        .env("MEDILINK_AUTH_ENCRYPTION_KEY", key(8))
        .env("MEDILINK_AUTH_LOOKUP_KEY", key(9))
        .env("MEDILINK_RESEARCH_KEY", key(10))
        .env(
            "MEDILINK_SMART_SIGNING_KEY",
            signing.path().join("smart.pem"),
        )
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let up = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("exited: {status}"));
        }
        let health = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await;
        if health.is_ok_and(|response| response.status().is_success()) {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err("did not come up".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(up, Ok(()), "production with configured keys");
}

/// `import DIR`: Synthea output loads as is (hospitals and practitioners first, by name), a bad
/// file is reported by name and the others still load; the command then fails.
#[tokio::test]
async fn import_loads_synthea_and_reports_bad_files() {
    let data = temp_dir();
    let input = temp_dir();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/synthea");
    for file in [
        "0-hospitalInformation1625911868739.json",
        "0-practitionerInformation1625911868739.json",
        "085e81c0-7a95-ef02-16ef-aa1b4344deed.json",
    ] {
        std::fs::copy(testdata.join(file), input.path().join(file)).expect("copy test data");
    }
    std::fs::write(input.path().join("broken.json"), "{not json").expect("write");
    let output = run(
        data.path(),
        &["import", input.path().to_str().expect("utf-8 path")],
    );
    assert!(
        !output.status.success(),
        "a bad file fails the command: {}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.json"),
        "the bad file is named: {}",
        describe(&output)
    );
    assert!(
        stderr.contains("from 3 of 4 files"),
        "{}",
        describe(&output)
    );
    let mut db = sqlite(data.path()).await;
    let patients: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources WHERE resource_type = 'Patient' AND deleted = 0",
    )
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert_eq!(patients, 1, "the good files loaded");
}

/// Issue #17: `smart rotate-key` keeps the previous SMART signing key beside the new one.
#[tokio::test]
async fn smart_rotate_key_keeps_the_previous_key() {
    let dir = temp_dir();
    let keys = dir.path().join("keys");
    let first = run(dir.path(), &["smart", "rotate-key"]);
    assert!(first.status.success(), "{}", describe(&first));
    let current = std::fs::read(keys.join("smart-signing.pem")).expect("current key");
    assert!(!keys.join("smart-signing.previous.pem").exists());
    let second = run(dir.path(), &["smart", "rotate-key"]);
    assert!(second.status.success(), "{}", describe(&second));
    assert_eq!(
        std::fs::read(keys.join("smart-signing.previous.pem")).expect("previous key"),
        current
    );
    assert_ne!(
        std::fs::read(keys.join("smart-signing.pem")).expect("new key"),
        current
    );
}
