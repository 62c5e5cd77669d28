//! Who is calling: the [`RequestCaller`] extractor that turns a request into the library's
//! [`RequestContext`] (with the request id of `layers/request_id.rs`).
//!
//! Authentication itself is the `authenticate` middleware of [`crate::auth::session`]; the
//! audit middleware (`audit::record`) leaves the request's disclosure sink
//! ([`Accessed`]) in the extensions, and the context carries it to the consent guard.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use medilink_fhir::{Accessed, RequestContext};
use medilink_platform::{Caller, CallerContext};

use crate::auth::Principal;
use crate::layers::request_id::{RequestId, current_request_id};

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
        // A principal of the `authenticate` middleware, or (`crate::fhir_router`) the caller an
        // embedder's own authentication left in the request.
        let embedded = parts.extensions.get::<Caller>().cloned();
        let mut context = match (&principal, embedded) {
            (Some(principal), _) => RequestContext::for_caller(principal.caller(), request_id),
            (None, Some(caller)) => RequestContext::for_caller(caller, request_id),
            (None, None) => RequestContext::anonymous(request_id),
        };
        context.accessed = accessed;
        Ok(RequestCaller { context, principal })
    }
}
