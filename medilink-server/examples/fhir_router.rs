//! Serves MediLink's FHIR R4 REST API from the embedder's own axum router, behind the
//! embedder's own authentication.
//!
//! Run with `cargo run -p medilink-server --example fhir_router`.
//!
//! [`medilink_server::fhir_router`] is the `/fhir/R4` part of the server (every FHIR
//! interaction, consent-guarded, audited) without its login, tokens, rate limits or `/api`.
//! The embedder's middleware authenticates each request its own way (here: an API key header)
//! and leaves the signed-in user's [`Caller`] in the request's extensions; the consent guard
//! decides from it. The example drives the router with `tower::ServiceExt::oneshot`; a real
//! service would `axum::serve` it on a listener.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, body};
use medilink_consent::GrantRequest;
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{Clock, IdGen, RequestContext, SqlOptions, SystemClock, UuidIdGen};
use medilink_platform::audit::AuditFilter;
use medilink_platform::{Caller, Role, UserId, open_store_and_platform};
use medilink_server::AppState;
use medilink_server::auth::crypto::random_bytes;
use medilink_server::auth::{AuthSettings, Keys};
use serde_json::{Value, json};
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The embedder's users, by API key (a real service checks its own sessions or tokens).
type Users = Arc<HashMap<&'static str, Caller>>;

/// The embedder's authentication: a known `x-api-key` becomes the request's [`Caller`];
/// anything else is refused before MediLink sees the request.
async fn authenticate(State(users): State<Users>, mut request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    let Some(caller) = key.and_then(|key| users.get(key)).cloned() else {
        return (StatusCode::UNAUTHORIZED, "unknown API key").into_response();
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let (store, platform) = open_store_and_platform(
        &SqlOptions::new("sqlite::memory:"),
        clock.clone(),
        ids.clone(),
    )
    .await?;
    let patient = store
        .create(
            &RequestContext::system(),
            json!({"resourceType": "Patient", "name": [{"family": "Example"}]}),
        )
        .await?;
    let kv: Arc<dyn KeyValue> = platform.kv.clone();
    let audit = platform.audit.clone();
    // This process issues no MediLink tokens: fresh keys do (a deployment that also runs
    // MediLink's `/api` keeps them in files: `medilink_platform::keys::resolve_key`).
    let keys = Keys::new(
        random_bytes(),
        random_bytes(),
        random_bytes(),
        random_bytes(),
    );
    let state = AppState::new(
        store,
        platform,
        kv,
        ids,
        clock,
        keys,
        AuthSettings::default(),
    )?;

    let patient_user = Caller::user(
        UserId("patient-1".into()),
        Role::Patient,
        true,
        Some(patient.id.clone()),
    );
    let physician = Caller::user(UserId("dr-who".into()), Role::Physician, true, None);
    let users: Users = Arc::new(HashMap::from([
        ("patient-key", patient_user.clone()),
        ("physician-key", physician),
    ]));

    // The embedder's application: its own routes, MediLink's FHIR API, its own auth around
    // both.
    let app = Router::new()
        .route("/hello", get(|| async { "the embedder's own route" }))
        .merge(medilink_server::fhir_router(state.clone()))
        .layer(middleware::from_fn_with_state(users, authenticate));

    let url = format!("/fhir/R4/Patient/{}", patient.id);
    // No key: the embedder's authentication refuses.
    let (status, _) = call(&app, &url, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The patient reads their own record.
    let (status, body) = call(&app, &url, Some("patient-key")).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], patient.id.as_str());
    // The physician has no consent yet: the record reads as missing.
    let (status, body) = call(&app, &url, Some("physician-key")).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["resourceType"], "OperationOutcome");

    // The patient grants the physician access (as the embedder's consent screen would).
    let grant = GrantRequest {
        patient: None,
        grantee: Some("dr-who".into()),
        grantee_role: Some(Role::Physician),
        scope: Vec::new(),
        purpose: None,
        end: None,
    };
    state.store.consents().create(&patient_user, grant).await?;
    let (status, body) = call(&app, &url, Some("physician-key")).await?;
    assert_eq!(status, StatusCode::OK, "consented");
    assert_eq!(body["id"], patient.id.as_str());
    let (status, body) = call(
        &app,
        "/fhir/R4/Patient?_total=accurate",
        Some("physician-key"),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"], 1);

    // Every FHIR request was audited with the embedder's user as the actor.
    let records = audit.list(&AuditFilter::default()).await?;
    let by_physician = records
        .iter()
        .filter(|record| record.entry.actor.as_deref() == Some("dr-who"))
        .count();
    assert_eq!(by_physician, 3, "two reads and a search by the physician");

    eprintln!("fhir_router: 401 without a key, 404 before consent, 200 after, all audited");
    Ok(())
}

/// `GET uri` with the API key `key`: the status and the JSON body (`Null` if not JSON).
async fn call(app: &Router, uri: &str, key: Option<&str>) -> Result<(StatusCode, Value), Error> {
    let mut request = Request::get(uri).header(header::ACCEPT, "application/fhir+json");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    let status = response.status();
    let bytes = body::to_bytes(response.into_body(), 1 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
