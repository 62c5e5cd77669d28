//! [`ApiError`]: the one place where a library [`ErrorKind`] becomes an HTTP status and an
//! `OperationOutcome`.
//!
//! | `ErrorKind` | HTTP | `issue.code` | Notes |
//! |---|---|---|---|
//! | NotFound / Gone | 404 / 410 | `not-found` / `deleted` | |
//! | Conflict / PreconditionFailed | 409 / 412 | `conflict` | concurrent write / `If-Match` mismatch |
//! | Invalid / Unprocessable | 400 / 422 | the validator's codes (`structure`, `required`, `value`, …) / `processing` | a query or Bundle past a documented limit is 400 `too-costly` naming it (ARCHITECTURE.md, "Limits") |
//! | Unauthenticated / Forbidden | 401 / 403 | `login` / `forbidden` | authentication (`auth::session`); consent: see below |
//! | (rate limit, lockout) | 429 (`Retry-After`) | `throttled` | `auth::limits`, login and TOTP lockouts |
//! | Unsupported | 501 | `not-supported` | |
//! | Unavailable / Timeout | 503 (`Retry-After: 5`) / 504 | `transient` / `timeout` | a statement stopped by the time limit is 503 `too-costly` |
//! | Internal | 500 | `exception` | generic diagnostics plus the request id; the detail goes only to the log |
//!
//! **Consent (issue #5): a resource the caller may not see is `404 not-found`, exactly as if
//! it did not exist** — on read, vread (also of deleted or unknown versions), instance history,
//! update and delete by id (and, issue #11, update and delete of a missing id by anyone but
//! the platform and admins); searches and type/system history simply do not contain it. `403
//! forbidden` is reserved for what reveals nothing about stored data: a role that never gets a
//! type (researchers, patients on non-patient types), writing content into a compartment the
//! caller may not write, `Consent` writes outside `/api/consents`, the change feed.
//! `ConsentError` maps through the same kinds; a break-glass over the limit is `429`.
//!
//! Errors that arise in HTTP itself, before any library call:
//!
//! | Condition | HTTP | `issue.code` |
//! |---|---|---|
//! | malformed JSON body, malformed `If-Match`, bad `_since`/`_at`/`_count` | 400 | `structure` / `value` |
//! | unknown resource type **in the URL** (HAPI style; in a body it is a 400) | 404 | `not-supported` |
//! | unknown route | 404 | `not-found` |
//! | wrong method on a known route | 405 | `not-supported` |
//! | `_format`/`Accept` asks for anything but JSON | 406 | `not-supported` |
//! | body larger than `--max-body-bytes` | 413 | `too-long` |
//! | `Content-Type` not `application/fhir+json`/`application/json` (PATCH: `application/json-patch+json`) | 415 | `not-supported` |
//! | a panic inside a request | 500 | `exception` |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_fhir::{ErrorKind, FhirError, Issue, IssueCode, Severity};
use serde_json::{Map, Value, json};

use crate::context::current_request_id;
use crate::fhir_response::FHIR_JSON;

/// An error response: a status and the issues of its `OperationOutcome`.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    issues: Vec<Issue>,
}

/// The HTTP status of each [`ErrorKind`].
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<medilink_consent::ConsentError> for ApiError {
    fn from(err: medilink_consent::ConsentError) -> Self {
        use medilink_consent::ConsentError;
        let code = match &err {
            ConsentError::Store(_) => return ApiError::from(FhirError::from(err)),
            ConsentError::RateLimited { .. } => return ApiError::throttled(err.to_string()),
            ConsentError::Invalid { .. } => IssueCode::Value,
            ConsentError::NotFound { .. } | ConsentError::ExportNotFound { .. } => {
                IssueCode::NotFound
            }
            ConsentError::Forbidden { .. } => IssueCode::Forbidden,
            ConsentError::WrongState { .. } => IssueCode::Conflict,
            _ => IssueCode::Processing,
        };
        ApiError::new(status_of(err.kind()), code, err.to_string())
    }
}

impl From<FhirError> for ApiError {
    fn from(err: FhirError) -> Self {
        let kind = err.kind();
        let status = status_of(kind);
        match kind {
            ErrorKind::Internal => {
                let request_id = current_request_id();
                tracing::error!(%request_id, error = %error_chain(&err), "internal error");
                ApiError::internal(&request_id)
            }
            ErrorKind::Unavailable | ErrorKind::Timeout => {
                tracing::warn!(request_id = %current_request_id(), error = %error_chain(&err), "backend unavailable");
                ApiError {
                    status,
                    issues: err.issues(),
                }
            }
            _ => ApiError {
                status,
                issues: err.issues(),
            },
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl ApiError {
    /// An error with one error-severity issue.
    pub fn new(status: StatusCode, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        ApiError {
            status,
            issues: vec![Issue::error(code, None, diagnostics)],
        }
    }

    /// `500` with generic diagnostics naming the request id.
    pub fn internal(request_id: &str) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            IssueCode::Exception,
            format!("internal server error (request id {request_id})"),
        )
    }

    /// `404` for a resource type R4 does not define, named in the URL.
    pub fn unknown_resource_type(name: &str) -> Self {
        let name: String = name.chars().take(64).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            IssueCode::NotSupported,
            format!("unknown resource type {name:?}"),
        )
    }

    /// `400` for a malformed request element (header, query parameter, body syntax).
    pub fn bad_request(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, diagnostics)
    }

    /// `401`: no valid credentials (never says which part was wrong).
    pub fn unauthenticated(diagnostics: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, IssueCode::Login, diagnostics)
    }

    /// `403`: authenticated, but not allowed.
    pub fn forbidden(diagnostics: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, IssueCode::Forbidden, diagnostics)
    }

    /// `429`: rate limited or locked out (`Retry-After: 60`).
    pub fn throttled(diagnostics: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            IssueCode::Throttled,
            diagnostics,
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The issues reported.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The `OperationOutcome` resource.
    pub fn outcome(&self) -> Value {
        operation_outcome(&self.issues)
    }
}

/// Renders issues as an `OperationOutcome`.
pub(crate) fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let mut out = Map::new();
            out.insert("severity".into(), json!(issue.severity.as_str()));
            out.insert("code".into(), json!(issue.code.as_str()));
            out.insert("diagnostics".into(), json!(issue.diagnostics));
            if let Some(expression) = &issue.expression {
                out.insert("expression".into(), json!([expression]));
            }
            Value::Object(out)
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// An `OperationOutcome` with one informational issue.
pub(crate) fn information(diagnostics: impl Into<String>) -> Value {
    operation_outcome(&[Issue {
        severity: Severity::Information,
        code: IssueCode::Informational,
        expression: None,
        diagnostics: diagnostics.into(),
    }])
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.outcome().to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let err = FhirError::Internal {
            source: "secret detail".into(),
        };
        let api = ApiError::from(err);
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.issues()[0].code, IssueCode::Exception);
        assert!(!api.issues()[0].diagnostics.contains("secret"));
    }

    #[test]
    fn every_kind_has_a_status() {
        assert_eq!(status_of(ErrorKind::Gone), StatusCode::GONE);
        assert_eq!(status_of(ErrorKind::Conflict), StatusCode::CONFLICT);
        let conflict = ApiError::from(FhirError::WriteConflict {
            resource_type: medilink_fhir::ResourceType::Patient,
            id: medilink_fhir::ResourceId::new("a").expect("valid id"),
        });
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        assert_eq!(conflict.issues()[0].code, IssueCode::Conflict);
        assert_eq!(
            status_of(ErrorKind::PreconditionFailed),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            status_of(ErrorKind::Unprocessable),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status_of(ErrorKind::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
