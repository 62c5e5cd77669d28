//! Request extractors of the FHIR API: typed path segments, the base URL and the origin,
//! `If-Match`, and the JSON bodies. Every rejection is an [`ApiError`], so it reaches the client as an
//! `OperationOutcome`.

use std::convert::Infallible;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use bytes::Bytes;
use medilink_fhir::{
    FhirError, IssueCode, RequestContext, ResourceId, ResourceStore, ResourceType, VersionId,
};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// The FHIR base URL of this server as clients see it, e.g. `http://host:8080/fhir/R4`.
#[derive(Debug, Clone)]
pub(crate) struct Base(pub(crate) String);

/// The public origin of this server as clients see it (`--base-url`, else `http://{Host}`),
/// without a trailing slash, e.g. `http://host:8080`: the base of `/api` URLs (issue #15: a
/// research export's file URLs were built on [`Base`] and named `/fhir/R4/api/…`).
#[derive(Debug, Clone)]
pub(crate) struct Origin(pub(crate) String);

fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn origin(parts: &Parts, state: &AppState) -> String {
    match &state.base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .or_else(|| parts.uri.authority().map(|authority| authority.as_str()))
                .filter(|host| plausible_host(host))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

impl FromRequestParts<AppState> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Base(format!("{}/fhir/R4", origin(parts, state))))
    }
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Origin(origin(parts, state)))
    }
}

async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Vec<(String, String)>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::bad_request(IssueCode::Value, rejection.body_text()))?;
    Ok(params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> &'p str {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_default()
}

fn resource_type(params: &[(String, String)]) -> Result<ResourceType, ApiError> {
    let name = param(params, "type");
    ResourceType::from_name(name).ok_or_else(|| ApiError::unknown_resource_type(name))
}

fn resource_id(params: &[(String, String)]) -> Result<ResourceId, ApiError> {
    Ok(ResourceId::new(param(params, "id"))?)
}

/// `{type}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TypePath(pub(crate) ResourceType);

impl<S: Send + Sync> FromRequestParts<S> for TypePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts, state).await?;
        Ok(TypePath(resource_type(&params)?))
    }
}

/// `{type}/{id}`.
#[derive(Debug, Clone)]
pub(crate) struct InstancePath(pub(crate) ResourceType, pub(crate) ResourceId);

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts, state).await?;
        Ok(InstancePath(resource_type(&params)?, resource_id(&params)?))
    }
}

/// `{type}/{id}/_history/{vid}`.
#[derive(Debug, Clone)]
pub(crate) struct VersionPath(
    pub(crate) ResourceType,
    pub(crate) ResourceId,
    pub(crate) VersionId,
);

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts, state).await?;
        let version: VersionId = param(&params, "vid").parse()?;
        Ok(VersionPath(
            resource_type(&params)?,
            resource_id(&params)?,
            version,
        ))
    }
}

/// An entity-tag condition of `If-Match` or `If-None-Match` (RFC 9110 §13.1): `*` or a
/// list of version ETags (`W/"3"` or `"3"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EtagCondition {
    /// `*`: any current version.
    Any,
    /// One or more versions.
    Versions(Vec<VersionId>),
}

impl EtagCondition {
    /// Whether `version` satisfies the condition.
    pub(crate) fn matches(&self, version: VersionId) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Versions(versions) => versions.contains(&version),
        }
    }
}

fn parse_version_etag(value: &str) -> Option<VersionId> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let quoted = value.strip_prefix('"')?.strip_suffix('"')?;
    quoted.parse().ok()
}

/// `*` or a comma-separated list of version ETags (over one or more header lines).
fn parse_etag_condition<'v>(values: impl Iterator<Item = &'v str>) -> Option<EtagCondition> {
    let mut versions = Vec::new();
    let mut any = false;
    for value in values {
        for item in value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            if item == "*" {
                any = true;
            } else {
                versions.push(parse_version_etag(item)?);
            }
        }
    }
    match (any, versions.is_empty()) {
        (true, true) => Some(EtagCondition::Any),
        (false, false) => Some(EtagCondition::Versions(versions)),
        _ => None,
    }
}

fn etag_condition(
    parts: &Parts,
    name: header::HeaderName,
    what: &str,
) -> Result<Option<EtagCondition>, ApiError> {
    let values: Vec<_> = parts.headers.get_all(&name).iter().collect();
    if values.is_empty() {
        return Ok(None);
    }
    let texts: Option<Vec<&str>> = values.iter().map(|value| value.to_str().ok()).collect();
    texts
        .and_then(|texts| parse_etag_condition(texts.into_iter()))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                IssueCode::Value,
                format!("{what} must be * or a list of version ETags such as W/\"3\""),
            )
        })
}

/// The `If-Match` header; `None` when absent.
#[derive(Debug, Clone)]
pub(crate) struct IfMatch(pub(crate) Option<EtagCondition>);

impl IfMatch {
    /// The one version to hand to the store as it is, without reading the current version
    /// first (`None` also for `*` and lists: see [`IfMatch::resolve`]).
    fn single(&self) -> Option<VersionId> {
        match &self.0 {
            Some(EtagCondition::Versions(versions)) if versions.len() == 1 => {
                versions.first().copied()
            }
            _ => None,
        }
    }

    /// The version the write must find current: one ETag as sent; for `*` or a list, the
    /// current version when it satisfies the condition (so the write still fails if another
    /// lands in between), else `412`.
    pub(crate) async fn resolve(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> Result<Option<VersionId>, ApiError> {
        let Some(condition) = &self.0 else {
            return Ok(None);
        };
        if let Some(version) = self.single() {
            return Ok(Some(version));
        }
        let current = match store.read(ctx, resource_type, id).await {
            Ok(current) => current,
            Err(FhirError::NotFound { .. } | FhirError::Gone { .. }) => {
                return Err(precondition_failed(format!(
                    "If-Match: {resource_type}/{id} has no current version"
                )));
            }
            Err(err) => return Err(err.into()),
        };
        if condition.matches(current.version_id) {
            Ok(Some(current.version_id))
        } else {
            Err(precondition_failed(format!(
                "If-Match: {resource_type}/{id} is at version {}, not one of the versions sent",
                current.version_id
            )))
        }
    }

    /// The single version of a conditional update (`*` and lists need the target first).
    pub(crate) fn one_version(&self) -> Result<Option<VersionId>, ApiError> {
        match (&self.0, self.single()) {
            (None, _) => Ok(None),
            (Some(_), Some(version)) => Ok(Some(version)),
            (Some(_), None) => Err(ApiError::bad_request(
                IssueCode::NotSupported,
                "a conditional update takes If-Match with one version ETag",
            )),
        }
    }
}

/// `412 Precondition Failed`.
pub(crate) fn precondition_failed(diagnostics: impl Into<String>) -> ApiError {
    ApiError::with_kind(
        medilink_fhir::ErrorKind::PreconditionFailed,
        IssueCode::Conflict,
        diagnostics,
    )
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(IfMatch(etag_condition(
            parts,
            header::IF_MATCH,
            "If-Match",
        )?))
    }
}

/// The preconditions of an update: `If-Match` and `If-None-Match`.
#[derive(Debug, Clone)]
pub(crate) struct Preconditions {
    pub(crate) if_match: IfMatch,
    pub(crate) if_none_match: Option<EtagCondition>,
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions {
            if_match: IfMatch::from_request_parts(parts, state).await?,
            if_none_match: IfNoneMatch::from_request_parts(parts, state).await?.0,
        })
    }
}

/// The `If-None-Match` header; `None` when absent.
#[derive(Debug, Clone)]
pub(crate) struct IfNoneMatch(pub(crate) Option<EtagCondition>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(etag_condition(
            parts,
            header::IF_NONE_MATCH,
            "If-None-Match",
        )?))
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

async fn json_body<S: Send + Sync>(
    request: Request,
    state: &S,
    accepted: &[&str],
) -> Result<Value, ApiError> {
    let media_type = media_type(request.headers()).unwrap_or_default();
    if !accepted.contains(&media_type.as_str()) {
        return Err(ApiError::unsupported_media_type(format!(
            "the request body must be sent as {}",
            accepted.join(" or ")
        )));
    }
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("the request body is too large")
            } else {
                ApiError::bad_request(IssueCode::Structure, "the request body could not be read")
            }
        })?;
    // Issue #24: strict, so that a duplicated key is refused rather than silently dropped.
    medilink_fhir::model::parse_json(&bytes).map_err(|err| {
        ApiError::bad_request(
            IssueCode::Structure,
            format!("the request body is not valid JSON: {err}"),
        )
    })
}

/// A JSON body sent as `application/fhir+json` or `application/json`.
#[derive(Debug, Clone)]
pub(crate) struct FhirJson(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for FhirJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(FhirJson(json_body(request, state, &FHIR_JSON_TYPES).await?))
    }
}

/// A resource in a create or update body: FHIR JSON, or, for `Binary`, content of any other
/// media type sent as it is (issue #18: the Binary's native form), which becomes a `Binary`
/// with that `contentType` and the bytes as base64 `data` (and the URL's id, for a `PUT`).
#[derive(Debug, Clone)]
pub(crate) struct ResourceBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for ResourceBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media_type = media_type(request.headers()).unwrap_or_default();
        if media_type.is_empty() || FHIR_JSON_TYPES.contains(&media_type.as_str()) {
            return Ok(ResourceBody(
                FhirJson::from_request(request, state).await?.0,
            ));
        }
        let (mut parts, body) = request.into_parts();
        let params = path_params(&mut parts, state).await?;
        if param(&params, "type") != ResourceType::Binary.as_str() {
            let request = Request::from_parts(parts, body);
            return Ok(ResourceBody(
                FhirJson::from_request(request, state).await?.0,
            ));
        }
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large("the request body is too large")
                } else {
                    ApiError::bad_request(
                        IssueCode::Structure,
                        "the request body could not be read",
                    )
                }
            })?;
        let mut binary = serde_json::json!({"resourceType": "Binary", "contentType": media_type});
        if !bytes.is_empty() {
            let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
            binary["data"] = Value::String(data);
        }
        let id = param(&params, "id");
        if !id.is_empty() {
            binary["id"] = Value::String(id.to_owned());
        }
        Ok(ResourceBody(binary))
    }
}

/// The media types of FHIR JSON bodies.
const FHIR_JSON_TYPES: [&str; 3] = [
    "application/fhir+json",
    "application/json",
    "application/json+fhir",
];

/// The media type of JSON Patch.
const JSON_PATCH: &str = "application/json-patch+json";

/// A PATCH body: a JSON Patch document sent as `application/json-patch+json`, or (issue #18)
/// a FHIRPath Patch `Parameters` resource sent as `application/fhir+json`.
#[derive(Debug, Clone)]
pub(crate) enum PatchDocument {
    /// RFC 6902.
    Json(Value),
    /// FHIRPath Patch.
    FhirPath(Value),
}

impl<S: Send + Sync> FromRequest<S> for PatchDocument {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media_type = media_type(request.headers()).unwrap_or_default();
        if media_type == JSON_PATCH {
            return Ok(PatchDocument::Json(
                json_body(request, state, &[JSON_PATCH]).await?,
            ));
        }
        if media_type == "application/fhir+json" {
            let body = json_body(request, state, &["application/fhir+json"]).await?;
            if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
                return Err(ApiError::unsupported_media_type(
                    "PATCH with application/fhir+json takes a FHIRPath Patch Parameters \
                     resource, not a partial resource",
                ));
            }
            return Ok(PatchDocument::FhirPath(body));
        }
        // Issue #18: fhirpy's `patch()` sends a partial resource as `application/json`.
        Err(ApiError::unsupported_media_type(format!(
            "PATCH takes a JSON Patch document (RFC 6902) sent as {JSON_PATCH} or a FHIRPath \
             Patch Parameters resource sent as application/fhir+json, not {}; partial \
             resources are not supported",
            if media_type.is_empty() {
                "a body without Content-Type".to_owned()
            } else {
                media_type.chars().take(64).collect()
            }
        )))
    }
}

/// Checks that a body's `resourceType` is the type in the URL (a missing or non-string
/// `resourceType` is left to the validator).
pub(crate) fn expect_type(body: &Value, url_type: ResourceType) -> Result<(), FhirError> {
    match body.get("resourceType").and_then(Value::as_str) {
        Some(name) if name != url_type.as_str() => Err(FhirError::TypeMismatch {
            url: url_type,
            body: name.chars().take(64).collect(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_conditions_are_star_or_version_lists() {
        let parse = |text: &str| parse_etag_condition([text].into_iter());
        let versions = |list: &[u64]| {
            Some(EtagCondition::Versions(
                list.iter().map(|v| VersionId(*v)).collect(),
            ))
        };
        assert_eq!(parse("W/\"3\""), versions(&[3]));
        assert_eq!(parse("\"12\""), versions(&[12]));
        assert_eq!(parse("W/\"1\", \"2\""), versions(&[1, 2]));
        assert_eq!(parse("*"), Some(EtagCondition::Any));
        assert_eq!(parse("3"), None);
        assert_eq!(parse("W/\"x\""), None);
        assert_eq!(parse("*, W/\"1\""), None);
        assert_eq!(parse(""), None);
        assert!(EtagCondition::Any.matches(VersionId(7)));
        assert!(!versions(&[1, 2]).expect("list").matches(VersionId(3)));
    }
}
