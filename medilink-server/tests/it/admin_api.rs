//! Issue #15: the admin API — users (filters with a total, detail, reinstate, role changes
//! with the last-admin rule), researcher invitations (single use, revocable, expiring), the
//! statistics, the health of every backend, the full-text rebuild and the audit chain
//! verification as jobs with progress — every action audited. Each scenario runs on SQLite
//! and, when `MEDILINK_TEST_POSTGRES_URL` is set, on PostgreSQL. (The refusal of every
//! non-admin caller is in `admin.rs` and `route_table.rs`.)

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::worker::Step;
use medilink_platform::{AccountStatus, Role};
use medilink_server::Limits;
use medilink_server::config::WorkerSettings;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, api_call, signed_in};

macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().expect("dir");
                let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
                let app = super::app_on(&url).await;
                super::$scenario(&app, &url).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                crate::support::PostgresDatabase::run(stringify!($scenario), |url| async move {
                    let app = super::app_on(&url).await;
                    super::$scenario(&app, &url).await;
                })
                .await;
            }
        }
    };
}

on_both_backends!(users_are_found_shown_moved_and_promoted);
on_both_backends!(invitations_create_researchers_once);
on_both_backends!(statistics_count_the_seeded_data);
on_both_backends!(health_checks_every_backend);
on_both_backends!(reindex_rebuilds_with_progress);
on_both_backends!(audit_verification_finds_the_first_tampered_record);

async fn app_on(url: &str) -> TestApp {
    TestApp::on(&SqlOptions::new(url), Limits::default()).await
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    api_call(app, method, path, &app.token, body).await
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = admin(app, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// An account created directly (active unless `status` says otherwise); its id.
async fn account(
    app: &TestApp,
    email: &str,
    name: Option<&str>,
    role: Role,
    status: AccountStatus,
) -> String {
    app.state
        .auth
        .create_account(email, PASSWORD, name, role, Some(status))
        .await
        .expect("account")
        .id
        .to_string()
}

/// `app` moved on by `elapsed`, with a fresh session of its admin (the old one expired).
async fn later(app: &TestApp, elapsed: Duration) -> TestApp {
    app.clock.advance(elapsed);
    let admins = app
        .state
        .auth
        .accounts()
        .list_users(&medilink_platform::UserFilter {
            role: Some(Role::Admin),
            ..medilink_platform::UserFilter::default()
        })
        .await
        .expect("admins");
    let session = app
        .state
        .auth
        .issue_session(&admins[0], true)
        .await
        .expect("session");
    TestApp {
        token: session.access_token,
        ..app.clone()
    }
}

/// Asserts an instant at `second` (the fixed clock ticks a little with every reading).
#[track_caller]
fn assert_at(value: &Value, second: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not an instant: {value}"));
    assert!(
        text.starts_with(second) && text.ends_with('Z'),
        "{text} is not at {second}"
    );
}

fn emails(list: &Value) -> Vec<String> {
    let mut emails: Vec<String> = list["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users: {list}"))
        .iter()
        .map(|user| user["email"].as_str().expect("email").to_owned())
        .collect();
    emails.sort();
    emails
}

/// Asserts a `status` OperationOutcome whose first issue has `code`.
fn assert_outcome(reply: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert_eq!(reply.1["resourceType"], "OperationOutcome", "{}", reply.1);
    assert_eq!(reply.1["issue"][0]["code"], code, "{}", reply.1);
}

/// The audit records of `action`, newest first.
async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    let page = get(app, &format!("/api/admin/audit?action={action}")).await;
    page["records"].as_array().expect("records").clone()
}

async fn users_are_found_shown_moved_and_promoted(app: &TestApp, _url: &str) {
    let patient = account(
        app,
        "pat@test.local",
        Some("Pat Example"),
        Role::Patient,
        AccountStatus::Active,
    )
    .await;
    let doctor = account(
        app,
        "grace@test.local",
        Some("Grace Hopper"),
        Role::Physician,
        AccountStatus::Pending,
    )
    .await;
    let researcher = account(
        app,
        "ada@test.local",
        Some("Ada Lovelace"),
        Role::Researcher,
        AccountStatus::Pending,
    )
    .await;
    let nameless = account(
        app,
        "anon@test.local",
        None,
        Role::Researcher,
        AccountStatus::Active,
    )
    .await;

    // Filters, with the total of every match.
    let all = get(app, "/api/admin/users").await;
    assert_eq!(all["total"], 5, "{all}");
    let doctors = get(app, "/api/admin/users?role=physician").await;
    assert_eq!(emails(&doctors), ["grace@test.local"]);
    let pending = get(app, "/api/admin/users?status=pending").await;
    assert_eq!(emails(&pending), ["ada@test.local", "grace@test.local"]);
    assert_eq!(pending["total"], 2);
    let waiting = get(app, "/api/admin/users?pending=true").await;
    assert_eq!(emails(&waiting), ["grace@test.local"]);
    let (status, _) = admin(
        app,
        Method::GET,
        "/api/admin/users?pending=true&role=researcher",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let by_name = get(app, "/api/admin/users?q=hOPPer").await;
    assert_eq!(emails(&by_name), ["grace@test.local"]);
    let by_mail = get(app, "/api/admin/users?q=LOVELACE").await;
    assert_eq!(emails(&by_mail), ["ada@test.local"]);
    let partial = get(app, "/api/admin/users?q=a&role=researcher&limit=1").await;
    assert_eq!(partial["users"].as_array().map(Vec::len), Some(1));
    assert_eq!(partial["total"], 2, "{partial}");
    let exact = get(app, "/api/admin/users?email=PAT@test.local").await;
    assert_eq!(emails(&exact), ["pat@test.local"]);
    let none = get(app, "/api/admin/users?q=nobody").await;
    assert_eq!((none["total"].clone(), emails(&none).len()), (json!(0), 0));

    // Detail: the patient signs in and reads their record.
    let (status, tokens) = api_call(
        app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": "pat@test.local", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().expect("token");
    let (status, _) = api_call(app, Method::GET, "/fhir/R4/Patient", access, None).await;
    assert_eq!(status, StatusCode::OK);
    let detail = get(app, &format!("/api/admin/users/{patient}")).await;
    assert_eq!(detail["user"]["email"], "pat@test.local", "{detail}");
    assert_eq!(detail["active_sessions"], 1, "{detail}");
    assert_eq!(detail["locked"], false);
    assert_at(&detail["last_sign_in_at"], "2024-01-01T00:00:00");
    assert!(detail["created_at"].is_string());
    let activity = detail["recent_activity"].as_array().expect("activity");
    assert!(!activity.is_empty(), "{detail}");
    assert!(
        activity
            .iter()
            .all(|record| record["actor"] == patient.as_str())
    );
    let never = get(app, &format!("/api/admin/users/{doctor}")).await;
    assert_eq!(never["last_sign_in_at"], Value::Null);
    assert_eq!(never["active_sessions"], 0);
    let missing = admin(app, Method::GET, "/api/admin/users/nobody", None).await;
    assert_outcome(&missing, StatusCode::NOT_FOUND, "not-found");

    // Transitions: approve pending → active, suspend, reinstate suspended → active.
    let act = |id: &str, action: &str| format!("/api/admin/users/{id}/{action}");
    let (status, approved) = admin(app, Method::POST, &act(&doctor, "approve"), None).await;
    assert_eq!(
        (status, approved["status"].clone()),
        (StatusCode::OK, json!("active"))
    );
    let again = admin(app, Method::POST, &act(&doctor, "approve"), None).await;
    assert_outcome(&again, StatusCode::CONFLICT, "business-rule");
    assert!(
        again.1["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|text| text.contains("active"))
    );
    let early = admin(app, Method::POST, &act(&doctor, "reinstate"), None).await;
    assert_outcome(&early, StatusCode::CONFLICT, "business-rule");
    let (status, suspended) = admin(app, Method::POST, &act(&researcher, "suspend"), None).await;
    assert_eq!(
        (status, suspended["status"].clone()),
        (StatusCode::OK, json!("suspended"))
    );
    let twice = admin(app, Method::POST, &act(&researcher, "suspend"), None).await;
    assert_outcome(&twice, StatusCode::CONFLICT, "business-rule");
    let approve_suspended = admin(app, Method::POST, &act(&researcher, "approve"), None).await;
    assert_outcome(&approve_suspended, StatusCode::CONFLICT, "business-rule");
    let (status, back) = admin(app, Method::POST, &act(&researcher, "reinstate"), None).await;
    assert_eq!(
        (status, back["status"].clone()),
        (StatusCode::OK, json!("active"))
    );
    let (status, _) = admin(app, Method::POST, &act("nobody", "reinstate"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let reinstated = audited(app, "user-reinstate").await;
    assert_eq!(reinstated.len(), 3, "{reinstated:?}");
    assert_eq!(
        reinstated[1]["resource_ids"],
        json!([format!("User/{researcher}")])
    );
    assert_eq!(reinstated[1]["outcome"], 200);

    // Role changes.
    let role = |id: &str| format!("/api/admin/users/{id}/role");
    let to = |role: &str| json!({ "role": role });
    let from_patient = admin(app, Method::PUT, &role(&patient), Some(&to("researcher"))).await;
    assert_outcome(&from_patient, StatusCode::CONFLICT, "business-rule");
    let to_patient = admin(app, Method::PUT, &role(&researcher), Some(&to("patient"))).await;
    assert_outcome(&to_patient, StatusCode::CONFLICT, "business-rule");
    let (status, _) = admin(app, Method::PUT, &role(&researcher), Some(&to("wizard"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unnamed = admin(app, Method::PUT, &role(&nameless), Some(&to("physician"))).await;
    assert_outcome(&unnamed, StatusCode::BAD_REQUEST, "required");
    let (status, _) = admin(app, Method::PUT, &role("nobody"), Some(&to("admin"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, promoted) =
        admin(app, Method::PUT, &role(&researcher), Some(&to("physician"))).await;
    assert_eq!(
        (status, promoted["role"].clone()),
        (StatusCode::OK, json!("physician"))
    );
    let (status, promoted) = admin(app, Method::PUT, &role(&doctor), Some(&to("admin"))).await;
    assert_eq!(
        (status, promoted["role"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    // Two admins: one may go; then the last one stays, whoever asks.
    let (status, demoted) = admin(app, Method::PUT, &role(&doctor), Some(&to("physician"))).await;
    assert_eq!(
        (status, demoted["role"].clone()),
        (StatusCode::OK, json!("physician"))
    );
    let me = get(app, "/api/admin/users?role=admin").await["users"][0]["id"]
        .as_str()
        .expect("the admin")
        .to_owned();
    let last = admin(app, Method::PUT, &role(&me), Some(&to("researcher"))).await;
    assert_outcome(&last, StatusCode::CONFLICT, "business-rule");
    assert_eq!(
        last.1["issue"][0]["diagnostics"],
        "cannot remove the last admin"
    );
    let suspend_last = admin(app, Method::POST, &act(&me, "suspend"), None).await;
    assert_outcome(&suspend_last, StatusCode::CONFLICT, "business-rule");
    let changes = audited(app, "user-role-change").await;
    assert_eq!(changes.len(), 9, "every attempt is audited");
    assert_eq!(changes[0]["outcome"], 409);
    assert_eq!(changes[0]["resource_ids"], json!([format!("User/{me}")]));
}

/// The token of an invitation's link.
fn token_of(invitation: &Value) -> String {
    let url = invitation["url"]
        .as_str()
        .unwrap_or_else(|| panic!("url: {invitation}"));
    url.rsplit('/').next().expect("a token").to_owned()
}

async fn invite(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    admin(app, Method::POST, "/api/admin/invitations", Some(body)).await
}

async fn accept(app: &TestApp, token: &str, name: &str) -> (StatusCode, Value) {
    let body = json!({"name": name, "password": PASSWORD});
    let path = format!("/api/auth/invitations/{token}/accept");
    api_call(app, Method::POST, &path, "", Some(&body)).await
}

async fn invitations_create_researchers_once(app: &TestApp, _url: &str) {
    account(
        app,
        "taken@test.local",
        Some("Taken"),
        Role::Patient,
        AccountStatus::Active,
    )
    .await;
    let (status, invitation) = invite(app, &json!({"email": "Ada@Research.test"})).await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    assert_eq!(invitation["email"], "ada@research.test");
    assert_eq!(invitation["role"], "researcher");
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["accepted_at"], Value::Null);
    assert_at(&invitation["created_at"], "2024-01-01T00:00:00");
    assert_at(&invitation["expires_at"], "2024-01-04T00:00:00"); // 72 hours by default
    assert!(invitation["created_by"].is_string());
    let url = invitation["url"].as_str().expect("url");
    assert!(url.starts_with("http://test.local/invite/"), "{url}");
    let token = token_of(&invitation);
    assert_eq!(token.len(), 43, "32 bytes, base64url: {token}");

    // Refused invitations.
    let taken = invite(app, &json!({"email": "taken@test.local"})).await;
    assert_outcome(&taken, StatusCode::CONFLICT, "conflict");
    for hours in [0, 721] {
        let (status, _) = invite(
            app,
            &json!({"email": "x@test.local", "expires_in_hours": hours}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{hours} hours");
    }
    let (status, _) = invite(app, &json!({"email": "not an address"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Listed without the link (its token is not stored).
    let list = get(app, "/api/admin/invitations").await;
    let listed = list["invitations"].as_array().expect("invitations");
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["url"], Value::Null);
    assert_eq!(listed[0]["id"], invitation["id"]);

    // Accepted: an active researcher who signs in normally; the link works once.
    let (status, user) = accept(app, &token, "Ada Lovelace").await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(
        (user["role"].clone(), user["status"].clone()),
        (json!("researcher"), json!("active"))
    );
    assert_eq!(user["email"], "ada@research.test");
    let (status, tokens) = api_call(
        app,
        Method::POST,
        "/api/auth/login",
        "",
        Some(&json!({"email": "ada@research.test", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().expect("token");
    let (_, me) = api_call(app, Method::GET, "/api/auth/me", access, None).await;
    assert_eq!(me["role"], "researcher");
    let second = accept(app, &token, "Ada Again").await;
    assert_outcome(&second, StatusCode::GONE, "deleted");
    let unknown = accept(app, "no-such-token", "Nobody").await;
    assert_outcome(&unknown, StatusCode::NOT_FOUND, "not-found");
    let accepted = format!(
        "/api/admin/invitations/{}",
        invitation["id"].as_str().expect("id")
    );
    let (status, _) = admin(app, Method::DELETE, &accepted, None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an accepted invitation is not revoked"
    );

    // Revoked: gone.
    let (_, revoked) = invite(app, &json!({"email": "bob@research.test"})).await;
    let (status, _) = accept(app, &token_of(&revoked), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a name is required");
    let path = format!(
        "/api/admin/invitations/{}",
        revoked["id"].as_str().expect("id")
    );
    let (status, body) = admin(app, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let late = accept(app, &token_of(&revoked), "Bob Builder").await;
    assert_outcome(&late, StatusCode::GONE, "deleted");
    let (status, _) = admin(app, Method::DELETE, "/api/admin/invitations/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Expired: gone after its hours.
    let (_, brief) = invite(
        app,
        &json!({"email": "eve@research.test", "expires_in_hours": 1}),
    )
    .await;
    assert_at(&brief["expires_at"], "2024-01-01T01:00:00");
    let app = &later(app, Duration::from_secs(3601)).await;
    let expired = accept(app, &token_of(&brief), "Eve Late").await;
    assert_outcome(&expired, StatusCode::GONE, "deleted");
    let list = get(app, "/api/admin/invitations").await;
    let states: Vec<&str> = list["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .map(|invitation| invitation["status"].as_str().expect("status"))
        .collect();
    assert_eq!(states, ["expired", "revoked", "accepted"]);
    let (status, found) = admin(app, Method::GET, "/api/admin/users?q=research.test", None).await;
    assert_eq!(
        (status, emails(&found)),
        (StatusCode::OK, vec!["ada@research.test".to_owned()])
    );

    // Audited: three creations, one revocation, the one acceptance that created an account.
    assert_eq!(audited(app, "invitation-create").await.len(), 3 + 4);
    assert_eq!(audited(app, "invitation-revoke").await.len(), 3);
    let accepts = audited(app, "invitation-accept").await;
    let created: Vec<&Value> = accepts
        .iter()
        .filter(|record| record["outcome"] == 201)
        .collect();
    assert_eq!(created.len(), 1, "{accepts:?}");
    assert_eq!(
        created[0]["resource_ids"],
        json!([format!("User/{}", user["id"].as_str().expect("id"))])
    );
}

/// A physician with a full session; their token.
async fn physician(app: &TestApp) -> String {
    signed_in(&app.state, "doc@test.local", Role::Physician).await
}

async fn statistics_count_the_seeded_data(app: &TestApp, _url: &str) {
    let first = app.create_patient().await;
    app.create_patient().await;
    let observation = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "synthetic"}, "subject": {"reference": format!("Patient/{first}")}});
    let response = app.post("/fhir/R4/Observation", &observation).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    account(
        app,
        "wait@test.local",
        Some("Doc Waiting"),
        Role::Physician,
        AccountStatus::Pending,
    )
    .await;
    let doctor = physician(app).await;
    let body = json!({"patient": first, "reason": "patient unconscious in the emergency room"});
    let (status, grant) = api_call(
        app,
        Method::POST,
        "/api/consents/break-glass",
        &doctor,
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");

    // The audit log's break-glass filter (with the patient filter).
    let glass = get(
        app,
        &format!("/api/admin/audit?break_glass=true&patient={first}"),
    )
    .await;
    let records = glass["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{glass}");
    assert_eq!(records[0]["action"], "break-glass");
    let (status, _) = admin(
        app,
        Method::GET,
        "/api/admin/audit?break_glass=true&action=read",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let stats = get(app, "/api/admin/stats").await;
    assert_at(&stats["computed_at"], "2024-01-01T00:00:00");
    assert_eq!(
        stats["resources"],
        json!({"Consent": 1, "Observation": 1, "Patient": 2}),
        "{stats}"
    );
    assert_eq!(stats["patients"], 2);
    assert_eq!(stats["active_consents"], 1);
    assert_eq!(stats["break_glass"], json!({"last_24h": 1, "last_7d": 1}));
    assert_eq!(
        stats["users"],
        json!({"admin": 1, "patient": 0, "physician": 2, "researcher": 0})
    );
    assert_eq!(stats["pending_physicians"], 1);
    assert_eq!(stats["documents"], json!({}));
    assert_eq!(stats["exports"], json!({}));
    let queued: u64 = app
        .state
        .jobs
        .count_by_status()
        .await
        .expect("counts")
        .iter()
        .map(|(_, n)| n)
        .sum();
    let counted: u64 = stats["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum();
    assert_eq!(counted, queued);

    // Two days on: the break-glass grant left the last day but not the last week. Once the
    // statistics job ran, resources come from its last run; patients are counted now.
    let app = &later(app, Duration::from_secs(2 * 24 * 3600)).await;
    run_kind(app, medilink_platform::maintenance::STATISTICS, true).await;
    app.create_patient().await;
    let stats = get(app, "/api/admin/stats").await;
    assert_eq!(stats["break_glass"], json!({"last_24h": 0, "last_7d": 1}));
    assert_eq!(
        stats["resources"]["Patient"], 2,
        "as of the last run: {stats}"
    );
    assert_eq!(stats["patients"], 3, "counted now");
}

async fn health_checks_every_backend(app: &TestApp, _url: &str) {
    app.create_patient().await;
    let health = get(app, "/api/admin/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_at(&health["checked_at"], "2024-01-01T00:00:00");
    let checks = health["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "database",
            "key-value",
            "blob-store",
            "full-text",
            "job-queue",
            "mail"
        ]
    );
    for check in checks {
        assert!(
            check["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{check}"
        );
        assert!(check.get("detail").is_some(), "{check}");
    }
    let by_name = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .expect("check")
            .clone()
    };
    for name in [
        "database",
        "key-value",
        "blob-store",
        "full-text",
        "job-queue",
    ] {
        assert_eq!(by_name(name)["status"], "ok", "{}", by_name(name));
    }
    assert!(
        by_name("full-text")["lag"]
            .as_u64()
            .is_some_and(|lag| lag <= 2)
    );
    let queue = by_name("job-queue");
    assert!(queue["depth"].is_u64(), "{queue}");
    assert!(queue.get("oldest_pending_at").is_some(), "{queue}");
    assert!(by_name("database").get("lag").is_none());
    let mail = by_name("mail");
    assert_eq!(mail["status"], "not-configured");
    assert!(
        mail["detail"]
            .as_str()
            .is_some_and(|d| d.contains("--smtp-url"))
    );

    // A job pending for an hour (no worker): the queue is degraded, and so is the whole.
    let (status, _) = admin(app, Method::POST, "/api/admin/reindex", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let app = &later(app, Duration::from_secs(3600)).await;
    let health = get(app, "/api/admin/health").await;
    assert_eq!(health["status"], "degraded", "{health}");
    let queue = &health["checks"][4];
    assert_eq!(queue["status"], "degraded", "{queue}");
    assert_at(&queue["oldest_pending_at"], "2024-01-01T00:00:00");
    assert!(queue["depth"].as_u64().is_some_and(|depth| depth >= 1));
}

/// Runs the server's worker until a job of `kind` ran (other queued kinds run too); fails
/// when the queue empties first, unless `periodic` (then the kind is enqueued by the
/// scheduler).
async fn run_kind(app: &TestApp, kind: &str, periodic: bool) {
    let settings = WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
    };
    let worker = medilink_server::serve::worker(&app.state, settings);
    if periodic {
        worker.schedule_periodic().await.expect("scheduled");
    }
    for _ in 0..50 {
        match worker.run_once().await.expect("a job step") {
            Step::Ran {
                kind: ran, status, ..
            } if ran == kind => {
                assert_eq!(status, medilink_fhir::jobs::JobStatus::Completed, "{kind}");
                return;
            }
            Step::Ran { .. } => {}
            other => panic!("expected {kind} to run, got {other:?}"),
        }
    }
    panic!("{kind} did not run");
}

async fn reindex_rebuilds_with_progress(app: &TestApp, _url: &str) {
    let mut narrated = crate::support::patient();
    narrated["text"] = json!({"status": "generated",
        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Synthetic quokka marker</div>"});
    let response = app.post("/fhir/R4/Patient", &narrated).await;
    assert_eq!(response.status, StatusCode::CREATED);
    let id = response.json()["id"].as_str().expect("id").to_owned();
    app.create_patient().await;
    let written = app.versions_written().await;

    let (status, started) = admin(app, Method::POST, "/api/admin/reindex", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = format!(
        "/api/admin/jobs/{}",
        started["job_id"].as_str().expect("job id")
    );
    let queued = get(app, &job).await;
    assert_eq!(queued["kind"], "maintenance.reindex");
    assert_eq!(queued["status"], "pending");
    assert_eq!(
        (queued["progress"].clone(), queued["result"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(queued["finished_at"], Value::Null);
    run_kind(app, "maintenance.reindex", false).await;
    let done = get(app, &job).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["progress"],
        json!({"done": written, "total": written}),
        "{done}"
    );
    assert_eq!(done["result"]["applied"], written);
    assert_eq!(done["error"], Value::Null);
    assert!(done["finished_at"].is_string());
    let found = app.get("/fhir/R4/Patient?_text=quokka").await;
    assert_eq!(found.status, StatusCode::OK);
    let found = found.json();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["entry"][0]["resource"]["id"], id.as_str());
    let started = audited(app, "reindex").await;
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0]["resource_ids"],
        json!([format!("Job/{}", done["id"].as_str().expect("id"))])
    );
    let (status, _) = admin(app, Method::GET, "/api/admin/jobs/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unknown = "/api/admin/jobs/00000000-0000-0000-0000-000000000000";
    assert_eq!(
        admin(app, Method::GET, unknown, None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Rewrites the outcome of audit record `seq` behind the application's back, as an attacker
/// with database access would (dropping the append-only trigger first).
async fn tamper(url: &str, seq: i64) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        sqlx::raw_sql("DROP TRIGGER audit_log_no_update")
            .execute(&mut db)
            .await
            .expect("drop trigger");
        let changed = sqlx::query("UPDATE audit_log SET outcome = 404 WHERE seq = ?")
            .bind(seq)
            .execute(&mut db)
            .await
            .expect("tamper");
        assert_eq!(changed.rows_affected(), 1);
        db.close().await.expect("close");
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
        sqlx::raw_sql("DROP TRIGGER audit_log_no_change ON audit_log")
            .execute(&mut db)
            .await
            .expect("drop trigger");
        let changed = sqlx::query("UPDATE audit_log SET outcome = 404 WHERE seq = $1")
            .bind(seq)
            .execute(&mut db)
            .await
            .expect("tamper");
        assert_eq!(changed.rows_affected(), 1);
        db.close().await.expect("close");
    }
}

/// Starts a verification, runs it and returns the latest verification's view.
async fn verify(app: &TestApp) -> (Value, Value) {
    let (status, started) = admin(app, Method::POST, "/api/admin/audit/verify", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let latest = get(app, "/api/admin/audit/verify").await;
    assert_eq!(latest["job_id"], started["job_id"]);
    assert_eq!(
        (latest["status"].clone(), latest["result"].clone()),
        (json!("pending"), Value::Null)
    );
    run_kind(app, "audit.verify", false).await;
    let job = get(
        app,
        &format!(
            "/api/admin/jobs/{}",
            started["job_id"].as_str().expect("id")
        ),
    )
    .await;
    (get(app, "/api/admin/audit/verify").await, job)
}

async fn audit_verification_finds_the_first_tampered_record(app: &TestApp, url: &str) {
    let (status, _) = admin(app, Method::GET, "/api/admin/audit/verify", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "none was run yet");
    let id = app.create_patient().await;
    for _ in 0..3 {
        let read = app.get(&format!("/fhir/R4/Patient/{id}")).await;
        assert_eq!(read.status, StatusCode::OK);
    }
    let (latest, job) = verify(app).await;
    assert_eq!(latest["status"], "completed", "{latest}");
    let records = latest["result"]["records"].as_u64().expect("records");
    assert!(records >= 5, "{latest}");
    assert_eq!(
        latest["result"],
        json!({"records": records, "ok": true, "first_broken": null})
    );
    assert!(latest["finished_at"].is_string());
    assert_eq!(
        job["progress"],
        json!({"done": records, "total": records}),
        "{job}"
    );
    assert_eq!(job["result"]["ok"], true);

    tamper(url, 3).await;
    let (latest, job) = verify(app).await;
    assert_eq!(latest["status"], "completed", "{latest}");
    let result = &latest["result"];
    assert_eq!(result["ok"], false, "{latest}");
    assert_eq!(
        result["records"], 2,
        "two records verified before the broken one"
    );
    assert_eq!(
        result["first_broken"],
        json!({"seq": 3, "reason": "its content does not match its hash"})
    );
    assert_eq!(job["progress"]["done"], 2, "{job}");
    let (status, _) = admin(app, Method::POST, "/api/admin/audit/verify", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(audited(app, "audit-verify").await.len(), 3);
}
