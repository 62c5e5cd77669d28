//! Issue #11, accounts: look-alike e-mail addresses reach the same account or are refused
//! (SQLite and, when `MEDILINK_TEST_POSTGRES_URL` is set, PostgreSQL); weak passwords are
//! refused with a reason wherever a password is set; guessing the current password on
//! `/api/auth/password` locks the account like login does; a physician needs a display name.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::{AccountStatus, NewUser, Role, UserId};
use medilink_server::Limits;
use medilink_server::auth::password::PasswordHasher;
use medilink_server::auth::{HashParams, Keys};
use medilink_server::error::ApiError;
use serde_json::{Value, json};

use crate::support::PostgresDatabase;
use crate::support::process::{describe, run};
use crate::support::{PASSWORD, TestApp, api_call, with_demographics};

/// The four passwords a tester saw accepted (issue #11).
const WEAK: [&str; 4] = [
    "Password#2024",
    "Welcome@2024!",
    "P@ssw0rd#2024",
    "passwordpassword",
];

async fn register(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let body = with_demographics(body);
    api_call(app, Method::POST, "/api/auth/register", "", Some(&body)).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"email": email, "password": password});
    api_call(app, Method::POST, "/api/auth/login", "", Some(&body)).await
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, body) = api_call(app, Method::GET, "/api/auth/me", token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn users(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let path = format!("/api/admin/users{query}");
    api_call(app, Method::GET, &path, &app.token, None).await
}

fn assert_outcome(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert_eq!(body["issue"][0]["code"], code, "{body}");
}

fn diagnostics(body: &Value) -> &str {
    body["issue"][0]["diagnostics"].as_str().unwrap_or_default()
}

async fn look_alikes_never_create_a_second_account(app: &TestApp) {
    let account = json!({"email": "alice@example.org", "password": PASSWORD, "role": "patient"});
    let (status, alice) = register(app, &account).await;
    assert_eq!(status, StatusCode::CREATED, "{alice}");

    // Spellings that normalise to the address: the same account (409 on register, the same
    // user on login).
    for spelling in [
        "  alice@example.org ",
        "ALICE@Example.ORG",
        "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｏｒｇ",
        "\u{3000}Ａlice@example.org",
    ] {
        let body = json!({"email": spelling, "password": PASSWORD, "role": "patient"});
        let (status, outcome) = register(app, &body).await;
        assert_outcome(status, &outcome, StatusCode::CONFLICT, "conflict");
        let (status, tokens) = login(app, spelling, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{spelling:?}: {tokens}");
        let token = tokens["access_token"].as_str().expect("a token");
        assert_eq!(me(app, token).await["id"], alice["id"], "{spelling:?}");
        let query = format!(
            "?email={}",
            percent_encoding::utf8_percent_encode(spelling, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, found) = users(app, &query).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(
            found["users"][0]["id"], alice["id"],
            "{spelling:?}: {found}"
        );
    }

    // Invisible and formatting characters: refused everywhere with a 400 naming the character.
    for (spelling, code_point) in [
        ("ali\u{200B}ce@example.org", "U+200B"),
        ("ali\u{200C}ce@example.org", "U+200C"),
        ("ali\u{200D}ce@example.org", "U+200D"),
        ("alice\u{00AD}@example.org", "U+00AD"),
        ("\u{FEFF}alice@example.org", "U+FEFF"),
        ("alice@exa\u{202E}mple.org", "U+202E"),
    ] {
        let body = json!({"email": spelling, "password": PASSWORD, "role": "patient"});
        let (status, outcome) = register(app, &body).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
        assert!(diagnostics(&outcome).contains(code_point), "{outcome}");
        let (status, outcome) = login(app, spelling, PASSWORD).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
        let query = format!(
            "?email={}",
            percent_encoding::utf8_percent_encode(spelling, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, outcome) = users(app, &query).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
    }
    // Not one plausible address.
    for spelling in [
        "alice",
        "alice@localhost",
        "a@b@example.org",
        "alice@example..org",
    ] {
        let body = json!({"email": spelling, "password": PASSWORD, "role": "patient"});
        let (status, outcome) = register(app, &body).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
        assert!(diagnostics(&outcome).starts_with("email "), "{outcome}");
    }

    // An address registered full-width is stored and shown in its normal form.
    let body =
        json!({"email": "ＢＯＢ＠ｅｘａｍｐｌｅ．ｏｒｇ", "password": PASSWORD, "role": "patient"});
    let (status, bob) = register(app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["email"], "bob@example.org", "{bob}");
    let (status, _) = login(app, "bob@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);

    // The admin, alice and bob: nothing else was created.
    let (status, all) = users(app, "").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let emails: Vec<&str> = all["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|user| user["email"].as_str())
        .collect();
    assert_eq!(emails.len(), 3, "{all}");
    for email in ["admin@test.local", "alice@example.org", "bob@example.org"] {
        assert!(emails.contains(&email), "{email} in {all}");
    }
}

#[tokio::test]
async fn look_alike_emails_reach_the_same_account_or_are_refused_on_sqlite() {
    look_alikes_never_create_a_second_account(&TestApp::new().await).await;
}

#[tokio::test]
async fn look_alike_emails_reach_the_same_account_or_are_refused_on_postgres() {
    PostgresDatabase::run("the accounts test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        look_alikes_never_create_a_second_account(&app).await;
    })
    .await;
}

#[tokio::test]
async fn an_account_from_before_the_rules_still_signs_in() {
    // `root@localhost` was accepted before issue #11 (lookup hash of the trimmed, lowercased
    // address); new accounts need a plausible domain, but this one must keep working.
    let app = TestApp::new().await;
    let keys = Keys::for_tests();
    let hasher = PasswordHasher::new(HashParams::for_tests()).expect("hasher");
    let legacy = NewUser {
        id: UserId("legacy-root".to_owned()),
        email_hash: keys.lookup_hash("email", "root@localhost"),
        email_enc: keys.seal("email", b"root@localhost"),
        name_enc: None,
        password_hash: hasher.hash("an old but fine passphrase"),
        role: Role::Researcher,
        status: AccountStatus::Active,
        patient_id: None,
    };
    app.state
        .auth
        .accounts()
        .create_user(legacy)
        .await
        .expect("legacy account");
    for spelling in ["root@localhost", " ROOT@LocalHost ", "ｒｏｏｔ@localhost"] {
        let (status, tokens) = login(&app, spelling, "an old but fine passphrase").await;
        assert_eq!(status, StatusCode::OK, "{spelling:?}: {tokens}");
    }
    let (status, outcome) =
        login(&app, "ro\u{200B}ot@localhost", "an old but fine passphrase").await;
    assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
    // A new account there is refused.
    let body = json!({"email": "other@localhost", "password": PASSWORD, "role": "patient"});
    let (status, outcome) = register(&app, &body).await;
    assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
}

#[tokio::test]
async fn weak_passwords_are_refused_with_a_reason_wherever_a_password_is_set() {
    let app = TestApp::new().await;
    for (n, weak) in WEAK.iter().enumerate() {
        let body = json!({"email": format!("weak{n}@example.org"), "password": weak,
            "role": "patient"});
        let (status, outcome) = register(&app, &body).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
        let why = diagnostics(&outcome);
        assert!(
            why.contains("common password") || why.contains("too easy to guess"),
            "{weak}: {outcome}"
        );
        // Nothing was created.
        let (status, _) = login(&app, &format!("weak{n}@example.org"), weak).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{weak}");
    }
    // zxcvbn's feedback says why.
    let body = json!({"email": "w@example.org", "password": "passwordpassword", "role": "patient"});
    let (_, outcome) = register(&app, &body).await;
    assert!(diagnostics(&outcome).contains("Repeats"), "{outcome}");
    // The e-mail and the name count as guessable.
    let body = json!({"email": "grace.hopper@example.org", "password": "GraceHopper#1906",
        "role": "patient", "name": "Grace Hopper"});
    let (status, outcome) = register(&app, &body).await;
    assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");

    // Positive control: a strong passphrase registers and signs in.
    let strong = "staple orbit lantern quietly";
    let body = json!({"email": "strong@example.org", "password": strong, "role": "patient"});
    let (status, created) = register(&app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, tokens) = login(&app, "strong@example.org", strong).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().expect("a token").to_owned();

    // A password change to a weak password is refused too; a strong one is accepted.
    for weak in WEAK {
        let body = json!({"current_password": strong, "new_password": weak});
        let (status, outcome) = api_call(
            &app,
            Method::POST,
            "/api/auth/password",
            &token,
            Some(&body),
        )
        .await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");
    }
    let body = json!({"current_password": strong, "new_password": "violet-tangerine-47"});
    let (status, outcome) = api_call(
        &app,
        Method::POST,
        "/api/auth/password",
        &token,
        Some(&body),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{outcome}");

    // The library path of admin tooling (`user add`) applies the same rule.
    for weak in WEAK {
        let refused = app
            .state
            .auth
            .create_account(
                "tool@example.org",
                weak,
                None,
                Role::Admin,
                Some(AccountStatus::Active),
            )
            .await
            .expect_err(weak);
        assert_eq!(
            ApiError::from(refused).status(),
            StatusCode::BAD_REQUEST,
            "{weak}"
        );
    }
}

/// Sends a password change; the status and body.
async fn change(app: &TestApp, token: &str, current: &str, new: &str) -> (StatusCode, Value) {
    let body = json!({"current_password": current, "new_password": new});
    api_call(app, Method::POST, "/api/auth/password", token, Some(&body)).await
}

#[tokio::test]
async fn guessing_the_current_password_locks_the_account_like_login() {
    let app = TestApp::new().await;
    let email = "carol@example.org";
    let body = json!({"email": email, "password": PASSWORD, "role": "patient"});
    let (status, created) = register(&app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, tokens) = login(&app, email, PASSWORD).await;
    let token = tokens["access_token"].as_str().expect("a token").to_owned();
    let max_failures = app.state.auth.settings().max_failures;
    let new_password = "staple orbit lantern quietly";

    // Positive control before the limit: after max − 1 wrong guesses the right password is
    // still accepted (it reaches the strength check of the new one, and clears the count).
    for _ in 1..max_failures {
        let (status, outcome) = change(&app, &token, "wrong-guess-4711", new_password).await;
        assert_outcome(status, &outcome, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, outcome) = change(&app, &token, PASSWORD, "passwordpassword").await;
    assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "value");

    // max wrong guesses lock it: then even the right password is refused, with login's 429.
    for _ in 0..max_failures {
        let (status, outcome) = change(&app, &token, "wrong-guess-4711", new_password).await;
        assert_outcome(status, &outcome, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, locked) = change(&app, &token, PASSWORD, new_password).await;
    assert_outcome(status, &locked, StatusCode::TOO_MANY_REQUESTS, "throttled");
    // The same lock as login's, answered the same way (any spelling of the address).
    let (status, login_locked) = login(&app, "ＣＡＲＯＬ@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{login_locked}");
    assert_eq!(login_locked, locked);

    // Still locked a moment before the lockout ends; unlocked after it.
    let lockout = app.state.auth.settings().lockout;
    app.clock.advance(lockout - Duration::from_secs(1));
    let (status, _) = change(&app, &token, PASSWORD, new_password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(Duration::from_secs(2));
    let (status, tokens) = login(&app, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().expect("a token").to_owned();
    let (status, outcome) = change(&app, &token, PASSWORD, new_password).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{outcome}");
    let (status, _) = login(&app, email, new_password).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_unlock_ends_a_password_change_lockout() {
    let app = TestApp::new().await;
    let body = json!({"email": "dave@example.org", "password": PASSWORD, "role": "patient"});
    let (_, created) = register(&app, &body).await;
    let (_, tokens) = login(&app, "dave@example.org", PASSWORD).await;
    let token = tokens["access_token"].as_str().expect("a token").to_owned();
    for _ in 0..app.state.auth.settings().max_failures {
        change(&app, &token, "wrong-guess-4711", "staple orbit lantern").await;
    }
    let (status, _) = change(&app, &token, PASSWORD, "staple orbit lantern quietly").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let path = format!(
        "/api/admin/users/{}/unlock",
        created["id"].as_str().expect("id")
    );
    let (status, body) = api_call(&app, Method::POST, &path, &app.token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = change(&app, &token, PASSWORD, "staple orbit lantern quietly").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn a_physician_needs_a_display_name() {
    let app = TestApp::new().await;
    for name in [Value::Null, json!(""), json!("   ")] {
        let body = json!({"email": "doc@example.org", "password": PASSWORD,
            "role": "physician", "name": name});
        let (status, outcome) = register(&app, &body).await;
        assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "required");
        assert!(diagnostics(&outcome).contains("name"), "{outcome}");
    }
    let body = json!({"email": "doc@example.org", "password": PASSWORD, "role": "physician"});
    let (status, outcome) = register(&app, &body).await;
    assert_outcome(status, &outcome, StatusCode::BAD_REQUEST, "required");
    // The library path of `user add`.
    let refused = app
        .state
        .auth
        .create_account(
            "doc@example.org",
            PASSWORD,
            Some(" "),
            Role::Physician,
            Some(AccountStatus::Active),
        )
        .await
        .expect_err("nameless physician");
    assert_eq!(ApiError::from(refused).status(), StatusCode::BAD_REQUEST);

    // Positive control: with a name it is created (pending), the name trimmed.
    let body = json!({"email": "doc@example.org", "password": PASSWORD,
        "role": "physician", "name": "  Grace Hopper "});
    let (status, created) = register(&app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["name"], "Grace Hopper", "{created}");
    // Other roles may still go without one.
    let body = json!({"email": "res@example.org", "password": PASSWORD, "role": "researcher"});
    let (status, created) = register(&app, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn user_add_refuses_a_nameless_physician_and_a_look_alike_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let add = |email: &str, extra: &[&str]| {
        let mut args = vec![
            "user",
            "add",
            "--email",
            email,
            "--password",
            PASSWORD,
            "--role",
            "physician",
        ];
        args.extend_from_slice(extra);
        run(dir.path(), &args)
    };
    let output = add("doc@example.org", &[]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("name is required"),
        "{}",
        describe(&output)
    );
    let output = add("d\u{200B}oc@example.org", &["--name", "Grace Hopper"]);
    assert!(!output.status.success(), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("U+200B"),
        "{}",
        describe(&output)
    );
    let output = add("ＤＯＣ@example.org", &["--name", "Grace Hopper"]);
    assert!(output.status.success(), "{}", describe(&output));
    // The same address again, spelled plainly: a duplicate.
    let output = add("doc@example.org", &["--name", "Grace Hopper"]);
    assert!(!output.status.success(), "{}", describe(&output));
}
