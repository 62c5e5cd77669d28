//! Cross-cutting layers of the FHIR API: content negotiation (`_format`, `Accept` → 406,
//! `_pretty`), the panic handler and the fallbacks for unknown routes and methods.

use std::any::Any;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medilink_fhir::{ErrorKind, IssueCode};

use crate::error::{ApiError, FHIR_JSON};
use crate::layers::request_id::current_request_id;

const JSON_TYPES: [&str; 3] = [
    "application/fhir+json",
    "application/json",
    "application/json+fhir",
];

/// Whether a `_format` value asks for JSON.
fn format_is_json(format: &str) -> bool {
    let format = format.trim().to_ascii_lowercase();
    let media_type = format.split(';').next().unwrap_or_default().trim();
    media_type == "json" || JSON_TYPES.contains(&media_type)
}

/// Whether an `Accept` header admits JSON.
pub(crate) fn accept_admits_json(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let media_type = range
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        media_type.is_empty()
            || matches!(media_type.as_str(), "*/*" | "application/*")
            || JSON_TYPES.contains(&media_type.as_str())
    })
}

#[derive(Debug, Default)]
struct Negotiation {
    format: Option<String>,
    pretty: bool,
}

fn negotiation(query: Option<&str>) -> Negotiation {
    let mut negotiation = Negotiation::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "_format" => negotiation.format = Some(value.into_owned()),
            "_pretty" => negotiation.pretty = value == "true",
            _ => {}
        }
    }
    negotiation
}

fn not_acceptable() -> Response {
    ApiError::not_acceptable("this server only produces application/fhir+json").into_response()
}

/// Middleware for `/fhir/…`: refuses non-JSON formats with `406` and pretty-prints
/// FHIR JSON responses when `_pretty=true`.
pub(crate) async fn negotiate(request: Request, next: Next) -> Response {
    let negotiation = negotiation(request.uri().query());
    if negotiation
        .format
        .as_deref()
        .is_some_and(|format| !format_is_json(format))
    {
        return not_acceptable();
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .map(|value| value.to_str().unwrap_or("?"));
    // A Binary's read or vread may ask for its native content type: its handler decides.
    let binary_read =
        request.method() == axum::http::Method::GET && is_binary_instance(request.uri().path());
    if negotiation.format.is_none()
        && !binary_read
        && accept.is_some_and(|accept| !accept_admits_json(accept))
    {
        return not_acceptable();
    }
    let response = next.run(request).await;
    if negotiation.pretty {
        pretty(response).await
    } else {
        response
    }
}

/// `/fhir/R4/Binary/{id}` or `/fhir/R4/Binary/{id}/_history/{vid}`.
fn is_binary_instance(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/fhir/R4/Binary/") else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    matches!(segments.as_slice(), [id] if !id.is_empty())
        || matches!(segments.as_slice(), [_, "_history", vid] if !vid.is_empty())
}

/// Whether an `Accept` header admits `media_type` (exactly, `type/*` or `*/*`).
pub(crate) fn accept_admits(accept: &str, media_type: &str) -> bool {
    let media_type = media_type.to_ascii_lowercase();
    let main = media_type.split('/').next().unwrap_or_default();
    accept.split(',').any(|range| {
        let range = range
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        range == "*/*" || range == media_type || range == format!("{main}/*")
    })
}

/// Re-formats a FHIR JSON response body with indentation.
async fn pretty(response: Response) -> Response {
    let is_fhir_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == FHIR_JSON.as_bytes());
    if !is_fhir_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal(&current_request_id()).into_response();
    };
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// The response to a panic inside a request: `500` with an `exception` issue.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let request_id = current_request_id();
    tracing::error!(%request_id, panic = %message, "request handler panicked");
    let mut response = ApiError::internal(&request_id).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    response
}

/// `404` for a route that does not exist.
pub(crate) async fn unknown_route() -> ApiError {
    ApiError::with_kind(ErrorKind::NotFound, IssueCode::NotFound, "unknown route")
}

/// `405` for a method a route does not support.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::method_not_allowed("this method is not supported on this url")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_instances_and_media_ranges() {
        assert!(is_binary_instance("/fhir/R4/Binary/b1"));
        assert!(is_binary_instance("/fhir/R4/Binary/b1/_history/2"));
        assert!(!is_binary_instance("/fhir/R4/Binary/b1/_history"));
        assert!(!is_binary_instance("/fhir/R4/Binary"));
        assert!(!is_binary_instance("/fhir/R4/Patient/b1"));
        assert!(accept_admits("application/pdf", "application/pdf"));
        assert!(accept_admits(
            "text/html, application/*;q=0.5",
            "application/pdf"
        ));
        assert!(!accept_admits("image/png", "application/pdf"));
    }
    use axum::http::StatusCode;

    #[tokio::test]
    async fn panics_become_a_generic_exception_outcome() {
        let response = panic_response(Box::new("secret detail"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let outcome: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(outcome["issue"][0]["code"], "exception");
        assert!(!body.windows(6).any(|window| window == b"secret"));
    }

    #[test]
    fn formats_and_accept_headers_are_negotiated() {
        assert!(format_is_json("json"));
        assert!(format_is_json("application/fhir+json"));
        assert!(!format_is_json("xml"));
        assert!(!format_is_json("application/fhir+xml"));
        assert!(accept_admits_json("text/html, */*;q=0.8"));
        assert!(accept_admits_json("application/fhir+json"));
        assert!(!accept_admits_json("application/fhir+xml"));
        assert!(!accept_admits_json("application/xml, text/xml"));
    }
}
