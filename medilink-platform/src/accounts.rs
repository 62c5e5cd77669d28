//! The [`AccountStore`] seam: user rows (opaque encrypted PII, hashes, role and status),
//! hashed refresh tokens grouped in rotation families, and researcher invitations
//! ([`crate::invitations`]).
//!
//! Role and status changes that could remove the last active admin go through
//! [`AccountStore::set_role`] and [`AccountStore::set_status`], which check and change in one
//! transaction, so two admins demoting each other at once cannot both succeed.

use std::fmt::{self, Debug};

use async_trait::async_trait;
use time::OffsetDateTime;

#[cfg(feature = "sql")]
use medilink_fhir::error::FhirError;
use medilink_fhir::error::FhirResult;
use medilink_fhir::model::ResourceId;

use crate::invitations::{Invitation, InvitationAcceptance, NewInvitation};

/// A user's id (a UUID chosen by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub String);

impl UserId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variant names are the documentation")]
pub enum Role {
    Patient,
    Physician,
    Admin,
    Researcher,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Patient,
        Role::Physician,
        Role::Admin,
        Role::Researcher,
    ];

    /// The role's name (`patient`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Physician => "physician",
            Role::Admin => "admin",
            Role::Researcher => "researcher",
        }
    }

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// May sign in.
    Active,
    /// Waiting for an admin's approval (physicians).
    Pending,
    /// Blocked by an admin.
    Suspended,
}

impl AccountStatus {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Pending => "pending",
            AccountStatus::Suspended => "suspended",
        }
    }

    /// Parses a status name.
    pub fn parse(name: &str) -> Option<AccountStatus> {
        [
            AccountStatus::Active,
            AccountStatus::Pending,
            AccountStatus::Suspended,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// A user to create.
#[derive(Clone)]
pub struct NewUser {
    /// The new id.
    pub id: UserId,
    /// Keyed hash of the normalized e-mail (the lookup key; unique).
    pub email_hash: Vec<u8>,
    /// Encrypted e-mail.
    pub email_enc: Vec<u8>,
    /// Encrypted display name.
    pub name_enc: Option<Vec<u8>>,
    /// The password hash (opaque to this crate).
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// The initial status.
    pub status: AccountStatus,
    /// The linked FHIR `Patient` (patients).
    pub patient_id: Option<ResourceId>,
}

impl Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A stored user. Its `Debug` output shows no PII or secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The id.
    pub id: UserId,
    /// Keyed hash of the normalized e-mail.
    pub email_hash: Vec<u8>,
    /// Encrypted e-mail.
    pub email_enc: Vec<u8>,
    /// Encrypted display name.
    pub name_enc: Option<Vec<u8>>,
    /// The password hash.
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// The status.
    pub status: AccountStatus,
    /// The linked FHIR `Patient`.
    pub patient_id: Option<ResourceId>,
    /// Encrypted TOTP secret (present from setup on, enabled after verify).
    pub totp_secret_enc: Option<Vec<u8>>,
    /// Whether TOTP is required at login.
    pub totp_enabled: bool,
    /// Hashes of the unused backup codes.
    pub backup_codes: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("status", &self.status)
            .field("patient_id", &self.patient_id)
            .field("totp_enabled", &self.totp_enabled)
            .finish_non_exhaustive()
    }
}

/// Which users to list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<AccountStatus>,
    /// Only the user with this e-mail hash.
    pub email_hash: Option<Vec<u8>>,
    /// Page size (at most 1000; 0 means 100).
    pub limit: usize,
    /// Rows to skip.
    pub offset: usize,
}

/// What a guarded role or status change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// Changed (or already so): the user as stored now.
    Changed(Box<UserRecord>),
    /// No such user.
    NotFound,
    /// The user's status is not one the change starts from.
    WrongStatus(AccountStatus),
    /// The user is the last active admin, and the change would leave none.
    LastAdmin,
}

/// A refresh token row (the token itself is never stored, only its hash).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Hash of the opaque token.
    pub token_hash: Vec<u8>,
    /// Whose token.
    pub user_id: UserId,
    /// The rotation chain it belongs to.
    pub family_id: String,
    /// When issued.
    pub created_at: OffsetDateTime,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("user_id", &self.user_id)
            .field("family_id", &self.family_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshConsumed {
    /// The token was live; it is now used and its successor stored.
    Rotated(RefreshTokenRecord),
    /// The token had already been used or revoked: its whole family is now revoked.
    Reused(RefreshTokenRecord),
    /// The token was expired.
    Expired,
    /// No such token.
    Unknown,
}

/// Storage of user accounts and refresh tokens.
#[async_trait]
pub trait AccountStore: Send + Sync + Debug {
    /// Creates a user; [`FhirError::Duplicate`] when the
    /// e-mail hash is taken.
    async fn create_user(&self, user: NewUser) -> FhirResult<UserRecord>;
    /// The user with this id.
    async fn user(&self, id: &UserId) -> FhirResult<Option<UserRecord>>;
    /// The user with this e-mail hash.
    async fn user_by_email_hash(&self, email_hash: &[u8]) -> FhirResult<Option<UserRecord>>;
    /// Users matching `filter`, oldest first.
    async fn list_users(&self, filter: &UserFilter) -> FhirResult<Vec<UserRecord>>;
    /// Writes the mutable fields of `user` (password, status, TOTP, backup codes, patient).
    async fn update_user(&self, user: &UserRecord) -> FhirResult<UserRecord>;
    /// [`AccountStore::update_user`] and `notices` (prepared by
    /// [`Notifications::prepare`](crate::notifications::Notifications::prepare)) in one
    /// transaction: the account's change and the notices that report it land together or not
    /// at all. Returns the user and the notices written (to dispatch).
    async fn update_user_telling(
        &self,
        user: &UserRecord,
        notices: &[crate::notifications::NewNotification],
    ) -> FhirResult<(UserRecord, Vec<crate::notifications::NewNotification>)>;
    /// Stores a new refresh token.
    async fn insert_refresh(&self, token: &RefreshTokenRecord) -> FhirResult<()>;
    /// Atomically consumes the token with `token_hash` and, when it was live, stores
    /// `successor` (same family); a reused token revokes its family.
    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> FhirResult<RefreshConsumed>;
    /// Revokes the family of the token with `token_hash` (logout); returns whether it existed.
    async fn revoke_refresh(&self, token_hash: &[u8], now: OffsetDateTime) -> FhirResult<bool>;
    /// Revokes every refresh token of a user (password change, suspension).
    async fn revoke_user_refresh(&self, user_id: &UserId, now: OffsetDateTime) -> FhirResult<()>;
    /// Deletes the refresh tokens that expired before `now` (used, revoked or not: an expired
    /// token is refused either way); returns how many.
    async fn delete_expired_refresh(&self, now: OffsetDateTime) -> FhirResult<u64>;
    /// How many users match `filter` (its `limit` and `offset` ignored).
    async fn count_users(&self, filter: &UserFilter) -> FhirResult<u64>;
    /// Sets the user's role, unless that would leave no active admin.
    async fn set_role(&self, id: &UserId, role: Role) -> FhirResult<AccountChange>;
    /// Moves the user from one of `from` to `to`, unless that would leave no active admin;
    /// `notices` (prepared for the change) are stored in the same transaction when it is made.
    async fn set_status(
        &self,
        id: &UserId,
        from: &[AccountStatus],
        to: AccountStatus,
        notices: &[crate::notifications::NewNotification],
    ) -> FhirResult<AccountChange>;
    /// Remembers that the user signed in at `at`.
    async fn record_sign_in(&self, id: &UserId, at: OffsetDateTime) -> FhirResult<()>;
    /// When the user last signed in (`None`: never, or before this was kept).
    async fn last_sign_in(&self, id: &UserId) -> FhirResult<Option<OffsetDateTime>>;
    /// The user's live sessions at `now`: refresh tokens neither used, revoked nor expired
    /// (one per signed-in device).
    async fn active_sessions(&self, id: &UserId, now: OffsetDateTime) -> FhirResult<u64>;
    /// Stores a new invitation.
    async fn create_invitation(&self, invitation: &NewInvitation) -> FhirResult<Invitation>;
    /// Invitations, newest first (at most 1000).
    async fn invitations(&self) -> FhirResult<Vec<Invitation>>;
    /// The invitation whose link token has `token_hash`.
    async fn invitation_by_token(&self, token_hash: &[u8]) -> FhirResult<Option<Invitation>>;
    /// Revokes the invitation `id` at `now` unless it was accepted; the invitation as stored
    /// (`None`: no such invitation).
    async fn revoke_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<Option<Invitation>>;
    /// In one transaction: marks the live invitation with `token_hash` accepted at `now` and
    /// creates `user` with the invitation's e-mail and role (`user.email_*` and `role` are
    /// replaced). Single use: of two concurrent accepts, one wins.
    async fn accept_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        user: NewUser,
    ) -> FhirResult<InvitationAcceptance>;
}

/// A duplicate-key error for `what`.
#[cfg(feature = "sql")]
pub(crate) fn duplicate(what: &'static str) -> FhirError {
    FhirError::Duplicate { what }
}
