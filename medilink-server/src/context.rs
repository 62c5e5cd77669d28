//! Who is calling: the request id and the [`RequestCaller`] extractor that turns a request
//! into the library's [`RequestContext`].
//!
//! Authentication itself is the `authenticate` middleware of [`crate::auth::session`]; the
//! audit middleware (`audit::record`) leaves the request's disclosure sink
//! ([`Accessed`]) in the extensions, and the context carries it to the consent guard.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use medilink_fhir::{Accessed, RequestContext};
use medilink_platform::CallerContext;

use crate::auth::Principal;

/// The request id header, read from the client when well-formed and always echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task (`"unknown"` outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| String::from("unknown"))
}

/// The request id, stored in the request's extensions by [`assign_request_id`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    ok.then(|| text.to_owned())
}

/// Middleware: gives every request an id (the client's `X-Request-Id` when well-formed, else
/// a fresh UUID), makes it available to the request's task and echoes it in the response.
pub(crate) async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The extractor of who sent a request: the library's [`RequestContext`] holding the
/// [`medilink_platform::Caller`] of the principal the `authenticate` middleware left in the
/// request (see [`crate::auth::session`]), and that principal's verified token claims. Public
/// routes without a token get an anonymous context. (Named apart from the
/// [`medilink_platform::Caller`] it carries and the [`medilink_fhir::Requester`] slot that
/// holds it.)
#[derive(Debug, Clone)]
pub struct RequestCaller {
    context: RequestContext,
    principal: Option<Principal>,
}

/// The old name of [`RequestCaller`], kept only for the `/api` handlers (`api/*.rs`), which are
/// being rewritten on another branch; it goes when they are renamed after that merge.
pub(crate) type Caller = RequestCaller;

impl RequestCaller {
    /// The context to pass to every store call.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// The authenticated principal, when there is one.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCaller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = match parts.extensions.get::<RequestId>() {
            Some(RequestId(id)) => id.clone(),
            None => current_request_id(),
        };
        let principal = parts.extensions.get::<Principal>().cloned();
        // The audit middleware's sink, when the request is audited.
        let accessed = parts
            .extensions
            .get::<Accessed>()
            .cloned()
            .unwrap_or_default();
        let mut context = match &principal {
            Some(principal) => RequestContext::for_caller(principal.caller(), request_id),
            None => RequestContext::anonymous(request_id),
        };
        context.accessed = accessed;
        Ok(RequestCaller { context, principal })
    }
}
