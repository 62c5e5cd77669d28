//! `/api/admin/stats`, `/health`, `/reindex`, `/jobs/{id}` and `/audit/verify`: the admin's
//! view of the running platform and the jobs an admin starts (`crate::admin` gathers and
//! starts; these handlers map).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::checks::AdminHealth;
use crate::admin::stats::AdminStats;
use crate::admin::{JobView, LatestVerification};
use crate::error::ApiError;
use crate::layers::audit::AuditNote;
use crate::state::AppState;

/// A job was queued: follow it at `GET /api/admin/jobs/{job_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobStarted {
    job_id: String,
}

/// `GET /api/admin/stats`.
pub(crate) async fn stats(State(app): State<AppState>) -> Result<Json<AdminStats>, ApiError> {
    Ok(Json(crate::admin::stats::stats(&app).await?))
}

/// `GET /api/admin/health`: always `200` (the body says what is down).
pub(crate) async fn health(State(app): State<AppState>) -> Json<AdminHealth> {
    Json(crate::admin::checks::health(&app).await)
}

/// `POST /api/admin/reindex`: `202`; a server process's worker rebuilds its full-text index.
pub(crate) async fn reindex(
    State(app): State<AppState>,
    note: AuditNote,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let id = crate::admin::start_reindex(app.jobs.as_ref()).await?;
    note.subject(format!("Job/{id}"));
    let job_id = id.to_string();
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job_id })))
}

/// `GET /api/admin/jobs/{id}`: any job, with its progress.
pub(crate) async fn job(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(crate::admin::job(app.jobs.as_ref(), &id).await?))
}

/// `POST /api/admin/audit/verify`: `202`; the job verifies the hash chain.
pub(crate) async fn verify(
    State(app): State<AppState>,
    note: AuditNote,
) -> Result<(StatusCode, Json<JobStarted>), ApiError> {
    let id = crate::admin::start_verify(app.jobs.as_ref()).await?;
    note.subject(format!("Job/{id}"));
    let job_id = id.to_string();
    Ok((StatusCode::ACCEPTED, Json(JobStarted { job_id })))
}

/// `GET /api/admin/audit/verify`: the latest verification (`404`: none was run).
pub(crate) async fn latest_verification(
    State(app): State<AppState>,
) -> Result<Json<LatestVerification>, ApiError> {
    Ok(Json(
        crate::admin::latest_verification(app.jobs.as_ref()).await?,
    ))
}
