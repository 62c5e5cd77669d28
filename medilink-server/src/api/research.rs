//! `/api/research/exports`: de-identified research exports, the only patient data researchers
//! get. Kick-off (`POST`, researchers only: everyone else `403`, admins too, who read
//! identified data directly; a purpose of 20 to 1,000 characters, an optional k of 2 to 100),
//! the researcher's own list (`GET`), status (`GET …/{id}`), cancel (`DELETE …/{id}`), files
//! (`GET …/{id}/files/{Type}.ndjson`, `application/fhir+ndjson`; their URLs are absolute on
//! the server's public origin). An export is visible to the researcher who asked only, until
//! it expires; to anyone else it does not exist (`404`). Kick-offs, downloads and cancels are
//! audited (action `research-export`, the types; a kick-off's purpose as the record's
//! detail). The rules and the job are `medilink_consent::research`'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_consent::export::{ManifestFile, manifest_files};
use medilink_consent::research::{
    AuditRecorder, ResearchExport, ResearchParams, ResearchRequest, Skipped,
};
use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::{Job, JobStatus};
use medilink_platform::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ClassifyMessage;
use crate::auth::limits::client_ip;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::Origin;
use crate::layers::audit::AuditSink;
use crate::state::AppState;

/// Body of `POST /api/research/exports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewResearchExport)]
pub(crate) struct NewExport {
    /// Resource types the de-identifier exports (default: all of them); others are refused
    /// with 400.
    types: Option<Vec<String>>,
    /// Only resources changed after this instant.
    #[schema(format = DateTime)]
    since: Option<String>,
    /// Only resources changed at or before this instant (after `since`).
    #[schema(format = DateTime)]
    until: Option<String>,
    /// Keep the first three digits of US ZIP codes.
    #[serde(default)]
    keep_zip3: bool,
    /// What the data is for: 20 to 1000 characters once trimmed (required; kept with the
    /// export and in its audit record).
    #[schema(value_type = String, required = true, min_length = 20, max_length = 1000)]
    purpose: Option<String>,
    /// k-anonymity over birth year, gender and ZIP3: patients in groups smaller than k
    /// after generalisation are suppressed with all their resources (2 to 100).
    #[schema(minimum = 2, maximum = 100)]
    k: Option<i64>,
}

/// Research exports record their kick-offs and downloads through the audit queue, as the
/// `/fhir` audit middleware does: the answer waits for its record.
#[async_trait::async_trait]
impl AuditRecorder for AuditSink {
    async fn record(&self, entry: AuditEntry) -> bool {
        AuditSink::record(self, entry).await
    }
}

/// The body of a kick-off, read and validated (after the role check: a non-researcher learns
/// nothing about it).
async fn read_request(app: &AppState, request: Request) -> Result<ResearchRequest, ApiError> {
    let body = Bytes::from_request(request, app).await.map_err(|_| {
        ApiError::bad_request(medilink_fhir::IssueCode::Structure, "cannot read the body")
    })?;
    let body: NewExport = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(
            medilink_fhir::IssueCode::Structure,
            format!("invalid JSON body: {}", err.classify_message()),
        )
    })?;
    let NewExport {
        types,
        since,
        until,
        keep_zip3,
        purpose,
        k,
    } = body;
    let params = ResearchParams {
        types,
        since,
        until,
        keep_zip3,
        purpose,
        k,
    };
    Ok(ResearchRequest::parse(params)?)
}

fn status_url(origin: &str, id: &str) -> String {
    format!("{origin}/api/research/exports/{id}")
}

/// Where a research export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

/// The answer to a kick-off.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResearchExportAccepted {
    id: String,
    /// Always `pending`.
    status: ExportStatus,
}

/// A file of a completed export.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportFile {
    /// The resource type.
    #[serde(rename = "type")]
    resource_type: String,
    /// Where to download it.
    url: String,
    /// Its lines (resources).
    count: u64,
}

/// Resources of one type the de-identifier refused (never written) for one reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkippedResources {
    #[serde(rename = "type")]
    resource_type: String,
    /// `not-a-resource`, `unsupported-type`, `modifier-extension`, `implicit-rules` or
    /// `invalid-output`.
    reason: String,
    count: u64,
}

/// How far a running export is: steps done of all (the k-anonymity plan, then one per type).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResearchExportProgress)]
pub(crate) struct Progress {
    done: u64,
    total: u64,
}

/// What k-anonymity did to an export.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResearchAnonymity)]
pub(crate) struct Anonymity {
    /// The k asked for.
    k: u32,
    /// The quasi-identifiers patients were grouped by: `birth-year`, `gender`, `zip3` (with
    /// `keep_zip3`).
    quasi_identifiers: Vec<String>,
    /// The generalisations applied, in order: `event-dates:year` (always),
    /// `birth-year:5-year-band`, `birth-year:10-year-band`, `zip3:removed`, `gender:removed`.
    generalisation: Vec<String>,
    /// Resources left out per requested type because their patient was suppressed
    /// (`Patient`: the patients suppressed).
    suppressed: std::collections::BTreeMap<String, u64>,
}

/// The status of a research export, with its files when completed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResearchExport)]
pub(crate) struct ExportView {
    id: String,
    status: ExportStatus,
    types: Vec<String>,
    /// What the data is for (empty for exports queued before purposes were required).
    purpose: String,
    /// The k of k-anonymity asked for, if any.
    #[schema(required = true)]
    k: Option<u32>,
    #[schema(required = true, format = DateTime)]
    since: Option<String>,
    #[schema(required = true, format = DateTime)]
    until: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// When the export and its files are deleted.
    #[schema(required = true, format = DateTime)]
    expires_at: Option<String>,
    /// While it runs: steps done of all.
    #[schema(required = true)]
    progress: Option<Progress>,
    output: Vec<ExportFile>,
    skipped: Vec<SkippedResources>,
    /// What k-anonymity did (null without k, or until completed).
    #[schema(required = true)]
    anonymity: Option<Anonymity>,
    /// The export instant (the run's start): ages are computed at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<ManifestFile> for ExportFile {
    fn from(file: ManifestFile) -> Self {
        let ManifestFile {
            resource_type,
            url,
            count,
        } = file;
        ExportFile {
            resource_type,
            url,
            count,
        }
    }
}

impl From<&Skipped> for SkippedResources {
    fn from(skipped: &Skipped) -> Self {
        let Skipped {
            resource_type,
            reason,
            count,
        } = skipped.clone();
        SkippedResources {
            resource_type,
            reason,
            count,
        }
    }
}

/// The caller's research exports, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResearchExports {
    exports: Vec<ExportView>,
}

/// The status view of a research export job (file URLs on `origin`).
fn view(origin: &str, research: &ResearchExport, job: &Job) -> ExportView {
    let status = match job.status {
        JobStatus::Pending => ExportStatus::Pending,
        JobStatus::Processing => ExportStatus::Processing,
        JobStatus::Completed => ExportStatus::Completed,
        _ => ExportStatus::Failed,
    };
    let result = job.result_of::<ResearchExport>();
    let request = ResearchExport::request(job).ok();
    let types = request
        .as_ref()
        .map(|r| r.types.clone())
        .unwrap_or_default();
    let files = result.as_ref().map_or(&[][..], |result| &result.output);
    let url = |type_name: &str| {
        format!(
            "{}/files/{type_name}.ndjson",
            status_url(origin, &job.id.to_string())
        )
    };
    let output = manifest_files(files, url)
        .into_iter()
        .map(Into::into)
        .collect();
    let skipped = result.as_ref().map_or(&[][..], |result| &result.skipped);
    let anonymity = result.as_ref().and_then(|result| result.anonymity.clone());
    ExportView {
        id: job.id.to_string(),
        status,
        types,
        purpose: request
            .as_ref()
            .map(|r| r.purpose.clone())
            .unwrap_or_default(),
        k: request.as_ref().and_then(|r| r.k),
        since: request.as_ref().and_then(|r| r.since.clone()),
        until: request.as_ref().and_then(|r| r.until.clone()),
        created_at: format_instant(job.created_at),
        expires_at: Some(format_instant(research.expires_at(job))),
        progress: (status == ExportStatus::Processing)
            .then(|| job.progress())
            .flatten()
            .map(|progress| Progress {
                done: progress.done,
                total: progress.total,
            }),
        output,
        skipped: skipped.iter().map(Into::into).collect(),
        anonymity: anonymity.map(|anonymity| Anonymity {
            k: anonymity.k,
            quasi_identifiers: anonymity.quasi_identifiers,
            generalisation: anonymity.generalisation,
            suppressed: anonymity.suppressed,
        }),
        as_of: result.as_ref().map(|result| result.as_of.clone()),
        error: (status == ExportStatus::Failed).then(|| {
            job.last_error
                .as_deref()
                .unwrap_or("unknown error")
                .to_owned()
        }),
    }
}

/// `POST /api/research/exports`: queues a de-identified export for the researcher
/// ([`ResearchExport::create`]: the role first, audited).
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: RequestCaller,
    Origin(origin): Origin,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let body = read_request(&app, request);
    let job = app
        .research
        .create(caller.context(), &app.audit, ip, body)
        .await?;
    let id = job.id.to_string();
    let location = HeaderValue::from_str(&status_url(&origin, &id))
        .map_err(|_| ApiError::internal(&caller.context().request_id))?;
    let status = ExportStatus::Pending;
    let body = Json(ResearchExportAccepted { id, status });
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], body).into_response())
}

/// `GET /api/research/exports`: the researcher's own exports, newest first.
pub(crate) async fn list(
    State(app): State<AppState>,
    caller: RequestCaller,
    Origin(origin): Origin,
) -> Result<Json<ResearchExports>, ApiError> {
    let jobs = app.research.list(caller.context()).await?;
    let exports = jobs
        .iter()
        .map(|job| view(&origin, &app.research, job))
        .collect();
    Ok(Json(ResearchExports { exports }))
}

/// `GET /api/research/exports/{id}`: the status, with the files when completed.
pub(crate) async fn status(
    State(app): State<AppState>,
    caller: RequestCaller,
    Origin(origin): Origin,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    let job = app.research.job(caller.context(), &id).await?;
    Ok(Json(view(&origin, &app.research, &job)))
}

/// `DELETE /api/research/exports/{id}`: cancels the export and deletes its files (audited).
pub(crate) async fn cancel(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let ctx = caller.context();
    app.research.withdraw(ctx, &app.audit, ip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/research/exports/{id}/files/{Type}.ndjson`: the file, streamed.
pub(crate) async fn file(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path((id, file_name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let type_name = file_name.strip_suffix(".ndjson").unwrap_or_default();
    let ctx = caller.context();
    let download = app.research.download(ctx, &app.audit, ip, &id, type_name);
    let (key, size) = download.await?;
    Ok(crate::fhir::export::stream_ndjson(&app, key, size))
}
