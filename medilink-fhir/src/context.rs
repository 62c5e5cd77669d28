//! The request context every store call receives: who is asking, why, and the request id.
//!
//! Authentication and the consent check wrap the store later without changing its callers;
//! for now the caller is always [`Caller::System`] or [`Caller::Anonymous`].

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// The platform itself (imports, migrations, jobs).
    System,
    /// An unauthenticated client (until authentication lands).
    Anonymous,
}

/// Per-request information passed to every store method.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who is asking.
    pub caller: Caller,
    /// Correlates logs and audit records.
    pub request_id: String,
}

impl RequestContext {
    /// A context for platform-internal work.
    pub fn system() -> Self {
        RequestContext {
            caller: Caller::System,
            request_id: String::from("system"),
        }
    }

    /// A context for an unauthenticated request with the given id.
    pub fn anonymous(request_id: impl Into<String>) -> Self {
        RequestContext {
            caller: Caller::Anonymous,
            request_id: request_id.into(),
        }
    }
}
