//! Types the `/api` contract shares between areas: the error answer and the names of roles and
//! statuses (each mapped from the library's enum by an exhaustive `match`, so a new variant
//! cannot reach the JSON undocumented).

use medilink_consent::{ConsentStatus, Initiator};
use medilink_fhir::jobs::JobStatus;
use medilink_platform::{AccountStatus, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A FHIR R4 OperationOutcome: every 4xx/5xx answer of the API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperationOutcome {
    #[serde(rename = "resourceType")]
    resource_type: OutcomeType,
    issue: Vec<Issue>,
}

/// The resource type of an OperationOutcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
enum OutcomeType {
    OperationOutcome,
}

/// One issue of an OperationOutcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Issue {
    severity: Severity,
    /// The FHIR issue type (`not-found`, `forbidden`, `invalid`, …).
    code: String,
    diagnostics: Option<String>,
    expression: Option<Vec<String>>,
}

/// The severity of an issue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Role)]
pub(crate) enum RoleName {
    Patient,
    Physician,
    Admin,
    Researcher,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Patient => RoleName::Patient,
            Role::Physician => RoleName::Physician,
            Role::Admin => RoleName::Admin,
            Role::Researcher => RoleName::Researcher,
        }
    }
}

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AccountStatus)]
pub(crate) enum AccountState {
    Active,
    Pending,
    Suspended,
}

impl From<AccountStatus> for AccountState {
    fn from(status: AccountStatus) -> Self {
        match status {
            AccountStatus::Active => AccountState::Active,
            AccountStatus::Pending => AccountState::Pending,
            AccountStatus::Suspended => AccountState::Suspended,
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = JobStatus)]
pub(crate) enum JobState {
    Pending,
    Processing,
    Completed,
    NeedsReview,
    Failed,
    Cancelled,
}

impl From<JobStatus> for JobState {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Pending => JobState::Pending,
            JobStatus::Processing => JobState::Processing,
            JobStatus::Completed => JobState::Completed,
            JobStatus::NeedsReview => JobState::NeedsReview,
            JobStatus::Failed => JobState::Failed,
            JobStatus::Cancelled => JobState::Cancelled,
        }
    }
}

/// The status of a consent at the time of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ConsentStatus)]
pub(crate) enum ConsentState {
    Proposed,
    Active,
    Rejected,
    Revoked,
    Expired,
}

impl From<ConsentStatus> for ConsentState {
    fn from(status: ConsentStatus) -> Self {
        match status {
            ConsentStatus::Proposed => ConsentState::Proposed,
            ConsentStatus::Active => ConsentState::Active,
            ConsentStatus::Rejected => ConsentState::Rejected,
            ConsentStatus::Revoked => ConsentState::Revoked,
            ConsentStatus::Expired => ConsentState::Expired,
        }
    }
}

/// Who started a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ConsentInitiator {
    Patient,
    Physician,
}

impl From<Initiator> for ConsentInitiator {
    fn from(initiator: Initiator) -> Self {
        match initiator {
            Initiator::Patient => ConsentInitiator::Patient,
            Initiator::Physician => ConsentInitiator::Physician,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `UserView` keeps the library's names as text: they are the documented ones.
    #[test]
    fn the_documented_names_are_the_libraries_names() {
        for role in [
            Role::Patient,
            Role::Physician,
            Role::Admin,
            Role::Researcher,
        ] {
            let name = serde_json::to_value(RoleName::from(role)).ok();
            assert_eq!(name, Some(role.as_str().into()));
        }
        for status in [
            AccountStatus::Active,
            AccountStatus::Pending,
            AccountStatus::Suspended,
        ] {
            let name = serde_json::to_value(AccountState::from(status)).ok();
            assert_eq!(name, Some(status.as_str().into()));
        }
        for status in JobStatus::ALL {
            let name = serde_json::to_value(JobState::from(status)).ok();
            assert_eq!(name, serde_json::to_value(status).ok());
        }
    }
}
