//! [`FhirResponse`]: a FHIR JSON response with the headers the R4 REST spec asks for
//! (`ETag: W/"v"`, `Last-Modified`, `Location`, `Content-Location`), and the `Prefer: return=`
//! handling of writes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medilink_fhir::{StoredResource, VersionId};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{FHIR_JSON, information};

/// What a write should return (`Prefer: return=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPreference {
    /// No body.
    Minimal,
    /// The resource as stored.
    Representation,
    /// An `OperationOutcome` describing the write.
    OperationOutcome,
}

/// The `Prefer` header's `return` preference, when the client stated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefer(pub Option<ReturnPreference>);

impl Prefer {
    /// The stated preference, or `default`.
    pub fn or(self, default: ReturnPreference) -> ReturnPreference {
        self.0.unwrap_or(default)
    }

    fn parse(headers: &HeaderMap) -> Prefer {
        let tokens = headers
            .get_all("prefer")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split([',', ';']));
        for token in tokens {
            let preference = match token.trim().to_ascii_lowercase().as_str() {
                "return=minimal" => ReturnPreference::Minimal,
                "return=representation" => ReturnPreference::Representation,
                "return=operationoutcome" => ReturnPreference::OperationOutcome,
                _ => continue,
            };
            return Prefer(Some(preference));
        }
        Prefer(None)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Prefer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Prefer::parse(&parts.headers))
    }
}

#[derive(Debug, Clone)]
enum Body {
    Text(Arc<str>),
    Json(Value),
    Empty,
}

/// Stored JSON text handed to the response body without copying.
#[derive(Debug)]
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A FHIR response: status, body and the version headers.
#[derive(Debug, Clone)]
pub struct FhirResponse {
    status: StatusCode,
    body: Body,
    etag: Option<VersionId>,
    last_modified: Option<OffsetDateTime>,
    location: Option<String>,
    content_location: Option<String>,
}

/// `W/"v"`.
pub fn etag(version: VersionId) -> String {
    format!("W/\"{version}\"")
}

/// `{base}/Type/id/_history/v`.
pub fn version_url(base: &str, stored: &StoredResource) -> String {
    format!(
        "{base}/{}/{}/_history/{}",
        stored.resource_type, stored.id, stored.version_id
    )
}

impl FhirResponse {
    /// `status` with a JSON body.
    pub fn json(status: StatusCode, body: Value) -> Self {
        FhirResponse {
            status,
            body: Body::Json(body),
            etag: None,
            last_modified: None,
            location: None,
            content_location: None,
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        FhirResponse {
            body: Body::Empty,
            ..FhirResponse::json(StatusCode::NO_CONTENT, Value::Null)
        }
    }

    /// `304 Not Modified` for a conditional read of the current version: no body, its
    /// `ETag` and `Last-Modified`.
    pub fn not_modified(stored: &StoredResource) -> Self {
        FhirResponse {
            body: Body::Empty,
            ..FhirResponse::json(StatusCode::NOT_MODIFIED, Value::Null).versioned(stored)
        }
    }

    /// `200` with a stored version, served as stored (no re-serialization).
    pub fn resource(stored: StoredResource) -> Self {
        let body = match &stored.json {
            Some(text) => Body::Text(text.clone()),
            None => Body::Empty,
        };
        FhirResponse {
            status: StatusCode::OK,
            body,
            ..FhirResponse::json(StatusCode::OK, Value::Null).versioned(&stored)
        }
    }

    /// The response to a create/update/patch: `201` when `created`, else `200`; `Location`
    /// of the new version; body as `prefer` says.
    pub fn written(
        stored: StoredResource,
        created: bool,
        prefer: ReturnPreference,
        base: &str,
    ) -> Self {
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let body = match prefer {
            ReturnPreference::Minimal => Body::Empty,
            ReturnPreference::Representation => match &stored.json {
                Some(text) => Body::Text(text.clone()),
                None => Body::Empty,
            },
            ReturnPreference::OperationOutcome => Body::Json(information(format!(
                "{} {} version {}",
                if created { "created" } else { "updated" },
                stored.reference(),
                stored.version_id
            ))),
        };
        let mut response = FhirResponse {
            status,
            body,
            ..FhirResponse::json(status, Value::Null).versioned(&stored)
        };
        response.location = Some(version_url(base, &stored));
        response
    }

    /// Sets `ETag` and `Last-Modified` from a stored version.
    pub fn versioned(mut self, stored: &StoredResource) -> Self {
        self.etag = Some(stored.version_id);
        self.last_modified = Some(stored.last_updated);
        self
    }

    /// Sets `Content-Location`.
    pub fn with_content_location(mut self, url: String) -> Self {
        self.content_location = Some(url);
        self
    }
}

impl IntoResponse for FhirResponse {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Text(text) => {
                let bytes = bytes::Bytes::from_owner(SharedText(text));
                (self.status, axum::body::Body::from(bytes)).into_response()
            }
            Body::Json(value) => (self.status, value.to_string()).into_response(),
            Body::Empty => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if !matches!(
            self.status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        ) {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        }
        let mut set = |name, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        if let Some(version) = self.etag {
            set(header::ETAG, etag(version));
        }
        if let Some(at) = self.last_modified {
            set(
                header::LAST_MODIFIED,
                httpdate::fmt_http_date(SystemTime::from(at)),
            );
        }
        if let Some(location) = self.location {
            set(header::LOCATION, location);
        }
        if let Some(location) = self.content_location {
            set(header::CONTENT_LOCATION, location);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_return_is_parsed_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(Prefer::parse(&headers), Prefer(None));
        headers.insert(
            "prefer",
            HeaderValue::from_static("handling=strict, return=Minimal"),
        );
        assert_eq!(
            Prefer::parse(&headers),
            Prefer(Some(ReturnPreference::Minimal))
        );
        headers.insert(
            "prefer",
            HeaderValue::from_static("return=OperationOutcome"),
        );
        assert_eq!(
            Prefer::parse(&headers).or(ReturnPreference::Minimal),
            ReturnPreference::OperationOutcome
        );
    }
}
