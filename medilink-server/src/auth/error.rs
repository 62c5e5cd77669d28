//! [`AccountError`]: why an account flow of [`super::service`] failed, in the shared error
//! vocabulary ([`ServiceError`]: a kind and an issue code, no HTTP status). The server maps it
//! in `error.rs` like every library error; the `user add` command prints its message.

use medilink_fhir::{ErrorKind, FhirError, Issue, IssueCode, ServiceError};

use super::email::InvalidEmail;
use super::password::WeakPassword;

/// The result type of the account flows.
pub type AccountResult<T> = Result<T, AccountError>;

/// Every error of the account flows. Messages name fields and states, never an address,
/// a password or a name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The e-mail address is refused.
    #[error("{}", .0.message())]
    InvalidEmail(InvalidEmail),
    /// The password is refused by the strength rule.
    #[error("{}", .0.message())]
    WeakPassword(WeakPassword),
    /// A physician account needs a display name.
    #[error(
        "name is required for a physician (it is shown in the clinician directory and in \
         patients' access logs)"
    )]
    NameRequired,
    /// The e-mail belongs to an account already.
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    /// Wrong e-mail, password or second factor (never says which).
    #[error("invalid e-mail, password or code")]
    InvalidLogin,
    /// Too many failures: the login (and password change) or the TOTP check is locked.
    #[error("too many failed {what}; try again later")]
    LockedOut {
        /// `logins` or `codes`.
        what: &'static str,
    },
    /// The account exists but may not sign in yet (or any more).
    #[error("the account is {state}")]
    NotActive {
        /// `waiting for approval` or `suspended`.
        state: &'static str,
    },
    /// The refresh token is unknown, expired, reused or of an inactive account.
    #[error("refresh token is no longer valid")]
    RefreshInvalid,
    /// The signed-in account was deleted.
    #[error("the account no longer exists")]
    AccountGone,
    /// A password change named the wrong current password.
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// TOTP setup while TOTP is enabled.
    #[error("TOTP is already enabled; disable it first")]
    TotpAlreadyEnabled,
    /// TOTP verification without a setup first.
    #[error("run TOTP setup first")]
    TotpNotSetUp,
    /// Disabling TOTP where the role requires it.
    #[error("TOTP is mandatory for this role")]
    TotpMandatory,
    /// An admin action on an unknown user.
    #[error("no such user")]
    UserNotFound,
    /// An admin action the account's status does not allow.
    #[error("cannot {action} an account that is {status}")]
    InvalidTransition {
        /// `approve`, `suspend` or `reinstate`.
        action: &'static str,
        /// The account's status.
        status: &'static str,
    },
    /// The change would leave no active admin.
    #[error("cannot remove the last admin")]
    LastAdmin,
    /// A role change to or from `patient`.
    #[error(
        "a patient account is bound to its Patient record: it cannot change role, and no other \
         account can become a patient"
    )]
    PatientRole,
    /// A name is required here (a researcher accepting an invitation).
    #[error("name is required")]
    NameMissing,
    /// An invitation's lifetime out of range.
    #[error("expires_in_hours must be 1 to 720")]
    InvalidExpiry,
    /// No invitation has this id or token.
    #[error("no such invitation")]
    InvitationNotFound,
    /// The invitation was used, revoked or has expired.
    #[error("the invitation was used, revoked or has expired")]
    InvitationGone,
    /// Revoking an invitation that was accepted.
    #[error("the invitation was already accepted")]
    InvitationAccepted,
    /// The account store, key-value store or resource store failed.
    #[error(transparent)]
    Store(#[from] FhirError),
}

impl From<InvalidEmail> for AccountError {
    fn from(invalid: InvalidEmail) -> Self {
        AccountError::InvalidEmail(invalid)
    }
}

impl From<WeakPassword> for AccountError {
    fn from(weak: WeakPassword) -> Self {
        AccountError::WeakPassword(weak)
    }
}

impl ServiceError for AccountError {
    fn kind(&self) -> ErrorKind {
        match self {
            AccountError::InvalidEmail(_)
            | AccountError::WeakPassword(_)
            | AccountError::NameRequired
            | AccountError::NameMissing
            | AccountError::InvalidExpiry => ErrorKind::Invalid,
            AccountError::EmailTaken
            | AccountError::TotpAlreadyEnabled
            | AccountError::TotpNotSetUp
            | AccountError::InvalidTransition { .. }
            | AccountError::LastAdmin
            | AccountError::PatientRole
            | AccountError::InvitationAccepted => ErrorKind::Conflict,
            AccountError::InvitationNotFound => ErrorKind::NotFound,
            AccountError::InvitationGone => ErrorKind::Gone,
            AccountError::InvalidLogin
            | AccountError::RefreshInvalid
            | AccountError::AccountGone => ErrorKind::Unauthenticated,
            AccountError::LockedOut { .. } => ErrorKind::Throttled,
            AccountError::NotActive { .. }
            | AccountError::WrongCurrentPassword
            | AccountError::TotpMandatory => ErrorKind::Forbidden,
            AccountError::UserNotFound => ErrorKind::NotFound,
            AccountError::Store(err) => err.kind(),
        }
    }

    fn issue_code(&self) -> IssueCode {
        match self {
            AccountError::InvalidEmail(_) | AccountError::WeakPassword(_) => IssueCode::Value,
            AccountError::NameRequired | AccountError::NameMissing => IssueCode::Required,
            AccountError::InvalidTransition { .. }
            | AccountError::LastAdmin
            | AccountError::PatientRole => IssueCode::BusinessRule,
            AccountError::Store(err) => err.issue_code(),
            other => other.kind().issue_code(),
        }
    }

    fn issues(&self) -> Vec<Issue> {
        match self {
            AccountError::Store(err) => err.issues(),
            other => vec![Issue::error(other.issue_code(), None, other.to_string())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_error_has_its_kind_code_and_message() {
        let cases = [
            (
                AccountError::InvalidEmail(InvalidEmail::Empty),
                ErrorKind::Invalid,
                IssueCode::Value,
                "email is empty",
            ),
            (
                AccountError::WeakPassword(WeakPassword::TooShort),
                ErrorKind::Invalid,
                IssueCode::Value,
                "password must have at least 12 characters",
            ),
            (
                AccountError::NameRequired,
                ErrorKind::Invalid,
                IssueCode::Required,
                "name is required for a physician (it is shown in the clinician directory and \
                 in patients' access logs)",
            ),
            (
                AccountError::EmailTaken,
                ErrorKind::Conflict,
                IssueCode::Conflict,
                "an account with this e-mail already exists",
            ),
            (
                AccountError::InvalidLogin,
                ErrorKind::Unauthenticated,
                IssueCode::Login,
                "invalid e-mail, password or code",
            ),
            (
                AccountError::LockedOut { what: "logins" },
                ErrorKind::Throttled,
                IssueCode::Throttled,
                "too many failed logins; try again later",
            ),
            (
                AccountError::NotActive {
                    state: "waiting for approval",
                },
                ErrorKind::Forbidden,
                IssueCode::Forbidden,
                "the account is waiting for approval",
            ),
            (
                AccountError::TotpAlreadyEnabled,
                ErrorKind::Conflict,
                IssueCode::Conflict,
                "TOTP is already enabled; disable it first",
            ),
            (
                AccountError::UserNotFound,
                ErrorKind::NotFound,
                IssueCode::NotFound,
                "no such user",
            ),
        ];
        for (err, kind, code, message) in cases {
            assert_eq!(err.kind(), kind, "{err}");
            assert_eq!(err.issue_code(), code, "{err}");
            assert_eq!(err.diagnostics(), message);
            assert_eq!(err.issues(), vec![Issue::error(code, None, message)]);
        }
        let store = AccountError::from(FhirError::Unavailable {
            source: "down".into(),
        });
        assert_eq!(store.kind(), ErrorKind::Unavailable);
        assert_eq!(store.issue_code(), IssueCode::Transient);
    }
}
