//! Issue #16, the first run: `serve --demo` imports the synthetic patients of `testdata/`,
//! creates a demo admin, physician (consented to by three imported patients) and patient (linked
//! to the Synthea patient) and prints their secrets once; a second run creates and prints
//! nothing secret; production refuses it. `doctor` checks the machine and fails on an
//! unreachable database.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use medilink_fhir::{Clock, SqlOptions};
use medilink_platform::Role;
use medilink_server::Limits;
use medilink_server::demo::{self, DemoSetup};
use serde_json::{Value, json};

use crate::support::process::{command, describe, free_port, run};
use crate::support::{PostgresDatabase, TestApp, api_call, totp_code};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn account(setup: &DemoSetup, role: Role) -> &demo::DemoAccount {
    setup
        .accounts
        .iter()
        .find(|account| account.role == role)
        .expect("the demo account")
}

async fn login(app: &TestApp, email: &str, password: &str, code: Option<String>) -> String {
    let body = json!({"email": email, "password": password, "totp_code": code});
    let (status, tokens) = api_call(app, Method::POST, "/api/auth/login", "", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{email}: {tokens}");
    tokens["access_token"]
        .as_str()
        .expect("a full session")
        .to_owned()
}

async fn demo_accounts_and_consents(app: TestApp) {
    let setup = demo::prepare(&app.state, &testdata()).await.expect("demo");
    assert!(setup.imported);
    assert_eq!(setup.patients.len(), 3, "{setup:?}");
    assert_eq!(setup.consents_granted, 3);
    let mut printed = Vec::new();
    setup
        .print(&mut printed, "http://127.0.0.1:8080")
        .expect("print");
    let printed = String::from_utf8(printed).expect("utf-8");
    for account in &setup.accounts {
        let password = account.password.as_deref().expect("created now");
        assert!(printed.contains(password), "{printed}");
        assert!(printed.contains(&account.email), "{printed}");
    }

    // The patient signs in (no TOTP) and sees the imported Synthea record as theirs.
    let patient = account(&setup, Role::Patient);
    assert!(patient.otpauth_uri.is_none());
    let password = patient.password.as_deref().expect("password");
    let token = login(&app, demo::PATIENT_EMAIL, password, None).await;
    let (_, me) = api_call(&app, Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!(me["patient_id"], setup.patients[0].as_str(), "{me}");
    let uri = format!("/fhir/R4/Patient/{}", setup.patients[0]);
    let (status, record) = api_call(&app, Method::GET, &uri, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert!(
        record["identifier"].to_string().contains("synthetichealth"),
        "{record}"
    );
    let official = &record["name"][0];
    let name = format!(
        "{} {}",
        official["given"][0].as_str().unwrap_or_default(),
        official["family"].as_str().unwrap_or_default()
    );
    assert_eq!(me["name"], name.as_str(), "named after the record: {me}");

    // Admin and physician have TOTP enrolled: the printed secret signs them in.
    for role in [Role::Admin, Role::Physician] {
        let account = account(&setup, role);
        let uri = account.otpauth_uri.as_deref().expect("TOTP secret printed");
        assert!(printed.contains(uri), "{printed}");
        let password = account.password.as_deref().expect("password");
        let body = json!({"email": account.email, "password": password});
        let (status, answer) =
            api_call(&app, Method::POST, "/api/auth/login", "", Some(&body)).await;
        assert_eq!(
            (status, &answer["mfa_required"]),
            (StatusCode::OK, &json!(true)),
            "{answer}"
        );
        let code = totp_code(uri, app.clock.now());
        login(&app, &account.email, password, Some(code)).await;
    }
    let physician = account(&setup, Role::Physician);
    let code = totp_code(
        physician.otpauth_uri.as_deref().expect("uri"),
        app.clock.now() + time::Duration::seconds(30),
    );
    let doctor = login(
        &app,
        demo::PHYSICIAN_EMAIL,
        physician.password.as_deref().expect("pw"),
        Some(code),
    )
    .await;
    let (_, consents) = api_call(&app, Method::GET, "/api/consents", &doctor, None).await;
    let active: Vec<&Value> = consents["consents"]
        .as_array()
        .expect("consents")
        .iter()
        .filter(|grant| grant["status"] == "active")
        .collect();
    assert_eq!(active.len(), 3, "{consents}");
    // Every consented patient is found by a search, the imported Synthea patient too (its
    // bundle's own id is not a second patient: issue #16).
    let (_, bundle) = api_call(
        &app,
        Method::GET,
        "/fhir/R4/Patient?_count=50",
        &doctor,
        None,
    )
    .await;
    let mut listed: Vec<String> = bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    listed.sort();
    let mut expected = setup.patients.clone();
    expected.sort();
    assert_eq!(listed, expected, "{bundle}");
    for patient in &setup.patients {
        let (status, body) = api_call(
            &app,
            Method::GET,
            &format!("/fhir/R4/Patient/{patient}"),
            &doctor,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, bundle) = api_call(
            &app,
            Method::GET,
            &format!("/fhir/R4/Observation?subject=Patient/{patient}&_count=1"),
            &doctor,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{bundle}");
    }

    // A second run: nothing imported, created or printed that is secret.
    let again = demo::prepare(&app.state, &testdata())
        .await
        .expect("demo again");
    assert!(!again.imported);
    assert_eq!(again.consents_granted, 0);
    assert_eq!(again.patients, setup.patients);
    assert!(
        again
            .accounts
            .iter()
            .all(|account| account.password.is_none() && account.otpauth_uri.is_none())
    );
    let mut printed_again = Vec::new();
    again
        .print(&mut printed_again, "http://127.0.0.1:8080")
        .expect("print");
    let printed_again = String::from_utf8(printed_again).expect("utf-8");
    assert!(printed_again.contains("exists"), "{printed_again}");
    for account in &setup.accounts {
        assert!(
            !printed_again.contains(account.password.as_deref().expect("pw")),
            "{printed_again}"
        );
    }
    assert!(!printed_again.contains("otpauth"), "{printed_again}");
    // The first password still works.
    login(&app, demo::PATIENT_EMAIL, password, None).await;
}

#[tokio::test]
async fn demo_creates_accounts_and_consents_once_on_sqlite() {
    demo_accounts_and_consents(TestApp::new().await).await;
}

#[tokio::test]
async fn demo_creates_accounts_and_consents_once_on_postgres() {
    PostgresDatabase::run("the demo test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        demo_accounts_and_consents(app).await;
    })
    .await;
}

/// Reads the child's stdout until the demo block's last line; the block.
fn demo_block(stdout: impl std::io::Read) -> String {
    let mut block = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout");
        block.push_str(&line);
        block.push('\n');
        if line.contains("not shown again") {
            break;
        }
    }
    block
}

#[tokio::test]
async fn serve_demo_prints_the_sign_in_once_and_production_refuses_it() {
    let dir = tempfile::tempdir().expect("dir");
    let testdata = testdata();
    let serve = |dir: &Path| {
        command(dir)
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--argon2-memory-kib", "1024", "--argon2-iterations", "1"])
            .arg("--demo-data")
            .arg(&testdata)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts")
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first = serve(dir.path());
    let block = demo_block(first.stdout.take().expect("stdout"));
    let _ = first.kill();
    let _ = first.wait();
    assert!(Instant::now() < deadline);
    for email in [
        demo::ADMIN_EMAIL,
        demo::PHYSICIAN_EMAIL,
        demo::PATIENT_EMAIL,
    ] {
        assert!(block.contains(email), "{block}");
    }
    assert_eq!(block.matches("password: ").count(), 3, "{block}");
    assert_eq!(block.matches("otpauth://totp/").count(), 2, "{block}");
    let mut second = serve(dir.path());
    let again = demo_block(second.stdout.take().expect("stdout"));
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(again.matches("exists").count(), 3, "{again}");
    assert!(
        !again.contains("password: ") && !again.contains("otpauth"),
        "{again}"
    );

    let production = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .args(["serve", "--demo"])
        .output()
        .expect("runs");
    assert!(!production.status.success(), "{}", describe(&production));
    let stderr = String::from_utf8_lossy(&production.stderr);
    assert!(
        stderr.contains("--demo") && stderr.contains("production"),
        "{}",
        describe(&production)
    );
    assert!(production.stdout.is_empty(), "{}", describe(&production));
}

#[tokio::test]
async fn doctor_reports_each_check_and_fails_on_an_unreachable_database() {
    let dir = tempfile::tempdir().expect("dir");
    let healthy = run(dir.path(), &["doctor"]);
    assert!(healthy.status.success(), "{}", describe(&healthy));
    let stdout = String::from_utf8_lossy(&healthy.stdout);
    for check in ["tesseract", "data dir", "disk", "database", "key"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.contains(check)
                    && (line.starts_with("ok") || line.starts_with("warn"))),
            "{check}: {}",
            describe(&healthy)
        );
    }
    assert!(
        !dir.path().join("medilink.db").exists(),
        "doctor creates no database"
    );

    let unreachable = run(
        dir.path(),
        &[
            "doctor",
            "--database-url",
            "postgres://medilink:hunter2@127.0.0.1:1/nothing",
        ],
    );
    assert_eq!(
        unreachable.status.code(),
        Some(1),
        "{}",
        describe(&unreachable)
    );
    let stdout = String::from_utf8_lossy(&unreachable.stdout);
    let line = stdout
        .lines()
        .find(|line| line.contains("database"))
        .unwrap_or_else(|| panic!("{}", describe(&unreachable)));
    assert!(line.starts_with("fail"), "{line}");
    assert!(
        line.contains("fix:") && line.contains("--database-url"),
        "{line}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the password is not printed: {stdout}"
    );

    let production = command(dir.path())
        .env("MEDILINK_ENV", "production")
        .arg("doctor")
        .output()
        .expect("runs");
    assert_eq!(
        production.status.code(),
        Some(1),
        "{}",
        describe(&production)
    );
    let stdout = String::from_utf8_lossy(&production.stdout);
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("fail") && line.contains("MEDILINK_AUTH_JWT_KEY")),
        "{}",
        describe(&production)
    );
}
