//! FHIR `$validate` (R4, `Resource-validate`): `POST [base]/{type}/$validate` and
//! `POST [base]/{type}/{id}/$validate`, with the resource as the body or a `Parameters` with
//! `resource`, `mode` and `profile` ([`ValidateRequest`]). Validation that ran answers `200`
//! with an OperationOutcome of its issues; a malformed request is a 4xx. An instance is read
//! through the consent guard like a read (`404`/`403` as a read would).

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use bytes::Bytes;
use medilink_fhir::validate::operation::ValidateRequest;
use medilink_fhir::{IssueCode, ResourceId, ResourceType};
use serde_json::Value;

use crate::context::RequestCaller;
use crate::error::{ApiError, operation_outcome};
use crate::fhir::extract::{FhirJson, InstancePath, TypePath};
use crate::fhir::response::FhirResponse;
use crate::fhir::search::query_pairs;
use crate::state::AppState;

/// `POST [base]/{type}/$validate`.
pub(crate) async fn type_level(
    State(app): State<AppState>,
    caller: RequestCaller,
    TypePath(resource_type): TypePath,
    request: Request,
) -> Result<FhirResponse, ApiError> {
    validate(&app, &caller, resource_type, None, request).await
}

/// `POST [base]/{type}/{id}/$validate`.
pub(crate) async fn instance_level(
    State(app): State<AppState>,
    caller: RequestCaller,
    InstancePath(resource_type, id): InstancePath,
    request: Request,
) -> Result<FhirResponse, ApiError> {
    validate(&app, &caller, resource_type, Some(id), request).await
}

async fn validate(
    app: &AppState,
    caller: &RequestCaller,
    resource_type: ResourceType,
    id: Option<ResourceId>,
    request: Request,
) -> Result<FhirResponse, ApiError> {
    let query = query_pairs(request.uri().query().unwrap_or_default());
    let body = optional_json(request).await?;
    let request = ValidateRequest::parse(resource_type, id, body, &query)?;
    // Profiles and value sets are conformance resources, not patient data: looked up in the
    // store under the guard; the instance (patient data) through the guard.
    let definitions = app.store.inner().as_ref();
    let issues = request
        .run(&app.store, definitions, caller.context())
        .await?;
    let mut outcome = operation_outcome(&issues);
    // `location` beside `expression`, for clients that read the older element.
    for issue in outcome["issue"].as_array_mut().into_iter().flatten() {
        if let Some(expression) = issue.get("expression").cloned() {
            issue["location"] = expression;
        }
    }
    Ok(FhirResponse::json(StatusCode::OK, outcome))
}

/// The JSON body, `None` when the request has none (a `mode=delete` call).
async fn optional_json(request: Request) -> Result<Option<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let bytes = Bytes::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("the request body is too large")
            } else {
                ApiError::bad_request(IssueCode::Structure, "the request body could not be read")
            }
        })?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut rebuilt = Request::new(Body::from(bytes));
    *rebuilt.headers_mut() = headers;
    Ok(Some(FhirJson::from_request(rebuilt, &()).await?.0))
}
