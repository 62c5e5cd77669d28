//! Researcher invitations: an admin invites an e-mail address (`POST /api/admin/invitations`)
//! and gets a single-use link `{base}/invite/{token}` that expires (1 to 720 hours, 72 by
//! default); accepting it (`POST /api/auth/invitations/{token}/accept`, with a name and a
//! password) creates an active researcher account, in one transaction with marking the
//! invitation used. The token is 32 random bytes (base64url); only its SHA-256 is stored,
//! so the link is shown once, at creation.

use std::time::Duration;

use medilink_platform::{
    AccountStatus, Invitation, InvitationAcceptance, NewInvitation, NewUser, Role, UserId,
};
use time::OffsetDateTime;

use super::Auth;
use super::crypto::{random_token, sha256};
use super::email::new_account_email;
use super::error::{AccountError, AccountResult};
use super::password::check_strength;
use super::service::UserView;

/// An invitation's lifetime when none is asked for.
pub const DEFAULT_INVITATION_HOURS: u32 = 72;
/// The longest lifetime (30 days).
pub const MAX_INVITATION_HOURS: u32 = 720;

/// Where an invitation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    /// Waiting to be accepted.
    Pending,
    /// Used: the account exists.
    Accepted,
    /// Revoked by an admin.
    Revoked,
    /// Not accepted in time.
    Expired,
}

impl InvitationState {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Revoked => "revoked",
            InvitationState::Expired => "expired",
        }
    }
}

/// An invitation as the admin sees it (e-mail opened).
#[derive(Debug, Clone)]
pub struct InvitationView {
    /// The stored invitation.
    pub invitation: Invitation,
    /// The invited address.
    pub email: String,
    /// Its state now.
    pub state: InvitationState,
    /// The link (only right after creation: the token is not stored).
    pub url: Option<String>,
}

fn gone(invitation: &Invitation, now: OffsetDateTime) -> Option<InvitationState> {
    if invitation.accepted_at.is_some() {
        Some(InvitationState::Accepted)
    } else if invitation.revoked_at.is_some() {
        Some(InvitationState::Revoked)
    } else if invitation.expires_at <= now {
        Some(InvitationState::Expired)
    } else {
        None
    }
}

impl Auth {
    fn invitation_view(&self, invitation: Invitation, url: Option<String>) -> InvitationView {
        let email = self
            .keys
            .open("email", &invitation.email_enc)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        InvitationView {
            state: gone(&invitation, self.now()).unwrap_or(InvitationState::Pending),
            invitation,
            email,
            url,
        }
    }

    /// Admin `by` invites `email` as a researcher for `hours` (default 72, 1 to 720); the
    /// link is `{base}/invite/{token}`. An address with an account already is a conflict.
    pub async fn invite(
        &self,
        by: &UserId,
        email: &str,
        hours: Option<u32>,
        base: &str,
    ) -> AccountResult<InvitationView> {
        let hours = hours.unwrap_or(DEFAULT_INVITATION_HOURS);
        if !(1..=MAX_INVITATION_HOURS).contains(&hours) {
            return Err(AccountError::InvalidExpiry);
        }
        let email = new_account_email(email)?;
        let email_hash = self.email_hash(&email);
        if self
            .accounts
            .user_by_email_hash(&email_hash)
            .await?
            .is_some()
        {
            return Err(AccountError::EmailTaken);
        }
        let token = random_token::<32>();
        let now = self.now();
        let invitation = NewInvitation {
            id: uuid::Uuid::new_v4().to_string(),
            email_enc: self.keys.seal("email", email.as_bytes()),
            email_hash,
            role: Role::Researcher,
            token_hash: sha256(token.as_bytes()),
            created_by: by.clone(),
            created_at: now,
            expires_at: now + Duration::from_secs(u64::from(hours) * 3600),
        };
        let stored = self.accounts.create_invitation(&invitation).await?;
        tracing::info!(invitation = %stored.id, hours, "invitation created");
        let url = format!("{}/invite/{token}", base.trim_end_matches('/'));
        Ok(self.invitation_view(stored, Some(url)))
    }

    /// Admin: every invitation, newest first (no links: their tokens are not stored).
    pub async fn invitations(&self) -> AccountResult<Vec<InvitationView>> {
        let invitations = self.accounts.invitations().await?;
        Ok(invitations
            .into_iter()
            .map(|invitation| self.invitation_view(invitation, None))
            .collect())
    }

    /// Admin: revokes an invitation (again: harmless); an accepted one is a conflict.
    pub async fn revoke_invitation(&self, id: &str) -> AccountResult<InvitationView> {
        let invitation = self
            .accounts
            .revoke_invitation(id, self.now())
            .await?
            .ok_or(AccountError::InvitationNotFound)?;
        if invitation.accepted_at.is_some() {
            return Err(AccountError::InvitationAccepted);
        }
        tracing::info!(invitation = %invitation.id, "invitation revoked");
        Ok(self.invitation_view(invitation, None))
    }

    /// Accepts the invitation of `token`: an active researcher with `name` and `password`
    /// (the strength rule applies). Unknown token: not found; used, revoked or expired: gone.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &str,
        password: &str,
    ) -> AccountResult<UserView> {
        let token_hash = sha256(token.as_bytes());
        let invitation = self
            .accounts
            .invitation_by_token(&token_hash)
            .await?
            .ok_or(AccountError::InvitationNotFound)?;
        if gone(&invitation, self.now()).is_some() {
            return Err(AccountError::InvitationGone);
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(AccountError::NameMissing);
        }
        let email = self.invitation_view(invitation.clone(), None).email;
        check_strength(password, &email, Some(name))?;
        let user = NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            email_hash: Vec::new(),
            email_enc: Vec::new(),
            name_enc: Some(self.keys.seal("name", name.as_bytes())),
            password_hash: self.hasher.hash(password),
            role: invitation.role,
            status: AccountStatus::Active,
            patient_id: None,
        };
        let accepted = self
            .accounts
            .accept_invitation(&token_hash, self.now(), user)
            .await
            .map_err(|err| match err {
                medilink_fhir::FhirError::Duplicate { .. } => AccountError::EmailTaken,
                other => AccountError::Store(other),
            })?;
        match accepted {
            InvitationAcceptance::Accepted(user) => {
                tracing::info!(user_id = %user.id, invitation = %invitation.id, "invitation accepted");
                Ok(self.view(&user))
            }
            InvitationAcceptance::Unknown => Err(AccountError::InvitationNotFound),
            InvitationAcceptance::Gone => Err(AccountError::InvitationGone),
        }
    }
}
