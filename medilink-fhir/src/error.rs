//! The crate's error type, [`FhirError`], the transport-agnostic [`ErrorKind`] and
//! [`ServiceError`], the one trait through which every library error of the workspace says its
//! kind and its FHIR issue code (a host maps kinds to its transport in one place).
//!
//! Messages are lowercase, carry identifiers only and never resource content.

use crate::model::{ResourceId, ResourceType, VersionId};

/// The result type of this crate.
pub type FhirResult<T> = Result<T, FhirError>;

/// What kind of failure an error is, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variant names are the documentation")]
pub enum ErrorKind {
    NotFound,
    Gone,
    Conflict,
    PreconditionFailed,
    Invalid,
    /// The input is larger than a configured limit.
    TooLarge,
    /// The input's media type (detected or declared) is not one that is accepted.
    UnsupportedMediaType,
    Unprocessable,
    Unauthenticated,
    Forbidden,
    /// Too many attempts (rate limit, lockout); the caller should wait.
    Throttled,
    /// A feature that is not offered.
    Unsupported,
    Unavailable,
    Timeout,
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive tests of a mapping.
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::NotFound,
        ErrorKind::Gone,
        ErrorKind::Conflict,
        ErrorKind::PreconditionFailed,
        ErrorKind::Invalid,
        ErrorKind::TooLarge,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::Unprocessable,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::Throttled,
        ErrorKind::Unsupported,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Internal,
    ];

    /// The usual R4 issue code of this kind: what [`ServiceError::issue_code`] returns unless
    /// an error knows a more precise one (a validator's `required`, a time limit's
    /// `too-costly`, …).
    pub fn issue_code(self) -> IssueCode {
        match self {
            ErrorKind::NotFound => IssueCode::NotFound,
            ErrorKind::Gone => IssueCode::Deleted,
            ErrorKind::Conflict | ErrorKind::PreconditionFailed => IssueCode::Conflict,
            ErrorKind::Invalid => IssueCode::Invalid,
            ErrorKind::TooLarge => IssueCode::TooLong,
            ErrorKind::UnsupportedMediaType | ErrorKind::Unsupported => IssueCode::NotSupported,
            ErrorKind::Unprocessable => IssueCode::Processing,
            ErrorKind::Unauthenticated => IssueCode::Login,
            ErrorKind::Forbidden => IssueCode::Forbidden,
            ErrorKind::Throttled => IssueCode::Throttled,
            ErrorKind::Unavailable => IssueCode::Transient,
            ErrorKind::Timeout => IssueCode::Timeout,
            ErrorKind::Internal => IssueCode::Exception,
        }
    }
}

/// An error a service (a library use case) returns: its transport-agnostic kind and what to
/// report about it. Hosts turn any `ServiceError` into their transport's answer in one place
/// (the HTTP server: `medilink-server/src/error.rs`); library code never names a status.
///
/// Implemented by [`FhirError`], `medilink_consent::ConsentError`,
/// `medilink_ingest::job::DocumentError` and the server's account errors.
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;

    /// The R4 issue code to report (by default the kind's usual code).
    fn issue_code(&self) -> IssueCode {
        self.kind().issue_code()
    }

    /// What to tell the caller: lowercase, identifiers only, never resource content (by default
    /// the error's message).
    fn diagnostics(&self) -> String {
        self.to_string()
    }

    /// The issues of the `OperationOutcome` (by default one error issue from
    /// [`ServiceError::issue_code`] and [`ServiceError::diagnostics`]).
    fn issues(&self) -> Vec<Issue> {
        vec![Issue::error(self.issue_code(), None, self.diagnostics())]
    }
}

/// Severity of an [`Issue`] (the R4 `issue-severity` value set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variant names are the documentation")]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    /// The R4 code.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// The R4 `issue-type` codes this crate reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variant names are the documentation")]
pub enum IssueCode {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    CodeInvalid,
    NotSupported,
    Processing,
    BusinessRule,
    Conflict,
    NotFound,
    Deleted,
    TooLong,
    TooCostly,
    Exception,
    Transient,
    Informational,
    Login,
    Forbidden,
    Throttled,
    Timeout,
}

impl IssueCode {
    /// The R4 code.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::Invariant => "invariant",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Processing => "processing",
            IssueCode::BusinessRule => "business-rule",
            IssueCode::Conflict => "conflict",
            IssueCode::NotFound => "not-found",
            IssueCode::Deleted => "deleted",
            IssueCode::TooLong => "too-long",
            IssueCode::TooCostly => "too-costly",
            IssueCode::Exception => "exception",
            IssueCode::Transient => "transient",
            IssueCode::Informational => "informational",
            IssueCode::Login => "login",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Throttled => "throttled",
            IssueCode::Timeout => "timeout",
        }
    }
}

/// One problem found in a request, destined for an `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// The R4 issue type.
    pub code: IssueCode,
    /// FHIRPath-style location of the problem, e.g. `Patient.birthDate`.
    pub expression: Option<String>,
    /// A developer-facing explanation (no resource content).
    pub diagnostics: String,
}

impl Issue {
    /// An error-severity issue.
    pub fn error(
        code: IssueCode,
        expression: Option<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            expression,
            diagnostics: diagnostics.into(),
        }
    }
}

/// Every error `medilink-fhir` returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// A resource type name that R4 does not define.
    #[error("unknown resource type {name:?}")]
    UnknownResourceType {
        /// The name as given (truncated).
        name: String,
    },
    /// A malformed logical id.
    #[error("invalid resource id {id:?}: ids are 1-64 characters of [A-Za-z0-9-.]")]
    InvalidId {
        /// The id as given (truncated).
        id: String,
    },
    /// A malformed version id.
    #[error("invalid version id {version:?}")]
    InvalidVersion {
        /// The version as given (truncated).
        version: String,
    },
    /// The request body is not a valid resource of the expected shape.
    #[error("invalid resource: {}", summarize(.issues))]
    Invalid {
        /// What is wrong, element by element.
        issues: Vec<Issue>,
    },
    /// The resource does not conform to a profile its `meta.profile` names (422).
    #[error("the resource does not conform to its profile: {}", summarize(.issues))]
    NotConformant {
        /// What is wrong, element by element.
        issues: Vec<Issue>,
    },
    /// The body's `resourceType` differs from the type in the URL.
    #[error("resource type {body} in the body does not match {url} in the url")]
    TypeMismatch {
        /// Type in the URL.
        url: ResourceType,
        /// Type in the body.
        body: String,
    },
    /// The body's `id` differs from the id in the URL (or is missing on update).
    #[error("resource id {body:?} in the body does not match {url:?} in the url")]
    IdMismatch {
        /// Id in the URL.
        url: String,
        /// Id in the body (empty when absent).
        body: String,
    },
    /// No resource with this id was ever stored.
    #[error("{resource_type}/{id} not found")]
    NotFound {
        /// Type looked up.
        resource_type: ResourceType,
        /// Id looked up.
        id: ResourceId,
    },
    /// The requested version does not exist.
    #[error("version {version} of {resource_type}/{id} not found")]
    VersionNotFound {
        /// Type looked up.
        resource_type: ResourceType,
        /// Id looked up.
        id: ResourceId,
        /// Version looked up.
        version: VersionId,
    },
    /// The resource's current version is a deletion.
    #[error("{resource_type}/{id} was deleted (version {version})")]
    Gone {
        /// Type looked up.
        resource_type: ResourceType,
        /// Id looked up.
        id: ResourceId,
        /// The tombstone version.
        version: VersionId,
    },
    /// `If-Match` named a version that is not the current one.
    #[error("{resource_type}/{id} is at version {current}, not the expected version {expected}")]
    VersionMismatch {
        /// Type written.
        resource_type: ResourceType,
        /// Id written.
        id: ResourceId,
        /// The version the client expected.
        expected: VersionId,
        /// The stored current version (0 when none).
        current: u64,
    },
    /// A conditional operation matched more than one resource.
    #[error("the conditional {operation} on {resource_type} matched {matches} resources")]
    MultipleMatches {
        /// Type searched.
        resource_type: ResourceType,
        /// Which conditional interaction (create, update, delete, reference).
        operation: &'static str,
        /// How many matched.
        matches: usize,
    },
    /// One write (bundle entry) of a transaction failed, failing the whole transaction.
    #[error("bundle entry {index}: {source}")]
    BundleEntry {
        /// Zero-based position of the entry.
        index: usize,
        /// Why it failed.
        source: Box<FhirError>,
    },
    /// Concurrent writers touched the same resource; the request may be retried.
    #[error("concurrent write conflict on {resource_type}/{id}")]
    WriteConflict {
        /// Type written.
        resource_type: ResourceType,
        /// Id written.
        id: ResourceId,
    },
    /// A unique key of a table kept beside the resources (by `medilink-platform`) is already
    /// taken.
    #[error("{what} already exists")]
    Duplicate {
        /// What is duplicated (no value).
        what: &'static str,
    },
    /// A business rule of the FHIR REST spec was broken (e.g. a bad bundle entry).
    #[error("{message}")]
    Unprocessable {
        /// What rule, in developer terms (no resource content).
        message: String,
    },
    /// A request that is malformed in a way not tied to one element.
    #[error("{message}")]
    BadRequest {
        /// What is wrong (no resource content).
        message: String,
    },
    /// The caller may not perform this interaction (decided by a guard wrapping the store).
    #[error("access denied: {reason}")]
    Forbidden {
        /// Why (no resource content).
        reason: &'static str,
    },
    /// A write that a rule of a layer wrapping the store refuses in the current state of the
    /// record (e.g. clinical safety: a prescription with an unacknowledged contraindication);
    /// HTTP 409 with issue code `business-rule`.
    #[error("{message}")]
    Refused {
        /// The rule and what to do about it (names the finding, not other patients' data).
        message: String,
    },
    /// A feature the store does not offer (yet).
    #[error("not supported: {feature}")]
    Unsupported {
        /// What was asked for.
        feature: String,
    },
    /// A database statement ran past the store's statement time limit and was stopped (the
    /// request is too costly, or the database is overloaded).
    #[error(
        "the request was stopped after the database statement time limit; narrow the search or retry later"
    )]
    TimedOut,
    /// The backend is unreachable or exhausted.
    #[error("storage unavailable")]
    Unavailable {
        /// Backend error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other backend failure.
    #[error("internal storage error")]
    Internal {
        /// Backend error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The inherent [`FhirError::kind`], [`FhirError::issue_code`] and [`FhirError::issues`] are the
/// implementation (callers need no trait import); this makes them the shared vocabulary.
impl ServiceError for FhirError {
    fn kind(&self) -> ErrorKind {
        FhirError::kind(self)
    }

    fn issue_code(&self) -> IssueCode {
        FhirError::issue_code(self)
    }

    fn issues(&self) -> Vec<Issue> {
        FhirError::issues(self)
    }
}

fn summarize(issues: &[Issue]) -> String {
    match issues.first() {
        None => "no details".to_owned(),
        Some(first) if issues.len() == 1 => first.diagnostics.clone(),
        Some(first) => format!("{} (and {} more)", first.diagnostics, issues.len() - 1),
    }
}

impl FhirError {
    /// The transport-agnostic kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FhirError::BundleEntry { source, .. } => source.kind(),
            FhirError::UnknownResourceType { .. }
            | FhirError::InvalidId { .. }
            | FhirError::InvalidVersion { .. }
            | FhirError::Invalid { .. }
            | FhirError::TypeMismatch { .. }
            | FhirError::IdMismatch { .. }
            | FhirError::BadRequest { .. } => ErrorKind::Invalid,
            FhirError::NotFound { .. } | FhirError::VersionNotFound { .. } => ErrorKind::NotFound,
            FhirError::Gone { .. } => ErrorKind::Gone,
            FhirError::VersionMismatch { .. } | FhirError::MultipleMatches { .. } => {
                ErrorKind::PreconditionFailed
            }
            FhirError::WriteConflict { .. }
            | FhirError::Duplicate { .. }
            | FhirError::Refused { .. } => ErrorKind::Conflict,
            FhirError::Unprocessable { .. } | FhirError::NotConformant { .. } => {
                ErrorKind::Unprocessable
            }
            FhirError::Forbidden { .. } => ErrorKind::Forbidden,
            FhirError::Unsupported { .. } => ErrorKind::Unsupported,
            FhirError::Unavailable { .. } | FhirError::TimedOut => ErrorKind::Unavailable,
            FhirError::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The issues to report in an `OperationOutcome`.
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            FhirError::Invalid { issues } | FhirError::NotConformant { issues } => issues.clone(),
            FhirError::BundleEntry { index, source } => source
                .issues()
                .into_iter()
                .map(|mut issue| {
                    issue.diagnostics = format!("bundle entry {index}: {}", issue.diagnostics);
                    issue.expression = Some(match issue.expression {
                        Some(inner) => format!("Bundle.entry[{index}].resource.{inner}"),
                        None => format!("Bundle.entry[{index}]"),
                    });
                    issue
                })
                .collect(),
            _ => vec![Issue::error(self.issue_code(), None, self.to_string())],
        }
    }

    /// The R4 issue code of this error (of its first issue when it has several).
    pub fn issue_code(&self) -> IssueCode {
        match self {
            FhirError::Invalid { issues } | FhirError::NotConformant { issues } => issues
                .first()
                .map_or(IssueCode::Invalid, |issue| issue.code),
            FhirError::BundleEntry { source, .. } => source.issue_code(),
            FhirError::UnknownResourceType { .. } => IssueCode::NotSupported,
            FhirError::InvalidId { .. } | FhirError::InvalidVersion { .. } => IssueCode::Value,
            FhirError::TypeMismatch { .. } | FhirError::IdMismatch { .. } => IssueCode::Invalid,
            FhirError::BadRequest { .. } => IssueCode::Invalid,
            FhirError::NotFound { .. } | FhirError::VersionNotFound { .. } => IssueCode::NotFound,
            FhirError::Gone { .. } => IssueCode::Deleted,
            FhirError::VersionMismatch { .. }
            | FhirError::WriteConflict { .. }
            | FhirError::Duplicate { .. } => IssueCode::Conflict,
            FhirError::MultipleMatches { .. } => IssueCode::Processing,
            FhirError::Unprocessable { .. } => IssueCode::Processing,
            FhirError::Forbidden { .. } => IssueCode::Forbidden,
            FhirError::Refused { .. } => IssueCode::BusinessRule,
            FhirError::Unsupported { .. } => IssueCode::NotSupported,
            FhirError::Unavailable { .. } => IssueCode::Transient,
            FhirError::TimedOut => IssueCode::TooCostly,
            FhirError::Internal { .. } => IssueCode::Exception,
        }
    }

    /// Wraps an invalid-request message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        FhirError::BadRequest {
            message: message.into(),
        }
    }

    /// Wraps an unprocessable-entity message.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        FhirError::Unprocessable {
            message: message.into(),
        }
    }

    /// A single structural issue at `expression`.
    pub fn invalid(
        code: IssueCode,
        expression: Option<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        FhirError::Invalid {
            issues: vec![Issue::error(code, expression, diagnostics)],
        }
    }
}
