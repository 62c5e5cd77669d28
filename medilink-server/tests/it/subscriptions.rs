//! Issue #21: FHIR Subscriptions (R5 Backport IG on R4), on SQLite (a file two "servers"
//! share) and PostgreSQL. Rest-hook delivery of every topic to a local receiver and websocket
//! delivery, with two dispatchers on one database (no event lost or sent twice, in order per
//! subscription), retries and `$status`, `$events` replaying what a receiver missed; within
//! consent: no consent, nothing (with the consented patient as positive control); a
//! revocation stops delivery even of an event numbered before it; `full-resource` never
//! carries another patient's resource; each delivery audited; bad subscriptions `400`/`422`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use futures::{SinkExt, StreamExt};
use medilink_consent::subscriptions::Subscriptions;
use medilink_consent::subscriptions::hook::HttpHookSender;
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::{Clock, IdGen, SeqIdGen, SqlOptions};
use medilink_platform::{Action, AuditFilter, Role, open_store_and_platform};
use medilink_server::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{PostgresDatabase, TestApp, TestResponse, signed_in};

const TOPIC: &str = "https://medilink.example/fhir/SubscriptionTopic/";
const CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
const FILTER: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria";

/// What the local receiver got: each POST's headers and body, in arrival order.
#[derive(Debug, Default)]
struct Received {
    posts: Vec<(HeaderMap, Value)>,
    /// Answer `500` to this many POSTs first.
    fail: usize,
}

type Inbox = Arc<Mutex<Received>>;

/// A rest-hook receiver on 127.0.0.1: its URL and inbox.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let state = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let mut received = state.lock().expect("inbox");
                if received.fail > 0 {
                    received.fail -= 1;
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let body = serde_json::from_str(&body).expect("a JSON notification");
                received.posts.push((headers, body));
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
            headers.push(("content-type", "application/fhir+json"));
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.request(method, uri, &headers, body).await
}

/// A backport Subscription to `topic` with filter `criteria` on `channel`.
fn subscription(topic: &str, criteria: Option<&str>, channel: Value) -> Value {
    let mut body = json!({
        "resourceType": "Subscription",
        "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"]},
        "status": "requested",
        "reason": "test",
        "criteria": format!("{TOPIC}{topic}"),
        "channel": channel,
    });
    if let Some(criteria) = criteria {
        body["_criteria"] = json!({"extension": [{"url": FILTER, "valueString": criteria}]});
    }
    body
}

fn rest_hook(endpoint: &str, content: &str) -> Value {
    json!({
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": CONTENT, "valueCode": content}]},
        "header": ["Authorization: Bearer receiver-secret"],
    })
}

async fn subscribe(app: &TestApp, token: &str, body: &Value) -> String {
    let response = call(
        app,
        token,
        Method::POST,
        "/fhir/R4/Subscription",
        Some(body),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let created = response.json();
    assert_eq!(created["status"], "active");
    created["id"].as_str().expect("id").to_owned()
}

async fn admin_create(app: &TestApp, body: Value) -> String {
    let uri = format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type"));
    let response = app.post(&uri, &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

fn observation(patient: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": {"reference": format!("Patient/{patient}")}})
}

/// The status `Parameters` of a notification and its parameters by name (the last wins).
fn status_of(bundle: &Value) -> BTreeMap<String, Value> {
    assert_eq!(bundle["resourceType"], "Bundle");
    let parameters = &bundle["entry"][0]["resource"];
    assert_eq!(parameters["resourceType"], "Parameters", "{bundle}");
    parameters["parameter"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p.clone()))
        .collect()
}

/// The event numbers and focus references of a notification.
fn events_of(bundle: &Value) -> Vec<(u64, String)> {
    bundle["entry"][0]["resource"]["parameter"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["name"] == "notification-event")
        .map(|event| {
            let parts = event["part"].as_array().expect("parts");
            let number = parts
                .iter()
                .find(|p| p["name"] == "event-number")
                .expect("number")["valueString"]
                .as_str()
                .expect("string")
                .parse()
                .expect("a number");
            let focus = parts
                .iter()
                .find(|p| p["name"] == "focus")
                .map(|p| {
                    p["valueReference"]["reference"]
                        .as_str()
                        .expect("ref")
                        .to_owned()
                })
                .unwrap_or_default();
            (number, focus)
        })
        .collect()
}

/// The POSTs received for subscription `id`: (event number, focus).
fn received_for(inbox: &Inbox, id: &str) -> Vec<(u64, String)> {
    let received = inbox.lock().expect("inbox");
    received
        .posts
        .iter()
        .filter(|(_, body)| {
            status_of(body)["subscription"]["valueReference"]["reference"]
                .as_str()
                .is_some_and(|reference| reference.ends_with(&format!("/Subscription/{id}")))
        })
        .flat_map(|(_, body)| events_of(body))
        .collect()
}

/// A second server's subscriptions service on the same database.
async fn second_server(options: &SqlOptions, clock: Arc<dyn Clock>) -> Subscriptions {
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("second"));
    let (store, platform) = open_store_and_platform(options, clock.clone(), ids.clone())
        .await
        .expect("second store");
    Subscriptions::new(
        store,
        platform.subscriptions.clone(),
        platform.accounts.clone(),
        Arc::new(LocalKeyValue::new(clock.clone())),
        clock,
        ids,
        Arc::new(HttpHookSender::new().expect("client")),
    )
    .with_audit(platform.audit.clone())
}

/// Both servers dispatch at once, `rounds` times.
async fn dispatch(app: &TestApp, second: &Subscriptions, rounds: usize) {
    for _ in 0..rounds {
        let (first, other) = tokio::join!(app.state.subscriptions.dispatch(), second.dispatch());
        first.expect("first dispatch");
        other.expect("second dispatch");
    }
}

async fn bad_subscriptions_are_refused(app: &TestApp, doctor: &str, endpoint: &str) {
    let cases = [
        (
            subscription("nope", None, rest_hook(endpoint, "id-only")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            subscription("observation", None, rest_hook("not a url", "id-only")),
            StatusCode::BAD_REQUEST,
        ),
        (
            subscription(
                "observation",
                None,
                rest_hook("ftp://example.org/x", "id-only"),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            subscription(
                "consent",
                Some("Consent?code=1"),
                rest_hook(endpoint, "id-only"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            subscription(
                "observation",
                Some("Encounter?patient=Patient/1"),
                rest_hook(endpoint, "id-only"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            subscription(
                "observation",
                None,
                json!({"type": "email", "endpoint": "mailto:a@b.c"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            subscription("observation", None, rest_hook(endpoint, "everything")),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, status) in cases {
        let response = call(
            app,
            doctor,
            Method::POST,
            "/fhir/R4/Subscription",
            Some(&body),
        )
        .await;
        assert_eq!(response.status, status, "{body}: {}", response.text());
        assert_eq!(response.json()["resourceType"], "OperationOutcome");
    }
    // Nobody but a signed-in user.
    let anonymous = call(
        app,
        "",
        Method::POST,
        "/fhir/R4/Subscription",
        Some(&subscription(
            "observation",
            None,
            rest_hook(endpoint, "id-only"),
        )),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// The whole story on one database (`options` must be shareable by two stores).
async fn scenario(options: SqlOptions) {
    let app = TestApp::on(&options, Limits::default()).await;
    let second = second_server(&options, app.clock.clone()).await;
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
    let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
    let me = |token: String| {
        let app = app.clone();
        async move {
            call(&app, &token, Method::GET, "/api/auth/me", None)
                .await
                .json()
        }
    };
    let doctor_id = me(doctor.clone()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let a = me(patient_a.clone()).await["patient_id"]
        .as_str()
        .expect("a")
        .to_owned();
    let b = me(patient_b.clone()).await["patient_id"]
        .as_str()
        .expect("b")
        .to_owned();
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let granted = call(
        &app,
        &patient_a,
        Method::POST,
        "/api/consents",
        Some(&grant),
    )
    .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text());
    let grant_id = granted.json()["id"].as_str().expect("grant").to_owned();
    let (endpoint, inbox) = receiver().await;

    bad_subscriptions_are_refused(&app, &doctor, &endpoint).await;

    // The doctor follows every topic but consents; observations of anyone, full resources.
    let observations = subscribe(
        &app,
        &doctor,
        &subscription("observation", None, rest_hook(&endpoint, "full-resource")),
    )
    .await;
    let reports = subscribe(
        &app,
        &doctor,
        &subscription(
            "diagnostic-report",
            Some(&format!("DiagnosticReport?patient=Patient/{a}")),
            rest_hook(&endpoint, "id-only"),
        ),
    )
    .await;
    let prescriptions = subscribe(
        &app,
        &doctor,
        &subscription(
            "medication-request",
            Some(&format!("patient={a}")),
            rest_hook(&endpoint, "id-only"),
        ),
    )
    .await;
    let encounters = subscribe(
        &app,
        &doctor,
        &subscription(
            "encounter",
            Some("status=finished"),
            rest_hook(&endpoint, "empty"),
        ),
    )
    .await;
    // Nobody else reads or lists them, on any path.
    let theirs = call(
        &app,
        &patient_a,
        Method::GET,
        &format!("/fhir/R4/Subscription/{observations}"),
        None,
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let listed = call(&app, &patient_a, Method::GET, "/fhir/R4/Subscription", None).await;
    assert_eq!(listed.json()["total"], 0);
    let listed = call(&app, &doctor, Method::GET, "/fhir/R4/Subscription", None).await;
    assert_eq!(listed.json()["total"], 4);
    let searched = call(
        &app,
        &patient_a,
        Method::GET,
        "/fhir/R4?_type=Subscription",
        None,
    )
    .await;
    assert!(!searched.text().contains(&endpoint), "{}", searched.text());

    let obs_a = admin_create(&app, observation(&a)).await;
    let obs_b = admin_create(&app, observation(&b)).await;
    let obs_a2 = admin_create(&app, observation(&a)).await;
    let report = admin_create(
        &app,
        json!({"resourceType": "DiagnosticReport", "status": "final",
        "code": {"text": "panel"}, "subject": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    admin_create(
        &app,
        json!({"resourceType": "DiagnosticReport", "status": "final",
        "code": {"text": "panel"}, "subject": {"reference": format!("Patient/{b}")}}),
    )
    .await;
    let prescription = admin_create(
        &app,
        json!({"resourceType": "MedicationRequest", "status": "draft",
        "intent": "proposal", "medicationCodeableConcept": {"text": "a drug"},
        "subject": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    admin_create(
        &app,
        json!({"resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    admin_create(
        &app,
        json!({"resourceType": "Encounter", "status": "planned",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": format!("Patient/{a}")}}),
    )
    .await;
    let deleted = app.delete(&format!("/fhir/R4/Observation/{obs_a2}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());

    dispatch(&app, &second, 3).await;

    // Each event once, in order; only patient A's (B gave no consent: nothing of B's).
    let got = received_for(&inbox, &observations);
    let base = "http://test.local/fhir/R4";
    assert_eq!(
        got,
        vec![
            (1, format!("{base}/Observation/{obs_a}")),
            (2, format!("{base}/Observation/{obs_a2}")),
            (3, format!("{base}/Observation/{obs_a2}")),
        ]
    );
    assert_eq!(
        received_for(&inbox, &reports),
        vec![(1, format!("{base}/DiagnosticReport/{report}"))]
    );
    assert_eq!(
        received_for(&inbox, &prescriptions),
        vec![(1, format!("{base}/MedicationRequest/{prescription}"))]
    );
    assert_eq!(
        received_for(&inbox, &encounters),
        vec![(1, String::new())],
        "empty: no focus"
    );
    {
        let received = inbox.lock().expect("inbox");
        for (headers, body) in &received.posts {
            assert_eq!(headers["authorization"], "Bearer receiver-secret");
            assert_eq!(body["type"], "history");
            assert_eq!(status_of(body)["type"]["valueCode"], "event-notification");
            assert!(!body.to_string().contains(&obs_b), "B's observation leaked");
            assert!(
                !body.to_string().contains(&format!("Patient/{b}")),
                "B leaked"
            );
        }
        // full-resource carries the resource (a deletion only its request).
        let full: Vec<&Value> = received
            .posts
            .iter()
            .map(|(_, body)| body)
            .filter(|body| body["entry"][1]["fullUrl"] == format!("{base}/Observation/{obs_a}"))
            .collect();
        assert_eq!(full.len(), 1);
        assert_eq!(full[0]["entry"][1]["resource"]["id"], obs_a.as_str());
        assert_eq!(full[0]["entry"][1]["request"]["method"], "POST");
    }

    // $status, and $events replays what the receiver may have missed.
    let status = call(
        &app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/Subscription/{observations}/$status"),
        None,
    )
    .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    let parameters = &status.json()["entry"][0]["resource"];
    let status_parameters =
        status_of(&json!({"resourceType": "Bundle", "entry": [{"resource": parameters}]}));
    assert_eq!(
        status_parameters["events-since-subscription-start"]["valueString"],
        "3"
    );
    assert_eq!(status_parameters["type"]["valueCode"], "query-status");
    let replay = call(&app, &doctor, Method::GET, &format!("/fhir/R4/Subscription/{observations}/$events?eventsSinceNumber=2&eventsUntilNumber=3&content=id-only"), None).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.text());
    assert_eq!(
        events_of(&replay.json())
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        status_of(&replay.json())["type"]["valueCode"],
        "query-event"
    );
    let bad = call(
        &app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/Subscription/{observations}/$events?eventsSinceNumber=x"),
        None,
    )
    .await;
    bad.assert_outcome(StatusCode::BAD_REQUEST, "value");

    // A failing receiver: retried with backoff, the status says error meanwhile.
    inbox.lock().expect("inbox").fail = 1;
    let obs_a3 = admin_create(&app, observation(&a)).await;
    dispatch(&app, &second, 2).await;
    assert_eq!(received_for(&inbox, &observations).len(), 3);
    let status = call(
        &app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/Subscription/{observations}/$status"),
        None,
    )
    .await;
    assert!(status.text().contains("\"error\""), "{}", status.text());
    app.clock.advance(Duration::from_secs(2));
    dispatch(&app, &second, 2).await;
    assert_eq!(
        received_for(&inbox, &observations).last(),
        Some(&(4, format!("{base}/Observation/{obs_a3}")))
    );
    assert_eq!(
        received_for(&inbox, &observations).len(),
        4,
        "retried once, delivered once"
    );

    // Revocation stops delivery at once, even of an event numbered before it.
    inbox.lock().expect("inbox").fail = 1;
    admin_create(&app, observation(&a)).await;
    dispatch(&app, &second, 1).await;
    let revoked = call(
        &app,
        &patient_a,
        Method::DELETE,
        &format!("/api/consents/{grant_id}"),
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
    app.clock.advance(Duration::from_secs(10));
    admin_create(&app, observation(&a)).await;
    dispatch(&app, &second, 3).await;
    assert_eq!(
        received_for(&inbox, &observations).len(),
        4,
        "nothing after the revocation"
    );
    let replay = call(
        &app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/Subscription/{observations}/$events?eventsSinceNumber=1"),
        None,
    )
    .await;
    assert!(
        events_of(&replay.json()).is_empty(),
        "$events decides now: {}",
        replay.text()
    );

    // Every delivery is audited like a read, naming patient A.
    app.state.audit.flush().await;
    let audited = app
        .state
        .audit_log
        .list(&AuditFilter {
            action: Some(Action::SubscriptionNotification),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    assert_eq!(audited.len(), 7, "one record per notification sent");
    assert!(
        audited
            .iter()
            .all(|record| record.entry.actor.as_deref() == Some(doctor_id.as_str()))
    );
    assert!(
        audited
            .iter()
            .any(|record| record.entry.patients.contains_key(&a))
    );
    assert!(
        audited
            .iter()
            .all(|record| !record.entry.patients.contains_key(&b))
    );

    // Update and delete: the owner's only.
    let mut off = subscription("encounter", None, rest_hook(&endpoint, "empty"));
    off["status"] = json!("off");
    let other = call(
        &app,
        &patient_a,
        Method::PUT,
        &format!("/fhir/R4/Subscription/{encounters}"),
        Some(&off),
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let updated = call(
        &app,
        &doctor,
        Method::PUT,
        &format!("/fhir/R4/Subscription/{encounters}"),
        Some(&off),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    assert_eq!(updated.json()["status"], "off");
    let removed = call(
        &app,
        &doctor,
        Method::DELETE,
        &format!("/fhir/R4/Subscription/{reports}"),
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = call(
        &app,
        &doctor,
        Method::GET,
        &format!("/fhir/R4/Subscription/{reports}"),
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    websocket_delivery(&app, &second, &patient_a, &a, &b).await;
}

/// Patient A's websocket subscriptions to the observation and consent topics: bound with a
/// token, a handshake, then A's events only (B's never), one message each.
async fn websocket_delivery(
    app: &TestApp,
    second: &Subscriptions,
    patient: &str,
    a: &str,
    b: &str,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let channel = json!({"type": "websocket", "payload": "application/fhir+json",
        "_payload": {"extension": [{"url": CONTENT, "valueCode": "id-only"}]}});
    let observations = subscribe(
        app,
        patient,
        &subscription("observation", None, channel.clone()),
    )
    .await;
    let consents = subscribe(app, patient, &subscription("consent", None, channel)).await;
    let mut socket = None;
    for id in [&observations, &consents] {
        let token = call(
            app,
            patient,
            Method::GET,
            &format!("/fhir/R4/Subscription/{id}/$get-ws-binding-token"),
            None,
        )
        .await;
        assert_eq!(token.status, StatusCode::OK, "{}", token.text());
        let parameters = token.json();
        let value = |name: &str| {
            parameters["parameter"]
                .as_array()
                .expect("parameters")
                .iter()
                .find(|p| p["name"] == name)
                .expect(name)
                .clone()
        };
        let token = value("token")["valueString"]
            .as_str()
            .expect("token")
            .to_owned();
        assert!(
            value("websocket-url")["valueUrl"]
                .as_str()
                .expect("url")
                .ends_with("/fhir/R4/$subscription-ws")
        );
        if socket.is_none() {
            let (ws, _) = tokio_tungstenite::connect_async(format!(
                "ws://{address}/fhir/R4/$subscription-ws"
            ))
            .await
            .expect("websocket");
            socket = Some(ws);
        }
        let ws = socket.as_mut().expect("socket");
        ws.send(Message::text(format!("bind-with-token {token}")))
            .await
            .expect("bind");
        let handshake = next_json(ws).await;
        assert_eq!(status_of(&handshake)["type"]["valueCode"], "handshake");
    }
    let mut ws = socket.expect("socket");
    // A spent token binds nothing.
    let (mut stranger, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/fhir/R4/$subscription-ws"))
            .await
            .expect("websocket");
    stranger
        .send(Message::text("bind-with-token nothing"))
        .await
        .expect("send");
    assert_eq!(
        next_json(&mut stranger).await["resourceType"],
        "OperationOutcome"
    );

    admin_create(app, observation(b)).await;
    let mine = admin_create(app, observation(a)).await;
    let other = signed_in(&app.state, "doc2@test.local", Role::Physician).await;
    let other = call(app, &other, Method::GET, "/api/auth/me", None)
        .await
        .json()["id"]
        .clone();
    let grant = json!({"grantee": other, "scope": ["Observation"], "purpose": "TREAT"});
    let consent = call(app, patient, Method::POST, "/api/consents", Some(&grant)).await;
    assert_eq!(consent.status, StatusCode::CREATED, "{}", consent.text());
    let consent_id = consent.json()["id"].as_str().expect("consent").to_owned();
    dispatch(app, second, 2).await;
    let first = next_json(&mut ws).await;
    let events = events_of(&first);
    assert_eq!(events.len(), 1);
    assert!(
        events[0].1.ends_with(&format!("/Observation/{mine}")),
        "{first}"
    );
    assert!(!first.to_string().contains(&format!("Patient/{b}")));
    let second_message = next_json(&mut ws).await;
    assert!(
        events_of(&second_message)[0]
            .1
            .ends_with(&format!("/Consent/{consent_id}")),
        "{second_message}"
    );
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

#[tokio::test]
async fn subscriptions_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
    scenario(SqlOptions::new(url)).await;
}

#[tokio::test]
async fn subscriptions_on_postgres() {
    PostgresDatabase::run("the subscriptions test", |url| async move {
        scenario(SqlOptions::new(url)).await;
    })
    .await;
}

#[tokio::test]
async fn the_capability_statement_declares_subscriptions() {
    let app = TestApp::new().await;
    let statement = app.get("/fhir/R4/metadata").await.json();
    assert_eq!(
        statement["implementationGuide"][0],
        "http://hl7.org/fhir/uv/subscriptions-backport|1.1.0"
    );
    let entry = statement["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|entry| entry["type"] == "Subscription")
        .expect("Subscription")
        .clone();
    let topics: Vec<&str> = entry["extension"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|extension| extension["valueCanonical"].as_str().expect("canonical"))
        .collect();
    for topic in [
        "observation",
        "diagnostic-report",
        "medication-request",
        "encounter",
        "consent",
    ] {
        assert!(
            topics.contains(&format!("{TOPIC}{topic}").as_str()),
            "{topic}"
        );
    }
    let operations: Vec<&str> = entry["operation"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|operation| operation["name"].as_str().expect("name"))
        .collect();
    assert_eq!(operations, ["status", "events", "get-ws-binding-token"]);
}
