//! The clinician directory (`GET /api/directory/clinicians`): active physicians found by part
//! of their name, nothing else and never an e-mail; and the names of the patient's access
//! log (`actor_name`) and consents (`grantee_name`): the display name, else the e-mail.

use axum::http::{Method, StatusCode};
use medilink_platform::{AccountStatus, Role, UserRecord};
use serde_json::{Value, json};

use crate::support::process::{Server, describe, run};
use crate::support::{PASSWORD, TestApp, TestResponse, api_call};

/// Creates an account with `name` (none when `None`) and `status`. A nameless physician can no
/// longer be created (issue #11), but accounts from before that rule exist: one is made by
/// removing the name in the store.
async fn account(
    app: &TestApp,
    email: &str,
    name: Option<&str>,
    role: Role,
    status: AccountStatus,
) -> UserRecord {
    let auth = &app.state.auth;
    let legacy_nameless = role == Role::Physician && name.is_none();
    let name = if legacy_nameless {
        Some("Placeholder")
    } else {
        name
    };
    let mut user = auth
        .create_account(email, PASSWORD, name, role, Some(status))
        .await
        .expect("account");
    if legacy_nameless {
        user.name_enc = None;
        user = auth.accounts().update_user(&user).await.expect("update");
    }
    user
}

/// A full session's access token of `user` (TOTP passed).
async fn token(app: &TestApp, user: &UserRecord) -> String {
    app.state
        .auth
        .issue_session(user, true)
        .await
        .expect("session")
        .access_token
}

/// A signed-in patient's token (the usual caller of the directory).
async fn patient_token(app: &TestApp) -> String {
    let patient = account(
        app,
        "searcher@test.local",
        Some("Sam Searcher"),
        Role::Patient,
        AccountStatus::Active,
    )
    .await;
    token(app, &patient).await
}

async fn search(app: &TestApp, token: &str, query: &str) -> TestResponse {
    let bearer = format!("Bearer {token}");
    app.request(
        Method::GET,
        &format!("/api/directory/clinicians?{query}"),
        &[("authorization", bearer.as_str())],
        axum::body::Body::empty(),
    )
    .await
}

/// The clinicians of a `200` answer.
fn clinicians(response: &TestResponse) -> Vec<Value> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["clinicians"]
        .as_array()
        .cloned()
        .expect("a clinicians array")
}

#[tokio::test]
async fn the_directory_finds_an_active_physician_by_part_of_the_name_case_insensitively() {
    let app = TestApp::new().await;
    let hopper = account(
        &app,
        "grace.hopper@clinic.test",
        Some("Grace Hopper"),
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    account(
        &app,
        "alan.turing@clinic.test",
        Some("Alan Turing"),
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    let patient = patient_token(&app).await;
    for query in ["q=HOPP", "q=grace%20h", "q=%20opp%20"] {
        let found = clinicians(&search(&app, &patient, query).await);
        assert_eq!(
            found,
            [json!({"id": hopper.id.as_str(), "name": "Grace Hopper", "role": "physician"})],
            "{query}"
        );
    }
    assert!(clinicians(&search(&app, &patient, "q=lovelace").await).is_empty());
}

#[tokio::test]
async fn the_directory_never_lists_pending_or_suspended_physicians_patients_or_admins() {
    let app = TestApp::new().await;
    let active = account(
        &app,
        "grace.active@clinic.test",
        Some("Grace Active"),
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    let others = [
        (
            "grace.pending@clinic.test",
            Role::Physician,
            AccountStatus::Pending,
        ),
        (
            "grace.suspended@clinic.test",
            Role::Physician,
            AccountStatus::Suspended,
        ),
        (
            "grace.patient@clinic.test",
            Role::Patient,
            AccountStatus::Active,
        ),
        (
            "grace.admin@clinic.test",
            Role::Admin,
            AccountStatus::Active,
        ),
        (
            "grace.research@clinic.test",
            Role::Researcher,
            AccountStatus::Active,
        ),
    ];
    for (email, role, status) in others {
        account(&app, email, Some("Grace Other"), role, status).await;
    }
    // A nameless admin and patient are not matched by their e-mail either.
    account(
        &app,
        "gracey@clinic.test",
        None,
        Role::Admin,
        AccountStatus::Active,
    )
    .await;
    account(
        &app,
        "gracie@clinic.test",
        None,
        Role::Patient,
        AccountStatus::Active,
    )
    .await;
    let patient = patient_token(&app).await;
    let response = search(&app, &patient, "q=grace&limit=50").await;
    let found = clinicians(&response);
    let ids: Vec<&str> = found.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [active.id.as_str()], "{}", response.text());
    let text = response.text();
    assert!(!text.contains('@'), "an e-mail in {text}");
    assert!(!text.contains("clinic.test"), "an e-mail in {text}");
    assert!(!text.contains("argon2"), "password data in {text}");
}

#[tokio::test]
async fn a_nameless_physician_is_found_by_the_email_local_part_which_is_never_shown() {
    let app = TestApp::new().await;
    let nameless = account(
        &app,
        "dr.quietly@clinic.test",
        None,
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    let patient = patient_token(&app).await;
    let response = search(&app, &patient, "q=Quiet").await;
    assert_eq!(
        clinicians(&response),
        [json!({"id": nameless.id.as_str(), "name": null, "role": "physician"})]
    );
    assert!(!response.text().contains("quietly"), "{}", response.text());
    // The domain is not part of what is searched.
    assert!(clinicians(&search(&app, &patient, "q=clinic.test").await).is_empty());
}

#[tokio::test]
async fn short_queries_are_400_and_the_limit_is_bounded() {
    let app = TestApp::new().await;
    for n in 0..3 {
        let email = format!("doc{n}@clinic.test");
        let name = format!("Doctor Number {n}");
        account(
            &app,
            &email,
            Some(&name),
            Role::Physician,
            AccountStatus::Active,
        )
        .await;
    }
    let patient = patient_token(&app).await;
    for query in ["", "q=", "q=a", "q=%20a%20", "q=number&limit=x"] {
        search(&app, &patient, query)
            .await
            .assert_outcome(StatusCode::BAD_REQUEST, "value");
    }
    let found = clinicians(&search(&app, &patient, "q=number&limit=2").await);
    let names: Vec<&str> = found.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Doctor Number 0", "Doctor Number 1"]);
    assert_eq!(
        clinicians(&search(&app, &patient, "q=number").await).len(),
        3
    );
}

#[tokio::test]
async fn the_directory_needs_a_signed_in_user() {
    let app = TestApp::new().await;
    account(
        &app,
        "grace.hopper@clinic.test",
        Some("Grace Hopper"),
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    for token in ["", "x.y.z"] {
        let (status, body) = api_call(
            &app,
            Method::GET,
            "/api/directory/clinicians?q=grace",
            token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["issue"][0]["code"], "login", "{body}");
        assert!(!body.to_string().contains("Grace"), "{body}");
    }
    // Every role may look clinicians up (physicians and admins with TOTP passed).
    let researcher = account(
        &app,
        "r@test.local",
        None,
        Role::Researcher,
        AccountStatus::Active,
    )
    .await;
    for token in [app.token.clone(), self::token(&app, &researcher).await] {
        assert_eq!(clinicians(&search(&app, &token, "q=grace").await).len(), 1);
    }
}

#[tokio::test]
async fn the_access_log_names_the_actor_once_per_account() {
    let app = TestApp::new().await;
    let patient = account(
        &app,
        "ada@test.local",
        Some("Ada Patient"),
        Role::Patient,
        AccountStatus::Active,
    )
    .await;
    let patient_id = patient.patient_id.clone().expect("a linked Patient");
    let patient = token(&app, &patient).await;
    let named = account(
        &app,
        "grace.hopper@clinic.test",
        Some("Grace Hopper"),
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    let nameless = account(
        &app,
        "dr.quietly@clinic.test",
        None,
        Role::Physician,
        AccountStatus::Active,
    )
    .await;
    for doctor in [&named, &nameless] {
        let grant = json!({"grantee": doctor.id.as_str(), "scope": ["*"]});
        let (status, body) =
            api_call(&app, Method::POST, "/api/consents", &patient, Some(&grant)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let doctor_token = token(&app, doctor).await;
        for _ in 0..2 {
            let uri = format!("/fhir/R4/Patient/{patient_id}");
            let (status, body) = api_call(&app, Method::GET, &uri, &doctor_token, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let (status, log) = api_call(
        &app,
        Method::GET,
        "/api/consents/access-log",
        &patient,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().cloned().unwrap_or_default();
    let reads_by = |id: &str| -> Vec<Value> {
        entries
            .iter()
            .filter(|e| e["action"] == "read" && e["actor"] == id)
            .cloned()
            .collect()
    };
    let named_reads = reads_by(named.id.as_str());
    assert_eq!(named_reads.len(), 2, "{log}");
    assert!(
        named_reads
            .iter()
            .all(|e| e["actor_name"] == "Grace Hopper"),
        "{log}"
    );
    // Issue #16: a clinician without a display name is shown by e-mail, never by a bare id,
    // in the access log and in the patient's consents.
    let nameless_reads = reads_by(nameless.id.as_str());
    assert_eq!(nameless_reads.len(), 2, "{log}");
    assert!(
        nameless_reads
            .iter()
            .all(|e| e["actor_name"] == "dr.quietly@clinic.test"),
        "{log}"
    );
    assert!(
        entries.iter().all(|e| e.get("actor_name").is_some()),
        "{log}"
    );
    let (status, consents) = api_call(&app, Method::GET, "/api/consents", &patient, None).await;
    assert_eq!(status, StatusCode::OK, "{consents}");
    let name_of = |grantee: &str| -> Value {
        consents["consents"]
            .as_array()
            .and_then(|all| all.iter().find(|g| g["grantee"] == grantee))
            .map(|g| g["grantee_name"].clone())
            .unwrap_or_default()
    };
    assert_eq!(name_of(named.id.as_str()), "Grace Hopper", "{consents}");
    assert_eq!(
        name_of(nameless.id.as_str()),
        "dr.quietly@clinic.test",
        "{consents}"
    );
}

#[tokio::test]
async fn user_add_names_the_account() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = run(
        dir.path(),
        &[
            "user",
            "add",
            "--email",
            "grace.hopper@clinic.test",
            "--password",
            PASSWORD,
            "--role",
            "physician",
            "--name",
            "Grace Hopper",
        ],
    );
    assert!(added.status.success(), "{}", describe(&added));
    let server = Server::start(dir.path()).await;
    let (status, tokens) = server.login("grace.hopper@clinic.test", PASSWORD).await;
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
    assert_eq!(me["name"], "Grace Hopper", "{me}");
}
