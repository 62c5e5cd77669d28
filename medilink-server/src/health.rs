//! Health endpoints: `GET /health` (the process is up) and `GET /health/ready` (the store
//! answers).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::RequestContext;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /health`: liveness.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /health/ready`: `200` when the store answers a query, else `503`.
pub(crate) async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let probe = app
        .store
        .changes_since(&RequestContext::system(), i64::MAX as u64, 1)
        .await;
    match probe {
        Ok(_) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness probe failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}
