//! Issue #21 across real servers: two `medilink-server` processes on one database (one
//! PostgreSQL database with one Redis; one SQLite file with its key-value table), each
//! running its own subscription dispatcher. A patient's rest-hook subscription is created on
//! A, a websocket subscription is bound on B, Observations are written on B and on A: the
//! rest-hook receiver gets the handshake first, then every event once, in order, and
//! heartbeats (one server at a time) when nothing else is sent; the websocket gets every
//! event once, in order. While the receiver fails, `$status` on B says `error` and `$events`
//! on B replays what it missed; when it answers again, the missed events arrive, once.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::PASSWORD;
use crate::support::process::{Server, command, describe, free_port};

const TOPIC: &str = "https://medilink.example/fhir/SubscriptionTopic/observation";
const SD: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

/// What the receiver got (bodies in arrival order) and how many POSTs to fail first.
#[derive(Debug, Default)]
struct Inbox {
    posts: Vec<Value>,
    fail: usize,
}

async fn receiver() -> (String, Arc<Mutex<Inbox>>) {
    let inbox: Arc<Mutex<Inbox>> = Arc::default();
    let state = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let state = state.clone();
            async move {
                let mut inbox = state.lock().expect("inbox");
                if inbox.fail > 0 {
                    inbox.fail -= 1;
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                inbox.posts.push(serde_json::from_str(&body).expect("JSON"));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), inbox)
}

/// A notification's type and its events (number, focus).
fn summary(bundle: &Value) -> (String, Vec<(u64, String)>) {
    let parameters = bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .expect("parameters");
    let kind = parameters
        .iter()
        .find(|p| p["name"] == "type")
        .and_then(|p| p["valueCode"].as_str())
        .expect("type")
        .to_owned();
    let events = parameters
        .iter()
        .filter(|p| p["name"] == "notification-event")
        .map(|event| {
            let parts = event["part"].as_array().expect("parts");
            let part = |name: &str| parts.iter().find(|p| p["name"] == name).cloned();
            let number = part("event-number").expect("number")["valueString"]
                .as_str()
                .expect("string")
                .parse()
                .expect("number");
            let focus = part("focus").map_or(String::new(), |p| {
                p["valueReference"]["reference"]
                    .as_str()
                    .expect("reference")
                    .to_owned()
            });
            (number, focus)
        })
        .collect();
    (kind, events)
}

/// The events the receiver got, in order, and the kinds of its notifications.
fn received(inbox: &Mutex<Inbox>) -> (Vec<String>, Vec<(u64, String)>) {
    let inbox = inbox.lock().expect("inbox");
    let mut kinds = Vec::new();
    let mut events = Vec::new();
    for body in &inbox.posts {
        let (kind, mut more) = summary(body);
        kinds.push(kind);
        events.append(&mut more);
    }
    (kinds, events)
}

/// Waits (at most `limit`) until `done` holds.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Cluster {
    a: Server,
    b: Server,
}

/// Both servers with `env` (database, Redis), each on its own data directory under `dir`
/// (a full-text index is one process's), B with a copy of the keys A made (so a token of
/// one is good on the other).
async fn cluster(dir: &Path, env: &[(&str, String)]) -> Cluster {
    let start = |data: std::path::PathBuf| async move {
        Server::start_with(&data, free_port(), |command| {
            for (name, value) in env {
                command.env(name, value);
            }
        })
        .await
    };
    let a = start(dir.join("a")).await;
    let keys = dir.join("b").join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    for file in std::fs::read_dir(dir.join("a").join("keys")).expect("A's keys") {
        let file = file.expect("key file");
        std::fs::copy(file.path(), keys.join(file.file_name())).expect("copy a key");
    }
    let b = start(dir.join("b")).await;
    Cluster { a, b }
}

async fn send(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/fhir+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn parameter<'a>(parameters: &'a Value, name: &str) -> &'a Value {
    parameters["parameter"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or(&Value::Null)
}

async fn scenario(dir: &Path, env: Vec<(&'static str, String)>) {
    // One patient account (the subscriber reads its own record: no consent involved here;
    // consent is the single-server test's).
    let email = format!("cluster-{}@test.local", free_port());
    std::fs::create_dir_all(dir.join("a")).expect("A's data dir");
    let mut add = command(&dir.join("a"));
    for (name, value) in &env {
        add.env(name, value);
    }
    let output = add
        .args(["user", "add", "--email", &email, "--password", PASSWORD])
        .args(["--role", "patient", "--name", "Pat Test"])
        .args(["--birth-date", "1980-01-01"])
        .output()
        .expect("user add");
    assert!(output.status.success(), "{}", describe(&output));
    let Cluster { a, b } = cluster(dir, &env).await;
    let token = a.token(&email, PASSWORD).await;
    let patient = a.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let (endpoint, inbox) = receiver().await;

    // A rest-hook subscription on A (id-only, heartbeat every second): `requested`, then
    // `active` once the handshake is accepted, as B sees it.
    let rest_hook = json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "cluster",
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": format!("{SD}backport-filter-criteria"),
            "valueString": format!("Observation?patient=Patient/{patient}")}]},
        "channel": {"type": "rest-hook", "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": format!("{SD}backport-payload-content"),
                "valueCode": "id-only"}]},
            "extension": [{"url": format!("{SD}backport-heartbeat-period"),
                "valueUnsignedInt": 1}]},
    });
    let (status, created) = send(
        &a,
        &token,
        reqwest::Method::POST,
        "/fhir/R4/Subscription",
        Some(&rest_hook),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "requested");
    let hook_id = created["id"].as_str().expect("id").to_owned();
    eventually("the handshake", Duration::from_secs(30), || {
        !received(&inbox).0.is_empty()
    })
    .await;
    assert_eq!(received(&inbox).0[0], "handshake");
    let (_, on_b) = send(
        &b,
        &token,
        reqwest::Method::GET,
        &format!("/fhir/R4/Subscription/{hook_id}"),
        None,
    )
    .await;
    assert_eq!(on_b["status"], "active", "{on_b}");

    // A websocket subscription made on A, bound on B.
    let mut websocket = rest_hook.clone();
    websocket["channel"] = json!({"type": "websocket", "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": format!("{SD}backport-payload-content"),
            "valueCode": "id-only"}]}});
    let (status, created) = send(
        &a,
        &token,
        reqwest::Method::POST,
        "/fhir/R4/Subscription",
        Some(&websocket),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "active");
    let ws_id = created["id"].as_str().expect("id").to_owned();
    let (status, binding) = send(
        &b,
        &token,
        reqwest::Method::GET,
        &format!("/fhir/R4/Subscription/{ws_id}/$get-ws-binding-token"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{binding}");
    let url = parameter(&binding, "websocket-url")["valueUrl"]
        .as_str()
        .expect("url")
        .to_owned();
    assert!(url.starts_with(&b.base.replacen("http", "ws", 1)), "{url}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    let bind = format!(
        "bind-with-token {}",
        parameter(&binding, "token")["valueString"]
            .as_str()
            .expect("token")
    );
    socket.send(Message::text(bind)).await.expect("bind");
    assert_eq!(summary(&next_json(&mut socket).await).0, "handshake");

    // Writes on B and on A, alternately.
    let mut written = Vec::new();
    for n in 0..6 {
        let server = if n % 2 == 0 { &b } else { &a };
        written.push(observation(server, &token, &patient).await);
    }
    let expected: Vec<(u64, String)> = written
        .iter()
        .enumerate()
        .map(|(n, id)| (n as u64 + 1, format!("{}/fhir/R4/Observation/{id}", a.base)))
        .collect();
    eventually("six events", Duration::from_secs(30), || {
        received(&inbox).1.len() >= 6
    })
    .await;
    let mut on_socket = Vec::new();
    while on_socket.len() < 6 {
        let (kind, mut events) = summary(&next_json(&mut socket).await);
        if kind == "event-notification" {
            on_socket.append(&mut events);
        }
    }
    assert_eq!(
        on_socket, expected,
        "the websocket: each event once, in order"
    );

    // Quiet: heartbeats, from one server at a time (period 1 s; 4 s of quiet).
    let before = received(&inbox).0.len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (kinds, events) = received(&inbox);
    assert_eq!(events, expected, "the rest-hook: each event once, in order");
    let heartbeats = kinds[before..]
        .iter()
        .filter(|kind| *kind == "heartbeat")
        .count();
    assert!(
        (2..=5).contains(&heartbeats),
        "one heartbeat a second, not one per server: {heartbeats}"
    );

    // The receiver is down: three more events; B says `error` and replays them.
    inbox.lock().expect("inbox").fail = usize::MAX;
    for n in 0..3 {
        let server = if n % 2 == 0 { &b } else { &a };
        written.push(observation(server, &token, &patient).await);
    }
    let status_path = format!("/fhir/R4/Subscription/{hook_id}/$status");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, bundle) = send(&b, &token, reqwest::Method::GET, &status_path, None).await;
        let status = &bundle["entry"][0]["resource"];
        if parameter(status, "status")["valueCode"] == "error"
            && parameter(status, "events-since-subscription-start")["valueString"] == "9"
        {
            break;
        }
        assert!(Instant::now() < deadline, "no error status: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received(&inbox).1.len(), 6, "nothing got through");
    let (code, replay) = send(
        &b,
        &token,
        reqwest::Method::GET,
        &format!("/fhir/R4/Subscription/{hook_id}/$events?eventsSinceNumber=7"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{replay}");
    let (kind, replayed) = summary(&replay);
    assert_eq!(kind, "query-event");
    let expected: Vec<(u64, String)> = written
        .iter()
        .enumerate()
        .map(|(n, id)| (n as u64 + 1, format!("{}/fhir/R4/Observation/{id}", a.base)))
        .collect();
    assert_eq!(replayed, expected[6..], "$events on B: what was missed");

    // Back up: the missed events arrive (after the backoff), each once, in order.
    inbox.lock().expect("inbox").fail = 0;
    eventually("the missed events", Duration::from_secs(60), || {
        received(&inbox).1.len() >= 9
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        received(&inbox).1,
        expected,
        "at least once, here exactly once"
    );
    let (_, bundle) = send(&a, &token, reqwest::Method::GET, &status_path, None).await;
    assert_eq!(
        parameter(&bundle["entry"][0]["resource"], "status")["valueCode"],
        "active"
    );
    let mut on_socket = Vec::new();
    while on_socket.len() < 3 {
        let (kind, mut events) = summary(&next_json(&mut socket).await);
        if kind == "event-notification" {
            on_socket.append(&mut events);
        }
    }
    assert_eq!(on_socket, expected[6..], "the websocket did not miss them");
}

async fn observation(server: &Server, token: &str, patient: &str) -> String {
    let body = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": format!("Patient/{patient}")}});
    let (status, created) = send(
        server,
        token,
        reqwest::Method::POST,
        "/fhir/R4/Observation",
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/shared.db?mode=rwc", dir.path().display());
    // Two servers on one SQLite file must say so (`serve` refuses a second server otherwise:
    // `a_second_server_on_one_sqlite_file_is_refused`).
    scenario(
        dir.path(),
        vec![
            ("MEDILINK_DATABASE_URL", url),
            ("MEDILINK_SHARED_SQLITE", "true".to_owned()),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_and_redis() {
    let Ok(redis) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        eprintln!("skipping: MEDILINK_TEST_REDIS_URL is not set");
        return;
    };
    crate::support::PostgresDatabase::run("two servers", |url| async move {
        let dir = tempfile::tempdir().expect("dir");
        scenario(
            dir.path(),
            vec![
                ("MEDILINK_DATABASE_URL", url),
                ("MEDILINK_REDIS_URL", redis),
            ],
        )
        .await;
    })
    .await;
}

/// A second server on a SQLite file another server serves is refused (it would keep its own
/// token state and consent cache in process, blind to the first's revocations) unless both
/// say `--shared-sqlite`; once the first is gone (even killed), a server starts on the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/shared.db?mode=rwc", dir.path().display());
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).expect("a");
    std::fs::create_dir_all(&b_dir).expect("b");
    let a = Server::start_with(&a_dir, free_port(), |command| {
        command.env("MEDILINK_DATABASE_URL", &url);
    })
    .await;
    let mut second = command(&b_dir)
        .env("MEDILINK_DATABASE_URL", &url)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server on the same SQLite file kept running");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr read");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("--shared-sqlite"), "{stderr}");
    // The first server still answers, and once it is killed the file is free again.
    let health = reqwest::get(format!("{}/health", a.base)).await.expect("A");
    assert_eq!(health.status(), 200);
    drop(a);
    let b = Server::start_with(&b_dir, free_port(), |command| {
        command.env("MEDILINK_DATABASE_URL", &url);
    })
    .await;
    let health = reqwest::get(format!("{}/health", b.base)).await.expect("B");
    assert_eq!(health.status(), 200);
}
