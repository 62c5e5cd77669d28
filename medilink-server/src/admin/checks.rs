//! `GET /api/admin/health`: each backend probed once, with its status and latency — the
//! database (a change-feed read), the key-value store of the security state (a read), the
//! blob store (a read of a key that does not exist), the full-text index (its lag behind the
//! change feed, counted up to one feed batch), the job queue (pending jobs and the oldest
//! one) and mail (an SMTP `NOOP`; `not-configured` without `--smtp-url`). The overall status
//! is `down` when the database is, `degraded` when any other check is not `ok`.

use std::future::Future;
use std::time::Duration;

use medilink_fhir::RequestContext;
use medilink_fhir::clock::format_instant;
use medilink_fhir::fulltext::FEED_BATCH;
use medilink_platform::notifications::smtp::SmtpSettings;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long one probe may take before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pending jobs older than this make the queue `degraded`.
const STALE_PENDING: Duration = Duration::from_secs(15 * 60);

/// One backend's health.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheck {
    /// `database`, `key-value`, `blob-store`, `full-text`, `job-queue` or `mail`.
    name: &'static str,
    /// `ok`, `degraded`, `down` or `not-configured`.
    status: &'static str,
    /// How long the probe took, in milliseconds.
    latency_ms: f64,
    /// What is wrong, else null.
    #[schema(required = true)]
    detail: Option<String>,
    /// Full text: changes not yet indexed (at most one feed batch is counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    lag: Option<u64>,
    /// Job queue: pending jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<u64>,
    /// Job queue: when the oldest pending job was queued (null: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    oldest_pending_at: Option<Option<String>>,
}

/// The health of every backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminHealth {
    /// `ok`, `degraded` or `down`.
    status: &'static str,
    #[schema(format = DateTime)]
    checked_at: String,
    checks: Vec<HealthCheck>,
}

impl HealthCheck {
    fn new(name: &'static str) -> Self {
        HealthCheck {
            name,
            status: "ok",
            latency_ms: 0.0,
            detail: None,
            lag: None,
            depth: None,
            oldest_pending_at: None,
        }
    }

    fn failed(mut self, status: &'static str, detail: impl Into<String>) -> Self {
        self.status = status;
        self.detail = Some(detail.into());
        self
    }
}

/// Runs `probe` with a time limit; the check it built, with its latency (timed out or
/// failed: `down`, with the error).
async fn probe<F, E>(name: &'static str, probe: F) -> HealthCheck
where
    F: Future<Output = Result<HealthCheck, E>>,
    E: std::fmt::Display,
{
    let started = tokio::time::Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    let check = match outcome {
        Ok(Ok(check)) => check,
        Ok(Err(err)) => HealthCheck::new(name).failed("down", err.to_string()),
        Err(_) => HealthCheck::new(name).failed("down", "no answer within 5 s"),
    };
    HealthCheck {
        latency_ms,
        ..check
    }
}

async fn database(app: &AppState) -> HealthCheck {
    probe("database", async {
        let ctx = RequestContext::system();
        app.job_deps
            .store
            .changes_since(&ctx, i64::MAX as u64, 1)
            .await?;
        Ok::<_, medilink_fhir::FhirError>(HealthCheck::new("database"))
    })
    .await
}

async fn key_value(app: &AppState) -> HealthCheck {
    probe("key-value", async {
        app.auth.kv().get("health:probe").await?;
        Ok::<_, medilink_fhir::FhirError>(HealthCheck::new("key-value"))
    })
    .await
}

async fn blob_store(app: &AppState) -> HealthCheck {
    probe("blob-store", async {
        app.blobs.size("health/probe").await?;
        Ok::<_, medilink_fhir::FhirError>(HealthCheck::new("blob-store"))
    })
    .await
}

async fn full_text(app: &AppState) -> HealthCheck {
    probe("full-text", async {
        let ctx = RequestContext::system();
        let position = app.search_index.position();
        let behind = app
            .job_deps
            .store
            .changes_since(&ctx, position, FEED_BATCH)
            .await?;
        let lag = behind.len() as u64;
        let mut check = HealthCheck::new("full-text");
        check.lag = Some(lag);
        if lag >= FEED_BATCH as u64 {
            check = check.failed(
                "degraded",
                format!("at least {lag} changes behind the store (position {position})"),
            );
        }
        Ok::<_, medilink_fhir::FhirError>(check)
    })
    .await
}

async fn job_queue(app: &AppState) -> HealthCheck {
    probe("job-queue", async {
        let summary = app.jobs.summary().await?;
        let mut check = HealthCheck::new("job-queue");
        check.depth = Some(summary.pending());
        check.oldest_pending_at = Some(summary.oldest_pending.map(format_instant));
        if let Some(oldest) = summary.oldest_pending {
            let waiting = app.clock.now() - oldest;
            if waiting > STALE_PENDING {
                check = check.failed(
                    "degraded",
                    format!(
                        "the oldest pending job waits for {} minutes: is a worker running?",
                        waiting.whole_minutes()
                    ),
                );
            }
        }
        Ok::<_, medilink_fhir::FhirError>(check)
    })
    .await
}

async fn mail(settings: Option<&SmtpSettings>) -> HealthCheck {
    let Some(settings) = settings else {
        return HealthCheck::new("mail").failed(
            "not-configured",
            "no --smtp-url: notice e-mails are not sent",
        );
    };
    probe("mail", async {
        let transport = settings.transport().map_err(|err| err.to_string())?;
        match transport.test_connection().await {
            Ok(true) => Ok(HealthCheck::new("mail")),
            Ok(false) => Err("the SMTP server refused NOOP".to_owned()),
            Err(err) => Err(err.to_string()),
        }
    })
    .await
}

/// `GET /api/admin/health`.
pub(crate) async fn health(app: &AppState) -> AdminHealth {
    let (database, key_value, blob_store, full_text, job_queue, mail) = tokio::join!(
        database(app),
        key_value(app),
        blob_store(app),
        full_text(app),
        job_queue(app),
        mail(app.smtp.as_ref()),
    );
    let checks = vec![database, key_value, blob_store, full_text, job_queue, mail];
    let status = if checks[0].status == "down" {
        "down"
    } else if checks
        .iter()
        .any(|check| !matches!(check.status, "ok" | "not-configured"))
    {
        "degraded"
    } else {
        "ok"
    };
    AdminHealth {
        status,
        checked_at: format_instant(app.clock.now()),
        checks,
    }
}
