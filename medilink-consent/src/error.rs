//! [`ConsentError`]: every error this crate returns, with its transport-agnostic
//! [`ErrorKind`] and issue code ([`ServiceError`]).

use medilink_fhir::{ErrorKind, FhirError, Issue, IssueCode, ServiceError};

/// The result type of this crate.
pub type ConsentResult<T> = Result<T, ConsentError>;

/// Every error `medilink-consent` returns. Messages carry identifiers only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// A request that breaks a lifecycle rule (self-consent, unknown scope, short reason, …).
    #[error("invalid consent request: {reason}")]
    Invalid {
        /// What is wrong (no resource content).
        reason: &'static str,
    },
    /// No such consent, or not one the caller may see (the two look the same).
    #[error("consent {id} not found")]
    NotFound {
        /// The consent id.
        id: String,
    },
    /// The caller's role may not do this.
    #[error("not allowed: {reason}")]
    Forbidden {
        /// Why.
        reason: &'static str,
    },
    /// The caller's role does not have this at all (the reason is the whole message).
    #[error("{reason}")]
    RoleRequired {
        /// Why.
        reason: &'static str,
    },
    /// No such bulk export, or not one the caller may see (the two look the same).
    #[error("export {id} not found")]
    ExportNotFound {
        /// The export (job) id.
        id: String,
    },
    /// The consent is not in a state that allows the transition.
    #[error("consent {id} is {status}, cannot {action}")]
    WrongState {
        /// The consent id.
        id: String,
        /// Its status.
        status: &'static str,
        /// The attempted transition.
        action: &'static str,
    },
    /// Too many break-glass grants in the window.
    #[error("break-glass limit reached: at most {limit} per 24 hours")]
    RateLimited {
        /// The limit.
        limit: u64,
    },
    /// A resource refused for research export.
    #[error(transparent)]
    Deid(#[from] crate::deid::DeidError),
    /// A storage error.
    #[error(transparent)]
    Store(#[from] FhirError),
}

impl ConsentError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConsentError::Invalid { .. } => ErrorKind::Invalid,
            ConsentError::NotFound { .. } | ConsentError::ExportNotFound { .. } => {
                ErrorKind::NotFound
            }
            ConsentError::Forbidden { .. } | ConsentError::RoleRequired { .. } => {
                ErrorKind::Forbidden
            }
            ConsentError::WrongState { .. } => ErrorKind::Conflict,
            ConsentError::RateLimited { .. } => ErrorKind::Throttled,
            ConsentError::Deid(err) => err.kind(),
            ConsentError::Store(err) => err.kind(),
        }
    }
}

impl ServiceError for ConsentError {
    fn kind(&self) -> ErrorKind {
        ConsentError::kind(self)
    }

    fn issue_code(&self) -> IssueCode {
        match self {
            ConsentError::Invalid { .. } => IssueCode::Value,
            ConsentError::Deid(_) => IssueCode::Processing,
            ConsentError::Store(err) => err.issue_code(),
            other => other.kind().issue_code(),
        }
    }

    fn issues(&self) -> Vec<Issue> {
        match self {
            ConsentError::Store(err) => err.issues(),
            other => vec![Issue::error(other.issue_code(), None, other.to_string())],
        }
    }
}

/// Converts a consent error into the store's error type (used where the guard implements
/// [`medilink_fhir::ResourceStore`]).
impl From<ConsentError> for FhirError {
    fn from(err: ConsentError) -> Self {
        match err {
            ConsentError::Store(err) => err,
            ConsentError::Invalid { reason } => FhirError::BadRequest {
                message: reason.to_owned(),
            },
            ConsentError::Forbidden { reason } | ConsentError::RoleRequired { reason } => {
                FhirError::Forbidden { reason }
            }
            ConsentError::Deid(err) => FhirError::Unprocessable {
                message: err.to_string(),
            },
            other => FhirError::Internal {
                source: other.to_string().into(),
            },
        }
    }
}
