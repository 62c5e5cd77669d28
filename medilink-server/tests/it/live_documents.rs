//! Issue #21, the portals' live updates: a document job's progress is recorded on its
//! `DocumentReference` (extension `document-ingest-status`, `context.related` → the job's
//! `DiagnosticReport`), so a websocket subscription to the `document-reference` topic hears
//! the upload and its results; the socket also tells its owner's in-app notices when asked
//! (`watch-notifications`). Within consent: a physician without the patient's consent hears
//! nothing (the consented physician and the patient are the positive controls). On SQLite and
//! PostgreSQL, over a real socket.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use medilink_fhir::SqlOptions;
use medilink_ingest::Pipeline;
use medilink_platform::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::documents::{FixtureExtractor, FixtureText, World, report, world_at};
use crate::subscriptions::{events_of, status_of};
use crate::support::{PostgresDatabase, signed_in};

const TOPIC: &str = "https://medilink.example/fhir/SubscriptionTopic/document-reference";
const INGEST: &str = "https://medilink.example/fhir/StructureDefinition/document-ingest-status";
const CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";

async fn world(options: &SqlOptions) -> World {
    let pipeline = Pipeline::new(
        Arc::new(FixtureText {
            delay: Duration::ZERO,
        }),
        Arc::new(FixtureExtractor),
    );
    world_at(options, 20 * 1024 * 1024, pipeline).await
}

/// A websocket subscription of `token` to the document topic; its id.
async fn subscribe(w: &World, token: &str) -> String {
    let body = json!({
        "resourceType": "Subscription",
        "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"]},
        "status": "requested",
        "reason": "portal live updates",
        "criteria": TOPIC,
        "channel": {"type": "websocket", "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": CONTENT, "valueCode": "id-only"}]}},
    });
    let (status, created) = w
        .call(token, Method::POST, "/fhir/R4/Subscription", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

/// The focus references of the events `$events` replays for subscription `id`.
async fn replayed(w: &World, token: &str, id: &str) -> Vec<String> {
    let (status, bundle) = w
        .call(
            token,
            Method::GET,
            &format!("/fhir/R4/Subscription/{id}/$events"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    events_of(&bundle)
        .into_iter()
        .map(|(_, focus)| focus)
        .collect()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frames until one satisfies `wanted` (at most 10 s); that one.
async fn frame_until(ws: &mut Socket, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
            if wanted(&value) {
                return value;
            }
        }
    }
}

fn unread_of(event: &Value) -> Option<u64> {
    let parameters = event["parameter"].as_array()?;
    let named = |name: &str| parameters.iter().find(|p| p["name"] == name);
    (named("event")?["valueCode"] == "notifications-changed")
        .then(|| named("unread")?["valueUnsignedInt"].as_u64())
        .flatten()
}

fn is_event_for(bundle: &Value, document: &str) -> bool {
    bundle["resourceType"] == "Bundle"
        && status_of(bundle)["type"]["valueCode"] == "event-notification"
        && events_of(bundle)
            .iter()
            .any(|(_, focus)| focus.ends_with(document))
}

async fn documents_are_followed_live(w: World) {
    let stranger = signed_in(&w.app.state, "doc2@test.local", Role::Physician).await;
    w.grant(&w.patient_a).await;
    let patients = subscribe(&w, &w.patient_a).await;
    let doctors = subscribe(&w, &w.doctor).await;
    let strangers = subscribe(&w, &stranger).await;

    // The patient's portal binds its subscription and watches its notices.
    let (status, parameters) = w
        .call(
            &w.patient_a,
            Method::GET,
            &format!("/fhir/R4/Subscription/{patients}/$get-ws-binding-token"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{parameters}");
    let token = parameters["parameter"][0]["valueString"]
        .as_str()
        .expect("token");
    let url = format!(
        "{}/fhir/R4/$subscription-ws",
        w.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("websocket");
    // Before any binding, the watch is refused (and the socket stays open).
    ws.send(Message::text("watch-notifications"))
        .await
        .expect("send");
    let refused = frame_until(&mut ws, |_| true).await;
    assert_eq!(refused["resourceType"], "OperationOutcome", "{refused}");
    ws.send(Message::text(format!("bind-with-token {token}")))
        .await
        .expect("bind");
    let handshake = frame_until(&mut ws, |_| true).await;
    assert_eq!(status_of(&handshake)["type"]["valueCode"], "handshake");
    ws.send(Message::text("watch-notifications"))
        .await
        .expect("send");
    let first = frame_until(&mut ws, |frame| unread_of(frame).is_some()).await;
    assert_eq!(unread_of(&first), Some(0), "{first}");

    // The doctor uploads a report for the patient: the upload is heard at once.
    let clear = report(&["Hemoglobin;13.5;g/dL;0.99", "Glucose;95;mg/dL;0.99"]);
    w.submit(&w.doctor, &format!("Patient/{}", w.a), &clear)
        .await;
    w.app
        .state
        .subscriptions
        .dispatch()
        .await
        .expect("dispatch");
    let uploaded = frame_until(&mut ws, |frame| is_event_for(frame, "")).await;
    let document = events_of(&uploaded)[0].1.clone();
    let document = document
        .rsplit_once("DocumentReference/")
        .map(|(_, id)| format!("DocumentReference/{id}"))
        .expect("a DocumentReference event");
    let read = |token: String, reference: String| {
        let w = &w;
        async move {
            w.call(&token, Method::GET, &format!("/fhir/R4/{reference}"), None)
                .await
        }
    };
    let (_, pending) = read(w.patient_a.clone(), document.clone()).await;
    assert_eq!(pending["extension"][0]["url"], INGEST, "{pending}");
    assert_eq!(pending["extension"][0]["valueCode"], "pending");

    // The job files the results: the document changes (heard), the patient's notice arrives.
    assert!(w.work_once().await);
    w.app
        .state
        .subscriptions
        .dispatch()
        .await
        .expect("dispatch");
    frame_until(&mut ws, |frame| is_event_for(frame, &document)).await;
    let (status, done) = read(w.patient_a.clone(), document.clone()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["extension"][0]["valueCode"], "completed", "{done}");
    let report_reference = done["context"]["related"][0]["reference"]
        .as_str()
        .expect("the DiagnosticReport")
        .to_owned();
    assert!(report_reference.starts_with("DiagnosticReport/"));
    let (status, filed) = read(w.patient_a.clone(), report_reference.clone()).await;
    assert_eq!(status, StatusCode::OK, "{filed}");
    let notice = frame_until(&mut ws, |frame| unread_of(frame).is_some_and(|n| n > 0)).await;
    assert_eq!(unread_of(&notice), Some(1), "{notice}");

    // Within consent: the doctor with consent hears both versions (positive control), the
    // doctor without it nothing, not even the upload.
    let heard = replayed(&w, &w.doctor, &doctors).await;
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(heard.iter().all(|focus| focus.ends_with(&document)));
    assert_eq!(replayed(&w, &w.patient_a, &patients).await.len(), 2);
    assert!(replayed(&w, &stranger, &strangers).await.is_empty());
    let (status, _) = read(stranger.clone(), document.clone()).await;
    assert_ne!(
        status,
        StatusCode::OK,
        "the stranger may not read it either"
    );
}

#[tokio::test]
async fn documents_are_followed_live_on_sqlite() {
    documents_are_followed_live(world(&SqlOptions::new("sqlite::memory:")).await).await;
}

#[tokio::test]
async fn documents_are_followed_live_on_postgres() {
    PostgresDatabase::run("the live documents test", |url| async move {
        documents_are_followed_live(world(&SqlOptions::new(url)).await).await;
    })
    .await;
}
