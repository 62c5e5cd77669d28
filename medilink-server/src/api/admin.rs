//! `/api/admin/*`: users (list/search, approve, suspend, unlock) and the audit log.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use medilink_fhir::IssueCode;
use medilink_platform::{AccountStatus, Action, AuditFilter, AuditRecord, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Query;
use crate::auth::service::{AdminAction, UserView};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UserQuery {
    /// Only this role.
    #[param(value_type = Option<super::RoleName>)]
    role: Option<String>,
    /// Only this status.
    #[param(value_type = Option<super::AccountState>)]
    status: Option<String>,
    /// Only e-mail addresses containing this text.
    email: Option<String>,
    /// At most this many (0: the default page).
    #[serde(default)]
    limit: usize,
    /// Skip this many.
    #[serde(default)]
    offset: usize,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserList {
    users: Vec<UserView>,
}

fn invalid(what: &str) -> ApiError {
    ApiError::bad_request(IssueCode::Value, format!("invalid {what}"))
}

/// `GET /api/admin/users?role=&status=&email=&limit=&offset=`.
pub(crate) async fn users(
    State(app): State<AppState>,
    Query(query): Query<UserQuery>,
) -> Result<Json<UserList>, ApiError> {
    let role = query
        .role
        .map(|role| Role::parse(&role).ok_or_else(|| invalid("role")))
        .transpose()?;
    let status = query
        .status
        .map(|status| AccountStatus::parse(&status).ok_or_else(|| invalid("status")))
        .transpose()?;
    let users = app
        .auth
        .list_users(
            role,
            status,
            query.email.as_deref(),
            query.limit,
            query.offset,
        )
        .await?;
    Ok(Json(UserList { users }))
}

/// `POST /api/admin/users/{id}/{approve|suspend|unlock}`.
pub(crate) async fn user_action(
    State(app): State<AppState>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    let action = match action.as_str() {
        "approve" => AdminAction::Approve,
        "suspend" => AdminAction::Suspend,
        "unlock" => AdminAction::Unlock,
        _ => return Err(invalid("action: use approve, suspend or unlock")),
    };
    Ok(Json(app.auth.admin_action(&id, action).await?))
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
        Ok(AuditFilter {
            actor: self.actor,
            not_actor: None,
            patient_id: self.patient,
            action: self.action,
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

/// `GET /api/admin/audit?actor=&patient=&action=&resource_type=&since=&until=&before=&limit=`.
pub(crate) async fn audit(
    State(app): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let records = app.audit_log.list(&query.filter()?).await?;
    let records = records.iter().map(AuditRecordView::from).collect();
    Ok(Json(AuditPage { records }))
}
