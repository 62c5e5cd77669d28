//! `/api/documents`: lab-report upload (`POST`, multipart `file` + `patient` → `202` with a
//! job) and the uploader's jobs (`GET`, `DELETE` = cancel, `POST …/accept` after review).
//!
//! The rules live in `medilink_ingest::job::DocumentIngest`: the type is detected from the
//! content, the `DocumentReference` is written through the consent-guarded store (a patient
//! the uploader may not see is `404` like an unknown one, one they may see but not write to
//! is `403`), and the job publishes its results later. A job is visible to admins, and to its
//! owner while they may still read its `DocumentReference` through the consent guard (revoked
//! consent hides it); to anyone else it does not exist (`404`).

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::{Job, JobStatus};
use medilink_fhir::{IssueCode, ResourceId};
use medilink_ingest::job::{Correction, DocumentIngest, IngestCounts, Submitted, Upload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::ClassifyMessage;
use super::Query;
use super::schema::JobState;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// Room for the multipart framing and the `patient` field around the file.
pub(crate) const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// Longest accepted `patient` field.
const MAX_PATIENT_FIELD: usize = 200;

/// The caller's user id (every `/api/documents` route requires a signed-in user).
fn user_id(caller: &RequestCaller) -> Result<&str, ApiError> {
    caller
        .principal()
        .map(|principal| principal.claims.sub.0.as_str())
        .ok_or_else(|| ApiError::unauthenticated("a bearer token is required"))
}

fn too_large(max: usize) -> ApiError {
    ApiError::too_large(format!("the document is larger than {max} bytes"))
}

fn multipart_error(err: &MultipartError, max: usize) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max)
    } else {
        ApiError::bad_request(
            IssueCode::Structure,
            format!("malformed multipart body: {}", err.body_text()),
        )
    }
}

/// The multipart form of an upload (the schema of what `UploadForm` reads).
#[derive(Debug, ToSchema)]
#[schema(as = Upload)]
#[allow(
    dead_code,
    reason = "a schema only: the multipart body is read by UploadForm"
)]
pub(crate) struct UploadSchema {
    /// The document (PDF or image; the type is detected from the content).
    #[schema(value_type = String, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// `Patient/{id}` or the id.
    patient: String,
}

/// The multipart form of an upload: `file` (the document) and `patient` (`Patient/{id}` or
/// the id). The file is read in chunks and refused past `--max-document-bytes`.
#[derive(Debug)]
pub(crate) struct UploadForm {
    patient: ResourceId,
    file_name: String,
    bytes: Vec<u8>,
}

impl FromRequest<AppState> for UploadForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let max = app.max_document_bytes;
        let mut multipart = Multipart::from_request(req, app).await.map_err(|_| {
            ApiError::unsupported_media_type(
                "the body must be multipart/form-data with the fields file and patient",
            )
        })?;
        let (mut file, mut patient) = (None, None);
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|err| multipart_error(&err, max))?
        {
            match field.name() {
                Some("file") => {
                    let name = field.file_name().unwrap_or("document").to_owned();
                    let mut bytes = Vec::new();
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|err| multipart_error(&err, max))?
                    {
                        if bytes.len() + chunk.len() > max {
                            return Err(too_large(max));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    file = Some((name, bytes));
                }
                Some("patient") => {
                    let text = field
                        .text()
                        .await
                        .map_err(|err| multipart_error(&err, max))?;
                    patient = Some(text.chars().take(MAX_PATIENT_FIELD).collect::<String>());
                }
                _ => {}
            }
        }
        let required = |name: &str| {
            ApiError::bad_request(IssueCode::Required, format!("the field {name} is required"))
        };
        let (file_name, bytes) = file.ok_or_else(|| required("file"))?;
        let patient = patient.ok_or_else(|| required("patient"))?;
        let id = patient.trim();
        let id = id.strip_prefix("Patient/").unwrap_or(id);
        let patient = ResourceId::new(id).map_err(|_| {
            ApiError::bad_request(
                IssueCode::Value,
                "patient must be Patient/{id} or a patient id",
            )
        })?;
        Ok(UploadForm {
            patient,
            file_name,
            bytes,
        })
    }
}

/// `POST /api/documents`: stores the document and queues its ingest; `202` with the job.
pub(crate) async fn upload(
    State(app): State<AppState>,
    caller: RequestCaller,
    form: UploadForm,
) -> Result<(StatusCode, HeaderMap, Json<DocumentSubmitted>), ApiError> {
    let upload = Upload {
        patient: form.patient,
        file_name: form.file_name,
        bytes: form.bytes,
        uploader: user_id(&caller)?.to_owned(),
    };
    let submitted = app
        .documents
        .submit(&app.store, caller.context(), upload)
        .await?;
    Ok(accepted(&submitted))
}

/// The answer to an upload.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentSubmitted {
    #[schema(value_type = String)]
    job_id: uuid::Uuid,
    status: JobState,
    /// `DocumentReference/{id}`.
    document_reference: String,
}

/// `202` with the job, its status and the `DocumentReference` written; `Location`: the job.
fn accepted(submitted: &Submitted) -> (StatusCode, HeaderMap, Json<DocumentSubmitted>) {
    let mut headers = HeaderMap::new();
    let location = format!("/api/documents/jobs/{}", submitted.job.id);
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    let body = DocumentSubmitted {
        job_id: submitted.job.id,
        status: submitted.job.status.into(),
        document_reference: format!("DocumentReference/{}", submitted.document_reference),
    };
    (StatusCode::ACCEPTED, headers, Json(body))
}

/// The job `id` when the caller may see it (an admin, or its owner while they may read its
/// document); `404` otherwise.
async fn visible_job(app: &AppState, caller: &RequestCaller, id: &str) -> Result<Job, ApiError> {
    Ok(app.documents.job(&app.store, caller.context(), id).await?)
}

/// Result counts of a job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IngestCounts)]
pub(crate) struct IngestCountsView {
    /// Results found (each becomes an Observation once published).
    observations: usize,
    /// Results without a LOINC code.
    unmapped: usize,
    /// Results a person must look at before anything is published.
    needs_review: usize,
}

impl From<IngestCounts> for IngestCountsView {
    fn from(counts: IngestCounts) -> Self {
        let IngestCounts {
            observations,
            unmapped,
            needs_review,
        } = counts;
        IngestCountsView {
            observations,
            unmapped,
            needs_review,
        }
    }
}

/// `needs_review` jobs: the results to review.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Review {
    #[schema(required = true)]
    report_date: Option<String>,
    /// Each an extracted result (name, value, unit, LOINC, review reason…) with its `index`
    /// for corrections.
    #[schema(value_type = Vec<std::collections::HashMap<String, Value>>)]
    results: Vec<Value>,
}

/// A document-ingest job: status, file, patient, times, attempts, counts, a readable error,
/// and for `needs_review` the results to review (with their positions for corrections).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentJob {
    #[schema(value_type = String)]
    id: uuid::Uuid,
    status: JobState,
    #[schema(required = true)]
    file_name: Option<String>,
    #[schema(required = true)]
    content_type: Option<String>,
    #[schema(required = true)]
    size: Option<u64>,
    /// `Patient/{id}`.
    #[schema(required = true)]
    patient: Option<String>,
    /// `DocumentReference/{id}`.
    #[schema(required = true)]
    document_reference: Option<String>,
    #[schema(format = DateTime)]
    created: String,
    #[schema(format = DateTime)]
    updated: String,
    attempts: u32,
    max_attempts: u32,
    #[schema(required = true)]
    counts: Option<IngestCountsView>,
    #[schema(required = true)]
    error: Option<String>,
    /// The published resources (`Observation/…`, `DiagnosticReport/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resources: Option<Vec<String>>,
    /// Who accepted the reviewed results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reviewed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    review: Option<Review>,
}

/// The results of an analysis to review, each with its position.
fn review(analysis: medilink_ingest::pipeline::Analysis) -> Review {
    let results = analysis
        .results
        .iter()
        .enumerate()
        .map(|(index, result)| {
            let mut item = serde_json::to_value(result).unwrap_or(Value::Null);
            item["index"] = index.into();
            item
        })
        .collect();
    Review {
        report_date: analysis.report_date,
        results,
    }
}

/// The view of a job.
fn view(job: &Job) -> DocumentJob {
    let payload = job.payload_of::<DocumentIngest>().ok();
    let report = job.result_of::<DocumentIngest>();
    let mut view = DocumentJob {
        id: job.id,
        status: job.status.into(),
        file_name: payload.as_ref().map(|p| p.file_name.clone()),
        content_type: payload.as_ref().map(|p| p.content_type.clone()),
        size: payload.as_ref().map(|p| p.size),
        patient: payload.as_ref().map(|p| format!("Patient/{}", p.patient)),
        document_reference: payload
            .as_ref()
            .map(|p| format!("DocumentReference/{}", p.document_reference)),
        created: format_instant(job.created_at),
        updated: format_instant(job.updated_at),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        counts: report.as_ref().map(|r| r.counts.into()),
        error: job.last_error.clone(),
        resources: None,
        reviewed_by: None,
        review: None,
    };
    if let Some(report) = report {
        view.resources = (!report.resources.is_empty()).then_some(report.resources);
        view.reviewed_by = report.reviewed_by;
        if let (JobStatus::NeedsReview, Some(analysis)) = (job.status, report.analysis) {
            view.review = Some(review(analysis));
        }
    }
    view
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentJobList {
    jobs: Vec<DocumentJob>,
}

/// `GET /api/documents/jobs/{id}`.
pub(crate) async fn job(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<Json<DocumentJob>, ApiError> {
    Ok(Json(view(&visible_job(&app, &caller, &id).await?)))
}

/// Query of `GET /api/documents/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this status.
    #[param(value_type = Option<JobState>)]
    status: Option<String>,
    /// At most this many (1–100, default 50).
    limit: Option<u32>,
}

/// `GET /api/documents/jobs`: the caller's jobs, newest first (admins: everyone's).
pub(crate) async fn jobs(
    State(app): State<AppState>,
    caller: RequestCaller,
    Query(query): Query<ListQuery>,
) -> Result<Json<DocumentJobList>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(name) => Some(
            serde_json::from_value::<JobStatus>(name.into())
                .map_err(|_| ApiError::bad_request(IssueCode::Value, "unknown status"))?,
        ),
    };
    let jobs = app
        .documents
        .jobs(&app.store, caller.context(), status, query.limit)
        .await?;
    let jobs = jobs.iter().map(view).collect();
    Ok(Json(DocumentJobList { jobs }))
}

/// `DELETE /api/documents/jobs/{id}`: cancels a pending, failed or to-be-reviewed job
/// (again: no change); a completed or running one is `409`.
pub(crate) async fn cancel(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<Json<DocumentJob>, ApiError> {
    Ok(Json(view(
        &app.documents
            .cancel(&app.store, caller.context(), &id)
            .await?,
    )))
}

/// Body of `POST /api/documents/jobs/{id}/accept` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptBody {
    #[serde(default)]
    corrections: Vec<CorrectionBody>,
}

/// A reviewer's correction of one result (by its position in `review.results`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Correction)]
pub(crate) struct CorrectionBody {
    /// Position of the result in the analysis.
    index: usize,
    /// Drop the result (misread line, not a lab result).
    #[serde(default)]
    remove: bool,
    /// The right LOINC code.
    loinc: Option<String>,
    /// Its display.
    display: Option<String>,
    /// The right numeric value.
    value: Option<f64>,
    /// The right UCUM unit.
    unit: Option<String>,
}

impl From<CorrectionBody> for Correction {
    fn from(body: CorrectionBody) -> Self {
        let CorrectionBody {
            index,
            remove,
            loinc,
            display,
            value,
            unit,
        } = body;
        Correction {
            index,
            remove,
            loinc,
            display,
            value,
            unit,
        }
    }
}

impl AcceptBody {
    /// The body: none (or white space) means no corrections.
    fn parse(body: &[u8]) -> Result<AcceptBody, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(AcceptBody::default());
        }
        serde_json::from_slice(body).map_err(|err| {
            ApiError::bad_request(
                IssueCode::Structure,
                format!("invalid accept body: {}", err.classify_message()),
            )
        })
    }
}

/// `POST /api/documents/jobs/{id}/accept`: publishes a reviewed job's results (with the
/// reviewer's corrections); `409` unless the job is `needs_review`.
pub(crate) async fn accept(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<DocumentJob>, ApiError> {
    let body = AcceptBody::parse(&body)?;
    let corrections: Vec<Correction> = body.corrections.into_iter().map(Into::into).collect();
    let job = app
        .documents
        .accept_review(&app.store, caller.context(), &id, &corrections)
        .await?;
    Ok(Json(view(&job)))
}
