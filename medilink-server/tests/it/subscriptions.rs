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
use medilink_fhir::{Clock, IdGen, SeqIdGen, SqlOptions};
use medilink_platform::{Action, AuditFilter, Role, open_store_and_platform};
use medilink_server::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{PostgresDatabase, TestApp, TestResponse, signed_in};

const TOPIC: &str = "https://medilink.example/fhir/SubscriptionTopic/";
const CONTENT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";
const HEARTBEAT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period";
const MAX_COUNT: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-max-count";
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
    // A rest-hook waits for its handshake; a websocket is active at once.
    let expected = match body["channel"]["type"].as_str() {
        Some("rest-hook") => "requested",
        _ => "active",
    };
    assert_eq!(created["status"], expected);
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
pub(crate) fn status_of(bundle: &Value) -> BTreeMap<String, Value> {
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
pub(crate) fn events_of(bundle: &Value) -> Vec<(u64, String)> {
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

/// A second server's subscriptions service on the same database and key-value store (a
/// cluster shares its Redis).
async fn second_server(app: &TestApp, options: &SqlOptions) -> Subscriptions {
    let clock: Arc<dyn Clock> = app.clock.clone();
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("second"));
    let (store, platform) = open_store_and_platform(options, clock.clone(), ids.clone())
        .await
        .expect("second store");
    Subscriptions::new(
        store,
        platform.subscriptions.clone(),
        platform.accounts.clone(),
        app.state.job_deps.kv.clone(),
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
    let second = second_server(&app, &options).await;
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
    // The search parameters of the IG's R4 server statement narrow the owner's list only.
    let total = |query: String| {
        let (app, doctor) = (&app, &doctor);
        async move {
            let found = call(
                app,
                doctor,
                Method::GET,
                &format!("/fhir/R4/Subscription?{query}"),
                None,
            )
            .await;
            assert_eq!(found.status, StatusCode::OK, "{}", found.text());
            found.json()["total"].clone()
        }
    };
    let encoded =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    assert_eq!(total(format!("url={}", encoded(&endpoint))).await, 4);
    assert_eq!(
        total(format!("url={}", encoded(&format!("{endpoint}/other")))).await,
        0
    );
    assert_eq!(total(format!("_id={observations}")).await, 1);
    assert_eq!(total(format!("_id={observations},{encounters}")).await, 2);
    assert_eq!(
        total("status=requested,active,error,off".to_owned()).await,
        4
    );
    assert_eq!(
        total(format!("_id={observations}&status=entered-in-error")).await,
        0
    );
    let theirs = call(
        &app,
        &patient_a,
        Method::GET,
        &format!("/fhir/R4/Subscription?url={}", encoded(&endpoint)),
        None,
    )
    .await;
    assert_eq!(theirs.json()["total"], 0);
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
            // Each rest-hook's handshake (first), then its events.
            assert!(
                ["handshake", "event-notification"]
                    .contains(&status_of(body)["type"]["valueCode"].as_str().unwrap_or("")),
                "{body}"
            );
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

/// The kinds of the notifications received for subscription `id`.
fn kinds_for(inbox: &Inbox, id: &str) -> Vec<String> {
    let received = inbox.lock().expect("inbox");
    received
        .posts
        .iter()
        .map(|(_, body)| status_of(body))
        .filter(|status| {
            status["subscription"]["valueReference"]["reference"]
                .as_str()
                .is_some_and(|reference| reference.ends_with(&format!("/Subscription/{id}")))
        })
        .map(|status| {
            status["type"]["valueCode"]
                .as_str()
                .expect("type")
                .to_owned()
        })
        .collect()
}

async fn shown_status(app: &TestApp, token: &str, id: &str) -> String {
    let read = call(
        app,
        token,
        Method::GET,
        &format!("/fhir/R4/Subscription/{id}"),
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    read.json()["status"].as_str().expect("status").to_owned()
}

/// Backport IG 1.1.0 rest-hook handshake and heartbeat, with two dispatchers on one
/// database and one key-value store: `requested` until the endpoint accepts the handshake
/// (its events wait, numbered), `error` while it is retried with backoff, `off` after
/// `MAX_HANDSHAKES` failures, a new handshake when the owner turns it back on; a heartbeat
/// once per period when nothing else was sent, from one of the two servers.
async fn handshake_and_heartbeat(options: SqlOptions) {
    use medilink_consent::subscriptions::dispatch::MAX_HANDSHAKES;
    let app = TestApp::on(&options, Limits::default()).await;
    let second = second_server(&app, &options).await;
    let patient = signed_in(&app.state, "hs@test.local", Role::Patient).await;
    let me = call(&app, &patient, Method::GET, "/api/auth/me", None)
        .await
        .json();
    let a = me["patient_id"].as_str().expect("patient").to_owned();
    let (endpoint, inbox) = receiver().await;
    inbox.lock().expect("inbox").fail = 2;
    let mut channel = rest_hook(&endpoint, "id-only");
    channel["extension"] = json!([{"url": HEARTBEAT, "valueUnsignedInt": 60}]);
    let id = subscribe(&app, &patient, &subscription("observation", None, channel)).await;
    let observation_id = admin_create(&app, observation(&a)).await;

    // Two failed handshakes: `error`, retried after 1 s then 2 s; no event is sent before.
    dispatch(&app, &second, 2).await;
    assert_eq!(shown_status(&app, &patient, &id).await, "error");
    assert_eq!(
        inbox.lock().expect("inbox").fail,
        1,
        "one attempt, no retry yet"
    );
    app.clock.advance(Duration::from_secs(1));
    dispatch(&app, &second, 2).await;
    assert_eq!(inbox.lock().expect("inbox").fail, 0);
    assert!(kinds_for(&inbox, &id).is_empty());
    app.clock.advance(Duration::from_secs(1));
    dispatch(&app, &second, 1).await;
    assert!(kinds_for(&inbox, &id).is_empty(), "the backoff is 2 s now");
    app.clock.advance(Duration::from_secs(1));
    dispatch(&app, &second, 2).await;
    assert_eq!(kinds_for(&inbox, &id), ["handshake", "event-notification"]);
    assert_eq!(
        received_for(&inbox, &id),
        [(
            1,
            format!("http://test.local/fhir/R4/Observation/{observation_id}")
        )]
    );
    assert_eq!(shown_status(&app, &patient, &id).await, "active");
    {
        let received = inbox.lock().expect("inbox");
        let handshake = &received.posts[0].1;
        assert_eq!(handshake["type"], "history");
        assert_eq!(status_of(handshake)["status"]["valueCode"], "requested");
        assert_eq!(
            received.posts[0].0["authorization"], "Bearer receiver-secret",
            "the handshake carries the subscriber's headers"
        );
    }

    // Heartbeat: none within the period after the last notification, then one per period.
    app.clock.advance(Duration::from_secs(59));
    dispatch(&app, &second, 2).await;
    assert_eq!(kinds_for(&inbox, &id).len(), 2);
    app.clock.advance(Duration::from_secs(2));
    dispatch(&app, &second, 3).await;
    assert_eq!(
        kinds_for(&inbox, &id),
        ["handshake", "event-notification", "heartbeat"],
        "one heartbeat, not one per server"
    );
    {
        let received = inbox.lock().expect("inbox");
        let heartbeat = &received.posts.last().expect("heartbeat").1;
        assert_eq!(
            status_of(heartbeat)["events-since-subscription-start"]["valueString"],
            "1"
        );
        assert!(events_of(heartbeat).is_empty());
        assert_eq!(heartbeat["entry"].as_array().expect("entries").len(), 1);
    }
    app.clock.advance(Duration::from_secs(61));
    dispatch(&app, &second, 2).await;
    assert_eq!(kinds_for(&inbox, &id).len(), 4, "the next period's");

    // An endpoint that never accepts: `off` after MAX_HANDSHAKES failures, then silence.
    let removed = call(
        &app,
        &patient,
        Method::DELETE,
        &format!("/fhir/R4/Subscription/{id}"),
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    inbox.lock().expect("inbox").fail = 100;
    let never = subscribe(
        &app,
        &patient,
        &subscription("observation", None, rest_hook(&endpoint, "id-only")),
    )
    .await;
    for attempt in 0..MAX_HANDSHAKES {
        dispatch(&app, &second, 1).await;
        // The wait after failure `attempt + 1`.
        app.clock.advance(Duration::from_secs(1 << attempt));
    }
    dispatch(&app, &second, 2).await;
    let refused = 100 - inbox.lock().expect("inbox").fail;
    assert_eq!(refused, MAX_HANDSHAKES as usize, "one attempt per backoff");
    assert_eq!(shown_status(&app, &patient, &never).await, "off");
    let status = call(
        &app,
        &patient,
        Method::GET,
        &format!("/fhir/R4/Subscription/{never}/$status"),
        None,
    )
    .await;
    assert!(
        status
            .text()
            .contains("handshake: the endpoint answered 500"),
        "{}",
        status.text()
    );
    // Turned back on by its owner: a new handshake, accepted.
    inbox.lock().expect("inbox").fail = 0;
    let again = call(
        &app,
        &patient,
        Method::PUT,
        &format!("/fhir/R4/Subscription/{never}"),
        Some(&subscription(
            "observation",
            None,
            rest_hook(&endpoint, "id-only"),
        )),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["status"], "requested");
    dispatch(&app, &second, 1).await;
    assert_eq!(kinds_for(&inbox, &never), ["handshake"]);
    assert_eq!(shown_status(&app, &patient, &never).await, "active");
}

/// `backport-max-count` batches a rest-hook's events (one audit record per notification);
/// `Subscription.end` turns it off when it comes; malformed values are `400`s.
async fn end_and_max_count(options: SqlOptions) {
    let app = TestApp::on(&options, Limits::default()).await;
    let second = second_server(&app, &options).await;
    let patient = signed_in(&app.state, "batch@test.local", Role::Patient).await;
    let me = call(&app, &patient, Method::GET, "/api/auth/me", None)
        .await
        .json();
    let a = me["patient_id"].as_str().expect("patient").to_owned();
    let (endpoint, inbox) = receiver().await;
    let max_count = |count: u64| {
        let mut channel = rest_hook(&endpoint, "id-only");
        channel["extension"] = json!([{"url": MAX_COUNT, "valuePositiveInt": count}]);
        subscription("observation", None, channel)
    };
    for (mut bad, what) in [
        (max_count(0), "maxCount 0"),
        (max_count(2), "end without a time zone"),
        (max_count(2), "end not a string"),
    ] {
        match what {
            "end without a time zone" => bad["end"] = json!("2026-01-01T00:00:00"),
            "end not a string" => bad["end"] = json!(5),
            _ => {}
        }
        let refused = call(
            &app,
            &patient,
            Method::POST,
            "/fhir/R4/Subscription",
            Some(&bad),
        )
        .await;
        refused.assert_outcome(StatusCode::BAD_REQUEST, "value");
    }
    let mut body = max_count(2);
    let end = app.clock.now() + Duration::from_secs(600);
    body["end"] = json!(medilink_fhir::clock::format_instant(end));
    let id = subscribe(&app, &patient, &body).await;
    dispatch(&app, &second, 1).await;
    assert_eq!(kinds_for(&inbox, &id), ["handshake"]);
    let mut written = Vec::new();
    for _ in 0..5 {
        written.push(admin_create(&app, observation(&a)).await);
    }
    dispatch(&app, &second, 2).await;
    let batches: Vec<Vec<u64>> = {
        let received = inbox.lock().expect("inbox");
        received.posts[1..]
            .iter()
            .map(|(_, body)| events_of(body).iter().map(|e| e.0).collect())
            .collect()
    };
    assert_eq!(batches, [vec![1, 2], vec![3, 4], vec![5]]);
    assert_eq!(
        received_for(&inbox, &id)
            .iter()
            .map(|(_, focus)| focus.rsplit('/').next().expect("id").to_owned())
            .collect::<Vec<_>>(),
        written
    );
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
    assert_eq!(audited.len(), 3, "one record per notification");
    assert_eq!(
        audited
            .iter()
            .map(|record| record.entry.patients.get(&a).map_or(0, Vec::len))
            .sum::<usize>(),
        5,
        "naming every resource disclosed"
    );
    // Its end comes: off, and nothing more is sent.
    app.clock.advance(Duration::from_secs(601));
    dispatch(&app, &second, 1).await;
    assert_eq!(shown_status(&app, &patient, &id).await, "off");
    admin_create(&app, observation(&a)).await;
    dispatch(&app, &second, 2).await;
    assert_eq!(received_for(&inbox, &id).len(), 5);
}

#[tokio::test]
async fn end_and_max_count_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
    end_and_max_count(SqlOptions::new(url)).await;
}

#[tokio::test]
async fn end_and_max_count_on_postgres() {
    PostgresDatabase::run("the max-count test", |url| async move {
        end_and_max_count(SqlOptions::new(url)).await;
    })
    .await;
}

#[tokio::test]
async fn handshake_and_heartbeat_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
    handshake_and_heartbeat(SqlOptions::new(url)).await;
}

#[tokio::test]
async fn handshake_and_heartbeat_on_postgres() {
    PostgresDatabase::run("the handshake test", |url| async move {
        handshake_and_heartbeat(SqlOptions::new(url)).await;
    })
    .await;
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
    // The IG's canonical and its R4 server CapabilityStatement, as published in 1.1.0
    // (`input/fsh/Capabilities.fsh` at tag v1.1.0 of HL7/fhir-subscription-backport-ig).
    assert_eq!(
        statement["implementationGuide"][0],
        "http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/hl7.fhir.uv.subscriptions-backport|1.1.0"
    );
    assert_eq!(
        statement["instantiates"][0],
        "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4|1.1.0"
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
        "document-reference",
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

/// The shipped topics as the Backport IG serves them in R4: `Basic` resources with the
/// cross-version SubscriptionTopic extensions, found by `code=SubscriptionTopic`, each read
/// at its id; the CapabilityStatement's topic canonicals are exactly their URLs. Another
/// `Basic` search is the ordinary one (a stored `Basic` is found, no topic).
#[tokio::test]
async fn topics_are_served_as_basic_resources() {
    const EXTENSION: &str =
        "http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic";
    let app = TestApp::new().await;
    let patient = signed_in(&app.state, "topics@test.local", Role::Patient).await;
    for query in [
        "code=SubscriptionTopic",
        "code=http://hl7.org/fhir/fhir-types%7CSubscriptionTopic",
    ] {
        let found = call(
            &app,
            &patient,
            Method::GET,
            &format!("/fhir/R4/Basic?{query}"),
            None,
        )
        .await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.text());
        let bundle = found.json();
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 6, "{bundle}");
    }
    let bundle = app
        .get("/fhir/R4/Basic?code=SubscriptionTopic")
        .await
        .json();
    let mut urls = Vec::new();
    for entry in bundle["entry"].as_array().expect("entries") {
        let basic = &entry["resource"];
        assert_eq!(basic["resourceType"], "Basic");
        assert_eq!(basic["code"]["coding"][0]["code"], "SubscriptionTopic");
        assert_eq!(
            basic["code"]["coding"][0]["system"],
            "http://hl7.org/fhir/fhir-types"
        );
        let extensions = basic["extension"].as_array().expect("extensions");
        let url = extensions
            .iter()
            .find(|e| e["url"] == format!("{EXTENSION}.url"))
            .expect("url")["valueUri"]
            .as_str()
            .expect("uri")
            .to_owned();
        let filters: Vec<&str> = extensions
            .iter()
            .filter(|e| e["url"] == format!("{EXTENSION}.canFilterBy"))
            .map(|e| {
                e["extension"]
                    .as_array()
                    .expect("parts")
                    .iter()
                    .find(|part| part["url"] == "filterParameter")
                    .expect("parameter")["valueString"]
                    .as_str()
                    .expect("name")
            })
            .collect();
        assert!(filters.contains(&"patient"), "{basic}");
        assert!(
            extensions
                .iter()
                .any(|e| e["url"] == format!("{EXTENSION}.resourceTrigger")),
            "{basic}"
        );
        assert_eq!(
            basic["modifierExtension"][0]["url"],
            format!("{EXTENSION}.status")
        );
        // Each is read at its id, as its fullUrl says.
        let id = basic["id"].as_str().expect("id");
        assert_eq!(
            entry["fullUrl"],
            format!("http://test.local/fhir/R4/Basic/{id}")
        );
        let read = app.get(&format!("/fhir/R4/Basic/{id}")).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text());
        assert_eq!(&read.json(), basic);
        urls.push(url);
    }
    // The observation topic filters as documented.
    assert!(urls.contains(&format!("{TOPIC}observation")));
    let statement = app.get("/fhir/R4/metadata").await.json();
    let mut declared: Vec<String> = statement["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|entry| entry["type"] == "Subscription")
        .expect("Subscription")["extension"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|e| e["valueCanonical"].as_str().expect("canonical").to_owned())
        .collect();
    declared.sort();
    urls.sort();
    assert_eq!(
        declared, urls,
        "the CapabilityStatement names the same topics"
    );
    // Any other Basic search is the store's: a stored Basic, no topic.
    let stored = admin_create(
        &app,
        json!({"resourceType": "Basic", "code": {"text": "note"}}),
    )
    .await;
    let other = app.get("/fhir/R4/Basic").await.json();
    let ids: Vec<&str> = other["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| entry["resource"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [stored.as_str()]);
    let missing = app.get("/fhir/R4/Basic/subscription-topic-nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
