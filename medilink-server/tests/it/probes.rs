//! Issue #24: the probes (`/health`, `/health/ready`, `/metrics`) never fail a healthy server.
//! They are never rate limited (a public API route from the same address is: the positive
//! control), never audited, read no token; liveness touches no backend (Redis down → `200`);
//! readiness answers `503` naming the backend that is down (database, Redis, blob store)
//! and `200` again when it returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::kv::{KeyValue, RedisKeyValue};
use medilink_fhir::{BlobOptions, SqlOptions, open_blob_store};
use medilink_platform::AuditFilter;
use medilink_server::Limits;
use medilink_server::auth::{AuthSettings, RateLimits};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::AbortHandle;

use crate::support::{TestApp, unlimited};

const PROBES: [&str; 3] = ["/health", "/health/ready", "/metrics"];

async fn app_on(url: &str, kv: Option<Arc<dyn KeyValue>>) -> TestApp {
    let mut settings = AuthSettings::for_tests();
    settings.rate = RateLimits {
        anonymous: 5,
        admin: 5,
        ..unlimited()
    };
    TestApp::build(&SqlOptions::new(url), Limits::default(), settings, kv).await
}

async fn audit_records(app: &TestApp) -> u64 {
    app.state.audit.flush().await;
    app.state
        .audit_log
        .count(&AuditFilter::default())
        .await
        .expect("count")
}

macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().expect("dir");
                let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
                super::$scenario(&url).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                crate::support::PostgresDatabase::run(stringify!($scenario), |url| async move {
                    super::$scenario(&url).await;
                })
                .await;
            }
        }
    };
}

on_both_backends!(probes_are_never_rate_limited_nor_audited);

async fn probes_are_never_rate_limited_nor_audited(url: &str) {
    let app = app_on(url, None).await;
    // Positive control: a public API route from the same address is limited at 5 a minute,
    // and an audited route leaves records.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = app
            .request(
                Method::GET,
                "/fhir/R4/metadata",
                &[("authorization", "")],
                Body::empty(),
            )
            .await;
        statuses.push(response.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let before_control = audit_records(&app).await;
    app.get("/fhir/R4/Patient").await;
    let before = audit_records(&app).await;
    assert!(before > before_control, "the control is audited");
    // The probes, anonymous and with the admin's token (whose limit is spent too), 200 times.
    let bearer = format!("Bearer {}", app.token);
    for round in 0..200 {
        for probe in PROBES {
            let auth = if round % 2 == 0 { "" } else { bearer.as_str() };
            let response = app
                .request(
                    Method::GET,
                    probe,
                    &[("authorization", auth)],
                    Body::empty(),
                )
                .await;
            assert_eq!(response.status, StatusCode::OK, "{probe} #{round}");
        }
    }
    assert_eq!(audit_records(&app).await, before, "probes are not audited");
    // Control: the admin's own limit (5 a minute) is counted on an API route.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .request(
                Method::GET,
                "/fhir/R4/Patient",
                &[("authorization", &bearer)],
                Body::empty(),
            )
            .await;
        statuses.push(response.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "control: {statuses:?}"
    );
    // A token that does not verify does not matter to a probe either.
    let forged = app
        .request(
            Method::GET,
            "/health/ready",
            &[("authorization", "Bearer not.a.token")],
            Body::empty(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::OK);
}

on_both_backends!(a_closed_store_is_named_by_readiness);

async fn a_closed_store_is_named_by_readiness(url: &str) {
    let app = app_on(url, None).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert_eq!(ready.json()["status"], "ready");
    // Closing the store's pool makes every database call fail: a database that is gone.
    app.state
        .job_deps
        .store
        .close()
        .await
        .expect("close the store");
    // The next round of the readiness checker sees it (within its interval and timeout).
    let down = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["failing"], serde_json::json!(["database"]));
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_postgres_outage_fails_readiness_until_it_returns() {
    crate::support::PostgresDatabase::run("postgres outage", |url| async move {
        let mut parsed = url::Url::parse(&url).expect("url");
        let target = format!(
            "{}:{}",
            parsed.host_str().expect("host"),
            parsed.port().unwrap_or(5432)
        );
        let mut proxy = Proxy::start(&target).await;
        parsed.set_port(Some(proxy.port)).expect("port");
        let app = app_on(parsed.as_str(), None).await;
        assert_eq!(ready_becomes(&app, StatusCode::OK).await["status"], "ready");
        proxy.down();
        let down = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(down["failing"], serde_json::json!(["database"]), "{down}");
        assert_eq!(app.get("/health").await.status, StatusCode::OK);
        assert_eq!(app.get("/metrics").await.status, StatusCode::OK);
        proxy.up().await;
        ready_becomes(&app, StatusCode::OK).await;
        assert_eq!(app.get("/fhir/R4/Patient").await.status, StatusCode::OK);
    })
    .await;
}

/// A TCP proxy to a real server that can be taken down (its port closed, its connections
/// cut) and brought back on the same port.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let mut proxy = Proxy {
            port: 0,
            target: target.to_owned(),
            tasks: Arc::default(),
        };
        proxy.up().await;
        proxy
    }

    async fn up(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().expect("addr"))
            .expect("bind the proxy port");
        let listener: TcpListener = socket.listen(64).expect("listen");
        self.port = listener.local_addr().expect("addr").port();
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("tasks").push(connection.abort_handle());
            }
        });
        self.tasks
            .lock()
            .expect("tasks")
            .push(accept.abort_handle());
    }

    /// Closes the port and cuts every connection.
    fn down(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// Polls readiness until it answers `want` (at most 20 s).
async fn ready_becomes(app: &TestApp, want: StatusCode) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/health/ready").await;
        if response.status == want {
            return response.json();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {}: {}",
            response.status,
            response.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_redis_outage_fails_readiness_not_liveness() {
    let Ok(url) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        eprintln!("skipping: MEDILINK_TEST_REDIS_URL is not set");
        return;
    };
    let target = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .expect("host:port")
        .to_owned();
    let mut proxy = Proxy::start(&target).await;
    let prefix = format!("medilink-test-{}:", uuid::Uuid::new_v4());
    let proxied = format!("redis://127.0.0.1:{}", proxy.port);
    let redis = RedisKeyValue::connect(&proxied, prefix)
        .await
        .expect("redis");
    let app = app_on("sqlite::memory:", Some(Arc::new(redis.clone()))).await;
    let ready = ready_becomes(&app, StatusCode::OK).await;
    assert!(ready["checks"].to_string().contains("redis"), "{ready}");
    // Redis goes away: the port is closed and the connection cut.
    proxy.down();
    let down = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["failing"], serde_json::json!(["redis"]), "{down}");
    // Liveness and metrics touch no backend; a rate-limited route fails closed (control).
    for probe in ["/health", "/metrics"] {
        assert_eq!(app.get(probe).await.status, StatusCode::OK, "{probe}");
    }
    let anonymous = app
        .request(
            Method::GET,
            "/health",
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::OK);
    let control = app.get("/fhir/R4/Patient").await;
    assert_eq!(control.status, StatusCode::SERVICE_UNAVAILABLE, "control");
    // Redis is back on the same port: ready again without a restart.
    proxy.up().await;
    ready_becomes(&app, StatusCode::OK).await;
    assert_eq!(app.get("/fhir/R4/Patient").await.status, StatusCode::OK);
    redis.clear().await.expect("clear");
}

#[tokio::test]
async fn a_closed_redis_port_is_named_by_readiness() {
    // A port nobody listens on: bound, then closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let redis = RedisKeyValue::lazy(&format!("redis://127.0.0.1:{port}"), "medilink-test:")
        .expect("a valid url");
    let app = app_on("sqlite::memory:", Some(Arc::new(redis))).await;
    let down = app.get("/health/ready").await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text()
    );
    assert_eq!(down.json()["failing"], serde_json::json!(["redis"]));
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unwritable_blob_directory_is_named_by_readiness() {
    let dir = tempfile::tempdir().expect("dir");
    let blobs_dir = dir.path().join("blobs");
    std::fs::create_dir(&blobs_dir).expect("blobs dir");
    let options = BlobOptions::new(format!("fs://{}", blobs_dir.display()));
    let blobs = open_blob_store(&options).await.expect("fs blobs");
    let app = TestApp::new().await;
    let mut state = app.state.clone();
    state.blobs = blobs;
    let app = app.with_state(state);
    assert_eq!(ready_becomes(&app, StatusCode::OK).await["status"], "ready");
    // The directory replaced by a file: nothing can be written under it (as root too, which
    // file modes would not stop).
    let moved = dir.path().join("blobs-away");
    std::fs::rename(&blobs_dir, &moved).expect("move away");
    std::fs::write(&blobs_dir, b"not a directory").expect("file");
    let down = ready_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["failing"], serde_json::json!(["blob-store"]));
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
    std::fs::remove_file(&blobs_dir).expect("remove the file");
    std::fs::rename(&moved, &blobs_dir).expect("move back");
    ready_becomes(&app, StatusCode::OK).await;
}

/// `GET path` of a server process: status and JSON body (`Null` when not JSON).
async fn http_get(base: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let response = reqwest::get(format!("{base}{path}")).await.expect("answer");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// Polls a server process's readiness until it answers `want` (at most 30 s).
async fn process_ready_becomes(base: &str, want: StatusCode) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http_get(base, "/health/ready").await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Uploads a text PDF into `patient`'s record: status and JSON body.
async fn upload(base: &str, token: &str, patient: &str) -> (StatusCode, serde_json::Value) {
    let (content_type, body) = crate::support::multipart(patient, "report.pdf", b"%PDF-1.4 x");
    let response = reqwest::Client::new()
        .post(format!("{base}/api/documents"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the upload gets an answer");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// The blob store on S3 (moto at `MEDILINK_TEST_S3_ENDPOINT`) behind a proxy that is cut: the
/// server binary's readiness answers `503` naming the blob store and `200` when it returns;
/// an upload during the outage answers `503` with an OperationOutcome and writes nothing (no
/// `DocumentReference`); liveness and metrics stay `200`.
#[tokio::test]
async fn an_s3_outage_fails_readiness_and_uploads_not_liveness() {
    use crate::support::process::{Server, describe, free_port, user_add};
    let Ok(endpoint) = std::env::var("MEDILINK_TEST_S3_ENDPOINT") else {
        eprintln!("skipping: MEDILINK_TEST_S3_ENDPOINT is not set");
        return;
    };
    let bucket = format!("medilink-outage-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(created.status().is_success(), "{}", created.status());
    let target = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut proxy = Proxy::start(&target).await;
    let blob_url = format!(
        "s3://{bucket}?endpoint=http://127.0.0.1:{}&region=us-east-1\
         &access_key_id=testing&secret_access_key=testing",
        proxy.port
    );
    let dir = tempfile::tempdir().expect("dir");
    let added = user_add(
        dir.path(),
        "p@test.local",
        crate::support::PASSWORD,
        "patient",
    );
    assert!(added.status.success(), "{}", describe(&added));
    let server = Server::start_with(dir.path(), free_port(), |command| {
        command.args(["--blob-url", &blob_url]);
    })
    .await;
    let base = server.base.clone();
    let token = server.token("p@test.local", crate::support::PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();
    let documents = format!("/fhir/R4/DocumentReference?patient={patient}&_summary=count");
    process_ready_becomes(&base, StatusCode::OK).await;
    let (status, body) = upload(&base, &token, &patient).await;
    assert_eq!(status, StatusCode::ACCEPTED, "control: {body}");
    assert_eq!(server.get(&token, &documents).await["total"], 1);
    // S3 goes away: the port is closed and its connections cut.
    proxy.down();
    let down = process_ready_becomes(&base, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(down["failing"], serde_json::json!(["blob-store"]), "{down}");
    for probe in ["/health", "/metrics"] {
        assert_eq!(http_get(&base, probe).await.0, StatusCode::OK, "{probe}");
    }
    let started = std::time::Instant::now();
    let (status, body) = upload(&base, &token, &patient).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(
        server.get(&token, &documents).await["total"],
        1,
        "nothing written"
    );
    // S3 is back on the same port: ready again, uploads accepted, without a restart.
    proxy.up().await;
    process_ready_becomes(&base, StatusCode::OK).await;
    let (status, body) = upload(&base, &token, &patient).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(server.get(&token, &documents).await["total"], 2);
}

/// Issue #24: `/health/ready` answers from the background checker's last round, not by
/// calling the backends per probe. With a 60 s interval, a blob directory broken after the
/// first round is not seen by the probes that follow (each names the same round, older at
/// every probe); with the default interval it is within seconds (the test above, the control).
#[tokio::test]
async fn readiness_answers_from_the_checkers_last_round() {
    use crate::support::process::{Server, free_port};
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start_with(dir.path(), free_port(), |command| {
        command.args(["--ready-check-interval-ms", "60000"]);
    })
    .await;
    let first = process_ready_becomes(&server.base, StatusCode::OK).await;
    let blobs_dir = dir.path().join("blobs");
    let moved = dir.path().join("blobs-away");
    std::fs::rename(&blobs_dir, &moved).expect("move away");
    std::fs::write(&blobs_dir, b"not a directory").expect("file");
    let mut last_age = first["checks"][0]["age_ms"].as_u64().expect("age");
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, body) = http_get(&server.base, "/health/ready").await;
        assert_eq!(status, StatusCode::OK, "the last round: {body}");
        let age = body["checks"][0]["age_ms"].as_u64().expect("age");
        assert!(
            age > last_age,
            "the same round, older: {age} after {last_age}"
        );
        last_age = age;
    }
    std::fs::remove_file(&blobs_dir).expect("remove the file");
    std::fs::rename(&moved, &blobs_dir).expect("move back");
}
