//! Health endpoints: `GET /health` (liveness: the process answers; it touches no backend) and
//! `GET /health/ready` (readiness: every configured backend answers).
//!
//! Both are probes (`Meta::probe`): never rate limited, never audited, no token read, so a
//! load balancer probing from one address, or a Redis outage, never fails a healthy server
//! (issue #24). Readiness probes each backend at once, each within [`PROBE_TIMEOUT`]:
//! - `database`: a change-feed read of the store;
//! - `redis` (only when the key-value store is Redis; otherwise it is the database): a read;
//! - `blob-store`: a write and a delete of a probe object (a read of a missing key succeeds
//!   on a directory that can no longer be written).
//!
//! `200 {"status":"ready","checks":[…]}` when all answer, else `503` with `"failing"` naming
//! the backends that did not (the error itself goes to the log only).

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::{FhirResult, RequestContext};
use serde_json::{Value, json};

use crate::state::AppState;

/// How long one backend may take to answer the readiness probe.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The object the readiness probe writes and deletes in the blob store.
const BLOB_PROBE_KEY: &str = "health/ready-probe";

/// `GET /health`: liveness.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// One backend's probe: `Ok` when it answered within [`PROBE_TIMEOUT`].
async fn check(
    name: &'static str,
    probe: impl Future<Output = FhirResult<()>>,
) -> (&'static str, bool) {
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => (name, true),
        Ok(Err(err)) => {
            tracing::warn!(backend = name, error = %err, "readiness probe failed");
            (name, false)
        }
        Err(_) => {
            tracing::warn!(backend = name, "readiness probe timed out");
            (name, false)
        }
    }
}

/// `GET /health/ready`: `200` when every configured backend answers, else `503` naming the
/// failing ones.
pub(crate) async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let (status, body) = readiness(&app).await;
    (status, Json(body))
}

/// Probes every configured backend at once; the status and the body of `/health/ready`.
async fn readiness(app: &AppState) -> (StatusCode, Value) {
    let kv = app.auth.kv();
    let database = check("database", async {
        app.store
            .changes_since(&RequestContext::system(), i64::MAX as u64, 1)
            .await
            .map(drop)
    });
    let redis = async {
        if kv.backend() == "redis" {
            Some(check("redis", async { kv.get("health:probe").await.map(drop) }).await)
        } else {
            None
        }
    };
    let blobs = check("blob-store", async {
        app.blobs.put(BLOB_PROBE_KEY, b"ok".to_vec()).await?;
        app.blobs.delete(BLOB_PROBE_KEY).await
    });
    let (database, redis, blobs) = tokio::join!(database, redis, blobs);
    let checks: Vec<(&str, bool)> = [Some(database), redis, Some(blobs)]
        .into_iter()
        .flatten()
        .collect();
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    let checks: Vec<Value> = checks
        .iter()
        .map(|(name, ok)| json!({"name": name, "status": if *ok { "ok" } else { "down" }}))
        .collect();
    if failing.is_empty() {
        (StatusCode::OK, json!({"status": "ready", "checks": checks}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "failing": failing, "checks": checks}),
        )
    }
}
