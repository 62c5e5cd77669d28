//! The admin's view of the running platform (`/api/admin/stats`, `/health`, `/reindex`,
//! `/jobs/{id}`, `/audit/verify`): statistics ([`stats`]), the health of every backend
//! ([`checks`]) and the jobs an admin starts (the full-text rebuild and the audit chain
//! verification, `medilink_platform::admin_jobs`), with their progress.

pub(crate) mod checks;
pub(crate) mod stats;

use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::{Job, JobFilter, JobKind, JobQueue, NewJob, NoPayload};
use medilink_fhir::{ErrorKind, FhirError, IssueCode};
use medilink_platform::admin_jobs::{AuditVerify, AuditVerifyResult, Reindex};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// A job's progress: `done` units of `total`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgressView {
    done: u64,
    total: u64,
}

/// Any job as an admin sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AdminJob)]
pub(crate) struct JobView {
    id: String,
    /// The handler kind (`maintenance.reindex`, `audit.verify`, `document.ingest`, …).
    kind: String,
    /// `pending`, `processing`, `completed`, `needs_review` (documents only), `failed` or
    /// `cancelled`.
    status: String,
    /// How far it is (kinds that report progress), else null.
    #[schema(required = true)]
    progress: Option<ProgressView>,
    /// The finished job's result, else null.
    #[schema(required = true, value_type = Option<Object>)]
    result: Option<serde_json::Value>,
    /// Why the last attempt failed, else null.
    #[schema(required = true)]
    error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// When it finished, else null.
    #[schema(required = true, format = DateTime)]
    finished_at: Option<String>,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let finished = job.status.is_final();
        JobView {
            id: job.id.to_string(),
            kind: job.kind.clone(),
            status: job.status.as_str().to_owned(),
            progress: job.progress().map(|progress| ProgressView {
                done: progress.done,
                total: progress.total,
            }),
            result: job.result.clone().filter(|_| finished),
            error: job.last_error.clone(),
            created_at: format_instant(job.created_at),
            finished_at: finished.then(|| format_instant(job.updated_at)),
        }
    }
}

/// The first record of the audit chain that does not verify.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BrokenRecordView {
    seq: u64,
    reason: String,
}

/// What an audit chain verification found.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditVerifyResult)]
pub(crate) struct VerifyResultView {
    /// Records checked (up to the first broken one).
    records: u64,
    /// Whether the whole chain verified.
    ok: bool,
    #[schema(required = true)]
    first_broken: Option<BrokenRecordView>,
}

impl From<AuditVerifyResult> for VerifyResultView {
    fn from(result: AuditVerifyResult) -> Self {
        VerifyResultView {
            records: result.records,
            ok: result.ok,
            first_broken: result.first_broken.map(|broken| BrokenRecordView {
                seq: broken.seq,
                reason: broken.reason,
            }),
        }
    }
}

/// The latest audit chain verification.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LatestVerification {
    job_id: String,
    /// The job's status.
    status: String,
    /// The result once it finished, else null.
    #[schema(required = true)]
    result: Option<VerifyResultView>,
    #[schema(required = true, format = DateTime)]
    finished_at: Option<String>,
}

/// Queues a job of kind `K` (no payload, one attempt: an admin starts it again).
async fn start<K: JobKind<Payload = NoPayload>>(queue: &dyn JobQueue) -> Result<Uuid, FhirError> {
    let mut job = NewJob::of::<K>(&NoPayload {})?;
    job.max_attempts = 1;
    Ok(queue.enqueue(job).await?.id)
}

/// Queues a full-text rebuild (run by a server process's worker: the index is node-local).
pub(crate) async fn start_reindex(queue: &dyn JobQueue) -> Result<Uuid, FhirError> {
    start::<Reindex>(queue).await
}

/// Queues an audit chain verification.
pub(crate) async fn start_verify(queue: &dyn JobQueue) -> Result<Uuid, FhirError> {
    start::<AuditVerify>(queue).await
}

fn not_found(what: &str) -> ApiError {
    ApiError::with_kind(
        ErrorKind::NotFound,
        IssueCode::NotFound,
        format!("no such {what}"),
    )
}

/// The job `id` (unknown or malformed: not found).
pub(crate) async fn job(queue: &dyn JobQueue, id: &str) -> Result<JobView, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| not_found("job"))?;
    let job = queue.get(id).await?.ok_or_else(|| not_found("job"))?;
    Ok(JobView::from(&job))
}

/// The latest `audit.verify` job (none run: not found).
pub(crate) async fn latest_verification(
    queue: &dyn JobQueue,
) -> Result<LatestVerification, ApiError> {
    let jobs = queue
        .list(&JobFilter {
            kind: Some(AuditVerify::KIND.to_owned()),
            limit: Some(1),
            ..JobFilter::default()
        })
        .await?;
    let job = jobs
        .first()
        .ok_or_else(|| not_found("audit verification: none was run"))?;
    let finished = job.status.is_final();
    Ok(LatestVerification {
        job_id: job.id.to_string(),
        status: job.status.as_str().to_owned(),
        result: job.result_of::<AuditVerify>().map(VerifyResultView::from),
        finished_at: finished.then(|| format_instant(job.updated_at)),
    })
}
