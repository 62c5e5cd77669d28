//! Issue #5, the remaining paths: break-glass e-mail over SMTP (a sink in the test; since
//! issue #14 a notice whose e-mail the `notification.deliver` job sends), Patient
//! `$everything`, `/api/search`, and revocation seen at once by a second instance sharing
//! Redis.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::kv::KeyValue;
use medilink_fhir::kv::RedisKeyValue;
use medilink_fhir::{Clock, IdGen, SeqIdGen, SqlOptions};
use medilink_platform::Role;
use medilink_platform::open_store_and_platform;
use medilink_server::auth::{AuthSettings, Keys};
use medilink_server::config::WorkerSettings;
use medilink_server::mail::SmtpSettings;
use medilink_server::{AppState, Limits};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::support::{TestApp, TestResponse, signed_in, unlimited};

async fn call(
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
            headers.push(("content-type", "application/json"));
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.request(method, uri, &headers, body).await
}

async fn me(app: &TestApp, token: &str, field: &str) -> String {
    let response = call(app, token, Method::GET, "/api/auth/me", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()[field].as_str().expect(field).to_owned()
}

async fn admin_create(app: &TestApp, body: &Value) -> String {
    let uri = format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type"));
    let response = app.post(&uri, body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

fn observation(patient: &str, text: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text, "coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")}
    })
}

struct World {
    app: TestApp,
    doctor: String,
    doctor_id: String,
    patient_a: String,
    a: String,
    b: String,
    obs_a: String,
    obs_b: String,
}

async fn world_on(app: TestApp) -> World {
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
    let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
    let doctor_id = me(&app, &doctor, "id").await;
    let a = me(&app, &patient_a, "patient_id").await;
    let b = me(&app, &patient_b, "patient_id").await;
    let obs_a = admin_create(&app, &observation(&a, "heart rate zebrafinch")).await;
    let obs_b = admin_create(&app, &observation(&b, "heart rate zebrafinch")).await;
    World {
        app,
        doctor,
        doctor_id,
        patient_a,
        a,
        b,
        obs_a,
        obs_b,
    }
}

async fn world() -> World {
    world_on(TestApp::new().await).await
}

/// Patient A grants the doctor all data; returns the consent id.
async fn grant(w: &World, app: &TestApp) -> String {
    let body = json!({"grantee": w.doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let response = call(
        app,
        &w.patient_a,
        Method::POST,
        "/api/consents",
        Some(&body),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

// --- SMTP -----------------------------------------------------------------------------------

/// One message the sink accepted.
#[derive(Debug)]
struct Received {
    rcpt: Vec<String>,
    data: String,
}

/// A minimal SMTP server on 127.0.0.1; refuses `MAIL` with 451 on the first `refuse`
/// connections. Returns its URL, the accepted messages and the number of connections.
async fn smtp_sink(
    refuse: usize,
) -> (
    String,
    mpsc::UnboundedReceiver<Received>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    let (sender, receiver) = mpsc::unbounded_channel();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let number = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "MAIL" if number < refuse => b"451 try again later\r\n",
                        "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "RCPT" => {
                            rcpt.push(line.clone());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 end with .\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(&line);
                                data.push('\n');
                            }
                            let _ = sender.send(Received {
                                rcpt: std::mem::take(&mut rcpt),
                                data,
                            });
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, receiver, connections)
}

fn smtp_settings(url: String) -> SmtpSettings {
    let mut settings = SmtpSettings::new(url, "MediLink <no-reply@test.local>");
    settings.first_backoff = Duration::from_millis(50);
    settings.timeout = Duration::from_secs(5);
    settings
}

async fn break_glass(w: &World, app: &TestApp) -> TestResponse {
    let body = json!({"patient": w.a, "reason": "patient unconscious in the emergency room"});
    call(
        app,
        &w.doctor,
        Method::POST,
        "/api/consents/break-glass",
        Some(&body),
    )
    .await
}

async fn mailing_world(
    refuse: usize,
) -> (
    World,
    TestApp,
    mpsc::UnboundedReceiver<Received>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let w = world().await;
    let (url, received, connections) = smtp_sink(refuse).await;
    let app = notifying(&w, url);
    (w, app, received, connections)
}

/// The world's application sending notification e-mails to the SMTP server at `url`.
fn notifying(w: &World, url: String) -> TestApp {
    let notifier =
        medilink_server::mail::notifier(&smtp_settings(url), &w.app.state.auth).expect("notifier");
    let state = w
        .app
        .state
        .clone()
        .with_notification_mailer(Arc::new(notifier), "https://portal.test");
    w.app.with_state(state)
}

/// Runs the application's jobs (moving the clock past each retry's backoff) until the sink
/// has a message, or `None` after `rounds`.
async fn deliver(
    app: &TestApp,
    received: &mut mpsc::UnboundedReceiver<Received>,
    rounds: usize,
) -> Option<Received> {
    let settings = WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
    };
    let worker = medilink_server::serve::worker(&app.state, settings);
    for _ in 0..rounds {
        worker.run_once().await.expect("a job step");
        if let Ok(Some(mail)) =
            tokio::time::timeout(Duration::from_millis(300), received.recv()).await
        {
            return Some(mail);
        }
        app.clock.advance(Duration::from_secs(600));
    }
    None
}

#[tokio::test]
async fn break_glass_mails_the_patient_without_clinical_content() {
    let (w, app, mut received, _) = mailing_world(0).await;
    let response = break_glass(&w, &app).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let mail = deliver(&app, &mut received, 5)
        .await
        .expect("the notice's e-mail, through the outbox");
    assert_eq!(mail.rcpt.len(), 1, "{mail:?}");
    assert!(mail.rcpt[0].contains("<a@test.local>"), "{mail:?}");
    assert!(mail.data.contains("Emergency access"), "{}", mail.data);
    assert!(mail.data.contains("To: a@test.local"), "{}", mail.data);
    assert!(mail.data.contains("Message-ID: <"), "{}", mail.data);
    for clinical in ["zebrafinch", "8867-4", "unconscious", &w.obs_a, &w.a] {
        assert!(!mail.data.contains(clinical), "{clinical} in {}", mail.data);
    }
    // The patient's inbox has it too; the doctor's has nothing of it.
    let inbox = call(&app, &w.patient_a, Method::GET, "/api/notifications", None).await;
    assert_eq!(
        inbox.json()["notifications"][0]["kind"],
        "security.break_glass"
    );
    let theirs = call(&app, &w.doctor, Method::GET, "/api/notifications", None).await;
    assert!(
        !theirs.text().contains("security.break_glass"),
        "{}",
        theirs.text()
    );
}

#[tokio::test]
async fn break_glass_mail_is_retried_after_a_refusal() {
    let (w, app, mut received, connections) = mailing_world(1).await;
    let response = break_glass(&w, &app).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "a refused mail never fails the request: {}",
        response.text()
    );
    let mail = deliver(&app, &mut received, 10)
        .await
        .expect("the retried e-mail");
    assert!(mail.rcpt[0].contains("<a@test.local>"), "{mail:?}");
    assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn break_glass_succeeds_when_smtp_is_unreachable() {
    let w = world().await;
    // A port nothing listens on.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let app = notifying(&w, url);
    let response = break_glass(&w, &app).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    // The delivery fails and waits for its retry; the notice is in the inbox.
    let (_, mut nothing) = mpsc::unbounded_channel();
    assert!(deliver(&app, &mut nothing, 1).await.is_none());
    let inbox = call(&app, &w.patient_a, Method::GET, "/api/notifications", None).await;
    assert_eq!(
        inbox.json()["notifications"][0]["kind"],
        "security.break_glass"
    );
}

// --- $everything ----------------------------------------------------------------------------

fn bundle_ids(response: &TestResponse) -> Vec<String> {
    response.json()["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_only_patient_a(w: &World, response: &TestResponse) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["resourceType"], "Bundle");
    assert_eq!(body["type"], "searchset");
    let ids = bundle_ids(response);
    assert!(ids.contains(&w.a), "{body}");
    assert!(ids.contains(&w.obs_a), "{body}");
    let text = response.text();
    assert!(!text.contains(&w.b), "patient B leaked: {text}");
    assert!(!text.contains(&w.obs_b), "B's observation leaked: {text}");
    assert_eq!(body["total"].as_u64(), Some(ids.len() as u64));
}

#[tokio::test]
async fn everything_serves_the_patient_and_consented_physicians_only() {
    let w = world().await;
    let uri = format!("/fhir/R4/Patient/{}/$everything", w.a);
    // The patient.
    let own = call(&w.app, &w.patient_a, Method::GET, &uri, None).await;
    assert_only_patient_a(&w, &own);
    // A physician without consent: exactly like a missing patient.
    let hidden = call(&w.app, &w.doctor, Method::GET, &uri, None).await;
    let missing = call(
        &w.app,
        &w.doctor,
        Method::GET,
        "/fhir/R4/Patient/no-such-id/$everything",
        None,
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text());
    assert_eq!(hidden.status, missing.status);
    assert_eq!(
        hidden.text().replace(&w.a, "X"),
        missing.text().replace("no-such-id", "X")
    );
    assert!(!hidden.text().contains(&w.obs_a));
    // The patient's other data is out of reach too.
    let other = format!("/fhir/R4/Patient/{}/$everything", w.b);
    let response = call(&w.app, &w.patient_a, Method::GET, &other, None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    // After consent.
    grant(&w, &w.app).await;
    let consented = call(&w.app, &w.doctor, Method::GET, &uri, None).await;
    assert_only_patient_a(&w, &consented);
    // The admin sees the same compartment, still without B's data.
    let admin = w.app.get(&uri).await;
    assert_only_patient_a(&w, &admin);
    // Not a Patient: not supported.
    let wrong = w
        .app
        .get(&format!("/fhir/R4/Observation/{}/$everything", w.obs_a))
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
}

// --- /api/search ----------------------------------------------------------------------------

fn result_ids(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let mut ids: Vec<String> = response.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| {
            format!(
                "{}/{}",
                result["resourceType"].as_str().expect("type"),
                result["id"].as_str().expect("id")
            )
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn api_search_is_restricted_by_consent_without_leaking_counts() {
    let w = world().await;
    let practitioner = admin_create(
        &w.app,
        &json!({"resourceType": "Practitioner", "name": [{"family": "Zebrafinch", "given": ["Ada"]}]}),
    )
    .await;
    let uri = "/api/search?q=zebrafinch";
    let expected = |ids: &[String]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids
    };
    let p = format!("Practitioner/{practitioner}");
    let oa = format!("Observation/{}", w.obs_a);
    let ob = format!("Observation/{}", w.obs_b);
    // Patient: own data and the directory.
    let own = call(&w.app, &w.patient_a, Method::GET, uri, None).await;
    assert_eq!(result_ids(&own), expected(&[p.clone(), oa.clone()]));
    assert_eq!(own.json()["total"], 2);
    // Physician without consent: the directory only; nothing about A or B.
    let none = call(&w.app, &w.doctor, Method::GET, uri, None).await;
    assert_eq!(result_ids(&none), vec![p.clone()]);
    assert_eq!(none.json()["total"], 1);
    assert_eq!(none.json()["results"][0]["display"], "Ada Zebrafinch");
    assert!(!none.text().contains(&w.obs_a) && !none.text().contains(&w.obs_b));
    // Consented physician: A's data too.
    grant(&w, &w.app).await;
    let consented = call(&w.app, &w.doctor, Method::GET, uri, None).await;
    assert_eq!(result_ids(&consented), expected(&[p.clone(), oa.clone()]));
    assert_eq!(consented.json()["total"], 2);
    assert!(!consented.text().contains(&w.obs_b));
    // Admin: everything.
    let admin = w.app.get(uri).await;
    assert_eq!(result_ids(&admin), expected(&[p, oa, ob]));
    assert_eq!(admin.json()["total"], 3);
    // Bad request without q.
    let bad = w.app.get("/api/search").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

// --- two instances sharing Redis ------------------------------------------------------------

#[tokio::test]
async fn revocation_on_one_instance_is_refused_at_once_on_another() {
    let Ok(url) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("medilink-test-{}:", uuid::Uuid::new_v4());
    let redis = RedisKeyValue::connect(&url, prefix).await.expect("redis");
    let kv: Arc<dyn KeyValue> = Arc::new(redis.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqlOptions::new(format!("sqlite://{}/shared.db", dir.path().display()));
    let mut settings = AuthSettings::for_tests();
    settings.rate = unlimited();
    let first = TestApp::build(
        &options,
        Limits::default(),
        settings.clone(),
        Some(kv.clone()),
    )
    .await;
    // The second instance: same database and Redis, its own store pool, ids and router.
    let clock: Arc<dyn Clock> = first.clock.clone();
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("second"));
    let (store, platform) = open_store_and_platform(&options, clock.clone(), ids.clone())
        .await
        .expect("second store");
    let state = AppState::new(store, platform, kv, ids, clock, Keys::for_tests(), settings)
        .expect("second state");
    let second = first.with_state(state);
    let w = world_on(first).await;
    let read = format!("/fhir/R4/Observation/{}", w.obs_a);
    assert_eq!(
        call(&second, &w.doctor, Method::GET, &read, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let consent = grant(&w, &w.app).await;
    let allowed = call(&second, &w.doctor, Method::GET, &read, None).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
    // Cached on the second instance now; revoke through the first.
    let revoke = call(
        &w.app,
        &w.patient_a,
        Method::DELETE,
        &format!("/api/consents/{consent}"),
        None,
    )
    .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.text());
    let refused = call(&second, &w.doctor, Method::GET, &read, None).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.text());
    let search = call(
        &second,
        &w.doctor,
        Method::GET,
        "/fhir/R4/Observation",
        None,
    )
    .await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(!search.text().contains(&w.obs_a), "{}", search.text());
    assert!(redis.clear().await.expect("clear") > 0);
}
