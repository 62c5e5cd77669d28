//! [`ApiError`]: the one place where a library [`ErrorKind`] becomes an HTTP status and an
//! `OperationOutcome`.
//!
//! Every library error speaks one vocabulary, [`ServiceError`] (`medilink_fhir::error`): a
//! kind, an issue code and diagnostics. `FhirError`, `ConsentError`, `DocumentError` and the
//! account flows' `AccountError` implement it, and `impl<E: ServiceError> From<E> for ApiError`
//! below is the only conversion; no other file names a status for a library error. The issue
//! code is the error's own ([`ServiceError::issue_code`]); the column below is each kind's usual
//! code ([`ErrorKind::issue_code`]), which an error may refine (noted).
//!
//! | `ErrorKind` | HTTP | `issue.code` | Notes |
//! |---|---|---|---|
//! | NotFound / Gone | 404 / 410 | `not-found` / `deleted` | an unknown resource type in the URL or an operation on the wrong type is 404 `not-supported` |
//! | Conflict / PreconditionFailed | 409 / 412 | `conflict` | concurrent write / `If-Match` mismatch; a conditional operation matching several is 412 `processing` |
//! | Invalid / Unprocessable | 400 / 422 | `invalid` (refined: the validator's `structure`, `required`, `value`, …) / `processing` | a query or Bundle past a documented limit is 400 `too-costly` naming it (ARCHITECTURE.md, "Limits") |
//! | TooLarge / UnsupportedMediaType | 413 / 415 | `too-long` / `not-supported` | a body or document past its size limit; a body or uploaded document of a type not accepted |
//! | Unauthenticated / Forbidden | 401 (`WWW-Authenticate: Bearer`) / 403 | `login` / `forbidden` | authentication (`auth::session`, `AccountError`); consent: see below |
//! | Throttled | 429 (`Retry-After: 60`) | `throttled` | `auth::limits`, login and TOTP lockouts, break-glass over its limit |
//! | Unsupported | 501 | `not-supported` | a feature not offered |
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
//! | body larger than `--max-body-bytes` (documents: `--max-document-bytes`) | 413 | `too-long` |
//! | `Content-Type` not `application/fhir+json`/`application/json` (PATCH: `application/json-patch+json`; `_search`: form-encoded; documents: multipart) | 415 | `not-supported` |
//! | a panic inside a request | 500 | `exception` |
//!
//! Those with a kind (400, 404, 413, 415, 500) are built through it ([`ApiError::with_kind`]
//! and the named constructors); 405 and 406 have no kind, because no library can cause them:
//! `ApiError::method_not_allowed` and `ApiError::not_acceptable` are the only statuses
//! named outside `status_of`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_fhir::{ErrorKind, Issue, IssueCode, ServiceError, Severity};
use serde_json::{Map, Value, json};

use crate::layers::request_id::current_request_id;

/// The content type of every FHIR response (here, below every handler: error responses are
/// FHIR responses too).
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// An error response: a status and the issues of its `OperationOutcome`.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    issues: Vec<Issue>,
}

/// The HTTP status of each [`ErrorKind`] (the module table).
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Gone => StatusCode::GONE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Every library error becomes a response here, by its kind: internal errors are logged and
/// answered with the request id only; unavailable backends are logged and reported.
impl<E: ServiceError> From<E> for ApiError {
    fn from(err: E) -> Self {
        let kind = err.kind();
        match kind {
            ErrorKind::Internal => {
                let request_id = current_request_id();
                tracing::error!(%request_id, error = %error_chain(&err), "internal error");
                ApiError::internal(&request_id)
            }
            ErrorKind::Unavailable | ErrorKind::Timeout => {
                tracing::warn!(request_id = %current_request_id(), error = %error_chain(&err), "backend unavailable");
                ApiError {
                    status: status_of(kind),
                    issues: err.issues(),
                }
            }
            _ => ApiError {
                status: status_of(kind),
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
    /// An error with one error-severity issue (private: statuses come from kinds).
    fn new(status: StatusCode, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        ApiError {
            status,
            issues: vec![Issue::error(code, None, diagnostics)],
        }
    }

    /// An error of `kind` (its status from the module table) reported with `code`, for
    /// conditions the server detects itself (HTTP input, route shape).
    pub fn with_kind(kind: ErrorKind, code: IssueCode, diagnostics: impl Into<String>) -> Self {
        ApiError::new(status_of(kind), code, diagnostics)
    }

    /// `500` with generic diagnostics naming the request id.
    pub fn internal(request_id: &str) -> Self {
        ApiError::with_kind(
            ErrorKind::Internal,
            IssueCode::Exception,
            format!("internal server error (request id {request_id})"),
        )
    }

    /// `404` for a resource type R4 does not define, named in the URL.
    pub fn unknown_resource_type(name: &str) -> Self {
        let name: String = name.chars().take(64).collect();
        ApiError::with_kind(
            ErrorKind::NotFound,
            IssueCode::NotSupported,
            format!("unknown resource type {name:?}"),
        )
    }

    /// `400` for a malformed request element (header, query parameter, body syntax).
    pub fn bad_request(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::Invalid, code, diagnostics)
    }

    /// `401`: no valid credentials (never says which part was wrong).
    pub fn unauthenticated(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::Unauthenticated, IssueCode::Login, diagnostics)
    }

    /// `403`: authenticated, but not allowed.
    pub fn forbidden(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::Forbidden, IssueCode::Forbidden, diagnostics)
    }

    /// `409`: the target's state does not allow the request.
    pub fn conflict(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::Conflict, IssueCode::Conflict, diagnostics)
    }

    /// `413`: a body past its size limit.
    pub fn too_large(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::TooLarge, IssueCode::TooLong, diagnostics)
    }

    /// `415`: a body of a media type the route does not accept.
    pub fn unsupported_media_type(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(
            ErrorKind::UnsupportedMediaType,
            IssueCode::NotSupported,
            diagnostics,
        )
    }

    /// `429`: rate limited or locked out (`Retry-After: 60`).
    pub fn throttled(diagnostics: impl Into<String>) -> Self {
        ApiError::with_kind(ErrorKind::Throttled, IssueCode::Throttled, diagnostics)
    }

    /// `405` (HTTP only, no kind): a method a known route does not support.
    pub(crate) fn method_not_allowed(diagnostics: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            IssueCode::NotSupported,
            diagnostics,
        )
    }

    /// `406` (HTTP only, no kind): `_format`/`Accept` asks for a format the server does not
    /// produce.
    pub(crate) fn not_acceptable(diagnostics: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            IssueCode::NotSupported,
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
mod tests;
