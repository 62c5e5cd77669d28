//! `/api/research/exports`: de-identified research exports, the only patient data researchers
//! get. Kick-off (`POST`, researchers only: everyone else `403`, admins too, who read
//! identified data directly), status (`GET …/{id}`), cancel (`DELETE …/{id}`), files
//! (`GET …/{id}/files/{Type}.ndjson`, `application/fhir+ndjson`). An export is visible to the
//! researcher who asked only; to anyone else it does not exist (`404`). Kick-offs and
//! downloads are audited (action `research-export`, the types). The rules and the job are
//! `medilink_consent::research`'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_consent::export::{ManifestFile, manifest_files};
use medilink_consent::research::{AuditRecorder, ResearchExport, ResearchRequest, Skipped};
use medilink_fhir::jobs::{Job, JobStatus};
use medilink_platform::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ClassifyMessage;
use crate::auth::limits::client_ip;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::Base;
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
    /// Keep the first three digits of US ZIP codes.
    #[serde(default)]
    keep_zip3: bool,
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
    Ok(ResearchRequest::parse(
        body.types,
        body.since,
        body.keep_zip3,
    )?)
}

fn status_url(base: &str, id: &str) -> String {
    format!("{base}/api/research/exports/{id}")
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

/// The status of a research export, with its files when completed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResearchExport)]
pub(crate) struct ExportView {
    id: String,
    status: ExportStatus,
    types: Vec<String>,
    output: Vec<ExportFile>,
    skipped: Vec<SkippedResources>,
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

/// The status view of a research export job.
fn view(base: &str, job: &Job) -> ExportView {
    let status = match job.status {
        JobStatus::Pending => ExportStatus::Pending,
        JobStatus::Processing => ExportStatus::Processing,
        JobStatus::Completed => ExportStatus::Completed,
        _ => ExportStatus::Failed,
    };
    let result = job.result_of::<ResearchExport>();
    let types = ResearchExport::request(job)
        .map(|request| request.types)
        .unwrap_or_default();
    let files = result.as_ref().map_or(&[][..], |result| &result.output);
    let url = |type_name: &str| {
        format!(
            "{}/files/{type_name}.ndjson",
            status_url(base, &job.id.to_string())
        )
    };
    let output = manifest_files(files, url)
        .into_iter()
        .map(Into::into)
        .collect();
    let skipped = result.as_ref().map_or(&[][..], |result| &result.skipped);
    ExportView {
        id: job.id.to_string(),
        status,
        types,
        output,
        skipped: skipped.iter().map(Into::into).collect(),
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
    Base(base): Base,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let body = read_request(&app, request);
    let job = app
        .research
        .create(caller.context(), &app.audit, ip, body)
        .await?;
    let id = job.id.to_string();
    let location = HeaderValue::from_str(&status_url(&base, &id))
        .map_err(|_| ApiError::internal(&caller.context().request_id))?;
    let status = ExportStatus::Pending;
    let body = Json(ResearchExportAccepted { id, status });
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], body).into_response())
}

/// `GET /api/research/exports/{id}`: the status, with the files when completed.
pub(crate) async fn status(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Json<ExportView>, ApiError> {
    let job = app.research.job(caller.context(), &id).await?;
    Ok(Json(view(&base, &job)))
}

/// `DELETE /api/research/exports/{id}`: cancels the export and deletes its files.
pub(crate) async fn cancel(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.research.cancel(caller.context(), &id).await?;
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
