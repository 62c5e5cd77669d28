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
use medilink_consent::research::{ResearchExport, ResearchRequest};
use medilink_fhir::jobs::{Job, JobStatus};
use medilink_platform::AuditEntry;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ClassifyMessage;
use crate::auth::limits::client_ip;
use crate::context::Caller;
use crate::error::ApiError;
use crate::extract::Base;
use crate::state::AppState;

/// Body of `POST /api/research/exports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewExport {
    /// Resource types (default: every exportable type).
    types: Option<Vec<String>>,
    /// Only resources changed after this instant.
    since: Option<String>,
    /// Keep the first three digits of US ZIP codes.
    #[serde(default)]
    keep_zip3: bool,
}

/// Records the audit entry of a kick-off or download (`types`: the types concerned). As in
/// the `/fhir` audit middleware, an answer whose record is not stored is withheld (`503`).
async fn audit(
    app: &AppState,
    caller: &Caller,
    client_ip: Option<String>,
    types: &[String],
    id: &str,
    outcome: u16,
) -> Result<(), ApiError> {
    let principal = caller.principal();
    let entry = AuditEntry {
        at: app.clock.now(),
        actor: principal.map(|p| p.claims.sub.to_string()),
        role: principal.map(|p| p.role().as_str().to_owned()),
        action: "research-export".to_owned(),
        resource_type: (!types.is_empty()).then(|| types.join(",")),
        resource_ids: [id]
            .into_iter()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect(),
        // De-identified data: no patient is named.
        patients: Default::default(),
        resource_types: types.to_vec(),
        outcome,
        client_ip,
        request_id: caller.context().request_id.clone(),
    };
    if app.audit.record(entry).await {
        Ok(())
    } else {
        tracing::error!("research export audit record not stored: response withheld");
        Err(ApiError::from(medilink_fhir::FhirError::Unavailable {
            source: "audit trail unavailable".into(),
        }))
    }
}

fn status_url(base: &str, id: &str) -> String {
    format!("{base}/api/research/exports/{id}")
}

/// The status view of a research export job.
fn view(base: &str, job: &Job) -> Value {
    let status = match job.status {
        JobStatus::Pending => "pending",
        JobStatus::Processing => "processing",
        JobStatus::Completed => "completed",
        _ => "failed",
    };
    let result = job.result_of::<ResearchExport>();
    let types = ResearchExport::request(job)
        .map(|request| request.types)
        .unwrap_or_default();
    let output: Vec<Value> = result
        .iter()
        .flat_map(|result| &result.output)
        .map(|file| {
            let type_name = &file.resource_type;
            json!({
                "type": type_name,
                "url": format!("{}/files/{type_name}.ndjson", status_url(base, &job.id.to_string())),
                "count": file.count,
            })
        })
        .collect();
    let skipped = result.as_ref().map_or(&[][..], |result| &result.skipped);
    let mut view = json!({
        "id": job.id.to_string(),
        "status": status,
        "types": types,
        "output": output,
        "skipped": skipped,
    });
    if let Some(result) = &result {
        view["as_of"] = json!(result.as_of);
    }
    if status == "failed" {
        view["error"] = json!(job.last_error.as_deref().unwrap_or("unknown error"));
    }
    view
}

/// `POST /api/research/exports`: queues a de-identified export for the researcher.
pub(crate) async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Base(base): Base,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    // The role first: a non-researcher learns nothing about the body or exportable types.
    if caller
        .principal()
        .is_none_or(|p| p.role() != medilink_platform::Role::Researcher)
    {
        audit(&app, &caller, ip, &[], "", 403).await?;
        return Err(ApiError::forbidden(
            "research exports are for researchers only",
        ));
    }
    let body = Bytes::from_request(request, &app).await.map_err(|_| {
        ApiError::bad_request(medilink_fhir::IssueCode::Structure, "cannot read the body")
    })?;
    let body: NewExport = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(
            medilink_fhir::IssueCode::Structure,
            format!("invalid JSON body: {}", err.classify_message()),
        )
    })?;
    let request = ResearchRequest::parse(body.types, body.since, body.keep_zip3)?;
    let job = app
        .research
        .start(caller.context(), request.clone())
        .await?;
    let id = job.id.to_string();
    audit(&app, &caller, ip, &request.types, &id, 202).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "pending"})),
    )
        .into_response();
    let location = HeaderValue::from_str(&status_url(&base, &id))
        .map_err(|_| ApiError::internal(&caller.context().request_id))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// `GET /api/research/exports/{id}`: the status, with the files when completed.
pub(crate) async fn status(
    State(app): State<AppState>,
    caller: Caller,
    Base(base): Base,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = app.research.job(caller.context(), &id).await?;
    Ok(Json(view(&base, &job)))
}

/// `DELETE /api/research/exports/{id}`: cancels the export and deletes its files.
pub(crate) async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.research.cancel(caller.context(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/research/exports/{id}/files/{Type}.ndjson`: the file, streamed.
pub(crate) async fn file(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, file_name)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&request, app.auth.settings().trust_forwarded_for);
    let type_name = file_name.strip_suffix(".ndjson").unwrap_or_default();
    let found = app.research.file(caller.context(), &id, type_name).await;
    let outcome = if found.is_ok() { 200 } else { 404 };
    audit(&app, &caller, ip, &[type_name.to_owned()], &id, outcome).await?;
    let (key, size) = found?;
    Ok(crate::export::stream_ndjson(&app, key, size))
}
