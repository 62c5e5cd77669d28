//! The crate's error type, [`ClinicalError`]: what can go wrong asking a drug knowledge source.
//!
//! The offline base never fails; an online source can be unreachable, slow or answer nonsense.
//! Messages are lowercase and name the source, never a patient's medication.

use medilink_fhir::{ErrorKind, FhirError, ServiceError};

/// The result type of this crate.
pub type ClinicalResult<T> = Result<T, ClinicalError>;

/// Why a drug knowledge source could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClinicalError {
    /// The source did not answer within its time limit.
    #[error("drug source {origin} timed out")]
    Timeout {
        /// The source (`openfda`, …).
        origin: &'static str,
    },
    /// The source could not be reached (connection refused, DNS, TLS).
    #[error("drug source {origin} is unreachable")]
    Unreachable {
        /// The source.
        origin: &'static str,
        /// The transport error.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The source answered with an unexpected HTTP status.
    #[error("drug source {origin} answered with status {status}")]
    Status {
        /// The source.
        origin: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The source's answer is not what its API promises (bad JSON, missing fields).
    #[error("drug source {origin} sent an invalid answer")]
    InvalidAnswer {
        /// The source.
        origin: &'static str,
        /// The parse error.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The source's answer is larger than the accepted limit.
    #[error("drug source {origin} sent more than {limit} bytes")]
    TooLarge {
        /// The source.
        origin: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The cache in front of a source failed.
    #[error("the drug source cache failed")]
    Cache(#[source] FhirError),
    /// The caller's input cannot be checked.
    #[error("invalid medication input: {reason}")]
    Invalid {
        /// What is wrong (no content of the input).
        reason: &'static str,
    },
}

impl ClinicalError {
    /// What kind of failure this is: a source that fails is unavailable (or timed out), bad
    /// input is invalid.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClinicalError::Timeout { .. } => ErrorKind::Timeout,
            ClinicalError::Unreachable { .. }
            | ClinicalError::Status { .. }
            | ClinicalError::InvalidAnswer { .. }
            | ClinicalError::TooLarge { .. }
            | ClinicalError::Cache(_) => ErrorKind::Unavailable,
            ClinicalError::Invalid { .. } => ErrorKind::Invalid,
        }
    }
}

impl ServiceError for ClinicalError {
    fn kind(&self) -> ErrorKind {
        ClinicalError::kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_that_fail_are_unavailable_and_bad_input_is_invalid() {
        let status = ClinicalError::Status {
            origin: "openfda",
            status: 500,
        };
        assert_eq!(ServiceError::kind(&status), ErrorKind::Unavailable);
        assert_eq!(
            ClinicalError::Timeout { origin: "openfda" }.kind(),
            ErrorKind::Timeout
        );
        assert_eq!(
            ClinicalError::Invalid { reason: "empty" }.kind(),
            ErrorKind::Invalid
        );
        assert_eq!(
            status.to_string(),
            "drug source openfda answered with status 500"
        );
    }
}
