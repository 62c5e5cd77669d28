//! Issue #24: `backup` taken from a running server binary and `restore` into a new data
//! directory bring back resources with their history, an uploaded document's blob, accounts
//! that sign in, consents, the full-text index (rebuilt) and an audit chain that verifies;
//! a write after the backup is not in it (control). A changed, missing or unlisted file,
//! or a non-empty target, stops the restore; PostgreSQL is pointed to `pg_dump`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, describe, run, user_add};

fn added(dir: &Path, email: &str, role: &str) {
    let output = user_add(dir, email, PASSWORD, role);
    assert!(output.status.success(), "{}", describe(&output));
}

async fn call(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn observation(patient: &str, text: &str) -> Value {
    json!({"resourceType": "Observation", "status": "preliminary",
        "code": {"text": text}, "subject": {"reference": format!("Patient/{patient}")}})
}

fn backup(data_dir: &Path, to: &Path, keys: bool) {
    let to = to.to_str().expect("utf-8");
    let mut args = vec!["backup", "--to", to];
    if keys {
        args.push("--include-keys");
    }
    let output = run(data_dir, &args);
    assert!(output.status.success(), "{}", describe(&output));
}

fn restore(data_dir: &Path, from: &Path) -> std::process::Output {
    run(
        data_dir,
        &["restore", "--from", from.to_str().expect("utf-8")],
    )
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("json")
}

#[tokio::test]
async fn a_backup_of_a_running_server_restores_everything() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).expect("data dir");
    added(&dir, "pat@test.local", "patient");
    added(&dir, "doc@test.local", "physician");
    let server = Server::start(&dir).await;
    let patient_token = server.token("pat@test.local", PASSWORD).await;
    let me = server.get(&patient_token, "/api/auth/me").await;
    let patient = me["patient_id"].as_str().expect("patient id").to_owned();
    let doctor_token = server.token("doc@test.local", PASSWORD).await;
    let doctor = server.get(&doctor_token, "/api/auth/me").await["id"]
        .as_str()
        .expect("doctor id")
        .to_owned();
    // A resource with two versions.
    let (status, created) = call(
        &server,
        &patient_token,
        reqwest::Method::POST,
        "/fhir/R4/Observation",
        Some(&observation(&patient, "Quetzalcoatlus reading")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let obs = created["id"].as_str().expect("id").to_owned();
    let mut second = observation(&patient, "Quetzalcoatlus reading, corrected");
    second["id"] = json!(obs);
    let uri = format!("/fhir/R4/Observation/{obs}");
    let (status, updated) = call(
        &server,
        &patient_token,
        reqwest::Method::PUT,
        &uri,
        Some(&second),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    // A consent and a document.
    let grant = json!({"grantee": doctor, "scope": ["*"], "purpose": "TREAT"});
    let (status, granted) = call(
        &server,
        &patient_token,
        reqwest::Method::POST,
        "/api/consents",
        Some(&grant),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{granted}");
    let job = server
        .upload(&patient_token, &patient, b"%PDF-1.4 not really a pdf")
        .await;

    // The backup, while the server runs; then a write it does not hold.
    let with_keys = root.path().join("backup");
    backup(&dir, &with_keys, true);
    let (status, late) = call(
        &server,
        &patient_token,
        reqwest::Method::POST,
        "/fhir/R4/Observation",
        Some(&observation(&patient, "after the backup")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    let late = late["id"].as_str().expect("id").to_owned();
    let without_keys = root.path().join("backup-no-keys");
    backup(&dir, &without_keys, false);
    drop(server);

    // What the manifests hold.
    let listed = |dir: &Path| -> Vec<String> {
        manifest(dir)["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|file| file["path"].as_str().expect("path").to_owned())
            .collect()
    };
    let files = listed(&with_keys);
    assert!(files.contains(&"medilink.db".to_owned()), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("blobs/")), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("keys/")), "{files:?}");
    assert!(
        !files.iter().any(|f| f.starts_with("fulltext")),
        "{files:?}"
    );
    assert!(!listed(&without_keys).iter().any(|f| f.starts_with("keys/")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = files
            .iter()
            .find(|f| f.starts_with("keys/"))
            .expect("a key");
        let mode = std::fs::metadata(with_keys.join(key))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // Refusals first: a non-empty target, a changed file, an unlisted file.
    let occupied = root.path().join("occupied");
    std::fs::create_dir(&occupied).expect("dir");
    std::fs::write(occupied.join("x"), b"x").expect("file");
    let refused = restore(&occupied, &with_keys);
    assert!(!refused.status.success());
    assert!(
        describe(&refused).contains("not empty"),
        "{}",
        describe(&refused)
    );
    let tampered = root.path().join("tampered");
    std::fs::create_dir(&tampered).expect("dir");
    for file in listed(&with_keys)
        .iter()
        .chain(["manifest.json".to_owned()].iter())
    {
        let target = tampered.join(file);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("dirs");
        std::fs::copy(with_keys.join(file), target).expect("copy");
    }
    let blob = files
        .iter()
        .find(|f| f.starts_with("blobs/"))
        .expect("blob");
    std::fs::write(tampered.join(blob), b"changed").expect("tamper");
    let refused = restore(&root.path().join("from-tampered"), &tampered);
    assert!(
        describe(&refused).contains("does not match its checksum"),
        "{}",
        describe(&refused)
    );
    assert!(
        !root
            .path()
            .join("from-tampered")
            .join("medilink.db")
            .exists()
    );

    // The restore.
    let restored = root.path().join("restored");
    let output = restore(&restored, &with_keys);
    assert!(output.status.success(), "{}", describe(&output));
    let verified = run(&restored, &["audit", "verify"]);
    assert!(verified.status.success(), "{}", describe(&verified));
    let server = Server::start(&restored).await;
    let patient_token = server.token("pat@test.local", PASSWORD).await;
    let history = server.get(&patient_token, &format!("{uri}/_history")).await;
    assert_eq!(history["total"], 2, "{history}");
    let (status, _) = call(
        &server,
        &patient_token,
        reqwest::Method::GET,
        &format!("/fhir/R4/Observation/{late}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a write after the backup");
    let consents = server.get(&patient_token, "/api/consents").await;
    assert!(consents.to_string().contains(&doctor), "{consents}");
    let document = server
        .get(&patient_token, &format!("/api/documents/jobs/{job}"))
        .await;
    assert_eq!(document["id"], job, "{document}");
    let original = std::fs::read(with_keys.join(blob)).expect("blob");
    assert_eq!(
        std::fs::read(restored.join(blob)).expect("restored blob"),
        original
    );
    // The full-text index was rebuilt from the restored store.
    let found = server
        .get(&patient_token, "/api/search?q=quetzalcoatlus")
        .await;
    assert!(found.to_string().contains(&obs), "{found}");
    // Accounts sign in, the doctor through the grant.
    let doctor_token = server.token("doc@test.local", PASSWORD).await;
    assert!(!doctor_token.is_empty());
}

#[tokio::test]
async fn backup_refuses_postgres_and_a_directory_without_a_database() {
    let root = tempfile::tempdir().expect("dir");
    let output = run(
        root.path(),
        &[
            "--database-url",
            "postgres://127.0.0.1:1/none",
            "backup",
            "--to",
            root.path().join("b").to_str().expect("utf-8"),
        ],
    );
    assert!(!output.status.success());
    assert!(
        describe(&output).contains("pg_dump"),
        "{}",
        describe(&output)
    );
    // An empty data directory has no database to back up.
    let output = run(
        root.path(),
        &[
            "backup",
            "--to",
            root.path().join("b").to_str().expect("utf-8"),
        ],
    );
    assert!(!output.status.success());
    assert!(
        describe(&output).contains("no SQLite database"),
        "{}",
        describe(&output)
    );
}
