//! Helpers of the HTTP integration tests: a [`TestApp`] on in-memory SQLite with a fixed
//! clock and sequential ids, driven through `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use medilink_fhir::kv::{KeyValue, LocalKeyValue};
use medilink_fhir::{Clock, FixedClock, IdGen, SeqIdGen, SqlOptions};
use medilink_platform::open_store_and_platform;
use medilink_platform::{AccountStatus, Role};
use medilink_server::auth::token_state::TokenStateCache;
use medilink_server::auth::{AuthSettings, Keys, RateLimits};
use medilink_server::{AppState, Limits};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) mod process;
pub(crate) mod schema;
pub(crate) mod socket;

/// The application on a fresh in-memory store, with a signed-in admin (TOTP passed) whose
/// token every request carries unless it sets its own `authorization` header.
#[derive(Debug, Clone)]
pub(crate) struct TestApp {
    pub(crate) router: Router,
    /// The state behind the router (its store and clock).
    #[allow(dead_code, reason = "available to tests that call the store directly")]
    pub(crate) state: AppState,
    /// The clock behind the state (tests move it forward).
    #[allow(dead_code, reason = "available to tests that need time to pass")]
    pub(crate) clock: Arc<FixedClock>,
    /// The admin's access token.
    pub(crate) token: String,
}

/// A buffered response.
#[derive(Debug)]
pub(crate) struct TestResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Limits high enough that ordinary tests never meet them.
pub(crate) fn unlimited() -> RateLimits {
    RateLimits {
        login: u64::MAX,
        totp: u64::MAX,
        anonymous: u64::MAX,
        patient: u64::MAX,
        physician: u64::MAX,
        admin: u64::MAX,
        researcher: u64::MAX,
    }
}

impl TestApp {
    pub(crate) async fn new() -> TestApp {
        TestApp::with_limits(Limits::default()).await
    }

    pub(crate) async fn with_limits(limits: Limits) -> TestApp {
        TestApp::on(&SqlOptions::new("sqlite::memory:"), limits).await
    }

    pub(crate) async fn on(options: &SqlOptions, limits: Limits) -> TestApp {
        let mut settings = AuthSettings::for_tests();
        settings.rate = unlimited();
        TestApp::build(options, limits, settings, None).await
    }

    /// The application with `settings` and, when given, a shared key-value store.
    pub(crate) async fn build(
        options: &SqlOptions,
        limits: Limits,
        settings: AuthSettings,
        kv: Option<Arc<dyn KeyValue>>,
    ) -> TestApp {
        let clock = Arc::new(FixedClock::new(
            time::macros::datetime!(2024-01-01 0:00 UTC),
        ));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
        let (store, platform) = open_store_and_platform(options, dyn_clock.clone(), ids.clone())
            .await
            .expect("store opens");
        // Unshared: this app is the only writer, so its token checks go through the in-process
        // cache of absent keys as `serve`'s do on SQLite without Redis (issue #19): every
        // security test runs through it.
        let kv = kv.unwrap_or_else(|| {
            Arc::new(TokenStateCache::new(Arc::new(LocalKeyValue::new(
                dyn_clock.clone(),
            ))))
        });
        let mut state = AppState::new(
            store,
            platform,
            kv,
            ids,
            dyn_clock,
            Keys::for_tests(),
            settings,
        )
        .expect("state");
        state.limits = limits;
        let token = admin_token(&state).await;
        TestApp {
            router: medilink_server::app(state.clone()),
            state,
            clock,
            token,
        }
    }

    /// The application on `state` (e.g. with a store double), with the same admin token.
    pub(crate) fn with_state(&self, state: AppState) -> TestApp {
        TestApp {
            router: medilink_server::app(state.clone()),
            state,
            clock: self.clock.clone(),
            token: self.token.clone(),
        }
    }

    pub(crate) async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "test.local");
        let bearer = format!("Bearer {}", self.token);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            request = request.header("authorization", bearer.as_str());
        }
        for (name, value) in headers {
            // An empty authorization header means: send none.
            if name.eq_ignore_ascii_case("authorization") && value.is_empty() {
                continue;
            }
            request = request.header(*name, *value);
        }
        let request = request.body(body.into()).expect("valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("body")
            .to_vec();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> TestResponse {
        self.request(Method::GET, uri, &[], Body::empty()).await
    }

    pub(crate) async fn send_json(
        &self,
        method: Method,
        uri: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut all = vec![("content-type", "application/fhir+json")];
        all.extend_from_slice(headers);
        self.request(method, uri, &all, body.to_string()).await
    }

    pub(crate) async fn post(&self, uri: &str, body: &Value) -> TestResponse {
        self.send_json(Method::POST, uri, body, &[]).await
    }

    pub(crate) async fn put(&self, uri: &str, body: &Value) -> TestResponse {
        self.send_json(Method::PUT, uri, body, &[]).await
    }

    pub(crate) async fn delete(&self, uri: &str) -> TestResponse {
        self.request(Method::DELETE, uri, &[], Body::empty()).await
    }

    /// Creates a Patient and returns its id.
    pub(crate) async fn create_patient(&self) -> String {
        let response = self.post("/fhir/R4/Patient", &patient()).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().expect("id").to_owned()
    }

    /// `total` of the system history (how many versions were ever written).
    pub(crate) async fn versions_written(&self) -> u64 {
        let response = self.get("/fhir/R4/_history").await;
        assert_eq!(response.status, StatusCode::OK);
        response.json()["total"].as_u64().expect("total")
    }
}

impl TestResponse {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("ascii header"))
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Asserts an OperationOutcome response with `status` and first `issue.code`.
    pub(crate) fn assert_outcome(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            "application/fhir+json; charset=utf-8"
        );
        let body = self.json();
        assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
        assert_eq!(body["issue"][0]["code"], code, "{body}");
        assert!(body["issue"][0]["severity"].is_string(), "{body}");
    }
}

/// A small valid synthetic Patient.
pub(crate) fn patient() -> Value {
    json!({"resourceType": "Patient", "active": true, "gender": "other", "birthDate": "1970-01-01"})
}

/// `body` of `POST /api/auth/register` with a patient's required demographics added where it
/// lacks them (issue #16: given and family names, birth date, gender); other roles unchanged.
#[allow(dead_code, reason = "shared by the registration tests")]
pub(crate) fn with_demographics(body: &Value) -> Value {
    let mut body = body.clone();
    if body["role"] == "patient" {
        let defaults = [
            ("given", json!(["Test"])),
            ("family", json!("Person")),
            ("birth_date", json!("1970-01-01")),
            ("gender", json!("other")),
        ];
        for (field, value) in defaults {
            if body.get(field).is_none() {
                body[field] = value;
            }
        }
    }
    body
}

/// A password that passes the strength rule.
pub(crate) const PASSWORD: &str = "violet-tangerine-47";

/// Creates an active user (a physician named "Test Physician", as physicians must be) and
/// returns its full session's access token (TOTP passed).
pub(crate) async fn signed_in(state: &AppState, email: &str, role: Role) -> String {
    let name = (role == Role::Physician).then_some("Test Physician");
    let user = state
        .auth
        .create_account(email, PASSWORD, name, role, Some(AccountStatus::Active))
        .await
        .expect("account");
    state
        .auth
        .issue_session(&user, true)
        .await
        .expect("session")
        .access_token
}

async fn admin_token(state: &AppState) -> String {
    signed_in(state, "admin@test.local", Role::Admin).await
}

/// A FHIR request with `token` as the bearer (and `body`, if any, as `application/fhir+json`).
pub(crate) async fn as_user(
    app: &TestApp,
    token: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> TestResponse {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("authorization", bearer.as_str())];
    let body = match body {
        Some(body) => {
            headers.push(("content-type", "application/fhir+json"));
            axum::body::Body::from(body.to_string())
        }
        None => axum::body::Body::empty(),
    };
    app.request(method, uri, &headers, body).await
}

/// Sends `body` (JSON) with `token` as bearer (none when empty); the status and JSON body
/// (`null` when the body is not JSON).
#[allow(dead_code, reason = "shared by the security tests")]
pub(crate) async fn api_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let auth = if token.is_empty() {
        ""
    } else {
        bearer.as_str()
    };
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth),
    ];
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = app.request(method, path, &headers, body).await;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, json)
}

/// The TOTP code an authenticator app configured from `otpauth_uri` shows at `at`.
#[allow(dead_code, reason = "shared by the security tests")]
pub(crate) fn totp_code(otpauth_uri: &str, at: time::OffsetDateTime) -> String {
    let totp = totp_rs::TOTP::from_url(otpauth_uri).expect("a valid otpauth URI");
    totp.generate(u64::try_from(at.unix_timestamp()).expect("after 1970"))
}

/// A six-digit code that is not `code` (nor valid one step either side, by construction of
/// changing every digit).
#[allow(dead_code, reason = "shared by the security tests")]
pub(crate) fn wrong_code(otpauth_uri: &str, at: time::OffsetDateTime) -> String {
    let valid: Vec<String> = [-30i64, 0, 30]
        .iter()
        .map(|skew| totp_code(otpauth_uri, at + time::Duration::seconds(*skew)))
        .collect();
    (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
        .find(|candidate| !valid.contains(candidate))
        .expect("some code is wrong")
}

/// A multipart body with the fields `patient` and `file` (sent as `application/octet-stream`:
/// the server decides the type by content); returns its content type too.
pub(crate) fn multipart(patient: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "medilink-test-boundary-7c1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"patient\"\r\n\r\n{patient}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A PostgreSQL database created for one test next to the one `MEDILINK_TEST_POSTGRES_URL`
/// names, dropped by [`PostgresDatabase::drop`].
#[allow(dead_code, reason = "shared by the PostgreSQL variants of the tests")]
pub(crate) struct PostgresDatabase {
    admin: sqlx::PgConnection,
    name: String,
    url: String,
}

#[allow(dead_code, reason = "shared by the PostgreSQL variants of the tests")]
impl PostgresDatabase {
    /// Runs `test` with the URL of a new, empty database when `MEDILINK_TEST_POSTGRES_URL` is
    /// set (else says it skipped `what`), drops the database and re-raises a failure.
    pub(crate) async fn run<F, Fut>(what: &str, test: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Ok(admin_url) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
            eprintln!("skipping {what} on PostgreSQL: MEDILINK_TEST_POSTGRES_URL is not set");
            return;
        };
        let database = PostgresDatabase::create(&admin_url)
            .await
            .expect("connect to postgres");
        let outcome = tokio::spawn(test(database.url().to_owned())).await;
        database.drop().await;
        if let Err(failure) = outcome {
            std::panic::resume_unwind(failure.into_panic());
        }
    }

    /// A new, empty database (`None` when the server cannot be reached).
    pub(crate) async fn create(admin_url: &str) -> Option<PostgresDatabase> {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(admin_url).await.ok()?;
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let name = format!("medilink_it_{}_{suffix}", std::process::id());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        let mut url = url::Url::parse(admin_url).expect("postgres url");
        url.set_path(&format!("/{name}"));
        Some(PostgresDatabase {
            admin,
            name,
            url: url.to_string(),
        })
    }

    /// Its connection URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Drops it (connections still open are closed by force).
    pub(crate) async fn drop(mut self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop database");
    }
}
