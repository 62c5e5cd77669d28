//! Researcher invitations: a single-use, expiring link an admin sends, which creates a
//! researcher account when accepted. Only the token's hash is stored, next to the invited
//! e-mail (its lookup hash and sealed form, like a user's); the rows and the one-transaction
//! acceptance are the [`AccountStore`](crate::AccountStore)'s.

use std::fmt::{self, Debug};

use time::OffsetDateTime;

use crate::{Role, UserId, UserRecord};

/// An invitation to store.
#[derive(Clone)]
pub struct NewInvitation {
    /// Its id (a UUID).
    pub id: String,
    /// Keyed hash of the normalised e-mail.
    pub email_hash: Vec<u8>,
    /// The sealed e-mail.
    pub email_enc: Vec<u8>,
    /// The role of the account it creates.
    pub role: Role,
    /// Hash of the token in the link.
    pub token_hash: Vec<u8>,
    /// The admin who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: OffsetDateTime,
    /// Not accepted from this instant on.
    pub expires_at: OffsetDateTime,
}

impl Debug for NewInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewInvitation")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A stored invitation. Its `Debug` output shows no PII.
#[derive(Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: String,
    /// Keyed hash of the normalised e-mail.
    pub email_hash: Vec<u8>,
    /// The sealed e-mail.
    pub email_enc: Vec<u8>,
    /// The role of the account it creates.
    pub role: Role,
    /// The admin who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: OffsetDateTime,
    /// Not accepted from this instant on.
    pub expires_at: OffsetDateTime,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// The account its acceptance created.
    pub accepted_by: Option<UserId>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

impl Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("accepted_at", &self.accepted_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationAcceptance {
    /// The account was created.
    Accepted(Box<UserRecord>),
    /// No invitation has this token.
    Unknown,
    /// The invitation was used, revoked or expired.
    Gone,
}
