//! Issue #21: a `medilink-worker` process runs the FHIR Subscriptions dispatcher like a
//! server does. No server runs here at all: a worker started with
//! `--no-subscription-dispatch` sends nothing (the negative control), a worker without it
//! shakes hands with the rest-hook endpoint and delivers the patient's Observation, once.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use medilink_consent::subscriptions::Subscriptions;
use medilink_consent::subscriptions::hook::HttpHookSender;
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::{RequestContext, SeqIdGen, SqlOptions, SystemClock};
use medilink_platform::{AccountStatus, Caller, CallerContext, NewUser, Role, UserId};
use serde_json::{Value, json};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(database_url: &str, data_dir: &std::path::Path, dispatch: bool) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medilink-worker"));
    command
        .args([
            "--database-url",
            database_url,
            "--poll-ms",
            "50",
            "--no-schedule",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("MEDILINK_WORKER_NO_SUBSCRIPTION_DISPATCH")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if !dispatch {
        command.arg("--no-subscription-dispatch");
    }
    Running(command.spawn().expect("start medilink-worker"))
}

/// A rest-hook receiver on 127.0.0.1: its URL and the notification types and event numbers
/// it got, in order.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let inbox: Arc<Mutex<Vec<Value>>> = Arc::default();
    let state = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let state = state.clone();
            async move {
                let body: Value = serde_json::from_str(&body).expect("JSON");
                state.lock().expect("inbox").push(body);
                axum::http::StatusCode::OK
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

/// A notification's type and its events' foci.
fn summary(bundle: &Value) -> (String, Vec<String>) {
    let parameters = bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .expect("parameters");
    let kind = parameters
        .iter()
        .find(|p| p["name"] == "type")
        .and_then(|p| p["valueCode"].as_str())
        .expect("type")
        .to_owned();
    let foci = parameters
        .iter()
        .filter(|p| p["name"] == "notification-event")
        .filter_map(|event| {
            event["part"]
                .as_array()?
                .iter()
                .find(|part| part["name"] == "focus")?["valueReference"]["reference"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    (kind, foci)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_delivers_rest_hooks_without_any_server() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(SeqIdGen::new("t"));
    let (store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(&url),
        clock.clone(),
        ids.clone(),
    )
    .await
    .expect("open");
    let system = RequestContext::system();
    let patient = store
        .create(
            &system,
            json!({"resourceType": "Patient", "name": [{"family": "Test", "given": ["Pat"]}],
                "birthDate": "1980-01-01"}),
        )
        .await
        .expect("patient")
        .id;
    let user = UserId("u-patient".to_owned());
    platform
        .accounts
        .create_user(NewUser {
            id: user.clone(),
            email_hash: vec![1],
            email_enc: vec![2],
            name_enc: None,
            password_hash: "hash".to_owned(),
            role: Role::Patient,
            status: AccountStatus::Active,
            patient_id: Some(patient.clone()),
        })
        .await
        .expect("user");
    // The subscription, created as the API does (this service, in this test process, never
    // dispatches).
    let subscriptions = Subscriptions::new(
        store.clone(),
        platform.subscriptions.clone(),
        platform.accounts.clone(),
        Arc::new(LocalKeyValue::new(clock.clone())),
        clock,
        ids,
        Arc::new(HttpHookSender::new().expect("client")),
    );
    let (endpoint, inbox) = receiver().await;
    let ctx = RequestContext::for_caller(
        Caller::user(user, Role::Patient, true, Some(patient.clone())),
        "subscribe",
    );
    let subscription = json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "worker test",
        "criteria": "https://medilink.example/fhir/SubscriptionTopic/observation",
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
            "_payload": {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                "valueCode": "id-only"}]}},
    });
    let owned = subscriptions
        .create(&ctx, "http://test.local/fhir/R4", subscription)
        .await
        .expect("subscribe");
    assert_eq!(owned.state.status.as_str(), "requested");
    let observation = store
        .create(
            &system,
            json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                "subject": {"reference": format!("Patient/{patient}")}}),
        )
        .await
        .expect("observation")
        .id;

    // Negative control: a worker told not to dispatch sends nothing.
    let quiet = spawn_worker(&url, &dir.path().join("quiet"), false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(quiet);
    assert!(inbox.lock().expect("inbox").is_empty(), "nothing sent");

    // A worker that dispatches: the handshake, then the event, once each.
    let _worker = spawn_worker(&url, &dir.path().join("worker"), true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while inbox.lock().expect("inbox").len() < 2 {
        assert!(Instant::now() < deadline, "the worker delivered nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received: Vec<(String, Vec<String>)> =
        inbox.lock().expect("inbox").iter().map(summary).collect();
    assert_eq!(
        received,
        vec![
            ("handshake".to_owned(), vec![]),
            (
                "event-notification".to_owned(),
                vec![format!(
                    "http://test.local/fhir/R4/Observation/{observation}"
                )]
            ),
        ]
    );
    let state = platform
        .subscriptions
        .get(owned.stored.id.as_str())
        .await
        .expect("state")
        .expect("subscription");
    assert_eq!(state.status.as_str(), "active");
    assert_eq!((state.events, state.delivered), (1, 1));
}
