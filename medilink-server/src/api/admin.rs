//! `/api/admin/*`: users (list/search with a total, detail, approve, suspend, reinstate,
//! unlock, role change) and the audit log. Invitations: [`super::invitations`]; statistics,
//! health and the admin's jobs: [`super::admin_system`].

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use medilink_fhir::IssueCode;
use medilink_platform::{AccountStatus, Action, AuditFilter, AuditRecord, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Query};
use crate::auth::admin::{AdminAction, UserDetail, UserSearch};
use crate::auth::service::UserView;
use crate::error::ApiError;
use crate::layers::audit::AuditNote;
use crate::state::AppState;
use medilink_fhir::clock::format_instant;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserQuery {
    /// Only this role.
    #[param(value_type = Option<super::RoleName>)]
    role: Option<String>,
    /// Only this status.
    #[param(value_type = Option<super::AccountState>)]
    status: Option<String>,
    /// Only the account with this e-mail address (normalised first).
    email: Option<String>,
    /// Only accounts whose e-mail or name contains this text (any case).
    q: Option<String>,
    /// `true`: physicians waiting for approval (as `role=physician&status=pending`).
    pending: Option<bool>,
    /// At most this many (0: the default page).
    #[serde(default)]
    limit: usize,
    /// Skip this many.
    #[serde(default)]
    offset: usize,
}

/// A page of users, oldest account first, and how many match in all.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserList {
    users: Vec<UserView>,
    total: u64,
}

fn parsed<T>(
    text: Option<String>,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, ApiError> {
    text.map(|text| parse(&text).ok_or_else(|| invalid(what)))
        .transpose()
}

impl UserQuery {
    /// The search (`pending=true` is physicians waiting for approval).
    fn search(self) -> Result<UserSearch, ApiError> {
        let mut role = parsed(self.role, Role::parse, "role")?;
        let mut status = parsed(self.status, AccountStatus::parse, "status")?;
        if self.pending == Some(true) {
            if role.is_some_and(|role| role != Role::Physician)
                || status.is_some_and(|status| status != AccountStatus::Pending)
            {
                return Err(invalid(
                    "filter: pending=true means role=physician&status=pending",
                ));
            }
            role = Some(Role::Physician);
            status = Some(AccountStatus::Pending);
        }
        Ok(UserSearch {
            role,
            status,
            text: self.q,
            email: self.email,
            limit: self.limit,
            offset: self.offset,
        })
    }
}

fn invalid(what: &str) -> ApiError {
    ApiError::bad_request(IssueCode::Value, format!("invalid {what}"))
}

/// `GET /api/admin/users?role=&status=&q=&pending=&email=&limit=&offset=`.
pub(crate) async fn users(
    State(app): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<Json<UserList>, ApiError> {
    let page = app.auth.search_users(&query.search()?).await?;
    Ok(Json(UserList {
        users: page.users,
        total: page.total,
    }))
}

/// One account with its sessions, lockout, last sign-in and latest activity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminUserDetail {
    user: UserView,
    #[schema(format = DateTime)]
    created_at: String,
    /// The last successful sign-in (null: none since this was kept).
    #[schema(required = true, format = DateTime)]
    last_sign_in_at: Option<String>,
    /// Signed-in devices (live refresh tokens).
    active_sessions: u64,
    /// Whether a login or TOTP lockout holds (`POST …/unlock` clears it).
    locked: bool,
    /// The account's own latest audit records (at most 20), newest first.
    recent_activity: Vec<AuditRecordView>,
}

impl From<UserDetail> for AdminUserDetail {
    fn from(detail: UserDetail) -> Self {
        AdminUserDetail {
            user: detail.user,
            created_at: format_instant(detail.created_at),
            last_sign_in_at: detail.last_sign_in_at.map(format_instant),
            active_sessions: detail.active_sessions,
            locked: detail.locked,
            recent_activity: detail
                .recent_activity
                .iter()
                .map(AuditRecordView::from)
                .collect(),
        }
    }
}

/// `GET /api/admin/users/{id}`.
pub(crate) async fn user(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AdminUserDetail>, ApiError> {
    let detail = app.auth.user_detail(&id, app.audit_log.as_ref()).await?;
    Ok(Json(detail.into()))
}

/// The audit action of an admin action.
fn audited(action: AdminAction) -> Action {
    match action {
        AdminAction::Approve => Action::UserApprove,
        AdminAction::Suspend => Action::UserSuspend,
        AdminAction::Reinstate => Action::UserReinstate,
        AdminAction::Unlock => Action::UserUnlock,
    }
}

/// `POST /api/admin/users/{id}/{approve|suspend|reinstate|unlock}`.
pub(crate) async fn user_action(
    State(app): State<AppState>,
    note: AuditNote,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    let action = AdminAction::parse(&action)
        .ok_or_else(|| invalid("action: use approve, suspend, reinstate or unlock"))?;
    note.action(audited(action)).subject(format!("User/{id}"));
    Ok(Json(app.auth.admin_action(&id, action).await?))
}

/// Body of `PUT /api/admin/users/{id}/role`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    /// `admin`, `physician` or `researcher` (a patient account keeps its role, and no
    /// account becomes a patient: 409).
    #[schema(value_type = super::RoleName)]
    role: String,
}

/// `PUT /api/admin/users/{id}/role`: the last active admin stays one (409).
pub(crate) async fn set_role(
    State(app): State<AppState>,
    note: AuditNote,
    Path(id): Path<String>,
    Body(body): Body<RoleChange>,
) -> Result<Json<UserView>, ApiError> {
    note.subject(format!("User/{id}"));
    let role = Role::parse(&body.role)
        .ok_or_else(|| invalid("role: use admin, physician or researcher"))?;
    Ok(Json(app.auth.change_role(&id, role).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only this account's records.
    actor: Option<String>,
    /// Only records naming this patient id.
    patient: Option<String>,
    /// Only this action (`read`, `search`, `consent-grant`, …).
    #[param(value_type = Option<String>)]
    action: Option<Action>,
    /// Only records whose URL named this type.
    resource_type: Option<String>,
    /// Only records at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only records before this instant (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Only records before this sequence number (the next page).
    before: Option<u64>,
    /// At most this many (0: the default page).
    #[serde(default)]
    limit: usize,
    /// `true`: only break-glass grants (as `action=break-glass`).
    break_glass: Option<bool>,
}

fn instant(text: Option<String>, what: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    text.map(|text| {
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid(what))
    })
    .transpose()
}

impl AuditQuery {
    /// The audit log's filter (instants parsed).
    fn filter(self) -> Result<AuditFilter, ApiError> {
        let action = match (self.break_glass, self.action) {
            (Some(true), Some(action)) if action != Action::BreakGlass => {
                return Err(invalid("filter: break_glass=true means action=break-glass"));
            }
            (Some(true), _) => Some(Action::BreakGlass),
            (_, action) => action,
        };
        Ok(AuditFilter {
            actor: self.actor,
            not_actor: None,
            patient_id: self.patient,
            action,
            resource_type: self.resource_type,
            since: instant(self.since, "since")?,
            until: instant(self.until, "until")?,
            before_seq: self.before,
            limit: self.limit,
        })
    }
}

/// An audit record as the admin API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditRecord)]
pub(crate) struct AuditRecordView {
    /// Its position in the chain.
    seq: u64,
    #[schema(format = DateTime)]
    at: String,
    #[schema(required = true)]
    actor: Option<String>,
    #[schema(required = true)]
    role: Option<String>,
    action: String,
    /// The resource type the request's URL named.
    #[schema(required = true)]
    resource_type: Option<String>,
    /// The resources returned or changed, as `Type/id` (records before issue #11: the id the
    /// URL named).
    resource_ids: Vec<String>,
    /// The patients whose data the request returned or changed, each with the `Type/id`s of
    /// theirs (empty lists when not kept: bulk exports, records before issue #11).
    patients: BTreeMap<String, Vec<String>>,
    /// The types of the resources returned or changed.
    resource_types: Vec<String>,
    /// The HTTP-style status of the outcome.
    outcome: u16,
    #[schema(required = true)]
    client_ip: Option<String>,
    request_id: String,
    /// The record's chain hash.
    hash: String,
}

impl From<&AuditRecord> for AuditRecordView {
    fn from(record: &AuditRecord) -> Self {
        let entry = record.entry.clone();
        AuditRecordView {
            seq: record.seq,
            at: medilink_fhir::clock::format_instant(entry.at),
            actor: entry.actor,
            role: entry.role,
            action: entry.action,
            resource_type: entry.resource_type,
            resource_ids: entry.resource_ids,
            patients: entry.patients,
            resource_types: entry.resource_types,
            outcome: entry.outcome,
            client_ip: entry.client_ip,
            request_id: entry.request_id,
            hash: record.hash.clone(),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditPage {
    records: Vec<AuditRecordView>,
}

/// `GET /api/admin/audit?actor=&patient=&action=&resource_type=&since=&until=&before=&limit=&break_glass=`.
pub(crate) async fn audit(
    State(app): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let records = app.audit_log.list(&query.filter()?).await?;
    let records = records.iter().map(AuditRecordView::from).collect();
    Ok(Json(AuditPage { records }))
}
