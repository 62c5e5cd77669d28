//! The request context every store call receives: who is asking, why, the request id, and
//! the [`Accessed`] sink that records what the request touched.
//!
//! The server authenticates requests into [`Caller::User`] (or [`Caller::Anonymous`] on its
//! public routes); `medilink_consent::ConsentGuard` wraps the store and decides from the caller.

mod accessed;

pub use accessed::{AccessSummary, Accessed, Interaction};

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// The platform itself (imports, migrations, jobs).
    System,
    /// A client without credentials, on a public route (declared public in the server's route table).
    Anonymous,
    /// An authenticated platform user.
    User {
        /// The account.
        user_id: crate::platform::UserId,
        /// Its role.
        role: crate::platform::Role,
        /// Whether the session passed a second factor.
        mfa: bool,
        /// The linked `Patient` of a patient account.
        patient_id: Option<crate::model::ResourceId>,
    },
}

/// Per-request information passed to every store method.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who is asking.
    pub caller: Caller,
    /// Correlates logs and audit records.
    pub request_id: String,
    /// What the request returned or changed (off unless the request is audited).
    pub accessed: Accessed,
}

impl RequestContext {
    /// A context for platform-internal work.
    pub fn system() -> Self {
        RequestContext {
            caller: Caller::System,
            request_id: String::from("system"),
            accessed: Accessed::default(),
        }
    }

    /// A context for an unauthenticated request with the given id.
    pub fn anonymous(request_id: impl Into<String>) -> Self {
        RequestContext {
            caller: Caller::Anonymous,
            request_id: request_id.into(),
            accessed: Accessed::default(),
        }
    }
}
