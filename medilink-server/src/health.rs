//! Health endpoints: `GET /health` (liveness: the process answers; it touches no backend) and
//! `GET /health/ready` (readiness: every configured backend answers).
//!
//! Both are probes (`Meta::probe`): never rate limited, never audited, no token read, so a
//! load balancer probing from one address, or a Redis outage, never fails a healthy server
//! (issue #24). Readiness checks each backend, each within [`PROBE_TIMEOUT`]:
//! - `database`: a change-feed read of the store;
//! - `redis` (only when the key-value store is Redis; otherwise it is the database): a read;
//! - `blob-store`: a write and a delete of a probe object (a read of a missing key succeeds
//!   on a directory that can no longer be written).
//!
//! The checks do not run per probe: a background checker ([`Readiness`], started by the
//! first probe of a state and stopped with it) runs them every `--ready-check-interval-ms`
//! (1 s by default) and the probe answers from its last results, so a probe costs no backend
//! call (issue #24: well under a millisecond). A backend that goes down (or comes back) is
//! seen by the next round: the probe answers `503` (`200`) at most the interval plus
//! [`PROBE_TIMEOUT`] later. Each check reports its `age_ms` (since it finished). Should the
//! last round be older than that bound (the checker starved), the probe checks inline, as a
//! probe did before; the first probe of a state waits for the first round.
//!
//! `200 {"status":"ready","checks":[…]}` when all answer, else `503` with `"failing"` naming
//! the backends that did not (the error itself goes to the log only).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::{FhirResult, RequestContext};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::state::AppState;

/// How long one backend may take to answer the readiness check.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the background checker checks every backend, by default.
pub(crate) const DEFAULT_READY_INTERVAL: Duration = Duration::from_secs(1);

/// Checks of the blob store so far: each writes and deletes its own object
/// (`health/ready-probe-{n}`), so a check inline and a round at once never race on one key.
static BLOB_CHECKS: AtomicU64 = AtomicU64::new(0);

/// `GET /health`: liveness.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// One backend's check: whether it answered within [`PROBE_TIMEOUT`], and when it finished.
#[derive(Debug, Clone, Copy)]
struct Check {
    name: &'static str,
    ok: bool,
    at: Instant,
}

/// One round of checks.
type Round = Arc<Vec<Check>>;

/// The readiness checker of one state: the last round, and whether its loop runs. A clone
/// (a state changed with `Arc::make_mut`, such as a test's new blob store) starts empty, so
/// it never answers with the checks of the state it was cloned from.
#[derive(Debug)]
pub(crate) struct Readiness {
    interval: Duration,
    started: AtomicBool,
    last: watch::Sender<Option<Round>>,
}

impl Clone for Readiness {
    fn clone(&self) -> Self {
        Readiness::new(self.interval)
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new(DEFAULT_READY_INTERVAL)
    }
}

impl Readiness {
    /// A checker that checks every `interval` once started.
    pub(crate) fn new(interval: Duration) -> Self {
        Readiness {
            interval,
            started: AtomicBool::new(false),
            last: watch::channel(None).0,
        }
    }

    /// How old the last round may be before a probe no longer trusts it.
    fn bound(&self) -> Duration {
        self.interval + PROBE_TIMEOUT
    }

    /// Starts the loop of `app` unless it runs; it stops when the state is dropped.
    fn start(&self, app: &AppState) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = app.downgrade();
        let interval = self.interval;
        tokio::spawn(async move {
            loop {
                let Some(app) = AppState::upgrade(&state) else {
                    return;
                };
                let round = Arc::new(check_all(&app).await);
                app.readiness.last.send_replace(Some(round));
                drop(app);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// The last round when it is within the bound, waiting for the first one.
    async fn round(&self, app: &AppState) -> Option<Round> {
        self.start(app);
        let mut last = self.last.subscribe();
        let first = tokio::time::timeout(self.bound(), last.wait_for(Option::is_some)).await;
        let round = match first {
            Ok(Ok(round)) => round.clone()?,
            _ => return None,
        };
        let oldest = round.iter().map(|check| check.at).min()?;
        (oldest.elapsed() <= self.bound()).then_some(round)
    }
}

/// One backend's check: `Ok` when it answered within [`PROBE_TIMEOUT`].
async fn check(name: &'static str, probe: impl Future<Output = FhirResult<()>>) -> Check {
    let ok = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::warn!(backend = name, error = %err, "readiness check failed");
            false
        }
        Err(_) => {
            tracing::warn!(backend = name, "readiness check timed out");
            false
        }
    };
    Check {
        name,
        ok,
        at: Instant::now(),
    }
}

/// Checks every configured backend at once.
async fn check_all(app: &AppState) -> Vec<Check> {
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
        let key = format!(
            "health/ready-probe-{}",
            BLOB_CHECKS.fetch_add(1, Ordering::Relaxed)
        );
        app.blobs.put(&key, b"ok".to_vec()).await?;
        app.blobs.delete(&key).await
    });
    let (database, redis, blobs) = tokio::join!(database, redis, blobs);
    [Some(database), redis, Some(blobs)]
        .into_iter()
        .flatten()
        .collect()
}

/// `GET /health/ready`: `200` when every configured backend answered its last check, else
/// `503` naming the failing ones.
pub(crate) async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let round = match app.readiness.round(&app).await {
        Some(round) => round,
        None => Arc::new(check_all(&app).await),
    };
    let (status, body) = answer(&round);
    (status, Json(body))
}

/// The status and the body of `/health/ready` for `round`.
fn answer(round: &[Check]) -> (StatusCode, Value) {
    let failing: Vec<&str> = round
        .iter()
        .filter(|check| !check.ok)
        .map(|check| check.name)
        .collect();
    let checks: Vec<Value> = round
        .iter()
        .map(|check| {
            json!({
                "name": check.name,
                "status": if check.ok { "ok" } else { "down" },
                "age_ms": u64::try_from(check.at.elapsed().as_millis()).unwrap_or(u64::MAX),
            })
        })
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
