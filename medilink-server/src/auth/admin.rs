//! The admin's flows over accounts (`/api/admin/users*`): search with filters and a total,
//! one user's detail, the status transitions (approve, suspend, reinstate, unlock) and role
//! changes with their rules. No change may leave the platform without an active admin: the
//! account store checks and changes in one transaction ([`AccountStore::set_role`],
//! [`AccountStore::set_status`]).
//!
//! [`AccountStore::set_role`]: medilink_platform::AccountStore::set_role
//! [`AccountStore::set_status`]: medilink_platform::AccountStore::set_status

use medilink_platform::notifications::{Event, NotificationKind, Recipient};
use medilink_platform::{
    AccountChange, AccountStatus, AuditFilter, AuditLog, AuditRecord, Role, UserFilter, UserId,
    UserRecord,
};
use time::OffsetDateTime;

use super::Auth;
use super::email::normalize_email;
use super::error::{AccountError, AccountResult};
use super::service::UserView;

/// Users read per round trip while searching names and addresses (they are encrypted, so the
/// text filter runs on decrypted pages).
const SEARCH_PAGE: usize = 1000;
/// Most users one search returns.
const MAX_PAGE: usize = 1000;
/// Audit records in a user's detail.
const RECENT_ACTIVITY: usize = 20;

/// What an admin does to an account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// Pending → active.
    Approve,
    /// Pending or active → suspended; ends its sessions.
    Suspend,
    /// Suspended → active.
    Reinstate,
    /// Clears login and TOTP lockouts (any status).
    Unlock,
}

impl AdminAction {
    /// The action named in the URL (`approve`, …).
    pub fn parse(name: &str) -> Option<AdminAction> {
        Some(match name {
            "approve" => AdminAction::Approve,
            "suspend" => AdminAction::Suspend,
            "reinstate" => AdminAction::Reinstate,
            "unlock" => AdminAction::Unlock,
            _ => return None,
        })
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::Approve => "approve",
            AdminAction::Suspend => "suspend",
            AdminAction::Reinstate => "reinstate",
            AdminAction::Unlock => "unlock",
        }
    }

    /// The statuses it starts from and the one it ends in (`None`: no status change).
    fn transition(self) -> Option<(&'static [AccountStatus], AccountStatus)> {
        match self {
            AdminAction::Approve => Some((&[AccountStatus::Pending], AccountStatus::Active)),
            AdminAction::Suspend => Some((
                &[AccountStatus::Pending, AccountStatus::Active],
                AccountStatus::Suspended,
            )),
            AdminAction::Reinstate => Some((&[AccountStatus::Suspended], AccountStatus::Active)),
            AdminAction::Unlock => None,
        }
    }
}

/// Which users an admin looks for.
#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<AccountStatus>,
    /// Only users whose e-mail or name contains this text (any case).
    pub text: Option<String>,
    /// Only the user with this e-mail (normalised first).
    pub email: Option<String>,
    /// Page size (0: 100; at most 1000).
    pub limit: usize,
    /// Users skipped.
    pub offset: usize,
}

/// A page of users and how many match in all.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The page, oldest account first.
    pub users: Vec<UserView>,
    /// Matching users in all.
    pub total: u64,
}

/// One user as the admin's detail shows it.
#[derive(Debug, Clone)]
pub struct UserDetail {
    /// The user.
    pub user: UserView,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// The last successful sign-in.
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// Live refresh-token families (signed-in devices).
    pub active_sessions: u64,
    /// Whether a login or TOTP lockout holds.
    pub locked: bool,
    /// The user's own latest audit records, newest first.
    pub recent_activity: Vec<AuditRecord>,
}

fn changed(change: AccountChange, action: &'static str) -> AccountResult<UserRecord> {
    match change {
        AccountChange::Changed(user) => Ok(*user),
        AccountChange::NotFound => Err(AccountError::UserNotFound),
        AccountChange::LastAdmin => Err(AccountError::LastAdmin),
        AccountChange::WrongStatus(status) => Err(AccountError::InvalidTransition {
            action,
            status: status.as_str(),
        }),
    }
}

impl Auth {
    async fn user_by_id(&self, id: &str) -> AccountResult<UserRecord> {
        self.accounts
            .user(&UserId(id.to_owned()))
            .await?
            .ok_or(AccountError::UserNotFound)
    }

    /// Admin: users by role, status, e-mail and text, with the total.
    pub async fn search_users(&self, search: &UserSearch) -> AccountResult<UserPage> {
        let filter = UserFilter {
            role: search.role,
            status: search.status,
            email_hash: search
                .email
                .as_deref()
                .map(|email| normalize_email(email).map(|email| self.email_hash(&email)))
                .transpose()?,
            limit: match search.limit {
                0 => 100,
                n => n.min(MAX_PAGE),
            },
            offset: search.offset,
        };
        let Some(text) = search
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            let users = self.accounts.list_users(&filter).await?;
            return Ok(UserPage {
                users: users.iter().map(|user| self.view(user)).collect(),
                total: self.accounts.count_users(&filter).await?,
            });
        };
        let matches = self.matching(&filter, &text.to_lowercase()).await?;
        Ok(UserPage {
            total: matches.len() as u64,
            users: matches
                .into_iter()
                .skip(filter.offset)
                .take(filter.limit)
                .collect(),
        })
    }

    /// Every user of `filter` (its paging aside) whose e-mail or name contains `text`
    /// (lowercase): names and addresses are sealed, so they are opened page by page.
    async fn matching(&self, filter: &UserFilter, text: &str) -> AccountResult<Vec<UserView>> {
        let mut matches = Vec::new();
        let mut page = UserFilter {
            limit: SEARCH_PAGE,
            offset: 0,
            ..filter.clone()
        };
        loop {
            let users = self.accounts.list_users(&page).await?;
            matches.extend(users.iter().map(|user| self.view(user)).filter(|view| {
                view.email.to_lowercase().contains(text)
                    || view
                        .name
                        .as_deref()
                        .is_some_and(|name| name.to_lowercase().contains(text))
            }));
            if users.len() < SEARCH_PAGE {
                return Ok(matches);
            }
            page.offset += SEARCH_PAGE;
        }
    }

    /// Admin: one user, its sessions, lockout, last sign-in and latest own audit records.
    pub async fn user_detail(&self, id: &str, audit: &dyn AuditLog) -> AccountResult<UserDetail> {
        let user = self.user_by_id(id).await?;
        let locked = self.locked(&Self::login_key(&user.email_hash)).await?
            || self.locked(&format!("totp:{}", user.id)).await?;
        let recent_activity = audit
            .list(&AuditFilter {
                actor: Some(user.id.to_string()),
                limit: RECENT_ACTIVITY,
                ..AuditFilter::default()
            })
            .await?;
        Ok(UserDetail {
            created_at: user.created_at,
            last_sign_in_at: self.accounts.last_sign_in(&user.id).await?,
            active_sessions: self.accounts.active_sessions(&user.id, self.now()).await?,
            locked,
            recent_activity,
            user: self.view(&user),
        })
    }

    /// Admin: approve, suspend, reinstate or unlock. A status the action does not start
    /// from is a conflict; suspending the last active admin is refused.
    pub async fn admin_action(&self, id: &str, action: AdminAction) -> AccountResult<UserView> {
        let Some((from, to)) = action.transition() else {
            let user = self.user_by_id(id).await?;
            for key in [
                Self::login_key(&user.email_hash),
                format!("totp:{}", user.id),
            ] {
                self.kv.delete(&format!("lock:{key}")).await?;
                self.kv.delete(&format!("fail:{key}")).await?;
            }
            tracing::info!(user_id = %user.id, ?action, "admin action");
            return Ok(self.view(&user));
        };
        // A physician is told of approval and suspension in the change's transaction.
        let kind = match action {
            AdminAction::Approve => Some(NotificationKind::PhysicianApproved),
            AdminAction::Suspend => Some(NotificationKind::PhysicianSuspended),
            AdminAction::Reinstate | AdminAction::Unlock => None,
        };
        let before = self.user_by_id(id).await?;
        let notices = match (&self.notifications, kind) {
            (Some(notifications), Some(kind)) if before.role == Role::Physician => {
                notifications
                    .prepare(&[Recipient::User(before.id.clone())], &Event::new(kind))
                    .await?
            }
            _ => Vec::new(),
        };
        let change = self
            .accounts
            .set_status(&before.id, from, to, &notices)
            .await?;
        let user = changed(change, action.as_str())?;
        if let Some(notifications) = &self.notifications {
            notifications.dispatch(&notices).await;
        }
        if to == AccountStatus::Suspended {
            self.end_sessions(&user.id).await?;
        }
        tracing::info!(user_id = %user.id, ?action, "admin action");
        Ok(self.view(&user))
    }

    /// Admin: changes an account's role (`admin`, `physician` or `researcher`). Patients
    /// keep theirs and nobody becomes one (a patient account is bound to its `Patient`); a
    /// physician needs a name; the last active admin stays one. The account's sessions end
    /// (tokens carry the role).
    pub async fn change_role(&self, id: &str, role: Role) -> AccountResult<UserView> {
        let user = self.user_by_id(id).await?;
        if role == Role::Patient || user.role == Role::Patient {
            return Err(AccountError::PatientRole);
        }
        if user.role == role {
            return Ok(self.view(&user));
        }
        if role == Role::Physician && self.view(&user).name.is_none_or(|n| n.trim().is_empty()) {
            return Err(AccountError::NameRequired);
        }
        let user = changed(self.accounts.set_role(&user.id, role).await?, "change")?;
        self.end_sessions(&user.id).await?;
        tracing::info!(user_id = %user.id, %role, "role changed");
        Ok(self.view(&user))
    }
}
