//! FHIR Bulk Data `$export` (Bulk Data Access IG 2.0.0, asynchronous request pattern):
//!
//! - kick-off `GET [base]/$export`, `GET [base]/Patient/$export`,
//!   `GET [base]/Patient/{id}/$export` (needs `Prefer: respond-async`) → `202` with
//!   `Content-Location: [base]/$export-poll-status/{job}`;
//! - status `GET` that URL → `202` (`X-Progress`, `Retry-After`) while it runs, `200` with
//!   the manifest when done, `500` with an OperationOutcome when it failed; `DELETE` → `202`,
//!   cancels and deletes the files;
//! - files `GET [base]/$export-file/{job}/{Type}.ndjson` → `application/fhir+ndjson`,
//!   streamed from the blob store (outside the JSON-only content negotiation).
//!
//! The rules (who may export what, the job's visibility) are `medilink_consent::export`'s.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_consent::export::{ExportLevel, ExportRequest, ExportStatus};
use medilink_fhir::{ErrorKind, IssueCode};

use crate::context::RequestCaller;
use crate::error::{ApiError, information};
use crate::fhir::extract::Base;
use crate::fhir::response::FhirResponse;
use crate::state::AppState;

/// Bytes read from the blob store per streamed chunk.
const CHUNK: u64 = 256 * 1024;
/// Seconds a client should wait before polling again.
const RETRY_AFTER_SECS: &str = "2";

fn respond_async(headers: &HeaderMap) -> Result<(), ApiError> {
    let asked = headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .any(|token| token.trim().eq_ignore_ascii_case("respond-async"));
    asked.then_some(()).ok_or_else(|| {
        ApiError::bad_request(IssueCode::Required, "$export needs Prefer: respond-async")
    })
}

fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

async fn kick_off(
    app: &AppState,
    caller: &RequestCaller,
    base: &str,
    headers: &HeaderMap,
    query: Option<String>,
    level: ExportLevel,
    path: &str,
) -> Result<FhirResponse, ApiError> {
    respond_async(headers)?;
    let request_url = match &query {
        Some(query) => format!("{base}{path}?{query}"),
        None => format!("{base}{path}"),
    };
    let request = ExportRequest::parse(level, &pairs(query.as_deref()), request_url)?;
    let job = app.exports.start(caller.context(), request).await?;
    Ok(FhirResponse::json(
        StatusCode::ACCEPTED,
        information(format!("export {} accepted", job.id)),
    )
    .with_content_location(format!("{base}/$export-poll-status/{}", job.id)))
}

/// `GET [base]/$export`.
pub(crate) async fn system(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<FhirResponse, ApiError> {
    kick_off(
        &app,
        &caller,
        &base,
        &headers,
        query,
        ExportLevel::System,
        "/$export",
    )
    .await
}

fn patient_only(type_name: &str) -> Result<(), ApiError> {
    (type_name == "Patient").then_some(()).ok_or_else(|| {
        ApiError::with_kind(
            ErrorKind::NotFound,
            IssueCode::NotSupported,
            "$export is served at the system level and for Patient only",
        )
    })
}

/// `GET [base]/Patient/$export`.
pub(crate) async fn patients(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<FhirResponse, ApiError> {
    patient_only(&type_name)?;
    let path = "/Patient/$export";
    kick_off(
        &app,
        &caller,
        &base,
        &headers,
        query,
        ExportLevel::Patients,
        path,
    )
    .await
}

/// `GET [base]/Patient/{id}/$export`.
pub(crate) async fn patient(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<FhirResponse, ApiError> {
    patient_only(&type_name)?;
    let path = format!("/Patient/{id}/$export");
    let level = ExportLevel::Patient(id);
    kick_off(&app, &caller, &base, &headers, query, level, &path).await
}

/// `202` with the progress while an export is queued or running.
fn in_progress(progress: &'static str) -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    let headers = response.headers_mut();
    headers.insert("x-progress", HeaderValue::from_static(progress));
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

/// `GET [base]/$export-poll-status/{id}`.
pub(crate) async fn status(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match app.exports.status(caller.context(), &id, &base).await? {
        ExportStatus::Queued => Ok(in_progress("queued")),
        ExportStatus::InProgress => Ok(in_progress("in progress")),
        ExportStatus::Completed(manifest) => Ok(axum::Json(manifest).into_response()),
        ExportStatus::Failed(error) => Err(ApiError::with_kind(
            ErrorKind::Internal,
            IssueCode::Exception,
            format!("export failed: {error}"),
        )),
    }
}

/// `DELETE [base]/$export-poll-status/{id}`: cancels the export and deletes its files.
pub(crate) async fn cancel(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
) -> Result<FhirResponse, ApiError> {
    app.exports.cancel(caller.context(), &id).await?;
    Ok(FhirResponse::json(
        StatusCode::ACCEPTED,
        information(format!("export {id} cancelled")),
    ))
}

/// `GET [base]/$export-file/{id}/{Type}.ndjson`: the file, streamed.
pub(crate) async fn file(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path((id, file_name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let type_name = file_name.strip_suffix(".ndjson").unwrap_or_default();
    let (key, size) = app.exports.file(caller.context(), &id, type_name).await?;
    Ok(stream_ndjson(&app, key, size))
}

/// The NDJSON blob `key` of `size` bytes as an `application/fhir+ndjson` response, streamed
/// from the blob store a chunk at a time.
pub(crate) fn stream_ndjson(app: &AppState, key: String, size: u64) -> Response {
    let blobs = app.blobs.clone();
    let chunks = futures::stream::try_unfold(0u64, move |offset| {
        let blobs = blobs.clone();
        let key = key.clone();
        async move {
            if offset >= size {
                return Ok(None);
            }
            let chunk = blobs
                .read_range(&key, offset, CHUNK)
                .await?
                .filter(|chunk| !chunk.is_empty())
                .ok_or_else(|| std::io::Error::other("export file shrank while streaming"))?;
            let next = offset + chunk.len() as u64;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Some((chunk, next)))
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+ndjson"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response
}
