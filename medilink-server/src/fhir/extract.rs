//! Request extractors of the FHIR API: typed path segments, the base URL and the origin,
//! `If-Match`, and the JSON bodies. Every rejection is an [`ApiError`], so it reaches the client as an
//! `OperationOutcome`.

use std::convert::Infallible;

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use medilink_fhir::{FhirError, IssueCode, ResourceId, ResourceType, VersionId};
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

/// The `If-Match` header as a version (`W/"3"` or `"3"`); `None` when absent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IfMatch(pub(crate) Option<VersionId>);

fn parse_if_match(value: &str) -> Option<VersionId> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let quoted = value.strip_prefix('"')?.strip_suffix('"')?;
    quoted.parse().ok()
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else {
            return Ok(IfMatch(None));
        };
        let version = value
            .to_str()
            .ok()
            .filter(|_| values.next().is_none())
            .and_then(parse_if_match)
            .ok_or_else(|| {
                ApiError::bad_request(
                    IssueCode::Value,
                    "If-Match must be one version ETag such as W/\"3\"",
                )
            })?;
        Ok(IfMatch(Some(version)))
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
    serde_json::from_slice(&bytes).map_err(|err| {
        ApiError::bad_request(
            IssueCode::Structure,
            format!(
                "the request body is not valid JSON: {} at line {} column {}",
                classify(&err),
                err.line(),
                err.column()
            ),
        )
    })
}

fn classify(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Io => "read error",
    }
}

/// A JSON body sent as `application/fhir+json` or `application/json`.
#[derive(Debug, Clone)]
pub(crate) struct FhirJson(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for FhirJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let accepted = [
            "application/fhir+json",
            "application/json",
            "application/json+fhir",
        ];
        Ok(FhirJson(json_body(request, state, &accepted).await?))
    }
}

/// A JSON Patch document sent as `application/json-patch+json`.
#[derive(Debug, Clone)]
pub(crate) struct JsonPatch(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonPatch {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(JsonPatch(
            json_body(request, state, &["application/json-patch+json"]).await?,
        ))
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
    fn if_match_accepts_weak_and_strong_version_etags_only() {
        assert_eq!(parse_if_match("W/\"3\""), Some(VersionId(3)));
        assert_eq!(parse_if_match("\"12\""), Some(VersionId(12)));
        assert_eq!(parse_if_match("3"), None);
        assert_eq!(parse_if_match("W/\"x\""), None);
        assert_eq!(parse_if_match("*"), None);
    }
}
