//! FHIR `read` and `vread`: `GET [base]/{type}/{id}` and `GET [base]/{type}/{id}/_history/{vid}`;
//! a `Binary` is served in its native form (its `contentType`, the decoded `data`) when
//! `Accept` asks for that instead of FHIR JSON (issue #18).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use medilink_fhir::{ResourceType, StoredResource};
use serde_json::Value;

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{IfNoneMatch, InstancePath, VersionPath};
use crate::fhir::response::{FhirResponse, etag};
use crate::layers::middleware::{accept_admits, accept_admits_json};
use crate::state::AppState;

/// `GET [base]/{type}/{id}`: the current version (`410` once deleted); with `If-None-Match`
/// naming the current version (or `*`), `304 Not Modified` without a body.
pub(crate) async fn read(
    State(app): State<AppState>,
    caller: RequestCaller,
    headers: HeaderMap,
    IfNoneMatch(if_none_match): IfNoneMatch,
    InstancePath(resource_type, id): InstancePath,
) -> Result<Response, ApiError> {
    // Issue #21: a shipped subscription topic, as the Backport IG serves it in R4.
    if resource_type == ResourceType::Basic
        && let Some(topic) = medilink_consent::subscriptions::topics::topic_by_basic_id(id.as_str())
    {
        return Ok(FhirResponse::json(StatusCode::OK, topic.as_basic()).into_response());
    }
    let stored = app.store.read(caller.context(), resource_type, &id).await?;
    if if_none_match.is_some_and(|condition| condition.matches(stored.version_id)) {
        return Ok(FhirResponse::not_modified(&stored).into_response());
    }
    served(stored, &headers)
}

/// `GET [base]/{type}/{id}/_history/{vid}`: one version.
pub(crate) async fn vread(
    State(app): State<AppState>,
    caller: RequestCaller,
    headers: HeaderMap,
    VersionPath(resource_type, id, version): VersionPath,
) -> Result<Response, ApiError> {
    let stored = app
        .store
        .vread(caller.context(), resource_type, &id, version)
        .await?;
    served(stored, &headers)
}

/// The version as FHIR JSON, or a Binary's native content when `Accept` asks for it and not
/// for JSON (`406` when it admits neither; only a Binary's read gets that far).
fn served(stored: StoredResource, headers: &HeaderMap) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .map(|value| value.to_str().unwrap_or("?"));
    let Some(accept) = accept.filter(|accept| !accept_admits_json(accept)) else {
        return Ok(FhirResponse::resource(stored).into_response());
    };
    let not_acceptable = || {
        ApiError::not_acceptable(
            "this resource is served as application/fhir+json or, for a Binary, its contentType",
        )
    };
    if stored.resource_type != ResourceType::Binary {
        return Err(not_acceptable());
    }
    let binary: Value = stored
        .json
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let content_type = binary
        .get("contentType")
        .and_then(Value::as_str)
        .filter(|content_type| accept_admits(accept, content_type))
        .ok_or_else(not_acceptable)?;
    let data = binary.get("data").and_then(Value::as_str).unwrap_or("");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|err| medilink_fhir::FhirError::Internal {
            source: Box::new(err),
        })?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response_headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag(stored.version_id)) {
        response_headers.insert(header::ETAG, value);
    }
    Ok(response)
}
